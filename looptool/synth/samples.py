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
from pathlib import Path
from typing import Any

import anyio

from looptool.config.load import LoadedConfig
from looptool.paths import runtime_python
from looptool.samples import Provenance, StepSample
from looptool.stages import Stage, StageContext, StageOutcome
from looptool.store import atomic_write_json, iter_jsonl, read_json
from looptool.store.atomic import atomic_write_lines
from looptool.synth import keys
from looptool.synth.config import SampleSettings

STAGE = keys.SAMPLES


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
        if verdict.get("flags"):
            verdicts["flags"] = verdict["flags"]
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


def resolve_model_dir(loaded: LoadedConfig) -> Path | None:
    """The policy's initial model directory if it exists with a tokenizer (built-in names are not
    built here: prompt lengths are then measured by the trainer's own pre-flight)."""
    name = loaded.config.policy.init_model
    if name in ("smollm2", "tiny"):
        from looptool.models import model_dir

        path = model_dir(name)
    else:
        path = loaded.resolve_path(name)
    has_tokenizer = (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file()
    return path if (path / "config.json").is_file() and has_tokenizer else None


class SamplesStage(Stage):
    """Seed stage 5: step samples from every verified, non-duplicate dialog, as JSONL and as the
    trainer's parquet (prompt lengths measured with the policy's tokenizer when it is built)."""

    key, title = STAGE, "step samples"
    skip_message = "{key}: finished earlier ({finished_at}), skipped"

    def __init__(self, loaded: LoadedConfig) -> None:
        self.loaded = loaded
        self.settings = loaded.config.synth.samples

    async def run(self, ctx: StageContext) -> StageOutcome:
        return StageOutcome(counts=await anyio.to_thread.run_sync(self.export, ctx))

    def export(self, ctx: StageContext) -> dict[str, Any]:
        from looptool.train.parquet import write_verl_parquet

        store, settings = ctx.store, self.settings
        records = {r["id"]: r for r in iter_jsonl(store.path(keys.DIALOGS, "dialogs.jsonl"))}
        duplicates = read_json(store.path(keys.VERIFY, "duplicates.json"), default={})
        collected: list[StepSample] = []
        for verdict in iter_jsonl(store.path(keys.VERIFY, "verdicts.jsonl")):
            if verdict.get("passed") and verdict["id"] not in duplicates:
                collected.extend(dialog_samples(records[verdict["id"]], verdict, settings))
        collected.sort(key=lambda s: s.id)
        atomic_write_lines(store.path(STAGE, "samples.jsonl"), (sample.model_dump_json() + "\n" for sample in collected))
        model = resolve_model_dir(self.loaded)
        counter_python = runtime_python(self.loaded.config.policy.tokenizer_runtime)
        parquet_path = store.path(STAGE, "train.parquet")
        counts: dict[str, Any] = {
            "samples": len(collected),
            "call_samples": sum(1 for s in collected if s.label_calls),
            "text_samples": sum(1 for s in collected if not s.label_calls),
            "parallel_call_samples": sum(1 for s in collected if len(s.label_calls) > 1),
        }
        if model is not None and counter_python.exists():
            from looptool.train.tokencount import RuntimeTokenCounter

            with RuntimeTokenCounter(counter_python, model) as count:
                report = write_verl_parquet(
                    collected, parquet_path, settings.data_source, max_prompt_tokens=settings.max_prompt_tokens, count_tokens=count
                )
            counts["overlong_filtered"] = len(report.filtered)
            counts["max_prompt_tokens"] = report.max_prompt_tokens_seen
            atomic_write_json(store.path(STAGE, "overlong.json"), [{"id": f.id, "prompt_tokens": f.prompt_tokens} for f in report.filtered])
        else:
            report = write_verl_parquet(collected, parquet_path, settings.data_source)
            counts["prompt_lengths"] = "not measured (policy tokenizer not built yet)"
        counts["parquet_rows"] = report.rows
        return counts
