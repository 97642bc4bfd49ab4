"""API synthesis (paper §3.1): dual-tree prompts in, rule-checked tool specs out.

One unit per (context leaf, constraint leaf) pair, drawn without replacement. The generator's
answer is constrained by a schema tightened to the leaf's constraints where the endpoint enforces
structured output, and checked by rules either way; rejected specs are kept with their reasons so
the counts by reason show what the generator gets wrong.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.store import JsonlWriter, RunStore, iter_jsonl
from looptool.synth.api_rules import SpecIndex, check_generated_spec
from looptool.synth.config import SynthSettings
from looptool.synth.trees import PairSampler, TreePair, load_trees, render_generator_prompt, response_schema_for
from looptool.units import UnitsSummary, run_units

STAGE = "seed/apis"


def existing_index(path: Any, threshold: float) -> tuple[SpecIndex, dict[str, list[str]]]:
    """Rebuild the duplicate index and per-context names from specs accepted before a restart."""
    index = SpecIndex(threshold)
    by_context: dict[str, list[str]] = {}
    for record in iter_jsonl(path):
        if record.get("status") == "accepted":
            index.add(record["spec"])
            by_context.setdefault(record["context_key"], []).append(record["spec"]["name"])
    return index, by_context


async def synthesize_apis(caller: RoleCaller, store: RunStore, settings: SynthSettings, seed: int) -> dict[str, Any]:
    trees = load_trees(domains=settings.domains or None)
    sampler = PairSampler(trees, seed)
    pairs: list[TreePair] = sampler.sample_many(settings.apis.attempts)
    out_path = store.path(STAGE, "specs.jsonl")
    index, by_context = existing_index(out_path, settings.apis.near_duplicate_threshold)

    async def work(unit_id: str, pair: TreePair) -> dict[str, Any]:
        context_key = f"{pair.domain}|{pair.context.key}"
        prompt = render_generator_prompt(pair, existing_names=by_context.get(context_key, [])[-8:])
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
        rejections = check_generated_spec(spec, pair.constraints, index)
        if rejections:
            return {**record, "status": "rejected", "spec": spec, "rejections": [{"code": r.code, "detail": r.detail} for r in rejections]}
        index.add(spec)  # same event loop: the next unit's duplicate check sees it at once
        by_context.setdefault(context_key, []).append(spec["name"])
        return {**record, "status": "accepted", "spec": spec}

    with JsonlWriter(out_path) as out, JsonlWriter(store.path(STAGE, "errors.jsonl")) as errors:
        summary = await run_units(
            ((pair.key, pair) for pair in pairs), work, out=out, errors=errors, concurrency=settings.apis.concurrency, label="API synthesis", total=len(pairs)
        )
    return api_counts(out_path, summary)


def api_counts(path: Any, summary: UnitsSummary | None = None) -> dict[str, Any]:
    accepted = 0
    reasons: Counter[str] = Counter()
    for record in iter_jsonl(path):
        if record.get("status") == "accepted":
            accepted += 1
        else:
            for rejection in record.get("rejections", []):
                reasons[rejection["code"]] += 1
    counts: dict[str, Any] = {"specs_accepted": accepted, "specs_rejected": sum(1 for r in iter_jsonl(path) if r.get("status") == "rejected")}
    counts.update({f"rejected[{code}]": n for code, n in sorted(reasons.items())})
    if summary is not None:
        counts["llm_failures"] = summary.failed
    return counts
