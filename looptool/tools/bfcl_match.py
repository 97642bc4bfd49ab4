"""ToolMatch `bfcl` mode: the decisions of BFCL's AST checker (Python categories).

Written from the behaviour documented in notes/bench.md §4 and checked case by case against
`bfcl_eval.eval_checker.ast_eval.ast_checker` (bfcl-eval 2026.3.23) by
tests/tools/test_bfcl_agreement.py. Rules, in the order the checker applies them (the order
matters only for which reason is reported, and for which malformed ground truth raises):

call list   simple: exactly one call; multiple: as many calls as the ground truth, only the
            first is checked; parallel*: same count, order-free but greedy (each ground-truth
            call, in order, takes the first unused output that passes; no backtracking).
            `greedy=False` uses a maximum assignment instead: it accepts exactly the greedy
            false negatives (GT [f(a=[1,2]), f(a=[1])] vs output [f(a=1), f(a=2)]).
            No ground truth = irrelevance: pass iff no call was decoded.
one call    the doc's name (dots -> underscores if `underscore_to_dot`) must be the call name;
            schema-required args present; every arg in the schema and in the ground truth;
            type check (int accepted for float at top level only; bool is not int; arrays
            get a one-level item check); then the value: strings are compared after BFCL's
            normalisation (drop spaces and `,./-_*^`, lower-case, ' -> "), lists element-wise
            with that normalisation, dicts key by key against the nested acceptable lists,
            lists of dicts element-wise, anything else by Python `in`; finally every
            ground-truth arg the call omits must list "" (optional).
variables   a ground truth whose first non-"" value has another type than the schema (e.g.
            null, or "data['x']" for an array) switches to the "variable" path: a value of
            that type passes the type check and is compared by plain `in`.

Extension (the checker raises KeyError instead): JSON Schema type names "number" and
"object" in docs are read as BFCL's "float" and "dict". Ground truth the checker cannot process
(it raises) yields matched=False with reason `checker_error`.
"""

from __future__ import annotations

import re
from typing import Any
from collections.abc import Sequence

from looptool.tools.calls import ToolCall
from looptool.tools.match_result import MatchResult, max_assignment
from looptool.tools.parse import ParseResult, parse_tool_calls

_PY_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
    "number": float,
    "object": dict,  # extension, see module docstring
}
_ARRAY_TYPES = ("array", "tuple")
_STRIP = re.compile(r"[ ,./\-_*^]")


class _Fail(Exception):
    """A failed check; carries the reason string up to the call-list level."""


def standardize(text: str) -> str:
    """BFCL's string normalisation: drop spaces and ,./-_*^, lower-case, ' -> "."""
    return _STRIP.sub("", text).lower().replace("'", '"')


def _norm(value: Any) -> Any:
    return standardize(value) if type(value) is str else value


def _first_answer_type(answers: Sequence[Any]) -> type | None:
    for answer in answers:
        if answer != "":
            return type(answer)
    return None


def _type_ok(value: Any, answers: Sequence[Any], want: type, item_type: type | None) -> tuple[bool, bool]:
    """(passes, is_variable) for one value against the schema type and the answer list."""
    answer_type = _first_answer_type(answers)
    variable = answer_type is not None and answer_type is not want
    if type(value) is want:
        if item_type is None:
            return True, variable
        items: list[Any] = list(value)  # type: ignore[call-overload]  # `want` is list whenever item_type is set
        for alternative in answers:
            # An alternative that is not a list ("" = optional) passes the item check outright.
            if type(alternative) is not list or all(_type_ok(x, alternative, item_type, None)[0] for x in items):
                return True, variable
        return False, False
    if answer_type is not None and type(value) is answer_type:
        return True, True
    return False, False


def _indexed(seq: Any) -> list[Any]:
    """Elements by position, as the checker reads them (a dict here raises like it does)."""
    return [seq[i] for i in range(len(seq))]


def _dict_ok(value: dict, alternatives: Sequence[Any]) -> bool:
    for alternative in alternatives:
        if alternative == "":
            continue
        ok = True
        for key, item in value.items():
            if key not in alternative:
                ok = False
                break
            if _norm(item) not in [_norm(a) for a in _indexed(alternative[key])]:
                ok = False
                break
        for key, acceptable in alternative.items():
            if key not in value and "" not in acceptable:
                ok = False
                break
        if ok:
            return True
    return False


def _list_of_dicts_ok(value: list, alternatives: Sequence[Any]) -> bool:
    for alternative in alternatives:
        if len(value) != len(alternative):
            continue
        if all(_dict_ok(value[i], [alternative[i]]) for i in range(len(value))):
            return True
    return False


def _list_ok(value: list, alternatives: Sequence[Any]) -> bool:
    normalised = [_norm(x) for x in value]
    return normalised in [[_norm(a) for a in _indexed(alternative)] for alternative in alternatives]


def _check_call(doc: dict | None, output: dict, answer: dict, underscore_to_dot: bool) -> None:
    """Raise _Fail(reason) unless one decoded call {name: args} passes one ground-truth call."""
    answers = next(iter(answer.values()))
    if doc is None:  # reported as checker_error, as before the doc lookup was typed
        raise KeyError(f"no function doc of the entry describes {next(iter(answer))!r}")
    name = doc["name"]
    if underscore_to_dot and "." in name:
        name = name.replace(".", "_")
    if name not in output:
        raise _Fail(f"wrong_func_name: expected {name}, got {', '.join(output)}")
    args = output[name]
    params = doc["parameters"]["properties"]
    for required in doc["parameters"]["required"]:
        if required not in args:
            raise _Fail(f"missing_required: {name}.{required}")
    for param, value in args.items():
        if param not in params or param not in answers:
            raise _Fail(f"unexpected_param: {name}.{param}")
        kind = params[param]["type"]
        want = _PY_TYPES[kind]
        item_type = _PY_TYPES[params[param]["items"]["type"]] if kind in _ARRAY_TYPES else None
        if kind == "tuple" and type(value) is tuple:
            value = list(value)
        if want is float and type(value) is int:
            value = float(value)
        ok, variable = _type_ok(value, answers[param], want, item_type)
        if not ok:
            raise _Fail(f"type_error: {name}.{param} expected {kind}, got {type(value).__name__} {value!r:.60}")
        if not variable:
            if want is dict:
                ok = _dict_ok(value, answers[param])
            elif want is list and item_type is dict:
                ok = _list_of_dicts_ok(value, answers[param])
            elif want is str:
                ok = standardize(value) in [standardize(a) for a in answers[param] if type(a) is str]
            elif want is list:
                ok = _list_ok(value, answers[param])
            else:
                ok = value in answers[param]
        else:
            ok = value in answers[param]
        if not ok:
            raise _Fail(f"value_error: {name}.{param}={value!r:.60} not in {answers[param]!r:.80}")
    for param, acceptable in answers.items():
        if param not in args and "" not in acceptable:
            raise _Fail(f"missing_optional: {name}.{param} omitted but not optional")


def _assign(docs: Sequence[dict], calls: list[dict], expected: Sequence[dict], underscore_to_dot: bool) -> None:
    """Order-free matching by maximum assignment instead of BFCL's greedy pass (raises _Fail)."""
    compatible: list[list[int]] = []
    for output in calls:
        row = []
        for k, answer in enumerate(expected):
            try:
                _check_call(_find_doc(docs, next(iter(answer))), output, answer, underscore_to_dot)
                row.append(k)
            except _Fail:
                pass
        compatible.append(row)
    owner = max_assignment(compatible, len(expected))
    unmatched = [k for k, o in enumerate(owner) if o == -1]
    if unmatched:
        raise _Fail(f"no_match: ground-truth call(s) {unmatched} match no output in any assignment")


def _find_doc(docs: Sequence[dict], name: str) -> dict | None:
    return next((doc for doc in docs if doc["name"] == name), None)


def _decode(predicted: Any) -> list[dict] | None:
    """Predicted calls as the checker sees them ([{name: args}]); None = nothing decodable."""
    if isinstance(predicted, str):
        predicted = parse_tool_calls(predicted)
    if isinstance(predicted, ParseResult):
        return None if predicted.errors else [{c.name: c.arguments} for c in predicted.calls]
    out: list[dict] = []
    for i, item in enumerate(predicted):
        if isinstance(item, ToolCall):
            out.append({item.name: item.arguments})
        elif isinstance(item, dict) and set(item) == {"name", "arguments"}:
            call = ToolCall.from_dict(item, f"predicted[{i}]")
            out.append({call.name: call.arguments})
        elif isinstance(item, dict) and len(item) == 1:
            out.append(dict(item))
        else:
            raise ValueError(f"predicted[{i}]: expected a ToolCall, {{'name','arguments'}} or {{name: args}}")
    return out


def bfcl_match(
    predicted: Any,
    expected: Sequence[dict],
    tools: Sequence[Any] | None,
    *,
    category: str | None = None,
    underscore_to_dot: bool = False,
    greedy: bool = True,
) -> MatchResult:
    """BFCL AST checker decision. `category` as in BFCL ("simple_python", "live_multiple",
    "parallel_multiple", "irrelevance", "live_relevance", ...); None infers parallel (several
    ground-truth calls) or multiple (one call, its doc found by name)."""
    calls = _decode(predicted)
    category = category or ""
    if "relevance" in category and "irrelevance" not in category:
        ok = bool(calls)
        return MatchResult(ok, ["match: a call was made"] if ok else ["no_call: relevance expects a call"])
    if not expected or "irrelevance" in category:
        ok = not calls
        return MatchResult(ok, ["match: no call"] if ok else [f"unexpected_call: {len(calls or [])} call(s) decoded"])
    if calls is None:
        return MatchResult(False, ["decode_error: the output has format errors"])
    if tools is None:
        raise ValueError("tools: bfcl mode needs the function docs of the entry")
    docs = [t.to_dict() if hasattr(t, "to_dict") else t for t in tools]
    if not category:
        category = "parallel" if len(expected) > 1 else "multiple"
    try:
        if "parallel" in category:
            if len(calls) != len(expected):
                raise _Fail(f"wrong_count: expected {len(expected)} call(s), got {len(calls)}")
            if not greedy:
                _assign(docs, calls, expected, underscore_to_dot)
                return MatchResult(True, [f"match: {len(calls)} call(s)"])
            used: set[int] = set()
            for k, answer in enumerate(expected):
                doc = _find_doc(docs, next(iter(answer)))
                last = "no output left"
                for index, output in enumerate(calls):
                    if index in used:
                        continue
                    try:
                        _check_call(doc, output, answer, underscore_to_dot)
                    except _Fail as fail:
                        last = str(fail)
                        continue
                    used.add(index)
                    break
                else:
                    raise _Fail(f"no_match: ground-truth call {k} matches no remaining output (last: {last})")
        elif "multiple" in category:
            if len(calls) != len(expected):
                raise _Fail(f"wrong_count: expected {len(expected)} call(s), got {len(calls)}")
            _check_call(_find_doc(docs, next(iter(expected[0]))), calls[0], expected[0], underscore_to_dot)
        else:
            if len(calls) != 1:
                raise _Fail(f"wrong_count: expected 1 call, got {len(calls)}")
            _check_call(docs[0], calls[0], expected[0], underscore_to_dot)
    except _Fail as fail:
        return MatchResult(False, [str(fail)])
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        return MatchResult(False, [f"checker_error: the BFCL checker cannot process this entry ({type(exc).__name__}: {exc})"])
    return MatchResult(True, [f"match: {len(calls)} call(s)"])
