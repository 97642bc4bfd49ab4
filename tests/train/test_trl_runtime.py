"""TRL backend for real on CPU: GRPO steps on the project's tiny model through run_training.

What is asserted is the plumbing, not learning (a random 168k-parameter model cannot learn
ToolMatch in two steps): the reward functions see every completion, the weights move (thanks to
a reward with spread), the saved HF dir reloads and generates, overlong prompts are filtered,
and a crashed run reports its tail and resumes from the trainer's own checkpoint.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest

from looptool.train import TrainerFailed, TrainSettings, run_training

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _settings(python: Path, **grpo) -> dict:
    return dict(
        backend="trl",
        python=python,
        # The test reward module lives next to this file; the worker also needs looptool itself.
        env={"PYTHONPATH": f"{ROOT}:{HERE}"},
        grpo={
            "train_batch_size": 2,
            "mini_batch_size": 2,
            "rollouts_per_prompt": 4,
            "max_steps": 2,
            "max_response_length": 16,
            "learning_rate": 1e-3,
            "save_freq": 1,
            "max_prompt_length": 1200,
            **grpo,
        },
        trl={"per_device_batch_size": 4, "extra_rewards": ["shaping_rewards:length_reward"]},
    )


def _write_jsonl(path: Path, samples) -> Path:
    path.write_text("".join(s.model_dump_json() + "\n" for s in samples))
    return path


def test_grpo_steps_change_weights_and_call_reward_per_completion(sample_factory, require_runtime, tiny_model, tmp_path):
    python = require_runtime("trl")
    model = tiny_model("trl")
    dataset = _write_jsonl(tmp_path / "d.jsonl", sample_factory(9, long_every=4))  # s003, s007 too long
    lines: list[str] = []
    settings = TrainSettings(**_settings(python))
    result = anyio.run(lambda: run_training(settings, dataset, model, tmp_path / "work", console=lines.append))

    m = result.metrics
    assert [f["id"] for f in m["dataset"]["filtered"]] == ["s003", "s007"]
    assert m["dataset"]["rows"] == 7
    assert m["steps"] == 2 and len(m["history"]) == 2
    # 2 steps x 2 prompts x 4 rollouts, scored once per generation batch by each reward.
    assert m["trainer"]["reward_completions"] == {"toolmatch": 16, "length_reward": 16}
    assert m["trainer"]["reward_calls"] == {"toolmatch": 2, "length_reward": 2}
    assert m["history"][-1]["reward_completions/toolmatch"] == 16
    assert m["reward_mean"] is not None and m["step_time_s"] > 0 and m["loss"] is not None
    # Streamed live as one readable line per step; the raw metrics go to the log only.
    assert any(line.startswith("[train] GRPO step 1/2: reward ") and "spread" in line and "grad_norm" in line for line in lines)
    assert not any("LOOPTOOL_METRICS" in line or line.startswith("{'loss'") for line in lines)
    assert "LOOPTOOL_METRICS" in result.log_path.read_text()
    assert m["grad_norm"] is not None and "reward_spread" in m

    check = subprocess.run(
        [str(python), str(HERE / "trl_checks.py"), str(model), str(result.model_dir)], capture_output=True, text=True, check=True
    )
    out = json.loads(check.stdout.split("RESULT ", 1)[1])
    assert out["max_abs_diff"] > 0, "GRPO with a spread reward must move the weights"
    assert out["generated"] > 0

    # Done is done: a second call returns the stored result without training again.
    log_size = result.log_path.stat().st_size
    again = anyio.run(lambda: run_training(settings, dataset, model, tmp_path / "work", console=lines.append))
    assert again.model_dir == result.model_dir and again.metrics["steps"] == 2
    assert result.log_path.stat().st_size == log_size


def test_crash_reports_tail_and_rerun_resumes_from_checkpoint(sample_factory, require_runtime, tiny_model, tmp_path):
    python = require_runtime("trl")
    model = tiny_model("trl")
    dataset = _write_jsonl(tmp_path / "d.jsonl", sample_factory(8))
    base = _settings(python, max_steps=3)
    base["trl"] = {"per_device_batch_size": 4, "extra_rewards": ["shaping_rewards:crash_reward"]}
    crashing = TrainSettings(**{**base, "env": {**base["env"], "LOOPTOOL_TEST_CRASH_AT": "3"}})
    work = tmp_path / "work"
    with pytest.raises(TrainerFailed) as info:
        anyio.run(lambda: run_training(crashing, dataset, model, work, console=lambda line: None))
    err = info.value
    assert err.returncode != 0
    assert any("test crash at reward call 3" in line for line in err.last_lines)
    assert "looptool.train.trl_worker" in err.command and "LOOPTOOL_TEST_CRASH_AT=3" in err.command
    assert (work / "checkpoints" / "checkpoint-2").is_dir() and not (work / "model").exists()
    assert (work / "train_command.sh").is_file()

    resumed = anyio.run(lambda: run_training(TrainSettings(**base), dataset, model, work, console=lambda line: None))
    trainer = resumed.metrics["trainer"]
    assert trainer["resumed_from"].endswith("checkpoint-2") and trainer["global_step"] == 3
    assert trainer["reward_completions"]["toolmatch"] == 8  # only the one remaining step
    assert (resumed.model_dir / "config.json").is_file()
    assert "test crash at reward call 3" in resumed.log_path.read_text()  # first attempt's log kept
    assert not (work / "checkpoints").exists()  # recorded: resume will never need them again


def _labelled(samples):
    return [s if s.label_calls else s.model_copy(update={"label_text": f"Here is a joke for {s.id}."}) for s in samples]


def test_sft_warm_start_runs_first_grpo_starts_from_it_and_a_rerun_skips_it(sample_factory, require_runtime, tiny_model, tmp_path):
    python = require_runtime("trl")
    model = tiny_model("trl")
    dataset = _write_jsonl(tmp_path / "d.jsonl", _labelled(sample_factory(8)))
    base = _settings(python, max_steps=1)
    base["trl"] = {"per_device_batch_size": 4, "extra_rewards": ["shaping_rewards:crash_reward"]}
    sft = {"learning_rate": 1e-3, "max_steps": 2, "batch_size": 2, "micro_batch_size": 1}
    crashing = TrainSettings(**{**base, "env": {**base["env"], "LOOPTOOL_TEST_CRASH_AT": "1"}}, warm_start="sft", sft=sft)
    work = tmp_path / "work"
    lines: list[str] = []
    with pytest.raises(TrainerFailed):  # GRPO dies at its first reward call, after the SFT finished
        anyio.run(lambda: run_training(crashing, dataset, model, work, console=lines.append))
    assert any(line.startswith("[train] SFT step 2/2: loss ") for line in lines)
    assert (work / "sft/model/config.json").is_file() and (work / "sft/sft_result.json").is_file()
    sft_done = (work / "sft/sft_result.json").stat().st_mtime_ns

    lines.clear()
    settings = TrainSettings(**base, warm_start="sft", sft=sft)
    result = anyio.run(lambda: run_training(settings, dataset, model, work, console=lines.append))
    assert any(line.startswith("[train] SFT warm start finished earlier") for line in lines)
    assert (work / "sft/sft_result.json").stat().st_mtime_ns == sft_done  # not trained twice
    m = result.metrics
    assert m["warm_start"]["steps"] == 2 and m["warm_start"]["dataset"]["rows"] == 8
    assert m["grpo_init_model"] == str(work / "sft/model") and m["init_model"] == str(model)
    assert m["warm_start"]["loss"] is not None and m["warm_start"]["loss_first"] is not None
    # Done: the warm-start model and both trainers' checkpoints are gone, the records stay.
    assert not (work / "sft/model").exists() and not (work / "sft/checkpoints").exists()
    assert not (work / "checkpoints").exists() and (work / "sft/sft.parquet").is_file()
    check = subprocess.run(
        [str(python), str(HERE / "trl_checks.py"), str(model), str(result.model_dir)], capture_output=True, text=True, check=True
    )
    assert json.loads(check.stdout.split("RESULT ", 1)[1])["max_abs_diff"] > 0  # SFT moved the weights
