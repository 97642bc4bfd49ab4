"""Built-in OpenAI-compatible simulator: tests, dry runs, fault injection, benchmarks. Not a model.

SimServer is imported on first use: the phrasing and world modules are pure and are also used
inside runtime envs (the experiment worker) that do not have aiohttp.
"""

from typing import Any

from looptool.sim.settings import FaultPlan, ModelProfile, SimSettings

__all__ = ["FaultPlan", "ModelProfile", "SimServer", "SimSettings"]


def __getattr__(name: str) -> Any:
    if name == "SimServer":
        from looptool.sim.server import SimServer

        return SimServer
    raise AttributeError(f"module 'looptool.sim' has no attribute {name!r}")
