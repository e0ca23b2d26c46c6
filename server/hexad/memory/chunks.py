"""Code chunks: one per symbol of the structural index, cut from the file's source.

A chunk's body is its source with the bodies of its nested symbols folded to their first
line (they are chunks of their own), and without its docstring (kept apart in ``doc``), cut
to ``BODY_MAX_LINES``. Whatever looks like a secret (``core.secrets``) is redacted from all
three before anything is stored, searched or embedded. Its hash covers what is searched
and embedded, not where it sits: a function that only moves down the file keeps its hash
and is not re-embedded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hexad.core.hashing import parts_hash
from hexad.core.secrets import redact
from hexad.memory.tokens import fts_text

BODY_MAX_LINES = 60
BODY_MAX_CHARS = 4000
_DOCSTRING_KINDS = frozenset({"function", "method", "class"})
_PY_DOCSTRING = re.compile(r"""^[ \t]*[rRuU]?("{3}|'{3}|"|')""", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class SymbolRow:
    """What sync reads of one indexed symbol (0-based lines, inclusive end line)."""

    id: int
    parent_id: int | None
    name: str
    kind: str
    qualname: str
    start_line: int
    end_line: int
    signature: str
    doc: str


@dataclass(frozen=True, slots=True)
class Chunk:
    key: str
    path: str
    language: str
    kind: str
    name: str
    qualname: str
    start_line: int
    end_line: int
    signature: str
    doc: str
    body: str

    @property
    def hash(self) -> str:
        return parts_hash(self.kind, self.qualname, self.signature, self.doc, self.body, self.path)

    def embedding_text(self) -> str:
        """What an embedder reads: name, signature, doc, then the body."""
        return "\n".join(p for p in (self.qualname, self.signature, self.doc, self.body) if p)

    def fts_columns(self) -> tuple[str, str, str, str]:
        """(name, doc, body, path) as keyword search indexes them."""
        return (
            fts_text(self.qualname),
            fts_text(self.doc),
            fts_text(f"{self.signature}\n{self.body}"),
            fts_text(self.path),
        )


def _strip_python_docstring(body: str) -> str:
    """Drop the first string literal statement after the header (the docstring)."""
    header_end = _header_end(body)
    match = _PY_DOCSTRING.search(body, header_end)
    if match is None:
        return body
    # only when the string is the first statement: nothing but blank lines before it
    if body[header_end : match.start()].strip():
        return body
    quote = match.group(1)
    close = body.find(quote, match.end())
    while close != -1 and len(quote) == 1 and body[close - 1] == "\\":
        close = body.find(quote, close + 1)
    if close == -1:
        return body
    end = body.find("\n", close + len(quote))
    end = len(body) if end == -1 else end + 1
    return body[: match.start()] + body[end:]


def _header_end(body: str) -> int:
    """Offset just after the line that ends a Python def/class header (its ':')."""
    depth = 0
    for i, ch in enumerate(body):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ":" and depth == 0:
            newline = body.find("\n", i)
            return len(body) if newline == -1 else newline + 1
    return 0


def build_chunks(
    path: str, language: str, source: str, symbols: list[SymbolRow], *, include_doc: bool = True
) -> list[Chunk]:
    """The chunks of one file, in source order. ``source`` is the file's text."""
    lines = source.splitlines()
    children: dict[int, list[SymbolRow]] = {}
    for sym in symbols:
        if sym.parent_id is not None:
            children.setdefault(sym.parent_id, []).append(sym)
    seen: dict[str, int] = {}
    chunks: list[Chunk] = []
    for sym in sorted(symbols, key=lambda s: (s.start_line, s.end_line, s.id)):
        strip = language == "python" and bool(sym.doc) and sym.kind in _DOCSTRING_KINDS
        body = _body(lines, sym, children.get(sym.id, []), strip_doc=strip)
        base = f"{path}::{sym.qualname}"
        count = seen.get(base, 0) + 1
        seen[base] = count
        chunks.append(
            Chunk(
                key=base if count == 1 else f"{base}#{count}",
                path=path,
                language=language,
                kind=sym.kind,
                name=sym.name,
                qualname=sym.qualname,
                start_line=sym.start_line,
                end_line=sym.end_line,
                signature=redact(sym.signature),
                doc=redact(sym.doc) if include_doc else "",
                body=redact(body),
            )
        )
    return chunks


def _body(lines: list[str], sym: SymbolRow, nested: Sequence[SymbolRow], *, strip_doc: bool) -> str:
    """The symbol's lines with nested definitions folded to their first line, without its
    docstring (removed before the cut, so a long docstring cannot crowd out the code)."""
    skip: set[int] = set()
    for child in nested:
        skip.update(range(child.start_line + 1, child.end_line + 1))
    kept = [
        lines[n]
        for n in range(sym.start_line, min(sym.end_line, len(lines) - 1) + 1)
        if n not in skip
    ]
    text = "\n".join(kept)
    if strip_doc:
        text = _strip_python_docstring(text)
    out: list[str] = []
    size = 0
    for line in text.split("\n"):
        out.append(line)
        size += len(line) + 1
        if len(out) >= BODY_MAX_LINES or size >= BODY_MAX_CHARS:
            break
    return "\n".join(out)[:BODY_MAX_CHARS]
