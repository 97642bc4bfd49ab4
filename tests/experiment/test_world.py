"""World construction: the noise recorded is the noise applied, the test set is disjoint."""

from __future__ import annotations

import json

from looptool.experiment.settings import WorldSettings
from looptool.experiment.world import NOISE_KINDS, build_world, split_values
from looptool.loop.expand import sample_tokens
from looptool.sim.phrasing import parse_request
from looptool.similarity import JaccardIndex


def _world(**kw):
    return build_world(WorldSettings(**kw))


def test_noise_recorded_is_noise_applied():
    world = _world(noise_rate=0.25)
    by_id = {s.id: s for s in world.seed_set}
    noisy_ids = {n.sample_id for n in world.noise}
    assert len(noisy_ids) == len(world.noise) == round(0.25 * len(world.seed_set))
    for record in world.noise:
        assert by_id[record.sample_id].label_calls == record.noisy_calls
        assert record.clean_calls == world.truth[record.sample_id]
        assert record.noisy_calls != record.clean_calls
    for sample in world.seed_set:
        if sample.id not in noisy_ids:
            assert sample.label_calls == world.truth[sample.id]
    assert {n.kind for n in world.noise} == set(NOISE_KINDS)


def test_noise_rate_zero_and_full():
    assert _world(noise_rate=0.0).noise == []
    full = _world(noise_rate=1.0)
    assert all(s.label_calls != full.truth[s.id] for s in full.seed_set)


def test_requests_read_back_to_the_truth():
    world = _world()
    for sample in world.seed_set + world.test_set + world.warm_slice:
        phases = parse_request(sample.messages[0]["content"], sample.tools)
        truth = world.truth.get(sample.id, sample.label_calls)
        assert sorted(json.dumps(c, sort_keys=True) for c in phases[0]) == sorted(json.dumps(c, sort_keys=True) for c in truth)
        assert all(c["name"] not in sample.messages[0]["content"] for c in truth)  # natural users: no function names


def test_test_set_is_disjoint_and_not_near_duplicate():
    world = _world()
    train = world.seed_set + world.warm_slice
    ids = [s.id for s in train + world.test_set]
    assert len(ids) == len(set(ids))
    train_values = split_values([s.model_copy(update={"label_calls": world.truth.get(s.id, s.label_calls)}) for s in train])
    assert split_values(world.test_set).isdisjoint(train_values)
    assert {s.messages[0]["content"] for s in world.test_set}.isdisjoint({s.messages[0]["content"] for s in train})
    index = JaccardIndex(0.9)
    for sample in train:
        index.add(sample.id, sample_tokens(sample))
    assert not [s.id for s in world.test_set if index.most_similar(sample_tokens(s))]


def test_same_seed_same_world():
    assert _world(seed=3).model_dump() == _world(seed=3).model_dump()
    assert _world(seed=3).model_dump() != _world(seed=4).model_dump()


def test_noise_rate_changes_only_the_seed_labels_and_keeps_the_warm_start_cache():
    from looptool.experiment.settings import ExperimentSettings

    low, high = _world(noise_rate=0.1), _world(noise_rate=0.5)
    assert low.warm_slice == high.warm_slice and low.test_set == high.test_set and low.truth == high.truth
    assert len(high.noise) == 80 and len(low.noise) == 16
    a, b = ExperimentSettings(), ExperimentSettings()
    b.world.noise_rate = 0.5
    assert a.warm_start_key() == b.warm_start_key()
    b.world.test_size = 50
    assert a.warm_start_key() != b.warm_start_key()
