"""The simulator's oracle table: known answers served over HTTP in both tool formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looptool.config.models import ClientConfig, EndpointConfig
from looptool.errors import InputError
from looptool.eval.bfcl_format import WireTools, build_request, decode_answer
from looptool.llm.client import LLMClient
from looptool.sim.oracle import TURN_DONE_TEXT, OracleRow, load_table
from looptool.sim.server import SimServer
from looptool.sim.settings import ModelProfile, SimSettings
from looptool.tools.spec import normalize_tool

pytestmark = pytest.mark.anyio

PLAY = {
    "name": "spotify.play",
    "description": "Play.",
    "parameters": {"type": "dict", "properties": {"artist": {"type": "string"}, "duration": {"type": "integer"}}, "required": ["artist"]},
}
PLAY_STR = {**PLAY, "parameters": {**PLAY["parameters"], "properties": {"artist": {"type": "string"}, "duration": {"type": "string"}}}}
WEATHER = {
    "name": "get_weather",
    "description": "Weather.",
    "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CALLS = [
    {"name": "spotify.play", "arguments": {"artist": "Taylor Swift", "duration": 20}},
    {"name": "spotify.play", "arguments": {"artist": "Maroon 5", "duration": 15}},
]


def write_table(path: Path, rows: list[OracleRow]) -> Path:
    path.write_text("".join(row.model_dump_json(exclude_none=True) + "\n" for row in rows))
    return path


@pytest.fixture
def table(tmp_path: Path) -> Path:
    return write_table(
        tmp_path / "oracle.jsonl",
        [
            OracleRow(id="a", user=["Play Taylor Swift for 20 and Maroon 5 for 15."], tools=[normalize_tool(PLAY)], calls=CALLS),
            # Same text, other schema: the spec-keyed row must not answer it; the names-only row does.
            OracleRow(
                id="b",
                user=["Play Taylor Swift for 20 and Maroon 5 for 15."],
                tools=["spotify.play"],
                calls=[{"name": "spotify.play", "arguments": {"artist": "Taylor Swift", "duration": "20"}}],
            ),
            OracleRow(id="c", user=["What is the capital of France?"], tools=[normalize_tool(WEATHER)], text="No tool fits."),
            OracleRow(id="d", user=["What is the capital of France?"], tools=[normalize_tool(WEATHER)], text="conflicting"),
        ],
    )


async def ask(client: LLMClient, tools_raw: list[dict], messages: list[dict], fmt: str):
    tools = WireTools.build(tools_raw, fmt, "test")
    request = build_request(tools, messages, fmt, current_time="Unknown", max_tokens=None, temperature=0.0)
    result = await client.chat("policy", request)
    return decode_answer(result, tools.names), result


async def with_client(settings: SimSettings, body):
    async with SimServer(settings) as server:
        client = LLMClient.from_endpoint_configs(
            {"sim": EndpointConfig(base_url=server.base_url, model="m")}, {"policy": ["sim"]}, config=ClientConfig(cache=False)
        )
        async with client:
            return await body(client)


@pytest.mark.parametrize("fmt", ["paper", "native"])
async def test_oracle_answers_calls_text_and_ends_the_turn(table: Path, fmt: str):
    async def body(client: LLMClient):
        question = [{"role": "user", "content": "Play Taylor Swift for 20 and Maroon 5 for 15."}]
        decoded, result = await ask(client, [PLAY], question, fmt)
        assert decoded.calls == CALLS
        if fmt == "native":
            assert [c["function"]["name"] for c in result.first.tool_calls] == ["spotify_play", "spotify_play"]
        else:
            assert "<tool_call>" in result.first.text and '"spotify.play"' in result.first.text
        # Another schema for the same text falls back to the names-only row.
        decoded, _ = await ask(client, [PLAY_STR], question, fmt)
        assert decoded.calls == [{"name": "spotify.play", "arguments": {"artist": "Taylor Swift", "duration": "20"}}]
        # After the calls were made and answered, the turn is over: plain text.
        history = question + [
            {"role": "assistant", "content": "", "tool_calls": CALLS},
            {"role": "tool", "name": "spotify.play", "content": "ok"},
            {"role": "tool", "name": "spotify.play", "content": "ok"},
        ]
        decoded, _ = await ask(client, [PLAY], history, fmt)
        assert decoded.calls == [] and decoded.text == TURN_DONE_TEXT
        decoded, _ = await ask(client, [WEATHER], [{"role": "user", "content": "What is the capital of France?"}], fmt)
        assert decoded.calls == [] and decoded.text == "No tool fits."  # the first of two conflicting rows wins

    await with_client(SimSettings(oracle_path=str(table)), body)


async def test_unmatched_requests_get_the_ordinary_simulator(table: Path):
    async def body(client: LLMClient):
        decoded, _ = await ask(client, [WEATHER], [{"role": "user", "content": 'Please call get_weather with {"city": "Oslo"}.'}], "native")
        assert decoded.calls == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]

    await with_client(SimSettings(oracle_path=str(table)), body)


async def test_wrong_call_rate_perturbs_oracle_calls(table: Path):
    async def body(client: LLMClient):
        decoded, _ = await ask(client, [PLAY], [{"role": "user", "content": "Play Taylor Swift for 20 and Maroon 5 for 15."}], "paper")
        assert decoded.calls and decoded.calls != CALLS
        assert {c["name"] for c in decoded.calls} <= {"spotify.play"}

    await with_client(SimSettings(oracle_path=str(table), default_profile=ModelProfile(wrong_call_rate=1.0)), body)


def test_load_table_reports_conflicts_and_bad_rows(table: Path, tmp_path: Path):
    loaded = load_table(table)
    assert loaded.conflicts == [("c", "d")]
    assert len(loaded.rows) == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"user": ["x"], "tools": []}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:1: an oracle row needs 'calls' or 'text'"):
        load_table(bad)
    bad.write_text(json.dumps({"user": "x", "tools": [], "text": "t"}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:1: not an oracle row"):
        load_table(bad)
