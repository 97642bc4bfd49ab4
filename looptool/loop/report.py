"""Per-iteration report: a table like the paper's Table 3 plus verdicts, fixes, EDDE yield, cost,
written as JSON and Markdown, and a PNG plot of the metrics across iterations.

Two tables from the same rows: the full one (every column) goes to report/iterations.md and
iterations.json; the console gets a compact one that fits 100 columns, printed once, when the
run's last iteration is done. A row is an iteration that trained; the dataset composed for the
iteration after the last one is summarised in one line, not shown as a row of dashes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from looptool.store import RunStore, atomic_write_json, atomic_write_text
from looptool.ui import COMPACT_BOX, console, fmt_short

COLUMNS = (
    ("iteration", "iter"),
    ("size", "|D_j|"),
    ("D_SEED_NEW", "seed-new"),
    ("D_ES", "ES"),
    ("D_EE", "EE"),
    ("D_HPPL", "HPPL"),
    ("share_SEED_NEW", "seed-new share"),
    ("warm_start", "warm start"),
    ("reward_mean", "reward"),
    ("reward_spread", "reward spread"),
    ("grad_norm", "grad norm"),
    ("accuracy", "probe acc"),
    ("high_ppl", "high PPL"),
    ("PRED_WRONG", "pred wrong"),
    ("LABEL_WRONG", "label fixed"),
    ("BOTH_CORRECT", "both ok"),
    ("BOTH_WRONG", "both wrong"),
    ("order_disagreements", "order disagree"),
    ("edde_accepted", "EDDE ok"),
    ("edde_pass_rate", "EDDE pass"),
    ("bfcl_overall", "BFCL"),
    ("acebench_overall", "ACEBench"),
    ("acebench_strict_overall", "ACEBench strict"),
    ("requests", "LLM calls"),
    ("tokens", "tokens"),
)
# The console table: the columns a person scans after a run, at most 100 characters wide.
COMPACT = (
    ("iteration", "iter"),
    ("size", "D_j"),
    ("D_SEED_NEW", "new"),
    ("D_ES", "ES"),
    ("D_EE", "EE"),
    ("D_HPPL", "HPPL"),
    ("reward_mean", "reward"),
    ("reward_spread", "spread"),
    ("accuracy", "probe"),
    ("LABEL_WRONG", "fixed"),
    ("edde_accepted", "EDDE"),
    ("bfcl_overall", "BFCL"),
    ("requests", "calls"),
)
LEGEND = (
    "D_j: dataset size (new = never-trained seed samples, ES = error seeds kept, EE = EDDE samples, "
    "HPPL = high-perplexity); reward: GRPO reward mean; spread: share of GRPO groups whose rollouts "
    "got different rewards (0 = zero gradient); probe: GCP accuracy; fixed: labels JGLV replaced; "
    "EDDE: new samples accepted; calls: LLM calls"
)


def iteration_row(stages: dict[str, Any], iteration: int) -> dict[str, Any] | None:
    """The row of an iteration that has trained (None before that: its dataset alone is no row)."""
    prefix = f"iter_{iteration:02d}/"
    if prefix + "dataset" not in stages or prefix + "train" not in stages:
        return None
    row: dict[str, Any] = {"iteration": iteration}
    row.update({k: v for k, v in stages[prefix + "dataset"].get("counts", {}).items()})
    train_info = stages.get(prefix + "train", {})
    train = train_info.get("counts", {})
    metrics = train_info.get("metrics") or {}
    row["reward_mean"] = train.get("reward_mean")
    row["reward_spread"] = train.get("reward_spread", metrics.get("reward_spread"))
    row["grad_norm"] = train.get("grad_norm", metrics.get("grad_norm"))
    row["warm_start"] = train.get("warm_start") or ("sft" if isinstance(metrics.get("warm_start"), dict) else None)
    row["warnings"] = list(metrics.get("warnings") or [])
    probe = stages.get(prefix + "probe", {}).get("counts", {})
    row.update({k: probe.get(k) for k in ("accuracy", "mastered", "mismatched", "high_ppl", "mean_ppl")})
    judge = stages.get(prefix + "judge", {}).get("counts", {})
    row.update({k: judge.get(k) for k in ("PRED_WRONG", "LABEL_WRONG", "BOTH_CORRECT", "BOTH_WRONG", "order_disagreements")})
    expand = stages.get(prefix + "expand", {}).get("counts", {})
    row["edde_accepted"] = expand.get("accepted")
    row["edde_pass_rate"] = expand.get("pass_rate")
    headline = stages.get(prefix + "eval_bfcl", {}).get("headline") or {}
    row["bfcl_overall"] = headline.get("overall")
    acebench = stages.get(prefix + "eval_acebench", {}).get("headline") or {}
    row["acebench_overall"] = acebench.get("overall")
    row["acebench_strict_overall"] = acebench.get("strict_overall")
    requests = tokens = 0
    for key, info in stages.items():
        if key.startswith(prefix) and info.get("llm"):
            requests += info["llm"].get("requests", 0)
            tokens += info["llm"].get("prompt_tokens", 0) + info["llm"].get("completion_tokens", 0)
    row["requests"], row["tokens"] = requests, tokens
    return row


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def md_cell(text: str) -> str:
    """A Markdown table cell: a pipe inside it would end the cell, so it is escaped."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...] = COLUMNS) -> str:
    header = "| " + " | ".join(md_cell(label) for _, label in columns) + " |"
    lines = [header, "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(md_cell(_fmt(row.get(key))) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def next_dataset_line(stages: dict[str, Any], iteration: int) -> str | None:
    """One line for a dataset composed for an iteration that has not trained (D_{J+1} at the end)."""
    info = stages.get(f"iter_{iteration:02d}/dataset")
    if info is None or f"iter_{iteration:02d}/train" in stages:
        return None
    c = info.get("counts", {})
    parts = ", ".join(
        f"{label} {c[key]}" for key, label in (("D_SEED_NEW", "seed-new"), ("D_ES", "ES"), ("D_EE", "EE"), ("D_HPPL", "HPPL")) if key in c
    )
    return f"D_{iteration} (composed for iteration {iteration}, not run): {c.get('size', '?')} samples ({parts})"


def warning_lines(rows: list[dict[str, Any]]) -> list[str]:
    return [f"iteration {row['iteration']}: {warning}" for row in rows for warning in row.get("warnings", [])]


def compact_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        title="LoopTool iterations",
        header_style="bold",
        box=COMPACT_BOX,
        caption=LEGEND,
        caption_justify="left",
        show_edge=False,
        collapse_padding=True,
    )
    for _, label in COMPACT:
        table.add_column(escape(label), justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*(_fmt(v) if isinstance(v := row.get(key), float) else fmt_short(v) for key, _ in COMPACT))
    return table


def write_report(store: RunStore, iterations: int, *, show: bool | None = None) -> list[dict[str, Any]]:
    """Write report/{iterations.json,iterations.md,metrics.png}; print the compact table when
    `show` (default: once the last iteration has composed its successor, i.e. once, at the end)."""
    stages = store.manifest()["stages"]
    rows = [row for j in range(1, iterations + 1) if (row := iteration_row(stages, j)) is not None]
    nxt = next_dataset_line(stages, (rows[-1]["iteration"] if rows else 0) + 1)
    warnings = warning_lines(rows)
    directory = store.stage_dir("report")
    atomic_write_json(directory / "iterations.json", rows)
    text = "# LoopTool run: per-iteration statistics\n\n" + markdown_table(rows) + "\n"
    if nxt:
        text += f"\n{nxt}\n"
    if warnings:
        text += "\n## Warnings\n\n" + "".join(f"- **{md_cell(w)}**\n" for w in warnings)
    atomic_write_text(directory / "iterations.md", text)
    plot(rows, directory / "metrics.png")
    if show is None:
        show = f"iter_{iterations:02d}/compose" in stages
    if show:
        console.print(compact_table(rows))
        if nxt:
            console.print(nxt, markup=False)
        for warning in warnings:
            console.print(warning, style="bold red", markup=False)
        console.print(f"report: {directory / 'iterations.md'} (all columns) and {directory / 'metrics.png'}", markup=False)
    return rows


QUALITY = (
    ("accuracy", "GCP probe accuracy"),
    ("reward_mean", "train reward mean"),
    ("reward_spread", "GRPO groups with reward spread"),
    ("edde_pass_rate", "EDDE pass rate"),
    ("bfcl_overall", "BFCL overall"),
    ("acebench_overall", "ACEBench overall"),
    ("acebench_strict_overall", "ACEBench overall (strict)"),
)
BUCKETS = (("D_SEED_NEW", "seed-new"), ("D_ES", "error seeds"), ("D_EE", "EDDE"), ("D_HPPL", "high PPL"))


def build_figure(rows: list[dict[str, Any]]) -> Any:
    """The two panels; legends sit below the axes so they never cover a bar or a line, and the
    quality axis starts below 0 so a metric that is 0 is drawn above the x-axis, not on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8))
    xs = [r["iteration"] for r in rows]
    for key, label in QUALITY:
        points = [(x, r.get(key)) for x, r in zip(xs, rows) if isinstance(r.get(key), (int, float))]
        if points:
            left.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label, clip_on=False)
    left.set_xlabel("iteration")
    left.set_ylim(-0.05, 1.05)
    left.set_title("quality")
    bottom = [0.0] * len(rows)
    for key, label in BUCKETS:
        values = [float(r.get(key) or 0) for r in rows]
        right.bar(xs, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    right.set_xlabel("dataset of iteration")
    right.set_title("composition of D_j (Eq. 5)")
    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    figure.tight_layout()
    return figure


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure = build_figure(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    tmp.replace(path)
