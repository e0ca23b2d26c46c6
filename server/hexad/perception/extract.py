"""Turn one file's source into FileFacts with its language's tags query.

Queries follow tree-sitter's tag conventions; see grammars/README.md for the captures.
Matches (not flat captures) are iterated so every name stays paired with its role.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from functools import lru_cache

from tree_sitter import Node, Query, QueryCursor, Tree

from hexad.perception.facts import FileFacts, ImportFact, RefFact, SymbolFact
from hexad.perception.language import LanguageSpec

_SIGNATURE_MAX = 240
_WS = re.compile(r"\s+")
_ATTRIBUTE_TYPES = frozenset({"attribute_item"})
_COMMENT_MARKERS = re.compile(r"^\s*(///?!?|/\*\*?|\*/|\*|#+|--)\s?")


@dataclass(slots=True)
class _Def:
    node: Node
    name_node: Node
    kind: str
    doc_node: Node | None
    owner: str | None = None  # type a method is declared on outside its body (Go receiver)


def _text(node: Node) -> str:
    data = node.text
    return data.decode("utf-8", "replace") if data is not None else ""


def extract(spec: LanguageSpec, source: bytes, facts: FileFacts, tree: Tree | None = None) -> Tree:
    """Fill ``facts`` with the symbols, references and imports found in ``source``.

    Returns the tree so a caller that keeps buffers live can reparse incrementally.
    """
    if tree is None:
        tree = spec.parser().parse(source)
    root = tree.root_node
    facts.line_count = source.count(b"\n") + 1
    facts.parse_errors = _count_errors(root) if root.has_error else 0

    defs: dict[int, _Def] = {}
    ref_nodes: dict[tuple[int, int], tuple[Node, str, str | None, str]] = {}
    export_names: set[str] = set()
    imports: list[ImportFact] = []
    outer_keys = _outer_keys(spec.query)
    for pattern, caps in QueryCursor(spec.query).matches(root):
        outer_kind = outer_keys[pattern]
        if outer_kind is None:  # learnt from the pattern's first match
            outer_kind = outer_keys[pattern] = next(
                (k for k in caps if k.startswith(("definition.", "reference."))), ""
            )
        if outer_kind:
            outer = caps[outer_kind][0]
            names = caps.get("name")
            if not names:
                continue
            name_node = names[0]
            if outer_kind.startswith("definition."):
                doc = caps.get("doc")
                known = defs.get(outer.id)
                if known is None or (known.doc_node is None and doc):
                    owner = caps.get("receiver")
                    defs[outer.id] = _Def(
                        outer,
                        name_node,
                        outer_kind[11:],
                        doc[0] if doc else None,
                        _text(owner[0]) if owner else None,
                    )
            else:
                receiver = caps.get("receiver")
                # `(#set! receiver "this")`: an implicit receiver (Java's unqualified calls)
                receiver_text = (
                    _WS.sub("", _text(receiver[0]))
                    if receiver
                    else _settings(spec.query)[pattern].get("receiver")
                )
                key2 = (name_node.start_byte, name_node.end_byte)
                if key2 not in ref_nodes:
                    ref_nodes[key2] = (
                        name_node,
                        outer_kind[10:],
                        receiver_text,
                        _text(name_node),
                    )
            continue
        if "import" in caps:
            imports.extend(_import_facts(caps, _settings(spec.query)[pattern]))
        elif "export.name" in caps:
            export_names.update(_unquote(_text(n)) for n in caps["export.name"])
        elif "package" in caps:
            facts.package = _text(caps["package"][0])

    if facts.package and (facts.module is None or spec.manifest.imports == "package"):
        # languages whose files declare their package: the declaration wins over the path
        facts.module = facts.package
    _build_symbols(spec, facts, sorted(defs.values(), key=_def_order), export_names, source)
    _build_refs(facts, sorted(ref_nodes.values(), key=lambda r: r[0].start_byte))
    facts.imports = imports
    return tree


_OUTER_KEYS: dict[int, list[str | None]] = {}


def _outer_keys(query: Query) -> list[str | None]:
    """Per pattern, its definition/reference capture ("" for none; None until seen)."""
    keys = _OUTER_KEYS.get(id(query))
    if keys is None:
        keys = _OUTER_KEYS[id(query)] = [None] * query.pattern_count
    return keys


@lru_cache(maxsize=64)
def _settings(query: Query) -> tuple[dict[str, str | None], ...]:
    """Each pattern's `#set!` properties, which supply literal values for some captures."""
    return tuple(query.pattern_settings(i) for i in range(query.pattern_count))


def _def_order(d: _Def) -> tuple[int, int]:
    return (d.node.start_byte, -d.node.end_byte)


def _import_facts(caps: dict[str, list[Node]], settings: dict[str, str | None]) -> list[ImportFact]:
    stmt = caps["import"][0]
    line = stmt.start_point[0]
    wildcard = "import.wildcard" in caps
    if "import.path" in caps:  # full path whose last segment is the imported name
        return [
            ImportFact(_unquote(_text(n)), None, None, wildcard, line) for n in caps["import.path"]
        ]
    sources = caps.get("import.source")
    if not sources:
        return []
    source = _unquote(_text(sources[0]))
    prefix = settings.get("import.prefix")  # e.g. "./" for Ruby's require_relative
    if prefix and not source.startswith((".", "/")):
        source = prefix + source
    alias_nodes = caps.get("import.alias")
    alias = _text(alias_nodes[0]) if alias_nodes else None
    names = caps.get("import.name")
    if not names:
        # `(#set! import.name "default")`: a literal name, e.g. JS `import d from "./m"`
        literal = settings.get("import.name")
        return [ImportFact(source, literal or None, alias, wildcard, line)]
    return [ImportFact(source, _text(n), alias, wildcard, line) for n in names]


def _unquote(text: str) -> str:
    text = text.strip()
    for prefix in ("r", "b", "u", "f", "R", "B", "U", "F"):
        if len(text) > 1 and text[0] == prefix and text[1] in "'\"`":
            text = text[1:]
            break
    for quote in ('"""', "'''", '"', "'", "`", "<"):
        end = ">" if quote == "<" else quote
        if len(text) >= 2 * len(quote) and text.startswith(quote) and text.endswith(end):
            return text[len(quote) : -len(end)]
    return text


def _count_errors(root: Node) -> int:
    count = 0
    cursor = root.walk()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            count += 1
        if node.has_error:
            stack.extend(node.children)
    del cursor
    return count


def _build_symbols(
    spec: LanguageSpec,
    facts: FileFacts,
    defs: list[_Def],
    export_names: set[str],
    source: bytes,
) -> None:
    manifest = spec.manifest
    containers = set(manifest.container_kinds)
    sep = manifest.module_separator
    prefix = facts.module + sep if facts.module else ""
    stack: list[int] = []  # indexes into facts.symbols of open definitions
    ends: list[int] = []
    owners: dict[str, int] = {}  # containers by name, for methods declared apart from them
    symbols = facts.symbols
    for d in defs:
        start = d.node.start_byte
        while stack and ends[-1] <= start:
            stack.pop()
            ends.pop()
        parent = stack[-1] if stack else -1
        owner = None
        if d.owner is not None and (parent < 0 or symbols[parent].kind not in containers):
            # Go `func (c *Cart) Add()`, C++ `double Circle::area()`: a member of Cart when
            # Cart is declared above it in this file, else a method named after it
            if d.owner in owners:
                parent = owners[d.owner]
            else:
                owner = d.owner
        name = _text(d.name_node)
        kind = d.kind
        parent_sym = symbols[parent] if parent >= 0 else None
        if kind == "function" and (
            owner is not None or (parent_sym is not None and parent_sym.kind in containers)
        ):
            kind = "method"
        qualname = (parent_sym.qualname + sep if parent_sym else prefix) + name
        if owner is not None:
            qualname = qualname[: len(qualname) - len(name)] + owner + sep + name
        symbols.append(
            SymbolFact(
                name=name,
                kind=kind,
                qualname=qualname,
                start=(d.node.start_point[0], d.node.start_point[1]),
                end=(d.node.end_point[0], d.node.end_point[1]),
                name_start=(d.name_node.start_point[0], d.name_node.start_point[1]),
                name_end_col=d.name_node.end_point[1]
                if d.name_node.end_point[0] == d.name_node.start_point[0]
                else d.name_node.start_point[1] + len(d.name_node.text or b""),
                signature=_signature(d.node, source),
                doc=_doc(d),
                exported=_exported(spec, d.node, name, parent_sym, export_names),
                parent=parent,
            )
        )
        first = owners.get(name)
        if parent < 0 and kind in containers and first is not None and symbols[first].parent < 0:
            # a type declared again under its name with no visibility of its own (Rust
            # `impl T` after `struct T`) is as public as its first declaration
            symbols[-1].exported = symbols[-1].exported or symbols[first].exported
        if kind in containers:
            owners.setdefault(name, len(symbols) - 1)
        stack.append(len(symbols) - 1)
        ends.append(d.node.end_byte)


def _build_refs(facts: FileFacts, refs: list[tuple[Node, str, str | None, str]]) -> None:
    symbols = facts.symbols
    # Symbols are in start order; sweep them alongside the refs with a stack of open scopes.
    order = sorted(range(len(symbols)), key=lambda i: (symbols[i].start, _neg(symbols[i].end)))
    stack: list[int] = []
    si = 0
    for name_node, kind, receiver, name in refs:
        pos = (name_node.start_point[0], name_node.start_point[1])
        while si < len(order) and symbols[order[si]].start <= pos:
            idx = order[si]
            while stack and symbols[stack[-1]].end <= symbols[idx].start:
                stack.pop()
            stack.append(idx)
            si += 1
        while stack and symbols[stack[-1]].end <= pos:
            stack.pop()
        scope = stack[-1] if stack else -1
        facts.refs.append(
            RefFact(
                name=name,
                kind=kind,
                receiver=receiver,
                line=pos[0],
                col=pos[1],
                end_col=name_node.end_point[1],
                scope=scope,
            )
        )


def _neg(point: tuple[int, int]) -> tuple[int, int]:
    return (-point[0], -point[1])


def _signature(node: Node, source: bytes) -> str:
    # slices of the file's bytes: node.text would copy a whole class body to read its header
    body = node.child_by_field_name("body")
    base = node.start_byte
    if body is not None and body.start_byte > base:
        head = source[base : body.start_byte]
        for child in reversed(node.children):  # drop comments between header and body
            if child.start_byte < body.start_byte and "comment" in child.type:
                head = head[: child.start_byte - base] + head[child.end_byte - base :]
    else:
        end = source.find(b"\n", base, node.end_byte)
        head = source[base : end if end >= 0 else node.end_byte]
    text = _WS.sub(" ", head.decode("utf-8", "replace")).strip()
    text = text.rstrip("{:= ").rstrip()
    if len(text) > _SIGNATURE_MAX:
        text = text[: _SIGNATURE_MAX - 1] + "…"
    return text


def _doc(d: _Def) -> str:
    if d.doc_node is not None:
        raw = _text(d.doc_node)
        if d.doc_node.type == "string" or raw[:1] in "'\"rRuUbB":
            return inspect.cleandoc(_unquote(raw))
        return _clean_comment([raw])
    return _leading_comments(d.node)


_TOP_LEVEL_TYPES = frozenset(
    {"program", "source_file", "module", "translation_unit", "compilation_unit"}
)


def _leading_comments(node: Node) -> str:
    """Comments right above a definition (or above the statement that wraps it)."""
    anchor = node
    parent = node.parent
    if (
        node.prev_named_sibling is None
        and parent is not None
        and parent.type not in _TOP_LEVEL_TYPES
        and parent.start_point[0] == node.start_point[0]
    ):
        # e.g. `export function f` in JS: the comment sits above the export statement
        anchor = parent
    lines: list[str] = []
    expected_end = anchor.start_point[0]
    sibling = anchor.prev_sibling
    while sibling is not None and sibling.type in _ATTRIBUTE_TYPES:
        # Rust `#[derive(..)]` between the doc comment and the item
        expected_end = sibling.start_point[0]
        sibling = sibling.prev_sibling
    while sibling is not None and "comment" in sibling.type:
        if sibling.end_point[0] < expected_end - 1:
            break
        lines.insert(0, _text(sibling))
        expected_end = sibling.start_point[0]
        sibling = sibling.prev_sibling
    return _clean_comment(lines) if lines else ""


def _clean_comment(chunks: list[str]) -> str:
    out = []
    for chunk in chunks:
        for line in chunk.splitlines():
            cleaned = _COMMENT_MARKERS.sub("", line).rstrip()
            if cleaned.endswith("*/"):
                cleaned = cleaned[:-2].rstrip()
            out.append(cleaned)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def _exported(
    spec: LanguageSpec,
    node: Node,
    name: str,
    parent: SymbolFact | None,
    export_names: set[str],
) -> bool:
    rule = spec.manifest.exports
    private = bool(rule.private_prefix) and name.startswith(rule.private_prefix)
    if parent is not None and parent.kind != "module":
        # Members are API when their container is, unless private; locals never are.
        # (Definitions in a namespace or module block follow the top-level rules.)
        if parent.kind not in spec.manifest.container_kinds or not parent.exported:
            return False
        if rule.rule == "capitalized":
            return name[:1].isupper()
        if parent.kind in ("interface", "trait"):
            # interface members are public without saying so (Java, C#, Rust traits)
            return not private and not _has_modifier(node, rule.modifier_types, ("private",))
        if rule.rule == "modifier" and rule.modifier_types:
            if _negated(rule.modifier_text):
                return not private  # `!static` speaks of linkage, not of members
            return _has_modifier(node, rule.modifier_types, rule.modifier_text)
        if rule.modifier_types and any(c.type in rule.modifier_types for c in node.children):
            # an explicit visibility on a member decides (TypeScript `private x()`)
            return _has_modifier(node, rule.modifier_types, rule.modifier_text)
        dunder = name.startswith("__") and name.endswith("__")
        return dunder or not private
    if rule.rule == "python":
        return name in export_names if export_names else not private
    if name in export_names:  # named by an explicit export list (JS `export { name }`)
        return True
    if rule.rule == "capitalized":
        return name[:1].isupper()
    if rule.rule == "keyword":
        ancestor: Node | None = node
        while ancestor is not None:
            if ancestor.type in rule.node_types:
                return True
            ancestor = ancestor.parent
        return False
    if rule.rule == "modifier":
        internal = _negated(rule.modifier_text)
        if internal:  # `!static`: public unless so marked (C's internal linkage)
            return not private and not _has_modifier(node, rule.modifier_types, internal)
        return _has_modifier(node, rule.modifier_types, rule.modifier_text)
    return not private


def _negated(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w[1:] for w in words if w.startswith("!"))


def _has_modifier(node: Node, types: tuple[str, ...], words: tuple[str, ...]) -> bool:
    for child in node.children:
        if child.type in types:
            tokens = _text(child).replace("\n", " ").split()
            if any(t in words for t in tokens):
                return True
    return False
