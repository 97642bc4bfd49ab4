"""Start the built-in simulator for the sim endpoints of a config (dry runs and tests).

Kept apart from looptool.session so that a session imports the simulator only when a config
actually names a sim endpoint, as looptool.llm.launch does for local vLLM servers.
"""

from __future__ import annotations

import contextlib

from looptool.config.load import LoadedConfig
from looptool.sim.server import SimServer
from looptool.sim.settings import ModelProfile, SimSettings


def sim_settings_for(loaded: LoadedConfig, endpoint_names: list[str]) -> SimSettings:
    """One simulator serves every sim endpoint; each endpoint's model name gets its own profile."""
    profiles: dict[str, ModelProfile] = {}
    seed = 0
    latency = 0.0
    for name in endpoint_names:
        endpoint = loaded.config.endpoints[name]
        sim = endpoint.sim
        if sim is None:
            continue
        seed, latency = sim.seed, max(latency, sim.latency_ms)
        profiles[endpoint.model] = ModelProfile(
            wrong_call_rate=sim.wrong_call_rate,
            malformed_rate=sim.malformed_rate,
            judge_error_rate=sim.judge_error_rate,
        )
    return SimSettings(seed=seed, latency_ms=latency, models=profiles)


async def launch_simulator(stack: contextlib.AsyncExitStack, loaded: LoadedConfig, names: list[str]) -> dict[str, str]:
    """One simulator for every sim endpoint in `names`, stopped with `stack`; name -> base URL."""
    server = await stack.enter_async_context(SimServer(sim_settings_for(loaded, names)))
    return {name: server.base_url for name in names}
