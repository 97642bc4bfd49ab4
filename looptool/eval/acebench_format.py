"""How an ACEBench item is put to a model and how its answer is read back, in either format.

`acebench`: ACEBench's own contract (our wording, prompts/acebench_*.md): the function docs in
            the system prompt, the conversation as one user message, answers as
            `[ApiName(key='value', ...)]` text or, in the special categories, fixed sentences.
            The text is read like ACEBench reads it (looptool.eval.acebench_check); a leading
            `<think>...</think>` block is dropped first, as ACEBench does for reasoning models.
`native`:   the model's own tool calling through the OpenAI `tools` parameter; the server's
            tool parser produces `tool_calls`, which are the calls (JSON, never evaluated). Names
            OpenAI's pattern does not allow (Chinese names, names over 64 characters) are sent
            under a stand-in name and mapped back.

Both formats send the same conversation text, so the two scores differ only in how the model
answers, not in what it was told.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from looptool.eval.acebench_check import lenient_schema
from looptool.eval.acebench_data import AceItem
from looptool.llm.types import ChatRequest, LLMResult
from looptool.paths import data_dir
from looptool.tools.parse import parse_openai_tool_calls

AceFormat = Literal["acebench", "native"]
FORMATS: tuple[str, ...] = ("acebench", "native")
_SECTION = re.compile(r"^<<<([\w.]+)>>>[ \t]*$", re.MULTILINE)
_WIRE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)


@lru_cache(maxsize=8)
def _sections(file: str) -> dict[str, str]:
    text = (data_dir("prompts") / file).read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    return {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}


def prompt(file: str, name: str, language: str, **fields: str) -> str:
    """Section `<name>.<language>` of a prompts/ file with its $fields filled in."""
    sections = _sections(file)
    key = f"{name}.{language}"
    if key not in sections:
        raise KeyError(f"prompts/{file} has no section <<<{key}>>>")
    return string.Template(sections[key]).substitute(fields)


def functions_text(functions: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(f, ensure_ascii=False) for f in functions)


@dataclass(frozen=True)
class WireNames:
    """Function name <-> the name sent as an OpenAI tool (identical when allowed)."""

    to_wire: dict[str, str]
    from_wire: dict[str, str]

    @classmethod
    def build(cls, functions: list[dict[str, Any]]) -> WireNames:
        to_wire: dict[str, str] = {}
        taken: set[str] = set()
        for index, doc in enumerate(functions):
            name = doc["name"]
            if name in to_wire:
                continue
            wire = name if _WIRE_NAME.match(name) else ""
            if not wire or wire in taken:
                ascii_part = re.sub(r"[^A-Za-z0-9_-]", "_", name).strip("_")[:40]
                wire = f"f{index}_{ascii_part}" if ascii_part else f"function_{index}"
            to_wire[name] = wire
            taken.add(wire)
        return cls(to_wire, {wire: name for name, wire in to_wire.items()})

    def original(self, wire: str) -> str:
        return self.from_wire.get(wire, wire)


def native_tools(functions: list[dict[str, Any]], names: WireNames) -> list[dict[str, Any]]:
    """OpenAI `tools` from ACEBench docs (type aliases mapped, never rejected: the data is the benchmark's)."""
    tools, seen = [], set()
    for doc in functions:
        wire = names.to_wire[doc["name"]]
        if wire in seen:
            continue
        seen.add(wire)
        parameters = lenient_schema(doc.get("parameters") or {"type": "object", "properties": {}})
        if isinstance(parameters, dict):
            parameters.setdefault("type", "object")
            parameters.setdefault("properties", {})
        tools.append(
            {"type": "function", "function": {"name": wire, "description": str(doc.get("description") or ""), "parameters": parameters}}
        )
    return tools


@dataclass
class Answer:
    """A model's answer: its visible text and, when it decoded, its calls as [{name: args}]."""

    text: str
    calls: list[dict[str, Any]] | None = None  # native: from tool_calls; acebench: decoded by the checker
    errors: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def has_calls(self) -> bool:
        return bool(self.calls)


def _system_section(item: AceItem, fmt: AceFormat) -> str:
    kind = "special" if item.category.startswith("special_") else "preference" if item.category == "normal_preference" else "normal"
    return kind if fmt == "acebench" else f"native_{kind}"


def item_request(
    item: AceItem,
    fmt: AceFormat,
    *,
    max_tokens: int | None,
    temperature: float,
    cache_salt: str | None,
) -> tuple[ChatRequest, WireNames]:
    """The one request of a normal or special item."""
    section = _system_section(item, fmt)
    fields = {"time": item.time, "profile": item.profile, "functions": functions_text(item.functions)}
    system = prompt("acebench_normal.md", section, item.language, **fields)
    user = prompt("acebench_normal.md", "question", item.language, question=item.question)
    messages = [{"role": "system", "content": system.strip()}, {"role": "user", "content": user}]
    names = WireNames.build(item.functions)
    if fmt == "acebench":
        return ChatRequest(messages=messages, temperature=temperature, max_tokens=max_tokens, cache_salt=cache_salt), names
    return ChatRequest(
        messages=messages,
        tools=native_tools(item.functions, names),
        tool_choice="auto",
        temperature=temperature,
        max_tokens=max_tokens,
        cache_salt=cache_salt,
    ), names


def read_answer(result: LLMResult, fmt: AceFormat, names: WireNames) -> Answer:
    """The first choice: in `acebench` format the text (think block dropped); in `native` the
    tool calls (names mapped back) and the text."""
    choice = result.first
    raw = {"content": choice.text, "tool_calls": choice.tool_calls, "finish_reason": choice.finish_reason}
    if fmt == "acebench":
        return Answer(text=_THINK.sub("", choice.text or "", count=1), raw=raw)
    parsed = parse_openai_tool_calls({"content": choice.text, "tool_calls": choice.tool_calls})
    if parsed.errors:
        return Answer(text=parsed.text, calls=None, errors=list(parsed.errors), raw=raw)
    calls = [{names.original(c.name): dict(c.arguments)} for c in parsed.calls]
    return Answer(text=parsed.text, calls=calls, raw=raw)
