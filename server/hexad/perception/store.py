"""Write extracted facts into the workspace database, keeping resolution invalidation exact.

A file's rows are replaced as a whole. Before its symbols go, every reference that pointed
at them (or that might now resolve differently because it names one of them, or because
its file imports this one) is marked pending, so the resolver revisits just those.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hexad.core.db import Connection
from hexad.perception.facts import FileFacts, RefFact
from hexad.perception.resolve import Resolver

_UNCERTAIN = "('unique', 'ambiguous', 'unresolved')"


class FactWriter:
    """Replaces files' rows inside the caller's transaction; ids are assigned here."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.touched_names: set[str] = set()
        self.module_set_changed = False
        # files written whose references wait for every symbol of the run to be known
        self.deferred: list[tuple[int, str, int, list[RefFact]]] = []

    def invalidate_file(self, file_id: int, new: FileFacts | None = None) -> None:
        """Mark pending every reference whose resolution may depend on this file.

        References that pointed at its symbols always (their rows are replaced). With the
        file's ``new`` facts at hand the rest is narrowed to what really changed: only
        names whose number of definitions changed can flip other files' unique, ambiguous
        or unresolved calls, and importers only need another look when the file's
        top-level names or its own imports (re-exports) changed. An edit inside a
        function body therefore invalidates almost nothing.
        """
        conn = self.conn
        old_names = conn.execute(
            "SELECT name, parent_id IS NULL, kind FROM symbols WHERE file_id = ?", (file_id,)
        ).fetchall()
        conn.execute(
            "UPDATE refs SET resolution = NULL, target_id = NULL WHERE target_id IN "
            "(SELECT id FROM symbols WHERE file_id = ?)",
            (file_id,),
        )
        if new is None:
            self.touched_names.update(name for name, _top, _kind in old_names)
            exports_changed = True
        else:
            before = Counter((name, kind) for name, _top, kind in old_names)
            after = Counter((s.name, s.kind) for s in new.symbols)
            self.touched_names.update(
                k[0] for k in before.keys() | after.keys() if before[k] != after[k]
            )
            old_imports = Counter(
                conn.execute(
                    "SELECT source, name, alias, wildcard FROM imports WHERE file_id = ?",
                    (file_id,),
                ).fetchall()
            )
            new_imports = Counter((i.source, i.name, i.alias, int(i.wildcard)) for i in new.imports)
            exports_changed = old_imports != new_imports or {
                n for n, top, _k in old_names if top
            } != {s.name for s in new.symbols if s.parent < 0}
        if exports_changed:
            conn.execute(
                "UPDATE refs SET resolution = NULL WHERE file_id IN "
                "(SELECT file_id FROM imports WHERE target_file_id = ?) AND resolution IS NOT NULL",
                (file_id,),
            )

    def remove(self, file_ids: Iterable[int]) -> None:
        for file_id in file_ids:
            self.invalidate_file(file_id)
            self.conn.execute("DELETE FROM refs WHERE file_id = ?", (file_id,))
            self.conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
            self.module_set_changed = True

    def write(self, facts: FileFacts, *, defer_refs: bool = True) -> int:
        """Replace the file's rows with ``facts``.

        With ``defer_refs`` (the indexer's way) the references wait for ``flush_refs``;
        without, they go in at once, pending, for the next ``resolve_all``.
        """
        conn = self.conn
        row = conn.execute("SELECT id, module FROM files WHERE path = ?", (facts.path,)).fetchone()
        # A file whose references are still to come is stored without its hash: should the
        # run die before they are written, the next run sees it as changed and redoes it.
        defer = defer_refs and bool(facts.refs)
        values = (
            facts.language,
            facts.module,
            None if defer else facts.hash,
            facts.size,
            facts.mtime_ns,
            facts.line_count,
            facts.parse_errors,
            facts.skip_reason,
        )
        if row is None:
            file_id = conn.execute(
                "INSERT INTO files(language, module, hash, size, mtime_ns, line_count, "
                "parse_errors, skip_reason, path) VALUES (?,?,?,?,?,?,?,?,?)",
                (*values, facts.path),
            ).lastrowid
            # a new file: all its names are new to the workspace (a rewritten file's
            # changed names were worked out exactly by invalidate_file)
            self.touched_names.update(s.name for s in facts.symbols)
            self.module_set_changed = True
        else:
            file_id = row[0]
            if row[1] != facts.module:
                self.module_set_changed = True
            self.invalidate_file(file_id, facts)
            conn.execute("DELETE FROM refs WHERE file_id = ?", (file_id,))
            conn.execute("DELETE FROM imports WHERE file_id = ?", (file_id,))
            conn.execute("DELETE FROM symbols WHERE file_id = ?", (file_id,))
            conn.execute(
                "UPDATE files SET language=?, module=?, hash=?, size=?, mtime_ns=?, line_count=?, "
                "parse_errors=?, skip_reason=? WHERE id=?",
                (*values, file_id),
            )
        # ids are taken afresh for every file: others may write between two of ours
        base = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM symbols").fetchone()[0]
        conn.executemany(
            "INSERT INTO symbols(id, file_id, parent_id, name, kind, qualname, start_line, "
            "start_col, end_line, end_col, name_line, name_col, name_end_col, signature, doc, "
            "exported) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    base + i,
                    file_id,
                    base + s.parent if s.parent >= 0 else None,
                    s.name,
                    s.kind,
                    s.qualname,
                    s.start[0],
                    s.start[1],
                    s.end[0],
                    s.end[1],
                    s.name_start[0],
                    s.name_start[1],
                    s.name_end_col,
                    s.signature,
                    s.doc,
                    int(s.exported),
                )
                for i, s in enumerate(facts.symbols)
            ],
        )
        if defer:
            self.deferred.append((int(file_id), facts.hash, base, facts.refs))
        elif facts.refs:
            conn.executemany(
                "INSERT INTO refs(file_id, scope_id, name, kind, receiver, line, col, end_col) "
                "VALUES (?,?,?,?,?,?,?,?)",
                [
                    (file_id, base + r.scope if r.scope >= 0 else None, r.name, r.kind,
                     r.receiver, r.line, r.col, r.end_col)
                    for r in facts.refs
                ],
            )  # fmt: skip
        conn.executemany(
            "INSERT INTO imports(file_id, source, name, alias, wildcard, line) "
            "VALUES (?,?,?,?,?,?)",
            [(file_id, i.source, i.name, i.alias, int(i.wildcard), i.line) for i in facts.imports],
        )
        return int(file_id)

    def flush_refs(self, resolver: Resolver, max_files: int) -> int:
        """Insert the references of up to ``max_files`` deferred files, already resolved,
        and give those files their hashes; call inside a transaction."""
        chunk, self.deferred = self.deferred[:max_files], self.deferred[max_files:]
        rows = []
        for file_id, _hash, base, refs in chunk:
            for r in refs:
                scope = base + r.scope if r.scope >= 0 else None
                res = resolver.resolve(file_id, scope, r.name, r.kind, r.receiver)
                rows.append(
                    (file_id, scope, r.name, r.kind, r.receiver, r.line, r.col, r.end_col,
                     res.target, res.module, res.kind, res.candidates)
                )  # fmt: skip
        self.conn.executemany(
            "INSERT INTO refs(file_id, scope_id, name, kind, receiver, line, col, end_col, "
            "target_id, target_module, resolution, candidates) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        self.conn.executemany(
            "UPDATE files SET hash = ? WHERE id = ?", [(h, fid) for fid, h, _b, _r in chunk]
        )
        return len(rows)

    def finish(self) -> None:
        """Mark what this batch may have changed for the resolver, in the batch's transaction.

        Names defined or removed here may change how other files' calls resolve; files that
        came, went or changed module may change where imports lead. Both are recorded in the
        same transaction as the facts, so a run killed before resolving loses neither.
        """
        if self.module_set_changed:
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('modules_changed', '1')"
            )
            self.module_set_changed = False
        names = list(self.touched_names)
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            marks = ",".join("?" * len(chunk))
            self.conn.execute(
                f"UPDATE refs SET resolution = NULL WHERE resolution IN {_UNCERTAIN} "
                f"AND name IN ({marks})",
                chunk,
            )
        self.touched_names.clear()
