"""JGLV, judgement-guided label verification (paper §4.3, Fig. 10).

For each sample the policy got "wrong", a judge compares the label and the prediction without
knowing which is which (A/B). It sees what Fig. 10 gives it: the conversation's date, the tool
list, the conversation, both answers; it writes an error analysis and picks one of four verdicts.
Position bias is removed by judging both orders (default) and combining them conservatively, or
by one call in a random, recorded order:

  LABEL_WRONG   only if every order says the label is wrong and the prediction right
                -> the label is replaced by the prediction (old label kept in provenance)
  BOTH_WRONG    only if every order says both are wrong -> the sample is discarded
  BOTH_CORRECT  only if every order says both are right -> kept only if high perplexity
  PRED_WRONG    otherwise, including any disagreement between orders -> the label stands

So a label changes, or a sample disappears, only on consistent evidence. A prediction that does
not even parse is PRED_WRONG without a judge call. And a label is replaced only by a prediction
that passes the same rule tier as any label (the guard, loop.judge.guard): not cut off at
max_tokens, calls valid against the tools, every argument grounded in the conversation, a text
that does not loop. A LABEL_WRONG the guard blocks becomes PRED_WRONG (or, with
loop.judge.blocked_fix = "drop", BOTH_WRONG: discarded), recorded under "guard" with its reasons. The analysis handed on to EDDE is rewritten
from "answer A/B" into "the correct answer" / "the incorrect answer", so the generator never has
to know which position held what.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from looptool.loop.iteration import JUDGE, IterationData
from looptool.loop.records import JudgeVerdict
from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.samples import StepSample
from looptool.synth.config import VerifySettings
from looptool.stages import Stage, StageContext, StageOutcome
from looptool.store import JsonlWriter, iter_jsonl
from looptool.synth.quality import judge_quality, write_quality_report
from looptool.units import run_units
from looptool.synth.verify import RuleContext, answer_view, rule_findings, subject_from_sample

STAGE = JUDGE
VERDICTS = ("PRED_WRONG", "LABEL_WRONG", "BOTH_CORRECT", "BOTH_WRONG")
# (label correct, prediction correct) each verdict stands for
VERDICT_FLAGS = {"PRED_WRONG": (True, False), "LABEL_WRONG": (False, True), "BOTH_CORRECT": (True, True), "BOTH_WRONG": (False, False)}

__all__ = [
    "STAGE",
    "VERDICTS",
    "answer_view",
    "combine",
    "flags",
    "guard_label_fix",
    "judge_sample",
    "label_fix_problems",
    "orders_disagree",
    "roles_analysis",
]


def flags(verdict: str, label_first: bool) -> tuple[bool, bool]:
    """(label correct, prediction correct) from an A/B verdict."""
    a_ok = verdict in ("A_CORRECT_B_WRONG", "BOTH_CORRECT")
    b_ok = verdict in ("B_CORRECT_A_WRONG", "BOTH_CORRECT")
    return (a_ok, b_ok) if label_first else (b_ok, a_ok)


def combine(observations: list[tuple[bool, bool]]) -> str:
    """The conservative rule: one verdict only when every order agrees on it, else PRED_WRONG."""
    if not observations:
        return "PRED_WRONG"
    for verdict, expected in VERDICT_FLAGS.items():
        if all(observation == expected for observation in observations):
            return verdict
    return "PRED_WRONG"


def orders_disagree(record: dict[str, Any]) -> bool:
    """The orders that gave a verdict saw label and prediction differently. Compared on the
    (label correct, prediction correct) flags, not the raw verdicts: "A_CORRECT_B_WRONG" in both
    orders means the judge flipped its opinion of label and prediction."""
    seen = {(o["label_ok"], o["pred_ok"]) for o in record.get("orders", []) if "label_ok" in o}
    if not seen:  # records written before flags were stored
        seen = {flags(o["verdict"], o["label_first"]) for o in record.get("orders", []) if o.get("verdict")}
    return len(seen) > 1


_NAMED = re.compile(r"\b(?:(?:the\s+)?(?:answer|response))\s+([AB])\b", re.IGNORECASE)
_BARE = re.compile(
    r"(?<![\w'])([AB])(?=\s+(?:is|was|and|or|calls|uses|has|makes|misses|omits|does|should|correctly|incorrectly|fails|passes|gets|picks|chooses|invents|adds|leaves)\b|'s\b|[,.;:)])"
)


def roles_analysis(text: str, label_first: bool, label_name: str, prediction_name: str) -> str:
    """The judge's analysis with "answer A/B" replaced by what each answer is (e.g. "the correct
    answer"), given which position held the label."""
    names = {"A": label_name, "B": prediction_name} if label_first else {"A": prediction_name, "B": label_name}

    def named(match: re.Match[str]) -> str:
        name = names[match.group(1).upper()]
        before = match.string[: match.start()].rstrip()
        sentence_start = not before or before.endswith((".", "!", "?", ":"))
        return name[0].upper() + name[1:] if sentence_start else name

    return _BARE.sub(named, _NAMED.sub(named, text))


def _names(verdict: str) -> tuple[str, str]:
    """What the label and the prediction are called in the analysis EDDE receives."""
    if verdict == "PRED_WRONG":
        return "the correct answer", "the incorrect answer"
    if verdict == "LABEL_WRONG":
        return "the incorrect answer", "the correct answer"
    return "the reference answer", "the model's answer"


def label_fix_problems(sample: StepSample, probe: dict[str, Any], rules: VerifySettings | None = None) -> list[dict[str, str]]:
    """Why the prediction may not become the label: cut off at max_tokens, or a rule finding on
    the new label step (the conversation itself was verified with the old label). Either kind of
    answer may replace the other (the plan's expectation is not checked: the judge found the label
    wrong), but it must be a clean answer."""
    problems: list[dict[str, str]] = []
    if probe.get("finish_reason") == "length":
        problems.append({"reason": "guard:truncated", "message": "the prediction was cut off at max_tokens"})
    calls = probe.get("pred_calls") or []
    candidate = sample.model_copy(update={"label_calls": calls, "label_text": None if calls else str(probe.get("prediction") or "")})
    label_step = len(sample.messages)
    for finding in rule_findings(subject_from_sample(candidate, None), context=RuleContext(rules), use_judge=False):
        if finding.step == label_step and finding.action != "flag":
            problems.append({"reason": finding.reason, "message": finding.message})
    return problems


def guard_label_fix(
    record: dict[str, Any], sample: StepSample, probe: dict[str, Any], rules: VerifySettings | None, blocked_fix: str
) -> dict[str, Any]:
    """A LABEL_WRONG record whose prediction fails the rule tier becomes PRED_WRONG (or BOTH_WRONG
    with blocked_fix = "drop"); the decision and its reasons are kept under "guard"."""
    if record["verdict"] != "LABEL_WRONG":
        return record
    problems = label_fix_problems(sample, probe, rules)
    if not problems:
        return {**record, "guard": {"blocked": False}}
    verdict = "BOTH_WRONG" if blocked_fix == "drop" else "PRED_WRONG"
    # The judge's analysis argues for the prediction; what EDDE learns from is why it cannot stand.
    analysis = "The incorrect answer cannot be used: " + "; ".join(p["message"] for p in problems[:3]) + "."
    guard = {
        "blocked": True,
        "judge_verdict": "LABEL_WRONG",
        "became": verdict,
        "judge_analysis": record["analysis"],
        "reasons": list(dict.fromkeys(p["reason"] for p in problems)),
        "findings": problems[:6],
    }
    return {**record, "verdict": verdict, "analysis": analysis, "guard": guard}


async def judge_sample(
    caller: RoleCaller,
    sample: StepSample,
    probe: dict[str, Any],
    order: str,
    seed: int,
    rules: VerifySettings | None = None,
    guard: bool = True,
    blocked_fix: str = "pred_wrong",
) -> dict[str, Any]:
    if not probe["format_ok"]:
        return {"verdict": "PRED_WRONG", "orders": [], "analysis": "the incorrect answer is malformed: " + "; ".join(probe["reasons"][:2])}
    label = answer_view(sample.label_calls, sample.label_text or "")
    prediction = answer_view(probe["pred_calls"], probe["prediction"])
    if order == "both":
        orders = [True, False]
    else:
        orders = [random.Random(f"{seed}|{sample.id}").random() < 0.5]
    observations = []
    records: list[dict[str, Any]] = []
    for label_first in orders:
        a, b = (label, prediction) if label_first else (prediction, label)
        payload = {"tools": sample.tools, "conversation": sample.messages, "A": a, "B": b}
        variables = {"current_time": sample.current_time, "input_json": json.dumps(payload, ensure_ascii=False)}
        try:
            answer = await caller.call("judge", "label_verdict", variables)
            value = answer.value
        except OutputInvalid as error:
            records.append({"label_first": label_first, "error": error.reason})
            observations.append((True, False))  # an unusable answer never changes a label
            continue
        label_ok, pred_ok = flags(value["verdict"], label_first)
        observations.append((label_ok, pred_ok))
        records.append(
            {
                "label_first": label_first,
                "verdict": value["verdict"],
                "label_ok": label_ok,
                "pred_ok": pred_ok,
                "analysis": value["analysis"],
            }
        )
    verdict = combine(observations)
    judged = [r for r in records if r.get("analysis")]
    agreeing = [r for r in judged if (r["label_ok"], r["pred_ok"]) == VERDICT_FLAGS[verdict]]
    chosen = (agreeing or judged or [None])[0]
    analysis = roles_analysis(chosen["analysis"], chosen["label_first"], *_names(verdict)) if chosen else ""
    record = {"verdict": verdict, "orders": records, "analysis": analysis}
    return guard_label_fix(record, sample, probe, rules, blocked_fix) if guard else record


def guard_counts(verdicts: list[dict[str, Any]]) -> dict[str, int]:
    """The guard's decisions for the stage counts: fixes checked, blocked, and why."""
    checked = [v for v in verdicts if "guard" in v]
    blocked = [v for v in checked if v["guard"].get("blocked")]
    counts = {"label_fix_checked": len(checked), "label_fix_blocked": len(blocked)}
    for verdict in blocked:
        for reason in verdict["guard"].get("reasons", []):
            key = f"label_fix_blocked[{reason}]"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


class JudgeStage(Stage):
    """JGLV over the samples GCP found mismatched: one verdict each. The `without_jglv` ablation
    keeps every label (PRED_WRONG) without a judge call."""

    def __init__(self, data: IterationData, caller: RoleCaller | None) -> None:
        self.data = data
        self.caller = caller
        self.key = data.key(STAGE)
        self.title = f"iteration {data.iteration}: JGLV"

    async def run(self, ctx: StageContext) -> StageOutcome:
        data = self.data
        config, judge = data.config, data.settings.judge
        samples = {s.id: s for s in data.dataset()}
        probes = data.probes()
        mismatched = [(i, samples[i]) for i in sorted(samples) if not probes[i]["matched"]]
        ablated = data.settings.ablations.without_jglv

        async def work(sample_id: str, sample: StepSample) -> dict[str, Any]:
            if ablated:
                return JudgeVerdict.checked({"verdict": "PRED_WRONG", "orders": [], "analysis": "", "ablation": "without_jglv"})
            assert self.caller is not None, "a stage that calls a role needs the session's caller"
            return JudgeVerdict.checked(
                await judge_sample(
                    self.caller,
                    sample,
                    probes[sample_id],
                    judge.order,
                    config.run.seed,
                    config.synth.verify,
                    judge.guard,
                    judge.blocked_fix,
                )
            )

        out_path = ctx.store.path(self.key, "verdicts.jsonl")
        with JsonlWriter(out_path) as out, JsonlWriter(ctx.store.path(self.key, "errors.jsonl")) as errors:
            await run_units(
                mismatched, work, out=out, errors=errors, concurrency=judge.concurrency, label=f"iteration {data.iteration}: JGLV"
            )
        counts: dict[str, Any] = {"judged": len(mismatched)}
        verdicts = list(iter_jsonl(out_path))
        for name in VERDICTS:
            counts[name] = sum(1 for v in verdicts if v["verdict"] == name)
        counts["order_disagreements"] = sum(1 for v in verdicts if orders_disagree(v))
        counts.update(guard_counts(verdicts))
        write_quality_report(ctx.store, self.key, judge_quality(verdicts, samples))
        return StageOutcome(counts=counts)
