"""Which pytest tests reach a change, found through the structural index.

From each changed symbol the call graph is walked upwards (callers of callers, up to
``max_depth`` calls away) until test functions are met; every test found keeps the chain
of calls that led to it. Test files that import a changed module directly are selected
whole. Node ids are pytest's (``tests/test_x.py::TestY::test_z``), relative to the
workspace root. The share of changed symbols reached by at least one test through the
call graph is the change's *test reach*.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hexad.core.types import CallEdge, Symbol
from hexad.perception.index import IndexReader

TEST_DIRS = frozenset({"tests", "test"})
_FRONTIER_LIMIT = 400  # callers followed per level, so a common name cannot explode a walk
_CONSTRUCTORS = frozenset({"__init__", "__new__", "__post_init__"})
_SEPARATORS = re.compile(r"\.|::|/")


@dataclass(frozen=True, slots=True)
class AffectedTest:
    """A test that reaches a changed symbol; ``chain`` runs from the test down to the
    symbol (``via == "calls"``), or names the file and the module it imports."""

    node_id: str
    path: str
    via: str  # calls | imports | changed
    chain: tuple[str, ...]
    certain: bool = True  # False when a call on the way might go elsewhere (ambiguous)

    @property
    def depth(self) -> int:
        return len(self.chain) - 1

    def to_json(self) -> dict[str, object]:
        return {
            "nodeId": self.node_id,
            "via": self.via,
            "chain": list(self.chain),
            "certain": self.certain,
        }


@dataclass(frozen=True, slots=True)
class AffectedTests:
    tests: tuple[AffectedTest, ...]
    symbols: tuple[str, ...]  # the changed symbols asked about
    reached: tuple[str, ...]  # those a test reaches through the call graph
    unresolved: tuple[str, ...]  # those the index does not know
    truncated: bool = False  # more tests reach the change than ``limit``

    @property
    def node_ids(self) -> tuple[str, ...]:
        """What to pass to pytest: whole files first, then tests in other files."""
        files = [t.node_id for t in self.tests if "::" not in t.node_id]
        whole = set(files)
        singles = [t.node_id for t in self.tests if "::" in t.node_id and t.path not in whole]
        return tuple(dict.fromkeys([*files, *singles]))

    @property
    def reach(self) -> float | None:
        """Share of changed symbols a test reaches; None when no symbol was given."""
        if not self.symbols:
            return None
        return len(self.reached) / len(self.symbols)

    def chain(self, node_id: str) -> tuple[str, ...]:
        test = next((t for t in self.tests if t.node_id == node_id), None)
        return test.chain if test is not None else ()


def is_test_file(path: str) -> bool:
    """A Python file pytest would treat as tests: ``test_*.py``, ``*_test.py``, or any
    module under a ``tests``/``test`` folder (``conftest.py`` and ``__init__.py`` excluded)."""
    if not path.endswith(".py"):
        return False
    folder, _, name = path.rpartition("/")
    if name in ("conftest.py", "__init__.py"):
        return False
    if name.startswith("test_") or name.endswith("_test.py"):
        return True
    return any(part in TEST_DIRS for part in folder.split("/"))


def collected_node_id(
    path: str, name: str, kind: str, parents: Sequence[tuple[str, str, str]]
) -> str | None:
    """The pytest node id of a definition, or None when pytest would not collect it.

    ``parents`` are the enclosing definitions, outermost first, as (name, kind, signature).
    Functions at module level named ``test*`` count; so do methods named ``test*`` of
    classes named ``Test*`` or that derive from something (``unittest.TestCase``).
    """
    if not is_test_file(path) or not name.startswith("test"):
        return None
    if kind not in ("function", "method"):
        return None
    names: list[str] = []
    for parent_name, parent_kind, signature in parents:
        if parent_kind != "class":
            return None  # a function inside a function is not collected
        if not (parent_name.startswith("Test") or "(" in signature):
            return None
        names.append(parent_name)
    if kind == "method" and not names:
        return None
    return "::".join([path, *names, name])


class _Walker:
    """Caches symbol parents and test node ids while walking one index."""

    def __init__(self, reader: IndexReader) -> None:
        self.reader = reader
        self._symbols: dict[int, Symbol | None] = {}
        self._nodes: dict[int, str | None] = {}
        self._has_tests: dict[str, bool] = {}

    def symbol(self, symbol_id: int) -> Symbol | None:
        if symbol_id not in self._symbols:
            self._symbols[symbol_id] = self.reader.symbol(symbol_id)
        return self._symbols[symbol_id]

    def node_id(self, sym: Symbol) -> str | None:
        if sym.id in self._nodes:
            return self._nodes[sym.id]
        node: str | None = None
        if is_test_file(sym.path) and sym.name.startswith("test"):
            parents: list[tuple[str, str, str]] = []
            parent_id = sym.parent_id
            while parent_id is not None:
                parent = self.symbol(parent_id)
                if parent is None:
                    break
                parents.insert(0, (parent.name, parent.kind, parent.signature))
                parent_id = parent.parent_id
            node = collected_node_id(sym.path, sym.name, sym.kind, parents)
        self._nodes[sym.id] = node
        return node

    def has_tests(self, path: str) -> bool:
        if path not in self._has_tests:
            self._has_tests[path] = is_test_file(path) and any(
                self.node_id(s) is not None for s in self.reader.symbols_in_file(path)
            )
        return self._has_tests[path]

    def resolve(self, qualname: str, paths: set[str]) -> list[Symbol]:
        """The index's symbols for a changed qualname, those in the changed files first."""
        found = self.reader.lookup(qualname)
        exact = [s for s in found if s.qualname == qualname]
        if exact:
            found = exact
        in_paths = [s for s in found if s.path in paths]
        chosen = in_paths or found[:20]
        targets = list(chosen)
        for sym in chosen:  # constructing the class runs its constructor
            if sym.name in _CONSTRUCTORS and sym.parent_id is not None:
                parent = self.symbol(sym.parent_id)
                if parent is not None and parent.kind == "class":
                    targets.append(parent)
        return targets

    def walk(self, targets: list[Symbol], max_depth: int) -> list[AffectedTest]:
        """Tests reaching ``targets`` through callers, each with its chain."""
        # how each symbol was reached: id -> (callee id it calls on the way, certain)
        via: dict[int, tuple[int | None, bool]] = {t.id: (None, True) for t in targets}
        found: list[AffectedTest] = []
        for target in targets:
            node = self.node_id(target)
            if node is not None:
                found.append(AffectedTest(node, target.path, "changed", (target.qualname,)))
        frontier = [t for t in targets if self.node_id(t) is None]
        for _ in range(max_depth):
            if not frontier:
                break
            next_frontier: list[Symbol] = []
            for edge in self._callers(frontier):
                caller = edge.caller
                if caller is None or caller.id in via:
                    continue
                callee_id = edge.callee.id if edge.callee is not None else _match(edge, frontier)
                if callee_id is None:
                    continue
                via[caller.id] = (callee_id, edge.resolution != "ambiguous")
                node = self.node_id(caller)
                if node is not None:
                    chain, certain = self._chain(caller, via)
                    found.append(AffectedTest(node, caller.path, "calls", chain, certain))
                elif len(next_frontier) < _FRONTIER_LIMIT:
                    next_frontier.append(caller)
            frontier = next_frontier
        return found

    def _callers(self, frontier: list[Symbol]) -> list[CallEdge]:
        edges: list[CallEdge] = []
        for start in range(0, len(frontier), 200):
            edges += self.reader.callers(frontier[start : start + 200])
        return edges

    def _chain(
        self, caller: Symbol, via: dict[int, tuple[int | None, bool]]
    ) -> tuple[tuple[str, ...], bool]:
        chain = [caller.qualname]
        certain = True
        current: int | None = caller.id
        while current is not None:
            callee, sure = via[current]
            certain = certain and sure
            if callee is None:
                break
            sym = self.symbol(callee)
            chain.append(sym.qualname if sym is not None else f"#{callee}")
            current = callee
        return tuple(chain), certain


def _match(edge: CallEdge, frontier: list[Symbol]) -> int | None:
    """For an ambiguous call, the frontier symbol it may reach (same name)."""
    return next((s.id for s in frontier if s.name == edge.name), None)


def affected_tests(
    reader: IndexReader,
    symbols: Iterable[str],
    paths: Iterable[str],
    *,
    max_depth: int = 4,
    limit: int = 200,
) -> AffectedTests:
    """The tests that reach ``symbols`` (qualnames) in the changed ``paths``."""
    wanted = tuple(dict.fromkeys(symbols))
    path_set = set(paths)
    walker = _Walker(reader)
    by_node: dict[str, AffectedTest] = {}
    reached: list[str] = []
    unresolved: list[str] = []
    for qualname in wanted:
        targets = walker.resolve(qualname, path_set)
        if not targets:
            unresolved.append(qualname)
            continue
        tests = walker.walk(targets, max_depth)
        if tests:
            reached.append(qualname)
        for test in tests:
            known = by_node.get(test.node_id)
            if known is None or _better(test, known):
                by_node[test.node_id] = test
    for path in sorted(path_set):
        if walker.has_tests(path):
            by_node.setdefault(path, AffectedTest(path, path, "changed", (path,)))
        deps = reader.module_deps(path)
        if deps is None:
            continue
        for importer in deps.imported_by:
            if importer not in by_node and walker.has_tests(importer):
                by_node[importer] = AffectedTest(importer, importer, "imports", (importer, path))
    ordered = sorted(
        by_node.values(), key=lambda t: (t.via == "imports", not t.certain, t.depth, t.node_id)
    )
    return AffectedTests(
        tests=tuple(ordered[:limit]),
        symbols=wanted,
        reached=tuple(reached),
        unresolved=tuple(unresolved),
        truncated=len(ordered) > limit,
    )


def _better(new: AffectedTest, old: AffectedTest) -> bool:
    return (not new.certain, new.depth) < (not old.certain, old.depth)


def short_name(qualname: str) -> str:
    """The last segment of a qualified name (``a.b.C.f`` → ``f``, ``m::f`` → ``f``)."""
    return _SEPARATORS.split(qualname)[-1]


def module_dotted(path: str) -> str:
    """``tests/test_x.py`` → ``tests.test_x`` (how JUnit reports test classes)."""
    return posixpath.splitext(path)[0].replace("/", ".")
