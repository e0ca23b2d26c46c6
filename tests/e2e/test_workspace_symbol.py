"""workspace/symbol: fuzzy and ranked, over the disk and the open buffers."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from tests.e2e.support import Workspace, indexed_mark, until_indexed

K = types.SymbolKind


def flat(found: Any) -> list[tuple[str, types.SymbolKind, types.Location, str | None]]:
    return [(s.name, s.kind, s.location, s.container_name) for s in found]


async def test_fuzzy_queries_rank_the_expected_symbol_first(ws: Workspace) -> None:
    compute_total = (
        "compute_total",
        K.Function,
        ws.location("shop/pricing.py", "def compute_total", "compute_total"),
        "shop.pricing",
    )
    # word initials beat the many names that merely contain a c and then a t
    found = flat(await ws.search("ct"))
    assert found[0] == compute_total
    assert len(found) > 1
    # a subsequence
    assert flat(await ws.search("cmptot"))[0] == compute_total
    # a prefix; nothing else matches
    assert flat(await ws.search("apply")) == [
        (
            "apply_discount",
            K.Function,
            ws.location("shop/pricing.py", "def apply_discount", "apply_discount"),
            "shop.pricing",
        )
    ]
    # loosely typed CamelCase
    assert flat(await ws.search("MemStore"))[0] == (
        "MemoryStore",
        K.Class,
        ws.location("shop/storage.py", "class MemoryStore", "MemoryStore"),
        "shop.storage",
    )
    # a method, with its class as container; both `save` methods, nothing else
    assert flat(await ws.search("save")) == [
        (
            "save",
            K.Method,
            ws.location("shop/storage.py", "def save", "save", nth=nth),
            container,
        )
        for nth, container in ((1, "shop.storage.JsonStore"), (0, "shop.storage.MemoryStore"))
    ]
    # the TypeScript file is indexed too
    assert flat(await ws.search("parseTot")) == [
        (
            "parseTotal",
            K.Function,
            ws.location("web/client.ts", "function parseTotal", "parseTotal"),
            "web/client",
        )
    ]
    assert await ws.search("zzzqqq") == []


async def test_function_added_in_a_buffer_is_found(ws: Workspace) -> None:
    assert await ws.search("shipping_cost") == []
    buffer = ws.open("shop/pricing.py")
    buffer.append(
        "\n\ndef shipping_cost(order: Order) -> float:\n"
        "    return 4.9 if order.count() < 3 else 0.0\n"
    )
    await buffer.indexed()  # hexad/documentIndexed for this version

    assert flat(await ws.search("shipping_cost")) == [
        (
            "shipping_cost",
            K.Function,
            ws.location("shop/pricing.py", "def shipping_cost", "shipping_cost", text=buffer.text),
            "shop.pricing",
        )
    ]


async def test_files_created_and_deleted_on_disk(ws: Workspace) -> None:
    async def found(query: str) -> bool:
        return bool(await ws.search(query))

    # Created outside the editor: the index learns of it from the refresh that follows
    # the first index once the watcher runs, or from the watcher itself. Either way, once
    # it is seen, the watcher is running and the start-up refreshes are over, so the
    # deletion below can only reach the index through the watcher.
    mark = indexed_mark(ws.client)
    ws.path("shop/coupons.py").write_text(
        '"""Coupons."""\n\n\ndef redeem_coupon(code: str) -> float:\n'
        '    return 5.0 if code == "WELCOME" else 0.0\n',
        encoding="utf-8",
    )
    await until_indexed(ws.client, mark, lambda: found("redeem_coupon"))

    assert flat(await ws.search("redeem_coupon")) == [
        (
            "redeem_coupon",
            K.Function,
            ws.location("shop/coupons.py", "def redeem_coupon", "redeem_coupon"),
            "shop.coupons",
        )
    ]

    # deleted outside the editor: its symbols go with the watcher's refresh
    assert [s.name for s in await ws.search("receipt")] == ["receipt"]
    mark = indexed_mark(ws.client)
    ws.path("shop/report.py").unlink()

    async def gone() -> bool:
        return not await found("receipt")

    await until_indexed(ws.client, mark, gone)

    assert await ws.search("receipt") == []
    assert await ws.search("SAMPLE_TOTAL") == []
    assert [s.name for s in await ws.search("compute_total")] == ["compute_total"]
