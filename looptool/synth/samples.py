"""Verified dialogs -> step samples (paper §3.4): one sample per assistant step.

A tool-call step gives (tools, conversation before the step, reference calls). With
`include_text_steps`, an assistant text reply right after a user turn (asking for a missing
argument, or answering without tools) gives a text sample: the policy must not call there. Both
kinds passed the same verification (looptool.synth.verify: rules, the plan check, the judge), and
each sample records what its step was expected to be ("call", "ask", "no_tool"), which EDDE needs
to grow variants of the same kind.
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
    judged = {step["index"]: step for step in verdict.get("steps", []) if "index" in step}
    expected = {step["message_index"]: step.get("expects") for step in record.get("steps", [])}
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or index == 0:
            continue
        calls = message.get("tool_calls") or []
        if not calls and not (settings.include_text_steps and messages[index - 1]["role"] == "user"):
            continue
        verdicts: dict[str, Any] = {"rule": "pass", "expects": expected.get(index) or ("call" if calls else "text")}
        if index in judged:
            verdicts["judge"] = {"verdict": judged[index]["verdict"], "reason": judged[index]["reason"]}
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
