"""Prompt building and answer decoding for BFCL items, both formats."""

from __future__ import annotations

import json

import pytest

from looptool.errors import InputError
from looptool.eval.bfcl_format import NameMap, WireTools, build_request, decode_answer
from looptool.llm.types import Choice, LLMResult, Usage

TOOLS = [
    {
        "name": "spotify.play",
        "description": "Play music.",
        "parameters": {
            "type": "dict",
            "properties": {"artist": {"type": "string"}, "duration": {"type": "integer"}},
            "required": ["artist"],
        },
    },
    {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {"type": "dict", "properties": {"city": {"type": "string"}, "days": {"type": "float"}}, "required": ["city"]},
    },
]


def result(text: str = "", tool_calls: list | None = None) -> LLMResult:
    return LLMResult(
        choices=[Choice(index=0, text=text, finish_reason="stop", tool_calls=tool_calls or [])],
        usage=Usage(),
        endpoint="e",
        model="m",
        latency_s=0.0,
    )


def test_native_mode_renames_dots_on_the_wire_and_back():
    tools = WireTools.build(TOOLS, "native", "parallel_0")
    history = [
        {"role": "user", "content": "play Taylor Swift"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "spotify.play", "arguments": {"artist": "Taylor Swift"}}]},
        {"role": "tool", "name": "spotify.play", "content": "ok"},
    ]
    request = build_request(tools, history, "native", current_time="Unknown", max_tokens=None, temperature=0.0)
    names = [t["function"]["name"] for t in request.tools]
    assert names == ["spotify_play", "get_weather"]
    assert request.tools[0]["function"]["parameters"]["type"] == "object"  # BFCL "dict" normalised
    assert request.tools[1]["function"]["parameters"]["properties"]["days"]["type"] == "number"
    assert request.messages[1]["tool_calls"][0]["function"]["name"] == "spotify_play"
    assert request.messages[2] == {"role": "tool", "tool_call_id": "call_1_0", "content": "ok"}
    assert request.max_tokens is None and request.tool_choice == "auto"
    raw = [{"id": "c", "type": "function", "function": {"name": "spotify_play", "arguments": json.dumps({"artist": "Maroon 5"})}}]
    decoded = decode_answer(result(tool_calls=raw), tools.names)
    assert decoded.calls == [{"name": "spotify.play", "arguments": {"artist": "Maroon 5"}}]


def test_paper_mode_keeps_names_and_puts_tools_in_the_system_prompt():
    tools = WireTools.build(TOOLS, "paper", "parallel_0")
    request = build_request(tools, [{"role": "user", "content": "hi"}], "paper", current_time="2024-01-01", max_tokens=64, temperature=0.0)
    assert request.tools is None
    system = request.messages[0]["content"]
    assert '"name": "spotify.play"' in system and "2024-01-01" in system
    text = '<think>ok</think>\n<tool_call>\n{"name": "spotify.play", "arguments": {"artist": "A"}}\n</tool_call>'
    assert decode_answer(result(text), tools.names).calls == [{"name": "spotify.play", "arguments": {"artist": "A"}}]


def test_decoding_is_all_or_nothing():
    names = NameMap.for_tools(TOOLS, "paper")
    broken = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call><tool_call>{"name": '
    decoded = decode_answer(result(broken), names)
    assert decoded.calls is None and decoded.errors and not decoded.has_calls
    plain = decode_answer(result("No function fits this request."), names)
    assert plain.calls == [] and plain.text == "No function fits this request." and not plain.errors
    bad_args = [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{city: Paris"}}]
    assert decode_answer(result(tool_calls=bad_args), names).calls is None


def test_calls_inside_reasoning_do_not_count():
    names = NameMap.for_tools(TOOLS, "paper")
    text = '<think><tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call></think>I cannot help.'
    decoded = decode_answer(result(text), names)
    assert decoded.calls == [] and decoded.text == "I cannot help."


def test_unknown_wire_names_pass_through_and_bad_docs_name_the_item():
    names = NameMap.for_tools(TOOLS, "native")
    assert names.original("not_a_tool") == "not_a_tool"
    with pytest.raises(InputError, match="live_simple_7"):
        WireTools.build([{"name": "f", "parameters": {"type": "dict", "properties": {}, "required": ["x"]}}], "paper", "live_simple_7")
