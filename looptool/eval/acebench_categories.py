"""ACEBench's categories, how each is judged, and the groups of the paper's Table 2.

Names are ACEBench's file names (`data_<category>.json`). Short names without the `normal_`
prefix (`atom_bool`, `similar_api`, `single_turn_single_function`) are accepted as aliases.
Table 2 columns: Normal (Atom, Single-Turn, Multi-Turn, Similar API, Preference), Special,
Agent, Overall (looptool.eval.acebench_scoreboard).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Kind = Literal["normal", "special", "agent"]

ATOM: tuple[str, ...] = (
    "normal_atom_bool",
    "normal_atom_enum",
    "normal_atom_number",
    "normal_atom_list",
    "normal_atom_object_deep",
    "normal_atom_object_short",
)
SINGLE_TURN: tuple[str, ...] = ("normal_single_turn_single_function", "normal_single_turn_parallel_function")
MULTI_TURN: tuple[str, ...] = ("normal_multi_turn_user_adjust", "normal_multi_turn_user_switch")
SIMILAR_API: tuple[str, ...] = ("normal_similar_api",)
PREFERENCE: tuple[str, ...] = ("normal_preference",)
NORMAL: tuple[str, ...] = (*SINGLE_TURN, *MULTI_TURN, *SIMILAR_API, *PREFERENCE, *ATOM)
SPECIAL: tuple[str, ...] = ("special_incomplete", "special_error_param", "special_irrelevant")
AGENT: tuple[str, ...] = ("agent_multi_step", "agent_multi_turn")

# Table order (ACEBench's category.py order).
CATEGORIES: tuple[str, ...] = (*NORMAL, *SPECIAL, *AGENT)
KINDS: dict[str, Kind] = {
    **{c: "normal" for c in NORMAL},
    **{c: "special" for c in SPECIAL},
    **{c: "agent" for c in AGENT},
}
GROUPS: dict[str, tuple[str, ...]] = {
    "all": CATEGORIES,
    "normal": NORMAL,
    "atom": ATOM,
    "single_turn": SINGLE_TURN,
    "multi_turn": MULTI_TURN,
    "special": SPECIAL,
    "agent": AGENT,
}
ALIASES: dict[str, str] = {c.removeprefix("normal_"): c for c in NORMAL if c.startswith("normal_")}
LANGUAGES: tuple[str, ...] = ("en", "zh")


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
            raise ValueError(f"unknown ACEBench category {raw!r}; known: {', '.join([*GROUPS, *CATEGORIES])}")
    if not wanted:
        raise ValueError("no ACEBench category selected")
    return [c for c in CATEGORIES if c in wanted]


def category_of(item_id: str) -> str:
    """`normal_multi_turn_user_adjust_3_1` -> `normal_multi_turn_user_adjust` (longest known prefix)."""
    best = ""
    for category in CATEGORIES:
        if item_id.startswith(category + "_") and len(category) > len(best):
            best = category
    if not best:
        raise ValueError(f"{item_id!r} is not an ACEBench item id")
    return best


def dialog_of(item_id: str) -> str:
    """The dialog a normal multi-turn item belongs to (`..._3_1` -> `..._3`); other ids are their own."""
    category = category_of(item_id)
    if category in MULTI_TURN:
        return item_id.rsplit("_", 1)[0]
    return item_id
