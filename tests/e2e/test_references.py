"""textDocument/references: across files, with or without the declaration; for an
ambiguous method name, only the call sites jedi confirms."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from tests.e2e.support import Workspace


def ordered(locations: Any) -> list[types.Location]:
    return sorted(
        locations, key=lambda loc: (loc.uri, loc.range.start.line, loc.range.start.character)
    )


def compute_total_calls(ws: Workspace) -> list[types.Location]:
    report = "shop/report.py"
    return [
        ws.location(report, "SAMPLE_TOTAL = compute_total(SAMPLE)", "compute_total"),
        # after "Zoë 😀": UTF-16 column 32, byte 35
        ws.location(report, "str(compute_total(SAMPLE, 10))", "compute_total"),
        ws.location(report, "print(receipt(), compute_total(SAMPLE, 50))", "compute_total"),
        ws.location("shop/services.py", "compute_total(order, discount)", "compute_total"),
    ]


async def test_function_across_files_with_declaration(ws: Workspace) -> None:
    declaration = ws.location("shop/pricing.py", "def compute_total", "compute_total")
    expected = [declaration, *compute_total_calls(ws)]

    # asked at the definition, and at a call site in another file: the same answer,
    # the declaration first, then the uses by file and position
    assert await ws.references("shop/pricing.py", "def compute_total", True, shift=6) == expected
    assert await ws.references("shop/services.py", "compute_total(order", True) == expected
    assert expected[2].range.start == types.Position(line=11, character=32)


async def test_function_across_files_without_declaration(ws: Workspace) -> None:
    found = await ws.references("shop/report.py", "compute_total(SAMPLE)", False)
    assert found == compute_total_calls(ws)

    # nothing to find on a blank line, or on a keyword
    assert await ws.references("shop/pricing.py", "\n\n\ndef subtotal", True, shift=1) == []
    assert await ws.references("shop/pricing.py", "return amount", True) == []


async def test_ambiguous_method_only_where_jedi_confirms(ws: Workspace) -> None:
    # two classes define `save`; services.py calls each once, through different objects
    memory_save = ws.location("shop/storage.py", "def save", "save", nth=0)
    json_save = ws.location("shop/storage.py", "def save", "save", nth=1)
    through_self_store = ws.location("shop/services.py", "self.store.save(order)", "save")
    through_json_store = ws.location("shop/services.py", "return store.save(order)", "save")

    found = await ws.references("shop/storage.py", "def save", True, nth=0, shift=5)
    assert found == [memory_save, through_self_store]
    found = await ws.references("shop/storage.py", "def save", True, nth=1, shift=5)
    assert found == [json_save, through_json_store]
    found = await ws.references("shop/storage.py", "def save", False, nth=1, shift=5)
    assert found == [through_json_store]

    # asked at a call site, the same split
    found = await ws.references("shop/services.py", "self.store.save(order)", True, shift=12)
    assert ordered(found) == ordered([memory_save, through_self_store])
    found = await ws.references("shop/services.py", "return store.save(order)", False, shift=14)
    assert found == [through_json_store]
