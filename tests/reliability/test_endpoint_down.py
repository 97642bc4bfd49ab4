"""Issue 12.6: an endpoint that refuses connections stops the stage early, with the cause.

Before, 300 units each spent their whole retry budget (80 s) and failed with a bare
`RetriesExhausted`; a single endpoint's cool-down was ignored (requests went out anyway).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.config import load_config
from looptool.config.models import ClientConfig, EndpointConfig, RetryConfig
from looptool.errors import EndpointsUnreachable, StageIncomplete
from looptool.llm import ChatRequest, LLMClient
from looptool.sim import SimServer, SimSettings
from looptool.store import read_json, read_jsonl
from looptool.synth.seed import build_seed

from support import closed_port_url, url_config

pytestmark = pytest.mark.anyio

FAST_DOWN = "[client.retry]\nmax_attempts = 50\nbackoff_initial_s = 0.01\nbackoff_max_s = 0.05\nendpoint_down_cooldown_s = 0.2\nunreachable_grace_s = 1.0"


async def test_every_endpoint_refusing_stops_the_stage_early_with_the_cause(tmp_path: Path) -> None:
    url = closed_port_url()
    config = load_config(url_config(tmp_path, url, apis=300, client=FAST_DOWN))
    with pytest.raises(StageIncomplete) as raised:
        await build_seed(config, "apis")
    message = str(raised.value)
    assert f"connection refused at {url}" in message, message
    record = read_json(tmp_path / "run/manifest.json")["incomplete"]["seed/apis"]
    assert record["not_started"] > 0, "units not yet started are left for the rerun"
    assert record["failed"] + record["not_started"] == 300
    assert f"connection refused at {url}" in record["cause"]
    errors = read_jsonl(tmp_path / "run/seed/apis/errors.jsonl")
    assert {e["reason"] for e in errors} == {"endpoints_unreachable"}
    stats = read_json(tmp_path / "run/stats/seed__apis.json")
    # 8 workers, a cool-down between probes, then stop: a handful of attempts per worker,
    # not 300 units x 50 attempts.
    assert stats["endpoints"]["generator"]["requests"] <= 8 * 8


async def test_the_cool_down_is_honoured_with_a_single_endpoint() -> None:
    url = closed_port_url()
    retry = RetryConfig(
        max_attempts=100, backoff_initial_s=0.001, backoff_max_s=0.001, endpoint_down_cooldown_s=0.3, unreachable_grace_s=1.0
    )
    client = LLMClient.from_endpoint_configs(
        {"a": EndpointConfig(base_url=url, model="m", connect_timeout_s=1)}, {"judge": ["a"]}, config=ClientConfig(cache=False, retry=retry)
    )
    async with client:
        with pytest.raises(EndpointsUnreachable, match=f"connection refused at {url}"):
            await client.chat("judge", ChatRequest(messages=[{"role": "user", "content": "hi"}]))
    # refused at 0, after the 0.3 s cool-down, after the doubled 0.6 s one (0.9 s), then the
    # grace period (1 s) ends: at most four tries, where 100 back-to-back attempts went out before.
    assert client.stats.endpoint("a").requests <= 4


async def test_an_endpoint_that_comes_back_is_used_again() -> None:
    async with SimServer(SimSettings()) as sim:
        down = closed_port_url()
        retry = RetryConfig(
            max_attempts=10, backoff_initial_s=0.001, backoff_max_s=0.001, endpoint_down_cooldown_s=0.05, unreachable_grace_s=30
        )
        client = LLMClient.from_endpoint_configs(
            {"down": EndpointConfig(base_url=down, model="m"), "up": EndpointConfig(base_url=sim.base_url, model="m")},
            {"judge": ["down", "up"]},
            config=ClientConfig(cache=False, retry=retry),
        )
        async with client:
            for _ in range(6):
                result = await client.chat("judge", ChatRequest(messages=[{"role": "user", "content": "hi"}]))
                assert result.endpoint == "up"
        assert client.endpoints["up"].refusing_since is None
        assert client.stats.endpoint("down").requests <= 2, "a refusing endpoint is skipped while it cools down"
