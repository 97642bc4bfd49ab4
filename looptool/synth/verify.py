"""Two-tier verification (paper §3.3): one code path for seed dialogs and EDDE samples.

What is verified is a `Subject`: a conversation (tools, messages, date) and the assistant steps in
it that must be right, each with what the plan expected there ("call", "ask" for a missing
argument, "no_tool", or any "text"). Seed dialogs and EDDE samples are both turned into one
(`subject_from_dialog`, `subject_from_sample`) and go through `verify`, which returns a typed
`Verdict` with stable reason codes:

Tier 1, rules (no LLM): the ordered list `RULES`. Each rule looks at the whole subject (and the
rule settings) and reports findings under its own reason codes. Adding a rule is one entry in
that list. The rules cover the dialog's shape (looptool.synth.structure), the calls against the
tools, the plan, the grounding of every argument value in the conversation
(looptool.synth.grounding) and, for an EDDE sample, its relation to its seed.
Tier 2, the judge (an LLM, per judged step, call steps and text steps alike): the step is what
the conversation needs at that point, with values taken from it. Asked only when no rule
rejected, and stopped at the first failing step (the subject is rejected either way).

Every finding gets an action: "reject" (the default for every rule), or for grounding findings
the configured policy (synth.verify.grounding): "judge" sends the step to the judge with the
finding attached (rejects when there is no judge tier), "flag" keeps the subject and records the
finding in `Verdict.flags`. A subject passes only if no finding rejects and the judge passes every
judged step; a rejected one keeps every reason, never dropped silently.
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
from looptool.similarity import JaccardIndex, answer_tokens, jaccard
from looptool.stages import Stage, StageContext, StageOutcome
from looptool.store import JsonlWriter, atomic_write_json, iter_jsonl
from looptool.synth import grounding as grounds
from looptool.synth import keys, structure
from looptool.synth.config import GateAction, VerifySettings
from looptool.synth.quality import seed_quality, write_quality_report
from looptool.tools.spec import tool_index
from looptool.tools.validate import validate_call
from looptool.units import run_units

STAGE = keys.VERIFY
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


class SeedRef(_Model):
    """The error seed an EDDE sample grew from: what a variant of it must share, and how close is
    too close (the sample must keep the core difficulty under a new scenario, not copy it)."""

    id: str
    answer_kind: str = Field(description='"call", or "ask" / "no_tool" / "text" for a text answer')
    tools: list[str] = Field(description="tools of the seed's correct answer")
    error_kind: str = Field(description="how the incorrect answer went wrong (expand.error_kind)")
    incorrect_tools: list[str] = Field(default_factory=list)
    call_count: int = 0
    tokens: list[str] = Field(default_factory=list, description="similarity tokens of the seed sample")
    duplicate_threshold: float = Field(0.9, gt=0, le=1)


class Subject(_Model):
    id: str
    tools: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    current_time: str = "Unknown"
    status: str = "ok"
    steps: list[CheckedStep] = Field(default_factory=list)
    seed: SeedRef | None = Field(None, description="set for an EDDE sample")


class Finding(_Model):
    reason: str
    message: str
    step: int | None = None
    argument: str | None = Field(None, description="function.path of the argument a grounding finding is about")
    score: float | None = None
    action: GateAction = "reject"


class StepJudgement(_Model):
    index: int
    verdict: Literal["pass", "fail"]
    reason: str
    checks: list[str] = Field(default_factory=list, description="rule findings the judge was asked to weigh")


class Verdict(_Model):
    passed: bool
    reasons: list[str]
    findings: list[Finding] = Field(default_factory=list)
    steps: list[StepJudgement] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="reason codes of findings kept under the flag policy")
    grounding: list[grounds.ArgumentGrounding] = Field(default_factory=list, description="every argument value's basis and score")


# -- tier 1: the rules ------------------------------------------------------------------------------
class RuleContext:
    """What rules see besides the subject: the settings, and the subject's grounding computed once
    (the grounding rule reports from it, the verdict records it)."""

    def __init__(self, settings: VerifySettings | None = None) -> None:
        self.settings = settings or VerifySettings()
        self._grounding: dict[str, list[grounds.ArgumentGrounding]] = {}

    def grounding(self, subject: Subject) -> list[grounds.ArgumentGrounding]:
        if subject.id not in self._grounding:
            self._grounding[subject.id] = subject_grounding(subject)
        return self._grounding[subject.id]


@dataclass(frozen=True)
class Rule:
    name: str
    codes: tuple[str, ...]  # the reason codes it can report ("rule:*" = one per validation reason)
    check: Callable[[Subject, RuleContext], Iterable[Finding]]


def _dialog_finished(subject: Subject, context: RuleContext) -> Iterable[Finding]:
    if subject.status != "ok":
        yield Finding(reason=f"dialog:{subject.status}", message=f"the simulation stopped: {subject.status}")


def _opened_by_user(subject: Subject, context: RuleContext) -> Iterable[Finding]:
    if subject.messages and subject.messages[0].get("role") != "user":
        yield Finding(reason="rule:history_not_opened_by_user", message="the conversation does not open with a user turn")


def _shape(subject: Subject, context: RuleContext) -> Iterable[Finding]:
    """The conversation's shape (looptool.synth.structure), with the configured bounds."""
    settings = context.settings.structure
    messages = subject.messages
    problems = [
        *structure.empty_turns(messages),
        *([] if settings.allow_consecutive_user_turns else structure.consecutive_user_turns(messages)),
        *structure.repeating_assistant(messages, settings.repetition_min_words, settings.max_repeated_ngram_share),
        *(
            structure.mixed_language(messages, settings.language_min_letters, settings.language_min_confidence)
            if settings.check_language
            else []
        ),
        *structure.lengths(messages, settings.max_turn_chars, settings.max_tool_result_chars, settings.max_messages),
    ]
    for problem in problems:
        yield Finding(reason=problem.reason, message=problem.message, step=problem.index)


def _recorded_issues(subject: Subject, context: RuleContext) -> Iterable[Finding]:
    for step in subject.steps:
        for issue in step.issues:
            yield Finding(reason=f"rule:{issue['reason']}", message=str(issue.get("message", "")), step=step.index)


def _call_schema(subject: Subject, context: RuleContext) -> Iterable[Finding]:
    """Every call in the conversation (history included) against the tools on offer."""
    try:
        tools: Any = tool_index(subject.tools)  # loaded once, not once per call
    except ValueError:
        tools = subject.tools  # a bad spec: each call reports it below
    for index, message in enumerate(subject.messages):
        calls = (message.get("tool_calls") or []) if message.get("role") == "assistant" else []
        for call in calls:
            try:
                problems = validate_call(call, tools)
            except ValueError as error:
                yield Finding(reason="rule:malformed_call", message=str(error), step=index)
                continue
            for problem in problems:
                yield Finding(reason=f"rule:{problem.reason}", message=problem.message, step=index)


def _tool_results_follow_calls(subject: Subject, context: RuleContext) -> Iterable[Finding]:
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


def _steps_answer_someone(subject: Subject, context: RuleContext) -> Iterable[Finding]:
    for step in subject.steps:
        before = subject.messages[step.index - 1].get("role") if step.index > 0 else None
        if before not in ("user", "tool"):
            yield Finding(
                reason="rule:step_not_after_user_or_tool", message=f"the step follows a {before or 'nothing'} turn", step=step.index
            )


_PLAN_CODES = {
    "ask": "plan:missing_argument_not_asked",
    "no_tool": "plan:no_tool_answered_with_call",
    "text": "plan:call_where_text_expected",
}


def _plan_kept(subject: Subject, context: RuleContext) -> Iterable[Finding]:
    """What the assistant did against what the plan says is due: a planned call answered in prose,
    a call where the plan wants the missing argument asked for, a call for a no_tool request."""
    for step in subject.steps:
        if step.issues:  # a malformed call attempt: already a rule failure, and not a text answer
            continue
        if step.expects == "call" and not step.calls:
            yield Finding(
                reason="plan:call_answered_in_text", message="the plan needs a call here; the assistant answered in text", step=step.index
            )
        elif step.expects in TEXT_EXPECTATIONS and step.calls:
            yield Finding(
                reason=_PLAN_CODES[step.expects],
                message=f"the plan expects {step.expects}; the assistant called {[c.get('name') for c in step.calls]}",
                step=step.index,
            )


def subject_grounding(subject: Subject) -> list[grounds.ArgumentGrounding]:
    """Every argument value of every checked call step, against the conversation before it."""
    parameters = grounds.tool_parameters(subject.tools)
    out: list[grounds.ArgumentGrounding] = []
    for step in subject.steps:
        if not step.calls:
            continue
        context = grounds.GroundingContext.of(subject.messages[: step.index], subject.current_time)
        for call in step.calls:
            out += grounds.ground_arguments(call, parameters.get(str(call.get("name")), {}), context, step.index)
    return out


def _grounded(subject: Subject, context: RuleContext) -> Iterable[Finding]:
    """Each argument value traceable to the conversation (looptool.synth.grounding)."""
    settings = context.settings.grounding
    if not settings.enabled:
        return
    for grounding in context.grounding(subject):
        code = grounds.code_for(grounding, settings.accept_score)
        if code is not None:
            yield Finding(
                reason=code, message=grounds.describe(grounding), step=grounding.step, argument=grounding.argument, score=grounding.score
            )


def _variant_of_seed(subject: Subject, context: RuleContext) -> Iterable[Finding]:
    """An EDDE sample keeps its seed's core difficulty: it shares the seed's tools or its error
    kind, and is not a near copy of the seed."""
    seed = subject.seed
    if seed is None or not subject.steps:
        return
    label = subject.steps[-1]
    names = [str(c.get("name")) for c in label.calls]
    if seed.answer_kind == "call" and label.calls and not set(names) & set(seed.tools) and not shares_error_kind(seed, names):
        yield Finding(
            reason="edde:unrelated_to_seed",
            step=label.index,
            message=f"calls {names} share no tool with the seed's {seed.tools} and not its error kind ({seed.error_kind})",
        )
    tokens = answer_tokens(subject.messages[: label.index], label.calls, label.text)
    similarity = jaccard(tokens, frozenset(seed.tokens))
    if similarity >= seed.duplicate_threshold:
        yield Finding(
            reason="edde:near_duplicate_of_seed",
            step=label.index,
            score=round(similarity, 3),
            message=f"{similarity:.0%} the same as its seed {seed.id} (threshold {seed.duplicate_threshold:.0%})",
        )


def shares_error_kind(seed: SeedRef, names: list[str]) -> bool:
    """Whether a call answer with these tools can carry the seed's error: a call where the policy
    answered in text; as many calls where it made too few or too many; the tool it confused."""
    if seed.error_kind == "answered_in_text":
        return True
    if seed.error_kind == "call_count":
        return len(names) == seed.call_count
    if seed.error_kind == "tool_choice":
        return bool(set(names) & set(seed.incorrect_tools))
    return False


RULES: list[Rule] = [
    Rule("dialog finished", ("dialog:*",), _dialog_finished),
    Rule("opened by the user", ("rule:history_not_opened_by_user",), _opened_by_user),
    Rule("dialog shape", structure.CODES, _shape),
    Rule("issues recorded while simulating", ("rule:*",), _recorded_issues),
    Rule("calls valid against the tools", ("rule:*",), _call_schema),
    Rule("tool results follow their calls", ("rule:tool_result_without_call", "rule:tool_results_mismatch"), _tool_results_follow_calls),
    Rule("steps answer a user or a tool", ("rule:step_not_after_user_or_tool",), _steps_answer_someone),
    Rule("plan kept", tuple(["plan:call_answered_in_text", *_PLAN_CODES.values()]), _plan_kept),
    Rule("arguments grounded in the conversation", grounds.CODES, _grounded),
    Rule("a variant of its seed", ("edde:unrelated_to_seed", "edde:near_duplicate_of_seed"), _variant_of_seed),
]


def action_for(reason: str, settings: VerifySettings, use_judge: bool) -> GateAction:
    """What a finding does: grounding findings follow the configured policy; every other rule
    rejects. A finding meant for the judge rejects when there is no judge tier to ask."""
    if reason in grounds.CLEAR_FAILURES.values():
        action = settings.grounding.policy
    elif reason == grounds.WEAK:
        action = settings.grounding.weak_policy
    else:
        return "reject"
    return "reject" if action == "judge" and not use_judge else action


def rule_findings(
    subject: Subject, rules: Iterable[Rule] | None = None, context: RuleContext | None = None, use_judge: bool = True
) -> list[Finding]:
    context = context or RuleContext()
    findings: list[Finding] = []
    for rule in RULES if rules is None else rules:
        for finding in rule.check(subject, context):
            finding = finding.model_copy(update={"action": action_for(finding.reason, context.settings, use_judge)})
            if finding not in findings:
                findings.append(finding)
    return findings


# -- tier 2: the judge ------------------------------------------------------------------------------
def answer_view(calls: list[dict[str, Any]], text: str) -> Any:
    """How an answer is shown to a judge: the calls, or {"text": ...} for a text reply."""
    return calls if calls else {"text": text}


async def judge_step(caller: RoleCaller, subject: Subject, step: CheckedStep, checks: list[str] | None = None) -> StepJudgement:
    """One step to the judge; `checks` are rule findings it is asked to weigh (the "judge" policy)."""
    payload: dict[str, Any] = {
        "tools": subject.tools,
        "conversation": subject.messages[: step.index],
        "answer": answer_view(step.calls, step.text),
    }
    if checks:
        payload["checks"] = checks
    variables = {"current_time": subject.current_time, "input_json": json.dumps(payload, ensure_ascii=False)}
    try:
        value = (await caller.call("judge", "verify_step", variables)).value
    except OutputInvalid as error:
        return StepJudgement(index=step.index, verdict="fail", reason=f"unusable: judge answer {error.reason}", checks=checks or [])
    return StepJudgement(index=step.index, verdict=value["verdict"], reason=value["reason"], checks=checks or [])


async def verify(caller: RoleCaller, subject: Subject, use_judge: bool, settings: VerifySettings | None = None) -> Verdict:
    context = RuleContext(settings)
    findings = rule_findings(subject, context=context, use_judge=use_judge)
    reasons = list(dict.fromkeys(f.reason for f in findings if f.action == "reject"))
    referred: dict[int, list[str]] = {}
    for finding in findings:
        if finding.action == "judge" and finding.step is not None:
            referred.setdefault(finding.step, []).append(finding.message)
    judgements: list[StepJudgement] = []
    if not reasons and use_judge:
        for step in subject.steps:
            if not step.judged and step.index not in referred:
                continue
            judgement = await judge_step(caller, subject, step, referred.get(step.index))
            judgements.append(judgement)
            if judgement.verdict != "pass":
                reasons.append("judge:unusable" if judgement.reason.startswith("unusable:") else "judge:fail")
                break
    flags = list(dict.fromkeys(f.reason for f in findings if f.action == "flag"))
    grounding = context.grounding(subject) if context.settings.grounding.enabled else []
    return Verdict(passed=not reasons, reasons=reasons, findings=findings, steps=judgements, flags=flags, grounding=grounding)


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
        steps.append(
            CheckedStep(
                index=index,
                calls=calls,
                text=message.get("content") or "",
                expects=meta.get("expects"),
                issues=meta.get("rule_issues") or [],
            )
        )
    return Subject(
        id=str(record.get("id", "")),
        tools=record.get("tools") or [],
        messages=messages,
        current_time=record.get("current_time") or "Unknown",
        status=record.get("status") or "ok",
        steps=steps,
    )


def subject_from_sample(sample: StepSample, expects: Expectation | None, seed: SeedRef | None = None) -> Subject:
    """An EDDE sample (or a sample whose label is checked, the JGLV guard): its history (call
    turns checked like dialog steps) and its label as the final assistant turn, expected to be a
    call or a text reply like the seed it grew from."""
    label = {"role": "assistant", "content": sample.label_text or "", "tool_calls": sample.label_calls}
    messages = [*sample.messages, label]
    steps = [
        CheckedStep(index=i, calls=m["tool_calls"], text=m.get("content") or "")
        for i, m in enumerate(sample.messages)
        if m.get("role") == "assistant" and m.get("tool_calls")
    ]
    steps.append(CheckedStep(index=len(sample.messages), calls=sample.label_calls, text=sample.label_text or "", expects=expects))
    return Subject(id=sample.id, tools=sample.tools, messages=messages, current_time=sample.current_time, steps=steps, seed=seed)


def verify_dialog_record(record: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """The stored form of a seed dialog's verdict (verdicts.jsonl)."""
    return {"dialog_status": record.get("status"), **verdict.model_dump(mode="json")}


async def verify_dialog(
    caller: RoleCaller, record: dict[str, Any], use_judge: bool, settings: VerifySettings | None = None
) -> dict[str, Any]:
    return verify_dialog_record(record, await verify(caller, subject_from_dialog(record), use_judge, settings))


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
    flagged: Counter[str] = Counter(flag for verdict in verdicts for flag in verdict.get("flags", []))
    counts.update({f"flagged[{k}]": v for k, v in sorted(flagged.items())})
    return counts


class VerifyStage(Stage):
    """Seed stage 4: verify every dialog (rule tier, then the judge), drop near-duplicates."""

    key, title = STAGE, "verification"
    skip_message = "{key}: finished earlier ({finished_at}), skipped"

    def __init__(self, caller: RoleCaller | None, settings: VerifySettings, dialogs_key: str) -> None:
        self.caller = caller
        self.settings = settings
        self.dialogs_key = dialogs_key

    async def run(self, ctx: StageContext) -> StageOutcome:
        records = {r["id"]: r for r in iter_jsonl(ctx.store.path(self.dialogs_key, "dialogs.jsonl"))}
        out_path = ctx.store.path(STAGE, "verdicts.jsonl")
        caller, settings = self.caller, self.settings

        async def work(dialog_id: str, record: dict[str, Any]) -> dict[str, Any]:
            assert caller is not None, "verification calls the judge role"
            return await verify_dialog(caller, record, settings.judge, settings)

        with JsonlWriter(out_path) as out, JsonlWriter(ctx.store.path(STAGE, "errors.jsonl")) as errors:
            await run_units(records.items(), work, out=out, errors=errors, concurrency=settings.concurrency, label="verification")
        verdicts = list(iter_jsonl(out_path))
        passed = [records[v["id"]] for v in verdicts if v.get("passed")]
        duplicates = deduplicate(passed, settings.near_duplicate_threshold)
        atomic_write_json(ctx.store.path(STAGE, "duplicates.json"), duplicates)
        write_quality_report(ctx.store, STAGE, seed_quality(verdicts, records, duplicates))
        return StageOutcome(counts=verification_counts(verdicts, duplicates))
