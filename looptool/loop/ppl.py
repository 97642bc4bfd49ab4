"""Perplexity of a policy's own answer and the high-perplexity selection of GCP (pure: no client),
so the experiment worker inside a runtime env applies exactly the loop's rule."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from looptool.loop.config import ProbeSettings


def perplexity(logprobs: Iterable[float]) -> float | None:
    values = [v for v in logprobs if v is not None and not math.isnan(v)]
    if not values:
        return None
    return math.exp(-sum(values) / len(values))


def high_ppl_ids(results: list[dict[str, Any]], settings: ProbeSettings) -> tuple[set[str], float | None]:
    """Mastered samples the policy solved with high perplexity, and the cutoff used."""
    mastered = sorted((r for r in results if r["matched"] and r.get("ppl") is not None), key=lambda r: r["ppl"], reverse=True)
    if not mastered:
        return set(), None
    if settings.high_ppl_rule == "threshold":
        cutoff = settings.high_ppl_threshold
        return {r["id"] for r in mastered if r["ppl"] >= cutoff}, cutoff
    count = max(1, round(len(mastered) * settings.high_ppl_fraction))
    chosen = mastered[:count]
    return {r["id"] for r in chosen}, chosen[-1]["ppl"]
