"""Pre-flight: every problem found before launch, each naming the key or file and the reason."""

from __future__ import annotations

import sys

import pytest

from looptool.train.config import TrainSettings
from looptool.train.parquet import write_verl_parquet
from looptool.train.preflight import PreflightError, model_dir_problems, run_preflight


def test_missing_everything_is_reported_together(tmp_path):
    s = TrainSettings(
        backend="trl", python=tmp_path / "nope" / "python", grpo={"train_batch_size": 2, "mini_batch_size": 2, "rollouts_per_prompt": 4}
    )
    with pytest.raises(PreflightError) as info:
        run_preflight(s, tmp_path / "missing.parquet", tmp_path / "no-model")
    problems = info.value.problems
    assert any("train.python: trl runtime interpreter" in p and "scripts/setup_trl.sh" in p for p in problems)
    assert any("missing.parquet: file not found" in p for p in problems)
    assert any("no-model: directory not found" in p for p in problems)


def test_too_few_rows_for_one_step(tmp_path, samples):
    write_verl_parquet(samples, tmp_path / "d.parquet")
    s = TrainSettings(backend="trl", python=sys.executable)  # batch 128 > 8 rows
    model = tmp_path / "m"
    model.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (model / name).write_text("{}")
    with pytest.raises(PreflightError) as info:
        run_preflight(s, tmp_path / "d.parquet", model, check_lengths=False)
    assert info.value.problems == [
        f"dataset {tmp_path / 'd.parquet'}: 8 rows, fewer than train.grpo.train_batch_size (128); the trainer would run zero steps"
    ]


def test_model_dir_problems(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    problems = model_dir_problems(tmp_path)
    assert any("no tokenizer" in p for p in problems) and any("no weights" in p for p in problems)


def test_cli_reports_config_errors_with_file_and_key(tmp_path, capsys):
    from looptool.train.__main__ import main

    cfg = tmp_path / "run.toml"
    cfg.write_text("[train]\nbackend = 'verl'\n[train.verl]\ntensor_parallel_size = 3\n[train.grpo]\nlr = 1\n")
    code = main(["--config", str(cfg), "--dataset", "x.parquet", "--init-model", "m", "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{cfg}: [train].grpo.lr: Extra inputs are not permitted" in err


def test_cli_preflight_failure_exit_code(tmp_path, capsys):
    from looptool.train.__main__ import main

    cfg = tmp_path / "run.toml"
    cfg.write_text(f"[train]\nbackend = 'trl'\npython = '{tmp_path / 'py'}'\n")
    code = main(
        ["--config", str(cfg), "--dataset", str(tmp_path / "d.parquet"), "--init-model", str(tmp_path), "--work-dir", str(tmp_path / "w")]
    )
    assert code == 2 and "trainer pre-flight failed" in capsys.readouterr().err
