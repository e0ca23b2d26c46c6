"""Planning benchmark: are Hexad's plans valid, do they touch what the change needs, and
what happens when reality disagrees?

Tasks, each with the set of symbols a correct plan must touch:

- **fixture** (``tests/fixtures/exec_workspace``): signature changes, parameters threaded
  through callers, moves, module renames and splits, with hand-written truth sets. Each
  plan is also *run* (verified proposals, applied in a scratch copy): done or failed, and
  the replans it needed. Some tasks change the code after planning (a caller renamed, a
  test file renamed) so that a step fails and the plan must be made again.
- **Django** (the wheel from PyPI, as ``bench/index.py`` installs it): signature changes
  that every call site must follow (a new first parameter), moves of a function to a new
  module, and module renames, chosen at random. The truth comes from an *independent*
  oracle: Python's ``ast`` over every file, resolving calls and imports by name (the plans
  come from Hexad's tree-sitter index and call graph), so precision and recall measure
  the plan against a second opinion, not against itself.

A plan *touches* the symbols its steps edit: a definition step its function; a call-site
step the functions (or modules, for top-level code) whose calls it rewrites; a move or
module rename the symbol or module and every module whose imports change.

Model plans: free-form tasks planned by the Gemma 3 270M GGUF through llama.cpp (the
``plan`` prompt, its JSON schema as a grammar, bounded retries); every answer is counted
as accepted or caught by validation, with why. And known-invalid plans (valid plans
corrupted on purpose: unknown symbols, cycles, steps out of order, paths outside the
workspace or protected, files that exist already, unknown kinds) are answered by a
scripted model and go through the same gate: the share caught is the validation's recall.

Reproduce (about 6 minutes with the model, 2 without)::

    .venv/bin/python bench/planning.py [--django-tasks 24] [--model-tasks 6] [--skip-model]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib.util
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from hexad.core.db import Connection, connect, database_path
from hexad.core.settings import ModelSettings
from hexad.execution.edits import file_inside, read_inside
from hexad.execution.models import ModelService
from hexad.execution.proposals import ProposalService
from hexad.execution.shadow import ShadowWorkspace
from hexad.execution.sources import DiskSources
from hexad.execution.verify import Verifier
from hexad.governance import Engine, open_engine
from hexad.inference.fake import ScriptedBackend
from hexad.lsp.plans import ServiceExecutor, make_replanner, max_replans
from hexad.memory.records import Records
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer
from hexad.planning.intents import Intent, plan_intent
from hexad.planning.model_planner import ModelPlanResult, plan_with_model
from hexad.planning.module_planners import _file_importers, _importers, _module_of, top_symbol
from hexad.planning.plan import Plan
from hexad.planning.planners import PlanningError, find_function
from hexad.planning.runner import PlanRunner
from hexad.planning.validate import validate

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "exec_workspace"
BENCH_POLICY = """version = 1
[budgets]
proposals_per_hour = 1000
[routing.tasks.plan]
engine = "model"
model = "local"
"""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _load_index_bench() -> ModuleType:
    path = Path(__file__).resolve().with_name("index.py")
    spec = importlib.util.spec_from_file_location("hexad_bench_index", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


index_bench = _load_index_bench()


# -- tasks ---------------------------------------------------------------------------------


@dataclass
class Task:
    name: str
    source: str  # fixture | django
    intent: dict[str, Any]
    truth: set[str]
    perturb: Callable[[Path], None] | None = None  # the code changes after planning
    run: bool = False


@dataclass
class Outcome:
    task: Task
    valid: bool = False
    error: str | None = None  # the planner refused, or validation's first error
    touched: set[str] = field(default_factory=set)
    steps: int = 0
    run_status: str | None = None  # done | failed (fixture tasks that run)
    replans: int = 0
    run_detail: str | None = None
    seconds: float = 0.0

    @property
    def precision(self) -> float | None:
        if not self.touched:
            return None
        return len(self.touched & self.task.truth) / len(self.touched)

    @property
    def recall(self) -> float | None:
        if not self.task.truth:
            return None
        return len(self.touched & self.task.truth) / len(self.task.truth)


def _replace_in(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def _rename_summary(root: Path) -> None:
    for rel in ("inventory/report.py", "tests/test_report.py"):
        _replace_in(root, rel, "summary", "summarize")


def _rename_stock_tests(root: Path) -> None:
    (root / "tests/test_stock.py").rename(root / "tests/test_inventory_stock.py")


def _move_low_stock_caller(root: Path) -> None:
    (root / "inventory/alerts.py").write_text(
        '"""Alerts."""\n\nfrom inventory.report import low_stock\n\n\n'
        "def alert(items):\n    return low_stock(items, 2)\n",
        encoding="utf-8",
    )


def fixture_tasks() -> list[Task]:
    r, s, p = "inventory.report", "inventory.stock", "inventory.pricing"
    t_r, t_s = "tests.test_report", "tests.test_stock"
    tasks = [
        Task(
            "low_stock gains floor=0",
            "fixture",
            {
                "kind": "signature",
                "symbol": f"{r}.low_stock",
                "params": "items, threshold=3, floor=0",
            },
            {f"{r}.low_stock"},
        ),
        Task(
            "restock's parameters swap",
            "fixture",
            {"kind": "signature", "symbol": f"{s}.restock", "params": "amount: int, item: Item"},
            {
                f"{s}.restock",
                f"{t_s}.test_restock_adds_units",
                f"{t_s}.test_restock_refuses_negative",
            },
        ),
        Task(
            "total_value gains a keyword-only rounding",
            "fixture",
            {
                "kind": "signature",
                "symbol": f"{s}.total_value",
                "params": "items, percent=0, *, rounding=None",
            },
            {f"{s}.total_value"},
        ),
        Task(
            "discount gains a required floor",
            "fixture",
            {
                "kind": "signature",
                "symbol": f"{p}.discount",
                "params": "amount: Decimal, percent: int, floor: Decimal",
                "values": {"floor": "Decimal(0)"},
            },
            {f"{p}.discount", f"{s}.total_value"},
        ),
        Task(
            "rounding threaded from total_value",
            "fixture",
            {"kind": "add_parameter", "symbol": f"{s}.total_value", "name": "rounding"},
            {f"{s}.total_value", f"{r}.summary"},
        ),
        Task(
            "rate threaded from with_tax",
            "fixture",
            {"kind": "add_parameter", "symbol": f"{p}.with_tax", "name": "rate", "default": "None"},
            {f"{p}.with_tax", f"{s}.total_value"},
        ),
        Task(
            "banner moves to inventory/fmt.py",
            "fixture",
            {"kind": "move", "symbol": f"{r}.banner", "target": "inventory/fmt.py"},
            {f"{r}.banner", t_r},
        ),
        Task(
            "discount moves to inventory/discounts.py",
            "fixture",
            {"kind": "move", "symbol": f"{p}.discount", "target": "inventory/discounts.py"},
            {f"{p}.discount", s},
        ),
        Task(
            "pricing is renamed prices",
            "fixture",
            {
                "kind": "rename_module",
                "path": "inventory/pricing.py",
                "new_path": "inventory/prices.py",
            },
            {p, s},
        ),
        Task(
            "report is renamed reports",
            "fixture",
            {
                "kind": "rename_module",
                "path": "inventory/report.py",
                "new_path": "inventory/reports.py",
            },
            {r, t_r},
        ),
        Task(
            "report is split",
            "fixture",
            {
                "kind": "split_module",
                "path": "inventory/report.py",
                "groups": {
                    "inventory/low.py": ["low_stock"],
                    "inventory/text.py": ["summary", "banner"],
                },
            },
            {f"{r}.low_stock", f"{r}.summary", f"{r}.banner", t_r},
        ),
        Task(
            "rounding threaded, summary renamed meanwhile",
            "fixture",
            {"kind": "add_parameter", "symbol": f"{s}.total_value", "name": "rounding"},
            {f"{s}.total_value", f"{r}.summary"},
            perturb=_rename_summary,
        ),
        Task(
            "restock swapped, its test file renamed meanwhile",
            "fixture",
            {"kind": "signature", "symbol": f"{s}.restock", "params": "amount: int, item: Item"},
            {
                f"{s}.restock",
                f"{t_s}.test_restock_adds_units",
                f"{t_s}.test_restock_refuses_negative",
            },
            perturb=_rename_stock_tests,
        ),
        Task(
            "low_stock gains a required floor, a caller added meanwhile",
            "fixture",
            {
                "kind": "signature",
                "symbol": f"{r}.low_stock",
                "params": "items, floor, threshold=3",
                "values": {"floor": "0"},
            },
            {f"{r}.low_stock", f"{t_r}.test_low_stock"},
            perturb=_move_low_stock_caller,
        ),
    ]
    for task in tasks:
        task.run = True
    return tasks


# -- the oracle: Python's ast, independent of Hexad's index --------------------------------


@dataclass
class Module:
    name: str
    path: str  # relative to the workspace
    is_package: bool
    tree: ast.Module
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef]
    imports: dict[str, tuple[str, str | None]]  # local name → (module, name or None)


class Oracle:
    """Calls and imports resolved by name over every module, the way a careful person
    with grep and an editor would: ``from m import f`` / ``import m`` / ``m.f(...)``,
    relative imports, re-exports followed through packages."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: dict[str, Module] = {}
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if "/." in f"/{rel}" or "__pycache__" in rel:
                continue
            try:
                tree = ast.parse(path.read_bytes())
            except (SyntaxError, ValueError):
                continue
            parts = rel[:-3].split("/")
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            functions = {
                n.name: n
                for n in tree.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            self.modules[name] = Module(name, rel, is_package, tree, functions, {})
        for module in self.modules.values():
            module.imports = self._imports(module)

    def _imports(self, module: Module) -> dict[str, tuple[str, str | None]]:
        out: dict[str, tuple[str, str | None]] = {}
        package = module.name if module.is_package else module.name.rpartition(".")[0]
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        out[alias.asname] = (alias.name, None)
                    else:
                        top = alias.name.split(".")[0]
                        out.setdefault(top, (top, None))
                        out[alias.name] = (alias.name, None)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    keep = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                    base = ".".join([*keep, *([base] if base else [])])
                for alias in node.names:
                    if alias.name == "*":
                        out[f"*{base}"] = (base, None)  # the module, imported whole
                        continue
                    local = alias.asname or alias.name
                    if f"{base}.{alias.name}" in self.modules:
                        out[local] = (f"{base}.{alias.name}", None)
                    else:
                        out[local] = (base, alias.name)
        return out

    def resolve(self, module: str, name: str, depth: int = 0) -> tuple[str, str] | None:
        """Where ``name`` as seen in ``module`` is defined: (module, function)."""
        found = self.modules.get(module)
        if found is None or depth > 6:
            return None
        if name in found.functions:
            return module, name
        target = found.imports.get(name)
        if target is None or target[1] is None:
            return None
        return self.resolve(target[0], target[1], depth + 1)

    def call_sites(self, module: str, function: str) -> set[str]:
        """Qualified names of the functions (or modules, for top-level code) that call
        ``module.function``."""
        out: set[str] = set()
        for mod in self.modules.values():
            for caller, call in _calls(mod):
                callee = call.func
                hit = None
                if isinstance(callee, ast.Name):
                    hit = self.resolve(mod.name, callee.id)
                elif isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Name):
                    target = mod.imports.get(callee.value.id)
                    if target is not None and target[1] is None:
                        hit = self.resolve(target[0], callee.attr)
                if hit == (module, function):
                    out.add(f"{mod.name}.{caller}" if caller else mod.name)
        return out

    def importers(self, module: str, name: str | None) -> set[str]:
        """Modules importing ``name`` from ``module`` (or ``module`` itself)."""
        out = set()
        for mod in self.modules.values():
            if mod.name == module:
                continue
            for target in mod.imports.values():
                if (name is not None and target == (module, name)) or (
                    target[0] == module
                    and (target[1] is None or name is None)
                    and (name is None or _uses_attribute(mod.tree, module, name, mod.imports))
                ):
                    out.add(mod.name)
        return out


def _uses_attribute(
    tree: ast.Module, module: str, name: str, imports: dict[str, tuple[str, str | None]]
) -> bool:
    aliases = {local for local, target in imports.items() if target == (module, None)}
    return any(
        isinstance(n, ast.Attribute)
        and n.attr == name
        and isinstance(n.value, ast.Name)
        and n.value.id in aliases
        for n in ast.walk(tree)
    )


def _calls(module: Module) -> Iterator[tuple[str | None, ast.Call]]:
    """Every call with the qualified name of the function or class around it (None at
    module level); decorators and defaults belong to the enclosing scope."""

    def visit(node: ast.AST, scope: list[str]) -> Iterator[tuple[str | None, ast.Call]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                outer: list[ast.AST] = list(child.decorator_list)
                if not isinstance(child, ast.ClassDef):
                    outer += [d for d in (*child.args.defaults, *child.args.kw_defaults) if d]
                else:
                    outer += [*child.bases, *(k.value for k in child.keywords)]
                for expr in outer:
                    yield from visit_expr(expr, scope)
                for stmt in child.body:
                    yield from visit_expr(stmt, [*scope, child.name])
                continue
            yield from visit_expr(child, scope)

    def visit_expr(node: ast.AST, scope: list[str]) -> Iterator[tuple[str | None, ast.Call]]:
        if isinstance(node, ast.Call):
            yield (".".join(scope) or None, node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            wrapper = ast.Module(body=[node], type_ignores=[])
            yield from visit(wrapper, scope)
            return
        yield from visit(node, scope)

    yield from visit(module.tree, [])


def django_tasks(root: Path, reader: IndexReader, count: int, seed: int) -> list[Task]:
    """Signature changes (60%), moves (25%) and module renames (15%) the oracle can
    judge: public top-level functions called from 1 to 12 places, modules imported by 1 to 8."""
    oracle = Oracle(root)
    rng = random.Random(seed)
    functions = [
        (m, f)
        for m in oracle.modules.values()
        if "/test" not in m.path and "/migrations/" not in m.path
        for f in m.functions.values()
        if not f.name.startswith("_")
    ]
    rng.shuffle(functions)
    sig_n = round(count * 0.6)
    move_n = round(count * 0.25)
    mod_n = count - sig_n - move_n
    tasks: list[Task] = []
    for module, fn in functions:
        if len([t for t in tasks if t.intent["kind"] == "signature"]) >= sig_n:
            break
        sites = oracle.call_sites(module.name, fn.name)
        if not 1 <= len(sites) <= 12 or fn.args.vararg is not None:
            continue
        try:
            sym = find_function(reader, f"{module.name}.{fn.name}")
        except PlanningError:
            continue
        params = ast.unparse(fn.args)
        tasks.append(
            Task(
                f"{module.name}.{fn.name} takes a new first parameter",
                "django",
                {
                    "kind": "signature",
                    "symbol": sym.qualname,
                    "params": f"hexad_ctx, {params}" if params else "hexad_ctx",
                    "values": {"hexad_ctx": "None"},
                },
                {sym.qualname} | sites,
            )
        )
    for module, fn in functions:
        if len([t for t in tasks if t.intent["kind"] == "move"]) >= move_n:
            break
        if module.is_package or any(
            t.intent.get("symbol", "").startswith(module.name + ".") for t in tasks
        ):
            continue
        users = oracle.importers(module.name, fn.name)
        if not 1 <= len(users) <= 8:
            continue
        try:
            top_symbol(reader, f"{module.name}.{fn.name}")
        except PlanningError:
            continue
        target = module.path.rsplit("/", 1)[0] + f"/hexad_moved_{len(tasks)}.py"
        tasks.append(
            Task(
                f"{module.name}.{fn.name} moves to {target}",
                "django",
                {"kind": "move", "symbol": f"{module.name}.{fn.name}", "target": target},
                {f"{module.name}.{fn.name}"} | users,
            )
        )
    modules = [m for m in oracle.modules.values() if not m.is_package and "/test" not in m.path]
    rng.shuffle(modules)
    for module in modules:
        if len([t for t in tasks if t.intent["kind"] == "rename_module"]) >= mod_n:
            break
        users = oracle.importers(module.name, None)
        if not 1 <= len(users) <= 8:
            continue
        new_path = module.path[:-3] + "_renamed.py"
        tasks.append(
            Task(
                f"{module.name} is renamed",
                "django",
                {"kind": "rename_module", "path": module.path, "new_path": new_path},
                {module.name} | users,
            )
        )
    return tasks


# -- what a plan touches -------------------------------------------------------------------


def _module_name(path: str) -> str:
    parts = path[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _caller_name(reader: IndexReader, path: str, caller: Any) -> str:
    """A caller under its file's dotted path (the oracle's naming): the index names a
    module outside any package by its file name alone (``test_stock``, not
    ``tests.test_stock``)."""
    module = _module_name(path)
    if caller is None:
        return module
    indexed = _module_of(reader, path)
    local = caller.qualname
    if indexed and local.startswith(indexed + "."):
        local = local[len(indexed) + 1 :]
    return f"{module}.{local}"


def touched(plan: Plan, reader: IndexReader) -> set[str]:
    out: set[str] = set()
    for step in plan.steps:
        action = step.action
        if step.kind in ("signature", "ripple"):
            sym = find_function(reader, str(action["symbol"]))
            if step.kind == "signature":
                out.add(sym.qualname)
            only = action.get("only_paths") or []
            for edge in reader.callers([sym]):
                if edge.callee is None or edge.callee.id != sym.id or edge.path not in only:
                    continue
                out.add(_caller_name(reader, edge.path, edge.caller))
        elif step.kind == "move":
            names = [str(action["symbol"]), *(action.get("together") or [])]
            for name in names:
                sym = top_symbol(reader, name)
                out.add(sym.qualname)
                out.update(_module_name(p) for p in _importers(reader, sym))
        elif step.kind == "rename_module":
            path = str(action["path"])
            out.add(_module_name(path))
            out.update(_module_name(p) for p in _file_importers(reader, path))
    return out


# -- running -------------------------------------------------------------------------------


def _workspace(source: Path, target: Path) -> Connection:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    policies = target / ".hexad" / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    (policies / "bench.toml").write_text(BENCH_POLICY, encoding="utf-8")
    conn = connect(database_path(target))
    Indexer(target, conn=conn).run()
    return conn


def _exists(root: Path) -> Callable[[str], bool]:
    return functools.partial(file_inside, root)


def _text_of(root: Path) -> Callable[[str], str | None]:
    return functools.partial(read_inside, root)


def evaluate(task: Task, root: Path, conn: Connection, engine: Engine, shadow: Path) -> Outcome:
    outcome = Outcome(task)
    reader = IndexReader(conn)
    started = time.perf_counter()
    try:
        plan = plan_intent(reader, Intent.parse(task.intent), text_of=_text_of(root))
    except PlanningError as exc:
        outcome.error = f"planner: {exc}"
        outcome.seconds = time.perf_counter() - started
        return outcome
    validation = validate(plan, reader, engine, file_exists=_exists(root))
    outcome.valid = validation.ok
    outcome.steps = len(plan.steps)
    outcome.touched = touched(plan, reader)
    if not validation.ok:
        outcome.error = f"invalid: {validation.errors[0]}"
    outcome.seconds = time.perf_counter() - started
    if task.run and validation.ok:
        _run(outcome, plan, root, conn, engine, shadow)
    return outcome


def _run(
    outcome: Outcome, plan: Plan, root: Path, conn: Connection, engine: Engine, shadow: Path
) -> None:
    sources = DiskSources(root)

    def reader() -> IndexReader:
        return IndexReader(conn)

    def refresh() -> None:
        Indexer(root, conn=conn).run()

    service = ProposalService(
        root,
        sources,
        reader,
        conn,
        engine,
        verifier=Verifier(root, sources, reader, shadow=ShadowWorkspace(root, shadow)),
    )
    exists = _exists(root)
    executor = ServiceExecutor(service, reader, refresh, approve=True, file_exists=exists)
    runner = PlanRunner(
        Records(conn),
        executor,
        lambda p: validate(p, reader(), engine, file_exists=exists),
        replanner=make_replanner(service, reader, executor, text_of=_text_of(root)),
        max_replans=max_replans(engine),
    )
    run_id, _ = runner.start(plan)
    if outcome.task.perturb is not None:
        outcome.task.perturb(root)
        refresh()
    done = runner.run(run_id)
    stored = Records(conn).plan_run(run_id)
    outcome.run_status = stored["status"] if stored else "?"
    outcome.replans = done.replans
    outcome.run_detail = stored["plan"].get("outcome") if stored else None


def run_structural(args: argparse.Namespace, tmp: Path) -> tuple[list[Outcome], dict[str, Any]]:
    outcomes: list[Outcome] = []
    for number, task in enumerate(fixture_tasks()):
        root = tmp / f"fixture-{number}"
        conn = _workspace(FIXTURE, root)
        engine = open_engine(root, user_file=None)
        log(f"fixture: {task.name}")
        outcomes.append(evaluate(task, root, conn, engine, tmp / f"shadow-{number}"))
        conn.close()
    workspace = index_bench.prepare_workspace(args.package, args.cache)
    root = tmp / "django"
    started = time.perf_counter()
    conn = _workspace(workspace.tree, root)
    meta = {
        "package": f"{workspace.name} {workspace.version}",
        "files": workspace.py_files,
        "index_seconds": round(time.perf_counter() - started, 1),
    }
    engine = open_engine(root, user_file=None)
    tasks = django_tasks(root, IndexReader(conn), args.django_tasks, args.seed)
    log(f"django: {len(tasks)} tasks")
    for task in tasks:
        outcomes.append(evaluate(task, root, conn, engine, tmp / "shadow-django"))
    conn.close()
    return outcomes, meta


# -- model plans ---------------------------------------------------------------------------

MODEL_TASKS = [
    "Rename the function clamp in inventory/pricing.py to limit.",
    "Add a parameter floor with default 0 to low_stock in inventory/report.py.",
    "Move the function banner from inventory/report.py to a new module inventory/fmt.py.",
    "Write a unit test for inventory.pricing.with_tax.",
    "Implement inventory.pricing.clamp from its docstring.",
    "Rename the module inventory/report.py to inventory/reports.py.",
    "Swap the parameters of inventory.stock.restock so amount comes first.",
    "Add a keyword-only parameter rounding=None to inventory.stock.total_value.",
]


def corruptions(valid: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Known-invalid plans: a valid answer broken in one way each."""

    def copy() -> dict[str, Any]:
        return json.loads(json.dumps(valid))

    out = []
    c = copy()
    c["steps"][0]["symbol"] = "inventory.pricing.no_such_function"
    out.append(("unknown symbol", c))
    c = copy()
    c["steps"][0]["kind"] = "delete_everything"
    out.append(("unknown kind", c))
    c = copy()
    c["steps"][0]["depends_on"] = [2]
    c["steps"].append({**c["steps"][0], "id": 2, "depends_on": [1]})
    out.append(("dependency cycle", c))
    c = copy()
    c["steps"].append({**c["steps"][0], "id": 2, "depends_on": [3]})
    out.append(("depends on a missing step", c))
    c = copy()
    c["steps"][0] = {"id": 1, "kind": "add_import", "path": "../outside.py", "name": "os"}
    out.append(("path outside the workspace", c))
    c = copy()
    c["steps"][0] = {"id": 1, "kind": "add_import", "path": "/etc/passwd", "name": "os"}
    out.append(("absolute path", c))
    c = copy()
    c["steps"][0] = {"id": 1, "kind": "add_import", "path": ".git/config", "name": "os"}
    out.append(("protected path (.git)", c))
    c = copy()
    c["steps"][0] = {"id": 1, "kind": "add_import", "path": ".env", "name": "os"}
    out.append(("protected path (.env)", c))
    c = copy()
    c["steps"][0] = {
        "id": 1,
        "kind": "move",
        "symbol": "inventory.pricing.discount",
        "target": "inventory/stock.py",
        "creates": ["inventory/stock.py"],
    }
    out.append(("creates a file that exists", c))
    c = copy()
    c["steps"][0] = {"id": 1, "kind": "rename", "symbol": "inventory.pricing.clamp"}
    out.append(("missing argument", c))
    c = copy()
    c["steps"] = []
    out.append(("no steps", c))
    c = copy()
    c["steps"][0]["id"] = 0
    out.append(("step id 0", c))
    c = copy()
    c["steps"][0] = {"id": 1, "kind": "implement", "symbol": "inventory.pricing.clamp"}
    c["steps"].append(
        {
            "id": 2,
            "kind": "rename",
            "symbol": "inventory.pricing.clamp",
            "new_name": "limit",
            "depends_on": [3],
        }
    )
    c["steps"].append(
        {"id": 3, "kind": "write_test", "symbol": "inventory.pricing.limit", "depends_on": [1]}
    )
    out.append(("runs before what it needs", c))
    return out


def run_model(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from hexad.inference.embedding import gemma_model_path
    from hexad.inference.llama import LlamaBackend

    root = tmp / "model-ws"
    conn = _workspace(FIXTURE, root)
    engine = open_engine(root, user_file=None)
    reader = IndexReader(conn)
    exists = _exists(root)
    results: dict[str, Any] = {}

    # known-invalid plans through the gate
    valid = {
        "summary": "rename clamp",
        "steps": [
            {"id": 1, "kind": "rename", "symbol": "inventory.pricing.clamp", "new_name": "limit"}
        ],
    }
    # a scripted backend behind the real model service: routing, budgets and the gate as
    # for a real model; only the answers are given
    scripted = ScriptedBackend({"local": json.dumps(valid)})
    gate = ModelService(
        engine, {"local": ModelSettings(path=str(root / "scripted.gguf"))}, {"llama": scripted}
    )
    ok = plan_with_model(
        gate,
        conn,
        reader,
        engine,
        "rename clamp",
        file_exists=exists,
        max_attempts=1,
    )
    assert ok.plan is not None, ok.refused
    caught = []
    for label, bad in corruptions(valid):
        scripted.script["local"] = json.dumps(bad)
        result = plan_with_model(
            gate,
            conn,
            reader,
            engine,
            "rename clamp",
            file_exists=exists,
            max_attempts=1,
        )
        why = result.attempts[0].errors[0] if result.attempts and result.attempts[0].errors else ""
        caught.append({"case": label, "caught": result.plan is None, "why": why})
    results["injected"] = caught

    if args.skip_model:
        conn.close()
        return results
    cache = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
    path = gemma_model_path(cache / "models")
    settings = ModelSettings(path=str(path), n_ctx=2048, threads=2, idle_unload_s=0.0)
    llama = LlamaBackend({"local": settings})
    service = ModelService(engine, {"local": settings}, {"llama": llama})
    answers: list[dict[str, Any]] = []
    plans: list[dict[str, Any]] = []
    try:
        for text in MODEL_TASKS[: args.model_tasks]:
            log(f"model: {text}")
            result: ModelPlanResult = plan_with_model(
                service,
                conn,
                reader,
                engine,
                text,
                file_exists=exists,
                max_attempts=args.model_attempts,
                map_tokens=400,
                max_tokens=320,
            )
            for attempt in result.attempts:
                answers.append(
                    {
                        "task": text,
                        "accepted": attempt.ok,
                        "errors": list(attempt.errors[:3]),
                        "seconds": round(attempt.seconds, 1),
                        "tokens": attempt.tokens,
                    }
                )
            plans.append(
                {
                    "task": text,
                    "ok": result.ok,
                    "attempts": len(result.attempts),
                    "steps": len(result.plan.steps) if result.plan else 0,
                    "refused": result.refused,
                }
            )
    finally:
        llama.close()
        conn.close()
    results["answers"] = answers
    results["plans"] = plans
    return results


# -- report --------------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    rows = {}
    for source in ("fixture", "django", "all"):
        chosen = [o for o in outcomes if source in ("all", o.task.source)]
        if not chosen:
            continue
        planned = [o for o in chosen if o.error is None or o.error.startswith("invalid")]
        precision = [o.precision for o in planned if o.precision is not None]
        recall = [o.recall for o in planned if o.recall is not None]
        ran = [o for o in chosen if o.run_status is not None]
        rows[source] = {
            "tasks": len(chosen),
            "valid": sum(o.valid for o in chosen),
            "validity_rate": sum(o.valid for o in chosen) / len(chosen),
            "precision": _mean(precision),
            "recall": _mean(recall),
            "exact": sum(1 for o in planned if o.touched == o.task.truth),
            "ran": len(ran),
            "done": sum(o.run_status == "done" for o in ran),
            "replans": sum(o.replans for o in ran),
            "plan_ms_p50": round(sorted(o.seconds for o in chosen)[len(chosen) // 2] * 1000, 1),
        }
    return rows


def print_report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(
        f"\nPlanning benchmark — fixture + {m.get('package', '?')}, Python {m['python']}, "
        f"{m['cpus']} CPUs"
    )
    print(
        f"\n{'tasks':<10} {'n':>3} {'valid':>6} {'precision':>9} {'recall':>7} {'exact':>6} "
        f"{'ran':>4} {'done':>5} {'replans':>8} {'plan p50':>9}"
    )
    for source, row in results["summary"].items():

        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.1%}"

        print(
            f"{source:<10} {row['tasks']:>3} {row['validity_rate']:>6.0%} "
            f"{pct(row['precision']):>9} {pct(row['recall']):>7} {row['exact']:>6} "
            f"{row['ran']:>4} {row['done']:>5} "
            f"{row['replans']:>8} {row['plan_ms_p50']:>7} ms"
        )
    print("\nper task (✓ valid; P/R; run):")
    for o in results["tasks"]:
        run = (
            f" · run {o['run']}" + (f" after {o['replans']} replan(s)" if o["replans"] else "")
            if o["run"]
            else ""
        )
        pr = "" if o["precision"] is None else f" P {o['precision']:.2f} R {o['recall']:.2f}"
        print(f"  {'✓' if o['valid'] else '✗'} [{o['source']}] {o['name']}{pr}{run}")
        if o["error"]:
            print(f"      {o['error']}")
        if o["missed"]:
            print(f"      missed: {', '.join(o['missed'][:4])}")
        if o["extra"]:
            print(f"      extra: {', '.join(o['extra'][:4])}")
        if o["run"] == "failed" and o["run_detail"]:
            print(f"      {o['run_detail'][:200]}")
    model = results.get("model", {})
    injected = model.get("injected", [])
    if injected:
        caught = sum(c["caught"] for c in injected)
        print(f"\nknown-invalid plans caught by validation: {caught}/{len(injected)}")
        for c in injected:
            print(f"  {'✓' if c['caught'] else '✗ LET THROUGH'} {c['case']}: {c['why'][:110]}")
    answers = model.get("answers")
    if answers:
        rejected = [a for a in answers if not a["accepted"]]
        print(
            f"\nGemma 3 270M answers: {len(answers)}; caught by validation {len(rejected)} "
            f"({len(rejected) / len(answers):.0%}); accepted {len(answers) - len(rejected)}"
        )
        for p in model["plans"]:
            print(f"  {'plan' if p['ok'] else 'refused'} after {p['attempts']}: {p['task']}")
        kinds: dict[str, int] = {}
        for a in rejected:
            first = a["errors"][0] if a["errors"] else "?"
            key = first.split(":")[0][:60]
            kinds[key] = kinds.get(key, 0) + 1
        for key, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:6]:
            print(f"    {n}× {key}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_start": [round(x, 2) for x in os.getloadavg()],
        }
    }
    with tempfile.TemporaryDirectory(prefix="hexad-plan-bench-") as tmp_name:
        tmp = Path(tmp_name)
        outcomes, meta = run_structural(args, tmp)
        results["machine"].update(meta)
        results["summary"] = summarize(outcomes)
        results["tasks"] = [
            {
                "name": o.task.name,
                "source": o.task.source,
                "intent": o.task.intent,
                "valid": o.valid,
                "error": o.error,
                "steps": o.steps,
                "precision": o.precision,
                "recall": o.recall,
                "missed": sorted(o.task.truth - o.touched),
                "extra": sorted(o.touched - o.task.truth),
                "run": o.run_status,
                "replans": o.replans,
                "run_detail": o.run_detail,
            }
            for o in outcomes
        ]
        results["model"] = run_model(args, tmp)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default=index_bench.DEFAULT_PACKAGE)
    parser.add_argument("--cache", type=Path, default=index_bench.CACHE_ROOT)
    parser.add_argument("--django-tasks", type=int, default=24)
    parser.add_argument("--model-tasks", type=int, default=6)
    parser.add_argument("--model-attempts", type=int, default=2)
    parser.add_argument("--skip-model", action="store_true", help="no Gemma (injected plans only)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results = run(args)
    print_report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
