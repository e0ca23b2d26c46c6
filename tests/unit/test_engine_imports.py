"""Adding a missing import: pyflakes' undefined names, ranked candidates, placement."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.execution.engines import imports
from hexad.execution.engines.base import EngineError
from hexad.execution.engines.imports import ImportCandidate, UndefinedName
from hexad.execution.sources import DiskSources
from hexad.perception.index import IndexReader
from tests.conftest import WriteWorkspace

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "exec_workspace"
Indexed = Callable[[Path], Connection]
RUFF = Path(sys.executable).with_name("ruff")


@pytest.fixture
def inventory(tmp_path: Path, indexed: Indexed) -> tuple[Path, IndexReader]:
    root = tmp_path / "inventory-ws"
    shutil.copytree(FIXTURE, root)
    return root, IndexReader(indexed(root))


def after_text(root: Path, reader: IndexReader, path: str, name: str, **kw: str) -> str:
    draft = imports.add_import(DiskSources(root), reader, path, name, **kw)
    (change,) = draft.change.files
    assert change.after is not None
    return change.after


def isort_clean(root: Path, path: str, text: str) -> None:
    """ruff's import sorting (I001) accepts ``text`` as ``path`` in ``root``."""
    if not RUFF.exists():
        pytest.skip("ruff is not installed next to the interpreter")
    result = subprocess.run(
        [str(RUFF), "check", "--isolated", "--select", "I", "--stdin-filename", path, "-"],
        input=text,
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- undefined names --------------------------------------------------------------------


def test_undefined_names_with_code_point_columns() -> None:
    text = 'größe = "x"\nvalue = größe + json.dumps(größe) + missing\n\n\ndef f():\n'
    text += "    return Path\n"
    assert imports.undefined_names(text, "m.py") == [
        UndefinedName("json", 1, 16),
        UndefinedName("missing", 1, 36),
        UndefinedName("Path", 5, 11),
    ]
    assert imports.undefined_names("def broken(:\n", "m.py") == []


# -- candidates -------------------------------------------------------------------------


def test_the_workspace_prior_import_wins(workspace: WriteWorkspace, indexed: Indexed) -> None:
    root = workspace(
        {
            "app/__init__.py": "",
            "app/legacy/__init__.py": "",
            "app/legacy/parsing.py": "def parse(text):\n    return text\n",
            "app/core/__init__.py": "",
            "app/core/parsing.py": "def parse(text):\n    return text.strip()\n",
            "app/one.py": "from app.core.parsing import parse\n\nparse('a')\n",
            "app/two.py": "from app.core.parsing import parse\n\nparse('b')\n",
            "app/legacy/user.py": "value = parse('c')\n",
        }
    )
    reader = IndexReader(indexed(root))
    found = imports.import_candidates(reader, "parse", "app/legacy/user.py")
    assert [c.statement for c in found] == [
        "from app.core.parsing import parse",
        "from app.legacy.parsing import parse",
    ]
    best = found[0]
    assert best.module == "app.core.parsing" and best.name == "parse"
    assert any("imported this way in 2 other files" in why for why in best.why)
    # without the prior imports, the nearer module would have won
    assert any("near" in why for why in found[1].why)


def test_candidates_include_reexports_and_the_standard_library(
    inventory: tuple[Path, IndexReader],
) -> None:
    root, reader = inventory
    sources = DiskSources(root)
    found = imports.import_candidates(reader, "restock", "inventory/report.py", sources=sources)
    statements = [c.statement for c in found]
    assert statements[0] == "from inventory.stock import restock"  # as the workspace does
    reexport = found[statements.index("from inventory import restock")]
    assert "re-exported by inventory/__init__.py" in reexport.why
    assert "listed in inventory.__all__" in reexport.why

    (json_module,) = imports.import_candidates(reader, "json", "inventory/report.py")
    assert json_module == ImportCandidate(
        module="json",
        name=None,
        statement="import json",
        score=json_module.score,
        why=("standard-library module",),
        origin="stdlib",
    )
    path = imports.import_candidates(reader, "Path", "inventory/report.py")[0]
    assert path.statement == "from pathlib import Path" and path.origin == "stdlib"
    decimal = imports.import_candidates(reader, "Decimal", "inventory/report.py")[0]
    assert decimal.statement == "from decimal import Decimal"
    assert decimal.score > path.score  # imported elsewhere beats merely known
    pytest_ = imports.import_candidates(reader, "pytest", "tests/test_report.py")[0]
    assert pytest_.statement == "import pytest" and pytest_.origin == "third-party"
    module = imports.import_candidates(reader, "pricing", "inventory/report.py")[0]
    assert module.statement == "from inventory import pricing"
    assert imports.import_candidates(reader, "nothing_like_it", "inventory/report.py") == []


# -- adding -----------------------------------------------------------------------------


def test_add_import_merges_into_a_sorted_from_import(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    draft = imports.add_import(DiskSources(root), reader, "inventory/report.py", "restock")
    assert draft.kind == "add_import"
    assert draft.intent.kind == "add_import" and draft.intent.imports_only
    assert draft.evidence["merged"] is True
    assert draft.targets[0].line == 2
    assert draft.task == "Import restock from inventory.stock in inventory/report.py"
    (change,) = draft.change.files
    assert change.after is not None
    assert change.after.splitlines()[2] == "from inventory.stock import Item, restock, total_value"
    assert change.lines_changed() == 2
    isort_clean(root, "inventory/report.py", change.after)


def test_add_import_merges_into_a_parenthesised_import(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    root = workspace(
        {
            "pkg/__init__.py": "",
            "pkg/tools.py": "def alpha(): ...\ndef beta(): ...\ndef gamma(): ...\n",
            "pkg/use.py": (
                "from pkg.tools import (\n    alpha,\n    gamma,\n)\n\nprint(alpha, beta, gamma)\n"
            ),
            "pkg/unsorted.py": "from pkg.tools import gamma, alpha\n\nprint(beta)\n",
        }
    )
    reader = IndexReader(indexed(root))
    after = after_text(root, reader, "pkg/use.py", "beta")
    assert after.startswith("from pkg.tools import (\n    alpha,\n    beta,\n    gamma,\n)\n")
    # an unsorted list gets the name at its end
    after = after_text(root, reader, "pkg/unsorted.py", "beta")
    assert after.startswith("from pkg.tools import gamma, alpha, beta\n")


def test_add_import_places_a_new_block_after_docstring_and_future(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    root = workspace(
        {
            "pkg/__init__.py": "",
            "pkg/helpers.py": "def helper():\n    return 1\n",
            "pkg/mod.py": (
                '"""The module."""\n\nfrom __future__ import annotations\n\n\n'
                "def f():\n    return json.dumps(helper())\n"
            ),
            "pkg/bare.py": "def f():\n    return json.dumps(1)\n",
        }
    )
    reader = IndexReader(indexed(root))
    after = after_text(root, reader, "pkg/mod.py", "json")
    assert after == (
        '"""The module."""\n\nfrom __future__ import annotations\n\nimport json\n\n\n'
        "def f():\n    return json.dumps(helper())\n"
    )
    isort_clean(root, "pkg/mod.py", after)
    (root / "pkg/mod.py").write_text(after, encoding="utf-8")
    after = after_text(root, reader, "pkg/mod.py", "helper")
    assert after == (
        '"""The module."""\n\nfrom __future__ import annotations\n\nimport json\n\n'
        "from pkg.helpers import helper\n\n\ndef f():\n    return json.dumps(helper())\n"
    )
    isort_clean(root, "pkg/mod.py", after)
    # no docstring and no imports: at the top, two blank lines before the def
    after = after_text(root, reader, "pkg/bare.py", "json")
    assert after == "import json\n\n\ndef f():\n    return json.dumps(1)\n"


def test_add_import_sorts_within_a_block(workspace: WriteWorkspace, indexed: Indexed) -> None:
    root = workspace(
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "X = 1\n",
            "pkg/mod.py": (
                '"""Doc."""\n\nimport os\nimport sys\n\nfrom pkg.a import X\n\n'
                "print(os, sys, X, json, Path, zlib)\n"
            ),
        }
    )
    reader = IndexReader(indexed(root))
    after = after_text(root, reader, "pkg/mod.py", "json")
    assert "import json\nimport os\nimport sys\n\nfrom pkg.a import X\n" in after
    isort_clean(root, "pkg/mod.py", after)
    after = after_text(root, reader, "pkg/mod.py", "Path")
    assert "import os\nimport sys\nfrom pathlib import Path\n\nfrom pkg.a import X\n" in after
    isort_clean(root, "pkg/mod.py", after)
    after = after_text(root, reader, "pkg/mod.py", "zlib")
    assert "import os\nimport sys\nimport zlib\n\nfrom pkg.a import X\n" in after


def test_add_import_with_an_explicit_module(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    after = after_text(root, reader, "inventory/report.py", "restock", module="inventory")
    assert "from inventory import restock\nfrom inventory.stock import Item, total_value\n" in (
        after
    )
    after = after_text(root, reader, "inventory/report.py", "json", module="json")
    assert '"""Text reports about stock."""\n\nimport json\n\nfrom inventory' in after


def test_add_import_refusals(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    sources = DiskSources(root)
    with pytest.raises(
        EngineError,
        match="no definition named frobnicate in the workspace or the standard library",
    ):
        imports.add_import(sources, reader, "inventory/report.py", "frobnicate")
    with pytest.raises(EngineError, match="already defined or imported"):
        imports.add_import(sources, reader, "inventory/report.py", "Item")
    with pytest.raises(EngineError, match="not a module path"):
        imports.add_import(sources, reader, "inventory/report.py", "restock", module="a b")
    broken = DiskSources(root, {"inventory/report.py": ("def f(:\n", 2)})
    with pytest.raises(EngineError, match="does not parse"):
        imports.add_import(broken, reader, "inventory/report.py", "restock")


def test_add_import_works_on_the_buffer(inventory: tuple[Path, IndexReader]) -> None:
    root, reader = inventory
    text = '"""Scratch."""\n\n\ndef total():\n    return with_tax(1)\n'
    sources = DiskSources(root, {"inventory/report.py": (text, 4)})
    draft = imports.add_import(sources, reader, "inventory/report.py", "with_tax")
    (change,) = draft.change.files
    assert change.before == text
    assert change.after == (
        '"""Scratch."""\n\nfrom inventory.pricing import with_tax\n\n\n'
        "def total():\n    return with_tax(1)\n"
    )
    assert draft.evidence["undefined_uses"] == 1


def test_add_import_merges_into_a_relative_import_of_the_same_module(
    workspace: WriteWorkspace, indexed: Indexed
) -> None:
    root = workspace(
        {
            "pkg/__init__.py": "",
            "pkg/tools.py": "def alpha(): ...\ndef beta(): ...\n",
            "pkg/other.py": "from pkg.tools import beta\n",
            "pkg/use.py": "from .tools import alpha\n\nprint(alpha, beta)\n",
            "pkg/noted.py": "from pkg.tools import alpha  # the first\n\nprint(alpha, beta)\n",
        }
    )
    reader = IndexReader(indexed(root))
    assert after_text(root, reader, "pkg/use.py", "beta").startswith(
        "from .tools import alpha, beta\n"
    )
    # a statement with a comment is left as written; the import goes next to it
    assert after_text(root, reader, "pkg/noted.py", "beta").startswith(
        "from pkg.tools import alpha  # the first\nfrom pkg.tools import beta\n"
    )
