"""A policy file's text: where each key and value sits, and positioned messages about it.

``tomllib`` gives values but no positions, so :func:`source_map` walks the text once (after
``tomllib`` accepted it) and records, for every key path such as
``("rules", 2, "when", "paths", 0)``, the span of its key and of its value. A validation
error maps to the longest recorded prefix of its path: an unknown key points at the key, a
wrong value at the value, a missing key at the table that lacks it.

Lines and columns are 1-based and count characters (code points), as ``tomllib`` does; an
end column is exclusive.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal

Key = tuple[str | int, ...]
Severity = Literal["error", "warning"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Span:
    line: int
    col: int
    end_line: int
    end_col: int


START = Span(1, 1, 1, 1)


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in one policy file, at an exact place.

    ``field`` is the dotted path of the offending key (``rules[2].when.paths[0]``); a file
    with an error is not used (the last valid version of it stays in force), a warning
    leaves it in force.
    """

    file: str
    span: Span
    message: str
    field: str = ""
    severity: Severity = "error"

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def col(self) -> int:
        return self.span.col

    def format(self, file: str | None = None) -> str:
        """``file:line:col: severity: field: message``, as compilers print it."""
        where = f"{file or self.file}:{self.span.line}:{self.span.col}"
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {self.severity}: {field}{self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
            "severity": self.severity,
            "field": self.field,
            "message": self.message,
        }


def format_field(loc: Key) -> str:
    """``("rules", 2, "when", "paths", 0)`` → ``rules[2].when.paths[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _BARE_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            quoted = '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out += f".{quoted}" if out else quoted
    return out


class SourceMap:
    """Spans of the keys and values of one TOML text, by key path."""

    def __init__(self, keys: dict[Key, Span], values: dict[Key, Span], end: Span) -> None:
        self.keys = keys
        self.values = values
        self.end = end

    def locate(self, loc: Key, *, at_key: bool = False) -> tuple[Span, Key]:
        """The span of the longest prefix of ``loc`` found in the text, and that prefix."""
        for length in range(len(loc), 0, -1):
            prefix = loc[:length]
            first, second = (self.keys, self.values) if at_key else (self.values, self.keys)
            span = first.get(prefix) or second.get(prefix)
            if span is not None:
                return span, prefix
        return START, ()

    def line_of(self, loc: Key) -> int:
        return self.locate(loc, at_key=True)[0].line


class _ScanError(Exception):
    pass


class _Scanner:
    """A walk over valid TOML that records positions and nothing else."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.keys: dict[Key, Span] = {}
        self.values: dict[Key, Span] = {}
        self.arrays: dict[Key, int] = {}  # array-of-tables path -> elements seen

    # positions ------------------------------------------------------------------------
    def _pos(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def span(self, start: int, end: int) -> Span:
        line, col = self._pos(start)
        end_line, end_col = self._pos(max(start, end))
        return Span(line, col, end_line, end_col)

    # lexing ---------------------------------------------------------------------------
    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < self.n else ""

    def skip_blank(self, *, newlines: bool) -> None:
        while self.i < self.n:
            c = self.s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                while self.i < self.n and self.s[self.i] != "\n":
                    self.i += 1
            else:
                return

    def expect(self, token: str) -> None:
        if not self.s.startswith(token, self.i):
            raise _ScanError(f"expected {token!r} at offset {self.i}")
        self.i += len(token)

    def key_parts(self) -> list[tuple[str, int, int]]:
        parts: list[tuple[str, int, int]] = []
        while True:
            self.skip_blank(newlines=False)
            start = self.i
            c = self.peek()
            if c == '"':
                self.i = self._basic_string_end(self.i)
                name = _decode_string(self.s[start : self.i])
            elif c == "'":
                end = self.s.find("'", self.i + 1)
                if end < 0:
                    raise _ScanError("unterminated key")
                self.i = end + 1
                name = self.s[start + 1 : end]
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise _ScanError(f"expected a key at offset {self.i}")
                self.i = m.end()
                name = m.group()
            parts.append((name, start, self.i))
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.i += 1

    def _basic_string_end(self, start: int) -> int:
        j = start + 1
        while j < self.n:
            c = self.s[j]
            if c == "\\":
                j += 2
            elif c == '"':
                return j + 1
            elif c == "\n":
                break
            else:
                j += 1
        raise _ScanError("unterminated string")

    def _multiline_end(self, start: int, quote: str) -> int:
        delimiter = quote * 3
        j = start + 3
        while j < self.n:
            if quote == '"' and self.s[j] == "\\":
                j += 2
                continue
            if self.s.startswith(delimiter, j):
                end = j + 3
                extra = 0
                while extra < 2 and end < self.n and self.s[end] == quote:
                    end += 1
                    extra += 1
                return end
            j += 1
        raise _ScanError("unterminated multi-line string")

    # grammar --------------------------------------------------------------------------
    def run(self) -> None:
        table: Key = ()
        while True:
            self.skip_blank(newlines=True)
            if self.i >= self.n:
                return
            if self.peek() == "[":
                table = self.header()
            else:
                self.keyval(table)
            self.skip_blank(newlines=False)
            if self.i < self.n and self.peek() not in "\r\n":
                raise _ScanError(f"unexpected text at offset {self.i}")

    def header(self) -> Key:
        start = self.i
        many = self.s.startswith("[[", self.i)
        self.i += 2 if many else 1
        names = [name for name, _, _ in self.key_parts()]
        self.expect("]]" if many else "]")
        resolved: Key = ()
        for name in names[:-1]:
            resolved += (name,)
            self._record_table(resolved, start)
            if resolved in self.arrays:
                resolved += (self.arrays[resolved] - 1,)
        resolved += (names[-1],)
        if many:
            self._record_table(resolved, start)
            index = self.arrays.get(resolved, 0)
            self.arrays[resolved] = index + 1
            resolved += (index,)
        span = self.span(start, self.i)
        self.keys[resolved] = span
        self.values.setdefault(resolved, span)
        return resolved

    def _record_table(self, key: Key, start: int) -> None:
        if key not in self.keys:
            span = self.span(start, self.i)
            self.keys[key] = span
            self.values[key] = span

    def keyval(self, table: Key) -> None:
        parts = self.key_parts()
        path = table
        for name, start, end in parts:
            path += (name,)
            self.keys.setdefault(path, self.span(start, end))
        _, last_start, last_end = parts[-1]
        self.keys[path] = self.span(last_start, last_end)
        self.skip_blank(newlines=False)
        self.expect("=")
        self.skip_blank(newlines=False)
        self.value(path)

    def value(self, path: Key) -> None:
        start = self.i
        c = self.peek()
        if self.s.startswith('"""', self.i) or self.s.startswith("'''", self.i):
            self.i = self._multiline_end(self.i, c)
        elif c == '"':
            self.i = self._basic_string_end(self.i)
        elif c == "'":
            end = self.s.find("'", self.i + 1)
            if end < 0:
                raise _ScanError("unterminated string")
            self.i = end + 1
        elif c == "[":
            self.array(path)
        elif c == "{":
            self.inline_table(path)
        else:
            j = self.i
            while j < self.n and self.s[j] not in ",]}#\r\n":
                j += 1
            while j > self.i and self.s[j - 1] in " \t":
                j -= 1
            if j == self.i:
                raise _ScanError(f"expected a value at offset {self.i}")
            self.i = j
        self.values[path] = self.span(start, self.i)

    def array(self, path: Key) -> None:
        self.i += 1
        index = 0
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "]":
                self.i += 1
                return
            if self.i >= self.n:
                raise _ScanError("unterminated array")
            element = (*path, index)
            self.value(element)
            self.keys.setdefault(element, self.values[element])
            index += 1
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.i += 1

    def inline_table(self, path: Key) -> None:
        self.i += 1
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "}":
                self.i += 1
                return
            if self.i >= self.n:
                raise _ScanError("unterminated inline table")
            self.keyval(path)
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.i += 1


def _decode_string(raw: str) -> str:
    try:
        value = tomllib.loads(f"k = {raw}")["k"]
    except (tomllib.TOMLDecodeError, KeyError):
        return raw[1:-1]
    return value if isinstance(value, str) else raw[1:-1]


def source_map(text: str) -> SourceMap:
    """Map every key path of ``text`` to its spans. Never raises: on text the scanner does
    not follow, it keeps what it found so far (errors then point at an enclosing table)."""
    scanner = _Scanner(text)
    with suppress(_ScanError, IndexError, RecursionError):
        scanner.run()
    last = len(scanner.starts)
    end_col = len(text) - scanner.starts[-1] + 1
    return SourceMap(scanner.keys, scanner.values, Span(last, end_col, last, end_col))


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def syntax_issue(file: str, text: str, exc: tomllib.TOMLDecodeError) -> Issue:
    """A TOML syntax error at the line and column tomllib reports."""
    message = str(exc)
    line = getattr(exc, "lineno", None)
    col = getattr(exc, "colno", None)
    found = _TOML_POSITION.search(message)
    if found:
        line, col = int(found.group(1)), int(found.group(2))
        message = message[: found.start()]
    elif _TOML_END.search(message):
        message = _TOML_END.sub("", message)
        lines = text.split("\n")
        line, col = len(lines), len(lines[-1]) + 1
    if not isinstance(line, int) or not isinstance(col, int):
        line, col = 1, 1
    message = message.strip() or "invalid TOML"
    return Issue(
        file, Span(line, col, line, col + 1), f"TOML syntax: {message[0].lower()}{message[1:]}"
    )
