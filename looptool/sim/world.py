"""The simulator's scripted world: what the right next assistant step is, read from the dialog.

Simulated users speak natural English that the simulator writes from structured truth and reads
back exactly, given the conversation's tool list (looptool.sim.phrasing):
    "Could you get the weather forecast with the city Paris and the days 3?"     one call
    "... , and also book the hotel ..."                                          parallel calls
    "First, please ... . After that, ... ."                                      phases in order
    "Oh, the date is 2024-05-01."                                                a missing argument
An older explicit language is still understood, so hand-written requests keep working:
    "Please call get_weather with {"city": "Paris"}."   "Use {"nights": 3}."
From that the simulator derives one canonical answer per dialog state. Every role it plays is
consistent with it: the assistant (label) and the policy (prediction) answer it unless told to
err, and the judge knows which of two answers is right. That is what lets tests check that
injected label noise is found and fixed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from looptool.sim.phrasing import name_words, parse_request, parse_supplement

CALL_PATTERN = re.compile(r"\bcall\s+([A-Za-z_][\w.\-]*)\s+with\s+(?=\{)", re.IGNORECASE)
USE_PATTERN = re.compile(r"\buse\s+(?=\{)", re.IGNORECASE)
PHASE_SPLIT = re.compile(r"\bafter that,?\s*", re.IGNORECASE)
TOOLS_BLOCK = re.compile(r"<tools>(.*?)</tools>", re.DOTALL)
TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
TOOL_RESPONSE_BLOCK = re.compile(r"<tool_response>(.*?)</tool_response>", re.DOTALL)
THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)
_DECODER = json.JSONDecoder()


@dataclass
class Turn:
    role: str  # "system" | "user" | "assistant" | "tool"
    text: str
    calls: list[dict[str, Any]] = field(default_factory=list)


def _json_at(text: str, start: int) -> tuple[Any, int] | None:
    try:
        return _DECODER.raw_decode(text, start)
    except ValueError:
        return None


def request_phases(text: str, tools: list[dict[str, Any]] | None = None) -> list[list[dict[str, Any]]]:
    """Calls requested in a user message, grouped into phases (natural wording first)."""
    if tools:
        natural = parse_request(text, tools)
        if natural is not None:
            return natural
    phases = []
    for chunk in PHASE_SPLIT.split(text):
        calls = []
        for match in CALL_PATTERN.finditer(chunk):
            decoded = _json_at(chunk, match.end())
            if decoded and isinstance(decoded[0], dict):
                calls.append({"name": match.group(1), "arguments": decoded[0]})
        if calls:
            phases.append(calls)
    return phases


def supplements(text: str, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Arguments a user turn supplies after the assistant asked for them."""
    if tools:
        natural = parse_supplement(text, tools)
        if natural is not None:
            return natural
    out: dict[str, Any] = {}
    for match in USE_PATTERN.finditer(text):
        decoded = _json_at(text, match.end())
        if decoded and isinstance(decoded[0], dict):
            out.update(decoded[0])
    return out


def normalize_tool(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    spec = raw.get("function") if raw.get("type") == "function" and isinstance(raw.get("function"), dict) else raw
    if not isinstance(spec.get("name"), str):
        return None
    return spec


def tools_from_request(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Tools from the OpenAI `tools` field, or from a <tools> block in the system prompt."""
    found = [t for t in (normalize_tool(t) for t in payload.get("tools") or []) if t]
    if found:
        return found
    for message in payload.get("messages") or []:
        if message.get("role") != "system":
            continue
        blocks = [b.strip() for b in TOOLS_BLOCK.findall(_content(message)) if "{" in b]
        if not blocks:  # prose may mention "<tools></tools>" before the real block
            continue
        body = blocks[-1]
        decoded = _json_at(body, 0) if body.startswith("[") else None
        if decoded and isinstance(decoded[0], list):
            return [t for t in (normalize_tool(x) for x in decoded[0]) if t]
        for line in body.splitlines():
            line = line.strip()
            if line.startswith("{"):
                item = _json_at(line, 0)
                tool = normalize_tool(item[0]) if item else None
                if tool:
                    found.append(tool)
    return found


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _text_calls(text: str) -> list[dict[str, Any]]:
    calls = []
    for block in TOOL_CALL_BLOCK.findall(THINK_BLOCK.sub("", text)):
        decoded = _json_at(block.strip(), 0)
        if decoded and isinstance(decoded[0], dict) and isinstance(decoded[0].get("name"), str):
            arguments = decoded[0].get("arguments") or {}
            if isinstance(arguments, str):
                parsed = _json_at(arguments, 0)
                arguments = parsed[0] if parsed else {}
            calls.append({"name": decoded[0]["name"], "arguments": arguments})
    return calls


def turns_from_messages(messages: list[dict[str, Any]]) -> list[Turn]:
    """Both wire formats (OpenAI tool_calls / paper <tool_call> text) into one turn list."""
    turns = []
    for message in messages:
        role = message.get("role", "user")
        text = _content(message)
        if role == "assistant":
            calls = []
            for call in message.get("tool_calls") or []:
                function = call.get("function", call)
                arguments = function.get("arguments") or {}
                if isinstance(arguments, str):
                    parsed = _json_at(arguments, 0)
                    arguments = parsed[0] if parsed else {}
                calls.append({"name": function.get("name", ""), "arguments": arguments})
            calls = calls or _text_calls(text)
            turns.append(Turn("assistant", text, calls))
        elif role == "user" and "<tool_response>" in text:
            for block in TOOL_RESPONSE_BLOCK.findall(text):
                turns.append(Turn("tool", block.strip()))
        elif role in ("tool", "function"):
            turns.append(Turn("tool", text))
        else:
            turns.append(Turn(role, text))
    return turns


def required_params(tool: dict[str, Any] | None) -> list[str]:
    if not tool:
        return []
    parameters = tool.get("parameters") or {}
    return [p for p in parameters.get("required") or [] if isinstance(p, str)]


@dataclass
class Step:
    """The canonical next assistant step: calls to make, or a text answer."""

    calls: list[dict[str, Any]]
    text: str = ""
    asks_for: list[str] = field(default_factory=list)

    @property
    def is_call(self) -> bool:
        return bool(self.calls)


def canonical_step(tools: list[dict[str, Any]], turns: list[Turn]) -> Step:
    by_name = {t["name"]: t for t in tools}
    request_index = None
    phases: list[list[dict[str, Any]]] = []
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].role == "user":
            phases = request_phases(turns[index].text, tools)
            if phases:
                request_index = index
                break
    if request_index is None:
        last_user = next((t.text for t in reversed(turns) if t.role == "user"), "")
        return Step([], f"Happy to help. (no tool needed for: {last_user[:60]})")
    requested = [by_name[c["name"]] for phase in phases for c in phase if c["name"] in by_name]
    supplied: dict[str, Any] = {}
    made = 0
    for turn in turns[request_index + 1 :]:
        if turn.role == "user":
            supplied.update(supplements(turn.text, requested))
        elif turn.role == "assistant":
            made += len(turn.calls)
    for phase in phases:
        if made >= len(phase):
            made -= len(phase)
            continue
        pending = phase[made:] if made else phase
        calls = []
        missing: list[str] = []
        for call in pending:
            if call["name"] not in by_name:
                return Step([], f"I can't do that: no available tool is called {call['name']}.")
            arguments = dict(call["arguments"])
            for param in required_params(by_name[call["name"]]):
                if param not in arguments:
                    if param in supplied:
                        arguments[param] = supplied[param]
                    else:
                        missing.append(param)
            calls.append({"name": call["name"], "arguments": arguments})
        if missing:
            wanted = sorted(set(missing))
            words = " and ".join("the " + " ".join(name_words(m) or [m]) for m in wanted)
            return Step([], f"To do that I still need {words}. Could you tell me?", asks_for=wanted)
        return Step(calls)
    last = turns[-1] if turns else None
    if last is not None and last.role == "tool":
        return Step([], f"All done. The tool returned: {last.text[:120]}")
    return Step([], "Everything you asked for is done. Anything else?")
