"""Request cache keyed by request content, so re-runs and resumed runs do not pay twice.

SQLite in WAL mode: one file, crash-safe, readable while written, no server. Each write commits at
once (about 20 us here): a transaction held open across requests would lock out every other
connection to the file, e.g. a second client of the same run or a parallel run sharing the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from looptool.errors import StorageError


def request_key(kind: str, model: str, payload: dict[str, Any], salt: str | None = None) -> str:
    """Hash of everything that changes the answer: kind, model, messages, tools, sampling."""
    canonical = json.dumps(
        {"kind": kind, "model": model, "payload": payload, "salt": salt},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def os_cause(directory: Path) -> str | None:
    """What the operating system says when we try to write in `directory` (sqlite's own
    messages, "database or disk is full", "unable to open database file", hide it)."""
    try:
        with tempfile.TemporaryFile(dir=directory) as probe:
            probe.write(b"\0" * 65536)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return error.strerror or str(error)
    return None


class RequestCache:
    def __init__(self, path: Path, *, commit_every: int = 1) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body TEXT NOT NULL, created REAL NOT NULL)")
        except (OSError, sqlite3.Error) as error:
            raise self._error(error) from error
        self._pending = 0
        self._commit_every = max(1, commit_every)
        self.hits = 0
        self.misses = 0

    def _error(self, error: BaseException) -> StorageError:
        cause = os_cause(self.path.parent) if self.path.parent.is_dir() else "the directory does not exist"
        sqlite_says = getattr(error, "strerror", None) or str(error)
        if cause:
            return StorageError(f"request cache {self.path}: cannot write: {cause} (sqlite: {sqlite_says})")
        return StorageError(f"request cache {self.path}: {sqlite_says}")

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as error:
            raise self._error(error) from error
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        response: dict[str, Any] = json.loads(row[0])
        return response

    def put(self, key: str, body: dict[str, Any]) -> None:
        try:
            if self._pending == 0:
                self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, body, created) VALUES (?, ?, ?)",
                (key, json.dumps(body, ensure_ascii=False, separators=(",", ":")), time.time()),
            )
        except sqlite3.Error as error:
            self._rollback()
            raise self._error(error) from error
        self._pending += 1
        if self._pending >= self._commit_every:
            self.flush()

    def _rollback(self) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        self._pending = 0

    def flush(self) -> None:
        if self._pending:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise self._error(error) from error
            self._pending = 0

    def __len__(self) -> int:
        self.flush()
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()
