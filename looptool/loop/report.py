"""Per-iteration report: a table like the paper's Table 3 plus verdicts, fixes, EDDE yield, cost,
written as JSON and Markdown, and a PNG plot of the metrics across iterations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from looptool.store import RunStore, atomic_write_json, atomic_write_text
from looptool.ui import console

COLUMNS = (
    ("iteration", "iter"),
    ("size", "|D_j|"),
    ("D_SEED_NEW", "seed-new"),
    ("D_ES", "ES"),
    ("D_EE", "EE"),
    ("D_HPPL", "HPPL"),
    ("share_SEED_NEW", "seed-new %"),
    ("reward_mean", "reward"),
    ("accuracy", "probe acc"),
    ("high_ppl", "high PPL"),
    ("PRED_WRONG", "pred wrong"),
    ("LABEL_WRONG", "label fixed"),
    ("BOTH_CORRECT", "both ok"),
    ("BOTH_WRONG", "both wrong"),
    ("edde_accepted", "EDDE ok"),
    ("edde_pass_rate", "EDDE pass"),
    ("bfcl_overall", "BFCL"),
    ("acebench_overall", "ACEBench"),
    ("acebench_strict_overall", "ACEBench strict"),
    ("requests", "LLM calls"),
    ("tokens", "tokens"),
)


def iteration_row(stages: dict[str, Any], iteration: int) -> dict[str, Any] | None:
    prefix = f"iter_{iteration:02d}/"
    if prefix + "dataset" not in stages:
        return None
    row: dict[str, Any] = {"iteration": iteration}
    row.update({k: v for k, v in stages[prefix + "dataset"].get("counts", {}).items()})
    train = stages.get(prefix + "train", {}).get("counts", {})
    row["reward_mean"] = train.get("reward_mean")
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


def write_report(store: RunStore, iterations: int) -> list[dict[str, Any]]:
    stages = store.manifest()["stages"]
    rows = [row for j in range(1, iterations + 2) if (row := iteration_row(stages, j)) is not None]
    directory = store.stage_dir("report")
    atomic_write_json(directory / "iterations.json", rows)
    header = "| " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [header, "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(row.get(key)) for key, _ in COLUMNS) + " |" for row in rows]
    atomic_write_text(directory / "iterations.md", "# LoopTool run: per-iteration statistics\n\n" + "\n".join(lines) + "\n")
    plot(rows, directory / "metrics.png")
    table = Table(title="LoopTool iterations", header_style="bold")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for row in rows:
        table.add_row(*(_fmt(row.get(key)) for key, _ in COLUMNS))
    console.print(table)
    console.print(f"report: {directory / 'iterations.md'} and {directory / 'metrics.png'}")
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    xs = [r["iteration"] for r in rows]
    for key, label in (("accuracy", "GCP probe accuracy"), ("reward_mean", "train reward mean"), ("edde_pass_rate", "EDDE pass rate"), ("bfcl_overall", "BFCL overall"),
                       ("acebench_overall", "ACEBench overall"), ("acebench_strict_overall", "ACEBench overall (strict)")):
        points = [(x, r.get(key)) for x, r in zip(xs, rows) if isinstance(r.get(key), (int, float))]
        if points:
            left.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    left.set_xlabel("iteration")
    left.set_ylim(bottom=0)
    left.set_title("quality")
    left.legend(loc="best", fontsize=8)
    bottom = [0.0] * len(rows)
    for key, label in (("D_SEED_NEW", "seed-new"), ("D_ES", "error seeds"), ("D_EE", "EDDE"), ("D_HPPL", "high PPL")):
        values = [float(r.get(key) or 0) for r in rows]
        right.bar(xs, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    right.set_xlabel("dataset of iteration")
    right.set_title("composition of D_j (Eq. 5)")
    right.legend(loc="best", fontsize=8)
    from matplotlib.ticker import MaxNLocator

    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, dpi=100)
    plt.close(figure)
    tmp.replace(path)
