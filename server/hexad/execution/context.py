"""What a model sees of the workspace when it writes code for one symbol.

:func:`build_context` gathers, for a target definition: its source as the editor has it
(open buffers win over the disk), the imports of its file, the outline of its class when it
is a method, the signatures and docstrings of what it calls and what calls it, memory's
hits for its docstring, the notes that apply to it, and the repository map personalised to
its file and symbol — each part in its share of a token budget, whole entries only. What
went in, and what was left out and why, is recorded for the proposal's evidence.

Files governance refuses to read (``allow_read``: secrets, keys) never enter a context:
their entries are dropped from every part, and a refused target is an error.
"""

from __future__ import annotations

import ast
import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hexad.core.db import Connection
from hexad.core.types import Symbol
from hexad.execution.edits import EditError
from hexad.execution.engines.base import EngineError, Sources
from hexad.memory.service import Memory
from hexad.perception.index import IndexReader
from hexad.perception.modules import module_name
from hexad.perception.repomap import build_repo_map, estimate_tokens

AllowRead = Callable[[str], bool]
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef

# Shares of the budget left after the target's own source, in the order parts are filled;
# what a part does not use rolls over to the next, and the repository map takes the rest.
SHARES: tuple[tuple[str, float], ...] = (
    ("notes", 0.10),
    ("imports", 0.10),
    ("class", 0.15),
    ("related", 0.30),
    ("recalled", 0.15),
)
TITLES = {
    "target": "The definition",
    "notes": "Notes",
    "imports": "Imports of the file",
    "class": "The enclosing class",
    "related": "What it calls and what calls it",
    "recalled": "Similar code in the repository",
    "repo_map": "Repository map",
}
MIN_REPO_MAP_TOKENS = 32
RECALL_K = 6
RECALL_MAX_LINES = 30


@dataclass(frozen=True, slots=True)
class ContextPart:
    """One part of a context: its text, its estimated tokens, the entries that went in
    (paths, qualnames, memory keys) and those left out, each with why."""

    name: str
    text: str
    tokens: int
    items: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "items": list(self.items),
            "dropped": list(self.dropped),
        }


@dataclass(frozen=True, slots=True)
class PromptContext:
    path: str
    qualname: str
    module: str  # the file's module (``inventory.pricing``)
    local: tuple[str, ...]  # the definition's names inside the module (``Item``, ``value``)
    source: str  # the target's definition, decorators included, as the editor has it
    line: int  # 0-based line of the ``def``/``class`` keyword
    file_text: str
    symbol: Symbol | None  # the index's symbol, when the index knows it
    parts: tuple[ContextPart, ...]
    refused: tuple[str, ...] = ()  # paths governance would not let into the context
    max_tokens: int = 0
    notes_list: tuple[str, ...] = ()  # the notes that apply, whole (the part may drop some)

    def part(self, name: str) -> ContextPart | None:
        return next((p for p in self.parts if p.name == name), None)

    @property
    def tokens(self) -> int:
        return sum(p.tokens for p in self.parts)

    def code(self, *, exclude: Sequence[str] = ("target", "notes")) -> str:
        """The context's code parts under headings, for a prompt's ``$context``."""
        blocks = [
            f"# {TITLES.get(p.name, p.name)}\n{p.text.rstrip()}"
            for p in self.parts
            if p.name not in exclude and p.text.strip()
        ]
        return "\n\n".join(blocks) if blocks else "(nothing else is known)"

    def notes(self) -> str:
        """The notes part for a prompt's ``$notes`` ("(none)" when there are none)."""
        part = self.part("notes")
        return part.text.rstrip() if part is not None and part.text.strip() else "(none)"

    def record(self) -> dict[str, Any]:
        """What went into the context, for the proposal's evidence."""
        return {
            "path": self.path,
            "qualname": self.qualname,
            "budget": self.max_tokens,
            "tokens": self.tokens,
            "parts": {p.name: p.to_json() for p in self.parts},
            "refused": list(self.refused),
        }


# -- locating definitions -----------------------------------------------------------------


def file_module(conn: Connection, sources: Sources, path: str) -> str:
    """The module ``path`` defines, as the index names it (or would)."""
    row = conn.execute("SELECT module FROM files WHERE path = ?", (path,)).fetchone()
    if row is not None and row[0]:
        return str(row[0])
    name = module_name("python", sources.root, path, None)
    return name or path.rsplit("/", 1)[-1].removesuffix(".py")


def local_names(module: str, qualname: str) -> tuple[str, ...]:
    """``qualname`` inside ``module``: ``("Item", "value")`` for ``inventory.stock.Item.value``."""
    if qualname.startswith(module + "."):
        return tuple(qualname[len(module) + 1 :].split("."))
    return tuple(qualname.split("."))


def find_definition(tree: ast.Module, local: Sequence[str]) -> list[Definition]:
    """The chain of definitions named ``local`` (outermost first), or [] when there is
    none. A chain that does not match from the module's top is tried as a suffix (a
    qualname whose module part the caller guessed wrong)."""
    for start in range(len(local)):
        chain = _walk(tree.body, local[start:])
        if chain:
            return chain
    return []


def _walk(body: Sequence[ast.stmt], names: Sequence[str]) -> list[Definition]:
    if not names:
        return []
    found: Definition | None = None
    for stmt in body:
        if (
            isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and stmt.name == names[0]
        ):
            found = stmt  # the last definition of a name is the one in force
    if found is None:
        return []
    if len(names) == 1:
        return [found]
    rest = _walk(found.body, names[1:])
    return [found, *rest] if rest else []


def definition_start(node: Definition) -> int:
    """1-based first line of ``node``, decorators included."""
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def definition_text(text: str, node: Definition) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[definition_start(node) - 1 : node.end_lineno])


def parse_python(text: str, path: str) -> ast.Module:
    try:
        return ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as exc:
        raise EngineError(f"{path} does not parse ({exc}); fix it first") from exc


# -- the context ------------------------------------------------------------------------


def build_context(
    conn: Connection,
    reader: IndexReader,
    sources: Sources,
    *,
    path: str,
    qualname: str,
    memory: Memory | None = None,
    max_tokens: int = 1500,
    allow_read: AllowRead | None = None,
    related_source: bool = False,
) -> PromptContext:
    """The context for writing code at ``qualname`` in ``path``, within ``max_tokens``
    (estimated; the target's own source always goes in). ``related_source``: the full
    source of the functions the target calls, not only their signatures (to fix a test,
    the model needs the code under test)."""
    allowed = _ReadGate(allow_read)
    if not allowed(path):
        raise EngineError(f"governance does not allow {path} into a model's context")
    try:
        file_text = sources.text(path)
    except (OSError, UnicodeDecodeError, EditError) as exc:
        raise EngineError(f"cannot read {path}: {exc}") from exc
    tree = parse_python(file_text, path)
    module = file_module(conn, sources, path)
    local = local_names(module, qualname)
    chain = find_definition(tree, local)
    if not chain:
        raise EngineError(f"no definition of {qualname} in {path}")
    node = chain[-1]
    qualname = ".".join((module, *(n.name for n in chain)))  # as the index names it
    local = tuple(n.name for n in chain)
    source = definition_text(file_text, node)
    symbol = _index_symbol(reader, path, qualname)

    budget = _Budget(max_tokens - estimate_tokens(source))
    parts = [ContextPart("target", source, estimate_tokens(source), (qualname,))]

    notes: list[str] = []
    if memory is not None:
        name = local[-1] if local else qualname
        notes = [n.text for n in memory.records.notes_for(path, qualname, name)]
    parts.append(budget.fill("notes", [(f"note {i + 1}", f"- {n}") for i, n in enumerate(notes)]))
    parts.append(budget.fill("imports", _imports(tree, file_text)))
    parent = chain[-2] if len(chain) > 1 and isinstance(chain[-2], ast.ClassDef) else None
    parts.append(budget.fill("class", _class_outline(parent, node, module) if parent else []))
    parts.append(
        budget.fill(
            "related",
            _related(conn, reader, sources, symbol, allowed, with_source=related_source),
        )
    )
    parts.append(budget.fill("recalled", _recalled(memory, node, qualname, allowed)))
    parts.append(_repo_map(conn, budget.left, path, qualname, allowed))
    return PromptContext(
        path=path,
        qualname=qualname,
        module=module,
        local=local,
        source=source,
        line=node.lineno - 1,
        file_text=file_text,
        symbol=symbol,
        parts=tuple(parts),
        refused=tuple(sorted(allowed.refused)),
        max_tokens=max_tokens,
        notes_list=tuple(notes),
    )


class _ReadGate:
    """Asks ``allow_read`` once per path and remembers the refusals."""

    def __init__(self, allow_read: AllowRead | None) -> None:
        self._allow = allow_read
        self._seen: dict[str, bool] = {}
        self.refused: set[str] = set()

    def __call__(self, path: str) -> bool:
        if self._allow is None:
            return True
        if path not in self._seen:
            self._seen[path] = bool(self._allow(path))
            if not self._seen[path]:
                self.refused.add(path)
        return self._seen[path]


class _Budget:
    """Hands each part its share of the tokens, rolling what a part leaves over on."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 0)
        self.left = self.total
        self._carry = 0
        self._shares = dict(SHARES)

    def fill(self, name: str, entries: Sequence[tuple[str, str]]) -> ContextPart:
        cap = min(self.left, math.floor(self.total * self._shares.get(name, 0.0)) + self._carry)
        chosen: list[str] = []
        items: list[str] = []
        dropped: list[str] = []
        used = 0
        for key, text in entries:
            cost = estimate_tokens(text + "\n")
            if used + cost <= cap:
                chosen.append(text)
                items.append(key)
                used += cost
            else:
                dropped.append(f"{key} (budget)")
        self._carry = cap - used
        self.left -= used
        body = "\n".join(chosen)
        return ContextPart(name, body, used, tuple(items), tuple(dropped))


def _index_symbol(reader: IndexReader, path: str, qualname: str) -> Symbol | None:
    for sym in reader.lookup(qualname):
        if sym.path == path and sym.qualname == qualname:
            return sym
    return None


def _imports(tree: ast.Module, text: str) -> list[tuple[str, str]]:
    lines = text.splitlines()
    out: list[tuple[str, str]] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            segment = "\n".join(lines[stmt.lineno - 1 : stmt.end_lineno or stmt.lineno])
            out.append((f"line {stmt.lineno}", segment.strip()))
    return out


def _header(node: ast.stmt) -> str:
    """A definition's first line(s) with its body elided, or a statement as it is."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        stub = _shallow_copy(node)
        doc = ast.get_docstring(node)
        body: list[ast.stmt] = [ast.Expr(ast.Constant(...))]
        if doc:
            first = doc.strip().splitlines()[0]
            body.insert(0, ast.Expr(ast.Constant(first)))
        stub.body = body
        text = ast.unparse(stub)
        return text[: -len("\n    ...")] + " ..." if text.endswith(":\n    ...") else text
    return ast.unparse(node)


def _shallow_copy(node: Definition) -> Definition:
    return copy.copy(node)


def _class_outline(cls: ast.ClassDef, target: Definition, module: str) -> list[tuple[str, str]]:
    head = _shallow_copy(cls)
    head.body = [ast.Pass()]
    header = ast.unparse(head).rsplit("\n", 1)[0]  # "class Item(Base):"
    lines = [header]
    doc = ast.get_docstring(cls)
    if doc:
        lines.append(f'    """{doc.strip().splitlines()[0]}"""')
    for stmt in cls.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the docstring
        if stmt is target:
            lines.append(f"    # {getattr(stmt, 'name', '')}: the definition being written")
            continue
        text = _header(stmt)
        if len(text.splitlines()) > 3 and not isinstance(
            stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        ):
            text = text.splitlines()[0] + " ..."
        lines.extend("    " + line for line in text.splitlines())
    return [(f"{module}.{cls.name}", "\n".join(lines))]


def _related(
    conn: Connection,
    reader: IndexReader,
    sources: Sources,
    symbol: Symbol | None,
    allowed: _ReadGate,
    *,
    with_source: bool,
) -> list[tuple[str, str]]:
    if symbol is None:
        return []
    seen: set[int] = {symbol.id}
    found: list[tuple[str, Symbol]] = []
    for edge in reader.callees([symbol]):
        if edge.callee is not None and edge.callee.id not in seen:
            seen.add(edge.callee.id)
            found.append(("called by it", edge.callee))
    for edge in reader.callers([symbol], include_ambiguous=False):
        if edge.caller is not None and edge.caller.id not in seen:
            seen.add(edge.caller.id)
            found.append(("calls it", edge.caller))
    out: list[tuple[str, str]] = []
    for role, sym in found:
        if not allowed(sym.path):
            continue
        text = None
        if with_source and role == "called by it":
            text = _symbol_source(conn, sources, sym)
        if text is None:
            text = sym.signature or sym.name
            if sym.doc:
                doc = sym.doc.strip().replace('"""', "'''")
                text += f'\n    """{doc}"""'
        out.append((sym.qualname, f"# {sym.qualname} ({sym.path}, {role})\n{text}"))
    return out


def _symbol_source(conn: Connection, sources: Sources, sym: Symbol) -> str | None:
    try:
        text = sources.text(sym.path)
        tree = ast.parse(text)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError, EditError):
        return None
    chain = find_definition(tree, local_names(file_module(conn, sources, sym.path), sym.qualname))
    return definition_text(text, chain[-1]).rstrip() if chain else None


def _recalled(
    memory: Memory | None, node: Definition, qualname: str, allowed: _ReadGate
) -> list[tuple[str, str]]:
    if memory is None:
        return []
    query = ast.get_docstring(node) or node.name
    out: list[tuple[str, str]] = []
    for hit in memory.recall(query, k=RECALL_K, types=("chunk",)):
        item = hit.item
        if item.qualname == qualname or (item.path is not None and not allowed(item.path)):
            continue
        body = "\n".join(item.body.splitlines()[:RECALL_MAX_LINES])
        doc = f"\n    # {item.doc.strip().splitlines()[0]}" if item.doc.strip() else ""
        head = f"# {item.qualname or item.title} ({item.location}, {hit.why})"
        out.append((item.key, f"{head}{doc}\n{body}"))
    return out


def _repo_map(
    conn: Connection, tokens: int, path: str, qualname: str, allowed: _ReadGate
) -> ContextPart:
    if tokens < MIN_REPO_MAP_TOKENS:
        return ContextPart("repo_map", "", 0, (), ("repository map (budget)",))
    repo = build_repo_map(conn, max_tokens=tokens, focus_files=[path], focus_symbols=[qualname])
    kept: list[str] = []
    files: list[str] = []
    dropped: list[str] = []
    for file, section in _map_sections(repo.text):
        if allowed(file):
            kept.append(section)
            files.append(file)
        else:
            dropped.append(f"{file} (refused)")
    text = "".join(kept)
    return ContextPart("repo_map", text, estimate_tokens(text), tuple(files), tuple(dropped))


def _map_sections(text: str) -> list[tuple[str, str]]:
    """The repository map's text split by file: (path, the section's lines)."""
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\n")
        if bare and not bare.startswith(("│", "⋮")) and bare.endswith(":"):
            sections.append((bare[:-1], [line]))
        elif sections:
            sections[-1][1].append(line)
    return [(path, "".join(lines)) for path, lines in sections]
