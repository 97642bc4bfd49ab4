"""GRPO reward entry points: thin wrappers over ToolMatch `reward` mode.

Binary reward (paper §3): 1.0 when the completion makes exactly the reference calls (or, for
a text-answer sample, makes none), else 0.0. No printing, no environment switches: the
reference reward changed behaviour with EXPERIMENT_NAME/CORRECTMAX1/... and printed every
sample; here behaviour is the code.

verl: `custom_reward_function.path=<this file>`, `custom_reward_function.name=compute_score`.
verl collects every key of the returned dict per sample (taking the key set from the first
sample), so each call returns the same keys and types: score (float), format_ok (bool),
reason (str; verl skips strings when averaging metrics).
TRL: pass `trl_reward` in `reward_funcs`; dataset columns `reward_model` and `extra_info`
arrive as keyword lists.

Tool specs are normalised once per distinct tool list (LRU cache keyed by their JSON), so the
reward worker spends its time on matching, not on schema checks.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from collections.abc import Mapping, Sequence

from looptool.tools.calls import ToolCall, calls_from_list
from looptool.tools.match import toolmatch
from looptool.tools.parse import ParseResult, parse_openai_tool_calls, parse_tool_calls
from looptool.tools.spec import ToolSpec, tool_index

_REASON_LIMIT = 500


def _plain(value: Any) -> Any:
    """numpy arrays / pyarrow scalars from parquet loaders -> plain Python lists."""
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, (str, bytes)) else value


@lru_cache(maxsize=65536)
def _calls_from_json(text: str) -> tuple[ToolCall, ...]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"ground_truth: not a JSON list of calls ({exc}): {text[:120]!r}") from None
    return tuple(calls_from_list(data, "ground_truth"))


def expected_calls(ground_truth: Any) -> list[ToolCall]:
    """Reference calls from a JSON string or a list of {"name", "arguments"} ([] = text answer)."""
    ground_truth = _plain(ground_truth)
    if isinstance(ground_truth, str):
        return list(_calls_from_json(ground_truth))
    return calls_from_list(ground_truth, "ground_truth")


@lru_cache(maxsize=4096)
def _tools_from_json(text: str) -> Mapping[str, ToolSpec]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"extra_info.tools: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise ValueError(f"extra_info.tools: expected a list of tool specs, got {type(data).__name__}")
    return tool_index(data)


def tools_from_extra_info(extra_info: Any) -> Mapping[str, ToolSpec]:
    """The tool index of a sample from extra_info["tools"] (JSON string or list); {} if absent."""
    if not isinstance(extra_info, Mapping):
        return {}
    tools = _plain(extra_info.get("tools"))
    if tools is None:
        return {}
    if isinstance(tools, str):
        return _tools_from_json(tools)
    if isinstance(tools, (list, tuple)):
        return _tools_from_json(json.dumps([_plain(t) for t in tools], sort_keys=True))
    raise ValueError(f"extra_info.tools: expected a JSON string or a list, got {type(tools).__name__}")


def score_parsed(parsed: ParseResult, ground_truth: Any, extra_info: Any = None) -> dict[str, Any]:
    """Score an already parsed completion; the shared core of both entry points."""
    result = toolmatch(parsed, expected_calls(ground_truth), tools_from_extra_info(extra_info), mode="reward")
    format_ok = parsed.ok and bool(parsed.calls or parsed.text)
    reason = "; ".join(result.reasons)
    return {
        "score": 1.0 if result.matched else 0.0,
        "format_ok": format_ok,
        "reason": reason if len(reason) <= _REASON_LIMIT else reason[: _REASON_LIMIT - 3] + "...",
    }


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl reward: {"score": 0.0|1.0, "format_ok": bool, "reason": str}.

    `data_source` is accepted for verl's signature and not used: every sample is scored by
    ToolMatch. `ground_truth` is a JSON list of calls ("[]" = text answer expected);
    `extra_info["tools"]` supplies defaults and number typing.
    """
    return score_parsed(parse_tool_calls(solution_str), ground_truth, extra_info)


def _parse_completion(completion: Any) -> ParseResult:
    if isinstance(completion, str):
        return parse_tool_calls(completion)
    if isinstance(completion, Sequence):
        assistant = [m for m in completion if isinstance(m, Mapping) and m.get("role") == "assistant"]
        if assistant:
            return parse_openai_tool_calls(dict(assistant[-1]))
        return ParseResult(errors=["completion has no assistant message"])
    if isinstance(completion, Mapping):
        return parse_openai_tool_calls(dict(completion))
    return parse_tool_calls(completion)  # reports the wrong type as a format error


def trl_reward(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    reward_model: Sequence[Mapping[str, Any]],
    extra_info: Sequence[Any] | None = None,
    **kwargs: Any,
) -> list[float]:
    """TRL GRPOTrainer reward function: one 0.0/1.0 per completion.

    Completions are strings or conversational ([{"role": "assistant", "content": ...}], the
    last assistant message counts); `reward_model[i]["ground_truth"]` is the reference.
    """
    if len(reward_model) != len(completions):
        raise ValueError(f"reward_model: {len(reward_model)} rows for {len(completions)} completions")
    if extra_info is not None and len(extra_info) != len(completions):
        raise ValueError(f"extra_info: {len(extra_info)} rows for {len(completions)} completions")
    scores: list[float] = []
    for i, completion in enumerate(completions):
        row = reward_model[i]
        if not isinstance(row, Mapping) or "ground_truth" not in row:
            raise ValueError(f"reward_model[{i}]: expected an object with 'ground_truth'")
        info = extra_info[i] if extra_info is not None else None
        scores.append(score_parsed(_parse_completion(completion), row["ground_truth"], info)["score"])
    return scores
