"""Keep memory's code chunks and vectors in step with the structural index.

Two resumable passes, each committing in small transactions:

1. **Chunks.** A file whose indexed content hash differs from the one its chunks were built
   from (``memory_files``) is re-chunked; only chunks whose text hash changed are rewritten.
   The file's mark is written in the same transaction as its chunks, so a kill -9 leaves
   either the old chunks and the old mark or the new ones and the new mark; the next run
   repairs whatever is behind. A file open with unsaved edits (its indexed hash is not the
   disk's) waits until the buffer and the disk agree.
2. **Vectors.** Every item whose text has no vector in the target space is embedded, in
   batches. The target is the configured embedder, or the workspace's own model — trained
   on first use, retrained when the code has drifted from its vocabulary. A new model
   fills a new space while searches keep using the old one, then takes over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hexad.core.db import Connection, transaction
from hexad.core.embedding import Embedder, Vectors
from hexad.core.hashing import content_hash
from hexad.memory.chunks import Chunk, SymbolRow, build_chunks
from hexad.memory.embedding import WorkspaceEmbedder
from hexad.memory.store import Centered, ItemFields, ItemStore

log = logging.getLogger(__name__)

BATCH_FILES = 64
EMBED_BATCH = 256
RETRAIN_CHANGED_SHARE = 0.25  # retrain after this share of items changed since training
RETRAIN_DRIFT = 0.15  # ... or when new text has this share of words the model never saw
WORKSPACE_MODEL_DIM = 128
CENTER_SAMPLE = 64  # texts embedded to centre a configured model's space

Progress = Callable[[str, int, int], None]  # phase, done, total


@dataclass(slots=True)
class SyncReport:
    files_synced: int = 0
    files_waiting: int = 0  # indexed from an unsaved buffer: synced once saved
    files_removed: int = 0
    chunks_added: int = 0
    chunks_changed: int = 0
    chunks_removed: int = 0
    chunks_unchanged: int = 0
    embedded: int = 0
    trained: bool = False
    model: str = ""
    space: str = ""
    phases: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


class MemorySync:
    def __init__(
        self,
        conn: Connection,
        root: Path,
        embedder: Embedder | None = None,
        *,
        include_doc: Callable[[Chunk], bool] | None = None,
        model_dim: int = WORKSPACE_MODEL_DIM,
    ) -> None:
        self.conn = conn
        self.root = root
        self.store = ItemStore(conn)
        self.configured = embedder
        self.include_doc = include_doc
        self.model_dim = model_dim

    # -- pass 1: chunks ----------------------------------------------------------------

    def sync_chunks(self, report: SyncReport, progress: Progress | None = None) -> None:
        indexed = {
            path: (digest, language)
            for path, digest, language in self.conn.execute(
                "SELECT path, hash, language FROM files"
                " WHERE hash IS NOT NULL AND skip_reason IS NULL AND language IS NOT NULL"
            )
        }
        synced = dict(self.conn.execute("SELECT path, hash FROM memory_files").fetchall())
        changed = sorted(p for p, (digest, _) in indexed.items() if synced.get(p) != digest)
        removed = sorted(p for p in synced if p not in indexed)
        total = len(changed) + len(removed)
        done = 0
        for start in range(0, len(changed), BATCH_FILES):
            batch = changed[start : start + BATCH_FILES]
            built = [self._chunks_of(path, *indexed[path]) for path in batch]
            with transaction(self.conn):
                for path, chunks in zip(batch, built, strict=True):
                    if chunks is None:
                        report.files_waiting += 1
                        continue
                    self._replace_file(path, chunks, report)
                    self.conn.execute(
                        "INSERT OR REPLACE INTO memory_files(path, hash) VALUES (?, ?)",
                        (path, indexed[path][0]),
                    )
                    report.files_synced += 1
            done += len(batch)
            if progress:
                progress("chunks", done, total)
        if removed:
            with transaction(self.conn):
                for path in removed:
                    self._replace_file(path, [], report)
                    self.conn.execute("DELETE FROM memory_files WHERE path = ?", (path,))
                    report.files_removed += 1
            if progress:
                progress("chunks", total, total)

    def _chunks_of(self, path: str, digest: str, language: str) -> list[Chunk] | None:
        try:
            data = (self.root / path).read_bytes()
        except OSError:
            return [] if not (self.root / path).exists() else None
        if content_hash(data) != digest:
            return None  # the index holds an unsaved buffer, or the disk moved on
        text = data.decode("utf-8", "replace")
        rows = [
            SymbolRow(*row)
            for row in self.conn.execute(
                "SELECT s.id, s.parent_id, s.name, s.kind, s.qualname, s.start_line,"
                " s.end_line, s.signature, s.doc FROM symbols s JOIN files f"
                " ON f.id = s.file_id WHERE f.path = ?",
                (path,),
            )
        ]
        chunks = build_chunks(path, language, text, rows)
        if self.include_doc is not None:
            chunks = [c if self.include_doc(c) else _without_doc(c) for c in chunks]
        return chunks

    def _replace_file(self, path: str, chunks: Sequence[Chunk], report: SyncReport) -> None:
        # "+type": keep SQLite on the path index (the type index made this a full scan)
        old = dict(
            self.conn.execute(
                "SELECT key, id FROM memory_items WHERE +type = 'chunk' AND path = ?", (path,)
            ).fetchall()
        )
        for chunk in chunks:
            existed = chunk.key in old
            old.pop(chunk.key, None)
            _, changed = self.store.upsert(chunk_fields(chunk))
            if not existed:
                report.chunks_added += 1
            elif changed:
                report.chunks_changed += 1
            else:
                report.chunks_unchanged += 1
        if old:
            self.store.delete(list(old.values()))
            report.chunks_removed += len(old)

    # -- pass 2: vectors ---------------------------------------------------------------

    def target_embedder(self, report: SyncReport) -> Embedder:
        """The configured embedder, or the workspace model (trained or retrained here)."""
        if self.configured is not None:
            return self.configured
        current = self.workspace_model()
        if current is None or self._should_retrain(current):
            started = time.perf_counter()
            texts = [
                row[0]
                for row in self.conn.execute(
                    "SELECT trim(coalesce(qualname, '') || char(10) || title || char(10) ||"
                    " doc || char(10) || body) FROM memory_items"
                )
            ]
            model = WorkspaceEmbedder.train(texts, dim=self.model_dim)
            with transaction(self.conn):
                self.conn.execute(
                    "INSERT OR REPLACE INTO memory_models(name, fingerprint, data, trained_on,"
                    " created) VALUES (?, ?, ?, ?, ?)",
                    (
                        model.fingerprint,
                        model.fingerprint,
                        model.to_bytes(),
                        len(texts),
                        time.time(),
                    ),
                )
                self.store.set_meta("memory.changed_since_training", "0")
            report.trained = True
            report.phases["train"] = time.perf_counter() - started
            log.info(
                "trained the workspace embedding on %d items (%d words) in %.1fs",
                len(texts),
                model.vocabulary_size,
                report.phases["train"],
            )
            return model
        return current

    def workspace_model(self, fingerprint: str | None = None) -> WorkspaceEmbedder | None:
        """The persisted workspace model: the active space's, or the newest one."""
        if fingerprint is None:
            row = self.conn.execute(
                "SELECT data FROM memory_models ORDER BY created DESC LIMIT 1"
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT data FROM memory_models WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()
        return None if row is None else WorkspaceEmbedder.from_bytes(bytes(row[0]))

    def _should_retrain(self, model: WorkspaceEmbedder) -> bool:
        """Retrain once a quarter of the items changed since training, or sooner when the
        new text is full of words the model never saw."""
        space = self.store.space(model.fingerprint)
        if space is None:
            return True
        pending = self.store.pending_count(space)
        changed = int(self.store.meta("memory.changed_since_training") or 0) + pending
        if changed / max(self.store.count(), 1) >= RETRAIN_CHANGED_SHARE:
            return True
        if pending < 50:
            return False
        sample = [item.text() for item in self.store.pending(space, 500)]
        return model.drift(sample) >= RETRAIN_DRIFT

    def embed_pending(self, report: SyncReport, progress: Progress | None = None) -> None:
        started = time.perf_counter()
        embedder = self.target_embedder(report)
        with transaction(self.conn):
            space = self.store.create_space(embedder.fingerprint, embedder.name, embedder.dim)
        if self.configured is not None:  # a model's own vectors: centre them (see Centered)
            if space.doc_center is None:
                doc_center, query_center = self._centers(embedder)
                with transaction(self.conn):
                    space = self.store.set_centers(space, doc_center, query_center)
            embedder = Centered.for_space(embedder, space)
        report.model = embedder.name
        report.space = space.table_name
        total = self.store.pending_count(space)
        done = 0
        while True:
            items = self.store.pending(space, EMBED_BATCH)
            if not items:
                break
            vectors = embedder.embed_documents([item.text() for item in items])
            with transaction(self.conn):
                self.store.write_vectors(space, items, vectors)
                if space.state == "active":  # drift since training, for _should_retrain
                    changed = int(self.store.meta("memory.changed_since_training") or 0)
                    self.store.set_meta("memory.changed_since_training", str(changed + len(items)))
            done += len(items)
            report.embedded += len(items)
            if progress:
                progress("embed", done, total)
        if space.state != "active":
            with transaction(self.conn):
                self.store.activate(space)
            log.info(
                "memory now searches %s (%s, %d dims)", space.table_name, space.model, space.dim
            )
        report.phases["embed"] = time.perf_counter() - started

    def _centers(self, embedder: Embedder) -> tuple[Vectors, Vectors]:
        """Mean vectors of a sample of this workspace's chunks and of query-like texts
        (first lines of its docstrings, else symbol names), spread over the workspace."""
        docs = [item.text() for item in self.store.sample(CENTER_SAMPLE)]
        queries = [
            row[0]
            for row in self.conn.execute(
                "SELECT CASE WHEN doc != ''"
                " THEN substr(doc, 1, instr(doc || char(10), char(10)) - 1)"
                " ELSE replace(coalesce(name, ''), '_', ' ') END FROM memory_items"
                " WHERE type = 'chunk' ORDER BY (id * 2654435761) % 4294967296 LIMIT ?",
                (CENTER_SAMPLE,),
            )
            if row[0]
        ]
        dim = embedder.dim
        doc_center = (
            embedder.embed_documents(docs).mean(axis=0) if docs else np.zeros(dim, np.float32)
        )
        query_vectors = [embedder.embed_query(q) for q in queries]
        query_center = (
            np.mean(query_vectors, axis=0) if query_vectors else np.zeros(dim, np.float32)
        )
        return doc_center.astype(np.float32), np.asarray(query_center, dtype=np.float32)

    def run(self, progress: Progress | None = None) -> SyncReport:
        report = SyncReport()
        started = time.perf_counter()
        self.sync_chunks(report, progress)
        report.phases["chunks"] = time.perf_counter() - started
        self.embed_pending(report, progress)
        return report


def _without_doc(chunk: Chunk) -> Chunk:
    return replace(chunk, doc="")


def chunk_fields(chunk: Chunk) -> ItemFields:
    return ItemFields(
        type="chunk",
        key=chunk.key,
        hash=chunk.hash,
        fts=chunk.fts_columns(),
        path=chunk.path,
        language=chunk.language,
        kind=chunk.kind,
        name=chunk.name,
        qualname=chunk.qualname,
        start_line=chunk.start_line,
        end_line=chunk.end_line,
        title=chunk.signature,
        doc=chunk.doc,
        body=chunk.body,
    )
