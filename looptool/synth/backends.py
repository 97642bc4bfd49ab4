"""Executable tool backends: real code instead of the LLM tool agent, for the tools that have it.

A backend owns per-dialog state (a file system, a trading account) and is reached only by tool
name through an allow-list: the model's call is a name and a JSON object, dispatched to a method of
that exact name on a registered class, with keyword arguments. Nothing the model writes is ever
evaluated as code.
"""

from __future__ import annotations

from typing import Any, Protocol


class ToolBackend(Protocol):
    """Executes calls for the tools it registered; `session` isolates one dialog's state."""

    def handles(self, tool_name: str, entry: dict[str, Any]) -> bool: ...

    async def execute(self, session: str, call: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        """Return {"status": "ok"|"error", "content": {...}}."""
        ...

    async def close_session(self, session: str) -> None: ...


class BackendRegistry:
    def __init__(self, backends: list[ToolBackend] | None = None) -> None:
        self.backends = list(backends or [])

    def backend_for(self, tool_name: str, entry: dict[str, Any]) -> ToolBackend | None:
        for backend in self.backends:
            if backend.handles(tool_name, entry):
                return backend
        return None

    async def close_session(self, session: str) -> None:
        for backend in self.backends:
            await backend.close_session(session)
