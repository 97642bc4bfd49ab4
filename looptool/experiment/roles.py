"""The judge and the generator, simulated with stated accuracy (they know the world's truth).

The policy is real; these two roles are not. Their accuracies are settings (RoleSettings) and every
table says so. The judge maps (label right?, prediction right?) to the Fig. 10 verdict and, with
probability 1 - accuracy, answers one of the other three verdicts instead. The generator writes
k variants of an error seed (same tools, fresh training values, the simulator's natural user);
with probability 1 - validity a variant's label is corrupted by one of the world's noise kinds.
"""

from __future__ import annotations

import random
from typing import Any

from looptool.experiment.world import NOISE_KINDS, ValuePools, _calls_for, corrupt, make_sample, noise_kinds_for
from looptool.samples import Provenance, StepSample
from looptool.tools.match import toolmatch

VERDICTS = ("PRED_WRONG", "LABEL_WRONG", "BOTH_CORRECT", "BOTH_WRONG")


def calls_match(calls: list[dict[str, Any]], truth: list[dict[str, Any]], tools: list[dict[str, Any]]) -> bool:
    return toolmatch(calls, truth, tools, mode="reward").matched


def true_verdict(label_right: bool, prediction_right: bool) -> str:
    if label_right:
        return "BOTH_CORRECT" if prediction_right else "PRED_WRONG"
    return "LABEL_WRONG" if prediction_right else "BOTH_WRONG"


def judge(
    sample: StepSample, prediction_calls: list[dict[str, Any]], truth: list[dict[str, Any]], accuracy: float, rng: random.Random
) -> dict[str, Any]:
    """One verdict record as loop.compose reads it (`verdict`, `analysis`), plus what was true."""
    label_right = calls_match(sample.label_calls, truth, sample.tools)
    prediction_right = calls_match(prediction_calls, truth, sample.tools)
    truth_verdict = true_verdict(label_right, prediction_right)
    verdict = truth_verdict if rng.random() < accuracy else rng.choice([v for v in VERDICTS if v != truth_verdict])
    return {
        "verdict": verdict,
        "true_verdict": truth_verdict,
        "label_right": label_right,
        "prediction_right": prediction_right,
        "analysis": "simulated judge",
    }


def expand(
    seed: StepSample, truth: list[dict[str, Any]], k: int, validity: float, iteration: int, pools: ValuePools, rng: random.Random
) -> list[tuple[StepSample, list[dict[str, Any]], bool]]:
    """k variants of an error seed: (sample, its true calls, whether its label is right)."""
    out = []
    names = [c["name"] for c in truth]
    for number in range(k):
        calls = _calls_for(names, pools, "train")
        variant = make_sample(f"{seed.id}~ee{iteration}-{number}", calls, rng, "train")
        valid = rng.random() < validity
        label = calls if valid else corrupt(calls, rng.choice(noise_kinds_for(calls)), variant.tools, pools, rng)
        provenance = Provenance(origin="edde", iteration=iteration, parent_id=seed.id)
        out.append((variant.model_copy(update={"label_calls": label, "provenance": provenance}), calls, valid))
    return out


__all__ = ["NOISE_KINDS", "VERDICTS", "calls_match", "expand", "judge", "true_verdict"]
