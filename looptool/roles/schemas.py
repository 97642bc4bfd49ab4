"""JSON schemas of every structured answer a role gives, by name.

Role cards name a schema; the caller sends it as structured output where the endpoint supports it
and validates the answer against it either way (model output is untrusted). The simulator also
keys its role-playing on these names.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

CALL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1}, "arguments": {"type": "object"}},
    "required": ["name", "arguments"],
    "additionalProperties": False,
}

REQUEST_KINDS = ("single", "parallel", "dependent", "missing_param", "no_tool")

DIALOG_PLAN: dict[str, Any] = {
    "type": "object",
    "properties": {
        "requests": {
            "type": "array",
            "minItems": 1,
            "maxItems": 12,
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": list(REQUEST_KINDS)},
                    "tools": {"type": "array", "items": {"type": "string"}, "maxItems": 6},
                    "goal": {"type": "string", "minLength": 1},
                    "withhold": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
                },
                "required": ["kind", "tools", "goal", "withhold"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["requests"],
    "additionalProperties": False,
}

_KIND_TOOL_COUNTS = {"single": (1, 1), "parallel": (2, 4), "dependent": (2, 3), "missing_param": (1, 1), "no_tool": (0, 0)}


def plan_schema_for(tool_names: list[str], kinds: list[str], required_params: list[str] | None = None) -> dict[str, Any]:
    """DIALOG_PLAN narrowed to one dialog: one entry per sampled request kind, in order, naming
    only the dialog's tools, as many as the kind needs, and for missing_param a withheld argument
    that is really required. A structured-output backend then keeps even a small planner on plan."""
    import copy

    schema = copy.deepcopy(DIALOG_PLAN)
    requests = schema["properties"]["requests"]
    requests["minItems"] = requests["maxItems"] = len(kinds)
    template = requests.pop("items")
    entries = []
    for kind in kinds:
        entry = copy.deepcopy(template)
        properties = entry["properties"]
        properties["kind"] = {"const": kind}
        low, high = _KIND_TOOL_COUNTS[kind]
        properties["tools"] = {"type": "array", "items": {"type": "string", "enum": sorted(tool_names)}, "minItems": low, "maxItems": high}
        if kind == "missing_param" and required_params:
            properties["withhold"] = {
                "type": "array",
                "items": {"type": "string", "enum": sorted(set(required_params))},
                "minItems": 1,
                "maxItems": 1,
            }
        else:
            properties["withhold"] = {"type": "array", "items": {"type": "string"}, "maxItems": 0}
        entries.append(entry)
    requests["prefixItems"] = entries
    requests["items"] = False
    return schema


USER_TURN: dict[str, Any] = {
    "type": "object",
    "properties": {"message": {"type": "string", "minLength": 1, "maxLength": 1200}, "finished": {"type": "boolean"}},
    "required": ["message", "finished"],
    "additionalProperties": False,
}

TOOL_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "results": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "status": {"type": "string", "enum": ["ok", "error"]},
                    "content": {"type": "object"},
                },
                "required": ["name", "status", "content"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["results"],
    "additionalProperties": False,
}


def tool_result_schema_for(n_calls: int) -> dict[str, Any]:
    """TOOL_RESULT with exactly one result per call, so a small model cannot drop or add one."""
    import copy

    schema = copy.deepcopy(TOOL_RESULT)
    schema["properties"]["results"]["minItems"] = schema["properties"]["results"]["maxItems"] = n_calls
    return schema


STEP_VERDICT: dict[str, Any] = {
    "type": "object",
    # Bounded text: a small model otherwise rambles inside the string until max_tokens.
    "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]}, "reason": {"type": "string", "maxLength": 400}},
    "required": ["verdict", "reason"],
    "additionalProperties": False,
}

# Position-neutral: the judge sees "A" and "B", never which one is the label.
LABEL_VERDICTS = ("A_CORRECT_B_WRONG", "B_CORRECT_A_WRONG", "BOTH_CORRECT", "BOTH_WRONG")
LABEL_VERDICT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": list(LABEL_VERDICTS)},
        "analysis": {"type": "string", "maxLength": 1200},
    },
    "required": ["verdict", "analysis"],
    "additionalProperties": False,
}

_HISTORY_TURNS: list[dict[str, Any]] = [
    {
        "type": "object",
        "properties": {"role": {"const": "user"}, "content": {"type": "string", "minLength": 1}},
        "required": ["role", "content"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "role": {"const": "assistant"},
            "content": {"type": "string"},
            "tool_calls": {"type": "array", "maxItems": 6, "items": CALL_SCHEMA},
        },
        "required": ["role", "content", "tool_calls"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {"role": {"const": "tool"}, "name": {"type": "string", "minLength": 1}, "content": {"type": "string"}},
        "required": ["role", "name", "content"],
        "additionalProperties": False,
    },
]

# A new sample may mirror a multi-step request: its history holds user turns, assistant turns
# with (or without) calls, and the tool results of those calls; its answer is the next step:
# calls, or a text reply where no call is due (asking for a missing argument, no tool fits).
EXPANDED_SAMPLES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "samples": {
            "type": "array",
            "minItems": 1,
            "maxItems": 16,
            "items": {
                "type": "object",
                "properties": {
                    "scenario": {"type": "string", "maxLength": 400},
                    "history": {"type": "array", "maxItems": 10, "items": {"anyOf": _HISTORY_TURNS}},
                    "user": {"type": "string"},
                    "calls": {"type": "array", "maxItems": 6, "items": CALL_SCHEMA},
                    "reply": {"type": "string", "maxLength": 1200},
                },
                "required": ["scenario", "history", "user", "calls", "reply"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["samples"],
    "additionalProperties": False,
}


def expanded_samples_schema_for(tools: list[dict[str, Any]], k: int, answer_kind: str = "call") -> dict[str, Any]:
    """EXPANDED_SAMPLES narrowed to one error seed: exactly k samples; every call (in the history
    and in the answer) one of the seed's tools with that tool's own argument schema; and the
    answer of the seed's kind: at least one call for a call seed, no call and a non-empty reply for
    a text seed. A structured-output backend then keeps even a small generator inside the task
    (rules and the judge still check every sample)."""
    import copy

    schema = copy.deepcopy(EXPANDED_SAMPLES)
    samples = schema["properties"]["samples"]
    samples["minItems"] = samples["maxItems"] = k
    item = samples["items"]["properties"]
    options = []
    for tool in tools:
        parameters = tool.get("parameters") or {"type": "object", "properties": {}}
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": tool["name"]}, "arguments": parameters},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    if options:
        call = {"anyOf": options} if len(options) > 1 else options[0]
        item["calls"]["items"] = call
        item["history"]["items"]["anyOf"][1]["properties"]["tool_calls"]["items"] = call
    if answer_kind == "call":
        item["calls"]["minItems"] = 1
        item["reply"]["maxLength"] = 0
    else:
        item["calls"]["maxItems"] = 0
        item["reply"]["minLength"] = 1
    return schema


def _api_spec() -> dict[str, Any]:
    from looptool.synth.trees import API_SPEC_RESPONSE_SCHEMA

    return API_SPEC_RESPONSE_SCHEMA


_REGISTRY: dict[str, Callable[[], dict[str, Any]]] = {
    "dialog_plan": lambda: DIALOG_PLAN,
    "user_turn": lambda: USER_TURN,
    "tool_result": lambda: TOOL_RESULT,
    "step_verdict": lambda: STEP_VERDICT,
    "label_verdict": lambda: LABEL_VERDICT,
    "expanded_samples": lambda: EXPANDED_SAMPLES,
    "api_spec": _api_spec,
}


def schema_names() -> list[str]:
    return sorted(_REGISTRY)


def get_schema(name: str) -> dict[str, Any]:
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(schema_names())}") from None
