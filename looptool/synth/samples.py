"""Verified dialogs -> step samples (paper §3.4): one sample per assistant step.

A tool-call step gives (tools, conversation before the step, reference calls). With
`include_text_steps`, an assistant text reply right after a user turn (asking for a missing
argument, or answering without tools) gives a text sample: the policy must not call there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from looptool.samples import Provenance, StepSample
from looptool.synth.config import SampleSettings


def _context(messages: list[dict[str, Any]], end: int, limit: int | None) -> list[dict[str, Any]]:
    context = messages[:end]
    if limit is None or len(context) <= limit:
        return context
    start = len(context) - limit
    # Never start on a tool result or an assistant turn: the context opens with a user turn.
    while start < len(context) and context[start]["role"] != "user":
        start += 1
    return context[start:]


def dialog_samples(record: dict[str, Any], verdict: dict[str, Any], settings: SampleSettings) -> Iterator[StepSample]:
    messages = record["messages"]
    judge = verdict.get("steps", [])
    step_numbers = {step["message_index"]: number for number, step in enumerate(record.get("steps", []))}
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or index == 0:
            continue
        calls = message.get("tool_calls") or []
        if not calls and not (settings.include_text_steps and messages[index - 1]["role"] == "user"):
            continue
        number = step_numbers.get(index)
        verdicts: dict[str, Any] = {"rule": "pass"}
        if number is not None and number < len(judge):
            verdicts["judge"] = judge[number].get("judge")
        yield StepSample(
            id=f"{record['id']}-m{index:03d}",
            tools=record["tools"],
            messages=_context(messages, index, settings.max_history_messages),
            label_calls=calls,
            label_text=None if calls else message.get("content", ""),
            current_time=record["current_time"],
            domain=record.get("domain"),
            provenance=Provenance(origin="seed", iteration=0, dialog_id=record["id"], verdicts=verdicts),
        )
