"""Trust benchmark: is a proposal's confidence, computed from cheap evidence, calibrated?

A real project that ships its own test suite — toolz's sdist from PyPI — is downloaded
into a cache folder (``.cache/bench/toolz`` by default, extracted once), copied to a
temporary workspace and indexed. Then candidate edits are made, seeded and reproducible:

- **refactor**: correct structural refactorings through the real engines —
  ``rename_symbol`` of toolz functions, methods and classes to new names, and
  ``extract_variable`` on sub-expressions of function bodies (ranges picked with ``ast``);
- **mutant**: one mutation of a function's body (or of an extract-variable result) —
  an operator swap (``+``/``-``, ``<``/``<=``, ``==``/``!=``, ``and``/``or``,
  ``is``/``is not``, ``in``/``not in``), an off-by-one on an integer constant or slice
  bound, or the last argument of a call dropped — submitted as a model's ``implement``
  edit (engine ``model``, no log-probabilities): a plausible-but-wrong model edit;
- **reformat**: a function body re-emitted through ``ast.unparse``, also as a model
  ``implement`` edit: the correct share of model-like edits;
- **gemma**: toolz functions stubbed and implemented by the real Gemma 3 270M GGUF
  through llama.cpp (bare prompt, 96 tokens); the body is rebased onto the original file
  (docstring kept) and carries the generation's real log-probability statistics.

Each candidate goes through ``ProposalService.submit(draft, run_tests=True)``: syntax,
symbols, compile and names checks plus the *affected* tests only. Confidence comes from
that cheap evidence. Ground truth is the **full** suite on a separate copy with the
change written in (``pytest -x``, exit 0 = good); it runs in a background thread while
the next candidate is verified. Proposals are never settled (no accept, no reject), so no
outcome enters the service's history or its refit, and the evidence is evaluated with
``similar = 0`` regardless: history cannot leak the answer.

Evaluation: the candidates are shuffled with the seed and split in halves; the trust
model is fitted on half A (``hexad.trust.model.fit``: MAP logistic around the cold start,
then isotonic) and both the cold start and the fitted model are scored on half B —
AUROC, ECE (10 bins), Brier and the bad edits caught when a reviewer looks only at the
least confident 20%. Targets (issue 8): AUROC ≥ 0.9, ECE ≤ 0.05 after calibration.

    .venv/bin/python bench/trust.py [--limit 300] [--seed 8] [--skip-gemma] [--json out.json]

With ``--json out.json`` the fitted model's reliability diagram on half B is written to
``out.reliability.svg``. This is not a test; pytest never imports it.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexad.core.db import Connection, connect, database_path
from hexad.execution.edits import Change, FileChange
from hexad.execution.engines import model as model_engine
from hexad.execution.engines import refactor
from hexad.execution.engines.base import Draft, EngineError, Intent, Target
from hexad.execution.proposals import Proposal, ProposalError, ProposalService
from hexad.execution.shadow import ShadowWorkspace
from hexad.execution.sources import DiskSources
from hexad.execution.verify import Verifier
from hexad.governance import open_engine
from hexad.memory.records import Records
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer
from hexad.trust.evidence import FEATURES, Evidence, features
from hexad.trust.metrics import auroc, brier, caught_at_review_rate, ece, reliability_svg
from hexad.trust.model import COLD_START, TrustModel, fit

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "toolz"
VERSION = "1.2.0"
CACHE = REPO_ROOT / ".cache" / "bench" / "toolz"
# this venv's pytest-asyncio breaks toolz's configuration: no plugin autoloading
SUITE_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
SUITE_TIMEOUT_S = 60.0
VERIFY_TIMEOUT_S = 60
TARGET_AUROC = 0.9
TARGET_ECE = 0.05
REVIEW_RATE = 0.2
GEMMA_MAX_TOKENS = 96
GEMMA_CONTEXT_TOKENS = 600
EXTRACTED_NAME = "extracted_value"
DIFF_CHARS = 2000  # of each candidate's diff in the JSON output
# the share of the candidates each source makes (gemma's attempts stop at its count)
SHARES = {
    "rename": 0.15,
    "extract_variable": 0.18,
    "mutant": 0.40,
    "reformat": 0.13,
    "gemma": 0.14,
}
CATEGORY = {
    "rename": "refactor",
    "extract_variable": "refactor",
    "mutant": "mutant",
    "reformat": "reformat",
    "gemma": "gemma",
}
MUTANT_OF_REFACTORING = 0.25  # share of mutants made on an extract-variable result
NEW_NAMES = ("{}_v2", "{}_impl", "{}_fn", "new_{}")
POLICY = f"""
version = 1
[budgets]
proposals_per_hour = 1000
seconds_per_verification = {VERIFY_TIMEOUT_S}
[routing.tasks.implement]
engine = "model"
model = "local"
"""
# the wording Gemma 3 270M follows (see tests/integration/test_model_engine.py)
BARE_PROMPT = '''
name = "implement"
version = "bench"
user = """
Complete this Python function. Answer with the full function definition only.

$signature
"""
'''


class BenchError(Exception):
    """Something the benchmark needs is missing or broke (not a missed target)."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- project


def prepare_project(cache: Path) -> Path:
    """toolz's sdist from PyPI, downloaded and extracted once under ``cache``."""
    tree = cache / "tree" / f"{PACKAGE}-{VERSION}"
    ready = cache / "ready.json"
    if ready.is_file() and tree.is_dir():
        return tree
    log(f"downloading the {PACKAGE}=={VERSION} sdist into {cache}")
    shutil.rmtree(cache, ignore_errors=True)
    sdist = cache / "sdist"
    sdist.mkdir(parents=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            "--quiet",
            "-d",
            str(sdist),
            f"{PACKAGE}=={VERSION}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    archives = sorted(sdist.glob(f"{PACKAGE}-{VERSION}.tar.gz"))
    if done.returncode != 0 or not archives:
        raise BenchError(f"pip download {PACKAGE}=={VERSION} failed:\n{done.stderr.strip()}")
    (cache / "tree").mkdir()
    with tarfile.open(archives[0]) as archive:
        archive.extractall(cache / "tree", filter="data")
    if not (tree / PACKAGE / "tests").is_dir():
        raise BenchError(f"the sdist has no {PACKAGE}/tests under {tree}")
    ready.write_text(json.dumps({"package": PACKAGE, "version": VERSION}))
    return tree


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".hexad"))


@dataclass(frozen=True, slots=True)
class SuiteRun:
    passed: bool
    seconds: float
    exit: int | None  # None: timed out
    last_line: str


def run_suite(root: Path, timeout: float = SUITE_TIMEOUT_S) -> SuiteRun:
    """The project's full suite in ``root`` (stops at the first failure)."""
    env = dict(os.environ)
    env.update(SUITE_ENV)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # equal sizes and mtimes must never reuse a .pyc
    env.pop("PYTHONPATH", None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", PACKAGE],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        out, code = b"", None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # and whatever the tests left running
        proc.wait()
    lines = [line for line in out.decode("utf-8", "replace").splitlines() if line.strip()]
    return SuiteRun(
        code == 0,
        time.perf_counter() - started,
        code,
        lines[-1][-160:] if lines else ("timed out" if code is None else ""),
    )


class GroundTruth:
    """Runs the full suite on a private copy of the workspace with a change written in,
    one change at a time, in a background thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="truth")
        self._lock = threading.Lock()

    def submit(self, change: Change) -> Future[SuiteRun]:
        return self._pool.submit(self._run, change)

    def _run(self, change: Change) -> SuiteRun:
        with self._lock:
            for f in change.files:
                if f.before is None or f.after is None or f.new_path is not None:
                    raise BenchError(f"{f.path}: only edits of existing files are measured")
                path = self.root / f.path
                if path.read_text(encoding="utf-8") != f.before:
                    raise BenchError(f"{f.path} in the ground-truth copy is not the base text")
            try:
                for f in change.files:
                    _write(self.root / f.path, f.after or "")
                return run_suite(self.root)
            finally:
                for f in change.files:
                    _write(self.root / f.path, f.before or "")

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


# --------------------------------------------------------------------------- source text


Located = ast.expr | ast.stmt | ast.keyword


class Text:
    """A file's text with ``ast`` positions (1-based lines, UTF-8 byte columns) mapped
    to string offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts: list[int] = []
        total = 0
        for line in self.lines:
            self.starts.append(total)
            total += len(line)
        self.starts.append(total)

    def offset(self, lineno: int, byte_col: int) -> int:
        line = self.lines[lineno - 1] if lineno - 1 < len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode()[:byte_col].decode("utf-8", "replace"))

    def start(self, node: Located) -> int:
        return self.offset(node.lineno, node.col_offset)

    def end(self, node: Located) -> int:
        return self.offset(node.end_lineno or node.lineno, node.end_col_offset or 0)

    def position(self, offset: int) -> tuple[int, int]:
        """0-based (line, code-point column) of a string offset."""
        line = 0
        while line + 1 < len(self.starts) and self.starts[line + 1] <= offset:
            line += 1
        return line, offset - self.starts[line]


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True, slots=True)
class Function:
    path: str
    module: str
    local: str  # name, or Class.name for a method
    node: FunctionNode
    text: str  # the file's text the node was parsed from

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.local}"


def body_statements(node: FunctionNode) -> list[ast.stmt]:
    body = list(node.body)
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:]
    return body


def plain_function(node: FunctionNode) -> bool:
    """A body of its own (beyond a docstring), on lines of its own, with no nested
    definitions (those would be symbols of their own)."""
    body = body_statements(node)
    if not body or node.body[0].lineno == node.lineno:
        return False
    return not any(
        isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        for stmt in body
        for inner in ast.walk(stmt)
    )


def module_files(root: Path) -> list[str]:
    """The project's Python modules (its tests and the tlz shim left out)."""
    out = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "/tests/" in rel:
            continue
        out.append(rel)
    return out


def functions_in(path: str, module: str, text: str) -> list[Function]:
    """The module's functions and its classes' methods, parsed from ``text``."""
    out: list[Function] = []
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append(Function(path, module, node.name, node, text))
        elif isinstance(node, ast.ClassDef):
            for inner in node.body:
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                    out.append(Function(path, module, f"{node.name}.{inner.name}", inner, text))
    return out


def enclosing_function(path: str, module: str, text: str, line: int) -> Function | None:
    """The function (or method) of ``text`` around 0-based ``line``."""
    for fn in functions_in(path, module, text):
        if fn.node.lineno - 1 <= line <= (fn.node.end_lineno or fn.node.lineno) - 1:
            return fn
    return None


# --------------------------------------------------------------------------- candidates


@dataclass
class Candidate:
    source: str  # rename | extract_variable | mutant | reformat | gemma
    label: str
    draft: Draft
    detail: str = ""  # the mutation, the extracted expression …

    @property
    def category(self) -> str:
        return CATEGORY[self.source]


@dataclass
class Made:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def skip(self, source: str, why: str) -> None:
        self.skipped[source] += 1
        if len(self.reasons) < 30:
            self.reasons.append(f"{source}: {why[:200]}")


def model_draft(fn: Function, before: str, after: str, task: str, **extra: Any) -> Draft:
    """A model-like ``implement`` edit of ``fn`` (its body only)."""
    return Draft(
        task=task,
        kind="implement",
        engine="model",
        change=Change((FileChange(fn.path, before, after),)),
        intent=Intent(kind="implement", changed=(fn.qualname,), keep_signature=(fn.qualname,)),
        targets=(Target(fn.path, fn.node.lineno - 1, fn.qualname),),
        symbols=(fn.qualname,),
        **extra,
    )


def make_renames(
    sources: DiskSources, reader: IndexReader, paths: list[str], count: int, rng: random.Random
) -> tuple[list[Candidate], Made]:
    made = Made()
    targets: list[str] = []
    for path in paths:
        module = refactor.python_module(sources, path, reader)
        for sym in refactor.python_symbols(sources.text(path), module) or ():
            if sym.kind in ("function", "method", "class") and not sym.name.startswith("__"):
                targets.append(sym.qualname)
    rng.shuffle(targets)
    out: list[Candidate] = []
    for qualname in targets:
        if len(out) >= count:
            break
        name = qualname.rsplit(".", 1)[-1]
        new = rng.choice(NEW_NAMES).format(name)
        try:
            draft = refactor.rename_symbol(sources, reader, qualname, new)
        except EngineError as exc:
            made.skip("rename", f"{qualname}: {exc}")
            continue
        except Exception as exc:  # an engine bug: counted, the benchmark goes on
            made.skip("rename", f"{qualname}: the engine broke: {type(exc).__name__}: {exc}")
            continue
        if draft.change.empty:
            made.skip("rename", f"{qualname}: nothing to change")
            continue
        out.append(Candidate("rename", f"rename {qualname} → {new}", draft))
    return out, made


_UNSAFE_PARENTS = (
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.IfExp,
    ast.BoolOp,
    ast.JoinedStr,
    ast.Starred,
)


def extract_sites(fn: Function, text: Text) -> list[tuple[int, int]]:
    """(start, end) offsets of sub-expressions of ``fn``'s simple statements that can
    move into a variable just before their statement without changing what runs."""
    sites: list[tuple[int, int]] = []

    def visit(node: ast.AST, parents: tuple[ast.AST, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            visit(child, (*parents, node))
        if not isinstance(node, ast.Call | ast.BinOp | ast.Subscript | ast.Compare):
            return
        if not parents or isinstance(parents[-1], ast.stmt | ast.keyword):
            return  # the statement's whole expression, or a keyword's
        if any(isinstance(p, _UNSAFE_PARENTS) for p in parents):
            return
        parent = parents[-1]
        if isinstance(parent, ast.Call) and parent.func is node:
            return
        if not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            return  # an assignment target
        if any(
            isinstance(n, ast.Yield | ast.YieldFrom | ast.Await | ast.NamedExpr)
            for n in ast.walk(node)
        ):
            return
        if getattr(node, "lineno", 0) != getattr(node, "end_lineno", -1):
            return
        sites.append((text.start(node), text.end(node)))

    for stmt in body_statements(fn.node):
        for simple in _simple_statements(stmt):
            visit(simple, ())
    return sites


def _simple_statements(stmt: ast.stmt) -> Iterator[ast.stmt]:
    """Return/assign/expression statements, in ``stmt`` or the bodies of its if/for/with/
    try blocks (never a loop's or an ``if``'s own test)."""
    if isinstance(stmt, ast.Return | ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Expr):
        if not (isinstance(stmt, ast.Return) and stmt.value is None):
            yield stmt
        return
    for name in ("body", "orelse", "finalbody"):
        for inner in getattr(stmt, name, ()) or ():
            if isinstance(inner, ast.stmt):
                yield from _simple_statements(inner)
    for handler in getattr(stmt, "handlers", ()) or ():
        for inner in handler.body:
            yield from _simple_statements(inner)


def make_extracts(
    sources: DiskSources, functions: list[Function], count: int, rng: random.Random
) -> tuple[list[Candidate], Made]:
    made = Made()
    pool = [fn for fn in functions if plain_function(fn.node)]
    rng.shuffle(pool)
    out: list[Candidate] = []
    used: set[str] = set()
    rounds = 0
    while len(out) < count and rounds < 3:
        rounds += 1
        for fn in pool:
            if len(out) >= count:
                break
            text = Text(fn.text)
            sites = [s for s in extract_sites(fn, text) if f"{fn.qualname}@{s}" not in used]
            if not sites:
                continue
            start, end = rng.choice(sites)
            used.add(f"{fn.qualname}@{(start, end)}")
            expression = fn.text[start:end]
            try:
                draft = refactor.extract_variable(
                    sources,
                    fn.path,
                    text.position(start),
                    text.position(end),
                    EXTRACTED_NAME,
                )
            except EngineError as exc:
                made.skip("extract_variable", f"{fn.qualname}: {exc}")
                continue
            except Exception as exc:  # an engine bug: counted, the benchmark goes on
                why = f"the engine broke: {type(exc).__name__}: {exc}"
                made.skip("extract_variable", f"{fn.qualname}: {why}")
                continue
            if draft.change.empty:
                made.skip("extract_variable", f"{fn.qualname}: nothing to change")
                continue
            out.append(
                Candidate(
                    "extract_variable",
                    f"extract {_short(expression)} in {fn.qualname}",
                    draft,
                    expression,
                )
            )
    return out, made


@dataclass(frozen=True, slots=True)
class Site:
    kind: str  # operator | off_by_one | drop_argument
    start: int
    end: int
    replacement: str
    what: str


_COMPARE = {
    ast.Lt: (r"<(?!=)", "<="),
    ast.LtE: (r"<=", "<"),
    ast.Gt: (r">(?!=)", ">="),
    ast.GtE: (r">=", ">"),
    ast.Eq: (r"==", "!="),
    ast.NotEq: (r"!=", "=="),
    ast.Is: (r"\bis\b(?!\s+not\b)", "is not"),
    ast.IsNot: (r"\bis\s+not\b", "is"),
    ast.In: (r"(?<!not )\bin\b", "not in"),
    ast.NotIn: (r"\bnot\s+in\b", "in"),
}


def mutation_sites(fn: Function, text: Text) -> list[Site]:
    """Every single mutation of ``fn``'s body (docstring and signature left alone)."""
    sites: list[Site] = []
    src = text.text

    def in_gap(left: Located, right: Located, pattern: str, new: str, kind: str) -> None:
        start, end = text.end(left), text.start(right)
        match = re.search(pattern, src[start:end])
        if match is not None:
            old = match.group()
            a, b = start + match.start(), start + match.end()
            sites.append(Site(kind, a, b, new, f"{' '.join(old.split())} → {new}"))

    for stmt in body_statements(fn.node):
        for node in ast.walk(stmt):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
                new = "-" if isinstance(node.op, ast.Add) else "+"
                pattern = r"\+" if isinstance(node.op, ast.Add) else r"-"
                in_gap(node.left, node.right, pattern, new, "operator")
            elif isinstance(node, ast.Compare):
                lefts = [node.left, *node.comparators[:-1]]
                for op, left, right in zip(node.ops, lefts, node.comparators, strict=True):
                    spec = _COMPARE.get(type(op))
                    if spec is not None:
                        in_gap(left, right, spec[0], spec[1], "operator")
            elif isinstance(node, ast.BoolOp):
                new = "or" if isinstance(node.op, ast.And) else "and"
                old = "and" if new == "or" else "or"
                for left, right in zip(node.values, node.values[1:], strict=False):
                    in_gap(left, right, rf"\b{old}\b", new, "operator")
            elif (
                isinstance(node, ast.Constant)
                and type(node.value) is int
                and src[text.start(node) : text.end(node)].isdigit()
            ):
                value = node.value
                for new_value in (value + 1, value - 1) if value > 0 else (value + 1,):
                    sites.append(
                        Site(
                            "off_by_one",
                            text.start(node),
                            text.end(node),
                            str(new_value),
                            f"{value} → {new_value}",
                        )
                    )
            elif isinstance(node, ast.Call) and (node.args or node.keywords):
                arguments: list[Located] = [*node.args, *node.keywords]
                arguments.sort(key=lambda a: (a.lineno, a.col_offset))
                last = arguments[-1]
                start = text.end(arguments[-2]) if len(arguments) > 1 else text.start(last)
                dropped = src[text.start(last) : text.end(last)]
                sites.append(
                    Site("drop_argument", start, text.end(last), "", f"drop {_short(dropped)}")
                )
    return sites


def apply_site(text: str, site: Site) -> str | None:
    """``text`` with the mutation, or None when the result would not compile."""
    mutated = text[: site.start] + site.replacement + text[site.end :]
    try:
        compile(mutated, "<mutant>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    return mutated


def make_mutants(
    functions: list[Function],
    refactorings: list[Candidate],
    count: int,
    rng: random.Random,
) -> tuple[list[Candidate], Made]:
    """``count`` mutants, cycling through the three kinds of mutation; a share of them
    is made on an extract-variable result (the change then holds both)."""
    made = Made()
    pool = [fn for fn in functions if plain_function(fn.node)]
    # the extract-variable results: the function around the extraction, after it
    bases: list[Function] = []
    modules = {fn.path: fn.module for fn in functions}
    for cand in refactorings:
        files = cand.draft.change.files
        if cand.source != "extract_variable" or len(files) != 1 or files[0].after is None:
            continue
        target = cand.draft.targets[0]
        found = enclosing_function(target.path, modules[target.path], files[0].after, target.line)
        if found is not None and plain_function(found.node):
            bases.append(found)
    kinds = ("operator", "off_by_one", "drop_argument")
    # every site, by kind and by where it comes from: (function, text before, origin, site)
    sites: dict[tuple[str, str], list[tuple[Function, str, Site]]] = {}
    originals = {fn.path: fn.text for fn in functions}
    for origin, group in (("original", pool), ("extract", bases)):
        for fn in group:
            for site in mutation_sites(fn, Text(fn.text)):
                sites.setdefault((site.kind, origin), []).append((fn, originals[fn.path], site))
    out: list[Candidate] = []
    tries = 0
    while len(out) < count and tries < count * 5:
        kind = kinds[tries % len(kinds)]
        tries += 1
        origin = "extract" if rng.random() < MUTANT_OF_REFACTORING else "original"
        choices = sites.get((kind, origin)) or sites.get((kind, "original"))
        if not choices:
            continue
        # a function first, then one of its sites: big functions do not dominate
        picked = rng.choice(sorted({c[0].qualname for c in choices}))
        mine = [c for c in choices if c[0].qualname == picked]
        fn_, before, site = mine[rng.randrange(len(mine))]
        choices.remove((fn_, before, site))
        after = apply_site(fn_.text, site)
        if after is None:
            made.skip("mutant", f"{fn_.qualname}: {site.what} does not compile")
            continue
        on_extract = fn_.text != before
        where = " (after an extract-variable)" if on_extract else ""
        draft = model_draft(fn_, before, after, f"Rewrite {fn_.name}")
        out.append(
            Candidate(
                "mutant",
                f"{kind} {site.what} in {fn_.qualname}{where}",
                draft,
                f"{kind}:{'extract' if on_extract else 'original'}",
            )
        )
    return out, made


def make_reformats(
    functions: list[Function], count: int, rng: random.Random
) -> tuple[list[Candidate], Made]:
    """Bodies re-emitted through ``ast.unparse``: the same code, written differently."""
    made = Made()
    pool = [fn for fn in functions if plain_function(fn.node)]
    rng.shuffle(pool)
    out: list[Candidate] = []
    for fn in pool:
        if len(out) >= count:
            break
        body = "\n".join(ast.unparse(stmt) for stmt in body_statements(fn.node)).split("\n")
        after = model_engine.replace_body(fn.text, fn.node, body)
        if after == fn.text:
            made.skip("reformat", f"{fn.qualname}: already as ast.unparse writes it")
            continue
        draft = model_draft(fn, fn.text, after, f"Rewrite {fn.name}")
        out.append(Candidate("reformat", f"reformat {fn.qualname}", draft))
    return out, made


def stub_text(fn: Function) -> str:
    """The file with ``fn``'s docstring and body replaced by ``raise NotImplementedError``
    (Gemma 3 270M mostly echoes a docstring back instead of writing code)."""
    lines = fn.text.splitlines(keepends=True)
    first = fn.node.body[0]
    indent = lines[first.lineno - 1][: first.col_offset]
    end = fn.node.end_lineno or fn.node.lineno
    return "".join(
        [*lines[: first.lineno - 1], f"{indent}raise NotImplementedError\n", *lines[end:]]
    )


def rebase(fn: Function, stub: str, after: str) -> str | None:
    """Gemma's body (from its edit of the stub) in the original file, docstring kept,
    with any import the answer added; None when it has no body."""
    tree = ast.parse(after)
    node = next(
        (
            n
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == fn.name
        ),
        None,
    )
    if node is None:
        return None
    body = model_engine.function_body(after, node)
    if not body:
        return None
    text = model_engine.replace_body(fn.text, fn.node, body)
    old_imports = {ast.unparse(n) for n in ast.parse(stub).body if _is_import(n)}
    new_imports = [ast.unparse(n) for n in tree.body if _is_import(n)]
    added = [line for line in new_imports if line not in old_imports]
    if added:
        original = ast.parse(text)
        imports = [n for n in original.body if _is_import(n)]
        at = (imports[-1].end_lineno or 0) if imports else 0
        lines = text.splitlines(keepends=True)
        text = "".join([*lines[:at], *(line + "\n" for line in added), *lines[at:]])
    return text


def _is_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.Import | ast.ImportFrom)


def make_gemma(
    root: Path,
    conn: Connection,
    buffers: dict[str, tuple[str, int]],
    functions: list[Function],
    count: int,
    rng: random.Random,
    engine: Any,
    model_dir: Path | None,
) -> tuple[list[Candidate], Made]:
    """Stubbed toolz functions implemented by Gemma 3 270M through llama.cpp."""
    from hexad.core.settings import ModelSettings
    from hexad.execution.models import ModelService
    from hexad.inference.embedding import gemma_model_path
    from hexad.inference.llama import LlamaBackend
    from hexad.inference.prompts import load_template

    made = Made()
    prompt_path = root.parent / "prompts" / "implement.toml"
    prompt_path.parent.mkdir(parents=True, exist_ok=True)
    prompt_path.write_text(BARE_PROMPT, encoding="utf-8")
    template = load_template(prompt_path)
    settings = ModelSettings(
        path=str(gemma_model_path(model_dir)), n_ctx=2048, threads=2, idle_unload_s=0.0
    )
    llama = LlamaBackend({"local": settings})
    service = ModelService(engine, {"local": settings}, {"llama": llama})
    sources = DiskSources(root, buffers)
    pool = [
        fn
        for fn in functions
        if plain_function(fn.node)
        and fn.qualname.count(".") == 2  # a module's own function, not a method
        and not fn.name.startswith("_")
        and fn.path.rsplit("/", 1)[-1] in ("itertoolz.py", "dicttoolz.py", "functoolz.py")
    ]
    rng.shuffle(pool)
    out: list[Candidate] = []
    try:
        for fn in pool[: max(count * 5 // 2, count)]:
            if len(out) >= count:
                break
            stub = stub_text(fn)
            buffers[fn.path] = (stub, 1)
            try:
                draft = model_engine.implement(
                    service,
                    sources,
                    IndexReader(conn),
                    conn,
                    fn.path,
                    fn.qualname,
                    task_id=f"bench-{fn.name}",
                    template=template,
                    max_tokens=GEMMA_MAX_TOKENS,
                    context_tokens=GEMMA_CONTEXT_TOKENS,
                )
            except EngineError as exc:
                made.skip("gemma", f"{fn.qualname}: {exc}")
                continue
            finally:
                buffers.pop(fn.path, None)
            changed = draft.change.files[0]
            after = rebase(fn, stub, changed.after or "")
            if after is None or after == fn.text:
                made.skip("gemma", f"{fn.qualname}: no body to rebase")
                continue
            try:
                compile(after, fn.path, "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as exc:
                made.skip("gemma", f"{fn.qualname}: the rebased body does not compile ({exc})")
                continue
            rebased = dataclasses.replace(
                draft, change=Change((FileChange(fn.path, fn.text, after),))
            )
            stats = draft.evidence.get("logprobs") or {}
            out.append(
                Candidate(
                    "gemma",
                    f"gemma body of {fn.qualname}",
                    rebased,
                    f"mean logprob {stats.get('mean_logprob', float('nan')):.2f}, "
                    f"finish {draft.evidence.get('finish_reason')}",
                )
            )
            log(f"gemma {len(out)}/{count}: {fn.qualname}")
    finally:
        llama.close()
    return out, made


def _short(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --------------------------------------------------------------------------- evaluation


@dataclass
class Result:
    source: str
    category: str
    label: str
    detail: str
    evidence: Evidence
    cold: float  # the cold start's confidence on the history-free evidence
    service: float  # what the service said (same, since nothing was ever settled)
    cheap_passed: bool  # every cheap check (and the affected tests) passed
    summary: str
    truth: bool
    truth_exit: int | None
    truth_line: str
    submit_seconds: float
    truth_seconds: float
    diff: str = ""
    fitted: float | None = None  # the fitted model's confidence (half B only)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "category": self.category,
            "label": self.label,
            "detail": self.detail,
            "cold": round(self.cold, 4),
            "service": round(self.service, 4),
            "cheap_passed": self.cheap_passed,
            "summary": self.summary,
            "truth": self.truth,
            "truth_exit": self.truth_exit,
            "truth_line": self.truth_line,
            "submit_s": round(self.submit_seconds, 3),
            "truth_s": round(self.truth_seconds, 3),
            "fitted": round(self.fitted, 4) if self.fitted is not None else None,
            "evidence": self.evidence.to_json(),
            "diff": self.diff[:DIFF_CHARS],
        }


@dataclass
class _Pending:
    candidate: Candidate
    proposal: Proposal
    evidence: Evidence
    cold: float
    seconds: float
    truth: Future[SuiteRun]


def evaluate(
    service: ProposalService, truth: GroundTruth, candidates: list[Candidate]
) -> tuple[list[Result], Made]:
    """Each candidate through the service (cheap evidence, affected tests), then the full
    suite in the background while the next one is verified."""
    made = Made()
    records = Records(service.conn)
    cold_model = TrustModel.cold_start()
    pending: list[_Pending] = []
    for index, cand in enumerate(candidates, 1):
        started = time.perf_counter()
        try:
            proposal = service.submit(cand.draft, run_tests=True, task_id="bench-trust")
        except (ProposalError, EngineError) as exc:
            made.skip(cand.source, f"{cand.label}: {exc}")
            continue
        elapsed = time.perf_counter() - started
        stored = records.decision(proposal.id)
        if stored is None:
            raise BenchError(f"proposal #{proposal.id} has no decision record")
        inputs = Evidence.from_json(stored.evidence["trust"]["inputs"])
        # nothing is ever settled, so there is no history; zero it all the same
        evidence = dataclasses.replace(inputs, similar=0, similar_accepted=0)
        pending.append(
            _Pending(
                cand,
                proposal,
                evidence,
                cold_model.probability(evidence),
                elapsed,
                truth.submit(cand.draft.change),
            )
        )
        log(
            f"{index}/{len(candidates)} {cand.source}: {cand.label[:70]} — "
            f"{proposal.report.summary()} → {proposal.confidence:.2f} ({elapsed:.1f} s)"
        )
    results: list[Result] = []
    for p in pending:
        run = p.truth.result()
        results.append(
            Result(
                p.candidate.source,
                p.candidate.category,
                p.candidate.label,
                p.candidate.detail,
                p.evidence,
                p.cold,
                p.proposal.confidence,
                p.proposal.report.passed,
                p.proposal.report.summary(),
                run.passed,
                run.exit,
                run.last_line,
                p.seconds,
                run.seconds,
                p.candidate.draft.change.diff(),
            )
        )
    return results, made


def scores(model: TrustModel, results: Sequence[Result]) -> list[float]:
    return [model.probability(r.evidence) for r in results]


def figures(predicted: Sequence[float], outcomes: Sequence[bool]) -> dict[str, Any]:
    caught, bad = caught_at_review_rate(predicted, outcomes, REVIEW_RATE)
    area = auroc(predicted, outcomes)
    return {
        "n": len(predicted),
        "bad": bad,
        "auroc": round(area, 4) if area is not None else None,
        "ece": round(ece(predicted, outcomes, 10), 4),
        "brier": round(brier(predicted, outcomes), 4),
        "caught": caught,
        "caught_share": round(caught / bad, 4) if bad else None,
        "caught_ceiling": min(round(len(predicted) * REVIEW_RATE), bad),
        "mean_confidence": round(statistics.fmean(predicted), 4) if predicted else None,
        "good_rate": round(sum(outcomes) / len(outcomes), 4) if outcomes else None,
    }


def separation(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Each feature alone: its AUROC against the outcome (0.5: no signal; < 0.5: a
    higher value means worse), and its mean on good and on bad edits."""
    out = []
    outcomes = [r.truth for r in results]
    vectors = [features(r.evidence) for r in results]
    for i, name in enumerate(FEATURES):
        values = [v[i] for v in vectors]
        if len(set(values)) < 2:
            continue
        area = auroc(values, outcomes)
        good = [v for v, o in zip(values, outcomes, strict=True) if o]
        bad = [v for v, o in zip(values, outcomes, strict=True) if not o]
        out.append(
            {
                "feature": name,
                "auroc": round(area, 3) if area is not None else None,
                "mean_good": round(statistics.fmean(good), 3) if good else None,
                "mean_bad": round(statistics.fmean(bad), 3) if bad else None,
            }
        )
    return sorted(out, key=lambda s: -abs((s["auroc"] or 0.5) - 0.5))


def analyse(results: list[Result], seed: int) -> dict[str, Any]:
    order = list(range(len(results)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    a = [results[i] for i in order[:half]]
    b = [results[i] for i in order[half:]]
    cold = TrustModel.cold_start()
    fitted = fit([(r.evidence, r.truth) for r in a], seed=seed)
    swapped = fit([(r.evidence, r.truth) for r in b], seed=seed)
    b_truth = [r.truth for r in b]
    a_truth = [r.truth for r in a]
    all_truth = [r.truth for r in results]
    fitted_b = scores(fitted, b)
    analysis: dict[str, Any] = {
        "halves": {"a": len(a), "b": len(b)},
        "cold_all": figures(scores(cold, results), all_truth),
        "cold_b": figures(scores(cold, b), b_truth),
        "fitted_b": figures(fitted_b, b_truth),
        "swapped_a": figures(scores(swapped, a), a_truth),  # fitted on B, scored on A
        "fitted_raw_b": figures([fitted.raw(features(r.evidence)) for r in b], b_truth),
        "fitted_model": fitted.to_json(),
        "separation": separation(results),
        "cheap_vs_truth": dict(
            Counter(
                f"cheap {'pass' if r.cheap_passed else 'fail'} / suite "
                f"{'pass' if r.truth else 'fail'}"
                for r in results
            )
        ),
    }
    for r, p in zip(b, fitted_b, strict=True):
        r.fitted = p
    met_auroc = (analysis["fitted_b"]["auroc"] or 0.0) >= TARGET_AUROC
    met_ece = analysis["fitted_b"]["ece"] <= TARGET_ECE
    analysis["target"] = {
        "auroc": analysis["fitted_b"]["auroc"],
        "auroc_min": TARGET_AUROC,
        "auroc_met": met_auroc,
        "ece": analysis["fitted_b"]["ece"],
        "ece_max": TARGET_ECE,
        "ece_met": met_ece,
        "met": met_auroc and met_ece,
    }
    analysis["svg"] = reliability_svg(
        fitted_b, b_truth, title=f"toolz {VERSION}: fitted on half A, half B (n={len(b)})"
    )
    return analysis


def per_source(results: list[Result]) -> list[dict[str, Any]]:
    rows = []
    for source in SHARES:
        group = [r for r in results if r.source == source]
        if not group:
            continue
        rows.append(
            {
                "source": source,
                "category": CATEGORY[source],
                "n": len(group),
                "suite_passes": sum(r.truth for r in group),
                "cheap_passes": sum(r.cheap_passed for r in group),
                "mean_cold": round(statistics.fmean(r.cold for r in group), 3),
                "mean_submit_s": round(statistics.fmean(r.submit_seconds for r in group), 2),
            }
        )
    mutants = [r for r in results if r.source == "mutant"]
    for kind in ("operator", "off_by_one", "drop_argument"):
        group = [r for r in mutants if r.detail.startswith(kind)]
        if group:
            rows.append(
                {
                    "source": f"  mutant: {kind}",
                    "category": "mutant",
                    "n": len(group),
                    "suite_passes": sum(r.truth for r in group),
                    "cheap_passes": sum(r.cheap_passed for r in group),
                    "mean_cold": round(statistics.fmean(r.cold for r in group), 3),
                    "mean_submit_s": round(statistics.fmean(r.submit_seconds for r in group), 2),
                }
            )
    return rows


# --------------------------------------------------------------------------- run


def counts(limit: int, skip_gemma: bool) -> dict[str, int]:
    out = {source: max(1, round(limit * share)) for source, share in SHARES.items()}
    if skip_gemma:
        out["gemma"] = 0
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    tree = prepare_project(args.cache)
    rng = random.Random(args.seed)
    wanted = counts(args.limit, args.skip_gemma)
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "project": f"{PACKAGE} {VERSION} (sdist)",
            "load_average_start": [round(x, 2) for x in os.getloadavg()],
        },
        "seed": args.seed,
        "wanted": wanted,
    }
    with tempfile.TemporaryDirectory(prefix="hexad-trust-bench-") as tmp_name:
        tmp = Path(tmp_name)
        root, truth_root = tmp / "ws", tmp / "truth"
        copy_tree(tree, root)
        copy_tree(tree, truth_root)
        baseline = run_suite(truth_root)
        if not baseline.passed:
            raise BenchError(f"the unchanged suite fails: {baseline.last_line}")
        results["baseline_suite_s"] = round(baseline.seconds, 2)
        log(f"the unchanged suite passes in {baseline.seconds:.1f} s ({baseline.last_line})")
        policies = root / ".hexad" / "policies"
        policies.mkdir(parents=True)
        (policies / "bench.toml").write_text(POLICY, encoding="utf-8")
        conn = connect(database_path(root))
        started = time.perf_counter()
        Indexer(root, conn=conn, workers=1).run()
        results["index_seconds"] = round(time.perf_counter() - started, 2)
        buffers: dict[str, tuple[str, int]] = {}
        sources = DiskSources(root, buffers)
        engine = open_engine(root, user_file=None)
        service = ProposalService(
            root,
            sources,
            lambda: IndexReader(conn),
            conn,
            engine,
            verifier=Verifier(
                root,
                sources,
                lambda: IndexReader(conn),
                shadow=ShadowWorkspace(root, tmp / "shadow"),
                env=SUITE_ENV,
            ),
        )
        reader = IndexReader(conn)
        paths = module_files(root)
        functions = [
            fn
            for path in paths
            for fn in functions_in(
                path, refactor.python_module(sources, path, reader), sources.text(path)
            )
        ]
        made = Made()
        stage: list[tuple[str, Callable[[], tuple[list[Candidate], Made]]]] = [
            ("rename", lambda: make_renames(sources, reader, paths, wanted["rename"], rng)),
            (
                "extract_variable",
                lambda: make_extracts(sources, functions, wanted["extract_variable"], rng),
            ),
            (
                "mutant",
                lambda: make_mutants(functions, made.candidates, wanted["mutant"], rng),
            ),
            ("reformat", lambda: make_reformats(functions, wanted["reformat"], rng)),
            (
                "gemma",
                lambda: make_gemma(
                    root,
                    conn,
                    buffers,
                    functions,
                    wanted["gemma"],
                    rng,
                    engine,
                    args.model_dir,
                ),
            ),
        ]
        for source, make in stage:
            if not wanted[source]:
                continue
            log(f"making {wanted[source]} {source} candidates")
            started = time.perf_counter()
            got, stats = make()
            made.candidates.extend(got)
            made.skipped.update(stats.skipped)
            made.reasons.extend(stats.reasons)
            made.seconds[source] = round(time.perf_counter() - started, 1)
        candidates = made.candidates
        log(f"{len(candidates)} candidates; verifying each and running the full suite")
        truth = GroundTruth(truth_root)
        started = time.perf_counter()
        try:
            evaluated, refused = evaluate(service, truth, candidates)
        finally:
            truth.close()
        results["evaluate_seconds"] = round(time.perf_counter() - started, 1)
        service.close()
    if len({r.truth for r in evaluated}) < 2:
        raise BenchError("every candidate had the same outcome; nothing to separate")
    results["made"] = {
        "candidates": len(candidates),
        "evaluated": len(evaluated),
        "skipped_making": dict(made.skipped),
        "refused_by_service": dict(refused.skipped),
        "reasons": made.reasons[:20] + refused.reasons[:10],
        "seconds": made.seconds,
    }
    results["per_source"] = per_source(evaluated)
    results["analysis"] = analyse(evaluated, args.seed)
    results["timing"] = {
        "submit_p50_s": round(statistics.median(r.submit_seconds for r in evaluated), 2),
        "submit_max_s": round(max(r.submit_seconds for r in evaluated), 2),
        "suite_p50_s": round(statistics.median(r.truth_seconds for r in evaluated), 2),
        "suite_max_s": round(max(r.truth_seconds for r in evaluated), 2),
    }
    results["rows"] = [r.to_json() for r in evaluated]
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def print_report(results: dict[str, Any]) -> None:
    m = results["machine"]
    made = results["made"]
    an = results["analysis"]
    print(
        f"\nTrust benchmark — {m['project']}, Python {m['python']}, {m['cpus']} CPUs, "
        f"load {m['load_average_start']} → {m['load_average_end']}"
    )
    skipped = sum(made["skipped_making"].values()) + sum(made["refused_by_service"].values())
    print(
        f"{made['evaluated']} candidates evaluated; {skipped} not made (engine refusals, "
        f"bodies ast.unparse leaves alone, unusable model answers: "
        f"{dict(made['skipped_making'])}; refused by the service: "
        f"{dict(made['refused_by_service'])}); the unchanged suite takes "
        f"{results['baseline_suite_s']} s"
    )
    timeouts = sum(1 for r in results["rows"] if r["truth_exit"] is None)
    errors = sum(1 for r in results["rows"] if "tests !" in r["summary"])
    if timeouts or errors:
        print(f"full-suite runs timed out: {timeouts}; affected-test runs that errored: {errors}")
    print(f"\n  {'source':22} {'category':9} {'n':>4} {'suite ✓':>8} {'cheap ✓':>8} {'cold p̄':>7}")
    for row in results["per_source"]:
        print(
            f"  {row['source']:22} {row['category']:9} {row['n']:>4} "
            f"{row['suite_passes']:>4} {row['suite_passes'] / row['n']:>3.0%} "
            f"{row['cheap_passes']:>4} {row['cheap_passes'] / row['n']:>3.0%} "
            f"{row['mean_cold']:>7.3f}"
        )
    print(
        "\n  cheap verification vs the full suite: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(an["cheap_vs_truth"].items()))
    )
    h = an["halves"]
    print(f"\nHalves: A = {h['a']} (fit), B = {h['b']} (scored); review rate {REVIEW_RATE:.0%}")
    print(f"  {'':34} {'n':>4} {'bad':>4} {'AUROC':>7} {'ECE':>7} {'Brier':>7} {'caught@20%':>12}")
    for label, key in (
        ("cold start, all candidates", "cold_all"),
        ("cold start, half B", "cold_b"),
        ("fitted on A (logistic), B", "fitted_raw_b"),
        ("fitted on A (+isotonic), B", "fitted_b"),
        ("fitted on B (+isotonic), A", "swapped_a"),
    ):
        f = an[key]
        caught = f"{f['caught']}/{f['bad']}"
        ceiling = min(round(f["n"] * REVIEW_RATE), f["bad"])  # all reviewed edits bad
        share = f" {f['caught_share']:.0%}" if f["caught_share"] is not None else ""
        area = f"{f['auroc']:.3f}" if f["auroc"] is not None else "n/a"
        print(
            f"  {label:34} {f['n']:>4} {f['bad']:>4} {area:>7} {f['ece']:>7.3f} "
            f"{f['brier']:>7.3f} {caught + share:>12}  (at most {ceiling})"
        )
    print("\n  evidence, each feature alone (AUROC vs the suite; mean on good / bad edits):")
    for s in an["separation"]:
        print(
            f"    {s['feature']:16} {s['auroc']:>6.3f}   {s['mean_good']:>7.3f} / "
            f"{s['mean_bad']:>7.3f}"
        )
    weights = an["fitted_model"]["weights"]
    moved = sorted(
        ((name, COLD_START[name], weights[name]) for name in weights),
        key=lambda w: -abs(w[2] - w[1]),
    )[:6]
    print(
        "  fitted weights that moved most (cold → fitted): "
        + ", ".join(f"{n} {c:+.2f}→{w:+.2f}" for n, c, w in moved)
    )
    t = an["target"]
    print(
        f"\nTargets (fitted, half B): AUROC ≥ {t['auroc_min']}: {t['auroc']} — "
        f"{'met' if t['auroc_met'] else 'MISSED'}; ECE ≤ {t['ece_max']}: {t['ece']} — "
        f"{'met' if t['ece_met'] else 'MISSED'}"
    )
    tm = results["timing"]
    print(
        f"Timing: index {results['index_seconds']} s; making {made['seconds']}; evaluating "
        f"{results['evaluate_seconds']} s (submit p50 {tm['submit_p50_s']} s, max "
        f"{tm['submit_max_s']} s; full suite p50 {tm['suite_p50_s']} s, max {tm['suite_max_s']} s)"
    )
    wrong = sorted((r for r in results["rows"] if not r["truth"]), key=lambda r: -r["cold"])[:5]
    if wrong:
        print("  most confident bad edits (cold start):")
        for r in wrong:
            print(f"    {r['cold']:.2f} {r['label'][:70]} — {r['summary']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=300, help="candidates to make, about")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--skip-gemma", action="store_true", help="no model-written bodies")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=_default_model_dir(),
        help="where the Gemma GGUF is (or is built)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        results = run(args)
    except BenchError as exc:
        print(f"bench/trust.py: {exc}", file=sys.stderr)
        return 2
    results["seconds"] = round(time.perf_counter() - started, 1)
    print_report(results)
    print(f"\n(total {results['seconds']} s)")
    svg = results["analysis"].pop("svg")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        picture = args.json.with_suffix(".reliability.svg")
        picture.write_text(svg, encoding="utf-8")
        log(f"wrote {args.json} and {picture}")
    return 0


def _default_model_dir() -> Path | None:
    """The test suite's model cache when it holds the GGUF, else Hexad's default."""
    cache = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
    models = cache / "models"
    return models if any(models.glob("*.gguf")) else None


if __name__ == "__main__":
    sys.exit(main())
