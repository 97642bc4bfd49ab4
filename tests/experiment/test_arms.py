"""Equal budgets across arms, the static schedule, and the simulated roles' stated accuracies."""

from __future__ import annotations

import random

import pytest

from looptool.experiment import roles
from looptool.experiment.arms import ablation_settings, arm_schedule, static_slices
from looptool.experiment.settings import ALL_ARMS, ExperimentSettings, quick_settings
from looptool.experiment.world import build_world, generator_pools


@pytest.mark.parametrize("settings", [ExperimentSettings(), quick_settings()])
def test_every_arm_gets_the_same_grpo_budget(settings):
    budgets = {arm: arm_schedule(arm, settings) for arm in ALL_ARMS}
    assert len({tuple(b) for b in budgets.values()}) == 1
    assert sum(budgets["static"]) == settings.grpo.iterations * settings.grpo.steps_per_iteration
    assert settings.dataset_size * settings.grpo.epochs_per_iteration == settings.grpo.steps_per_iteration * settings.grpo.prompts_per_step


def test_default_run_has_the_seed_counts_the_issue_asks():
    arms = ExperimentSettings().arms
    assert arms["static"] >= 3 and arms["loop"] >= 3
    assert set(arms) == set(ALL_ARMS) and all(arms[a] >= 2 for a in ALL_ARMS)


def test_ablation_arms_switch_exactly_one_table4_part():
    assert ablation_settings("loop").active is None
    for arm in ALL_ARMS[2:]:
        assert ablation_settings(arm).active == arm
    with pytest.raises(ValueError):
        arm_schedule("no_such_arm", ExperimentSettings())


def test_static_slices_cover_the_seed_set_in_equal_parts():
    world = build_world(ExperimentSettings().world)
    slices = static_slices(world.seed_set, 64, 3, seed=0)
    assert [len(s) for s in slices] == [64, 64, 64]
    first_pass = [s.id for part in slices for s in part][: len(world.seed_set)]
    assert sorted(first_pass) == sorted(s.id for s in world.seed_set)  # every seed sample before any repeats


def test_simulated_judge_accuracy_is_as_stated():
    world = build_world(ExperimentSettings().world)
    rng = random.Random(0)
    noisy = {n.sample_id for n in world.noise}
    right = total = 0
    for _ in range(10):
        for sample in world.seed_set:
            v = roles.judge(sample, world.truth[sample.id], world.truth[sample.id], 0.9, rng)
            assert v["true_verdict"] == ("LABEL_WRONG" if sample.id in noisy else "BOTH_CORRECT")
            right += v["verdict"] == v["true_verdict"]
            total += 1
    assert right / total == pytest.approx(0.9, abs=0.03)


def test_generator_validity_is_as_stated_and_values_avoid_the_test_set():
    world = build_world(ExperimentSettings().world)
    pools = generator_pools(world, "t")
    test_values = {v for s in world.test_set for c in s.label_calls for v in c["arguments"].values()}
    rng = random.Random(1)
    valid = total = 0
    for seed in world.seed_set[:100]:
        for variant, calls, ok in roles.expand(seed, world.truth[seed.id], 4, 0.9, 1, pools, rng):
            assert (variant.label_calls == calls) == ok
            assert [c["name"] for c in calls] == [c["name"] for c in world.truth[seed.id]]
            shared = {"USD", "EUR", "GBP", "JPY"} | {c["arguments"].get("text") for c in calls}
            assert not ({v for c in calls for v in c["arguments"].values()} - shared) & test_values
            valid += ok
            total += 1
    assert valid / total == pytest.approx(0.9, abs=0.04)
