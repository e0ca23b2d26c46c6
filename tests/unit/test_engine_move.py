"""Moving Python definitions between modules and renaming modules, over real parts: the
index, pyflakes, jedi, and the proposal service verifying each change in a shadow copy
with the workspace's own tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.execution.edits import write_change
from hexad.execution.engines.base import Draft, EngineError
from hexad.execution.engines.move import move_symbol
from hexad.execution.proposals import ProposalRequest, ProposalService, RequestError
from hexad.execution.shadow import ShadowWorkspace
from hexad.execution.sources import DiskSources
from hexad.execution.verify import Verifier
from hexad.governance import open_engine
from hexad.perception.index import IndexReader
from tests.conftest import write_files

FIXTURE = Path(__file__).parents[1] / "fixtures" / "exec_workspace"


@dataclass
class Env:
    root: Path
    conn: Connection
    service: ProposalService

    @property
    def reader(self) -> IndexReader:
        return IndexReader(self.conn)

    @property
    def sources(self) -> DiskSources:
        return DiskSources(self.root)

    def read(self, path: str) -> str:
        return (self.root / path).read_text(encoding="utf-8")


def _env(root: Path, tmp_path: Path, indexed: Callable[[Path], Connection]) -> Env:
    conn = indexed(root)
    sources = DiskSources(root)
    verifier = Verifier(
        root, sources, lambda: IndexReader(conn), shadow=ShadowWorkspace(root, tmp_path / "shadow")
    )
    service = ProposalService(
        root,
        sources,
        lambda: IndexReader(conn),
        conn,
        open_engine(root, user_file=None),
        verifier=verifier,
    )
    return Env(root, conn, service)


@pytest.fixture
def env(tmp_path: Path, indexed: Callable[[Path], Connection]) -> Env:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    return _env(root, tmp_path, indexed)


@pytest.fixture
def make_env(
    tmp_path: Path, indexed: Callable[[Path], Connection]
) -> Callable[[dict[str, str | bytes]], Env]:
    def make(files: dict[str, str | bytes]) -> Env:
        root = tmp_path / "ws"
        root.mkdir()
        write_files(root, files)
        return _env(root, tmp_path, indexed)

    return make


def _after(draft: Draft, path: str) -> str:
    change = draft.change.file(path)
    assert change is not None, f"{path} is not in the change"
    assert change.after is not None
    return change.after


def _passed(env: Env, request: dict[str, object]) -> Draft:
    """Propose through the service; the proposal must pass every check, tests included."""
    proposal = env.service.propose(ProposalRequest.parse(request))
    report = proposal.report
    assert report.passed, report.to_json()
    assert [c.name for c in report.checks] == ["syntax", "symbols", "compile", "names", "tests"]
    return proposal.draft


def test_moving_a_function_to_a_new_module(env: Env) -> None:
    proposal = env.service.propose(
        ProposalRequest.parse(
            {"kind": "move", "symbol": "inventory.pricing.with_tax", "target": "inventory/tax.py"}
        )
    )
    report = proposal.report
    assert report.passed, report.to_json()
    tests = report.check("tests")
    assert tests is not None and tests.status == "passed"
    assert tests.details["passed"] == tests.details["run"] >= 1
    draft = proposal.draft
    assert draft.kind == "move"
    tax = draft.change.file("inventory/tax.py")
    assert tax is not None and tax.created
    # the constant only with_tax used goes with it, and the import both need
    assert _after(draft, "inventory/tax.py") == (
        "from decimal import Decimal\n"
        "\n"
        'TAX_RATE = Decimal("0.20")\n'
        "\n"
        "\n"
        "def with_tax(amount: Decimal) -> Decimal:\n"
        '    """Return ``amount`` with tax added."""\n'
        "    return amount * (1 + TAX_RATE)\n"
    )
    pricing = _after(draft, "inventory/pricing.py")
    assert "def with_tax" not in pricing and "TAX_RATE" not in pricing
    assert "from decimal import Decimal\n" in pricing, "discount still uses Decimal"
    # with_tax is public (stock.py imports it): the old module re-exports it
    assert "from inventory.tax import with_tax as with_tax\n" in pricing
    stock = _after(draft, "inventory/stock.py")
    assert "from inventory.pricing import discount\nfrom inventory.tax import with_tax\n" in stock
    assert draft.intent.renamed == (
        ("inventory.pricing.TAX_RATE", "inventory.tax.TAX_RATE"),
        ("inventory.pricing.with_tax", "inventory.tax.with_tax"),
    )
    assert draft.intent.added == ("inventory.pricing.with_tax",)
    assert draft.evidence["companions"] == ["TAX_RATE"]
    assert any("TAX_RATE moved along" in note for note in draft.notes)
    assert [t.path for t in draft.targets[:2]] == ["inventory/pricing.py", "inventory/tax.py"]
    assert draft.targets[1].line == 5 and draft.targets[1].qualname == "inventory.tax.with_tax"

    env.service.apply(proposal.id, approved=True)
    for path in ("inventory/tax.py", "inventory/pricing.py", "inventory/stock.py"):
        compile(env.read(path), path, "exec")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=env.root,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_moving_into_an_existing_module_merges_imports(env: Env) -> None:
    draft = _passed(
        env,
        {"kind": "move", "symbol": "inventory.report.low_stock", "target": "inventory/stock.py"},
    )
    # the test imported it with another name from the target: one line now
    test_report = _after(draft, "tests/test_report.py")
    assert "from inventory.report import banner, summary\n" in test_report
    assert "from inventory.stock import Item, low_stock\n" in test_report
    # the re-export joins report.py's own import from stock.py
    report = _after(draft, "inventory/report.py")
    assert "from inventory.stock import Item, low_stock as low_stock, total_value\n" in report
    assert "def low_stock" not in report
    stock = _after(draft, "inventory/stock.py")
    assert stock.endswith(
        "\n\n\ndef low_stock(items: list[Item], threshold: int = 3) -> list[str]:\n"
        "    return [item.name for item in items if item.quantity < threshold]\n"
    )
    assert "import inventory.report" not in stock and "from inventory.report" not in stock


def test_moving_into_a_module_that_imported_it(env: Env) -> None:
    draft = _passed(
        env,
        {"kind": "move", "symbol": "inventory.pricing.discount", "target": "inventory/stock.py"},
    )
    stock = _after(draft, "inventory/stock.py")
    # stock.py imported it from pricing: that import goes, Decimal is imported once
    assert "from inventory.pricing import with_tax\n" in stock
    assert stock.count("from decimal import Decimal") == 1
    assert "\ndef discount(amount: Decimal, percent: int) -> Decimal:\n" in stock
    # only the target used it: no re-export left behind, Decimal still used by TAX_RATE
    pricing = _after(draft, "inventory/pricing.py")
    assert "def discount" not in pricing and "from decimal import Decimal" in pricing
    assert draft.evidence["reexported"] == []
    assert draft.intent.added == ()


def test_a_module_reached_as_an_object_is_followed(
    make_env: Callable[[dict[str, str | bytes]], Env],
) -> None:
    env = make_env(
        {
            "pkg/__init__.py": "",
            "pkg/a.py": """
                import functools
                import os

                __all__ = ["cached", "keep"]


                # the cache keeps one answer per argument
                @functools.lru_cache(maxsize=8)
                def cached(x: int) -> str:
                    \"\"\"Cached.\"\"\"
                    return os.sep * x


                def keep() -> str:
                    return os.sep
            """,
            "pkg/b.py": '"""Target."""\n\n__all__ = ["other"]\n\n\ndef other() -> int:\n'
            "    return 1\n",
            "c.py": """
                import pkg.a


                def use() -> str:
                    return pkg.a.cached(2)
            """,
            "d.py": """
                from pkg import a


                def use() -> str:
                    return a.cached(1) + a.keep()
            """,
            "e.py": """
                def late() -> str:
                    from pkg.a import cached, keep

                    return cached(1) + keep()
            """,
        }
    )
    draft = move_symbol(env.sources, env.reader, "pkg.a.cached", "pkg/b.py")
    b = _after(draft, "pkg/b.py")
    assert b.startswith(
        '"""Target."""\n\nimport functools\nimport os\n\n__all__ = ["other", "cached"]\n'
    )
    assert b.endswith(
        "\n\n\n# the cache keeps one answer per argument\n@functools.lru_cache(maxsize=8)\n"
        'def cached(x: int) -> str:\n    """Cached."""\n    return os.sep * x\n'
    )
    a = _after(draft, "pkg/a.py")
    # functools is no longer used there; os still is; __all__ lists it, so a plain re-export
    assert "import functools" not in a and "import os\n" in a
    assert "from pkg.b import cached\n" in a and '__all__ = ["cached", "keep"]' in a
    assert "# the cache" not in a
    c = _after(draft, "c.py")
    assert "import pkg.b\n" in c and "return pkg.b.cached(2)" in c and "import pkg.a" not in c
    d = _after(draft, "d.py")
    assert d.startswith("from pkg import a, b\n")
    assert "return b.cached(1) + a.keep()" in d
    e = _after(draft, "e.py")
    assert "    from pkg.a import keep\n    from pkg.b import cached\n" in e
    # comments moved between modules: both modules' own code changed
    assert {"pkg.a", "pkg.b"} <= set(draft.intent.changed)
    assert "pkg.b.__all__" in draft.intent.changed and "e.late" in draft.intent.changed
    report = env.service.submit(draft).report
    assert report.passed, report.to_json()

    write_change(env.root, draft.change)
    run = subprocess.run(
        [sys.executable, "-c", "import c, d, e; print(c.use(), d.use(), e.late())"],
        cwd=env.root,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr


def test_no_reexport_drops_the_all_entry(
    make_env: Callable[[dict[str, str | bytes]], Env],
) -> None:
    env = make_env(
        {
            "pkg/__init__.py": "",
            "pkg/a.py": '__all__ = ["f", "g"]\n\n\ndef f() -> int:\n    return 1\n\n\n'
            "def g() -> int:\n    return 2\n",
            "user.py": "from pkg.a import f, g\n\nprint(f() + g())\n",
        }
    )
    draft = move_symbol(env.sources, env.reader, "pkg.a.f", "pkg/fs.py", reexport=False)
    a = _after(draft, "pkg/a.py")
    assert a == '__all__ = ["g"]\n\n\ndef g() -> int:\n    return 2\n'
    assert (
        _after(draft, "user.py")
        == "from pkg.a import g\nfrom pkg.fs import f\n\nprint(f() + g())\n"
    )
    assert _after(draft, "pkg/fs.py") == "def f() -> int:\n    return 1\n"
    assert "pkg.a.__all__" in draft.intent.changed and draft.intent.added == ()
    report = env.service.submit(draft).report
    assert report.passed, report.to_json()


def test_what_cannot_be_moved_is_refused(
    make_env: Callable[[dict[str, str | bytes]], Env],
) -> None:
    env = make_env(
        {
            "pkg/__init__.py": "",
            "pkg/a.py": """
                def helper() -> int:
                    return 1


                def moved() -> int:
                    return helper() + 1


                def other() -> int:
                    return helper()


                class Box:
                    def open(self) -> int:
                        return moved()
            """,
            "pkg/b.py": """
                from pkg.a import other


                def b_func() -> int:
                    return other()
            """,
            "pkg/c.py": "from pkg.a import moved\n\nprint(moved())\n",
            "pkg/d.py": "def moved() -> int:\n    return 0\n",
        }
    )
    sources, reader = env.sources, env.reader
    # b imports a; the moved code needs helper from a; a would re-export it from b
    with pytest.raises(EngineError, match=r"circular import \(pkg/a.py → pkg/b.py → pkg/a.py\)"):
        move_symbol(sources, reader, "pkg.a.moved", "pkg/b.py")
    with pytest.raises(EngineError, match=r"moved is already defined in pkg/d.py"):
        move_symbol(sources, reader, "pkg.a.moved", "pkg/d.py")
    with pytest.raises(EngineError, match="not a top-level definition"):
        move_symbol(sources, reader, "pkg.a.Box.open", "pkg/e.py")
    with pytest.raises(EngineError, match="not a path inside the workspace"):
        move_symbol(sources, reader, "pkg.a.moved", "../outside.py")
    with pytest.raises(EngineError, match="not a path inside the workspace"):
        move_symbol(sources, reader, "pkg.a.moved", "/tmp/outside.py")
    with pytest.raises(EngineError, match="the module the symbol is in"):
        move_symbol(sources, reader, "pkg.a.moved", "pkg/a.py")
    with pytest.raises(EngineError, match="does not exist; create the package first"):
        move_symbol(sources, reader, "pkg.a.moved", "pkg/nowhere/x.py")
    with pytest.raises(EngineError, match=r"no Python symbol named pkg.a.ghost"):
        move_symbol(sources, reader, "pkg.a.ghost", "pkg/e.py")
    # into a new module: Box still uses moved (a imports e) and moved needs helper
    with pytest.raises(EngineError, match=r"circular import \(pkg/a.py → pkg/e.py → pkg/a.py\)"):
        move_symbol(sources, reader, "pkg.a.moved", "pkg/e.py")
    # moving helper along breaks the cycle: e needs nothing from a
    draft = move_symbol(sources, reader, "pkg.a.moved", "pkg/e.py", together=["helper"])
    assert "from pkg.e import helper, moved\n" in _after(draft, "pkg/a.py")
    assert "import" not in _after(draft, "pkg/e.py")
    report = env.service.submit(draft).report
    assert report.passed, report.to_json()


def test_renaming_a_module_in_its_folder(env: Env) -> None:
    draft = _passed(
        env,
        {"kind": "rename_module", "path": "inventory/pricing.py", "newPath": "inventory/prices.py"},
    )
    assert draft.kind == "rename_module"
    moved = draft.change.file("inventory/pricing.py")
    assert moved is not None and moved.new_path == "inventory/prices.py"
    assert "from inventory.prices import discount, with_tax" in _after(draft, "inventory/stock.py")
    assert ("inventory.pricing.with_tax", "inventory.prices.with_tax") in draft.intent.renamed


def test_moving_a_module_to_another_package(
    tmp_path: Path, indexed: Callable[[Path], Connection]
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    write_files(
        root,
        {
            "inventory/money/__init__.py": "",
            "inventory/notes.py": """
                from . import pricing
                from .pricing import clamp


                def taxed(amount):
                    import inventory.pricing

                    return inventory.pricing.with_tax(amount)


                def off(amount):
                    return pricing.discount(amount, 1), clamp
            """,
        },
    )
    env = _env(root, tmp_path, indexed)
    draft = _passed(
        env,
        {
            "kind": "rename_module",
            "path": "inventory/pricing.py",
            "new_path": "inventory/money/pricing.py",
        },
    )
    moved = draft.change.file("inventory/pricing.py")
    assert moved is not None and moved.new_path == "inventory/money/pricing.py"
    notes = _after(draft, "inventory/notes.py")
    assert notes.startswith(
        "from inventory.money import pricing\nfrom inventory.money.pricing import clamp\n"
    )
    assert "    import inventory.money.pricing\n" in notes
    assert "return inventory.money.pricing.with_tax(amount)" in notes
    assert "from inventory.money.pricing import discount, with_tax" in _after(
        draft, "inventory/stock.py"
    )
    assert "inventory.notes.taxed" in draft.intent.changed


def test_move_requests_need_their_fields(env: Env) -> None:
    with pytest.raises(RequestError, match="needs target"):
        env.service.draft(ProposalRequest.parse({"kind": "move", "symbol": "inventory.stock.Item"}))
    with pytest.raises(RequestError, match="needs new_path"):
        env.service.draft(
            ProposalRequest.parse({"kind": "rename_module", "path": "inventory/stock.py"})
        )
    request = ProposalRequest.parse(
        {
            "kind": "move",
            "symbol": "inventory.pricing.clamp",
            "target": "inventory/limits.py",
            "reexport": True,
            "together": ["inventory.pricing.discount"],
        }
    )
    draft = env.service.draft(request)
    assert draft.evidence["moved"] == ["discount", "clamp"]
    assert draft.evidence["reexported"] == ["clamp", "discount"]


def test_relative_imports_still_lead_where_they_did(
    make_env: Callable[[dict[str, str | bytes]], Env],
) -> None:
    env = make_env(
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "",
            "pkg/sub/a.py": "def f() -> int:\n    from .b import g\n\n    return g()\n",
            "pkg/sub/b.py": "def g() -> int:\n    return 2\n",
            "pkg/sub/user.py": "from .a import f\n\nprint(f())\n",
        }
    )
    draft = move_symbol(env.sources, env.reader, "pkg.sub.a.f", "pkg/c.py")
    assert _after(draft, "pkg/c.py") == (
        "def f() -> int:\n    from pkg.sub.b import g\n\n    return g()\n"
    )
    assert _after(draft, "pkg/sub/user.py") == "from pkg.c import f\n\nprint(f())\n"
    assert _after(draft, "pkg/sub/a.py") == "from pkg.c import f as f\n"
    report = env.service.submit(draft).report
    assert report.passed, report.to_json()
    write_change(env.root, draft.change)
    run = subprocess.run(
        [sys.executable, "-c", "import pkg.sub.user"],
        cwd=env.root,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and run.stdout == "2\n", run.stderr
