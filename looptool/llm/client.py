"""The one way any stage calls an LLM.

Roles map to endpoints; each call goes to the least-loaded endpoint that is up, retries transient
failures with jittered exponential backoff (honouring Retry-After, failing over at once when another
endpoint can take the call), consults the request cache, and counts everything. After the last
attempt the caller gets a typed error to record against its item; the stage goes on.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

import anyio

from looptool.config.models import ClientConfig, EndpointConfig
from looptool.errors import EndpointsUnreachable, LLMError, NoEndpointAvailable, RetriesExhausted, TransientLLMError
from looptool.llm.cache import RequestCache, request_key
from looptool.llm.endpoint import Endpoint
from looptool.llm.stats import ClientStats
from looptool.llm.types import ChatRequest, CompletionRequest, LLMResult
from looptool.llm.wire import chat_payload, completion_payload, parse_chat, parse_completion


class LLMClient:
    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        roles: Mapping[str, list[str]],
        *,
        config: ClientConfig | None = None,
        cache: RequestCache | None = None,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.roles = {role: list(names) for role, names in roles.items()}
        for role, names in self.roles.items():
            for name in names:
                if name not in self.endpoints:
                    raise ValueError(f"role {role!r} refers to unknown endpoint {name!r}")
        self.config = config or ClientConfig()
        self.cache = cache if self.config.cache else None
        self.stats = ClientStats()
        self._round_robin = itertools.count()
        retry = self.config.retry
        self._jitter = wait_random_exponential(multiplier=retry.backoff_initial_s, max=retry.backoff_max_s)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_endpoint_configs(
        cls,
        endpoint_configs: Mapping[str, EndpointConfig],
        roles: Mapping[str, list[str]],
        *,
        base_urls: Mapping[str, str] | None = None,
        api_keys: Mapping[str, str | None] | None = None,
        config: ClientConfig | None = None,
        cache_path: Path | None = None,
        cache: RequestCache | None = None,
    ) -> LLMClient:
        """Build endpoints from config; `base_urls` overrides URLs of servers the engine launched."""
        base_urls = base_urls or {}
        api_keys = api_keys or {}
        endpoints = {}
        for name, endpoint_config in endpoint_configs.items():
            url = base_urls.get(name) or endpoint_config.base_url
            if url is None:
                raise ValueError(f"endpoint {name!r} has no base_url and was not launched")
            endpoints[name] = Endpoint(name, endpoint_config, base_url=url, api_key=api_keys.get(name))
        config = config or ClientConfig()
        if cache is None and config.cache and cache_path is not None:
            cache = RequestCache(cache_path)
        return cls(endpoints, roles, config=config, cache=cache)

    async def aclose(self, *, close_cache: bool = True) -> None:
        for endpoint in self.endpoints.values():
            await endpoint.aclose()
        if self.cache is not None and close_cache:
            self.cache.close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await self.aclose()

    # -- endpoint choice ------------------------------------------------------------------------
    def role_endpoints(self, role: str) -> list[Endpoint]:
        try:
            return [self.endpoints[name] for name in self.roles[role]]
        except KeyError:
            raise NoEndpointAvailable(f"role {role!r} is not mapped to any endpoint") from None

    def choose(self, role: str) -> Endpoint:
        """Least-loaded endpoint that is up; if all are down, the one that comes back first."""
        candidates = self.role_endpoints(role)
        now = time.monotonic()
        up = [e for e in candidates if e.is_up(now)]
        if not up:
            return min(candidates, key=lambda e: e.down_until)
        if len(up) == 1:
            return up[0]
        offset = next(self._round_robin)
        ordered = up[offset % len(up) :] + up[: offset % len(up)]
        return min(ordered, key=lambda e: e.load)

    def model_identity(self, role: str) -> str:
        """What a cached answer depends on: the model(s) behind the role, not which replica served it."""
        return "|".join(sorted({e.model for e in self.role_endpoints(role)}))

    # -- public calls ---------------------------------------------------------------------------
    async def chat(self, role: str, request: ChatRequest) -> LLMResult:
        return await self._call(role, "chat", request)

    async def complete(self, role: str, request: CompletionRequest) -> LLMResult:
        return await self._call(role, "completion", request)

    # -- machinery ------------------------------------------------------------------------------
    def _use_cache(self, request: ChatRequest | CompletionRequest) -> bool:
        if self.cache is None:
            return False
        if request.cache is not None:
            return request.cache
        return not request.sampled or self.config.cache_sampled

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry = self.config.retry
        if isinstance(error, TransientLLMError):
            if error.retry_after is not None:
                return min(error.retry_after, retry.retry_after_max_s)
            if error.connection_failed:
                return 0.0  # the next attempt fails over, or waits out the endpoint's cool-down
        return self._jitter(state)

    def _check_reachable(self, role: str, now: float) -> None:
        """Stop the stage, not just this call, once every endpoint of the role has refused
        connections for the whole grace period: every other unit would fail the same way."""
        grace = self.config.retry.unreachable_grace_s
        endpoints = self.role_endpoints(role)
        refusing = [e.refusing_for(now) for e in endpoints]
        if all(r is not None and r >= grace for r in refusing):
            where = "; ".join(f"connection refused at {e.base_url}" for e in endpoints)
            raise EndpointsUnreachable(
                f"role {role!r}: every endpoint refuses connections ({where}) for {min(r for r in refusing if r is not None):.0f} s",
                endpoint=endpoints[0].name,
            )

    async def _wait_for_cooldown(self, role: str, endpoint: Endpoint) -> Endpoint:
        """Every endpoint of the role is cooling down: wait until the first comes back instead of
        hammering a server that refuses connections, but no longer than the grace period, after
        which `_check_reachable` stops the stage."""
        grace = self.config.retry.unreachable_grace_s
        while True:
            now = time.monotonic()
            if endpoint.is_up(now):
                return endpoint
            self._check_reachable(role, now)
            since = [e.refusing_since for e in self.role_endpoints(role) if e.refusing_since is not None]
            grace_ends = max(since) + grace if since else endpoint.down_until
            await anyio.sleep(max(0.0, min(endpoint.down_until, grace_ends) - now) + 1e-3)
            endpoint = self.choose(role)

    async def _call(self, role: str, kind: str, request: ChatRequest | CompletionRequest) -> LLMResult:
        role_stats = self.stats.role(role)
        self.role_endpoints(role)  # fail fast on an unmapped role
        key = None
        if self._use_cache(request):
            # The payload is dialect-independent for caching purposes: use the first endpoint's dialect.
            first = self.role_endpoints(role)[0]
            payload = self._payload(kind, request, first)
            payload.pop("model", None)
            key = request_key(kind, self.model_identity(role), payload, request.cache_salt)
            cached = self.cache.get(key)  # type: ignore[union-attr]
            if cached is not None:
                role_stats.cache_hits += 1
                role_stats.succeeded += 1
                result = self._parse(kind, cached, endpoint=cached.get("_endpoint", "cache"), latency_s=0.0, request=request)
                result.cached = True
                return result
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientLLMError),
            sleep=anyio.sleep,
            reraise=True,
        )
        attempts = 0
        try:
            result = await retrying(self._attempt, role=role, kind=kind, request=request)
            attempts = retrying.statistics.get("attempt_number", 1)
        except TransientLLMError as error:
            attempts = retrying.statistics.get("attempt_number", self.config.retry.max_attempts)
            role_stats.retries += max(0, attempts - 1)
            role_stats.failed += 1
            raise RetriesExhausted(f"role {role!r}: gave up after {attempts} attempts: {error}", attempts=attempts, last=error) from error
        except LLMError:
            role_stats.failed += 1
            raise
        role_stats.retries += max(0, attempts - 1)
        role_stats.succeeded += 1
        role_stats.prompt_tokens += result.usage.prompt_tokens
        role_stats.completion_tokens += result.usage.completion_tokens
        role_stats.latency.add(result.latency_s)
        if key is not None and self.cache is not None:
            body = dict(result.raw or {})
            body["_endpoint"] = result.endpoint
            self.cache.put(key, body)
        return result

    def _payload(self, kind: str, request: Any, endpoint: Endpoint) -> dict[str, Any]:
        if kind == "chat":
            return chat_payload(request, endpoint.model, endpoint.dialect)
        return completion_payload(request, endpoint.model, endpoint.dialect)

    def _parse(self, kind: str, body: dict[str, Any], *, endpoint: str, latency_s: float, request: Any) -> LLMResult:
        model = str(body.get("model", ""))
        if kind == "chat":
            dialect = self.endpoints[endpoint].dialect if endpoint in self.endpoints else "vllm"
            return parse_chat(body, endpoint=endpoint, model=model, latency_s=latency_s, structured=request.structured, dialect=dialect)
        return parse_completion(body, endpoint=endpoint, model=model, latency_s=latency_s)

    async def _attempt(self, *, role: str, kind: str, request: Any) -> LLMResult:
        endpoint = self.choose(role)
        if not endpoint.is_up(time.monotonic()):
            endpoint = await self._wait_for_cooldown(role, endpoint)
        stats = self.stats.endpoint(endpoint.name)
        payload = self._payload(kind, request, endpoint)
        path = "/chat/completions" if kind == "chat" else "/completions"
        endpoint.in_flight += 1
        started = time.monotonic()
        stats.requests += 1
        self.stats.role(role).requests += 1
        try:
            body = await endpoint.post(path, payload)
            result = self._parse(kind, body, endpoint=endpoint.name, latency_s=time.monotonic() - started, request=request)
        except TransientLLMError as error:
            stats.failed += 1
            if error.connection_failed:
                endpoint.mark_down(self.config.retry.endpoint_down_cooldown_s)
                self._check_reachable(role, time.monotonic())
            raise
        except LLMError:
            stats.failed += 1
            raise
        finally:
            endpoint.in_flight -= 1
        endpoint.mark_up()
        stats.succeeded += 1
        stats.prompt_tokens += result.usage.prompt_tokens
        stats.completion_tokens += result.usage.completion_tokens
        stats.latency.add(result.latency_s)
        return result
