"""ACEBench's agent dialogs: agent_multi_step (the agent works alone) and agent_multi_turn (a
simulated user talks to it), run against our scenario backends.

The loops follow ACEBench's (model_inference/multi_step and multi_turn, 40 messages at most):
  multi_step  the agent answers; every agent message goes to execution and its result back to
              the agent; the dialog ends at a message containing "finish conversation" (from
              the third message on). ACEBench shows the agent the user's task and the execution
              results, but not its own earlier messages; the `acebench` format keeps that.
  multi_turn  the simulated user opens (asked with ACEBench's opening question); an agent
              message with a [...] that decodes goes to execution, any other to the user, whose
              reply goes to the agent; same ending rule.
The simulated user is the engine's `user` role (prompts/acebench_user.md); the agent is the
evaluated role. In the `native` format calls are OpenAI tool calls and results are tool
messages; a reply without calls is, in multi_step, answered with ACEBench's "Please do not ask
me any questions..." (what its execution says to text), in multi_turn sent to the user.

The record keeps the whole dialog, the messages sent for execution (ACEBench's process list),
the final state and both verdicts (looptool.eval.acebench_check: `acebench` and `strict`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from looptool.eval.acebench_check import check_agent_state, process_accuracy, strict_agent_state
from looptool.eval.acebench_data import AceItem
from looptool.eval.acebench_decode import render_calls
from looptool.eval.acebench_execution import STEP_DECODE_FAILURE, Executor, Reply
from looptool.eval.acebench_format import AceFormat, WireNames, functions_text, native_tools, prompt, read_answer
from looptool.llm.types import ChatRequest, LLMResult

FINISH = "finish conversation"
MAX_DIALOG_MESSAGES = 40  # ACEBench's --max-dialog-turns default

Ask = Callable[[str, ChatRequest], Awaitable[LLMResult]]


@dataclass
class AgentSettings:
    fmt: AceFormat
    max_tokens: int | None
    temperature: float
    cache_salt: str | None
    agent_role: str = "policy"
    user_role: str = "user"
    max_messages: int = MAX_DIALOG_MESSAGES


@dataclass
class _Dialog:
    item: AceItem
    settings: AgentSettings
    ask: Ask
    executor: Executor
    names: WireNames
    tools: list[dict[str, Any]]
    messages: list[dict[str, Any]] = field(default_factory=list)  # ACEBench's message history
    executed: list[str] = field(default_factory=list)
    history: str = ""  # `acebench` format: the agent's view of the dialog
    chat: list[dict[str, Any]] = field(default_factory=list)  # `native` format: the agent's chat
    requests: int = 0
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "cached": 0})

    @property
    def language(self) -> str:
        return self.item.language

    async def call(self, role: str, request: ChatRequest) -> LLMResult:
        result = await self.ask(role, request)
        self.requests += 1
        self.usage["prompt_tokens"] += result.usage.prompt_tokens
        self.usage["completion_tokens"] += result.usage.completion_tokens
        self.usage["cached"] += int(result.cached)
        return result

    def request(self, messages: list[dict[str, Any]], native: bool) -> ChatRequest:
        s = self.settings
        if native:
            return ChatRequest(
                messages=messages,
                tools=self.tools,
                tool_choice="auto",
                temperature=s.temperature,
                max_tokens=s.max_tokens,
                cache_salt=s.cache_salt,
            )
        return ChatRequest(messages=messages, temperature=s.temperature, max_tokens=s.max_tokens, cache_salt=s.cache_salt)


def _rules(item: AceItem) -> str:
    parts = []
    if "Travel" in item.involved_classes:
        parts.append(prompt("acebench_agent.md", "rules_travel", item.language))
    if "BaseApi" in item.involved_classes:
        parts.append(prompt("acebench_agent.md", "rules_phone", item.language))
    return "\n\n".join(parts)


def _line(sender: str, message: Any, step: bool) -> str:
    """One history line as ACEBench's scenes write it."""
    if sender == "execution":
        return ("execution result:" if step else "execution:") + str(message) + "\n"
    return f"{sender}:" + (message if isinstance(message, str) else str(message)) + "\n"


# -- the agent's turn ---------------------------------------------------------------------------


async def _agent_text(dialog: _Dialog, step: bool) -> tuple[str, list[tuple[str, dict[str, Any]]] | None, dict[str, Any]]:
    """Ask the agent; (visible text, native calls or None, raw answer)."""
    item = dialog.item
    if dialog.settings.fmt == "acebench":
        system = prompt("acebench_agent.md", "step" if step else "turn", dialog.language, rules=_rules(item))
        user = prompt("acebench_agent.md", "history", dialog.language, functions=functions_text(item.functions), history=dialog.history)
        result = await dialog.call(
            dialog.settings.agent_role,
            dialog.request([{"role": "system", "content": system}, {"role": "user", "content": user}], native=False),
        )
        answer = read_answer(result, "acebench", dialog.names)
        return answer.text, None, answer.raw
    result = await dialog.call(dialog.settings.agent_role, dialog.request(list(dialog.chat), native=True))
    answer = read_answer(result, "native", dialog.names)
    calls = [(name, args) for call in answer.calls or [] for name, args in call.items()]
    return answer.text, (calls or None), answer.raw


def _native_assistant(dialog: _Dialog, text: str, calls: list[tuple[str, dict[str, Any]]] | None) -> list[str]:
    """Append the agent's native message; returns the tool-call ids."""
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    ids: list[str] = []
    if calls:
        ids = [f"call_{len(dialog.chat)}_{k}" for k in range(len(calls))]
        message["tool_calls"] = [
            {
                "id": cid,
                "type": "function",
                "function": {"name": dialog.names.to_wire.get(name, name), "arguments": json.dumps(args, ensure_ascii=False)},
            }
            for cid, (name, args) in zip(ids, calls)
        ]
    dialog.chat.append(message)
    return ids


def _native_results(dialog: _Dialog, ids: list[str], reply: Reply) -> None:
    if isinstance(reply.message, list) and len(reply.message) == len(ids):
        contents = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in reply.message]
    else:
        text = reply.error or (reply.message if isinstance(reply.message, str) else json.dumps(reply.message, ensure_ascii=False))
        contents = [text] * len(ids)
    for cid, content in zip(ids, contents):
        dialog.chat.append({"role": "tool", "tool_call_id": cid, "content": content})


def _execute(dialog: _Dialog, text: str, calls: list[tuple[str, dict[str, Any]]] | None) -> Reply:
    if dialog.settings.fmt == "native":
        if not calls:
            return Reply(message=STEP_DECODE_FAILURE, executed=False, error=STEP_DECODE_FAILURE)
        return dialog.executor.respond_calls(calls)
    return dialog.executor.respond(text)


def _process_text(text: str, calls: list[tuple[str, dict[str, Any]]] | None) -> str:
    """What the agent sent for execution, as ACEBench's process list holds it (native calls in
    ACEBench's syntax)."""
    return render_calls(calls) if calls else text


# -- the loops ----------------------------------------------------------------------------------


async def _multi_step(dialog: _Dialog) -> None:
    item = dialog.item
    dialog.messages.append({"sender": "user", "recipient": "agent", "message": item.question})
    if dialog.settings.fmt == "native":
        system = prompt("acebench_agent.md", "native_step", dialog.language)
        dialog.chat = [{"role": "system", "content": system}, {"role": "user", "content": item.question}]
    pending: tuple[str, list | None, list[str]] | None = None
    for index in range(dialog.settings.max_messages):
        last = dialog.messages[-1]
        if index == 0 or last["sender"] == "execution":
            dialog.history += _line(last["sender"], last["message"], step=True)
            text, calls, raw = await _agent_text(dialog, step=True)
            ids = _native_assistant(dialog, text, calls) if dialog.settings.fmt == "native" else []
            pending = (text, calls, ids)
            message: Any = text
            dialog.messages.append(
                {"sender": "agent", "recipient": "execution", "message": text, **({"calls": [{n: a} for n, a in calls]} if calls else {})}
            )
        else:
            assert pending is not None
            text, calls, ids = pending
            dialog.executed.append(_process_text(text, calls))
            reply = _execute(dialog, text, calls)
            if dialog.settings.fmt == "native":
                if ids:
                    _native_results(dialog, ids, reply)
                else:
                    dialog.chat.append({"role": "user", "content": STEP_DECODE_FAILURE})
            message = reply.message
            dialog.messages.append({"sender": "execution", "recipient": "agent", "message": reply.message})
        if index > 1 and _finishes(message):
            break


def _finishes(message: Any) -> bool:
    return FINISH in message if isinstance(message, (str, list)) else False


def _user_request(dialog: _Dialog, transcript: list[str]) -> ChatRequest:
    item = dialog.item
    domain = "phone" if "BaseApi" in item.involved_classes else "travel"
    system = prompt("acebench_user.md", domain, dialog.language)
    user = prompt("acebench_user.md", "message", dialog.language, instruction=item.question, transcript="\n".join(transcript))
    s = dialog.settings
    return ChatRequest(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        temperature=s.temperature,
        max_tokens=s.max_tokens,
        cache_salt=s.cache_salt,
    )


async def _user_says(dialog: _Dialog, transcript: list[str]) -> str:
    result = await dialog.call(dialog.settings.user_role, _user_request(dialog, transcript))
    text = (result.first.text or "").strip()
    transcript.append(f"user: {text}")
    return text


async def _multi_turn(dialog: _Dialog) -> None:
    opening = prompt("acebench_user.md", "opening", dialog.language)
    transcript = [f"agent: {opening}"]
    first = await _user_says(dialog, transcript)
    dialog.messages.append({"sender": "user", "recipient": "agent", "message": first})
    if dialog.settings.fmt == "native":
        system = prompt("acebench_agent.md", "native_turn", dialog.language, rules=_rules(dialog.item))
        dialog.chat = [{"role": "system", "content": system}, {"role": "user", "content": first}]
    pending: tuple[str, list | None, list[str]] | None = None
    for index in range(dialog.settings.max_messages):
        last = dialog.messages[-1]
        dialog.history += _line(last["sender"], last["message"], step=False)
        if last["recipient"] == "user":
            transcript.append(f"agent: {last['message']}")
            text = await _user_says(dialog, transcript)
            if dialog.settings.fmt == "native":
                dialog.chat.append({"role": "user", "content": text})
            message: Any = text
            dialog.messages.append({"sender": "user", "recipient": "agent", "message": text})
        elif last["recipient"] == "agent":
            text, calls, raw = await _agent_text(dialog, step=False)
            if dialog.settings.fmt == "native":
                ids = _native_assistant(dialog, text, calls)
                to_execution = bool(calls)
            else:
                ids = []
                to_execution = dialog.executor.routes_to_execution(text)
            pending = (text, calls, ids)
            message = text
            dialog.messages.append(
                {
                    "sender": "agent",
                    "recipient": "execution" if to_execution else "user",
                    "message": text,
                    **({"calls": [{n: a} for n, a in calls]} if calls else {}),
                }
            )
        else:
            assert pending is not None
            text, calls, ids = pending
            dialog.executed.append(_process_text(text, calls))
            reply = _execute(dialog, text, calls)
            if dialog.settings.fmt == "native":
                _native_results(dialog, ids, reply)
            message = reply.message
            dialog.messages.append({"sender": "execution", "recipient": "agent", "message": reply.message})
        if index > 1 and _finishes(message):
            break


async def run_agent_item(item: AceItem, settings: AgentSettings, ask: Ask) -> dict[str, Any]:
    """Play one agent item to its end and judge it; the record the evaluator stores."""
    variant = "multi_step" if item.category == "agent_multi_step" else "multi_turn"
    names = WireNames.build(item.functions)
    dialog = _Dialog(
        item=item,
        settings=settings,
        ask=ask,
        executor=Executor(item.initial_config, item.involved_classes, item.language, variant),
        names=names,
        tools=native_tools(item.functions, names),
    )
    await (_multi_step(dialog) if variant == "multi_step" else _multi_turn(dialog))
    state = dialog.executor.final_state()
    verdict = check_agent_state(state, item.ground_truth)
    strict = strict_agent_state(state, item.ground_truth)
    process = 1.0 if verdict.valid else process_accuracy(dialog.executed, item.mile_stone)
    return {
        "category": item.category,
        "acebench": verdict.as_dict(),
        "strict": strict.as_dict(),
        "process_accuracy": process,
        "final_state": state,
        "executed": dialog.executed,
        "dialog": dialog.messages,
        "requests": dialog.requests,
        "usage": dialog.usage,
    }
