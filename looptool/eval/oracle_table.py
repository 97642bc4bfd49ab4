"""An oracle table for the simulator (looptool.sim.oracle) built from BFCL's own ground truth.

Why: evaluating the simulator answering with the ground truth checks the whole evaluator
(prompting, decoding, name mapping, multi-turn execution, checking, aggregation) against what
the data allows; anything short of it is either our bug or a documented data problem.

Answers per kind:
  ast          each ground-truth call with, per parameter, the first acceptable value; a
               parameter that may be omitted ("" acceptable) and is not schema-required is left
               out; a dict value (or list of dicts) holds acceptable-value lists one level deep and
               is resolved the same way; deeper values are taken as written (BFCL compares them
               by equality)
  relevance    a call of the first offered function (any call passes)
  irrelevance  plain text
  multi_turn   per turn, the ground-truth calls with keyword arguments (bound by the worker from
               the backends' signatures); turns without ground truth answer in plain text
Rows carry the items' normalised tool specs, so two requests with the same text but different
schemas (BFCL has such pairs) get their own answers. `unanswerable` lists items whose ground
truth leaves no acceptable value for a parameter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looptool.eval.bfcl import ADDED_FUNCTIONS_MESSAGE
from looptool.eval.bfcl_client import BfclWorker
from looptool.eval.categories import KINDS
from looptool.sim.oracle import OracleRow, oracle_key
from looptool.store.atomic import atomic_write_text
from looptool.tools.spec import normalize_tool

IRRELEVANT_TEXT = "None of the available functions can do this."


class Unanswerable(ValueError):
    """The ground truth leaves no acceptable value for a parameter."""


def _pick(values: Any, where: str, nested: bool) -> Any:
    """First acceptable value of a ground-truth list. At the top level a dict value (or a list of
    dicts) is itself a map of acceptable-value lists, one level deep, as BFCL's dict checker reads
    it; below that, values are compared by plain equality and are taken as they are."""
    if not isinstance(values, list):
        raise Unanswerable(f"{where}: acceptable values are not a list")
    for value in values:
        if value == "":
            continue
        if nested:
            return value
        if isinstance(value, dict):
            return _arguments(value, (), where, nested=True)
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return [_arguments(v, (), f"{where}[{i}]", nested=True) for i, v in enumerate(value)]
        return value
    raise Unanswerable(f"{where}: no acceptable value besides omission")


def _arguments(answer: dict[str, Any], required: tuple[str, ...] | list[str], where: str, nested: bool = False) -> dict[str, Any]:
    out = {}
    for param, values in answer.items():
        if isinstance(values, list) and "" in values and param not in required:
            continue
        out[param] = _pick(values, f"{where}.{param}", nested)
    return out


def single_turn_calls(ground_truth: list[dict[str, Any]], docs: list[dict[str, Any]], item_id: str) -> list[dict[str, Any]]:
    """BFCL single-turn ground truth -> one structured call per expected call."""
    required = {doc["name"]: (doc.get("parameters") or {}).get("required") or [] for doc in docs}
    calls = []
    for index, expected in enumerate(ground_truth):
        ((name, answer),) = expected.items()
        calls.append({"name": name, "arguments": _arguments(answer, required.get(name, []), f"{item_id}[{index}].{name}")})
    return calls


@dataclass
class OracleBuild:
    path: Path
    rows: int = 0
    unanswerable: dict[str, str] = field(default_factory=dict)
    conflicts: dict[str, list[str]] = field(default_factory=dict)  # item id -> ids sharing its request


def _users(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("content") or "" for m in messages if m.get("role") == "user"]


def _rows(item: dict[str, Any], truth: Any) -> list[OracleRow]:
    item_id, kind = item["id"], KINDS[item["category"]]
    tools = [normalize_tool(f) for f in item["function"]]
    if kind == "multi_turn":
        rows, users = [], []
        withheld = item.get("missed_function") or {}
        for turn, messages in enumerate(item["question"]):
            if str(turn) in withheld:
                tools += [normalize_tool(f) for f in withheld[str(turn)]]
                messages = [{"role": "user", "content": ADDED_FUNCTIONS_MESSAGE}]
            users += _users(messages)
            calls = truth[turn]
            rows.append(
                OracleRow(
                    id=f"{item_id}#{turn}",
                    user=list(users),
                    tools=list(tools),
                    calls=calls or None,
                    text=None if calls else IRRELEVANT_TEXT,
                )
            )
        return rows
    users = _users(item["question"][0])
    if kind == "irrelevance":
        return [OracleRow(id=item_id, user=users, tools=tools, text=IRRELEVANT_TEXT)]
    if kind == "relevance":
        return [OracleRow(id=item_id, user=users, tools=tools, calls=[{"name": tools[0]["name"], "arguments": {}}])]
    return [OracleRow(id=item_id, user=users, tools=tools, calls=single_turn_calls(truth, item["function"], item_id))]


async def write_oracle_table(worker: BfclWorker, items: list[dict[str, Any]], path: Path) -> OracleBuild:
    """Write the table for `items` (as returned by the worker's `items` op) to `path`."""
    build = OracleBuild(path=Path(path))
    need_truth = [i["id"] for i in items if KINDS[i["category"]] in ("ast", "multi_turn")]
    truth = await worker.call("ground_truth", ids=need_truth) if need_truth else {}
    lines: list[str] = []
    owners: dict[str, tuple[str, str]] = {}  # key -> (item id, answer json)
    for item in items:
        try:
            rows = _rows(item, truth.get(item["id"]))
        except Unanswerable as exc:
            build.unanswerable[item["id"]] = str(exc)
            continue
        for row in rows:
            key = oracle_key(row.user, row.tools)
            answer = json.dumps({"calls": row.calls, "text": row.text}, sort_keys=True)
            owner = owners.setdefault(key, (item["id"], answer))
            if owner[0] != item["id"] and owner[1] != answer:
                build.conflicts.setdefault(item["id"], []).append(owner[0])
            lines.append(row.model_dump_json(exclude_none=True))
    atomic_write_text(build.path, "\n".join(lines) + ("\n" if lines else ""))
    build.rows = len(lines)
    return build
