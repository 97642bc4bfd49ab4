"""The supervised warm start's dataset: GRPO's prompt, and the label as the policy must answer it.

Why the target is rendered here and nowhere else: SFT only helps GRPO if it teaches exactly the
text the reward parses (`<tool_call>{json}</tool_call>` blocks, or plain text for a text answer)
after exactly the prompt GRPO samples from. So the prompt is `sample_to_row`'s (the GRPO parquet
rendering) and the answer is `render_calls_text` (the one renderer of calls); a test checks that
every target scores 1.0 under the GRPO reward.

One parquet serves both trainers:
  id          str
  prompt      list<{role, content}>   the GRPO prompt (TRL: prompt-completion format)
  completion  list<{role, content}>   one assistant message: the target
  messages    list<{role, content}>   prompt + completion (verl's MultiTurnSFTDataset `messages_key`)
Loss is on the completion only: TRL's `completion_only_loss`, verl's assistant-turn loss mask.

Lengths are measured with the policy tokenizer (tokencount worker): a sequence longer than the
SFT `max_length` is dropped and reported, never truncated (a cut answer teaches a broken call);
an answer longer than GRPO's `max_response_length` is reported, since GRPO rollouts of that
sample are cut before the answer can end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from looptool.samples import StepSample
from looptool.train.parquet import Messages, sample_to_row

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SFT_SCHEMA = pa.schema([("id", pa.string()), ("prompt", _MESSAGES), ("completion", _MESSAGES), ("messages", _MESSAGES)])

FullCounter = Callable[[Sequence[Messages]], list[int]]


@dataclass(frozen=True)
class SFTExample:
    """One supervised example: the GRPO prompt and the answer text the policy should produce."""

    id: str
    prompt: Messages
    target: str


@dataclass
class SFTDataReport:
    """What went into the SFT parquet, and what was left out and why."""

    path: Path
    rows: int = 0
    call_rows: int = 0
    text_rows: int = 0
    no_target: list[str] = field(default_factory=list)
    overlong: list[tuple[str, int]] = field(default_factory=list)
    answer_over_response_limit: list[tuple[str, int]] = field(default_factory=list)
    longest_sequence: int | None = None
    longest_answer: int | None = None

    def summary(self) -> str:
        parts = [f"{self.rows} rows ({self.call_rows} tool-call, {self.text_rows} text answers)"]
        if self.longest_sequence is not None:
            parts.append(f"longest sequence {self.longest_sequence} tokens, longest answer {self.longest_answer}")
        if self.overlong:
            parts.append(f"{len(self.overlong)} longer than max_length dropped")
        if self.no_target:
            parts.append(f"{len(self.no_target)} without a reference answer skipped")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "rows": self.rows,
            "call_rows": self.call_rows,
            "text_rows": self.text_rows,
            "no_target": self.no_target,
            "overlong": [{"id": i, "tokens": n} for i, n in self.overlong],
            "answer_over_response_limit": [{"id": i, "tokens": n} for i, n in self.answer_over_response_limit],
            "longest_sequence": self.longest_sequence,
            "longest_answer": self.longest_answer,
        }


def sft_target(sample: StepSample) -> str | None:
    """The reference answer exactly as the policy must write it; None when the sample has none."""
    from looptool.tools.render import render_calls_text

    if sample.label_calls:
        return render_calls_text(sample.label_calls)
    text = (sample.label_text or "").strip()
    return text or None


def examples_from_samples(samples: Iterable[StepSample], skipped: list[str]) -> Iterator[SFTExample]:
    """SFT examples from StepSamples, prompts rendered as the GRPO parquet renders them."""
    for sample in samples:
        target = sft_target(sample)
        if target is None:
            skipped.append(sample.id)
            continue
        yield SFTExample(sample.id, sample_to_row(sample, 0, "looptool", "train")["prompt"], target)


def examples_from_parquet(path: Path, skipped: list[str]) -> Iterator[SFTExample]:
    """SFT examples from a parquet: an SFT parquet (`completion` column) or a GRPO parquet.

    A GRPO row holds its reference calls (`reward_model.ground_truth`) but not the text of a text
    answer, so such rows have no target and are skipped (listed in the report).
    """
    from looptool.tools.render import render_calls_text
    from looptool.tools.reward import expected_calls

    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    if "prompt" not in names or not ({"completion", "reward_model"} & set(names)):
        raise ValueError(f"{path}: expected a 'prompt' column and a 'completion' or 'reward_model' column, has {names}")
    number = 0
    for batch in file.iter_batches(batch_size=512):
        for row in batch.to_pylist():
            number += 1
            info = row.get("extra_info") or {}
            sample_id = str(row.get("id") or info.get("id") or f"row{number}")
            prompt = [{"role": m["role"], "content": m["content"]} for m in row["prompt"]]
            if "completion" in row:
                answer = [m for m in row["completion"] or [] if m.get("role") == "assistant"]
                target = answer[-1]["content"] if answer else ""
            else:
                try:
                    calls = expected_calls((row.get("reward_model") or {}).get("ground_truth", ""))
                except ValueError as exc:
                    raise ValueError(f"{path}: row {number} ({sample_id}): {exc}") from None
                target = render_calls_text(calls) if calls else ""
            if not target.strip():
                skipped.append(sample_id)
                continue
            yield SFTExample(sample_id, prompt, target)


def _answer(target: str) -> Messages:
    return [{"role": "assistant", "content": target}]


def write_sft_parquet(
    examples: Iterable[SFTExample],
    path: Path,
    *,
    max_length: int,
    max_answer_tokens: int | None = None,
    count_prompt: Callable[[Sequence[Messages]], list[int]] | None = None,
    count_full: FullCounter | None = None,
    skipped: Sequence[str] = (),
    batch_size: int = 256,
) -> SFTDataReport:
    """Write the examples atomically; drop (and report) sequences longer than `max_length`.

    Without counters nothing is measured or dropped (tests, or a caller that checked already).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    report = SFTDataReport(path=path)
    seen: set[str] = set()
    pending: list[SFTExample] = []
    try:
        with pq.ParquetWriter(tmp, SFT_SCHEMA) as writer:

            def flush() -> None:
                keep = list(pending)
                if count_full is not None and count_prompt is not None:
                    full = count_full([e.prompt + _answer(e.target) for e in pending])
                    prompt = count_prompt([e.prompt for e in pending])
                    if len(full) != len(pending) or len(prompt) != len(pending):
                        raise RuntimeError("token counter returned a wrong number of lengths")
                    keep = []
                    for example, total, prompt_n in zip(pending, full, prompt):
                        answer = max(0, total - prompt_n)
                        report.longest_sequence = max(report.longest_sequence or 0, total)
                        report.longest_answer = max(report.longest_answer or 0, answer)
                        if max_answer_tokens is not None and answer > max_answer_tokens:
                            report.answer_over_response_limit.append((example.id, answer))
                        if total > max_length:
                            report.overlong.append((example.id, total))
                        else:
                            keep.append(example)
                rows = []
                for example in keep:
                    completion = _answer(example.target)
                    rows.append(
                        {"id": example.id, "prompt": example.prompt, "completion": completion, "messages": example.prompt + completion}
                    )
                    report.rows += 1
                    if "<tool_call>" in example.target:
                        report.call_rows += 1
                    else:
                        report.text_rows += 1
                if rows:
                    writer.write_table(pa.Table.from_pylist(rows, schema=SFT_SCHEMA))
                pending.clear()

            for example in examples:
                if example.id in seen:
                    raise ValueError(f"duplicate sample id {example.id!r} in the SFT dataset")
                seen.add(example.id)
                pending.append(example)
                if len(pending) >= batch_size:
                    flush()
            if pending:
                flush()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    report.no_target = list(skipped)
    return report
