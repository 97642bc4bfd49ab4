"""Durable JSONL record files that survive a kill at any instant.

Each record is written as one line and flushed to the OS immediately, so a killed process (SIGKILL
included) loses nothing it reported as written; fsync runs in groups (every `fsync_every` records
and on close) because one fsync per record would cap a stage at a few hundred records a second,
and only an OS crash can lose flushed-but-unsynced data. A line cut short by a kill mid-write is
detected on reopen and truncated away, so resumed stages never read half a record and never write
one twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from looptool.errors import InputError, LoopToolError
from looptool.store.atomic import storage_error


def repair_torn_tail(path: Path) -> int:
    """Cut a final line that lacks its newline (a write interrupted by a kill). Returns bytes cut."""
    path = Path(path)
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Walk back to the previous newline in blocks.
        block = 65536
        position = size
        cut_at = 0
        while position > 0:
            start = max(0, position - block)
            handle.seek(start)
            chunk = handle.read(position - start)
            index = chunk.rfind(b"\n")
            if index >= 0:
                cut_at = start + index + 1
                break
            position = start
        handle.truncate(cut_at)
        handle.flush()
        os.fsync(handle.fileno())
        return size - cut_at


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Stream records; a corrupt complete line is an input error naming file and line."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                return  # torn tail from a kill; ignored until the writer repairs it
            stripped = line.strip()
            if not stripped:
                continue
            try:
                yield json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{line_number}: not valid JSON ({exc.msg})") from exc


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return list(iter_jsonl(path))


class JsonlWriter:
    """Append-only record file; `keys` holds the ids already present so callers can skip them.

    Lines go to the file with one unbuffered write each. A write that fails (disk full, I/O
    error) is cut back to the last complete line before a StorageError names the file and the
    cause: a failed write never leaves half a record behind, and nothing buffered is retried
    behind the caller's back."""

    def __init__(self, path: Path, *, key: str | None = "id", fsync_every: int = 256) -> None:
        self.path = Path(path)
        self.key = key
        self.keys: set[str] = set()
        self.count = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            repair_torn_tail(self.path)
            if self.path.exists():
                for record in iter_jsonl(self.path):
                    self.count += 1
                    if key is not None and key in record:
                        self.keys.add(str(record[key]))
            self._handle = open(self.path, "ab", buffering=0)
        except OSError as error:
            raise storage_error(self.path, error) from error
        self._fsync_every = max(1, fsync_every)
        self._unsynced = 0

    def __contains__(self, record_id: object) -> bool:
        return str(record_id) in self.keys

    def write(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        fd = self._handle.fileno()
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                written = self._handle.write(view)
                view = view[written or 0 :]
        except OSError as error:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass  # the torn tail is cut on the next open (repair_torn_tail)
            raise storage_error(self.path, error) from error
        self.count += 1
        if self.key is not None and self.key in record:
            self.keys.add(str(record[self.key]))
        self._unsynced += 1
        if self._unsynced >= self._fsync_every:
            self.sync()

    def sync(self) -> None:
        if self._unsynced:
            try:
                os.fsync(self._handle.fileno())
            except OSError as error:
                raise storage_error(self.path, error) from error
            self._unsynced = 0

    def close(self) -> None:
        if not self._handle.closed:
            try:
                self.sync()
            finally:
                self._handle.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        try:
            self.close()
        except LoopToolError:
            if error is None:
                raise  # otherwise the error already on its way says more
