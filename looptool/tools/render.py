"""Render one structured sample into the paper's prompt format or OpenAI chat messages.

Labels and histories stay structured (looptool/samples.py); text exists only at this edge.
Two targets share the same input so training prompts, probing requests and judge views can
never drift apart:

* paper format (paper Fig. 7, our wording): tools inside <tools></tools> in the system prompt,
  the current time, assistant calls as <tool_call> blocks and tool results as <tool_response>
  blocks in a user turn. verl applies the chat template with tools=None, so the schemas must
  live in the system message.
* OpenAI format: assistant `tool_calls` with ids, `role: "tool"` results pointing at them, and
  the `tools` request parameter, for servers that render tools with their own chat template.

Round trip: `parse_tool_calls(render_calls_text(calls)).calls == calls`.
"""

from __future__ import annotations

import json
import functools
import string
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Sequence

from looptool.paths import data_dir
from looptool.tools.calls import ToolCall, calls_from_list
from looptool.tools.spec import load_tools

POLICY_PROMPT = "policy.md"


@functools.lru_cache(maxsize=4)
def _system_template(path: str) -> string.Template:
    """The policy's system prompt lives in prompts/policy.md (data, tunable without code)."""
    text = Path(path).read_text(encoding="utf-8")
    marker = "<<<system>>>"
    if marker in text:
        text = text.split(marker, 1)[1].split("<<<user>>>", 1)[0]
    return string.Template(text.strip("\n"))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# A tag inside an argument string would cut the block when parsed; JSON escapes keep the value.
_TAG_ESCAPES = (
    ("</tool_call>", "<\\/tool_call>"),
    ("<tool_call>", "\\u003ctool_call>"),
    ("</think>", "<\\/think>"),
    ("<think>", "\\u003cthink>"),
)


def _call_json(call: ToolCall) -> str:
    text = _dumps({"name": call.name, "arguments": call.arguments})
    if "<" in text:
        for tag, escaped in _TAG_ESCAPES:
            text = text.replace(tag, escaped)
    return text


def render_calls_text(calls: Iterable[ToolCall | dict]) -> str:
    """The reference answer text: one <tool_call> block per call, newline separated."""
    calls = calls_from_list(list(calls))
    return "\n".join(f"<tool_call>\n{_call_json(c)}\n</tool_call>" for c in calls)


def render_system_prompt(tools: Sequence[Any], current_time: str) -> str:
    """System prompt with the tools (validated, normalised) and the current time."""
    specs = load_tools(tools)
    lines = "\n".join(_dumps(spec.to_openai()) for spec in specs)
    template = _system_template(str(data_dir("prompts") / POLICY_PROMPT))
    return template.substitute(current_time=current_time, tool_lines=lines)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else _dumps(value)


def _check_role(message: Any, index: int) -> str:
    if not isinstance(message, dict):
        raise ValueError(f"messages[{index}]: expected an object, got {type(message).__name__}")
    role = message.get("role")
    if role not in ("system", "user", "assistant", "tool"):
        raise ValueError(f"messages[{index}].role: expected system/user/assistant/tool, got {role!r}")
    return str(role)


def render_paper_messages(tools: Sequence[Any], messages: Sequence[dict], current_time: str) -> list[dict]:
    """System prompt + the conversation in the paper format.

    A system message in the conversation (e.g. a persona) is appended to the generated system
    prompt; consecutive tool results become one user turn of <tool_response> blocks, as in
    the Qwen/Hermes template the paper's policy was trained with.
    """
    system = render_system_prompt(tools, current_time)
    out: list[dict] = [{"role": "system", "content": system}]
    tool_turn_open = False
    for i, message in enumerate(messages):
        role = _check_role(message, i)
        content = _text(message.get("content"))
        if role == "system":
            if content:
                out[0]["content"] += "\n\n" + content
            continue
        if role == "tool":
            block = f"<tool_response>\n{content}\n</tool_response>"
            if tool_turn_open:
                out[-1]["content"] += "\n" + block
            else:
                out.append({"role": "user", "content": block})
                tool_turn_open = True
            continue
        tool_turn_open = False
        if role == "assistant":
            calls = calls_from_list(message.get("tool_calls") or [], f"messages[{i}].tool_calls")
            parts = [p for p in (content.strip(), render_calls_text(calls)) if p]
            out.append({"role": "assistant", "content": "\n".join(parts)})
        else:
            out.append({"role": "user", "content": content})
    return out


def render_openai_messages(tools: Sequence[Any], messages: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """(chat messages, `tools` parameter) in the OpenAI Chat Completions form.

    Call ids are deterministic (`call_<message>_<k>`) so the same sample renders to the same
    request (request caching depends on it). A tool message is paired with the first unanswered
    call of the preceding assistant turn that has the same name (or the first one, if the tool
    message has no name). The API rejects a history where a call is left unanswered before the
    next user or assistant turn, so that is an error here too.
    """
    tools_param = [spec.to_openai() for spec in load_tools(tools)]
    out: list[dict] = []
    pending: list[tuple[str, str]] = []  # (id, name) of unanswered calls
    pending_from = -1
    for i, message in enumerate(messages):
        role = _check_role(message, i)
        content = _text(message.get("content"))
        if role == "tool":
            name = message.get("name")
            pick = next((k for k, (_, n) in enumerate(pending) if name is None or n == name), None)
            if pick is None:
                label = f"tool result for {name!r}" if name else "tool result"
                raise ValueError(f"messages[{i}]: {label} has no unanswered call in the preceding assistant turn")
            call_id, _ = pending.pop(pick)
            out.append({"role": "tool", "tool_call_id": call_id, "content": content})
            continue
        if pending:
            raise ValueError(f"messages[{pending_from}]: call(s) {[n for _, n in pending]} have no tool result before messages[{i}]")
        if role == "assistant":
            calls = calls_from_list(message.get("tool_calls") or [], f"messages[{i}].tool_calls")
            entry: dict[str, Any] = {"role": "assistant", "content": content if (content or not calls) else None}
            if calls:
                ids = [f"call_{i}_{k}" for k in range(len(calls))]
                entry["tool_calls"] = [
                    {"id": cid, "type": "function", "function": {"name": c.name, "arguments": _dumps(c.arguments)}}
                    for cid, c in zip(ids, calls)
                ]
                pending = [(cid, c.name) for cid, c in zip(ids, calls)]
                pending_from = i
            out.append(entry)
        else:
            out.append({"role": role, "content": content})
    return out, tools_param
