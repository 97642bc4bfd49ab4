"""Client counters: requests, failures, retries, cache hits, tokens, latency percentiles, rate.

Latencies go into a fixed log-bucket histogram, not a list, so memory stays constant however many
requests a stage makes, and two snapshots can be subtracted to get one stage's figures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

_MIN_S = 1e-4
_RATIO = 1.08
_BUCKETS = 260  # covers 0.1 ms .. ~ 5e4 s


def _bucket(seconds: float) -> int:
    if seconds <= _MIN_S:
        return 0
    return min(_BUCKETS - 1, int(math.log(seconds / _MIN_S, _RATIO)) + 1)


def _bucket_upper(index: int) -> float:
    return _MIN_S * (_RATIO**index)


@dataclass
class LatencyHistogram:
    counts: list[int] = field(default_factory=lambda: [0] * _BUCKETS)
    total: int = 0
    sum_s: float = 0.0

    def add(self, seconds: float) -> None:
        self.counts[_bucket(seconds)] += 1
        self.total += 1
        self.sum_s += seconds

    def percentile(self, q: float) -> float | None:
        """Upper edge of the bucket holding the q-quantile: within 8 % of the true value."""
        if self.total == 0:
            return None
        rank = max(1, math.ceil(q * self.total))
        running = 0
        for index, count in enumerate(self.counts):
            running += count
            if running >= rank:
                return _bucket_upper(index)
        return _bucket_upper(_BUCKETS - 1)

    def minus(self, other: LatencyHistogram) -> LatencyHistogram:
        return LatencyHistogram(
            counts=[a - b for a, b in zip(self.counts, other.counts)],
            total=self.total - other.total,
            sum_s=self.sum_s - other.sum_s,
        )

    def copy(self) -> LatencyHistogram:
        return LatencyHistogram(counts=list(self.counts), total=self.total, sum_s=self.sum_s)


_COUNTERS = ("requests", "succeeded", "failed", "retries", "cache_hits", "prompt_tokens", "completion_tokens", "invalid_answer_retries")


@dataclass
class EndpointStats:
    requests: int = 0  # attempts sent on the wire (retries included)
    succeeded: int = 0  # calls that returned a result (cache hits included)
    failed: int = 0  # calls that ended in an error after all attempts
    retries: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    invalid_answer_retries: int = 0  # answers that did not parse/validate and were asked again
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def copy(self) -> EndpointStats:
        clone = EndpointStats(**{name: getattr(self, name) for name in _COUNTERS})
        clone.latency = self.latency.copy()
        return clone

    def minus(self, other: EndpointStats) -> EndpointStats:
        diff = EndpointStats(**{name: getattr(self, name) - getattr(other, name) for name in _COUNTERS})
        diff.latency = self.latency.minus(other.latency)
        return diff


class ClientStats:
    """Counters per endpoint and per role; `window()` gives one stage's share."""

    def __init__(self) -> None:
        self.by_endpoint: dict[str, EndpointStats] = {}
        self.by_role: dict[str, EndpointStats] = {}
        self.started = time.monotonic()

    def _get(self, table: dict[str, EndpointStats], key: str) -> EndpointStats:
        stats = table.get(key)
        if stats is None:
            stats = table[key] = EndpointStats()
        return stats

    def endpoint(self, name: str) -> EndpointStats:
        return self._get(self.by_endpoint, name)

    def role(self, name: str) -> EndpointStats:
        return self._get(self.by_role, name)

    def window(self) -> StatsWindow:
        return StatsWindow(self)


class StatsWindow:
    """A snapshot taken at a stage's start; `report()` gives the counters since then."""

    def __init__(self, stats: ClientStats) -> None:
        self._stats = stats
        self._started = time.monotonic()
        self._endpoints = {k: v.copy() for k, v in stats.by_endpoint.items()}
        self._roles = {k: v.copy() for k, v in stats.by_role.items()}

    def report(self) -> dict[str, Any]:
        elapsed = max(1e-9, time.monotonic() - self._started)

        def rows(current: dict[str, EndpointStats], base: dict[str, EndpointStats]) -> dict[str, Any]:
            out = {}
            for key, value in current.items():
                diff = value.minus(base.get(key, EndpointStats()))
                if diff.requests or diff.succeeded or diff.failed or diff.invalid_answer_retries:
                    out[key] = summarize(diff, elapsed)
            return out

        endpoints = rows(self._stats.by_endpoint, self._endpoints)
        roles = rows(self._stats.by_role, self._roles)
        total = EndpointStats()
        for key, value in self._stats.by_role.items():
            diff = value.minus(self._roles.get(key, EndpointStats()))
            for name in _COUNTERS:
                setattr(total, name, getattr(total, name) + getattr(diff, name))
            total.latency = LatencyHistogram(
                counts=[a + b for a, b in zip(total.latency.counts, diff.latency.counts)],
                total=total.latency.total + diff.latency.total,
                sum_s=total.latency.sum_s + diff.latency.sum_s,
            )
        return {"elapsed_s": round(elapsed, 3), "total": summarize(total, elapsed), "roles": roles, "endpoints": endpoints}


def summarize(stats: EndpointStats, elapsed_s: float) -> dict[str, Any]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "requests": stats.requests,
        "succeeded": stats.succeeded,
        "failed": stats.failed,
        "retries": stats.retries,
        "cache_hits": stats.cache_hits,
        "invalid_answer_retries": stats.invalid_answer_retries,
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "latency_ms_p50": ms(stats.latency.percentile(0.50)),
        "latency_ms_p90": ms(stats.latency.percentile(0.90)),
        "latency_ms_p99": ms(stats.latency.percentile(0.99)),
        "requests_per_s": round(stats.succeeded / elapsed_s, 2) if elapsed_s > 0 else None,
    }
