"""Atomic file replacement: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from collections.abc import Iterable
from typing import Any

from looptool.errors import StorageError


def storage_error(path: Path | str, error: OSError, doing: str = "cannot write") -> StorageError:
    """One message naming the path and the operating system's cause (disk full, read-only, ...)."""
    cause = error.strerror or str(error) or type(error).__name__
    return StorageError(f"{doing} {path}: {cause}")


def fsync_dir(directory: Path) -> None:
    """Persist a rename: without this a crash can forget the new directory entry."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a whole file or nothing: on any failure (disk full included) the old file stays."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise storage_error(path, error) from error
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
        fsync_dir(path.parent)
    except OSError as error:
        Path(tmp_name).unlink(missing_ok=True)
        raise storage_error(path, error) from error
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_lines(path: Path, lines: Iterable[str]) -> None:
    """A whole file of lines, atomically (streamed to a temporary file, then renamed)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise storage_error(path, error) from error


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
