"""The jedi refactoring engine on real workspaces: rename, extract, inline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hexad.core.db import Connection
from hexad.execution.edits import FileChange, write_change
from hexad.execution.engines import refactor
from hexad.execution.engines.base import EngineError
from hexad.execution.sources import DiskSources
from hexad.perception.index import IndexReader
from tests.conftest import WriteWorkspace

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "exec_workspace"
Indexed = Callable[[Path], Connection]

CALC = '''
"""Arithmetic helpers."""

RATE = 3


def scaled(values, factor=2):
    total = 0
    for value in values:
        total += value * factor + RATE
    return total


def describe(values):
    count = len(values)
    return f"{count} values, scaled {scaled(values)}"
'''


@pytest.fixture
def inventory(tmp_path: Path, indexed: Indexed) -> tuple[Path, IndexReader]:
    root = tmp_path / "inventory-ws"
    shutil.copytree(FIXTURE, root)
    return root, IndexReader(indexed(root))


@pytest.fixture
def calc(workspace: WriteWorkspace, indexed: Indexed) -> tuple[Path, IndexReader]:
    root = workspace({"calc.py": CALC})
    return root, IndexReader(indexed(root))


def run(text: str, expression: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(text, "calc.py", "exec"), namespace)
    return eval(expression, namespace)


def same_behaviour(before: str, after: str, *expressions: str) -> None:
    for expression in expressions:
        assert run(after, expression) == run(before, expression), expression


# -- rename ---------------------------------------------------------------------------


def test_rename_function_across_files(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    draft = refactor.rename_symbol(
        DiskSources(root), reader, "inventory.stock.restock", "replenish"
    )
    assert draft.kind == "rename" and draft.engine == "structural:jedi"
    assert draft.intent.kind == "rename"
    assert draft.intent.renamed == (("inventory.stock.restock", "inventory.stock.replenish"),)
    assert draft.intent.changed == ()
    assert draft.symbols == ("inventory.stock.restock",)
    assert draft.task == "Rename inventory.stock.restock to replenish"
    paths = {f.path for f in draft.change.files}
    assert paths == {"inventory/stock.py", "inventory/__init__.py", "tests/test_stock.py"}
    init = draft.change.file("inventory/__init__.py")
    assert init is not None and init.after is not None
    assert "from inventory.stock import Item, replenish, total_value" in init.after
    assert '__all__ = ["Item", "replenish", "total_value"]' in init.after  # jedi leaves it
    assert draft.evidence["all_entries"] == 1
    assert draft.evidence["references"] == 5  # def, two imports, two calls
    assert draft.targets[0].path == "inventory/stock.py"
    assert draft.targets[0].qualname == "inventory.stock.restock"
    assert draft.targets[0].line == 18
    for change in draft.change.files:
        assert change.after is not None and "restock(" not in change.after
        compile(change.after, change.path, "exec")

    # the workspace's own tests still pass on the renamed code
    write_change(root, draft.change)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rename_method_renames_attribute_calls(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    draft = refactor.rename_symbol(DiskSources(root), reader, "Item.value", "worth")
    assert draft.intent.renamed == (("inventory.stock.Item.value", "inventory.stock.Item.worth"),)
    stock = draft.change.file("inventory/stock.py")
    assert stock is not None and stock.after is not None
    assert "    def worth(self) -> Decimal:" in stock.after
    assert "item.worth() for item in items" in stock.after
    assert draft.evidence["references"] == 2


def test_rename_class_renames_its_members_in_the_intent(
    inventory: tuple[Path, IndexReader],
) -> None:
    root, reader = inventory
    draft = refactor.rename_symbol(DiskSources(root), reader, "inventory.stock.Item", "Article")
    renamed = dict(draft.intent.renamed)
    assert renamed["inventory.stock.Item"] == "inventory.stock.Article"
    assert renamed["inventory.stock.Item.value"] == "inventory.stock.Article.value"
    assert renamed["inventory.stock.Item.quantity"] == "inventory.stock.Article.quantity"
    report = draft.change.file("inventory/report.py")
    assert report is not None and report.after is not None
    assert "def summary(items: list[Article]) -> str:" in report.after
    assert len(draft.change.files) == 5


def test_rename_local_variable_declares_the_changed_function(
    inventory: tuple[Path, IndexReader],
) -> None:
    root, reader = inventory
    # `subtotal` in total_value (line 29, 0-based 28)
    draft = refactor.rename(DiskSources(root), reader, "inventory/stock.py", 28, 6, "base")
    assert draft.intent.renamed == ()
    assert draft.intent.changed == ("inventory.stock.total_value",)
    assert draft.task == "Rename subtotal to base"
    (change,) = draft.change.files
    assert change.after is not None
    assert "    base = sum(" in change.after and "discount(base, percent)" in change.after


def test_rename_parameter(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    draft = refactor.rename(DiskSources(root), reader, "inventory/stock.py", 18, 25, "count")
    (change,) = draft.change.files
    assert change.after is not None
    assert "def restock(item: Item, count: int) -> Item:" in change.after
    assert "item.quantity += count" in change.after
    assert draft.intent.renamed == ()
    assert draft.intent.changed == ("inventory.stock.restock",)


@pytest.mark.parametrize(
    ("new_name", "message"),
    [
        ("class", "keyword"),
        ("2fast", "not a valid Python identifier"),
        ("re-stock", "not a valid Python identifier"),
        ("restock", "already called restock"),
    ],
)
def test_rename_refuses_bad_names(
    inventory: tuple[Path, IndexReader], new_name: str, message: str
) -> None:
    root, reader = inventory
    with pytest.raises(EngineError, match=message):
        refactor.rename_symbol(DiskSources(root), reader, "inventory.stock.restock", new_name)


def test_rename_refuses_a_name_the_scope_already_defines(
    inventory: tuple[Path, IndexReader],
) -> None:
    root, reader = inventory
    sources = DiskSources(root)
    with pytest.raises(EngineError, match="discount is already defined in module"):
        refactor.rename_symbol(sources, reader, "inventory.pricing.with_tax", "discount")
    # a local of a caller would capture the renamed function
    with pytest.raises(EngineError, match="item is already defined in function"):
        refactor.rename_symbol(sources, reader, "inventory.stock.restock", "item")
    # a method clashing with a sibling member
    with pytest.raises(EngineError, match="already defined in class Item"):
        refactor.rename_symbol(sources, reader, "inventory.stock.Item.value", "price")


def test_rename_refuses_names_outside_the_workspace(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    # `Decimal` in `price: Decimal` (line 12, 0-based 11)
    with pytest.raises(EngineError, match="defined outside the workspace"):
        refactor.rename(DiskSources(root), reader, "inventory/stock.py", 11, 12, "Money")
    with pytest.raises(EngineError, match="no name at"):
        refactor.rename(DiskSources(root), reader, "inventory/stock.py", 1, 0, "x")


def test_rename_symbol_lists_ambiguous_candidates(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    root = workspace(
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def helper():\n    return 1\n",
            "pkg/b.py": "def helper():\n    return 2\n",
        }
    )
    reader = IndexReader(indexed(root))
    with pytest.raises(EngineError, match=r"helper is ambiguous: pkg\.a\.helper .*pkg\.b\.helper"):
        refactor.rename_symbol(DiskSources(root), reader, "helper", "aid")
    with pytest.raises(EngineError, match="no Python symbol named nothing"):
        refactor.rename_symbol(DiskSources(root), reader, "nothing", "aid")
    draft = refactor.rename_symbol(DiskSources(root), reader, "pkg.b.helper", "aid")
    assert [f.path for f in draft.change.files] == ["pkg/b.py"]


def test_rename_uses_the_buffer_and_refuses_unsaved_other_files(
    inventory: tuple[Path, IndexReader],
) -> None:
    root, reader = inventory
    stock = (root / "inventory/stock.py").read_text(encoding="utf-8")
    unsaved = stock + "\n\ndef restock_twice(item: Item) -> Item:\n    return restock(item, 2)\n"
    sources = DiskSources(root, {"inventory/stock.py": (unsaved, 7)})
    draft = refactor.rename_symbol(sources, reader, "inventory.stock.restock", "replenish")
    change = draft.change.file("inventory/stock.py")
    assert change is not None and change.before == unsaved
    assert change.after is not None and "return replenish(item, 2)" in change.after

    test_file = (root / "tests/test_stock.py").read_text(encoding="utf-8")
    edited = DiskSources(root, {"tests/test_stock.py": (test_file + "# edited\n", 3)})
    with pytest.raises(EngineError, match=r"save tests/test_stock\.py first"):
        refactor.rename_symbol(edited, reader, "inventory.stock.restock", "replenish")


def test_rename_short_name_recovers_files_jedi_skips(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    # jedi never searches other modules for names of two characters; the index knows
    root = workspace(
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def go(x):\n    return x + 1\n",
            "pkg/b.py": "from pkg.a import go\n\n\ndef use():\n    return go(1)\n",
        }
    )
    reader = IndexReader(indexed(root))
    draft = refactor.rename_symbol(DiskSources(root), reader, "pkg.a.go", "advance")
    b = draft.change.file("pkg/b.py")
    assert b is not None and b.after == (
        "from pkg.a import advance\n\n\ndef use():\n    return advance(1)\n"
    )
    assert draft.evidence["index_missed"] == []


# -- extract and inline -----------------------------------------------------------------


def test_extract_variable_in_a_function(calc: tuple[Path, IndexReader]) -> None:
    root, _ = calc
    # `value * factor + RATE` on line 9 (0-based 8)
    draft = refactor.extract_variable(DiskSources(root), "calc.py", (8, 17), (8, 38), "step")
    (change,) = draft.change.files
    assert change.before is not None and change.after is not None
    assert "        step = value * factor + RATE\n        total += step\n" in change.after
    assert draft.intent.kind == "extract_variable"
    assert draft.intent.changed == ("calc.scaled",)
    assert draft.intent.added == () and draft.intent.removed == ()
    same_behaviour(change.before, change.after, "scaled([1, 2, 3])", "scaled([4], 5)")


def test_extract_variable_at_module_level_adds_a_variable(
    inventory: tuple[Path, IndexReader],
) -> None:
    root, _ = inventory
    # `Decimal("0.20")` in `TAX_RATE = Decimal("0.20")` (line 5, 0-based 4)
    draft = refactor.extract_variable(
        DiskSources(root), "inventory/pricing.py", (4, 11), (4, 26), "BASE_RATE"
    )
    assert draft.intent.added == ("inventory.pricing.BASE_RATE",)
    assert draft.intent.changed == ("inventory.pricing.TAX_RATE",)
    (change,) = draft.change.files
    assert change.before is not None and change.after is not None
    assert 'BASE_RATE = Decimal("0.20")\nTAX_RATE = BASE_RATE\n' in change.after
    same_behaviour(change.before, change.after, "with_tax(Decimal(10))", "TAX_RATE")


def test_extract_function(calc: tuple[Path, IndexReader]) -> None:
    root, reader = calc
    draft = refactor.extract_function(
        DiskSources(root), reader, "calc.py", (8, 17), (8, 38), "term"
    )
    (change,) = draft.change.files
    assert change.before is not None and change.after is not None
    assert "def term(value, factor):\n    return value * factor + RATE\n" in change.after
    assert "total += term(value, factor)" in change.after
    assert draft.intent.added == ("calc.term",)
    assert draft.intent.changed == ("calc.scaled",)
    assert draft.kind == "extract_function" and draft.engine == "structural:jedi"
    same_behaviour(change.before, change.after, "scaled([1, 2, 3])", "describe([1, 2])")


def test_extract_function_inside_a_method_adds_a_method(
    inventory: tuple[Path, IndexReader],
) -> None:
    root, reader = inventory
    draft = refactor.extract_function(
        DiskSources(root), reader, "inventory/stock.py", (15, 15), (15, 41), "product"
    )
    assert draft.intent.added == ("inventory.stock.Item.product",)
    assert draft.intent.changed == ("inventory.stock.Item.value",)
    (change,) = draft.change.files
    assert change.after is not None and "return self.product()" in change.after


def test_extract_function_refuses_code_that_would_not_run(
    inventory: tuple[Path, IndexReader],
) -> None:
    # jedi passes the generator's own variable `item` to the new function: refused
    root, reader = inventory
    with pytest.raises(EngineError, match=r"undefined names in inventory/stock\.py: item"):
        refactor.extract_function(
            DiskSources(root), reader, "inventory/stock.py", (28, 15), (28, 63), "subtotal_of"
        )


def test_extract_refuses_a_name_in_use(calc: tuple[Path, IndexReader]) -> None:
    root, reader = calc
    with pytest.raises(EngineError, match="total is already defined in function scaled"):
        refactor.extract_variable(DiskSources(root), "calc.py", (8, 17), (8, 38), "total")
    with pytest.raises(EngineError, match=r"describe is already defined in module calc\.py"):
        refactor.extract_function(
            DiskSources(root), reader, "calc.py", (8, 17), (8, 38), "describe"
        )
    with pytest.raises(EngineError, match="keyword"):
        refactor.extract_variable(DiskSources(root), "calc.py", (8, 17), (8, 38), "lambda")


def test_inline_local_variable(calc: tuple[Path, IndexReader]) -> None:
    root, _ = calc
    # `count` in describe (line 14, 0-based 13)
    draft = refactor.inline(DiskSources(root), "calc.py", 13, 6)
    (change,) = draft.change.files
    assert change.before is not None and change.after is not None
    assert "count =" not in change.after
    assert 'return f"{len(values)} values' in change.after
    assert draft.intent.kind == "inline"
    assert draft.intent.changed == ("calc.describe",)
    assert draft.intent.removed == ()
    assert draft.task == "Inline count"
    same_behaviour(change.before, change.after, "describe([1, 2, 3])")


def test_inline_module_variable_removes_the_symbol(calc: tuple[Path, IndexReader]) -> None:
    root, _ = calc
    draft = refactor.inline(DiskSources(root), "calc.py", 2, 1)
    (change,) = draft.change.files
    assert change.before is not None and change.after is not None
    assert draft.intent.removed == ("calc.RATE",)
    assert draft.intent.changed == ("calc.scaled",)
    assert "\n\n\n\n" not in change.after  # the blank lines around it are tidied
    same_behaviour(change.before, change.after, "scaled([1, 2, 3])")


def test_jedi_refusals_become_engine_errors(calc: tuple[Path, IndexReader]) -> None:
    root, _ = calc
    with pytest.raises(EngineError, match="Cannot inline a function"):
        refactor.inline(DiskSources(root), "calc.py", 5, 5)
    with pytest.raises(EngineError, match="not a Python file"):
        refactor.inline(DiskSources(root), "calc.txt", 0, 0)


def test_python_symbols_follow_the_index(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    for path in ("inventory/stock.py", "inventory/pricing.py", "inventory/report.py"):
        text = (root / path).read_text(encoding="utf-8")
        module = refactor.python_module(DiskSources(root), path, reader)
        ours = refactor.python_symbols(text, module)
        assert ours is not None
        indexed = reader.symbols_in_file(path)
        assert [(s.qualname, s.kind, s.line) for s in ours] == [
            (s.qualname, s.kind, s.name_span.start_line) for s in indexed
        ]


def test_rename_symbol_finds_it_where_the_buffer_has_it(
    inventory: tuple[Path, IndexReader],
) -> None:
    # the buffer moved restock down two lines; the index still has the old position
    root, reader = inventory
    stock = (root / "inventory/stock.py").read_text(encoding="utf-8")
    moved = stock.replace("def restock(", "# restocking\n\ndef restock(", 1)
    sources = DiskSources(root, {"inventory/stock.py": (moved, 5)})
    draft = refactor.rename_symbol(sources, reader, "inventory.stock.restock", "replenish")
    change = draft.change.file("inventory/stock.py")
    assert change is not None and change.before == moved
    assert change.after is not None and "\ndef replenish(item: Item" in change.after
    assert draft.targets[0].line == 20


# -- rename: which files the search reads ---------------------------------------------

RENDER = "def render(text):\n    return text.upper()\n"


def test_rename_searches_only_files_that_can_reach_the_symbol(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    # `render` is a common word: a method, a local, a function of another module, a
    # comment; only the files importing pkg.view's function (or its module) refer to it
    files: dict[str, str | bytes] = {
        "pkg/__init__.py": "",
        "pkg/view.py": RENDER,
        "pkg/page.py": (
            "from pkg.view import render\n\n\n"
            "class Page:\n"
            "    def render(self):\n"
            "        return render('page')\n\n\n"
            "def show(page):\n"
            "    return page.render()\n"
        ),
        "pkg/other.py": "def render(x):\n    return x\n\n\nrender(1)  # not pkg.view's render\n",
    }
    for i in range(12):
        files[f"pkg/noise{i}.py"] = (
            f"def step{i}(render):\n    render = render + {i}\n    return render\n"
        )
    root = workspace(files)
    reader = IndexReader(indexed(root))
    draft = refactor.rename_symbol(DiskSources(root), reader, "pkg.view.render", "draw")
    assert sorted(f.path for f in draft.change.files) == ["pkg/page.py", "pkg/view.py"]
    assert draft.evidence["searched"] == 2  # the definition's file and its importer
    page = draft.change.file("pkg/page.py")
    assert page is not None and page.after == (
        "from pkg.view import draw\n\n\n"
        "class Page:\n"
        "    def render(self):\n"
        "        return draw('page')\n\n\n"
        "def show(page):\n"
        "    return page.render()\n"
    )
    assert draft.evidence["references"] == 3


def test_rename_reaches_module_attributes_and_re_exports(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    root = workspace(
        {
            "pkg/__init__.py": "from pkg.view import render\n\n__all__ = ['render']\n",
            "pkg/view.py": RENDER,
            "pkg/star.py": "from pkg.view import *\n",
            "app/__init__.py": "",
            "app/via_module.py": (
                "from pkg import view\n\n\n"
                "def run(loader):\n"
                "    loader.render('x')  # an attribute of something else\n"
                "    return view.render('y')\n\n\n"
                "async def later():\n"
                "    return await view.render('z')\n"
            ),
            "app/via_dotted.py": "import pkg.view\n\nOUT = pkg.view.render('z')\n",
            "app/via_package.py": "from pkg import render as r\n\nOUT = r('p')\n",
            "app/via_star.py": "from pkg.star import render\n\nOUT = render('s')\n",
        }
    )
    reader = IndexReader(indexed(root))
    draft = refactor.rename_symbol(DiskSources(root), reader, "pkg.view.render", "draw")
    after = {f.path: f.after for f in draft.change.files}
    assert sorted(after) == [
        "app/via_dotted.py",
        "app/via_module.py",
        "app/via_package.py",
        "app/via_star.py",
        "pkg/__init__.py",
        "pkg/view.py",
    ]
    assert after["app/via_module.py"] == (
        "from pkg import view\n\n\n"
        "def run(loader):\n"
        "    loader.render('x')  # an attribute of something else\n"
        "    return view.draw('y')\n\n\n"
        "async def later():\n"
        "    return await view.draw('z')\n"
    )
    assert after["app/via_dotted.py"] == "import pkg.view\n\nOUT = pkg.view.draw('z')\n"
    assert after["app/via_package.py"] == "from pkg import draw as r\n\nOUT = r('p')\n"
    assert after["app/via_star.py"] == "from pkg.star import draw\n\nOUT = draw('s')\n"
    assert after["pkg/__init__.py"] == "from pkg.view import draw\n\n__all__ = ['draw']\n"
    assert draft.evidence["all_entries"] == 1
    assert draft.notes == ()


def test_rename_module_variable_across_files(workspace: WriteWorkspace, indexed: Indexed) -> None:
    root = workspace(
        {
            "conf.py": "LIMIT = 3\n",
            "use.py": "import conf\nfrom conf import LIMIT\n\nBOTH = LIMIT + conf.LIMIT\n",
            "shadow.py": "LIMIT = 4\n\n\ndef f(LIMIT=LIMIT):\n    return LIMIT\n",
        }
    )
    reader = IndexReader(indexed(root))
    draft = refactor.rename_symbol(DiskSources(root), reader, "conf.LIMIT", "CAP")
    after = {f.path: f.after for f in draft.change.files}
    assert after == {
        "conf.py": "CAP = 3\n",
        "use.py": "import conf\nfrom conf import CAP\n\nBOTH = CAP + conf.CAP\n",
    }
    assert draft.intent.renamed == (("conf.LIMIT", "conf.CAP"),)


def test_rename_method_searches_the_files_importing_its_module(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    root = workspace(
        {
            "shop/__init__.py": "",
            "shop/cart.py": (
                "class Cart:\n"
                "    def total(self):\n"
                "        return 1\n\n\n"
                "def make():\n"
                "    return Cart()\n"
            ),
            "shop/checkout.py": "from shop.cart import make\n\n\ndef pay():\n"
            "    return make().total()\n",
            "shop/unrelated.py": "def total(values):\n    return sum(values)\n",
        }
    )
    reader = IndexReader(indexed(root))
    draft = refactor.rename_symbol(DiskSources(root), reader, "shop.cart.Cart.total", "amount")
    after = {f.path: f.after for f in draft.change.files}
    assert sorted(after) == ["shop/cart.py", "shop/checkout.py"]
    assert "return make().amount()" in (after["shop/checkout.py"] or "")
    assert draft.intent.renamed == (("shop.cart.Cart.total", "shop.cart.Cart.amount"),)


def test_rename_module_moves_its_file(workspace: WriteWorkspace, indexed: Indexed) -> None:
    root = workspace(
        {
            "pkg/__init__.py": "",
            "pkg/util.py": "def helper():\n    return 1\n",
            "main.py": "from pkg import util\nfrom pkg.util import helper\n\n"
            "OUT = util.helper() + helper()\n",
        }
    )
    reader = IndexReader(indexed(root))
    # `util` in `from pkg import util` (line 1, column 16)
    draft = refactor.rename(DiskSources(root), reader, "main.py", 0, 17, "tools")
    moved = {f.path: f.new_path for f in draft.change.files if f.new_path}
    assert moved == {"pkg/util.py": "pkg/tools.py"}
    main = draft.change.file("main.py")
    assert main is not None and main.after == (
        "from pkg import tools\nfrom pkg.tools import helper\n\nOUT = tools.helper() + helper()\n"
    )
    assert draft.intent.renamed == (("pkg.util.helper", "pkg.tools.helper"),)
    assert draft.task == "Rename pkg.util to tools"


def test_rename_notes_mentions_in_comments_and_strings(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    root = workspace(
        {
            "pkg/__init__.py": "from pkg.view import render\n\n__all__ = ['render']\n",
            "pkg/view.py": RENDER + "\n\n# call render() for pages\nPATH = 'pkg.view.render'\n",
            "pkg/page.py": (
                'from pkg.view import render\n\n\ndef page():\n    """Uses `render`."""\n'
                "    return render('p')  # the text is rendered\n"
            ),
        }
    )
    reader = IndexReader(indexed(root))
    draft = refactor.rename_symbol(DiskSources(root), reader, "pkg.view.render", "draw")
    (note,) = draft.notes
    assert note == (
        "3 mention(s) of render in comments or strings left alone "
        "(pkg/page.py:5, pkg/view.py:5, pkg/view.py:6)"
    )


def test_rename_falls_back_to_jedis_search_without_the_index(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    root = workspace({"pkg/__init__.py": "", "pkg/a.py": "def helper():\n    return 1\n"})
    reader = IndexReader(indexed(root))
    # files saved after indexing: the index does not know them yet
    (root / "pkg/b.py").write_text("def tool():\n    return 2\n")
    (root / "pkg/c.py").write_text("from pkg.b import tool\n\nOUT = tool()\n")
    draft = refactor.rename(DiskSources(root), reader, "pkg/b.py", 0, 4, "gadget")
    assert sorted(f.path for f in draft.change.files) == ["pkg/b.py", "pkg/c.py"]
    assert draft.evidence["searched"] is None


def test_rename_leaves_jedis_search_as_it_was(inventory: tuple[Path, IndexReader]) -> None:
    from jedi.inference import references

    before = (
        references.get_module_contexts_containing_name,
        references._find_names,
        references._PARSED_FILE_LIMIT,
        references._OPENED_FILE_LIMIT,
    )
    root, reader = inventory
    refactor.rename_symbol(DiskSources(root), reader, "inventory.stock.restock", "replenish")
    with pytest.raises(EngineError):
        refactor.rename_symbol(DiskSources(root), reader, "inventory.stock.restock", "item")
    assert (
        references.get_module_contexts_containing_name,
        references._find_names,
        references._PARSED_FILE_LIMIT,
        references._OPENED_FILE_LIMIT,
    ) == before


def test_conflicts_are_found_from_the_texts_without_jedis_names() -> None:
    before = "def use(old, new):\n    return old(new)\n"
    after = "def use(new, new):\n    return new(new)\n"
    change = FileChange("a.py", before, after)
    with pytest.raises(EngineError, match="new is already defined in function use"):
        refactor._check_conflicts({"a.py": change}, "old", "new", {})
