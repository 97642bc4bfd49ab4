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
from typing import Any

from looptool.loop import compose as composer
from looptool.loop.config import ExpandSettings
from looptool.loop.iteration import EXPAND, IterationData, write_samples
from looptool.loop.records import Expansion
from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.roles.schemas import expanded_samples_schema_for
from looptool.samples import Provenance, StepSample
from looptool.similarity import JaccardIndex, answer_tokens
from looptool.synth.config import VerifySettings
from looptool.stages import Stage, StageContext, StageOutcome
from looptool.store import JsonlWriter, iter_jsonl
from looptool.synth.quality import expand_quality, write_quality_report
from looptool.units import run_units
from looptool.synth.verify import SeedRef, answer_view, subject_from_sample, verify

STAGE = EXPAND
TEXT_KINDS = ("ask", "no_tool")


def sample_tokens(sample: StepSample) -> frozenset[str]:
    return answer_tokens(sample.messages, sample.label_calls, sample.label_text)


def pool_index(samples: list[StepSample], threshold: float) -> JaccardIndex:
    index = JaccardIndex(threshold)
    for sample in samples:
        index.add(sample.id, sample_tokens(sample))
    return index


def answer_kind(seed: StepSample) -> str:
    """ "call", or for a text seed what its step was planned as: "ask", "no_tool" ("text" if unknown)."""
    if seed.label_calls:
        return "call"
    expects = seed.provenance.verdicts.get("expects")
    return expects if expects in TEXT_KINDS else "text"


def error_kind(correct: Any, incorrect: Any) -> str:
    """How the incorrect answer went wrong against the correct one: "answered_in_text" (a call was
    due), "called_instead_of_text", "call_count", "tool_choice", "arguments", or "text" (two
    different replies)."""
    correct_calls = correct if isinstance(correct, list) else []
    incorrect_calls = incorrect if isinstance(incorrect, list) else []
    if not correct_calls:
        return "called_instead_of_text" if incorrect_calls else "text"
    if not incorrect_calls:
        return "answered_in_text"
    if len(correct_calls) != len(incorrect_calls):
        return "call_count"
    if sorted(str(c.get("name")) for c in correct_calls) != sorted(str(c.get("name")) for c in incorrect_calls):
        return "tool_choice"
    return "arguments"


def seed_ref(seed: StepSample, payload: dict[str, Any], threshold: float) -> SeedRef:
    """What every new sample of this seed is checked against (the "variant of its seed" rule)."""
    correct, incorrect = payload["correct"], payload["incorrect"]
    incorrect_calls = incorrect if isinstance(incorrect, list) else []
    return SeedRef(
        id=seed.id,
        answer_kind=payload["answer_kind"],
        tools=sorted({str(c.get("name")) for c in seed.label_calls}),
        error_kind=error_kind(correct, incorrect),
        incorrect_tools=sorted({str(c.get("name")) for c in incorrect_calls if isinstance(c, dict)}),
        call_count=len(seed.label_calls),
        tokens=sorted(sample_tokens(seed)),
        duplicate_threshold=threshold,
    )


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
        return {
            "role": "assistant",
            "content": turn.get("content", ""),
            "tool_calls": [{"name": c["name"], "arguments": c["arguments"]} for c in turn.get("tool_calls") or []],
        }
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
    rules: VerifySettings | None = None,
) -> dict[str, Any]:
    """k new samples for one error seed, each verified like a seed dialog (`rules`: the rule
    tier's settings, synth.verify) and as a variant of this seed."""
    scenarios = [scenario_for(settings, run_seed, iteration, seed.id, number) for number in range(settings.k)]
    kind = answer_kind(seed)
    payload = expand_payload(seed, verdict, probe, scenarios)
    reference = seed_ref(seed, payload, settings.near_duplicate_threshold)
    try:
        answer = await caller.call(
            "generator",
            "expand",
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
        outcome = await verify(caller, subject_from_sample(sample, kind, reference), settings.judge, rules)
        if outcome.passed:
            record = sample.model_dump(mode="json")
            if outcome.flags:
                record["provenance"]["verdicts"]["flags"] = outcome.flags
            verified.append(record)
        else:
            findings = [{"reason": f.reason, "message": f.message} for f in outcome.findings if f.action == "reject"][:8]
            findings += [
                {"reason": "judge:unusable" if j.reason.startswith("unusable:") else "judge:fail", "message": j.reason[:200]}
                for j in outcome.steps
                if j.verdict != "pass"
            ]
            rejected.append(
                {"reason": outcome.reasons[0], "reasons": outcome.reasons, "findings": findings, "sample": sample.model_dump(mode="json")}
            )
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


class ExpandStage(Stage):
    """EDDE from every error seed of iteration i: k verified new samples each, near-duplicates of
    the pool dropped. The D_EE ablations skip the generator (compose fills D_EE's place)."""

    def __init__(self, data: IterationData, caller: RoleCaller | None) -> None:
        self.data = data
        self.caller = caller
        self.key = data.key(STAGE)
        self.title = f"iteration {data.iteration}: EDDE"

    async def run(self, ctx: StageContext) -> StageOutcome:
        data = self.data
        settings, ablations, config = data.settings.expand, data.settings.ablations, data.config
        current = data.dataset()
        probes, verdicts = data.probes(), data.verdicts()
        seeds = composer.error_seeds(current, probes, verdicts, data.iteration)
        out_path = ctx.store.path(self.key, "expansions.jsonl")

        async def work(seed_id: str, seed: StepSample) -> dict[str, Any]:
            if not ablations.edde_runs:
                return Expansion.checked({"verified": [], "rejected": [], "ablation": ablations.active})
            assert self.caller is not None, "a stage that calls a role needs the session's caller"
            return Expansion.checked(
                await expand_seed(
                    self.caller, seed, verdicts[seed_id], probes[seed_id], settings, data.iteration, config.run.seed, config.synth.verify
                )
            )

        with JsonlWriter(out_path) as out, JsonlWriter(ctx.store.path(self.key, "errors.jsonl")) as errors:
            summary = await run_units(
                ((s.id, s) for s in seeds),
                work,
                out=out,
                errors=errors,
                concurrency=settings.concurrency,
                label=f"iteration {data.iteration}: EDDE",
                total=len(seeds),
            )
        records = list(iter_jsonl(out_path))
        index = pool_index(current + data.seed_pool(), settings.near_duplicate_threshold)
        accepted, dropped = remove_near_duplicates(records, index)
        write_samples(ctx.store.path(self.key, "accepted.jsonl"), accepted)
        rejected = [x["reason"] for r in records for x in r["rejected"]] + ["near_duplicate"] * len(dropped)
        generated = len(accepted) + len(rejected)
        counts: dict[str, Any] = {
            "error_seeds": len(seeds),
            "generated": generated,
            "accepted": len(accepted),
            "pass_rate": round(len(accepted) / generated, 4) if generated else 0.0,
            "llm_failures": summary.failed,
        }
        for reason in sorted(set(rejected)):
            counts[f"rejected[{reason}]"] = rejected.count(reason)
        write_quality_report(ctx.store, self.key, expand_quality(records, dropped, len(seeds)))
        return StageOutcome(counts=counts)
