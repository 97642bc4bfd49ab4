"""Eq. 5: D_{j+1} = D_ES + D_EE + D_HPPL + D_seed-new, at a fixed total size.

D_ES   error seeds: samples the policy still gets wrong (PRED_WRONG), and samples whose label the
       judge corrected (LABEL_WRONG, label replaced by the policy's answer, old label kept)
D_EE   EDDE samples that passed verification
D_HPPL mastered samples with high perplexity (and BOTH_CORRECT ones above the same cutoff)
D_seed-new  seed samples never trained on; their share follows the schedule (paper Table 3:
       100 %, 30.8 %, 15.4 %, 7.7 %), and they fill whatever the other parts leave empty.
When the other parts exceed their budget, each is cut in proportion (deterministically).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from looptool.loop.config import AblationSettings, ComposeSettings
from looptool.samples import StepSample

BUCKETS = ("ES", "EE", "HPPL", "SEED_NEW")


def with_bucket(sample: StepSample, bucket: str, **updates: Any) -> StepSample:
    provenance = sample.provenance.model_copy(update={"bucket": bucket, **updates.pop("provenance", {})})
    return sample.model_copy(update={"provenance": provenance, **updates})


def error_seeds(current: list[StepSample], probes: dict[str, dict], verdicts: dict[str, dict], iteration: int) -> list[StepSample]:
    seeds = []
    for sample in current:
        verdict = verdicts.get(sample.id)
        if verdict is None:
            continue
        if verdict["verdict"] == "PRED_WRONG":
            seeds.append(with_bucket(sample, "ES", provenance={"analysis": verdict.get("analysis") or sample.provenance.analysis}))
        elif verdict["verdict"] == "LABEL_WRONG":
            probe = probes[sample.id]
            previous = sample.label_calls if sample.label_calls else [{"text": sample.label_text or ""}]
            seeds.append(
                with_bucket(
                    sample,
                    "ES",
                    label_calls=probe["pred_calls"],
                    label_text=None if probe["pred_calls"] else probe["prediction"],
                    provenance={"origin": "label_fix", "iteration": iteration, "previous_label": previous, "analysis": verdict.get("analysis")},
                )
            )
    return seeds


def high_ppl(current: list[StepSample], probes: dict[str, dict], verdicts: dict[str, dict], hppl_ids: set[str], cutoff: float | None,
             ablations: AblationSettings, rng: random.Random) -> list[StepSample]:
    if ablations.no_high_ppl:
        return []
    chosen = [s for s in current if s.id in hppl_ids]
    if cutoff is not None:
        chosen += [
            s for s in current
            if verdicts.get(s.id, {}).get("verdict") == "BOTH_CORRECT" and (probes[s.id].get("ppl") or 0) >= cutoff
        ]
    if ablations.high_ppl_replace:
        others = [s for s in current if probes.get(s.id, {}).get("matched") and s.id not in hppl_ids]
        chosen = rng.sample(others, min(len(chosen), len(others)))
    return [with_bucket(s, "HPPL") for s in chosen]


def _cut(items: list[StepSample], keep: int, rng: random.Random) -> list[StepSample]:
    if keep >= len(items):
        return items
    return sorted(rng.sample(sorted(items, key=lambda s: s.id), keep), key=lambda s: s.id)


def compose(
    *,
    current: list[StepSample],
    probes: dict[str, dict],
    verdicts: dict[str, dict],
    expansions: list[StepSample],
    hppl_ids: set[str],
    hppl_cutoff: float | None,
    unused_seed: list[StepSample],
    next_iteration: int,
    target_size: int,
    settings: ComposeSettings,
    ablations: AblationSettings,
    rng_seed: int,
) -> tuple[list[StepSample], dict[str, Any]]:
    rng = random.Random(f"{rng_seed}|compose|{next_iteration}")
    current = sorted(current, key=lambda s: s.id)
    expansions = sorted(expansions, key=lambda s: s.id)
    unused_seed = sorted(unused_seed, key=lambda s: s.id)
    parts = {
        "ES": error_seeds(current, probes, verdicts, next_iteration - 1),
        "EE": [] if ablations.no_edde and not ablations.error_seed_repetition else [with_bucket(s, "EE") for s in expansions],
        "HPPL": high_ppl(current, probes, verdicts, hppl_ids, hppl_cutoff, ablations, rng),
    }
    share = settings.seed_new_share(next_iteration)
    seed_new_target = min(len(unused_seed), round(share * target_size))
    budget = target_size - seed_new_target
    others = sum(len(v) for v in parts.values())
    if others > budget:
        # Cut each part in proportion; largest remainders get the leftover places.
        quotas = {k: len(v) * budget / others for k, v in parts.items()}
        keep = {k: int(q) for k, q in quotas.items()}
        for k in sorted(quotas, key=lambda k: quotas[k] - keep[k], reverse=True)[: budget - sum(keep.values())]:
            keep[k] += 1
        parts = {k: _cut(v, keep[k], rng) for k, v in parts.items()}
    fill = target_size - sum(len(v) for v in parts.values())
    shuffled = list(unused_seed)
    rng.shuffle(shuffled)
    parts["SEED_NEW"] = [with_bucket(s, "SEED_NEW", provenance={"origin": "seed_new", "iteration": next_iteration}) for s in shuffled[: max(0, fill)]]
    dataset = [s for bucket in BUCKETS for s in parts[bucket]]
    ids = Counter(s.id for s in dataset)
    duplicates = [i for i, n in ids.items() if n > 1]
    if duplicates:
        raise ValueError(f"composed dataset repeats ids {duplicates[:5]}")
    size = len(dataset)
    composition: dict[str, Any] = {"iteration": next_iteration, "target_size": target_size, "size": size, "seed_new_share_target": share}
    for bucket in BUCKETS:
        composition[f"D_{bucket}"] = len(parts[bucket])
        composition[f"share_{bucket}"] = round(len(parts[bucket]) / size, 4) if size else 0.0
    composition["label_fixes"] = sum(1 for s in parts["ES"] if s.provenance.origin == "label_fix")
    composition["short_by"] = max(0, target_size - size)
    return dataset, composition
