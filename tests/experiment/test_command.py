"""Command-line changes to the experiment's size, and the one clear error for a bad arm."""

from __future__ import annotations

import argparse

import pytest

from looptool.experiment.command import ExperimentError, add_arguments, configured


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_quick_and_overrides():
    s = configured(_args("--quick"))
    assert set(s.arms) == {"static", "loop"} and s.grpo.iterations == 2
    s = configured(_args("--noise-rate", "0.5", "--arms", "static,loop", "--seeds", "4"))
    assert s.world.noise_rate == 0.5 and s.arms == {"static": 4, "loop": 4}
    assert configured(_args("--sft-steps", "10")).policy.sft_steps == 10


def test_unknown_arm_is_one_clear_error():
    with pytest.raises(ExperimentError, match="unknown arm.*no_jglv"):
        configured(_args("--arms", "static,no_jglv"))


def test_bad_noise_rate_is_rejected():
    with pytest.raises(ExperimentError, match="noise_rate"):
        configured(_args("--noise-rate", "1.5"))
