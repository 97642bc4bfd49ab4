"""A small stage run as a separate process so tests can SIGKILL it mid-way (see test_resume.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio

from looptool.config.models import ClientConfig, EndpointConfig
from looptool.llm import ChatRequest, LLMClient
from looptool.sim import SimServer, SimSettings
from looptool.store import JsonlWriter
from looptool.units import run_units


async def main(out_path: Path, units: int, latency_ms: float) -> None:
    async with SimServer(SimSettings(latency_ms=latency_ms)) as sim:
        client = LLMClient.from_endpoint_configs(
            {"a": EndpointConfig(base_url=sim.base_url, model="m", max_concurrency=8)},
            {"judge": ["a"]},
            config=ClientConfig(cache=False),
        )
        async with client:

            async def work(unit_id: str, index: int) -> dict:
                result = await client.chat("judge", ChatRequest(messages=[{"role": "user", "content": f"unit {index}"}]))
                return {"answer": result.text}

            with JsonlWriter(out_path) as out:
                summary = await run_units(
                    ((f"u{i:04d}", i) for i in range(units)), work, out=out, concurrency=8, label="worker", total=units
                )
    print("SUMMARY " + json.dumps(summary.as_dict()), flush=True)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
