"""Run directory storage: atomic writes, durable JSONL, manifest of finished stages."""

from looptool.store.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from looptool.store.jsonl import JsonlWriter, iter_jsonl, read_jsonl, repair_torn_tail
from looptool.store.run import ResumePolicy, RunStore, iteration_key

__all__ = [
    "JsonlWriter",
    "ResumePolicy",
    "RunStore",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "iter_jsonl",
    "iteration_key",
    "read_json",
    "read_jsonl",
    "repair_torn_tail",
]
