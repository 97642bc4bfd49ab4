"""The simulator is a real OpenAI-compatible server: the openai SDK talks to it unchanged."""

from __future__ import annotations

import json

import openai
import pytest

from looptool.sim import ModelProfile, SimServer, SimSettings
from looptool.sim.world import canonical_step, turns_from_messages

pytestmark = pytest.mark.anyio

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


async def test_openai_sdk_chat_tools_completions_and_models() -> None:
    async with SimServer(SimSettings(seed=3)) as sim:
        client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="unused")
        models = await client.models.list()
        assert any(m.id == "sim" for m in models.data)
        chat = await client.chat.completions.create(
            model="sim-policy",
            messages=[{"role": "user", "content": 'Please call get_weather with {"city": "Oslo", "days": 2}.'}],
            tools=[WEATHER],
            logprobs=True,
            top_logprobs=2,
        )
        call = chat.choices[0].message.tool_calls[0]
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Oslo", "days": 2}
        assert chat.choices[0].finish_reason == "tool_calls"
        structured = await client.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "give json"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "t", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}},
            },
        )
        assert isinstance(json.loads(structured.choices[0].message.content)["ok"], bool)
        completion = await client.completions.create(model="x", prompt="Hello there world", max_tokens=0, echo=True, logprobs=1)
        assert completion.choices[0].text == "Hello there world"
        assert completion.choices[0].logprobs.token_logprobs[0] is None
        await client.close()


async def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": "json please"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "t",
                "schema": {"type": "object", "properties": {"w": {"type": "string"}, "n": {"type": "integer"}}, "required": ["w", "n"]},
            },
        },
    }
    answers = []
    for seed in (1, 1, 2):
        async with SimServer(SimSettings(seed=seed)) as sim:
            async with openai.AsyncOpenAI(base_url=sim.base_url, api_key="x") as client:
                response = await client.chat.completions.create(**request)
                answers.append(response.choices[0].message.content)
    assert answers[0] == answers[1]
    assert answers[0] != answers[2]


async def test_paper_format_answer_and_wrong_call_profile() -> None:
    system = "You may call tools.\n<tools>\n" + json.dumps(WEATHER["function"]) + "\n</tools>"
    user = 'Please call get_weather with {"city": "Rome", "days": 3}.'
    settings = SimSettings(models={"noisy": ModelProfile(wrong_call_rate=1.0), "broken": ModelProfile(malformed_rate=1.0)})
    async with SimServer(settings) as sim:
        async with openai.AsyncOpenAI(base_url=sim.base_url, api_key="x") as client:
            answers = {}
            for model in ("clean", "noisy", "broken"):
                response = await client.chat.completions.create(
                    model=model, messages=[{"role": "system", "content": system}, {"role": "user", "content": user}], temperature=0
                )
                answers[model] = response.choices[0].message.content
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome", "days": 3}}\n</tool_call>' in answers["clean"]
    assert "<tool_call>" in answers["noisy"] and '{"city": "Rome", "days": 3}' not in answers["noisy"]
    assert "</tool_call>" not in answers["broken"]


def test_world_asks_for_missing_arguments_then_calls_with_supplement() -> None:
    tools = [WEATHER["function"]]
    turns = turns_from_messages([{"role": "user", "content": 'Please call get_weather with {"city": "Lima"}.'}])
    step = canonical_step(tools, turns)
    assert not step.is_call and step.asks_for == ["days"]
    turns = turns_from_messages(
        [
            {"role": "user", "content": 'Please call get_weather with {"city": "Lima"}.'},
            {"role": "assistant", "content": step.text},
            {"role": "user", "content": 'Use {"days": 5}.'},
        ]
    )
    assert canonical_step(tools, turns).calls == [{"name": "get_weather", "arguments": {"city": "Lima", "days": 5}}]


def test_world_phases_run_in_order_and_parallel_calls_together() -> None:
    tools = [WEATHER["function"], {"name": "book", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}]
    text = 'First call get_weather with {"city": "A", "days": 1} and call get_weather with {"city": "B", "days": 1}. After that, call book with {"x": "y"}.'
    first = canonical_step(tools, turns_from_messages([{"role": "user", "content": text}]))
    assert [c["arguments"]["city"] for c in first.calls] == ["A", "B"]
    history = [
        {"role": "user", "content": text},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": '{"city": "A", "days": 1}'}},
                {"function": {"name": "get_weather", "arguments": '{"city": "B", "days": 1}'}},
            ],
        },
        {"role": "tool", "content": "{}"},
        {"role": "tool", "content": "{}"},
    ]
    assert canonical_step(tools, turns_from_messages(history)).calls == [{"name": "book", "arguments": {"x": "y"}}]
    history += [
        {"role": "assistant", "content": '<tool_call>{"name": "book", "arguments": {"x": "y"}}</tool_call>'},
        {"role": "user", "content": '<tool_response>{"ok": true}</tool_response>'},
    ]
    final = canonical_step(tools, turns_from_messages(history))
    assert not final.is_call and "done" in final.text.lower()
