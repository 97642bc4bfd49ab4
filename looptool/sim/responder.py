"""Turn one OpenAI-style request into the simulator's answer body.

Deterministic: the answer depends only on the simulator seed, the model name and the request body
(and the choice index for n > 1), never on timing or request order.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from typing import Any
from collections.abc import Callable

from looptool.sim.answers import paper_answer, perturb_calls
from looptool.sim.oracle import oracle_message
from looptool.sim.schema_values import WORDS, value_for
from looptool.sim.settings import ModelProfile, SimSettings
from looptool.sim.world import Step, canonical_step, tools_from_request, turns_from_messages

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]|\s+")
CHATML_TURN = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>|$)", re.DOTALL)
INPUT_BLOCK = re.compile(r"<input>(.*?)</input>", re.DOTALL)

# Structured-output handlers by schema name: (payload, input data, rng, profile) -> JSON value.
SchemaHandler = Callable[[dict[str, Any], dict[str, Any], random.Random, ModelProfile], Any]
SCHEMA_HANDLERS: dict[str, SchemaHandler] = {}


def schema_handler(name: str) -> Callable[[SchemaHandler], SchemaHandler]:
    def register(function: SchemaHandler) -> SchemaHandler:
        SCHEMA_HANDLERS[name] = function
        return function

    return register


def body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def choice_rng(settings: SimSettings, model: str, digest: str, index: int) -> random.Random:
    return random.Random(f"{settings.seed}|{model}|{digest}|{index}")


def tokens(text: str) -> list[str]:
    return TOKEN_PATTERN.findall(text)


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def input_data(payload: dict[str, Any]) -> dict[str, Any]:
    """Our prompts carry machine-readable inputs in <input>{json}</input>; the simulator reads them."""
    for message in reversed(payload.get("messages") or []):
        content = message.get("content")
        if isinstance(content, str):
            match = INPUT_BLOCK.search(content)
            if match:
                try:
                    value = json.loads(match.group(1))
                except ValueError:
                    return {}
                return value if isinstance(value, dict) else {}
    return {}


def _structured(payload: dict[str, Any]) -> tuple[str, str, Any] | None:
    """(kind, name, schema-or-choices) if the request asks for structured output."""
    response_format = payload.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        return "json", str(spec.get("name", "output")), spec.get("schema") or {}
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        return "json", "json_object", {"type": "object"}
    structured = payload.get("structured_outputs") or {}
    if isinstance(structured, dict):
        if isinstance(structured.get("choice"), list):
            return "choice", "choice", structured["choice"]
        if isinstance(structured.get("json"), dict):
            return "json", "json", structured["json"]
    return None


def chat_message(payload: dict[str, Any], settings: SimSettings, rng: random.Random) -> tuple[dict[str, Any], str]:
    """The assistant message and finish reason for one choice."""
    if settings.oracle_path:  # a known-answer table (looptool.sim.oracle) takes precedence when it matches
        answer = oracle_message(payload, settings, rng)
        if answer is not None:
            return answer
    model = str(payload.get("model", ""))
    profile = settings.profile(model)
    structured = _structured(payload)
    if structured is not None:
        kind, name, spec = structured
        if kind == "choice":
            return {"role": "assistant", "content": str(rng.choice(spec))}, "stop"
        handler = SCHEMA_HANDLERS.get(name)
        value = handler(payload, input_data(payload), rng, profile) if handler else value_for(spec, rng)
        content = json.dumps(value, ensure_ascii=False)
        if rng.random() < profile.malformed_rate:
            content = content[: max(1, len(content) // 2)]
        return {"role": "assistant", "content": content}, "stop"
    tools = tools_from_request(payload)
    turns = turns_from_messages(payload.get("messages") or [])
    if tools and payload.get("tool_choice") != "none":
        step = canonical_step(tools, turns)
        if step.is_call and rng.random() < profile.wrong_call_rate:
            step = Step(perturb_calls(step.calls, tools, rng))
        malformed = step.is_call and rng.random() < profile.malformed_rate
        if payload.get("tools"):
            if step.is_call:
                calls = []
                for position, call in enumerate(step.calls):
                    arguments = json.dumps(call["arguments"], ensure_ascii=False)
                    if malformed:
                        arguments = arguments[: max(1, len(arguments) // 2)]
                    calls.append(
                        {
                            "id": f"call_{rng.getrandbits(48):012x}{position}",
                            "type": "function",
                            "function": {"name": call["name"], "arguments": arguments},
                        }
                    )
                return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
            return {"role": "assistant", "content": step.text}, "stop"
        return {"role": "assistant", "content": paper_answer(step, malformed)}, "stop"
    last_user = next((t.text for t in reversed(turns) if t.role == "user"), "")
    words = [w for w in re.findall(r"[A-Za-z]+", last_user)][:8]
    return {"role": "assistant", "content": f"Simulated reply about: {' '.join(words) or 'nothing'}."}, "stop"


def _logprob_entries(text: str, rng: random.Random, top: int) -> list[dict[str, Any]]:
    entries = []
    for token in tokens(text):
        value = -round(rng.random() * 2.0, 4)
        alternatives = [{"token": token, "logprob": value}] + [
            {"token": rng.choice(WORDS), "logprob": value - 1.0 - i} for i in range(max(0, top - 1))
        ]
        entries.append({"token": token, "logprob": value, "top_logprobs": alternatives[:top]})
    return entries


def _prompt_logprobs(text: str, rng: random.Random) -> list[dict[str, Any] | None]:
    out: list[dict[str, Any] | None] = [None]
    for position, token in enumerate(tokens(text)[1:], start=1):
        out.append({str(position): {"logprob": -round(rng.random() * 3.0, 4), "rank": 1, "decoded_token": token}})
    return out


def _prompt_text(payload: dict[str, Any]) -> str:
    parts = []
    for message in payload.get("messages") or []:
        content = message.get("content")
        parts.append(content if isinstance(content, str) else json.dumps(content))
    return "\n".join(parts)


def _envelope(kind: str, answer_id: str, model: str, choices: list[dict[str, Any]], prompt: str, completion_tokens: int) -> dict[str, Any]:
    prompt_tokens = count_tokens(prompt)
    return {
        "id": answer_id,
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chat_completion(payload: dict[str, Any], settings: SimSettings) -> dict[str, Any]:
    model = str(payload.get("model", "sim"))
    digest = body_digest(payload)
    n = int(payload.get("n") or 1)
    choices = []
    completion_tokens = 0
    for index in range(n):
        rng = choice_rng(settings, model, digest, index)
        message, finish = chat_message(payload, settings, rng)
        text = message.get("content") or json.dumps(message.get("tool_calls") or [])
        max_tokens = payload.get("max_tokens")
        if isinstance(max_tokens, int) and message.get("content") and count_tokens(text) > max_tokens > 0:
            message["content"] = text[: max_tokens * 4]
            finish = "length"
        completion_tokens += count_tokens(text)
        choice: dict[str, Any] = {"index": index, "message": message, "finish_reason": finish}
        if payload.get("logprobs"):
            top = int(payload.get("top_logprobs") or 0)
            choice["logprobs"] = {"content": _logprob_entries(message.get("content") or text, rng, top)}
        choices.append(choice)
    prompt = _prompt_text(payload)
    body = _envelope("chat.completion", f"chatcmpl-sim-{digest[:16]}", model, choices, prompt, completion_tokens)
    if payload.get("prompt_logprobs") is not None:
        body["prompt_logprobs"] = _prompt_logprobs(prompt, choice_rng(settings, model, digest, -1))
    return body


def _chatml_messages(prompt: str) -> list[dict[str, Any]]:
    turns = [{"role": role, "content": content} for role, content in CHATML_TURN.findall(prompt)]
    return [t for t in turns if t["content"].strip()] or [{"role": "user", "content": prompt}]


def text_completion(payload: dict[str, Any], settings: SimSettings) -> dict[str, Any]:
    model = str(payload.get("model", "sim"))
    digest = body_digest(payload)
    prompt = payload.get("prompt", "")
    if isinstance(prompt, list):
        prompt = " ".join(str(p) for p in prompt)
    max_tokens = int(payload.get("max_tokens") if payload.get("max_tokens") is not None else 16)
    choices = []
    completion_tokens = 0
    for index in range(int(payload.get("n") or 1)):
        rng = choice_rng(settings, model, digest, index)
        if max_tokens == 0:
            generated = ""
        else:
            chat = {"model": model, "messages": _chatml_messages(prompt)}
            message, _ = chat_message(chat, settings, rng)
            generated = message.get("content") or ""
        text = (prompt + generated) if payload.get("echo") else generated
        completion_tokens += count_tokens(generated)
        choice: dict[str, Any] = {"index": index, "text": text, "finish_reason": "length" if max_tokens == 0 else "stop"}
        if payload.get("logprobs") is not None:
            entries = _logprob_entries(text, rng, int(payload.get("logprobs") or 0))
            if payload.get("echo") and entries:
                entries[0]["logprob"] = None
            choice["logprobs"] = {
                "tokens": [e["token"] for e in entries],
                "token_logprobs": [e["logprob"] for e in entries],
                "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]} or None for e in entries],
            }
        if payload.get("prompt_logprobs") is not None:
            choice["prompt_logprobs"] = _prompt_logprobs(prompt, choice_rng(settings, model, digest, -1))
        choices.append(choice)
    return _envelope("text_completion", f"cmpl-sim-{digest[:16]}", model, choices, prompt, completion_tokens)
