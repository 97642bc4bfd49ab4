"""Oracle tables for the simulator (looptool.sim.oracle) from ACEBench's ground truth.

Why: the simulator answering with the ground truth checks the whole evaluator (prompts, the
engine's client, decoding, agent loops and backends, both checkers, aggregation) against what
the data allows; in the `acebench` format the per-item decisions must be the official
evaluator's on its own ground truth (tests/eval/data/acebench_official_*.jsonl).

Answers (looptool.eval.acebench_answers):
  normal     `acebench`: the ground-truth calls as ACEBench text; `native`: the same calls as
             tool calls;
  special    the fixed sentence (`acebench`: inside ["..."], as ACEBench's prompt asks);
  agent      the milestone messages verbatim, one per agent turn, then "finish conversation";
             the first milestone path whose replay reaches the ground-truth state (or the first
             path when none does). In `native` a milestone that decodes becomes tool calls, one
             that does not is answered as text (as a model that wrote it would be read). The
             simulated user answers the opening question with the instruction and anything
             later with "Please go on.".
`wrong=True` answers wrongly instead: the first function renamed, a call instead of the special
sentence, milestones with their first argument changed.

Agent dialogs are built by running the real agent loop with scripted answers, so every row's
key is a request the evaluation will really make. Requests that collide (same user messages and
tools, different answers: e.g. agent items that differ only in their initial state) cannot share
a table; `build_tables` splits the selection into batches that are evaluated one after another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looptool.eval.acebench_agent import FINISH, AgentSettings, run_agent_item
from looptool.eval.acebench_answers import ideal_calls, ideal_text, milestone_paths, milestones, special_sentence
from looptool.eval.acebench_categories import AGENT, KINDS
from looptool.eval.acebench_check import check_agent_state
from looptool.eval.acebench_data import AceItem
from looptool.eval.acebench_decode import DecodeError, decode_execution, render_calls
from looptool.eval.acebench_execution import replay_messages
from looptool.eval.acebench_format import AceFormat, WireNames, item_request
from looptool.eval.acebench_mutations import changed_value, perturbed_message
from looptool.llm.types import ChatRequest, Choice, LLMResult, Usage
from looptool.sim.oracle import OracleRow, oracle_key
from looptool.store.atomic import atomic_write_text

USER_LATER_ANSWER = "Please go on."


def _users_and_step(messages: list[dict[str, Any]]) -> tuple[list[str], int]:
    """What the simulator keys a request by: its user messages and the assistant messages after
    the last one (looptool.sim.oracle)."""
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    step = sum(1 for m in messages[last + 1 :] if m.get("role") == "assistant") if last >= 0 else 0
    return users, step


def _row(row_id: str, request: ChatRequest, text: str | None, calls: list[dict[str, Any]] | None) -> OracleRow:
    users, step = _users_and_step(request.messages)
    tools = [t["function"] for t in request.tools or []]
    return OracleRow(id=row_id, user=users, tools=tools, calls=calls, text=None if calls else (text or ""), step=step)


def best_path(item: AceItem) -> int:
    """The first milestone path whose replay passes ACEBench's state check (else the first)."""
    variant = "multi_step" if item.category == "agent_multi_step" else "multi_turn"
    for alternative in range(milestone_paths(item)):
        replay = replay_messages(item.initial_config, item.involved_classes, item.language, variant, milestones(item, alternative))
        if check_agent_state(replay.final_state, item.ground_truth).valid:
            return alternative
    return 0


@dataclass
class _Script:
    """Answers one agent dialog's requests from a script and records each as an oracle row."""

    item: AceItem
    fmt: AceFormat
    agent_answers: list[str]
    rows: list[OracleRow] = field(default_factory=list)
    user_turns: int = 0

    async def __call__(self, role: str, request: ChatRequest) -> LLMResult:
        number = len(self.rows)
        if role == "user":
            text = self.item.question if self.user_turns == 0 else USER_LATER_ANSWER
            self.user_turns += 1
            self.rows.append(_row(f"{self.item.id}#{number}:user", request, text, None))
            return _result(text, [])
        message = self.agent_answers.pop(0) if self.agent_answers else FINISH
        calls = None
        if self.fmt == "native" and message != FINISH:
            try:
                decoded = decode_execution(message, non_call="reject")
            except DecodeError:
                decoded = None
            if decoded:
                wire = WireNames.build(self.item.functions).to_wire
                calls = [{"name": wire.get(name, name), "arguments": args} for call in decoded for name, args in call.items()]
        self.rows.append(_row(f"{self.item.id}#{number}", request, message, calls))
        tool_calls = [
            {
                "id": f"call_{k}",
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)},
            }
            for k, c in enumerate(calls or [])
        ]
        return _result("" if calls else message, tool_calls)


def _result(text: str, tool_calls: list[dict[str, Any]]) -> LLMResult:
    return LLMResult(
        choices=[Choice(index=0, text=text, finish_reason="tool_calls" if tool_calls else "stop", tool_calls=tool_calls)],
        usage=Usage(),
        endpoint="script",
        model="oracle",
        latency_s=0.0,
    )


def _agent_answers(item: AceItem, wrong: bool) -> list[str]:
    path = milestones(item, best_path(item))
    return [perturbed_message(m, changed_value) for m in path] if wrong else list(path)


def _single_answer(item: AceItem, fmt: AceFormat, wrong: bool) -> tuple[str | None, list[dict[str, Any]] | None]:
    """(text, calls with the functions' own names) of a normal or special item."""
    if KINDS[item.category] == "special":
        if wrong:
            first = item.functions[0]["name"] if item.functions else "Api"
            return (f"[{first}()]", None) if fmt == "acebench" else (None, [{"name": first, "arguments": {}}])
        sentence = special_sentence(item)
        return (f'["{sentence}"]' if fmt == "acebench" else sentence), None
    calls = ideal_calls(item)
    if wrong:
        calls = [(calls[0][0] + "X", calls[0][1]), *calls[1:]]
    if fmt == "acebench":
        return (ideal_text(item) if not wrong else render_calls(calls)), None
    return None, [{"name": name, "arguments": args} for name, args in calls]


async def item_rows(item: AceItem, fmt: AceFormat, *, wrong: bool = False, settings: AgentSettings | None = None) -> list[OracleRow]:
    """The oracle rows answering every request the evaluation of `item` makes."""
    if item.category in AGENT:
        script = _Script(item, fmt, _agent_answers(item, wrong))
        agent = settings or AgentSettings(fmt=fmt, max_tokens=None, temperature=0.0, cache_salt=None)
        await run_agent_item(item, agent, script)
        return script.rows
    request, names = item_request(item, fmt, max_tokens=None, temperature=0.0, cache_salt=None)
    text, calls = _single_answer(item, fmt, wrong)
    if calls:
        calls = [{"name": names.to_wire.get(c["name"], c["name"]), "arguments": c["arguments"]} for c in calls]
    return [_row(item.id, request, text, calls)]


@dataclass
class OracleBatch:
    ids: list[str]
    path: Path
    rows: int


async def build_tables(
    items: list[AceItem], fmt: AceFormat, directory: Path, *, wrong: bool = False, settings: AgentSettings | None = None
) -> list[OracleBatch]:
    """Tables for `items`, split into batches without colliding requests; in item order."""
    directory = Path(directory)
    batches: list[dict[str, Any]] = []  # {"ids", "keys": {key: answer}, "rows"}
    for item in items:
        rows = await item_rows(item, fmt, wrong=wrong, settings=settings)
        keyed = {oracle_key(r.user, r.tools, r.step): json.dumps({"calls": r.calls, "text": r.text}, sort_keys=True) for r in rows}
        target = next((b for b in batches if all(b["keys"].get(k, a) == a for k, a in keyed.items())), None)
        if target is None:
            target = {"ids": [], "keys": {}, "rows": []}
            batches.append(target)
        target["ids"].append(item.id)
        target["keys"].update(keyed)
        target["rows"].extend(rows)
    out = []
    for index, batch in enumerate(batches):
        path = directory / f"oracle-{fmt}{'-wrong' if wrong else ''}-{index}.jsonl"
        atomic_write_text(path, "".join(r.model_dump_json(exclude_none=True) + "\n" for r in batch["rows"]))
        out.append(OracleBatch(ids=batch["ids"], path=path, rows=len(batch["rows"])))
    return out
