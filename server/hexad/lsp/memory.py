"""Memory inside the server: background sync after each index run, and locked recall.

Sync runs on its own thread and connection, one run at a time; index runs that finish
while it works coalesce into one more run. Searches and notes share a second connection
under a lock, with the active vectors mirrored in process memory for fast queries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hexad.core.db import connect, database_path
from hexad.core.embedding import Embedder
from hexad.memory import Memory, Note, Recall, SyncReport

log = logging.getLogger(__name__)


class MemoryWorker:
    def __init__(
        self,
        root: Path,
        embedder: Embedder | None,
        listener: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.root = root
        self.listener = listener
        self._writer = Memory(connect(database_path(root)), root, embedder)
        # the writer's connect() has checked and migrated the file; the reader need not
        self._reader = Memory(
            connect(database_path(root), migrate=False), root, embedder, mirror=True
        )
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hexad-memory")
        self._state = threading.Lock()
        self._running: Future[SyncReport | None] | None = None
        self._again = False
        self.last_report: SyncReport | None = None

    def request_sync(self) -> Future[SyncReport | None]:
        """Sync soon; while a run is going, one more run follows it."""
        with self._state:
            if self._running is not None and not self._running.done():
                self._again = True
                return self._running
            self._running = self._pool.submit(self._sync)
            return self._running

    def _sync(self) -> SyncReport | None:
        report: SyncReport | None = None
        while True:
            try:
                report = self._writer.sync()
            except Exception as exc:  # a failed sync must not take the server down
                log.exception("memory sync failed")
                self.listener("error", {"message": f"Hexad memory sync failed: {exc}"})
                return None
            self.last_report = report
            self.listener("synced", report.to_json())
            with self._state:
                if not self._again:
                    return report
                self._again = False

    def reader_memory(self) -> LockedMemory:
        """The reader's recall and notes for other services, under this worker's lock."""
        return LockedMemory(self._reader, self._lock)

    def recall(self, query: str, k: int, **filters: Any) -> list[Recall]:
        with self._lock:
            return self._reader.recall(query, k, **filters)

    def remember(self, text: str, scope: str) -> Note:
        with self._lock:
            note = self._reader.records.remember(text, scope=scope)
            self._reader.embed_pending()
            return note

    def forget(self, note_id: int) -> bool:
        with self._lock:
            return self._reader.records.forget(note_id)

    def notes_for(self, path: str | None, qualname: str | None, name: str | None) -> list[Note]:
        with self._lock:
            return self._reader.records.notes_for(path, qualname, name)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._reader.stats()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._writer.conn.close()
        self._reader.conn.close()


class LockedMemory:
    """What engines read from memory (search, notes), serialised with the worker."""

    def __init__(self, memory: Memory, lock: threading.Lock) -> None:
        self._memory = memory
        self._lock = lock
        self.records = self  # engines ask ``memory.records.notes_for(...)``

    def recall(self, query: str, k: int, **filters: Any) -> list[Recall]:
        with self._lock:
            return self._memory.recall(query, k, **filters)

    def notes_for(self, path: str | None, qualname: str | None, name: str | None) -> list[Note]:
        with self._lock:
            return self._memory.records.notes_for(path, qualname, name)
