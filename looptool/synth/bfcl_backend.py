"""BFCL's stateful Python backends as executable tools for dialog simulation (placeholder hook).

Filled in once the bfcl execution worker lands; until then no tool is routed to it.
"""

from __future__ import annotations

from typing import Any


async def maybe_bfcl_backend(pool_entries: list[dict[str, Any]]) -> Any:
    return None
