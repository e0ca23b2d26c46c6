"""Verification of a draft: does the change parse, do exactly what it declares, compile,
keep names defined, and keep the tests that reach it passing?

Checks run in order — ``syntax``, ``symbols``, ``compile``, ``names``, ``tests`` — each
timed and backed by evidence (path, 0-based line and column in code points). Everything
but the tests compares the change's texts before and after in memory; the tests run with
pytest in a shadow copy of the workspace (:class:`ShadowWorkspace`) with the change
applied, never in the user's files.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast
from xml.etree import ElementTree

from pyflakes import checker as flakes
from tree_sitter import Language, Node, Query, QueryCursor, Tree

from hexad.core.errors import GrammarError
from hexad.core.secrets import without_secrets
from hexad.execution.affected import (
    AffectedTests,
    affected_tests,
    collected_node_id,
    short_name,
)
from hexad.execution.edits import FileChange
from hexad.execution.engines.base import Draft, Intent, Sources
from hexad.execution.report import Check, Evidence, Report
from hexad.execution.shadow import ShadowWorkspace, default_shadow_dir
from hexad.perception.extract import extract
from hexad.perception.facts import FileFacts
from hexad.perception.index import IndexReader
from hexad.perception.language import LanguageRegistry, LanguageSpec, default_registry
from hexad.perception.modules import module_name

log = logging.getLogger(__name__)

CHECKS = ("syntax", "symbols", "compile", "names", "tests")
MAX_EVIDENCE = 50
NAME_ERRORS = frozenset({"UndefinedName", "UndefinedExport", "UndefinedLocal", "ImportStarUsage"})
# nodes that wrap a definition and belong to it (decorators, `export`, C++ templates)
_WRAPPERS = frozenset({"decorated_definition", "export_statement", "template_declaration"})
_IMPORT_TYPES = frozenset(
    {"use_declaration", "using_directive", "preproc_include", "extern_crate_declaration"}
)
_BODY_KINDS = frozenset({"function", "method", "constructor"})  # their nested defs are body
_POLL_SECONDS = 0.05
_KEY_MARK = re.compile(r"[#@]")


class Cancellable(Protocol):
    """Anything with a ``cancelled`` flag (``inference.base.CancelToken``)."""

    @property
    def cancelled(self) -> bool: ...


# -- parsed sides of a change ------------------------------------------------------


@dataclass(slots=True)
class _Side:
    """One file's text before or after the change, parsed when its language is known."""

    path: str
    text: str
    data: bytes
    spec: LanguageSpec | None
    tree: Tree | None = None
    errors: list[Node] = field(default_factory=list)
    problem: str | None = None  # why it was not parsed
    _lines: list[bytes] | None = None

    def line(self, row: int) -> bytes:
        if self._lines is None:
            self._lines = self.data.split(b"\n")
        return self._lines[row] if 0 <= row < len(self._lines) else b""

    def col(self, row: int, byte_col: int) -> int:
        """A byte column as a column in code points."""
        return len(self.line(row)[:byte_col].decode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class _Sym:
    key: str  # qualname, with `#2`, `#3` … for repeated definitions
    qualname: str
    name: str
    kind: str
    signature: str
    own: str  # normalized text without nested definitions
    parent: str | None  # key of the enclosing definition
    path: str
    line: int
    col: int


@dataclass(slots=True)
class _Table:
    symbols: dict[str, _Sym]
    module: str  # module qualname (the path when the language has none)
    module_text: str  # module-level code without definitions and imports


@dataclass(slots=True)
class _State:
    """What one verification learns as it goes, shared between checks."""

    draft: Draft
    before: list[_Side | None] = field(default_factory=list)  # per changed file
    after: list[_Side | None] = field(default_factory=list)
    parsed: bool = False
    touched: list[str] = field(default_factory=list)  # before-side qualnames changed
    checks: list[Check] = field(default_factory=list)  # the checks done so far
    changed_tests: list[str] = field(default_factory=list)  # node ids the change edits


@dataclass(frozen=True, slots=True)
class PytestCase:
    """One test's outcome, from pytest's JUnit report."""

    node_id: str
    path: str | None
    line: int | None  # 0-based
    outcome: str  # passed | failed | skipped
    message: str = ""  # first line of the failure


@dataclass(frozen=True, slots=True)
class PytestRun:
    """One pytest run: its exit status (None when killed), cases and output."""

    returncode: int | None
    cases: tuple[PytestCase, ...]
    output: str
    seconds: float
    timed_out: bool = False
    cancelled: bool = False

    def failed(self) -> list[PytestCase]:
        return [c for c in self.cases if c.outcome == "failed"]

    @property
    def passed(self) -> bool:
        """Every selected test ran and none failed."""
        return self.returncode == 0 and not self.failed()


ANALYSIS_CACHE = 64  # per-file symbol tables and pyflakes results kept by content
MEANT_TO_PASS = frozenset({"implement", "fix_test"})  # a failure after these is never old news


class _Cancelled(Exception):
    pass


class Verifier:
    """Runs the checks on drafts computed for the workspace at ``root``."""

    def __init__(
        self,
        root: Path,
        sources: Sources,
        reader_factory: Callable[[], IndexReader],
        *,
        registry: LanguageRegistry | None = None,
        shadow: ShadowWorkspace | None = None,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.sources = sources
        self.reader_factory = reader_factory
        self.registry = registry or default_registry()
        self._shadow = shadow
        self.python = python or sys.executable
        self.env = dict(env or {})  # extra variables for test runs
        self._cache: OrderedDict[tuple[str, str, int], object] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def shadow(self) -> ShadowWorkspace:
        if self._shadow is None:
            self._shadow = ShadowWorkspace(self.root, default_shadow_dir(self.root))
        return self._shadow

    def verify(
        self,
        draft: Draft,
        *,
        run_tests: bool = True,
        timeout: float = 300.0,
        output_limit: int = 64_000,
        cancel: Cancellable | None = None,
    ) -> Report:
        """Check ``draft``; never raises for a problem in one check (that check says
        ``error``). ``timeout`` bounds the test runs; ``cancel`` stops between checks
        and kills a running pytest."""
        state = _State(draft)
        steps: dict[str, Callable[[], Check]] = {
            "syntax": lambda: self._syntax(state),
            "symbols": lambda: self._symbols(state),
            "compile": lambda: self._compile(state),
            "names": lambda: self._names(state),
            "tests": lambda: self._tests(state, run_tests, timeout, output_limit, cancel),
        }
        checks = state.checks
        for name in CHECKS:
            if cancel is not None and cancel.cancelled:
                checks.append(Check(name, "skipped", "skipped: cancelled"))
                continue
            syntax = checks[0] if checks else None
            if syntax is not None and syntax.status == "failed":
                checks.append(Check(name, "skipped", "skipped: the change does not parse"))
                continue
            started = time.perf_counter()
            try:
                check = steps[name]()
            except _Cancelled:
                check = Check(name, "skipped", "skipped: cancelled")
            except Exception as exc:  # one broken check must not hide the others
                log.exception("%s check failed", name)
                check = Check(name, "error", f"{name} check broke: {type(exc).__name__}: {exc}")
            seconds = time.perf_counter() - started
            checks.append(
                Check(
                    check.name,
                    check.status,
                    check.summary,
                    check.evidence,
                    seconds,
                    check.details,
                )
            )
        return Report(tuple(checks))

    # -- parsing ----------------------------------------------------------------

    def _parse(self, state: _State) -> _State:
        """Parse both sides of every changed file, once per verification."""
        if not state.parsed:
            files = state.draft.change.files
            state.before = [self._side(f.path, f.before) for f in files]
            state.after = [self._side(f.target, f.after) for f in files]
            state.parsed = True
        return state

    def _side(self, path: str, text: str | None) -> _Side | None:
        if text is None:
            return None
        data = text.encode("utf-8", "surrogatepass")
        side = _Side(path, text, data, self.registry.for_path(path))
        if side.spec is None:
            side.problem = "no grammar for this kind of file"
            return side
        try:
            side.tree = side.spec.parser().parse(data)
        except GrammarError as exc:
            side.spec = None
            side.problem = str(exc)
            return side
        side.errors = _error_nodes(side.tree.root_node)
        return side

    # -- syntax -----------------------------------------------------------------

    def _syntax(self, state: _State) -> Check:
        self._parse(state)
        evidence: list[Evidence] = []
        files: list[dict[str, Any]] = []
        unchecked: list[str] = []
        for before, after in zip(state.before, state.after, strict=True):
            if after is None:
                continue
            if after.tree is None:
                unchecked.append(f"{after.path}: {after.problem}")
                continue
            old_errors = before.errors if before is not None and before.tree is not None else []
            files.append(
                {"path": after.path, "before": len(old_errors), "after": len(after.errors)}
            )
            if len(after.errors) > len(old_errors):
                evidence += _new_errors(before, after) or [
                    Evidence(
                        f"{len(after.errors)} syntax errors after the change, "
                        f"{len(old_errors)} before",
                        after.path,
                    )
                ]
        details: dict[str, Any] = {"files": files, "unchecked": unchecked}
        note = f"; {len(unchecked)} not checked (no grammar)" if unchecked else ""
        if evidence:
            return Check(
                "syntax",
                "failed",
                f"{len(evidence)} new syntax error{_s(evidence)}{note}",
                tuple(evidence[:MAX_EVIDENCE]),
                details=details,
            )
        if not files:
            return Check("syntax", "skipped", f"no file to parse{note}", details=details)
        return Check(
            "syntax",
            "passed",
            f"{len(files)} file{_s(files)} parse{'s' if len(files) == 1 else ''}{note}",
            details=details,
        )

    # -- symbols ----------------------------------------------------------------

    def _table(self, side: _Side) -> _Table | None:
        if side.spec is None or side.tree is None:
            return None
        key = ("table", side.path, hash(side.data))
        table = self._cache.get(key)
        if table is None:
            table = _symbol_table(self.root, side)
            self._remember(key, table)
        else:
            self._cache.move_to_end(key)
        return cast(_Table, table)

    def _flakes(self, side: _Side) -> list[_Flake] | None:
        key = ("flakes", side.path, hash(side.data))
        if key in self._cache:
            self._cache.move_to_end(key)
            return cast("list[_Flake] | None", self._cache[key])
        found = _name_flakes(side)
        self._remember(key, found)
        return found

    def _remember(self, key: tuple[str, str, int], value: object) -> None:
        """Per-file analyses by content: proposals on the same files (a code action
        resolved again, a replan) do not redo them."""
        with self._cache_lock:
            self._cache[key] = value
            while len(self._cache) > ANALYSIS_CACHE:
                self._cache.popitem(last=False)

    def _symbols(self, state: _State) -> Check:
        self._parse(state)
        intent = state.draft.intent
        diff = _SymbolDiff(_Renamer(intent.renamed))
        for old_side, new_side in zip(state.before, state.after, strict=True):
            old = self._table(old_side) if old_side is not None else None
            new = self._table(new_side) if new_side is not None else None
            diff.add_file(old_side, old, new_side, new)
        diff.compare()
        problems = diff.undeclared(intent)
        state.touched = list(
            dict.fromkeys(
                [o.qualname for o, _ in diff.changed]
                + [s.qualname for s in diff.removed]
                + [old for old, _ in intent.renamed]
            )
        )
        state.changed_tests = _changed_tests(
            diff.after, {s.key for s in diff.added} | {n.key for _, n in diff.changed}
        )
        details: dict[str, Any] = {
            "added": [s.qualname for s in diff.added],
            "removed": [s.qualname for s in diff.removed],
            "changed": [n.qualname for _, n in diff.changed],
            "renamed": [list(pair) for pair in intent.renamed],
            "modules": [path for path, _, _ in diff.modules],
            "unchecked": diff.unchecked,
        }
        if problems:
            return Check(
                "symbols",
                "failed",
                f"{len(problems)} undeclared difference{_s(problems)}",
                tuple(problems[:MAX_EVIDENCE]),
                details=details,
            )
        counts = ", ".join(
            f"{len(details[k])} {k}"
            for k in ("changed", "added", "removed", "renamed")
            if details[k]
        )
        return Check(
            "symbols", "passed", f"as declared ({counts or 'no symbol changes'})", details=details
        )

    # -- compile ----------------------------------------------------------------

    def _compile(self, state: _State) -> Check:
        self._parse(state)
        evidence: list[Evidence] = []
        notes: list[str] = []
        checked = 0
        for before, after in zip(state.before, state.after, strict=True):
            if after is None or not _is_python(after):
                continue
            checked += 1
            error = _compile_error(after)
            if error is None:
                continue
            if before is not None and _is_python(before) and _compile_error(before) is not None:
                notes.append(f"{after.path} did not compile before the change either")
                continue
            evidence.append(error)
        details = {"files": checked, "notes": notes}
        if not checked:
            return Check("compile", "skipped", "no Python file changed", details=details)
        if evidence:
            return Check(
                "compile",
                "failed",
                f"{len(evidence)} file{_s(evidence)} do{'es' if len(evidence) == 1 else ''} "
                "not compile",
                tuple(evidence),
                details=details,
            )
        return Check("compile", "passed", f"{checked} file{_s(checked)} compile", details=details)

    # -- names ------------------------------------------------------------------

    def _names(self, state: _State) -> Check:
        self._parse(state)
        evidence: list[Evidence] = []
        checked = 0
        for before, after in zip(state.before, state.after, strict=True):
            if after is None or not _is_python(after):
                continue
            new_flakes = self._flakes(after)
            if new_flakes is None:
                continue  # does not parse: the compile check says so
            checked += 1
            if not new_flakes:
                continue  # nothing undefined after the change: the old file need not be read
            old_flakes = self._flakes(before) if before is not None and _is_python(before) else []
            evidence += _new_flakes(old_flakes or [], new_flakes, after.path)
        details = {"files": checked}
        if not checked:
            return Check("names", "skipped", "no Python file to check", details=details)
        if evidence:
            return Check(
                "names",
                "failed",
                f"{len(evidence)} new undefined name{_s(evidence)}",
                tuple(evidence[:MAX_EVIDENCE]),
                details=details,
            )
        return Check("names", "passed", "no new undefined names", details=details)

    # -- tests ------------------------------------------------------------------

    def _tests(
        self,
        state: _State,
        run_tests: bool,
        timeout: float,
        output_limit: int,
        cancel: Cancellable | None,
    ) -> Check:
        if not run_tests:
            return Check("tests", "skipped", "skipped: tests not requested")
        failed = [c.name for c in state.checks if c.status in ("failed", "error")]
        if failed:
            return Check(
                "tests", "skipped", f"skipped: an earlier check failed ({', '.join(failed)})"
            )
        change = state.draft.change
        affected = affected_tests(
            self.reader_factory(),
            [*state.draft.symbols, *state.touched],
            [f.path for f in change.files if f.before is not None],
        )
        node_ids = _select(affected, state.changed_tests, change.files)
        details: dict[str, Any] = {
            "selected": len(node_ids),
            "nodes": node_ids,
            "run": 0,
            "passed": 0,
            "failed": [],
            "preexisting": [],
            "reach": affected.reach,
            "chains": {t.node_id: list(t.chain) for t in affected.tests},
            "truncated": affected.truncated,
            "output": "",
        }
        if not node_ids:
            return Check("tests", "skipped", "no test reaches the change", details=details)
        deadline = time.monotonic() + timeout
        with self.shadow.applied(change) as mirror:
            present = [n for n in node_ids if (mirror / n.split("::", 1)[0]).is_file()]
            details["selected"] = len(present)
            details["nodes"] = present
            if not present:
                return Check("tests", "skipped", "no test reaches the change", details=details)
            run = self._pytest(mirror, present, deadline, output_limit, cancel)
        details["output"] = run.output
        details["exit"] = run.returncode
        if run.cancelled:
            raise _Cancelled
        if run.timed_out:
            return Check("tests", "error", f"timed out after {timeout:g} s", details=details)
        outcomes = _outcomes(run.cases)
        ran = [c for c in outcomes.values() if c.outcome != "skipped"]
        failures = [c for c in ran if c.outcome == "failed"]
        details["run"] = len(ran)
        details["passed"] = len(ran) - len(failures)
        if not failures:
            if run.returncode == 0 or (run.returncode == 5 and ran):
                return Check(
                    "tests", "passed", f"{len(ran)}/{len(ran)} tests pass", details=details
                )
            if run.returncode == 5:
                return Check("tests", "skipped", "no tests were collected", details=details)
            return Check(
                "tests", "error", f"pytest exited with status {run.returncode}", details=details
            )
        # failing after the change: were they failing before it too?
        new_files = {f.target for f in change.files if f.before is None or f.new_path}
        rerun = [c.node_id for c in failures if c.node_id.split("::")[0] not in new_files]
        if state.draft.kind in MEANT_TO_PASS:
            rerun = []  # implementing a stub or fixing a test must leave its tests green
        preexisting: set[str] = set()
        note = ""
        if rerun:
            with self.shadow.clean() as mirror:
                clean = self._pytest(mirror, rerun, deadline, output_limit, cancel)
            if clean.cancelled:
                raise _Cancelled
            if clean.timed_out:
                note = "; could not tell which were failing before (timed out)"
            preexisting = {c.node_id for c in clean.failed()} & set(rerun)
        broken = [c for c in failures if c.node_id not in preexisting]
        details["failed"] = [c.node_id for c in broken]
        details["preexisting"] = sorted(preexisting)
        passing = f"{details['passed']}/{len(ran)} tests pass"
        if not broken:
            return Check(
                "tests",
                "passed",
                f"{passing}; {len(failures)} failing before the change too",
                details=details,
            )
        evidence = tuple(
            Evidence(f"{c.node_id}: {c.message or 'failed'}", c.path, c.line) for c in broken
        )
        return Check(
            "tests",
            "failed",
            f"{passing}; {len(broken)} broken by the change{note}",
            evidence[:MAX_EVIDENCE],
            details=details,
        )

    def run_tests(
        self,
        node_ids: Sequence[str],
        *,
        timeout: float = 300.0,
        output_limit: int = 64_000,
        cancel: Cancellable | None = None,
    ) -> PytestRun:
        """Run pytest on ``node_ids`` in the shadow copy of the workspace as it is on
        disk (no change applied)."""
        with self.shadow.clean() as mirror:
            return self._pytest(
                mirror, list(node_ids), time.monotonic() + timeout, output_limit, cancel
            )

    def _pytest(
        self,
        cwd: Path,
        node_ids: Sequence[str],
        deadline: float,
        output_limit: int,
        cancel: Cancellable | None,
    ) -> PytestRun:
        """Run pytest on ``node_ids`` in ``cwd``; killed (whole process group) at the
        deadline or on cancellation."""
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="hexad-pytest-") as tmp:
            junit = Path(tmp) / "junit.xml"
            out_path = Path(tmp) / "output.txt"
            command = [
                self.python,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--no-header",
                "-rN",
                "-o",
                "junit_family=xunit1",
                f"--junitxml={junit}",
                f"--rootdir={cwd}",
                f"--confcutdir={cwd}",
                *node_ids,
            ]
            # the tests run code a model may have written: no credential of the user's
            # environment reaches it (API keys, tokens, passwords by their variables' names)
            env = without_secrets(os.environ)
            env.update(self.env)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(cwd), env.get("PYTHONPATH", "")) if p
            )
            timed_out = cancelled = False
            with open(out_path, "wb") as out:
                proc = subprocess.Popen(
                    command,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                try:
                    while True:
                        try:
                            proc.wait(timeout=_POLL_SECONDS)
                            break
                        except subprocess.TimeoutExpired:
                            pass
                        if cancel is not None and cancel.cancelled:
                            cancelled = True
                            break
                        if time.monotonic() >= deadline:
                            timed_out = True
                            break
                finally:
                    _kill_group(proc)  # and whatever the tests left running
            # paths in the mirror read as paths in the workspace
            output = read_truncated(out_path, output_limit).replace(f"{cwd}/", "")
            cases = tuple(_junit_cases(junit, cwd)) if not (timed_out or cancelled) else ()
        return PytestRun(
            None if timed_out or cancelled else proc.returncode,
            cases,
            output,
            time.perf_counter() - started,
            timed_out,
            cancelled,
        )


# -- helpers: syntax -----------------------------------------------------------------


def _error_nodes(root: Node) -> list[Node]:
    """Every ERROR and MISSING node, in document order."""
    found: list[Node] = []
    if not root.has_error:
        return found
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            found.append(node)
        if node.has_error:
            stack.extend(reversed(node.children))
    return found


def _error_key(side: _Side, node: Node) -> tuple[str, bytes]:
    kind = f"missing {node.type}" if node.is_missing else node.type
    return kind, side.line(node.start_point[0]).strip()


def _new_errors(before: _Side | None, after: _Side) -> list[Evidence]:
    """The after side's syntax errors that the before side does not have (matched by
    kind and the text of their line, so errors on moved lines are not new)."""
    old = Counter(_error_key(before, n) for n in before.errors) if before is not None else Counter()
    out: list[Evidence] = []
    for node in after.errors:
        key = _error_key(after, node)
        if old[key] > 0:
            old[key] -= 1
            continue
        row, byte_col = node.start_point
        if node.is_missing:
            message = f"missing {node.type!r}"
        else:
            snippet = (node.text or b"").decode("utf-8", "replace").strip().split("\n")[0][:40]
            message = f"syntax error at {snippet!r}" if snippet else "syntax error"
        out.append(Evidence(message, after.path, row, after.col(row, byte_col)))
    return out


# -- helpers: symbols ----------------------------------------------------------------


def _symbol_table(root: Path, side: _Side) -> _Table:
    spec = side.spec
    assert spec is not None and side.tree is not None
    facts = FileFacts(side.path, spec.name, None, "", len(side.data), 0)
    facts.module = module_name(spec.manifest.imports, root, side.path, None)
    extract(spec, side.data, facts, side.tree)
    starts = [0]
    for line in side.data.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)

    def offset(point: tuple[int, int]) -> int:
        return starts[min(point[0], len(starts) - 1)] + point[1]

    tree_root = side.tree.root_node
    ranges: list[tuple[int, int]] = []
    for sym in facts.symbols:
        node = tree_root.descendant_for_point_range(sym.start, sym.end)
        start = offset(sym.start)
        while node is not None and node.parent is not None and node.parent.type in _WRAPPERS:
            node = node.parent
            start = min(start, node.start_byte)
        ranges.append((start, offset(sym.end)))
    children: dict[int, list[int]] = {}
    for index, sym in enumerate(facts.symbols):
        children.setdefault(sym.parent, []).append(index)

    keys: list[str] = []
    seen: Counter[str] = Counter()
    for sym in facts.symbols:
        seen[sym.qualname] += 1
        count = seen[sym.qualname]
        keys.append(sym.qualname if count == 1 else f"{sym.qualname}#{count}")
    table: dict[str, _Sym] = {}
    for index, sym in enumerate(facts.symbols):
        own = _cut(side.data, ranges[index], [ranges[c] for c in children.get(index, [])])
        row, byte_col = sym.name_start
        table[keys[index]] = _Sym(
            key=keys[index],
            qualname=sym.qualname,
            name=sym.name,
            kind=sym.kind,
            signature=sym.signature,
            own=own,
            parent=keys[sym.parent] if sym.parent >= 0 else None,
            path=side.path,
            line=row,
            col=side.col(row, byte_col),
        )
    top = [ranges[i] for i in children.get(-1, [])]
    module_text = _cut(
        side.data, (0, len(side.data)), top + _import_ranges(tree_root, spec.language)
    )
    return _Table(table, facts.module or side.path, module_text)


def _import_ranges(root: Node, language: Language) -> list[tuple[int, int]]:
    """The byte ranges of the outermost import nodes under ``root`` (a query, run in C:
    walking every node of a 3,000-line file in Python took tens of milliseconds)."""
    query = _import_query(language)
    if query is None:
        return []
    spans = sorted(
        (node.start_byte, -node.end_byte)
        for _, captures in QueryCursor(query).matches(root)
        for node in captures.get("import", [])
    )
    found: list[tuple[int, int]] = []
    for start, negative_end in spans:
        if found and start < found[-1][1]:
            continue  # inside an import already found
        found.append((start, -negative_end))
    return found


@functools.cache
def _import_query(language: Language) -> Query | None:
    """One pattern per named node kind that is an import in ``language``."""
    kinds = sorted(
        {
            kind
            for kind_id in range(language.node_kind_count)
            if (kind := language.node_kind_for_id(kind_id))
            and language.node_kind_is_named(kind_id)
            and language.node_kind_is_visible(kind_id)
            and ("import" in kind or kind in _IMPORT_TYPES)
        }
    )
    if not kinds:
        return None
    return Query(language, "[" + " ".join(f"({kind})" for kind in kinds) + "] @import")


def _cut(data: bytes, span: tuple[int, int], holes: Iterable[tuple[int, int]]) -> str:
    """``data[span]`` without the ``holes``, normalized (no blank lines or trailing
    blanks)."""
    start, end = span
    pieces: list[bytes] = []
    position = start
    for hole_start, hole_end in sorted(holes):
        if hole_end <= position:
            continue
        if hole_start > position:
            pieces.append(data[position:hole_start])
        position = max(position, hole_end)
    pieces.append(data[position:end])
    text = b"".join(pieces).decode("utf-8", "replace")
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def _merge(into: dict[str, _Sym], table: dict[str, _Sym]) -> None:
    for key, sym in table.items():
        # the same qualname in two changed files: keep both
        into[f"{key}@{sym.path}" if key in into else key] = sym


class _SymbolDiff:
    """Definitions before and after a change, matched through the intent's renames."""

    def __init__(self, renamer: _Renamer) -> None:
        self.renamer = renamer
        self.before: dict[str, _Sym] = {}
        self.after: dict[str, _Sym] = {}
        self.unchecked: list[str] = []
        self.modules: list[tuple[str, str, str]] = []  # (path, module before, after)
        self.added: list[_Sym] = []
        self.removed: list[_Sym] = []  # as they were before
        self.changed: list[tuple[_Sym, _Sym]] = []  # own text differs beyond the renames
        self.signatures: list[tuple[_Sym, _Sym]] = []  # signature differs beyond renames

    def add_file(
        self,
        old_side: _Side | None,
        old: _Table | None,
        new_side: _Side | None,
        new: _Table | None,
    ) -> None:
        for side, table in ((old_side, old), (new_side, new)):
            if side is not None and table is None:
                self.unchecked.append(side.path)
        if old is not None:
            _merge(self.before, old.symbols)
        if new is not None:
            _merge(self.after, new.symbols)
        if (
            old is not None
            and new is not None
            and new_side is not None
            and not self.renamer.equivalent(old.module_text, new.module_text)
        ):
            self.modules.append((new_side.path, old.module, new.module))

    def compare(self) -> None:
        mapped = {self.renamer.key(k): s for k, s in self.before.items()}
        self.added = [s for k, s in self.after.items() if k not in mapped]
        self.removed = [s for k, s in mapped.items() if k not in self.after]
        for key, new in self.after.items():
            old = mapped.get(key)
            if old is None:
                continue
            if not self.renamer.equivalent(old.own, new.own):
                self.changed.append((old, new))
            if not self.renamer.equivalent(old.signature, new.signature):
                self.signatures.append((old, new))

    def undeclared(self, intent: Intent) -> list[Evidence]:
        """Every difference ``intent`` does not declare, as evidence."""
        problems: list[Evidence] = []
        for old_name, new_name in intent.renamed:
            problems += _rename_problems(old_name, new_name, self.before, self.after)
        for old, new in self.signatures:
            if _matches(intent.keep_signature, new.qualname, old.qualname):
                problems.append(
                    _evidence(
                        new,
                        f"signature of {new.qualname} changed: "
                        f"{old.signature!r} → {new.signature!r}",
                    )
                )
        if intent.imports_only:
            problems += [_evidence(s, f"{s.qualname} was added") for s in self.added]
            problems += [_evidence(s, f"{s.qualname} was removed") for s in self.removed]
            problems += [_evidence(n, f"{n.qualname} changed") for _, n in self.changed]
            problems += [
                Evidence(f"module-level code of {path} changed", path)
                for path, _, _ in self.modules
            ]
            return [
                Evidence(f"{e.message}; only imports may change", e.path, e.line, e.col)
                for e in problems
            ]
        added = {s.key for s in self.added}
        for sym in self.added:
            if not _matches(intent.added, sym.qualname) and not self._opened(
                sym, self.after, added, intent.added, intent
            ):
                problems.append(
                    _evidence(sym, f"{sym.qualname} was added but the intent does not say so")
                )
        removed = {s.key for s in self.removed}
        for sym in self.removed:
            if not _matches(intent.removed, sym.qualname) and not self._opened(
                sym, self.before, removed, intent.removed, intent
            ):
                problems.append(
                    _evidence(sym, f"{sym.qualname} was removed but the intent does not say so")
                )
        for old, new in self.changed:
            if not _matches(intent.changed, new.qualname, old.qualname) and not self._opened(
                new, self.after, added, intent.added, intent
            ):
                problems.append(
                    _evidence(new, f"{new.qualname} changed but the intent does not say so")
                )
        for path, old_module, new_module in self.modules:
            if not _matches(intent.changed, new_module, old_module):
                problems.append(
                    Evidence(f"module-level code of {path} changed beyond its imports", path)
                )
        return problems

    def _opened(
        self,
        sym: _Sym,
        table: dict[str, _Sym],
        keys: set[str],
        allow: Sequence[str],
        intent: Intent,
    ) -> bool:
        """Whether an enclosing definition explains ``sym``: one itself added (or removed)
        as declared, or a function whose body may change (its nested definitions are
        part of that body)."""
        key = sym.parent
        while key is not None and key in table:
            parent = table[key]
            if key in keys and _matches(allow, parent.qualname):
                return True
            if parent.kind in _BODY_KINDS and _matches(
                intent.changed, parent.qualname, self.renamer.back(parent.qualname)
            ):
                return True
            key = parent.parent
        return False


_WORDS = re.compile(r"([\w$]+)")


class _Renamer:
    """Maps qualnames and texts through an intent's renames."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = sorted(pairs, key=lambda p: -len(p[0]))
        words = {short_name(o): short_name(n) for o, n in pairs if short_name(o) != short_name(n)}
        self._words = words
        self._pattern = (
            re.compile(r"(?<![\w$])(" + "|".join(map(re.escape, words)) + r")(?![\w$])")
            if words
            else None
        )

    def _map(self, qualname: str, pairs: Iterable[tuple[str, str]]) -> str:
        for old, new in pairs:
            if qualname == old:
                return new
            for sep in (".", "::", "/"):
                if qualname.startswith(old + sep):
                    return new + qualname[len(old) :]
        return qualname

    def key(self, key: str) -> str:
        base, rest = _split_key(key)
        return self._map(base, self.pairs) + rest

    def back(self, qualname: str) -> str:
        return self._map(
            qualname, sorted(((n, o) for o, n in self.pairs), key=lambda p: -len(p[0]))
        )

    def text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._words[m.group(1)], text)

    def equivalent(self, before: str, after: str) -> bool:
        """``after`` is ``before`` with some (not necessarily all) of the renamed words
        replaced: a rename may leave a mention in a string or comment alone."""
        if before == after:
            return True
        if not self._words:
            return False
        old, new = _WORDS.split(before), _WORDS.split(after)
        if len(old) != len(new):
            return False
        return all(a == b or self._words.get(a) == b for a, b in zip(old, new, strict=True))


def _split_key(key: str) -> tuple[str, str]:
    """A table key as its qualname and the mark that keeps repeated ones apart."""
    match = _KEY_MARK.search(key)
    return (key[: match.start()], key[match.start() :]) if match else (key, "")


def _rename_problems(
    old: str, new: str, before: dict[str, _Sym], after: dict[str, _Sym]
) -> list[Evidence]:
    problems: list[Evidence] = []
    old_sym = before.get(old)
    new_sym = after.get(new)
    if old_sym is None:
        problems.append(Evidence(f"rename {old} → {new}: {old} is not defined before the change"))
    if new_sym is None:
        problems.append(Evidence(f"rename {old} → {new}: {new} is not defined after the change"))
    if old in after and old != new:
        problems.append(_evidence(after[old], f"rename {old} → {new}: {old} is still defined"))
    if old_sym is not None and new_sym is not None and old_sym.kind != new_sym.kind:
        problems.append(
            _evidence(
                new_sym,
                f"rename {old} → {new}: a {old_sym.kind} became a {new_sym.kind}",
            )
        )
    return problems


def _matches(patterns: Sequence[str], *names: str) -> bool:
    return any(
        name == pattern or fnmatch.fnmatchcase(name, pattern)
        for pattern in patterns
        for name in names
    )


def _evidence(sym: _Sym, message: str) -> Evidence:
    return Evidence(message, sym.path, sym.line, sym.col)


def _changed_tests(after: dict[str, _Sym], keys: set[str]) -> list[str]:
    """Node ids of the test functions the change adds or edits."""
    out: list[str] = []
    for key in keys:
        sym = after.get(key)
        if sym is None:
            continue
        parents: list[tuple[str, str, str]] = []
        parent_key = sym.parent
        while parent_key is not None and parent_key in after:
            parent = after[parent_key]
            parents.insert(0, (parent.name, parent.kind, parent.signature))
            parent_key = parent.parent
        node = collected_node_id(sym.path, sym.name, sym.kind, parents)
        if node is not None:
            out.append(node)
    return sorted(set(out))


# -- helpers: compile and names ------------------------------------------------------


def _is_python(side: _Side) -> bool:
    return side.spec is not None and side.spec.name == "python"


def _compile_error(side: _Side) -> Evidence | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(side.text, side.path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = (exc.lineno or 1) - 1
        col = max((exc.offset or 1) - 1, 0)
        return Evidence(f"{exc.msg}", side.path, line, col)
    except ValueError as exc:  # source with NUL bytes
        return Evidence(str(exc), side.path, 0, 0)
    return None


@dataclass(frozen=True, slots=True)
class _Flake:
    kind: str
    name: str
    message: str
    line: int
    col: int
    text: str  # the line it is on, stripped


def _name_flakes(side: _Side) -> list[_Flake] | None:
    """pyflakes' undefined-name messages for ``side``; None when it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(side.text, filename=side.path)
    except (SyntaxError, ValueError):
        return None
    result = flakes.Checker(tree, filename=side.path)
    lines = side.text.splitlines()
    out: list[_Flake] = []
    for message in result.messages:
        kind = type(message).__name__
        if kind not in NAME_ERRORS:
            continue
        args = tuple(message.message_args)
        line = int(message.lineno) - 1
        out.append(
            _Flake(
                kind,
                str(args[0]) if args else "",
                str(message.message % args),
                line,
                int(message.col),
                lines[line].strip() if 0 <= line < len(lines) else "",
            )
        )
    return out


def _new_flakes(old: list[_Flake], new: list[_Flake], path: str) -> list[Evidence]:
    """Messages the change adds, compared as multisets of (kind, name); where a name's
    count grew, the occurrences on lines that did not exist before are reported."""
    before = Counter((f.kind, f.name) for f in old)
    after = Counter((f.kind, f.name) for f in new)
    lines = Counter((f.kind, f.name, f.text) for f in old)
    out: list[Evidence] = []
    for key, count in after.items():
        extra = count - before[key]
        if extra <= 0:
            continue
        candidates = [f for f in new if (f.kind, f.name) == key]
        fresh = []
        for flake in candidates:
            line_key = (flake.kind, flake.name, flake.text)
            if lines[line_key] > 0:
                lines[line_key] -= 1
            else:
                fresh.append(flake)
        chosen = (fresh + [f for f in candidates if f not in fresh])[:extra]
        out += [Evidence(f.message, path, f.line, f.col) for f in chosen]
    out.sort(key=lambda e: (e.line or 0, e.col or 0))
    return out


# -- helpers: tests ------------------------------------------------------------------


def _select(
    affected: AffectedTests, changed_tests: Sequence[str], files: Sequence[FileChange]
) -> list[str]:
    """Node ids to run after the change: moved files under their new path, deleted
    ones dropped, the change's own new or edited tests added."""
    moved = {f.path: f.target for f in files if f.new_path is not None}
    deleted = {f.path for f in files if f.after is None}
    out: list[str] = []
    for node in [*affected.node_ids, *changed_tests]:
        path, sep, rest = node.partition("::")
        if path in deleted:
            continue
        path = moved.get(path, path)
        out.append(path + sep + rest)
    whole = {n for n in out if "::" not in n}
    return list(dict.fromkeys(n for n in out if "::" not in n or n.split("::")[0] not in whole))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process group ``proc`` leads (it was started in a session of its own)."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _outcomes(cases: Iterable[PytestCase]) -> dict[str, PytestCase]:
    """One outcome per node id: a failure (in setup, call or teardown) wins."""
    out: dict[str, PytestCase] = {}
    for case in cases:
        known = out.get(case.node_id)
        if known is None or (case.outcome == "failed" and known.outcome != "failed"):
            out[case.node_id] = case
    return out


def read_truncated(path: Path, limit: int) -> str:
    """A file's text, at most ``limit`` bytes: head and tail around an omission mark."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size <= limit:
            return handle.read().decode("utf-8", "replace")
        mark = f"\n… {size} bytes of output, {size - limit} omitted …\n".encode()
        keep = max(limit - len(mark), 0)
        head_size = keep // 2
        tail_size = keep - head_size
        head = handle.read(head_size)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size) if tail_size else b""
    return (head + mark + tail).decode("utf-8", "ignore")


def _junit_cases(path: Path, cwd: Path) -> list[PytestCase]:
    """The test cases of a pytest JUnit report (xunit1: with file and line)."""
    try:
        tree = ElementTree.parse(path)
    except (OSError, ElementTree.ParseError):
        return []
    cases: list[PytestCase] = []
    for case in tree.getroot().iter("testcase"):
        file = case.get("file")
        classname = case.get("classname", "")
        name = case.get("name", "")
        node = _node_id(file, classname, name, cwd)
        line_text = case.get("line")
        line = int(line_text) if line_text and line_text.isdigit() else None
        outcome = "passed"
        message = ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                message = _first_line(child.get("message") or child.text or "")
                if message == "collection failure":  # the error itself ends the traceback
                    message = _last_error_line(child.text or "") or message
                break
            if child.tag == "skipped":
                outcome = "skipped"
        message = message.replace(f"{cwd}/", "")  # paths in the mirror, as the user's
        cases.append(PytestCase(node, node.split("::", 1)[0], line, outcome, message))
    return cases


def _node_id(file: str | None, classname: str, name: str, cwd: Path) -> str:
    """A JUnit test case as a pytest node id (a collection error: its file)."""
    if not classname:  # a collection error: named by the module's dotted path
        candidate = name.replace(".", "/") + ".py"
        return file or (candidate if (cwd / candidate).is_file() else name)
    if file:
        module = file[:-3].replace("/", ".") if file.endswith(".py") else file
        rest = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
        return "::".join([file, *[p for p in rest.split(".") if p], name])
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        candidate = "/".join(parts[:cut]) + ".py"
        if (cwd / candidate).is_file():
            return "::".join([candidate, *parts[cut:], name])
    return f"{classname}::{name}"


def _last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors or lines or [""])[-1][:200]


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def _s(items: Sequence[object] | int) -> str:
    count = items if isinstance(items, int) else len(items)
    return "" if count == 1 else "s"
