"""The hexad command line, driven through click's runner and once as a real process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hexad.cli import cli
from tests.conftest import WriteWorkspace

FILES: dict[str, str | bytes] = {
    "shop/__init__.py": "",
    "shop/cart.py": '''
        from .pricing import total_price


        class Cart:
            """A shopping cart."""

            def __init__(self):
                self.items = []

            def add(self, item):
                self.items.append(item)

            def total(self):
                return total_price(self.items)
    ''',
    "shop/pricing.py": '''
        def total_price(items):
            """Sum of the prices of items."""
            return sum(item_price(i) for i in items)


        def item_price(item):
            return item["price"]
    ''',
    "shop/api.py": """
        from shop.cart import Cart
        from shop.pricing import total_price


        def checkout(items):
            cart = Cart()
            for item in items:
                cart.add(item)
            return total_price(cart.items)
    """,
}


@pytest.fixture
def ws(workspace: WriteWorkspace) -> Path:
    return workspace(FILES)


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_index_reports_a_summary_in_json(ws: Path) -> None:
    data = json.loads(_run("index", str(ws), "--json"))
    assert data["files"] == 4 and data["parsed"] == 4
    assert data["languages"] == {"python": 4}
    assert data["symbols"] == 7  # Cart and its 3 methods, total_price, item_price, checkout
    again = json.loads(_run("index", str(ws), "--json"))
    assert (again["parsed"], again["unchanged"]) == (0, 4)


def test_callers_and_callees(ws: Path) -> None:
    data = json.loads(_run("callers", "total_price", "-w", str(ws), "--json"))
    assert [t["qualname"] for t in data["targets"]] == ["shop.pricing.total_price"]
    sites = {(c["caller"], c["path"], c["line"], c["resolution"]) for c in data["callers"]}
    assert sites == {
        ("shop.cart.Cart.total", "shop/cart.py", 14, "import"),
        ("shop.api.checkout", "shop/api.py", 9, "import"),
    }
    data = json.loads(_run("callees", "shop.api.checkout", "-w", str(ws), "--json"))
    got = {(c["name"], c["callee"], c["resolution"]) for c in data["callees"]}
    assert got == {
        ("Cart", "shop.cart.Cart", "import"),
        ("add", "shop.cart.Cart.add", "unique"),
        ("total_price", "shop.pricing.total_price", "import"),
    }
    text = _run("callers", "shop.pricing.total_price", "-w", str(ws))
    assert "2 call sites" in text and "shop/api.py:9" in text


def test_symbols_fuzzy_search(ws: Path) -> None:
    data = json.loads(_run("symbols", "totpr", "-w", str(ws), "--json"))
    assert data[0]["qualname"] == "shop.pricing.total_price"
    assert data[0]["doc"] == "Sum of the prices of items."
    data = json.loads(_run("symbols", "Cart", "--kind", "class", "-w", str(ws), "--json"))
    assert [d["qualname"] for d in data] == ["shop.cart.Cart"]


def test_map_fits_the_budget_and_ranks_the_hub_first(ws: Path) -> None:
    data = json.loads(_run("map", "--tokens", "60", "-w", str(ws), "--json"))
    assert data["tokens"] <= 60
    assert "shop/pricing.py:" in data["map"] and "def total_price(items)" in data["map"]


def test_deps_shows_the_import_graph(ws: Path) -> None:
    data = json.loads(_run("deps", "shop/api.py", "-w", str(ws), "--json"))
    assert data["imports"] == ["shop/cart.py", "shop/pricing.py"]
    assert data["imported_by"] == []


def test_unknown_symbol_is_a_clear_error(ws: Path) -> None:
    result = CliRunner().invoke(cli, ["callers", "nope", "-w", str(ws)])
    assert result.exit_code == 1
    assert "no symbol named 'nope'" in result.output


def test_console_script_runs_as_a_process(ws: Path) -> None:
    exe = shutil.which("hexad", path=str(Path(sys.executable).parent))
    assert exe is not None, "the hexad console script is not installed"
    proc = subprocess.run(
        [exe, "callers", "item_price", "--json"], cwd=ws, capture_output=True, text=True, check=True
    )
    data = json.loads(proc.stdout)
    assert [c["caller"] for c in data["callers"]] == ["shop.pricing.total_price"]
    assert (ws / ".hexad" / "hexad.db").is_file()
