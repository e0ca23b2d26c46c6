"""What extraction finds in one file: plain values, cheap to pickle between processes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SymbolFact:
    name: str
    kind: str
    qualname: str
    start: tuple[int, int]  # (line, byte column), 0-based
    end: tuple[int, int]
    name_start: tuple[int, int]
    name_end_col: int
    signature: str
    doc: str
    exported: bool
    parent: int  # index into FileFacts.symbols, -1 for top level


@dataclass(slots=True)
class RefFact:
    name: str
    kind: str  # call, class, type, ...
    receiver: str | None
    line: int
    col: int
    end_col: int
    scope: int  # index of the innermost enclosing symbol, -1 at module level


@dataclass(slots=True)
class ImportFact:
    source: str
    name: str | None
    alias: str | None
    wildcard: bool
    line: int


@dataclass(slots=True)
class FileFacts:
    path: str  # posix path relative to the workspace root
    language: str | None
    module: str | None
    hash: str
    size: int
    mtime_ns: int
    line_count: int = 0
    parse_errors: int = 0
    skip_reason: str | None = None
    package: str | None = None
    symbols: list[SymbolFact] = field(default_factory=list)
    refs: list[RefFact] = field(default_factory=list)
    imports: list[ImportFact] = field(default_factory=list)
