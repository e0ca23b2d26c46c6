"""Columns in the three units LSP clients may use, against the UTF-8 bytes the index keeps."""

from __future__ import annotations

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def units_from_bytes(line: bytes, byte_col: int, encoding: str) -> int:
    """The column, in ``encoding``'s code units, of byte offset ``byte_col`` in ``line``."""
    if encoding == UTF8 or line[:byte_col].isascii():
        return byte_col
    prefix = line[:byte_col].decode("utf-8", "replace")
    if encoding == UTF32:
        return len(prefix)
    return len(prefix) + sum(1 for ch in prefix if ord(ch) > 0xFFFF)


def bytes_from_units(line: bytes, units: int, encoding: str) -> int:
    """The byte offset in ``line`` of a column given in ``encoding``'s code units."""
    if encoding == UTF8:
        return min(units, len(line))
    if line.isascii():
        return min(units, len(line))
    text = line.decode("utf-8", "replace")
    count = 0
    for index, ch in enumerate(text):
        if count >= units:
            return len(text[:index].encode("utf-8"))
        count += 2 if encoding == UTF16 and ord(ch) > 0xFFFF else 1
    return len(line)
