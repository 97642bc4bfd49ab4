"""Eq. 5 and Table 3 (looptool.loop.compose): budget, shares, and what D_1 leaves for later."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest

from looptool.config import load_config
from looptool.errors import StageError
from looptool.loop.compose import compose, first_iteration_sizes, seed_reserve
from looptool.loop.config import AblationSettings, ComposeSettings
from looptool.loop.runner import SEED_SAMPLES, LoopRunner, write_samples
from looptool.store import RunStore, read_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from compose_fixture import _sample, outcome
from loop_support import RecordedCheckpointTrainer, loop_config, recorded_checkpoint


def test_default_d1_reserves_the_seed_samples_table_3_needs() -> None:
    settings = ComposeSettings()
    first, size, reserve = first_iteration_sizes(1000, settings, iterations=4)
    # D_2..D_4 need 30.8 %, 15.4 % and 7.7 % of |D_j| never-trained seed samples.
    assert reserve == round(0.308 * size) + round(0.154 * size) + round(0.077 * size)
    assert first == size and first + reserve <= 1000
    assert first + 1 + seed_reserve(settings, 4, first + 1) > 1000, "D_1 is as large as the reserve allows"
    assert first_iteration_sizes(1000, settings, iterations=1) == (1000, 1000, 0), "one iteration needs no reserve"


def test_explicit_sizes_are_kept_and_checked() -> None:
    settings = ComposeSettings(first_iteration_size=100, dataset_size=200)
    assert first_iteration_sizes(400, settings, iterations=3) == (100, 200, round(0.308 * 200) + round(0.154 * 200))
    with pytest.raises(StageError) as error:
        first_iteration_sizes(120, settings, iterations=3)
    message = str(error.value)
    assert "120 samples" in message and "needs 93 never-trained" in message and f"{100 + 93 - 120} short" in message, message


def test_too_small_a_seed_set_stops_before_training(tmp_path: Path) -> None:
    config = loop_config(tmp_path, dialogs=2, iterations=3, first_size=None, dataset_size=40)
    loaded = load_config(config)
    trainer = RecordedCheckpointTrainer(recorded_checkpoint(tmp_path))
    with RunStore(loaded.run_dir) as store:
        write_samples(store.root / SEED_SAMPLES, [_sample(f"u{i:02d}", f"c{i}") for i in range(30)])
        runner = LoopRunner(loaded, store, SimpleNamespace(caller=None, client=None), trainer)
        with pytest.raises(StageError, match=r"30 samples.*D_1 takes 40.*needs 18 never-trained.*28 short"):
            anyio.run(runner.run)
    assert trainer.calls == [], "nothing was trained"


def test_default_d1_leaves_later_iterations_their_share(tmp_path: Path) -> None:
    config = loop_config(tmp_path, dialogs=2, iterations=3, first_size=None)
    loaded = load_config(config)
    with RunStore(loaded.run_dir) as store:
        write_samples(store.root / SEED_SAMPLES, [_sample(f"u{i:03d}", f"c{i}") for i in range(100)])
        runner = LoopRunner(loaded, store, SimpleNamespace(caller=None, client=None))
        counts = anyio.run(runner.first_dataset)
        d1 = read_jsonl(runner.dataset_path(1))
    assert counts["size"] == len(d1) == 68, "68 + round(.308*68) + round(.154*68) = 68 + 21 + 10 <= 100"
    assert counts["seed_reserved"] == 31 and 100 - len(d1) >= counts["seed_reserved"]


def test_parts_over_budget_are_cut_in_proportion_and_seed_new_keeps_its_share() -> None:
    data = outcome()
    dataset, composition = compose(
        **data, next_iteration=2, target_size=13, settings=ComposeSettings(), ablations=AblationSettings(), rng_seed=1, expand_k=2
    )
    assert len(dataset) == composition["size"] == 13
    assert composition["D_SEED_NEW"] == round(0.308 * 13) == 4
    # 6 ES, 8 EE, 4 HPPL = 18 over a budget of 9: quotas 3, 4, 2
    assert (composition["D_ES"], composition["D_EE"], composition["D_HPPL"]) == (3, 4, 2)
    again, _ = compose(
        **outcome(), next_iteration=2, target_size=13, settings=ComposeSettings(), ablations=AblationSettings(), rng_seed=1, expand_k=2
    )
    assert [s.id for s in again] == [s.id for s in dataset], "deterministic for a seed"


def test_seed_new_fills_what_the_other_parts_leave() -> None:
    data = outcome()
    data["expansions"] = []
    dataset, composition = compose(
        **data, next_iteration=3, target_size=30, settings=ComposeSettings(), ablations=AblationSettings(), rng_seed=1, expand_k=2
    )
    assert composition["D_SEED_NEW"] == 30 - 6 - 4 and composition["short_by"] == 0
    assert all(s.provenance.origin == "seed_new" and s.provenance.iteration == 3 for s in dataset if s.provenance.bucket == "SEED_NEW")
