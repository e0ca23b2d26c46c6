"""Cross-file resolution: where each reference leads, and how sure we are.

Every reference gets a resolution that says how it was decided, never a silent guess:

- ``local``: a definition in the same file (enclosing scopes first, then top level);
- ``self``: a method of the enclosing class through ``self``/``cls``/``this``;
- ``import``: followed through the file's imports (and re-exports) to a definition;
- ``unique``: the only definition of that name in the workspace;
- ``ambiguous``: several definitions could be meant; ``candidates`` says how many;
- ``external``: the name comes from a package outside the workspace (``target_module``);
- ``unresolved``: nothing in the workspace defines it (builtins, dynamic attributes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from hexad.core.db import Connection
from hexad.perception.language import LanguageRegistry, default_registry
from hexad.perception.modules import ImportTarget, ModuleMap

log = logging.getLogger(__name__)

CALLABLE_KINDS = frozenset(
    {"function", "method", "class", "constructor", "macro", "struct", "record", "enum", "interface"}
)
TYPE_KINDS = frozenset({"class", "interface", "struct", "trait", "enum", "type", "record"})
_MAX_HOPS = 4
_LITERAL_STARTS = frozenset("\"'`[{(")


@dataclass(slots=True)
class _Binding:
    module: str | None
    name: str | None
    external: str | None
    stdlib: bool


@dataclass(slots=True)
class _FileInfo:
    path: str
    language: str | None
    module: str | None
    bindings: dict[str, _Binding] = field(default_factory=dict)
    wildcards: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Resolution:
    kind: str
    target: int | None = None
    module: str | None = None
    candidates: int = 0


class Resolver:
    """A snapshot of the index's definitions and imports, answering resolution questions."""

    def __init__(self, conn: Connection, registry: LanguageRegistry | None = None) -> None:
        self.conn = conn
        self.registry = registry or default_registry()
        self._bindings_loaded = False
        self.modules = ModuleMap()
        self.files: dict[int, _FileInfo] = {}
        for fid, path, language, module in conn.execute(
            "SELECT id, path, language, module FROM files WHERE skip_reason IS NULL"
        ):
            self.files[fid] = _FileInfo(path, language, module)
            self.modules.add(module, path, fid)
        self.top: dict[tuple[int, str], int] = {}
        self.members: dict[tuple[int, str], int] = {}
        self.parent: dict[int, int | None] = {}
        self.kind: dict[int, str] = {}
        self.file_of: dict[int, int] = {}
        self.name_of: dict[int, str] = {}
        self.implicit: dict[str, bool] = {}
        # top-level definitions sharing a name in one file: a Rust struct and its `impl`s
        self.same_name: dict[tuple[int, str], list[int]] = {}
        self.functions: dict[str, list[int]] = {}
        self.methods: dict[str, list[int]] = {}
        self.types: dict[str, list[int]] = {}
        self.namespaces: set[int] = set()  # module blocks at file level: C++ `namespace geo {}`
        self.symbols_of: dict[int, list[int]] = {}
        self._add_symbols(
            conn.execute("SELECT id, file_id, parent_id, name, kind FROM symbols ORDER BY id")
        )

    def _add_symbols(self, rows: Iterable[tuple[int, int, int | None, str, str]]) -> None:
        """Add symbols, parents before children (ids are assigned in that order)."""
        for sid, fid, pid, name, kind in rows:
            self.symbols_of.setdefault(fid, []).append(sid)
            self.parent[sid] = pid
            self.kind[sid] = kind
            self.file_of[sid] = fid
            self.name_of[sid] = name
            if pid is None:
                self.top.setdefault((fid, name), sid)
                self.same_name.setdefault((fid, name), []).append(sid)
            else:
                self.members.setdefault((pid, name), sid)
                if pid in self.namespaces:  # what a namespace block holds, the file defines
                    self.top.setdefault((fid, name), sid)
            if kind == "module" and (pid is None or pid in self.namespaces):
                self.namespaces.add(sid)
            table = self._table_for(kind)
            if table is not None:
                table.setdefault(name, []).append(sid)
            if kind in TYPE_KINDS:
                self.types.setdefault(name, []).append(sid)

    def _table_for(self, kind: str) -> dict[str, list[int]] | None:
        if kind == "method":
            return self.methods
        if kind in CALLABLE_KINDS:
            return self.functions
        return None

    def _drop_symbols(self, fid: int) -> None:
        for sid in self.symbols_of.pop(fid, ()):
            name = self.name_of.pop(sid)
            pid = self.parent.pop(sid)
            kind = self.kind.pop(sid)
            del self.file_of[sid]
            self.namespaces.discard(sid)
            if self.top.get((fid, name)) == sid:
                del self.top[(fid, name)]
            self.same_name.pop((fid, name), None)
            if pid is not None and self.members.get((pid, name)) == sid:
                del self.members[(pid, name)]
            for table in (self._table_for(kind), self.types if kind in TYPE_KINDS else None):
                if table is not None:
                    entries = table.get(name)
                    if entries is not None:
                        entries.remove(sid)
                        if not entries:
                            del table[name]

    def reload_file(self, fid: int) -> None:
        """Bring one file's definitions and bindings up to date after it was rewritten.

        Cheap enough to run on every keystroke; the module map is kept, so a change that
        adds or removes files needs a fresh Resolver instead.
        """
        self._drop_symbols(fid)
        self._add_symbols(
            self.conn.execute(
                "SELECT id, file_id, parent_id, name, kind FROM symbols WHERE file_id = ? "
                "ORDER BY id",
                (fid,),
            )
        )
        info = self.files.get(fid)
        if info is not None and self._bindings_loaded:
            info.bindings.clear()
            info.wildcards.clear()
            self._bind(
                self.conn.execute(
                    "SELECT file_id, source, name, alias, wildcard FROM imports WHERE file_id = ?",
                    (fid,),
                )
            )

    # -- imports -------------------------------------------------------------

    def resolve_imports(self, only_pending: bool) -> int:
        """Resolve import rows to workspace files or external packages; returns rows done."""
        where = "WHERE resolved = 0" if only_pending else ""
        rows = self.conn.execute(
            f"SELECT id, file_id, source, name FROM imports {where}"
        ).fetchall()
        updates = []
        for iid, fid, source, name in rows:
            target = self._import_target(fid, source, name)
            target_file = self._module_file(target.module, target.name)
            updates.append((target_file, target.external, int(target.stdlib), iid))
        self.conn.executemany(
            "UPDATE imports SET target_file_id=?, external=?, stdlib=?, resolved=1 WHERE id=?",
            updates,
        )
        return len(updates)

    def _import_target(self, fid: int, source: str, name: str | None) -> ImportTarget:
        info = self.files.get(fid)
        if info is None or info.language is None:
            return ImportTarget(None, name, external=source)
        manifest = self.registry.get(info.language).manifest
        return self.modules.resolve(
            manifest.imports, info.path, info.module, source, name, manifest.module_separator
        )

    def _module_file(self, module: str | None, name: str | None) -> int | None:
        if module is None:
            return None
        files = self.modules.files.get(module)
        if not files:
            return None
        if name is not None:
            for f in files:
                if (f, name) in self.top:
                    return f
        return files[0]

    def load_bindings(self) -> None:
        """Read every file's import bindings (once); needed before ``resolve``."""
        if self._bindings_loaded:
            return
        self._bindings_loaded = True
        self._bind(self.conn.execute("SELECT file_id, source, name, alias, wildcard FROM imports"))

    def _bind(self, rows: Iterable[tuple[int, str, str | None, str | None, int]]) -> None:
        for fid, source, name, alias, wildcard in rows:
            info = self.files.get(fid)
            if info is None or info.language is None:
                continue
            style = self.registry.get(info.language).manifest.imports
            sep = self.registry.get(info.language).manifest.module_separator
            target = self._import_target(fid, source, name)
            if wildcard or (style == "path" and name is None and alias is None):
                if target.module is not None:
                    info.wildcards.append(target.module)
                continue
            if alias:
                local = alias
            elif name:
                local = name
            elif style == "python":
                # `import a.b` binds `a`; the receiver path names the rest
                local = source.split(".", 1)[0]
                top = self.modules.resolve(style, info.path, info.module, local, None, sep)
                info.bindings[local] = _Binding(top.module, None, top.external, top.stdlib)
                continue
            elif style == "go":
                local = source.rsplit("/", 1)[-1]
            elif sep in source:
                local = source.rsplit(sep, 1)[-1]
            else:
                local = source
            info.bindings[local] = _Binding(
                target.module, target.name, target.external, target.stdlib
            )

    # -- references ----------------------------------------------------------

    def resolve_pending(self) -> int:
        """Resolve every reference marked pending; returns how many were resolved."""
        rows = self.conn.execute(
            "SELECT id, file_id, scope_id, name, kind, receiver FROM refs WHERE resolution IS NULL"
        ).fetchall()
        if not rows:
            return 0
        self.load_bindings()
        updates = []
        for rid, fid, scope, name, kind, receiver in rows:
            res = self.resolve(fid, scope, name, kind, receiver)
            updates.append((res.target, res.module, res.kind, res.candidates, rid))
        self.conn.executemany(
            "UPDATE refs SET target_id=?, target_module=?, resolution=?, candidates=? WHERE id=?",
            updates,
        )
        return len(updates)

    def resolve(
        self, fid: int, scope: int | None, name: str, kind: str, receiver: str | None
    ) -> Resolution:
        info = self.files.get(fid)
        if info is None:
            return Resolution("unresolved")
        if receiver is None:
            found = self._lexical(fid, scope, name)
            if found is not None:
                return Resolution("local", found)
            binding = info.bindings.get(name)
            if binding is not None:
                return self._through_binding(binding, name)
            for module in info.wildcards:
                target = self._definition_in(module, name, 0)
                if target is not None:
                    return Resolution("import", target)
            return self._by_name(name, self.types if kind == "class" else self.functions)
        if receiver[:1] in _LITERAL_STARTS or receiver[:1].isdigit():
            return Resolution("unresolved")  # a method of a literal: the language's own type
        language = info.language
        manifest = self.registry.get(language).manifest if language else None
        self_names = manifest.self_names if manifest else ()
        # `a.b` receivers, or `a::b` in languages that join module paths so (Rust, C++)
        sep = manifest.module_separator if manifest else "."
        if sep not in receiver:
            sep = "."
        head, _, rest = receiver.partition(sep)
        if receiver in self_names:
            cls = self._enclosing_container(scope)
            if cls is not None:
                found = self._member(cls, name)
                if found is not None:
                    return Resolution("self", found)
            if language is not None and self._implicit_receiver(language):
                # an unqualified call given an implicit `this`/`self` (Java, C#, Ruby) may
                # still mean a local function or a file-level definition
                found = self._lexical(fid, scope, name)
                if found is not None:
                    return Resolution("local", found)
                return self._by_name(name, self.methods, self.functions)
            return self._by_name(name, self.methods)
        binding = info.bindings.get(head)
        if binding is not None:
            if binding.external is not None and binding.module is None:
                return Resolution("external", module=binding.external)
            if binding.name is None and binding.module is not None:
                module = binding.module + (sep + rest if rest else "")
                target = self._definition_in(module, name, 0)
                if target is not None:
                    return Resolution("import", target)
            elif binding.module is not None and not rest:
                container = self._definition_in(binding.module, binding.name or head, 0)
                if container is not None:
                    found = self._member(container, name)
                    if found is not None:
                        return Resolution("import", found)
        if not rest or sep != ".":
            # `Type.f()` in this file; with paths also `ns::Type::f()`
            container = self.top.get((fid, head))
            for part in rest.split(sep) if rest else ():
                container = self._member(container, part) if container is not None else None
            if container is not None:
                found = self._member(container, name)
                if found is not None:
                    return Resolution("local", found)
        if manifest is not None and manifest.module_separator != ".":
            # `Shop::Cart.build()`, `Circle::unit()`: a type from a glob import or include
            for module in info.wildcards:
                container = self._definition_in(module, head, 0)
                for part in rest.split(sep) if rest else ():
                    container = self._member(container, part) if container is not None else None
                if container is not None:
                    found = self._member(container, name)
                    if found is not None:
                        return Resolution("import", found)
        if kind == "call" and manifest is not None and manifest.module_separator != ".":
            # in languages with paths (`geo::f()`, `shapes::unit()`) the receiver may
            # name a module, so a free function may be meant as well as a method
            return self._by_name(name, self.methods, self.functions)
        return self._by_name(name, self.methods if kind == "call" else self.types)

    def _implicit_receiver(self, language: str) -> bool:
        """Whether the language's queries give unqualified calls an implicit receiver."""
        known = self.implicit.get(language)
        if known is None:
            query = self.registry.get(language).query
            known = any("receiver" in query.pattern_settings(i) for i in range(query.pattern_count))
            self.implicit[language] = known
        return known

    def _lexical(self, fid: int, scope: int | None, name: str) -> int | None:
        while scope is not None:
            if self.kind.get(scope) not in ("class", "struct", "impl", "trait", "interface"):
                found = self.members.get((scope, name))
                if found is not None:
                    return found
            scope = self.parent.get(scope)
        return self.top.get((fid, name))

    def _enclosing_container(self, scope: int | None) -> int | None:
        while scope is not None:
            if self.kind.get(scope) in ("class", "struct", "impl", "trait", "interface", "enum"):
                return scope
            scope = self.parent.get(scope)
        return None

    def _member(self, container: int, name: str) -> int | None:
        found = self.members.get((container, name))
        if found is None and self.parent.get(container) is None:
            # members declared apart from their type, in a same-named block (Rust `impl T`)
            key = (self.file_of[container], self.name_of[container])
            for other in self.same_name.get(key, ()):
                if other != container and "impl" in (self.kind[other], self.kind[container]):
                    found = self.members.get((other, name))
                    if found is not None:
                        break
        return found

    def _through_binding(self, binding: _Binding, name: str) -> Resolution:
        if binding.module is None:
            if binding.external is not None:
                return Resolution("external", module=binding.external)
            return Resolution("unresolved")
        target = self._definition_in(binding.module, binding.name or name, 0)
        if target is None and binding.name == "default":
            # JS/TS `import x from "./m"`: the default export is usually the definition named x
            target = self._definition_in(binding.module, name, 0)
        if target is not None:
            return Resolution("import", target)
        return self._by_name(name, self.functions)

    def _definition_in(self, module: str, name: str, hops: int) -> int | None:
        """A top-level definition of ``module``, following re-exports a few hops."""
        for fid in self.modules.files.get(module, ()):
            found = self.top.get((fid, name))
            if found is not None:
                return found
        if hops >= _MAX_HOPS:
            return None
        for fid in self.modules.files.get(module, ()):
            info = self.files[fid]
            binding = info.bindings.get(name)
            if binding is not None and binding.module is not None:
                found = self._definition_in(binding.module, binding.name or name, hops + 1)
                if found is not None:
                    return found
            for wildcard in info.wildcards:
                found = self._definition_in(wildcard, name, hops + 1)
                if found is not None:
                    return found
        return None

    @staticmethod
    def _by_name(name: str, table: dict[str, list[int]], *more: dict[str, list[int]]) -> Resolution:
        candidates = [*table.get(name, ()), *(c for t in more for c in t.get(name, ()))]
        if len(candidates) == 1:
            return Resolution("unique", candidates[0], candidates=1)
        if candidates:
            return Resolution("ambiguous", candidates=len(candidates))
        return Resolution("unresolved")


def resolve_all(conn: Connection, *, imports_changed: bool, keep: bool = False) -> Resolver | None:
    """Resolve the pending imports and references.

    Returns the resolver, ready for new references, when ``keep`` is set or when there was
    work to do; None when nothing was pending.
    """
    pending_refs = conn.execute("SELECT 1 FROM refs WHERE resolution IS NULL LIMIT 1").fetchone()
    pending_imports = conn.execute("SELECT 1 FROM imports WHERE resolved = 0 LIMIT 1").fetchone()
    if not (pending_refs or pending_imports or imports_changed or keep):
        return None
    resolver = Resolver(conn)
    resolver.resolve_imports(only_pending=not imports_changed)
    if imports_changed:
        # modules came or went: names once external or unknown may now be ours, and back
        conn.execute(
            "UPDATE refs SET resolution = NULL "
            "WHERE resolution IN ('external', 'unresolved', 'import')"
        )
    resolver.resolve_pending()
    resolver.load_bindings()
    return resolver
