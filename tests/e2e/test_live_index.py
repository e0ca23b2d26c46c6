"""Unsaved edits that change what calls what reach the call hierarchy, in the edited file
and in the files it calls into."""

from __future__ import annotations

from lsprotocol import types

from tests.e2e.support import Workspace

PRICING = "shop/pricing.py"
SERVICES = "shop/services.py"


async def prepare(
    ws: Workspace, rel: str, needle: str, shift: int, text: str | None = None
) -> types.CallHierarchyItem:
    items = await ws.prepare(rel, needle, shift=shift, text=text)
    assert items is not None
    assert len(items) == 1
    return items[0]


async def callees(ws: Workspace, item: types.CallHierarchyItem) -> list[tuple[str, list[int]]]:
    return [(c.to.name, [r.start.line for r in c.from_ranges]) for c in await ws.outgoing(item)]


async def callers(ws: Workspace, item: types.CallHierarchyItem) -> list[tuple[str, list[int]]]:
    return [
        (c.from_.detail or "", [r.start.line for r in c.from_ranges])
        for c in await ws.incoming(item)
    ]


async def test_edit_in_the_function_changes_its_outgoing_calls(ws: Workspace) -> None:
    item = await prepare(ws, PRICING, "def compute_total", 6)
    assert await callees(ws, item) == [("apply_discount", [19]), ("subtotal", [19])]

    buffer = ws.open(PRICING)
    buffer.replace(
        "net = apply_discount(subtotal(order), discount)",
        "net = subtotal(order)\n    if discount:\n        net = apply_discount(net, discount)",
    )
    # the file's symbols were written again: ask for a fresh item, as an editor does
    item = await prepare(ws, PRICING, "def compute_total", 6, text=buffer.text)
    assert await callees(ws, item) == [("subtotal", [19]), ("apply_discount", [21])]

    buffer.replace("        net = apply_discount(net, discount)", "        net = net - discount")
    item = await prepare(ws, PRICING, "def compute_total", 6, text=buffer.text)
    assert await callees(ws, item) == [("subtotal", [19])]
    apply_discount = await prepare(ws, PRICING, "def apply_discount", 6, text=buffer.text)
    assert await callers(ws, apply_discount) == []


async def test_edit_in_another_file_changes_incoming_calls(ws: Workspace) -> None:
    apply_discount = await prepare(ws, PRICING, "def apply_discount", 6)
    subtotal = await prepare(ws, PRICING, "def subtotal", 6)
    assert await callers(ws, apply_discount) == [("shop.pricing.compute_total", [19])]
    assert await callers(ws, subtotal) == [("shop.pricing.compute_total", [19])]

    buffer = ws.open(SERVICES)
    buffer.replace(
        "from shop.pricing import compute_total",
        "from shop.pricing import apply_discount, compute_total",
    )
    buffer.replace(
        "total = compute_total(order, discount)",
        "total = apply_discount(compute_total(order), discount)",
    )
    await buffer.indexed()  # services.py is not the file asked about: wait for its edit

    # pricing.py did not change, so its items stay valid
    assert await callers(ws, apply_discount) == [
        ("shop.pricing.compute_total", [19]),
        ("shop.services.Checkout.run", [23]),
    ]
    assert await callers(ws, subtotal) == [("shop.pricing.compute_total", [19])]
    run = await prepare(ws, SERVICES, "def run", 5, text=buffer.text)
    assert await callees(ws, run) == [
        ("validate", [21]),
        ("apply_discount", [23]),
        ("compute_total", [23]),
    ]

    # back to the text on disk
    buffer.replace(
        "apply_discount(compute_total(order), discount)", "compute_total(order, discount)"
    )
    await buffer.indexed()
    assert await callers(ws, apply_discount) == [("shop.pricing.compute_total", [19])]
