"""The report: numbers in the table are the seeds' numbers, the bars are judged from them, plots exist."""

from __future__ import annotations

import json

import pytest

from looptool.experiment.report import summarize, write_report
from looptool.experiment.settings import ExperimentSettings


def _record(arm, seed, accuracy, jglv=None):
    steps = [[{"reward": 0.5, "frac_reward_zero_std": 0.25}] * 2 for _ in accuracy]
    return {
        "arm": arm,
        "seed": seed,
        "accuracy": accuracy,
        "rewards": steps,
        "label_noise": [0.25] * len(accuracy),
        "jglv": [jglv] if jglv else [],
        "edde": [{"requested": 8, "valid": 7}] if arm == "loop" else [],
        "composition": [],
        "wall_s": 10.0,
    }


def _settings():
    s = ExperimentSettings()
    s.grpo.iterations = 2
    s.arms = {"static": 2, "loop": 2}
    return s


JGLV = {
    "shown": 10,
    "corrupted_shown": 4,
    "flagged": 4,
    "true_flags": 3,
    "precision": 0.75,
    "recall": 0.75,
    "label_fixes": 3,
    "label_fixes_right": 3,
}


def test_summary_means_stds_and_bars():
    results = [
        _record("static", 0, [0.40, 0.42]),
        _record("static", 1, [0.40, 0.44]),
        _record("loop", 0, [0.40, 0.60], JGLV),
        _record("loop", 1, [0.40, 0.62], JGLV),
    ]
    summary = summarize(_settings(), {"heldout_accuracy": 0.30, "base_heldout_accuracy": 0.0}, results)
    static_final = summary["arms"]["static"]["accuracy"][-1]
    assert static_final["mean"] == pytest.approx(0.43) and static_final["std"] == pytest.approx(0.01414, abs=1e-4)
    assert summary["verdicts"]["loop_beats_static_by_2std"]["holds"]
    assert summary["verdicts"]["static_above_warm_start"]["holds"]
    assert summary["arms"]["loop"]["jglv"]["recall"] == pytest.approx(0.75)
    assert not summary["verdicts"]["jglv_recall_at_least_0.9"]["holds"]
    assert summary["arms"]["loop"]["edde"]["yield"] == pytest.approx(7 / 8)
    assert summary["arms"]["loop"]["groups_with_spread"] == pytest.approx(0.75)


def test_no_gain_is_reported_as_no():
    results = [
        _record("static", 0, [0.30, 0.31]),
        _record("static", 1, [0.30, 0.25]),
        _record("loop", 0, [0.30, 0.32]),
        _record("loop", 1, [0.30, 0.26]),
    ]
    summary = summarize(_settings(), {"heldout_accuracy": 0.30, "base_heldout_accuracy": 0.0}, results)
    assert not summary["verdicts"]["loop_beats_static_by_2std"]["holds"]
    assert not summary["verdicts"]["static_above_warm_start"]["holds"]


def test_write_report_files(tmp_path):
    (tmp_path / "job.json").write_text(json.dumps({"settings": _settings().model_dump()}))
    (tmp_path / "warm_start.json").write_text(json.dumps({"heldout_accuracy": 0.3, "base_heldout_accuracy": 0.0}))
    rows = [_record("static", 0, [0.4, 0.5]), _record("loop", 0, [0.4, 0.6], JGLV)]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_report(tmp_path, "tiny")
    md = (tmp_path / "results.md").read_text()
    assert "SIMULATED" in md and "policy is real" in md
    assert "| LoopTool | 1 | 0.400 ± 0.000 | 0.600 ± 0.000 |" in md
    assert json.loads((tmp_path / "results.json").read_text())["arms"]["static"]["final_by_seed"] == [0.5]
    assert (tmp_path / "accuracy.png").stat().st_size > 1000 and (tmp_path / "rewards.png").stat().st_size > 1000
