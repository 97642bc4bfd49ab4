"""Seed construction end to end against the simulator: counts, rejections with reasons, resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pyarrow.parquet as pq
import pytest

from looptool.config import load_config
from looptool.samples import StepSample
from looptool.store import read_json, read_jsonl
from looptool.synth.seed import build_seed
from looptool.tools.validate import validate_call

sys.path.insert(0, str(Path(__file__).parent))
from seed_configs import sim_config

REPO = Path(__file__).resolve().parents[2]


def run_seed(config: Path) -> dict:
    return anyio.run(build_seed, load_config(config), "samples")


def test_all_stages_end_to_end(tmp_path: Path) -> None:
    results = run_seed(sim_config(tmp_path))
    run = tmp_path / "run"
    specs = read_jsonl(run / "seed/apis/specs.jsonl")
    assert len(specs) == 16
    accepted = read_jsonl(run / "seed/apis/accepted.jsonl")  # rule-checked candidates, de-duplicated in unit order
    assert {s["id"] for s in accepted} <= {s["id"] for s in specs if s["status"] == "candidate"}
    assert results["apis"]["specs_accepted"] == len(accepted) > 0
    rejected_by_reason = sum(v for k, v in results["apis"].items() if k.startswith("rejected["))
    assert rejected_by_reason >= results["apis"]["specs_rejected"]
    pool = read_jsonl(run / "seed/pool/tools.jsonl")
    assert {p["id"] for p in pool} == {s["spec"]["name"] for s in accepted}

    dialogs = read_jsonl(run / "seed/dialogs/dialogs.jsonl")
    assert sorted(d["id"] for d in dialogs) == [f"d{i:06d}" for i in range(12)]
    for dialog in dialogs:
        names = [t["name"] for t in dialog["tools"]]
        assert len(names) == len(set(names)), "a dialog's tool subset has no duplicates"

    verdicts = read_jsonl(run / "seed/verify/verdicts.jsonl")
    assert len(verdicts) == 12
    assert all(v["passed"] == (not v["reasons"]) for v in verdicts)
    assert results["verify"]["dialogs_passed"] == sum(v["passed"] for v in verdicts) > 0
    quality = read_json(run / "report/quality/seed_verify.json")  # what the gates did, for people
    assert quality["checked"] == 12 and quality["accepted"] == results["verify"]["dialogs_passed"]
    assert quality["rejected_by_reason"] == {
        r: sum(r in v["reasons"] for v in verdicts) for r in {r for v in verdicts for r in v["reasons"]}
    }
    assert all(g["score"] >= 0.5 for v in verdicts if v["passed"] for g in v["grounding"]), "accepted dialogs are grounded"

    samples = [StepSample.model_validate(r) for r in read_jsonl(run / "seed/samples/samples.jsonl")]
    assert samples and results["samples"]["samples"] == len(samples)
    assert any(s.label_calls for s in samples) and any(len(s.label_calls) > 1 for s in samples)
    passed_ids = {v["id"] for v in verdicts if v["passed"]}
    for sample in samples:
        assert sample.provenance.dialog_id in passed_ids
        assert sample.messages[0]["role"] == "user" and sample.messages[-1]["role"] in ("user", "tool")
        for call in sample.label_calls:
            assert validate_call(call, sample.tools) == []
    table = pq.read_table(run / "seed/samples/train.parquet")
    assert table.num_rows == len(samples)
    assert table.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    first = table.slice(0, 1).to_pylist()[0]
    assert first["prompt"][0]["role"] == "system" and "<tools>" in first["prompt"][0]["content"]
    assert json.loads(first["reward_model"]["ground_truth"]) == samples[0].label_calls

    manifest = read_json(run / "manifest.json")
    assert set(manifest["stages"]) == {"seed/apis", "seed/pool", "seed/dialogs", "seed/verify", "seed/samples"}
    for stage in ("seed__apis", "seed__dialogs", "seed__verify"):
        stats = read_json(run / "stats" / f"{stage}.json")
        assert stats["total"]["succeeded"] > 0


def test_injected_bad_turns_are_rejected_with_the_right_reason(tmp_path: Path) -> None:
    # Re-asking off: a malformed call must then reach the rule tier and be rejected there.
    config = sim_config(
        tmp_path, dialogs=24, assistant="malformed_rate = 0.25\nwrong_call_rate = 0.25", extra="[client]\ninvalid_answer_retries = 0"
    )
    run_seed(config)
    run = tmp_path / "run"
    dialogs = {d["id"]: d for d in read_jsonl(run / "seed/dialogs/dialogs.jsonl")}
    verdicts = {v["id"]: v for v in read_jsonl(run / "seed/verify/verdicts.jsonl")}
    malformed = [i for i, d in dialogs.items() if any(x["reason"] == "malformed_call" for s in d["steps"] for x in s["rule_issues"])]
    assert malformed, "the simulator should have produced malformed calls at this rate"
    for dialog_id in malformed:
        assert "rule:malformed_call" in verdicts[dialog_id]["reasons"]
        assert not verdicts[dialog_id]["passed"]
    judged_wrong = [v for v in verdicts.values() if "judge:fail" in v["reasons"]]
    assert judged_wrong, "wrong but well-formed calls should be caught by the judge tier"
    for verdict in verdicts.values():
        if verdict["passed"]:
            assert all(not s["rule_issues"] for s in dialogs[verdict["id"]]["steps"])
            assert all(step["verdict"] == "pass" for step in verdict["steps"])


def test_tool_file_import_counts_bad_specs_with_where_and_why(tmp_path: Path) -> None:
    tools = [
        {
            "name": "get_rate",
            "description": "Exchange rate",
            "parameters": {"type": "dict", "properties": {"base": {"type": "string", "description": "x"}}, "required": ["base"]},
        },
        {
            "tools": json.dumps(
                [
                    {
                        "name": "track",
                        "description": "Track a parcel",
                        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
                    }
                ]
            )
        },
        {"name": "broken", "description": "bad", "parameters": {"type": "object", "properties": {}, "required": ["ghost"]}},
    ]
    (tmp_path / "pool.json").write_text(json.dumps(tools))
    config = sim_config(
        tmp_path,
        apis=0,
        dialogs=4,
        extra='[synth.pool]\nuse_synthesized = false\nimport_files = ["pool.json"]\nskip_invalid_imports = true',
    )
    results = run_seed(config)  # by default a bad spec refuses the config (tests/reliability/test_bad_input.py)
    assert results["pool"]["pool_tools"] == 2
    skipped = {k: v for k, v in results["pool"].items() if k.startswith("skipped[")}
    assert sum(skipped.values()) == 1
    assert "pool.json[2]" in results["pool"]["skipped_examples"][0] and "ghost" in results["pool"]["skipped_examples"][0]


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_kill_during_dialogs_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    config = sim_config(tmp_path, dialogs=60, latency_ms=40)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "looptool", "synth", "dialogs", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    dialogs_path = run / "seed/dialogs/dialogs.jsonl"
    deadline = time.monotonic() + 120
    while _lines(dialogs_path) < 8:
        assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else "exited"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = read_jsonl(dialogs_path)
    assert 8 <= len(before) < 60
    specs_hash = hashlib.sha256((run / "seed/apis/specs.jsonl").read_bytes()).hexdigest()
    apis_finished = read_json(run / "manifest.json")["stages"]["seed/apis"]["finished_at"]
    assert "seed/dialogs" not in read_json(run / "manifest.json")["stages"]

    finished = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    after = read_jsonl(dialogs_path)
    ids = [d["id"] for d in after]
    assert len(ids) == len(set(ids)) == 60
    assert [d for d in after if d["id"] in {b["id"] for b in before}] == before, "finished dialogs are kept as they were"
    assert hashlib.sha256((run / "seed/apis/specs.jsonl").read_bytes()).hexdigest() == specs_hash
    manifest = read_json(run / "manifest.json")["stages"]
    assert manifest["seed/apis"]["finished_at"] == apis_finished
    assert "skipped" in finished.stdout and "seed/apis" in finished.stdout


@pytest.mark.slow
def test_bfcl_backends_execute_calls_for_real_in_dialogs(tmp_path: Path, require_runtime) -> None:
    require_runtime("bfcl")
    config = sim_config(tmp_path, apis=0, dialogs=6, extra='[synth.pool]\nuse_synthesized = false\nimport_bfcl = "multi_turn"')
    text = config.read_text().replace('domains = ["travel", "finance", "smart_home"]\n', "")
    config.write_text(text)
    results = run_seed(config)
    assert results["pool"]["pool_tools"] >= 100 and results["pool"]["from[bfcl]"] == results["pool"]["pool_tools"]
    dialogs = read_jsonl(tmp_path / "run/seed/dialogs/dialogs.jsonl")
    executed = [flag for d in dialogs for s in d["steps"] for flag in s.get("executed", [])]
    assert executed and all(executed), "every BFCL tool call runs on the real backend, not the tool agent"
    tool_messages = [m["content"] for d in dialogs for m in d["messages"] if m["role"] == "tool"]
    assert tool_messages and all('"result"' in m or '"error"' in m for m in tool_messages)
    stats = read_json(tmp_path / "run/stats/seed__dialogs.json")
    assert "tool" not in stats["roles"], "no tool-agent calls for executable tools"


def test_cli_reports_a_stage_error_in_one_line_and_keeps_finished_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from looptool.cli import main

    config = sim_config(tmp_path, apis=0, dialogs=2)  # nothing synthesised, nothing imported: an empty pool
    assert main(["synth", "dialogs", str(config)]) == 1
    out = capsys.readouterr().out.replace("\n", " ")
    assert "error" in out and "the tool pool is empty" in out and "Traceback" not in out
    manifest = read_json(tmp_path / "run/manifest.json")
    assert {"seed/apis", "seed/pool"} <= set(manifest["stages"]) and "seed/dialogs" not in manifest["stages"]
