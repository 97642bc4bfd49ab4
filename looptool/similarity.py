"""Exact token-set Jaccard search over many items, used for every near-duplicate check.

Prefix filtering: two sets with Jaccard >= t share a token among the first |x| - ceil(t*|x|) + 1
tokens of each under any fixed global order, so only items sharing such a prefix token are
compared. Exact (unlike MinHash), and fast for tens of thousands of items.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from typing import Any

WORD = re.compile(r"[a-z0-9]+")


def answer_tokens(messages: list[dict[str, Any]], calls: list[dict[str, Any]], text: str | None) -> frozenset[str]:
    """What makes two samples the same: what the users asked, and the answer (calls with their
    arguments, or the reply's words for a text answer)."""
    words: list[str] = []
    for message in messages:
        if message.get("role") == "user":
            words += WORD.findall(str(message.get("content", "")).lower())
    for call in calls:
        words.append(f"call:{call.get('name')}")
        words += WORD.findall(json.dumps(call.get("arguments"), sort_keys=True).lower())
    if not calls:
        words += ["reply:" + w for w in WORD.findall((text or "").lower())]
    return frozenset(words)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _token_rank(token: str) -> tuple[int, str]:
    # A fixed global order (stable across processes, unlike hash()) is all prefix filtering needs.
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big"), token


class JaccardIndex:
    def __init__(self, threshold: float) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._tokens: list[frozenset[str]] = []
        self._labels: list[str] = []
        self._postings: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self._labels)

    def _prefix(self, tokens: frozenset[str]) -> list[str]:
        ordered = sorted(tokens, key=_token_rank)
        keep = len(ordered) - math.ceil(self.threshold * len(ordered) - 1e-9) + 1
        return ordered[:keep]

    def add(self, label: str, tokens: Iterable[str]) -> None:
        tokens = frozenset(tokens)
        entry = len(self._labels)
        self._labels.append(label)
        self._tokens.append(tokens)
        for token in self._prefix(tokens):
            self._postings.setdefault(token, []).append(entry)

    def most_similar(self, tokens: Iterable[str]) -> tuple[str, float] | None:
        """The most similar stored item at or above the threshold, as (label, Jaccard)."""
        tokens = frozenset(tokens)
        if not tokens:
            return None
        size = len(tokens)
        best: tuple[str, float] | None = None
        seen: set[int] = set()
        for token in self._prefix(tokens):
            for entry in self._postings.get(token, ()):
                if entry in seen:
                    continue
                seen.add(entry)
                other = self._tokens[entry]
                # Length filter: Jaccard >= t needs t*|x| <= |y| <= |x|/t.
                if len(other) < self.threshold * size - 1e-9 or self.threshold * len(other) > size + 1e-9:
                    continue
                score = jaccard(tokens, other)
                if score >= self.threshold - 1e-12 and (best is None or score > best[1]):
                    best = (self._labels[entry], score)
        return best
