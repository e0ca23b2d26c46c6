"""Column conversions between UTF-8 bytes and the client's units."""

from __future__ import annotations

import pytest

from hexad.core.text import UTF8, UTF16, UTF32, bytes_from_units, units_from_bytes

LINE = "x = 'héllo 😀 wörld' + 世界".encode()


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_round_trip_at_every_character_boundary(encoding: str) -> None:
    text = LINE.decode()
    for i in range(len(text) + 1):
        byte_col = len(text[:i].encode())
        units = units_from_bytes(LINE, byte_col, encoding)
        assert bytes_from_units(LINE, units, encoding) == byte_col


def test_known_columns() -> None:
    emoji_at = LINE.index("😀".encode())
    after = emoji_at + len("😀".encode())
    assert units_from_bytes(LINE, after, UTF8) == after
    assert units_from_bytes(LINE, after, UTF32) == len("x = 'héllo 😀")
    assert units_from_bytes(LINE, after, UTF16) == len("x = 'héllo 😀") + 1  # surrogate pair
    assert units_from_bytes(b"plain ascii", 5, UTF16) == 5


def test_columns_past_the_end_clamp() -> None:
    assert bytes_from_units(b"abc", 10, UTF16) == 3
    assert bytes_from_units("é".encode(), 10, UTF8) == 2
