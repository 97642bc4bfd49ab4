"""The BFCL categories this engine can score offline, and how each one is judged.

BFCL names are the v4 file names shipped in bfcl-eval 2026.3.23 (`simple_python`, not the v3
`simple`); the v3 name is accepted as an alias because the paper's Table 1 uses it. Java and
JavaScript (source-string answers), web search (SerpAPI) and memory (downloads a model from the
hub) are left out: they cannot run offline or are not Python tool calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Kind = Literal["ast", "relevance", "irrelevance", "multi_turn"]

NON_LIVE_AST: tuple[str, ...] = ("simple_python", "multiple", "parallel", "parallel_multiple")
LIVE_AST: tuple[str, ...] = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
MULTI_TURN: tuple[str, ...] = (
    "multi_turn_base",
    "multi_turn_miss_func",
    "multi_turn_miss_param",
    "multi_turn_long_context",
)
IRRELEVANCE: tuple[str, ...] = ("irrelevance", "live_irrelevance")
RELEVANCE: tuple[str, ...] = ("live_relevance",)

# Table order: non-live, live, multi-turn (the order of BFCL's score files).
CATEGORIES: tuple[str, ...] = (
    *NON_LIVE_AST,
    "irrelevance",
    *LIVE_AST,
    "live_irrelevance",
    "live_relevance",
    *MULTI_TURN,
)

KINDS: dict[str, Kind] = {
    **{c: "ast" for c in (*NON_LIVE_AST, *LIVE_AST)},
    **{c: "irrelevance" for c in IRRELEVANCE},
    **{c: "relevance" for c in RELEVANCE},
    **{c: "multi_turn" for c in MULTI_TURN},
}

GROUPS: dict[str, tuple[str, ...]] = {
    "all": CATEGORIES,
    "non_live": (*NON_LIVE_AST, "irrelevance"),
    "live": (*LIVE_AST, "live_irrelevance", "live_relevance"),
    "multi_turn": MULTI_TURN,
    "single_turn": (*NON_LIVE_AST, "irrelevance", *LIVE_AST, "live_irrelevance", "live_relevance"),
    "ast": (*NON_LIVE_AST, *LIVE_AST),
}
ALIASES: dict[str, str] = {"simple": "simple_python"}


def resolve_categories(names: Iterable[str]) -> list[str]:
    """Expand groups and aliases into category names in table order; unknown names raise ValueError."""
    wanted: set[str] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        name = ALIASES.get(name, name)
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in KINDS:
            wanted.add(name)
        else:
            known = ", ".join([*CATEGORIES, *GROUPS, *ALIASES])
            raise ValueError(f"unknown BFCL category {raw!r}; known: {known}")
    if not wanted:
        raise ValueError("no BFCL category selected")
    return [c for c in CATEGORIES if c in wanted]


def category_of(item_id: str) -> str:
    """BFCL ids are `<category>_<index>`; the longest known category prefix wins."""
    best = ""
    for category in CATEGORIES:
        if item_id.startswith(category + "_") and len(category) > len(best):
            best = category
    if not best:
        raise ValueError(f"{item_id!r} is not an id of an offline BFCL category")
    return best
