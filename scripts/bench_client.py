#!/usr/bin/env python
"""Endpoint-client benchmarks against the simulator (run in its own process), side by side.

1. overhead:  requests/s through LLMClient vs a bare httpx async loop, same server, same concurrency,
              plus client CPU time per request for both (the honest measure of our overhead).
2. scaling:   with 200 ms simulated latency and 512 requests in flight, achieved rate vs the ideal
              (concurrency / latency), and vs the bare loop's rate under the same conditions.
3. memory:    RSS while streaming N results to a JSONL file through the stage unit runner.

Usage: python scripts/bench_client.py [--requests 4000] [--stream 100000] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx

from looptool.config.models import ClientConfig, EndpointConfig
from looptool.llm import ChatRequest, LLMClient
from looptool.store import JsonlWriter
from looptool.units import run_units


def start_sim(latency_ms: float) -> tuple[subprocess.Popen, str]:
    ready = Path(tempfile.mkdtemp()) / "ready"
    process = subprocess.Popen(
        [sys.executable, "-m", "looptool", "sim", "--port", "0", "--latency-ms", str(latency_ms), "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("simulator did not start")
        time.sleep(0.05)
    return process, ready.read_text().strip()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def payload(index: int) -> dict:
    return {"model": "bench", "messages": [{"role": "user", "content": f"request {index}"}], "temperature": 0.0, "max_tokens": 32}


def bare_transport(kind: str, concurrency: int):
    if kind == "httpcore":
        return None
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport(
        client=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency))
    )


async def bare_loop(base_url: str, total: int, concurrency: int, transport: str = "aiohttp") -> tuple[float, float]:
    """A plain `httpx.AsyncClient.post` loop: no retries, cache, counters or endpoint choice."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60, transport=bare_transport(transport, concurrency)) as client:
        counter = iter(range(total))

        async def worker() -> None:
            for index in counter:
                response = await client.post("/chat/completions", json=payload(index))
                response.raise_for_status()
                response.json()

        cpu0, t0 = cpu_seconds(), time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker)
        return time.perf_counter() - t0, cpu_seconds() - cpu0


def make_client(base_url: str, concurrency: int, cache_dir: Path | None) -> LLMClient:
    return LLMClient.from_endpoint_configs(
        {"sim": EndpointConfig(base_url=base_url, model="bench", max_concurrency=concurrency, timeout_s=60)},
        {"judge": ["sim"]},
        config=ClientConfig(cache=cache_dir is not None),
        cache_path=(cache_dir / "cache.sqlite") if cache_dir else None,
    )


async def our_client(base_url: str, total: int, concurrency: int, cache_dir: Path | None) -> tuple[float, float]:
    async with make_client(base_url, concurrency, cache_dir) as client:
        counter = iter(range(total))

        async def worker() -> None:
            for index in counter:
                await client.chat("judge", ChatRequest(messages=payload(index)["messages"], max_tokens=32))

        cpu0, t0 = cpu_seconds(), time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker)
        return time.perf_counter() - t0, cpu_seconds() - cpu0


def line(name: str, total: int, wall: float, cpu: float) -> dict:
    row = {
        "name": name,
        "requests": total,
        "wall_s": round(wall, 3),
        "req_per_s": round(total / wall, 1),
        "client_cpu_us_per_req": round(cpu / total * 1e6, 1),
    }
    print(f"  {name:<34} {row['req_per_s']:>9.1f} req/s   client CPU {row['client_cpu_us_per_req']:>7.1f} us/req")
    return row


async def overhead(total: int, concurrency: int) -> dict:
    process, url = start_sim(0)
    try:
        print(f"[overhead] {total} requests, concurrency {concurrency}, simulator latency 0 ms (separate process)")
        await bare_loop(url, 200, concurrency)  # warm-up both paths
        await our_client(url, 200, concurrency, None)
        rows = []
        default = line("bare httpx loop, httpcore transport", total, *await bare_loop(url, total, concurrency, "httpcore"))
        for round_index in range(2):  # interleave to cancel drift
            rows.append(line(f"bare httpx loop (round {round_index + 1})", total, *await bare_loop(url, total, concurrency)))
            rows.append(line(f"LLMClient, no cache (round {round_index + 1})", total, *await our_client(url, total, concurrency, None)))
            with tempfile.TemporaryDirectory() as cache_dir:
                rows.append(
                    line(
                        f"LLMClient + sqlite cache (round {round_index + 1})",
                        total,
                        *await our_client(url, total, concurrency, Path(cache_dir)),
                    )
                )
        bare = sum(r["req_per_s"] for r in rows if r["name"].startswith("bare")) / 2
        ours = sum(r["req_per_s"] for r in rows if r["name"].startswith("LLMClient, no")) / 2
        cached = sum(r["req_per_s"] for r in rows if "sqlite" in r["name"]) / 2
        result = {
            "bare_req_per_s": bare,
            "bare_httpcore_req_per_s": default["req_per_s"],
            "client_req_per_s": ours,
            "client_cache_req_per_s": cached,
            "ratio": ours / bare,
            "ratio_with_cache": cached / bare,
            "rows": rows + [default],
        }
        print(
            f"  => LLMClient reaches {100 * ours / bare:.1f}% of the bare loop on the same transport ({100 * cached / bare:.1f}% with the request cache writing every response); {ours / default['req_per_s']:.1f}x the bare loop on httpx's default transport"
        )
        return result
    finally:
        process.terminate()
        process.wait()


async def scaling(total: int, concurrency: int, latency_ms: float) -> dict:
    process, url = start_sim(latency_ms)
    try:
        ideal = concurrency / (latency_ms / 1000)
        print(f"[scaling] {total} requests, {concurrency} in flight, simulator latency {latency_ms:.0f} ms: ideal {ideal:.0f} req/s")
        await our_client(url, concurrency, concurrency, None)
        line("bare httpx loop, httpcore transport", total, *await bare_loop(url, total, concurrency, "httpcore"))
        bare = line("bare httpx loop (aiohttp transport)", total, *await bare_loop(url, total, concurrency))
        ours = line("LLMClient", total, *await our_client(url, total, concurrency, None))
        ceiling = min(ideal, bare["req_per_s"])
        result = {
            "ideal_req_per_s": ideal,
            "bare_req_per_s": bare["req_per_s"],
            "client_req_per_s": ours["req_per_s"],
            "fraction_of_ideal": ours["req_per_s"] / ideal,
            "fraction_of_ceiling": ours["req_per_s"] / ceiling,
        }
        print(f"  => {100 * ours['req_per_s'] / ideal:.1f}% of ideal, {100 * result['fraction_of_ceiling']:.1f}% of min(ideal, bare loop)")
        return result
    finally:
        process.terminate()
        process.wait()


async def memory(total: int, concurrency: int) -> dict:
    process, url = start_sim(0)
    samples = []
    try:
        print(f"[memory] streaming {total} results to JSONL through the unit runner (concurrency {concurrency})")
        with tempfile.TemporaryDirectory() as tmp:
            out_path = Path(tmp) / "out.jsonl"
            async with make_client(url, concurrency, Path(tmp)) as client:
                checkpoints = {int(total * f) for f in (0.01, 0.1, 0.25, 0.5, 0.75, 1.0)}

                async def work(unit_id: str, index: int) -> dict:
                    result = await client.chat("judge", ChatRequest(messages=payload(index)["messages"], max_tokens=32))
                    return {"text": result.text, "tokens": result.usage.completion_tokens}

                done = 0

                async def tracked(unit_id: str, index: int) -> dict:
                    nonlocal done
                    record = await work(unit_id, index)
                    done += 1
                    if done in checkpoints:
                        samples.append((done, round(rss_mb(), 1)))
                        print(f"  after {done:>7} results: RSS {samples[-1][1]:.1f} MB")
                    return record

                with JsonlWriter(out_path) as out:
                    await run_units(
                        ((f"r{i}", i) for i in range(total)), tracked, out=out, concurrency=concurrency, label="memory bench", total=total
                    )
                file_mb = out_path.stat().st_size / 2**20
        growth = samples[-1][1] - samples[1][1] if len(samples) > 1 else 0.0
        print(
            f"  => RSS growth from {samples[1][0]} to {samples[-1][0]} results: {growth:+.1f} MB (output file {file_mb:.1f} MB, cache on)"
        )
        return {"samples": samples, "growth_mb": growth}
    finally:
        process.terminate()
        process.wait()


async def main(args: argparse.Namespace) -> None:
    report = {"overhead": await overhead(args.requests, 64), "scaling": await scaling(max(args.requests, 4096), 512, 200.0)}
    if not args.skip_memory:
        report["memory"] = await memory(args.stream, 64)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--stream", type=int, default=100_000)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    anyio.run(main, parser.parse_args())
