"""The BFCL worker in the real bfcl env: data, bfcl's AST checker, and allow-listed backends.

Multi-turn execution must never evaluate model text: names are looked up in an allow-list,
arguments are passed as keywords, and ground-truth strings are parsed, not evaluated.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from looptool.eval.bfcl_client import BfclWorker, BfclWorkerError, looptool_root

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

ITEM = "multi_turn_base_0"  # file system: cd document, mkdir temp, mv final_report.pdf temp; then grep ...
TURN0 = [
    {"name": "cd", "arguments": {"folder": "document"}},
    {"name": "mkdir", "arguments": {"dir_name": "temp"}},
    {"name": "mv", "arguments": {"source": "final_report.pdf", "destination": "temp"}},
]


@pytest.fixture
async def worker(require_runtime, tmp_path: Path):
    async with BfclWorker(tmp_path / "worker", python=require_runtime("bfcl")) as w:
        yield w


async def test_items_ground_truth_and_ast_verdicts(worker: BfclWorker):
    assert worker.version == "2026.3.23"
    selection = await worker.call("items", categories=["simple_python", "multi_turn_miss_func"], limit=2)
    assert [i["id"] for i in selection["items"]] == [
        "simple_python_0",
        "simple_python_1",
        "multi_turn_miss_func_0",
        "multi_turn_miss_func_1",
    ]
    assert selection["available"] == {"simple_python": 400, "multi_turn_miss_func": 200}
    assert selection["items"][2]["missed_function"]["3"][0]["name"] == "sort"
    truth = await worker.call("ground_truth", ids=["simple_python_0", ITEM])
    assert truth["simple_python_0"] == [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}]
    # "sort('final_report.pdf')" is positional in BFCL's data; bound to its keyword from the signature.
    assert truth[ITEM][2] == [{"name": "sort", "arguments": {"file_name": "final_report.pdf"}}]
    right = await worker.call(
        "score_ast", item="simple_python_0", calls=[{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}]
    )
    assert right == {"valid": True}
    wrong = await worker.call(
        "score_ast", item="simple_python_0", calls=[{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 6}}]
    )
    assert wrong["valid"] is False and wrong["error_type"] == "value_error:others"
    none = await worker.call("score_ast", item="simple_python_0", calls=[])
    assert none["valid"] is False and none["error_type"] == "ast_decoder:decoder_failed"
    with pytest.raises(BfclWorkerError, match="no BFCL item"):
        await worker.call("score_ast", item="simple_python_99999", calls=[])
    with pytest.raises(BfclWorkerError, match="ids not found"):
        await worker.call("items", categories=["multiple"], ids=["simple_python_0"])


async def test_dispatch_is_an_allow_list_and_never_evaluates(worker: BfclWorker, tmp_path: Path):
    sentinel = tmp_path / "pwned"
    await worker.call("mt_open", item=ITEM)
    hostile = [
        {"name": f"__import__('os').system('touch {sentinel}')", "arguments": {}},
        {"name": "_load_scenario", "arguments": {"scenario": {}}},
        {"name": "__init__", "arguments": {}},
        {"name": "eval", "arguments": {"source": f"open('{sentinel}', 'w')"}},
        {"name": "cd", "arguments": {"folder": f"__import__('os').system('touch {sentinel}')"}},
        {"name": "cd", "arguments": "not an object"},
        {"name": "mkdir", "arguments": {"dir_name": "x", "unexpected": 1}},
    ]
    results = await worker.call("mt_exec", item=ITEM, calls=hostile)
    assert not sentinel.exists()
    assert results[0].startswith("Error during execution: name ") and "is not defined" in results[0]
    assert results[1] == "Error during execution: name '_load_scenario' is not defined"
    assert results[2] == "Error during execution: name '__init__' is not defined"
    assert results[3] == "Error during execution: name 'eval' is not defined"
    assert results[4].startswith('{"error": ')  # a real `cd` whose folder argument is just an odd string
    assert results[5] == "Error during execution: arguments must be an object"
    assert "unexpected keyword argument" in results[6]
    await worker.call("mt_close", item=ITEM)


async def test_turn_verdicts_follow_bfcl_semantics(worker: BfclWorker):
    # The ground truth's own calls pass every turn.
    truth = (await worker.call("ground_truth", ids=[ITEM]))[ITEM]
    await worker.call("mt_open", item=ITEM)
    for turn, calls in enumerate(truth):
        results = await worker.call("mt_exec", item=ITEM, calls=calls)
        assert not any(r.startswith("Error") for r in results)
        assert (await worker.call("mt_end_turn", item=ITEM, turn=turn)) == {"valid": True, "checked": True}

    # No call in a turn with ground truth.
    await worker.call("mt_open", item=ITEM)
    empty = await worker.call("mt_end_turn", item=ITEM, turn=0)
    assert empty["valid"] is False and empty["error_type"] == "multi_turn:empty_turn_model_response"

    # Wrong state: the file is moved to the wrong folder.
    await worker.call("mt_open", item=ITEM)
    await worker.call(
        "mt_exec",
        item=ITEM,
        calls=TURN0[:2]
        + [
            {"name": "mkdir", "arguments": {"dir_name": "other"}},
            {"name": "mv", "arguments": {"source": "final_report.pdf", "destination": "other"}},
        ],
    )
    state = await worker.call("mt_end_turn", item=ITEM, turn=0)
    assert state["valid"] is False and state["error_type"] == "multi_turn:instance_state_mismatch"
    assert "root" in state["differences"]

    # Right state but a read-only call's result missing: turn 1 is `cd temp` + `grep` (grep changes nothing).
    await worker.call("mt_open", item=ITEM)
    await worker.call("mt_exec", item=ITEM, calls=TURN0)
    assert (await worker.call("mt_end_turn", item=ITEM, turn=0))["valid"] is True
    await worker.call("mt_exec", item=ITEM, calls=[{"name": "cd", "arguments": {"folder": "temp"}}])
    response = await worker.call("mt_end_turn", item=ITEM, turn=1)
    assert response["valid"] is False and response["error_type"] == "multi_turn:execution_response_mismatch"
    assert response["missing"] and "budget analysis" in response["missing"][0]
    await worker.call("mt_close", item=ITEM)


def test_ground_truth_strings_are_parsed_as_literals_only(require_runtime):
    code = """
from looptool.eval.bfcl_backends import GroundTruthError, parse_ground_truth_call as p
assert p("sort('a.pdf')") == ("sort", ["a.pdf"], {})
assert p("mv(source='a', destination='b', n=-2, flags=[1, (2, 3)])") == ("mv", [], {"source": "a", "destination": "b", "n": -2, "flags": [1, (2, 3)]})
for bad in ["f(x=__import__('os').system('id'))", "a.b(x=1)", "f(**{'a': 1})", "f(x=1+1)", "[f()]", "f(x="]:
    try:
        p(bad)
    except GroundTruthError:
        continue
    raise SystemExit("accepted " + bad)
print("ok")
"""
    done = subprocess.run(
        [str(require_runtime("bfcl")), "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(looptool_root()), "PATH": "/usr/bin:/bin", "BFCL_PROJECT_ROOT": "/tmp/looptool-bfcl-test"},
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
