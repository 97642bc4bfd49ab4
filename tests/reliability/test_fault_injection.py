"""Issue 12, done-when: seed construction against a simulator that injects every HTTP fault kind
and a share of invalid answers, SIGKILLed at random moments several times, ends with exactly the
dataset of an uninterrupted, fault-free run: byte for byte, zero units lost, zero done twice.

The simulator runs as its own process (it must outlive the kills); its answers depend only on the
request body, so the fault-free reference and the faulty, killed run see the same answers.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from looptool.sim.settings import FAULT_KINDS, FaultPlan, ModelProfile, SimSettings
from looptool.store import read_json, read_jsonl

from support import ROLES, seed_outputs, url_config

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
INVALID_ANSWERS = ModelProfile(malformed_rate=0.05)
FAULTS = FaultPlan(
    rates={"400": 0.01, "500": 0.03, "502": 0.03, "503": 0.03, "429": 0.03, "timeout": 0.02, "drop": 0.03, "truncate": 0.03},
    retry_after_s=0.05,
    hang_s=3.0,
)
CLIENT = """[client.retry]
max_attempts = 12
backoff_initial_s = 0.01
backoff_max_s = 0.1
retry_after_max_s = 0.2"""
KILLS = 5
APIS, DIALOGS = 24, 16


class Simulator:
    """`looptool sim` in its own process, stopped by PID at the end."""

    def __init__(self, folder: Path, settings: SimSettings) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "settings.json").write_text(settings.model_dump_json())
        ready = folder / "ready"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "looptool",
                "sim",
                "--port",
                "0",
                "--settings",
                str(folder / "settings.json"),
                "--ready-file",
                str(ready),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=ENV,
        )
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert self.process.poll() is None, self.process.stderr.read().decode()[-2000:] if self.process.stderr else "exited"
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.05)
        self.url = ready.read_text().strip()

    def stats(self) -> dict[str, int]:
        return httpx.get(self.url.removesuffix("/v1") + "/sim/stats", timeout=10).json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def config_for(folder: Path, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "no_model").mkdir(exist_ok=True)  # no tokenizer: prompt lengths are not measured here
    path = url_config(folder, url, apis=APIS, dialogs=DIALOGS, client=CLIENT, timeout_s=1.0)
    text = path.read_text().replace("concurrency = 8\n[synth.dialogs]", "concurrency = 8\nround_size = 8\n[synth.dialogs]")
    path.write_text(text + '\n[policy]\ninit_model = "no_model"\n')
    return path


def command(config: Path) -> list[str]:
    return [sys.executable, "-m", "looptool", "synth", "samples", str(config)]


def profiles() -> dict[str, ModelProfile]:
    return {f"sim-{role}": INVALID_ANSWERS for role in ROLES}


def journal_lines(run: Path) -> int:
    """Records appended to the run's journals so far: how far the run has got, whatever the speed
    of the machine."""
    total = 0
    for path in run.rglob("*.jsonl"):
        try:
            total += path.read_bytes().count(b"\n")
        except FileNotFoundError:  # replaced by an atomic rename while we looked
            continue
    return total


def kill_after_progress(process: subprocess.Popen[bytes], run: Path, rng: random.Random) -> bool:
    """SIGKILL the run once it has appended a few more records than it started with, then a random
    moment later, so that every kill lands in the middle of work on a fast machine and on a slow one
    (a wall-clock kill let a fast CI machine finish before the third kill). False if it finished."""
    start, step = journal_lines(run), rng.randint(2, 6)
    while journal_lines(run) < start + step:
        try:
            process.wait(timeout=0.02)
            return False
        except subprocess.TimeoutExpired:
            continue
    try:
        process.wait(timeout=rng.uniform(0.0, 0.3))
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


@pytest.mark.slow
def test_killed_faulty_runs_end_with_the_uninterrupted_dataset(tmp_path: Path) -> None:
    clean = Simulator(tmp_path / "sim-clean", SimSettings(seed=9, models=profiles()))
    faulty = Simulator(tmp_path / "sim-faulty", SimSettings(seed=9, models=profiles(), faults=FAULTS))
    try:
        reference = config_for(tmp_path / "reference", clean.url)
        done = subprocess.run(command(reference), capture_output=True, text=True, env=ENV, cwd=reference.parent, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        expected = seed_outputs(reference.parent / "run")
        retried = sum(read_json(p)["total"]["invalid_answer_retries"] for p in (reference.parent / "run/stats").glob("*.json"))
        assert retried > 0, "the simulator's invalid answers were re-asked"

        config = config_for(tmp_path / "killed", faulty.url)
        run = config.parent / "run"
        rng = random.Random(1234)
        kills = 0
        for _ in range(KILLS):
            process = subprocess.Popen(command(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=config.parent)
            if kill_after_progress(process, run, rng):
                kills += 1
            if "seed/samples" in (read_json(run / "manifest.json", default={}) or {}).get("stages", {}):
                break
        assert kills >= 3, "the run was killed several times before it could finish"
        outcomes = []
        for _ in range(8):  # a 400 fails its unit for good in that run: the next run retries it
            done = subprocess.run(command(config), capture_output=True, text=True, env=ENV, cwd=config.parent, timeout=600)
            outcomes.append(done.returncode)
            if done.returncode == 0:
                break
            assert "is incomplete" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
        assert outcomes[-1] == 0, outcomes
        injected = faulty.stats()
    finally:
        clean.stop()
        faulty.stop()

    for kind in FAULT_KINDS:
        assert injected.get(f"fault_{kind}", 0) > 0, f"no {kind} fault was injected: {injected}"
    assert seed_outputs(run) == expected, "the killed, faulty run produced a different seed set"
    for name, expected_ids in (
        ("seed/apis/specs.jsonl", {r["id"] for r in read_jsonl(reference.parent / "run/seed/apis/specs.jsonl")}),
        ("seed/dialogs/dialogs.jsonl", {f"d{i:06d}" for i in range(DIALOGS)}),
        ("seed/verify/verdicts.jsonl", {f"d{i:06d}" for i in range(DIALOGS)}),
    ):
        ids = [r["id"] for r in read_jsonl(run / name)]
        assert len(ids) == len(set(ids)), f"{name}: a unit was done twice"
        assert set(ids) == expected_ids, f"{name}: units lost"
    assert (run / "seed/samples/samples.jsonl").read_bytes() == (reference.parent / "run/seed/samples/samples.jsonl").read_bytes()
    assert json.loads((run / "manifest.json").read_text()).get("incomplete", {}) == {}
