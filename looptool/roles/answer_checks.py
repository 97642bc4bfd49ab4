"""Checks of a structured answer beyond its JSON schema, one per schema name (looptool.roles.caller
runs them after the schema check).

A judge answer that contradicts itself is not a verdict: the quickstart's 135M judge passed 16 of
16 dialogs, most as {"verdict": "pass", "reason": "fail"}. Such an answer fails validation here
like a schema violation (reason code `self_contradiction`), so the role caller asks again
(bounded, counted as invalid_answer_retries) and, if every answer contradicts itself, the caller
treats it as unusable: judge:unusable in verification, "the label stands" in JGLV, never a pass.

The checks read polarity from fixed word lists, so they are conservative: an answer is refused only
when its text argues the opposite of its verdict and nothing in it argues for the verdict
("The call is correct but the date is wrong" with "fail" is consistent). Negations close before a
cue ("no argument is missing", "nothing is invented") cancel it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_WORD = re.compile(r"[a-z']+")
NEGATORS = frozenset("no not nothing none never without nor neither isn't aren't wasn't doesn't don't didn't cannot can't".split())
FILLER = frozenset("the a an this that step answer call calls function verdict it is are was be reply response result overall".split())
FAIL_WORDS = frozenset("fail failed fails failure failing incorrect wrong invalid false no bad error reject rejected".split())
PASS_WORDS = frozenset("pass passed passes correct correctly right valid true yes ok okay good fine accept accepted".split())
# Phrases that argue a step is wrong / right, as word sequences.
FAIL_CUES = tuple(
    tuple(p.split())
    for p in (
        "fail",
        "fails",
        "failed",
        "incorrect",
        "incorrectly",
        "wrong",
        "invalid",
        "not correct",
        "not right",
        "not valid",
        "is missing",
        "are missing",
        "missing required",
        "missing argument",
        "missing parameter",
        "not provided",
        "never provided",
        "not given",
        "not mentioned",
        "not stated",
        "not specified",
        "not in the conversation",
        "invented",
        "made up",
        "hallucinated",
        "does not match",
        "doesn't match",
        "should have asked",
        "should ask",
        "should not",
        "shouldn't",
        "instead of",
        "mismatch",
        "not needed",
        "unnecessary",
        "does not fit",
        "doesn't fit",
        "not appropriate",
        "inappropriate",
    )
)
PASS_CUES = tuple(
    tuple(p.split())
    for p in (
        "pass",
        "passes",
        "passed",
        "correct",
        "correctly",
        "right",
        "valid",
        "matches",
        "accurate",
        "appropriate",
        "fits",
        "does what",
        "comes from",
        "come from",
        "taken from",
        "all required",
        "no issues",
        "no problems",
        "nothing wrong",
        "looks good",
        "is fine",
        "well formed",
        "properly",
    )
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _cue_hits(words: list[str], cues: tuple[tuple[str, ...], ...], window: int = 4) -> int:
    """Occurrences of any cue phrase with no negator among the `window` words before it."""
    hits = 0
    for start in range(len(words)):
        for cue in cues:
            if tuple(words[start : start + len(cue)]) != cue:
                continue
            if not any(w in NEGATORS for w in words[max(0, start - window) : start]):
                hits += 1
            break
    return hits


def polarity(text: str) -> tuple[int, int]:
    """(fail cues, pass cues) a free-text reason holds. A bare verdict word ("fail", "Correct.")
    counts as a cue of its side."""
    words = _words(text)
    content = [w for w in words if w not in FILLER]
    if content and all(w in FAIL_WORDS for w in content):
        return 1, 0
    if content and all(w in PASS_WORDS for w in content):
        return 0, 1
    return _cue_hits(words, FAIL_CUES), _cue_hits(words, PASS_CUES)


def step_verdict_contradiction(value: dict[str, Any]) -> str | None:
    fails, passes = polarity(str(value.get("reason", "")))
    if value.get("verdict") == "pass" and fails and not passes:
        return f"verdict pass with a reason that argues a failure: {str(value.get('reason'))[:80]!r}"
    if value.get("verdict") == "fail" and passes and not fails:
        return f"verdict fail with a reason that argues a pass: {str(value.get('reason'))[:80]!r}"
    return None


# "answer A", or a bare capital A/B used as a name ("B is wrong", "A correctly uses"), never the
# article ("A correct approach ...").
_LETTER = re.compile(
    r"\b(?:[Aa]nswer|[Rr]esponse|[Oo]ption)\s+([AB])\b|\b([AB])(?=\s+(?:is|was|are|correctly|incorrectly|fails|passes|uses|calls|"
    r"has|gives|provides|selects|picks|makes|misses|omits|does|gets|answers)\b|'s\b)"
)
_CLAIM_WORDS = {
    **{w: True for w in ("correct", "correctly", "right", "accurate", "valid", "appropriate", "better", "best")},
    **{
        w: False
        for w in ("wrong", "incorrect", "incorrectly", "invalid", "inaccurate", "inappropriate", "fails", "mistaken", "worse", "flawed")
    },
}
_BOTH = re.compile(r"\bboth\b(?:\s+\w+){0,3}?\s+(correct|right|valid|wrong|incorrect|invalid)\b", re.IGNORECASE)
_NEITHER = re.compile(r"\bneither\b(?:\s+\w+){0,3}?\s+(correct|right|valid|wrong|incorrect|invalid)\b", re.IGNORECASE)
VERDICT_FLAGS = {
    "A_CORRECT_B_WRONG": (True, False),
    "B_CORRECT_A_WRONG": (False, True),
    "BOTH_CORRECT": (True, True),
    "BOTH_WRONG": (False, False),
}


def analysis_claims(text: str) -> dict[str, set[bool]]:
    """What an analysis says of each answer: {"A": {True}, "B": {False}} for "A is correct, B is
    wrong". A claim is the first polarity word within six words after a letter, flipped by a
    negation before it; "both ..." and "neither ..." claim for both."""
    claims: dict[str, set[bool]] = {"A": set(), "B": set()}
    for match in _LETTER.finditer(text):
        following = _words(text[match.end() : match.end() + 80])[:6]
        negated = False
        for word in following:
            if word in ("a", "b") or word in ("but", "while", "whereas", "although"):
                break
            if word in NEGATORS:
                negated = True
                continue
            if word in _CLAIM_WORDS:
                claims[match.group(1) or match.group(2)].add(_CLAIM_WORDS[word] != negated)
                break
    for pattern, flip in ((_BOTH, False), (_NEITHER, True)):
        for match in pattern.finditer(text):
            if any(w in NEGATORS for w in _words(match.group(0))[1:]):
                continue  # "both are not correct", "neither is not ...": too tangled to read
            good = match.group(1).lower() in ("correct", "right", "valid")
            for letter in ("A", "B"):
                claims[letter].add(good != flip)
    return claims


def label_verdict_contradiction(value: dict[str, Any]) -> str | None:
    expected = VERDICT_FLAGS.get(str(value.get("verdict")))
    if expected is None:
        return None
    claims = analysis_claims(str(value.get("analysis", "")))
    for letter, wanted in zip(("A", "B"), expected):
        said = claims[letter]
        if len(said) == 1 and next(iter(said)) != wanted:
            word = "correct" if wanted else "wrong"
            return f"verdict {value.get('verdict')} calls answer {letter} {word}, the analysis says the opposite"
    return None


CHECKS: dict[str, Callable[[Any], str | None]] = {
    "step_verdict": step_verdict_contradiction,
    "label_verdict": label_verdict_contradiction,
}


def answer_problem(schema_name: str, value: Any) -> str | None:
    """Why a schema-valid answer cannot be used (it contradicts itself), or None."""
    check = CHECKS.get(schema_name)
    return check(value) if check is not None and isinstance(value, dict) else None
