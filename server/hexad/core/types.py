"""Value types the layers exchange. Positions are 0-based; columns count UTF-8 bytes
(tree-sitter's unit); the LSP layer converts to the client's encoding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    start_line: int
    start_col: int
    end_line: int
    end_col: int


@dataclass(frozen=True, slots=True)
class Symbol:
    id: int
    name: str
    kind: str
    qualname: str
    path: str  # relative to the workspace root, posix
    language: str
    span: Span  # the whole definition
    name_span: Span  # just its name
    signature: str
    doc: str
    exported: bool
    parent_id: int | None = None

    @property
    def location(self) -> str:
        return f"{self.path}:{self.name_span.start_line + 1}"


@dataclass(frozen=True, slots=True)
class CallEdge:
    """One call site: who calls (None at module level), what, where, and how we know."""

    caller: Symbol | None
    callee: Symbol | None  # None unless the target is certain
    name: str
    receiver: str | None
    path: str
    line: int
    col: int
    resolution: str
    candidates: int
    target_module: str | None = None


@dataclass(frozen=True, slots=True)
class ModuleDeps:
    path: str
    module: str | None
    imports: tuple[str, ...]  # workspace files this file imports
    imported_by: tuple[str, ...]  # workspace files importing this one
    external: tuple[str, ...]  # third-party packages
    stdlib: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file: relative to the workspace root, or absolute when outside it."""

    path: str
    span: Span


@dataclass(frozen=True, slots=True)
class SymbolTree:
    symbol: Symbol
    children: tuple[SymbolTree, ...] = ()


@dataclass(frozen=True, slots=True)
class CallGroup:
    """Calls between two symbols: ``other`` is the caller (incoming) or callee (outgoing);
    None stands for a module's top level. ``sites`` are the call expressions' names."""

    other: Symbol | None
    path: str
    sites: tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class HoverInfo:
    symbol: Symbol | None
    name: str
    resolution: str | None  # how the reference under the cursor was resolved
    candidates: int
    callers: int  # certain call sites
    possible_callers: int  # ambiguous call sites of the same name
    callees: int
    imported_by: tuple[str, ...]  # modules importing the defining file
    external: str | None = None
