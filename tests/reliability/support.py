"""Configs for reliability tests: every role on one OpenAI-compatible URL (a simulator the test
runs, with the faults it injects), so the test controls exactly what the engine sees."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pyarrow.parquet as pq

from looptool.store import read_jsonl

ROLES = ("planner", "user", "assistant", "tool", "generator", "judge")


def url_config(
    tmp_path: Path,
    base_url: str,
    *,
    apis: int = 16,
    dialogs: int = 8,
    client: str = "",
    extra: str = "",
    name: str = "run.toml",
    timeout_s: float = 300.0,
) -> Path:
    """Config with one endpoint per model name (the simulator's profiles are keyed by model)."""
    endpoints = "\n".join(
        f'[endpoints.{role}]\nbase_url = "{base_url}"\nmodel = "sim-{role}"\nmax_concurrency = 16\ntimeout_s = {timeout_s}\nconnect_timeout_s = 2\n'
        for role in ROLES
    )
    roles = "\n".join(f'{role} = "{role}"' for role in ROLES)
    text = f"""
[run]
name = "reliability"
dir = "run"
seed = 11

[client]
{client}

{endpoints}
[roles]
{roles}

[synth]
domains = ["travel", "finance", "smart_home"]
[synth.apis]
attempts = {apis}
concurrency = 8
[synth.dialogs]
count = {dialogs}
concurrency = 8
[synth.verify]
concurrency = 8
{extra}
"""
    path = tmp_path / name
    path.write_text(text)
    return path


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def sim_launch_config(
    tmp_path: Path, *, apis: int = 24, dialogs: int = 16, latency_ms: float = 30, extra: str = "", name: str = "sim.toml"
) -> Path:
    """Config whose endpoints are a simulator the engine starts itself (dies with the process)."""
    endpoints = "\n".join(
        f'[endpoints.{role}]\nmodel = "sim-{role}"\nlaunch = "sim"\nmax_concurrency = 8\n[endpoints.{role}.sim]\nlatency_ms = {latency_ms}\n'
        for role in ROLES
    )
    roles = "\n".join(f'{role} = "{role}"' for role in ROLES)
    (tmp_path / "no_model").mkdir(exist_ok=True)  # no tokenizer: the samples stage skips measuring prompts
    text = f"""
[run]
name = "determinism"
dir = "run"
seed = 5

[policy]
init_model = "no_model"

{endpoints}
[roles]
{roles}

[synth]
domains = ["travel"]
[synth.apis]
attempts = {apis}
concurrency = 4
round_size = 8
[synth.dialogs]
count = {dialogs}
concurrency = 4
[synth.verify]
concurrency = 4
{extra}
"""
    path = tmp_path / name
    path.write_text(text)
    return path


def by_id(path: Path) -> list[dict]:
    return sorted(read_jsonl(path), key=lambda r: r["id"])


def seed_outputs(run: Path) -> dict[str, object]:
    """Everything seed construction produced, independent of the order units finished in."""
    out: dict[str, object] = {
        "specs": by_id(run / "seed/apis/specs.jsonl"),
        "dialogs": by_id(run / "seed/dialogs/dialogs.jsonl"),
        "verdicts": by_id(run / "seed/verify/verdicts.jsonl"),
        "parquet": pq.read_table(run / "seed/samples/train.parquet").to_pylist(),
    }
    for name in (
        "seed/apis/accepted.jsonl",
        "seed/apis/duplicates.json",
        "seed/pool/tools.jsonl",
        "seed/verify/duplicates.json",
        "seed/samples/samples.jsonl",
    ):
        out[name] = hashlib.sha256((run / name).read_bytes()).hexdigest()
    return out
