"""Read side of the structural index: symbol search, callers, callees, module graph."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence

from hexad.core.db import Connection
from hexad.core.types import CallEdge, ModuleDeps, Span, Symbol

_SYMBOL_COLUMNS = (
    "s.id, s.name, s.kind, s.qualname, f.path, f.language, s.start_line, s.start_col, "
    "s.end_line, s.end_col, s.name_line, s.name_col, s.name_end_col, s.signature, s.doc, "
    "s.exported, s.parent_id"
)
SYMBOL_SELECT = f"SELECT {_SYMBOL_COLUMNS} FROM symbols s JOIN files f ON f.id = s.file_id"
_PRIMARY = frozenset({"class", "function", "method", "interface", "struct", "constructor"})
LONG_QUERY = 256  # characters: past this a query is checked against the longest name first
_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|[_\-.]+")


def symbol_from_row(row: Sequence[object]) -> Symbol:
    (sid, name, kind, qualname, path, language, sl, sc, el, ec, nl, nc, nec, sig, doc, exp, pid) = (
        row
    )
    return Symbol(
        id=int(sid),  # type: ignore[call-overload]
        name=str(name),
        kind=str(kind),
        qualname=str(qualname),
        path=str(path),
        language=str(language),
        span=Span(int(sl), int(sc), int(el), int(ec)),  # type: ignore[call-overload]
        name_span=Span(int(nl), int(nc), int(nl), int(nec)),  # type: ignore[call-overload]
        signature=str(sig),
        doc=str(doc),
        exported=bool(exp),
        parent_id=int(pid) if pid is not None else None,  # type: ignore[call-overload]
    )


def _boundaries(name: str) -> list[int]:
    """Where words start in an identifier: after _ - . and at camelCase humps."""
    starts = []
    prev = ""
    for i, ch in enumerate(name):
        if ch in "_-.$":
            prev = ch
            continue
        if i == 0 or prev in "_-.$" or (ch.isupper() and (prev.islower() or prev.isdigit())):
            starts.append(i)
        prev = ch
    return starts


def fuzzy_score(query: str, name: str) -> float:
    """How well ``name`` matches what a user typed; 0 means no match.

    Exact beats prefix beats word-boundary initials beats substring beats subsequence.
    """
    if not query:
        return 1.0
    if name == query:
        return 100.0
    q = query.lower()
    n = name.lower()
    if n == q:
        return 95.0
    if n.startswith(q):
        return 80.0 - min(len(n) - len(q), 30) * 0.2
    starts = _boundaries(name)
    initials = "".join(n[i] for i in starts)
    if len(q) > 1 and initials.startswith(q):
        return 65.0
    pos = n.find(q)
    if pos >= 0:
        at_boundary = any(n.startswith(q, i) for i in starts)
        return (58.0 if at_boundary else 50.0) - min(pos, 20) * 0.2
    # subsequence, rewarding tight matches
    i = 0
    gaps = 0
    last = -1
    for ch in q:
        j = n.find(ch, i)
        if j < 0:
            return 0.0
        if last >= 0:
            gaps += j - last - 1
        last = j
        i = j + 1
    return max(1.0, 30.0 - gaps * 0.5)


class NameMatcher:
    """Ranks a fixed set of names against queries; built once per index generation.

    A regular expression over all names joined in one string finds the candidates at C
    speed (every query character in order, within one name); only those are scored.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names), key=str.lower)
        lowered = [n.lower() for n in self.names]
        self._lowered = lowered
        self._blob = "\n".join(lowered)
        self._longest = max(map(len, lowered), default=0)
        self._starts: list[int] = []
        offset = 0
        for n in lowered:
            self._starts.append(offset)
            offset += len(n) + 1

    def match(self, query: str, limit: int) -> list[tuple[float, str]]:
        if not query:
            return [(1.0, n) for n in self.names[:limit]]
        q = query.lower()
        if len(q) > self._longest:  # no name can hold it (and a huge query stays cheap)
            return []
        candidates: Iterable[int]
        if len(q) == 1:  # one character: names that start with it
            lo = bisect.bisect_left(self._lowered, q)
            candidates = range(lo, bisect.bisect_left(self._lowered, q + "\uffff"))
        else:
            pattern = re.compile("[^\n]*?".join(map(re.escape, q)))
            candidates = {
                bisect.bisect_right(self._starts, m.start()) - 1
                for m in pattern.finditer(self._blob)
            }
        scored = [(fuzzy_score(query, self.names[i]), self.names[i]) for i in candidates]
        scored.sort(key=lambda t: (-t[0], len(t[1]), t[1]))
        return [t for t in scored[:limit] if t[0] > 0]


class IndexReader:
    """Queries over one workspace database."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- symbols --------------------------------------------------------------

    def symbol(self, symbol_id: int) -> Symbol | None:
        row = self.conn.execute(f"{SYMBOL_SELECT} WHERE s.id = ?", (symbol_id,)).fetchone()
        return symbol_from_row(row) if row else None

    def symbols_in_file(self, path: str) -> list[Symbol]:
        rows = self.conn.execute(
            f"{SYMBOL_SELECT} WHERE f.path = ? ORDER BY s.start_line, s.start_col", (path,)
        )
        return [symbol_from_row(r) for r in rows]

    def names(self) -> NameMatcher:
        """A matcher over every symbol name (worth caching while the index is unchanged)."""
        return NameMatcher(r[0] for r in self.conn.execute("SELECT DISTINCT name FROM symbols"))

    def search(
        self,
        query: str,
        limit: int = 50,
        kinds: Iterable[str] | None = None,
        matcher: NameMatcher | None = None,
    ) -> list[tuple[Symbol, float]]:
        """Symbols ranked by fuzzy match on their name (or qualified name, with a dot).

        Names are fetched best first, each with a limit, so a common name (hundreds of
        fields called ``model``) cannot crowd out a better one (``Model``).
        """
        kinds = tuple(kinds or ())
        if "." in query or "::" in query:
            return self._search_qualified(query, limit, kinds)
        top = (matcher or self.names()).match(query, limit * 2)
        sql = f"{SYMBOL_SELECT} WHERE s.name = ?"
        if kinds:
            sql += f" AND s.kind IN ({','.join('?' * len(kinds))})"
        sql += " ORDER BY s.exported DESC, length(s.qualname) LIMIT ?"
        results: list[tuple[Symbol, float]] = []
        for score, name in top:
            for row in self.conn.execute(sql, (name, *kinds, limit)):
                sym = symbol_from_row(row)
                bonus = (3.0 if sym.exported else 0.0) + (1.0 if sym.kind in _PRIMARY else 0.0)
                results.append((sym, score + bonus))
            if len(results) >= limit * 2:
                break
        results.sort(key=lambda t: (-t[1], len(t[0].qualname), t[0].qualname))
        return results[:limit]

    def _search_qualified(
        self, query: str, limit: int, kinds: tuple[str, ...]
    ) -> list[tuple[Symbol, float]]:
        if len(query) > LONG_QUERY:
            (longest,) = self.conn.execute("SELECT max(length(qualname)) FROM symbols").fetchone()
            if len(query) > (longest or 0):  # nothing can contain it
                return []
        sql = f"{SYMBOL_SELECT} WHERE s.qualname LIKE ? ESCAPE '\\'"
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params: list[object] = [like]
        if kinds:
            sql += f" AND s.kind IN ({','.join('?' * len(kinds))})"
            params += kinds
        results = []
        for row in self.conn.execute(sql + " LIMIT 2000", params):
            sym = symbol_from_row(row)
            score = (
                100.0 if sym.qualname == query else 90.0 if sym.qualname.endswith(query) else 50.0
            )
            results.append((sym, score))
        results.sort(key=lambda t: (-t[1], len(t[0].qualname)))
        return results[:limit]

    def lookup(self, name: str) -> list[Symbol]:
        """Symbols whose qualified name is ``name``, ends with ``.name``, or whose name is it."""
        rows = self.conn.execute(f"{SYMBOL_SELECT} WHERE s.qualname = ?", (name,)).fetchall()
        if not rows:
            sep_like = "%." + name.replace("%", "").replace("_", "\\_")
            rows = self.conn.execute(
                f"{SYMBOL_SELECT} WHERE s.qualname LIKE ? ESCAPE '\\' "
                "OR s.qualname LIKE ? ESCAPE '\\'",
                (sep_like, "%::" + name.replace("_", "\\_")),
            ).fetchall()
        if not rows:
            rows = self.conn.execute(f"{SYMBOL_SELECT} WHERE s.name = ?", (name,)).fetchall()
        return [symbol_from_row(r) for r in rows]

    # -- call graph -----------------------------------------------------------

    def _edges(self, where: str, params: Sequence[object]) -> list[CallEdge]:
        rows = self.conn.execute(
            "SELECT r.scope_id, r.target_id, r.name, r.receiver, f.path, r.line, r.col, "
            "r.resolution, r.candidates, r.target_module FROM refs r "
            "JOIN files f ON f.id = r.file_id "
            f"WHERE r.kind = 'call' AND {where} ORDER BY f.path, r.line, r.col",
            params,
        ).fetchall()
        ids = {r[0] for r in rows if r[0] is not None} | {r[1] for r in rows if r[1] is not None}
        symbols = self._symbols_by_id(ids)
        return [
            CallEdge(
                caller=symbols.get(scope) if scope is not None else None,
                callee=symbols.get(target) if target is not None else None,
                name=name,
                receiver=receiver,
                path=path,
                line=line,
                col=col,
                resolution=resolution or "pending",
                candidates=candidates,
                target_module=module,
            )
            for (
                scope,
                target,
                name,
                receiver,
                path,
                line,
                col,
                resolution,
                candidates,
                module,
            ) in (rows)
        ]

    def _symbols_by_id(self, ids: set[int]) -> dict[int, Symbol]:
        out: dict[int, Symbol] = {}
        id_list = list(ids)
        for start in range(0, len(id_list), 500):
            chunk = id_list[start : start + 500]
            rows = self.conn.execute(
                f"{SYMBOL_SELECT} WHERE s.id IN ({','.join('?' * len(chunk))})", chunk
            )
            for row in rows:
                sym = symbol_from_row(row)
                out[sym.id] = sym
        return out

    def callers(
        self, targets: Sequence[Symbol], *, include_ambiguous: bool = True
    ) -> list[CallEdge]:
        """Call sites known to reach ``targets``, then (flagged) those that only might."""
        if not targets:
            return []
        ids = [t.id for t in targets]
        marks = ",".join("?" * len(ids))
        edges = self._edges(f"r.target_id IN ({marks})", ids)
        if include_ambiguous:
            names = sorted({t.name for t in targets})
            edges += self._edges(
                f"r.resolution = 'ambiguous' AND r.name IN ({','.join('?' * len(names))})", names
            )
        return edges

    def callees(self, callers: Sequence[Symbol]) -> list[CallEdge]:
        if not callers:
            return []
        ids = [c.id for c in callers]
        return self._edges(f"r.scope_id IN ({','.join('?' * len(ids))})", ids)

    # -- modules --------------------------------------------------------------

    def module_deps(self, path: str) -> ModuleDeps | None:
        row = self.conn.execute("SELECT id, module FROM files WHERE path = ?", (path,)).fetchone()
        if row is None:
            return None
        fid, module = row
        imports = self.conn.execute(
            "SELECT DISTINCT t.path FROM imports i JOIN files t ON t.id = i.target_file_id "
            "WHERE i.file_id = ? ORDER BY 1",
            (fid,),
        ).fetchall()
        imported_by = self.conn.execute(
            "SELECT DISTINCT f.path FROM imports i JOIN files f ON f.id = i.file_id "
            "WHERE i.target_file_id = ? AND i.file_id != ? ORDER BY 1",
            (fid, fid),
        ).fetchall()
        external = self.conn.execute(
            "SELECT DISTINCT external, stdlib FROM imports WHERE file_id = ? "
            "AND external IS NOT NULL AND target_file_id IS NULL ORDER BY 1",
            (fid,),
        ).fetchall()
        return ModuleDeps(
            path=path,
            module=module,
            imports=tuple(r[0] for r in imports),
            imported_by=tuple(r[0] for r in imported_by),
            external=tuple(e for e, std in external if not std),
            stdlib=tuple(e for e, std in external if std),
        )

    def external_packages(self) -> list[tuple[str, int]]:
        """Third-party packages the workspace imports, with how many files import each."""
        return [
            (r[0], r[1])
            for r in self.conn.execute(
                "SELECT external, COUNT(DISTINCT file_id) FROM imports WHERE external IS NOT NULL "
                "AND stdlib = 0 AND target_file_id IS NULL GROUP BY external ORDER BY 2 DESC, 1"
            )
        ]
