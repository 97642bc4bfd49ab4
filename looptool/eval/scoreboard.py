"""From per-item verdicts to the paper's Table 1: Overall, Non-Live AST, Live, Multi-Turn,
Relevance, Irrelevance, plus every category.

The aggregation follows BFCL v3's leaderboard (the version the paper reports), so our numbers
are comparable with published ones:
  Non-Live AST  unweighted mean of simple, multiple, parallel, parallel_multiple
  Non-Live      unweighted mean of those four and irrelevance (enters Overall only)
  Live          mean over all live items (weighted by item count, relevance and irrelevance included)
  Multi-Turn    unweighted mean of the four multi-turn categories
  Overall       unweighted mean of Non-Live, Live and Multi-Turn
  Relevance     live_relevance
  Irrelevance   unweighted mean of irrelevance and live_irrelevance
One deliberate difference: BFCL's "simple" averages Python, Java and JavaScript; we run Python
only (the other two need source-string answers), so simple = simple_python.

A category that was selected but has items without a verdict (an endpoint gave up on them)
counts those items as wrong, as BFCL does with inference errors, and is flagged incomplete.
A group with categories left out of the run is computed from the ones present and marked
partial; Overall needs all three groups present.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from looptool.eval.categories import (
    CATEGORIES,
    IRRELEVANCE,
    LIVE_AST,
    MULTI_TURN,
    NON_LIVE_AST,
)

HEADLINE_KEYS: tuple[str, ...] = ("overall", "non_live_ast", "live", "multi_turn", "relevance", "irrelevance")
HEADLINE_TITLES: dict[str, str] = {
    "overall": "Overall",
    "non_live_ast": "Non-Live AST",
    "live": "Live",
    "multi_turn": "Multi-Turn",
    "relevance": "Relevance",
    "irrelevance": "Irrelevance",
}
_LIVE_ALL = (*LIVE_AST, "live_irrelevance", "live_relevance")
_NON_LIVE_ALL = (*NON_LIVE_AST, "irrelevance")


@dataclass
class CategoryScore:
    """Counts for one category: `total` is the number of selected items, `scored` how many got a verdict."""

    category: str
    correct: int = 0
    scored: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def complete(self) -> bool:
        return self.scored == self.total


def _unweighted(scores: dict[str, CategoryScore], names: tuple[str, ...]) -> tuple[float | None, list[str]]:
    present = [scores[n] for n in names if n in scores and scores[n].total]
    missing = [n for n in names if n not in scores or not scores[n].total]
    if not present:
        return None, missing
    return sum(s.accuracy for s in present) / len(present), missing


def _weighted(scores: dict[str, CategoryScore], names: tuple[str, ...]) -> tuple[float | None, list[str]]:
    present = [scores[n] for n in names if n in scores and scores[n].total]
    missing = [n for n in names if n not in scores or not scores[n].total]
    total = sum(s.total for s in present)
    if not total:
        return None, missing
    return sum(s.correct for s in present) / total, missing


def summarize(scores: dict[str, CategoryScore]) -> dict[str, Any]:
    """The full score table as plain JSON data (fractions in [0, 1], None where not computable)."""
    non_live_ast, m1 = _unweighted(scores, NON_LIVE_AST)
    non_live, m2 = _unweighted(scores, _NON_LIVE_ALL)
    live, m3 = _weighted(scores, _LIVE_ALL)
    multi_turn, m4 = _unweighted(scores, MULTI_TURN)
    relevance, m5 = _unweighted(scores, ("live_relevance",))
    irrelevance, m6 = _unweighted(scores, IRRELEVANCE)
    overall = None
    if non_live is not None and live is not None and multi_turn is not None:
        overall = (non_live + live + multi_turn) / 3
    partial = {
        "overall": sorted(set(m2) | set(m3) | set(m4)),
        "non_live_ast": m1,
        "live": m3,
        "multi_turn": m4,
        "relevance": m5,
        "irrelevance": m6,
    }
    return {
        "headline": {
            "overall": overall,
            "non_live_ast": non_live_ast,
            "live": live,
            "multi_turn": multi_turn,
            "relevance": relevance,
            "irrelevance": irrelevance,
        },
        "groups": {"non_live": non_live, "live_ast": _weighted(scores, LIVE_AST)[0]},
        "missing_categories": {k: v for k, v in partial.items() if v},
        "categories": {
            c: {**asdict(scores[c]), "accuracy": scores[c].accuracy, "complete": scores[c].complete} for c in CATEGORIES if c in scores
        },
        "incomplete_categories": [c for c in CATEGORIES if c in scores and not scores[c].complete],
    }


def headline(summary: dict[str, Any]) -> dict[str, float | None]:
    """The six Table 1 numbers as fractions, for per-iteration curves."""
    return {key: summary["headline"].get(key) for key in HEADLINE_KEYS}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def render_markdown(summary: dict[str, Any], title: str = "BFCL") -> str:
    """Table 1 layout (percent), then one row per category with its counts."""
    marks = summary.get("missing_categories", {})
    heads = [HEADLINE_TITLES[k] for k in HEADLINE_KEYS]
    values = [_pct(summary["headline"][k]) + (" †" if marks.get(k) else "") for k in HEADLINE_KEYS]
    lines = [
        f"## {title}",
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "|".join(" ---: " for _ in heads) + "|",
        "| " + " | ".join(values) + " |",
        "",
        "| category | correct | total | accuracy (%) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for category, row in summary["categories"].items():
        note = "" if row["complete"] else f" (only {row['scored']} scored)"
        lines.append(f"| {category} | {row['correct']} | {row['total']} | {_pct(row['accuracy'])}{note} |")
    if marks:
        lines += ["", "† computed without: " + "; ".join(f"{HEADLINE_TITLES.get(k, k)}: {', '.join(v)}" for k, v in marks.items())]
    lines.append("")
    return "\n".join(lines)
