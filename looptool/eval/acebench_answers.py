"""What a perfect answer to an ACEBench item says, in ACEBench's format and as structured calls.

Used by the simulator's oracle table (looptool.eval.acebench_oracle) and by the mutated
predictions the official evaluator is compared on (looptool.eval.acebench_mutations), so both
start from the same reading of the ground truth:
  normal    each ground-truth call, `_N` suffixes removed, arguments in ground-truth order
            (alternative answers: the first one unless asked for another);
  special   ACEBench's fixed phrase with the ground truth's api and parameter names, or its
            incorrect values, written verbatim (stray spaces included: the checker looks for them);
  agent     the milestone messages, verbatim (first alternative path).
"""

from __future__ import annotations

from typing import Any

from looptool.eval.acebench_check import strip_suffix
from looptool.eval.acebench_data import AceItem
from looptool.eval.acebench_decode import render_calls

IRRELEVANT_SENTENCE = "Due to the limitations of the function, I cannot solve this problem."


def truth_alternatives(item: AceItem) -> list[dict[str, Any]]:
    truth = item.ground_truth
    return list(truth) if isinstance(truth, list) else [truth]


def ideal_calls(item: AceItem, alternative: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of each expected call of a normal item."""
    truth = truth_alternatives(item)[alternative]
    return [(strip_suffix(name), dict(arguments)) for name, arguments in truth.items()]


def incomplete_sentence(name: str, missing: list[str]) -> str:
    return f"Missing necessary parameters ({', '.join(missing)}) for the api ({name})"


def error_param_sentence(values: list[str], parameter: str) -> str:
    return f"There is incorrect value ({', '.join(values)}) for the parameters ({parameter}) in the conversation history."


def special_sentence(item: AceItem) -> str:
    """The fixed sentence(s) a special item expects (joined with a space when several)."""
    truth = item.ground_truth
    if item.category == "special_incomplete":
        return " ".join(incomplete_sentence(name, list(values)) for name, values in truth.items())
    if item.category == "special_error_param":
        return " ".join(error_param_sentence(list(values), name) for name, values in truth.items())
    return IRRELEVANT_SENTENCE


def ideal_text(item: AceItem, alternative: int = 0) -> str:
    """The perfect answer in ACEBench's own format."""
    if item.category.startswith("special_"):
        return f'["{special_sentence(item)}"]'
    return render_calls(ideal_calls(item, alternative))


def milestones(item: AceItem, alternative: int = 0) -> list[str]:
    """The agent messages of one milestone path (ACEBench lists alternatives as lists of lists)."""
    stones = item.mile_stone
    if stones and isinstance(stones[0], list):
        return list(stones[alternative])
    return list(stones)


def milestone_paths(item: AceItem) -> int:
    stones = item.mile_stone
    return len(stones) if stones and isinstance(stones[0], list) else 1
