"""`looptool experiment --quick` end to end with the real tiny policy (TRL runtime): learning that
cannot be faked. Held-out accuracy is measured on requests and values never trained on, against the
world's truth; the warm start is measured the same way, before GRPO."""

from __future__ import annotations

import json

import pytest

from looptool.cli import main


@pytest.mark.slow
def test_quick_experiment_learns(tmp_path, require_runtime):
    require_runtime("trl")
    out = tmp_path / "quick"
    assert main(["experiment", "--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "results.json").read_text())
    warm = summary["warm_start"]["heldout_accuracy"]
    for arm in ("static", "loop"):
        a = summary["arms"][arm]
        final = a["accuracy"][-1]
        assert final["n"] >= 2
        # above the warm start by more than the seed-to-seed spread
        assert final["mean"] - warm > final["std"], (arm, warm, final)
        # GRPO had something to learn from: groups with different rewards, non-zero gradients
        assert a["groups_with_spread"] > 0.1, (arm, a["groups_with_spread"])
    loop = summary["arms"]["loop"]
    assert loop["jglv"]["shown"] > 0 and loop["edde"]["requested"] > 0
    assert (out / "accuracy.png").exists() and (out / "results.md").read_text().count("SIMULATED") == 1
