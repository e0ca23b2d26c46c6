"""Signature ripple: when a Python function's parameters change, update its call sites.

:func:`parameter_changes` compares two parameter lists; :func:`ripple` rewrites the
argument lists of every call site the call graph finds (certain ones, and ambiguous ones
that jedi confirms) for a definition the user already edited; :func:`change_signature`
also rewrites the definition.

Each call is rewritten from its arguments: positional arguments are mapped to the old
parameters by position and moved to the new positions; keyword arguments follow their
parameter's rename; arguments of removed parameters are dropped; a new required
parameter gets ``values[name]`` (or ``name=name`` and a note, when no value is given).
An argument keeps its exact text; only the list around them is rebuilt, keeping its
layout (one line, or one argument per line). Calls with ``*args``/``**kwargs`` that
cannot be mapped are left alone, and named in a note.
"""

from __future__ import annotations

import ast
import io
import time
import tokenize
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from hexad.core.types import CallEdge, Symbol
from hexad.execution.edits import Change, EditError, FileChange
from hexad.execution.engines.base import Draft, EngineError, Intent, Sources, Target
from hexad.execution.engines.refactor import (
    PySymbol,
    bound_names,
    char_col,
    python_module,
    python_symbols,
    read_python,
    source_lines,
    symbol_delta,
)
from hexad.perception.index import IndexReader
from hexad.perception.navigation import _JEDI_LOCK, _jedi_script, repair_jedi_cache

ENGINE = "structural:index"
JEDI_BUDGET_S = 5.0  # the most time spent confirming ambiguous call sites with jedi
JEDI_MAX_SITES = 400

POSITIONAL_ONLY = "positional_only"
POSITIONAL = "positional"
VAR_POSITIONAL = "var_positional"
KEYWORD_ONLY = "keyword_only"
VAR_KEYWORD = "var_keyword"
_BY_POSITION = (POSITIONAL_ONLY, POSITIONAL)
_BY_KEYWORD = (POSITIONAL, KEYWORD_ONLY)


# -- parameter lists --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str  # positional_only | positional | var_positional | keyword_only | var_keyword
    default: str | None = None  # the default's source text
    annotation: str | None = None

    @property
    def required(self) -> bool:
        return self.default is None and self.kind in (*_BY_POSITION, KEYWORD_ONLY)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "default": self.default}


@dataclass(frozen=True, slots=True)
class ParamChange:
    """How a parameter list changed: ``renamed`` pairs are one parameter removed and one
    added at the same position; ``reordered`` says the parameters both lists have (after
    renames) come in another order."""

    old: tuple[Param, ...]
    new: tuple[Param, ...]
    added: tuple[Param, ...]
    removed: tuple[Param, ...]
    renamed: tuple[tuple[str, str], ...]
    reordered: bool

    @property
    def unchanged(self) -> bool:
        return self.old == self.new

    def new_name(self, old_name: str) -> str | None:
        """What the parameter ``old_name`` is called now; None when it was removed."""
        for a, b in self.renamed:
            if a == old_name:
                return b
        if any(p.name == old_name for p in self.removed):
            return None
        return old_name

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [p.to_json() for p in self.added],
            "removed": [p.name for p in self.removed],
            "renamed": [list(pair) for pair in self.renamed],
            "reordered": self.reordered,
        }


def parse_params(params: str) -> tuple[Param, ...]:
    """The parameters of ``def f(<params>): pass``, or EngineError."""
    source = f"def f({params}): pass"
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise EngineError(f"({params}) is not a valid parameter list: {exc.msg}") from exc
    node = tree.body[0] if len(tree.body) == 1 else None
    if (
        not isinstance(node, ast.FunctionDef)
        or node.name != "f"
        or node.decorator_list
        or node.returns is not None
        or len(node.body) != 1
        or not isinstance(node.body[0], ast.Pass)
    ):
        raise EngineError(f"({params}) is not a parameter list")

    def text(expr: ast.expr | None) -> str | None:
        return None if expr is None else ast.get_source_segment(source, expr)

    a = node.args
    out: list[Param] = []
    positional = [*a.posonlyargs, *a.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults))
    defaults += a.defaults
    for index, arg in enumerate(positional):
        kind = POSITIONAL_ONLY if index < len(a.posonlyargs) else POSITIONAL
        out.append(Param(arg.arg, kind, text(defaults[index]), text(arg.annotation)))
    if a.vararg is not None:
        out.append(Param(a.vararg.arg, VAR_POSITIONAL, None, text(a.vararg.annotation)))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        out.append(Param(arg.arg, KEYWORD_ONLY, text(default), text(arg.annotation)))
    if a.kwarg is not None:
        out.append(Param(a.kwarg.arg, VAR_KEYWORD, None, text(a.kwarg.annotation)))
    return tuple(out)


def parameter_changes(old: str, new: str) -> ParamChange:
    """Compare two parameter lists (the text between a def's parentheses)."""
    old_params, new_params = parse_params(old), parse_params(new)
    old_names = [p.name for p in old_params]
    new_names = [p.name for p in new_params]
    gone = [p for p in old_params if p.name not in new_names]
    fresh = [p for p in new_params if p.name not in old_names]
    renamed: list[tuple[str, str]] = []
    for index in range(min(len(old_params), len(new_params))):
        a, b = old_params[index], new_params[index]
        if a in gone and b in fresh and _compatible(a.kind, b.kind):
            renamed.append((a.name, b.name))
            gone.remove(a)
            fresh.remove(b)
    mapping = dict(renamed)
    kept_old_order = [mapping.get(n, n) for n in old_names if mapping.get(n, n) in new_names]
    kept = set(kept_old_order)
    kept_new_order = [n for n in new_names if n in kept]
    return ParamChange(
        old=old_params,
        new=new_params,
        added=tuple(fresh),
        removed=tuple(gone),
        renamed=tuple(renamed),
        reordered=kept_old_order != kept_new_order,
    )


def _compatible(a: str, b: str) -> bool:
    if a in _BY_POSITION and b in _BY_POSITION:
        return True
    return a == b


def _same_params(a: str, b: str) -> bool:
    def dump(params: str) -> str:
        tree = ast.parse(f"def f({params}): pass")
        node = tree.body[0]
        assert isinstance(node, ast.FunctionDef)
        return ast.dump(node.args)

    try:
        return dump(a) == dump(b)
    except SyntaxError:
        return False


# -- public entry points ----------------------------------------------------------------


def ripple(
    sources: Sources,
    reader: IndexReader,
    path: str,
    qualname: str,
    *,
    old_params: str,
    new_params: str,
    values: Mapping[str, str] | None = None,
    only_paths: Collection[str] | None = None,
) -> Draft:
    """Update the call sites of ``qualname`` (defined in ``path``, which already declares
    ``new_params``) that still pass arguments for ``old_params`` (only those in
    ``only_paths`` when given: a plan updates call sites file by file)."""
    return _signature(
        sources,
        reader,
        path,
        qualname,
        old_params=old_params,
        new_params=new_params,
        values=dict(values or {}),
        rewrite_definition=False,
        only_paths=only_paths,
    )


def change_signature(
    sources: Sources,
    reader: IndexReader,
    path: str,
    qualname: str,
    new_params: str,
    *,
    values: Mapping[str, str] | None = None,
    only_paths: Collection[str] | None = None,
) -> Draft:
    """Give ``qualname`` the parameters ``new_params`` and update its call sites (only
    those in ``only_paths`` when given)."""
    text = read_python(sources, path)
    module = python_module(sources, path, reader)
    definition, node = _find_definition(text, module, qualname, path)
    old_params = _params_text(text, node)[2]
    new_params = _with_receiver(new_params, node, definition)
    return _signature(
        sources,
        reader,
        path,
        qualname,
        old_params=old_params,
        new_params=new_params,
        values=dict(values or {}),
        rewrite_definition=True,
        only_paths=only_paths,
    )


# -- the work ---------------------------------------------------------------------------


@dataclass
class _Site:
    path: str
    line: int  # 0-based
    col: int  # UTF-8 byte column of the called name
    caller: str | None
    how: str  # certain | constructor | confirmed | confirmed constructor


@dataclass
class _Outcome:
    rewritten: list[str] = field(default_factory=list)
    unchanged: int = 0
    left_alone: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _signature(
    sources: Sources,
    reader: IndexReader,
    path: str,
    qualname: str,
    *,
    old_params: str,
    new_params: str,
    values: dict[str, str],
    rewrite_definition: bool,
    only_paths: Collection[str] | None = None,
) -> Draft:
    started = time.monotonic()
    text = read_python(sources, path)
    module = python_module(sources, path, reader)
    definition, node = _find_definition(text, module, qualname, path)
    qualname = definition.qualname  # in full, when a suffix named it
    old_params = _with_receiver(old_params, node, definition)
    new_params = _with_receiver(new_params, node, definition)
    change = parameter_changes(old_params, new_params)
    if change.unchanged and _same_params(old_params, new_params):
        raise EngineError(f"({new_params}) is the parameter list {qualname} already has")
    current = _params_text(text, node)[2]
    if not rewrite_definition and not _same_params(current, new_params):
        raise EngineError(
            f"{qualname} declares ({current}), not ({new_params}); edit the definition "
            "first, or change the signature instead"
        )
    new_names = {p.name for p in change.new}
    unknown = sorted(set(values) - new_names)
    if unknown:
        raise EngineError(
            f"values given for {', '.join(unknown)}, not parameters of ({new_params})"
        )
    if any(p.kind in (VAR_POSITIONAL, VAR_KEYWORD) for p in (*change.added, *change.removed)):
        raise EngineError("adding or removing *args or **kwargs cannot be carried to call sites")

    decorators = {_decorator_name(d) for d in node.decorator_list}
    static = "staticmethod" in decorators
    cls = "classmethod" in decorators
    sites, unconfirmed = _call_sites(sources, reader, definition, path)
    if only_paths is not None:
        wanted = set(only_paths)
        skipped = sorted({site.path for site in sites} - wanted)
        sites = [site for site in sites if site.path in wanted]
    else:
        skipped = []
    outcome = _Outcome()
    if skipped:
        outcome.notes.append(f"call sites in {', '.join(skipped)} are left for later steps")
    files: dict[str, FileChange] = {}
    by_file: dict[str, list[_Site]] = {}
    for site in sites:
        by_file.setdefault(site.path, []).append(site)
    if rewrite_definition:
        by_file.setdefault(path, [])
    for rel in sorted(by_file):
        try:
            before = text if rel == path else sources.text(rel)
        except (OSError, UnicodeDecodeError, EditError):
            outcome.left_alone.append(f"{rel} (cannot be read)")
            continue
        after = before
        for site in sorted(by_file[rel], key=lambda s: (s.line, s.col), reverse=True):
            after = _rewrite_site(
                after, site, definition, change, values, outcome, static=static, cls=cls
            )
        if rewrite_definition and rel == path:
            _, def_node = _find_definition(after, module, qualname, path)
            after = _rename_in_body(after, def_node, dict(change.renamed))
            _, def_node = _find_definition(after, module, qualname, path)
            start, stop, _ = _params_text(after, def_node)
            after = after[:start] + new_params + after[stop:]
            still = sorted(_uses(def_node, {p.name for p in change.removed}))
            if still:
                outcome.notes.append(
                    f"the body of {qualname} still uses {', '.join(still)}, no longer a parameter"
                )
        if after != before:
            files[rel] = FileChange(rel, before, after)

    for rel, changed_file in files.items():
        try:
            compile(changed_file.after or "", rel, "exec", flags=ast.PyCF_ONLY_AST)
        except SyntaxError as exc:  # pragma: no cover - a bug in the rewriting
            raise EngineError(f"rewriting the calls would break {rel}: {exc}") from exc

    changed: list[str] = []
    for rel, changed_file in files.items():
        delta = symbol_delta(
            changed_file.before, changed_file.after, python_module(sources, rel, reader)
        )
        changed += delta.changed
    changed_t = tuple(dict.fromkeys(changed))
    if rewrite_definition and qualname not in changed_t:
        changed_t = (qualname, *changed_t)
    keep = tuple(q for q in changed_t if q != qualname)
    notes = list(outcome.notes)
    if outcome.left_alone:
        notes.append("left alone: " + "; ".join(outcome.left_alone))
    if unconfirmed:
        notes.append(
            f"{len(unconfirmed)} call(s) of a {definition.name}() that jedi could not tie "
            f"to {qualname} were left alone: " + ", ".join(unconfirmed[:8])
        )
    if not sites:
        notes.append(f"the index knows no call sites of {qualname}")
    elif not outcome.rewritten:
        notes.append(f"none of the {len(sites)} call site(s) needed a change")
    verb = "Change the signature of" if rewrite_definition else "Update the calls of"
    draft_change = Change(tuple(files[rel] for rel in sorted(files)))
    targets = [Target(path, definition.line, qualname)]
    targets += [Target(rel, _first_line(f)) for rel, f in sorted(files.items()) if rel != path]
    return Draft(
        task=f"{verb} {qualname} to ({new_params})",
        kind="signature",
        engine=ENGINE,
        change=draft_change,
        intent=Intent(kind="signature", changed=changed_t, keep_signature=keep),
        targets=tuple(targets),
        symbols=(qualname,),
        notes=tuple(notes),
        evidence={
            "parameters": change.to_json(),
            "call_sites": len(sites),
            "rewritten": sorted(outcome.rewritten),
            "unchanged": outcome.unchanged,
            "left_alone": outcome.left_alone,
            "confirmed_by_jedi": sum(1 for s in sites if s.how.startswith("confirmed")),
            "unconfirmed": unconfirmed,
            "files": sorted(files),
            "seconds": round(time.monotonic() - started, 3),
        },
    )


def _find_definition(
    text: str, module: str, qualname: str, path: str
) -> tuple[PySymbol, ast.FunctionDef | ast.AsyncFunctionDef]:
    symbols = python_symbols(text, module)
    if symbols is None:
        raise EngineError(f"{path} does not parse; fix its syntax first")
    matches = [s for s in symbols if s.qualname == qualname]
    if not matches:
        matches = [s for s in symbols if s.qualname.endswith("." + qualname)]
    matches = [s for s in matches if s.kind in ("function", "method")]
    if not matches:
        raise EngineError(f"no function or method {qualname} in {path}")
    if len(matches) > 1:
        listed = ", ".join(f"{s.qualname} (line {s.line + 1})" for s in matches)
        raise EngineError(f"{qualname} is ambiguous in {path}: {listed}")
    sym = matches[0]
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name == sym.name
            and node.lineno - 1 <= sym.line <= (node.end_lineno or node.lineno) - 1
            and node.lineno - 1 >= sym.start
        ):
            return sym, node
    raise EngineError(f"cannot find the definition of {qualname} in {path}")  # pragma: no cover


def _with_receiver(
    params: str, node: ast.FunctionDef | ast.AsyncFunctionDef, definition: PySymbol
) -> str:
    """``params`` with the method's ``self`` (or ``cls``) put first when left out."""
    if definition.kind != "method" or "staticmethod" in map(_decorator_name, node.decorator_list):
        return params
    first = [*node.args.posonlyargs, *node.args.args][:1]
    if not first:
        return params
    receiver = first[0].arg
    given = parse_params(params)
    if given and given[0].name == receiver:
        return params
    return f"{receiver}, {params}" if params.strip() else receiver


def _params_text(text: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int, str]:
    """(start, stop) string offsets of the text between a def's parentheses, and it."""
    starts = _line_starts(text)
    first = node.lineno - 1
    header = text[starts[first] :]
    depth = 0
    open_at = -1
    seen_name = False
    try:
        for tok in tokenize.generate_tokens(io.StringIO(header, newline="").readline):
            if tok.type == tokenize.NAME and tok.string == node.name and not seen_name:
                seen_name = True
                continue
            if not seen_name or tok.type != tokenize.OP:
                continue
            if tok.string in "([{":
                if depth == 0 and tok.string == "(" and open_at < 0:
                    open_at = _offset(starts, first + tok.start[0] - 1, tok.start[1]) + 1
                depth += 1
            elif tok.string in ")]}":
                depth -= 1
                if depth == 0 and open_at >= 0:
                    close = _offset(starts, first + tok.start[0] - 1, tok.start[1])
                    return open_at, close, text[open_at:close]
    except (tokenize.TokenError, SyntaxError):
        pass
    raise EngineError(f"cannot find the parameter list of {node.name}")


def _body_names(node: ast.FunctionDef | ast.AsyncFunctionDef, names: set[str]) -> list[ast.Name]:
    """The ``ast.Name`` nodes in a function's body that read or write one of ``names``
    as the function's own parameter (nested scopes that bind the name are skipped)."""
    found: list[ast.Name] = []
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)

    def visit(child: ast.AST, hidden: frozenset[str]) -> None:
        if isinstance(child, ast.Name) and child.id in names and child.id not in hidden:
            found.append(child)
        if isinstance(child, scopes):
            hidden = hidden | (bound_names(child) & names)
        for inner in ast.iter_child_nodes(child):
            visit(inner, hidden)

    for statement in node.body:
        visit(statement, frozenset())
    return found


def _uses(node: ast.FunctionDef | ast.AsyncFunctionDef, names: set[str]) -> set[str]:
    return {n.id for n in _body_names(node, names)}


def _rename_in_body(
    text: str, node: ast.FunctionDef | ast.AsyncFunctionDef, renames: dict[str, str]
) -> str:
    """``text`` with the renamed parameters renamed where the function's body uses them."""
    if not renames:
        return text
    starts = _line_starts(text)
    edits = []
    for name in _body_names(node, set(renames)):
        row_start = starts[name.lineno - 1]
        row = text[row_start : starts[name.lineno] if name.lineno < len(starts) else len(text)]
        col = row_start + char_col(row, name.col_offset)
        edits.append((col, col + len(name.id), renames[name.id]))
    for start, stop, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[stop:]
    return text


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _decorator_name(node.func)
    return ""


def _call_sites(
    sources: Sources, reader: IndexReader, definition: PySymbol, path: str
) -> tuple[list[_Site], list[str]]:
    """Call sites of the definition: certain ones, and ambiguous ones jedi confirms
    (returned second: the ambiguous ones it did not)."""
    indexed = [
        s
        for s in reader.lookup(definition.qualname)
        if s.path == path and s.qualname == definition.qualname
    ]
    if not indexed:
        raise EngineError(
            f"{definition.qualname} is not in the index yet; wait for indexing and try again"
        )
    targets: list[Symbol] = list(indexed)
    constructor: list[Symbol] = []
    if definition.name == "__init__":
        for sym in indexed:
            parent = reader.symbol(sym.parent_id) if sym.parent_id is not None else None
            if parent is not None and parent.kind == "class":
                constructor.append(parent)
    ids = {t.id for t in targets}
    class_ids = {c.id for c in constructor}
    sites: dict[tuple[str, int, int], _Site] = {}
    ambiguous: list[CallEdge] = []
    for edge in reader.callers([*targets, *constructor]):
        key = (edge.path, edge.line, edge.col)
        caller = edge.caller.qualname if edge.caller is not None else None
        if edge.callee is not None and edge.callee.id in ids:
            sites[key] = _Site(edge.path, edge.line, edge.col, caller, "certain")
        elif edge.callee is not None and edge.callee.id in class_ids:
            sites[key] = _Site(edge.path, edge.line, edge.col, caller, "constructor")
        elif edge.callee is None and edge.resolution == "ambiguous":
            ambiguous.append(edge)
    unconfirmed: list[str] = []
    deadline = time.monotonic() + JEDI_BUDGET_S
    target_file = (sources.root / path).resolve()
    class_lines = {c.name: c.name_span.start_line + 1 for c in constructor if c.path == path}
    for edge in ambiguous[:JEDI_MAX_SITES]:
        key = (edge.path, edge.line, edge.col)
        if key in sites or not edge.path.endswith((".py", ".pyi")):
            continue
        where = f"{edge.path}:{edge.line + 1}"
        # a constructor call names the class: jedi goes to the class (or to __init__)
        how = "confirmed constructor" if edge.name in class_lines else "confirmed"
        want = {definition.line + 1}
        if edge.name in class_lines:
            want.add(class_lines[edge.name])
        if time.monotonic() > deadline or not _jedi_confirms(sources, edge, target_file, want):
            unconfirmed.append(where)
            continue
        caller = edge.caller.qualname if edge.caller is not None else None
        sites[key] = _Site(edge.path, edge.line, edge.col, caller, how)
    unconfirmed += [f"{e.path}:{e.line + 1}" for e in ambiguous[JEDI_MAX_SITES:]]
    return list(sites.values()), unconfirmed


def _jedi_confirms(sources: Sources, edge: CallEdge, target_file: Any, lines: set[int]) -> bool:
    try:
        text = sources.text(edge.path)
    except (OSError, UnicodeDecodeError, EditError):
        return False
    rows = [row.rstrip("\r\n") for row in source_lines(text)]
    if edge.line >= len(rows):
        return False
    column = char_col(rows[edge.line], edge.col)
    root = sources.root
    try:
        with _JEDI_LOCK:
            script = _jedi_script(str(root), str(root / edge.path), text)
            names = script.goto(edge.line + 1, column, follow_imports=True)
            found = [(n.module_path, n.line) for n in names]
    except Exception as exc:  # jedi fails on odd code; the site stays unconfirmed
        repair_jedi_cache(exc)  # (a truncated parse cache is mended for the next site)
        return False
    for module_path, line in found:
        if module_path is None or line not in lines:
            continue
        try:
            if module_path.resolve() == target_file:
                return True
        except (OSError, AttributeError):
            continue
    return False


def _rewrite_site(
    text: str,
    site: _Site,
    definition: PySymbol,
    change: ParamChange,
    values: dict[str, str],
    outcome: _Outcome,
    *,
    static: bool,
    cls: bool,
) -> str:
    where = f"{site.path}:{site.line + 1}"
    try:
        tree = ast.parse(text)
    except SyntaxError:
        outcome.left_alone.append(f"{where} (the file does not parse)")
        return text
    call = _call_at(tree, site.line, site.col)
    if call is None:
        outcome.left_alone.append(f"{where} (no call there; the index may be out of date)")
        return text
    skip = 0
    if definition.kind == "method" and not static:
        if site.how.endswith("constructor"):
            skip = 1
        elif isinstance(call.func, ast.Attribute):
            receiver = call.func.value
            through_class = isinstance(receiver, ast.Name) and receiver.id == _class_of(definition)
            skip = 1 if (cls or not through_class) else 0
    if skip and (not change.old or change.old[0].kind not in _BY_POSITION):
        skip = 0
    rebuilt = _rebuild_arguments(text, call, change, values, skip, where, outcome)
    if rebuilt is None:
        return text
    start, stop, inner = rebuilt
    if text[start:stop] == inner:
        outcome.unchanged += 1
        return text
    outcome.rewritten.append(where)
    return text[:start] + inner + text[stop:]


def _class_of(definition: PySymbol) -> str:
    parts = definition.qualname.split(".")
    return parts[-2] if len(parts) >= 2 else ""


def _call_at(tree: ast.Module, line: int, col: int) -> ast.Call | None:
    """The call whose called name starts at (0-based line, byte column)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and (func.lineno - 1, func.col_offset) == (line, col):
            return node
        if isinstance(func, ast.Attribute) and func.end_lineno is not None:
            start = (func.end_col_offset or 0) - len(func.attr.encode("utf-8"))
            if (func.end_lineno - 1, start) == (line, col):
                return node
    return None


def _rebuild_arguments(
    text: str,
    call: ast.Call,
    change: ParamChange,
    values: dict[str, str],
    skip: int,
    where: str,
    outcome: _Outcome,
) -> tuple[int, int, str] | None:
    """(start, stop, new text) of the call's argument list (between its parentheses);
    None when the call is left alone (noted in ``outcome``)."""
    starts = _line_starts(text)

    def offset(lineno: int, byte: int) -> int:
        row_start = starts[lineno - 1]
        row_end = starts[lineno] if lineno < len(starts) else len(text)
        return row_start + char_col(text[row_start:row_end], byte)

    def segment(node: ast.expr | ast.keyword) -> tuple[int, int]:
        start = offset(node.lineno, node.col_offset)
        stop = offset(node.end_lineno or node.lineno, node.end_col_offset or 0)
        return start, stop

    call_start, call_stop = segment(call)
    func_stop = segment(call.func)[1]
    open_at = text.find("(", func_stop, call_stop)
    close_at = call_stop - 1
    if open_at < 0 or text[close_at] != ")":
        outcome.left_alone.append(f"{where} (cannot find its parentheses)")
        return None
    old = change.old[skip:]
    new = change.new[skip:]
    parts: list[tuple[int, int, ast.expr | ast.keyword]] = []
    for arg in call.args:
        start, stop = segment(arg)
        if isinstance(arg, ast.GeneratorExp) and start < open_at + 1:
            start, stop = open_at, close_at + 1  # `f(x for x in y)`: the genexp owns "()"
        parts.append((start, stop, arg))
    for kw in call.keywords:
        start, stop = segment(kw)
        parts.append((start, stop, kw))
    parts.sort(key=lambda p: p[0])
    starred = [p for p in parts if isinstance(p[2], ast.Starred)] + [
        p for p in parts if isinstance(p[2], ast.keyword) and p[2].arg is None
    ]
    needs_values = [p for p in change.added if p.required or p.name in values]
    trivial = not (change.removed or change.renamed or change.reordered or needs_values)
    if starred:
        if trivial:
            outcome.unchanged += 1
            return None
        shown = text[call_start:call_stop].split("\n", 1)[0]
        outcome.left_alone.append(f"{where} ({shown!s} unpacks arguments)")
        return None

    # bind the call's arguments to the old parameters
    by_position = [p for p in old if p.kind in _BY_POSITION]
    by_keyword = {p.name: p for p in old if p.kind in _BY_KEYWORD}
    var_positional = any(p.kind == VAR_POSITIONAL for p in old)
    var_keyword = any(p.kind == VAR_KEYWORD for p in old)
    # old parameter -> (the argument's value text, passed by position, its whole text)
    bound: dict[str, tuple[str, bool, str]] = {}
    extra_positional: list[str] = []
    extra_keywords: list[str] = []
    keyword_order: list[str] = []
    positional_index = 0
    for start, stop, node in parts:
        piece = text[start:stop]
        if isinstance(node, ast.keyword):
            assert node.arg is not None
            if node.arg in by_keyword and node.arg not in bound:
                value_start, value_stop = segment(node.value)
                bound[node.arg] = (text[value_start:value_stop], False, piece)
                keyword_order.append(node.arg)
            elif var_keyword:
                extra_keywords.append(piece)
            else:
                takes = _show(old)
                outcome.left_alone.append(f"{where} (passes {node.arg}=, which ({takes}) does not)")
                return None
            continue
        if positional_index < len(by_position):
            bound[by_position[positional_index].name] = (piece, True, piece)
            positional_index += 1
        elif var_positional:
            extra_positional.append(piece)
        else:
            outcome.left_alone.append(f"{where} (more positional arguments than ({_show(old)}))")
            return None

    # place them by the new parameters
    renamed = {p.name: change.new_name(p.name) for p in old}
    by_new: dict[str, tuple[str, bool, str]] = {}
    for old_name, (value, positional, piece) in bound.items():
        target = renamed.get(old_name)
        if target is None:
            outcome.notes.append(f"{where}: dropped the argument {value.strip()!r} of {old_name}")
            continue
        # a keyword argument keeps its own text unless its parameter was renamed
        whole = piece if not positional and target == old_name else f"{target}={value.strip()}"
        by_new[target] = (value, positional, whole)
    added = {p.name for p in change.added}
    positional_out: list[str] = []
    used: set[str] = set()
    for param in new:
        if param.kind not in _BY_POSITION:
            break
        if param.name in by_new and by_new[param.name][1]:
            positional_out.append(by_new[param.name][0])
        elif param.name in added and (param.required or param.name in values):
            if param.name not in values:
                break
            positional_out.append(values[param.name])
        else:
            break
        used.add(param.name)
    new_positional = [p for p in new if p.kind in _BY_POSITION]
    if extra_positional:
        if len(used) != len(new_positional) or not any(p.kind == VAR_POSITIONAL for p in new):
            outcome.left_alone.append(f"{where} (its extra positional arguments cannot be mapped)")
            return None
        positional_out += extra_positional
    keyword_out: list[str] = []
    pending = [n for n in (renamed.get(o) for o in bound) if n is not None and n not in used]
    positional_first = [n for n in pending if by_new[n][1]]
    order = [p.name for p in new]
    positional_first.sort(key=lambda n: order.index(n) if n in order else len(order))
    keyword_first = [n for n in (renamed.get(o) for o in keyword_order) if n in pending]
    for name in [*positional_first, *[n for n in keyword_first if n not in positional_first]]:
        assert name is not None
        declared = next((p for p in new if p.name == name), None)
        if declared is None or declared.kind == POSITIONAL_ONLY:
            outcome.left_alone.append(f"{where} ({name} can no longer be passed by name)")
            return None
        keyword_out.append(by_new[name][2])
    for param in new:
        if param.name in used or param.name in by_new or param.name not in added:
            continue
        if param.name in values:
            value = values[param.name]
        elif param.required:
            value = param.name
            outcome.notes.append(
                f"{where}: the new parameter {param.name} needs a value; passed {param.name}"
                f"={param.name} for now"
            )
        else:
            continue
        if param.kind == POSITIONAL_ONLY:
            outcome.left_alone.append(
                f"{where} (the new positional-only {param.name} would follow named arguments)"
            )
            return None
        keyword_out.append(f"{param.name}={value}")
    keyword_out += extra_keywords
    items = [*positional_out, *keyword_out]
    original_items = [text[s:e] for s, e, _ in parts]
    if items == original_items:
        outcome.unchanged += 1
        return None

    # lay them out as the call did
    inner_start, inner_stop = open_at + 1, close_at
    if len(parts) == 1 and parts[0][0] == open_at:  # a lone generator expression: its
        return open_at, close_at + 1, "(" + ", ".join(items) + ")"  # text keeps the "()"
    gaps = [text[inner_start : parts[0][0]]] if parts else [""]
    gaps += [text[parts[i][1] : parts[i + 1][0]] for i in range(len(parts) - 1)]
    tail = text[parts[-1][1] : inner_stop] if parts else ""
    if any("#" in g for g in [*gaps, tail]):
        outcome.left_alone.append(f"{where} (comments between its arguments)")
        return None
    prefix = gaps[0]
    separator = ", "
    if len(gaps) > 1:
        separator = gaps[1]
    elif "\n" in prefix:
        separator = "," + prefix
    if not items:
        return inner_start, inner_stop, ""
    return inner_start, inner_stop, prefix + separator.join(items) + tail


def _show(params: tuple[Param, ...]) -> str:
    return ", ".join(p.name for p in params)


def _line_starts(text: str) -> list[int]:
    """String offset of each line's start, as ``ast`` numbers lines."""
    starts = [0]
    total = 0
    for row in source_lines(text):
        total += len(row)
        starts.append(total)
    return starts


def _offset(starts: list[int], line: int, col: int) -> int:
    return starts[line] + col


def _first_line(change: FileChange) -> int:
    edits = change.text_edits()
    return edits[0].start[0] if edits else 0
