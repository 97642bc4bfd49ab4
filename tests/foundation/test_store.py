"""Run store: atomic writes, durable JSONL, manifest, and resume of a killed stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from looptool.errors import InputError, StageError
from looptool.store import JsonlWriter, RunStore, atomic_write_json, read_json, read_jsonl, repair_torn_tail

WORKER = Path(__file__).with_name("stage_worker.py")


def test_torn_tail_is_cut_and_complete_records_kept(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "tru')
    assert repair_torn_tail(path) == len('{"id": "c", "tru')
    with JsonlWriter(path) as writer:
        assert writer.keys == {"a", "b"} and "c" not in writer
        writer.write({"id": "c"})
    assert [r["id"] for r in read_jsonl(path)] == ["a", "b", "c"]


def test_corrupt_complete_line_is_an_input_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a"}\nnot json\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2"):
        read_jsonl(path)


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    atomic_write_json(target, {"x": 1})
    atomic_write_json(target, {"x": 2})
    assert read_json(target) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_manifest_and_lock(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    with store:
        assert not store.is_finished("seed/apis")
        store.mark_finished("seed/apis", counts={"specs": 3})
        assert store.is_finished("seed/apis")
        assert store.stage_info("seed/apis")["counts"] == {"specs": 3}
        with pytest.raises(StageError, match="in use"):
            RunStore(tmp_path / "run").lock()
        store.forget("seed/apis")
        assert not store.is_finished("seed/apis")
    RunStore(tmp_path / "run").lock()  # released on exit


def _run_worker(out: Path, units: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, str(WORKER), str(out), str(units), "20"], stdout=subprocess.PIPE, text=True, env=env)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_killed_stage_resumes_with_nothing_lost_or_duplicated(tmp_path: Path) -> None:
    out = tmp_path / "stage.jsonl"
    units = 300
    process = _run_worker(out, units)
    deadline = time.monotonic() + 60
    while _lines(out) < 40:  # wait for observable progress, then kill without warning
        assert process.poll() is None, "worker ended before it could be killed"
        assert time.monotonic() < deadline, "worker made no progress"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_at_kill = len({r["id"] for r in read_jsonl(out)})
    assert 40 <= done_at_kill < units

    resumed = _run_worker(out, units)
    stdout, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    summary = json.loads(stdout.split("SUMMARY ", 1)[1])
    records = read_jsonl(out)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == units
    assert set(ids) == {f"u{i:04d}" for i in range(units)}
    assert summary["already_done"] == done_at_kill
    assert summary["completed_now"] == units - done_at_kill
