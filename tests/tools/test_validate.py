"""Argument validation: one distinct reason code per kind of rule violation."""

from __future__ import annotations

import pytest

from looptool.tools.calls import ToolCall
from looptool.tools.spec import load_tools
from looptool.tools.validate import REASONS, validate_call

TOOLS = load_tools(
    [
        {
            "name": "book_flight",
            "description": "Book a flight.",
            "parameters": {
                "type": "dict",
                "properties": {
                    "origin": {"type": "string"},
                    "seats": {"type": "integer", "minimum": 1},
                    "price_cap": {"type": "float"},
                    "cabin": {"type": "string", "enum": ["economy", "business"]},
                    "refundable": {"type": "boolean"},
                    "stops": {"type": "array", "items": {"type": "string"}},
                    "passenger": {
                        "type": "dict",
                        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                        "required": ["name"],
                    },
                },
                "required": ["origin", "seats"],
            },
        },
        {
            "name": "open_map",
            "description": "",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
        },
    ]
)

OK_ARGS = {"origin": "SFO", "seats": 2}


def codes(call: dict) -> list[tuple[str, str | None]]:
    return [(issue.reason, issue.argument) for issue in validate_call(call, TOOLS)]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (OK_ARGS, []),
        ({**OK_ARGS, "price_cap": 300}, []),  # an integer is a valid JSON number
        ({**OK_ARGS, "cabin": "business", "stops": ["DEN"], "passenger": {"name": "Ana", "age": 7}}, []),
        ({"origin": "SFO"}, [("missing_required", "seats")]),
        ({**OK_ARGS, "meal": "veg"}, [("unknown_argument", "meal")]),
        ({"origin": "SFO", "seats": "2"}, [("wrong_type", "seats")]),
        ({"origin": "SFO", "seats": 2.0}, [("wrong_type", "seats")]),  # 2.0 is not an integer here
        ({"origin": "SFO", "seats": True}, [("wrong_type", "seats")]),
        ({**OK_ARGS, "refundable": 1}, [("wrong_type", "refundable")]),
        ({**OK_ARGS, "origin": None}, [("wrong_type", "origin")]),
        ({**OK_ARGS, "cabin": "first"}, [("enum_violation", "cabin")]),
        ({**OK_ARGS, "stops": ["DEN", 4]}, [("wrong_type", "stops[1]")]),
        ({**OK_ARGS, "passenger": {"age": 7}}, [("missing_required", "passenger")]),
        ({"origin": "SFO", "seats": 0}, [("schema_violation", "seats")]),
        ({"seats": "x", "meal": 1}, [("missing_required", "origin"), ("wrong_type", "seats"), ("unknown_argument", "meal")]),
    ],
)
def test_each_rule_has_its_own_reason(arguments, expected):
    assert codes({"name": "book_flight", "arguments": arguments}) == expected


def test_unknown_tool_stops_further_checks():
    issues = validate_call(ToolCall("book_train", {"x": 1}), TOOLS)
    assert [i.reason for i in issues] == ["unknown_tool"]
    assert "book_flight" in issues[0].message  # tells what is offered


def test_additional_properties_schema_is_honoured():
    assert codes({"name": "open_map", "arguments": {"anything": "ok"}}) == []
    assert codes({"name": "open_map", "arguments": {"anything": 3}}) == [("wrong_type", "anything")]


def test_raw_tool_dicts_are_accepted_and_messages_name_the_argument():
    raw = [{"name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}}}]
    (issue,) = validate_call({"name": "f", "arguments": {"n": "3"}}, raw)
    assert issue.reason == "wrong_type" and "argument n" in issue.message and str(issue).startswith("wrong_type:")


def test_reason_codes_are_the_documented_set():
    assert set(REASONS) == {
        "unknown_tool",
        "missing_required",
        "unknown_argument",
        "wrong_type",
        "enum_violation",
        "schema_violation",
        "uncheckable_pattern",
    }
