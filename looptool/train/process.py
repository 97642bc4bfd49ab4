"""Run a trainer subprocess: stream its output live to the console and the run's log file.

Why its own module: both backends (and verl's model merger) are long-running processes in other
interpreters whose output is the only progress signal. Lines go to the console as they arrive,
are appended to the log (so a crash loses nothing already printed), and are offered to a parser
(metrics). The child runs in its own process group so cancelling the stage stops the whole tree
(Ray, torchrun, vLLM workers), not only the parent.

Two things keep the console readable: a progress bar written to a pipe arrives as one line of
`\r`-separated states, of which only the last is kept; and when the child prints nothing for a
while (loading a model, a long GRPO step) a `notice` line says it is still working and for how long.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.text import TextReceiveStream

from looptool.errors import StageError
from looptool.samples import StepSample
from looptool.train.config import TrainSettings
from looptool.train.tokencount import looptool_pythonpath
from looptool.ui import elapsed_text

LineSink = Callable[[str], Any]

TERMINATE_GRACE_S = 15.0
QUIET_NOTICE_S = 30.0


class TrainerFailed(StageError, RuntimeError):
    """The trainer exited non-zero. Carries what a person needs to diagnose and re-run it."""

    def __init__(
        self,
        what: str,
        returncode: int,
        last_lines: list[str],
        command: str,
        log_path: Path,
        reason: str | None = None,
    ) -> None:
        self.what = what
        self.returncode = returncode
        self.last_lines = last_lines
        self.command = command
        self.log_path = log_path
        tail = "\n".join(f"    {line}" for line in last_lines)
        super().__init__(
            f"{what} failed: {reason or f'exit code {returncode}'}.\n"
            f"  last {len(last_lines)} log lines ({log_path}):\n{tail}\n"
            f"  re-run (resumes from the trainer's last checkpoint):\n    {command}"
        )


def console_sink(console: Any | None, style: str | None = None) -> LineSink:
    """Adapt a rich Console, a callable, or None (stdout) to a line sink (`style`: rich only)."""
    if console is None:

        def to_stdout(line: str) -> None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        return to_stdout
    if hasattr(console, "print") and not callable(getattr(console, "write", None)):
        return lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True, style=style)
    if callable(console):
        return console
    if callable(getattr(console, "write", None)):  # a text file such as sys.stderr

        def to_file(line: str) -> None:
            console.write(line + "\n")
            console.flush()

        return to_file
    raise TypeError(f"console must be a rich Console, a callable or None, not {type(console)!r}")


def shell_command(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> str:
    """The command as one copy-pasteable shell line (only the variables we set, not os.environ)."""
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    return f"cd {shlex.quote(str(cwd))} && {assignments + ' ' if assignments else ''}{shlex.join(argv)}"


def write_rerun_script(path: Path, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
    path.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + shell_command(argv, env, cwd) + "\n")
    path.chmod(0o755)


async def _terminate(process: anyio.abc.Process) -> None:
    """SIGTERM the process group, then SIGKILL if it has not exited within the grace period."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with anyio.move_on_after(TERMINATE_GRACE_S):
        await process.wait()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    await process.wait()


async def stream_process(
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    sinks: Sequence[LineSink] = (),
    tail_lines: int = 40,
    notice: LineSink | None = None,
    notice_after_s: float = QUIET_NOTICE_S,
) -> None:
    """Run `argv` to completion, teeing every output line; raise TrainerFailed on non-zero exit.

    `env` holds only the variables we add (shown in the re-run command); it is layered over
    os.environ for the child. `notice` (console only, not the log) gets a line whenever the child
    has been silent for `notice_after_s`, saying how long it has been running.
    """
    tail: deque[str] = deque(maxlen=tail_lines)
    started = last_output = time.monotonic()

    async def watch_silence() -> None:
        # Notices after notice_after_s of silence, then after 2x, 4x, ... that long: a long step
        # is reported as alive without a line every half minute.
        assert notice is not None
        quiet_since, wait = last_output, notice_after_s
        while True:
            await anyio.sleep(min(notice_after_s, 5.0))
            now = time.monotonic()
            if last_output != quiet_since:
                quiet_since, wait = last_output, notice_after_s
            if now - quiet_since >= wait:
                wait *= 2
                notice(
                    f"[train] {what}: still working, {elapsed_text(now - started)} elapsed "
                    f"(no output for {elapsed_text(now - quiet_since)})"
                )

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {shell_command(argv, env, cwd)}\n")
        log.flush()
        process = await anyio.open_process(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=str(cwd),
            env={**os.environ, **env},
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            pending = ""
            async with anyio.create_task_group() as group:
                if notice is not None:
                    group.start_soon(watch_silence)
                async for chunk in TextReceiveStream(process.stdout, errors="replace"):
                    last_output = time.monotonic()
                    pending += chunk
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        _emit(last_state(line), log, tail, sinks)
                if pending:
                    _emit(last_state(pending), log, tail, sinks)
                returncode = await process.wait()
                group.cancel_scope.cancel()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _terminate(process)
                await process.aclose()
            raise
        await process.aclose()
    if returncode != 0:
        raise TrainerFailed(what, returncode, list(tail), shell_command(argv, env, cwd), log_path)


def last_state(line: str) -> str:
    """The visible text of a line that a progress bar redrew with carriage returns."""
    line = line.rstrip("\r")
    return line.rsplit("\r", 1)[-1]


def _emit(line: str, log: Any, tail: deque[str], sinks: Sequence[LineSink]) -> None:
    log.write(line + "\n")
    log.flush()
    tail.append(line)
    for sink in sinks:
        sink(line)


def read_jsonl_samples(path: Path) -> Iterator[StepSample]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield StepSample.model_validate_json(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a valid StepSample: {exc}") from exc


def subprocess_env(settings: TrainSettings) -> dict[str, str]:
    """The variables every trainer subprocess gets (shown in its re-run command)."""
    return {
        "PYTHONPATH": looptool_pythonpath(os.environ.get("PYTHONPATH")),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        # transformers 5 deprecation notices repeat on every step and bury the metrics in the log.
        "PYTHONWARNINGS": "ignore::FutureWarning",
        # Progress bars in a pipe are one line of \r-joined states; the step lines say more.
        "TQDM_DISABLE": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        **settings.env,
    }
