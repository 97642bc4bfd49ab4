"""Does in-process HF greedy decoding score the same as vLLM on the same checkpoint?

The experiment scores held-out accuracy and probes with HF `generate` inside the TRL worker (no
server start per checkpoint). This check decodes one checkpoint's held-out answers both ways,
greedy, and scores both with ToolMatch:
    ~/.cache/looptool/envs/vllm/bin/python -m looptool.experiment.vllm_check vllm MODEL_DIR WORLD.json VLLM.json
    ~/.cache/looptool/envs/trl/bin/python  -m looptool.experiment.vllm_check hf   MODEL_DIR WORLD.json HF.json
    .venv/bin/python -m looptool.experiment.vllm_check compare WORLD.json HF.json VLLM.json
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
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": m["role"], "content": m["content"]} for m in s.messages], add_generation_prompt=True, tokenize=False
        )
        for s in world.test_set
    ]
    llm = LLM(model=model_dir, dtype="float32", enforce_eager=True, kv_cache_memory_bytes=256 * 2**20, seed=0)
    outputs = llm.generate(
        [{"prompt_token_ids": tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts],
        SamplingParams(temperature=0.0, max_tokens=max_tokens),
    )
    return [o.outputs[0].text for o in outputs]


def compare(world: World, hf: list[str], vllm: list[str]) -> dict[str, Any]:
    from looptool.tools.match import toolmatch

    def score(texts: list[str]) -> list[bool]:
        return [toolmatch(t, s.label_calls, s.tools, mode="reward").matched for s, t in zip(world.test_set, texts)]

    hf_ok, vllm_ok = score(hf), score(vllm)
    return {
        "n": len(hf),
        "hf_accuracy": sum(hf_ok) / len(hf),
        "vllm_accuracy": sum(vllm_ok) / len(vllm),
        "same_verdict": sum(a == b for a, b in zip(hf_ok, vllm_ok)),
        "same_text": sum(a.strip() == b.strip() for a, b in zip(hf, vllm)),
    }


def hf_answers(model_dir: str, world_path: str, max_tokens: int) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from looptool.experiment.policy import greedy_answers

    torch.set_num_threads(1)
    world = World.model_validate_json(Path(world_path).read_text())
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return [text for text, _ in greedy_answers(model, AutoTokenizer.from_pretrained(model_dir), world.test_set, max_tokens)]


def main(argv: list[str]) -> int:
    mode, *rest = argv
    if mode in ("vllm", "hf"):
        model, world_file, out = rest
        answers = (vllm_answers if mode == "vllm" else hf_answers)(model, world_file, 72)
        Path(out).write_text(json.dumps(answers))
    elif mode == "compare":
        world_file, hf_file, vllm_file = rest
        world = World.model_validate_json(Path(world_file).read_text())
        print(json.dumps(compare(world, json.loads(Path(hf_file).read_text()), json.loads(Path(vllm_file).read_text()))))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
