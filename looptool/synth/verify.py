"""Two-tier verification (paper §3.3): one code path for seed dialogs and EDDE samples.

What is verified is a `Subject`: a conversation (tools, messages, date) and the assistant steps in
it that must be right, each with what the plan expected there ("call", "ask" for a missing
argument, "no_tool", or any "text"). Seed dialogs and EDDE samples are both turned into one
(`subject_from_dialog`, `subject_from_sample`) and go through `verify`, which returns a typed
`Verdict` with stable reason codes:

Tier 1, rules (no LLM): the ordered list `RULES`. Each rule looks at the whole subject and
reports findings under its own reason codes. Adding a rule is one entry in that list.
Tier 2, the judge (an LLM, per judged step, call steps and text steps alike): the step is what
the conversation needs at that point, with values taken from it. Asked only when every rule
passed, and stopped at the first failing step (the subject is rejected either way).

A subject passes only if no rule finds anything and the judge passes every judged step; a
rejected one keeps every reason, never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.samples import StepSample
from looptool.similarity import JaccardIndex
from looptool.tools.validate import validate_call

STAGE = "seed/verify"
WORD = re.compile(r"[a-z0-9]+")
Expectation = Literal["call", "ask", "no_tool", "text"]
TEXT_EXPECTATIONS = ("ask", "no_tool", "text")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckedStep(_Model):
    """One assistant turn of the subject that verification is about."""

    index: int = Field(description="position of the assistant message in Subject.messages")
    calls: list[dict[str, Any]] = Field(default_factory=list)
    text: str = ""
    expects: Expectation | None = Field(None, description="what the plan says is due here; None: either")
    judged: bool = True
    issues: list[dict[str, Any]] = Field(default_factory=list, description="rule issues found when the step was made")


class Subject(_Model):
    id: str
    tools: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    current_time: str = "Unknown"
    status: str = "ok"
    steps: list[CheckedStep] = Field(default_factory=list)


class Finding(_Model):
    reason: str
    message: str
    step: int | None = None


class StepJudgement(_Model):
    index: int
    verdict: Literal["pass", "fail"]
    reason: str


class Verdict(_Model):
    passed: bool
    reasons: list[str]
    findings: list[Finding] = Field(default_factory=list)
    steps: list[StepJudgement] = Field(default_factory=list)


# -- tier 1: the rules ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    name: str
    codes: tuple[str, ...]  # the reason codes it can report ("rule:*" = one per validation reason)
    check: Callable[[Subject], Iterable[Finding]]


def _dialog_finished(subject: Subject) -> Iterable[Finding]:
    if subject.status != "ok":
        yield Finding(reason=f"dialog:{subject.status}", message=f"the simulation stopped: {subject.status}")


def _opened_by_user(subject: Subject) -> Iterable[Finding]:
    if subject.messages and subject.messages[0].get("role") != "user":
        yield Finding(reason="rule:history_not_opened_by_user", message="the conversation does not open with a user turn")


def _recorded_issues(subject: Subject) -> Iterable[Finding]:
    for step in subject.steps:
        for issue in step.issues:
            yield Finding(reason=f"rule:{issue['reason']}", message=str(issue.get("message", "")), step=step.index)


def _call_schema(subject: Subject) -> Iterable[Finding]:
    """Every call in the conversation (history included) against the tools on offer."""
    for index, message in enumerate(subject.messages):
        calls = (message.get("tool_calls") or []) if message.get("role") == "assistant" else []
        for call in calls:
            try:
                problems = validate_call(call, subject.tools)
            except ValueError as error:
                yield Finding(reason="rule:malformed_call", message=str(error), step=index)
                continue
            for problem in problems:
                yield Finding(reason=f"rule:{problem.reason}", message=problem.message, step=index)


def _tool_results_follow_calls(subject: Subject) -> Iterable[Finding]:
    """A call turn followed by anything is followed first by one result per call, same names, same
    order; a tool result never appears without the call it answers."""
    messages = subject.messages
    index = 0
    while index < len(messages):
        message = messages[index]
        role = message.get("role")
        if role == "tool":
            yield Finding(reason="rule:tool_result_without_call", message="a tool result that answers no call", step=index)
        if role == "assistant" and message.get("tool_calls") and index + 1 < len(messages):
            names = [c.get("name") for c in message["tool_calls"]]
            results = []
            cursor = index + 1
            while cursor < len(messages) and messages[cursor].get("role") == "tool":
                results.append(messages[cursor].get("name"))
                cursor += 1
            if len(results) != len(names) or any(r not in (None, n) for r, n in zip(results, names)):
                yield Finding(reason="rule:tool_results_mismatch", message=f"calls {names} answered by results {results}", step=index)
            index = cursor
            continue
        index += 1


def _steps_answer_someone(subject: Subject) -> Iterable[Finding]:
    for step in subject.steps:
        before = subject.messages[step.index - 1].get("role") if step.index > 0 else None
        if before not in ("user", "tool"):
            yield Finding(reason="rule:step_not_after_user_or_tool", message=f"the step follows a {before or 'nothing'} turn", step=step.index)


_PLAN_CODES = {"ask": "plan:missing_argument_not_asked", "no_tool": "plan:no_tool_answered_with_call", "text": "plan:call_where_text_expected"}


def _plan_kept(subject: Subject) -> Iterable[Finding]:
    """What the assistant did against what the plan says is due: a planned call answered in prose,
    a call where the plan wants the missing argument asked for, a call for a no_tool request."""
    for step in subject.steps:
        if step.issues:  # a malformed call attempt: already a rule failure, and not a text answer
            continue
        if step.expects == "call" and not step.calls:
            yield Finding(reason="plan:call_answered_in_text", message="the plan needs a call here; the assistant answered in text", step=step.index)
        elif step.expects in TEXT_EXPECTATIONS and step.calls:
            yield Finding(reason=_PLAN_CODES[step.expects], message=f"the plan expects {step.expects}; the assistant called {[c.get('name') for c in step.calls]}", step=step.index)


RULES: list[Rule] = [
    Rule("dialog finished", ("dialog:*",), _dialog_finished),
    Rule("opened by the user", ("rule:history_not_opened_by_user",), _opened_by_user),
    Rule("issues recorded while simulating", ("rule:*",), _recorded_issues),
    Rule("calls valid against the tools", ("rule:*",), _call_schema),
    Rule("tool results follow their calls", ("rule:tool_result_without_call", "rule:tool_results_mismatch"), _tool_results_follow_calls),
    Rule("steps answer a user or a tool", ("rule:step_not_after_user_or_tool",), _steps_answer_someone),
    Rule("plan kept", tuple(["plan:call_answered_in_text", *_PLAN_CODES.values()]), _plan_kept),
]


def rule_findings(subject: Subject, rules: Iterable[Rule] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for rule in RULES if rules is None else rules:
        for finding in rule.check(subject):
            if finding not in findings:
                findings.append(finding)
    return findings


# -- tier 2: the judge ------------------------------------------------------------------------------
def answer_view(calls: list[dict[str, Any]], text: str) -> Any:
    """How an answer is shown to a judge: the calls, or {"text": ...} for a text reply."""
    return calls if calls else {"text": text}


async def judge_step(caller: RoleCaller, subject: Subject, step: CheckedStep) -> StepJudgement:
    payload = {"tools": subject.tools, "conversation": subject.messages[: step.index], "answer": answer_view(step.calls, step.text)}
    variables = {"current_time": subject.current_time, "input_json": json.dumps(payload, ensure_ascii=False)}
    try:
        value = (await caller.call("judge", "verify_step", variables)).value
    except OutputInvalid as error:
        return StepJudgement(index=step.index, verdict="fail", reason=f"unusable: judge answer {error.reason}")
    return StepJudgement(index=step.index, verdict=value["verdict"], reason=value["reason"])


async def verify(caller: RoleCaller, subject: Subject, use_judge: bool) -> Verdict:
    findings = rule_findings(subject)
    reasons = list(dict.fromkeys(f.reason for f in findings))
    judgements: list[StepJudgement] = []
    if not reasons and use_judge:
        for step in subject.steps:
            if not step.judged:
                continue
            judgement = await judge_step(caller, subject, step)
            judgements.append(judgement)
            if judgement.verdict != "pass":
                reasons.append("judge:unusable" if judgement.reason.startswith("unusable:") else "judge:fail")
                break
    return Verdict(passed=not reasons, reasons=reasons, findings=findings, steps=judgements)


# -- subjects -------------------------------------------------------------------------------------
def subject_from_dialog(record: dict[str, Any]) -> Subject:
    """Every assistant turn of a simulated dialog: call turns, and text turns that answer a user
    (they become samples); a summary after tool results is context, not a label."""
    messages = record.get("messages") or []
    recorded = {step["message_index"]: step for step in record.get("steps") or []}
    steps = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        meta = recorded.get(index, {})
        calls = message.get("tool_calls") or []
        answers_user = index > 0 and messages[index - 1].get("role") == "user"
        if not calls and not answers_user and not meta.get("rule_issues"):
            continue
        steps.append(CheckedStep(index=index, calls=calls, text=message.get("content") or "", expects=meta.get("expects"),
                                 issues=meta.get("rule_issues") or []))
    return Subject(id=str(record.get("id", "")), tools=record.get("tools") or [], messages=messages,
                   current_time=record.get("current_time") or "Unknown", status=record.get("status") or "ok", steps=steps)


def subject_from_sample(sample: StepSample, expects: Expectation | None) -> Subject:
    """An EDDE sample: its history (call turns checked like dialog steps) and its label as the
    final assistant turn, expected to be a call or a text reply like the seed it grew from."""
    label = {"role": "assistant", "content": sample.label_text or "", "tool_calls": sample.label_calls}
    messages = [*sample.messages, label]
    steps = [CheckedStep(index=i, calls=m["tool_calls"], text=m.get("content") or "")
             for i, m in enumerate(sample.messages) if m.get("role") == "assistant" and m.get("tool_calls")]
    steps.append(CheckedStep(index=len(sample.messages), calls=sample.label_calls, text=sample.label_text or "", expects=expects))
    return Subject(id=sample.id, tools=sample.tools, messages=messages, current_time=sample.current_time, steps=steps)


def verify_dialog_record(record: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """The stored form of a seed dialog's verdict (verdicts.jsonl)."""
    return {"dialog_status": record.get("status"), **verdict.model_dump(mode="json")}


async def verify_dialog(caller: RoleCaller, record: dict[str, Any], use_judge: bool) -> dict[str, Any]:
    return verify_dialog_record(record, await verify(caller, subject_from_dialog(record), use_judge))


# -- near duplicates and counts ---------------------------------------------------------------------
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
