"""Signature ripple: parameter changes carried to every call site the call graph finds."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.execution.engines import signature
from hexad.execution.engines.base import Draft, EngineError
from hexad.execution.engines.signature import Param
from hexad.execution.sources import DiskSources
from hexad.perception.index import IndexReader
from tests.conftest import WriteWorkspace

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "exec_workspace"
Indexed = Callable[[Path], Connection]

SHOP = {
    "shop/__init__.py": "",
    "shop/cart.py": """
        def add(cart, item, quantity=1):
            cart.append((item, quantity))
            return cart


        class Basket:
            def __init__(self, owner):
                self.owner = owner
                self.items = []

            def put(self, item, quantity=1):
                self.items.append((item, quantity))
                return self

            def fill(self, items):
                for item in items:
                    self.put(item)
                return self
        """,
    "shop/use.py": """
        from shop.cart import Basket, add


        def one():
            return add([], "apple", 2)


        def two():
            return add([], item="pear", quantity=3)


        def three():
            return add(
                [],
                "plum",
            )


        def four(args, kwargs):
            return add(*args, **kwargs)


        def five():
            basket = Basket("ann")
            basket.put("fig", 4)
            return Basket.put(basket, "kiwi")
        """,
}


@pytest.fixture
def shop(workspace: WriteWorkspace, indexed: Indexed) -> tuple[Path, IndexReader]:
    root = workspace(dict(SHOP))
    return root, IndexReader(indexed(root))


@pytest.fixture
def inventory(tmp_path: Path, indexed: Indexed) -> tuple[Path, IndexReader]:
    root = tmp_path / "inventory-ws"
    shutil.copytree(FIXTURE, root)
    return root, IndexReader(indexed(root))


def edited(root: Path, path: str, old: str, new: str) -> DiskSources:
    """Sources where ``path``'s buffer has ``old`` replaced by ``new`` (the user's edit)."""
    text = (root / path).read_text(encoding="utf-8")
    assert old in text
    return DiskSources(root, {path: (text.replace(old, new, 1), 2)})


def after(draft: Draft, path: str) -> str:
    change = draft.change.file(path)
    assert change is not None and change.after is not None
    return change.after


# -- parameter lists --------------------------------------------------------------------


def test_parameter_changes() -> None:
    added = signature.parameter_changes("item, amount", "item, amount, note=''")
    assert added.added == (Param("note", "positional", "''"),)
    assert not added.removed and not added.renamed and not added.reordered

    renamed = signature.parameter_changes("item: Item, amount: int", "item: Item, count: int")
    assert renamed.renamed == (("amount", "count"),)
    assert renamed.added == () and renamed.removed == ()
    assert renamed.new_name("amount") == "count" and renamed.new_name("item") == "item"

    reordered = signature.parameter_changes("a, b, c=1", "b, a, c=1")
    assert reordered.reordered and not reordered.added and not reordered.removed

    mixed = signature.parameter_changes("a, b, c=1", "c, a, d, *, e=2")
    assert [p.name for p in mixed.removed] == ["b"]
    assert [(p.name, p.kind, p.required) for p in mixed.added] == [
        ("d", "positional", True),
        ("e", "keyword_only", False),
    ]
    assert mixed.reordered and mixed.new_name("b") is None

    kinds = signature.parse_params("a, /, b: int = 2, *rest, c, d=4, **extra")
    assert [(p.name, p.kind, p.default, p.annotation) for p in kinds] == [
        ("a", "positional_only", None, None),
        ("b", "positional", "2", "int"),
        ("rest", "var_positional", None, None),
        ("c", "keyword_only", None, None),
        ("d", "keyword_only", "4", None),
        ("extra", "var_keyword", None, None),
    ]


@pytest.mark.parametrize("bad", ["a,, b", "a): pass\ndef g(b", "a=1, b", "1"])
def test_parse_params_refuses_what_is_not_a_parameter_list(bad: str) -> None:
    with pytest.raises(EngineError, match="parameter list"):
        signature.parse_params(bad)


# -- ripple -----------------------------------------------------------------------------


def test_ripple_add_with_default_changes_no_call(shop: tuple[Path, IndexReader]) -> None:
    root, reader = shop
    sources = edited(
        root,
        "shop/cart.py",
        "def add(cart, item, quantity=1):",
        "def add(cart, item, quantity=1, note=None):",
    )
    draft = signature.ripple(
        sources,
        reader,
        "shop/cart.py",
        "shop.cart.add",
        old_params="cart, item, quantity=1",
        new_params="cart, item, quantity=1, note=None",
    )
    assert draft.change.empty
    assert draft.kind == "signature" and draft.intent.kind == "signature"
    assert draft.intent.changed == () and draft.intent.keep_signature == ()
    assert draft.evidence["call_sites"] == 4
    assert draft.evidence["unchanged"] == 4
    assert any("needed a change" in n for n in draft.notes)


def test_ripple_add_required_with_a_value(shop: tuple[Path, IndexReader]) -> None:
    root, reader = shop
    sources = edited(
        root,
        "shop/cart.py",
        "def add(cart, item, quantity=1):",
        "def add(cart, item, price, quantity=1):",
    )
    draft = signature.ripple(
        sources,
        reader,
        "shop/cart.py",
        "shop.cart.add",
        old_params="cart, item, quantity=1",
        new_params="cart, item, price, quantity=1",
        values={"price": "0"},
    )
    text = after(draft, "shop/use.py")
    assert 'return add([], "apple", 0, 2)' in text
    assert 'return add([], item="pear", quantity=3, price=0)' in text
    assert 'return add(\n        [],\n        "plum",\n        0,\n    )' in text
    assert "return add(*args, **kwargs)" in text  # cannot be mapped: left alone
    assert any("use.py:20 (add(*args, **kwargs) unpacks arguments)" in n for n in draft.notes)
    assert [f.path for f in draft.change.files] == ["shop/use.py"]  # the definition is edited
    assert draft.intent.changed == ("shop.use.one", "shop.use.two", "shop.use.three")
    assert draft.intent.keep_signature == draft.intent.changed
    assert draft.symbols == ("shop.cart.add",)
    compile(text, "use.py", "exec")


def test_ripple_add_required_without_a_value_passes_its_name(
    shop: tuple[Path, IndexReader],
) -> None:
    root, reader = shop
    sources = edited(
        root,
        "shop/cart.py",
        "def add(cart, item, quantity=1):",
        "def add(cart, item, quantity=1, *, price):",
    )
    draft = signature.ripple(
        sources,
        reader,
        "shop/cart.py",
        "shop.cart.add",
        old_params="cart, item, quantity=1",
        new_params="cart, item, quantity=1, *, price",
    )
    text = after(draft, "shop/use.py")
    assert 'return add([], "apple", 2, price=price)' in text
    assert sum("needs a value" in n for n in draft.notes) == 3


def test_ripple_remove_drops_arguments(shop: tuple[Path, IndexReader]) -> None:
    root, reader = shop
    sources = edited(
        root, "shop/cart.py", "def add(cart, item, quantity=1):", "def add(cart, item):"
    )
    draft = signature.ripple(
        sources,
        reader,
        "shop/cart.py",
        "shop.cart.add",
        old_params="cart, item, quantity=1",
        new_params="cart, item",
    )
    text = after(draft, "shop/use.py")
    assert 'return add([], "apple")' in text
    assert 'return add([], item="pear")' in text
    assert 'return add(\n        [],\n        "plum",\n    )' in text  # untouched
    assert any("dropped the argument '2' of quantity" in n for n in draft.notes)


def test_ripple_rename_renames_keywords(shop: tuple[Path, IndexReader]) -> None:
    root, reader = shop
    sources = edited(
        root, "shop/cart.py", "def add(cart, item, quantity=1):", "def add(cart, item, count=1):"
    )
    draft = signature.ripple(
        sources,
        reader,
        "shop/cart.py",
        "shop.cart.add",
        old_params="cart, item, quantity=1",
        new_params="cart, item, count=1",
    )
    text = after(draft, "shop/use.py")
    assert 'return add([], item="pear", count=3)' in text
    assert 'return add([], "apple", 2)' in text  # positional: nothing to do
    assert draft.evidence["rewritten"] == ["shop/use.py:9"]
    assert draft.evidence["parameters"]["renamed"] == [["quantity", "count"]]


def test_ripple_reorder_moves_positional_arguments(shop: tuple[Path, IndexReader]) -> None:
    root, reader = shop
    sources = edited(
        root, "shop/cart.py", "def add(cart, item, quantity=1):", "def add(item, cart, quantity=1):"
    )
    draft = signature.ripple(
        sources,
        reader,
        "shop/cart.py",
        "shop.cart.add",
        old_params="cart, item, quantity=1",
        new_params="item, cart, quantity=1",
    )
    text = after(draft, "shop/use.py")
    assert 'return add("apple", [], 2)' in text
    # `item` is first now and passed by name: the positional cart must be named too
    assert 'return add(cart=[], item="pear", quantity=3)' in text
    assert 'return add(\n        "plum",\n        [],\n    )' in text


def test_ripple_method_call_sites_skip_self(shop: tuple[Path, IndexReader]) -> None:
    root, reader = shop
    sources = edited(
        root,
        "shop/cart.py",
        "def put(self, item, quantity=1):",
        "def put(self, item, price, quantity=1):",
    )
    draft = signature.ripple(
        sources,
        reader,
        "shop/cart.py",
        "shop.cart.Basket.put",
        old_params="self, item, quantity=1",
        new_params="self, item, price, quantity=1",
        values={"price": "9"},
    )
    use = after(draft, "shop/use.py")
    assert 'basket.put("fig", 9, 4)' in use  # bound: self is the receiver
    assert 'Basket.put(basket, "kiwi", 9)' in use  # through the class: self is passed
    cart = after(draft, "shop/cart.py")
    assert "self.put(item, 9)" in cart
    assert set(draft.intent.changed) == {"shop.use.five", "shop.cart.Basket.fill"}


def test_ripple_constructor_calls(shop: tuple[Path, IndexReader]) -> None:
    root, reader = shop
    sources = edited(
        root, "shop/cart.py", "def __init__(self, owner):", "def __init__(self, owner, currency):"
    )
    draft = signature.ripple(
        sources,
        reader,
        "shop/cart.py",
        "shop.cart.Basket.__init__",
        old_params="self, owner",
        new_params="self, owner, currency",
        values={"currency": '"EUR"'},
    )
    assert 'basket = Basket("ann", "EUR")' in after(draft, "shop/use.py")


def test_ripple_confirms_ambiguous_calls_with_jedi(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    root = workspace(
        {
            "pkg/__init__.py": "",
            "pkg/shapes.py": """
                class Square:
                    def grow(self, by):
                        return by


                class Circle:
                    def grow(self, by):
                        return -by
                """,
            "pkg/use.py": """
                from pkg.shapes import Circle, Square


                def use():
                    square = Square()
                    circle = Circle()
                    return square.grow(1) + circle.grow(2)
                """,
        }
    )
    reader = IndexReader(indexed(root))
    sources = edited(
        root,
        "pkg/shapes.py",
        "    def grow(self, by):\n        return by",
        "    def grow(self, by, twice=False):\n        return by",
    )
    draft = signature.ripple(
        sources,
        reader,
        "pkg/shapes.py",
        "pkg.shapes.Square.grow",
        old_params="self, by",
        new_params="self, by, twice=False",
        values={"twice": "True"},
    )
    assert "square.grow(1, True) + circle.grow(2)" in after(draft, "pkg/use.py")
    assert draft.evidence["confirmed_by_jedi"] == 1
    assert draft.evidence["unconfirmed"] == ["pkg/use.py:7"]


def test_ripple_refuses_when_the_definition_was_not_edited(
    shop: tuple[Path, IndexReader],
) -> None:
    root, reader = shop
    with pytest.raises(EngineError, match=r"declares \(cart, item, quantity=1\)"):
        signature.ripple(
            DiskSources(root),
            reader,
            "shop/cart.py",
            "shop.cart.add",
            old_params="cart, item, quantity=1",
            new_params="cart, item",
        )
    with pytest.raises(EngineError, match=r"no function or method shop\.cart\.nothing"):
        signature.ripple(
            DiskSources(root),
            reader,
            "shop/cart.py",
            "shop.cart.nothing",
            old_params="a",
            new_params="b",
        )


# -- change_signature -------------------------------------------------------------------


def test_change_signature_rewrites_the_definition(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    draft = signature.change_signature(
        DiskSources(root),
        reader,
        "inventory/stock.py",
        "inventory.stock.restock",
        "item: Item, count: int, *, note: str",
        values={"note": '"test"'},
    )
    stock = after(draft, "inventory/stock.py")
    assert "def restock(item: Item, count: int, *, note: str) -> Item:" in stock
    assert "    if count < 0:" in stock and "item.quantity += count" in stock
    tests = after(draft, "tests/test_stock.py")
    assert 'restock(Item("bolt", Decimal("0.50"), 2), 3, note="test")' in tests
    assert 'restock(Item("nut", Decimal("0.10")), -1, note="test")' in tests
    assert draft.intent.changed[0] == "inventory.stock.restock"
    assert set(draft.intent.changed[1:]) == {
        "test_stock.test_restock_adds_units",
        "test_stock.test_restock_refuses_negative",
    }
    assert "inventory.stock.restock" not in draft.intent.keep_signature
    assert set(draft.intent.keep_signature) == set(draft.intent.changed[1:])
    assert draft.task.startswith("Change the signature of inventory.stock.restock")


def test_change_signature_notes_a_removed_parameter_still_used(
    inventory: tuple[Path, IndexReader],
) -> None:
    root, reader = inventory
    draft = signature.change_signature(
        DiskSources(root), reader, "inventory/stock.py", "inventory.stock.restock", "item: Item"
    )
    assert any("still uses amount" in n for n in draft.notes)
    assert 'restock(Item("bolt", Decimal("0.50"), 2))' in after(draft, "tests/test_stock.py")
    with pytest.raises(EngineError, match="already has"):
        signature.change_signature(
            DiskSources(root),
            reader,
            "inventory/stock.py",
            "inventory.stock.restock",
            "item: Item,  amount: int",
        )
    with pytest.raises(EngineError, match="not parameters"):
        signature.change_signature(
            DiskSources(root),
            reader,
            "inventory/stock.py",
            "inventory.stock.restock",
            "item: Item, amount: int, note=''",
            values={"nope": "1"},
        )


def test_method_parameter_lists_may_leave_out_self(shop: tuple[Path, IndexReader]) -> None:
    root, reader = shop
    draft = signature.change_signature(
        DiskSources(root),
        reader,
        "shop/cart.py",
        "Basket.put",
        "item, quantity=1, *, gift=False",
        values={"gift": "True"},
    )
    cart = after(draft, "shop/cart.py")
    assert "    def put(self, item, quantity=1, *, gift=False):" in cart
    assert "self.put(item, gift=True)" in cart
    assert 'basket.put("fig", 4, gift=True)' in after(draft, "shop/use.py")
    assert draft.intent.changed[0] == "shop.cart.Basket.put"
    assert set(draft.intent.keep_signature) == {"shop.cart.Basket.fill", "shop.use.five"}


def test_keyword_arguments_keep_their_text(workspace: WriteWorkspace, indexed: Indexed) -> None:
    root = workspace(
        {
            "m.py": """
                def f(a, b=1, c=2):
                    return a + b + c


                def g():
                    return f(1, c = 3, b = 2)
                """,
        }
    )
    reader = IndexReader(indexed(root))
    draft = signature.change_signature(DiskSources(root), reader, "m.py", "m.f", "a, bb=1, c=2")
    assert "return f(1, c = 3, bb=2)" in after(draft, "m.py")
