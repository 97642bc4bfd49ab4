"""The orchestrator's handle on the BFCL worker process (looptool.eval.bfcl_worker).

One worker per evaluation: it is started under the bfcl runtime's python with this checkout on
PYTHONPATH, answers JSON-line requests one at a time (a lock keeps request and reply paired; each
request is small and fast next to an LLM call), and is stopped by its pid when the evaluation
ends. BFCL writes result/score/lock folders under BFCL_PROJECT_ROOT on import, so that points at
a scratch folder inside the evaluation's output, never at site-packages.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Self

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from looptool.errors import RuntimeProblem, StageError
from looptool.models import RuntimeMissingError, require_runtime_python

READY_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 600.0
MAX_LINE_BYTES = 1 << 30
_STDERR_TAIL = 30


class BfclWorkerError(RuntimeProblem):
    """The worker rejected one request (bad item id, malformed call); the run goes on."""


class BfclWorkerDied(StageError):
    """The worker process is gone; nothing more can be scored in this run."""


def looptool_root() -> Path:
    """The directory holding the `looptool` package (what PYTHONPATH needs in a runtime env)."""
    return Path(__file__).resolve().parents[2]


class BfclWorker:
    """`async with BfclWorker(scratch_dir) as worker: await worker.call("items", ...)`."""

    def __init__(self, scratch_dir: Path, *, python: Path | None = None) -> None:
        self.scratch_dir = Path(scratch_dir)
        self.python = Path(python) if python else None
        self.version: str | None = None
        self.requests = 0
        self._process: Process | None = None
        self._reader: BufferedByteReceiveStream | None = None
        self._lock = anyio.Lock()
        self._next_id = 0
        self._stderr_path = self.scratch_dir / "worker.stderr.log"
        self.dead = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            python = self.python or require_runtime_python("bfcl")
        except RuntimeMissingError as exc:
            raise StageError(str(exc)) from None
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        root = self.scratch_dir / "bfcl_project_root"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(looptool_root()), os.environ.get("PYTHONPATH")) if p),
            "BFCL_PROJECT_ROOT": str(root),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        with open(self._stderr_path, "ab") as stderr:
            self._process = await anyio.open_process(
                [str(python), "-m", "looptool.eval.bfcl_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        assert self._process.stdout is not None
        self._reader = BufferedByteReceiveStream(self._process.stdout)
        first: dict[str, Any] | None = None
        with anyio.move_on_after(READY_TIMEOUT_S):
            first = await self._read_line()
        if not first or not first.get("ready"):
            await self.stop()
            raise BfclWorkerDied(f"the BFCL worker ({python}) did not start:\n{self.stderr_tail()}")
        self.version = str(first.get("bfcl_eval"))

    async def _read_line(self) -> dict[str, Any] | None:
        assert self._reader is not None
        try:
            line = await self._reader.receive_until(b"\n", MAX_LINE_BYTES)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return None
        return json.loads(line)

    async def call(self, op: str, **arguments: Any) -> Any:
        """Send one request, return its result; a rejected request raises BfclWorkerError."""
        if self._process is None or self.dead:
            raise BfclWorkerDied(f"the BFCL worker is not running:\n{self.stderr_tail()}")
        async with self._lock:
            self._next_id += 1
            request_id = self._next_id
            payload = json.dumps({"id": request_id, "op": op, **arguments}, ensure_ascii=False) + "\n"
            assert self._process.stdin is not None
            reply = None
            # A reply left in the pipe by a cancelled caller would be read by the next one, so the
            # exchange itself is never cancelled; a worker that hangs is declared dead instead.
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(REQUEST_TIMEOUT_S):
                    try:
                        await self._process.stdin.send(payload.encode("utf-8"))
                        reply = await self._read_line()
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        reply = None
            self.requests += 1
        if reply is None:
            self.dead = True
            raise BfclWorkerDied(f"the BFCL worker exited or hung during {op!r}:\n{self.stderr_tail()}")
        if reply.get("id") != request_id:
            self.dead = True
            raise BfclWorkerDied(f"the BFCL worker answered request {reply.get('id')} to request {request_id}")
        if "error" in reply:
            raise BfclWorkerError(f"BFCL worker, {op}: {reply['error']}")
        return reply.get("result")

    def stderr_tail(self) -> str:
        try:
            lines = self._stderr_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no worker output)"
        return "\n".join(lines[-_STDERR_TAIL:]) or "(no worker output)"

    async def stop(self) -> None:
        """Close stdin (the worker exits at end of input); kill it by pid if it does not."""
        process, self._process = self._process, None
        if process is None:
            return
        with anyio.CancelScope(shield=True):
            if process.stdin is not None:
                await process.stdin.aclose()
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            if process.stdout is not None:
                await process.stdout.aclose()
