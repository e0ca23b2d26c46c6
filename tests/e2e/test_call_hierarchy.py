"""Call hierarchy: prepare, incoming calls (functions, module-level code), outgoing calls."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from tests.e2e.support import Workspace, line_range

K = types.SymbolKind


def item(
    ws: Workspace, rel: str, name: str, kind: types.SymbolKind, qualname: str, lines: range
) -> tuple[Any, ...]:
    """What an item for the definition of ``name`` (spanning ``lines``) must hold."""
    text = ws.text(rel)
    header = {
        K.Class: "class ",
        K.Variable: "",
    }.get(kind, "def ")
    return (
        name,
        kind,
        ws.uri(rel),
        line_range(text, lines.start, lines.stop - 1),
        ws.range(rel, f"{header}{name}", name),
        qualname,
    )


def module_item(ws: Workspace, rel: str) -> tuple[Any, ...]:
    zero = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)
    )
    return (rel.rsplit("/", 1)[-1], K.File, ws.uri(rel), zero, zero, "module level")


def shape(found: types.CallHierarchyItem) -> tuple[Any, ...]:
    return (
        found.name,
        found.kind,
        found.uri,
        found.range,
        found.selection_range,
        found.detail,
    )


def compute_total_item(ws: Workspace) -> tuple[Any, ...]:
    return item(
        ws,
        "shop/pricing.py",
        "compute_total",
        K.Function,
        "shop.pricing.compute_total",
        range(17, 21),
    )


async def prepare_one(ws: Workspace, rel: str, needle: str, **kw: Any) -> types.CallHierarchyItem:
    items = await ws.prepare(rel, needle, **kw)
    assert items is not None
    assert len(items) == 1
    assert isinstance(items[0].data, dict)
    assert isinstance(items[0].data["id"], int)
    return items[0]


async def test_prepare_at_a_definition_and_at_a_call(ws: Workspace) -> None:
    at_definition = await prepare_one(ws, "shop/pricing.py", "def compute_total", shift=6)
    at_call = await prepare_one(ws, "shop/services.py", "compute_total(order, discount)")

    assert shape(at_definition) == compute_total_item(ws)
    assert at_call == at_definition
    # nothing callable under the cursor: no items
    assert await ws.prepare("shop/pricing.py", "return amount", shift=2) is None


async def test_incoming_calls_include_module_level_code(ws: Workspace) -> None:
    compute_total = await prepare_one(ws, "shop/pricing.py", "def compute_total", shift=6)

    calls = await ws.incoming(compute_total)

    report = "shop/report.py"
    assert [(shape(c.from_), list(c.from_ranges)) for c in calls] == [
        (
            # a module-level assignment is attributed to the variable it defines
            item(ws, report, "SAMPLE_TOTAL", K.Variable, "shop.report.SAMPLE_TOTAL", range(6, 7)),
            [ws.range(report, "SAMPLE_TOTAL = compute_total(SAMPLE)", "compute_total")],
        ),
        (
            item(ws, report, "receipt", K.Function, "shop.report.receipt", range(9, 12)),
            [ws.range(report, "str(compute_total(SAMPLE, 10))", "compute_total")],
        ),
        (
            # code under `if __name__ == "__main__":` belongs to no function
            module_item(ws, report),
            [ws.range(report, "print(receipt(), compute_total(SAMPLE, 50))", "compute_total")],
        ),
        (
            item(
                ws, "shop/services.py", "run", K.Method, "shop.services.Checkout.run", range(19, 26)
            ),
            [ws.range("shop/services.py", "compute_total(order, discount)", "compute_total")],
        ),
    ]

    # called from module-level code only
    main = await prepare_one(ws, "shop/cli.py", "def main", shift=5)

    calls = await ws.incoming(main)

    assert [(shape(c.from_), list(c.from_ranges)) for c in calls] == [
        (module_item(ws, "shop/cli.py"), [ws.range("shop/cli.py", "main(sys.argv[1:])", "main")])
    ]


async def test_outgoing_calls(ws: Workspace) -> None:
    compute_total = await prepare_one(ws, "shop/pricing.py", "def compute_total", shift=6)
    pricing = "shop/pricing.py"

    calls = await ws.outgoing(compute_total)

    # `round` is a builtin: not an item of this workspace
    assert [(shape(c.to), list(c.from_ranges)) for c in calls] == [
        (
            item(
                ws,
                pricing,
                "apply_discount",
                K.Function,
                "shop.pricing.apply_discount",
                range(12, 15),
            ),
            [ws.range(pricing, "apply_discount(subtotal", "apply_discount")],
        ),
        (
            item(ws, pricing, "subtotal", K.Function, "shop.pricing.subtotal", range(7, 10)),
            [ws.range(pricing, "subtotal(order), discount", "subtotal")],
        ),
    ]

    # of a method
    run = await prepare_one(ws, "shop/services.py", "def run", shift=5)
    services = "shop/services.py"

    calls = await ws.outgoing(run)

    # self.validate (through self), compute_total (imported); `self.store.save` has two
    # candidates in the index and ValueError is a builtin: neither is listed
    assert [(shape(c.to), list(c.from_ranges)) for c in calls] == [
        (
            item(
                ws, services, "validate", K.Method, "shop.services.Checkout.validate", range(15, 18)
            ),
            [ws.range(services, "self.validate(order)", "validate")],
        ),
        (
            compute_total_item(ws),
            [ws.range(services, "compute_total(order, discount)", "compute_total")],
        ),
    ]
