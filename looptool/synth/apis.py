"""API synthesis (paper §3.1): dual-tree prompts in, rule-checked tool specs out.

One unit per (context leaf, constraint leaf) pair, drawn without replacement. The generator's
answer is constrained by a schema tightened to the leaf's constraints where the endpoint enforces
structured output, and checked by rules either way; rejected specs are kept with their reasons so
the counts by reason show what the generator gets wrong.

The result does not depend on timing (nor on kills and resumes). Units run in rounds of
`round_size` in sampling order; a prompt lists the names accepted for its context in *earlier
rounds* only, and a round starts only when the previous one is complete. Duplicate checks
(same name, near-duplicate description) run after the answers are in, in unit order. So each
prompt, and which of two twins survives, is a function of the unit's position alone.

Files: specs.jsonl (one record per unit, in completion order: "candidate" = passed the per-spec
rules, or "rejected"), accepted.jsonl (the specs that survive de-duplication, in unit order; the
tool pool reads it), duplicates.json (unit id -> duplicate rejections).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.store import JsonlWriter, RunStore, atomic_write_json, iter_jsonl, read_json
from looptool.store.atomic import atomic_write_lines
from looptool.synth import keys
from looptool.synth.api_rules import SpecIndex, check_generated_spec, duplicate_rejections
from looptool.synth.config import SynthSettings
from looptool.synth.pool import accepted_specs
from looptool.synth.trees import PairSampler, TreePair, load_trees, render_generator_prompt, response_schema_for
from looptool.stages import Stage, StageContext, StageOutcome
from looptool.units import UnitsSummary, current_stage, run_units

STAGE = keys.APIS
CANDIDATE = "candidate"
NAMES_IN_PROMPT = 8


class Deduplicator:
    """Accepts candidates fed in unit order; the first of two duplicates wins."""

    def __init__(self, threshold: float) -> None:
        self.index = SpecIndex(threshold)
        self.accepted: list[dict[str, Any]] = []
        self.duplicates: dict[str, list[dict[str, str]]] = {}
        self.names_by_context: dict[str, list[str]] = {}

    def feed(self, record: dict[str, Any]) -> None:
        if record.get("status") != CANDIDATE:
            return
        rejections = duplicate_rejections(record["spec"], self.index)
        if rejections:
            self.duplicates[record["id"]] = [{"code": r.code, "detail": r.detail} for r in rejections]
            return
        self.index.add(record["spec"])
        self.accepted.append(record)
        self.names_by_context.setdefault(record["context_key"], []).append(record["spec"]["name"])


def _records(path: Path) -> dict[str, dict[str, Any]]:
    return {record["id"]: record for record in iter_jsonl(path)}


async def synthesize_apis(caller: RoleCaller, store: RunStore, settings: SynthSettings, seed: int) -> dict[str, Any]:
    trees = load_trees(domains=settings.domains or None)
    sampler = PairSampler(trees, seed)
    pairs: list[TreePair] = sampler.sample_many(settings.apis.attempts)
    out_path = store.path(STAGE, "specs.jsonl")
    dedup = Deduplicator(settings.apis.near_duplicate_threshold)
    summary = UnitsSummary()
    round_size = settings.apis.round_size

    def work_for(names: dict[str, list[str]]):
        async def work(unit_id: str, pair: TreePair) -> dict[str, Any]:
            context_key = f"{pair.domain}|{pair.context.key}"
            prompt = render_generator_prompt(pair, existing_names=names.get(context_key, [])[-NAMES_IN_PROMPT:])
            record: dict[str, Any] = {
                "domain": pair.domain,
                "context_key": context_key,
                "context_path": pair.context.label,
                "constraint_path": pair.constraint.label,
            }
            try:
                answer = await caller.call(
                    "generator", "api_spec", messages=[{"role": "user", "content": prompt}], schema=response_schema_for(pair.constraints)
                )
                spec = answer.value
            except OutputInvalid as error:
                return {**record, "status": "rejected", "rejections": [{"code": f"output_{error.reason}", "detail": error.detail[:300]}]}
            rejections = check_generated_spec(spec, pair.constraints, SpecIndex(settings.apis.near_duplicate_threshold))
            if rejections:
                return {
                    **record,
                    "status": "rejected",
                    "spec": spec,
                    "rejections": [{"code": r.code, "detail": r.detail} for r in rejections],
                }
            return {**record, "status": CANDIDATE, "spec": spec}

        return work

    records = _records(out_path)  # units finished before a restart; new ones are added as they finish

    def keeping(work):
        async def kept(unit_id: str, pair: TreePair) -> dict[str, Any]:
            record = await work(unit_id, pair)
            records[unit_id] = {**record, "id": unit_id}
            return record

        return kept

    with JsonlWriter(out_path) as out, JsonlWriter(store.path(STAGE, "errors.jsonl")) as errors:
        for start in range(0, len(pairs), round_size):
            batch = pairs[start : start + round_size]
            names = {k: list(v) for k, v in dedup.names_by_context.items()}  # earlier rounds only
            result = await run_units(
                ((pair.key, pair) for pair in batch),
                keeping(work_for(names)),
                out=out,
                errors=errors,
                concurrency=settings.apis.concurrency,
                label=f"API synthesis (round {start // round_size + 1})",
                total=len(batch),
                already_done=sum(1 for pair in batch if pair.key in out),
            )
            summary.failed += result.failed
            summary.completed += result.completed
            if result.failed or result.not_started:
                # Later rounds' prompts depend on this round: they wait for the rerun.
                left = sum(1 for pair in pairs[start + round_size :] if pair.key not in out)
                if left:
                    stage = current_stage()
                    if stage is not None:
                        stage.summaries.append(UnitsSummary(not_started=left))
                break
            for pair in batch:
                dedup.feed(records[pair.key])
    write_accepted(store, pairs, out_path, dedup if _all_done(pairs, out_path) else None, settings.apis.near_duplicate_threshold)
    return api_counts(store, summary)


def _all_done(pairs: Iterable[TreePair], path: Path) -> bool:
    done = set(_records(path))
    return all(pair.key in done for pair in pairs)


def write_accepted(store: RunStore, pairs: list[TreePair], path: Path, dedup: Deduplicator | None, threshold: float) -> None:
    """accepted.jsonl and duplicates.json from every unit's record, in unit order."""
    if dedup is None:  # some units are missing: de-duplicate what there is (the stage is not finished)
        dedup = Deduplicator(threshold)
        records = _records(path)
        for pair in pairs:
            if pair.key in records:
                dedup.feed(records[pair.key])
    atomic_write_lines(store.path(STAGE, "accepted.jsonl"), (_line({**record, "status": "accepted"}) for record in dedup.accepted))
    atomic_write_json(store.path(STAGE, "duplicates.json"), dedup.duplicates)


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def api_counts(store: RunStore, summary: UnitsSummary | None = None) -> dict[str, Any]:
    reasons: Counter[str] = Counter()
    rejected = 0
    for record in iter_jsonl(store.path(STAGE, "specs.jsonl")):
        if record.get("status") == "rejected":
            rejected += 1
            for rejection in record.get("rejections", []):
                reasons[rejection["code"]] += 1
    duplicates = read_json(store.path(STAGE, "duplicates.json"), default={}) or {}
    for found in duplicates.values():
        for rejection in found:
            reasons[rejection["code"]] += 1
    counts: dict[str, Any] = {"specs_accepted": len(accepted_specs(store)), "specs_rejected": rejected + len(duplicates)}
    counts.update({f"rejected[{code}]": n for code, n in sorted(reasons.items())})
    if summary is not None:
        counts["llm_failures"] = summary.failed
    return counts


class ApisStage(Stage):
    """Seed stage 1: synthesise tool specs from sampled tree pairs."""

    key, title = STAGE, "API synthesis"
    skip_message = "{key}: finished earlier ({finished_at}), skipped"

    def __init__(self, caller: RoleCaller | None, settings: SynthSettings, seed: int) -> None:
        self.caller = caller
        self.settings = settings
        self.seed = seed

    async def run(self, ctx: StageContext) -> StageOutcome:
        assert self.caller is not None, "API synthesis calls the generator role"
        return StageOutcome(counts=await synthesize_apis(self.caller, ctx.store, self.settings, self.seed))
