"""Deterministic planners for moving code between modules, from the index.

- move a symbol to another module: one step (the imports of every file using it change
  inside that step: a half-done move does not import), then the tests;
- rename (move) a module file: one step, then the tests;
- split a module: each group of top-level names to its module, one step per name — a
  name that another moved name uses first, names that use each other in one step; a
  new file created by the first step into it — then the tests.

Which names of a module use which come from the module's text when the caller has it
(every name a definition mentions), else from the index's call references (calls only;
ties keep the source order, where a definition usually comes before its uses).
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Callable, Mapping, Sequence

import networkx as nx

from hexad.core.types import Symbol
from hexad.perception.index import IndexReader
from hexad.planning.plan import Condition, Plan, Step
from hexad.planning.planners import PlanningError

MOVABLE_KINDS = ("function", "class", "variable")


def plan_move_symbol(
    reader: IndexReader,
    qualname: str,
    target_path: str,
    *,
    reexport: bool | None = None,
    task: str | None = None,
    text_of: Callable[[str], str | None] | None = None,
) -> Plan:
    """Move the top-level ``qualname`` to the module file ``target_path``. ``text_of``
    gives a file's current text: the names the symbol uses beyond calls."""
    sym = top_symbol(reader, qualname)
    _check_target(target_path, sym.path)
    target_module = module_for_path(reader, target_path)
    new = f"{target_module}.{sym.name}"
    if _defined(reader, new):
        raise PlanningError(f"{new} exists already")
    exists = _indexed(reader, target_path)
    note = ""
    staying = _uses_staying(reader, sym, text_of(sym.path) if text_of is not None else None)
    if staying and not sym.name.startswith("_") and reexport is not False:
        # the source would import the target (the re-export), which imports the source
        if reexport:
            raise PlanningError(
                f"{sym.name} uses {', '.join(staying)} from {sym.path}: with a re-export the "
                "two modules would import each other; move those names too (split the "
                "module) or move it without a re-export"
            )
        reexport = False
        note = (
            f"; no re-export: {sym.name} uses {', '.join(staying)}, which "
            f"{'stays' if len(staying) == 1 else 'stay'}, so the modules would import each "
            "other (code outside the workspace that imports it from the old module must follow)"
        )
    action: dict[str, object] = {"kind": "move", "symbol": sym.qualname, "target": target_path}
    if reexport is not None:
        action["reexport"] = reexport
    users = _importers(reader, sym)
    steps = [
        Step(
            id=1,
            title=f"Move {sym.name} to {target_module}",
            action=action,
            preconditions=[
                Condition(kind="symbol_exists", target=sym.qualname),
                Condition(kind="symbol_absent", target=new),
                Condition(kind="file_exists" if exists else "file_absent", target=target_path),
            ],
            postconditions=[
                Condition(kind="symbol_exists", target=new),
                Condition(kind="symbol_absent", target=sym.qualname),
                Condition(kind="file_exists", target=target_path),
            ],
            creates=[new] if exists else [new, target_path],
            removes=[sym.qualname],
            why=(
                f"the definition and the imports of the {len(users)} file(s) using it move "
                "together: a half-done move does not import"
            ),
        ),
        _tests_step(2, [1], symbol=new, title=f"Run the tests that reach {sym.name}"),
    ]
    return Plan(
        task=task or f"Move {sym.qualname} to {target_module}",
        planner="deterministic:move",
        summary=(
            f"{sym.qualname} → {new}"
            + ("" if exists else f" (new file {target_path})")
            + f"; imported by {len(users)} file(s)"
            + note
        ),
        steps=steps,
    )


def _uses_staying(reader: IndexReader, sym: Symbol, text: str | None) -> list[str]:
    """Top-level names of ``sym``'s module that ``sym``'s definition refers to (they
    stay): every name, from the text when there is one, else the calls the index saw."""
    tops = {
        s.name
        for s in reader.symbols_in_file(sym.path)
        if s.parent_id is None and s.name != sym.name
    }
    if not tops:
        return []
    if text is not None:
        try:
            return sorted(
                _uses_from_text(text, {sym.name, *tops}).get(sym.name, set()) - {sym.name}
            )
        except PlanningError:
            pass  # does not parse now: the index's view
    rows = reader.conn.execute(
        "SELECT DISTINCT r.name FROM refs r JOIN files f ON f.id = r.file_id "
        "WHERE f.path = ? AND r.line BETWEEN ? AND ? ORDER BY 1",
        (sym.path, sym.span.start_line, sym.span.end_line),
    ).fetchall()
    return [str(r[0]) for r in rows if str(r[0]) in tops]


def plan_rename_module(
    reader: IndexReader, path: str, new_path: str, *, task: str | None = None
) -> Plan:
    """Rename (or move) the module file ``path`` to ``new_path``."""
    old_module = _module_of(reader, path)
    if old_module is None:
        raise PlanningError(f"{path} is not a Python module the index knows")
    if posixpath.basename(path) in ("__init__.py", "__init__.pyi"):
        raise PlanningError(f"{path} is a package's __init__; renaming packages is not supported")
    if not new_path.endswith(".py"):
        raise PlanningError(f"{new_path} is not a Python module file (.py)")
    if new_path == path or _indexed(reader, new_path):
        raise PlanningError(f"{new_path} exists already")
    new_module = module_for_path(reader, new_path)
    tops = [s for s in reader.symbols_in_file(path) if s.parent_id is None]
    renamed = [(s.qualname, new_module + s.qualname[len(old_module) :]) for s in tops]
    renamed = list(dict.fromkeys(renamed))
    users = _file_importers(reader, path)
    steps = [
        Step(
            id=1,
            title=f"Rename {old_module} to {new_module}",
            action={"kind": "rename_module", "path": path, "new_path": new_path},
            preconditions=[Condition(kind="file_absent", target=new_path)],
            postconditions=[
                Condition(kind="file_exists", target=new_path),
                Condition(kind="file_absent", target=path),
                *(Condition(kind="symbol_exists", target=new) for _, new in renamed),
            ],
            creates=[new_path, *(new for _, new in renamed)],
            removes=[path, *(old for old, _ in renamed)],
            why=(f"the file and the imports of the {len(users)} file(s) using it change together"),
        ),
        _tests_step(2, [1], path=new_path, title=f"Run the tests that reach {new_module}"),
    ]
    return Plan(
        task=task or f"Rename module {old_module} to {new_module}",
        planner="deterministic:rename_module",
        summary=f"{path} → {new_path}; imported by {len(users)} file(s)",
        steps=steps,
    )


def plan_split_module(
    reader: IndexReader,
    path: str,
    groups: Mapping[str, Sequence[str]],
    *,
    text: str | None = None,
    reexport: bool | None = None,
    task: str | None = None,
) -> Plan:
    """Split the module file ``path``: ``groups`` maps each new (or existing) module file
    to the top-level names of ``path`` that go there. ``text``, the module's current text,
    gives the uses between its names beyond calls."""
    module = _module_of(reader, path)
    if module is None:
        raise PlanningError(f"{path} is not a Python module the index knows")
    if not groups or not any(groups.values()):
        raise PlanningError("give at least one name to move")
    tops: dict[str, Symbol] = {}
    for sym in reader.symbols_in_file(path):
        if sym.parent_id is None and sym.qualname == f"{module}.{sym.name}":
            tops.setdefault(sym.name, sym)
    where: dict[str, str] = {}  # name → target path
    for target, names in groups.items():
        _check_target(target, path)
        for raw in names:
            name = raw[len(module) + 1 :] if raw.startswith(module + ".") else raw
            found = tops.get(name)
            if found is None:
                raise PlanningError(f"{raw} is not a top-level definition of {path}")
            if found.kind not in MOVABLE_KINDS:
                raise PlanningError(f"{found.qualname} is a {found.kind}; it cannot be moved")
            if name in where and where[name] != target:
                raise PlanningError(f"{name} is in two groups ({where[name]} and {target})")
            where[name] = target
    target_modules = {t: module_for_path(reader, t) for t in groups}
    for name, target in where.items():
        new = f"{target_modules[target]}.{name}"
        if _defined(reader, new):
            raise PlanningError(f"{new} exists already")

    uses = (
        _uses_from_text(text, set(where))
        if text is not None
        else _uses_from_index(reader, path, tops, set(where))
    )
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(where)
    for user, used in uses.items():
        for name in used:
            if name != user:
                graph.add_edge(name, user)  # what is used moves first
    condensed = nx.condensation(graph)
    members: dict[int, list[str]] = {
        node: sorted(data["members"], key=lambda n: (tops[n].span.start_line, n))
        for node, data in condensed.nodes(data=True)
    }
    order = list(
        nx.lexicographical_topological_sort(
            condensed, key=lambda node: (tops[members[node][0]].span.start_line, members[node][0])
        )
    )
    steps: list[Step] = []
    step_of: dict[str, int] = {}
    made_by: dict[str, int] = {}  # new file → the step creating it
    for node in order:
        names = members[node]
        targets = {where[n] for n in names}
        if len(targets) > 1:
            listed = ", ".join(names)
            raise PlanningError(
                f"{listed} use each other; put them in the same group (they move together)"
            )
        target = targets.pop()
        target_module = target_modules[target]
        step_id = len(steps) + 1
        depends = sorted({step_of[u] for n in names for u in uses.get(n, ()) if u in step_of})
        creates = [f"{target_module}.{n}" for n in names]
        exists = _indexed(reader, target)
        if not exists and target not in made_by:
            made_by[target] = step_id
            creates.append(target)
            file_condition = Condition(kind="file_absent", target=target)
        else:
            if not exists:
                depends = sorted({*depends, made_by[target]})
            file_condition = Condition(kind="file_exists", target=target)
        olds = [tops[n].qualname for n in names]
        action: dict[str, object] = {"kind": "move", "symbol": olds[0], "target": target}
        if len(olds) > 1:
            action["together"] = olds[1:]
        if reexport is not None:
            action["reexport"] = reexport
        used_first = sorted({u for n in names for u in uses.get(n, ()) if u not in names})
        why = (
            f"after {', '.join(used_first)}, which {'it uses' if len(names) == 1 else 'they use'}"
            if used_first
            else "uses none of the other moved names"
        )
        if len(names) > 1:
            why = "they use each other, so they move in one step; " + why
        steps.append(
            Step(
                id=step_id,
                title=f"Move {', '.join(names)} to {target_module}",
                action=action,
                preconditions=[
                    *(Condition(kind="symbol_exists", target=q) for q in olds),
                    file_condition,
                ],
                postconditions=[
                    *(Condition(kind="symbol_exists", target=q) for q in creates if "/" not in q),
                    *(Condition(kind="symbol_absent", target=q) for q in olds),
                    Condition(kind="file_exists", target=target),
                ],
                depends_on=depends,
                creates=creates,
                removes=olds,
                why=why,
            )
        )
        for n in names:
            step_of[n] = step_id
    steps.append(
        _tests_step(
            len(steps) + 1,
            [s.id for s in steps],
            path=path,
            title=f"Run the tests that reach {module}",
        )
    )
    summary = "; ".join(
        f"{', '.join(n for n in where if where[n] == t)} → {target_modules[t]}"
        for t in groups
        if any(where[n] == t for n in where)
    )
    return Plan(
        task=task or f"Split {module} into {', '.join(target_modules[t] for t in groups)}",
        planner="deterministic:split_module",
        summary=summary,
        steps=steps,
    )


# -- the index --------------------------------------------------------------------------


def top_symbol(reader: IndexReader, qualname: str) -> Symbol:
    """The top-level Python function, class or variable ``qualname`` (or a unique
    suffix of it)."""
    found = [s for s in reader.lookup(qualname) if s.language == "python"]
    exact = [s for s in found if s.qualname == qualname]
    found = exact or [s for s in found if s.qualname.endswith("." + qualname)]
    if not found:
        raise PlanningError(f"no Python symbol named {qualname} in the index")
    places = sorted({(s.qualname, s.path) for s in found})
    if len(places) > 1:
        listed = ", ".join(f"{q} ({p})" for q, p in places[:5])
        raise PlanningError(f"{qualname} is ambiguous: {listed}")
    sym = found[0]
    module = _module_of(reader, sym.path)
    if sym.parent_id is not None or sym.qualname != f"{module}.{sym.name}":
        raise PlanningError(
            f"{sym.qualname} is not a top-level definition (a method or a nested one); only "
            "top-level functions, classes and variables move between modules"
        )
    if sym.kind not in MOVABLE_KINDS:
        raise PlanningError(f"{sym.qualname} is a {sym.kind}; it cannot be moved")
    return sym


def module_for_path(reader: IndexReader, path: str) -> str:
    """The module name a Python file has, or would have if it were created: from the
    index for a known file, else from its folder's package."""
    known = _module_of(reader, path)
    if known:
        return known
    folder, name = posixpath.split(path)
    stem = name.rsplit(".", 1)[0]
    if not folder:
        return stem
    init = _module_of(reader, f"{folder}/__init__.py")
    if init:
        return init if stem == "__init__" else f"{init}.{stem}"
    for sibling, module in reader.conn.execute(
        "SELECT path, module FROM files WHERE language = 'python' AND module IS NOT NULL "
        "AND path LIKE ? ORDER BY path",
        (folder.replace("%", "") + "/%",),
    ):
        if posixpath.dirname(str(sibling)) != folder:
            continue
        parent = str(module).rpartition(".")[0]
        return f"{parent}.{stem}" if parent else stem
    return stem


def _module_of(reader: IndexReader, path: str) -> str | None:
    row = reader.conn.execute(
        "SELECT module FROM files WHERE path = ? AND language = 'python'", (path,)
    ).fetchone()
    return str(row[0]) if row is not None and row[0] else None


def _indexed(reader: IndexReader, path: str) -> bool:
    return reader.conn.execute("SELECT 1 FROM files WHERE path = ?", (path,)).fetchone() is not None


def _defined(reader: IndexReader, qualname: str) -> bool:
    return any(s.qualname == qualname for s in reader.lookup(qualname.rsplit(".", 1)[-1]))


def _importers(reader: IndexReader, sym: Symbol) -> list[str]:
    """Files importing ``sym`` by name (or with ``*``), or importing its module and
    naming ``sym`` somewhere (``module.name``)."""
    rows = reader.conn.execute(
        "SELECT DISTINCT f.path FROM imports i JOIN files f ON f.id = i.file_id "
        "JOIN files t ON t.id = i.target_file_id WHERE t.path = ? AND f.path != ? "
        "AND (i.name = ? OR i.wildcard = 1 OR ((i.name IS NULL OR i.name = ?) AND EXISTS "
        "(SELECT 1 FROM refs r WHERE r.file_id = f.id AND r.name = ?))) ORDER BY 1",
        (sym.path, sym.path, sym.name, sym.qualname.rsplit(".", 2)[-2], sym.name),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _file_importers(reader: IndexReader, path: str) -> list[str]:
    rows = reader.conn.execute(
        "SELECT DISTINCT f.path FROM imports i JOIN files f ON f.id = i.file_id "
        "JOIN files t ON t.id = i.target_file_id WHERE t.path = ? AND f.path != ? ORDER BY 1",
        (path, path),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _check_target(target: str, source: str) -> None:
    if not target.endswith(".py"):
        raise PlanningError(f"{target} is not a Python module file (.py)")
    if target == source:
        raise PlanningError(f"{target} is the module the names are in")
    if target.startswith("/") or ".." in target.split("/"):
        raise PlanningError(f"{target} is not a path inside the workspace")


def _tests_step(
    step_id: int,
    depends_on: list[int],
    *,
    title: str,
    symbol: str | None = None,
    path: str | None = None,
) -> Step:
    action: dict[str, object] = {"kind": "run_tests"}
    if symbol is not None:
        action["symbol"] = symbol
    if path is not None:
        action["path"] = path
    return Step(
        id=step_id,
        title=title,
        action=action,
        depends_on=depends_on,
        why="the whole change, checked once more by the tests the call graph finds",
    )


# -- uses between the names of a module -------------------------------------------------


def _uses_from_text(text: str, names: set[str]) -> dict[str, set[str]]:
    """For each of ``names``, the others its top-level definitions mention."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        raise PlanningError(f"the module does not parse ({exc}); fix its syntax first") from exc
    out: dict[str, set[str]] = {}
    for node in tree.body:
        name = _defined_name(node)
        if name not in names:
            continue
        mentioned = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        mentioned |= {
            word
            for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
            for word in n.value.replace("[", " ").replace("]", " ").replace(",", " ").split()
        }  # string annotations
        out.setdefault(name, set()).update((mentioned & names) - {name})
    return out


def _defined_name(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _uses_from_index(
    reader: IndexReader, path: str, tops: dict[str, Symbol], names: set[str]
) -> dict[str, set[str]]:
    """For each of ``names``, the others it calls (the index's call references)."""
    ids = {tops[n].id: n for n in names}
    parents: dict[int, int | None] = {
        int(sid): (int(pid) if pid is not None else None)
        for sid, pid in reader.conn.execute(
            "SELECT s.id, s.parent_id FROM symbols s JOIN files f ON f.id = s.file_id "
            "WHERE f.path = ?",
            (path,),
        )
    }

    def top(scope: int | None) -> int | None:
        while scope is not None and parents.get(scope) is not None:
            scope = parents[scope]
        return scope

    out: dict[str, set[str]] = {}
    for scope, target in reader.conn.execute(
        "SELECT r.scope_id, r.target_id FROM refs r JOIN files f ON f.id = r.file_id "
        "WHERE f.path = ? AND r.target_id IS NOT NULL",
        (path,),
    ):
        user = ids.get(top(scope) or -1)
        used = ids.get(int(target))
        if user is not None and used is not None and user != used:
            out.setdefault(user, set()).add(used)
    return out
