"""The iteration dataset as verl's RLHF parquet (also read unchanged by the TRL backend).

Row contract (DESIGN.md, notes/cpu_rl.md §0.2/§1a):
  data_source  str                      -> compute_score(data_source=...) and verl's reward_fn_key
  prompt       list<{role, content}>    -> the paper-format chat: tools rendered into the system
                                           message, because verl's single-turn agent loop applies
                                           the chat template with tools=None
  ability      "tool_call"              (convention only; verl never reads it)
  reward_model {style: "rule", ground_truth: JSON list of {"name","arguments"}; "[]" = text answer}
  extra_info   {index, id, tools (JSON string), split}

Why streamed and atomic: D_j can hold tens of thousands of long prompts, so rows are written in
row groups as they come, into a temporary file renamed into place only when complete; a killed
writer never leaves a half file that the trainer would read.

Why overlong prompts are filtered here and not by verl: verl drops them silently inside the
trainer (and left-truncation would cut the tool list out of the system prompt). We count tokens
with the policy's own tokenizer and chat template (`count_tokens`, see tokencount.py), drop
overlong rows and report their ids, so the run's stats say what was not trained on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from looptool.samples import StepSample

Messages = list[dict[str, str]]
TokenCounter = Callable[[Sequence[Messages]], list[int]]

PARQUET_SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        (
            "prompt",
            pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
        ),
        ("ability", pa.string()),
        (
            "reward_model",
            pa.struct([("style", pa.string()), ("ground_truth", pa.string())]),
        ),
        (
            "extra_info",
            pa.struct(
                [
                    ("index", pa.int64()),
                    ("id", pa.string()),
                    ("tools", pa.string()),
                    ("split", pa.string()),
                ]
            ),
        ),
    ]
)

REQUIRED_COLUMNS = ("data_source", "prompt", "reward_model", "extra_info")


@dataclass
class FilteredSample:
    """A sample left out of the parquet, and why (its prompt length in tokens)."""

    id: str
    prompt_tokens: int


@dataclass
class ParquetReport:
    """What went into the parquet: counts, the longest prompt, and every filtered sample."""

    path: Path
    rows: int = 0
    call_rows: int = 0
    text_rows: int = 0
    max_prompt_tokens_seen: int | None = None
    filtered: list[FilteredSample] = field(default_factory=list)

    def summary(self) -> str:
        longest = "" if self.max_prompt_tokens_seen is None else f", longest prompt {self.max_prompt_tokens_seen} tokens"
        return (
            f"{self.rows} rows ({self.call_rows} tool-call, {self.text_rows} text answers){longest}, {len(self.filtered)} overlong filtered"
        )


def sample_to_row(sample: StepSample, index: int, data_source: str, split: str) -> dict[str, Any]:
    """One parquet row in the DESIGN.md contract; labels stay structured until this edge."""
    from looptool.tools.render import render_paper_messages

    prompt = render_paper_messages(sample.tools, sample.messages, sample.current_time)
    for position, message in enumerate(prompt):
        if not isinstance(message.get("content"), str) or message.get("role") not in {
            "system",
            "user",
            "assistant",
        }:
            raise ValueError(
                f"sample {sample.id!r}: rendered prompt message {position} is not a {{role, content}} chat message: {message!r}"
            )
    calls = [{"name": c["name"], "arguments": c.get("arguments", {})} for c in sample.label_calls]
    return {
        "data_source": data_source,
        "prompt": [{"role": m["role"], "content": m["content"]} for m in prompt],
        "ability": "tool_call",
        "reward_model": {"style": "rule", "ground_truth": json.dumps(calls, ensure_ascii=False)},
        "extra_info": {
            "index": index,
            "id": sample.id,
            "tools": json.dumps(sample.tools, ensure_ascii=False),
            "split": split,
        },
    }


def write_verl_parquet(
    samples: Iterable[StepSample],
    path: Path,
    data_source: str = "looptool",
    *,
    split: str = "train",
    max_prompt_tokens: int | None = None,
    count_tokens: TokenCounter | None = None,
    row_group_size: int = 512,
) -> ParquetReport:
    """Stream `samples` into `path` atomically; drop (and report) prompts over the limit.

    `count_tokens` maps a batch of prompts to their token counts with the policy's chat template
    (the way verl's RLHFDataset measures them). Without it nothing can be measured, so asking for
    a limit without a counter is an error rather than a silent no-op.
    """
    if max_prompt_tokens is not None and count_tokens is None:
        raise ValueError("max_prompt_tokens needs count_tokens (the policy tokenizer) to measure prompts")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    report = ParquetReport(path=path)
    batch: list[tuple[StepSample, dict[str, Any]]] = []
    try:
        with pq.ParquetWriter(tmp, PARQUET_SCHEMA) as writer:

            def flush() -> None:
                rows = [row for _, row in batch]
                if count_tokens is not None:
                    lengths = count_tokens([row["prompt"] for row in rows])
                    if len(lengths) != len(rows):
                        raise RuntimeError(f"token counter returned {len(lengths)} lengths for {len(rows)} prompts")
                    kept = []
                    for (sample, row), n in zip(batch, lengths):
                        report.max_prompt_tokens_seen = max(report.max_prompt_tokens_seen or 0, n)
                        if max_prompt_tokens is not None and n > max_prompt_tokens:
                            report.filtered.append(FilteredSample(sample.id, n))
                        else:
                            kept.append(row)
                    rows = kept
                for row in rows:
                    row["extra_info"]["index"] = report.rows
                    report.rows += 1
                    if json.loads(row["reward_model"]["ground_truth"]):
                        report.call_rows += 1
                    else:
                        report.text_rows += 1
                if rows:
                    writer.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA))
                batch.clear()

            seen: set[str] = set()
            for sample in samples:
                if sample.id in seen:
                    raise ValueError(f"duplicate sample id {sample.id!r} in the dataset")
                seen.add(sample.id)
                batch.append((sample, sample_to_row(sample, 0, data_source, split)))
                if len(batch) >= row_group_size:
                    flush()
            if batch:
                flush()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return report


def parquet_problems(path: Path) -> list[str]:
    """Why `path` is not a usable verl parquet (empty list: it is). Reads only the footer."""
    path = Path(path)
    if not path.is_file():
        return [f"dataset {path}: file not found"]
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for non-parquet files
        return [f"dataset {path}: not a readable parquet file ({exc})"]
    problems = []
    for column in REQUIRED_COLUMNS:
        if column not in schema.names:
            problems.append(f"dataset {path}: column {column!r} missing (has {schema.names})")
    if "reward_model" in schema.names:
        rm = schema.field("reward_model").type
        if not pa.types.is_struct(rm) or rm.get_field_index("ground_truth") < 0:
            problems.append(f"dataset {path}: column 'reward_model' has no 'ground_truth' field")
    if "prompt" in schema.names and not pa.types.is_list(schema.field("prompt").type):
        problems.append(f"dataset {path}: column 'prompt' must be a list of chat messages")
    return problems


def count_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def iter_prompts(path: Path, batch_size: int = 512) -> Iterator[tuple[list[str], list[Messages]]]:
    """(ids, prompts) in batches, for measuring an existing parquet without loading it whole."""
    file = pq.ParquetFile(path)
    for record_batch in file.iter_batches(batch_size=batch_size, columns=["prompt", "extra_info"]):
        data = record_batch.to_pydict()
        ids = [str((info or {}).get("id", (info or {}).get("index", "?"))) for info in data["extra_info"]]
        yield ids, data["prompt"]
