"""Fixtures for the trainer-stage tests: StepSamples, and the project's tiny model per runtime."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from looptool.paths import data_dir
from looptool.samples import StepSample
from train_samples import make_samples

@pytest.fixture
def samples() -> list[StepSample]:
    return make_samples()


_TINY_MODELS: dict[str, Path] = {}


@pytest.fixture
def tiny_model(require_runtime, tmp_path_factory):
    """Return a function runtime -> the project's tiny Qwen3 built with that runtime's python."""

    def build(runtime: str) -> Path:
        python = require_runtime(runtime)
        if runtime not in _TINY_MODELS:
            script = data_dir("scripts") / "make_tiny_model.py"
            if not script.is_file():
                pytest.fail(f"{script} missing: the tiny-model builder is owned by the vLLM/models work")
            out = tmp_path_factory.mktemp(f"tiny_{runtime}") / "model"
            subprocess.run([str(python), str(script), str(out)], check=True, capture_output=True, text=True)
            _TINY_MODELS[runtime] = out
        return _TINY_MODELS[runtime]

    return build
