"""Table 1 aggregation (BFCL v3 leaderboard formulas) and category selection."""

from __future__ import annotations

import pytest

from looptool.eval.categories import CATEGORIES, category_of, resolve_categories
from looptool.eval.scoreboard import CategoryScore, headline, render_markdown, summarize


def score(category: str, correct: int, total: int, scored: int | None = None) -> CategoryScore:
    return CategoryScore(category, correct=correct, scored=total if scored is None else scored, total=total)


def full_table() -> dict[str, CategoryScore]:
    counts = {
        "simple_python": (300, 400),
        "multiple": (100, 200),
        "parallel": (200, 200),
        "parallel_multiple": (0, 200),
        "irrelevance": (120, 240),
        "live_simple": (100, 200),
        "live_multiple": (900, 1000),
        "live_parallel": (0, 16),
        "live_parallel_multiple": (24, 24),
        "live_irrelevance": (400, 800),
        "live_relevance": (8, 16),
        "multi_turn_base": (100, 200),
        "multi_turn_miss_func": (50, 200),
        "multi_turn_miss_param": (0, 200),
        "multi_turn_long_context": (200, 200),
    }
    return {c: score(c, *v) for c, v in counts.items()}


def test_headline_follows_bfcl_v3_formulas():
    summary = summarize(full_table())
    h = summary["headline"]
    # Non-Live AST: unweighted mean of the four AST categories.
    assert h["non_live_ast"] == pytest.approx((0.75 + 0.5 + 1.0 + 0.0) / 4)
    # Live: every live item counts once (relevance and irrelevance included).
    live = (100 + 900 + 0 + 24 + 400 + 8) / (200 + 1000 + 16 + 24 + 800 + 16)
    assert h["live"] == pytest.approx(live)
    assert h["multi_turn"] == pytest.approx((0.5 + 0.25 + 0.0 + 1.0) / 4)
    assert h["relevance"] == pytest.approx(0.5)
    assert h["irrelevance"] == pytest.approx((0.5 + 0.5) / 2)
    non_live = (0.75 + 0.5 + 1.0 + 0.0 + 0.5) / 5  # irrelevance enters Non-Live overall
    assert h["overall"] == pytest.approx((non_live + live + h["multi_turn"]) / 3)
    assert summary["missing_categories"] == {}
    assert summary["incomplete_categories"] == []
    assert set(headline(summary)) == {"overall", "non_live_ast", "live", "multi_turn", "relevance", "irrelevance"}


def test_unscored_items_count_as_wrong_and_are_flagged():
    table = full_table()
    table["multiple"] = score("multiple", 100, 200, scored=150)
    summary = summarize(table)
    assert summary["categories"]["multiple"]["accuracy"] == pytest.approx(0.5)
    assert summary["incomplete_categories"] == ["multiple"]
    assert "only 150 scored" in render_markdown(summary)


def test_partial_selection_marks_groups_and_leaves_overall_out():
    summary = summarize({"simple_python": score("simple_python", 4, 5), "live_relevance": score("live_relevance", 1, 2)})
    h = summary["headline"]
    assert h["non_live_ast"] == pytest.approx(0.8)
    assert h["live"] == pytest.approx(0.5)
    assert h["multi_turn"] is None and h["overall"] is None and h["irrelevance"] is None
    assert "multiple" in summary["missing_categories"]["non_live_ast"]
    text = render_markdown(summary, "t")
    assert "| 80.00 † |" in text and "n/a" in text


def test_markdown_has_table1_columns_and_every_category():
    text = render_markdown(summarize(full_table()), "model x")
    assert "| Overall | Non-Live AST | Live | Multi-Turn | Relevance | Irrelevance |" in text
    for category in CATEGORIES:
        assert f"| {category} |" in text
    assert "| simple_python | 300 | 400 | 75.00 |" in text


def test_resolve_categories_groups_aliases_and_errors():
    assert resolve_categories(["simple", "multi_turn"]) == [
        "simple_python",
        "multi_turn_base",
        "multi_turn_miss_func",
        "multi_turn_miss_param",
        "multi_turn_long_context",
    ]
    assert resolve_categories(["all"]) == list(CATEGORIES)
    assert len(resolve_categories(["single_turn"])) == 11
    with pytest.raises(ValueError, match="simple_java"):
        resolve_categories(["simple_java"])
    with pytest.raises(ValueError, match="no BFCL category"):
        resolve_categories([" "])


def test_category_of_takes_the_longest_prefix():
    assert category_of("parallel_multiple_3") == "parallel_multiple"
    assert category_of("live_parallel_multiple_0-0-0") == "live_parallel_multiple"
    assert category_of("multi_turn_miss_param_7") == "multi_turn_miss_param"
    assert category_of("simple_python_0") == "simple_python"
    with pytest.raises(ValueError):
        category_of("simple_java_1")
