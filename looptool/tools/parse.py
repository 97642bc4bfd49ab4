"""Turn untrusted model output into tool calls, reporting every format problem instead of raising.

The policy answers in the paper's format: optional `<think>...</think>`, then one
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` block per call, or plain text.
The reference reward required newlines around the JSON and counted calls written inside
`<think>`; here whitespace is free, reasoning never counts, and anything malformed lands in
`errors` so the reward can score it 0 and the probe can log why. Only `json.loads` ever touches
the text: nothing is evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from looptool.tools.calls import ToolCall

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


@dataclass
class ParseResult:
    """Calls found outside reasoning, format errors, the visible answer text and the reasoning."""

    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    text: str = ""
    think: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


# One decoder for all calls: json.loads(..., parse_constant=...) would build a new one each time.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _loads(text: str) -> tuple[Any, str | None]:
    """json.loads that reports instead of raising (deep nesting and huge ints included)."""
    try:
        return _DECODER.decode(text), None
    except (ValueError, RecursionError) as exc:
        return None, f"invalid JSON ({exc})"


def decode_call(obj: Any, where: str) -> tuple[ToolCall | None, str | None]:
    """Check one decoded {"name", "arguments"} object; `arguments` may be a JSON string."""
    if not isinstance(obj, dict):
        return None, f"{where}: expected a JSON object with 'name' and 'arguments', got {type(obj).__name__}"
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, f"{where}: 'name' must be a non-empty string, got {name!r}"
    if "arguments" not in obj and "parameters" in obj:
        return None, f"{where}: uses 'parameters' instead of 'arguments'"
    arguments = obj.get("arguments", {})
    if isinstance(arguments, str):
        if not arguments.strip():
            arguments = {}
        else:
            arguments, err = _loads(arguments)
            if err:
                return None, f"{where}: 'arguments' string is {err}"
    if not isinstance(arguments, dict):
        return None, f"{where}: 'arguments' must be a JSON object, got {type(arguments).__name__}"
    return ToolCall(name=name, arguments=arguments), None


def _split_think(text: str, errors: list[str]) -> tuple[str, str]:
    """Return (visible text, reasoning). Handles an opening tag that lives in the prompt."""
    think: list[str] = []
    rest = text
    first_close = rest.find(THINK_CLOSE)
    first_open = rest.find(THINK_OPEN)
    if first_close != -1 and (first_open == -1 or first_close < first_open):
        think.append(rest[:first_close])
        rest = rest[first_close + len(THINK_CLOSE) :]
    visible: list[str] = []
    pos = 0
    while True:
        start = rest.find(THINK_OPEN, pos)
        if start == -1:
            visible.append(rest[pos:])
            break
        visible.append(rest[pos:start])
        end = rest.find(THINK_CLOSE, start + len(THINK_OPEN))
        if end == -1:
            think.append(rest[start + len(THINK_OPEN) :])
            errors.append("unterminated <think> block (no </think>)")
            break
        think.append(rest[start + len(THINK_OPEN) : end])
        pos = end + len(THINK_CLOSE)
    out = "".join(visible)
    if THINK_CLOSE in out:
        errors.append("stray </think> without a matching <think>")
        out = out.replace(THINK_CLOSE, "")
    return out, "\n".join(part.strip() for part in think).strip()


def parse_tool_calls(text: Any) -> ParseResult:
    """Parse a completion; never raises. Calls inside reasoning are ignored.

    An unterminated block (cut off by the token limit, or followed directly by the next
    `<tool_call>`) is reported as an error; its call is still returned when its JSON is complete,
    so a caller that tolerates truncation can use it, while the reward (which requires no errors)
    scores it 0.
    """
    if not isinstance(text, str):
        return ParseResult(errors=[f"expected the model output as a string, got {type(text).__name__}"])
    result = ParseResult()
    visible, result.think = _split_think(text, result.errors)

    outside: list[str] = []
    pos = 0
    block = 0
    while True:
        start = visible.find(CALL_OPEN, pos)
        if start == -1:
            outside.append(visible[pos:])
            break
        outside.append(visible[pos:start])
        block += 1
        where = f"tool_call block {block}"
        body_start = start + len(CALL_OPEN)
        end = visible.find(CALL_CLOSE, body_start)
        next_open = visible.find(CALL_OPEN, body_start)
        if end == -1 or (next_open != -1 and next_open < end):
            body_end = len(visible) if next_open == -1 else next_open
            result.errors.append(f"{where}: unterminated (no {CALL_CLOSE})")
            pos = body_end
        else:
            body_end = end
            pos = end + len(CALL_CLOSE)
        body = visible[body_start:body_end].strip()
        if not body:
            result.errors.append(f"{where}: empty")
            continue
        obj, err = _loads(body)
        if err:
            result.errors.append(f"{where}: {err}")
            continue
        call, err = decode_call(obj, where)
        if err or call is None:
            result.errors.append(err or f"{where}: no call")
        else:
            result.calls.append(call)

    answer = "".join(outside)
    if CALL_CLOSE in answer:
        result.errors.append(f"stray {CALL_CLOSE} without a matching {CALL_OPEN}")
        answer = answer.replace(CALL_CLOSE, "")
    result.text = answer.strip()
    return result


def _content_text(content: Any) -> str:
    """OpenAI content: a string, null, or a list of parts of which the text parts count."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def parse_openai_tool_calls(message: Any) -> ParseResult:
    """Parse an OpenAI assistant message (dict form); never raises.

    Structured `tool_calls` come first; text-format blocks in `content` are added after them,
    because a server running without a tool parser leaves the calls in the content.
    `reasoning_content`/`reasoning` (vLLM reasoning parsers) is reported as `think`.
    """
    if not isinstance(message, dict):
        return ParseResult(errors=[f"expected an assistant message object, got {type(message).__name__}"])
    content = parse_tool_calls(_content_text(message.get("content")))
    result = ParseResult(text=content.text)
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    result.think = "\n".join(p for p in (reasoning if isinstance(reasoning, str) else "", content.think) if p)

    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        result.errors.append(f"tool_calls: expected a list, got {type(raw_calls).__name__}")
        raw_calls = []
    if isinstance(message.get("function_call"), dict):  # legacy single-call field
        raw_calls = [*raw_calls, {"type": "function", "function": message["function_call"]}]
    for i, item in enumerate(raw_calls):
        where = f"tool_calls[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("function"), dict):
            result.errors.append(f"{where}: expected {{'type': 'function', 'function': {{...}}}}")
            continue
        if item.get("type", "function") != "function":
            result.errors.append(f"{where}: unsupported type {item.get('type')!r}")
            continue
        func = item["function"]
        call, err = decode_call({"name": func.get("name"), "arguments": func.get("arguments", {})}, where)
        if err or call is None:
            result.errors.append(err or f"{where}: no call")
        else:
            result.calls.append(call)
    result.calls.extend(content.calls)
    result.errors.extend(content.errors)
    return result
