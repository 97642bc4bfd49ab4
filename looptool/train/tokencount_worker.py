"""Prompt-length server that runs inside a trainer runtime env (stdlib at import time).

Why a separate process: the exact prompt length is what the policy's tokenizer and chat template
produce, and those live in the runtime env (transformers), which the orchestrator never imports.
Measuring exactly as verl's RLHFDataset does (apply_chat_template, add_generation_prompt=True,
tokenize=True) means our filter and verl's agree row for row.

Protocol (JSON lines on stdin/stdout): after loading, print {"ready": true}; then for every
input line (a JSON list of prompts, each a list of {role, content}) print a JSON list of ints,
or {"error": "..."} if a prompt cannot be rendered. A line {"full": [conversation, ...]} measures
whole conversations instead (no generation prompt: an SFT sequence ending in the answer).

Usage: python -m looptool.train.tokencount_worker MODEL_DIR
"""

from __future__ import annotations

import json
import os
import sys


def _length(tokenizer, messages, generation_prompt: bool = True) -> int:
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    if ids and isinstance(ids[0], list):
        ids = ids[0]
    return len(ids)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(argv[0])
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if isinstance(request, dict):
                reply: object = [_length(tokenizer, m, generation_prompt=False) for m in request["full"]]
            else:
                reply = [_length(tokenizer, messages) for messages in request]
        except Exception as exc:  # noqa: BLE001 - reported to the caller, which names the sample
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
