"""Structural refactorings of Python code through jedi: rename, extract variable, extract
function, inline.

jedi computes the edit; this module turns its result into a :class:`Change` on what the
editor shows (open buffers), refuses when that is unsafe, and declares the :class:`Intent`
the symbols check holds the change to.

* The file the request is about is given to jedi as its buffer text; every other file
  jedi reads from disk. A file jedi changed whose buffer differs from the disk is refused
  ("save X first") rather than edited from a text the user no longer sees.
* jedi's own reference search reads every file of the project that mentions the name, up
  to a few dozen, and never searches other files for names of two characters. A rename
  asks the index instead which files can reach the definition (:func:`_search_files`:
  those importing it, a module re-exporting it, or its module) and lets jedi search
  those, every one of them; then it holds jedi's files against the index's references,
  asking jedi again from each file it missed.
* Symbols are what the index extracts for Python: classes, functions and methods at any
  depth, plain assignments directly in a module (variables) or a class body (fields).
  :func:`python_symbols` extracts the same from a text, so intents are computed on the
  texts the change is made of, not on an index that may lag behind the buffers.

Positions in this API are 0-based lines and columns in code points; jedi takes 1-based
lines with code-point columns; ``ast`` and the index count columns in UTF-8 bytes.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import time
import tokenize
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hexad.execution.edits import Change, EditError, FileChange, check_relpath
from hexad.execution.engines.base import Draft, EngineError, Intent, Sources, Target
from hexad.perception.files import SKIPPED_DIRS
from hexad.perception.index import IndexReader
from hexad.perception.modules import module_name
from hexad.perception.navigation import _JEDI_LOCK, _jedi_script, repair_jedi_cache

ENGINE = "structural:jedi"
# The files a rename has jedi search come from the index (_search_files), not from jedi's
# scan of the project; a member (method, field) can be used wherever an instance goes, so
# its search takes the files importing its module, nearest first, up to MEMBER_MAX_FILES.
MEMBER_MAX_FILES = 200
RECOVER_MAX_FILES = 100  # files the index knows uses in that jedi missed, asked again
_PY_SUFFIXES = (".py", ".pyi")
_DEF_NAME = re.compile(r"(?:async\s+)?(?:def|class)\s+([^\W\d]\w*)")
_SCOPE_NODES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


# -- public entry points ----------------------------------------------------------------


def rename(
    sources: Sources, reader: IndexReader, path: str, line: int, col: int, new_name: str
) -> Draft:
    """Rename the name at (``line``, ``col``) of ``path`` everywhere jedi finds it.

    A workspace symbol (class, function, method, module-level variable, field) is
    declared renamed, with everything nested in it; a local name, parameter or import
    alias declares the symbols whose text changes instead.
    """
    check_identifier(new_name)
    text = read_python(sources, path)
    word = word_at(text, line, col)
    if word is None:
        raise EngineError(f"there is no name at {path}:{line + 1}:{col + 1} to rename")
    if word == new_name:
        raise EngineError(f"{word} is already called {new_name}")
    return _rename(sources, reader, path, text, line, col, word, new_name)


def rename_symbol(sources: Sources, reader: IndexReader, qualname: str, new_name: str) -> Draft:
    """Rename the symbol the index knows by ``qualname`` (or a unique suffix of it)."""
    found = [s for s in reader.lookup(qualname) if s.language == "python"]
    exact = [s for s in found if s.qualname == qualname]
    found = exact or found
    if not found:
        raise EngineError(f"no Python symbol named {qualname} in the index")
    if len(found) > 1:
        listed = ", ".join(f"{s.qualname} ({s.location})" for s in found[:8])
        more = f" and {len(found) - 8} more" if len(found) > 8 else ""
        raise EngineError(f"{qualname} is ambiguous: {listed}{more}; give the full name")
    sym = found[0]
    text = read_python(sources, sym.path)
    module = python_module(sources, sym.path, reader)
    here = [s for s in python_symbols(text, module) or () if s.qualname == sym.qualname]
    if len(here) == 1:  # where the buffer has it (the index may lag behind it)
        return rename(sources, reader, sym.path, here[0].line, here[0].col, new_name)
    line = sym.name_span.start_line
    lines = _rows(text)
    raw = lines[line].encode("utf-8") if line < len(lines) else b""
    col = len(raw[: sym.name_span.start_col].decode("utf-8", "replace"))
    if word_at(text, line, col) != sym.name:
        raise EngineError(
            f"the index is out of date for {sym.path}: {sym.name} is no longer at line "
            f"{line + 1}; wait for indexing to catch up and try again"
        )
    return rename(sources, reader, sym.path, line, col, new_name)


def extract_variable(
    sources: Sources,
    path: str,
    start: tuple[int, int],
    end: tuple[int, int],
    new_name: str,
) -> Draft:
    """Move the expression between ``start`` and ``end`` into ``new_name = <expression>``
    just before the statement it is in."""
    check_identifier(new_name)
    text = read_python(sources, path)
    _check_new_name_free(text, path, start, new_name)
    module = python_module(sources, path)

    def run(script: Any) -> Any:
        return script.extract_variable(
            start[0] + 1,
            start[1],
            new_name=new_name,
            until_line=end[0] + 1,
            until_column=end[1],
        )

    files, seconds = _run_jedi(sources, path, text, run)
    expression = _slice(text, start, end)
    return _local_draft(
        sources,
        files,
        kind="extract_variable",
        task=f"Extract {_short(expression)} into a variable {new_name}",
        module_of={path: module},
        target=Target(path, start[0], None),
        evidence={"expression": expression, "seconds": round(seconds, 3)},
    )


def extract_function(
    sources: Sources,
    reader: IndexReader,
    path: str,
    start: tuple[int, int],
    end: tuple[int, int],
    new_name: str,
) -> Draft:
    """Move the code between ``start`` and ``end`` into a new function (a method when it
    is inside one) called ``new_name``, and call it there."""
    check_identifier(new_name)
    text = read_python(sources, path)
    _check_new_name_free(text, path, start, new_name, whole_file=True)
    module = python_module(sources, path, reader)

    def run(script: Any) -> Any:
        return script.extract_function(
            start[0] + 1,
            start[1],
            new_name=new_name,
            until_line=end[0] + 1,
            until_column=end[1],
        )

    files, seconds = _run_jedi(sources, path, text, run)
    code = _slice(text, start, end)
    return _local_draft(
        sources,
        files,
        kind="extract_function",
        task=f"Extract {_short(code)} into a function {new_name}",
        module_of={path: module},
        target=Target(path, start[0], None),
        evidence={"code": code, "seconds": round(seconds, 3)},
    )


def inline(sources: Sources, path: str, line: int, col: int) -> Draft:
    """Replace every use of the variable at (``line``, ``col``) with its value and remove
    its assignment."""
    text = read_python(sources, path)
    word = word_at(text, line, col)
    if word is None:
        raise EngineError(f"there is no name at {path}:{line + 1}:{col + 1} to inline")

    def run(script: Any) -> Any:
        return script.inline(line + 1, col)

    files, seconds = _run_jedi(sources, path, text, run)
    for rel, change in list(files.items()):
        if change.before is not None and change.after is not None:
            tidy = _collapse_blank_lines(change.before, change.after)
            files[rel] = FileChange(change.path, change.before, tidy, change.new_path)
    modules = {p: python_module(sources, p) for p in files}
    uses = sum(
        max(0, _count_names(f.before or "", word) - _count_names(f.after or "", word))
        for f in files.values()
    )
    return _local_draft(
        sources,
        files,
        kind="inline",
        task=f"Inline {word}",
        module_of=modules,
        target=Target(path, line, None),
        evidence={"name": word, "uses": max(0, uses - 1), "seconds": round(seconds, 3)},
    )


# -- helpers shared by the Python engines ---------------------------------------------


def check_identifier(name: str) -> None:
    """EngineError unless ``name`` can name a Python definition."""
    if not name.isidentifier():
        raise EngineError(f"{name!r} is not a valid Python identifier")
    if keyword.iskeyword(name):
        raise EngineError(f"{name!r} is a Python keyword")


def read_python(sources: Sources, path: str) -> str:
    """The text of a workspace Python file as the editor sees it, or EngineError."""
    try:
        check_relpath(path)
    except EditError as exc:
        raise EngineError(str(exc)) from exc
    if not path.endswith(_PY_SUFFIXES):
        raise EngineError(f"{path} is not a Python file")
    try:
        return sources.text(path)
    except FileNotFoundError as exc:
        raise EngineError(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError, EditError) as exc:
        raise EngineError(f"cannot read {path}: {exc}") from exc


def python_module(sources: Sources, path: str, reader: IndexReader | None = None) -> str:
    """The module name the index gives ``path`` (or would give it)."""
    if reader is not None:
        row = reader.conn.execute("SELECT module FROM files WHERE path = ?", (path,)).fetchone()
        if row is not None and row[0]:
            return str(row[0])
    return module_name("python", sources.root, path, None) or path.rsplit(".", 1)[0]


def word_at(text: str, line: int, col: int) -> str | None:
    """The identifier at or just before (``line``, code-point ``col``)."""
    lines = _rows(text)
    if line < 0 or line >= len(lines):
        return None
    row = lines[line]
    col = min(max(col, 0), len(row))
    start = col
    while start > 0 and (row[start - 1].isalnum() or row[start - 1] == "_"):
        start -= 1
    stop = col
    while stop < len(row) and (row[stop].isalnum() or row[stop] == "_"):
        stop += 1
    word = row[start:stop]
    return word if word.isidentifier() else None


_NEWLINE = re.compile(r"\r\n|\r|\n")


def source_lines(text: str) -> list[str]:
    """The lines of ``text`` with their ends, split where Python (and LSP) split them:
    at \\n, \\r\\n and \\r only (``str.splitlines`` also splits at form feeds and more)."""
    out: list[str] = []
    pos = 0
    for match in _NEWLINE.finditer(text):
        out.append(text[pos : match.end()])
        pos = match.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


def _rows(text: str) -> list[str]:
    """:func:`source_lines` without the line ends."""
    return [row.rstrip("\r\n") for row in source_lines(text)]


def byte_col(line_text: str, col: int) -> int:
    """The UTF-8 byte offset of code-point column ``col`` in ``line_text``."""
    return len(line_text[:col].encode("utf-8"))


def char_col(line_text: str, col: int) -> int:
    """The code-point column of UTF-8 byte offset ``col`` in ``line_text``."""
    return len(line_text.encode("utf-8")[:col].decode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class PySymbol:
    """A definition as the index extracts it from Python, found in a text by ``ast``."""

    qualname: str
    name: str
    kind: str  # class | function | method | variable | field
    line: int  # 0-based line of the name
    col: int  # code-point column of the name
    start: int  # first line (0-based; decorators included)
    end: int  # last line (0-based, inclusive)
    own: str  # the definition's lines without those of the definitions nested in it


def python_symbols(text: str, module: str) -> list[PySymbol] | None:
    """The symbols of a Python text (None when it does not parse), in source order.

    Same-named definitions in one scope (a property and its setter) keep one entry each.
    """
    found = _python_symbols(text, module)
    return list(found) if found is not None else None


@lru_cache(maxsize=8)
def _python_symbols(text: str, module: str) -> tuple[PySymbol, ...] | None:
    """:func:`python_symbols`, remembered for the last few texts (a rename asks twice)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    lines = _rows(text)
    found: list[tuple[PySymbol, list[tuple[int, int]]]] = []

    def add(
        node: ast.stmt, name: str, kind: str, prefix: str, line: int, col: int
    ) -> list[tuple[int, int]]:
        first = min([node.lineno, *(d.lineno for d in _decorators(node))]) - 1
        last = (node.end_lineno or node.lineno) - 1
        holes: list[tuple[int, int]] = []
        sym = PySymbol(f"{prefix}.{name}", name, kind, line, col, first, last, "")
        found.append((sym, holes))
        return holes

    def visit(
        body: Sequence[ast.stmt], prefix: str, container: str, holes: list[Any], direct: bool
    ) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                line, col = _def_name_position(lines, node)
                if isinstance(node, ast.ClassDef):
                    kind = "class"
                else:
                    kind = "method" if container == "class" else "function"
                own_holes = add(node, node.name, kind, prefix, line, col)
                holes.append((found[-1][0].start, found[-1][0].end))
                inner = "class" if kind == "class" else "function"
                visit(node.body, f"{prefix}.{node.name}", inner, own_holes, True)
                continue
            target = _plain_target(node) if direct and container != "function" else None
            if target is not None:
                row = lines[target.lineno - 1] if target.lineno <= len(lines) else ""
                kind = "variable" if container == "module" else "field"
                col = char_col(row, target.col_offset)
                add(node, target.id, kind, prefix, target.lineno - 1, col)
                holes.append((found[-1][0].start, found[-1][0].end))
                continue
            for inner_body in _compound_bodies(node):
                visit(inner_body, prefix, container, holes, False)

    visit(tree.body, module, "module", [], True)
    out: list[PySymbol] = []
    for sym, holes in found:
        kept = [
            lines[i].rstrip()
            for i in range(sym.start, min(sym.end + 1, len(lines)))
            if lines[i].strip() and not any(a <= i <= b for a, b in holes)
        ]
        out.append(
            PySymbol(
                sym.qualname,
                sym.name,
                sym.kind,
                sym.line,
                sym.col,
                sym.start,
                sym.end,
                "\n".join(kept),
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SymbolDelta:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]


def symbol_delta(before: str | None, after: str | None, module: str) -> SymbolDelta:
    """Which symbols a change to one file adds, removes, and changes the own text of."""
    old = python_symbols(before, module) if before is not None else []
    new = python_symbols(after, module) if after is not None else []
    if old is None or new is None:
        raise EngineError(f"{module} does not parse; fix its syntax first")
    old_own = _by_key(old)
    new_own = _by_key(new)
    added = _unique(k[0] for k in new_own if k not in old_own)
    removed = _unique(k[0] for k in old_own if k not in new_own)
    changed = _unique(k[0] for k, own in new_own.items() if k in old_own and old_own[k] != own)
    return SymbolDelta(added, removed, changed)


def enclosing_qualname(text: str, module: str, line: int) -> str | None:
    """The innermost symbol containing 0-based ``line``."""
    best: PySymbol | None = None
    for sym in python_symbols(text, module) or ():
        if sym.start <= line <= sym.end and (best is None or sym.start >= best.start):
            best = sym
    return best.qualname if best is not None else None


def bound_names(scope: ast.AST) -> set[str]:
    """Names a scope (module, class, function, lambda) binds itself: assignments, defs,
    imports, parameters, loop and ``with`` targets, ``except … as``, patterns."""
    names: set[str] = set()
    stack: list[ast.AST]
    if isinstance(scope, (*_FUNCTIONS, ast.Lambda)):
        assert isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        a = scope.args
        for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg):
            if arg is not None:
                names.add(arg.arg)
        stack = [scope.body] if isinstance(scope, ast.Lambda) else list(scope.body)
    elif isinstance(scope, (ast.Module, ast.ClassDef)):
        stack = list(scope.body)
    else:
        return names
    while stack:
        node = stack.pop()
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, *_COMPREHENSIONS)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.alias) and node.name != "*":
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        stack.extend(ast.iter_child_nodes(node))
    return names


def scope_chain(tree: ast.Module, lineno: int, byte_col: int) -> list[ast.AST]:
    """The scopes around an ``ast`` position (1-based line, byte column), outermost
    first. A definition's name, decorators, defaults and annotations belong to the scope
    around it."""
    chain: list[ast.AST] = [tree]
    pos = (lineno, byte_col)
    node: ast.AST = tree
    while True:
        inner = next(
            (c for c in _child_scopes(node) if _scope_contains(c, pos)),
            None,
        )
        if inner is None:
            return chain
        chain.append(inner)
        node = inner


# -- rename -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Definition:
    path: str  # workspace-relative
    line: int  # 0-based
    col: int  # code points
    name: str
    type: str  # jedi's: function, class, module, param, statement, instance …
    scope: str = "module"  # what binds the name: module | class | function ("" for a module)


def _rename(
    sources: Sources,
    reader: IndexReader,
    path: str,
    text: str,
    line: int,
    col: int,
    word: str,
    new_name: str,
) -> Draft:
    root = sources.root
    started = time.monotonic()
    definition: _Definition | None = None
    search: _Search | None = None

    def run(script: Any) -> Any:
        nonlocal definition, search
        found = _definitions(root, script, line, col, word)
        definition = found[0]
        search = _search_files(root, reader, found, path, word)
        if search is None:
            return _jedi_rename(script, line, col, new_name)
        through_modules = all(d.scope in ("module", "") for d in found)
        with _search_only(root, search.paths, module_attributes=through_modules):
            return _jedi_rename(script, line, col, new_name)

    sites: dict[str, _Sites] = {}
    files, renames = _run_jedi_files(sources, path, text, run, sites=sites)
    if definition is None:  # pragma: no cover - run() always sets it or raises
        raise EngineError(f"jedi found no definition of {word}")
    defn: _Definition = definition
    if word != defn.name:  # an import alias (`import x as word`) or a keyword argument
        defn = _Definition(path, line, col, word, "alias")
    def_module = python_module(sources, defn.path, reader)
    def_text = files[defn.path].before if defn.path in files else _text(sources, defn.path)
    symbols = python_symbols(def_text or "", def_module) or []
    sym = next((s for s in symbols if (s.line, s.col) == (defn.line, defn.col)), None)
    if defn.type == "module":
        sym = None
    notes: list[str] = []
    if search is not None and search.left_out:
        notes.append(
            f"the search for uses of {word} stopped after {len(search.paths)} files; "
            f"{len(search.left_out)} more that import its module mention {word}: check them "
            "by hand"
        )

    # an index cross-check: files the index says use the symbol that jedi left alone
    missed: list[str] = []
    recovered: list[str] = []
    if sym is not None:
        before_recovery = set(files)
        missed = _add_missed_files(sources, reader, files, sites, sym, def_module, new_name)
        recovered = sorted(set(files) - before_recovery)
        if missed:
            notes.append(
                f"the index lists uses of {sym.qualname} that jedi did not rename, in "
                f"{', '.join(missed)}; check them by hand"
            )

    # __all__ entries naming the old name where the module now binds the new one
    all_entries = 0
    all_lines: dict[str, set[int]] = {}
    quoted = re.compile(rf"(['\"]){re.escape(word)}\1")
    fresh_name = re.compile(rf"(?<!\w){re.escape(new_name)}(?!\w)")
    for rel, change in list(files.items()):
        if change.after is None or change.before is None:
            continue
        if "__all__" not in change.after or not quoted.search(change.after):
            continue
        try:
            tree = ast.parse(change.after)
        except (SyntaxError, ValueError):
            continue
        after_bound = bound_names(tree)
        if new_name not in after_bound or word in after_bound:
            continue
        if fresh_name.search(change.before) and word not in _module_bound(change.before):
            continue  # the module bound the new name already, and not the old one
        after, lines = _rename_in_all(change.after, word, new_name, tree)
        if lines:
            files[rel] = FileChange(change.path, change.before, after, change.new_path)
            all_entries += len(lines)
            all_lines[rel] = set(lines)

    _check_conflicts(files, word, new_name, sites)
    found = {
        rel: _leftovers(files[rel], sites.get(rel), word, all_lines.get(rel, set()))
        for rel in sorted(files)
    }
    _check_rename_names(files, sites, found)

    references = sum(len(site.positions) for site in sites.values())
    mentions = [f"{rel}:{line}" for rel in sorted(found) for line in found[rel].mentions]
    if mentions:
        shown = ", ".join(mentions[:5]) + (" …" if len(mentions) > 5 else "")
        notes.append(
            f"{len(mentions)} mention(s) of {word} in comments or strings left alone ({shown})"
        )
    if new_name in _BUILTIN_NAMES:
        notes.append(f"{new_name} shadows the builtin of that name where it is visible")

    renamed: list[tuple[str, str]] = []
    changed: tuple[str, ...] = ()
    if defn.type == "module" and renames:
        old_module = def_module
        new_module = (
            old_module.rsplit(".", 1)[0] + "." + new_name if "." in old_module else new_name
        )
        renamed = [(s.qualname, new_module + s.qualname[len(old_module) :]) for s in symbols]
        old_name = old_module
    elif sym is not None:
        parent = sym.qualname[: -len(sym.name)]
        new_qual = parent + new_name
        renamed = [(sym.qualname, new_qual)]
        renamed += [
            (s.qualname, new_qual + s.qualname[len(sym.qualname) :])
            for s in symbols
            if s.qualname.startswith(sym.qualname + ".")
        ]
        old_name = sym.qualname
    else:
        touched: list[str] = []
        for rel, change in files.items():
            module = python_module(sources, rel, reader)
            touched += symbol_delta(change.before, change.after, module).changed
        changed = _unique(touched)
        old_name = word

    first_lines: dict[str, int] = {}
    for rel in files:
        site = sites.get(rel)
        lines = [ln for ln, _ in site.positions] if site is not None else []
        first_lines[rel] = min([*lines, *all_lines.get(rel, ())], default=0)
    targets = [Target(defn.path, defn.line, sym.qualname if sym else None)]
    targets += [Target(rel, first_lines[rel]) for rel in sorted(files) if rel != defn.path]
    intent = Intent(kind="rename", renamed=_unique_pairs(renamed), changed=changed)
    return Draft(
        task=f"Rename {old_name} to {new_name}",
        kind="rename",
        engine=ENGINE,
        change=_change(files),
        intent=intent,
        targets=tuple(targets),
        symbols=(sym.qualname,) if sym is not None else changed,
        notes=tuple(notes),
        evidence={
            "files": sorted(files),
            "references": references,
            "definition": f"{defn.path}:{defn.line + 1}",
            "all_entries": all_entries,
            "index_missed": missed,
            "index_recovered": recovered,
            "searched": len(search.paths) if search is not None else None,
            "moved": [[a, b] for a, b in renames],
            "seconds": round(time.monotonic() - started, 3),
        },
    )


_BUILTIN_NAMES = frozenset(dir(builtins))


def _definitions(root: Path, script: Any, line: int, col: int, word: str) -> list[_Definition]:
    """What the name at (``line``, ``col``) refers to, the first one in the workspace (or
    EngineError); the others jedi found there (conditional definitions) follow it."""
    try:
        names = script.goto(line + 1, col, follow_imports=True)
    except ValueError as exc:
        raise EngineError(f"no name there: {exc}") from exc
    if not names:
        names = script.goto(line + 1, col)
    if not names:
        raise EngineError(f"jedi cannot tell what {word} is; there is nothing to rename")
    found: list[_Definition] = []
    for index, d in enumerate(names):
        module_path = d.module_path
        rel = _relative(root, module_path) if module_path is not None else None
        if rel is None or d.in_builtin_module() or d.line is None:
            if index > 0:
                continue
            where = f" (in {module_path})" if module_path is not None else ""
            raise EngineError(
                f"{word} is defined outside the workspace{where}; only names the workspace "
                "defines can be renamed"
            )
        found.append(
            _Definition(rel, d.line - 1, d.column or 0, str(d.name), str(d.type), _scope(d))
        )
    return found


def _scope(name: Any) -> str:
    """What binds a jedi name: module (a top-level name), class (a member), function (a
    local or parameter); "" for a module itself."""
    if name.type == "module":
        return ""
    try:
        parent = name.parent()
    except Exception:  # jedi's own failures on unusual code
        return "function"
    kind = getattr(parent, "type", None)
    if parent is None or kind == "module":
        return "module"
    return "class" if kind == "class" else "function"


@dataclass(frozen=True, slots=True)
class _Search:
    paths: tuple[tuple[str, str], ...]  # (workspace-relative path, disk text) jedi searches
    left_out: tuple[str, ...] = ()  # files that might use a member, beyond MEMBER_MAX_FILES


@dataclass(frozen=True, slots=True)
class _ImportRow:
    file_id: int
    path: str
    name: str | None
    alias: str | None
    wildcard: bool
    submodule: bool  # `from pkg import mod`: the import binds a module, not a name in it


def _search_files(
    root: Path, reader: IndexReader, found: list[_Definition], path: str, word: str
) -> _Search | None:
    """The files jedi's reference search should read for ``word``, from the index: files
    that can reach the definitions by importing them (or a module re-exporting them, or
    their module: ``module.word``), that mention ``word``; None when the index does not
    know a definition's file (jedi then searches as it does by itself).

    Where ``word`` is bound decides who can use it: a module's top-level name is reached
    through imports of it (``from m import word``, ``from m import *``, ``import m``,
    ``from pkg import m``) and of the modules that re-export it, transitively; a module
    through imports of it; a member through any instance, so through the files that
    import its module, directly or not; a local nowhere else.
    """
    conn = reader.conn
    ids: dict[str, int] = {}

    def file_id(rel: str) -> int | None:
        if rel not in ids:
            row = conn.execute("SELECT id FROM files WHERE path = ?", (rel,)).fetchone()
            if row is None:
                return None
            ids[rel] = int(row[0])
        return ids[rel]

    ordered: dict[int, None] = {}
    members: list[int] = []
    for d in found:
        fid = file_id(d.path)
        if fid is None:
            return None
        ordered[fid] = None
        if d.type == "module":
            ordered.update(dict.fromkeys(_module_users(conn, fid)))
        elif d.scope == "module":
            ordered.update(dict.fromkeys(_name_users(conn, fid, d.name)))
        elif d.scope == "class":
            members += _member_users(conn, fid, d.name)
    if found[0].name != word:  # an import alias (`import m as word`): the request's module
        fid = file_id(path)
        if fid is None:
            return None
        ordered[fid] = None
        ordered.update(dict.fromkeys(_name_users(conn, fid, word)))
    paths = _paths_of(conn, list(ordered))
    out = [(rel, text) for rel, text in _mentioning(root, paths, word)]
    left: list[str] = []
    if members:
        seen = {rel for rel, _ in out}
        rest = [rel for rel in _paths_of(conn, members) if rel not in seen]
        for rel, text in _mentioning(root, rest, word):
            if len(out) < MEMBER_MAX_FILES:
                out.append((rel, text))
            else:
                left.append(rel)
    return _Search(tuple(out), tuple(left))


def _name_users(conn: Any, fid: int, name: str) -> list[int]:
    """Files that can reach the top-level ``name`` of file ``fid``: importing it or a
    module that re-exports it (by name or ``*``), or importing such a module, or a
    package above one (``import pkg`` then ``pkg.mod.name``)."""
    binders = {fid}  # files whose module binds `name` to the definition
    users: dict[int, None] = {}
    frontier = [fid]
    while frontier:
        grown: list[int] = []
        for row in _imports_of(conn, frontier):
            if row.wildcard:
                binds = True
            elif row.name is None or row.submodule:
                binds = False  # a module: `module.name` reaches it
            elif row.name == name:
                binds = row.alias in (None, name)
            else:
                continue  # another name from the same module
            users[row.file_id] = None
            if binds and row.file_id not in binders:
                binders.add(row.file_id)
                grown.append(row.file_id)
        frontier = grown
    users.update(dict.fromkeys(_package_users(conn, binders)))
    return list(users)


def _module_users(conn: Any, fid: int) -> list[int]:
    """Files that can name the module of file ``fid``: importing it or a name from it, or
    a package above it."""
    users = [row.file_id for row in _imports_of(conn, [fid])]
    return users + _package_users(conn, {fid})


def _member_users(conn: Any, fid: int, name: str) -> list[int]:
    """Files that can reach a member called ``name`` of a class of file ``fid``: those
    the index resolves a use of it in first, then those importing its module, directly
    or through others, nearest first."""
    users: dict[int, None] = dict.fromkeys(
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT r.file_id FROM refs r JOIN symbols s ON s.id = r.target_id "
            "WHERE s.file_id = ? AND s.name = ? ORDER BY r.file_id",
            (fid, name),
        )
    )
    seen = {fid}
    frontier = [fid]
    while frontier:
        grown = sorted({row.file_id for row in _imports_of(conn, frontier)} - seen)
        seen.update(grown)
        users.update(dict.fromkeys(grown))
        frontier = grown
    return list(users)


def _package_users(conn: Any, fids: set[int]) -> list[int]:
    """Files importing, as a module, a package above the modules of ``fids``."""
    modules = [str(m) for (m,) in _chunked(conn, "SELECT module FROM files WHERE id IN", fids) if m]
    above = {m.rsplit(".", n)[0] for m in modules for n in range(1, m.count(".") + 1)}
    if not above:
        return []
    packages = [
        int(r[0]) for r in _chunked(conn, "SELECT id FROM files WHERE module IN", sorted(above))
    ]
    return [
        row.file_id
        for row in _imports_of(conn, packages)
        if not row.wildcard and (row.name is None or row.submodule)
    ]


def _imports_of(conn: Any, targets: Sequence[int] | set[int]) -> list[_ImportRow]:
    """The import rows that resolve to the files ``targets``."""
    out: list[_ImportRow] = []
    sql = (
        "SELECT i.file_id, f.path, f.module, i.source, i.name, i.alias, i.wildcard, t.module "
        "FROM imports i JOIN files f ON f.id = i.file_id "
        "JOIN files t ON t.id = i.target_file_id WHERE i.target_file_id IN"
    )
    for fid, rel, module, source, name, alias, wildcard, target in _chunked(conn, sql, targets):
        full = _absolute_module(str(source), module, str(rel))
        submodule = name is not None and target == (f"{full}.{name}" if full else name)
        out.append(_ImportRow(int(fid), str(rel), name, alias, bool(wildcard), submodule))
    out.sort(key=lambda r: r.path)
    return out


def _absolute_module(source: str, module: str | None, path: str) -> str:
    """The module an import's ``source`` names, relative imports resolved from the
    importing file (as the index resolves them)."""
    if not source.startswith("."):
        return source
    level = len(source) - len(source.lstrip("."))
    base = (module or "").split(".") if module else []
    if not path.endswith(("__init__.py", "__init__.pyi")):
        base = base[:-1]
    if level > 1:
        base = base[: max(0, len(base) - (level - 1))]
    rest = source[level:]
    return ".".join([*base, rest] if rest else base)


def _chunked(conn: Any, sql: str, values: Sequence[Any] | set[Any]) -> Iterator[Sequence[Any]]:
    """``sql`` ending in ``IN`` run on ``values``, 500 at a time."""
    items = list(values)
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        yield from conn.execute(f"{sql} ({','.join('?' * len(chunk))})", chunk)


def _paths_of(conn: Any, fids: list[int]) -> list[str]:
    """The paths of file ids, in their order: Python files outside skipped folders."""
    by_id = {
        int(fid): str(rel)
        for fid, rel in _chunked(conn, "SELECT id, path FROM files WHERE id IN", set(fids))
    }
    out: list[str] = []
    for fid in fids:
        rel = by_id.get(fid)
        if rel is None or not rel.endswith(_PY_SUFFIXES):
            continue
        if any(part in SKIPPED_DIRS for part in rel.split("/")[:-1]):
            continue
        out.append(rel)
    return out


def _mentioning(root: Path, paths: list[str], word: str) -> Iterator[tuple[str, str]]:
    """(path, disk text) of the files among ``paths`` that have ``word`` as a word."""
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")
    for rel in paths:
        try:
            text = (root / rel).read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if pattern.search(text):
            yield rel, text


def _add_missed_files(
    sources: Sources,
    reader: IndexReader,
    files: dict[str, FileChange],
    sites: dict[str, _Sites],
    sym: PySymbol,
    module: str,
    new_name: str,
) -> list[str]:
    """Ask jedi again from files the index says use ``sym`` but jedi did not change;
    returns those still missed."""
    rows = reader.conn.execute(
        "SELECT s.id, f.id FROM symbols s JOIN files f ON f.id = s.file_id "
        "WHERE s.qualname = ? AND f.module = ?",
        (sym.qualname, module),
    ).fetchall()
    if not rows:
        return []
    sym_ids = [r[0] for r in rows]
    file_ids = sorted({r[1] for r in rows})
    marks = ",".join("?" * len(sym_ids))
    uses: dict[str, tuple[int, int | None]] = {}
    for rel, ln, c in reader.conn.execute(
        "SELECT f.path, r.line, r.col FROM refs r JOIN files f ON f.id = r.file_id "
        f"WHERE r.target_id IN ({marks}) ORDER BY f.path, r.line",
        sym_ids,
    ):
        uses.setdefault(rel, (ln, c))
    fmarks = ",".join("?" * len(file_ids))
    for rel, ln in reader.conn.execute(
        "SELECT f.path, i.line FROM imports i JOIN files f ON f.id = i.file_id "
        f"WHERE i.name = ? AND i.target_file_id IN ({fmarks}) ORDER BY f.path, i.line",
        (sym.name, *file_ids),
    ):
        uses.setdefault(rel, (ln, None))
    missed: list[str] = []
    asked = 0
    top = sym.qualname == f"{module}.{sym.name}"  # reached through its module
    for rel, (ln, byte) in sorted(uses.items()):
        if rel in files or not rel.endswith(_PY_SUFFIXES):
            continue
        if asked >= RECOVER_MAX_FILES:
            missed.append(rel)
            continue
        asked += 1
        try:
            text = sources.text(rel)
        except (OSError, UnicodeDecodeError, EditError):
            continue
        lines = _rows(text)
        if ln >= len(lines):
            missed.append(rel)
            continue
        row = lines[ln]
        if byte is not None:
            col = char_col(row, byte)
        else:
            match = re.search(rf"\b{re.escape(sym.name)}\b", row)
            col = match.start() if match else -1
        if col < 0 or word_at(text, ln, col) != sym.name:
            missed.append(rel)
            continue

        def run(script: Any, ln: int = ln, col: int = col) -> Any:
            # the definition's files are searched anyway; of the others, only this one
            with _search_only(sources.root, (), module_attributes=top):
                return _jedi_rename(script, ln, col, new_name)

        more_sites: dict[str, _Sites] = {}
        try:
            more, _ = _run_jedi_files(sources, rel, text, run, sites=more_sites)
        except EngineError:
            missed.append(rel)
            continue
        if rel in more and rel in more_sites:
            files[rel] = more[rel]
            sites[rel] = more_sites[rel]
        else:
            missed.append(rel)
    return missed


def _check_conflicts(
    files: dict[str, FileChange], old: str, new: str, sites: dict[str, _Sites]
) -> None:
    """EngineError when the new name would collide with or be captured by a name the
    code already binds (which it can only where the text has it already)."""
    has_new = re.compile(rf"(?<!\w){re.escape(new)}(?!\w)")
    for rel, change in files.items():
        if change.before is None or change.after is None:
            continue
        site = sites.get(rel)
        positions = site.positions if site is not None else None
        if positions == () or not has_new.search(change.before):
            continue
        if positions is None:  # not spliced from jedi's names: tell them from the texts
            positions = _renamed_positions(change.before, change.after, old, new)
        try:
            tree = ast.parse(change.before)
        except (SyntaxError, ValueError):
            raise EngineError(f"{rel} does not parse; fix its syntax first") from None
        skip = _non_lexical_positions(tree, old)
        lines = _rows(change.before)
        bound: dict[int, set[str]] = {}
        for line, col in positions:
            row = lines[line] if line < len(lines) else ""
            lineno, bcol = line + 1, byte_col(row, col)
            if (lineno, bcol) in skip or _after_dot(lines, lineno, bcol):
                continue
            chain = scope_chain(tree, lineno, bcol)
            innermost = chain[-1]
            for scope in reversed(chain):
                if isinstance(scope, ast.ClassDef) and scope is not innermost:
                    continue
                names = bound.get(id(scope))
                if names is None:
                    names = bound[id(scope)] = bound_names(scope)
                if new in names:
                    where = _scope_words(scope, rel)
                    raise EngineError(
                        f"{new} is already defined in {where}; renaming {old} there would "
                        f"clash with it ({rel}:{lineno})"
                    )
                if old in names:
                    break


def _non_lexical_positions(tree: ast.Module, old: str) -> set[tuple[int, int]]:
    """Where ``old`` appears as a keyword argument's name (not a name lookup)."""
    out: set[tuple[int, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == old:
            out.add((node.lineno, node.col_offset))
    return out


def _after_dot(lines: list[str], lineno: int, bcol: int) -> bool:
    """Whether the name at (1-based line, byte column) follows a ``.`` (an attribute)."""
    if lineno - 1 >= len(lines):
        return False
    raw = lines[lineno - 1].encode("utf-8")[:bcol].rstrip()
    if raw:
        return raw.endswith(b".")
    for index in range(lineno - 2, -1, -1):  # `obj.\n    name` inside brackets
        prev = lines[index].rstrip()
        if prev:
            return prev.endswith(".")
    return False


def _renamed_positions(before: str, after: str, old: str, new: str) -> tuple[tuple[int, int], ...]:
    """(0-based line, code-point column) in ``before`` of each name token a rename
    changed from ``old`` to ``new``."""
    old_tokens = _name_tokens(before)
    new_tokens = _name_tokens(after)
    if old_tokens is None or new_tokens is None or len(old_tokens) != len(new_tokens):
        return ()
    return tuple(
        (ln - 1, c)
        for (a, (ln, c)), (b, _) in zip(old_tokens, new_tokens, strict=True)
        if a == old and b == new
    )


def _name_tokens(text: str) -> list[tuple[str, tuple[int, int]]] | None:
    try:
        return [
            (tok.string, tok.start)
            for tok in tokenize.generate_tokens(io.StringIO(text, newline="").readline)
            if tok.type == tokenize.NAME
        ]
    except (tokenize.TokenError, SyntaxError):
        return None


def _count_names(text: str, name: str) -> int:
    tokens = _name_tokens(text)
    return sum(1 for t, _ in tokens or () if t == name)


@dataclass(frozen=True, slots=True)
class _Leftovers:
    """Where a renamed file still has the old name: mentions in comments and strings
    worth a look (1-based lines), and whether code still uses it as a bare name."""

    mentions: tuple[int, ...]
    bare_use: bool


def _leftovers(
    change: FileChange, site: _Sites | None, word: str, all_lines: set[int]
) -> _Leftovers:
    """The old name's occurrences in ``change.before`` that the rename left alone, sorted
    by jedi's parse of it: in comments and strings, mentions worth a note when they name
    the code (a string that is the name or a dotted path ending in it, as in
    ``getattr(x, "word")`` or ``patch("m.word")``; ``word`` quoted in backticks or
    called, ``word(``); in code, uses of some other binding (or of this one, missed)."""
    before = change.before or ""
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")
    if site is None or site.node is None:
        return _token_leftovers(change.after or "", word)
    whole = re.compile(rf"^[rRbBuU]?(['\"]{{1,3}})(?:[\w.]*\.)?{re.escape(word)}\1$")
    quoted = re.compile(rf"`{re.escape(word)}`|(?<![\w.]){re.escape(word)}\(")
    renamed = set(site.positions)
    mentions: dict[int, None] = {}
    bare_use = False
    seen: set[int] = set()
    for index, row in enumerate(_rows(before)):
        if word not in row:
            continue
        for match in pattern.finditer(row):
            if (index, match.start()) in renamed:
                continue
            try:
                leaf = site.node.get_leaf_for_position((index + 1, match.start()), True)
            except ValueError:
                continue
            if leaf is None:
                continue
            if (index + 1, match.start()) < leaf.start_pos:  # in the prefix: a comment
                prefix_line, prefix_col = leaf.get_start_pos_of_prefix()
                hash_at = row.find("#", prefix_col if prefix_line == index + 1 else 0)
                if 0 <= hash_at < match.start() and quoted.search(row[hash_at:]):
                    mentions[index + 1] = None
                continue
            if leaf.type in ("string", "fstring_string"):
                if id(leaf) in seen:
                    continue
                seen.add(id(leaf))
                line = leaf.start_pos[0]
                if leaf.value[1:-1].strip("'\"") == word and line - 1 in all_lines:
                    continue  # an __all__ entry, renamed
                if whole.match(leaf.value) or quoted.search(leaf.value):
                    mentions[line] = None
                continue
            if leaf.type == "name" and not _attribute_or_keyword(leaf):
                bare_use = True
    return _Leftovers(tuple(sorted(mentions)), bare_use)


def _token_leftovers(text: str, word: str) -> _Leftovers:
    """:func:`_leftovers` for a text jedi did not parse, by its tokens."""
    w = re.escape(word)
    whole = re.compile(rf"^[rRbBuU]?(['\"]{{1,3}})(?:[\w.]*\.)?{w}\1$")
    quoted = re.compile(rf"`{w}`|(?<![\w.]){w}\(")
    if word not in text:
        return _Leftovers((), False)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text, newline="").readline))
    except (tokenize.TokenError, SyntaxError):
        return _Leftovers((), True)
    mentions: dict[int, None] = {}
    bare_use = False
    previous = ""
    for tok in tokens:
        if tok.type in (tokenize.COMMENT, tokenize.STRING):
            if whole.match(tok.string) or quoted.search(tok.string):
                mentions[tok.start[0]] = None
        elif tok.type == tokenize.NAME and tok.string == word and previous != ".":
            bare_use = True
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = tok.string
    return _Leftovers(tuple(mentions), bare_use)


def _attribute_or_keyword(leaf: Any) -> bool:
    """Whether a parso name is an attribute (``x.name``) or a keyword argument's name."""
    previous = leaf.get_previous_leaf()
    if previous is not None and previous.value == ".":
        return True
    parent = leaf.parent
    return bool(
        parent is not None
        and parent.type == "argument"
        and parent.children[0] is leaf
        and len(parent.children) > 1
        and getattr(parent.children[1], "value", None) == "="
    )


def _check_rename_names(
    files: dict[str, FileChange], sites: dict[str, _Sites], found: dict[str, _Leftovers]
) -> None:
    """:func:`_check_compiles` for a rename, which changes no syntax and can leave a name
    undefined only where code still uses the old name bare, or uses the new one bare
    without a renamed binding in the same file (a use whose import jedi left alone)."""
    suspect: dict[str, FileChange] = {}
    for rel, change in files.items():
        site = sites.get(rel)
        left = found.get(rel)
        if site is None or left is None or left.bare_use or (site.bare and not site.binds):
            suspect[rel] = change
    _check_compiles(suspect)


def _module_bound(text: str) -> set[str]:
    try:
        return bound_names(ast.parse(text))
    except (SyntaxError, ValueError):
        return set()


def _rename_in_all(
    text: str, old: str, new: str, tree: ast.Module | None = None
) -> tuple[str, list[int]]:
    """``text`` (parsed: ``tree``) with the ``"old"`` entries of its module-level
    ``__all__`` renamed, and the (0-based) lines of those entries."""
    if tree is None:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return text, []
    strings: list[ast.Constant] = []
    for node in tree.body:
        value: ast.AST | None = None
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
            value = node.value
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id == "__all__"
            and node.value.func.attr in ("append", "extend", "insert", "remove")
        ):
            value = ast.Tuple(elts=list(node.value.args))
        if value is None:
            continue
        elements = value.elts if isinstance(value, (ast.List, ast.Tuple, ast.Set)) else []
        for element in elements:
            if isinstance(element, (ast.List, ast.Tuple)):
                elements.extend(element.elts)
            elif isinstance(element, ast.Constant) and element.value == old:
                strings.append(element)
    if not strings:
        return text, []
    offsets = _line_offsets(text)
    data = text.encode("utf-8")
    edits = []
    lines: list[int] = []
    for const in strings:
        start = offsets[const.lineno - 1] + const.col_offset
        stop = offsets[(const.end_lineno or const.lineno) - 1] + (const.end_col_offset or 0)
        literal = data[start:stop].decode("utf-8")
        replaced = re.sub(rf"(?<=['\"]){re.escape(old)}(?=['\"])", new, literal, count=1)
        if replaced != literal:
            edits.append((start, stop, replaced.encode("utf-8")))
            lines.append(const.lineno - 1)
    for start, stop, raw in sorted(edits, reverse=True):
        data = data[:start] + raw + data[stop:]
    return data.decode("utf-8"), lines


def _scope_words(scope: ast.AST, rel: str) -> str:
    if isinstance(scope, ast.ClassDef):
        return f"class {scope.name} ({rel})"
    if isinstance(scope, _FUNCTIONS):
        assert isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef))
        return f"function {scope.name} ({rel})"
    if isinstance(scope, ast.Lambda):
        return f"a lambda ({rel})"
    return f"module {rel}"


# -- extract and inline -----------------------------------------------------------------


def _check_new_name_free(
    text: str, path: str, start: tuple[int, int], new_name: str, *, whole_file: bool = False
) -> None:
    """EngineError when ``new_name`` is bound or used where the new definition goes."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        raise EngineError(f"{path} does not parse; fix its syntax first") from None
    lines = _rows(text)
    row = lines[start[0]] if start[0] < len(lines) else ""
    chain = scope_chain(tree, start[0] + 1, byte_col(row, start[1]))
    scopes = chain if whole_file else chain[-1:]
    for scope in scopes:
        if new_name in bound_names(scope):
            raise EngineError(f"{new_name} is already defined in {_scope_words(scope, path)}")
    around = tree if whole_file else chain[-1]
    for node in ast.walk(around):
        if isinstance(node, ast.Name) and node.id == new_name:
            raise EngineError(
                f"{new_name} is already used in {_scope_words(around, path)} "
                f"(line {node.lineno}); pick another name"
            )


def _local_draft(
    sources: Sources,
    files: dict[str, FileChange],
    *,
    kind: str,
    task: str,
    module_of: dict[str, str],
    target: Target,
    evidence: dict[str, Any],
) -> Draft:
    _check_compiles(files)
    added: list[str] = []
    removed: list[str] = []
    changed: list[str] = []
    for rel, change in files.items():
        module = module_of.get(rel) or python_module(sources, rel)
        delta = symbol_delta(change.before, change.after, module)
        added += delta.added
        removed += delta.removed
        changed += delta.changed
    intent = Intent(
        kind=kind, added=_unique(added), removed=_unique(removed), changed=_unique(changed)
    )
    targets = [target]
    targets += [
        Target(rel, _first_changed_line(c))
        for rel, c in sorted(files.items())
        if rel != target.path
    ]
    symbols = _unique([*intent.changed, *intent.added, *intent.removed])
    return Draft(
        task=task,
        kind=kind,
        engine=ENGINE,
        change=_change(files),
        intent=intent,
        targets=tuple(targets),
        symbols=symbols,
        evidence={"files": sorted(files), **evidence},
    )


# -- running jedi -----------------------------------------------------------------------


@contextmanager
def _search_only(
    root: Path, files: Sequence[tuple[str, str]], *, module_attributes: bool = False
) -> Iterator[None]:
    """Have jedi's reference search read ``files`` ((workspace-relative path, text) pairs
    that mention the name), besides the modules defining it, instead of scanning the
    project for the name under its limits (30 files parsed, 2000 opened; no search at all
    for names of two characters). Callers hold the jedi lock.

    With ``module_attributes`` (a module or a module's top-level name), jedi skips the
    attributes that cannot be reached through a module (:func:`_not_through_module`):
    ``finder.find(path)`` is not the function ``find`` of ``finders``, and jedi would
    infer ``finder`` (its class, its calls, their modules) to tell."""
    from jedi.file_io import KnownContentFileIO
    from jedi.inference import references

    original = references.get_module_contexts_containing_name
    original_find = references._find_names
    bindings: dict[int, dict[str, bool]] = {}

    def find_names(module_context: Any, tree_name: Any) -> Any:
        if _not_through_module(tree_name, bindings):
            return set()
        return original_find(module_context, tree_name)

    def search(inference_state: Any, module_contexts: Any, name: str, **_: Any) -> Iterator[Any]:
        seen: set[str] = set()
        for context in module_contexts:
            if context.is_compiled():
                continue
            seen.add(str(context.py__file__()))
            yield context
        for rel, text in files:
            full = str(root / rel)
            if full in seen:
                continue
            seen.add(full)
            loaded = references.load_module_from_path(
                inference_state, KnownContentFileIO(full, text)
            )
            if not loaded.is_compiled():
                yield loaded.as_context()

    references.get_module_contexts_containing_name = search
    if module_attributes:
        references._find_names = find_names
    try:
        yield
    finally:
        references.get_module_contexts_containing_name = original
        references._find_names = original_find


def _not_through_module(leaf: Any, bindings: dict[int, dict[str, bool]]) -> bool:
    """Whether a parso name is an attribute of something no import binds (``self.x``,
    ``obj.x``, ``f().x``): ``root.a.b.x`` is reached through a module only where
    ``root`` is bound by an import (or by nothing, in a module with a ``*`` import)."""
    trailer = leaf.parent
    if trailer is None or trailer.type != "trailer" or trailer.children[0] != ".":
        return False
    expr = trailer.parent
    parts = list(expr.children) if expr is not None else []
    if parts and parts[0].type == "keyword" and parts[0].value == "await":
        parts = parts[1:]
    if not parts or parts[0].type != "name":
        return True  # `"".x`, `[a][0].x`, `(a or b).x`
    root = parts[0]
    module = leaf.get_root_node()
    known = bindings.setdefault(id(module), {})
    if root.value not in known:
        kinds = set()
        for name in module.get_used_names().get(root.value, ()):
            definition = name.get_definition()
            if definition is not None:
                kinds.add(definition.type in ("import_name", "import_from"))
        if not kinds:  # bound nowhere here: a builtin, or a name a `*` import brings
            kinds.add(
                any(i.type == "import_from" and i.is_star_import() for i in module.iter_imports())
            )
        known[root.value] = True in kinds
    return not known[root.value]


def _run_jedi(
    sources: Sources, path: str, text: str, action: Callable[[Any], Any]
) -> tuple[dict[str, FileChange], float]:
    started = time.monotonic()
    files, renames = _run_jedi_files(sources, path, text, action)
    if renames:
        raise EngineError("this refactoring would move files; it is not supported here")
    return files, time.monotonic() - started


@dataclass(frozen=True, slots=True)
class _Sites:
    """Where a rename changed one file: the names jedi renamed in it."""

    positions: tuple[tuple[int, int], ...]  # (0-based line, code-point column) in before
    node: Any  # jedi's parse of the text before (a parso module)
    binds: bool  # a renamed name is bound there (definition, import, assignment)
    bare: bool  # a renamed name is used there bare (not an attribute, not a keyword)


def _run_jedi_files(
    sources: Sources,
    path: str,
    text: str,
    action: Callable[[Any], Any],
    *,
    sites: dict[str, _Sites] | None = None,
) -> tuple[dict[str, FileChange], list[tuple[str, str]]]:
    """Run ``action(script)`` on a jedi Script of ``path`` holding ``text``; the files the
    resulting refactoring changes, and the files it moves (old, new). With ``sites``, the
    refactoring is a rename: its new texts are spliced from the renamed names, whose
    places go into ``sites``."""
    from jedi.api.exceptions import RefactoringError

    root = sources.root
    spliced: dict[Any, _Sites] = {}
    results: list[tuple[Any, str | None, Any]] = []
    renames: list[Any] = []
    for attempt in (1, 2):  # a second time only once a broken parse cache is repaired
        spliced.clear()
        with _JEDI_LOCK:
            try:
                _warm_parse(root / path)
                script = _jedi_script(str(root), str(root / path), text)
                refactoring = action(script)
                changed = refactoring.get_changed_files()
                renames = list(refactoring.get_renames())
                results = []
                for p, cf in changed.items():
                    done = _splice(cf) if sites is not None else None
                    if done is None:
                        results.append((p, _jedi_before(cf, p), cf.get_new_code()))
                    else:
                        results.append((p, done[0], done[1]))
                        spliced[p] = done[2]
                break
            except EngineError:
                raise
            except RefactoringError as exc:
                raise EngineError(str(exc) or "jedi cannot do this refactoring here") from exc
            except ValueError as exc:  # jedi's position checks
                raise EngineError(f"not a valid position in {path}: {exc}") from exc
            except Exception as exc:  # jedi's own failures on unusual code
                if attempt == 1 and repair_jedi_cache(exc):
                    continue
                name = exc.__class__.__name__
                raise EngineError(f"jedi failed on {path}: {name}: {exc}") from exc
    moves: list[tuple[str, str]] = []
    for old, new in renames:
        old_rel, new_rel = _relative(root, old), _relative(root, new)
        if old_rel is None or new_rel is None:
            raise EngineError(f"the refactoring would move {old} outside the workspace")
        if Path(old).is_dir():
            raise EngineError(f"renaming the package {old_rel} (a folder) is not supported")
        if (root / new_rel).exists():
            raise EngineError(f"cannot rename {old_rel} to {new_rel}: {new_rel} exists")
        moves.append((old_rel, new_rel))
    moved = dict(moves)
    files: dict[str, FileChange] = {}
    for abs_path, jedi_before, after in results:
        rel = _relative(root, abs_path) if abs_path is not None else None
        if rel is None:
            raise EngineError(f"the refactoring would edit {abs_path}, outside the workspace")
        if any(part in SKIPPED_DIRS for part in rel.split("/")[:-1]):
            continue  # jedi searches every folder; copies, caches and venvs are not ours
        current = _text(sources, rel)
        if jedi_before is not None and jedi_before != current:
            raise EngineError(
                f"save {rel} first: its buffer differs from the file on disk, which is what "
                "the refactoring was computed on"
            )
        files[rel] = FileChange(rel, current, after, moved.pop(rel, None))
        if sites is not None and abs_path in spliced:
            sites[rel] = spliced[abs_path]
    for old_rel, new_rel in moved.items():
        current = _text(sources, old_rel)
        files[old_rel] = FileChange(old_rel, current, current, new_rel)
    return files, moves


def _jedi_rename(script: Any, line: int, col: int, new_name: str) -> Any:
    """``script.rename`` at (0-based ``line``, ``col``), less its cost: jedi asks every
    reference its type to find modules among them, inferring each (a decorated class
    runs its decorator); only a reference without a place in a tree can be a module."""
    try:
        from jedi.api.exceptions import RefactoringError
        from jedi.api.refactoring import Refactoring, _calculate_rename
        from jedi.inference.value.namespace import ImplicitNSName
    except ImportError:  # another jedi: its own rename
        return script.rename(line + 1, col, new_name=new_name)
    references = script.get_references(line + 1, col, include_builtins=False)
    if not references:
        raise RefactoringError("There is no name under the cursor")
    moves: set[tuple[Path, Path]] = set()
    names: dict[Any, dict[Any, str]] = {}
    for ref in references:
        name = ref._name
        tree_name = name.tree_name
        if isinstance(name, ImplicitNSName):
            for folder in name._value.py__path__():
                moves.add(_calculate_rename(Path(folder), new_name))
        elif tree_name is not None:
            names.setdefault(ref.module_path, {})[tree_name] = tree_name.prefix + new_name
        elif ref.module_path is not None and ref.type == "module":
            moves.add(_calculate_rename(Path(ref.module_path), new_name))
    return Refactoring(script._inference_state, names, moves)


def _warm_parse(full: Path) -> None:
    """Have parso's memory hold the disk text of ``full`` where jedi's cache of parsed
    files has it, as jedi does for every module it imports: a Script made of the editor's
    text then reuses that parse (or diff-parses from it) instead of parsing the whole
    file again (tens of milliseconds for a big one). Callers hold the jedi lock."""
    from jedi import settings
    from parso import cache
    from parso.file_io import FileIO
    from parso.grammar import load_grammar

    load_module: Any = cache.load_module
    try:
        hashed = load_grammar()._hashed
        load_module(hashed, FileIO(str(full)), cache_path=settings.cache_directory)
    except Exception:  # no cache for it (or none readable): jedi parses the text
        return


def _splice(changed_file: Any) -> tuple[str, str, _Sites] | None:
    """A renamed file's text before and after, and its renamed names, from jedi's map of
    names to new texts (what parso's refactor would render, without walking the whole
    tree); None when the map holds anything but names."""
    from parso.utils import split_lines

    node = getattr(changed_file, "_module_node", None)
    mapping = getattr(changed_file, "_node_to_str_map", None)
    if node is None or not isinstance(mapping, dict):
        return None
    before = str(node.get_code())
    lines = split_lines(before, keepends=True)
    edits: list[tuple[int, int, int, str]] = []
    binds = bare = False
    for leaf, value in mapping.items():
        prefix = getattr(leaf, "prefix", None)
        if getattr(leaf, "type", None) != "name" or prefix is None:
            return None
        if not str(value).startswith(prefix):
            return None
        line, col = leaf.start_pos
        if line - 1 >= len(lines):
            return None
        edits.append((line - 1, col, col + len(leaf.value), str(value)[len(prefix) :]))
        if leaf.is_definition():
            binds = True
        elif not _attribute_or_keyword(leaf):
            bare = True
    for line, start, stop, value in sorted(edits, reverse=True):
        row = lines[line]
        lines[line] = row[:start] + value + row[stop:]
    positions = tuple(sorted((line, start) for line, start, _, _ in edits))
    return before, "".join(lines), _Sites(positions, node, binds, bare)


def _jedi_before(changed_file: Any, path: Any) -> str | None:
    """The text jedi computed a file's change from."""
    node = getattr(changed_file, "_module_node", None)
    if node is not None:
        return str(node.get_code())
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, TypeError):
        return None


def _relative(root: Path, path: Any) -> str | None:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError, TypeError):
        return None


def _text(sources: Sources, path: str) -> str:
    try:
        return sources.text(path)
    except FileNotFoundError as exc:
        raise EngineError(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError, EditError) as exc:
        raise EngineError(f"cannot read {path}: {exc}") from exc


def _check_compiles(files: dict[str, FileChange]) -> None:
    """EngineError when a changed file would not parse, or would use a name it does not
    define that it did not use before (jedi slips, such as a comprehension's variable
    passed to an extracted function)."""
    from hexad.execution.engines.imports import undefined_names

    for rel, change in files.items():
        if change.after is None or not change.target.endswith(".py"):
            continue
        try:
            compile(change.after, rel, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
        except (SyntaxError, ValueError) as exc:
            if not _parses(change.before):
                continue  # it did not parse before either; verification will say so
            raise EngineError(
                f"the refactoring would leave {rel} unparsable ({exc.__class__.__name__}: "
                f"{exc}); nothing was changed"
            ) from exc
        known = {u.name for u in undefined_names(change.before or "", rel)}
        fresh = [u for u in undefined_names(change.after, rel) if u.name not in known]
        if fresh:
            listed = ", ".join(f"{u.name} (line {u.line + 1})" for u in fresh[:5])
            raise EngineError(
                f"the refactoring would leave undefined names in {change.target}: {listed}; "
                "nothing was changed"
            )


def _parses(text: str | None) -> bool:
    try:
        ast.parse(text or "")
    except (SyntaxError, ValueError):
        return False
    return True


def _change(files: dict[str, FileChange]) -> Change:
    return Change(tuple(files[rel] for rel in sorted(files)))


# -- small helpers ----------------------------------------------------------------------


def _decorators(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        return list(node.decorator_list)
    return []


def _def_name_position(
    lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
) -> tuple[int, int]:
    """(0-based line, code-point column) of a def's or class's name."""
    index = node.lineno - 1
    row = lines[index] if index < len(lines) else ""
    start = char_col(row, node.col_offset)
    match = _DEF_NAME.match(row, start)
    if match is None or match.group(1) != node.name:
        found = re.search(rf"\b{re.escape(node.name)}\b", row[start:])
        return index, start + (found.start() if found else 0)
    return index, match.start(1)


def _plain_target(node: ast.stmt) -> ast.Name | None:
    """The name a plain ``name = …`` / ``name: T = …`` statement defines."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return target if isinstance(target, ast.Name) else None
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target
    return None


def _compound_bodies(node: ast.stmt) -> list[list[ast.stmt]]:
    bodies: list[list[ast.stmt]] = []
    for field in ("body", "orelse", "finalbody"):
        value = getattr(node, field, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            bodies.append(value)
    if isinstance(node, (ast.Try, ast.TryStar)):
        bodies += [h.body for h in node.handlers]
    if isinstance(node, ast.Match):
        bodies += [c.body for c in node.cases]
    return bodies


def _child_scopes(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _SCOPE_NODES):
            yield child
        else:
            yield from _child_scopes(child)


def _scope_contains(node: ast.AST, pos: tuple[int, int]) -> bool:
    """Whether ``pos`` is inside the scope ``node`` opens (not in the parts of its header
    that belong to the scope around it)."""
    if not _node_contains(node, pos):
        return False
    outside: list[ast.AST] = []
    if isinstance(node, (*_FUNCTIONS, ast.Lambda)):
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        a = node.args
        outside += [d for d in (*a.defaults, *a.kw_defaults) if d is not None]
        if not isinstance(node, ast.Lambda):
            outside += node.decorator_list
            outside += [
                arg.annotation
                for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
                if arg is not None and arg.annotation is not None
            ]
            if node.returns is not None:
                outside.append(node.returns)
    elif isinstance(node, ast.ClassDef):
        outside += [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
    if any(_node_contains(o, pos) for o in outside):
        return False
    if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
        # the header up to the name belongs outside: `def name`
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        return pos > (node.lineno, node.col_offset) and not (
            pos[0] == node.lineno and pos[1] <= _name_end_byte(node)
        )
    return True


def _name_end_byte(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    """The byte column just past a def's name on its first line (estimated: the keyword,
    one space, the name)."""
    keyword_len = {"ClassDef": 6, "FunctionDef": 4, "AsyncFunctionDef": 10}[type(node).__name__]
    return node.col_offset + keyword_len + len(node.name.encode("utf-8"))


def _node_contains(node: ast.AST, pos: tuple[int, int]) -> bool:
    start = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
    end_line = getattr(node, "end_lineno", None)
    end = (end_line or 10**9, getattr(node, "end_col_offset", None) or 0)
    if end_line is None:
        return start <= pos
    return start <= pos < end


def _line_offsets(text: str) -> list[int]:
    """Byte offset of each line's start (lines as ``ast`` counts them)."""
    offsets = [0]
    total = 0
    for row in text.encode("utf-8").splitlines(keepends=True):
        total += len(row)
        offsets.append(total)
    return offsets


def _collapse_blank_lines(before: str, after: str) -> str:
    """``after`` with runs of blank lines no longer than the longest in ``before`` (at
    least two): removing a statement leaves the blank lines around it together."""

    def longest(text: str) -> int:
        best = run = 0
        for row in _rows(text):
            run = run + 1 if not row.strip() else 0
            best = max(best, run)
        return best

    limit = max(2, longest(before))
    out: list[str] = []
    run = 0
    for row in source_lines(after):
        run = run + 1 if not row.strip() else 0
        if run <= limit:
            out.append(row)
    return "".join(out)


def _first_changed_line(change: FileChange) -> int:
    edits = change.text_edits()
    return edits[0].start[0] if edits else 0


def _slice(text: str, start: tuple[int, int], end: tuple[int, int]) -> str:
    lines = source_lines(text)
    if start[0] >= len(lines):
        return ""
    if start[0] == end[0]:
        return lines[start[0]][start[1] : end[1]]
    parts = [lines[start[0]][start[1] :]]
    parts += lines[start[0] + 1 : end[0]]
    if end[0] < len(lines):
        parts.append(lines[end[0]][: end[1]])
    return "".join(parts)


def _short(code: str, limit: int = 40) -> str:
    flat = " ".join(code.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _by_key(symbols: list[PySymbol]) -> dict[tuple[str, int], str]:
    seen: dict[str, int] = {}
    out: dict[tuple[str, int], str] = {}
    for sym in symbols:
        n = seen.get(sym.qualname, 0)
        seen[sym.qualname] = n + 1
        out[(sym.qualname, n)] = sym.own
    return out


def _unique(items: Iterator[str] | Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _unique_pairs(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(dict.fromkeys(pairs))
