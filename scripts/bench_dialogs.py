#!/usr/bin/env python
"""Dialog-simulation throughput against the simulator (separate process, 50 ms per request).

Prints dialogs per minute at the concurrency used, LLM calls per dialog, and the engine's own CPU
time per agent turn (one planner/user/assistant/tool call), i.e. what the orchestrator costs when
the model servers are not the bottleneck.

Usage: python scripts/bench_dialogs.py [--dialogs 2000] [--concurrency 512] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_client import start_sim

from looptool.config.load import load_config_data
from looptool.session import EngineSession
from looptool.store import JsonlWriter
from looptool.synth.dialogs import DialogSimulator, draw_dialog
from looptool.synth.pool import by_domain, pool_entry, read_tool_file, resolve_import
from looptool.units import run_units


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main(args: argparse.Namespace) -> None:
    process, url = start_sim(args.latency_ms)
    try:
        config = {
            "run": {"dir": "bench"},
            "endpoints": {"sim": {"base_url": url, "model": "sim-bench", "max_concurrency": args.concurrency * 2}},
            "roles": {r: "sim" for r in ("planner", "user", "assistant", "tool", "judge", "generator")},
            "client": {"cache": False},
            "synth": {"dialogs": {"concurrency": args.concurrency}},
        }
        with tempfile.TemporaryDirectory() as tmp:
            loaded = load_config_data(config, "bench", Path(tmp))
            entries = [
                pool_entry(raw, "example", "file") for _, raw in read_tool_file(resolve_import("@trees/_example_tools.json", Path(tmp)))
            ]
            groups = by_domain(entries)
            settings = loaded.config.synth.dialogs
            async with EngineSession(loaded, roles=["planner", "user", "assistant", "tool"]) as session:
                simulator = DialogSimulator(session.caller, settings)

                async def work(dialog_id: str, _: int) -> dict:
                    return await simulator.run(dialog_id, draw_dialog(dialog_id, 0, groups, settings))

                window = session.client.stats.window()
                cpu0, t0 = cpu_seconds(), time.perf_counter()
                with JsonlWriter(Path(tmp) / "dialogs.jsonl") as out:
                    summary = await run_units(
                        ((f"d{i:06d}", i) for i in range(args.dialogs)),
                        work,
                        out=out,
                        concurrency=args.concurrency,
                        label="bench dialogs",
                        total=args.dialogs,
                    )
                wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
                calls = window.report()["total"]["succeeded"]
        print(
            f"dialogs: {summary.completed} in {wall:.1f} s at concurrency {args.concurrency}, simulator latency {args.latency_ms:.0f} ms/request"
        )
        print(
            f"  => {summary.completed / wall * 60:.0f} dialogs/minute; {calls / summary.completed:.1f} LLM calls per dialog; {calls / wall:.0f} calls/s"
        )
        print(
            f"  => engine CPU {cpu / calls * 1e3:.2f} ms per agent turn ({cpu:.1f} s CPU for {calls} turns; client, roles, parsing, rule checks, JSONL)"
        )
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dialogs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=512)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    anyio.run(main, parser.parse_args())
