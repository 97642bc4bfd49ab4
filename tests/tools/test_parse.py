"""Parsing untrusted completions: every format case, and no input string makes it raise."""

from __future__ import annotations

import json
import random

import pytest

from looptool.tools.calls import ToolCall
from looptool.tools.parse import parse_openai_tool_calls, parse_tool_calls

F1 = '{"name": "f", "arguments": {"a": 1}}'
G2 = '{"name": "g", "arguments": {"b": "x"}}'
F = ToolCall("f", {"a": 1})
G = ToolCall("g", {"b": "x"})


@pytest.mark.parametrize(
    ("text", "calls", "answer", "think", "error_count"),
    [
        (f"<tool_call>\n{F1}\n</tool_call>", [F], "", "", 0),
        (f"<tool_call>{F1}</tool_call>", [F], "", "", 0),  # no newlines needed
        (f"<tool_call>{F1}</tool_call>\n<tool_call>{G2}</tool_call>", [F, G], "", "", 0),
        (f"Sure.\n<tool_call>{F1}</tool_call>\nDone.", [F], "Sure.\n\nDone.", "", 0),
        (f"<think>plan <tool_call>{G2}</tool_call></think>\n<tool_call>{F1}</tool_call>", [F], "", f"plan <tool_call>{G2}</tool_call>", 0),
        (
            f"reasoning (the opening tag was in the prompt)</think>\n<tool_call>{F1}</tool_call>",
            [F],
            "",
            "reasoning (the opening tag was in the prompt)",
            0,
        ),
        (
            "<think>only thinking <tool_call>" + F1 + "</tool_call>",
            [],
            "",
            "only thinking <tool_call>" + F1 + "</tool_call>",
            1,
        ),  # unterminated think: calls inside it never count
        ("The weather is sunny.", [], "The weather is sunny.", "", 0),
        ("", [], "", "", 0),
        ('<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>', [F], "", "", 0),  # JSON string args
        ('<tool_call>{"name": "f"}</tool_call>', [ToolCall("f", {})], "", "", 0),
    ],
)
def test_well_formed_and_tolerated_cases(text, calls, answer, think, error_count):
    result = parse_tool_calls(text)
    assert result.calls == calls
    assert result.text == answer
    assert result.think == think
    assert len(result.errors) == error_count, result.errors


@pytest.mark.parametrize(
    ("text", "fragment", "calls"),
    [
        (f"<tool_call>{F1}", "unterminated", [F]),  # truncated: call kept, error reported
        (f"<tool_call>{F1}<tool_call>{G2}</tool_call>", "block 1: unterminated", [F, G]),
        ('<tool_call>{"name": "f", "arguments": {"a": 1}</tool_call>', "invalid JSON", []),
        ("<tool_call>[" + F1 + "]</tool_call>", "expected a JSON object", []),
        ('<tool_call>{"name": "", "arguments": {}}</tool_call>', "'name' must be a non-empty string", []),
        ('<tool_call>{"name": "f", "parameters": {"a": 1}}</tool_call>', "instead of 'arguments'", []),
        ('<tool_call>{"name": "f", "arguments": [1]}</tool_call>', "must be a JSON object", []),
        ('<tool_call>{"name": "f", "arguments": "{bad"}</tool_call>', "'arguments' string is invalid JSON", []),
        ('<tool_call>{"name": "f", "arguments": {"a": NaN}}</tool_call>', "NaN", []),
        ("<tool_call>  </tool_call>", "empty", []),
        (f"{F1}</tool_call>", "stray </tool_call>", []),
        ("answer</think> more </think>", "stray </think>", []),
        ("<tool_call>" + "[" * 100000 + "</tool_call>", "invalid JSON", []),
        ('<tool_call>{"name": "f", "arguments": {"a": ' + "9" * 5000 + "}}</tool_call>", "invalid JSON", []),
    ],
)
def test_malformed_output_is_reported_not_raised(text, fragment, calls):
    result = parse_tool_calls(text)
    assert not result.ok
    assert any(fragment in error for error in result.errors), result.errors
    assert result.calls == calls


def test_valid_calls_survive_next_to_an_invalid_block():
    result = parse_tool_calls(f"<tool_call>{F1}</tool_call><tool_call>oops</tool_call><tool_call>{G2}</tool_call>")
    assert result.calls == [F, G]
    assert result.errors == [result.errors[0]] and result.errors[0].startswith("tool_call block 2: invalid JSON")


def test_non_string_input_is_an_error_not_an_exception():
    assert parse_tool_calls(None).errors == ["expected the model output as a string, got NoneType"]


def test_random_garbage_never_raises():
    rng = random.Random(7)
    pieces = [
        "<tool_call>",
        "</tool_call>",
        "<think>",
        "</think>",
        "{",
        "}",
        "[",
        "]",
        '"',
        ":",
        ",",
        "name",
        "arguments",
        '"name"',
        '"arguments"',
        "\\",
        "\n",
        " ",
        "null",
        "1e999",
        "-",
        "\ud800",
        "é",
        "NaN",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        result = parse_tool_calls(text)
        assert isinstance(result.errors, list) and all(isinstance(c, ToolCall) for c in result.calls)


def openai_call(name, arguments, call_id="c1"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_openai_tool_calls_with_json_string_arguments():
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [openai_call("f", json.dumps({"a": 1})), openai_call("g", {"b": "x"}, "c2")],
    }
    result = parse_openai_tool_calls(message)
    assert result.ok and result.calls == [F, G] and result.text == ""


def test_openai_message_reports_bad_entries_and_keeps_reasoning():
    message = {
        "role": "assistant",
        "content": "Let me check.",
        "reasoning_content": "thinking",
        "tool_calls": [openai_call("f", "{not json"), {"type": "function"}, openai_call("", "{}")],
    }
    result = parse_openai_tool_calls(message)
    assert result.calls == []
    assert [e.split(":")[0] for e in result.errors] == ["tool_calls[0]", "tool_calls[1]", "tool_calls[2]"]
    assert result.text == "Let me check." and result.think == "thinking"


def test_openai_content_blocks_count_when_no_tool_parser_ran():
    result = parse_openai_tool_calls({"role": "assistant", "content": f"<think>x</think><tool_call>{F1}</tool_call>"})
    assert result.calls == [F] and result.think == "x"


def test_openai_non_dict_is_an_error():
    assert not parse_openai_tool_calls("hello").ok
