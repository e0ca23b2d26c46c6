"""Add a missing import to a Python file.

:func:`undefined_names` finds what a file uses without defining (pyflakes, in process);
:func:`import_candidates` ranks where a name could come from; :func:`add_import` writes
the best one where isort (and ruff's ``I`` rules, with their defaults) would put it.

Ranking. Every candidate import statement gathers points from what speaks for it:

===============================================  =======================================
already imported this way elsewhere               +40, and +5 per further file (up to +20)
a module-level definition in the workspace        +30
a workspace module (or package) of that name      +26
a standard-library module of that name            +28
a well-known standard-library name (``Path``)     +24
re-exported by a package ``__init__``             +6 (the shorter path), +4 more when the
                                                  package lists it in ``__all__``
public (exported, no leading underscore)          +4
near the importing file                           +3 per leading package name shared (≤ 9)
module path length                                -1 per dot
from a test module or ``conftest``                -20
private module or name (leading underscore)       -10
===============================================  =======================================
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from hexad.execution.edits import Change, FileChange
from hexad.execution.engines.base import Draft, EngineError, Intent, Sources, Target
from hexad.execution.engines.refactor import (
    bound_names,
    char_col,
    check_identifier,
    read_python,
    source_lines,
)
from hexad.perception.index import SYMBOL_SELECT, IndexReader, symbol_from_row

ENGINE = "structural:index"
LINE_LENGTH = 100  # ruff's and this project's; a merged import longer than this is wrapped

SCORE_IMPORTED_ELSEWHERE = 40.0
SCORE_PER_IMPORTING_FILE = 5.0
MAX_IMPORTING_BONUS = 20.0
SCORE_DEFINITION = 30.0
SCORE_WORKSPACE_MODULE = 26.0
SCORE_STDLIB_MODULE = 28.0
SCORE_STDLIB_NAME = 24.0
BONUS_REEXPORT = 6.0
BONUS_ALL = 4.0
BONUS_PUBLIC = 4.0
BONUS_NEAR = 3.0
MAX_NEAR = 9.0
PENALTY_DEPTH = 1.0
PENALTY_TEST = 20.0
PENALTY_PRIVATE = 10.0

_STDLIB = frozenset(m for m in sys.stdlib_module_names if not m.startswith("_"))
_MODULE_PATH = re.compile(r"^\.*([^\W\d]\w*(\.[^\W\d]\w*)*)?$")

# Names people use from the standard library without saying where from, by module.
_STDLIB_NAMES: dict[str, str] = {
    name: module
    for module, names in {
        "abc": "ABC ABCMeta abstractmethod",
        "argparse": "ArgumentParser Namespace",
        "base64": "b64decode b64encode",
        "bisect": "bisect_left bisect_right insort",
        "collections": "ChainMap Counter OrderedDict defaultdict deque namedtuple",
        "collections.abc": (
            "AsyncIterator Awaitable Callable Collection Container Generator Hashable "
            "ItemsView Iterable Iterator KeysView Mapping MutableMapping MutableSequence "
            "MutableSet Sequence Sized ValuesView"
        ),
        "contextlib": (
            "ExitStack asynccontextmanager closing contextmanager nullcontext redirect_stdout "
            "suppress"
        ),
        "copy": "deepcopy",
        "dataclasses": "asdict astuple dataclass field fields is_dataclass",
        "datetime": "date datetime time timedelta timezone",
        "decimal": "Decimal InvalidOperation ROUND_HALF_UP",
        "enum": "Enum Flag IntEnum IntFlag StrEnum auto unique",
        "fractions": "Fraction",
        "functools": (
            "cache cached_property lru_cache partial partialmethod reduce singledispatch "
            "total_ordering wraps"
        ),
        "hashlib": "blake2b md5 sha1 sha256",
        "heapq": "heapify heappop heappush nlargest nsmallest",
        "io": "BytesIO StringIO TextIOWrapper",
        "itertools": (
            "accumulate chain combinations count cycle groupby islice pairwise permutations "
            "product repeat starmap takewhile zip_longest"
        ),
        "logging": "getLogger",
        "math": "ceil floor inf isclose nan pi sqrt",
        "operator": "attrgetter itemgetter methodcaller",
        "pathlib": "Path PurePath PurePosixPath PureWindowsPath",
        "pprint": "pformat pprint",
        "random": "choice randint random sample shuffle",
        "shutil": "copyfile copytree rmtree which",
        "string": "Template ascii_letters ascii_lowercase ascii_uppercase digits",
        "subprocess": "PIPE CalledProcessError Popen check_output",
        "tempfile": "NamedTemporaryFile TemporaryDirectory mkdtemp mkstemp",
        "textwrap": "dedent indent shorten wrap",
        "threading": "Event Lock RLock Thread",
        "time": "monotonic perf_counter sleep",
        "types": "MappingProxyType ModuleType SimpleNamespace TracebackType",
        "typing": (
            "TYPE_CHECKING Annotated Any ClassVar Final Generic IO Literal NamedTuple "
            "NoReturn Optional ParamSpec Protocol Self TypeAlias TypeVar TypedDict Union cast "
            "final get_type_hints overload runtime_checkable"
        ),
        "unittest.mock": "MagicMock Mock patch",
        "uuid": "UUID uuid4",
        "warnings": "warn",
    }.items()
    for name in names.split()
}


# -- undefined names --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UndefinedName:
    """A name a file uses but does not define (0-based line, column in code points)."""

    name: str
    line: int
    col: int


def undefined_names(text: str, path: str) -> list[UndefinedName]:
    """The undefined names pyflakes reports in ``text`` (none when it does not parse)."""
    from pyflakes import checker, messages

    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError):
        return []
    report: Any = checker.Checker(tree, filename=path, withDoctest=False)
    lines = [row.rstrip("\r\n") for row in source_lines(text)]
    out: list[UndefinedName] = []
    for message in report.messages:
        if type(message) is not messages.UndefinedName:
            continue
        line = int(message.lineno) - 1
        row = lines[line] if 0 <= line < len(lines) else ""
        out.append(UndefinedName(str(message.message_args[0]), line, char_col(row, message.col)))
    out.sort(key=lambda u: (u.line, u.col, u.name))
    return out


# -- candidates -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportCandidate:
    """One way to bind ``name``: ``from module import name`` or, when ``name`` is None,
    ``import module``."""

    module: str
    name: str | None
    statement: str
    score: float
    why: tuple[str, ...]
    alias: str | None = None  # `from module import name as alias` / `import module as alias`
    origin: str = "workspace"  # workspace | stdlib | third-party

    def to_json(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "name": self.name,
            "alias": self.alias,
            "statement": self.statement,
            "score": round(self.score, 2),
            "why": list(self.why),
            "origin": self.origin,
        }


@dataclass
class _Gathered:
    module: str
    name: str | None
    alias: str | None
    origin: str
    score: float = 0.0
    why: list[str] = field(default_factory=list)

    def add(self, points: float, reason: str) -> None:
        self.score += points
        if reason not in self.why:
            self.why.append(reason)


def import_candidates(
    reader: IndexReader,
    name: str,
    path: str,
    *,
    limit: int = 8,
    sources: Sources | None = None,
) -> list[ImportCandidate]:
    """Where ``name`` could be imported from in ``path``, best first (see the module's
    table for the score). ``sources``, when given, lets a package's ``__init__`` be read
    for its ``__all__``."""
    own_module = _module_of(reader, path)
    found: dict[tuple[str, str | None, str | None], _Gathered] = {}

    def gather(module: str, imported: str | None, alias: str | None, origin: str) -> _Gathered:
        key = (module, imported, alias)
        if key not in found:
            found[key] = _Gathered(module, imported, alias, origin)
        return found[key]

    # 1. the same name imported elsewhere in the workspace
    for (module, imported, alias), files in _imported_elsewhere(reader, name, path).items():
        if module == own_module:
            continue
        top = module.split(".")[0]
        origin = "stdlib" if top in _STDLIB else _origin(reader, top)
        entry = gather(module, imported, alias, origin)
        extra = min(SCORE_PER_IMPORTING_FILE * (len(files) - 1), MAX_IMPORTING_BONUS)
        shown = ", ".join(sorted(files)[:3]) + (" …" if len(files) > 3 else "")
        entry.add(
            SCORE_IMPORTED_ELSEWHERE + extra,
            f"imported this way in {len(files)} other file{'s' if len(files) > 1 else ''} "
            f"({shown})",
        )

    # 2. module-level definitions in the workspace, and the packages re-exporting them
    rows = reader.conn.execute(
        f"{SYMBOL_SELECT} WHERE s.name = ? AND s.parent_id IS NULL AND f.language = 'python' "
        "AND f.path != ? ORDER BY f.path",
        (name, path),
    ).fetchall()
    for row in rows:
        sym = symbol_from_row(row)
        module = _module_of(reader, sym.path)
        if not module or module == own_module:
            continue
        entry = gather(module, name, None, "workspace")
        entry.add(SCORE_DEFINITION, f"{sym.kind} defined in {sym.path}")
        if sym.exported and not name.startswith("_"):
            entry.add(BONUS_PUBLIC, "public")
        for package, package_path in _reexports(reader, sym.path, name):
            if package == own_module:
                continue
            listed = _in_all(reader, sources, package_path, name)
            again = gather(package, name, None, "workspace")
            again.add(SCORE_DEFINITION, f"{sym.kind} defined in {sym.path}")
            again.add(BONUS_REEXPORT, f"re-exported by {package_path}")
            if listed:
                again.add(BONUS_ALL, f"listed in {package}.__all__")
            if not name.startswith("_"):
                again.add(BONUS_PUBLIC, "public")

    # 3. modules and packages called `name`: the workspace's, then the standard library's
    for module_path, found_module in reader.conn.execute(
        "SELECT path, module FROM files WHERE language = 'python' AND module IS NOT NULL "
        "AND (module = ? OR module LIKE ?) AND path != ? ORDER BY path",
        (name, f"%.{name}", path),
    ).fetchall():
        module = str(found_module)
        if module.rsplit(".", 1)[-1] != name or module == own_module:
            continue
        if "." in module:
            entry = gather(module.rsplit(".", 1)[0], name, None, "workspace")
        else:
            entry = gather(module, None, None, "workspace")
        entry.add(SCORE_WORKSPACE_MODULE, f"the module {module_path}")
    if name in _STDLIB:
        gather(name, None, None, "stdlib").add(SCORE_STDLIB_MODULE, "standard-library module")
    if name in _STDLIB_NAMES:
        gather(_STDLIB_NAMES[name], name, None, "stdlib").add(
            SCORE_STDLIB_NAME, f"from the standard library's {_STDLIB_NAMES[name]}"
        )

    own_parts = own_module.split(".") if own_module else []
    out: list[ImportCandidate] = []
    for entry in found.values():
        parts = entry.module.split(".")
        shared = 0
        for a, b in zip(parts, own_parts[:-1] or own_parts, strict=False):
            if a != b:
                break
            shared += 1
        if entry.origin == "workspace" and shared:
            entry.add(min(BONUS_NEAR * shared, MAX_NEAR), f"near {path}")
        entry.score -= PENALTY_DEPTH * (len(parts) - 1)
        if any(p.startswith("test_") or p in ("tests", "conftest") for p in parts):
            entry.add(-PENALTY_TEST, "from a test module")
        if any(p.startswith("_") and not p.startswith("__") for p in parts) or (
            (entry.name or "").startswith("_")
        ):
            entry.add(-PENALTY_PRIVATE, "private")
        out.append(
            ImportCandidate(
                module=entry.module,
                name=entry.name,
                statement=_statement(entry.module, entry.name, entry.alias),
                score=entry.score,
                why=tuple(entry.why),
                alias=entry.alias,
                origin=entry.origin,
            )
        )
    out.sort(key=lambda c: (-c.score, len(c.module), c.statement))
    return out[:limit]


def _module_of(reader: IndexReader, path: str) -> str:
    row = reader.conn.execute("SELECT module FROM files WHERE path = ?", (path,)).fetchone()
    return str(row[0]) if row is not None and row[0] else ""


def _origin(reader: IndexReader, top: str) -> str:
    row = reader.conn.execute(
        "SELECT 1 FROM files WHERE language = 'python' AND (module = ? OR module LIKE ?) LIMIT 1",
        (top, f"{top}.%"),
    ).fetchone()
    return "workspace" if row is not None else "third-party"


def _imported_elsewhere(
    reader: IndexReader, name: str, path: str
) -> dict[tuple[str, str | None, str | None], set[str]]:
    """(absolute module, imported name, alias) → files that bind ``name`` that way."""
    rows = reader.conn.execute(
        "SELECT i.source, i.name, i.alias, i.wildcard, f.path, f.module FROM imports i "
        "JOIN files f ON f.id = i.file_id WHERE f.language = 'python' AND f.path != ? AND ("
        "(i.name = ? AND (i.alias IS NULL OR i.alias = ?)) OR i.alias = ? "
        "OR (i.name IS NULL AND i.alias IS NULL AND (i.source = ? OR i.source LIKE ?)))",
        (path, name, name, name, name, f"{name}.%"),
    ).fetchall()
    out: dict[tuple[str, str | None, str | None], set[str]] = {}
    for source, imported, alias, wildcard, importer, importer_module in rows:
        if wildcard:
            continue
        module = _absolute(str(source), importer, importer_module or "")
        if not module:
            continue
        if imported is None and alias is None:
            key: tuple[str, str | None, str | None] = (name, None, None)  # `import name.sub`
        else:
            key = (module, imported, alias if alias != imported else None)
        out.setdefault(key, set()).add(importer)
    return out


def _absolute(source: str, importer_path: str, importer_module: str) -> str:
    if not source.startswith("."):
        return source
    level = len(source) - len(source.lstrip("."))
    base = importer_module.split(".") if importer_module else []
    if not importer_path.endswith(("__init__.py", "__init__.pyi")):
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    rest = source[level:]
    return ".".join([*base, rest] if rest else base)


def _reexports(reader: IndexReader, defining_path: str, name: str) -> list[tuple[str, str]]:
    """Packages whose ``__init__`` imports ``name`` from ``defining_path``: (package, its
    ``__init__`` path)."""
    rows = reader.conn.execute(
        "SELECT DISTINCT f.module, f.path FROM imports i JOIN files f ON f.id = i.file_id "
        "JOIN files t ON t.id = i.target_file_id WHERE t.path = ? AND i.name = ? "
        "AND (i.alias IS NULL OR i.alias = i.name) AND f.path LIKE '%\\_\\_init\\_\\_.py%' "
        "ESCAPE '\\' ORDER BY length(f.module)",
        (defining_path, name),
    ).fetchall()
    return [(str(m), str(p)) for m, p in rows if m]


def _in_all(reader: IndexReader, sources: Sources | None, init_path: str, name: str) -> bool:
    text: str | None = None
    if sources is not None:
        try:
            text = sources.text(init_path)
        except (OSError, UnicodeDecodeError, ValueError):
            text = None
    if text is None:  # the index keeps the statement's first line as its signature
        row = reader.conn.execute(
            "SELECT s.signature FROM symbols s JOIN files f ON f.id = s.file_id "
            "WHERE f.path = ? AND s.name = '__all__'",
            (init_path,),
        ).fetchone()
        text = str(row[0]) if row is not None else ""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            continue
        assert isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
        if isinstance(node.value, (ast.List, ast.Tuple)) and any(
            isinstance(e, ast.Constant) and e.value == name for e in node.value.elts
        ):
            return True
    return False


def _statement(module: str, name: str | None, alias: str | None) -> str:
    tail = f" as {alias}" if alias else ""
    if name is None:
        return f"import {module}{tail}"
    return f"from {module} import {name}{tail}"


# -- adding the import ------------------------------------------------------------------


def add_import(
    sources: Sources,
    reader: IndexReader,
    path: str,
    name: str,
    *,
    module: str | None = None,
) -> Draft:
    """Import ``name`` in ``path``: from ``module`` when given, else from the best
    candidate; merged into an existing ``from module import …`` when there is one."""
    check_identifier(name)
    text = read_python(sources, path)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        raise EngineError(f"{path} does not parse ({exc}); fix its syntax first") from exc
    if name in bound_names(tree):
        raise EngineError(f"{name} is already defined or imported in {path}")
    candidates = import_candidates(reader, name, path, sources=sources)
    if module is not None:
        if not module or not _MODULE_PATH.match(module):
            raise EngineError(f"{module!r} is not a module path")
        chosen = next(
            (c for c in candidates if c.module == module and c.alias is None),
            None,
        ) or ImportCandidate(
            module=module,
            name=None if module == name else name,
            statement=_statement(module, None if module == name else name, None),
            score=0.0,
            why=("asked for",),
            origin="stdlib" if module.split(".")[0] in _STDLIB else "workspace",
        )
    elif not candidates:
        raise EngineError(f"no definition named {name} in the workspace or the standard library")
    else:
        chosen = candidates[0]
    first_party = _first_party(reader)
    new_text, line, merged = insert_import(
        text, chosen, first_party=first_party, path=path, module=_module_of(reader, path)
    )
    change = Change((FileChange(path, text, new_text),))
    others = [c for c in candidates if c.statement != chosen.statement]
    notes: list[str] = []
    if others and module is None and others[0].score >= chosen.score - 5:
        notes.append(
            "other candidates: " + "; ".join(f"{c.statement} ({c.score:.0f})" for c in others[:3])
        )
    where = f"{chosen.name} from {chosen.module}" if chosen.name else chosen.module
    uses = [u for u in undefined_names(text, path) if u.name == name]
    return Draft(
        task=f"Import {where} in {path}",
        kind="add_import",
        engine=ENGINE,
        change=change,
        intent=Intent(kind="add_import", imports_only=True),
        targets=(Target(path, line),),
        symbols=(),
        notes=tuple(notes),
        evidence={
            "statement": chosen.statement,
            "merged": merged,
            "why": list(chosen.why),
            "undefined_uses": len(uses),
            "candidates": [c.to_json() for c in candidates],
        },
    )


def _first_party(reader: IndexReader) -> frozenset[str]:
    return frozenset(
        str(m).split(".")[0]
        for (m,) in reader.conn.execute(
            "SELECT DISTINCT module FROM files WHERE language = 'python' AND module IS NOT NULL"
        )
    )


@dataclass(frozen=True, slots=True)
class _Stmt:
    node: ast.Import | ast.ImportFrom
    section: int
    key: tuple[int, str, str]
    first: int  # 0-based first line
    last: int  # 0-based last line


FUTURE, STDLIB, THIRD_PARTY, FIRST_PARTY, LOCAL = range(5)


def _section(module: str, level: int, first_party: frozenset[str]) -> int:
    if level:
        return LOCAL
    top = module.split(".", 1)[0]
    if top == "__future__":
        return FUTURE
    if top in first_party:
        return FIRST_PARTY
    if top in sys.stdlib_module_names:
        return STDLIB
    return THIRD_PARTY


def _key(is_from: bool, module: str) -> tuple[int, str, str]:
    return (1 if is_from else 0, module.lower(), module)


def insert_import(
    text: str,
    candidate: ImportCandidate,
    *,
    first_party: frozenset[str] = frozenset(),
    path: str = "",
    module: str = "",
) -> tuple[str, int, bool]:
    """``text`` with ``candidate``'s import added at module level: (new text, 0-based line
    of the import, whether it was merged into an existing ``from`` import). ``path`` and
    ``module`` (the file's) let a relative ``from .x import …`` of the same module take
    the name."""
    tree = ast.parse(text)
    lines = source_lines(text)
    newline = _newline(text)
    head = _head_imports(tree, first_party)
    if candidate.name is not None:
        for stmt in head:
            node = stmt.node
            if (
                isinstance(node, ast.ImportFrom)
                and _from_module(node, path, module) == candidate.module
                and all(a.name != "*" for a in node.names)
            ):
                merged = _merge(text, lines, node, candidate.name, candidate.alias)
                if merged is not None:
                    return merged, stmt.first, True
    statement = candidate.statement
    level = len(candidate.module) - len(candidate.module.lstrip("."))
    section = _section(candidate.module.lstrip("."), level, first_party)
    key = _key(candidate.name is not None, candidate.module)
    same = [s for s in head if s.section == section]
    if same:
        before = [s for s in same if s.key <= key]
        at = before[-1].last + 1 if before else same[0].first
        return _insert_lines(lines, at, [statement + newline]), at, False
    earlier = [s for s in head if s.section < section]
    later = [s for s in head if s.section > section]
    if earlier:
        at = earlier[-1].last + 1
        block = [newline, statement + newline]
        if at < len(lines) and lines[at].strip():
            block.append(newline * _blank_lines_before(lines[at]))
        return _insert_lines(lines, at, block), at + 1, False
    if later:
        at = later[0].first
        return _insert_lines(lines, at, [statement + newline, newline]), at, False
    # no imports yet: after the docstring, or after the comments that open the file
    at = 0
    if tree.body and _is_docstring(tree.body[0]):
        at = tree.body[0].end_lineno or tree.body[0].lineno
    else:
        while at < len(lines) and lines[at].lstrip().startswith("#"):
            at += 1
    rest = at  # the blank lines after the insertion point are rebuilt
    while rest < len(lines) and not lines[rest].strip():
        rest += 1
    block = [newline] if at > 0 else []
    statement_line = at + len(block)
    block.append(statement + newline)
    if rest < len(lines):
        block.append(newline * _blank_lines_before(lines[rest]))
    return _insert_lines(lines[:at] + lines[rest:], at, block), statement_line, False


def _from_module(node: ast.ImportFrom, path: str, module: str) -> str:
    source = "." * node.level + (node.module or "")
    if node.level and not module:
        return source
    return _absolute(source, path, module)


def _blank_lines_before(line: str) -> int:
    """How many blank lines ruff's formatter wants between the imports and ``line``."""
    stripped = line.lstrip()
    top_level = len(stripped) == len(line)
    if top_level and stripped.startswith(("def ", "async def ", "class ", "@")):
        return 2
    return 1


def _head_imports(tree: ast.Module, first_party: frozenset[str]) -> list[_Stmt]:
    """The module-level import statements that open the file (after its docstring)."""
    body = list(tree.body)
    if body and _is_docstring(body[0]):
        body = body[1:]
    out: list[_Stmt] = []
    for node in body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            break
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            section = _section(module, node.level, first_party)
            key = _key(True, "." * node.level + module)
        else:
            module = node.names[0].name
            section = _section(module, 0, first_party)
            key = _key(False, module)
        out.append(_Stmt(node, section, key, node.lineno - 1, (node.end_lineno or node.lineno) - 1))
    return out


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _member_key(name: str) -> tuple[int, str, str]:
    """isort's ``order_by_type``: CONSTANTS, then Classes, then everything else."""
    if name.isupper() and len(name) > 1:
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    return (kind, name.lower(), name)


def _plain_key(name: str) -> tuple[int, str, str]:
    return (0, name.lower(), name)


def _merge(
    text: str, lines: list[str], node: ast.ImportFrom, name: str, alias: str | None
) -> str | None:
    """``text`` with ``name`` added to the ``from`` import ``node``; None when the
    statement carries comments (it is left as it is written)."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    segment = "".join(lines[first : last + 1])
    if "#" in segment:
        return None
    members = [(a.name, a.asname) for a in node.names]
    names = [m[0] for m in members]
    position = len(members)
    for key in (_member_key, _plain_key):
        keys = [key(n) for n in names]
        if keys == sorted(keys):
            new = key(name)
            position = next((i for i, k in enumerate(keys) if k > new), len(members))
            break
    members.insert(position, (name, alias))
    items = [f"{n} as {a}" if a else n for n, a in members]
    module = "." * node.level + (node.module or "")
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    single = f"{indent}from {module} import {', '.join(items)}"
    data = text.encode("utf-8")
    offsets = _line_offsets(text)
    start = offsets[first] + node.col_offset
    stop = offsets[last] + (node.end_col_offset or 0)
    original = data[start:stop].decode("utf-8")
    wrapped = "(" in original or len(single) > LINE_LENGTH
    if not wrapped:
        replacement = single[len(indent) :]
    else:
        inner = indent + "    "
        if last > first:
            second = lines[first + 1]
            if second.strip() and second.strip() != ")":
                inner = second[: len(second) - len(second.lstrip())]
        newline = _newline(text)
        body = "".join(f"{inner}{item},{newline}" for item in items)
        replacement = f"from {module} import ({newline}{body}{indent})"
    return (data[:start] + replacement.encode("utf-8") + data[stop:]).decode("utf-8")


def _insert_lines(lines: list[str], at: int, block: list[str]) -> str:
    if at > 0 and at <= len(lines) and not lines[at - 1].endswith(("\n", "\r")):
        lines = [*lines[: at - 1], lines[at - 1] + _newline("".join(lines)), *lines[at:]]
    return "".join(lines[:at] + block + lines[at:])


def _newline(text: str) -> str:
    if "\r\n" in text:
        return "\r\n"
    return "\n"


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    total = 0
    for row in text.encode("utf-8").splitlines(keepends=True):
        total += len(row)
        offsets.append(total)
    return offsets
