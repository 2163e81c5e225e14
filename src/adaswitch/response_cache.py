"""A response cache keyed by model identity and the whole request, stored in SQLite.

The model is named by :attr:`adaswitch.model.Model.identity` (its file's SHA-256 and its
reply-relevant settings, not its name); the request by its full JSON, so every field of it (a field
added later included) separates entries. Only deterministic requests are cached (temperature 0, or a
fixed seed), so a threshold sweep does not pay twice for identical local steps. A hit returns the
original reply, latency included, so cost figures stay those of the method, not of the cache.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

from pydantic import BaseModel


class ResponseCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(model: str, kind: str, request: BaseModel) -> str:
        """The entry of ``request`` (every field of it) sent as ``kind`` to the model ``model`` (an identity)."""
        text = f"{model}\x00{kind}\x00{type(request).__name__}\x00{request.model_dump_json()}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
            return row[0]

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()
