"""One OpenAI-compatible endpoint: a shared connection pool, a concurrency limit, a health state.

HTTP failures are translated here, once, into the engine's typed errors, so the retry policy in the
client only has to look at `TransientLLMError` vs everything else.

The pool is httpx's API over aiohttp's connector (httpx-aiohttp, the transport the openai SDK also
ships as its fast path). Measured here against the simulator, httpx's own httpcore pool spends
about 4x the CPU per request at 64 connections and 27x at 512 (its pool scans every connection on
each request), which would make the orchestrator, not the servers, the bottleneck at paper-scale
concurrency. `http_transport = "httpcore"` in the endpoint config switches back.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import anyio
import httpx

from looptool.config.models import EndpointConfig
from looptool.errors import RequestRejected, TransientLLMError


def _transport(kind: str, max_connections: int) -> httpx.AsyncBaseTransport | None:
    if kind == "httpcore":
        return None  # httpx's default transport, with the client's limits
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections, keepalive_timeout=30)
        return aiohttp.ClientSession(connector=connector)

    return AiohttpTransport(client=session)


def _refused(exc: BaseException) -> bool:
    """Was the connection never established? (httpx-aiohttp reports refusals as ConnectTimeout.)"""
    import aiohttp

    cause = exc.__cause__
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return False
    return isinstance(exc, httpx.ConnectError) or isinstance(cause, (aiohttp.ClientConnectorError, ConnectionRefusedError))


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Endpoint:
    def __init__(self, name: str, config: EndpointConfig, *, base_url: str, api_key: str | None = None) -> None:
        self.name = name
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.model = config.model
        self.dialect = config.dialect
        self.max_concurrency = config.max_concurrency
        headers = {"Authorization": f"Bearer {api_key or 'EMPTY'}"}
        limits = httpx.Limits(max_connections=config.max_concurrency, max_keepalive_connections=config.max_concurrency)
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s),
            limits=limits,
            transport=_transport(config.http_transport, config.max_concurrency),
        )
        self.limiter = anyio.Semaphore(config.max_concurrency)
        self.in_flight = 0  # queued + running, used for least-loaded choice
        self.down_until = 0.0
        self.consecutive_connect_failures = 0
        self.refusing_since: float | None = None  # start of the current run of refused connections

    @property
    def load(self) -> float:
        return self.in_flight / self.max_concurrency

    def is_up(self, now: float) -> bool:
        return self.down_until <= now

    def mark_down(self, cooldown_s: float) -> None:
        """Back off from an endpoint that refused connections; cooldown doubles while it stays down.

        Refusals of requests already in flight when the endpoint went down are one outage, not
        several: only a refusal while the endpoint counted as up lengthens the cool-down."""
        now = time.monotonic()
        if self.refusing_since is None:
            self.refusing_since = now
        if now < self.down_until:
            return
        self.consecutive_connect_failures += 1
        factor = 2 ** min(self.consecutive_connect_failures - 1, 5)
        self.down_until = now + cooldown_s * factor

    def mark_up(self) -> None:
        self.consecutive_connect_failures = 0
        self.down_until = 0.0
        self.refusing_since = None

    def refusing_for(self, now: float) -> float | None:
        """Seconds this endpoint has refused every connection, or None if it answered since."""
        return None if self.refusing_since is None else now - self.refusing_since

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One attempt. Raises TransientLLMError (retry) or RequestRejected (do not)."""
        try:
            async with self.limiter:
                response = await self.http.post(path, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if _refused(exc):
                raise TransientLLMError(
                    f"{self.name}: connection refused at {self.base_url} ({exc})",
                    endpoint=self.name,
                    connection_failed=True,
                    kind="connection_refused",
                ) from exc
            raise TransientLLMError(
                f"{self.name}: connection dropped by {self.base_url} ({exc})", endpoint=self.name, kind="connection_dropped"
            ) from exc
        except httpx.TimeoutException as exc:
            raise TransientLLMError(
                f"{self.name}: timed out at {self.base_url} ({type(exc).__name__})", endpoint=self.name, kind="timeout"
            ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise TransientLLMError(
                f"{self.name}: connection dropped by {self.base_url} ({exc})", endpoint=self.name, kind="connection_dropped"
            ) from exc
        except httpx.TransportError as exc:
            raise TransientLLMError(
                f"{self.name}: transport error at {self.base_url} ({exc})", endpoint=self.name, kind="transport_error"
            ) from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientLLMError(
                f"{self.name}: HTTP {status} from {self.base_url}: {response.text[:200]}",
                endpoint=self.name,
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if status >= 400:
            raise RequestRejected(
                f"{self.name}: HTTP {status} from {self.base_url}: {response.text[:500]}", endpoint=self.name, status=status
            )
        try:
            body = response.json()
        except (ValueError, RecursionError) as exc:
            raise TransientLLMError(
                f"{self.name}: response body from {self.base_url} is not valid JSON", endpoint=self.name, kind="invalid_body"
            ) from exc
        if not isinstance(body, dict):
            raise TransientLLMError(
                f"{self.name}: response body from {self.base_url} is not a JSON object", endpoint=self.name, kind="invalid_body"
            )
        return body

    async def aclose(self) -> None:
        await self.http.aclose()
