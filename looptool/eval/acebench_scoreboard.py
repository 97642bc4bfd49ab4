"""From per-item verdicts to the paper's Table 2, in both scoring modes.

ACEBench's aggregation (model_eval/evaluation_helper.generate_result_csv):
  category      share of items judged right; the normal multi-turn categories count dialogs,
                right only when every turn is (end accuracy; turn accuracy is reported too);
                agent categories count dialogs whose final state passes (end-to-end)
  Atom          unweighted mean of the six atom categories
  Single-Turn   unweighted mean of single_function and parallel_function
  Multi-Turn    unweighted mean of user_adjust and user_switch
  Similar API, Preference   their category
  Normal        unweighted mean of the twelve normal categories (not of the five columns)
  Special       unweighted mean of incomplete, error_param, irrelevant
  Agent         unweighted mean of multi_step and multi_turn
  Overall       0.578 * Normal + 0.2676 * Special + 0.1545 * Agent
ACEBench rounds every figure to three decimals along the way; these are unrounded (they differ
from its printed numbers by less than 0.001). A selected category with items that got no verdict
counts them as wrong and is flagged; a group with categories left out is computed from those
present and marked partial, and Overall needs Normal, Special and Agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from looptool.eval.acebench_categories import AGENT, ATOM, CATEGORIES, MULTI_TURN, NORMAL, SINGLE_TURN, SPECIAL, category_of, dialog_of

MODES = ("acebench", "strict")
WEIGHTS = {"normal": 0.578, "special": 0.2676, "agent": 0.1545}
COLUMNS: tuple[tuple[str, str], ...] = (
    ("atom", "Atom"),
    ("single_turn", "Single-Turn"),
    ("multi_turn", "Multi-Turn"),
    ("similar_api", "Similar API"),
    ("preference", "Preference"),
    ("normal", "Normal"),
    ("special", "Special"),
    ("agent", "Agent"),
    ("overall", "Overall"),
)
GROUPS: dict[str, tuple[str, ...]] = {
    "atom": ATOM,
    "single_turn": SINGLE_TURN,
    "multi_turn": MULTI_TURN,
    "similar_api": ("normal_similar_api",),
    "preference": ("normal_preference",),
    "normal": NORMAL,
    "special": SPECIAL,
    "agent": AGENT,
}


@dataclass
class CategoryScore:
    """Counts for one category and mode: units are items, or dialogs for normal multi-turn."""

    category: str
    correct: int = 0
    total: int = 0
    scored: int = 0
    process_sum: float = 0.0  # turn accuracy (normal multi-turn) / process accuracy (agent), summed over units

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def complete(self) -> bool:
        return self.scored == self.total

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "correct": self.correct,
            "total": self.total,
            "scored": self.scored,
            "accuracy": self.accuracy,
            "complete": self.complete,
        }
        if self.category in MULTI_TURN or self.category in AGENT:
            out["process_accuracy"] = self.process_sum / self.total if self.total else 0.0
        return out


def category_scores(items: list[tuple[str, str]], records: dict[str, dict[str, Any]], mode: str) -> dict[str, CategoryScore]:
    """`items`: (id, category) of the selection, in order; `records`: verdict records by id."""
    scores = {c: CategoryScore(c) for c in CATEGORIES if any(cat == c for _, cat in items)}
    dialogs: dict[str, list[str]] = {}
    for item_id, category in items:
        if category in MULTI_TURN:
            dialogs.setdefault(dialog_of(item_id), []).append(item_id)
            continue
        score = scores[category]
        score.total += 1
        record = records.get(item_id)
        if record is None:
            continue
        score.scored += 1
        valid = bool(record[mode]["valid"])
        score.correct += valid
        if category in AGENT:
            score.process_sum += 1.0 if valid else float(record.get("process_accuracy") or 0.0)
    for dialog, turns in dialogs.items():
        score = scores[category_of(dialog)]
        score.total += 1
        present = [records[t] for t in turns if t in records]
        if len(present) != len(turns):
            continue
        score.scored += 1
        right = [bool(r[mode]["valid"]) for r in present]
        score.correct += all(right)
        score.process_sum += sum(right) / len(right)
    return scores


def _mean(scores: dict[str, CategoryScore], names: tuple[str, ...]) -> tuple[float | None, list[str]]:
    present = [scores[n].accuracy for n in names if n in scores and scores[n].total]
    missing = [n for n in names if n not in scores or not scores[n].total]
    return (sum(present) / len(present) if present else None), missing


def table(scores: dict[str, CategoryScore]) -> tuple[dict[str, float | None], dict[str, list[str]]]:
    """The Table 2 columns (fractions) and, per column, the categories it lacks."""
    values: dict[str, float | None] = {}
    missing: dict[str, list[str]] = {}
    for column, names in GROUPS.items():
        values[column], gaps = _mean(scores, names)
        if gaps:
            missing[column] = gaps
    if all(values[g] is not None for g in WEIGHTS):
        values["overall"] = sum(w * values[g] for g, w in WEIGHTS.items())  # type: ignore[operator]
    else:
        values["overall"] = None
    overall_gaps = sorted({c for g in WEIGHTS for c in missing.get(g, [])})
    if overall_gaps:
        missing["overall"] = overall_gaps
    return values, missing


def summarize(items: list[tuple[str, str]], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Both modes' tables and categories as plain JSON data."""
    out: dict[str, Any] = {"modes": {}}
    for mode in MODES:
        scores = category_scores(items, records, mode)
        values, missing = table(scores)
        out["modes"][mode] = {
            "table": values,
            "missing_categories": missing,
            "categories": {c: scores[c].as_dict() for c in CATEGORIES if c in scores},
        }
    first = out["modes"][MODES[0]]["categories"]
    out["incomplete_categories"] = [c for c, row in first.items() if not row["complete"]]
    return out


def headline(summary: dict[str, Any]) -> dict[str, float | None]:
    """Table 2 numbers of both modes, flat (`overall`, `normal`, ..., `strict_overall`, ...), for curves."""
    flat: dict[str, float | None] = {}
    for mode in MODES:
        prefix = "" if mode == "acebench" else "strict_"
        for column, _ in COLUMNS:
            flat[prefix + column] = summary["modes"][mode]["table"].get(column)
    return flat


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def render_markdown(summary: dict[str, Any], title: str) -> str:
    """Table 2 layout, one row per mode, then every category with both modes side by side."""
    heads = [label for _, label in COLUMNS]
    lines = [f"## {title}", "", "| mode | " + " | ".join(heads) + " |", "| --- |" + "|".join(" ---: " for _ in heads) + "|"]
    for mode in MODES:
        data = summary["modes"][mode]
        marks = data["missing_categories"]
        cells = [_pct(data["table"].get(c)) + (" †" if marks.get(c) else "") for c, _ in COLUMNS]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    lines += ["", "| category | acebench | strict | total | note |", "| --- | ---: | ---: | ---: | --- |"]
    ace, strict = summary["modes"]["acebench"]["categories"], summary["modes"]["strict"]["categories"]
    for category, row in ace.items():
        unit = "dialogs" if category in MULTI_TURN or category in AGENT else "items"
        note = [] if row["complete"] else [f"only {row['scored']} scored"]
        if "process_accuracy" in row:
            note.append(f"process {_pct(row['process_accuracy'])} / {_pct(strict[category]['process_accuracy'])}")
        lines.append(
            f"| {category} | {row['correct']} ({_pct(row['accuracy'])}) | {strict[category]['correct']} "
            f"({_pct(strict[category]['accuracy'])}) | {row['total']} {unit} | {'; '.join(note)} |"
        )
    gaps = summary["modes"]["acebench"]["missing_categories"]
    if gaps:
        lines += ["", "† computed without: " + "; ".join(f"{dict(COLUMNS).get(k, k)}: {', '.join(v)}" for k, v in gaps.items())]
    lines.append("")
    return "\n".join(lines)
