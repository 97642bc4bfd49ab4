"""The endpoint client against the simulator's real HTTP faults."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from looptool.config.models import ClientConfig, EndpointConfig, RetryConfig
from looptool.errors import RequestRejected, RetriesExhausted
from looptool.llm import ChatRequest, CompletionRequest, LLMClient, StructuredOutput
from looptool.sim import FaultPlan, SimServer, SimSettings

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryConfig(max_attempts=4, backoff_initial_s=0.01, backoff_max_s=0.05, endpoint_down_cooldown_s=0.2)


def make_client(
    urls: dict[str, str],
    *,
    roles: dict[str, list[str]] | None = None,
    timeout_s: float = 5.0,
    client_config: ClientConfig | None = None,
    cache_path: Path | None = None,
    concurrency: int = 32,
) -> LLMClient:
    endpoints = {
        name: EndpointConfig(base_url=url, model="sim-model", timeout_s=timeout_s, max_concurrency=concurrency)
        for name, url in urls.items()
    }
    return LLMClient.from_endpoint_configs(
        endpoints,
        roles or {"judge": list(urls)},
        config=client_config or ClientConfig(retry=FAST_RETRY, cache=False),
        cache_path=cache_path,
    )


def hello(text: str = "hello") -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], max_tokens=32)


@pytest.mark.parametrize("kind", ["500", "502", "503", "429", "timeout", "drop", "truncate"])
async def test_transient_fault_is_retried_until_success(kind: str) -> None:
    settings = SimSettings(faults=FaultPlan(first_attempts={kind: 2}, retry_after_s=0, hang_s=3))
    async with SimServer(settings) as sim:
        client = make_client({"a": sim.base_url}, timeout_s=0.5)
        async with client:
            result = await client.chat("judge", hello())
        assert result.text.startswith("Simulated reply")
        assert sim.state.stats[f"fault_{kind}"] == 2
        assert sim.state.stats["answered"] == 1
        assert client.stats.role("judge").retries == 2
        assert client.stats.endpoint("a").requests == 3 and client.stats.endpoint("a").failed == 2


async def test_retry_after_is_honoured() -> None:
    settings = SimSettings(faults=FaultPlan(first_attempts={"429": 1}, retry_after_s=0.4))
    async with SimServer(settings) as sim:
        async with make_client({"a": sim.base_url}) as client:
            started = time.monotonic()
            await client.chat("judge", hello())
            waited = time.monotonic() - started
    # Jitter alone would wait at most backoff_max_s = 0.05 s.
    assert waited >= 0.4


async def test_other_4xx_is_not_retried() -> None:
    async with SimServer(SimSettings(faults=FaultPlan(first_attempts={"400": 5}))) as sim:
        async with make_client({"a": sim.base_url}) as client:
            with pytest.raises(RequestRejected) as info:
                await client.chat("judge", hello())
            assert info.value.status == 400
            assert client.stats.endpoint("a").requests == 1
            assert client.stats.role("judge").failed == 1


async def test_bounded_attempts_end_in_a_typed_error() -> None:
    async with SimServer(SimSettings(faults=FaultPlan(first_attempts={"503": 10}, retry_after_s=0))) as sim:
        async with make_client({"a": sim.base_url}) as client:
            with pytest.raises(RetriesExhausted) as info:
                await client.chat("judge", hello())
    assert info.value.attempts == FAST_RETRY.max_attempts
    assert info.value.last.status == 503
    assert sim.state.stats["fault_503"] == FAST_RETRY.max_attempts


async def test_cache_hits_for_greedy_and_not_for_sampled(tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.sqlite"
    config = ClientConfig(retry=FAST_RETRY, cache=True)
    async with SimServer() as sim:
        async with make_client({"a": sim.base_url}, client_config=config, cache_path=cache_path) as client:
            first = await client.chat("judge", hello("cached please"))
            second = await client.chat("judge", hello("cached please"))
            assert not first.cached and second.cached and second.text == first.text
            sampled = ChatRequest(messages=[{"role": "user", "content": "x"}], temperature=0.8)
            await client.chat("judge", sampled)
            await client.chat("judge", sampled)
            assert client.stats.role("judge").cache_hits == 1
        assert sim.state.stats["answered"] == 3
        # A resumed run (new client, same cache file) does not pay again.
        async with make_client({"a": sim.base_url}, client_config=config, cache_path=cache_path) as client:
            again = await client.chat("judge", hello("cached please"))
        assert again.cached and sim.state.stats["answered"] == 3
        # Sampled calls are cached when asked for.
        sampled_config = ClientConfig(retry=FAST_RETRY, cache=True, cache_sampled=True)
        async with make_client({"a": sim.base_url}, client_config=sampled_config, cache_path=cache_path) as client:
            one = await client.chat("judge", ChatRequest(messages=[{"role": "user", "content": "y"}], temperature=0.8))
            two = await client.chat("judge", ChatRequest(messages=[{"role": "user", "content": "y"}], temperature=0.8))
        assert not one.cached and two.cached


async def test_failover_when_an_endpoint_is_killed() -> None:
    async with SimServer() as healthy:
        doomed = SimServer()
        await doomed.start()
        client = make_client({"doomed": doomed.base_url, "healthy": healthy.base_url})
        async with client:
            for index in range(20):
                await client.chat("judge", hello(f"before {index}"))
            served_before = doomed.state.stats["answered"]
            await doomed.stop()
            results = [await client.chat("judge", hello(f"after {index}")) for index in range(30)]
        assert served_before > 0, "least-loaded choice should have used both endpoints"
        assert all(r.endpoint == "healthy" for r in results)
        assert client.stats.role("judge").failed == 0
        # The dead endpoint was tried and then avoided while down, not hit on every call.
        assert client.stats.endpoint("doomed").failed <= 3


async def test_load_spreads_over_endpoints_and_counters_add_up() -> None:
    import anyio

    async with SimServer(SimSettings(latency_ms=20)) as one, SimServer(SimSettings(latency_ms=20)) as two:
        client = make_client({"one": one.base_url, "two": two.base_url}, concurrency=8)
        async with client:
            window = client.stats.window()
            async with anyio.create_task_group() as group:
                for index in range(64):
                    group.start_soon(client.chat, "judge", hello(f"spread {index}"))
            report = window.report()
    assert one.state.stats["answered"] > 10 and two.state.stats["answered"] > 10
    total = report["total"]
    assert total["succeeded"] == 64 and total["failed"] == 0
    assert total["prompt_tokens"] > 0 and total["completion_tokens"] > 0
    assert total["latency_ms_p50"] >= 18 and total["latency_ms_p99"] >= total["latency_ms_p50"]
    assert set(report["endpoints"]) == {"one", "two"}


async def test_vllm_features_reach_the_wire() -> None:
    async with SimServer() as sim:
        async with make_client({"a": sim.base_url}) as client:
            tools = [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                    },
                }
            ]
            result = await client.chat(
                "judge",
                ChatRequest(
                    messages=[{"role": "user", "content": 'Please call get_weather with {"city": "Oslo"}.'}],
                    tools=tools,
                    logprobs=True,
                    top_logprobs=3,
                    prompt_logprobs=1,
                ),
            )
            assert result.first.tool_calls[0]["function"]["name"] == "get_weather"
            assert result.prompt_logprobs and result.prompt_logprobs[0] is None
            several = await client.chat(
                "judge", ChatRequest(messages=[{"role": "user", "content": "hi"}], temperature=1.0, n=3, logprobs=True)
            )
            assert len(several.choices) == 3 and several.first.logprobs
            choice = await client.chat(
                "judge", ChatRequest(messages=[{"role": "user", "content": "pick"}], structured=StructuredOutput.choice(["yes", "no"]))
            )
            assert choice.text in ("yes", "no")
            schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
            structured = await client.chat(
                "judge", ChatRequest(messages=[{"role": "user", "content": "json"}], structured=StructuredOutput.json("thing", schema))
            )
            assert isinstance(__import__("json").loads(structured.text)["n"], int)
            echo = await client.complete(
                "judge", CompletionRequest(prompt="The capital of France is Paris.", max_tokens=0, echo=True, logprobs=1)
            )
            assert echo.first.logprobs and len(echo.first.logprobs) > 3


def test_n_above_one_needs_temperature() -> None:
    with pytest.raises(ValueError, match="temperature"):
        ChatRequest(messages=[], n=2, temperature=0.0)


def test_wire_schema_drops_what_grammar_engines_reject_but_keeps_property_names() -> None:
    from looptool.llm.wire import wire_schema

    schema = {
        "type": "object",
        "properties": {
            "format": {"type": "string", "format": "date", "pattern": "^[0-9]+$", "maxLength": 4},
            "tags": {"type": "array", "uniqueItems": True, "minItems": 1},
            "payload": {"type": "object"},
        },
        "required": ["format"],
    }
    sent = wire_schema(schema)
    assert set(sent["properties"]) == {"format", "tags", "payload"}
    assert sent["properties"]["format"] == {"type": "string", "pattern": "^[0-9]+$"}
    assert sent["properties"]["tags"] == {"type": "array", "minItems": 1, "items": {}}
    assert sent["properties"]["payload"] == {"type": "object", "additionalProperties": True}
    assert schema["properties"]["tags"]["uniqueItems"] is True, "the caller's schema is not modified"
