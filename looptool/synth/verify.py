"""Two-tier verification of simulated dialogs (paper §3.3) and near-duplicate removal.

Tier 1 (rules, no LLM): every call parses, names a tool of the dialog, has its required arguments
with the right types and enum values. Tier 2 (LLM judge, per tool-call step): the calls are what
the conversation asks for, with values taken from it. A dialog enters the seed set only if every
step passes both; rejected dialogs are kept with their reasons, never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.similarity import JaccardIndex
from looptool.tools.validate import validate_call

STAGE = "seed/verify"
WORD = re.compile(r"[a-z0-9]+")


def rule_issues(record: dict[str, Any]) -> list[dict[str, Any]]:
    issues = []
    for number, step in enumerate(record.get("steps", [])):
        for issue in step.get("rule_issues", []):
            issues.append({"step": number, **issue})
        for call in step.get("calls", []):
            for problem in validate_call(call, record["tools"]):
                entry = {"step": number, "reason": problem.reason, "message": problem.message}
                if entry not in issues:
                    issues.append(entry)
    return issues


async def judge_step(caller: RoleCaller, record: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    conversation = record["messages"][: step["message_index"]]
    payload = {"tools": record["tools"], "conversation": conversation, "calls": step["calls"]}
    try:
        answer = await caller.call("judge", "verify_step", {"input_json": json.dumps(payload, ensure_ascii=False)})
        return dict(answer.value)
    except OutputInvalid as error:  # still unusable after the caller's re-asks: no verdict, not a fail
        return {"verdict": "unusable", "reason": f"judge answer unusable ({error.reason})"}


async def verify_dialog(caller: RoleCaller, record: dict[str, Any], use_judge: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"dialog_status": record.get("status"), "steps": [], "reasons": []}
    if record.get("status") != "ok":
        result["reasons"].append(f"dialog:{record.get('status')}")
    issues = rule_issues(record)
    for issue in issues:
        reason = f"rule:{issue['reason']}"
        if reason not in result["reasons"]:
            result["reasons"].append(reason)
    result["rule_issues"] = issues
    if not result["reasons"] and use_judge:
        for step in record.get("steps", []):
            verdict = await judge_step(caller, record, step)
            result["steps"].append({"judge": verdict})
            reason = "judge:unusable" if verdict.get("verdict") == "unusable" else "judge:fail"
            if verdict.get("verdict") != "pass" and reason not in result["reasons"]:
                result["reasons"].append(reason)
    result["passed"] = not result["reasons"]
    return result


def dialog_tokens(record: dict[str, Any]) -> frozenset[str]:
    """What makes two dialogs the same: what users asked and which calls answered them."""
    words: list[str] = []
    for message in record["messages"]:
        if message["role"] == "user":
            words += WORD.findall(message.get("content", "").lower())
        for call in message.get("tool_calls") or []:
            words.append(f"call:{call['name']}")
            words += WORD.findall(json.dumps(call["arguments"], sort_keys=True).lower())
    return frozenset(words)


def deduplicate(records: list[dict[str, Any]], threshold: float) -> dict[str, str]:
    """id -> id of the earlier near-duplicate it repeats (records in a fixed order: by id)."""
    index = JaccardIndex(threshold)
    duplicates: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r["id"]):
        tokens = dialog_tokens(record)
        match = index.most_similar(tokens)
        if match is not None:
            duplicates[record["id"]] = match[0]
        else:
            index.add(record["id"], tokens)
    return duplicates


def verification_counts(verdicts: list[dict[str, Any]], duplicates: dict[str, str]) -> dict[str, Any]:
    reasons: Counter[str] = Counter()
    for verdict in verdicts:
        for reason in verdict.get("reasons", []):
            reasons[reason] += 1
    passed = sum(1 for v in verdicts if v.get("passed"))
    counts: dict[str, Any] = {
        "dialogs_checked": len(verdicts),
        "dialogs_passed": passed,
        "near_duplicates_removed": len(duplicates),
        "seed_dialogs": passed - len(duplicates),
        "pass_rate": round(passed / len(verdicts), 4) if verdicts else 0.0,
    }
    counts.update({f"rejected[{k}]": v for k, v in sorted(reasons.items())})
    return counts
