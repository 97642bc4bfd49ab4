"""Oracle answers for the simulator: a lookup table of known-right answers to known requests.

Why: to test an evaluator end to end, the simulator must answer a benchmark the way a perfect
model would (or a deliberately wrong one), through the same HTTP path a real model is called on.
The table is a JSONL file named by `SimSettings.oracle_path`; each row is an `OracleRow`:

    {"id": "simple_python_0", "user": ["Find the area ..."], "tools": ["calculate_triangle_area"],
     "calls": [{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}]}
    {"id": "irrelevance_3", "user": ["..."], "tools": [...], "calls": null, "text": "No function fits."}

A request matches a row by its user messages (in order, tool results excluded) and its tools:
either their names or, stricter, full specs (name + JSON Schema `parameters`, compared after
looptool.tools.spec normalisation), as a set, with `.` and `_` in names treated alike so one
table serves both the paper format and native tools (where dots are renamed). A request is
looked up by specs first, then by names. Once the assistant has answered after the last user
message (it called and got results), the turn is over and the oracle replies with plain text,
unless the table has a row for that step: `step` counts the assistant messages since the last
user message, so an agent that works alone (call, result, next call) can be answered step by
step (ACEBench's agent_multi_step).
With the model's `wrong_call_rate`, an answer's calls are perturbed (looptool.sim.responder's
wrong-call model), which is how a "wrong model" is simulated.

Rows with the same key but different answers cannot both be honoured: the first row wins and
the others are listed by `load_table(...).conflicts`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from looptool.errors import InputError
from looptool.sim.answers import paper_answer, perturb_calls
from looptool.sim.settings import SimSettings
from looptool.sim.world import (
    TOOLS_BLOCK,
    Step,
    normalize_tool,
    tools_from_request,
    turns_from_messages,
)

TURN_DONE_TEXT = "Done: the requested operations are complete."


class OracleRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    user: list[str]
    tools: list[str] | list[dict[str, Any]]
    calls: list[dict[str, Any]] | None = None
    text: str | None = None
    step: int = 0


def _norm_name(name: str) -> str:
    return name.replace(".", "_")


def _signature(tool: str | dict[str, Any]) -> str:
    if isinstance(tool, str):
        return _norm_name(tool)
    return json.dumps(
        {"name": _norm_name(str(tool.get("name"))), "parameters": tool.get("parameters") or {}},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def oracle_key(user_messages: list[str], tools: list[str] | list[dict[str, Any]], step: int = 0) -> str:
    """Key of a request: its user messages, its tools (names, or name + parameters specs) and
    how many assistant messages followed the last user message."""
    key: dict[str, Any] = {"user": list(user_messages), "tools": sorted({_signature(t) for t in tools})}
    if step:
        key["step"] = step
    canonical = json.dumps(key, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class OracleTable:
    rows: dict[str, OracleRow]
    conflicts: list[tuple[str | None, str | None]] = field(default_factory=list)  # (kept id, dropped id)


def _answer(row: OracleRow) -> Any:
    return {"calls": row.calls, "text": row.text}


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> OracleTable:
    table = OracleTable(rows={})
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = OracleRow.model_validate_json(line)
            except ValidationError as exc:
                raise InputError(f"{path}:{number}: not an oracle row ({exc.errors()[0]['msg']})") from None
            if row.calls is None and row.text is None:
                raise InputError(f"{path}:{number}: an oracle row needs 'calls' or 'text'")
            key = oracle_key(row.user, row.tools, row.step)
            kept = table.rows.get(key)
            if kept is None:
                table.rows[key] = row
            elif _answer(kept) != _answer(row):
                table.conflicts.append((kept.id, row.id))
    return table


def load_table(path: str | os.PathLike[str]) -> OracleTable:
    """The table at `path`, read once per file version."""
    stat = os.stat(path)
    return _load(os.fspath(path), stat.st_mtime_ns, stat.st_size)


def request_tools(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Tools of a request: the `tools` field, else every non-empty <tools> block of the system
    prompt (the paper template also names the empty tag pair in its prose, before the real block)."""
    found = tools_from_request(payload)
    if found:
        return found
    for message in payload.get("messages") or []:
        content = message.get("content")
        if message.get("role") != "system" or not isinstance(content, str):
            continue
        for body in TOOLS_BLOCK.findall(content):
            for line in body.splitlines():
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    tool = normalize_tool(json.loads(line))
                except ValueError:
                    continue
                if tool:
                    found.append(tool)
    return found


def oracle_message(payload: dict[str, Any], settings: SimSettings, rng: random.Random) -> tuple[dict[str, Any], str] | None:
    """The oracle's assistant message for a chat request, or None when no row matches."""
    if not settings.oracle_path:
        return None
    table = load_table(settings.oracle_path)
    tools = request_tools(payload)
    turns = turns_from_messages(payload.get("messages") or [])
    last_user = max((i for i, t in enumerate(turns) if t.role == "user"), default=-1)
    step = sum(1 for t in turns[last_user + 1 :] if t.role == "assistant") if last_user >= 0 else 0
    users = [t.text for t in turns if t.role == "user"]
    row = table.rows.get(oracle_key(users, tools, step)) or table.rows.get(oracle_key(users, [t["name"] for t in tools], step))
    if row is None:
        if step:
            return {"role": "assistant", "content": TURN_DONE_TEXT}, "stop"
        return None
    if not row.calls:
        return {"role": "assistant", "content": row.text or ""}, "stop"
    wire_names = {_norm_name(t["name"]): t["name"] for t in tools}
    calls = [{"name": wire_names.get(_norm_name(c["name"]), c["name"]), "arguments": c.get("arguments") or {}} for c in row.calls]
    if rng.random() < settings.profile(str(payload.get("model", ""))).wrong_call_rate:
        calls = perturb_calls(calls, tools, rng)
    if payload.get("tools"):
        tool_calls = [
            {
                "id": f"call_{rng.getrandbits(48):012x}{i}",
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)},
            }
            for i, c in enumerate(calls)
        ]
        return {"role": "assistant", "content": None, "tool_calls": tool_calls}, "tool_calls"
    return {"role": "assistant", "content": paper_answer(Step(calls), malformed=False)}, "stop"
