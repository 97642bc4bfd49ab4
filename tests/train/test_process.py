"""The trainer subprocess runner: live streaming, log file, failure report, cancellation."""

from __future__ import annotations

import os
import sys
import time

import anyio
import pytest

from looptool.train.process import TrainerFailed, stream_process, write_rerun_script

PY = sys.executable


def _script(tmp_path, code: str) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text(code)
    return [PY, str(path)]


def test_lines_stream_to_log_and_sinks_in_order(tmp_path):
    seen: list[str] = []
    code = "import sys\nfor i in range(5):\n    print(f'line {i}', flush=True)\nprint('err line', file=sys.stderr)"
    anyio.run(
        lambda: stream_process(
            _script(tmp_path, code), what="t", env={"X_TEST": "1"}, cwd=tmp_path, log_path=tmp_path / "train.log", sinks=[seen.append]
        )
    )
    assert seen == [f"line {i}" for i in range(5)] + ["err line"]
    log = (tmp_path / "train.log").read_text().splitlines()
    assert log[0].startswith(f"$ cd {tmp_path} && X_TEST=1 ")
    assert log[1:] == seen


def test_partial_last_line_is_kept(tmp_path):
    seen: list[str] = []
    anyio.run(
        lambda: stream_process(
            [PY, "-c", "import sys; sys.stdout.write('a\\nb')"],
            what="t",
            env={},
            cwd=tmp_path,
            log_path=tmp_path / "l",
            sinks=[seen.append],
        )
    )
    assert seen == ["a", "b"]


def test_nonzero_exit_raises_with_tail_and_command(tmp_path):
    code = "for i in range(100):\n    print('row', i)\nraise SystemExit('boom at the end')"
    with pytest.raises(TrainerFailed) as info:
        anyio.run(
            lambda: stream_process(
                _script(tmp_path, code), what="fake trainer", env={"A": "b c"}, cwd=tmp_path, log_path=tmp_path / "l", tail_lines=5
            )
        )
    err = info.value
    assert err.returncode == 1 and len(err.last_lines) == 5 and err.last_lines[-1] == "boom at the end"
    assert err.last_lines[0] == "row 96"
    assert "A='b c'" in err.command and "fake trainer failed: exit code 1" in str(err)
    # The log keeps everything, not only the tail.
    assert len((tmp_path / "l").read_text().splitlines()) == 102


def test_log_is_appended_across_attempts(tmp_path):
    for word in ("first", "second"):
        command = [PY, "-c", f"print('{word}')"]
        anyio.run(lambda command=command: stream_process(command, what="t", env={}, cwd=tmp_path, log_path=tmp_path / "l"))
    lines = (tmp_path / "l").read_text().splitlines()
    assert lines[1] == "first" and lines[3] == "second"


def test_cancellation_kills_the_process_group(tmp_path):
    # The child starts a grandchild (like Ray/torchrun workers) and reports both pids.
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('pids', p.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    pids: list[int] = []

    def sink(line: str) -> None:
        if line.startswith("pids"):
            pids.append(int(line.split()[1]))

    async def main() -> None:
        with anyio.move_on_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    lambda: stream_process([PY, "-c", code], what="t", env={}, cwd=tmp_path, log_path=tmp_path / "l", sinks=[sink])
                )
                while not pids:
                    await anyio.sleep(0.05)
                tg.cancel_scope.cancel()

    anyio.run(main)
    assert pids, "child never reported its grandchild"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pids[0], 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"grandchild {pids[0]} survived cancellation")


def test_rerun_script_is_executable_shell(tmp_path):
    write_rerun_script(tmp_path / "run.sh", [PY, "-c", "print('hi there')"], {"K": "v"}, tmp_path)
    import subprocess

    out = subprocess.run(["bash", str(tmp_path / "run.sh")], capture_output=True, text=True, check=True)
    assert out.stdout == "hi there\n"


def test_a_progress_bar_redrawn_with_carriage_returns_is_one_line_of_its_last_state(tmp_path):
    seen: list[str] = []
    code = (
        "import sys\nfor i in range(4):\n    sys.stdout.write(f'\\rLoading weights: {i * 25}%')\n"
        "sys.stdout.write('\\rLoading weights: 100%\\n')\nprint('next line')\n"
    )
    anyio.run(lambda: stream_process(_script(tmp_path, code), what="t", env={}, cwd=tmp_path, log_path=tmp_path / "l", sinks=[seen.append]))
    assert seen == ["Loading weights: 100%", "next line"]
    assert (tmp_path / "l").read_text().splitlines()[1:] == seen


def test_a_silent_child_gets_notices_on_the_console_only(tmp_path):
    notices: list[str] = []
    seen: list[str] = []
    code = "import time\nprint('loading', flush=True)\ntime.sleep(5)\nprint('ready', flush=True)\n"
    anyio.run(
        lambda: stream_process(
            _script(tmp_path, code),
            what="fake trainer",
            env={},
            cwd=tmp_path,
            log_path=tmp_path / "l",
            sinks=[seen.append],
            notice=notices.append,
            notice_after_s=1.0,
        )
    )
    assert seen == ["loading", "ready"]
    assert notices and all(n.startswith("[train] fake trainer: still working, ") and "no output for" in n for n in notices)
    # After 1 s, 2 s, 4 s of silence (then 8 s): at most 3 notices in 5 s, not one per second.
    assert len(notices) <= 3
    assert "still working" not in (tmp_path / "l").read_text()
