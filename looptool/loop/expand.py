"""EDDE, error-driven data expansion (paper §4.4, Figs. 13-14): k new samples per error seed.

Each error seed goes to the generator with what Fig. 13 gives it: the conversation's date, the
tools, the conversation, the correct and the incorrect answer, and the judge's error analysis in
those terms. For a PRED_WRONG seed the correct answer is the label and the incorrect one the
policy's prediction; for a LABEL_WRONG seed the correct answer is the corrected label and the
incorrect one the old, wrong label the policy was trained on (the error to learn from). Seeds
whose answer is text (asking for a missing argument, no tool fits) are expanded too, into
variants whose correct answer is also text.

Every new sample gets its own scenario change, drawn uniformly (the reference code's draw was
not) and independently per sample from a seed (run seed, iteration, seed id, sample number), so
the k samples of a seed differ and a rerun draws the same. A new sample may carry multi-step
history (assistant calls and their tool results, Fig. 14), and passes the same verification as a
seed dialog (looptool.synth.verify: rules, the plan check - call or no call as the seed - and the
judge, over the history's call steps too). Then, once every seed is done, a near-duplicate pass in
a fixed order (by id) against everything already in the pool keeps the result independent of
which request finished first. Each new sample keeps its seed as parent.
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
from looptool.synth.verify import answer_view, subject_from_sample, verify

STAGE = "expand"
WORD = re.compile(r"[a-z0-9]+")
TEXT_KINDS = ("ask", "no_tool")


def sample_tokens(sample: StepSample) -> frozenset[str]:
    words: list[str] = []
    for message in sample.messages:
        if message["role"] == "user":
            words += WORD.findall(str(message.get("content", "")).lower())
    for call in sample.label_calls:
        words.append(f"call:{call['name']}")
        words += WORD.findall(json.dumps(call["arguments"], sort_keys=True).lower())
    if not sample.label_calls:
        words += ["reply:" + w for w in WORD.findall((sample.label_text or "").lower())]
    return frozenset(words)


def pool_index(samples: list[StepSample], threshold: float) -> JaccardIndex:
    index = JaccardIndex(threshold)
    for sample in samples:
        index.add(sample.id, sample_tokens(sample))
    return index


def answer_kind(seed: StepSample) -> str:
    """"call", or for a text seed what its step was planned as: "ask", "no_tool" ("text" if unknown)."""
    if seed.label_calls:
        return "call"
    expects = seed.provenance.verdicts.get("expects")
    return expects if expects in TEXT_KINDS else "text"


def scenario_for(settings: ExpandSettings, run_seed: int, iteration: int, seed_id: str, number: int) -> str:
    """The scenario change of one new sample: its own uniform draw."""
    return random.Random(f"{run_seed}|{iteration}|{seed_id}|{number}").choice(settings.scenarios)


def _previous_answer(seed: StepSample) -> Any:
    previous = seed.provenance.previous_label or []
    if len(previous) == 1 and set(previous[0]) == {"text"}:
        return {"text": previous[0]["text"]}
    return previous


def expand_payload(seed: StepSample, verdict: dict[str, Any], probe: dict[str, Any], scenarios: list[str]) -> dict[str, Any]:
    """What the generator sees; "correct"/"incorrect" follow the verdict (see module doc)."""
    correct = answer_view(seed.label_calls, seed.label_text or "")
    if verdict.get("verdict") == "LABEL_WRONG":
        incorrect = _previous_answer(seed)
    else:
        incorrect = answer_view(probe.get("pred_calls") or [], probe.get("prediction") or "")
    return {
        "tools": seed.tools,
        "conversation": seed.messages,
        "correct": correct,
        "incorrect": incorrect,
        "analysis": verdict.get("analysis", ""),
        "answer_kind": answer_kind(seed),
        "scenarios": scenarios,
        "k": len(scenarios),
    }


def _history_message(turn: dict[str, Any]) -> dict[str, Any]:
    if turn["role"] == "assistant":
        return {"role": "assistant", "content": turn.get("content", ""), "tool_calls": [{"name": c["name"], "arguments": c["arguments"]} for c in turn.get("tool_calls") or []]}
    if turn["role"] == "tool":
        return {"role": "tool", "name": turn["name"], "content": turn["content"]}
    return {"role": "user", "content": turn["content"]}


def build_sample(seed: StepSample, generated: dict[str, Any], number: int, iteration: int, scenario: str, kind: str) -> StepSample:
    messages = [_history_message(turn) for turn in generated.get("history", [])]
    if generated.get("user"):
        messages.append({"role": "user", "content": generated["user"]})
    calls = [{"name": c["name"], "arguments": c["arguments"]} for c in generated.get("calls") or []]
    return StepSample(
        id=f"{seed.id}-i{iteration:02d}e{number}",
        tools=seed.tools,
        messages=messages,
        label_calls=calls,
        label_text=None if calls else generated.get("reply", ""),
        current_time=seed.current_time,
        domain=seed.domain,
        provenance=Provenance(origin="edde", iteration=iteration, parent_id=seed.id, analysis=scenario, verdicts={"expects": kind}),
    )


async def expand_seed(
    caller: RoleCaller,
    seed: StepSample,
    verdict: dict[str, Any],
    probe: dict[str, Any],
    settings: ExpandSettings,
    iteration: int,
    run_seed: int,
) -> dict[str, Any]:
    scenarios = [scenario_for(settings, run_seed, iteration, seed.id, number) for number in range(settings.k)]
    kind = answer_kind(seed)
    payload = expand_payload(seed, verdict, probe, scenarios)
    try:
        answer = await caller.call(
            "generator", "expand",
            {"k": settings.k, "current_time": seed.current_time, "input_json": json.dumps(payload, ensure_ascii=False)},
            schema=expanded_samples_schema_for(seed.tools, settings.k, "call" if kind == "call" else "text"),
        )
        generated = answer.value["samples"][: settings.k]
    except OutputInvalid as error:
        return {"verified": [], "rejected": [{"reason": f"output_{error.reason}"}], "scenarios": scenarios}
    verified: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for number, item in enumerate(generated):
        sample = build_sample(seed, item, number, iteration, scenarios[number], kind)
        outcome = await verify(caller, subject_from_sample(sample, kind), settings.judge)
        if outcome.passed:
            verified.append(sample.model_dump(mode="json"))
        else:
            rejected.append({"reason": outcome.reasons[0], "reasons": outcome.reasons, "sample": sample.model_dump(mode="json")})
    return {"verified": verified, "rejected": rejected, "scenarios": scenarios}


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
