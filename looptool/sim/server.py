"""The built-in OpenAI-compatible simulator server (a test and dry-run tool, never a model).

Real HTTP on 127.0.0.1: /v1/chat/completions, /v1/completions, /v1/models, /health, plus
/sim/settings (GET/PUT, to change latency, profiles or faults while running) and /sim/stats.
Faults are injected at the HTTP level the way real servers fail: 5xx, 429 with Retry-After, a
response that never comes (timeout), a connection closed without a response (drop), and a body
cut short of its Content-Length (truncate).
"""

from __future__ import annotations

import anyio

import asyncio
import hashlib
import json
import random
from collections import Counter
from typing import Any

from aiohttp import web

import looptool.sim.roles  # noqa: F401  (registers the structured-output role handlers)
from looptool.sim.responder import chat_completion, text_completion
from looptool.sim.settings import FAULT_KINDS, SimSettings


class SimState:
    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.attempts: Counter[str] = Counter()  # per distinct body: how many times seen
        self.stats: Counter[str] = Counter()
        self.fault_rng = random.Random(f"faults|{settings.seed}")

    def choose_fault(self, body_key: str) -> str | None:
        plan = self.settings.faults
        seen = self.attempts[body_key]
        self.attempts[body_key] += 1
        budget = 0
        for kind in FAULT_KINDS:
            budget += plan.first_attempts.get(kind, 0)  # type: ignore[call-overload]
            if seen < budget:
                return kind
        for kind in FAULT_KINDS:
            rate = plan.rates.get(kind, 0.0)  # type: ignore[call-overload]
            if rate and self.fault_rng.random() < rate:
                return kind
        return None


STATE_KEY: web.AppKey[SimState] = web.AppKey("sim_state", SimState)


async def _latency(state: SimState) -> None:
    settings = state.settings
    delay = settings.latency_ms
    if settings.latency_jitter_ms:
        delay += state.fault_rng.uniform(0, settings.latency_jitter_ms)
    if delay > 0:
        await asyncio.sleep(delay / 1000.0)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "sim_fault", "code": status}}, status=status, headers=headers)


async def _faulted(request: web.Request, state: SimState, kind: str, body: bytes) -> web.StreamResponse:
    state.stats[f"fault_{kind}"] += 1
    plan = state.settings.faults
    if kind == "400":
        return _error(400, "simulated invalid request")
    if kind in ("500", "502", "503"):
        return _error(int(kind), f"simulated HTTP {kind}")
    if kind == "429":
        return _error(429, "simulated rate limit", headers={"Retry-After": f"{plan.retry_after_s:g}"})
    if kind == "timeout":
        await asyncio.sleep(plan.hang_s)
        return _error(504, "simulated upstream timeout")
    transport = request.transport
    if kind == "drop":
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError  # the handler must not write to a closed connection
    # truncate: announce the whole body, send half of it, close the connection.
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: max(1, len(body) // 2)])
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError


async def _handle(request: web.Request, builder: Any) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    raw = await request.read()
    try:
        payload = json.loads(raw)
    except ValueError:
        state.stats["bad_request"] += 1
        return _error(400, "request body is not valid JSON")
    if not isinstance(payload, dict) or "model" not in payload:
        state.stats["bad_request"] += 1
        return _error(400, "request must be a JSON object with a 'model' field")
    state.stats["requests"] += 1
    await _latency(state)
    fault = state.choose_fault(hashlib.sha256(raw).hexdigest())
    try:
        answer = builder(payload, state.settings)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        state.stats["bad_request"] += 1
        return _error(400, f"cannot answer this request: {exc}")
    if fault is not None:
        body = json.dumps(answer).encode()
        return await _faulted(request, state, fault, body)
    state.stats["answered"] += 1
    return web.json_response(answer)


async def chat_handler(request: web.Request) -> web.StreamResponse:
    return await _handle(request, chat_completion)


async def completions_handler(request: web.Request) -> web.StreamResponse:
    return await _handle(request, text_completion)


async def models_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    names = sorted(set(state.settings.models) | {"sim"})
    return web.json_response({"object": "list", "data": [{"id": n, "object": "model", "owned_by": "looptool-sim"} for n in names]})


async def health_handler(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def settings_handler(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.method == "PUT":
        try:
            state.settings = SimSettings.model_validate(await request.json())
        except ValueError as exc:
            return _error(400, f"invalid simulator settings: {exc}")
        state.attempts.clear()
    return web.json_response(state.settings.model_dump())


async def stats_handler(request: web.Request) -> web.Response:
    return web.json_response(dict(request.app[STATE_KEY].stats))


def build_app(settings: SimSettings) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = SimState(settings)
    app.router.add_post("/v1/chat/completions", chat_handler)
    app.router.add_post("/v1/completions", completions_handler)
    app.router.add_get("/v1/models", models_handler)
    app.router.add_get("/health", health_handler)
    app.router.add_get("/sim/settings", settings_handler)
    app.router.add_put("/sim/settings", settings_handler)
    app.router.add_get("/sim/stats", stats_handler)
    return app


class SimServer:
    """Run the simulator inside the current event loop: `async with SimServer(settings) as sim`."""

    def __init__(self, settings: SimSettings | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings or SimSettings()
        self.host = host
        self.port = port
        self.app = build_app(self.settings)
        self._runner: web.AppRunner | None = None

    @property
    def state(self) -> SimState:
        return self.app[STATE_KEY]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> SimServer:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        if self.port == 0 and server is not None and server.sockets:  # type: ignore[attr-defined]  # an asyncio.Server at run time
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):  # close the port even when the run is cancelled
            await self.stop()


async def serve_forever(settings: SimSettings, host: str, port: int, ready_file: str | None = None) -> None:
    server = SimServer(settings, host=host, port=port)
    await server.start()
    line = f"looptool simulator (test tool, not a model) listening on {server.base_url}"
    print(line, flush=True)
    if ready_file:
        from pathlib import Path

        from looptool.store.atomic import atomic_write_text

        atomic_write_text(Path(ready_file), server.base_url + "\n")
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
