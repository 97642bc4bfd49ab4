"""Issue 12.8: disk full or read-only run directory: one clear message naming the path and the
cause (the request cache's sqlite error included), and nothing already written is damaged.

The file systems are real: a small tmpfs (full) and a read-only remount, inside a private mount
namespace (`unshare --mount`, needs root, as CI and the development machines run) so nothing is
left mounted when the test ends.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from looptool.store import JsonlWriter, read_jsonl
from looptool.errors import StorageError

from support import seed_outputs, sim_launch_config

REPO = Path(__file__).resolve().parents[2]
LOOPTOOL = f"{shlex.quote(sys.executable)} -m looptool"


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs root to mount a tmpfs in a private mount namespace")


def in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", "set -e\n" + script],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


@needs_mount
def test_read_only_run_directory_is_one_clear_message(tmp_path: Path) -> None:
    mount = tmp_path / "mnt"
    mount.mkdir()
    config = sim_launch_config(tmp_path, apis=4, dialogs=2, latency_ms=0).read_text().replace('dir = "run"', f'dir = "{mount}/run"')
    (tmp_path / "ro.toml").write_text(config)
    done = in_namespace(
        f"mount -t tmpfs -o size=1m tmpfs {mount}\nmkdir {mount}/run\nmount -o remount,ro {mount}\nset +e\n{LOOPTOOL} synth apis ro.toml",
        tmp_path,
    )
    out = one_line(done.stdout + done.stderr)
    assert done.returncode == 1, out
    assert f"{mount}/run" in out and "Read-only file system" in out, out
    assert "Traceback" not in out


@needs_mount
def test_disk_full_names_path_and_cause_and_a_resume_after_freeing_space_matches(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "looptool", "synth", "samples", str(sim_launch_config(reference, latency_ms=0))],
        capture_output=True,
        text=True,
        cwd=reference,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]

    mount, freed = tmp_path / "mnt", tmp_path / "freed"
    mount.mkdir()
    freed.mkdir()
    sim_launch_config(tmp_path, latency_ms=0, name="full.toml")
    # The run fills a 256 KB disk part way (a whole run needs about 600 KB); then the disk is
    # "freed" by moving everything to a roomy one, where the same command resumes.
    done = in_namespace(
        f"mount -t tmpfs -o size=256k tmpfs {mount}\ncp -a full.toml no_model {mount}/\ncd {mount}\n"
        f"set +e\n{LOOPTOOL} synth samples full.toml\ncode=$?\ncp -a {mount}/. {freed}/\nexit $code",
        tmp_path,
    )
    out = one_line(done.stdout + done.stderr)
    assert done.returncode == 1, out
    assert "No space left on device" in out and f"{mount}/run/" in out, out
    assert "Traceback" not in out

    resumed = subprocess.run(
        [sys.executable, "-m", "looptool", "synth", "samples", "full.toml"],
        capture_output=True,
        text=True,
        cwd=freed,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert seed_outputs(freed / "run") == seed_outputs(reference / "run")


@needs_mount
def test_a_failed_append_leaves_no_half_record(tmp_path: Path) -> None:
    """A record that does not fit is cut back, the file keeps every complete record."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = f"""
import json, sys
sys.path.insert(0, {str(REPO)!r})
from looptool.store import JsonlWriter
from looptool.errors import StorageError
with JsonlWriter({str(mount / "r.jsonl")!r}) as out:
    written = 0
    try:
        for i in range(100000):
            out.write({{"id": f"u{{i}}", "pad": "x" * 1000}})
            written += 1
    except StorageError as error:
        print("ERROR", error)
print("WRITTEN", written)
"""
    (tmp_path / "fill.py").write_text(script)
    done = in_namespace(
        f"mount -t tmpfs -o size=64k tmpfs {mount}\n{shlex.quote(sys.executable)} fill.py\ncp {mount}/r.jsonl {tmp_path}/copy.jsonl",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"ERROR cannot write {mount}/r.jsonl: No space left on device" in done.stdout
    written = int(done.stdout.split("WRITTEN")[1])
    data = (tmp_path / "copy.jsonl").read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == written
    assert [r["id"] for r in read_jsonl(tmp_path / "copy.jsonl")] == [f"u{i}" for i in range(written)]


def test_cache_errors_name_the_cache_and_the_cause(tmp_path: Path) -> None:
    from looptool.llm.cache import RequestCache

    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(StorageError, match="request cache .*requests.sqlite"):
        RequestCache(blocker / "requests.sqlite")


def test_writer_on_an_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match=f"cannot write {tmp_path}/file/out.jsonl"):
        JsonlWriter(tmp_path / "file" / "out.jsonl")
