"""JGLV, judgement-guided label verification (paper §4.3).

For each sample the policy got "wrong", a judge compares the label and the prediction without
knowing which is which (A/B). Position bias is removed by judging both orders (default) and
combining them conservatively, or by one call in a random, recorded order:

  LABEL_WRONG   only if every order says the label is wrong and the prediction right
                -> the label is replaced by the prediction (old label kept in provenance)
  BOTH_WRONG    only if every order says both are wrong -> the sample is discarded
  BOTH_CORRECT  only if every order says both are right -> kept only if high perplexity
  PRED_WRONG    otherwise, including any disagreement between orders -> the label stands

So a label changes, or a sample disappears, only on consistent evidence. A prediction that does
not even parse is PRED_WRONG without a judge call.
"""

from __future__ import annotations

import json
import random
from typing import Any

from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.samples import StepSample

STAGE = "judge"
VERDICTS = ("PRED_WRONG", "LABEL_WRONG", "BOTH_CORRECT", "BOTH_WRONG")


def answer_view(calls: list[dict[str, Any]], text: str) -> Any:
    return calls if calls else {"text": text}


def flags(verdict: str, label_first: bool) -> tuple[bool, bool]:
    """(label correct, prediction correct) from an A/B verdict."""
    a_ok = verdict in ("A_CORRECT_B_WRONG", "BOTH_CORRECT")
    b_ok = verdict in ("B_CORRECT_A_WRONG", "BOTH_CORRECT")
    return (a_ok, b_ok) if label_first else (b_ok, a_ok)


def combine(observations: list[tuple[bool, bool]]) -> str:
    if all(label and not pred for label, pred in observations):
        return "PRED_WRONG"
    if all(not label and pred for label, pred in observations):
        return "LABEL_WRONG"
    if all(not label and not pred for label, pred in observations):
        return "BOTH_WRONG"
    if all(label and pred for label, pred in observations):
        return "BOTH_CORRECT"
    return "PRED_WRONG"


async def judge_sample(caller: RoleCaller, sample: StepSample, probe: dict[str, Any], order: str, seed: int) -> dict[str, Any]:
    if not probe["format_ok"]:
        return {"verdict": "PRED_WRONG", "orders": [], "analysis": "the prediction is malformed: " + "; ".join(probe["reasons"][:2])}
    label = answer_view(sample.label_calls, sample.label_text or "")
    prediction = answer_view(probe["pred_calls"], probe["prediction"])
    if order == "both":
        orders = [True, False]
    else:
        orders = [random.Random(f"{seed}|{sample.id}").random() < 0.5]
    observations = []
    records = []
    for label_first in orders:
        a, b = (label, prediction) if label_first else (prediction, label)
        payload = {"tools": sample.tools, "conversation": sample.messages, "A": a, "B": b}
        try:
            answer = await caller.call("judge", "label_verdict", {"input_json": json.dumps(payload, ensure_ascii=False)})
            value = answer.value
        except OutputInvalid as error:
            records.append({"label_first": label_first, "error": error.reason})
            observations.append((True, False))  # an unusable answer never changes a label
            continue
        observations.append(flags(value["verdict"], label_first))
        records.append({"label_first": label_first, "verdict": value["verdict"], "analysis": value["analysis"]})
    analyses = [r["analysis"] for r in records if r.get("analysis")]
    return {"verdict": combine(observations), "orders": records, "analysis": analyses[0] if analyses else ""}
