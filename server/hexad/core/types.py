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
