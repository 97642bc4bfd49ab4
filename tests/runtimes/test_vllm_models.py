"""Fast tests of looptool.models.ensure_model with a stand-in runtime interpreter.

The stand-in plays the vLLM runtime's python: it receives `SCRIPT OUT_DIR` exactly as the real
one would, so naming, atomic placement, no-op reuse and error reporting are checked without
torch. The real builds are exercised in test_vllm_runtime.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.models import ModelBuildError, RuntimeMissingError, ensure_model, model_dir


def _fake_runtime(home: Path, body: str) -> Path:
    python = home / "envs" / "vllm" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n" + body)
    python.chmod(0o755)
    return python


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPTOOL_HOME", str(tmp_path))
    return tmp_path


def test_unknown_model_name(home: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown model 'gpt5'.*\['smollm2', 'tiny'\]"):
        ensure_model("gpt5")


def test_missing_runtime_names_the_setup_command(home: Path) -> None:
    with pytest.raises(RuntimeMissingError, match=r"'vllm' runtime environment is missing(.|\n)*setup_vllm\.sh"):
        ensure_model("tiny")


def test_build_is_placed_atomically_and_reused(home: Path) -> None:
    # $1 = build script, $2 = output dir; count invocations to prove the second call is a no-op.
    _fake_runtime(home, 'echo run >> "$LOOPTOOL_HOME/calls"\nmkdir -p "$2"\necho "{}" > "$2/config.json"\necho "built by $1"\n')
    path = ensure_model("tiny")
    assert path == model_dir("tiny") == home / "models" / "tiny"
    assert (path / "config.json").read_text().strip() == "{}"
    assert "make_tiny_model.py" in (path / "looptool-build.log").read_text()
    assert sorted(p.name for p in (home / "models").iterdir()) == ["tiny"]  # no staging left behind
    assert ensure_model("tiny") == path
    assert (home / "calls").read_text().count("run") == 1


def test_failed_build_reports_output_and_leaves_nothing(home: Path) -> None:
    _fake_runtime(home, 'mkdir -p "$2"\necho "Traceback: boom while converting $1" >&2\nexit 7\n')
    with pytest.raises(ModelBuildError, match=r"'smollm2'(.|\n)*exit 7(.|\n)*boom while converting .*convert_smollm2\.py"):
        ensure_model("smollm2")
    assert list((home / "models").iterdir()) == []


def test_script_that_writes_no_model_is_a_failure(home: Path) -> None:
    _fake_runtime(home, 'echo "forgot to save"\n')
    with pytest.raises(ModelBuildError, match="forgot to save"):
        ensure_model("tiny")
    assert not model_dir("tiny").exists()


def test_model_from_an_older_script_is_rebuilt(home: Path) -> None:
    _fake_runtime(home, 'echo run >> "$LOOPTOOL_HOME/calls"\nmkdir -p "$2"\necho "{\\"v\\": 2}" > "$2/config.json"\n')
    stale = home / "models" / "tiny"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text('{"v": 1}')
    (stale / "looptool-build.json").write_text('{"model": "tiny", "fingerprint": "from-an-old-script"}')
    path = ensure_model("tiny")
    assert path == stale and (path / "config.json").read_text().strip() == '{"v": 2}'
    assert sorted(p.name for p in (home / "models").iterdir()) == ["tiny"]
    assert ensure_model("tiny") == path
    assert (home / "calls").read_text().count("run") == 1
