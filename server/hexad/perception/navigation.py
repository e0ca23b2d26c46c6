"""Navigation over the index: what is at a position, where it is defined, who uses it.

The index answers at once where it is exact (a definition under the cursor, a reference
resolved locally, through self or an import). Where it is not — an ambiguous method
name, an attribute of an object, a star import — Python files ask jedi, which follows
types; other languages get the candidates the index knows, never a silent guess.
Positions are (line, UTF-8 byte column), 0-based, like the index.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hexad.core.types import CallGroup, HoverInfo, Location, Span, Symbol, SymbolTree
from hexad.perception.index import SYMBOL_SELECT, IndexReader, NameMatcher, symbol_from_row

log = logging.getLogger(__name__)
_RETRY = object()  # a jedi call to make again: its parse cache was repaired

JEDI_BUDGET_S = 3.0  # the most time references spends confirming ambiguous sites
JEDI_MAX_SITES = 400
# jedi is not thread-safe: concurrent Scripts share its caches and its subprocess, and
# answer wrongly or not at all. Requests run on several threads, so jedi runs one at a time.
_JEDI_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class _JediName:
    module_path: str | None
    line: int | None
    column: int | None
    name: str
    is_definition: bool


class Navigator:
    """Answers navigation questions for one workspace."""

    def __init__(
        self,
        root: Path,
        reader: Callable[[], IndexReader],
        line_of: Callable[[str, int], bytes],
        text_of: Callable[[str], str | None],
        *,
        use_jedi: bool = True,
    ) -> None:
        self.root = root
        self._reader = reader
        self.line_of = line_of
        self.text_of = text_of
        self.use_jedi = use_jedi
        self._names: tuple[int, NameMatcher] | None = None

    @property
    def reader(self) -> IndexReader:
        return self._reader()

    # -- outline and search ------------------------------------------------------

    def document_symbols(self, path: str) -> list[SymbolTree]:
        symbols = self.reader.symbols_in_file(path)
        children: dict[int | None, list[Symbol]] = {}
        for sym in symbols:
            children.setdefault(sym.parent_id, []).append(sym)

        def build(sym: Symbol) -> SymbolTree:
            return SymbolTree(sym, tuple(build(c) for c in children.get(sym.id, ())))

        return [build(s) for s in children.get(None, ())]

    def workspace_symbols(self, query: str, generation: int, limit: int = 100) -> list[Symbol]:
        """Fuzzy, ranked; the name matcher is cached per index generation."""
        if self._names is None or self._names[0] != generation:
            self._names = (generation, self.reader.names())
        return [s for s, _score in self.reader.search(query, limit, matcher=self._names[1])]

    # -- what is under the cursor ----------------------------------------------

    def definition_at(self, path: str, line: int, col: int) -> Symbol | None:
        """The definition whose name the position is on."""
        row = self.reader.conn.execute(
            f"{SYMBOL_SELECT} WHERE f.path = ? AND s.name_line = ? AND s.name_col <= ? "
            "AND s.name_end_col >= ? ORDER BY s.name_col DESC LIMIT 1",
            (path, line, col, col),
        ).fetchone()
        return symbol_from_row(row) if row else None

    def ref_at(self, path: str, line: int, col: int) -> dict[str, Any] | None:
        row = self.reader.conn.execute(
            "SELECT r.name, r.kind, r.receiver, r.target_id, r.resolution, r.candidates, "
            "r.target_module, r.line, r.col, r.end_col FROM refs r "
            "JOIN files f ON f.id = r.file_id "
            "WHERE f.path = ? AND r.line = ? AND r.col <= ? AND r.end_col >= ? "
            "ORDER BY r.col DESC LIMIT 1",
            (path, line, col, col),
        ).fetchone()
        if row is None:
            return None
        keys = ("name", "kind", "receiver", "target", "resolution", "candidates", "module",
                "line", "col", "end_col")  # fmt: skip
        return dict(zip(keys, row, strict=True))

    def word_at(self, path: str, line: int, col: int) -> tuple[str, int, int] | None:
        """The identifier around a byte column: (text, start byte, end byte). Letters
        beyond ASCII count (``größe``); invalid bytes never do, and keep their width."""
        raw = self.line_of(path, line)
        if not raw or col > len(raw):
            return None
        text = raw.decode("utf-8", "surrogateescape")
        at = len(raw[:col].decode("utf-8", "surrogateescape"))
        start = at
        while start > 0 and _is_ident(text[start - 1]):
            start -= 1
        end = at
        while end < len(text) and _is_ident(text[end]):
            end += 1
        if start == end:
            return None
        byte_start = len(text[:start].encode("utf-8", "surrogateescape"))
        word = text[start:end]
        return word, byte_start, byte_start + len(word.encode("utf-8"))

    def symbol_at(self, path: str, line: int, col: int) -> Symbol | None:
        """The symbol meant at a position: a definition's name, or what a reference reaches."""
        found = self.definition_at(path, line, col)
        if found is not None:
            return found
        ref = self.ref_at(path, line, col)
        if ref is not None and ref["target"] is not None:
            return self.reader.symbol(ref["target"])
        return None

    # -- definition and references ---------------------------------------------

    def definition(self, path: str, line: int, col: int) -> list[Location]:
        own = self.definition_at(path, line, col)
        if own is not None:
            return [Location(own.path, own.name_span)]
        ref = self.ref_at(path, line, col)
        if ref is not None and ref["target"] is not None:
            target = self.reader.symbol(ref["target"])
            if target is not None:
                return [Location(target.path, target.name_span)]
        if self._jedi_applies(path):
            found = self._jedi_goto(path, line, col)
            if found is not None:
                return found
        word = self.word_at(path, line, col)
        if word is None:
            return []
        candidates = self.reader.conn.execute(
            f"{SYMBOL_SELECT} WHERE s.name = ? LIMIT 50", (word[0],)
        ).fetchall()
        return [Location(s.path, s.name_span) for s in map(symbol_from_row, candidates)]

    def references(
        self, path: str, line: int, col: int, include_declaration: bool = True
    ) -> list[Location]:
        sym = self.symbol_at(path, line, col)
        if sym is None:
            if self._jedi_applies(path):
                return self._jedi_references(path, line, col, include_declaration)
            return []
        conn = self.reader.conn
        rows = conn.execute(
            "SELECT f.path, r.line, r.col, r.end_col FROM refs r JOIN files f ON f.id = r.file_id "
            "WHERE r.target_id = ? ORDER BY f.path, r.line, r.col",
            (sym.id,),
        ).fetchall()
        found = [Location(p, Span(ln, c, ln, e)) for p, ln, c, e in rows]
        if self.use_jedi and sym.language == "python":
            found += self._confirm_ambiguous(sym)
        if include_declaration:
            found.insert(0, Location(sym.path, sym.name_span))
        return found

    def _confirm_ambiguous(self, sym: Symbol) -> list[Location]:
        """Ambiguous call sites of the symbol's name that jedi confirms reach it."""
        sites = self.reader.conn.execute(
            "SELECT f.path, r.line, r.col, r.end_col FROM refs r JOIN files f ON f.id = r.file_id "
            "WHERE r.name = ? AND r.resolution = 'ambiguous' AND f.language = 'python' "
            "ORDER BY f.path, r.line LIMIT ?",
            (sym.name, JEDI_MAX_SITES),
        ).fetchall()
        confirmed: list[Location] = []
        deadline = time.monotonic() + JEDI_BUDGET_S
        target_file = str(self.root / sym.path)
        for p, ln, c, e in sites:
            if time.monotonic() > deadline:
                log.info("references: jedi budget spent; %d ambiguous sites unchecked", len(sites))
                break
            for d in self._jedi_names(p, ln, c, goto=True) or ():
                if d.module_path == target_file and d.line == sym.name_span.start_line + 1:
                    confirmed.append(Location(p, Span(ln, c, ln, e)))
                    break
        return confirmed

    # -- call hierarchy ----------------------------------------------------------

    def incoming_calls(self, symbol_id: int) -> list[CallGroup]:
        rows = self.reader.conn.execute(
            "SELECT r.scope_id, f.path, r.line, r.col, r.end_col FROM refs r "
            "JOIN files f ON f.id = r.file_id WHERE r.target_id = ? AND r.kind = 'call' "
            "ORDER BY f.path, r.line, r.col",
            (symbol_id,),
        ).fetchall()
        return self._group(rows)

    def outgoing_calls(self, symbol_id: int) -> list[CallGroup]:
        rows = self.reader.conn.execute(
            "SELECT r.target_id, f.path, r.line, r.col, r.end_col FROM refs r "
            "JOIN files f ON f.id = r.file_id WHERE r.scope_id = ? AND r.kind = 'call' "
            "AND r.target_id IS NOT NULL ORDER BY r.line, r.col",
            (symbol_id,),
        ).fetchall()
        return self._group(rows)

    def _group(self, rows: list[tuple[int | None, str, int, int, int]]) -> list[CallGroup]:
        groups: dict[tuple[int | None, str], list[Span]] = {}
        for other, path, line, col, end in rows:
            groups.setdefault((other, path), []).append(Span(line, col, line, end))
        out = []
        for (other, path), spans in groups.items():
            sym = self.reader.symbol(other) if other is not None else None
            out.append(CallGroup(sym, path, tuple(spans)))
        return out

    # -- hover -----------------------------------------------------------------

    def hover(self, path: str, line: int, col: int) -> HoverInfo | None:
        ref = self.ref_at(path, line, col)
        sym = self.definition_at(path, line, col)
        if sym is None and ref is not None and ref["target"] is not None:
            sym = self.reader.symbol(ref["target"])
        if sym is None and ref is None:
            return None
        conn = self.reader.conn
        if sym is None:
            assert ref is not None
            return HoverInfo(None, ref["name"], ref["resolution"], ref["candidates"], 0, 0, 0, (),
                             external=ref["module"])  # fmt: skip
        callers = conn.execute(
            "SELECT COUNT(*) FROM refs WHERE target_id = ? AND kind = 'call'", (sym.id,)
        ).fetchone()[0]
        possible = conn.execute(
            "SELECT COUNT(*) FROM refs WHERE name = ? AND resolution = 'ambiguous' "
            "AND kind = 'call'",
            (sym.name,),
        ).fetchone()[0]
        callees = conn.execute(
            "SELECT COUNT(*) FROM refs WHERE scope_id = ? AND kind = 'call'", (sym.id,)
        ).fetchone()[0]
        deps = self.reader.module_deps(sym.path)
        importers = tuple(deps.imported_by) if deps else ()
        return HoverInfo(
            sym,
            sym.name,
            ref["resolution"] if ref else None,
            ref["candidates"] if ref else 0,
            callers,
            possible,
            callees,
            importers,
        )

    # -- jedi ------------------------------------------------------------------

    def _jedi_applies(self, path: str) -> bool:
        return self.use_jedi and path.endswith((".py", ".pyi"))

    def _jedi_names(self, path: str, line: int, col: int, *, goto: bool) -> list[_JediName] | None:
        text = self.text_of(path)
        if text is None:
            return None
        raw = self.line_of(path, line)
        column = len(raw[:col].decode("utf-8", "replace"))
        for attempt in (1, 2):
            names = self._jedi_try(path, text, line, column, goto=goto, retry=attempt == 1)
            if names is not _RETRY:
                return names  # type: ignore[return-value]
        return None

    def _jedi_try(
        self, path: str, text: str, line: int, column: int, *, goto: bool, retry: bool
    ) -> list[_JediName] | object | None:
        try:
            # jedi is not thread-safe, and even reading a Name's attributes can reach its
            # compiled-module subprocess: everything happens under the lock, and plain
            # values come out
            with _JEDI_LOCK:
                script = _jedi_script(str(self.root), str(self.root / path), text)
                if goto:
                    names = script.goto(line + 1, column, follow_imports=True)
                else:
                    names = script.get_references(line + 1, column)
                return [
                    _JediName(
                        str(n.module_path) if n.module_path is not None else None,
                        n.line,
                        n.column,
                        n.name,
                        bool(n.is_definition()),
                    )
                    for n in names
                ]
        except Exception as exc:  # jedi raises ValueError and its own errors on odd input
            if retry and repair_jedi_cache(exc):
                return _RETRY
            log.debug("jedi failed at %s:%d:%d: %s", path, line, column, exc)
            return None

    def _location(self, name: _JediName) -> Location | None:
        if name.module_path is None or name.line is None:
            return None
        module_path = Path(name.module_path)
        try:
            rel = module_path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            rel = str(module_path)  # outside the workspace: the standard library, site-packages
        line = name.line - 1
        raw = self.line_of(rel, line) if not Path(rel).is_absolute() else _file_line(rel, line)
        start = len(raw.decode("utf-8", "replace")[: name.column or 0].encode("utf-8"))
        end = start + len(name.name.encode("utf-8"))
        return Location(rel, Span(line, start, line, end))

    def _jedi_goto(self, path: str, line: int, col: int) -> list[Location] | None:
        names = self._jedi_names(path, line, col, goto=True)
        if not names:
            return None
        found = [loc for loc in map(self._location, names) if loc is not None]
        return found or None

    def _jedi_references(
        self, path: str, line: int, col: int, include_declaration: bool
    ) -> list[Location]:
        names = self._jedi_names(path, line, col, goto=False) or []
        return [
            loc
            for n in names
            if include_declaration or not n.is_definition
            if (loc := self._location(n)) is not None
        ]


def _is_ident(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


@lru_cache(maxsize=4)
def _jedi_project(root: str) -> Any:
    import jedi

    return jedi.Project(path=root)


def _jedi_script(root: str, path: str, text: str) -> Any:
    import jedi

    return jedi.Script(code=text, path=path, project=_jedi_project(root))


def repair_jedi_cache(exc: BaseException) -> bool:
    """Whether ``exc`` is a parse cache file cut short, now removed so that trying again
    works. parso pickles the trees jedi parses into jedi's cache folder, writing each file
    in place; a process killed meanwhile leaves a truncated pickle, and parso, which only
    ignores a missing file, then fails on that module for ever — for every jedi-based tool.
    A pickle always ends with its STOP opcode, so the broken ones are easy to tell."""
    import pickle

    if not isinstance(exc, EOFError | pickle.UnpicklingError):
        return False
    from jedi import settings

    removed = []
    for path in Path(settings.cache_directory).rglob("*.pkl"):
        try:
            with path.open("rb") as f:
                f.seek(-1, 2)
                whole = f.read(1) == b"."
        except OSError:  # empty (seek before the start) or unreadable
            whole = False
        if not whole:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    if removed:
        log.warning(
            "removed %d truncated files from jedi's parse cache (%s): a process was killed "
            "while writing them",
            len(removed),
            settings.cache_directory,
        )
    return bool(removed)


def _file_line(path: str, line: int) -> bytes:
    try:
        with open(path, "rb") as f:
            for i, raw in enumerate(f):
                if i == line:
                    return raw.rstrip(b"\r\n")
    except OSError:
        pass
    return b""
