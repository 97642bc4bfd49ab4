"""Fast tests of the vLLM server supervisor: command line, environment, and the process lifecycle.

The lifecycle tests run the real supervisor against tests/runtimes/fake_vllm_server.py, a small
HTTP server that mimics vLLM's readiness endpoints and process group, so start/ready/stop/stale
handling is checked in seconds. The same paths against real vLLM are in test_vllm_runtime.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pydantic
import pytest

from looptool.llm.vllm_server import VLLMServer, VLLMServerError, VLLMServerSpec, stop_stale

FAKE_SERVER = Path(__file__).with_name("fake_vllm_server.py")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_command_line_defaults_encode_the_cpu_recipe() -> None:
    spec = VLLMServerSpec(model=Path("/models/tiny"), served_model_name="tiny")
    argv = spec.command(8123, Path("/env/bin/python"))
    assert argv[:3] == ["/env/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    assert _flag(argv, "--model") == "/models/tiny"
    assert _flag(argv, "--served-model-name") == "tiny"
    assert _flag(argv, "--host") == "127.0.0.1"
    assert _flag(argv, "--port") == "8123"
    assert _flag(argv, "--kv-cache-memory-bytes") == str(256 * 2**20)
    assert _flag(argv, "--dtype") == "auto"
    assert _flag(argv, "--tool-call-parser") == "hermes"
    assert "--enable-auto-tool-choice" in argv
    assert "--no-enable-chunked-prefill" in argv and "--enable-chunked-prefill" not in argv
    assert "--disable-uvicorn-access-log" in argv
    for absent in ("--enforce-eager", "--chat-template", "--max-model-len", "--structured-outputs-config"):
        assert absent not in argv


def test_command_line_options() -> None:
    spec = VLLMServerSpec(
        model=Path("/m"),
        served_model_name="smol",
        port=9000,
        kv_cache_bytes=2**30,
        dtype="float32",
        enforce_eager=True,
        chat_template=Path("/t/tool_chat_template.jinja"),
        tool_call_parser=None,
        enable_chunked_prefill=True,
        max_model_len=4096,
        max_num_seqs=64,
        structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        access_log=True,
        extra_args=("--seed", "7"),
    )
    argv = spec.command(python=Path("/py"))
    assert _flag(argv, "--port") == "9000"
    assert _flag(argv, "--kv-cache-memory-bytes") == str(2**30)
    assert _flag(argv, "--dtype") == "float32"
    assert _flag(argv, "--chat-template") == "/t/tool_chat_template.jinja"
    assert _flag(argv, "--max-model-len") == "4096"
    assert _flag(argv, "--max-num-seqs") == "64"
    assert json.loads(_flag(argv, "--structured-outputs-config")) == {
        "backend": "xgrammar",
        "disable_any_whitespace": True,
    }
    assert "--enforce-eager" in argv and "--enable-chunked-prefill" in argv
    assert "--enable-auto-tool-choice" not in argv and "--tool-call-parser" not in argv
    assert "--disable-uvicorn-access-log" not in argv
    assert argv[-2:] == ["--seed", "7"]


def test_command_needs_a_concrete_port() -> None:
    with pytest.raises(ValueError, match="concrete port"):
        VLLMServerSpec(model=Path("/m"), served_model_name="x").command()


@pytest.mark.parametrize(
    "bad",
    [{"port": 70000}, {"kv_cache_bytes": 0}, {"dtype": "int4"}, {"served_model_name": ""}, {"gpu": True}],
)
def test_spec_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(pydantic.ValidationError):
        VLLMServerSpec(**({"model": Path("/m"), "served_model_name": "x"} | bad))


def test_child_env_is_offline_and_spec_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOOPTOOL_HOME", str(tmp_path))
    spec = VLLMServerSpec(model=Path("/m"), served_model_name="x", env={"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"})
    env = spec.child_env({"PATH": "/bin", "VLLM_CPU_KVCACHE_SPACE": "8", "HF_HUB_OFFLINE": "0"})
    assert env["PATH"] == "/bin"
    assert "VLLM_CPU_KVCACHE_SPACE" not in env  # it would override --kv-cache-memory-bytes
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert env["VLLM_CACHE_ROOT"] == str(tmp_path / "vllm-cache")
    assert env["VLLM_NO_USAGE_STATS"] == "1"


# --- lifecycle against the fake server -------------------------------------------------------


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    """An 'interpreter' that runs the fake server whatever module it is asked to run."""
    exe = tmp_path / "python"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SERVER}" "$@"\n')
    exe.chmod(0o755)
    return exe


@pytest.fixture
def tag() -> str:
    """Unique suffix for served names, so concurrent test runs never see each other's processes."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return model


def _spec(model_dir: Path, fake_python: Path, name: str, **overrides) -> VLLMServerSpec:
    fields = {
        "model": model_dir,
        "served_model_name": name,
        "python": fake_python,
        "startup_timeout_s": 30,
        "stop_grace_s": 5,
    }
    return VLLMServerSpec(**(fields | overrides))


def _procs_mentioning(token: str) -> list[int]:
    """Live, non-zombie processes whose command line contains token (the fake's worker repeats
    the served name in its command line, so this finds it too)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if token in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def spawn_stale(fake_python: Path) -> Iterator[Callable[[str], subprocess.Popen]]:
    """Start 'leftover' fake servers; any still alive at teardown (a failed test) are killed."""
    spawned: list[subprocess.Popen] = []

    def spawn(name: str) -> subprocess.Popen:
        spawned.append(_spawn_stale_fake(fake_python, name))
        return spawned[-1]

    yield spawn
    for process in spawned:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _spawn_stale_fake(fake_python: Path, name: str) -> subprocess.Popen:
    """A fake server left running by a 'crashed' earlier run, in its own process group.

    Returns once it answers /health: a leftover server is one that was serving, not one caught
    halfway through exec (when /proc shows no command line yet).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [str(fake_python), "-m", "vllm.entrypoints.openai.api_server", "--port", str(port)]
    process = subprocess.Popen([*argv, "--served-model-name", name], start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # readiness polling interval
    process.kill()
    raise AssertionError(f"fake server {name} did not come up (exit code {process.poll()})")


@pytest.mark.anyio
async def test_start_waits_for_health_then_stops_whole_group(tmp_path: Path, tag: str, fake_python: Path, model_dir: Path) -> None:
    pid_file = tmp_path / "run" / "server.pid"
    spec = _spec(model_dir, fake_python, f"fake-ok-{tag}", env={"FAKE_VLLM_READY_AFTER": "1.5"})
    server = VLLMServer(spec, log_path=tmp_path / "server.log", pid_file=pid_file, poll_interval_s=0.1)
    async with server:
        assert server.startup_s is not None and server.startup_s >= 1.5  # /health said 503 until then
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        async with httpx.AsyncClient(trust_env=False) as client:
            models = (await client.get(f"{server.base_url}/models")).json()
        assert [m["id"] for m in models["data"]] == [f"fake-ok-{tag}"]
        record = json.loads(pid_file.read_text())
        assert record["pid"] == server.pid and record["port"] == server.port
        members = server.group_pids()
        assert server.pid in members and len(members) >= 2  # the fake's worker shares the group
        assert server.rss_bytes() > 0
        assert "fake vllm: mode ok" in (tmp_path / "server.log").read_text()
    assert _procs_mentioning(f"fake-ok-{tag}") == []
    assert not pid_file.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{server.port}/health", trust_env=False)


@pytest.mark.anyio
async def test_early_death_raises_with_log_tail(tmp_path: Path, tag: str, fake_python: Path, model_dir: Path) -> None:
    pid_file = tmp_path / "server.pid"
    spec = _spec(model_dir, fake_python, f"fake-die-{tag}", env={"FAKE_VLLM_MODE": "die"})
    with pytest.raises(VLLMServerError, match=r"exited with code 3(.|\n)*cannot load the model"):
        await VLLMServer(spec, log_path=tmp_path / "die.log", pid_file=pid_file).start()
    assert not pid_file.exists()


@pytest.mark.anyio
async def test_startup_timeout_kills_the_group(tmp_path: Path, tag: str, fake_python: Path, model_dir: Path) -> None:
    spec = _spec(model_dir, fake_python, f"fake-hang-{tag}", env={"FAKE_VLLM_MODE": "hang"}, startup_timeout_s=2)
    with pytest.raises(VLLMServerError, match="not ready within 2 s(.|\n)*mode hang"):
        await VLLMServer(spec, log_path=tmp_path / "hang.log").start()
    assert _procs_mentioning(f"fake-hang-{tag}") == []


@pytest.mark.anyio
async def test_stop_escalates_to_sigkill(tmp_path: Path, tag: str, fake_python: Path, model_dir: Path) -> None:
    spec = _spec(model_dir, fake_python, f"fake-stubborn-{tag}", env={"FAKE_VLLM_MODE": "ignore_term"}, stop_grace_s=1)
    async with VLLMServer(spec, log_path=tmp_path / "stubborn.log", poll_interval_s=0.1) as server:
        assert len(server.group_pids()) >= 2
    assert _procs_mentioning(f"fake-stubborn-{tag}") == []


@pytest.mark.anyio
async def test_stop_stale_stops_a_leftover_server(tmp_path: Path, tag: str, spawn_stale) -> None:
    stale = spawn_stale(f"fake-stale-{tag}")
    pid_file = tmp_path / "server.pid"
    pid_file.write_text(json.dumps({"pid": stale.pid}))
    assert await stop_stale(pid_file, grace_s=5) is True
    assert stale.wait(timeout=5) == -signal.SIGTERM
    assert _procs_mentioning(f"fake-stale-{tag}") == []  # its worker too
    assert not pid_file.exists()
    assert await stop_stale(pid_file) is False


@pytest.mark.anyio
async def test_stop_stale_leaves_unrelated_processes_alone(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        pid_file = tmp_path / "server.pid"
        pid_file.write_text(json.dumps({"pid": other.pid}))  # as if the pid had been reused
        assert await stop_stale(pid_file) is False
        assert other.poll() is None
        assert not pid_file.exists()
    finally:
        other.kill()
        other.wait()


@pytest.mark.anyio
async def test_corrupt_pid_file_is_named(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    pid_file.write_text("not json")
    with pytest.raises(VLLMServerError, match=r"server\.pid: not a vLLM server pid file"):
        await stop_stale(pid_file)


@pytest.mark.anyio
async def test_start_replaces_the_stale_server_of_its_pid_file(
    tmp_path: Path, tag: str, fake_python: Path, model_dir: Path, spawn_stale
) -> None:
    stale = spawn_stale(f"fake-old-{tag}")
    pid_file = tmp_path / "server.pid"
    pid_file.write_text(json.dumps({"pid": stale.pid}))
    async with VLLMServer(_spec(model_dir, fake_python, f"fake-new-{tag}"), log_path=tmp_path / "new.log", pid_file=pid_file):
        assert stale.wait(timeout=5) == -signal.SIGTERM
        assert _procs_mentioning(f"fake-old-{tag}") == []
        assert json.loads(pid_file.read_text())["pid"] != stale.pid


@pytest.mark.anyio
async def test_fixed_port_in_use_is_refused(tmp_path: Path, tag: str, fake_python: Path, model_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        spec = _spec(model_dir, fake_python, f"fake-port-{tag}", port=port)
        with pytest.raises(VLLMServerError, match=f"port {port} on 127.0.0.1 is already in use"):
            await VLLMServer(spec, log_path=tmp_path / "port.log").start()


@pytest.mark.anyio
async def test_missing_model_is_named(tmp_path: Path, tag: str, fake_python: Path) -> None:
    spec = _spec(tmp_path / "nowhere", fake_python, f"fake-missing-{tag}")
    with pytest.raises(VLLMServerError, match="nowhere has no config.json"):
        await VLLMServer(spec, log_path=tmp_path / "m.log").start()
