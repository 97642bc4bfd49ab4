"""How a BFCL item is put to a model and how its answer is read back, in either prompt format.

`paper`:  the project's prompt (paper Fig. 7): tools in the system prompt, answers as
          <tool_call>{"name", "arguments"}</tool_call> blocks (looptool.tools.render/parse).
`native`: the model's own tool format through the OpenAI `tools` parameter; the server's tool
          parser turns its output into `tool_calls`.

Native tool names must match ^[a-zA-Z0-9_-]+$, and BFCL names such as `spotify.play` have dots,
so native mode renames `.` to `_` (as BFCL's FC handlers do) and maps the model's names back
before checking, where a dotted name is compared as written in the ground truth.

Decoding is all-or-nothing, like BFCL's decoders: an answer with any malformed call block
counts as "no call decoded" (wrong for AST items, a pass for irrelevance). Only `json` ever
reads model text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from looptool.errors import InputError
from looptool.llm.types import ChatRequest, LLMResult
from looptool.tools.parse import parse_openai_tool_calls
from looptool.tools.render import render_openai_messages, render_paper_messages
from looptool.errors import ToolSpecError
from looptool.tools.spec import ToolSpec, load_tools

from looptool.eval.settings import PromptFormat


@dataclass(frozen=True)
class NameMap:
    """Original tool name <-> the name sent on the wire (identical in paper mode)."""

    to_wire: dict[str, str]
    from_wire: dict[str, str]

    @classmethod
    def for_tools(cls, tools: Sequence[dict[str, Any]], fmt: PromptFormat) -> NameMap:
        to_wire = {}
        for tool in tools:
            name = tool["name"]
            to_wire[name] = name.replace(".", "_") if fmt == "native" else name
        from_wire = {}
        for name, wire in to_wire.items():
            from_wire.setdefault(wire, name)  # on a clash the first tool keeps the wire name
        return cls(to_wire, from_wire)

    def wire(self, name: str) -> str:
        return self.to_wire.get(name, name)

    def original(self, name: str) -> str:
        return self.from_wire.get(name, name)


@dataclass(frozen=True)
class WireTools:
    """An item's tools as sent: renamed for the wire and validated once (not once per request)."""

    names: NameMap
    specs: list[ToolSpec]

    @classmethod
    def build(cls, tools: Sequence[dict[str, Any]], fmt: PromptFormat, where: str) -> WireTools:
        names = NameMap.for_tools(tools, fmt)
        try:
            specs = load_tools([{**tool, "name": names.wire(tool["name"])} for tool in tools])
        except ToolSpecError as exc:
            raise InputError(f"{where}: unusable function doc: {exc}") from None
        return cls(names, specs)


def _wire_messages(messages: Sequence[dict[str, Any]], names: NameMap) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        if message.get("tool_calls"):
            message = {**message, "tool_calls": [{**c, "name": names.wire(c["name"])} for c in message["tool_calls"]]}
        if message.get("role") == "tool" and message.get("name"):
            message = {**message, "name": names.wire(message["name"])}
        out.append(message)
    return out


def build_request(
    tools: WireTools,
    messages: Sequence[dict[str, Any]],
    fmt: PromptFormat,
    *,
    current_time: str,
    max_tokens: int | None,
    temperature: float,
    cache_salt: str | None = None,
) -> ChatRequest:
    """One chat request; `messages` use the engine's structured form (looptool.samples)."""
    wire_messages = _wire_messages(messages, tools.names)
    if fmt == "paper":
        chat = render_paper_messages(tools.specs, wire_messages, current_time)
        return ChatRequest(messages=chat, temperature=temperature, max_tokens=max_tokens, cache_salt=cache_salt)
    chat, tools_param = render_openai_messages(tools.specs, wire_messages)
    return ChatRequest(
        messages=chat,
        tools=tools_param or None,
        tool_choice="auto" if tools_param else None,
        temperature=temperature,
        max_tokens=max_tokens,
        cache_salt=cache_salt,
    )


@dataclass
class Decoded:
    """What the model said: calls (None when decoding failed), its visible text, and why it failed."""

    calls: list[dict[str, Any]] | None
    text: str = ""
    errors: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def has_calls(self) -> bool:
        return bool(self.calls)


def decode_answer(result: LLMResult, names: NameMap) -> Decoded:
    """Read the first choice: `tool_calls` and <tool_call> blocks in the content both count."""
    choice = result.first
    message = {"content": choice.text, "tool_calls": choice.tool_calls}
    parsed = parse_openai_tool_calls(message)
    raw = {"content": choice.text, "tool_calls": choice.tool_calls, "finish_reason": choice.finish_reason}
    if parsed.errors:
        return Decoded(calls=None, text=parsed.text, errors=list(parsed.errors), raw=raw)
    calls = [{"name": names.original(c.name), "arguments": c.arguments} for c in parsed.calls]
    return Decoded(calls=calls, text=parsed.text, raw=raw)
