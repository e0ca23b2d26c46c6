"""textDocument/hover: signature, kind, qualified name, docstring and usage, in Markdown."""

from __future__ import annotations

from lsprotocol import types

from tests.e2e.support import Workspace

SEP = "\n\n---\n\n"


def markdown(hover: types.Hover | None) -> str:
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.kind == types.MarkupKind.Markdown
    return hover.contents.value


COMPUTE_TOTAL = [
    "```python\ndef compute_total(order: Order, discount: float = 0.0) -> float\n```",
    "function · `shop.pricing.compute_total` · exported",
    "What the customer pays: the subtotal, less the discount, plus tax.",
    "4 callers · calls 3 · its module is imported by `shop/report.py`, `shop/services.py`",
]


async def test_call_site_and_definition(ws: Workspace) -> None:
    hover = await ws.hover("shop/services.py", "compute_total(order, discount)", shift=4)

    assert markdown(hover) == SEP.join([*COMPUTE_TOTAL, "*resolved: import*"])
    assert hover is not None
    assert hover.range == ws.range(
        "shop/services.py", "compute_total(order, discount)", "compute_total"
    )

    # at the definition: the same, less how a reference was resolved
    hover = await ws.hover("shop/pricing.py", "def compute_total", shift=6)

    assert markdown(hover) == SEP.join(COMPUTE_TOTAL)
    assert hover is not None
    assert hover.range == ws.range("shop/pricing.py", "def compute_total", "compute_total")


async def test_method_with_possible_callers(ws: Workspace) -> None:
    # no certain caller: both calls of `save` in the index could be either class's
    hover = await ws.hover("shop/storage.py", "def save", shift=5)

    assert markdown(hover) == SEP.join(
        [
            "```python\ndef save(self, order: Order) -> int\n```",
            "method · `shop.storage.MemoryStore.save` · exported",
            "Remember the order; answers how many are kept.",
            "0 callers (+2 possible) · calls 2"
            " · its module is imported by `shop/cli.py`, `shop/services.py`",
        ]
    )


async def test_non_ascii_name_and_range(ws: Workspace) -> None:
    hover = await ws.hover("shop/models.py", "def größe", shift=7)

    assert markdown(hover) == SEP.join(
        [
            "```python\ndef größe(order: Order) -> int\n```",
            "function · `shop.models.größe` · exported",
            "Die Größe einer Bestellung.",
            "0 callers · calls 1 · its module is imported by `shop/__init__.py`, `shop/cli.py`, "
            "`shop/pricing.py`, `shop/report.py`, `shop/services.py` and 1 more",
        ]
    )
    assert hover is not None
    assert hover.range == types.Range(
        start=types.Position(line=35, character=4), end=types.Position(line=35, character=9)
    )


async def test_typescript(ws: Workspace) -> None:
    hover = await ws.hover("web/client.ts", "parseTotal(await")

    assert markdown(hover) == SEP.join(
        [
            "```typescript\nfunction parseTotal(body: { total: number }): number\n```",
            "function · `web/client.parseTotal` · exported",
            "1 caller · calls 0",
            "*resolved: local*",
        ]
    )


async def test_unresolved_builtin_external_and_nothing(ws: Workspace) -> None:
    hover = await ws.hover("shop/pricing.py", "round(net")

    assert markdown(hover) == "`round` — not defined in this workspace (a builtin, or dynamic)"
    assert hover is not None
    assert hover.range == ws.range("shop/pricing.py", "round(net", "round")

    hover = await ws.hover("shop/storage.py", "json.dumps(data)", shift=6)
    assert markdown(hover) == "`dumps` — from the package `json`"

    # a blank line, a keyword: no hover at all
    assert await ws.hover("shop/pricing.py", "\n\n\ndef subtotal", shift=1) is None
    assert await ws.hover("shop/pricing.py", "return amount", shift=2) is None
