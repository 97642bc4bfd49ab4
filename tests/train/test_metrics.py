"""Metric lines from verl's console logger and our TRL worker become the run's stats."""

from __future__ import annotations

import json

from looptool.train.metrics import MetricsCollector, parse_trl_line, parse_verl_line

VERL_LINE = (
    "(TaskRunner pid=4242) step:3 - actor/pg_loss:np.float64(-0.0125) - actor/grad_norm:0.91 - "
    "critic/score/mean:np.float32(0.25) - timing_s/step:41.5 - response_length/mean:212.0 - "
    "training/global_step:3"
)


def test_verl_line_with_ray_prefix_and_numpy_reprs():
    m = parse_verl_line(VERL_LINE)
    assert m["step"] == 3 and m["actor/pg_loss"] == -0.0125 and m["critic/score/mean"] == 0.25
    assert m["timing_s/step"] == 41.5 and m["training/global_step"] == 3


def test_non_metric_lines_are_ignored():
    assert parse_verl_line("INFO step: starting the run") is None
    assert parse_verl_line("Training Progress: step:1 - nothing") is None
    assert parse_trl_line("LOOPTOOL_METRICS not json") is None
    assert parse_trl_line("{'loss': 0.1}") is None


def test_collector_summary_verl():
    c = MetricsCollector("verl")
    c.feed(VERL_LINE.replace("step:3", "step:1").replace("41.5", "40.5").replace("0.25)", "0.125)"))
    c.feed("some other output")
    c.feed(VERL_LINE)
    s = c.summary()
    assert s["steps"] == 3 and s["reward_mean"] == 0.25 and s["reward_mean_first"] == 0.125
    assert s["loss"] == -0.0125 and s["step_time_s"] == 41.0 and len(s["history"]) == 2


def test_collector_summary_trl():
    c = MetricsCollector("trl")
    c.feed('LOOPTOOL_METRICS {"step": 1, "loss": 0.5, "reward": 0.0, "step_time_s": 2.0}')
    c.feed('LOOPTOOL_METRICS {"step": 2, "loss": 0.25, "reward": 0.5, "step_time_s": 1.0, "flag": true}')
    s = c.summary()
    assert (s["steps"], s["loss"], s["reward_mean"], s["step_time_s"]) == (2, 0.25, 0.5, 1.5)
    assert "flag" not in s["history"][1]


def test_empty_summary():
    s = MetricsCollector("verl").summary()
    assert s["steps"] == 0 and s["reward_mean"] is None and s["step_time_s"] is None


def _trl_line(step: int, zero_std: float | None, **extra) -> str:
    data = {"step": step, "max_steps": 3, "loss": 0.01 * step, "grad_norm": 0.5, "reward": 0.25, "step_time_s": 12.34, **extra}
    if zero_std is not None:
        data["frac_reward_zero_std"] = zero_std
    return "LOOPTOOL_METRICS " + json.dumps(data)


def test_reward_spread_is_the_share_of_groups_with_different_rewards():
    c = MetricsCollector("trl", groups_per_step=2)
    row = c.feed(_trl_line(1, 0.5))
    assert row["reward_spread"] == 0.5 and row["no_reward_spread"] == 0.0
    line = c.describe(row)
    assert line == ("[train] GRPO step 1/3: reward 0.250, spread 0.50 (1 of 2 groups), loss 0.0100, grad_norm 0.500, 12.3 s")
    c.feed(_trl_line(2, 1.0))
    s = c.summary()
    assert s["reward_spread"] == 0.25 and s["zero_spread_steps"] == 1 and s["no_spread_all_steps"] is False
    assert s["grad_norm"] == 0.5 and s["grad_norm_first"] == 0.5


def test_no_spread_in_every_step_is_flagged_and_unknown_spread_is_not():
    c = MetricsCollector("trl", groups_per_step=2)
    for step in (1, 2):
        c.feed(_trl_line(step, 1.0))
    assert c.summary()["no_spread_all_steps"] is True
    assert "spread 0.00 (0 of 2 groups)" in c.describe(c.history[0])
    unknown = MetricsCollector("trl")
    unknown.feed(_trl_line(1, None))
    assert unknown.summary()["no_spread_all_steps"] is False and unknown.summary()["reward_spread"] is None
    assert "spread not logged" in unknown.describe(unknown.history[0])
    # One step without the metric: the iteration cannot be called spread-free.
    partial = MetricsCollector("trl")
    partial.feed(_trl_line(1, 1.0))
    partial.feed(_trl_line(2, None))
    assert partial.summary()["no_spread_all_steps"] is False


def test_verl_spread_is_decided_from_the_advantages_only():
    c = MetricsCollector("verl", groups_per_step=128)
    c.feed(VERL_LINE.replace("step:3", "step:1") + " - critic/advantages/max:0.0 - critic/advantages/min:0.0")
    c.feed(VERL_LINE + " - critic/advantages/max:1.2 - critic/advantages/min:-0.8")
    first, second = c.history
    assert "spread none (all advantages 0)" in c.describe(first)
    assert "spread some groups (fraction not logged by verl)" in c.describe(second)
    s = c.summary()
    assert s["reward_spread"] is None and s["zero_spread_steps"] == 1 and s["no_spread_all_steps"] is False
    assert s["grad_norm"] == 0.91


def test_sft_steps_describe_loss_and_accuracy():
    c = MetricsCollector("trl", stage="sft")
    row = c.feed(
        'LOOPTOOL_METRICS {"step": 2, "max_steps": 9, "loss": 0.2741, "grad_norm": 4.58, '
        '"mean_token_accuracy": 0.9421, "step_time_s": 36.04}'
    )
    assert c.describe(row) == "[train] SFT step 2/9: loss 0.274, token accuracy 0.942, grad_norm 4.580, 36.0 s"
    s = c.summary()
    assert s["loss"] == 0.2741 and s["token_accuracy"] == 0.9421 and "reward_spread" not in s
    verl = MetricsCollector("verl", stage="sft")
    verl.feed("step:1 - train/loss:1.5 - train/grad_norm:2.0 - train/lr:1e-05")
    assert verl.summary()["loss"] == 1.5 and verl.summary()["grad_norm"] == 2.0
