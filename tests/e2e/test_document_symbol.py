"""textDocument/documentSymbol: a hierarchical outline, current to the last unsaved edit."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from tests.e2e.support import Workspace, utf16_len

K = types.SymbolKind
MODELS = "shop/models.py"


def rng(r: types.Range) -> tuple[int, int, int, int]:
    return (r.start.line, r.start.character, r.end.line, r.end.character)


def shape(symbols: Any) -> list[Any]:
    """(name, kind, range, selectionRange, children) for each symbol, recursively."""
    assert all(isinstance(s, types.DocumentSymbol) for s in symbols)
    return [
        (s.name, s.kind, rng(s.range), rng(s.selection_range), shape(s.children or []))
        for s in symbols
    ]


# Columns are UTF-16 code units. `größe` is 5 units but 7 UTF-8 bytes, so its name ends at
# 9 (11 in bytes); greeting's last line holds ü, ß, é (1 unit, 2 bytes each) and 😀 (2 units,
# 4 bytes) and a dash (1 unit, 3 bytes), so it ends at 60 (67 in bytes).
MODELS_OUTLINE = [
    ("CURRENCY", K.Variable, (4, 0, 4, 16), (4, 0, 4, 8), []),
    (
        "Product",
        K.Class,
        (8, 0, 16, 59),
        (8, 6, 8, 13),
        [
            ("name", K.Field, (11, 4, 11, 13), (11, 4, 11, 8), []),
            ("price", K.Field, (12, 4, 12, 16), (12, 4, 12, 9), []),
            ("label", K.Method, (14, 4, 16, 59), (14, 8, 14, 13), []),
        ],
    ),
    (
        "Order",
        K.Class,
        (20, 0, 32, 65),
        (20, 6, 20, 11),
        [
            ("customer", K.Field, (23, 4, 23, 17), (23, 4, 23, 12), []),
            ("lines", K.Field, (24, 4, 24, 66), (24, 4, 24, 9), []),
            ("add", K.Method, (26, 4, 28, 46), (26, 8, 26, 11), []),
            ("count", K.Method, (30, 4, 32, 65), (30, 8, 30, 13), []),
        ],
    ),
    ("größe", K.Function, (35, 0, 37, 27), (35, 4, 35, 9), []),
    ("greeting", K.Function, (40, 0, 42, 60), (40, 4, 40, 12), []),
]


async def test_outline_is_hierarchical_with_utf16_ranges(ws: Workspace) -> None:
    symbols = await ws.symbols(MODELS)

    assert shape(symbols) == MODELS_OUTLINE
    last_line = ws.text(MODELS).split("\n")[42]
    assert (utf16_len(last_line), len(last_line.encode("utf-8"))) == (60, 67)
    details = {s.name: s.detail for s in symbols}
    assert details["größe"] == "def größe(order: Order) -> int"
    assert details["Order"] == "class Order"
    order = next(s for s in symbols if s.name == "Order")
    assert [c.detail for c in order.children or []] == [
        "customer: str",
        "lines: list[tuple[Product, int]] = field(default_factory=list)",
        "def add(self, product: Product, quantity: int = 1) -> None",
        "def count(self) -> int",
    ]


async def test_typescript_outline(ws: Workspace) -> None:
    symbols = await ws.symbols("web/client.ts")

    assert shape(symbols) == [
        ("OrderLine", K.Interface, (2, 7, 5, 1), (2, 17, 2, 26), []),
        (
            "ShopClient",
            K.Class,
            (7, 7, 14, 1),
            (7, 13, 7, 23),
            [
                ("constructor", K.Method, (8, 2, 8, 50), (8, 2, 8, 13), []),
                ("fetchTotal", K.Method, (10, 2, 13, 3), (10, 8, 10, 18), []),
            ],
        ),
        ("parseTotal", K.Function, (16, 7, 18, 1), (16, 16, 16, 26), []),
    ]


async def test_incremental_edits_show_without_saving(ws: Workspace) -> None:
    on_disk = ws.text(MODELS)
    buffer = ws.open(MODELS)
    # a method typed into the middle of a class, three lines
    buffer.insert(
        "return sum(quantity for _product, quantity in self.lines)\n",
        "\n    def is_empty(self) -> bool:\n        return not self.lines\n",
    )
    # a rename on a later line, and a function with non-ASCII text added at the end
    buffer.replace("def greeting(", "def salutation(")
    added = '    return "Tschüß 👋 " + order.customer'
    buffer.append(f"\n\ndef farewell(order: Order) -> str:\n{added}\n")

    symbols = await ws.symbols(MODELS)

    outline = shape(symbols)
    assert [s[0] for s in outline] == [
        "CURRENCY",
        "Product",
        "Order",
        "größe",
        "salutation",
        "farewell",
    ]
    assert outline[2][4][-1] == ("is_empty", K.Method, (34, 4, 35, 29), (34, 8, 34, 16), [])
    assert outline[2][2] == (20, 0, 35, 29)  # the class grew around its new method
    assert outline[4] == ("salutation", K.Function, (43, 0, 45, 60), (43, 4, 43, 14), [])
    assert utf16_len(added) == 40 != len(added.encode("utf-8"))
    assert outline[5] == ("farewell", K.Function, (48, 0, 49, 40), (48, 4, 48, 12), [])
    assert ws.text(MODELS) == on_disk  # nothing was saved


async def test_several_changes_in_one_event(ws: Workspace) -> None:
    buffer = ws.open(MODELS)
    # one didChange, as a multi-cursor edit sends it: each range is in the text the
    # changes before it produced (a new line above everything, two edits on one line)
    buffer.batch(
        [
            ('CURRENCY = "EUR"\n', 'CURRENCY = "EUR"\nVAT_RATE = 0.19\n'),
            ("def label(", "def caption("),
            ("def greeting(", "def salutation("),
            ("Grüß Gott", "Servus 👋"),
            ("Bonne journée", "Ciao"),
        ]
    )
    assert buffer.version == 2

    outline = shape(await ws.symbols(MODELS))

    last_line = buffer.text.split("\n")[43]
    assert last_line == '    return f"Servus 👋, {order.customer} 😀 — Ciao"'
    assert [s[0] for s in outline] == [
        "CURRENCY",
        "VAT_RATE",
        "Product",
        "Order",
        "größe",
        "salutation",
    ]
    assert outline[1] == ("VAT_RATE", K.Variable, (5, 0, 5, 15), (5, 0, 5, 8), [])
    assert [c[0] for c in outline[2][4]] == ["name", "price", "caption"]
    assert outline[5] == (
        "salutation",
        K.Function,
        (41, 0, 43, utf16_len(last_line)),
        (41, 4, 41, 14),
        [],
    )


async def test_unsaved_text_wins_over_disk(ws: Workspace) -> None:
    buffer = ws.open(MODELS)
    buffer.replace("def greeting(", "def welcome(")
    # another program rewrites the file meanwhile; a refresh from disk runs
    ws.path(MODELS).write_text(
        ws.text(MODELS).replace("def greeting(", "def on_disk("), encoding="utf-8"
    )
    await ws.command("hexad.reindex")

    names = [s.name for s in await ws.symbols(MODELS)]
    assert names[-1] == "welcome"
    assert "on_disk" not in names
    assert await ws.search("on_disk") == []

    # once the editor closes the file, the disk is the truth again
    buffer.close()
    await ws.command("hexad.reindex")

    names = [s.name for s in await ws.symbols(MODELS)]
    assert names[-1] == "on_disk"
    assert await ws.search("welcome") == []
