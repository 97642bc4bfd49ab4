"""EDDE, error-driven data expansion (paper §4.4): k new samples per error seed.

Each error seed (PRED_WRONG kept as is, LABEL_WRONG with its corrected label) goes to the generator
with the error analysis and one scenario change drawn uniformly (the reference code's draw was
not uniform). New samples pass the same two tiers as seed dialogs (rules, then the step judge);
then, once every seed is done, a near-duplicate pass in a fixed order (by id) against everything
already in the pool keeps the result independent of which request finished first. Each new sample
keeps its seed as parent.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from looptool.loop.config import ExpandSettings
from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.roles.schemas import expanded_samples_schema_for
from looptool.samples import Provenance, StepSample
from looptool.similarity import JaccardIndex
from looptool.tools.validate import validate_call

STAGE = "expand"
WORD = re.compile(r"[a-z0-9]+")


def sample_tokens(sample: StepSample) -> frozenset[str]:
    words: list[str] = []
    for message in sample.messages:
        if message["role"] == "user":
            words += WORD.findall(str(message.get("content", "")).lower())
    for call in sample.label_calls:
        words.append(f"call:{call['name']}")
        words += WORD.findall(json.dumps(call["arguments"], sort_keys=True).lower())
    return frozenset(words)


def pool_index(samples: list[StepSample], threshold: float) -> JaccardIndex:
    index = JaccardIndex(threshold)
    for sample in samples:
        index.add(sample.id, sample_tokens(sample))
    return index


def build_sample(seed: StepSample, generated: dict[str, Any], number: int, iteration: int, scenario: str) -> StepSample:
    messages = [{"role": turn["role"], "content": turn["content"]} for turn in generated.get("history", [])]
    messages.append({"role": "user", "content": generated["user"]})
    return StepSample(
        id=f"{seed.id}-i{iteration:02d}e{number}",
        tools=seed.tools,
        messages=messages,
        label_calls=[{"name": c["name"], "arguments": c["arguments"]} for c in generated["calls"]],
        current_time=seed.current_time,
        domain=seed.domain,
        provenance=Provenance(origin="edde", iteration=iteration, parent_id=seed.id, analysis=scenario),
    )


async def verify_new(caller: RoleCaller, sample: StepSample, use_judge: bool) -> str | None:
    """Rejection reason, or None when the sample passes both tiers."""
    if sample.messages[0]["role"] != "user":
        return "rule:history_not_opened_by_user"
    for call in sample.label_calls:
        issues = validate_call(call, sample.tools)
        if issues:
            return f"rule:{issues[0].reason}"
    if not use_judge:
        return None
    payload = {"tools": sample.tools, "conversation": sample.messages, "calls": sample.label_calls}
    try:
        answer = await caller.call("judge", "verify_step", {"input_json": json.dumps(payload, ensure_ascii=False)})
        verdict = answer.value["verdict"]
    except OutputInvalid as error:
        return f"judge:unusable_{error.reason}"
    return None if verdict == "pass" else "judge:fail"


async def expand_seed(
    caller: RoleCaller,
    seed: StepSample,
    verdict: dict[str, Any],
    probe: dict[str, Any],
    settings: ExpandSettings,
    iteration: int,
    run_seed: int,
) -> dict[str, Any]:
    if not seed.label_calls:
        return {"accepted": [], "rejected": [{"reason": "text_seed_not_expanded"}], "scenario": None}
    rng = random.Random(f"{run_seed}|{iteration}|{seed.id}")
    scenario = rng.choice(settings.scenarios)
    payload = {
        "tools": seed.tools,
        "conversation": seed.messages,
        "correct": seed.label_calls,
        "incorrect": probe["pred_calls"] or {"text": probe["prediction"]},
        "analysis": verdict.get("analysis", ""),
        "scenario": scenario,
        "k": settings.k,
    }
    try:
        answer = await caller.call(
            "generator", "expand", {"k": settings.k, "input_json": json.dumps(payload, ensure_ascii=False)},
            schema=expanded_samples_schema_for(seed.tools, settings.k),
        )
        generated = answer.value["samples"][: settings.k]
    except OutputInvalid as error:
        return {"accepted": [], "rejected": [{"reason": f"output_{error.reason}"}], "scenario": scenario}
    verified: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for number, item in enumerate(generated):
        sample = build_sample(seed, item, number, iteration, scenario)
        reason = await verify_new(caller, sample, settings.judge)
        if reason is None:
            verified.append(sample.model_dump(mode="json"))
        else:
            rejected.append({"reason": reason, "sample": sample.model_dump(mode="json")})
    return {"verified": verified, "rejected": rejected, "scenario": scenario}


def remove_near_duplicates(records: list[dict[str, Any]], index: JaccardIndex) -> tuple[list[StepSample], list[str]]:
    """Accepted samples and the ids dropped as near-duplicates, in a fixed order (seed id, then sample id)."""
    accepted: list[StepSample] = []
    dropped: list[str] = []
    for record in sorted(records, key=lambda r: r["id"]):
        for raw in sorted(record.get("verified", []), key=lambda r: r["id"]):
            sample = StepSample.model_validate(raw)
            tokens = sample_tokens(sample)
            if index.most_similar(tokens) is not None:
                dropped.append(sample.id)
                continue
            index.add(sample.id, tokens)
            accepted.append(sample)
    return accepted, dropped


def repeat_seed(seed: StepSample, k: int, iteration: int) -> dict[str, Any]:
    """Ablation "error-seed repetition": the seed itself k times instead of k new samples."""
    copies = []
    for number in range(k):
        copy = seed.model_copy(deep=True)
        copy.id = f"{seed.id}-i{iteration:02d}r{number}"
        copy.provenance = Provenance(origin=seed.provenance.origin, iteration=iteration, parent_id=seed.id, analysis="error-seed repetition")
        copies.append(copy.model_dump(mode="json"))
    return {"verified": copies, "rejected": [], "scenario": "repetition"}
