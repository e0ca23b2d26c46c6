"""What every engine receives and returns.

An engine reads the workspace through :class:`Sources` (open buffers win over the disk,
so proposals are computed on what the user sees) and the structural index through an
``IndexReader``; it returns a :class:`Draft`: the change, the :class:`Intent` that
verification holds it to, the targets the editor shows it at, and provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hexad.core.errors import HexadError
from hexad.execution.edits import Change


class EngineError(HexadError):
    """The engine cannot serve this request (no symbol there, nothing to import, no
    model configured …); the message says why in the user's terms."""


class Sources(Protocol):
    """The workspace as the editor sees it."""

    @property
    def root(self) -> Path: ...

    def text(self, path: str) -> str:
        """The text of a workspace-relative file: the open buffer, else the disk.
        Raises FileNotFoundError when neither has it."""
        ...

    def version(self, path: str) -> int | None:
        """The open buffer's version, None when the file is not open."""
        ...


@dataclass(frozen=True, slots=True)
class Intent:
    """What a change declares it does to the workspace's symbols; the symbols check
    fails on anything it does not declare. Names are qualified names; ``*`` patterns
    (fnmatch) are allowed in ``added``, ``removed`` and ``changed``."""

    kind: str
    renamed: tuple[tuple[str, str], ...] = ()  # (old qualname, new qualname)
    added: tuple[str, ...] = ()  # symbols that may appear
    removed: tuple[str, ...] = ()  # symbols that may disappear
    changed: tuple[str, ...] = ()  # symbols whose own text (body or signature) may change
    keep_signature: tuple[str, ...] = ()  # symbols whose signature must not change
    imports_only: bool = False  # only import statements may change (add import)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "renamed": [list(pair) for pair in self.renamed],
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
            "keepSignature": list(self.keep_signature),
            "importsOnly": self.imports_only,
        }


@dataclass(frozen=True, slots=True)
class Target:
    """Where the editor shows the proposal: a file, and the symbol/line it is about."""

    path: str
    line: int = 0  # 0-based
    qualname: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "qualname": self.qualname}


@dataclass(frozen=True, slots=True)
class Draft:
    """A computed change, not yet verified."""

    task: str  # what the user asked, in words: "Rename escape to escape_html"
    kind: str  # rename | extract_variable | extract_function | inline | add_import |
    #            signature | implement | write_test | fix_test
    engine: str  # structural:jedi, structural:index, model
    change: Change
    intent: Intent
    targets: tuple[Target, ...]
    symbols: tuple[str, ...] = ()  # qualnames the change is about (tests are found from them)
    model: str | None = None
    prompt_hash: str | None = None
    notes: tuple[str, ...] = ()  # what the engine left alone, in words
    evidence: dict[str, Any] = field(default_factory=dict)  # engine facts for trust
