"""Request cache keyed by request content, so re-runs and resumed runs do not pay twice.

SQLite in WAL mode: one file, crash-safe, readable while written, no server. Each write commits at
once (about 20 us here): a transaction held open across requests would lock out every other
connection to the file, e.g. a second client of the same run or a parallel run sharing the cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any


def request_key(kind: str, model: str, payload: dict[str, Any], salt: str | None = None) -> str:
    """Hash of everything that changes the answer: kind, model, messages, tools, sampling."""
    canonical = json.dumps(
        {"kind": kind, "model": model, "payload": payload, "salt": salt},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RequestCache:
    def __init__(self, path: Path, *, commit_every: int = 1) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._pending = 0
        self._commit_every = max(1, commit_every)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, body: dict[str, Any]) -> None:
        if self._pending == 0:
            self._db.execute("BEGIN")
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, body, created) VALUES (?, ?, ?)",
            (key, json.dumps(body, ensure_ascii=False, separators=(",", ":")), time.time()),
        )
        self._pending += 1
        if self._pending >= self._commit_every:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._db.execute("COMMIT")
            self._pending = 0

    def __len__(self) -> int:
        self.flush()
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self.flush()
        self._db.close()
