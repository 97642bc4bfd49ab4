"""ToolMatch rules, table by table, with the reason codes each decision returns."""

from __future__ import annotations

import pytest

from looptool.tools.calls import ToolCall
from looptool.tools.match import toolmatch
from looptool.tools.match_result import MatchResult, max_assignment
from looptool.tools.render import render_calls_text
from looptool.tools.spec import tool_index

TOOLS = tool_index(
    [
        {
            "name": "set_temp",
            "description": "Set a room's temperature.",
            "parameters": {
                "type": "object",
                "properties": {
                    "room": {"type": "string"},
                    "celsius": {"type": "number"},
                    "fan": {"type": "integer", "default": 1},
                    "eco": {"type": "boolean", "default": False},
                    "schedule": {
                        "type": "object",
                        "properties": {
                            "days": {"type": "array", "items": {"type": "string"}},
                            "repeat": {"type": "boolean", "default": True},
                            "at": {"type": "array", "items": {"type": "number"}},
                        },
                    },
                },
                "required": ["room"],
            },
        },
        {
            "name": "log",
            "description": "Write a log line.",
            "parameters": {"type": "object", "properties": {"msg": {"type": "string"}}, "required": ["msg"]},
        },
    ]
)


def T(**arguments) -> ToolCall:
    return ToolCall("set_temp", arguments)


def L(msg: str) -> ToolCall:
    return ToolCall("log", {"msg": msg})


REWARD_CASES = [
    # (case, predicted, expected, matched, reason codes)
    ("identical", [T(room="a", celsius=21.5)], [T(room="a", celsius=21.5)], True, ["match"]),
    ("1 == 1.0 for a number param", [T(room="a", celsius=21)], [T(room="a", celsius=21.0)], True, ["match"]),
    ("'1' != 1", [T(room="a", celsius="21")], [T(room="a", celsius=21)], False, ["wrong_type"]),
    ("1.0 != 1 for an integer param", [T(room="a", fan=2.0)], [T(room="a", fan=2)], False, ["wrong_type"]),
    ("True != 1", [T(room="a", fan=True)], [T(room="a", fan=1)], False, ["wrong_type"]),
    ("0 != False", [T(room="a", eco=0)], [T(room="a", eco=False)], False, ["wrong_type"]),
    ("null != missing without default", [L("x")], [ToolCall("log", {"msg": "x", "level": None})], False, ["missing_argument"]),
    ("strings are exact", [T(room="Kitchen")], [T(room="kitchen")], False, ["wrong_value"]),
    ("default omitted by prediction", [T(room="a")], [T(room="a", fan=1, eco=False)], True, ["match"]),
    ("default omitted by label", [T(room="a", fan=1)], [T(room="a")], True, ["match"]),
    ("non-default vs omitted", [T(room="a", fan=3)], [T(room="a")], False, ["wrong_value"]),
    (
        "nested default",
        [T(room="a", schedule={"days": ["mon"]})],
        [T(room="a", schedule={"days": ["mon"], "repeat": True})],
        True,
        ["match"],
    ),
    ("nested number typing", [T(room="a", schedule={"at": [7, 7.5]})], [T(room="a", schedule={"at": [7.0, 7.5]})], True, ["match"]),
    (
        "list order matters",
        [T(room="a", schedule={"days": ["tue", "mon"]})],
        [T(room="a", schedule={"days": ["mon", "tue"]})],
        False,
        ["wrong_value"],
    ),
    ("missing argument", [T(celsius=20)], [T(room="a", celsius=20)], False, ["missing_argument"]),
    ("extra argument", [L("x") if False else ToolCall("log", {"msg": "x", "level": 2})], [L("x")], False, ["extra_argument"]),
    ("parallel calls in any order", [L("b"), T(room="a")], [T(room="a"), L("b")], True, ["match"]),
    ("multiplicity is exact", [L("a"), L("a")], [L("a"), L("b")], False, ["wrong_value"]),
    ("duplicates both present", [L("a"), L("b"), L("a")], [L("a"), L("a"), L("b")], True, ["match"]),
    ("wrong function", [L("a")], [T(room="a")], False, ["wrong_name"]),
    ("one wrong among two", [T(room="a"), L("x")], [L("x"), T(room="b")], False, ["wrong_value"]),
    ("two wrong names", [L("a"), L("b")], [T(room="a"), T(room="b")], False, ["missing_call", "missing_call", "extra_call", "extra_call"]),
    ("too many calls", [L("a"), L("a")], [L("a")], False, ["call_count"]),
    ("text answer expected and given", [], [], True, ["match"]),
    ("call where text expected", [L("a")], [], False, ["unexpected_call"]),
    ("text where a call expected", [], [L("a")], False, ["no_call"]),
]


@pytest.mark.parametrize(("case", "predicted", "expected", "matched", "codes"), REWARD_CASES, ids=[c[0] for c in REWARD_CASES])
def test_reward_mode_rules(case, predicted, expected, matched, codes):
    result = toolmatch(predicted, expected, TOOLS)
    assert (result.matched, result.codes) == (matched, codes), result.reasons
    assert bool(result) is matched


@pytest.mark.parametrize(("case", "predicted", "expected", "matched", "codes"), REWARD_CASES, ids=[c[0] for c in REWARD_CASES])
def test_reward_mode_from_rendered_text_gives_the_same_decision(case, predicted, expected, matched, codes):
    text = render_calls_text(predicted) if predicted else "Here is my answer."
    assert toolmatch(f"<think>reasoning</think>\n{text}", expected, TOOLS).matched is matched


OUTPUT_CASES = [
    (
        "think-only call is no call",
        '<think><tool_call>{"name": "log", "arguments": {"msg": "a"}}</tool_call></think>I cannot do that.',
        [L("a")],
        False,
        ["no_call"],
    ),
    (
        "think-only call counts as a text answer",
        '<think><tool_call>{"name": "log", "arguments": {}}</tool_call></think>No tool fits.',
        [],
        True,
        ["match"],
    ),
    ("unterminated block is malformed", '<tool_call>{"name": "log", "arguments": {"msg": "a"}}', [L("a")], False, ["malformed"]),
    ("invalid JSON is malformed", "<tool_call>{'name': 'log'}</tool_call>", [L("a")], False, ["malformed"]),
    ("unterminated think is malformed", "<think>still thinking", [], False, ["malformed"]),
    ("empty output", "   ", [], False, ["empty_output"]),
    ("no newlines needed", '<tool_call>{"name":"log","arguments":{"msg":"a"}}</tool_call>', [L("a")], True, ["match"]),
]


@pytest.mark.parametrize(("case", "text", "expected", "matched", "codes"), OUTPUT_CASES, ids=[c[0] for c in OUTPUT_CASES])
def test_reward_mode_output_format_rules(case, text, expected, matched, codes):
    result = toolmatch(text, expected, TOOLS)
    assert (result.matched, result.codes) == (matched, codes), result.reasons


def test_without_a_schema_numbers_keep_their_type():
    assert toolmatch([ToolCall("f", {"x": 1})], [ToolCall("f", {"x": 1})]).matched
    assert toolmatch([ToolCall("f", {"x": 1})], [ToolCall("f", {"x": 1.0})]).codes == ["wrong_type"]


def test_reasons_carry_the_detail():
    (reason,) = toolmatch([T(room="a", celsius="21")], [T(room="a", celsius=21)], TOOLS).reasons
    assert reason == "wrong_type: set_temp.celsius expected integer 21, got string '21'"


def test_assignment_beats_greedy():
    # Left 0 fits both right slots, left 1 only the first: greedy 0->0 would strand left 1.
    assert max_assignment([[0, 1], [0]], 2) == [1, 0]
    assert max_assignment([[0], [0]], 2).count(-1) == 1


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="mode"):
        toolmatch([], [], mode="fuzzy")


# ------------------------------------------------------------------------------------------ bfcl

DOCS = [
    {
        "name": "book",
        "description": "",
        "parameters": {
            "type": "dict",
            "properties": {
                "city": {"type": "string"},
                "nights": {"type": "integer"},
                "budget": {"type": "float"},
                "rates": {"type": "array", "items": {"type": "float"}},
                "late": {"type": "boolean"},
                "prefs": {"type": "dict", "properties": {"bed": {"type": "string"}, "floor": {"type": "integer"}}},
                "note": {"type": "string"},
            },
            "required": ["city"],
        },
    },
    {
        "name": "math.add",
        "description": "",
        "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]},
    },
]
GT_BOOK = [
    {
        "book": {
            "city": ["New York, NY", "NYC"],
            "nights": [2],
            "budget": [100.0, ""],
            "rates": [[1.5, 2.0], ""],
            "late": [False, ""],
            "prefs": [{"bed": ["king"], "floor": [3, ""]}, ""],
        }
    }
]


def B(**arguments) -> ToolCall:
    return ToolCall("book", arguments)


BFCL_CASES = [
    ("acceptable value", [B(city="NYC", nights=2)], GT_BOOK, "simple", True, ["match"]),
    ("string normalisation", [B(city="new york ny", nights=2)], GT_BOOK, "simple", True, ["match"]),
    ("other punctuation counts", [B(city="New York NY!", nights=2)], GT_BOOK, "simple", False, ["value_error"]),
    ("omitted param without ''", [B(city="NYC")], GT_BOOK, "simple", False, ["missing_optional"]),
    ("schema-optional param absent from GT", [B(city="NYC", nights=2, note="x")], GT_BOOK, "simple", False, ["unexpected_param"]),
    ("int for float at top level", [B(city="NYC", nights=2, budget=100)], GT_BOOK, "simple", True, ["match"]),
    (
        "no int for float inside arrays",
        [B(city="NYC", rates=[1.5, 2])],
        [{"book": {"city": ["NYC"], "rates": [[1.5, 2.0]]}}],
        "simple",
        False,
        ["type_error"],
    ),
    ("an optional array skips the item type check", [B(city="NYC", nights=2, rates=[1.5, 2])], GT_BOOK, "simple", True, ["match"]),
    ("float for integer", [B(city="NYC", nights=2.0)], GT_BOOK, "simple", False, ["type_error"]),
    ("bool for integer", [B(city="NYC", nights=True)], GT_BOOK, "simple", False, ["type_error"]),
    ("dict with nested acceptable lists", [B(city="NYC", nights=2, prefs={"bed": "King"})], GT_BOOK, "simple", True, ["match"]),
    (
        "dict with an unknown key",
        [B(city="NYC", nights=2, prefs={"bed": "king", "view": "sea"})],
        GT_BOOK,
        "simple",
        False,
        ["value_error"],
    ),
    ("missing required", [B(nights=2)], GT_BOOK, "simple", False, ["missing_required"]),
    ("extra call", [B(city="NYC", nights=2)] * 2, GT_BOOK, "simple", False, ["wrong_count"]),
    ("wrong function", [ToolCall("math.add", {"a": 1, "b": 2})], GT_BOOK, "multiple", False, ["wrong_func_name"]),
    (
        "parallel any order",
        [ToolCall("math.add", {"a": 1, "b": 2}), B(city="NYC", nights=2)],
        [{"book": {"city": ["NYC"], "nights": [2]}}, {"math.add": {"a": [1], "b": [2]}}],
        "parallel",
        True,
        ["match"],
    ),
    ("irrelevance: no call", [], [], "irrelevance", True, ["match"]),
    ("irrelevance: a call", [B(city="x")], [], "irrelevance", False, ["unexpected_call"]),
    (
        "variable: null accepted when GT lists None",
        [B(city=None, nights=2)],
        [{"book": {"city": [None], "nights": [2]}}],
        "simple",
        True,
        ["match"],
    ),
    (
        "variable: GT led by None compares strings without normalisation",
        [B(city="new york", nights=2)],
        [{"book": {"city": [None, "New York"], "nights": [2]}}],
        "simple",
        False,
        ["value_error"],
    ),
]


@pytest.mark.parametrize(("case", "predicted", "gt", "category", "matched", "codes"), BFCL_CASES, ids=[c[0] for c in BFCL_CASES])
def test_bfcl_mode_rules(case, predicted, gt, category, matched, codes):
    result = toolmatch(predicted, gt, DOCS, mode="bfcl", category=category)
    assert (result.matched, result.codes) == (matched, codes), result.reasons


def test_bfcl_greedy_false_negative_and_the_assignment_option():
    gt = [{"math.add": {"a": [1, 2], "b": [0]}}, {"math.add": {"a": [1], "b": [0]}}]
    outputs = [ToolCall("math.add", {"a": 1, "b": 0}), ToolCall("math.add", {"a": 2, "b": 0})]
    greedy = toolmatch(outputs, gt, DOCS, mode="bfcl", category="parallel")
    assert greedy.codes == ["no_match"]  # what BFCL's checker decides
    assert toolmatch(list(reversed(outputs)), gt, DOCS, mode="bfcl", category="parallel").matched
    assert toolmatch(outputs, gt, DOCS, mode="bfcl", category="parallel", bfcl_greedy=False).matched


def test_bfcl_underscore_to_dot_renames_expected_functions():
    gt = [{"math.add": {"a": [1], "b": [2]}}]
    dotted, underscored = ToolCall("math.add", {"a": 1, "b": 2}), ToolCall("math_add", {"a": 1, "b": 2})
    assert toolmatch([dotted], gt, DOCS, mode="bfcl", category="simple_python").matched is False  # docs[0] is book
    assert toolmatch([dotted], gt, DOCS, mode="bfcl", category="multiple").matched
    assert not toolmatch([dotted], gt, DOCS, mode="bfcl", category="multiple", underscore_to_dot=True).matched
    assert toolmatch([underscored], gt, DOCS, mode="bfcl", category="multiple", underscore_to_dot=True).matched


def test_bfcl_mode_reads_model_text_and_bfcl_output_dicts():
    gt = [{"math.add": {"a": [1], "b": [2]}}]
    text = '<think>add</think><tool_call>{"name": "math.add", "arguments": {"a": 1, "b": 2}}</tool_call>'
    assert toolmatch(text, gt, DOCS, mode="bfcl").matched
    assert toolmatch([{"math.add": {"a": 1, "b": 2}}], gt, DOCS, mode="bfcl").matched
    assert toolmatch("<tool_call>{bad</tool_call>", gt, DOCS, mode="bfcl").codes == ["decode_error"]


def test_bfcl_ground_truth_the_checker_cannot_process_is_reported():
    gt = [{"book": {"city": ["NYC"], "nights": [2], "prefs": [{"bed": {"king": 1}}]}}]
    result = toolmatch([B(city="NYC", nights=2, prefs={"bed": "king"})], gt, DOCS, mode="bfcl", category="simple")
    assert result.codes == ["checker_error"]


def test_modes_differ_where_documented():
    # BFCL normalises strings and allows int-for-float; reward mode does neither for strings.
    gt = [{"book": {"city": ["NYC"], "nights": [2]}}]
    assert toolmatch([B(city="nyc", nights=2)], gt, DOCS, mode="bfcl", category="simple").matched
    reward_tools = tool_index(DOCS)
    assert toolmatch([B(city="nyc", nights=2)], [B(city="NYC", nights=2)], reward_tools).codes == ["wrong_value"]


def test_match_result_is_a_plain_value():
    assert MatchResult(True, ["match: 1 call(s)"]).codes == ["match"]
