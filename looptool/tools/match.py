"""ToolMatch: is a predicted answer the same tool use as the reference? One function, two modes.

`reward` (default; GRPO reward and greedy probing) decides "same calls" exactly:
  * the prediction must parse cleanly (any format error = no match, reason `malformed`);
    calls inside <think> do not count;
  * a text answer is expected when the reference has no call: it matches when no call is made;
  * calls are compared order-free with exact multiplicity through a maximum bipartite
    assignment, so no greedy false negatives ([f(a=1), f(a=1)] needs two such calls);
  * values are compared type-aware: "1" != 1, True != 1, and 1 == 1.0 only where the schema
    says the parameter is a number (never for integers, never without a schema);
  * lists are ordered, strings exact, objects compared key by key;
  * schema defaults are filled on both sides first (at every object level the schema covers),
    so omitting an argument equals passing its default.

`bfcl` reproduces the Berkeley Function Calling Leaderboard AST checker (see bfcl_match.py).

The result carries stable reason codes with details (`code: detail`), so probes and error
analysis can count why a sample failed, not only that it did.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterable, Mapping, Sequence

from looptool.tools.bfcl_match import bfcl_match
from looptool.tools.calls import ToolCall
from looptool.tools.match_result import MatchResult, max_assignment
from looptool.tools.parse import ParseResult, parse_tool_calls
from looptool.tools.spec import ToolIndex, ToolSpec, tool_index

MODES = ("reward", "bfcl")

# Reward-mode reason codes.
REWARD_REASONS = (
    "match",
    "malformed",
    "empty_output",
    "unexpected_call",
    "no_call",
    "call_count",
    "wrong_name",
    "missing_call",
    "extra_call",
    "missing_argument",
    "extra_argument",
    "wrong_type",
    "wrong_value",
)

_MISSING = object()


def toolmatch(
    predicted: str | ParseResult | Sequence[ToolCall | dict],
    expected: Sequence[ToolCall | dict],
    tools: Iterable[Any] | Mapping[str, Any] | None = None,
    mode: str = "reward",
    *,
    category: str | None = None,
    underscore_to_dot: bool = False,
    bfcl_greedy: bool = True,
) -> MatchResult:
    """Compare a prediction with the reference.

    predicted: model output text, a ParseResult, or a list of calls.
    expected:  list of calls ([] = a text answer is expected); in `bfcl` mode BFCL ground truth
               ([{func: {param: [acceptable values]}}]).
    tools:     tool specs (for defaults and number typing in `reward` mode; the BFCL function
               docs, required, in `bfcl` mode). Pass ToolSpecs or a name->ToolSpec map on hot
               paths: raw dicts are normalised on every call.
    category, underscore_to_dot, bfcl_greedy: `bfcl` mode only (BFCL test category; the model
               config flag that renames dotted functions; greedy parallel matching as BFCL does,
               or a maximum assignment when False).
    """
    if mode == "reward":
        index: Mapping[str, ToolSpec] = tools if isinstance(tools, ToolIndex) or _is_spec_index(tools) else tool_index(tools)  # type: ignore[assignment]  # _is_spec_index checked it
        return _reward_match(predicted, expected, index)
    if mode == "bfcl":
        # bfcl mode: `expected` holds BFCL ground-truth dicts and `tools` the function docs.
        ground_truth: Any = expected  # BFCL ground-truth dicts, not ToolCalls
        docs: Any = tools  # BFCL function docs
        return bfcl_match(predicted, ground_truth, docs, category=category, underscore_to_dot=underscore_to_dot, greedy=bfcl_greedy)
    raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")


def _is_spec_index(tools: Any) -> bool:
    return isinstance(tools, Mapping) and all(isinstance(v, ToolSpec) for v in tools.values())


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _signature(call: ToolCall) -> str:
    return _short(f"{call.name}({call.arguments})", 120)


# ----------------------------------------------------------------------------- value equality


def _allows_number(schema: Any) -> bool:
    """Does the schema type this value as a JSON number (so 1 and 1.0 are the same value)?"""
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind == "number" or (isinstance(kind, list) and "number" in kind):
        return True
    return any(_allows_number(sub) for key in ("anyOf", "oneOf") for sub in schema.get(key, ()) or ())


def _sub_schema(schema: Any, key: str) -> Any:
    if not isinstance(schema, dict):
        return None
    props = schema.get("properties")
    if isinstance(props, dict) and key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _item_schema(schema: Any, index: int) -> Any:
    if not isinstance(schema, dict):
        return None
    items = schema.get("items")
    if isinstance(items, list):
        return items[index] if index < len(items) else None
    return items if isinstance(items, dict) else None


def _default(schema: Any, key: str) -> Any:
    sub = _sub_schema(schema, key)
    if isinstance(sub, dict) and "default" in sub:
        return sub["default"]
    return _MISSING


def values_equal(predicted: Any, expected: Any, schema: Any = None) -> bool:
    """Type-aware JSON equality under `schema` (see the module docstring for the rules)."""
    tp, te = type(predicted), type(expected)
    if te is dict:
        if tp is not dict:
            return False
        if predicted.keys() == expected.keys():  # common case: no defaults to fill
            props = schema.get("properties") if type(schema) is dict else None
            for key, e in expected.items():
                sub = props.get(key) if props and key in props else _sub_schema(schema, key)
                if not values_equal(predicted[key], e, sub):
                    return False
            return True
        for key in predicted.keys() | expected.keys():
            p = predicted.get(key, _MISSING)
            e = expected.get(key, _MISSING)
            if p is _MISSING or e is _MISSING:
                default = _default(schema, key)
                p = default if p is _MISSING else p
                e = default if e is _MISSING else e
                if p is _MISSING or e is _MISSING:
                    return False
            if not values_equal(p, e, _sub_schema(schema, key)):
                return False
        return True
    if te is list:
        if tp is not list or len(predicted) != len(expected):
            return False
        return all(values_equal(p, e, _item_schema(schema, i)) for i, (p, e) in enumerate(zip(predicted, expected)))
    if tp is te:
        return bool(predicted == expected)
    if tp in (int, float) and te in (int, float):
        return _allows_number(schema) and bool(predicted == expected)
    return False


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _diff(predicted: Any, expected: Any, schema: Any, where: str) -> list[str]:
    """Reasons why two unequal values differ, descending into objects."""
    if type(predicted) is dict and type(expected) is dict:
        reasons: list[str] = []
        for key in list(expected) + [k for k in predicted if k not in expected]:
            path = f"{where}.{key}"
            p = predicted.get(key, _MISSING)
            e = expected.get(key, _MISSING)
            default = _default(schema, key)
            p = default if p is _MISSING else p
            e = default if e is _MISSING else e
            if p is _MISSING:
                reasons.append(f"missing_argument: {path} (expected {_short(e)})")
            elif e is _MISSING:
                reasons.append(f"extra_argument: {path}={_short(p)}")
            elif not values_equal(p, e, _sub_schema(schema, key)):
                reasons.extend(_diff(p, e, _sub_schema(schema, key), path))
        return reasons
    pk, ek = _kind(predicted), _kind(expected)
    numeric = {pk, ek} <= {"integer", "number"}
    if pk != ek and not (numeric and _allows_number(schema)):
        return [f"wrong_type: {where} expected {ek} {_short(expected)}, got {pk} {_short(predicted)}"]
    return [f"wrong_value: {where} expected {_short(expected)}, got {_short(predicted)}"]


# ----------------------------------------------------------------------------- assignment


def _as_calls(items: Sequence[Any], where: str) -> list[ToolCall]:
    if all(type(item) is ToolCall for item in items):
        return list(items)
    return [ToolCall.from_dict(item, f"{where}[{i}]") for i, item in enumerate(items)]


def _reward_match(predicted: Any, expected: Sequence[ToolCall | dict], index: Mapping[str, ToolSpec]) -> MatchResult:
    if isinstance(predicted, str):
        predicted = parse_tool_calls(predicted)
    if isinstance(predicted, ParseResult):
        if predicted.errors:
            return MatchResult(False, [f"malformed: {err}" for err in predicted.errors])
        if not predicted.calls and not predicted.text:
            return MatchResult(False, ["empty_output: no call and no answer text"])
        pred = predicted.calls
    else:
        pred = _as_calls(predicted, "predicted")
    exp = _as_calls(expected, "expected")

    if not exp:
        if pred:
            names = ", ".join(c.name for c in pred)
            return MatchResult(False, [f"unexpected_call: a text answer was expected, got {len(pred)} call(s): {names}"])
        return MatchResult(True, ["match: text answer, no call expected and none made"])
    if not pred:
        names = ", ".join(c.name for c in exp)
        return MatchResult(False, [f"no_call: expected {len(exp)} call(s) ({names}), got a text answer"])
    if len(pred) != len(exp):
        return MatchResult(False, [f"call_count: expected {len(exp)} call(s), got {len(pred)}"])

    schemas = [index[c.name].parameters if c.name in index else None for c in exp]
    if len(exp) == 1:  # the common case needs no assignment
        p, e = pred[0], exp[0]
        if p.name == e.name and values_equal(p.arguments, e.arguments, schemas[0]):
            return MatchResult(True, ["match: 1 call(s)"])
        return MatchResult(False, _explain(pred, exp, schemas, [-1]))
    compatible = [[j for j, e in enumerate(exp) if e.name == p.name and values_equal(p.arguments, e.arguments, schemas[j])] for p in pred]
    owner = max_assignment(compatible, len(exp))
    if all(o != -1 for o in owner):
        return MatchResult(True, [f"match: {len(exp)} call(s)"])
    return MatchResult(False, _explain(pred, exp, schemas, owner))


def _explain(pred: list[ToolCall], exp: list[ToolCall], schemas: list[Any], owner: list[int]) -> list[str]:
    """Pair the unassigned calls by name and say how each pair differs."""
    free_pred = [i for i in range(len(pred)) if i not in owner]
    free_exp = [j for j, o in enumerate(owner) if o == -1]
    reasons: list[str] = []
    leftover_exp: list[int] = []
    for j in free_exp:
        same = next((i for i in free_pred if pred[i].name == exp[j].name), None)
        if same is None:
            leftover_exp.append(j)
            continue
        free_pred.remove(same)
        found = _diff(pred[same].arguments, exp[j].arguments, schemas[j], exp[j].name)
        reasons.extend(found or [f"wrong_value: {exp[j].name} expected {_signature(exp[j])}"])
    if len(leftover_exp) == 1 and len(free_pred) == 1:
        e, p = exp[leftover_exp[0]], pred[free_pred[0]]
        return reasons + [f"wrong_name: expected {e.name}, got {p.name}"]
    reasons += [f"missing_call: {_signature(exp[j])}" for j in leftover_exp]
    reasons += [f"extra_call: {_signature(pred[i])}" for i in free_pred]
    return reasons
