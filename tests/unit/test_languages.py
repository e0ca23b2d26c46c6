"""The bundled grammars beyond Python, on small real projects in tests/fixtures/languages.

Each language is checked twice: file by file through the extractor (definitions with
their qualified names and exported flags, docs, call and inheritance references with
their scope and receiver, imports), then as a whole folder through the indexer, where
calls must resolve across files through imports and within a file lexically or by self.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hexad.core.db import Connection, connect
from hexad.perception.extract import extract
from hexad.perception.facts import FileFacts
from hexad.perception.indexer import Indexer
from hexad.perception.language import LanguageRegistry, default_registry
from hexad.perception.modules import module_name

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "languages"
LANGUAGES = {
    "c", "cpp", "csharp", "go", "java", "javascript", "ruby", "rust", "tsx", "typescript",
}  # fmt: skip

Symbol = tuple[str, str, str, bool]  # kind, name, qualname, exported
Ref = tuple[str, str | None, str | None]  # name, receiver, qualname of the enclosing scope
Import = tuple[str, str | None, str | None, bool]  # source, name, alias, wildcard


@dataclass(frozen=True)
class FileCase:
    language: str
    path: str  # relative to the language's fixture folder
    symbols: frozenset[Symbol]  # every definition in the file
    docs: dict[str, str] = field(default_factory=dict)  # qualname -> doc
    calls: frozenset[Ref] = frozenset()  # among the file's call references
    bases: frozenset[Ref] = frozenset()  # every inheritance reference
    imports: frozenset[Import] = frozenset()  # every import
    package: str | None = None

    @property
    def id(self) -> str:
        return f"{self.language}:{self.path}"


def _set(*items: Any) -> frozenset[Any]:
    return frozenset(items)


FILE_CASES = [
    FileCase(
        "javascript",
        "geometry.js",
        symbols=_set(
            ("class", "Shape", "geometry.Shape", True),
            ("method", "constructor", "geometry.Shape.constructor", True),
            ("method", "area", "geometry.Shape.area", True),
            ("method", "describe", "geometry.Shape.describe", True),
            ("class", "Circle", "geometry.Circle", True),
            ("method", "constructor", "geometry.Circle.constructor", True),
            ("method", "area", "geometry.Circle.area", True),
            ("function", "square", "geometry.square", False),
            ("constant", "UNIT", "geometry.UNIT", True),
            ("function", "makeCircle", "geometry.makeCircle", True),
            ("function", "unitCircle", "geometry.unitCircle", True),
        ),
        docs={
            "geometry.Shape": "Base class for every shape.",
            "geometry.Shape.area": "Area of the shape; subclasses override it.",
            "geometry.square": "Squares a number.",
            "geometry.makeCircle": "Builds a circle of the given radius.",
        },
        calls=_set(
            ("area", "this", "geometry.Shape.describe"),
            ("square", None, "geometry.Circle.area"),
            ("Circle", None, "geometry.makeCircle"),
            ("makeCircle", None, "geometry.unitCircle"),
        ),
        bases=_set(("Shape", None, "geometry.Circle")),
    ),
    FileCase(
        "javascript",
        "app.js",
        symbols=_set(
            ("function", "report", "app.report", True),
            ("function", "main", "app.main", False),
        ),
        docs={"app.report": "Writes one line per shape and returns the lines."},
        calls=_set(
            ("describe", "s", "app.report"),
            ("writeFileSync", "fs", "app.report"),
            ("circle", None, "app.main"),
            ("unitCircle", None, "app.main"),
            ("makeCircle", "geo", "app.main"),
            ("report", None, "app.main"),
            ("main", None, None),
        ),
        imports=_set(
            ("./geometry.js", "default", "unitCircle", False),
            ("./geometry.js", "Shape", None, False),
            ("./geometry.js", "makeCircle", "circle", False),
            ("./geometry", None, "geo", False),
            ("node:fs", "default", "fs", False),
        ),
    ),
    FileCase(
        "typescript",
        "models.ts",
        symbols=_set(
            ("interface", "Priced", "models.Priced", True),
            ("method", "price", "models.Priced.price", True),
            ("type", "Currency", "models.Currency", True),
            ("enum", "Status", "models.Status", True),
            ("constant", "TAX_RATE", "models.TAX_RATE", False),
            ("class", "LineItem", "models.LineItem", True),
            ("method", "constructor", "models.LineItem.constructor", True),
            ("method", "price", "models.LineItem.price", True),
            ("method", "round", "models.LineItem.round", False),  # private
            ("class", "Document", "models.Document", True),
            ("method", "render", "models.Document.render", True),
            ("function", "withTax", "models.withTax", False),
            ("function", "total", "models.total", True),
        ),
        docs={
            "models.Priced": "Anything that can be priced.",
            "models.LineItem": "One line of an order.",
            "models.withTax": "Adds the tax to a net amount.",
        },
        calls=_set(
            ("withTax", None, "models.LineItem.price"),
            ("round", "Math", "models.LineItem.round"),
            ("price", "item", "models.total"),
        ),
        bases=_set(("Priced", None, "models.LineItem")),
    ),
    FileCase(
        "typescript",
        "service.ts",
        symbols=_set(
            ("module", "Billing", "service.Billing", True),
            ("class", "OrderService", "service.OrderService", True),
            ("method", "add", "service.OrderService.add", True),
            ("method", "price", "service.OrderService.price", True),
            ("method", "status", "service.OrderService.status", True),
            ("function", "createService", "service.createService", True),
        ),
        docs={"service.OrderService": "Computes and announces order totals."},
        calls=_set(
            ("push", "this.items", "service.OrderService.add"),
            ("LineItem", None, "service.OrderService.add"),
            ("sumOf", None, "service.OrderService.price"),
            ("price", "this", "service.OrderService.status"),
            ("OrderService", None, "service.createService"),
        ),
        bases=_set(
            ("EventEmitter", None, "service.OrderService"),
            ("Priced", None, "service.OrderService"),
        ),
        imports=_set(
            ("./models", "LineItem", None, False),
            ("./models", "Priced", None, False),
            ("./models", "total", "sumOf", False),
            ("./models", None, "models", False),
            ("./models.js", "Currency", None, False),
            ("events", "EventEmitter", None, False),
        ),
    ),
    FileCase(
        "typescript",
        "globals.d.ts",
        symbols=_set(
            ("function", "formatAmount", "globals.formatAmount", True),
            ("function", "charge", "globals.charge", True),
        ),
        docs={"globals.formatAmount": "Formats an amount for display."},
    ),
    FileCase(
        "tsx",
        "Badge.tsx",
        symbols=_set(
            ("interface", "BadgeProps", "Badge.BadgeProps", True),
            ("function", "Badge", "Badge.Badge", True),
            ("function", "Counter", "Badge.Counter", False),
            ("function", "formatCount", "Badge.formatCount", True),
        ),
        docs={"Badge.Badge": "A pill showing a label and an optional counter."},
        calls=_set(
            ("Counter", None, "Badge.Badge"),  # <Counter value={count} />
            ("formatCount", None, "Badge.Counter"),
        ),
        imports=_set(("react", "default", "React", False)),
    ),
    FileCase(
        "tsx",
        "App.tsx",
        symbols=_set(
            ("type", "Item", "App.Item", False),
            ("class", "Inbox", "App.Inbox", True),
            ("method", "title", "App.Inbox.title", True),
            ("method", "total", "App.Inbox.total", True),
            ("method", "render", "App.Inbox.render", True),
        ),
        docs={"App.Inbox": "Renders the inbox list with one badge per folder."},
        calls=_set(
            ("formatCount", None, "App.Inbox.title"),
            ("total", "this", "App.Inbox.title"),
            ("title", "this", "App.Inbox.render"),
            ("Badge", None, "App.Inbox.render"),
        ),
        bases=_set(("Component", "React", "App.Inbox")),
        imports=_set(
            ("react", "default", "React", False),
            ("./Badge", "default", "Badge", False),
            ("./Badge", "formatCount", None, False),
        ),
    ),
    FileCase(
        "go",
        "store/cart.go",
        symbols=_set(
            ("constant", "MaxItems", "example.com/shop/store.MaxItems", True),
            ("variable", "errFull", "example.com/shop/store.errFull", False),
            ("struct", "Item", "example.com/shop/store.Item", True),
            ("struct", "Cart", "example.com/shop/store.Cart", True),
            ("interface", "Pricer", "example.com/shop/store.Pricer", True),
            ("method", "Total", "example.com/shop/store.Pricer.Total", True),
            ("function", "NewCart", "example.com/shop/store.NewCart", True),
            # methods declared outside their struct still belong to it
            ("method", "Add", "example.com/shop/store.Cart.Add", True),
            ("method", "Total", "example.com/shop/store.Cart.Total", True),
            ("method", "describe", "example.com/shop/store.Cart.describe", False),
            ("function", "formatCents", "example.com/shop/store.formatCents", False),
        ),
        docs={
            "example.com/shop/store.Cart": "Cart holds items for one customer.",
            "example.com/shop/store.Cart.Add": "Add puts an item in the cart.",
            "example.com/shop/store.MaxItems": "MaxItems bounds the size of a cart.",
        },
        calls=_set(
            ("Cart", None, "example.com/shop/store.NewCart"),  # &Cart{}
            ("formatCents", None, "example.com/shop/store.Cart.describe"),
            ("Total", "c", "example.com/shop/store.Cart.describe"),
            ("Sprintf", "fmt", "example.com/shop/store.formatCents"),
        ),
        imports=_set(("errors", None, None, False), ("fmt", None, None, False)),
    ),
    FileCase(
        "go",
        "main.go",
        symbols=_set(
            ("type", "Receipt", "example.com/shop.Receipt", True),
            ("function", "checkout", "example.com/shop.checkout", False),
            ("function", "main", "example.com/shop.main", False),
        ),
        calls=_set(
            ("NewCart", "store", "example.com/shop.main"),
            ("Item", "s", "example.com/shop.main"),
            ("checkout", None, "example.com/shop.main"),
        ),
        imports=_set(
            ("fmt", None, None, False),
            ("example.com/shop/store", None, None, False),
            ("example.com/shop/store", None, "s", False),
        ),
    ),
    FileCase(
        "rust",
        "src/shapes.rs",
        symbols=_set(
            ("trait", "Area", "crate::shapes::Area", True),
            ("method", "area", "crate::shapes::Area::area", True),
            ("struct", "Circle", "crate::shapes::Circle", True),
            ("enum", "Kind", "crate::shapes::Kind", True),
            ("constant", "PI", "crate::shapes::PI", True),
            ("type", "Radius", "crate::shapes::Radius", True),
            ("impl", "Circle", "crate::shapes::Circle", True),
            ("method", "new", "crate::shapes::Circle::new", True),
            ("method", "diameter", "crate::shapes::Circle::diameter", False),  # pub(crate)
            ("method", "area", "crate::shapes::Circle::area", False),
            ("method", "fmt", "crate::shapes::Circle::fmt", False),
            ("function", "double", "crate::shapes::double", False),
            ("function", "unit", "crate::shapes::unit", True),
        ),
        docs={
            "crate::shapes::Area": "Anything with an area.",
            "crate::shapes::Area::area": "The area in square units.",
            # the #[derive(..)] attribute between comment and struct is skipped
            "crate::shapes::Circle": "A circle centred on the origin.",
            "crate::shapes::Circle::new": "Builds a circle from its radius.",
        },
        calls=_set(
            ("Circle", None, "crate::shapes::Circle::new"),
            ("double", None, "crate::shapes::Circle::diameter"),
            ("area", "self", "crate::shapes::Circle::fmt"),
            ("write", None, "crate::shapes::Circle::fmt"),
            ("new", "Circle", "crate::shapes::unit"),
        ),
        bases=_set(
            ("Area", None, "crate::shapes::Circle"),
            ("Display", "fmt", "crate::shapes::Circle"),
        ),
        imports=_set(("std::fmt", None, None, False)),
    ),
    FileCase(
        "rust",
        "src/lib.rs",
        symbols=_set(
            ("function", "total_area", "crate::total_area", True),
            ("function", "summary", "crate::summary", False),
        ),
        docs={"crate::total_area": "Sums the areas of every shape."},
        calls=_set(
            ("area", "s", "crate::total_area"),
            ("new", "HashMap", "crate::summary"),
            ("new", "Circle", "crate::summary"),
            ("unit", None, "crate::summary"),
            ("unit", "shapes", "crate::summary"),
            ("total_area", None, "crate::summary"),
            ("println", None, "crate::summary"),
        ),
        imports=_set(
            ("self::shapes", None, None, False),  # mod shapes;
            ("crate::shapes", "unit", None, False),
            ("crate::shapes", "Area", "HasArea", False),
            ("crate::shapes::Circle", None, None, False),
            ("std::collections::HashMap", None, None, False),
        ),
    ),
    FileCase(
        "java",
        "src/main/java/com/example/shop/Cart.java",
        symbols=_set(
            ("class", "Cart", "com.example.shop.Cart", True),
            ("constant", "MAX_ITEMS", "com.example.shop.Cart.MAX_ITEMS", True),
            ("method", "add", "com.example.shop.Cart.add", True),
            ("method", "price", "com.example.shop.Cart.price", True),
            ("method", "isFull", "com.example.shop.Cart.isFull", False),
            ("class", "Item", "com.example.shop.Cart.Item", True),
            ("method", "Item", "com.example.shop.Cart.Item.Item", True),
            ("method", "price", "com.example.shop.Cart.Item.price", True),
            ("class", "CartAudit", "com.example.shop.CartAudit", False),
            ("method", "describe", "com.example.shop.CartAudit.describe", False),
        ),
        docs={
            "com.example.shop.Cart": "A shopping cart holding priced items.",
            "com.example.shop.Cart.add": "Adds an item unless the cart is full.",
            "com.example.shop.Cart.Item": "Items with a fixed price.",
        },
        calls=_set(
            ("ArrayList", None, "com.example.shop.Cart"),
            ("isFull", "this", "com.example.shop.Cart.add"),  # unqualified: implicit this
            ("add", "this.items", "com.example.shop.Cart.add"),
            ("price", "item", "com.example.shop.Cart.price"),
            ("price", "cart", "com.example.shop.CartAudit.describe"),
        ),
        bases=_set(
            ("Priced", None, "com.example.shop.Cart"),
            ("Priced", None, "com.example.shop.Cart.Item"),
        ),
        imports=_set(
            ("java.util.ArrayList", None, None, False),
            ("java.util.List", None, None, False),
        ),
        package="com.example.shop",
    ),
    FileCase(
        "java",
        "src/main/java/com/example/shop/Priced.java",
        symbols=_set(
            ("interface", "Priced", "com.example.shop.Priced", True),
            ("method", "price", "com.example.shop.Priced.price", True),  # implicitly public
        ),
        docs={"com.example.shop.Priced": "Anything that has a price in cents."},
        package="com.example.shop",
    ),
    FileCase(
        "java",
        "src/main/java/com/example/app/Main.java",
        symbols=_set(
            ("class", "Main", "com.example.app.Main", True),
            ("method", "main", "com.example.app.Main.main", True),
            ("method", "checkout", "com.example.app.Main.checkout", False),
        ),
        calls=_set(
            ("Cart", None, "com.example.app.Main.main"),
            ("Item", "Cart", "com.example.app.Main.main"),
            ("println", "System.out", "com.example.app.Main.main"),
            ("checkout", "this", "com.example.app.Main.main"),
        ),
        imports=_set(
            ("com.example.shop.Cart", None, None, False),
            ("com.example.shop", None, None, True),
            ("java.lang.Math", None, None, False),  # import static java.lang.Math.max
        ),
        package="com.example.app",
    ),
    FileCase(
        "csharp",
        "Shop/Cart.cs",
        symbols=_set(
            ("interface", "IPriced", "Example.Shop.IPriced", True),
            ("method", "Price", "Example.Shop.IPriced.Price", True),
            ("class", "Cart", "Example.Shop.Cart", True),
            ("constant", "MaxItems", "Example.Shop.Cart.MaxItems", True),
            ("method", "Add", "Example.Shop.Cart.Add", True),
            ("method", "Price", "Example.Shop.Cart.Price", True),
            ("method", "IsFull", "Example.Shop.Cart.IsFull", False),
            ("class", "Item", "Example.Shop.Item", True),
            ("method", "Price", "Example.Shop.Item.Price", True),
            ("struct", "Receipt", "Example.Shop.Receipt", False),
            ("enum", "Status", "Example.Shop.Status", True),
        ),
        docs={
            "Example.Shop.Cart": "<summary>\nA shopping cart holding priced items.\n</summary>",
            "Example.Shop.Cart.Add": "<summary>Adds an item unless the cart is full.</summary>",
        },
        calls=_set(
            ("List", None, "Example.Shop.Cart"),
            ("IsFull", "this", "Example.Shop.Cart.Add"),
            ("Add", "items", "Example.Shop.Cart.Add"),
            ("Price", "item", "Example.Shop.Cart.Price"),
        ),
        bases=_set(
            ("IPriced", None, "Example.Shop.Cart"),
            ("IPriced", None, "Example.Shop.Item"),
        ),
        imports=_set(
            ("System", None, None, True),
            ("System.Collections.Generic", None, None, True),
        ),
        package="Example.Shop",
    ),
    FileCase(
        "csharp",
        "App/Program.cs",
        symbols=_set(
            ("class", "Program", "Example.App.Program", True),
            ("method", "Main", "Example.App.Program.Main", True),
            ("method", "Checkout", "Example.App.Program.Checkout", False),
        ),
        calls=_set(
            ("Cart", None, "Example.App.Program.Main"),
            ("Add", "cart", "Example.App.Program.Main"),
            ("Item", None, "Example.App.Program.Main"),
            ("WriteLine", "Console", "Example.App.Program.Main"),
            ("Checkout", "this", "Example.App.Program.Main"),
            ("Price", "priced", "Example.App.Program.Checkout"),
        ),
        imports=_set(
            ("Example.Shop", None, None, True),
            ("Example.Shop.Cart", None, "Money", False),
            ("System.Math", None, None, True),
        ),
        package="Example.App",
    ),
    FileCase(
        "c",
        "geometry.h",
        symbols=_set(
            ("constant", "MAX_POINTS", "geometry.MAX_POINTS", True),
            ("macro", "SQUARE", "geometry.SQUARE", True),
            ("struct", "Point", "geometry.Point", True),  # typedef struct Point {..} Point
            ("struct", "Polygon", "geometry.Polygon", True),
            ("enum", "Shape", "geometry.Shape", True),
        ),
        docs={"geometry.Point": "A point on the plane."},
    ),
    FileCase(
        "c",
        "geometry.c",
        symbols=_set(
            ("constant", "EPSILON", "geometry.EPSILON", False),
            ("function", "squared", "geometry.squared", False),  # static
            ("function", "distance", "geometry.distance", True),
            ("function", "perimeter", "geometry.perimeter", True),
        ),
        docs={
            "geometry.squared": "Squared length of the vector from a to b.",
            "geometry.distance": "Euclidean distance between two points.",
        },
        calls=_set(
            ("SQUARE", None, "geometry.squared"),
            ("sqrt", None, "geometry.distance"),
            ("squared", None, "geometry.distance"),
            ("distance", None, "geometry.perimeter"),
        ),
        imports=_set(("math.h", None, None, False), ("geometry.h", None, None, False)),
    ),
    FileCase(
        "c",
        "main.c",
        symbols=_set(
            ("function", "report", "main.report", False),
            ("function", "main", "main.main", True),
        ),
        calls=_set(
            ("printf", None, "main.report"),
            ("report", None, "main.main"),
            ("distance", None, "main.main"),
        ),
        imports=_set(("stdio.h", None, None, False), ("geometry.h", None, None, False)),
    ),
    FileCase(
        "cpp",
        "shapes.hpp",
        symbols=_set(
            ("module", "geo", "shapes::geo", True),
            ("class", "Shape", "shapes::geo::Shape", True),
            ("method", "~Shape", "shapes::geo::Shape::~Shape", True),
            ("method", "area", "shapes::geo::Shape::area", True),  # pure virtual
            ("class", "Circle", "shapes::geo::Circle", True),
            ("method", "Circle", "shapes::geo::Circle::Circle", True),
            ("struct", "Box", "shapes::geo::Box", True),
            ("method", "get", "shapes::geo::Box::get", True),
            ("type", "Radius", "shapes::geo::Radius", True),
        ),
        docs={
            "shapes::geo::Shape": "Base class of every shape.",
            "shapes::geo::Shape::area": "Area in square units.",
        },
        bases=_set(("Shape", None, "shapes::geo::Circle")),
        imports=_set(("memory", None, None, False), ("string", None, None, False)),
    ),
    FileCase(
        "cpp",
        "shapes.cpp",
        symbols=_set(
            ("module", "geo", "shapes::geo", True),
            ("constant", "kPi", "shapes::geo::kPi", False),
            ("function", "square", "shapes::geo::square", True),
            # defined outside their class, which lives in the header
            ("method", "area", "shapes::geo::Circle::area", True),
            ("method", "unit", "shapes::geo::Circle::unit", True),
            ("method", "describe", "shapes::geo::Shape::describe", True),
        ),
        docs={"shapes::geo::square": "Multiplies a number by itself."},
        calls=_set(
            ("square", None, "shapes::geo::Circle::area"),
            ("make_unique", "std", "shapes::geo::Circle::unit"),
            ("to_string", "std", "shapes::geo::Shape::describe"),
            ("area", "this", "shapes::geo::Shape::describe"),
        ),
        imports=_set(("shapes.hpp", None, None, False), ("cmath", None, None, False)),
    ),
    FileCase(
        "cpp",
        "main.cpp",
        symbols=_set(
            ("function", "print", "main::print", True),
            ("function", "main", "main::main", True),
        ),
        calls=_set(
            ("describe", "shape", "main::print"),
            ("unit", "Circle", "main::main"),  # geo::Circle::unit(): the innermost scope
            ("Circle", "geo", "main::main"),  # new geo::Circle(2.0)
            ("print", None, "main::main"),
            ("square", None, "main::main"),
        ),
        imports=_set(("iostream", None, None, False), ("shapes.hpp", None, None, False)),
    ),
    FileCase(
        "ruby",
        "lib/shop/cart.rb",
        symbols=_set(
            ("module", "Shop", "lib/shop/cart::Shop", True),
            ("class", "Cart", "lib/shop/cart::Shop::Cart", True),
            ("constant", "MAX_ITEMS", "lib/shop/cart::Shop::Cart::MAX_ITEMS", True),
            ("method", "initialize", "lib/shop/cart::Shop::Cart::initialize", True),
            ("method", "add", "lib/shop/cart::Shop::Cart::add", True),
            ("method", "total", "lib/shop/cart::Shop::Cart::total", True),
            ("method", "each", "lib/shop/cart::Shop::Cart::each", True),
            ("method", "to_json", "lib/shop/cart::Shop::Cart::to_json", True),
            ("method", "with_items", "lib/shop/cart::Shop::Cart::with_items", True),
            ("method", "full?", "lib/shop/cart::Shop::Cart::full?", True),
            ("method", "format_cents", "lib/shop/cart::Shop::Cart::format_cents", True),
            ("class", "GiftCart", "lib/shop/cart::Shop::GiftCart", True),
        ),
        docs={
            "lib/shop/cart::Shop::Cart": "Holds the items a customer is about to buy.",
            "lib/shop/cart::Shop::Cart::add": "Adds an item unless the cart is full.",
        },
        calls=_set(
            ("full?", "self", "lib/shop/cart::Shop::Cart::add"),  # full?() is a call on self
            ("sum", "@items", "lib/shop/cart::Shop::Cart::total"),
            ("format_cents", "self", "lib/shop/cart::Shop::Cart::to_json"),
            ("add", "cart", "lib/shop/cart::Shop::Cart::with_items"),
        ),
        bases=_set(
            ("Enumerable", None, "lib/shop/cart::Shop::Cart"),  # include Enumerable
            ("Cart", None, "lib/shop/cart::Shop::GiftCart"),
        ),
        imports=_set(("json", None, None, False), ("./item", None, None, False)),
    ),
    FileCase(
        "ruby",
        "app.rb",
        symbols=_set(
            ("function", "checkout", "app::checkout", True),
            ("function", "report", "app::report", True),
        ),
        docs={"app::checkout": "Builds a cart with one item and prints its total."},
        calls=_set(
            ("with_items", "Shop::Cart", "app::checkout"),
            ("Item", "Shop", "app::checkout"),  # Shop::Item.new(...) constructs Item
            ("add", "cart", "app::checkout"),
            ("report", "self", "app::checkout"),
            ("to_json", "cart", "app::report"),
        ),
        imports=_set(("./lib/shop/cart", None, None, False)),
    ),
]


def _extract(case: FileCase) -> FileFacts:
    root = FIXTURES / case.language
    spec = default_registry().for_path(case.path)
    assert spec is not None and spec.name == case.language
    module = module_name(spec.manifest.imports, root, case.path, None)
    facts = FileFacts(case.path, spec.name, module, "", 0, 0)
    extract(spec, (root / case.path).read_bytes(), facts)
    return facts


def _scope(facts: FileFacts, index: int) -> str | None:
    return facts.symbols[index].qualname if index >= 0 else None


@pytest.fixture(scope="module", params=FILE_CASES, ids=lambda c: c.id)
def case_facts(request: pytest.FixtureRequest) -> tuple[FileCase, FileFacts]:
    return request.param, _extract(request.param)


def test_fixture_parses_cleanly(case_facts: tuple[FileCase, FileFacts]) -> None:
    _, facts = case_facts
    assert facts.parse_errors == 0


def test_definitions(case_facts: tuple[FileCase, FileFacts]) -> None:
    case, facts = case_facts
    found = {(s.kind, s.name, s.qualname, s.exported) for s in facts.symbols}
    assert found == case.symbols


def test_docs(case_facts: tuple[FileCase, FileFacts]) -> None:
    case, facts = case_facts
    docs: dict[str, str] = {}
    for s in facts.symbols:  # a Rust struct and its impl blocks share a qualname
        docs.setdefault(s.qualname, s.doc)
    for qualname, doc in case.docs.items():
        assert docs[qualname] == doc, qualname


def test_call_references(case_facts: tuple[FileCase, FileFacts]) -> None:
    case, facts = case_facts
    calls = {(r.name, r.receiver, _scope(facts, r.scope)) for r in facts.refs if r.kind == "call"}
    assert case.calls <= calls, sorted(case.calls - calls, key=str)


def test_inheritance_references(case_facts: tuple[FileCase, FileFacts]) -> None:
    case, facts = case_facts
    bases = {(r.name, r.receiver, _scope(facts, r.scope)) for r in facts.refs if r.kind == "class"}
    assert bases == case.bases


def test_imports(case_facts: tuple[FileCase, FileFacts]) -> None:
    case, facts = case_facts
    found = {(i.source, i.name, i.alias, i.wildcard) for i in facts.imports}
    assert found == case.imports
    assert facts.package == case.package


def test_every_language_has_fixture_cases() -> None:
    assert {c.language for c in FILE_CASES} == LANGUAGES
    assert {c.language for c in PROJECT_CASES} == LANGUAGES
    assert {p.name for p in FIXTURES.iterdir()} == LANGUAGES


def test_signatures_stop_at_the_body() -> None:
    go = _extract(next(c for c in FILE_CASES if c.path == "store/cart.go"))
    signatures = {s.qualname: s.signature for s in go.symbols}
    assert signatures["example.com/shop/store.Cart.Add"] == "func (c *Cart) Add(item Item) error"
    cpp = _extract(next(c for c in FILE_CASES if c.path == "shapes.cpp"))
    signatures = {s.qualname: s.signature for s in cpp.symbols}
    assert signatures["shapes::geo::Circle::area"] == "double Circle::area() const"


# -- the grammars folder -------------------------------------------------------


def test_every_grammar_folder_loads() -> None:
    registry = LanguageRegistry()
    assert registry.errors == []
    assert set(registry.names) >= {*LANGUAGES, "python"}
    folders = {p.name for p in registry.root.iterdir() if p.is_dir()}
    assert folders == set(registry.names)
    for folder in registry.root.iterdir():
        if folder.is_dir():
            assert sorted(p.name for p in folder.iterdir()) == ["language.toml", "tags.scm"]


def test_extensions_map_back_to_their_language() -> None:
    registry = LanguageRegistry()
    for name in registry.names:
        spec = registry.get(name)
        assert spec.manifest.extensions, name
        for ext in spec.manifest.extensions:
            found = registry.for_path(f"src/example{ext}")
            assert found is not None and found.name == name, ext


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a/b.jsx", "javascript"),
        ("b.mjs", "javascript"),
        ("types/x.d.ts", "typescript"),
        ("x.cts", "typescript"),
        ("ui/App.tsx", "tsx"),
        ("include/geo.h", "c"),
        ("geo.hh", "cpp"),
        ("Program.cs", "csharp"),
    ],
)
def test_file_names_pick_the_language(path: str, language: str) -> None:
    spec = default_registry().for_path(path)
    assert spec is not None and spec.name == language


# -- whole projects through the indexer ----------------------------------------

Edge = tuple[str, str, str, str]  # caller qualname, called name, target qualname, resolution


@dataclass(frozen=True)
class ProjectCase:
    language: str
    cross_file: tuple[Edge, ...]  # resolved through imports (or uniquely by name)
    same_file: tuple[Edge, ...]  # resolved lexically or through self/this
    import_targets: tuple[tuple[str, str, str], ...] = ()  # file, source, target file
    modules: tuple[tuple[str, str], ...] = ()  # file, module


PROJECT_CASES = [
    ProjectCase(
        "javascript",
        cross_file=(
            ("app.main", "circle", "geometry.makeCircle", "import"),  # aliased named import
            ("app.main", "unitCircle", "geometry.unitCircle", "import"),  # default import
            ("app.main", "makeCircle", "geometry.makeCircle", "import"),  # geo.makeCircle()
        ),
        same_file=(
            ("geometry.Shape.describe", "area", "geometry.Shape.area", "self"),
            ("geometry.Circle.area", "square", "geometry.square", "local"),
            ("geometry.makeCircle", "Circle", "geometry.Circle", "local"),
        ),
        import_targets=(("app.js", "./geometry", "geometry.js"),),
    ),
    ProjectCase(
        "typescript",
        cross_file=(
            ("service.OrderService.price", "sumOf", "models.total", "import"),
            ("service.OrderService.add", "LineItem", "models.LineItem", "import"),
        ),
        same_file=(
            ("service.OrderService.status", "price", "service.OrderService.price", "self"),
            ("models.LineItem.price", "withTax", "models.withTax", "local"),
        ),
        # `./models.js` names the compiled file of models.ts
        import_targets=(("service.ts", "./models.js", "models.ts"),),
    ),
    ProjectCase(
        "tsx",
        cross_file=(
            ("App.Inbox.render", "Badge", "Badge.Badge", "import"),  # <Badge /> default import
            ("App.Inbox.title", "formatCount", "Badge.formatCount", "import"),
        ),
        same_file=(
            ("App.Inbox.title", "total", "App.Inbox.total", "self"),
            ("Badge.Badge", "Counter", "Badge.Counter", "local"),
        ),
    ),
    ProjectCase(
        "go",
        cross_file=(
            ("example.com/shop.main", "NewCart", "example.com/shop/store.NewCart", "import"),
            ("example.com/shop.main", "Item", "example.com/shop/store.Item", "import"),
        ),
        same_file=(
            (
                "example.com/shop/store.Cart.describe",
                "formatCents",
                "example.com/shop/store.formatCents",
                "local",
            ),
            ("example.com/shop.main", "checkout", "example.com/shop.checkout", "local"),
        ),
        import_targets=(("main.go", "example.com/shop/store", "store/cart.go"),),
        modules=(("store/cart.go", "example.com/shop/store"), ("main.go", "example.com/shop")),
    ),
    ProjectCase(
        "rust",
        cross_file=(
            # Circle::new is in an `impl Circle` block, not in the struct
            ("crate::summary", "new", "crate::shapes::Circle::new", "import"),
            ("crate::summary", "unit", "crate::shapes::unit", "import"),
        ),
        same_file=(
            ("crate::shapes::Circle::fmt", "area", "crate::shapes::Circle::area", "self"),
            ("crate::shapes::unit", "new", "crate::shapes::Circle::new", "local"),
            ("crate::summary", "total_area", "crate::total_area", "local"),
        ),
        import_targets=(("src/lib.rs", "self::shapes", "src/shapes.rs"),),
        modules=(("src/lib.rs", "crate"), ("src/shapes.rs", "crate::shapes")),
    ),
    ProjectCase(
        "java",
        cross_file=(
            ("com.example.app.Main.main", "Cart", "com.example.shop.Cart", "import"),
            ("com.example.app.Main.main", "Item", "com.example.shop.Cart.Item", "import"),
        ),
        same_file=(
            ("com.example.shop.Cart.add", "isFull", "com.example.shop.Cart.isFull", "self"),
            ("com.example.app.Main.main", "checkout", "com.example.app.Main.checkout", "self"),
        ),
        # the declared package is the module, not the src/main/java/... directory
        modules=(
            ("src/main/java/com/example/shop/Cart.java", "com.example.shop"),
            ("src/main/java/com/example/app/Main.java", "com.example.app"),
        ),
    ),
    ProjectCase(
        "csharp",
        cross_file=(
            ("Example.App.Program.Main", "Cart", "Example.Shop.Cart", "import"),
            ("Example.App.Program.Main", "Item", "Example.Shop.Item", "import"),
        ),
        same_file=(
            ("Example.Shop.Cart.Add", "IsFull", "Example.Shop.Cart.IsFull", "self"),
            ("Example.App.Program.Main", "Checkout", "Example.App.Program.Checkout", "self"),
        ),
        modules=(("Shop/Cart.cs", "Example.Shop"), ("App/Program.cs", "Example.App")),
    ),
    ProjectCase(
        "c",
        cross_file=(
            ("main.main", "distance", "geometry.distance", "import"),  # via #include
            ("geometry.squared", "SQUARE", "geometry.SQUARE", "import"),  # macro in the header
        ),
        same_file=(
            ("geometry.distance", "squared", "geometry.squared", "local"),
            ("main.main", "report", "main.report", "local"),
        ),
    ),
    ProjectCase(
        "cpp",
        cross_file=(
            ("main::main", "square", "shapes::geo::square", "import"),  # using namespace geo
            ("main::main", "unit", "shapes::geo::Circle::unit", "unique"),
        ),
        same_file=(
            ("shapes::geo::Circle::area", "square", "shapes::geo::square", "local"),
            ("main::main", "print", "main::print", "local"),
        ),
    ),
    ProjectCase(
        "ruby",
        cross_file=(
            (
                "app::checkout",
                "with_items",
                "lib/shop/cart::Shop::Cart::with_items",
                "import",
            ),
        ),
        same_file=(
            (
                "lib/shop/cart::Shop::Cart::add",
                "full?",
                "lib/shop/cart::Shop::Cart::full?",
                "self",
            ),
            ("app::checkout", "report", "app::report", "local"),
        ),
        import_targets=(
            ("app.rb", "./lib/shop/cart", "lib/shop/cart.rb"),
            ("lib/shop/cart.rb", "./item", "lib/shop/item.rb"),
        ),
    ),
]


@pytest.fixture(scope="module", params=PROJECT_CASES, ids=lambda c: c.language)
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ProjectCase, Connection]]:
    case: ProjectCase = request.param
    conn = connect(tmp_path_factory.mktemp(case.language) / "x.db")
    summary = Indexer(FIXTURES / case.language, conn=conn, workers=1).run()
    assert summary.parse_errors == 0
    assert set(summary.languages) == {case.language}
    yield case, conn
    conn.close()


def _edges(conn: Connection) -> set[Edge]:
    rows = conn.execute(
        "SELECT sc.qualname, r.name, t.qualname, r.resolution FROM refs r "
        "JOIN symbols sc ON sc.id = r.scope_id JOIN symbols t ON t.id = r.target_id "
        "WHERE r.kind = 'call'"
    )
    return {tuple(row) for row in rows}  # type: ignore[misc]


def test_cross_file_calls_resolve(project: tuple[ProjectCase, Connection]) -> None:
    case, conn = project
    edges = _edges(conn)
    for edge in case.cross_file:
        assert edge in edges, edge
    files = dict(conn.execute("SELECT id, path FROM files").fetchall())
    for caller, name, target, _ in case.cross_file:
        row = conn.execute(
            "SELECT r.file_id, t.file_id FROM refs r JOIN symbols sc ON sc.id = r.scope_id "
            "JOIN symbols t ON t.id = r.target_id WHERE sc.qualname = ? AND r.name = ? "
            "AND t.qualname = ?",
            (caller, name, target),
        ).fetchone()
        assert files[row[0]] != files[row[1]], (caller, name)


def test_same_file_calls_resolve(project: tuple[ProjectCase, Connection]) -> None:
    case, conn = project
    edges = _edges(conn)
    for edge in case.same_file:
        assert edge in edges, edge
        assert edge[3] in ("local", "self")


def test_import_targets_and_modules(project: tuple[ProjectCase, Connection]) -> None:
    case, conn = project
    for path, source, target in case.import_targets:
        row = conn.execute(
            "SELECT t.path FROM imports i JOIN files f ON f.id = i.file_id "
            "JOIN files t ON t.id = i.target_file_id WHERE f.path = ? AND i.source = ?",
            (path, source),
        ).fetchone()
        assert row is not None and row[0] == target, (path, source)
    for path, module in case.modules:
        row = conn.execute("SELECT module FROM files WHERE path = ?", (path,)).fetchone()
        assert row[0] == module, path
