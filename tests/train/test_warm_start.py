"""The supervised warm start: settings, its dataset (prompt = GRPO's, target = what the reward
parses), the TRL and verl mappings, and the stage's bookkeeping - all without a trainer."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from looptool.samples import StepSample
from looptool.tools.reward import compute_score
from looptool.train.config import TrainSettings
from looptool.train.parquet import sample_to_row, write_verl_parquet
from looptool.train.sft_data import (
    SFT_SCHEMA,
    examples_from_parquet,
    examples_from_samples,
    sft_target,
    write_sft_parquet,
)
from looptool.train.sft_worker import sft_config_kwargs
from looptool.train.verl_sft import build_sft_overrides, latest_sft_checkpoint, sft_trainer_argv


def _trl(**sft) -> TrainSettings:
    return TrainSettings(
        backend="trl",
        warm_start="sft",
        sft=sft,
        grpo={"train_batch_size": 2, "mini_batch_size": 2, "rollouts_per_prompt": 4},
        trl={"per_device_batch_size": 4},
    )


# -- settings ------------------------------------------------------------------------------------
def test_warm_start_is_off_by_default_and_max_length_follows_grpo():
    s = TrainSettings()
    assert s.warm_start == "none" and s.sft.iterations == "first"
    assert s.sft_max_length == s.grpo.max_prompt_length + s.grpo.max_response_length
    assert _trl(max_length=900).sft_max_length == 900


@pytest.mark.parametrize("iterations, expected", [("first", [1]), ("all", [1, 2, 3]), ([2, 3], [2, 3])])
def test_for_iteration_applies_the_warm_start_only_where_configured(iterations, expected):
    s = _trl(iterations=iterations)
    assert [j for j in (1, 2, 3) if s.for_iteration(j).warm_start == "sft"] == expected
    assert s.warm_start == "sft"  # the config itself is unchanged


def test_for_iteration_resolves_a_relative_dataset_against_the_config_dir(tmp_path):
    s = _trl(dataset="data/warm.jsonl")
    assert s.for_iteration(1, tmp_path).sft.dataset == (tmp_path / "data/warm.jsonl").resolve()
    absolute = _trl(dataset=str(tmp_path / "w.parquet"))
    assert absolute.for_iteration(1, Path("/elsewhere")).sft.dataset == tmp_path / "w.parquet"


@pytest.mark.parametrize(
    "data, needle",
    [
        (
            {"warm_start": "sft", "sft": {"batch_size": 6, "micro_batch_size": 4}},
            "batch_size (6) must be a multiple of micro_batch_size (4)",
        ),
        (
            {"warm_start": "sft", "sft": {"batch_size": 12, "micro_batch_size": 1}},
            "train.sft.batch_size (12) must be a multiple of train.verl.n_gpus_per_node x train.sft.micro_batch_size (8 x 1)",
        ),
        ({"sft": {"iterations": [0, 2]}}, "iterations are numbered from 1"),
        ({"sft": {"dataset": "x.csv"}}, "expected a StepSample .jsonl or a .parquet file"),
        ({"warm_start": "grpo"}, "warm_start"),
        ({"sft": {"lr": 1e-5}}, "sft.lr"),
    ],
)
def test_bad_warm_start_settings_name_the_key(data, needle):
    with pytest.raises(ValidationError) as info:
        TrainSettings(**data)
    assert needle in str(info.value)


# -- the dataset ---------------------------------------------------------------------------------
def test_every_target_is_what_the_grpo_reward_scores_as_correct(samples):
    for sample in _with_text(samples):
        row = sample_to_row(sample, 0, "looptool", "train")
        target = sft_target(sample)
        assert target
        score = compute_score("looptool", target, row["reward_model"]["ground_truth"], row["extra_info"])
        assert score["score"] == 1.0, (sample.id, target, score)
    call = samples[0]
    assert sft_target(call) == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "paris"}}\n</tool_call>'


def test_a_text_answer_without_its_text_has_no_target(samples):
    text = next(s for s in samples if not s.label_calls)
    assert sft_target(text.model_copy(update={"label_text": "  "})) is None
    assert sft_target(text.model_copy(update={"label_text": "Why did the plane land? It was tired."})) == (
        "Why did the plane land? It was tired."
    )


def _with_text(samples: list[StepSample]) -> list[StepSample]:
    return [s if s.label_calls else s.model_copy(update={"label_text": f"joke {s.id}"}) for s in samples]


def test_parquet_rows_reuse_the_grpo_prompt_and_put_the_target_in_one_assistant_turn(samples, tmp_path):
    samples = _with_text(samples)
    skipped: list[str] = []
    report = write_sft_parquet(examples_from_samples(samples, skipped), tmp_path / "sft.parquet", max_length=10_000)
    table = pq.read_table(tmp_path / "sft.parquet")
    assert table.schema.equals(SFT_SCHEMA)
    rows = table.to_pylist()
    assert (report.rows, report.call_rows, report.text_rows, skipped) == (8, 6, 2, [])
    for sample, row in zip(samples, rows):
        grpo_prompt = sample_to_row(sample, 0, "looptool", "train")["prompt"]
        assert row["id"] == sample.id and row["prompt"] == grpo_prompt
        assert row["completion"] == [{"role": "assistant", "content": sft_target(sample)}]
        assert row["messages"] == grpo_prompt + row["completion"]


def test_overlong_sequences_are_dropped_and_long_answers_reported(samples, tmp_path):
    samples = _with_text(samples)

    def words(conversations):
        return [sum(len(m["content"].split()) for m in c) for c in conversations]

    prompt_words = words([sample_to_row(s, 0, "x", "t")["prompt"] for s in samples])
    limit = min(prompt_words) + 6  # room for the shortest answers only
    report = write_sft_parquet(
        examples_from_samples(samples, []),
        tmp_path / "sft.parquet",
        max_length=limit,
        max_answer_tokens=4,
        count_prompt=words,
        count_full=words,
    )
    kept = {r["id"] for r in pq.read_table(tmp_path / "sft.parquet").to_pylist()}
    full = dict(
        zip(
            [s.id for s in samples],
            words([sample_to_row(s, 0, "x", "t")["prompt"] + [{"role": "assistant", "content": sft_target(s)}] for s in samples]),
        )
    )
    assert kept == {i for i, n in full.items() if n <= limit} and kept
    assert {i for i, _ in report.overlong} == set(full) - kept
    answers = {s.id: full[s.id] - p for s, p in zip(samples, prompt_words)}
    assert {i for i, _ in report.answer_over_response_limit} == {i for i, n in answers.items() if n > 4}
    assert report.longest_sequence == max(full.values()) and report.longest_answer == max(answers.values())


def test_a_grpo_parquet_gives_call_targets_and_skips_text_rows(samples, tmp_path):
    write_verl_parquet(samples, tmp_path / "grpo.parquet")
    skipped: list[str] = []
    examples = list(examples_from_parquet(tmp_path / "grpo.parquet", skipped))
    assert [e.id for e in examples] == [s.id for s in samples if s.label_calls]
    assert skipped == [s.id for s in samples if not s.label_calls]
    assert [e.target for e in examples] == [sft_target(s) for s in samples if s.label_calls]
    # An SFT parquet read back gives the same examples (a user's own warm-start data).
    write_sft_parquet(iter(examples), tmp_path / "sft.parquet", max_length=10_000)
    again = list(examples_from_parquet(tmp_path / "sft.parquet", []))
    assert again == examples


def test_a_parquet_of_another_shape_and_duplicate_ids_are_errors(samples, tmp_path):
    pq.write_table(pq.read_table(write_verl_parquet(samples, tmp_path / "g.parquet").path).drop(["reward_model"]), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="expected a 'prompt' column and a 'completion' or 'reward_model' column"):
        list(examples_from_parquet(tmp_path / "bad.parquet", []))
    twice = list(examples_from_samples(samples[:1], [])) * 2
    with pytest.raises(ValueError, match="duplicate sample id 's000'"):
        write_sft_parquet(iter(twice), tmp_path / "d.parquet", max_length=10_000)
    assert not (tmp_path / "d.parquet").exists()


# -- trainer mappings ----------------------------------------------------------------------------
def test_sft_settings_map_onto_trl_sft_config():
    s = _trl(learning_rate=3e-5, epochs=2, batch_size=8, micro_batch_size=2, max_steps=5, save_freq=3)
    k = sft_config_kwargs(
        {"output_dir": "/o", "sft": s.sft.model_dump(mode="json"), "trl": s.trl.model_dump(), "max_length": s.sft_max_length, "seed": 7}
    )
    assert (k["per_device_train_batch_size"], k["gradient_accumulation_steps"]) == (2, 4)
    assert (k["learning_rate"], k["num_train_epochs"], k["max_steps"], k["save_steps"]) == (3e-5, 2, 5, 3)
    assert k["completion_only_loss"] is True and k["packing"] is False
    assert k["lr_scheduler_type"] == "constant" and k["max_length"] == s.sft_max_length and k["seed"] == 7


def test_verl_sft_overrides_and_torchrun_argv(tmp_path):
    s = TrainSettings(
        warm_start="sft",
        sft={"batch_size": 64, "micro_batch_size": 2, "learning_rate": 2e-5, "epochs": 1, "max_steps": 10},
        verl={"preset": "4x8gpu"},
    )
    overrides = build_sft_overrides(
        s, train_file=tmp_path / "sft.parquet", model_path=tmp_path / "m", checkpoint_dir=tmp_path / "ck", experiment_name="iter_01-sft"
    )
    values = dict(o.split("=", 1) for o in overrides)
    assert values["data.messages_key"] == "messages" and values["data.train_batch_size"] == "64"
    assert values["data.micro_batch_size_per_gpu"] == "2" and values["data.use_dynamic_bsz"] == "false"
    assert values["data.max_length"] == str(4096 + 1024) and values["data.truncation"] == "error"
    assert values["optim.lr"] == "2e-05" and values["trainer.total_training_steps"] == "10"
    assert values["checkpoint.save_contents"] == "[model,optimizer,extra,hf_model]"
    assert (values["trainer.nnodes"], values["trainer.n_gpus_per_node"]) == ("1", "8")  # one node of 4x8
    assert values["engine.param_offload"] == "true" and values["trainer.resume_mode"] == "auto"
    argv = sft_trainer_argv(Path("/py"), 8, overrides)
    assert argv[:9] == ["/py", "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc-per-node", "8", "-m"]
    assert argv[9] == "verl.trainer.sft_trainer" and argv[10:] == overrides


def test_latest_sft_checkpoint_prefers_the_tracker(tmp_path):
    assert latest_sft_checkpoint(tmp_path) is None
    for n in (2, 10):
        (tmp_path / f"global_step_{n}").mkdir()
    assert latest_sft_checkpoint(tmp_path).name == "global_step_10"
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("2")
    assert latest_sft_checkpoint(tmp_path).name == "global_step_2"


def test_sft_worker_imports_no_heavy_packages():
    import sys

    import looptool.train.sft_worker  # noqa: F401

    assert not {"torch", "trl", "transformers", "verl"} & {m.split(".")[0] for m in sys.modules}


def test_job_dump_is_json(tmp_path):
    s = _trl(dataset=str(tmp_path / "d.jsonl"))
    assert json.loads(json.dumps(s.sft.model_dump(mode="json")))["dataset"] == str(tmp_path / "d.jsonl")
