"""Dialog-structure checks: the shape of a conversation, whatever its content.

EDDE with a 135M generator kept samples with six empty user messages, two user turns in a row
and a riddle for user turns; JGLV replaced a sensible label with looping prose. None of that
needs a judge to see. Each check here looks at the messages only and names what it found:

  rule:empty_turn                a user or assistant turn with no word in it (whitespace, "," or
                                 the simulator's "(no answer)"), an assistant turn with neither text
                                 nor calls
  rule:consecutive_user_turns    two user turns in a row (the engine's format alternates; allow
                                 with synth.verify.structure.allow_consecutive_user_turns)
  rule:assistant_repeats_itself  an assistant text that loops: a sentence said twice, or most of
                                 its word 4-grams repeats of each other
  rule:mixed_language            confidently identified turns in different languages (py3langid)
  rule:turn_too_long             a user/assistant text or a tool result over its length bound
  rule:conversation_too_long     more messages than the bound

Tool results without their call are checked with the calls themselves (looptool.synth.verify,
rule:tool_result_without_call). Bounds and switches: StructureSettings.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from looptool.synth import normalise as norm

NO_ANSWER = "(no answer)"  # what the dialog simulator writes for an empty assistant text
CODES = (
    "rule:empty_turn",
    "rule:consecutive_user_turns",
    "rule:assistant_repeats_itself",
    "rule:mixed_language",
    "rule:turn_too_long",
    "rule:conversation_too_long",
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str
    index: int | None


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def is_empty_text(text: str) -> bool:
    stripped = text.strip()
    return not norm.words(stripped) or stripped == NO_ANSWER


def empty_turns(messages: list[dict[str, Any]]) -> Iterator[Problem]:
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "user" and is_empty_text(text_of(message)):
            yield Problem("rule:empty_turn", f"user turn {index} says nothing ({text_of(message)[:20]!r})", index)
        elif role == "assistant" and not message.get("tool_calls") and is_empty_text(text_of(message)):
            yield Problem("rule:empty_turn", f"assistant turn {index} has neither text nor calls ({text_of(message)[:20]!r})", index)


def consecutive_user_turns(messages: list[dict[str, Any]]) -> Iterator[Problem]:
    for index in range(1, len(messages)):
        if messages[index].get("role") == "user" and messages[index - 1].get("role") == "user":
            yield Problem(
                "rule:consecutive_user_turns", f"user turns {index - 1} and {index} follow each other with no answer between", index
            )


def repeats_itself(text: str, min_words: int, max_repeated_share: float) -> str | None:
    """Why a text loops, or None: a sentence of 4+ words said twice, or (in a text of min_words
    words or more) a share of repeated word 4-grams above max_repeated_share."""
    sentences = [" ".join(norm.words(s)) for s in _SENTENCE.split(text)]
    counts = Counter(s for s in sentences if len(s.split()) >= 4)
    repeated = [s for s, n in counts.items() if n > 1]
    if repeated:
        return f"says {repeated[0][:60]!r} {counts[repeated[0]]} times"
    found = norm.words(text)
    if len(found) < max(min_words, 4):
        return None
    grams = [tuple(found[i : i + 4]) for i in range(len(found) - 3)]
    share = 1 - len(set(grams)) / len(grams)
    if share > max_repeated_share:
        return f"{share:.0%} of its word 4-grams are repeats"
    return None


def repeating_assistant(messages: list[dict[str, Any]], min_words: int, max_repeated_share: float) -> Iterator[Problem]:
    for index, message in enumerate(messages):
        if message.get("role") == "assistant":
            why = repeats_itself(text_of(message), min_words, max_repeated_share)
            if why:
                yield Problem("rule:assistant_repeats_itself", f"assistant turn {index} repeats itself: {why}", index)


@functools.lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@functools.lru_cache(maxsize=8192)
def language_of(text: str, min_letters: int, min_confidence: float) -> str | None:
    """The language of a text when it is long enough and the identifier is confident, else None."""
    if sum(1 for char in text if char.isalpha()) < min_letters:
        return None
    language, confidence = _identifier().classify(text)
    return str(language) if confidence >= min_confidence else None


def mixed_language(messages: list[dict[str, Any]], min_letters: int, min_confidence: float) -> Iterator[Problem]:
    """Turns (user and assistant text) confidently in a language other than the first such turn's."""
    first: tuple[int, str] | None = None
    for index, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            continue
        language = language_of(text_of(message), min_letters, min_confidence)
        if language is None:
            continue
        if first is None:
            first = (index, language)
        elif language != first[1]:
            yield Problem("rule:mixed_language", f"turn {index} is in {language!r}, turn {first[0]} in {first[1]!r}", index)
            return


def lengths(messages: list[dict[str, Any]], max_turn_chars: int, max_tool_result_chars: int, max_messages: int) -> Iterator[Problem]:
    if len(messages) > max_messages:
        yield Problem("rule:conversation_too_long", f"{len(messages)} messages, more than {max_messages}", None)
    for index, message in enumerate(messages):
        limit = max_tool_result_chars if message.get("role") == "tool" else max_turn_chars
        size = len(text_of(message))
        if size > limit:
            yield Problem("rule:turn_too_long", f"{message.get('role')} turn {index} has {size} characters, more than {limit}", index)
