"""A kill in each stage resumes at the right stage with nothing lost, redone or duplicated."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from looptool.store import read_json, read_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from loop_support import loop_config

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("loop_worker.py")
SLOW = """
[synth.dialogs.kind_weights]
single = 0.5
parallel = 0.25
dependent = 0.25
[loop.probe]
concurrency = 2
[loop.judge]
concurrency = 2
[loop.expand]
concurrency = 2
"""


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def finished(run: Path) -> dict:
    return read_json(run / "manifest.json", default={"stages": {}})["stages"]


def snapshot(run: Path) -> dict[str, str]:
    """Hashes of every output file of every finished stage."""
    out = {}
    for key in finished(run):
        directory = run / key
        if directory.is_dir():
            for path in sorted(directory.rglob("*.json*")):
                out[str(path.relative_to(run))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.mark.slow
def test_kill_in_each_stage_then_resume(tmp_path: Path) -> None:
    config = loop_config(tmp_path, dialogs=24, iterations=1, latency_ms=60, first_size=12, extra=SLOW)
    run = tmp_path / "run"
    block = tmp_path / "block-training"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOOPTOOL_TEST_BLOCK_TRAINING": str(block)}
    kills = [
        ("seed/dialogs", lambda: lines(run / "seed/dialogs/dialogs.jsonl") >= 3),
        ("iter_01/train", lambda: (run / "iter_01/train/training-started").exists()),
        ("iter_01/probe", lambda: lines(run / "iter_01/probe/results.jsonl") >= 2),
        ("iter_01/judge", lambda: lines(run / "iter_01/judge/verdicts.jsonl") >= 1),
        ("iter_01/expand", lambda: lines(run / "iter_01/expand/expansions.jsonl") >= 1),
    ]
    kept: dict[str, str] = {}
    partial: dict[str, list] = {}
    block.write_text("block")
    for stage, ready in kills:
        if stage == "iter_01/probe":
            block.unlink()  # training may finish from now on
        process = subprocess.Popen(
            [sys.executable, str(WORKER), str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path
        )
        deadline = time.monotonic() + 180
        while not ready():
            if process.poll() is not None:
                raise AssertionError(f"worker ended before the kill in {stage}: {process.stderr.read().decode()[-3000:]}")
            assert time.monotonic() < deadline, f"no progress in {stage}"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert stage not in finished(run), f"{stage} finished before it could be killed"
        for name, digest in kept.items():
            assert snapshot(run).get(name) == digest, f"{name} of a finished stage changed after a kill in {stage}"
        kept = snapshot(run)
        output = {
            "seed/dialogs": "dialogs.jsonl",
            "iter_01/probe": "results.jsonl",
            "iter_01/judge": "verdicts.jsonl",
            "iter_01/expand": "expansions.jsonl",
        }.get(stage)
        if output:
            partial[stage] = read_jsonl(run / stage / output)

    completed = subprocess.run(
        [sys.executable, str(WORKER), str(config)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    stages = finished(run)
    for key in (
        "seed/apis",
        "seed/dialogs",
        "seed/verify",
        "seed/samples",
        "iter_01/train",
        "iter_01/probe",
        "iter_01/judge",
        "iter_01/expand",
        "iter_01/compose",
        "iter_02/dataset",
    ):
        assert key in stages
    for name, digest in kept.items():
        assert snapshot(run)[name] == digest, f"{name} was recomputed"
    for stage, before in partial.items():
        output = {
            "seed/dialogs": "dialogs.jsonl",
            "iter_01/probe": "results.jsonl",
            "iter_01/judge": "verdicts.jsonl",
            "iter_01/expand": "expansions.jsonl",
        }[stage]
        after = read_jsonl(run / stage / output)
        ids = [r["id"] for r in after]
        assert len(ids) == len(set(ids)), f"{stage} has duplicates"
        assert after[: len(before)] == before, f"{stage} lost or rewrote work done before the kill"
    dataset = read_jsonl(run / "iter_01/dataset/dataset.jsonl")
    assert len(read_jsonl(run / "iter_01/probe/results.jsonl")) == len(dataset)
    probes = {r["id"]: r for r in read_jsonl(run / "iter_01/probe/results.jsonl")}
    assert {v["id"] for v in read_jsonl(run / "iter_01/judge/verdicts.jsonl")} == {i for i, r in probes.items() if not r["matched"]}
    assert len(read_jsonl(run / "seed/dialogs/dialogs.jsonl")) == 24
