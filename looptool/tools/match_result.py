"""What a match decides, and the assignment both match modes use: shared by tools/match.py
(reward mode) and tools/bfcl_match.py (BFCL mode), so neither imports the other's internals."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MatchResult:
    """The decision plus why: `reasons` are "code: detail" strings (codes are stable)."""

    matched: bool
    reasons: list[str]

    @property
    def codes(self) -> list[str]:
        return [reason.split(":", 1)[0] for reason in self.reasons]

    def __bool__(self) -> bool:
        return self.matched


def max_assignment(compatible: list[list[int]], n_right: int) -> list[int]:
    """Maximum bipartite matching (Kuhn's augmenting paths); returns right index -> left or -1.

    Call lists are short, so O(V*E) is plenty and keeps the code obvious.
    """
    owner = [-1] * n_right

    def augment(left: int, seen: list[bool]) -> bool:
        for right in compatible[left]:
            if not seen[right]:
                seen[right] = True
                if owner[right] == -1 or augment(owner[right], seen):
                    owner[right] = left
                    return True
        return False

    for left in range(len(compatible)):
        augment(left, [False] * n_right)
    return owner
