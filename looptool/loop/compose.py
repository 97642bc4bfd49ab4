"""Eq. 5: D_{j+1} = D_ES + D_EE + D_HPPL + D_seed-new, at a fixed total size.

D_ES   error seeds: samples the policy still gets wrong (PRED_WRONG), and samples whose label the
       judge corrected (LABEL_WRONG, label replaced by the policy's answer, old label kept)
D_EE   EDDE samples that passed verification
D_HPPL mastered samples with high perplexity (and BOTH_CORRECT ones above the same cutoff)
D_seed-new  seed samples never trained on; their share follows the schedule (paper Table 3:
       100 %, 30.8 %, 15.4 %, 7.7 %), and they fill whatever the other parts leave empty.
When the other parts exceed their budget, each is cut in proportion (deterministically).

The Table 4 ablations change exactly one part (loop.config.AblationSettings):
  w/o High-PPL           D_HPPL -> as many random mastered samples (selection "random_mastered")
  w/o JGLV               no judge ran: every mismatch is a PRED_WRONG error seed, no label changes
  Remove EDDE            D_EE -> nothing
  HighPPL-Replace        D_EE -> k x |D_ES| extra mastered samples, the next ones by perplexity
                         (bucket HPPL, selection "high_ppl_replace")
  Error-Seed Repetition  D_EE -> every error seed repeated k times (bucket ES, ids "<id>~rep<j>-<n>",
                         selection "error_seed_repetition"); no near-duplicate filter touches them
"The scale D_EE would have had" is k x |D_ES|, EDDE's nominal output: the ablation runs do not
ask the generator, so the verified count is not known (docs/loop.md).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from looptool.errors import StageError
from looptool.loop.config import AblationSettings, ComposeSettings
from looptool.loop.iteration import COMPOSE, EXPAND, PROBE, IterationData, read_samples, write_samples
from looptool.samples import StepSample
from looptool.stages import Stage, StageContext, StageOutcome
from looptool.store import atomic_write_json, iter_jsonl, read_json

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
                    provenance={
                        "origin": "label_fix",
                        "iteration": iteration,
                        "previous_label": previous,
                        "analysis": verdict.get("analysis"),
                    },
                )
            )
    return seeds


def mastered_by_perplexity(current: list[StepSample], probes: dict[str, dict]) -> list[StepSample]:
    """Samples the policy got right, highest perplexity first (ties by id); no perplexity last."""
    mastered = [s for s in current if probes.get(s.id, {}).get("matched")]
    return sorted(mastered, key=lambda s: (probes[s.id].get("ppl") is None, -(probes[s.id].get("ppl") or 0.0), s.id))


def high_ppl(
    current: list[StepSample], probes: dict[str, dict], verdicts: dict[str, dict], hppl_ids: set[str], cutoff: float | None
) -> list[StepSample]:
    """D_HPPL by the paper's rule: the probe's high-perplexity mastered samples, and BOTH_CORRECT
    ones at or above the same cutoff."""
    chosen = [s for s in current if s.id in hppl_ids]
    if cutoff is not None:
        chosen += [
            s
            for s in current
            if verdicts.get(s.id, {}).get("verdict") == "BOTH_CORRECT" and (probes[s.id].get("ppl") or 0) >= cutoff and s.id not in hppl_ids
        ]
    return chosen


def random_mastered(current: list[StepSample], probes: dict[str, dict], count: int, rng: random.Random) -> list[StepSample]:
    """w/o High-PPL: as many samples the policy got right, drawn at random."""
    mastered = sorted((s for s in current if probes.get(s.id, {}).get("matched")), key=lambda s: s.id)
    return sorted(rng.sample(mastered, min(count, len(mastered))), key=lambda s: s.id)


def extra_high_ppl(current: list[StepSample], probes: dict[str, dict], taken: set[str], count: int) -> list[StepSample]:
    """HighPPL-Replace: the next `count` mastered samples by perplexity, after those D_HPPL took."""
    return [s for s in mastered_by_perplexity(current, probes) if s.id not in taken][:count]


def repeated_seeds(seeds: list[StepSample], k: int, iteration: int) -> list[StepSample]:
    """Error-Seed Repetition: each error seed k more times, under ids of their own.

    The ids carry the iteration they are made for: a copy made for D_2 that is still an error seed
    in D_2 is repeated again for D_3 next to its parent, and "<id>~rep<n>" alone named both
    generations' copies alike (a duplicate id that stopped the run)."""
    copies = []
    for seed in seeds:
        for number in range(k):
            provenance = {"parent_id": seed.id, "selection": "error_seed_repetition"}
            copies.append(with_bucket(seed, "ES", id=f"{seed.id}~rep{iteration}-{number}", provenance=provenance))
    return copies


def nominal_edde_size(seeds: list[StepSample], k: int) -> int:
    return k * len(seeds)


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
    expand_k: int = 4,
) -> tuple[list[StepSample], dict[str, Any]]:
    rng = random.Random(f"{rng_seed}|compose|{next_iteration}")
    current = sorted(current, key=lambda s: s.id)
    expansions = sorted(expansions, key=lambda s: s.id)
    unused_seed = sorted(unused_seed, key=lambda s: s.id)
    seeds = error_seeds(current, probes, verdicts, next_iteration - 1)
    paper_hppl = high_ppl(current, probes, verdicts, hppl_ids, hppl_cutoff)
    if ablations.without_high_ppl:
        hppl = [
            with_bucket(s, "HPPL", provenance={"selection": "random_mastered"})
            for s in random_mastered(current, probes, len(paper_hppl), rng)
        ]
    else:
        hppl = [with_bucket(s, "HPPL") for s in paper_hppl]
    parts: dict[str, list[StepSample]] = {"ES": list(seeds), "EE": [], "HPPL": hppl}
    if ablations.edde_runs:
        parts["EE"] = [with_bucket(s, "EE") for s in expansions]
    elif ablations.high_ppl_replace:
        extra = extra_high_ppl(current, probes, {s.id for s in hppl}, nominal_edde_size(seeds, expand_k))
        parts["HPPL"] += [with_bucket(s, "HPPL", provenance={"selection": "high_ppl_replace"}) for s in extra]
    elif ablations.error_seed_repetition:
        parts["ES"] += repeated_seeds(seeds, expand_k, next_iteration)
    share = settings.seed_new_share(next_iteration)
    seed_new_target = min(len(unused_seed), settings.seed_new_needed(next_iteration, target_size))
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
    parts["SEED_NEW"] = [
        with_bucket(s, "SEED_NEW", provenance={"origin": "seed_new", "iteration": next_iteration}) for s in shuffled[: max(0, fill)]
    ]
    dataset = [s for bucket in BUCKETS for s in parts[bucket]]
    ids = Counter(s.id for s in dataset)
    duplicates = [i for i, n in ids.items() if n > 1]
    if duplicates:
        raise ValueError(f"composed dataset repeats ids {duplicates[:5]}")
    size = len(dataset)
    composition: dict[str, Any] = {
        "iteration": next_iteration,
        "target_size": target_size,
        "size": size,
        "seed_new_share_target": share,
        "ablation": ablations.active,
    }
    for bucket in BUCKETS:
        composition[f"D_{bucket}"] = len(parts[bucket])
        composition[f"share_{bucket}"] = round(len(parts[bucket]) / size, 4) if size else 0.0
    composition["label_fixes"] = sum(1 for s in parts["ES"] if s.provenance.origin == "label_fix" and s.provenance.selection is None)
    composition["short_by"] = max(0, target_size - size)
    return dataset, composition


# -- D_1 ------------------------------------------------------------------------------------------
def seed_reserve(settings: ComposeSettings, iterations: int, size: int) -> int:
    """Never-trained seed samples that D_2..D_J need by Table 3's schedule at |D_j| = size."""
    return sum(settings.seed_new_needed(j, size) for j in range(2, iterations + 1))


def first_iteration_sizes(pool: int, settings: ComposeSettings, iterations: int) -> tuple[int, int, int]:
    """(|D_1|, |D_j| for j > 1, seed samples reserved for D_2..D_J).

    |D_1| is first_iteration_size, else dataset_size, else the largest size that leaves the
    reserve in the pool. Raises StageError, saying by how much, when the pool cannot hold D_1 plus
    the reserve: better before training than an iteration that silently misses its share."""
    first = settings.first_iteration_size or settings.dataset_size
    if first is None:
        first = pool
        while first > 1 and first + seed_reserve(settings, iterations, first) > pool:
            first -= 1
    size = settings.dataset_size or first
    reserve = seed_reserve(settings, iterations, size)
    if pool < first + reserve or pool < 1:
        shares = ", ".join(f"D_{j} {settings.seed_new_needed(j, size)}" for j in range(2, iterations + 1))
        raise StageError(
            f"the seed set has {pool} samples, but D_1 takes {first} and Table 3's schedule needs {reserve} never-trained "
            f"seed samples for iterations 2..{iterations} ({shares or 'none'}): {first + reserve - pool} short. Simulate more "
            "dialogs (synth.dialogs.count), or lower loop.compose.first_iteration_size / dataset_size / seed_new_shares"
        )
    return first, size, reserve


class FirstDatasetStage(Stage):
    """D_1: a seeded random draw from the seed pool, the rest kept in reserve for later iterations."""

    def __init__(self, data: IterationData) -> None:
        self.data = data
        self.key = data.key("dataset", 1)
        self.title = "D_1"

    async def run(self, ctx: StageContext) -> StageOutcome:
        data = self.data
        pool = data.seed_pool()
        if not pool:
            raise StageError("the seed set is empty: seed construction verified no dialog; see seed/verify/verdicts.jsonl for why")
        size, later_size, reserve = first_iteration_sizes(len(pool), data.settings.compose, data.config.run.iterations)
        rng = random.Random(f"{data.config.run.seed}|D1")
        order = list(pool)
        rng.shuffle(order)
        chosen = [with_bucket(s, "SEED_NEW") for s in sorted(order[:size], key=lambda s: s.id)]
        write_samples(data.dataset_path(1), chosen)
        return StageOutcome(
            counts={
                "size": len(chosen),
                "seed_pool": len(pool),
                "seed_reserved": reserve,
                "later_size": later_size,
                "D_SEED_NEW": len(chosen),
                "share_SEED_NEW": 1.0,
            }
        )


class ComposeStage(Stage):
    """D_{i+1} from iteration i's probes, verdicts and expansions (the ablation switches are
    applied inside `compose`); records D_{i+1} as a finished dataset stage too."""

    def __init__(self, data: IterationData) -> None:
        self.data = data
        self.key = data.key(COMPOSE)
        self.title = f"iteration {data.iteration}: composition of D_{data.iteration + 1}"

    async def run(self, ctx: StageContext) -> StageOutcome:
        data, settings, i = self.data, self.data.settings, self.data.iteration
        current = data.dataset()
        used: set[str] = set()
        for j in range(1, i + 1):
            used.update(r["id"] for r in iter_jsonl(data.dataset_path(j)))
        unused = [s for s in data.seed_pool() if s.id not in used]
        hppl = read_json(ctx.store.path(data.key(PROBE), "high_ppl.json"), default={"ids": [], "cutoff": None})
        expansions = read_samples(ctx.store.path(data.key(EXPAND), "accepted.jsonl"))
        target = settings.compose.dataset_size or len(data.dataset(1))
        dataset, composition = compose(
            current=current,
            probes=data.probes(),
            verdicts=data.verdicts(),
            expansions=expansions,
            hppl_ids=set(hppl["ids"]),
            hppl_cutoff=hppl["cutoff"],
            unused_seed=unused,
            next_iteration=i + 1,
            target_size=target,
            settings=settings.compose,
            ablations=settings.ablations,
            rng_seed=data.config.run.seed,
            expand_k=settings.expand.k,
        )
        write_samples(data.dataset_path(i + 1), dataset)
        atomic_write_json(ctx.store.path(self.key, "composition.json"), composition)
        ctx.store.mark_finished(
            data.key("dataset", i + 1), counts={k: v for k, v in composition.items() if k.startswith(("D_", "share_", "size"))}
        )
        return StageOutcome(counts=composition)
