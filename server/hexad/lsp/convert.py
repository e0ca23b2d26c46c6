"""Conversions between Hexad's core values and LSP types, in one place.

Named ``lsp_<type>(value)`` and ``<domain>_from_lsp(value)``. The index counts columns in
UTF-8 bytes; the client picked an encoding at initialize, and every conversion goes
through the line's text to honour it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from hexad.core.text import UTF8, UTF16, bytes_from_units, units_from_bytes
from hexad.core.types import CallGroup, HoverInfo, Location, Span, Symbol, SymbolTree
from hexad.perception.live import TextEdit

LineOf = Callable[[str, int], bytes]
_UNKNOWN = object()
PATH_CACHE = 1024  # URIs whose workspace path is kept

SYMBOL_KINDS: dict[str, types.SymbolKind] = {
    "class": types.SymbolKind.Class,
    "function": types.SymbolKind.Function,
    "method": types.SymbolKind.Method,
    "constructor": types.SymbolKind.Constructor,
    "interface": types.SymbolKind.Interface,
    "struct": types.SymbolKind.Struct,
    "trait": types.SymbolKind.Interface,
    "impl": types.SymbolKind.Class,
    "enum": types.SymbolKind.Enum,
    "type": types.SymbolKind.TypeParameter,
    "module": types.SymbolKind.Module,
    "namespace": types.SymbolKind.Namespace,
    "constant": types.SymbolKind.Constant,
    "variable": types.SymbolKind.Variable,
    "field": types.SymbolKind.Field,
    "property": types.SymbolKind.Property,
    "macro": types.SymbolKind.Function,
    "record": types.SymbolKind.Struct,
}


class Converter:
    """Converts for one workspace and one negotiated position encoding."""

    def __init__(self, root: Path, encoding: str, line_of: LineOf) -> None:
        self.root = root
        self.encoding = encoding
        self.line_of = line_of
        self._paths: dict[str, str | None] = {}

    # -- paths -----------------------------------------------------------------

    def path_from_lsp(self, uri: str) -> str | None:
        """Workspace-relative path of a file: URI, or None for anything else. Answers
        are kept for the last URIs asked (every keystroke asks; resolving links each time
        cost more than the edit itself); :meth:`forget_paths` drops them."""
        found = self._paths.get(uri, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        fs_path = to_fs_path(uri) if uri.startswith("file:") else None
        path: str | None = None
        if fs_path is not None:
            try:
                path = Path(fs_path).resolve().relative_to(self.root).as_posix()
            except (ValueError, OSError):
                path = None
        if len(self._paths) >= PATH_CACHE:
            self._paths.clear()
        self._paths[uri] = path
        return path

    def forget_paths(self) -> None:
        """Resolve every URI afresh (the files or links under the workspace changed)."""
        self._paths.clear()

    def lsp_uri(self, path: str) -> str:
        full = path if Path(path).is_absolute() else str(self.root / path)
        return from_fs_path(full) or f"file://{full}"

    # -- positions -------------------------------------------------------------

    def position_from_lsp(self, path: str, position: types.Position) -> tuple[int, int]:
        line = position.line
        return line, bytes_from_units(self.line_of(path, line), position.character, self.encoding)

    def lsp_position(self, path: str, line: int, col: int) -> types.Position:
        return types.Position(line, units_from_bytes(self.line_of(path, line), col, self.encoding))

    def codepoints_from_lsp(self, path: str, position: types.Position) -> tuple[int, int]:
        """(line, column in code points) of a client position in the indexed text."""
        line = self.line_of(path, position.line)
        col = bytes_from_units(line, position.character, self.encoding)
        return position.line, len(line[:col].decode("utf-8", "replace"))

    def lsp_position_in(self, line_text: str, line: int, codepoints: int) -> types.Position:
        """The client position of a code-point column in ``line_text`` (a text the
        caller holds, e.g. a proposal's ``before``)."""
        prefix = line_text[:codepoints]
        if self.encoding == UTF8:
            units = len(prefix.encode("utf-8"))
        elif self.encoding == UTF16:
            units = len(prefix) + sum(1 for ch in prefix if ord(ch) > 0xFFFF)
        else:
            units = len(prefix)
        return types.Position(line, units)

    def lsp_range(self, path: str, span: Span) -> types.Range:
        return types.Range(
            self.lsp_position(path, span.start_line, span.start_col),
            self.lsp_position(path, span.end_line, span.end_col),
        )

    def lsp_location(self, loc: Location) -> types.Location:
        return types.Location(self.lsp_uri(loc.path), self.lsp_range(loc.path, loc.span))

    def text_edit_from_lsp(self, change: types.TextDocumentContentChangeEvent) -> TextEdit | str:
        if isinstance(change, types.TextDocumentContentChangePartial):
            r = change.range
            return TextEdit(
                (r.start.line, r.start.character),
                (r.end.line, r.end.character),
                change.text,
                self.encoding,
            )
        return change.text

    # -- symbols ---------------------------------------------------------------

    def lsp_document_symbol(self, tree: SymbolTree) -> types.DocumentSymbol:
        sym = tree.symbol
        return types.DocumentSymbol(
            name=sym.name,
            kind=SYMBOL_KINDS.get(sym.kind, types.SymbolKind.Variable),
            range=self.lsp_range(sym.path, sym.span),
            selection_range=self.lsp_range(sym.path, sym.name_span),
            detail=sym.signature or None,
            children=[self.lsp_document_symbol(c) for c in tree.children],
        )

    def lsp_workspace_symbol(self, sym: Symbol) -> types.WorkspaceSymbol:
        container = sym.qualname.rsplit(".", 1)[0] if "." in sym.qualname else None
        return types.WorkspaceSymbol(
            name=sym.name,
            kind=SYMBOL_KINDS.get(sym.kind, types.SymbolKind.Variable),
            location=self.lsp_location(Location(sym.path, sym.name_span)),
            container_name=container,
        )

    def lsp_call_hierarchy_item(self, sym: Symbol) -> types.CallHierarchyItem:
        return types.CallHierarchyItem(
            name=sym.name,
            kind=SYMBOL_KINDS.get(sym.kind, types.SymbolKind.Function),
            uri=self.lsp_uri(sym.path),
            range=self.lsp_range(sym.path, sym.span),
            selection_range=self.lsp_range(sym.path, sym.name_span),
            detail=sym.qualname,
            data={"id": sym.id},
        )

    def lsp_module_item(self, path: str) -> types.CallHierarchyItem:
        """A file's top level, where a call outside any function is made."""
        zero = types.Range(types.Position(0, 0), types.Position(0, 0))
        return types.CallHierarchyItem(
            name=Path(path).name,
            kind=types.SymbolKind.File,
            uri=self.lsp_uri(path),
            range=zero,
            selection_range=zero,
            detail="module level",
        )

    def lsp_incoming(self, group: CallGroup) -> types.CallHierarchyIncomingCall:
        item = (
            self.lsp_call_hierarchy_item(group.other)
            if group.other is not None
            else self.lsp_module_item(group.path)
        )
        return types.CallHierarchyIncomingCall(
            from_=item, from_ranges=[self.lsp_range(group.path, s) for s in group.sites]
        )

    def lsp_outgoing(self, group: CallGroup) -> types.CallHierarchyOutgoingCall | None:
        if group.other is None:
            return None
        return types.CallHierarchyOutgoingCall(
            to=self.lsp_call_hierarchy_item(group.other),
            from_ranges=[self.lsp_range(group.path, s) for s in group.sites],
        )

    def lsp_hover(
        self, info: HoverInfo, path: str, span: Span | None, notes: Sequence[str] = ()
    ) -> types.Hover:
        text = hover_markdown(info)
        if notes:
            text += "\n\n---\n\n**Remembered**\n" + "\n".join(f"- {n}" for n in notes)
        return types.Hover(
            contents=types.MarkupContent(types.MarkupKind.Markdown, text),
            range=self.lsp_range(path, span) if span is not None else None,
        )


def hover_markdown(info: HoverInfo) -> str:
    sym = info.symbol
    if sym is None:
        how = info.resolution or "unknown"
        if info.resolution == "ambiguous":
            how = f"ambiguous: {info.candidates} definitions share this name"
        elif info.resolution == "external" and info.external:
            how = f"from the package `{info.external}`"
        elif info.resolution == "unresolved":
            how = "not defined in this workspace (a builtin, or dynamic)"
        return f"`{info.name}` — {how}"
    fence = sym.language if sym.language not in ("tsx",) else "tsx"
    parts = [f"```{fence}\n{sym.signature or sym.name}\n```"]
    facts = [sym.kind, f"`{sym.qualname}`", "exported" if sym.exported else "not exported"]
    parts.append(" · ".join(facts))
    if sym.doc:
        parts.append(sym.doc)
    usage = [f"{info.callers} caller{'s' if info.callers != 1 else ''}"]
    if info.possible_callers:
        usage[0] += f" (+{info.possible_callers} possible)"
    usage.append(f"calls {info.callees}")
    if info.imported_by:
        shown = ", ".join(f"`{m}`" for m in info.imported_by[:5])
        more = f" and {len(info.imported_by) - 5} more" if len(info.imported_by) > 5 else ""
        usage.append(f"its module is imported by {shown}{more}")
    parts.append(" · ".join(usage))
    if info.resolution:
        parts.append(f"*resolved: {info.resolution}*")
    return "\n\n---\n\n".join(parts)
