"""Paper Table 4 ablations: the composed D_{j+1}, bucket by bucket, against each definition.

The fixture (compose_fixture.py) has 6 error seeds (2 label fixes), 8 verified EDDE samples, a
paper D_HPPL of 4 (3 high-PPL mastered + 1 BOTH_CORRECT above the cutoff) and 12 mastered samples.
The target size leaves room for every part, so counts are exact, not cut.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from looptool.loop.compose import compose
from looptool.loop.config import AblationSettings, ComposeSettings, LoopSettings

sys.path.insert(0, str(Path(__file__).parent))
from compose_fixture import ERROR_SEEDS, MASTERED, PAPER_HPPL, outcome

K = 2
TARGET = 50


def composed(ablation: str | None, *, rng_seed: int = 5, target: int = TARGET, k: int = K):
    data = outcome()
    ablations = AblationSettings(**({ablation: True} if ablation else {}))
    dataset, composition = compose(
        **data,
        next_iteration=2,
        target_size=target,
        settings=ComposeSettings(),
        ablations=ablations,
        rng_seed=rng_seed,
        expand_k=k,
    )
    buckets: dict[str, list] = {"ES": [], "EE": [], "HPPL": [], "SEED_NEW": []}
    for sample in dataset:
        buckets[sample.provenance.bucket].append(sample)
    for name, items in buckets.items():
        assert composition[f"D_{name}"] == len(items)
    assert len({s.id for s in dataset}) == len(dataset)
    return buckets, composition


def ids(samples) -> set[str]:
    return {s.id for s in samples}


def test_paper_composition_has_every_part() -> None:
    buckets, composition = composed(None)
    assert ids(buckets["ES"]) == ERROR_SEEDS
    assert ids(buckets["EE"]) == {f"s12-i01e{n}" for n in range(8)}
    assert ids(buckets["HPPL"]) == PAPER_HPPL
    assert len(buckets["SEED_NEW"]) == TARGET - 6 - 8 - 4
    fixes = [s for s in buckets["ES"] if s.provenance.origin == "label_fix"]
    assert ids(fixes) == {"s15", "s16"} and composition["label_fixes"] == 2
    assert composition["ablation"] is None


def test_without_high_ppl_replaces_d_hppl_by_as_many_random_mastered_samples() -> None:
    chosen_sets = set()
    for rng_seed in range(6):
        buckets, composition = composed("without_high_ppl", rng_seed=rng_seed)
        hppl = buckets["HPPL"]
        assert len(hppl) == len(PAPER_HPPL), "same count as the paper's D_HPPL"
        assert ids(hppl) <= MASTERED, "only samples the model predicted correctly"
        assert all(s.provenance.selection == "random_mastered" for s in hppl)
        assert ids(buckets["ES"]) == ERROR_SEEDS and len(buckets["EE"]) == 8
        assert composition["ablation"] == "without_high_ppl"
        chosen_sets.add(frozenset(ids(hppl)))
    assert len(chosen_sets) > 1, "random, not the perplexity ranking"
    assert frozenset(PAPER_HPPL) not in chosen_sets or len(chosen_sets) > 1


def test_without_jglv_every_mismatch_is_an_error_seed_and_no_label_changes() -> None:
    data = outcome()
    mismatched = [s.id for s in data["current"] if not data["probes"][s.id]["matched"]]
    # What the runner writes under this ablation: no judge, PRED_WRONG for every mismatch.
    data["verdicts"] = {i: {"id": i, "verdict": "PRED_WRONG", "orders": [], "analysis": "", "ablation": "without_jglv"} for i in mismatched}
    ablations = AblationSettings(without_jglv=True)
    dataset, composition = compose(
        **data, next_iteration=2, target_size=TARGET, settings=ComposeSettings(), ablations=ablations, rng_seed=5, expand_k=K
    )
    es = [s for s in dataset if s.provenance.bucket == "ES"]
    assert ids(es) == set(mismatched) and composition["label_fixes"] == 0
    before = {s.id: s for s in data["current"]}
    assert all(s.label_calls == before[s.id].label_calls and s.provenance.origin == "seed" for s in es)
    assert not [s for s in dataset if s.provenance.bucket == "HPPL" and s.id == "s18"], "no BOTH_CORRECT without a judge"


def test_remove_edde_drops_d_ee() -> None:
    buckets, composition = composed("remove_edde")
    assert buckets["EE"] == [] and ids(buckets["ES"]) == ERROR_SEEDS and ids(buckets["HPPL"]) == PAPER_HPPL
    assert len(buckets["SEED_NEW"]) == TARGET - 6 - 4, "fixed |D_j|: never-trained seed samples take D_EE's place"


def test_high_ppl_replace_puts_as_many_extra_high_ppl_samples_in_place_of_d_ee() -> None:
    buckets, _ = composed("high_ppl_replace", k=1)
    assert buckets["EE"] == []
    extra = [s for s in buckets["HPPL"] if s.provenance.selection == "high_ppl_replace"]
    assert len(extra) == 1 * len(ERROR_SEEDS), "D_EE's nominal scale: k per error seed"
    # the next six mastered samples by perplexity after s00..s02
    assert ids(extra) == {"s03", "s04", "s05", "s06", "s07", "s08"}
    assert ids(buckets["HPPL"]) - ids(extra) == PAPER_HPPL
    capped, _ = composed("high_ppl_replace", k=4)
    assert len([s for s in capped["HPPL"] if s.provenance.selection]) == len(MASTERED) - 3, "no more than there are"


def test_error_seed_repetition_repeats_d_es_to_d_ee_scale_under_ids_of_their_own() -> None:
    buckets, composition = composed("error_seed_repetition")
    assert buckets["EE"] == []
    copies = [s for s in buckets["ES"] if s.provenance.selection == "error_seed_repetition"]
    assert len(copies) == K * len(ERROR_SEEDS) and len(buckets["ES"]) == (1 + K) * len(ERROR_SEEDS)
    originals = {s.id: s for s in buckets["ES"] if s.provenance.selection is None}
    for copy in copies:
        parent = originals[copy.provenance.parent_id]
        assert copy.id.startswith(parent.id + "~rep")
        assert copy.label_calls == parent.label_calls and copy.messages == parent.messages
    assert composition["label_fixes"] == 2, "copies are not counted as further label fixes"


def test_error_seed_repetition_twice_in_a_row_gives_unique_ids() -> None:
    """A seed and its copy both still wrong after the next iteration: the copies made for D_3 must
    not reuse the ids of those made for D_2 (they did: a duplicate-id error stopped the run)."""
    first, _ = composed("error_seed_repetition")
    d2 = [s for part in first.values() for s in part]
    data = outcome()
    still_wrong = {s.id for s in d2 if s.provenance.bucket == "ES"}
    probes = {s.id: {"matched": s.id not in still_wrong, "ppl": 1.0, "pred_calls": [], "prediction": "no"} for s in d2}
    verdicts = {i: {"verdict": "PRED_WRONG"} for i in still_wrong}
    dataset, _ = compose(
        current=d2,
        probes=probes,
        verdicts=verdicts,
        expansions=[],
        hppl_ids=set(),
        hppl_cutoff=None,
        unused_seed=data["unused_seed"],
        next_iteration=3,
        target_size=TARGET * 3,
        settings=ComposeSettings(),
        ablations=AblationSettings(error_seed_repetition=True),
        rng_seed=5,
        expand_k=K,
    )
    assert len({s.id for s in dataset}) == len(dataset)
    assert sum(1 for s in dataset if s.provenance.selection == "error_seed_repetition" and "~rep3-" in s.id) == K * len(still_wrong)


def test_ablations_carry_the_papers_names_one_at_a_time() -> None:
    assert set(AblationSettings.model_fields) == {
        "without_high_ppl",
        "without_jglv",
        "remove_edde",
        "high_ppl_replace",
        "error_seed_repetition",
    }
    with pytest.raises(ValidationError, match="one part at a time"):
        AblationSettings(remove_edde=True, error_seed_repetition=True)
    for old, new in (("no_jglv", "without_jglv"), ("no_edde", "remove_edde"), ("no_high_ppl", "without_high_ppl")):
        with pytest.raises(ValidationError, match=f"renamed '{new}'"):
            LoopSettings.model_validate({"ablations": {old: True}})
    assert not AblationSettings(remove_edde=True).edde_runs and AblationSettings(without_jglv=True).edde_runs
