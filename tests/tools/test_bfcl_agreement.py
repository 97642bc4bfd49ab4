"""ToolMatch `bfcl` mode against the real BFCL AST checker (bfcl-eval 2026.3.23).

bfcl_agreement.py runs under the bfcl runtime python and compares verdicts on BFCL's own
ground truth plus mutated predictions (~40k cases over the 8 Python AST categories).

Explained disagreements (docs/toolmatch.md):
* greedy mode (the default) reproduces the checker, including its greedy parallel matching and
  its crashes on malformed ground truth, so no disagreement kind is expected; any kind other than
  the ones listed here fails the test.
* assignment mode (bfcl_greedy=False) differs exactly on greedy false negatives: the checker
  rejects outputs that it accepts in another order (verified per case by the runner).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("bfcl_agreement.py")
EXPLAINED_GREEDY: set[str] = set()  # none observed; see module docstring
EXPLAINED_ASSIGNMENT = {"greedy_false_negative"}


def run(python: Path, *args: str) -> dict:
    out = subprocess.run(
        [str(python), str(RUNNER), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.mark.slow
def test_bfcl_mode_agrees_with_the_bfcl_checker(require_runtime):
    report = run(require_runtime("bfcl"))
    assert report["total"] >= 30000
    # Both verdicts are well represented, so agreement is not won by always saying no.
    assert report["checker_verdicts"]["valid"] >= 10000 and report["checker_verdicts"]["invalid"] >= 10000
    for mutation in (
        "oracle_min",
        "wrong_value",
        "missing_arg",
        "extra_arg_unknown",
        "swapped_order",
        "wrong_type",
        "extra_call",
        "string_case_punct",
        "int_for_float",
        "underscore_to_dot",
    ):
        assert report["by_mutation"][mutation]["total"] >= 400, mutation
    assert report["agreement"] >= 0.995, report["disagreements"][:20]
    unexplained = [d for d in report["disagreements"] if d["kind"] not in EXPLAINED_GREEDY]
    assert unexplained == []


@pytest.mark.slow
def test_assignment_option_differs_only_on_greedy_false_negatives(require_runtime):
    report = run(require_runtime("bfcl"), "--assignment")
    assert report["agreement"] >= 0.995
    kinds = {d["kind"] for d in report["disagreements"]}
    assert kinds <= EXPLAINED_ASSIGNMENT, report["disagreements"][:20]
    # The checker's own ground truth contains at least one such case (parallel_178).
    assert all(d["checker"] == "invalid" and d["ours"] == "valid" for d in report["disagreements"])
    assert any(d["id"] == "parallel_178" for d in report["disagreements"])
