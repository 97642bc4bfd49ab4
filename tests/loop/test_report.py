"""The per-iteration report: a Markdown table that renders, a console table that fits 100 columns,
printed once, one row per trained iteration, warnings, and a plot whose legend covers nothing."""

from __future__ import annotations

import io
import json

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from looptool.loop import report
from looptool.store import RunStore


def _manifest(store: RunStore, iterations: int, *, spread: float = 0.5, warnings: list[str] | None = None) -> None:
    stages: dict = {}
    for j in range(1, iterations + 2):
        stages[f"iter_{j:02d}/dataset"] = {
            "counts": {"size": 12345, "D_SEED_NEW": 1234, "D_ES": 2345, "D_EE": 8765, "D_HPPL": 1001, "share_SEED_NEW": 0.1}
        }
        if j > iterations:
            break
        stages[f"iter_{j:02d}/train"] = {
            "counts": {"reward_mean": 0.123456, "reward_spread": spread, "grad_norm": 0.84, "warm_start": "sft"},
            "metrics": {"warnings": warnings or []},
        }
        stages[f"iter_{j:02d}/probe"] = {
            "counts": {"accuracy": 0.6875, "high_ppl": 2},
            "llm": {"requests": 123456, "prompt_tokens": 98765432, "completion_tokens": 1234567},
        }
        stages[f"iter_{j:02d}/judge"] = {
            "counts": {"PRED_WRONG": 3, "LABEL_WRONG": 2, "BOTH_CORRECT": 0, "BOTH_WRONG": 1, "order_disagreements": 1}
        }
        stages[f"iter_{j:02d}/expand"] = {"counts": {"accepted": 18000, "pass_rate": 0.9}}
        stages[f"iter_{j:02d}/eval_bfcl"] = {"headline": {"overall": 0.8123}}
        stages[f"iter_{j:02d}/compose"] = {"counts": {"size": 12345}}
    store.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    store.manifest_path.write_text(json.dumps({"stages": stages}))


@pytest.fixture
def recorded(monkeypatch):
    """The report's console as a 100-column recorder."""
    out = Console(file=io.StringIO(), width=100, record=True, highlight=False)
    monkeypatch.setattr(report, "console", out)
    return out


def test_markdown_table_renders_with_every_column(tmp_path, recorded):
    store = RunStore(tmp_path / "run")
    _manifest(store, 2)
    report.write_report(store, 2)
    text = (store.root / "report/iterations.md").read_text()
    tokens = MarkdownIt().enable("table").parse(text)
    headers = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "th_open"]
    rows = sum(1 for t in tokens if t.type == "tr_open") - 1
    assert headers == [label for _, label in report.COLUMNS]  # "|D_j|" is one cell, pipes escaped
    assert "|D_j|" in headers and rows == 2


def test_one_row_per_trained_iteration_and_the_next_dataset_in_one_line(tmp_path, recorded):
    store = RunStore(tmp_path / "run")
    _manifest(store, 2)
    rows = report.write_report(store, 2)
    assert [r["iteration"] for r in rows] == [1, 2]
    assert json.loads((store.root / "report/iterations.json").read_text())[1]["iteration"] == 2
    line = "D_3 (composed for iteration 3, not run): 12345 samples (seed-new 1234, ES 2345, EE 8765, HPPL 1001)"
    assert line in (store.root / "report/iterations.md").read_text()
    assert line in recorded.export_text()


def test_console_table_fits_100_columns_and_is_printed_only_at_the_end(tmp_path, recorded):
    store = RunStore(tmp_path / "run")
    _manifest(store, 1)
    report.write_report(store, 2)  # iteration 1 of 2 done: files, no table
    assert recorded.export_text() == ""
    _manifest(store, 2)
    report.write_report(store, 2)
    text = recorded.export_text()
    assert text.count("LoopTool iterations") == 1
    assert max(len(line) for line in text.splitlines()) <= 100 and "…" not in text
    # Its natural width fits, so a 100-column terminal never squeezes or cuts a column.
    assert (
        report.compact_table(report.write_report(store, 2, show=False))
        .__rich_measure__(Console(width=400), Console(width=400).options)
        .maximum
        <= 100
    )


def test_zero_spread_warning_reaches_the_report(tmp_path, recorded):
    store = RunStore(tmp_path / "run")
    _manifest(store, 1, spread=0.0, warnings=["WARNING: no GRPO group had reward spread in any of the 1 step(s)"])
    report.write_report(store, 1)
    md = (store.root / "report/iterations.md").read_text()
    assert "## Warnings" in md and "- **iteration 1: WARNING: no GRPO group had reward spread" in md
    assert "iteration 1: WARNING: no GRPO group had reward spread" in recorded.export_text()


def test_plot_legends_cover_no_bar_and_a_zero_line_stays_above_the_axis():
    # Equal full-size datasets: the bars fill the panel, so any legend inside it covers one.
    rows = [
        {
            "iteration": j,
            "accuracy": 0.5,
            "reward_mean": 0.0,
            "reward_spread": 0.0,
            "D_SEED_NEW": 16 - 5 * j,
            "D_ES": j,
            "D_EE": 3 * j,
            "D_HPPL": j,
        }
        for j in (1, 2, 3)
    ]
    figure = report.build_figure(rows)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    left, right = figure.axes
    for axis in (left, right):
        legend = axis.get_legend().get_window_extent(renderer)
        for artist in list(axis.patches) + list(axis.lines):
            assert not legend.overlaps(artist.get_window_extent(renderer)), f"legend covers {artist}"
    assert left.get_ylim()[0] < 0  # a reward of 0 is drawn above the x-axis, not on it
    assert all(not line.get_clip_on() for line in left.lines)
