"""Issue 12.4: same seed, same config, same endpoint answers: same output, killed or not.

The simulator answers deterministically per request body, so any difference between two runs
comes from the engine: a prompt that depends on completion order (API synthesis used to list the
names accepted so far), or a resume that redoes or skips work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from looptool.config import load_config
from looptool.sim import SimServer, SimSettings
from looptool.store import read_json, read_jsonl
from looptool.synth.seed import build_seed

from support import by_id, seed_outputs, sim_launch_config, url_config

REPO = Path(__file__).resolve().parents[2]
SEED_STAGES = ("apis", "pool", "dialogs", "verify", "samples")


@pytest.mark.anyio
async def test_api_synthesis_does_not_depend_on_completion_order(tmp_path: Path) -> None:
    """One worker or sixteen, with jittered latency: the same prompts, the same specs."""
    results = []
    async with SimServer(SimSettings(seed=2, latency_ms=2, latency_jitter_ms=25)) as sim:
        for concurrency in (1, 16):
            folder = tmp_path / f"c{concurrency}"
            folder.mkdir()
            text = url_config(folder, sim.base_url, apis=30).read_text()
            text = text.replace('domains = ["travel", "finance", "smart_home"]', 'domains = ["travel"]')
            text = text.replace("concurrency = 8\n[synth.dialogs]", f"concurrency = {concurrency}\nround_size = 6\n[synth.dialogs]")
            (folder / "run.toml").write_text(text)
            await build_seed(load_config(folder / "run.toml"), "pool")
            run = folder / "run"
            results.append(
                (
                    by_id(run / "seed/apis/specs.jsonl"),
                    (run / "seed/apis/accepted.jsonl").read_bytes(),
                    (run / "seed/pool/tools.jsonl").read_bytes(),
                )
            )
    assert results[0] == results[1]
    accepted = read_jsonl(tmp_path / "c1/run/seed/apis/accepted.jsonl")
    contexts = [r["context_key"] for r in accepted]
    assert len(contexts) > len(set(contexts)), "some contexts got several APIs: later rounds saw earlier names"


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _run(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "looptool", "synth", "samples", str(config)], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


def _kill_during(stage: str, config: Path, cwd: Path) -> None:
    """Start seed construction and SIGKILL it once `stage` has begun (and, for a stage made of
    units, has written some)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "looptool", "synth", "samples", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    run = cwd / "run"
    outputs = {"apis": "seed/apis/specs.jsonl", "dialogs": "seed/dialogs/dialogs.jsonl", "verify": "seed/verify/verdicts.jsonl"}
    deadline = time.monotonic() + 300
    try:
        while True:
            assert process.poll() is None, f"finished before the kill: {process.stderr.read().decode()[-2000:] if process.stderr else ''}"
            assert time.monotonic() < deadline
            manifest = read_json(run / "manifest.json", default={}) or {}
            if f"seed/{stage}" in manifest.get("started", {}) and (stage not in outputs or _lines(run / outputs[stage]) >= 3):
                break
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("reference")
    done = _run(sim_launch_config(folder), folder)
    assert done.returncode == 0, done.stderr[-2000:]
    return seed_outputs(folder / "run")


@pytest.mark.slow
@pytest.mark.parametrize("stage", SEED_STAGES)
def test_every_seed_stage_gives_the_same_output_killed_or_not(stage: str, tmp_path: Path, uninterrupted: dict[str, object]) -> None:
    config = sim_launch_config(tmp_path)
    _kill_during(stage, config, tmp_path)
    manifest = read_json(tmp_path / "run/manifest.json")
    assert f"seed/{stage}" not in manifest["stages"] or stage in ("pool", "samples"), "killed inside the stage"
    done = _run(config, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert seed_outputs(tmp_path / "run") == uninterrupted
    for name in ("seed/apis/specs.jsonl", "seed/dialogs/dialogs.jsonl", "seed/verify/verdicts.jsonl"):
        ids = [r["id"] for r in read_jsonl(tmp_path / "run" / name)]
        assert len(ids) == len(set(ids)), f"{name}: a unit was done twice"
