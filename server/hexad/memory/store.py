"""Items, their keyword index and their vectors, in the workspace database.

Every write here runs inside the caller's transaction, so an item, its FTS row and its
vectors change together or not at all. Vectors live in one sqlite-vec ``vec0`` table per
vector space (an embedder fingerprint); ``memory_embedded`` records which text (by hash)
each space holds, so anything not yet embedded, or embedded from an older text, is
"pending" and a restart picks it up where a killed process stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hexad.core.db import Connection
from hexad.core.embedding import Embedder, EmbedderWrapper, Vectors, normalise_rows

ITEM_COLUMNS = (
    "id, type, key, path, language, kind, name, qualname, start_line, end_line, "
    "title, doc, body, hash, created, updated"
)


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    type: str  # chunk | note | decision
    key: str
    path: str | None
    language: str | None
    kind: str | None
    name: str | None
    qualname: str | None
    start_line: int | None
    end_line: int | None
    title: str
    doc: str
    body: str
    hash: str
    created: float
    updated: float

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Item:
        return cls(*row)

    def text(self) -> str:
        """What an embedder reads for this item."""
        return "\n".join(p for p in (self.qualname, self.title, self.doc, self.body) if p)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["location"] = self.location
        return data

    @property
    def location(self) -> str | None:
        if self.path is None:
            return None
        return self.path if self.start_line is None else f"{self.path}:{self.start_line + 1}"


@dataclass(frozen=True, slots=True)
class Space:
    id: int
    fingerprint: str
    model: str
    dim: int
    state: str
    table_name: str
    doc_center: bytes | None = None
    query_center: bytes | None = None


class Centered(EmbedderWrapper):
    """An embedder whose vectors are re-centred before normalising.

    Mean-pooled vectors of a generative model point almost the same way (the mean cosine
    between two Django chunks under gemma3-270m is 0.88), which leaves cosine ranking close
    to random. Subtracting the mean document vector from documents and the mean query
    vector from queries (both measured on samples of this workspace when the space is
    created) keeps what distinguishes texts. Same fingerprint: it is the same space.
    """

    def __init__(self, inner: Embedder, doc_center: Vectors, query_center: Vectors) -> None:
        super().__init__(inner)
        self.doc_center = doc_center
        self.query_center = query_center

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return normalise_rows(self.inner.embed_documents(texts) - self.doc_center)

    def embed_query(self, text: str) -> Vectors:
        return normalise_rows(self.inner.embed_query(text) - self.query_center)

    @classmethod
    def for_space(cls, inner: Embedder, space: Space) -> Embedder:
        if space.doc_center is None or space.query_center is None:
            return inner
        return cls(
            inner,
            np.frombuffer(space.doc_center, dtype=np.float32),
            np.frombuffer(space.query_center, dtype=np.float32),
        )


@dataclass(frozen=True, slots=True)
class ItemFields:
    """An item as written: the row's content plus the words keyword search indexes."""

    type: str
    key: str
    hash: str
    fts: tuple[str, str, str, str]  # name, doc, body, path as memory.tokens words
    path: str | None = None
    language: str | None = None
    kind: str | None = None
    name: str | None = None
    qualname: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    title: str = ""
    doc: str = ""
    body: str = ""


class ItemStore:
    """Row-level access; callers own the transactions."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- items -------------------------------------------------------------------------

    def get(self, item_id: int) -> Item | None:
        row = self.conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM memory_items WHERE id = ?", (item_id,)
        ).fetchone()
        return Item.from_row(row) if row else None

    def get_many(self, ids: Iterable[int]) -> dict[int, Item]:
        wanted = list(dict.fromkeys(ids))
        out: dict[int, Item] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM memory_items WHERE id IN ({marks})", part
            ):
                out[row[0]] = Item.from_row(row)
        return out

    def by_key(self, key: str) -> Item | None:
        row = self.conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM memory_items WHERE key = ?", (key,)
        ).fetchone()
        return Item.from_row(row) if row else None

    def upsert(self, fields: ItemFields, *, now: float | None = None) -> tuple[int, bool]:
        """Insert or update by key; returns (id, whether the indexed text changed)."""
        now = time.time() if now is None else now
        row = self.conn.execute(
            "SELECT id, hash FROM memory_items WHERE key = ?", (fields.key,)
        ).fetchone()
        values = (
            fields.path,
            fields.language,
            fields.kind,
            fields.name,
            fields.qualname,
            fields.start_line,
            fields.end_line,
            fields.title,
            fields.doc,
            fields.body,
            fields.hash,
        )
        if row is None:
            cur = self.conn.execute(
                "INSERT INTO memory_items(type, key, path, language, kind, name, qualname,"
                " start_line, end_line, title, doc, body, hash, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (fields.type, fields.key, *values, now, now),
            )
            item_id = int(cur.lastrowid)
            self._write_fts(item_id, fields.fts)
            return item_id, True
        item_id, old_hash = int(row[0]), row[1]
        if old_hash == fields.hash:  # same text; only its place may have moved
            self.conn.execute(
                "UPDATE memory_items SET start_line = ?, end_line = ? WHERE id = ?",
                (fields.start_line, fields.end_line, item_id),
            )
            return item_id, False
        self.conn.execute(
            "UPDATE memory_items SET path = ?, language = ?, kind = ?, name = ?, qualname = ?,"
            " start_line = ?, end_line = ?, title = ?, doc = ?, body = ?, hash = ?, updated = ?"
            " WHERE id = ?",
            (*values, now, item_id),
        )
        self.conn.execute("DELETE FROM memory_fts WHERE rowid = ?", (item_id,))
        self._write_fts(item_id, fields.fts)
        return item_id, True

    def _write_fts(self, item_id: int, fts: tuple[str, str, str, str]) -> None:
        self.conn.execute(
            "INSERT INTO memory_fts(rowid, name, doc, body, path) VALUES (?, ?, ?, ?, ?)",
            (item_id, *fts),
        )

    def delete(self, ids: Sequence[int]) -> None:
        """Remove items with their keyword rows and vectors in every space."""
        if not ids:
            return
        spaces = self.spaces(include_retired=False)
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            self.conn.execute(f"DELETE FROM memory_fts WHERE rowid IN ({marks})", part)
            for space in spaces:
                self.conn.execute(
                    f"DELETE FROM {space.table_name} WHERE item_id IN ({marks})", part
                )
                self.conn.execute(
                    f"DELETE FROM memory_embedded WHERE space_id = ? AND item_id IN ({marks})",
                    (space.id, *part),
                )
            self.conn.execute(f"DELETE FROM memory_items WHERE id IN ({marks})", part)
        self.bump_generation()  # mirrors of the vectors must drop the deleted rows

    def sample(self, limit: int, type_: str = "chunk") -> list[Item]:
        """Up to ``limit`` items spread over the table, the same ones every time."""
        rows = self.conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM memory_items WHERE type = ?"
            " ORDER BY (id * 2654435761) % 4294967296 LIMIT ?",
            (type_, limit),
        ).fetchall()
        return [Item.from_row(r) for r in rows]

    def count(self, type_: str | None = None) -> int:
        if type_ is None:
            return int(self.conn.execute("SELECT count(*) FROM memory_items").fetchone()[0])
        return int(
            self.conn.execute(
                "SELECT count(*) FROM memory_items WHERE type = ?", (type_,)
            ).fetchone()[0]
        )

    # -- vector spaces -----------------------------------------------------------------

    def spaces(self, *, include_retired: bool = True) -> list[Space]:
        where = "" if include_retired else " WHERE state != 'retired'"
        return [
            Space(*row)
            for row in self.conn.execute(
                "SELECT id, fingerprint, model, dim, state, table_name, doc_center, query_center"
                " FROM memory_spaces" + where + " ORDER BY id"
            )
        ]

    def active_space(self) -> Space | None:
        for space in self.spaces(include_retired=False):
            if space.state == "active":
                return space
        return None

    def space(self, fingerprint: str) -> Space | None:
        for space in self.spaces():
            if space.fingerprint == fingerprint:
                return space
        return None

    def create_space(self, fingerprint: str, model: str, dim: int) -> Space:
        """A new space in state 'building' with its vec0 table (or the existing one)."""
        existing = self.space(fingerprint)
        if existing is not None and existing.state != "retired":
            return existing
        if existing is not None:  # retired earlier: start it again from nothing
            self.conn.execute("DELETE FROM memory_spaces WHERE id = ?", (existing.id,))
        cur = self.conn.execute(
            "INSERT INTO memory_spaces(fingerprint, model, dim, state, table_name, created)"
            " VALUES (?, ?, ?, 'building', '', ?)",
            (fingerprint, model, dim, time.time()),
        )
        space_id = int(cur.lastrowid)
        table = f"memory_vec_{space_id}"
        self.conn.execute(
            f"CREATE VIRTUAL TABLE {table} USING vec0("
            f"item_id INTEGER PRIMARY KEY, embedding float[{int(dim)}] distance_metric=cosine,"
            " type TEXT, language TEXT, kind TEXT)"
        )
        self.conn.execute("UPDATE memory_spaces SET table_name = ? WHERE id = ?", (table, space_id))
        return Space(space_id, fingerprint, model, dim, "building", table)

    def set_centers(self, space: Space, doc_center: Vectors, query_center: Vectors) -> Space:
        doc = np.asarray(doc_center, dtype=np.float32).tobytes()
        query = np.asarray(query_center, dtype=np.float32).tobytes()
        self.conn.execute(
            "UPDATE memory_spaces SET doc_center = ?, query_center = ? WHERE id = ?",
            (doc, query, space.id),
        )
        return replace(space, doc_center=doc, query_center=query)

    def activate(self, space: Space) -> None:
        """Make ``space`` the one searched; retire (and drop) every other."""
        for other in self.spaces(include_retired=False):
            if other.id != space.id:
                self.retire(other)
        self.conn.execute("UPDATE memory_spaces SET state = 'active' WHERE id = ?", (space.id,))
        self.bump_generation()

    def retire(self, space: Space) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {space.table_name}")
        self.conn.execute("DELETE FROM memory_embedded WHERE space_id = ?", (space.id,))
        self.conn.execute("UPDATE memory_spaces SET state = 'retired' WHERE id = ?", (space.id,))
        self.conn.execute("DELETE FROM memory_models WHERE name = ?", (space.fingerprint,))

    def pending(self, space: Space, limit: int) -> list[Item]:
        """Items whose current text has no vector in ``space`` yet."""
        rows = self.conn.execute(
            f"SELECT {', '.join('i.' + c for c in ITEM_COLUMNS.split(', '))}"
            " FROM memory_items i LEFT JOIN memory_embedded e"
            " ON e.space_id = ? AND e.item_id = i.id"
            " WHERE e.hash IS NULL OR e.hash != i.hash ORDER BY i.id LIMIT ?",
            (space.id, limit),
        ).fetchall()
        return [Item.from_row(r) for r in rows]

    def pending_count(self, space: Space) -> int:
        return int(
            self.conn.execute(
                "SELECT count(*) FROM memory_items i LEFT JOIN memory_embedded e"
                " ON e.space_id = ? AND e.item_id = i.id"
                " WHERE e.hash IS NULL OR e.hash != i.hash",
                (space.id,),
            ).fetchone()[0]
        )

    def write_vectors(self, space: Space, items: Sequence[Item], vectors: Vectors) -> None:
        if not items:
            return
        ids = [item.id for item in items]
        marks = ",".join("?" * len(ids))
        self.conn.execute(f"DELETE FROM {space.table_name} WHERE item_id IN ({marks})", ids)
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        self.conn.executemany(
            f"INSERT INTO {space.table_name}(item_id, embedding, type, language, kind)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (item.id, matrix[i].tobytes(), item.type, item.language or "", item.kind or "")
                for i, item in enumerate(items)
            ],
        )
        self.conn.executemany(
            "INSERT OR REPLACE INTO memory_embedded(space_id, item_id, hash) VALUES (?, ?, ?)",
            [(space.id, item.id, item.hash) for item in items],
        )
        if space.state == "active":
            self.bump_generation()

    # -- bookkeeping -------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: object) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, text))

    def generation(self) -> int:
        """Bumped whenever the active space's vectors change; readers cache by it."""
        return int(self.meta("memory.generation") or 0)

    def bump_generation(self) -> None:
        self.set_meta("memory.generation", str(self.generation() + 1))
