"""Build the project's tiny Qwen3 model: random weights, a locally trained tokenizer, tools template.

Usage: python scripts/make_tiny_model.py OUT_DIR     (runs in the vLLM runtime env; ~5 s on 2 cores)

Why this model exists: tests and dry runs need a real HF checkpoint that vLLM CPU serves (and verl
or TRL can load) without any hub access. Its outputs are noise, but every API path (chat, tools,
logprobs, structured outputs) runs for real on it.

Design choices that matter:
  * head_dim 32: the vLLM CPU attention backend rejects head_dim 16 at the first request.
  * The corpus is generated here from a fixed seed, not read from the machine, so the same bytes
    come out on every machine. It mixes chat turns, JSON tool specs and tool calls so that JSON
    tokenizes compactly.
  * <tool_call> </tool_call> <tool_response> </tool_response> <think> </think> are added as
    NON-special tokens: verl decodes rollouts with skip_special_tokens=True, and the reward must
    still see the tags; vLLM's hermes parser only needs them in the text.
  * eos is <|im_end|> (the end of an assistant turn), pad is <|endoftext|>.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars only clutter build logs
# One rayon thread keeps BPE training order (and so merge ties) identical run to run.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

SEED = 0
BPE_VOCAB = 4096
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TAG_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
MODEL_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "max_position_embeddings": 8192,
}
TEMPLATE = Path(__file__).resolve().parent / "tool_chat_template.jinja"

WORDS = (
    "the a an of to in for on with from by at as is are was be can will should please "
    "what when where which who how why I you we they it this that my your our their "
    "find get set list create update delete search book send check show tell give make "
    "weather city date time price order flight hotel user account email message file "
    "number name value amount currency temperature forecast today tomorrow week month year "
    "and or not if then also only all any some more less first last next previous new old "
    "sure here thanks thank help need want like know think call tool result error found "
    "booked sent updated deleted created total available unavailable status success failed"
).split()
NAMES = [
    "get_weather",
    "search_flights",
    "book_hotel",
    "send_email",
    "convert_currency",
    "list_orders",
    "create_event",
    "get_stock_price",
    "translate_text",
    "find_restaurant",
]
PARAMS = [
    "city",
    "date",
    "query",
    "limit",
    "currency",
    "amount",
    "to",
    "subject",
    "body",
    "location",
    "unit",
    "start_time",
    "end_time",
    "language",
    "symbol",
    "user_id",
]
TYPES = ["string", "integer", "number", "boolean", "array", "object"]
VALUES = [
    "Paris",
    "Tokyo",
    "Berlin",
    "Oslo",
    "2024-05-01",
    "USD",
    "EUR",
    "celsius",
    3,
    10,
    42.5,
    True,
    False,
    "hello world",
    "alice@example.com",
    ["a", "b"],
    {"k": 1},
]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
    return " ".join(words).capitalize() + rng.choice([".", "?", "!"])


def _tool_spec(rng: random.Random) -> dict:
    params = rng.sample(PARAMS, rng.randint(1, 4))
    return {
        "type": "function",
        "function": {
            "name": rng.choice(NAMES),
            "description": _sentence(rng),
            "parameters": {
                "type": "object",
                "properties": {p: {"type": rng.choice(TYPES), "description": _sentence(rng)} for p in params},
                "required": params[: rng.randint(0, len(params))],
            },
        },
    }


def _call(rng: random.Random) -> str:
    args = {p: rng.choice(VALUES) for p in rng.sample(PARAMS, rng.randint(0, 3))}
    return json.dumps({"name": rng.choice(NAMES), "arguments": args}, ensure_ascii=False)


def corpus(n_docs: int = 3000) -> list[str]:
    """Chat-shaped training text for the BPE, identical on every machine for a given seed."""
    rng = random.Random(SEED)
    docs = []
    for _ in range(n_docs):
        tools = "\n".join(json.dumps(_tool_spec(rng), ensure_ascii=False) for _ in range(rng.randint(1, 3)))
        calls = "\n".join(f"<tool_call>\n{_call(rng)}\n</tool_call>" for _ in range(rng.randint(1, 2)))
        docs.append(
            f"<|im_start|>system\n{_sentence(rng)}\n<tools>\n{tools}\n</tools><|im_end|>\n"
            f"<|im_start|>user\n{_sentence(rng)} {_sentence(rng)}<|im_end|>\n"
            f"<|im_start|>assistant\n<think>\n{_sentence(rng)}\n</think>\n{calls}<|im_end|>\n"
            f"<|im_start|>user\n<tool_response>\n{json.dumps({'result': rng.choice(VALUES)})}\n"
            f"</tool_response><|im_end|>\n<|im_start|>assistant\n{_sentence(rng)}<|im_end|>\n"
        )
    return docs


def build_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=MODEL_SHAPE["max_position_embeddings"],
    )
    fast.chat_template = TEMPLATE.read_text()
    return fast


def check_tokenizer(tok) -> dict:
    """Fail loudly if the properties the engine relies on do not hold."""
    for tag in TAG_TOKENS:
        ids = tok.encode(tag, add_special_tokens=False)
        if len(ids) != 1:
            raise SystemExit(f"make_tiny_model: {tag!r} should be one token, got {ids}")
    text = '<think>\nok\n</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    ids = tok.encode(text, add_special_tokens=False)
    if tok.decode(ids + [tok.eos_token_id], skip_special_tokens=True) != text:
        raise SystemExit("make_tiny_model: tool-call text does not survive skip_special_tokens decoding")
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "Weather in Paris?"}],
        tools=[_tool_spec(random.Random(1))],
        add_generation_prompt=True,
        tokenize=False,
    )
    if "<tools>" not in rendered or not rendered.endswith("<|im_start|>assistant\n"):
        raise SystemExit(f"make_tiny_model: chat template rendered unexpectedly:\n{rendered}")
    return {"tool_call_tokens": len(ids), "tool_call_chars": len(text)}


def build_model(vocab_size: int, eos_id: int, pad_id: int):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    torch.manual_seed(SEED)
    config = AutoConfig.for_model(
        "qwen3",
        vocab_size=vocab_size,
        tie_word_embeddings=True,
        bos_token_id=pad_id,  # as in Qwen2.5: <|endoftext|>; no BOS is ever prepended
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        dtype="float32",
        **MODEL_SHAPE,
    )
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(bos_token_id=pad_id, eos_token_id=eos_id, pad_token_id=pad_id)
    return model


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = Path(argv[1])
    if out.exists() and any(out.iterdir()):
        print(f"make_tiny_model: output directory {out} is not empty", file=sys.stderr)
        return 2
    tok = build_tokenizer()
    stats = check_tokenizer(tok)
    # Round up so the embedding matrix has a friendly shape; the spare rows are never produced.
    vocab_size = -(-len(tok) // 64) * 64
    model = build_model(vocab_size, tok.eos_token_id, tok.pad_token_id)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"tiny Qwen3 written to {out}: {params} parameters, vocab {len(tok)} (embeddings {vocab_size}), "
        f"head_dim {MODEL_SHAPE['head_dim']}, sample tool call {stats['tool_call_chars']} chars -> "
        f"{stats['tool_call_tokens']} tokens"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
