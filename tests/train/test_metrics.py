"""Metric lines from verl's console logger and our TRL worker become the run's stats."""

from __future__ import annotations

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
