"""What a person reads: tables that fit 100 columns, consistent call counts, no repeated lines,
waits that say what is happening, `looptool status` and the command line's exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import anyio
import pytest
from rich.console import Console

from looptool import cli, status, ui
from looptool.cli import main


@pytest.fixture
def recorded(monkeypatch):
    """Every module's console as one 100-column recorder (as in a 100-column terminal log)."""
    out = Console(file=io.StringIO(), width=100, record=True, highlight=False)
    for module in (ui, status, cli):
        monkeypatch.setattr(module, "console", out)
    return out


def _natural_width(renderable) -> int:
    wide = Console(width=400)
    return renderable.__rich_measure__(wide, wide.options).maximum


# -- LLM call table --------------------------------------------------------------------------------
JGLV = {
    "roles": {
        "judge": {
            "requests": 8,
            "succeeded": 12,
            "failed": 0,
            "retries": 0,
            "cache_hits": 4,
            "prompt_tokens": 9404,
            "completion_tokens": 442,
            "latency_ms_p50": 29.7,
            "latency_ms_p99": 37.5,
            "requests_per_s": 114.88,
        }
    }
}


def test_call_table_counts_add_up():
    """`sent 8, ok 12, cached 4` read as 12 answers from 8 requests: the columns now say calls."""
    row = ui.client_row(JGLV["roles"]["judge"])
    assert row["calls"] == 12
    assert row["calls"] == row["cache_hits"] + row["requests"] - row["retries"]
    out = Console(file=io.StringIO(), width=100, record=True)
    out.print(ui.client_stats_table("JGLV: LLM calls", {**JGLV, "total": JGLV["roles"]["judge"]}))
    text = out.export_text()
    header = next(line for line in text.splitlines() if "role" in line).split()
    assert header[:6] == ["role", "calls", "cached", "sent", "retries", "failed"]
    judge = next(line for line in text.splitlines() if line.strip().startswith("judge")).split()
    assert judge[1:5] == ["12", "4", "8", "0"]
    assert ui.CLIENT_CAPTION.split(";")[0] in " ".join(text.split())


def test_call_table_fits_100_columns_with_big_numbers():
    big = {
        "requests": 1_234_567,
        "succeeded": 1_300_000,
        "failed": 12_345,
        "retries": 99_999,
        "cache_hits": 77_778,
        "prompt_tokens": 987_654_321,
        "completion_tokens": 123_456_789,
        "latency_ms_p50": 1234.5,
        "latency_ms_p99": 98765.4,
        "requests_per_s": 1234.56,
    }
    table = ui.client_stats_table("dialog simulation: LLM calls", {"roles": {"assistant": big, "generator": big}, "total": big})
    assert _natural_width(table) <= 100


def test_summary_values_are_rounded_and_missing_values_are_dashes():
    out = Console(file=io.StringIO(), width=100, record=True)
    out.print(ui.summary_table("t", {"step_time_s": 106.13350734899996, "high_ppl_cutoff": None, "flag": True}))
    text = out.export_text()
    assert "106.1" in text and "106.13350734899996" not in text
    assert "None" not in text and " - " in text and "true" in text


# -- progress lines --------------------------------------------------------------------------------
def test_the_last_progress_line_is_not_printed_twice(recorded):
    with ui.ProgressReporter("dialogs", 24, log_every_s=0.0) as progress:
        for _ in range(24):
            progress.advance()
    lines = [line for line in recorded.export_text().splitlines() if "24/24" in line]
    assert len(lines) == 1, lines


def test_a_short_stage_prints_start_and_end_only(recorded):
    with ui.ProgressReporter("probe", 16, log_every_s=3600.0) as progress:
        for _ in range(16):
            progress.advance()
    lines = recorded.export_text().splitlines()
    assert lines[0] == "probe: starting (0 already done of 16)"
    assert len(lines) == 2 and lines[1].startswith("probe: 16/16 done in ")


def test_waiting_says_what_and_how_long_and_passes_errors_through():
    out = Console(file=io.StringIO(), width=100, record=True)

    async def wait_then_fail() -> None:
        async with ui.waiting("vLLM server 'policy': starting", every_s=0.2, out=out, detail="log x.log"):
            await anyio.sleep(1.3)
            raise ValueError("engine died")

    with pytest.raises(ValueError, match="engine died"):
        anyio.run(wait_then_fail)
    lines = out.export_text().splitlines()
    assert lines[0] == "vLLM server 'policy': starting (log x.log) ..."
    ticks = lines[1:-1]
    assert ticks and all(line.startswith("vLLM server 'policy': starting: ") and "elapsed" in line for line in ticks)
    assert len(ticks) <= 3  # after 0.2 s, 0.4 s, 0.8 s: the interval doubles, not one line per 0.2 s
    assert lines[-1].startswith("vLLM server 'policy': starting: failed after ")


def test_elapsed_text():
    assert [ui.elapsed_text(s) for s in (4.2, 65, 3725)] == ["4 s", "1 min 05 s", "1 h 02 min"]


# -- status ----------------------------------------------------------------------------------------
def _run_dir(root: Path) -> Path:
    counts = {
        "iteration": 2,
        "target_size": 16,
        "size": 16,
        "seed_new_share_target": 0.308,
        "D_ES": 2,
        "share_ES": 0.125,
        "D_EE": 8,
        "share_EE": 0.5,
        "D_HPPL": 1,
        "share_HPPL": 0.0625,
        "D_SEED_NEW": 5,
        "share_SEED_NEW": 0.3125,
        "label_fixes": 1,
        "short_by": 0,
    }
    manifest = {
        "next": "finished",
        "stages": {
            "iter_01/compose": {"finished_at": "2025-12-02T01:02:03+0000", "counts": counts},
            "iter_01/train": {"finished_at": "2025-12-02T01:01:00+0000", "counts": {"step_time_s": 106.13350734899996, "loss": 0.0}},
            "iter_01/probe": {
                "finished_at": "2025-12-02T01:01:30+0000",
                "counts": {"high_ppl": 0, "high_ppl_cutoff": None, "accuracy": 0.6875},
            },
        },
    }
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_status_shows_every_count_rounded_within_100_columns(tmp_path, recorded):
    run = _run_dir(tmp_path / "runs" / "x")
    assert main(["status", str(run)]) == 0
    text = recorded.export_text()
    flat = " ".join(text.split())
    for key in ("size=16", "target_size=16", "short_by=0", "label_fixes=1"):  # counts 9-14 of compose
        assert key in flat
    assert "step_time_s=106.1" in flat and "106.13350734899996" not in flat
    assert "high_ppl_cutoff=-" in flat and "None" not in flat
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.index("iter_01/train") < text.index("iter_01/probe") < text.index("iter_01/compose")


def test_status_resolves_a_preset_name_and_defaults_to_the_quickstart(tmp_path, monkeypatch, recorded):
    monkeypatch.chdir(tmp_path)
    assert main(["status"]) == 1  # no quickstart run here yet: says so, non-zero
    assert "runs/quickstart: no manifest.json" in recorded.export_text()
    _run_dir(tmp_path / "runs" / "dryrun")
    assert main(["status", "dryrun"]) == 0
    assert "next: finished" in recorded.export_text()
    assert main(["status", "runs/nothing"]) == 2
    assert "runs/nothing: not a run directory, a config file or a preset name" in recorded.export_text()


def test_usage_errors_exit_non_zero_and_help_exits_zero(capsys):
    assert main(["status", "a", "b"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err
    assert main(["no-such-command"]) == 2
    assert main(["run", "--help"]) == 0


def test_run_help_lists_the_presets(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "presets" in out
    for name in ("quickstart", "dryrun"):
        line = next(line for line in out.splitlines() if line.strip().startswith(name))
        assert len(line.split(None, 1)) == 2  # the name and what it does


def test_a_server_that_never_starts_is_one_error_line_not_a_traceback(monkeypatch, recorded):
    from looptool.llm.vllm_server import VLLMServerError

    def fail(args):
        raise VLLMServerError("vLLM server 'smollm2' (pid 1) was not ready within 600 s; log [x]/vllm.log")

    help_text, add_args, _ = cli.COMMANDS["status"]
    monkeypatch.setitem(cli.COMMANDS, "status", (help_text, add_args, fail))
    assert main(["status"]) == 1
    text = recorded.export_text()
    assert text.startswith("error vLLM server 'smollm2' (pid 1) was not ready within 600 s; log [x]/vllm.log")
    assert "Traceback" not in text


def test_slow_progress_reads_per_minute_with_a_readable_eta():
    progress = ui.ProgressReporter("API synthesis", 12)
    progress._started -= 600  # one unit done in 10 minutes
    progress.advance()
    assert progress.line() == "API synthesis: 1/12 done, 0.1/min, ETA 1 h 50 min"
