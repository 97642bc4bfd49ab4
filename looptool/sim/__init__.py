"""Built-in OpenAI-compatible simulator: tests, dry runs, fault injection, benchmarks. Not a model."""

from looptool.sim.server import SimServer
from looptool.sim.settings import FaultPlan, ModelProfile, SimSettings

__all__ = ["FaultPlan", "ModelProfile", "SimServer", "SimSettings"]
