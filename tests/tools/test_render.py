"""Rendering one structured sample into the paper format and OpenAI messages, and back."""

from __future__ import annotations

import json

import pytest

from looptool.tools.calls import ToolCall
from looptool.tools.parse import parse_openai_tool_calls, parse_tool_calls
from looptool.tools.render import (
    render_calls_text,
    render_openai_messages,
    render_paper_messages,
    render_system_prompt,
)

TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Local time.",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    },
]

CONVERSATION = [
    {"role": "system", "content": "You work for a travel agency."},
    {"role": "user", "content": "Weather and time in Paris?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_time", "arguments": {"tz": "Europe/Paris"}},
        ],
    },
    {"role": "tool", "name": "get_weather", "content": '{"temp": 21}'},
    {"role": "tool", "name": "get_time", "content": "14:05"},
    {"role": "assistant", "content": "21 °C and 14:05."},
    {"role": "user", "content": "And in Oslo?"},
]

TRICKY = [
    [ToolCall("get_weather", {"city": "Zürich"})],
    [ToolCall("get_weather", {"city": 'say "hi"\nnow'}), ToolCall("get_time", {})],
    [ToolCall("f", {"nested": {"list": [1, 2.5, None, True], "obj": {"k": "v"}}})],
    [ToolCall("f", {"s": "</tool_call> <think> x </think> <tool_call>"})],
    [ToolCall("f", {"n": 1}), ToolCall("f", {"n": 1})],
]


def test_system_prompt_has_time_tools_and_answer_format():
    prompt = render_system_prompt(TOOLS, "2026-03-23, Monday")
    assert "The current time is 2026-03-23, Monday." in prompt
    inside = prompt.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0].splitlines()
    assert [json.loads(line)["function"]["name"] for line in inside] == ["get_weather", "get_time"]
    assert json.loads(inside[0])["function"]["parameters"]["type"] == "object"  # normalised BFCL "dict"
    for marker in ("<think></think>", "<tool_call>", '"name": <function-name>', "plain text", "missing"):
        assert marker in prompt


def test_paper_messages_render_calls_and_merge_tool_results():
    messages = render_paper_messages(TOOLS, CONVERSATION, "Unknown")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"].endswith("\n\nYou work for a travel agency.")
    assert "The current time is Unknown." in messages[0]["content"]
    assert parse_tool_calls(messages[2]["content"]).calls == [
        ToolCall("get_weather", {"city": "Paris"}),
        ToolCall("get_time", {"tz": "Europe/Paris"}),
    ]
    assert messages[3]["content"] == ('<tool_response>\n{"temp": 21}\n</tool_response>\n<tool_response>\n14:05\n</tool_response>')
    assert messages[4]["content"] == "21 °C and 14:05."


def test_openai_messages_pair_results_with_call_ids():
    messages, tools = render_openai_messages(TOOLS, CONVERSATION)
    assert [t["function"]["name"] for t in tools] == ["get_weather", "get_time"]
    assert all(t["type"] == "function" for t in tools)
    assistant = messages[2]
    assert assistant["content"] is None
    ids = [c["id"] for c in assistant["tool_calls"]]
    assert len(set(ids)) == 2
    assert [m["tool_call_id"] for m in messages[3:5]] == ids
    assert messages[3]["content"] == '{"temp": 21}'
    assert messages[0] == {"role": "system", "content": "You work for a travel agency."}
    # Deterministic ids: the same sample renders to the same request (request cache keys).
    assert render_openai_messages(TOOLS, CONVERSATION)[0] == messages


def test_tool_results_are_matched_by_name_not_only_by_position():
    conversation = [CONVERSATION[1], CONVERSATION[2], CONVERSATION[4], CONVERSATION[3]]
    messages, _ = render_openai_messages(TOOLS, conversation)
    by_id = {c["id"]: c["function"]["name"] for c in messages[1]["tool_calls"]}
    assert [by_id[m["tool_call_id"]] for m in messages[2:]] == ["get_time", "get_weather"]


@pytest.mark.parametrize(
    ("conversation", "fragment"),
    [
        ([{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}], "messages[1]: tool result has no"),
        ([CONVERSATION[2], CONVERSATION[3], {"role": "user", "content": "x"}], "messages[0]: call(s) ['get_time']"),
        ([{"role": "robot", "content": "x"}], "messages[0].role"),
        ([{"role": "assistant", "tool_calls": [{"arguments": {}}]}], "messages[0].tool_calls[0].name"),
    ],
)
def test_bad_histories_name_the_message(conversation, fragment):
    with pytest.raises(ValueError) as info:
        render_openai_messages(TOOLS, conversation)
    assert fragment in str(info.value)


@pytest.mark.parametrize("calls", TRICKY)
def test_round_trip_paper_format(calls):
    text = render_calls_text(calls)
    parsed = parse_tool_calls(text)
    assert parsed.ok and parsed.calls == calls and parsed.text == ""
    history = [{"role": "user", "content": "go"}, {"role": "assistant", "content": "", "tool_calls": [c.to_dict() for c in calls]}]
    assistant = render_paper_messages([], history, "Unknown")[-1]["content"]
    assert parse_tool_calls(assistant).calls == calls


@pytest.mark.parametrize("calls", TRICKY)
def test_round_trip_openai_format(calls):
    history = [{"role": "user", "content": "go"}, {"role": "assistant", "content": "", "tool_calls": [c.to_dict() for c in calls]}]
    messages, _ = render_openai_messages([], history)
    assert parse_openai_tool_calls(messages[-1]).calls == calls


def test_text_answer_renders_as_plain_text():
    assert render_calls_text([]) == ""
    messages = render_paper_messages(TOOLS, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}], "Unknown")
    assert messages[-1] == {"role": "assistant", "content": "Hello!"}
