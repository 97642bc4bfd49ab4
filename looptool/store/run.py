"""A run directory: config copy, one folder per stage and iteration, a manifest of finished stages.

Layout:
    <run>/config.toml              the config exactly as given (provenance)
    <run>/config.resolved.json     the validated config; a resumed run is compared against it
    <run>/manifest.json            finished stages with their counts and outputs; incomplete
                                   stages with their failed counts and cause; config changes
    <run>/<stage key>/...          e.g. seed/apis, seed/dialogs, iter_01/train, iter_01/probe
    <run>/stats/<stage key>.json   client counters of that stage

The manifest is the single source of truth for "is this stage done": a stage is recorded only after
its outputs are on disk, so a kill between the two just reruns the stage's (resumable) last step.
An exclusive lock stops two processes from driving the same run at once.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from looptool.errors import StageError
from looptool.store.atomic import atomic_write_bytes, atomic_write_json, read_json, storage_error


def iteration_key(iteration: int, stage: str) -> str:
    return f"iter_{iteration:02d}/{stage}"


@dataclass(frozen=True)
class ResumePolicy:
    """What a run may do that the default refuses; each use is recorded in the manifest."""

    allow_partial: bool = False  # go on past a stage whose units did not all finish
    allow_config_change: bool = False  # resume although the config changed for stages already run


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class RunStore:
    def __init__(self, root: Path, policy: ResumePolicy | None = None) -> None:
        self.root = Path(root).resolve()
        self.policy = policy or ResumePolicy()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise storage_error(self.root, error, "cannot create the run directory") from error
        self._lock_handle: Any = None

    # -- locking -------------------------------------------------------------------------------
    def lock(self) -> None:
        """Take the run's exclusive lock; a second process on the same run fails fast."""
        try:
            handle = open(self.root / ".lock", "a+")
        except OSError as error:
            raise storage_error(self.root, error, "cannot write in the run directory") from error
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StageError(f"{self.root} is in use by another looptool process") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        except OSError as error:
            handle.close()
            raise storage_error(self.root / ".lock", error) from error
        self._lock_handle = handle

    def unlock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def __enter__(self) -> RunStore:
        self.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()

    # -- layout --------------------------------------------------------------------------------
    def stage_dir(self, key: str) -> Path:
        directory = self.root / key
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise storage_error(directory, error, "cannot create") from error
        return directory

    def path(self, key: str, name: str) -> Path:
        return self.stage_dir(key) / name

    def save_config(self, config_path: Path | None, resolved: dict[str, Any]) -> None:
        """Keep the config as given and as resolved; a resumed run compares against the latter."""
        if config_path is not None:
            target = self.root / "config.toml"
            if Path(config_path).resolve() != target.resolve():
                atomic_write_bytes(target, Path(config_path).read_bytes())
        atomic_write_json(self.root / "config.resolved.json", resolved)

    # -- manifest ------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        manifest = read_json(self.manifest_path, default=None) or {}
        manifest.setdefault("stages", {})
        return manifest

    def is_finished(self, key: str) -> bool:
        return key in self.manifest()["stages"]

    def stage_info(self, key: str) -> dict[str, Any] | None:
        info: dict[str, Any] | None = self.manifest()["stages"].get(key)
        return info

    def started_stages(self) -> set[str]:
        """Stages that ran at least partly (finished, incomplete or begun): their outputs exist."""
        manifest = self.manifest()
        return set(manifest["stages"]) | set(manifest.get("incomplete", {})) | set(manifest.get("started", {}))

    def mark_started(self, key: str) -> None:
        manifest = self.manifest()
        if key in manifest.get("started", {}):
            return
        manifest.setdefault("started", {})[key] = _now()
        atomic_write_json(self.manifest_path, manifest)

    def mark_finished(self, key: str, **info: Any) -> None:
        manifest = self.manifest()
        manifest["stages"][key] = {"finished_at": _now(), **info}
        manifest.get("incomplete", {}).pop(key, None)
        atomic_write_json(self.manifest_path, manifest)

    def mark_incomplete(self, key: str, **info: Any) -> None:
        """The stage ran but not every unit has a final record: not finished, and why."""
        manifest = self.manifest()
        manifest["stages"].pop(key, None)
        manifest.setdefault("incomplete", {})[key] = {"at": _now(), **{k: v for k, v in info.items() if v is not None}}
        atomic_write_json(self.manifest_path, manifest)

    def incomplete_info(self, key: str) -> dict[str, Any] | None:
        info: dict[str, Any] | None = self.manifest().get("incomplete", {}).get(key)
        return info

    def mark_progress(self, text: str) -> None:
        """Where the run is now (shown by `looptool status`)."""
        manifest = self.manifest()
        manifest["next"] = text
        atomic_write_json(self.manifest_path, manifest)

    def forget(self, key: str) -> None:
        """Mark a stage as not done (e.g. `looptool rerun`); its files stay for inspection."""
        manifest = self.manifest()
        found = manifest["stages"].pop(key, None) is not None
        found |= manifest.get("incomplete", {}).pop(key, None) is not None
        if found:
            atomic_write_json(self.manifest_path, manifest)

    def save_stats(self, key: str, stats: dict[str, Any]) -> Path:
        target = self.root / "stats" / f"{key.replace('/', '__')}.json"
        atomic_write_json(target, stats)
        return target
