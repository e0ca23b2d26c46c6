"""Memory as the other layers use it: one object per workspace database connection."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hexad.core.db import Connection, connect, database_path, transaction
from hexad.core.embedding import Embedder
from hexad.memory.records import Records
from hexad.memory.search import Filters, Mode, Recall, Searcher
from hexad.memory.store import Centered, ItemStore, Space
from hexad.memory.sync import EMBED_BATCH, MemorySync, Progress, SyncReport


class Memory:
    """Sync, recall, notes, decisions and plan runs over one connection.

    ``embedder`` is a configured model (e.g. llama.cpp embeddings); without one, memory
    trains and uses the workspace's own embedding. ``mirror`` keeps the active vectors in
    process memory for fast repeated queries (long-lived processes such as the server).
    """

    def __init__(
        self,
        conn: Connection,
        root: Path,
        embedder: Embedder | None = None,
        *,
        mirror: bool = False,
    ) -> None:
        self.conn = conn
        self.root = root
        self.embedder = embedder
        self.items = ItemStore(conn)
        self.records = Records(conn)
        self._sync = MemorySync(conn, root, embedder)
        self._searcher = Searcher(conn, self.embedder_for, mirror=mirror)
        self._models: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    def embedder_for(self, space: Space) -> Embedder | None:
        """The embedder whose vectors fill ``space`` (queries must use the same one)."""
        if self.embedder is not None and self.embedder.fingerprint == space.fingerprint:
            return Centered.for_space(self.embedder, space)
        with self._lock:
            model = self._models.get(space.fingerprint)
            if model is None:
                model = self._sync.workspace_model(space.fingerprint)
                if model is None:
                    return None
                self._models = {space.fingerprint: model}
            return model

    def sync(self, progress: Progress | None = None) -> SyncReport:
        return self._sync.run(progress)

    def embed_pending(self) -> int:
        """Embed what is new (a note, a decision) into the active space, without a full
        sync or training; returns how many items got vectors."""
        space = self.items.active_space()
        embedder = None if space is None else self.embedder_for(space)
        if space is None or embedder is None:
            return 0  # the next sync embeds them
        done = 0
        while items := self.items.pending(space, EMBED_BATCH):
            vectors = embedder.embed_documents([item.text() for item in items])
            with transaction(self.conn):
                self.items.write_vectors(space, items, vectors)
            done += len(items)
        return done

    def recall(
        self,
        query: str,
        k: int = 10,
        *,
        mode: Mode = "hybrid",
        types: tuple[str, ...] = (),
        kinds: tuple[str, ...] = (),
        languages: tuple[str, ...] = (),
        path_glob: str | None = None,
    ) -> list[Recall]:
        filters = Filters(types, kinds, languages, path_glob)
        return self._searcher.recall(query, k, mode=mode, filters=filters)

    def stats(self) -> dict[str, Any]:
        counts = dict(
            self.conn.execute("SELECT type, count(*) FROM memory_items GROUP BY type").fetchall()
        )
        spaces = []
        for space in self.items.spaces(include_retired=False):
            vectors = self.conn.execute(
                "SELECT count(*) FROM memory_embedded WHERE space_id = ?", (space.id,)
            ).fetchone()[0]
            spaces.append(
                {
                    "model": space.model,
                    "dim": space.dim,
                    "state": space.state,
                    "vectors": int(vectors),
                    "pending": self.items.pending_count(space),
                    "fingerprint": space.fingerprint,
                }
            )
        statuses = dict(
            self.conn.execute(
                "SELECT status, count(*) FROM memory_decisions GROUP BY status"
            ).fetchall()
        )
        files = self.conn.execute("SELECT count(*) FROM memory_files").fetchone()[0]
        return {
            "chunks": int(counts.get("chunk", 0)),
            "notes": int(counts.get("note", 0)),
            "decisions": {"total": int(counts.get("decision", 0)), **statuses},
            "files": int(files),
            "spaces": spaces,
            "plan_runs": int(
                self.conn.execute("SELECT count(*) FROM memory_plan_runs").fetchone()[0]
            ),
        }


def open_memory(
    workspace: Path, embedder: Embedder | None = None, *, mirror: bool = False
) -> Memory:
    """Memory over the workspace database (created and migrated if needed)."""
    return Memory(connect(database_path(workspace)), workspace, embedder, mirror=mirror)
