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
not even parse is PRED_WRONG without a judge call. The analysis handed on to EDDE is rewritten
from "answer A/B" into "the correct answer" / "the incorrect answer", so the generator never has
to know which position held what.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.samples import StepSample
from looptool.synth.verify import answer_view

STAGE = "judge"
VERDICTS = ("PRED_WRONG", "LABEL_WRONG", "BOTH_CORRECT", "BOTH_WRONG")
# (label correct, prediction correct) each verdict stands for
VERDICT_FLAGS = {"PRED_WRONG": (True, False), "LABEL_WRONG": (False, True), "BOTH_CORRECT": (True, True), "BOTH_WRONG": (False, False)}

__all__ = ["STAGE", "VERDICTS", "answer_view", "combine", "flags", "judge_sample", "orders_disagree", "roles_analysis"]


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
_BARE = re.compile(r"(?<![\w'])([AB])(?=\s+(?:is|was|and|or|calls|uses|has|makes|misses|omits|does|should|correctly|incorrectly|fails|passes|gets|picks|chooses|invents|adds|leaves)\b|'s\b|[,.;:)])")


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


async def judge_sample(caller: RoleCaller, sample: StepSample, probe: dict[str, Any], order: str, seed: int) -> dict[str, Any]:
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
        records.append({"label_first": label_first, "verdict": value["verdict"], "label_ok": label_ok, "pred_ok": pred_ok, "analysis": value["analysis"]})
    verdict = combine(observations)
    judged = [r for r in records if r.get("analysis")]
    agreeing = [r for r in judged if (r["label_ok"], r["pred_ok"]) == VERDICT_FLAGS[verdict]]
    chosen = (agreeing or judged or [None])[0]
    analysis = roles_analysis(chosen["analysis"], chosen["label_first"], *_names(verdict)) if chosen else ""
    return {"verdict": verdict, "orders": records, "analysis": analysis}
