"""Move a top-level Python definition to another module; rename (move) a module.

:func:`move_symbol` moves a function, class or module-level variable — its decorators,
the comments right above it and its docstring with it — from its module to another one
(an existing file, or one it creates), and keeps the workspace importing it:

* the imports the moved code uses go with it, into the target (where isort would put
  them, merged into the target's own ``from`` imports); imports of the source that only
  the moved code used are removed (pyflakes tells which became unused);
* a module-level definition of the source that only the moved code uses (a constant, a
  private helper) and that no other file imports moves with it; a name the moved code
  uses that stays in the source is imported from there;
* every ``from source import name`` in the workspace becomes ``from target import name``
  (merged into an existing ``from target import …``), every ``source.name`` reached
  through ``import source`` becomes ``target.name``;
* a public symbol (listed in ``__all__``, or not underscore-prefixed and imported by
  other files) stays importable from the source: a re-export ``from target import name
  as name`` (the explicit form type checkers and linters take as a re-export; a plain
  ``from target import name`` when ``__all__`` lists it), unless ``reexport`` is False.

It refuses what it cannot do safely: a method or nested definition, a name the target
already defines, an import cycle the move would create (the target needing the source
while the source imports the target), a target outside the workspace.

:func:`rename_module` renames a module file in its folder through jedi (which renames
the module wherever code names it), and moves it to another folder with the same import
rewriting as :func:`move_symbol`.

Positions are 0-based lines; ``ast`` columns are UTF-8 byte offsets.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hexad.execution.edits import Change, EditError, FileChange, check_relpath, resolve_inside
from hexad.execution.engines.base import Draft, EngineError, Intent, Sources, Target
from hexad.execution.engines.imports import ImportCandidate, insert_import, undefined_names
from hexad.execution.engines.refactor import (
    bound_names,
    check_identifier,
    python_module,
    python_symbols,
    read_python,
    rename,
    source_lines,
    symbol_delta,
)
from hexad.perception.files import SKIPPED_DIRS
from hexad.perception.index import IndexReader
from hexad.perception.modules import module_name

ENGINE = "structural:index"
LINE_LENGTH = 100
_WHY = ("carried with the moved code",)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


# -- public entry points ----------------------------------------------------------------


def move_symbol(
    sources: Sources,
    reader: IndexReader,
    qualname: str,
    target_module_path: str,
    *,
    reexport: bool | None = None,
    together: Sequence[str] = (),
) -> Draft:
    """Move the top-level function, class or variable ``qualname`` (and ``together``:
    more top-level names of the same module, moved in the same change) to the module
    file ``target_module_path``, created when it does not exist.

    ``reexport``: None leaves ``from target import name`` in the source for a public
    symbol only; True always, False never."""
    path, module, name = _find_top(sources, reader, qualname)
    names = [name]
    for other in together:
        other_path, _, other_name = _find_top(sources, reader, _qualified(other, module))
        if other_path != path:
            raise EngineError(f"{other} is not defined in {path}; move it on its own")
        if other_name not in names:
            names.append(other_name)
    target = _check_target(sources, target_module_path, path)
    text = read_python(sources, path)
    tree = _parse(text, path)
    lines = source_lines(text)
    defs = _top_defs(tree, lines)
    for moved_name in names:
        _check_movable(tree, defs, moved_name, path)
    target_text = _existing(sources, target)
    target_module = _module_for(sources, reader, target, exists=target_text is not None)
    if target_module == module:
        raise EngineError(f"{target} is the module {module} itself")
    target_tree = _parse(target_text, target) if target_text is not None else None
    first_party = _first_party(reader) | {target_module.split(".")[0]}

    importers = _importer_paths(reader, path, module)
    texts: dict[str, str] = {}
    notes: list[str] = []
    for rel in importers:
        try:
            texts[rel] = sources.text(rel)
        except (OSError, UnicodeDecodeError, EditError):
            notes.append(f"{rel} imports {module} but could not be read; check it by hand")
    if target_text is not None:
        texts[target] = target_text
    modules = {rel: python_module(sources, rel, reader) for rel in texts}
    modules[path] = module
    modules[target] = target_module
    external = _external_uses(texts, modules, module, exclude=target)
    all_names = _all_names(tree)

    companions = _companions(text, tree, defs, set(names), path, external, all_names)
    moving = [n for n in _source_order(defs) if n in names or n in companions]
    moved_set = set(moving)
    blocks = [d for n in moving for d in defs[n]]
    blocks.sort(key=lambda d: d.start)
    moved_code = "".join(_block_text(lines, d) for d in blocks)

    # what the moved code needs: imports of the source, or names that stay there
    source_bindings: dict[str, list[_Binding]] = {}
    for b in _module_bindings(tree, path, module):
        source_bindings.setdefault(b.bound, []).append(b)
    carry: list[_Binding] = []
    from_source: list[str] = []
    stars = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.names[0].name == "*"]
    for free in sorted({u.name for u in undefined_names(moved_code, path)} - moved_set):
        found = source_bindings.get(free)
        if found:
            if not all(b.direct for b in found):
                raise EngineError(
                    f"{free} is imported conditionally in {path} (inside an if or try); the "
                    f"moved code uses it, so move {name} by hand"
                )
            # `from target import free`: the target defines it
            carry += [b for b in found if b.name is None or b.module != target_module]
        elif free in defs or free in bound_names(tree):
            from_source.append(free)
        elif stars:
            raise EngineError(
                f"{free} may come from a * import in {path}; import it by name there first"
            )

    if target_tree is not None:
        _check_target_names(target_tree, target, target_module, module, moving, carry, from_source)

    public = {
        n
        for n in names
        if n in all_names or (not n.startswith("_") and bool(external.get(n, set()) - {target}))
    }
    reexported = {n for n in names if reexport is True or (reexport is None and n in public)}

    files: dict[str, FileChange] = {}
    newline = _newline(target_text if target_text is not None else text)

    # the source: without the moved code, importing what it still uses of it
    source_after = _remove_blocks(text, blocks)
    dropped: list[str] = []
    if not path.endswith(("__init__.py", "__init__.pyi")):
        source_after, dropped = _drop_unused(
            text,
            source_after,
            path,
            module,
            keep=lambda b: b.bound in external or b.bound in all_names,
        )
    still_used = {u.name for u in undefined_names(source_after, path)} & moved_set
    for moved_name in moving:
        if moved_name not in still_used and moved_name not in reexported:
            continue
        explicit = moved_name not in still_used and moved_name not in all_names
        candidate = _candidate(target_module, moved_name, moved_name if explicit else None)
        if not _imports(source_after, path, module, candidate):
            source_after = insert_import(
                source_after, candidate, first_party=first_party, path=path, module=module
            )[0]
    dropped_all = [n for n in names if n in all_names and n not in reexported]
    if dropped_all:
        source_after = _edit_all(source_after, add=(), remove=dropped_all)
    files[path] = FileChange(path, text, source_after)

    # the files that import the source (the target among them)
    for rel in sorted(texts):
        if rel == target:
            continue
        after = _rewrite_for_move(
            texts[rel],
            rel,
            modules[rel],
            source=module,
            moved=moved_set,
            target=target_module,
            is_target=False,
            reexported=reexported,
            first_party=first_party,
        )
        if after != texts[rel]:
            files[rel] = FileChange(rel, texts[rel], after)

    # the target: the moved code at its end, with what it needs imported
    target_after = ""
    if target_text is not None:
        target_after = _rewrite_for_move(
            target_text,
            target,
            target_module,
            source=module,
            moved=moved_set,
            target=target_module,
            is_target=True,
            reexported=reexported,
            first_party=first_party,
        )
    else:
        future = [
            _Binding(a.asname or a.name, "__future__", a.name, a.asname, node, True)
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module == "__future__"
            for a in node.names
        ]
        carry = future + carry
    wanted = [_binding_candidate(b) for b in carry]
    wanted += [_candidate(module, n, None) for n in from_source]
    for candidate in wanted:
        if not _imports(target_after, target, target_module, candidate):
            target_after = insert_import(
                target_after, candidate, first_party=first_party, path=target, module=target_module
            )[0]
    block_lines, rewritten = _absolute_imports_in(
        text, tree, blocks, path, module, target, target_module
    )
    code = _join_blocks(block_lines, blocks, newline)
    target_after, block_line = _append(target_after, code, newline)
    for sym in python_symbols(target_after, target_module) or ():
        if sym.qualname == f"{target_module}.{name}":
            block_line = sym.start
            break
    if target_text is not None:
        listed = _all_names(_parse(target_after, target))
        if listed:
            extra = [n for n in names if not n.startswith("_") and n not in listed]
            target_after = _edit_all(target_after, add=extra, remove=())
    files[target] = FileChange(target, target_text, target_after)

    texts_after = {rel: f.after or "" for rel, f in files.items()}
    texts_before = {rel: f.before for rel, f in files.items()}
    _check_cycles(reader, texts_before, texts_after, modules, name)
    _check_result(files)

    renamed = tuple((f"{module}.{n}", f"{target_module}.{n}") for n in moving)
    intent = _intent(
        "move",
        files,
        modules,
        renamed,
        extra_added=[f"{module}.{n}" for n in moving if n in reexported],
        extra_changed=[f"{target_module}.{n}" for n in moving if n in rewritten],
    )
    if companions:
        listed_companions = ", ".join(companions)
        notes.append(
            f"{listed_companions} moved along: only the moved code used "
            f"{'it' if len(companions) == 1 else 'them'}"
        )
    if reexported:
        notes.append(
            f"{module} re-exports {', '.join(sorted(reexported))} from {target_module} for "
            "code outside the workspace"
        )
    mentions = _string_mentions(texts_after, [f"{module}.{n}" for n in moving])
    if mentions:
        notes.append(
            "mentions in strings left alone (patch targets?): "
            + ", ".join(mentions[:5])
            + (" …" if len(mentions) > 5 else "")
        )
    first = defs[name][0]
    targets = [
        Target(path, first.start, f"{module}.{name}"),
        Target(target, block_line, f"{target_module}.{name}"),
    ]
    targets += [
        Target(rel, _first_changed_line(f))
        for rel, f in sorted(files.items())
        if rel not in (path, target)
    ]
    return Draft(
        task=f"Move {module}.{name} to {target_module}",
        kind="move",
        engine=ENGINE,
        change=Change(tuple(files[rel] for rel in sorted(files))),
        intent=intent,
        targets=tuple(targets),
        symbols=tuple(f"{module}.{n}" for n in names),
        notes=tuple(notes),
        evidence={
            "source": path,
            "target": target,
            "created": target_text is None,
            "moved": moving,
            "companions": companions,
            "reexported": sorted(reexported),
            "carried_imports": [_binding_candidate(b).statement for b in carry],
            "imported_from_source": from_source,
            "removed_imports": dropped,
            "files": sorted(files),
        },
    )


def rename_module(sources: Sources, reader: IndexReader, module_path: str, new_path: str) -> Draft:
    """Rename the module file ``module_path`` to ``new_path`` and every import of it.

    In the same folder this is jedi's rename of the module (as :func:`refactor.rename`
    does from an import naming it); to another folder, the imports are rewritten as
    :func:`move_symbol` rewrites them, for every name of the module."""
    text = read_python(sources, module_path)
    if posixpath.basename(module_path) in ("__init__.py", "__init__.pyi"):
        raise EngineError(
            f"{module_path} is a package's __init__; renaming packages is not supported"
        )
    new = _check_new_path(sources, new_path)
    if new == module_path:
        raise EngineError(f"{module_path} is already called that")
    stem = posixpath.basename(new).rsplit(".", 1)[0]
    check_identifier(stem)
    old_module = python_module(sources, module_path, reader)
    new_module = _module_for(sources, reader, new, exists=False)
    if posixpath.dirname(module_path) == posixpath.dirname(new):
        position = _import_position(sources, reader, module_path, old_module)
        if position is not None:
            draft = rename(sources, reader, position[0], position[1], position[2], stem)
            moved = [tuple(pair) for pair in draft.evidence.get("moved", [])]
            if (module_path, new) not in moved:
                raise EngineError(
                    f"jedi did not take {old_module.rsplit('.', 1)[-1]} in {position[0]} for the "
                    f"module {module_path}; nothing was changed"
                )
            return replace(
                draft,
                task=f"Rename module {old_module} to {new_module}",
                kind="rename_module",
                intent=replace(draft.intent, kind="rename_module"),
                targets=(Target(new, 0, None), *draft.targets[1:]),
            )
    return _move_module(sources, reader, module_path, text, new, old_module, new_module)


# -- finding what moves -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Def:
    """One top-level definition of a name."""

    name: str
    kind: str  # function | class | variable | shared (on a line with another statement)
    first: int  # 0-based first line, the comments right above it included
    start: int  # 0-based first line of the statement (decorators included)
    end: int  # 0-based last line


def _find_top(sources: Sources, reader: IndexReader, qualname: str) -> tuple[str, str, str]:
    """(path, module, name) of the top-level Python symbol ``qualname``."""
    found = [s for s in reader.lookup(qualname) if s.language == "python"]
    exact = [s for s in found if s.qualname == qualname]
    found = exact or found
    if not found:
        raise EngineError(f"no Python symbol named {qualname} in the index")
    places = sorted({(s.qualname, s.path) for s in found})
    if len(places) > 1:
        listed = ", ".join(f"{q} ({p})" for q, p in places[:8])
        raise EngineError(f"{qualname} is ambiguous: {listed}; give the full name")
    sym = found[0]
    module = python_module(sources, sym.path, reader)
    if sym.parent_id is not None or sym.qualname != f"{module}.{sym.name}":
        raise EngineError(
            f"{sym.qualname} is not a top-level definition of {sym.path} (a method or a "
            "nested definition); only top-level functions, classes and variables can be moved"
        )
    return sym.path, module, sym.name


def _qualified(name: str, module: str) -> str:
    return name if "." in name else f"{module}.{name}"


def _top_defs(tree: ast.Module, lines: list[str]) -> dict[str, list[_Def]]:
    """The definitions directly in the module body, by name, in source order."""
    body = tree.body
    starts = [_start(node) for node in body]
    ends = [(node.end_lineno or node.lineno) - 1 for node in body]
    out: dict[str, list[_Def]] = {}
    for index, node in enumerate(body):
        name, kind = _defined(node)
        if name is None:
            continue
        start, end = starts[index], ends[index]
        previous = ends[index - 1] if index else -1
        shared = previous == start or (index + 1 < len(body) and starts[index + 1] == end)
        first = start
        while first - 1 > previous and lines[first - 1].strip().startswith("#"):
            first -= 1
        out.setdefault(name, []).append(_Def(name, "shared" if shared else kind, first, start, end))
    return out


def _start(node: ast.stmt) -> int:
    decorators = node.decorator_list if isinstance(node, _DEFINITIONS) else []
    return min([node.lineno, *(d.lineno for d in decorators)]) - 1


def _defined(node: ast.stmt) -> tuple[str | None, str]:
    if isinstance(node, ast.ClassDef):
        return node.name, "class"
    if isinstance(node, _FUNCTIONS):
        return node.name, "function"
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name):
            return target.id, "variable"
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, "variable"
    return None, ""


def _source_order(defs: dict[str, list[_Def]]) -> list[str]:
    return sorted(defs, key=lambda n: defs[n][0].start)


def _check_movable(tree: ast.Module, defs: dict[str, list[_Def]], name: str, path: str) -> None:
    found = defs.get(name)
    if not found:
        raise EngineError(
            f"{name} is not defined directly in {path} (it may be inside an if or try); "
            "move it by hand"
        )
    if any(d.kind == "shared" for d in found):
        raise EngineError(f"{name} shares a line with another statement in {path}; split it first")
    if _bound_otherwise(tree, name):
        raise EngineError(
            f"{name} is bound more than once at the top of {path} (an import, a loop or a "
            "conditional definition); move it by hand"
        )


def _bound_otherwise(tree: ast.Module, name: str) -> bool:
    """Whether something other than its top-level definitions binds ``name`` in the
    module's scope."""
    for node in tree.body:
        if _defined(node)[0] == name:
            continue
        if name in bound_names(ast.Module(body=[node], type_ignores=[])):
            return True
    return False


def _companions(
    text: str,
    tree: ast.Module,
    defs: dict[str, list[_Def]],
    moving: set[str],
    path: str,
    external: dict[str, set[str]],
    all_names: list[str],
) -> list[str]:
    """Top-level definitions of the source that only the moved code uses (no other code
    of the module, no other file, not ``__all__``): they move with it."""
    lines = source_lines(text)
    moved = set(moving)
    while True:
        code = "".join(_block_text(lines, d) for n in sorted(moved) for d in defs[n])
        needed = {u.name for u in undefined_names(code, path)} & set(defs)
        grown = False
        for candidate in sorted(needed - moved):
            if (
                candidate.startswith("__")
                or candidate in external
                or candidate in all_names
                or any(d.kind == "shared" for d in defs[candidate])
                or _bound_otherwise(tree, candidate)
            ):
                continue
            rest = _remove_blocks(text, [d for n in moved | {candidate} for d in defs[n]])
            if candidate in {u.name for u in undefined_names(rest, path)}:
                continue  # the rest of the module uses it
            moved.add(candidate)
            grown = True
        if not grown:
            break
    return [n for n in _source_order(defs) if n in moved and n not in moving]


def _block_text(lines: list[str], d: _Def) -> str:
    text = "".join(lines[d.first : d.end + 1])
    return text if text.endswith(("\n", "\r")) else text + "\n"


# -- the target -------------------------------------------------------------------------


def _check_target(sources: Sources, target: str, source: str) -> str:
    try:
        check_relpath(target)
        resolve_inside(sources.root, target)
    except EditError as exc:
        raise EngineError(f"the target {target!r} is not a path inside the workspace") from exc
    if not target.endswith(".py"):
        raise EngineError(f"the target {target} is not a Python module file (.py)")
    if target == source:
        raise EngineError(f"{target} is the module the symbol is in")
    stem = posixpath.basename(target).rsplit(".", 1)[0]
    if stem != "__init__":
        check_identifier(stem)
    folder = posixpath.dirname(target)
    if folder and not (sources.root / folder).is_dir():
        raise EngineError(f"the folder {folder} does not exist; create the package first")
    return target


def _check_new_path(sources: Sources, new_path: str) -> str:
    try:
        check_relpath(new_path)
        full = resolve_inside(sources.root, new_path)
    except EditError as exc:
        raise EngineError(f"{new_path!r} is not a path inside the workspace") from exc
    if not new_path.endswith(".py"):
        raise EngineError(f"{new_path} is not a Python module file (.py)")
    if full.exists() or _existing(sources, new_path) is not None:
        raise EngineError(f"{new_path} exists already")
    folder = posixpath.dirname(new_path)
    if folder and not (sources.root / folder).is_dir():
        raise EngineError(f"the folder {folder} does not exist; create the package first")
    return new_path


def _existing(sources: Sources, path: str) -> str | None:
    try:
        return sources.text(path)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, EditError) as exc:
        raise EngineError(f"cannot read {path}: {exc}") from exc


def _module_for(sources: Sources, reader: IndexReader, path: str, *, exists: bool) -> str:
    if exists:
        return python_module(sources, path, reader)
    found = module_name("python", sources.root, path, None)
    return found or path.rsplit(".", 1)[0].replace("/", ".")


def _check_target_names(
    tree: ast.Module,
    target: str,
    target_module: str,
    source_module: str,
    moving: Sequence[str],
    carry: Sequence[_Binding],
    from_source: Sequence[str],
) -> None:
    """EngineError when the target binds a moved name, or binds a name the moved code
    uses to something else."""
    bindings = _module_bindings(tree, target, target_module)
    bound = bound_names(tree)
    for name in moving:
        if name not in bound:
            continue
        from_src = [b for b in bindings if b.bound == name and b.module == source_module]
        others = [
            node
            for node in tree.body
            if name in bound_names(ast.Module(body=[node], type_ignores=[]))
            and not any(b.node is node for b in from_src)
        ]
        if not from_src or others:
            raise EngineError(f"{name} is already defined in {target}")
        for b in from_src:
            if b.name != name:
                raise EngineError(
                    f"{target} imports {b.name} from {source_module} as {name}; rename that first"
                )
    for binding in carry:
        if binding.bound in bound and not any(
            b.bound == binding.bound and b.module == binding.module and b.name == binding.name
            for b in bindings
        ):
            raise EngineError(
                f"the moved code uses {binding.bound} ({_binding_candidate(binding).statement}), "
                f"but {target} binds {binding.bound} to something else"
            )
    for name in from_source:
        if name in bound and not any(
            b.bound == name and b.module == source_module and b.name == name for b in bindings
        ):
            raise EngineError(
                f"the moved code uses {name} of {source_module}, but {target} binds {name} to "
                "something else"
            )


def _absolute_imports_in(
    text: str,
    tree: ast.Module,
    blocks: Sequence[_Def],
    path: str,
    module: str,
    target: str,
    target_module: str,
) -> tuple[list[str], set[str]]:
    """The lines of ``text`` with the relative imports inside ``blocks`` made absolute,
    when the target is in another package (a relative import would lead elsewhere); and
    the names of the blocks that changed so."""
    if _absolute(1, None, path, module) == _absolute(1, None, target, target_module):
        return source_lines(text), set()
    rows = {i: block.name for block in blocks for i in range(block.first, block.end + 1)}
    offsets = _line_offsets(text)
    edits: list[_Edit] = []
    changed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and node.lineno - 1 in rows:
            absolute = _absolute(node.level, node.module, path, module)
            edits.append(_from_module_edit(text, offsets, node, absolute))
            changed.add(rows[node.lineno - 1])
    return source_lines(_splice(text, edits)), changed


def _join_blocks(lines: list[str], blocks: Sequence[_Def], newline: str) -> str:
    out = ""
    previous: _Def | None = None
    for block in blocks:
        if previous is not None:
            both_variables = previous.kind == block.kind == "variable"
            out += newline * (1 if both_variables else 2)
        out += re.sub(r"\r\n|\r|\n", newline, _block_text(lines, block))
        previous = block
    return out


def _append(text: str, code: str, newline: str) -> tuple[str, int]:
    """``text`` with ``code`` added after its last statement (before a closing ``if
    __name__ == "__main__":``), two blank lines apart; and the 0-based line ``code``
    starts at."""
    lines = source_lines(text)
    at = len(lines)
    try:
        body = ast.parse(text).body
    except (SyntaxError, ValueError):
        body = []
    if body and _is_main_guard(body[-1]):
        at = body[-1].lineno - 1
        while at > 0 and lines[at - 1].strip().startswith("#"):
            at -= 1
    head, tail = lines[:at], lines[at:]
    while head and not head[-1].strip():
        head.pop()
    if head and not head[-1].endswith(("\n", "\r")):
        head[-1] += newline
    previous = [n for n in body if n.lineno - 1 < at]
    simple = not (previous and isinstance(previous[-1], _DEFINITIONS)) and not re.match(
        r"(?:\s*#[^\n]*\n)*(?:@|def |async def |class )", code
    )
    before = "".join(head) + (newline * (1 if simple else 2) if head else "")
    line = len(source_lines(before))
    out = before + code
    if tail:
        out += newline * 2 + "".join(tail)
    return out, line


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


# -- removing code ----------------------------------------------------------------------


def _remove_blocks(text: str, blocks: Sequence[_Def]) -> str:
    """``text`` without the lines of ``blocks`` and the blank lines before each."""
    lines = source_lines(text)
    drop: set[int] = set()
    for block in blocks:
        drop.update(range(block.first, block.end + 1))
    for block in blocks:  # the blank lines before each go with it; those after stay
        index = block.first - 1
        while index >= 0 and index not in drop and not lines[index].strip():
            drop.add(index)
            index -= 1
    kept = [row for index, row in enumerate(lines) if index not in drop]
    while kept and not kept[-1].strip():
        kept.pop()
    out = "".join(kept)
    if out and not out.endswith(("\n", "\r")):
        out += _newline(text)
    return _collapse_blank_lines(text, out)


def _collapse_blank_lines(before: str, after: str) -> str:
    """``after`` with no run of blank lines longer than the longest of ``before`` (at
    least two)."""

    def longest(text: str) -> int:
        best = run = 0
        for row in source_lines(text):
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


# -- imports ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Binding:
    """A name an import binds at module level."""

    bound: str
    module: str  # absolute: `import a.b` → a.b; `from a import b` → a
    name: str | None  # the imported name of a `from` import; None for `import`
    alias: str | None
    node: ast.Import | ast.ImportFrom
    direct: bool  # directly in the module body (not inside an if or try)


def _absolute(level: int, module: str | None, path: str, file_module: str) -> str:
    """The module a ``from`` import names, relative ones resolved from the importer."""
    if not level:
        return module or ""
    base = file_module.split(".") if file_module else []
    if not path.endswith(("__init__.py", "__init__.pyi")):
        base = base[:-1]
    if level > 1:
        base = base[: max(0, len(base) - (level - 1))]
    return ".".join([*base, module] if module else base)


def _module_imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Import statements that run when the module is imported (not inside functions or
    classes): (statement, whether it is directly in the module body)."""
    stack: list[tuple[ast.stmt, bool]] = [(node, True) for node in reversed(tree.body)]
    while stack:
        node, direct = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, direct
        elif not isinstance(node, _DEFINITIONS):
            for body in _bodies(node):
                stack.extend((child, False) for child in reversed(body))


def _bodies(node: ast.stmt) -> list[list[ast.stmt]]:
    out: list[list[ast.stmt]] = []
    for field in ("body", "orelse", "finalbody"):
        value = getattr(node, field, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            out.append(value)
    if isinstance(node, (ast.Try, ast.TryStar)):
        out += [h.body for h in node.handlers]
    if isinstance(node, ast.Match):
        out += [c.body for c in node.cases]
    return out


def _module_bindings(tree: ast.Module, path: str, file_module: str) -> list[_Binding]:
    out: list[_Binding] = []
    for node, direct in _module_imports(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append(
                    _Binding(a.asname or a.name.split(".")[0], a.name, None, a.asname, node, direct)
                )
            continue
        absolute = _absolute(node.level, node.module, path, file_module)
        for a in node.names:
            if a.name != "*":
                out.append(_Binding(a.asname or a.name, absolute, a.name, a.asname, node, direct))
    return out


def _statement(module: str, name: str | None, alias: str | None) -> str:
    tail = f" as {alias}" if alias else ""
    return f"import {module}{tail}" if name is None else f"from {module} import {name}{tail}"


def _candidate(module: str, name: str | None, alias: str | None) -> ImportCandidate:
    return ImportCandidate(
        module=module,
        name=name,
        statement=_statement(module, name, alias),
        score=0.0,
        why=_WHY,
        alias=alias,
    )


def _binding_candidate(binding: _Binding) -> ImportCandidate:
    return _candidate(binding.module, binding.name, binding.alias)


def _imports(text: str, path: str, file_module: str, candidate: ImportCandidate) -> bool:
    """Whether ``text`` already binds what ``candidate`` would, the same way."""
    bound = candidate.alias or (
        candidate.name if candidate.name is not None else candidate.module.split(".")[0]
    )
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    for b in _module_bindings(tree, path, file_module):
        if b.bound == bound and b.module == candidate.module and b.name == candidate.name:
            return True
    return False


def _first_party(reader: IndexReader) -> frozenset[str]:
    return frozenset(
        str(m).split(".")[0]
        for (m,) in reader.conn.execute(
            "SELECT DISTINCT module FROM files WHERE language = 'python' AND module IS NOT NULL"
        )
    )


def _importer_paths(reader: IndexReader, path: str, module: str) -> list[str]:
    """Python files the index says import the module of ``path`` (not it itself)."""
    rows = reader.conn.execute(
        "SELECT DISTINCT f.path FROM imports i JOIN files f ON f.id = i.file_id "
        "WHERE f.language = 'python' AND f.path != ? AND (i.source = ? OR i.target_file_id = "
        "(SELECT id FROM files WHERE path = ?)) ORDER BY f.path",
        (path, module, path),
    ).fetchall()
    out: list[str] = []
    for (found,) in rows:
        rel = str(found)
        if rel.endswith((".py", ".pyi")) and not any(
            part in SKIPPED_DIRS for part in rel.split("/")[:-1]
        ):
            out.append(rel)
    return out


def _module_refs(tree: ast.Module, path: str, file_module: str, module: str) -> dict[str, bool]:
    """The dotted names that reach the module ``module`` as an object in this file
    (``import a.b.m`` → ``a.b.m``; ``import a.b.m as x`` or ``from a.b import m as x`` →
    ``x``), each with whether it is an ``import`` of the full dotted path."""
    out: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == module:
                    out[a.asname or a.name] = a.asname is None
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.level, node.module, path, file_module)
            for a in node.names:
                if a.name != "*" and (f"{base}.{a.name}" if base else a.name) == module:
                    out[a.asname or a.name] = False
    return out


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _external_uses(
    texts: dict[str, str], modules: dict[str, str], module: str, *, exclude: str
) -> dict[str, set[str]]:
    """Names of ``module`` other files use: imported from it by name, reached as
    ``module.name``, or (for a ``*`` import) mentioned at all; name → files."""
    out: dict[str, set[str]] = {}
    for rel, text in texts.items():
        if rel == exclude:
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        file_module = modules.get(rel, "")
        prefixes = _module_refs(tree, rel, file_module, module)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if _absolute(node.level, node.module, rel, file_module) != module:
                    continue
                for a in node.names:
                    if a.name == "*":
                        for word in set(re.findall(r"[^\W\d]\w*", text)):
                            out.setdefault(word, set()).add(rel)
                    else:
                        out.setdefault(a.name, set()).add(rel)
            elif isinstance(node, ast.Attribute) and _dotted(node.value) in prefixes:
                out.setdefault(node.attr, set()).add(rel)
    return out


def _unused_imports(tree: ast.Module, path: str) -> dict[tuple[str, str], bool]:
    """Every module-level import binding pyflakes tracks, keyed by (bound name, full
    imported name), with whether it is unused."""
    from pyflakes import checker

    report: Any = checker.Checker(tree, filename=path, withDoctest=False)
    out: dict[tuple[str, str], bool] = {}
    skipped = (checker.StarImportation, checker.SubmoduleImportation, checker.FutureImportation)
    for scope in report.deadScopes:
        if not isinstance(scope, checker.ModuleScope):
            continue
        for binding in scope.values():
            if isinstance(binding, checker.Importation) and not isinstance(binding, skipped):
                out[(str(binding.name), str(binding.fullName))] = not binding.used
    return out


def _flakes_key(binding: _Binding, file_module: str) -> tuple[str, str]:
    """:func:`_unused_imports`' key of a binding (pyflakes writes relative modules
    with their dots)."""
    node = binding.node
    if isinstance(node, ast.Import):
        return binding.bound, binding.module
    module = "." * node.level + (node.module or "")
    full = f"{module}{binding.name}" if module.endswith(".") else f"{module}.{binding.name}"
    return binding.bound, full


def _drop_unused(
    before: str,
    after: str,
    path: str,
    file_module: str,
    *,
    keep: Callable[[_Binding], bool] = lambda _b: False,
) -> tuple[str, list[str]]:
    """``after`` without the module-level imports it no longer uses that ``before``
    used (unless ``keep`` says otherwise); and the statements of the dropped names."""
    try:
        old_tree, new_tree = ast.parse(before), ast.parse(after)
    except (SyntaxError, ValueError):
        return after, []
    old = _unused_imports(old_tree, path)
    new = _unused_imports(new_tree, path)
    fresh = {key for key, unused in new.items() if unused and old.get(key) is False}
    if not fresh:
        return after, []
    drop: dict[int, set[str]] = {}
    nodes: dict[int, ast.Import | ast.ImportFrom] = {}
    dropped: list[str] = []
    for binding in _module_bindings(new_tree, path, file_module):
        if not binding.direct or _flakes_key(binding, file_module) not in fresh or keep(binding):
            continue
        drop.setdefault(id(binding.node), set()).add(binding.bound)
        nodes[id(binding.node)] = binding.node
        dropped.append(_binding_candidate(binding).statement)
    edits = []
    parents = _parents(new_tree)
    for key, node in nodes.items():
        kept = [a for a in node.names if _alias_bound(node, a) not in drop[key]]
        edits.append(_replace_statement(after, node, parents, kept, None))
    return _splice(after, edits), dropped


def _alias_bound(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> str:
    if isinstance(node, ast.Import):
        return alias.asname or alias.name.split(".")[0]
    return alias.asname or alias.name


# -- editing statements -----------------------------------------------------------------

_Edit = tuple[int, int, str]  # (start byte, stop byte, replacement)


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for row in source_lines(text):
        offsets.append(offsets[-1] + len(row.encode("utf-8")))
    return offsets


def _span(offsets: list[int], node: ast.stmt | ast.expr) -> tuple[int, int]:
    end_line = node.end_lineno or node.lineno
    return offsets[node.lineno - 1] + node.col_offset, offsets[end_line - 1] + (
        node.end_col_offset or 0
    )


def _splice(text: str, edits: Sequence[_Edit]) -> str:
    data = text.encode("utf-8")
    last = len(data) + 1
    for start, stop, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        if stop > last:
            raise EngineError("internal error: overlapping edits; nothing was changed")
        data = data[:start] + new.encode("utf-8") + data[stop:]
        last = start
    return data.decode("utf-8")


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _render(node: ast.Import | ast.ImportFrom, aliases: Sequence[ast.alias], text: str) -> str:
    """The statement ``node`` with only ``aliases``, laid out as it was (one line, or
    one name per line in parentheses when it was or when one line is too long)."""
    offsets = _line_offsets(text)
    start, stop = _span(offsets, node)
    original = text.encode("utf-8")[start:stop].decode("utf-8")
    items = [f"{a.name} as {a.asname}" if a.asname else a.name for a in aliases]
    if isinstance(node, ast.Import):
        return f"import {', '.join(items)}"
    module = "." * node.level + (node.module or "")
    lines = source_lines(text)
    first = lines[node.lineno - 1]
    indent = first[: len(first) - len(first.lstrip())]
    single = f"from {module} import {', '.join(items)}"
    if "(" not in original and len(indent) + len(single) <= LINE_LENGTH:
        return single
    newline = _newline(text)
    inner = indent + "    "
    body = "".join(f"{inner}{item},{newline}" for item in items)
    return f"from {module} import ({newline}{body}{indent})"


def _replace_statement(
    text: str,
    node: ast.Import | ast.ImportFrom,
    parents: dict[int, ast.AST],
    kept: Sequence[ast.alias],
    extra: str | None,
) -> _Edit:
    """The edit that leaves ``node`` importing only ``kept``, followed by the statement
    ``extra`` (at the same indentation); removed whole when nothing is left."""
    offsets = _line_offsets(text)
    lines = source_lines(text)
    start, stop = _span(offsets, node)
    first = lines[node.lineno - 1]
    raw_first = first.encode("utf-8")
    prefix = raw_first[: node.col_offset].decode("utf-8", "replace")
    alone = not prefix.strip()
    indent = prefix if alone else ""
    newline = _newline(text)
    pieces: list[str] = []
    if kept:
        pieces.append(_render(node, kept, text))
    if extra:
        pieces.append(extra)
    if pieces:
        joiner = newline + indent if alone else "; "
        return start, stop, joiner.join(pieces)
    parent = parents.get(id(node))
    siblings = _bodies(parent) if isinstance(parent, ast.stmt) else []
    if isinstance(parent, ast.Module):
        siblings = [parent.body]
    only = any(len(body) == 1 and body[0] is node for body in siblings)
    last_line = lines[(node.end_lineno or node.lineno) - 1].encode("utf-8")
    suffix = last_line[node.end_col_offset or 0 :].decode("utf-8", "replace").strip()
    if only or not alone or (suffix and not suffix.startswith("#")):
        return start, stop, "pass"
    first_line, after = node.lineno - 1, node.end_lineno or node.lineno
    # a statement between blank lines (or opening the file) takes a blank line with it
    if first_line == 0 or not lines[first_line - 1].strip():
        while after < len(lines) and not lines[after].strip():
            after += 1
            if first_line:
                break
    return offsets[first_line], offsets[after], ""


def _head(tree: ast.Module) -> set[int]:
    """The ids of the import statements that open the module (after its docstring)."""
    body = list(tree.body)
    if body and _is_docstring(body[0]):
        body = body[1:]
    out: set[int] = set()
    for node in body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            break
        out.add(id(node))
    return out


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _module_reference(
    tree: ast.Module,
    path: str,
    file_module: str,
    module: str,
    *,
    full_import: bool,
) -> tuple[str, ImportCandidate | None]:
    """How code in this file can name the module ``module``: an existing binding, or a
    new import (``import a.b.m`` when ``full_import``, else ``from a.b import m``)."""
    existing = _module_refs(tree, path, file_module, module)
    if existing:
        return next(iter(existing)), None
    bound = bound_names(tree)
    parent, _, last = module.rpartition(".")
    if not full_import and parent and last not in bound:
        return last, _candidate(parent, last, None)
    top = module.split(".", maxsplit=1)[0]
    if top in bound and not any(
        b.name is None and b.alias is None and b.bound == top
        for b in _module_bindings(tree, path, file_module)
    ):
        raise EngineError(f"{path} binds {top} to something else; cannot import {module} there")
    return module, _candidate(module, None, None)


def _rewrite_for_move(
    text: str,
    path: str,
    file_module: str,
    *,
    source: str,
    moved: set[str],
    target: str,
    is_target: bool,
    reexported: Collection[str],
    first_party: frozenset[str],
) -> str:
    """A file importing ``source``, importing the ``moved`` names from ``target``
    instead (in ``target`` itself: using its own definitions)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text
    original = text
    wanted: list[ImportCandidate] = []
    # 1. `source.name` through an import of the module
    prefixes = _module_refs(tree, path, file_module, source)
    hits = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in moved
        and _dotted(node.value) in prefixes
    ]
    if hits:
        offsets = _line_offsets(text)
        edits: list[_Edit] = []
        if is_target:
            edits = [(*_span(offsets, node), node.attr) for node in hits]
        else:
            full = any(prefixes[_dotted(node.value) or ""] for node in hits)
            ref, candidate = _module_reference(tree, path, file_module, target, full_import=full)
            edits = [(*_span(offsets, node.value), ref) for node in hits]
            if candidate is not None:
                wanted.append(candidate)
        text = _splice(text, edits)
        tree = ast.parse(text)
    # 2. `from source import name`
    parents = _parents(tree)
    head = _head(tree)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if _absolute(node.level, node.module, path, file_module) != source:
            continue
        if node.names[0].name == "*":
            if not is_target:
                for name in sorted(moved - set(reexported)):
                    if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text):
                        wanted.append(_candidate(target, name, None))
            continue
        hit = [a for a in node.names if a.name in moved]
        if not hit:
            continue
        kept = [a for a in node.names if a.name not in moved]
        if is_target:
            for a in hit:
                if a.asname and a.asname != a.name:
                    raise EngineError(
                        f"{path} imports {a.name} as {a.asname}; rename its uses there first"
                    )
            edits.append(_replace_statement(text, node, parents, kept, None))
        elif id(node) in head:
            edits.append(_replace_statement(text, node, parents, kept, None))
            wanted += [_candidate(target, a.name, a.asname) for a in hit]
        else:
            extra = _statement(target, ", ".join(_alias_text(a) for a in hit), None)
            edits.append(_replace_statement(text, node, parents, kept, extra))
    text = _splice(text, edits)
    for candidate in wanted:
        if not _imports(text, path, file_module, candidate):
            text = insert_import(
                text, candidate, first_party=first_party, path=path, module=file_module
            )[0]
    # 3. an import of the source module that only reached the moved names
    text, _ = _drop_unused(
        original,
        text,
        path,
        file_module,
        keep=lambda b: (f"{b.module}.{b.name}" if b.name else b.module) != source,
    )
    if hits and prefixes.get(source):
        text = _drop_plain_import(text, source)
    return text


def _drop_plain_import(text: str, module: str) -> str:
    """``text`` without ``import a.b.module`` (module level) when no code names
    ``a.b.module`` any more (pyflakes does not tell for dotted imports)."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)) and _dotted(node) == module:
            return text
    parents = _parents(tree)
    edits: list[_Edit] = []
    for node in tree.body:
        if isinstance(node, ast.Import) and any(
            a.name == module and a.asname is None for a in node.names
        ):
            kept = [a for a in node.names if not (a.name == module and a.asname is None)]
            edits.append(_replace_statement(text, node, parents, kept, None))
    return _splice(text, edits)


def _alias_text(alias: ast.alias) -> str:
    return f"{alias.name} as {alias.asname}" if alias.asname else alias.name


# -- __all__ ----------------------------------------------------------------------------


def _all_node(tree: ast.Module) -> ast.List | ast.Tuple | None:
    for node in tree.body:
        value: ast.expr | None = None
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ) or (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "__all__"
        ):
            value = node.value
        if isinstance(value, (ast.List, ast.Tuple)):
            return value
    return None


def _all_names(tree: ast.Module) -> list[str]:
    node = _all_node(tree)
    if node is None:
        return []
    return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def _edit_all(text: str, *, add: Sequence[str], remove: Sequence[str]) -> str:
    """``text`` with the string entries ``remove`` taken out of its ``__all__`` literal
    and ``add`` appended (one line, or one entry per line as it was written)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text
    node = _all_node(tree)
    if node is None or (not add and not remove):
        return text
    offsets = _line_offsets(text)
    start, stop = _span(offsets, node)
    data = text.encode("utf-8")
    pieces: list[str] = []
    quote = '"'
    for element in node.elts:
        if isinstance(element, ast.Constant) and element.value in remove:
            continue
        a, b = _span(offsets, element)
        piece = data[a:b].decode("utf-8")
        if isinstance(element, ast.Constant) and isinstance(element.value, str):
            quote = piece[-1]
        pieces.append(piece)
    pieces += [f"{quote}{name}{quote}" for name in add]
    open_, close = ("[", "]") if isinstance(node, ast.List) else ("(", ")")
    lines = source_lines(text)
    if (node.end_lineno or node.lineno) > node.lineno and pieces:
        newline = _newline(text)
        first = lines[node.lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        body = "".join(f"{indent}    {p},{newline}" for p in pieces)
        new = f"{open_}{newline}{body}{indent}{close}"
    else:
        trailing = "," if isinstance(node, ast.Tuple) and len(pieces) == 1 else ""
        new = f"{open_}{', '.join(pieces)}{trailing}{close}"
    return _splice(text, [(start, stop, new)])


# -- checks -----------------------------------------------------------------------------


def _runtime_imports(text: str | None, path: str, file_module: str) -> set[str]:
    """The modules a text imports when it runs (not in functions, not under
    ``if TYPE_CHECKING:``), each ``from a import b`` as both ``a`` and ``a.b``."""
    if text is None:
        return set()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return set()
    out: set[str] = set()
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for child in node.body for n in ast.walk(child))
    for node, _ in _module_imports(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        else:
            base = _absolute(node.level, node.module, path, file_module)
            out.add(base)
            out.update(f"{base}.{a.name}" if base else a.name for a in node.names)
    return out


def _check_cycles(
    reader: IndexReader,
    before: dict[str, str | None],
    after: dict[str, str],
    modules: dict[str, str],
    name: str,
) -> None:
    """EngineError when the change adds an import that closes a cycle: a file now
    importing a module that (through the change's files and the index's) imports it."""
    paths: dict[str, str] = {
        str(m): str(p)
        for m, p in reader.conn.execute(
            "SELECT module, path FROM files WHERE language = 'python' AND module IS NOT NULL"
        )
    }
    for rel, module in modules.items():
        paths[module] = rel

    def resolve(imported: set[str], own: str) -> set[str]:
        return {paths[m] for m in imported if m in paths and paths[m] != own}

    known: dict[str, set[str]] = {}

    def edges(rel: str) -> set[str]:
        if rel not in known:
            if rel in after:
                found = resolve(_runtime_imports(after[rel], rel, modules.get(rel, "")), rel)
            else:
                rows = reader.conn.execute(
                    "SELECT DISTINCT t.path FROM imports i JOIN files f ON f.id = i.file_id "
                    "JOIN files t ON t.id = i.target_file_id WHERE f.path = ?",
                    (rel,),
                ).fetchall()
                found = {str(r[0]) for r in rows if str(r[0]) != rel}
            known[rel] = found
        return known[rel]

    def chain(start: str, goal: str) -> list[str] | None:
        previous: dict[str, str | None] = {start: None}
        frontier = [start]
        while frontier:
            grown: list[str] = []
            for node in frontier:
                for nxt in sorted(edges(node)):
                    if nxt in previous:
                        continue
                    previous[nxt] = node
                    if nxt == goal:
                        out = [nxt]
                        back = previous[nxt]
                        while back is not None:
                            out.append(back)
                            back = previous[back]
                        return list(reversed(out))
                    grown.append(nxt)
            frontier = grown
        return None

    for rel in sorted(after):
        own = modules.get(rel, "")
        old = resolve(_runtime_imports(before.get(rel), rel, own), rel)
        for new in sorted(edges(rel) - old):
            found = chain(new, rel)
            if found is not None:
                cycle = " → ".join([rel, *found])
                raise EngineError(
                    f"moving {name} would create a circular import ({cycle}); move the names "
                    "it uses with it (together), or keep it where it is"
                )


def _check_result(files: dict[str, FileChange]) -> None:
    """EngineError when a changed file would not parse or would use a name it does not
    define that it did not use before."""
    for rel, change in files.items():
        if change.after is None:
            continue
        target = change.target
        try:
            ast.parse(change.after, filename=target)
        except (SyntaxError, ValueError) as exc:
            raise EngineError(
                f"the move would leave {target} unparsable ({exc}); nothing was changed"
            ) from exc
        known = {u.name for u in undefined_names(change.before or "", rel)}
        fresh = [u for u in undefined_names(change.after, target) if u.name not in known]
        if fresh:
            listed = ", ".join(f"{u.name} (line {u.line + 1})" for u in fresh[:5])
            raise EngineError(
                f"the move would leave undefined names in {target}: {listed}; nothing was changed"
            )


def _module_code(text: str | None, module: str) -> str:
    """A module's code without its top-level definitions and its imports (what the
    symbols check compares as the module's own code), normalized."""
    if text is None:
        return ""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text
    holes: set[int] = set()
    for sym in python_symbols(text, module) or ():
        if sym.qualname == f"{module}.{sym.name}":
            holes.update(range(sym.start, sym.end + 1))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            holes.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    return "\n".join(
        row.rstrip()
        for index, row in enumerate(source_lines(text))
        if index not in holes and row.strip()
    )


def _intent(
    kind: str,
    files: dict[str, FileChange],
    modules: dict[str, str],
    renamed: tuple[tuple[str, str], ...],
    *,
    extra_added: Sequence[str] = (),
    extra_changed: Sequence[str] = (),
) -> Intent:
    """The intent of a change that moves the ``renamed`` symbols: those pairs, and the
    other symbol and module-code differences of its files."""
    added: list[str] = []
    removed: list[str] = []
    changed: list[str] = []
    for rel, change in files.items():
        module = modules.get(rel) or rel
        after_module = modules.get(change.target, module)
        delta_before = change.before
        if change.new_path is not None:  # a moved module: compare under its new name
            delta_before = None
        if delta_before is None and change.new_path is not None:
            continue
        delta = symbol_delta(delta_before, change.after, after_module)
        added += delta.added
        removed += delta.removed
        changed += delta.changed
        if change.before is not None and _module_code(change.before, module) != _module_code(
            change.after, after_module
        ):
            changed.append(module)
    olds = [old for old, _ in renamed]
    news = [new for _, new in renamed]

    def mapped(qualname: str, names: Sequence[str]) -> bool:
        return any(qualname == n or qualname.startswith(n + ".") for n in names)

    return Intent(
        kind=kind,
        renamed=renamed,
        added=_unique([*(a for a in added if not mapped(a, news)), *extra_added]),
        removed=_unique(r for r in removed if not mapped(r, olds)),
        changed=_unique([*changed, *extra_changed]),
    )


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _string_mentions(texts: dict[str, str], dotted: Sequence[str]) -> list[str]:
    out: list[str] = []
    if not dotted:
        return out
    pattern = re.compile("|".join(rf"['\"]{re.escape(d)}['\"]" for d in dotted))
    for rel in sorted(texts):
        for index, row in enumerate(source_lines(texts[rel])):
            if pattern.search(row):
                out.append(f"{rel}:{index + 1}")
    return out


def _first_changed_line(change: FileChange) -> int:
    edits = change.text_edits()
    return edits[0].start[0] if edits else 0


def _parse(text: str, path: str) -> ast.Module:
    try:
        return ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as exc:
        raise EngineError(f"{path} does not parse ({exc}); fix its syntax first") from exc


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


# -- moving a module --------------------------------------------------------------------


def _import_position(
    sources: Sources, reader: IndexReader, path: str, module: str
) -> tuple[str, int, int] | None:
    """(file, 0-based line, column) of the module's own name in an import of it, where
    jedi's rename can start from."""
    last = module.rsplit(".", 1)[-1]
    pattern = re.compile(rf"(?<![\w]){re.escape(last)}(?!\w)")
    rows = reader.conn.execute(
        "SELECT f.path, i.line FROM imports i JOIN files f ON f.id = i.file_id "
        "WHERE f.path != ? AND i.target_file_id = (SELECT id FROM files WHERE path = ?) "
        "ORDER BY f.path, i.line",
        (path, path),
    ).fetchall()
    for rel, line in rows:
        try:
            text = sources.text(str(rel))
        except (OSError, UnicodeDecodeError, EditError):
            continue
        lines = source_lines(text)
        if not 0 <= int(line) < len(lines):
            continue
        row = lines[int(line)]
        stripped = row.lstrip()
        if not stripped.startswith(("from ", "import ")):
            continue
        match = pattern.search(row)
        if match is not None:
            return str(rel), int(line), match.start()
    return None


def _move_module(
    sources: Sources,
    reader: IndexReader,
    path: str,
    text: str,
    new: str,
    old_module: str,
    new_module: str,
) -> Draft:
    first_party = _first_party(reader) | {new_module.split(".", maxsplit=1)[0]}
    tree = _parse(text, path)
    # relative imports of the moved file, when its package changes: made absolute
    edits: list[_Edit] = []
    if old_module.rpartition(".")[0] != new_module.rpartition(".")[0]:
        offsets = _line_offsets(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                absolute = _absolute(node.level, node.module, path, old_module)
                edits.append(_from_module_edit(text, offsets, node, absolute))
    files: dict[str, FileChange] = {path: FileChange(path, text, _splice(text, edits), new)}
    modules = {path: old_module, new: new_module}
    notes: list[str] = []
    for rel in _importer_paths(reader, path, old_module):
        try:
            before = sources.text(rel)
        except (OSError, UnicodeDecodeError, EditError):
            notes.append(f"{rel} imports {old_module} but could not be read; check it by hand")
            continue
        modules[rel] = python_module(sources, rel, reader)
        after = _rewrite_for_rename(before, rel, modules[rel], old_module, new_module, first_party)
        if after != before:
            files[rel] = FileChange(rel, before, after)
    _check_result(files)
    renamed = tuple(
        dict.fromkeys(
            (s.qualname, new_module + s.qualname[len(old_module) :])
            for s in python_symbols(text, old_module) or ()
        )
    )
    intent = _intent("rename_module", files, modules, renamed)
    mentions = _string_mentions({rel: f.after or "" for rel, f in files.items()}, [old_module])
    if mentions:
        notes.append("mentions in strings left alone: " + ", ".join(mentions[:5]))
    targets = [Target(new, 0, None)]
    targets += [
        Target(rel, _first_changed_line(f)) for rel, f in sorted(files.items()) if rel != path
    ]
    return Draft(
        task=f"Rename module {old_module} to {new_module}",
        kind="rename_module",
        engine=ENGINE,
        change=Change(tuple(files[rel] for rel in sorted(files))),
        intent=intent,
        targets=tuple(targets),
        symbols=tuple(old for old, _ in renamed),
        notes=tuple(notes),
        evidence={
            "moved": [[path, new]],
            "files": sorted(files),
            "modules": [old_module, new_module],
        },
    )


_FROM = re.compile(r"^from\s+([.\w]+(?:\s*\.\s*\w+)*|\.+)\s+import\b")


def _from_module_edit(text: str, offsets: list[int], node: ast.ImportFrom, module: str) -> _Edit:
    """The edit that makes ``node`` import from ``module`` (its names as written)."""
    start, stop = _span(offsets, node)
    segment = text.encode("utf-8")[start:stop].decode("utf-8")
    match = _FROM.match(segment)
    if match is None:  # pragma: no cover - every from-import starts this way
        raise EngineError(f"cannot read the import at line {node.lineno}")
    new = f"from {module} import" + segment[match.end() :]
    return start, stop, new


def _rewrite_for_rename(
    text: str,
    path: str,
    file_module: str,
    old: str,
    new: str,
    first_party: frozenset[str],
) -> str:
    """A file importing the module ``old``, importing ``new`` instead."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return text
    offsets = _line_offsets(text)
    edits: list[_Edit] = []
    # 1. `a.b.old.name` through a plain `import a.b.old`
    plain = any(
        isinstance(node, ast.Import) and any(a.name == old and a.asname is None for a in node.names)
        for node in ast.walk(tree)
    )
    if plain:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Attribute, ast.Name)) and _dotted(node) == old:
                if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                    continue
                edits.append((*_span(offsets, node), new))
    # 2. the import statements
    parents = _parents(tree)
    head = _head(tree)
    wanted: list[ImportCandidate] = []
    dotted = re.compile(rf"(?<![\w.]){re.escape(old)}(?![\w.])")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name == old for a in node.names):
                start, stop = _span(offsets, node)
                segment = text.encode("utf-8")[start:stop].decode("utf-8")
                edits.append((start, stop, dotted.sub(new, segment)))
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        base = _absolute(node.level, node.module, path, file_module)
        if base == old:
            edits.append(_from_module_edit(text, offsets, node, _relative_or(node, old, new)))
            continue
        hit = [
            a
            for a in node.names
            if a.name != "*" and (f"{base}.{a.name}" if base else a.name) == old
        ]
        if not hit:
            continue
        kept = [a for a in node.names if a not in hit]
        parent, _, last = new.rpartition(".")
        made: list[ImportCandidate] = []
        for a in hit:
            bound = a.asname or a.name
            alias = None if bound == last else bound
            made.append(_candidate(parent, last, alias) if parent else _candidate(new, None, alias))
        if id(node) in head:
            edits.append(_replace_statement(text, node, parents, kept, None))
            wanted += made
        else:
            extra = "; ".join(c.statement for c in made)
            edits.append(_replace_statement(text, node, parents, kept, extra))
    text = _splice(text, edits)
    for candidate in wanted:
        if not _imports(text, path, file_module, candidate):
            text = insert_import(
                text, candidate, first_party=first_party, path=path, module=file_module
            )[0]
    return text


def _relative_or(node: ast.ImportFrom, old: str, new: str) -> str:
    """``new`` as the import ``node`` names ``old``: relative when it was and the
    module stays in its package, else absolute."""
    if node.level and old.rpartition(".")[0] == new.rpartition(".")[0]:
        written = "." * node.level + (node.module or "")
        return written.rsplit(".", 1)[0] + "." + new.rpartition(".")[2] if node.module else written
    return new
