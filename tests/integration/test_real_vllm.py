"""Integration with real runtimes: vLLM CPU serving project-built models, TRL training on CPU.

Slow (minutes): each test starts real vLLM servers. CI runs them (scripts/test.sh builds the
runtimes and passes --require-runtimes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from looptool.config import load_config
from looptool.pipeline import run_all
from looptool.store import read_json, read_jsonl
from looptool.synth.seed import build_seed

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def smollm2_seed_config(tmp_path: Path) -> Path:
    text = """
[run]
name = "real-seed"
dir = "run"
seed = 3

[endpoints.local]
model = "smollm2"
launch = "vllm"
max_concurrency = 16
timeout_s = 900
[endpoints.local.vllm]
model = "smollm2"
kv_cache_bytes = "512M"
enforce_eager = true
max_model_len = 4096

[roles]
planner = "local"
user = "local"
assistant = "local"
tool = "local"
generator = "local"
judge = "local"

[synth]
domains = ["travel", "smart_home"]
[synth.apis]
attempts = 4
[synth.pool]
import_files = ["@trees/_example_tools.json"]
[synth.dialogs]
count = 8
tools_per_dialog = [2, 2]
requests_per_dialog = [1, 1]
kind_weights = { single = 1.0 }
tool_choice = "plan"
strict_tools = true
# As in the quickstart preset: SmolLM2's users rarely state the values its labels carry, so with
# the default grounding policy (reject) no dialog passes; flagged findings are kept and counted.
[synth.verify.grounding]
policy = "flag"
weak_policy = "flag"
"""
    path = tmp_path / "seed.toml"
    path.write_text(text)
    return path


def test_seed_construction_on_smollm2_yields_a_verified_dialog(tmp_path: Path, require_runtime) -> None:
    require_runtime("vllm")
    results = anyio.run(build_seed, load_config(smollm2_seed_config(tmp_path)), "samples")
    run = tmp_path / "run"
    assert len(read_jsonl(run / "seed/apis/specs.jsonl")) == 4
    dialogs = read_jsonl(run / "seed/dialogs/dialogs.jsonl")
    assert len(dialogs) == 8
    verdicts = read_jsonl(run / "seed/verify/verdicts.jsonl")
    passed = [v for v in verdicts if v["passed"]]
    assert passed, f"no verified dialog; reasons: {[v['reasons'] for v in verdicts]}"
    assert results["samples"]["samples"] >= 1
    stats = read_json(run / "stats/seed__dialogs.json")
    assert stats["total"]["succeeded"] > 0 and stats["total"]["completion_tokens"] > 0


def tiny_loop_config(tmp_path: Path) -> Path:
    text = """
[run]
name = "real-loop"
dir = "run"
seed = 5
iterations = 1

[policy]
init_model = "tiny"

[endpoints.sim]
model = "sim-data"
launch = "sim"
[endpoints.sim.sim]

[endpoints.labeler]
model = "sim-labeler"
launch = "sim"
[endpoints.labeler.sim]
wrong_call_rate = 0.3

[endpoints.policy]
model = "tiny-policy"
launch = "vllm"
max_concurrency = 16
[endpoints.policy.vllm]
model = "policy"
kv_cache_bytes = "256M"
enforce_eager = true
max_model_len = 2048

[roles]
planner = "sim"
user = "sim"
tool = "sim"
generator = "sim"
judge = "sim"
assistant = "labeler"
policy = "policy"

[synth]
domains = ["travel"]
[synth.apis]
attempts = 0
[synth.pool]
use_synthesized = false
import_files = ["@trees/_example_tools.json"]
[synth.dialogs]
count = 12
[synth.verify]
judge = false
[synth.samples]
max_prompt_tokens = 1900

[train]
backend = "trl"
[train.grpo]
learning_rate = 1e-4
train_batch_size = 2
mini_batch_size = 2
rollouts_per_prompt = 2
max_prompt_length = 1900
max_response_length = 24
epochs = 1
max_steps = 1
save_freq = 1
[train.trl]
per_device_batch_size = 4

[loop.probe]
max_tokens = 24
[loop.compose]
first_iteration_size = 8
dataset_size = 8
"""
    path = tmp_path / "loop.toml"
    path.write_text(text)
    return path


def test_one_iteration_with_trl_and_the_checkpoint_served_by_vllm(tmp_path: Path, require_runtime) -> None:
    require_runtime("vllm")
    require_runtime("trl")
    anyio.run(lambda: run_all(load_config(tiny_loop_config(tmp_path))))
    run = tmp_path / "run"
    manifest = read_json(run / "manifest.json")
    for stage in ("iter_01/train", "iter_01/probe", "iter_01/judge", "iter_01/expand", "iter_01/compose", "iter_02/dataset"):
        assert stage in manifest["stages"], stage
    train = manifest["stages"]["iter_01/train"]
    model_dir = Path(train["model_dir"])
    assert (model_dir / "config.json").is_file() and train["metrics"]["steps"] >= 1
    results = read_jsonl(run / "iter_01/probe/results.jsonl")
    dataset = read_jsonl(run / "iter_01/dataset/dataset.jsonl")
    assert len(results) == len(dataset) == 8
    # Greedy answers of the real checkpoint, with logprobs: every answer has a perplexity.
    assert all(r["ppl"] is not None and r["ppl"] >= 1.0 for r in results)
    probe_stats = read_json(run / "stats/iter_01__probe.json")
    assert probe_stats["total"]["succeeded"] == 8 and probe_stats["total"]["completion_tokens"] > 0
    assert list((run / "logs").glob("vllm-policy-iter01.log"))
    assert len(read_jsonl(run / "iter_02/dataset/dataset.jsonl")) == 8


def test_sigterm_stops_local_vllm_servers(tmp_path: Path, require_runtime) -> None:
    require_runtime("vllm")
    config = smollm2_seed_config(tmp_path)
    config.write_text(
        config.read_text()
        .replace('model = "smollm2"\nkv_cache_bytes', 'model = "tiny"\nkv_cache_bytes')
        .replace("count = 8", "count = 400")
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "looptool", "synth", "dialogs", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pid_file = tmp_path / "run/logs/vllm-local.pid"
    deadline = time.monotonic() + 600
    while not (tmp_path / "run/seed/apis/specs.jsonl").exists():  # the server answered: it is up
        assert process.poll() is None, process.stdout.read()[-3000:] if process.stdout else ""
        assert time.monotonic() < deadline
        time.sleep(0.2)
    record = json.loads(pid_file.read_text())
    group = int(record.get("pgid", record.get("pid")))
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output[-2000:]
    assert "interrupted" in output
    listing = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(group)], capture_output=True, text=True).stdout
    # Exited processes whose parent (the killed run) is gone wait for init to reap them: dead, no memory.
    alive = [line for line in listing.splitlines() if line.split()[1:2] != ["Z"] and not line.split()[1].startswith("Z")]
    assert not alive, f"vLLM processes outlived the run:\n{listing}\n{output[-3000:]}"
    assert not pid_file.exists()
