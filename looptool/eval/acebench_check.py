"""ACEBench's checker, re-implemented: the official decisions (`acebench` mode) and ToolMatch's
(`strict` mode) on the same items.

`acebench` mode reproduces model_eval/checker.py and eval_main.py of chenchen0103/ACEBench
decision for decision, leniencies included (they are what published ACEBench numbers mean):
  * strings: the ground truth, standardised (spaces and `,./-_*^` removed, lower case, ' -> "),
    must be a SUBSTRING of the standardised answer (exact only in agent categories);
  * top-level numbers and booleans are type-checked but never compared with the ground truth;
  * a ground-truth parameter the answer leaves out is fine unless the schema requires it;
  * inside objects every leaf is compared as `str(truth) in str(answer)`;
  * a type mismatch is forgiven when the answer has the ground truth's type ("variable" path),
    which also skips the value check;
  * `"true"`/`"false"` strings count as booleans in type checks;
  * multi-turn answers lose all whitespace before decoding (eval_main), single-turn answers are
    cut to their first outermost [...];
  * special categories look for fixed phrases and names/values as substrings of the raw text;
  * agent states are compared only on the attributes the model's final state has, and a
    ground-truth class whose name matches no class of the model's state is skipped.
The golden file written by scripts/acebench_official_golden.py (the official evaluator run on
the ground truth plus mutated answers) is what tests/eval/test_acebench_golden.py holds this
module to; every disagreement is listed in KNOWN_DISAGREEMENTS with its cause.

Where the official code crashes on an item (a KeyError on a function doc without `parameters`,
for instance, which aborts the whole official run), the item is wrong here, with error type
`checker_crash`.

`strict` mode applies ToolMatch's reward semantics (looptool.tools.match) to the same decoded
calls: exact names and multiplicity (order-free assignment), type-aware exact values, schema
defaults filled, no missing or extra arguments; special categories need the fixed phrase with
exactly the right names/values and no call; agent states must equal the ground truth's on every
attribute of every class.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from looptool.eval.acebench_decode import DecodeError, decode_answer, outermost_brackets
from looptool.tools.calls import ToolCall
from looptool.tools.match import toolmatch
from looptool.tools.spec import TYPE_ALIASES, ToolIndex, ToolSpec

MODES = ("acebench", "strict")
SUFFIX = re.compile(r"_\d+$")
_STANDARDIZE = re.compile(r"[ \,\.\/\-\_\*\^]")

# ACEBench's schema type -> Python type map (note: "number" is int; "enum" is `enumerate`).
_PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
    "list": list,
    "object": dict,
    "objectArray": list,
    "list(string)": list,
    "list(enum)": list,
    "int": int,
    "enum": enumerate,
    "number": int,
}
_NESTED_TYPES = ("array", "tuple", "list(string)", "list(enum)", "object", "objectArray")

# (language, item id, mutation) -> cause, for every prediction on which this module and the
# official evaluator decide differently (tests/eval/test_acebench_golden.py; docs/eval.md).
# Measured: none on 94,344 predictions (48,255 English, 46,089 Chinese).
KNOWN_DISAGREEMENTS: dict[tuple[str, str, str], str] = {}

PHRASE_INCOMPLETE = "Missing necessary parameters"
PHRASE_ERROR_PARAM = "There is incorrect value"
PHRASE_IRRELEVANT = "the limitations of the function"


@dataclass(frozen=True)
class Verdict:
    valid: bool
    error_type: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"valid": self.valid}
        if not self.valid:
            out.update(error_type=self.error_type, error=self.error[:1000])
        return out


OK = Verdict(True)


class _Crash(Exception):
    """Where the official checker raises (its run aborts); the item counts as wrong."""


def standardize(text: str) -> str:
    return _STANDARDIZE.sub("", text).lower().replace("'", '"')


def strip_suffix(name: str) -> str:
    """`tool_2` -> `tool`: ACEBench marks repeated calls of one function with `_N`."""
    return SUFFIX.sub("", name)


# ============================================================================ acebench mode


def _type_check(value: Any, truth: Any, expected: type, nested: type | None) -> tuple[bool, bool, str]:
    """(valid, is_variable, error) as ACEBench's type_checker decides."""
    truth_type = type(truth) if truth != "" else None
    is_variable = truth_type is not None and truth_type is not expected
    if value == "true":
        value = True
    elif value == "false":
        value = False
    valid, error = True, ""
    if type(value) is expected:
        if nested is None:
            return True, is_variable, ""
        try:
            alternatives = iter(truth)
        except TypeError:
            raise _Crash(f"the ground truth {truth!r} is not iterable") from None
        for alternative in alternatives:
            flag = True
            if type(alternative) is list:
                for item in value:
                    ok, _, _ = _type_check(item, alternative, nested, None)
                    if not ok:
                        flag = False
                        break
            if flag:
                return True, is_variable, ""
        valid, error = False, "nested type check failed"
    if truth_type is not None and (type(value) is truth_type or truth == value):
        return valid, True, error
    return False, is_variable, f"wrong type: expected {expected.__name__}, got {type(value).__name__}"


def _string_ok(value: str, truth: str, category: str) -> bool:
    if not isinstance(truth, str):
        raise _Crash("string ground truth is not a string")
    if "agent" in category:
        return standardize(value) == standardize(truth)
    return standardize(truth) in standardize(value)


def _list_ok(value: list, truth: Any) -> bool:
    answer = [standardize(v) if type(v) is str else v for v in value]
    try:
        expected = [standardize(t) if type(t) is str else t for t in truth]
    except TypeError:
        raise _Crash("list ground truth is not iterable") from None
    return answer == expected


def _dict_ok(value: Any, truth: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if not isinstance(truth, dict):
        raise _Crash("object ground truth is not an object")
    if len(value) != len(truth):
        return False
    for key, item in value.items():
        if item == "true":
            item = True
        elif item == "false":
            item = False
        if key not in truth:
            return False
        expected = truth[key]
        if isinstance(expected, dict):
            if not _dict_ok(item, expected):
                return False
            continue
        answer = standardize(item) if type(item) is str else item
        wanted = standardize(expected) if type(expected) is str else expected
        if str(wanted) not in str(answer):
            return False
    return True


def _list_of_dicts_ok(value: list, truth: Any) -> bool:
    if len(value) != len(truth):
        return False
    return all(_dict_ok(item, expected) for item, expected in zip(value, truth))


def _simple_call(doc: dict[str, Any] | None, output: dict[str, Any], answer: dict[str, Any], category: str) -> Verdict:
    """One expected call against one same-named output call (ACEBench's simple_function_checker)."""
    if doc is None:
        raise _Crash("no function doc for the expected call")
    truth = next(iter(answer.values()))
    arguments = next(iter(output.values()))
    if "parameters" not in doc:
        raise _Crash(f"function doc {doc.get('name')!r} has no 'parameters'")
    parameters = doc["parameters"]
    if arguments == {} and parameters == {}:
        return OK
    if arguments == {} or parameters == {}:
        return Verdict(False, "wrong_param", "empty arguments or parameters")
    try:
        properties = parameters["properties"]
    except (KeyError, TypeError):
        raise _Crash("parameters without 'properties'") from None
    if truth == properties:
        return OK
    if truth == {}:
        return Verdict(False, "wrong_param", "empty ground truth")
    name = doc["name"]
    if name not in output:
        return Verdict(False, "wrong_function_name", f"expected {name}, got {next(iter(output))}")
    try:
        required = parameters["required"]
    except (KeyError, TypeError):
        raise _Crash("parameters without 'required'") from None
    for param in required:
        if param not in arguments:
            return Verdict(False, "lack_args", f"missing required parameter {param}")
    for param, value in arguments.items():
        if param not in properties or param not in truth:
            return Verdict(False, "addition_args", f"unexpected parameter {param}")
        detail = properties[param]
        try:
            type_name = detail["type"]
            expected = _PYTHON_TYPES[type_name]
        except (KeyError, TypeError):
            raise _Crash(f"parameter {param}: unknown or missing type") from None
        nested = None
        if type_name in _NESTED_TYPES:
            try:
                nested_name = detail["items"]["type"]
            except Exception:  # noqa: BLE001 - ACEBench's bare except: any failure picks a default
                nested_name = "string" if "string" in type_name else "enum" if "enum" in type_name else "dict"
            try:
                nested = _PYTHON_TYPES[nested_name]
            except (KeyError, TypeError):
                raise _Crash(f"parameter {param}: unknown item type {nested_name!r}") from None
        if type_name == "tuple" and type(value) is tuple:
            value = list(value)
        if type_name == "float" and type(value) is int:
            value = float(value)
        ok, is_variable, error = _type_check(value, truth[param], expected, nested)
        if not ok:
            return Verdict(False, "type_error", f"{param}: {error}")
        if is_variable:
            continue
        if expected is dict:
            if not _dict_ok(value, truth[param]):
                return Verdict(False, "value_error", f"{param}: object differs")
        elif expected is list and nested is dict:
            if type_name == "objectArray":
                raise _Crash("objectArray parameters crash ACEBench's checker")
            if not _list_of_dicts_ok(value, truth[param]):
                return Verdict(False, "value_error:list_dict", f"{param}: list of objects differs")
        elif expected is str:
            if not _string_ok(value, truth[param], category):
                return Verdict(False, "value_error:string", f"{param}: expected {truth[param]!r}, got {value!r}")
        elif expected is list:
            if not _list_ok(value, truth[param]):
                return Verdict(False, "value_error:list/tuple", f"{param}: expected {truth[param]!r}, got {value!r}")
    return OK


def _find_doc(docs: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """ACEBench takes the first doc whose name is a substring of the expected (suffixed) name."""
    for doc in docs:
        if doc.get("name") in name:
            return doc
    return None


def _check_one_answer(docs: list[dict[str, Any]], calls: list[dict[str, Any]], truth: dict[str, Any], category: str) -> Verdict:
    if len(calls) != len(truth):
        return Verdict(False, "wrong functions number", f"expected {len(truth)} calls, got {len(calls)}")
    expected = [(name, {strip_suffix(name): args}) for name, args in truth.items()]
    made = Counter(next(iter(c)) for c in calls)
    wanted = Counter(next(iter(answer)) for _, answer in expected)
    for name in made:
        if name not in wanted:
            return Verdict(False, "function_mismatch", f"{name} is not in the ground truth")
    for name in wanted:
        if name not in made:
            return Verdict(False, "function_mismatch", f"{name} was not called")
    for name, count in made.items():
        if count != wanted[name]:
            return Verdict(False, "function_mismatch", f"{name}: expected {wanted[name]} calls, got {count}")
    verdict = OK
    for suffixed, answer in expected:
        doc = _find_doc(docs, suffixed)
        name = next(iter(answer))
        found = False
        for call in calls:
            if next(iter(call)) == name:
                verdict = _simple_call(doc, call, answer, category)
                if verdict.valid:
                    found = True
                    break
            else:
                verdict = Verdict(False, "simple_function_checker:unclear", "wrong_function")
        if not found and not verdict.valid:
            return verdict
    return verdict


def check_calls(docs: list[dict[str, Any]], calls: list[dict[str, Any]], ground_truth: Any, category: str) -> Verdict:
    """Decoded calls ([{name: args}]) against the ground truth (one dict, or a list of alternatives)."""
    alternatives = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    first: Verdict | None = None
    for truth in alternatives:
        try:
            verdict = _check_one_answer(docs, calls, truth, category)
        except _Crash as exc:  # the official run would abort here: no later alternative is tried
            return Verdict(False, "checker_crash", str(exc))
        except (TypeError, AttributeError, KeyError, IndexError) as exc:
            return Verdict(False, "checker_crash", f"{type(exc).__name__}: {exc}")
        if verdict.valid:
            return verdict
        first = first or verdict
    return first or Verdict(False, "no_ground_truth", "the item has no ground truth")


def decode_for_category(text: str, category: str) -> list[dict[str, Any]]:
    """eval_main's decoding of a text answer: multi-turn loses all whitespace, the rest keeps
    only its first outermost [...]. Raises DecodeError."""
    if category.startswith("normal_multi_turn"):
        return decode_answer("".join(text.split()))
    return decode_answer(outermost_brackets(text))


def check_normal_text(docs: list[dict[str, Any]], text: str, ground_truth: Any, category: str) -> Verdict:
    """A normal-category text answer, decoded and checked as eval_main does."""
    try:
        calls = decode_for_category(text, category)
    except DecodeError as exc:
        return Verdict(False, "wrong_output_format", str(exc))
    return check_calls(docs, calls, ground_truth, category)


def check_special(text: str, ground_truth: Any, category: str) -> Verdict:
    """The special categories: fixed phrases and names/values, as substrings of the raw answer."""
    if "incomplete" in category:
        for name, values in ground_truth.items():
            if PHRASE_INCOMPLETE not in text:
                return Verdict(False, "error_detection", "the missing parameters were not pointed out")
            if name not in text:
                return Verdict(False, "error_correction", f"the api {name} is not named")
            for value in values:
                if value not in text:
                    return Verdict(False, "error_correction", f"the missing parameter {value!r} is not named")
        return OK
    if "error" in category:
        for _, values in ground_truth.items():
            if PHRASE_ERROR_PARAM not in text:
                return Verdict(False, "error_detection", "the incorrect value was not pointed out")
            for value in values:
                if value not in text:
                    return Verdict(False, "error_correction", f"the incorrect value {value!r} is not named")
        return OK
    if PHRASE_IRRELEVANT not in text:
        return Verdict(False, "error_detection", "the answer does not say the functions cannot solve it")
    return OK


def json_state(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """States as ACEBench's evaluator sees them: through its JSON result file (int keys become
    strings, tuples lists)."""
    return json.loads(json.dumps(states, ensure_ascii=False, default=str))


def _state_ok(model: dict[str, Any], truth: dict[str, Any]) -> Verdict:
    ((cls, attributes),) = model.items()
    ((_, expected),) = truth.items()
    errors = []
    for name, value in attributes.items():
        if name not in expected:
            errors.append(f"{cls}.{name} is not in the ground truth")
            continue
        wanted = expected[name]
        if isinstance(wanted, dict):
            for key, item in wanted.items():
                if not isinstance(value, dict) or key not in value:
                    errors.append(f"{cls}.{name}: {key!r} missing")
                elif item != value[key]:
                    errors.append(f"{cls}.{name}.{key} differs")
        elif wanted != value:
            errors.append(f"{cls}.{name} differs")
    return Verdict(False, "class attributes wrong", "; ".join(errors)) if errors else OK


def check_agent_state(states: list[dict[str, Any]], ground_truth: list[dict[str, Any]]) -> Verdict:
    """Final backend states ([{class: {attribute: value}}], JSON form) against the ground truth."""
    if len(states) != len(ground_truth):
        return Verdict(False, "wrong number of class", f"expected {len(ground_truth)} classes, got {len(states)}")
    verdict = OK
    errors = []
    for truth in ground_truth:
        keys = set(truth)
        matched = next((state for state in states if set(state) == keys), None)
        if matched is not None:  # no match: the previous verdict stands (ACEBench's quirk)
            verdict = _state_ok(matched, truth)
        if not verdict.valid:
            errors.append(verdict.error)
    if errors:
        return Verdict(False, "class attributes wrong", "; ".join(errors))
    return OK


def process_accuracy(executed: list[str], mile_stone: list[Any]) -> float:
    """Share of milestone calls found in order among the messages sent for execution (the best
    alternative when there are several), as ACEBench's agent_eval_process computes it."""
    alternatives = mile_stone if mile_stone and isinstance(mile_stone[0], list) else [mile_stone]
    best = 0.0
    for stones in alternatives:
        if not stones:
            return 1.0
        found = 0
        position = 0
        for stone in stones:
            while position < len(executed):
                position += 1
                if executed[position - 1].strip() == stone.strip():
                    found += 1
                    break
        best = max(best, round(found / len(stones), 3))
    return best


# ============================================================================ strict mode


def lenient_schema(node: Any) -> Any:
    """ACEBench schemas with type aliases mapped (`dict` -> `object`), never rejected: ToolMatch
    only needs them for defaults and number typing."""
    if isinstance(node, list):
        return [lenient_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, str):
            mapped = TYPE_ALIASES.get(value.strip().lower(), value)
            if mapped is not None:
                out[key] = mapped
        elif key == "properties" and isinstance(value, dict):
            out[key] = {k: lenient_schema(v) for k, v in value.items()}
        else:
            out[key] = lenient_schema(value)
    return out


def strict_index(docs: list[dict[str, Any]]) -> ToolIndex:
    index = ToolIndex()
    for doc in docs:
        parameters = lenient_schema(doc.get("parameters") or {"type": "object", "properties": {}})
        index.setdefault(doc["name"], ToolSpec(name=doc["name"], description=str(doc.get("description") or ""), parameters=parameters))
    return index


def _jsonlike(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonlike(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonlike(v) for k, v in value.items()}
    return value


def as_tool_calls(calls: list[dict[str, Any]]) -> list[ToolCall]:
    return [ToolCall(name=name, arguments=_jsonlike(arguments)) for call in calls for name, arguments in call.items()]


def strict_calls(docs: list[dict[str, Any]], calls: list[dict[str, Any]], ground_truth: Any) -> Verdict:
    """ToolMatch (reward mode) against any of the ground-truth alternatives."""
    alternatives = ground_truth if isinstance(ground_truth, list) else [ground_truth]
    index = strict_index(docs)
    predicted = as_tool_calls(calls)
    first = None
    for truth in alternatives:
        expected = [ToolCall(name=strip_suffix(name), arguments=_jsonlike(args)) for name, args in truth.items()]
        result = toolmatch(predicted, expected, index, mode="reward")
        if result.matched:
            return OK
        first = first or Verdict(False, result.codes[0] if result.codes else "mismatch", "; ".join(result.reasons))
    return first or Verdict(False, "no_ground_truth", "the item has no ground truth")


def strict_normal_text(docs: list[dict[str, Any]], text: str, ground_truth: Any) -> Verdict:
    """Strict decoding: the first outermost [...] in every category (whitespace kept)."""
    try:
        calls = decode_answer(outermost_brackets(text))
    except DecodeError as exc:
        return Verdict(False, "malformed", str(exc))
    return strict_calls(docs, calls, ground_truth)


_INCOMPLETE_RE = re.compile(r"Missing necessary parameters \(([^()]*)\) for the api \(([^()]*)\)")
_ERROR_PARAM_RE = re.compile(r"There is incorrect value \(([^()]*)\) for the parameters \(([^()]*)\)")


def _names(text: str) -> list[str]:
    return sorted(part.strip() for part in re.split(r"[,，]", text) if part.strip())


def strict_special(text: str, made_calls: bool, ground_truth: Any, category: str) -> Verdict:
    """The fixed phrase with exactly the expected names/values (spaces around them ignored), and
    no function call."""
    if made_calls:
        return Verdict(False, "unexpected_call", "a special item must be answered in text, without a call")
    if "incomplete" in category:
        found = {api.strip(): _names(keys) for keys, api in _INCOMPLETE_RE.findall(text)}
        expected = {name.strip(): _names(",".join(values)) for name, values in ground_truth.items()}
        return OK if found == expected else Verdict(False, "wrong_value", f"expected {expected}, got {found}")
    if "error" in category:
        pairs = _ERROR_PARAM_RE.findall(text)
        values = sorted(v for group, _ in pairs for v in _names(group))
        params = sorted(k for _, group in pairs for k in _names(group))
        expected_values = sorted(v for values_ in ground_truth.values() for v in _names(",".join(values_)))
        if values == expected_values and params == _names(",".join(ground_truth)):
            return OK
        return Verdict(False, "wrong_value", f"expected {dict(ground_truth)}, got values {values} for {params}")
    if "Due to the limitations of the function, I cannot solve this problem." in text:
        return OK
    return Verdict(False, "error_detection", "the fixed sentence for irrelevant requests is missing")


def strict_agent_state(states: list[dict[str, Any]], ground_truth: list[dict[str, Any]]) -> Verdict:
    """Every ground-truth class (name compared case-insensitively, ACEBench's files have typos
    such as `ReminderAPI`) must exist with exactly the ground truth's attributes."""
    by_name = {next(iter(s)).lower(): next(iter(s.values())) for s in states}
    errors = []
    for truth in ground_truth:
        ((cls, expected),) = truth.items()
        actual = by_name.get(cls.lower())
        if actual is None:
            errors.append(f"{cls}: no such class in the final state")
        elif actual != expected:
            differing = sorted(k for k in set(actual) | set(expected) if actual.get(k) != expected.get(k))
            errors.append(f"{cls}: {', '.join(differing)} differ")
    return Verdict(False, "state_mismatch", "; ".join(errors)) if errors else OK
