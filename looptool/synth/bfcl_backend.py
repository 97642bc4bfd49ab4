"""BFCL's stateful Python backends as executable tools for dialog simulation.

Tools imported from BFCL's multi-turn function docs carry `backend = "bfcl:<Class>"` in the pool.
Their calls are executed for real by the BFCL worker (looptool.eval.bfcl_worker, in the bfcl
runtime env), on the same allow-listed path the evaluator uses: the call's name must be a
documented public method of that class, arguments go in as keywords, nothing is evaluated.
Each dialog gets its own instance per class, starting from a BFCL scenario, so results are
consistent across the dialog (a file created in turn 2 is there in turn 4).
"""

from __future__ import annotations

import contextlib
import zlib
from pathlib import Path
from typing import Any

from looptool.eval.bfcl_client import BfclWorker, BfclWorkerError

PREFIX = "bfcl:"


class BfclBackend:
    def __init__(self, worker: BfclWorker) -> None:
        self.worker = worker
        self.open: dict[str, set[str]] = {}

    def handles(self, tool_name: str, entry: dict[str, Any]) -> bool:
        return str(entry.get("backend", "")).startswith(PREFIX)

    async def execute(self, session: str, call: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        class_name = str(entry["backend"]).removeprefix(PREFIX)
        key = f"{session}|{class_name}"
        opened = self.open.setdefault(session, set())
        try:
            if class_name not in opened:
                await self.worker.call("sandbox_open", session=key, class_name=class_name, seed=zlib.crc32(session.encode()))
                opened.add(class_name)
            [result] = await self.worker.call("sandbox_exec", session=key, calls=[call])
        except BfclWorkerError as error:
            return {"status": "error", "content": {"error": str(error)}}
        failed = result.startswith("Error during execution")
        return {"status": "error" if failed else "ok", "content": {"result": result}}

    async def close_session(self, session: str) -> None:
        for class_name in self.open.pop(session, set()):
            with contextlib.suppress(BfclWorkerError):
                await self.worker.call("sandbox_close", session=f"{session}|{class_name}")


async def maybe_bfcl_backend(pool_entries: list[dict[str, Any]], session: Any, scratch: Path) -> BfclBackend | None:
    """A backend for the pool's BFCL tools, its worker held by the engine session; None if the
    pool has no BFCL tools."""
    if not any(str(e.get("backend", "")).startswith(PREFIX) for e in pool_entries):
        return None
    worker = await session.hold(BfclWorker(scratch))
    return BfclBackend(worker)
