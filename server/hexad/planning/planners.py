"""Deterministic planners for structural intents, from the index alone.

- change a signature: the definition (with the call sites in its own file), then the
  call sites file by file — files imported by others first — then the affected tests;
- add a parameter with a default and thread it through the callers that can take it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import networkx as nx

from hexad.core.errors import HexadError
from hexad.core.types import CallEdge, Symbol
from hexad.perception.index import IndexReader
from hexad.planning.plan import Condition, Plan, Step


class PlanningError(HexadError):
    """A task cannot be planned; the message says why in the user's terms."""


def find_function(reader: IndexReader, qualname: str) -> Symbol:
    found = [s for s in reader.lookup(qualname.rsplit(".", 1)[-1]) if s.qualname == qualname]
    if not found:
        found = [
            s
            for s in reader.lookup(qualname.rsplit(".", 1)[-1])
            if s.qualname.endswith("." + qualname)
        ]
    functions = [s for s in found if s.kind in ("function", "method")]
    if not functions:
        raise PlanningError(f"no function named {qualname} in the index")
    if len(functions) > 1:
        where = ", ".join(f"{s.qualname} ({s.location})" for s in functions[:5])
        raise PlanningError(f"{qualname} is ambiguous: {where}")
    return functions[0]


def parameters_of(sym: Symbol) -> str:
    """The parameter list of a function as its signature in the index writes it."""
    text = sym.signature
    start = text.find("(")
    if start < 0:
        raise PlanningError(f"{sym.qualname} has no parameter list in the index")
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i].strip()
    raise PlanningError(f"cannot read the parameters of {sym.qualname} ({text})")


def _certain_sites(reader: IndexReader, sym: Symbol) -> list[CallEdge]:
    return [e for e in reader.callers([sym]) if e.callee is not None and e.callee.id == sym.id]


def _import_order(reader: IndexReader, paths: set[str]) -> list[str]:
    """``paths`` with files that others import first (ties by path)."""
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(paths)
    for path in paths:
        deps = reader.module_deps(path)
        if deps is None:
            continue
        for imported in deps.imports:
            if imported in paths and imported != path:
                graph.add_edge(imported, path)
    try:
        return list(nx.lexicographical_topological_sort(graph))
    except nx.NetworkXUnfeasible:  # import cycle: fall back to the paths' order
        return sorted(paths)


def plan_change_signature(
    reader: IndexReader,
    qualname: str,
    new_params: str,
    *,
    values: Mapping[str, str] | None = None,
    task: str | None = None,
    was: str | None = None,
) -> Plan:
    """``was``: the parameters before the plan began (replanning after its definition
    step ran: the call sites are still rewritten from ``was``)."""
    sym = find_function(reader, qualname)
    old = parameters_of(sym)
    _check_params(new_params)
    if same_parameters(old, new_params):
        if was is None or same_parameters(was, new_params):
            raise PlanningError(f"{sym.qualname} already takes ({new_params})")
        old = was
    sites = _certain_sites(reader, sym)
    untouched = calls_unaffected(old, new_params)
    if untouched:
        sites = []  # every call already fits the new signature
    files = {e.path for e in sites} - {sym.path}
    common = {"symbol": sym.qualname, "params": new_params, "values": dict(values or {})}
    changed = Condition(kind="signature_is", target=sym.qualname, value=new_params)
    steps = [
        Step(
            id=1,
            title=f"Change {sym.name} to ({new_params}) and its calls in {sym.path}",
            action={"kind": "signature", **common, "only_paths": [sym.path]},
            preconditions=[Condition(kind="symbol_exists", target=sym.qualname)],
            postconditions=[changed],
            why="the definition first: call sites are rewritten against it",
        )
    ]
    for path in _import_order(reader, files):
        count = sum(1 for e in sites if e.path == path)
        steps.append(
            Step(
                id=len(steps) + 1,
                title=f"Update {count} call site{'s' if count != 1 else ''} in {path}",
                action={"kind": "ripple", **common, "old_params": old, "only_paths": [path]},
                preconditions=[changed, Condition(kind="file_exists", target=path)],
                depends_on=[1],
                why="call sites grouped by file, files others import first",
            )
        )
    steps.append(
        Step(
            id=len(steps) + 1,
            title=f"Run the tests that reach {sym.name}",
            action={"kind": "run_tests", "symbol": sym.qualname},
            depends_on=[s.id for s in steps],
            why="the whole change, checked once more by the tests the call graph finds",
        )
    )
    return Plan(
        task=task or f"Change {sym.qualname} to ({new_params})",
        planner="deterministic:signature",
        summary=(
            f"{sym.qualname}({old}) → ({new_params}); "
            + (
                "only parameters with defaults are added: no call site changes"
                if untouched
                else f"{len(sites)} call sites in "
                f"{len(files) + (1 if any(e.path == sym.path for e in sites) else 0)} files"
            )
        ),
        steps=steps,
    )


def plan_add_parameter(
    reader: IndexReader,
    qualname: str,
    name: str,
    default: str,
    *,
    thread: bool = True,
    task: str | None = None,
    was: str | None = None,
) -> Plan:
    """Add ``name=default`` to a function; with ``thread``, give each caller the same
    parameter (same default) and pass it along — in files where every call site is
    inside such a caller (elsewhere nothing would define the name, and the default
    serves). ``was``: the parameters before the plan began (replanning after some steps
    ran: callers that have the parameter already were given it by the plan)."""
    if not name.isidentifier():
        raise PlanningError(f"{name!r} is not a parameter name")
    sym = find_function(reader, qualname)
    old = parameters_of(sym)
    replanning = was is not None and name not in _names(was)
    if name in _names(old):
        if was is None or not replanning:
            raise PlanningError(f"{sym.qualname} already has a parameter {name}")
        if not same_parameters(old, _append(was, f"{name}={default}")):
            raise PlanningError(f"{sym.qualname} changed since the plan began: ({old})")
        old = was
    new = _append(old, f"{name}={default}")
    added = Condition(kind="signature_is", target=sym.qualname, value=new)
    steps = [
        Step(
            id=1,
            title=f"Add {name}={default} to {sym.name}",
            action={"kind": "signature", "symbol": sym.qualname, "params": new, "only_paths": []},
            preconditions=[Condition(kind="symbol_exists", target=sym.qualname)],
            postconditions=[added],
            why="with a default, no call site has to change",
        )
    ]
    notes: list[str] = []
    sites = _certain_sites(reader, sym)
    by_file: dict[str, list[CallEdge]] = {}
    for edge in sites:
        by_file.setdefault(edge.path, []).append(edge)
    if thread:
        for path in _import_order(reader, set(by_file)):
            edges = by_file[path]
            callers = {e.caller.qualname: e.caller for e in edges if e.caller is not None}
            if any(e.caller is None or e.caller.kind not in ("function", "method") for e in edges):
                notes.append(f"{path}: a call outside a function keeps the default")
                continue
            given = {q for q, c in callers.items() if name in _names(parameters_of(c))}
            if given and not replanning:
                notes.append(f"{path}: a caller already has a parameter {name}")
                continue
            if any(_is_test(c) for c in callers.values()):
                notes.append(f"{path}: tests keep calling with the default")
                continue
            caller_steps = []
            for caller in sorted(callers.values(), key=lambda c: c.qualname):
                if caller.qualname in given:
                    continue  # replanning: an earlier step of this plan gave it the parameter
                params = _append(parameters_of(caller), f"{name}={default}")
                steps.append(
                    Step(
                        id=len(steps) + 1,
                        title=f"Give {caller.name} the parameter {name}={default}",
                        action={
                            "kind": "signature",
                            "symbol": caller.qualname,
                            "params": params,
                            "only_paths": [],
                        },
                        preconditions=[Condition(kind="symbol_exists", target=caller.qualname)],
                        postconditions=[
                            Condition(kind="signature_is", target=caller.qualname, value=params)
                        ],
                        why=f"threads {name} through a caller of {sym.name}",
                    )
                )
                caller_steps.append(len(steps))
            steps.append(
                Step(
                    id=len(steps) + 1,
                    title=f"Pass {name} along at {len(edges)} call site(s) in {path}",
                    action={
                        "kind": "ripple",
                        "symbol": sym.qualname,
                        "params": new,
                        "old_params": old,
                        "values": {name: name},
                        "only_paths": [path],
                    },
                    preconditions=[added, Condition(kind="file_exists", target=path)],
                    depends_on=[1, *caller_steps],
                    why="each caller hands its own parameter on",
                )
            )
    steps.append(
        Step(
            id=len(steps) + 1,
            title=f"Run the tests that reach {sym.name}",
            action={"kind": "run_tests", "symbol": sym.qualname},
            depends_on=[s.id for s in steps],
        )
    )
    threaded = sum(1 for s in steps if s.kind == "ripple")
    summary = f"{sym.qualname}({old}) gains {name}={default}; threaded in {threaded} file(s)"
    if notes:
        summary += f" ({'; '.join(notes)})"
    return Plan(
        task=task or f"Add {name}={default} to {sym.qualname}",
        planner="deterministic:add_parameter",
        summary=summary,
        steps=steps,
    )


def _is_test(sym: Symbol) -> bool:
    """A pytest test function: a new parameter would read as a fixture."""
    name = sym.path.rsplit("/", 1)[-1]
    in_tests = name.startswith("test_") or name.endswith("_test.py") or "tests/" in sym.path
    return in_tests and sym.name.startswith("test")


def _check_params(params: str) -> None:
    try:
        ast.parse(f"def f({params}): pass")
    except SyntaxError as exc:
        raise PlanningError(f"({params}) is not a parameter list: {exc.msg}") from exc


def _names(params: str) -> list[str]:
    _check_params(params)
    fn = ast.parse(f"def f({params}): pass").body[0]
    assert isinstance(fn, ast.FunctionDef)
    a = fn.args
    out = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    if a.vararg:
        out.append(a.vararg.arg)
    if a.kwarg:
        out.append(a.kwarg.arg)
    return out


def _arguments(params: str) -> ast.arguments:
    fn = ast.parse(f"def f({params}): pass").body[0]
    assert isinstance(fn, ast.FunctionDef)
    return fn.args


def calls_unaffected(old: str, new: str) -> bool:
    """Whether every call that fits ``old`` also fits ``new`` and means the same: ``new``
    only adds parameters with defaults, after the positional ones (or keyword-only)."""
    try:
        a, b = _arguments(old), _arguments(new)
    except SyntaxError:
        return False

    def positional(args: ast.arguments) -> list[tuple[str, bool, bool]]:
        plain = [*args.posonlyargs, *args.args]
        first_default = len(plain) - len(args.defaults)
        return [(p.arg, i < len(args.posonlyargs), i >= first_default) for i, p in enumerate(plain)]

    pa, pb = positional(a), positional(b)
    if pb[: len(pa)] != pa or any(not has_default for _, _, has_default in pb[len(pa) :]):
        return False
    if a.vararg is not None and len(pb) != len(pa):
        return False  # extra positionals would take what *args took
    if (a.vararg is None) != (b.vararg is None) or (a.kwarg is None) != (b.kwarg is None):
        return False
    added = set(_names(new)) - set(_names(old))
    if a.kwarg is not None and added:
        return False  # a new named parameter takes keywords that went to **kwargs
    kw_a = {p.arg: d is not None for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)}
    kw_b = {p.arg: d is not None for p, d in zip(b.kwonlyargs, b.kw_defaults, strict=True)}
    if any(kw_b.get(name) is None or (has and not kw_b[name]) for name, has in kw_a.items()):
        return False
    return all(has for name, has in kw_b.items() if name not in kw_a)


def same_parameters(a: str, b: str) -> bool:
    """Two parameter lists that mean the same (formatting aside)."""

    def dump(params: str) -> str:
        fn = ast.parse(f"def f({params}): pass").body[0]
        assert isinstance(fn, ast.FunctionDef)
        return ast.dump(fn.args)

    return dump(a) == dump(b)


def _append(params: str, extra: str) -> str:
    """``extra`` added where a keyword-with-default may go: before ``**kwargs``."""
    fn = ast.parse(f"def f({params}): pass").body[0]
    assert isinstance(fn, ast.FunctionDef)
    if fn.args.kwarg is not None:
        head, _, tail = params.rpartition("**")
        return f"{head}{extra}, **{tail}"
    return f"{params}, {extra}" if params.strip() else extra
