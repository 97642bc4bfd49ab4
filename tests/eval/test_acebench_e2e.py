"""The ACEBench evaluator end to end: simulator (over HTTP) -> engine client -> agent loops and
backends -> both checkers -> Table 2.

The simulator answers from oracle tables built from ACEBench's ground truth
(looptool.eval.acebench_oracle). In ACEBench's format every item must get the decision the
OFFICIAL evaluator makes on the same answer (tests/eval/data/acebench_official_*.jsonl: the
ground-truth text for normal/special items, the replay of the same milestone path for agents),
so the oracle scores what the official evaluator scores on its own ground truth, which is not
100% (docs/eval.md says why, item by item).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import anyio
import pytest

from looptool.config.models import RetryConfig
from looptool.errors import ConfigError
from looptool.eval.acebench import evaluate_acebench, headline_scores
from looptool.eval.acebench_categories import AGENT, MULTI_TURN, NORMAL
from looptool.eval.acebench_data import load_items
from looptool.eval.acebench_oracle import best_path, build_tables
from looptool.eval.acebench_scoreboard import WEIGHTS
from looptool.eval.acebench_selfcheck import AceOracleBench, oracle_client
from looptool.eval.acebench_settings import AceBenchEvalSettings
from looptool.sim.server import SimServer
from looptool.sim.settings import FaultPlan, SimSettings
from looptool.store.jsonl import read_jsonl

pytestmark = pytest.mark.anyio
DATA = Path(__file__).parent / "data"

# Why the oracle fails in the strict mode where ACEBench lets it pass: ground-truth class names
# with typos, which ACEBench skips and strict mode cannot match (docs/eval.md).
STRICT_ONLY_FAILURES = {"en": {"agent_multi_turn_7"}, "zh": {"agent_multi_step_0", "agent_multi_step_1", "agent_multi_turn_7"}}


@lru_cache(maxsize=2)
def official(language: str) -> dict[str, bool]:
    """The official evaluator's decision per item on the answer the oracle gives."""
    lines = [json.loads(line) for line in (DATA / f"acebench_official_{language}.jsonl").read_text(encoding="utf-8").splitlines()[1:]]
    replays = {(line["id"], line["sequence"]): line["valid"] == "1" for line in lines if line["kind"] == "replay"}
    texts = {line["id"]: line["valid"][0] == "1" for line in lines if line["kind"] == "text"}  # truth0 comes first
    out = {}
    for item in load_items(language=language):
        out[item.id] = replays[(item.id, f"milestones{best_path(item)}")] if item.category in AGENT else texts[item.id]
    return out


@pytest.fixture
async def bench():
    async with SimServer(SimSettings()) as server:
        async with oracle_client(server.base_url) as client:
            yield AceOracleBench(server, client)


def records(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(out / "eval" / "results.jsonl")}


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "zh"])
async def test_oracle_makes_the_official_decisions_on_every_item(bench: AceOracleBench, tmp_path: Path, language: str):
    items = load_items(language=language)
    report = await bench.run(tmp_path, items, AceBenchEvalSettings(language=language))
    found = records(tmp_path)
    assert set(found) == {i.id for i in items}
    expected = official(language)
    differing = {i: (found[i]["acebench"], expected[i]) for i in expected if found[i]["acebench"]["valid"] != expected[i]}
    assert not differing, differing
    failing = {i for i, ok in expected.items() if not ok}
    assert len(failing) == (51 if language == "en" else 18)
    # Strict mode: every normal and special item passes (the ground truth is exact), agent items
    # fail where ACEBench fails them plus where it skipped a misspelt class.
    strict_failing = {i for i, r in found.items() if not r["strict"]["valid"]}
    assert strict_failing == {i for i in failing if i.startswith("agent_")} | STRICT_ONLY_FAILURES[language]
    table = report.summary["modes"]["acebench"]["table"]
    assert table["overall"] == pytest.approx(sum(w * table[g] for g, w in WEIGHTS.items()))
    assert report.summary["modes"]["strict"]["table"]["normal"] == 1.0
    markdown = (tmp_path / "eval" / "scores.md").read_text()
    assert "| mode | Atom | Single-Turn | Multi-Turn | Similar API | Preference | Normal | Special | Agent | Overall |" in markdown
    assert "\n| acebench | " in markdown and "\n| strict | " in markdown
    assert headline_scores(tmp_path / "eval") == report.headline


async def test_oracle_prefix_both_formats(bench: AceOracleBench, tmp_path: Path):
    """Fast version: three items (dialogs) per category, both formats."""
    items = load_items(language="en", limit=3)
    expected = official("en")
    for fmt in ("acebench", "native"):
        await bench.run(tmp_path / fmt, items, AceBenchEvalSettings(format=fmt, limit=3))
        found = records(tmp_path / fmt)
        assert set(found) == {i.id for i in items}
        for item in items:
            ok = found[item.id]["acebench"]["valid"]
            if fmt == "native" and item.category in MULTI_TURN:
                assert ok  # no answer text, so no whitespace removal: the ground truth always passes
            else:
                assert ok == expected[item.id], (fmt, item.id, found[item.id]["acebench"])
    native = records(tmp_path / "native")
    assert all(r.get("calls") for r in native.values() if r["category"] in NORMAL)  # answered through tool_calls
    dialog = native["agent_multi_step_2"]["dialog"]
    assert any("calls" in m for m in dialog) and dialog[-1]["message"] == "finish conversation"


@pytest.mark.slow
async def test_native_format_differs_from_the_official_text_decisions_only_by_whitespace(bench: AceOracleBench, tmp_path: Path):
    items = load_items(language="en")
    await bench.run(tmp_path, items, AceBenchEvalSettings(format="native"))
    found, expected = records(tmp_path), official("en")
    differing = {i for i in expected if found[i]["acebench"]["valid"] != expected[i]}
    assert differing and all(i.startswith("normal_multi_turn") for i in differing)
    assert all(found[i]["acebench"]["valid"] for i in differing)  # ACEBench's whitespace removal lost them


async def test_wrong_answers_lower_the_scores(bench: AceOracleBench, tmp_path: Path):
    items = load_items(language="en", limit=3)
    for fmt in ("acebench", "native"):
        right = await bench.run(tmp_path / f"right-{fmt}", items, AceBenchEvalSettings(format=fmt, limit=3))
        wrong = await bench.run(tmp_path / f"wrong-{fmt}", items, AceBenchEvalSettings(format=fmt, limit=3), wrong=True)
        for mode in ("acebench", "strict"):
            good, bad = right.summary["modes"][mode]["table"], wrong.summary["modes"][mode]["table"]
            assert bad["normal"] == 0.0 and bad["special"] == 0.0, (fmt, mode, bad)
            assert bad["agent"] < good["agent"], (fmt, mode)
            assert bad["overall"] < 0.2 < good["overall"], (fmt, mode)
        types = {r["acebench"].get("error_type") for r in records(tmp_path / f"wrong-{fmt}").values()}
        assert types & {"function_mismatch"} and types & {"class attributes wrong", "wrong number of class"}


async def test_lenient_answers_pass_acebench_and_fail_strict(bench: AceOracleBench, tmp_path: Path):
    """A wrong number is accepted by the official checker (top-level numbers are not compared)."""
    item = next(
        i
        for i in load_items(["normal_atom_number"], "en")
        if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in next(iter(i.ground_truth.values())).values())
    )
    ((name, arguments),) = item.ground_truth.items()
    key = next(k for k, v in arguments.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    changed = {**arguments, key: arguments[key] * 10 + 7}
    text = "[" + name + "(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")]"
    from looptool.eval.acebench import judge_answer

    verdicts = judge_answer(item, "acebench", text, None)
    assert verdicts["acebench"]["valid"] and not verdicts["strict"]["valid"]
    assert verdicts["strict"]["error_type"] == "wrong_value"


async def test_endpoint_failures_are_retried_and_finished_items_never_recomputed(tmp_path: Path):
    items = load_items(["normal_atom_bool", "special_irrelevant", "agent_multi_step", "agent_multi_turn"], "en", limit=4)
    settings = AceBenchEvalSettings(categories=["normal_atom_bool", "special_irrelevant", "agent"], limit=4)
    async with SimServer(SimSettings()) as server:
        # One attempt per request: a simulated 503 makes the endpoint give up on the item at once.
        async with oracle_client(server.base_url, retry=RetryConfig(max_attempts=1)) as client:
            bench = AceOracleBench(server, client)
            await bench.run(tmp_path, items, settings, faults=FaultPlan(rates={"503": 0.15}))
            errors = read_jsonl(tmp_path / "eval" / "errors.jsonl")
            done = read_jsonl(tmp_path / "eval" / "results.jsonl")
            assert errors and len(done) < len(items)
            failed = {e["id"] for e in errors}
            before = bench.requests
            report = await bench.run(tmp_path, items, settings)
            after = read_jsonl(tmp_path / "eval" / "results.jsonl")
            assert after[: len(done)] == done  # nothing already written was touched
            assert len({r["id"] for r in after}) == len(after) == len(items)
            assert {r["id"] for r in after[len(done) :]} == failed - {r["id"] for r in done}
            assert bench.requests - before == sum(r.get("requests", 1) for r in after[len(done) :])
            assert not report.summary["incomplete_categories"]
            before = bench.requests
            await bench.run(tmp_path, items, settings)
            assert bench.requests == before
            with pytest.raises(ConfigError, match="format"):
                await evaluate_acebench(client, "policy", tmp_path / "eval", settings.model_copy(update={"format": "native"}))


async def test_rejected_requests_are_wrong_answers_not_retried(bench: AceOracleBench, tmp_path: Path):
    items = load_items(["normal_atom_enum", "agent_multi_step"], "en", limit=2)
    report = await bench.run(
        tmp_path,
        items,
        AceBenchEvalSettings(categories=["normal_atom_enum", "agent_multi_step"], limit=2),
        faults=FaultPlan(rates={"400": 1.0}),
    )
    found = records(tmp_path)
    assert len(found) == 4 and not (tmp_path / "eval" / "errors.jsonl").read_text()
    assert {r["acebench"]["error_type"] for r in found.values()} == {"inference_error:request_rejected"}
    assert report.summary["incomplete_categories"] == []


async def test_agent_multi_turn_needs_the_user_role(tmp_path: Path):
    from looptool.config.models import ClientConfig, EndpointConfig
    from looptool.llm.client import LLMClient

    client = LLMClient.from_endpoint_configs(
        {"sim": EndpointConfig(base_url="http://127.0.0.1:9", model="m")}, {"policy": ["sim"]}, config=ClientConfig(cache=False)
    )
    async with client:
        with pytest.raises(ConfigError, match="simulated user"):
            await evaluate_acebench(client, "policy", tmp_path, AceBenchEvalSettings(categories=["agent_multi_turn"], limit=1))


async def test_loop_stage_runs_once_per_iteration_and_feeds_the_curve(bench: AceOracleBench, tmp_path: Path):
    from looptool.eval.acebench_stage import acebench_curve, run_acebench_stage
    from looptool.loop.report import iteration_row
    from looptool.store.run import RunStore

    store = RunStore(tmp_path / "run")
    ids = [
        "normal_atom_bool_0",
        "normal_atom_bool_1",
        "special_incomplete_0",
        "special_incomplete_1",
        "agent_multi_turn_0",
        "agent_multi_turn_4",
    ]
    settings = AceBenchEvalSettings(categories=["normal_atom_bool", "special_incomplete", "agent_multi_turn"], ids=ids)
    items = load_items(settings.categories, "en", ids=ids)  # no two of them ask the same first question
    (batch,) = await build_tables(items, "acebench", tmp_path / "tables")
    bench.server.state.settings = SimSettings(oracle_path=str(batch.path))
    # The loop serves each checkpoint on its own client (role policy only); the simulated user
    # stays on the session's client.
    async with oracle_client(bench.server.base_url) as policy_only:
        policy_only.roles.pop("user")
        first = await run_acebench_stage(store, policy_only, 1, settings, user_client=bench.client)
    assert first["normal"] == 1.0 and first["special"] == 1.0 and first["agent"] == 1.0
    info = store.stage_info("iter_01/eval_acebench")
    assert info["headline"] == first and info["unscored"] == 0 and info["items"] == 6 and info["language"] == "en"
    assert json.loads((tmp_path / "run" / "iter_01" / "eval_acebench" / "settings.json").read_text())["cache_salt"] == "iteration-1"
    before = bench.requests
    assert await run_acebench_stage(store, bench.client, 1, settings) == first  # finished: not run again
    assert bench.requests == before
    wrong = await build_tables(items, "acebench", tmp_path / "wrong", wrong=True)
    bench.server.state.settings = SimSettings(oracle_path=str(wrong[0].path))
    second = await run_acebench_stage(store, bench.client, 2, settings)
    assert second["overall"] < first["overall"]
    assert acebench_curve(store) == {1: first, 2: second}
    # The loop's per-iteration row (table and plot) carries the curve next to BFCL's.
    stages = store.manifest()["stages"]
    stages["iter_01/dataset"] = {"counts": {}}
    stages["iter_01/train"] = {"counts": {}}
    assert iteration_row(stages, 1)["acebench_overall"] == first["overall"]
    assert iteration_row(stages, 1)["acebench_strict_overall"] == first["strict_overall"]


def test_command_evaluates_a_config_endpoint(tmp_path: Path, capsys):
    from looptool.eval.command import add_arguments, run

    selection = ["normal_atom_bool_0", "special_irrelevant_0", "agent_multi_turn_0"]
    items = [i for i in load_items(language="en") if i.id in selection]
    (batch,) = anyio.run(lambda: build_tables(items, "native", tmp_path / "tables"))
    (tmp_path / "sim.json").write_text(SimSettings(oracle_path=str(batch.path)).model_dump_json())
    sim = subprocess.Popen(
        [sys.executable, "-m", "looptool", "sim", "--port", "0", "--settings", str(tmp_path / "sim.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = sim.stdout.readline() if sim.stdout else ""
        assert "listening on http" in line, line
        base_url = line.split("listening on ", 1)[1].strip()
        config = tmp_path / "run.toml"
        config.write_text(
            f'[run]\ndir = "{tmp_path / "run"}"\n\n[endpoints.oracle]\nbase_url = "{base_url}"\nmodel = "oracle"\n\n'
            f'[endpoints.people]\nbase_url = "{base_url}"\nmodel = "user-sim"\n\n[roles]\npolicy = "oracle"\n'
        )
        parser = argparse.ArgumentParser(prog="looptool eval")
        add_arguments(parser)
        base = ["acebench", str(config), "--endpoint", "oracle", "--ids", ",".join(selection), "--format", "native"]
        with pytest.raises(ConfigError, match="simulated user"):
            run(parser.parse_args(base))
        assert run(parser.parse_args(base + ["--user-endpoint", "people", "--json"])) == 0
        printed = capsys.readouterr().out
        headline = json.loads(printed[printed.index("\n{") + 1 :])
        assert headline["atom"] == 1.0 and headline["special"] == 1.0 and headline["agent"] == 1.0
        out = tmp_path / "run" / "eval" / "acebench" / "oracle-en-native"
        assert (out / "scores.md").exists() and len(read_jsonl(out / "results.jsonl")) == 3
        with pytest.raises(ConfigError, match="unknown endpoint 'nope'"):
            run(parser.parse_args(["acebench", str(config), "--endpoint", "nope"]))
        with pytest.raises(ConfigError, match="--categories"):
            run(parser.parse_args(["acebench", str(config), "--categories", "simple_python"]))
    finally:
        sim.terminate()
        sim.wait(timeout=10)


@pytest.mark.slow
def test_a_killed_evaluation_resumes_with_nothing_lost_or_duplicated(tmp_path: Path):
    """SIGKILL the CLI mid-run (the simulator slowed down so the kill lands among the units),
    rerun it: every item has exactly one record, earlier records are untouched."""
    items = load_items(["normal_atom_enum", "normal_multi_turn_user_switch"], "en", limit=6)
    items += [
        i for i in load_items(["agent_multi_step"], "en") if i.id in {"agent_multi_step_2", "agent_multi_step_4", "agent_multi_step_18"}
    ]
    (batch,) = anyio.run(lambda: build_tables(items, "acebench", tmp_path / "tables"))  # no colliding requests among these
    (tmp_path / "sim.json").write_text(SimSettings(oracle_path=str(batch.path), latency_ms=60).model_dump_json())
    sim = subprocess.Popen(
        [sys.executable, "-m", "looptool", "sim", "--port", "0", "--settings", str(tmp_path / "sim.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base_url = sim.stdout.readline().split("listening on ", 1)[1].strip()
        config = tmp_path / "run.toml"
        config.write_text(
            f'[run]\ndir = "{tmp_path / "run"}"\n\n[endpoints.oracle]\nbase_url = "{base_url}"\nmodel = "oracle"\n\n'
            '[roles]\npolicy = "oracle"\n'
        )
        out = tmp_path / "out"
        command = [
            sys.executable,
            "-m",
            "looptool",
            "eval",
            "acebench",
            str(config),
            "--endpoint",
            "oracle",
            "--out",
            str(out),
            "--categories",
            "normal_atom_enum,normal_multi_turn_user_switch,agent_multi_step",
            "--ids",
            ",".join(i.id for i in items),
            "--concurrency",
            "2",
        ]
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        results = out / "results.jsonl"
        while first.poll() is None and (not results.exists() or results.read_text().count("\n") < 5):
            anyio.run(anyio.sleep, 0.05)  # polling a file, not waiting for a guess
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        kept = results.read_text().splitlines()
        assert 5 <= len(kept) < len(items), "the kill must land mid-run"
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        after = results.read_text().splitlines()
        assert after[: len(kept)] == kept
        ids = [json.loads(line)["id"] for line in after]
        assert len(ids) == len(set(ids)) == len(items)
        summary = json.loads((out / "scores.json").read_text())
        assert summary["run"]["units"]["already_done"] == len(kept)
        assert summary["modes"]["acebench"]["categories"]["normal_atom_enum"]["accuracy"] == 1.0
    finally:
        sim.terminate()
        sim.wait(timeout=10)
