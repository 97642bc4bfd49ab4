"""Turn `launch = "vllm"` endpoints of a config into supervised local vLLM servers.

Endpoints that name the same model share one server (a 2-core laptop cannot hold one vLLM per
role). The policy endpoint (`vllm.model = "policy"`) is not started here: the loop serves each
new checkpoint itself.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import anyio

from looptool.config.load import LoadedConfig
from looptool.config.models import VLLMLaunch
from looptool.errors import ConfigError
from looptool.llm.vllm_server import VLLMServer, VLLMServerSpec

BUILTIN_MODELS = ("smollm2", "tiny")
POLICY = "policy"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)


def parse_size(text: str, source: str, key: str) -> int:
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(source, key, f"{text!r} is not a size like 256M or 1G")
    factor = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[match.group(2).upper()]
    return int(float(match.group(1)) * factor)


async def resolve_model(loaded: LoadedConfig, name: str) -> Path:
    if name in BUILTIN_MODELS:
        from looptool.models import ensure_model

        return await anyio.to_thread.run_sync(ensure_model, name)
    path = loaded.resolve_path(name)
    if not (path / "config.json").is_file():
        raise ConfigError(loaded.source, "vllm.model", f"{path} is not a Hugging Face model directory (no config.json)")
    return path


def server_spec(launch: VLLMLaunch, model_dir: Path, served_name: str, source: str, key: str) -> VLLMServerSpec:
    env = {}
    if launch.reserved_cpus is not None:
        env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(launch.reserved_cpus)
    return VLLMServerSpec(
        model=model_dir,
        served_model_name=served_name,
        kv_cache_bytes=parse_size(launch.kv_cache_bytes, source, f"{key}.kv_cache_bytes"),
        dtype=launch.dtype,
        enforce_eager=launch.enforce_eager,
        max_model_len=launch.max_model_len,
        # Small models loop on whitespace inside JSON unless the grammar forbids it (notes/cpu_llm.md).
        structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        extra_args=tuple(launch.extra_args),
        env=env,
        python=Path(launch.python).expanduser() if launch.python else None,
        startup_timeout_s=launch.startup_timeout_s,
    )


async def launch_servers(stack: contextlib.AsyncExitStack, loaded: LoadedConfig, names: list[str], log_dir: Path) -> dict[str, str]:
    """Start one server per distinct (model, served name); return endpoint name -> base URL."""
    urls: dict[str, str] = {}
    started: dict[tuple[str, str], str] = {}
    for name in names:
        endpoint = loaded.config.endpoints[name]
        launch = endpoint.vllm
        if endpoint.launch != "vllm" or launch is None or launch.model == POLICY:
            continue
        key = (launch.model, endpoint.model)
        if key not in started:
            model_dir = await resolve_model(loaded, launch.model)
            spec = server_spec(launch, model_dir, endpoint.model, loaded.source, f"endpoints.{name}.vllm")
            server = VLLMServer(spec, log_path=log_dir / f"vllm-{name}.log", pid_file=log_dir / f"vllm-{name}.pid")
            await stack.enter_async_context(server)
            started[key] = server.base_url
        urls[name] = started[key]
    return urls
