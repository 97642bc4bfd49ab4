"""Does in-process HF greedy decoding score the same as vLLM on the same checkpoint?

The experiment scores held-out accuracy and probes with HF `generate` inside the TRL worker (no
server start per checkpoint). This check serves one checkpoint with vLLM's offline engine (the
vLLM runtime: `python -m looptool.experiment.vllm_check MODEL_DIR WORLD.json OUT.json`), greedy,
on the held-out set, and writes the answers; `compare` (dev side) scores both with ToolMatch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from looptool.experiment.world import World


def vllm_answers(model_dir: str, world_path: str, max_tokens: int) -> list[str]:
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    world = World.model_validate_json(Path(world_path).read_text())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompts = [tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in s.messages],
                                             add_generation_prompt=True, tokenize=False) for s in world.test_set]
    llm = LLM(model=model_dir, dtype="float32", enforce_eager=True, kv_cache_memory_bytes=256 * 2**20, seed=0)
    outputs = llm.generate([{"prompt_token_ids": tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts],
                           SamplingParams(temperature=0.0, max_tokens=max_tokens))
    return [o.outputs[0].text for o in outputs]


def compare(world: World, hf: list[str], vllm: list[str]) -> dict[str, Any]:
    from looptool.tools.match import toolmatch

    def score(texts: list[str]) -> list[bool]:
        return [toolmatch(t, s.label_calls, s.tools, mode="reward").matched for s, t in zip(world.test_set, texts)]

    hf_ok, vllm_ok = score(hf), score(vllm)
    return {"n": len(hf), "hf_accuracy": sum(hf_ok) / len(hf), "vllm_accuracy": sum(vllm_ok) / len(vllm),
            "same_verdict": sum(a == b for a, b in zip(hf_ok, vllm_ok)), "same_text": sum(a.strip() == b.strip() for a, b in zip(hf, vllm))}


if __name__ == "__main__":
    model, world_file, out = sys.argv[1:4]
    Path(out).write_text(json.dumps(vllm_answers(model, world_file, 72)))
