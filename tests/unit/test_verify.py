"""Verification of drafts on a copy of the inventory workspace: real tree-sitter, real
pyflakes, a real index and real pytest runs in the shadow mirror."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.execution.affected import affected_tests, collected_node_id, is_test_file
from hexad.execution.edits import Change, FileChange
from hexad.execution.engines.base import Draft, Intent
from hexad.execution.report import Check, Report
from hexad.execution.sources import DiskSources
from hexad.execution.verify import CHECKS, Verifier, read_truncated
from hexad.inference.base import CancelToken
from hexad.perception.index import IndexReader

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "exec_workspace"
STOCK = "inventory/stock.py"
RESTOCK = "inventory.stock.restock"
Indexed = Callable[[Path], Connection]


class Workspace:
    """A copy of the fixture workspace, indexed, with a verifier over it."""

    def __init__(self, root: Path, indexed: Indexed, extra: dict[str, str] | None = None) -> None:
        shutil.copytree(FIXTURE, root)
        for rel, text in (extra or {}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        self.root = root
        self.conn = indexed(root)
        self.reader = IndexReader(self.conn)
        self.verifier = Verifier(root, DiskSources(root), lambda: self.reader)

    def text(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def draft(
        self,
        edits: dict[str, str],
        intent: Intent,
        symbols: tuple[str, ...] = (RESTOCK,),
    ) -> Draft:
        files = tuple(FileChange(rel, self.text(rel), after) for rel, after in edits.items())
        return Draft("test edit", intent.kind, "test", Change(files), intent, (), symbols)

    def edit(self, rel: str, old: str, new: str) -> str:
        text = self.text(rel)
        assert old in text, old
        return text.replace(old, new, 1)

    def user_files(self) -> dict[str, bytes]:
        return {
            p.relative_to(self.root).as_posix(): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and ".hexad" not in p.parts
        }


@pytest.fixture
def ws(tmp_path: Path, indexed: Indexed) -> Workspace:
    return Workspace(tmp_path / "ws", indexed)


def _statuses(report: Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def _check(report: Report, name: str) -> Check:
    check = report.check(name)
    assert check is not None, name
    return check


def _restock_intent() -> Intent:
    return Intent("implement", changed=(RESTOCK,))


# -- passing ----------------------------------------------------------------------------


def test_a_good_edit_passes_every_check_and_runs_the_tests_that_reach_it(
    ws: Workspace,
) -> None:
    before = ws.user_files()
    after = ws.edit(STOCK, "item.quantity += amount", "item.quantity = item.quantity + amount")
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()))

    assert _statuses(report) == dict.fromkeys(CHECKS, "passed"), report.to_json()
    assert report.passed
    tests = _check(report, "tests")
    details = tests.details
    assert "tests/test_stock.py" in details["nodes"]  # imports the changed module
    chain = details["chains"]["tests/test_stock.py::test_restock_adds_units"]
    assert chain == ["test_stock.test_restock_adds_units", RESTOCK]
    assert details["run"] == details["passed"] >= 3
    assert details["failed"] == [] and details["preexisting"] == []
    assert details["reach"] == 1.0
    assert tests.summary == f"{details['run']}/{details['run']} tests pass"
    assert all(c.seconds >= 0 for c in report.checks)
    assert ws.user_files() == before  # the user's files, byte for byte


def test_a_full_rename_passes_the_symbol_check(ws: Workspace) -> None:
    def renamed(rel: str) -> str:
        return re.sub(r"\brestock\b", "replenish", ws.text(rel))

    edits = {rel: renamed(rel) for rel in (STOCK, "inventory/__init__.py", "tests/test_stock.py")}
    intent = Intent("rename", renamed=((RESTOCK, "inventory.stock.replenish"),))
    report = ws.verifier.verify(ws.draft(edits, intent), run_tests=False)
    assert _statuses(report) == {
        "syntax": "passed",
        "symbols": "passed",
        "compile": "passed",
        "names": "passed",
        "tests": "skipped",
    }, report.to_json()
    symbols = _check(report, "symbols")
    assert symbols.details["renamed"] == [[RESTOCK, "inventory.stock.replenish"]]


def test_a_rename_may_leave_mentions_in_strings_alone(ws: Workspace) -> None:
    # jedi renames code, not prose: a docstring that still says "restock" is no change
    text = ws.text(STOCK).replace(
        '"""The value of ``items``', '"""Like restock, the value of ``items``'
    )
    (ws.root / STOCK).write_text(text, encoding="utf-8")
    after = text.replace("def restock(", "def replenish(")
    intent = Intent("rename", renamed=((RESTOCK, "inventory.stock.replenish"),))
    report = ws.verifier.verify(ws.draft({STOCK: after}, intent), run_tests=False)
    assert _check(report, "symbols").status == "passed", report.to_json()
    # but any other word changing is still a change
    other = after.replace("Like restock,", "Like replenish, roughly")
    report = ws.verifier.verify(ws.draft({STOCK: other}, intent), run_tests=False)
    assert _check(report, "symbols").status == "failed"


# -- failing checks ---------------------------------------------------------------------


def test_a_syntax_error_fails_with_its_location_and_skips_the_rest(ws: Workspace) -> None:
    after = ws.edit(STOCK, "    if amount < 0:\n", "    if amount < 0\n")
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()))

    syntax = _check(report, "syntax")
    assert syntax.status == "failed"
    first = syntax.evidence[0]
    assert (first.path, first.line, first.col) == (STOCK, 20, 4)
    assert "syntax error" in first.message
    for name in CHECKS[1:]:
        check = report.check(name)
        assert check is not None
        assert (check.status, check.summary) == ("skipped", "skipped: the change does not parse")
    assert not report.passed


def test_a_new_undefined_name_fails_the_names_check(ws: Workspace) -> None:
    after = ws.edit(STOCK, "    return item\n", "    audit(item)\n    return item\n")
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()))

    names = _check(report, "names")
    assert names.status == "failed"
    assert [(e.path, e.line, e.col, e.message) for e in names.evidence] == [
        (STOCK, 23, 4, "undefined name 'audit'")
    ]
    tests = _check(report, "tests")
    assert tests.status == "skipped"
    assert tests.summary == "skipped: an earlier check failed (names)"


def test_moved_lines_do_not_count_as_new_undefined_names(ws: Workspace) -> None:
    broken = ws.edit(STOCK, "    return item\n", "    audit(item)\n    return item\n")
    (ws.root / STOCK).write_text(broken, encoding="utf-8")
    # the name was undefined before; the change only adds a blank line above it
    after = broken.replace('    """Add ``amount``', '\n    """Add ``amount``', 1)
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()), run_tests=False)
    names = _check(report, "names")
    assert names.status == "passed", names


def test_a_rename_with_an_undeclared_change_fails_the_symbol_check(ws: Workspace) -> None:
    after = (
        ws.text(STOCK)
        .replace("def restock(", "def replenish(")
        .replace("percent: int = 0", "percent: int = 5")
    )
    intent = Intent("rename", renamed=((RESTOCK, "inventory.stock.replenish"),))
    report = ws.verifier.verify(ws.draft({STOCK: after}, intent))

    symbols = _check(report, "symbols")
    assert symbols.status == "failed"
    messages = [e.message for e in symbols.evidence]
    assert messages == ["inventory.stock.total_value changed but the intent does not say so"]
    assert (symbols.evidence[0].path, symbols.evidence[0].line) == (STOCK, 26)
    assert symbols.details["changed"] == ["inventory.stock.total_value"]


def test_undeclared_additions_removals_and_signatures_are_named(ws: Workspace) -> None:
    after = (
        ws.text(STOCK)
        .replace("def restock(item: Item, amount: int)", "def restock(item: Item, amount: float)")
        .replace("def total_value(", "def _helper() -> None:\n    pass\n\n\ndef total_value(")
        .replace("    def value(self) -> Decimal:\n        return self.price * self.quantity\n", "")
    )
    intent = Intent("signature", changed=(RESTOCK,), keep_signature=(RESTOCK,))
    report = ws.verifier.verify(ws.draft({STOCK: after}, intent), run_tests=False)
    symbols = _check(report, "symbols")
    assert symbols.status == "failed"
    messages = sorted(e.message for e in symbols.evidence)
    assert messages == [
        "inventory.stock.Item.value was removed but the intent does not say so",
        "inventory.stock._helper was added but the intent does not say so",
        "signature of inventory.stock.restock changed: "
        "'def restock(item: Item, amount: int) -> Item' → "
        "'def restock(item: Item, amount: float) -> Item'",
    ]
    allowed = Intent(
        "signature",
        changed=(RESTOCK, "inventory.stock.Item"),
        added=("*._helper",),
        removed=("inventory.stock.Item.*",),
    )
    report = ws.verifier.verify(ws.draft({STOCK: after}, allowed), run_tests=False)
    assert _check(report, "symbols").status == "passed"


def test_imports_only_allows_imports_and_nothing_else(ws: Workspace) -> None:
    with_import = ws.edit(
        STOCK, "from decimal import Decimal\n", "from decimal import Decimal\nimport math\n"
    )
    intent = Intent("add_import", imports_only=True)
    report = ws.verifier.verify(ws.draft({STOCK: with_import}, intent, ()), run_tests=False)
    assert _check(report, "symbols").status == "passed"

    more = (
        with_import.replace("raise ValueError(", "raise TypeError(")
        .replace('"""Items in stock', 'LIMIT = 3\n"""Items in stock')
        .replace("\n\n@dataclass", '\nprint("loading")\n\n@dataclass')
    )
    report = ws.verifier.verify(ws.draft({STOCK: more}, intent, ()), run_tests=False)
    symbols = _check(report, "symbols")
    assert symbols.status == "failed"
    assert sorted(e.message for e in symbols.evidence) == [
        "inventory.stock.LIMIT was added; only imports may change",
        "inventory.stock.restock changed; only imports may change",
        f"module-level code of {STOCK} changed; only imports may change",
    ]


def test_code_that_tree_sitter_accepts_but_python_rejects_fails_compile(ws: Workspace) -> None:
    after = ws.edit(STOCK, "def restock(item: Item, amount: int)", "def restock(item, item)")
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()), run_tests=False)
    assert _statuses(report)["syntax"] == "passed"
    compiled = _check(report, "compile")
    assert compiled.status == "failed"
    evidence = compiled.evidence[0]
    assert (evidence.path, evidence.line) == (STOCK, 18)
    assert "duplicate argument" in evidence.message


def test_files_without_a_grammar_are_not_counted(ws: Workspace) -> None:
    change = Change((FileChange("NOTES.txt", None, "{{{ not code\n"),))
    draft = Draft("notes", "implement", "test", change, Intent("implement"), ())
    report = ws.verifier.verify(draft)
    syntax = _check(report, "syntax")
    assert syntax.status == "skipped"
    assert "not checked (no grammar)" in syntax.summary
    tests = _check(report, "tests")
    assert (tests.status, tests.summary) == (
        "skipped",
        "no test reaches the change",
    )


# -- tests ------------------------------------------------------------------------------


def test_a_behaviour_change_fails_the_tests_naming_the_test(ws: Workspace) -> None:
    after = ws.edit(STOCK, "item.quantity += amount", "item.quantity -= amount")
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()))

    tests = _check(report, "tests")
    assert tests.status == "failed", tests
    assert tests.details["failed"] == ["tests/test_stock.py::test_restock_adds_units"]
    assert tests.details["preexisting"] == []
    evidence = tests.evidence[0]
    assert evidence.path == "tests/test_stock.py"
    assert evidence.line == 7  # 0-based line of the test function
    assert evidence.message.startswith("tests/test_stock.py::test_restock_adds_units: ")
    assert "assert -1 == 5" in evidence.message
    assert "broken by the change" in tests.summary
    assert not report.passed


def test_a_test_failing_before_the_change_is_reported_as_preexisting(
    tmp_path: Path, indexed: Indexed
) -> None:
    ws = Workspace(
        tmp_path / "ws",
        indexed,
        {
            "tests/test_pricing.py": (
                "from decimal import Decimal\n\n"
                "from inventory.pricing import clamp, discount\n\n\n"
                "def test_clamp() -> None:\n"
                "    assert clamp(5, 0, 3) == 3\n\n\n"
                "def test_discount() -> None:\n"
                "    assert discount(Decimal(10), 50) == Decimal(5)\n"
            )
        },
    )
    pricing = "inventory/pricing.py"
    after = ws.edit(pricing, "limited to the range", "kept within the range")
    draft = ws.draft(
        {pricing: after},
        Intent("signature", changed=("inventory.pricing.clamp",)),
        ("inventory.pricing.clamp",),
    )
    report = ws.verifier.verify(draft)
    tests = _check(report, "tests")
    assert tests.status == "passed", tests
    assert tests.details["preexisting"] == ["tests/test_pricing.py::test_clamp"]
    assert tests.details["failed"] == []
    assert "failing before the change too" in tests.summary
    assert report.passed

    # implementing a stub is meant to make its tests pass: still failing is a failure
    meant = ws.draft(
        {pricing: after},
        Intent("implement", changed=("inventory.pricing.clamp",)),
        ("inventory.pricing.clamp",),
    )
    tests = _check(ws.verifier.verify(meant), "tests")
    assert tests.status == "failed" and tests.details["failed"] == [
        "tests/test_pricing.py::test_clamp"
    ]


def test_a_test_slower_than_the_timeout_is_killed(tmp_path: Path, indexed: Indexed) -> None:
    pid_file = tmp_path / "pid"
    ws = Workspace(
        tmp_path / "ws",
        indexed,
        {
            "tests/test_slow.py": (
                "import os\nimport time\nfrom decimal import Decimal\n\n"
                "from inventory.stock import Item, restock\n\n\n"
                "def test_slow() -> None:\n"
                f"    with open({str(pid_file)!r}, 'w') as f:\n"
                "        f.write(str(os.getpid()))\n"
                "    time.sleep(60)\n"
                "    restock(Item('x', Decimal(1)), 1)\n"
            )
        },
    )
    after = ws.edit(STOCK, "item.quantity += amount", "item.quantity = item.quantity + amount")
    started = time.monotonic()
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()), timeout=4)
    elapsed = time.monotonic() - started

    tests = _check(report, "tests")
    assert (tests.status, tests.summary) == ("error", "timed out after 4 s")
    assert elapsed < 30
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the whole process group was killed
    # the mirror is clean again
    assert (ws.verifier.shadow.mirror / STOCK).read_text() == ws.text(STOCK)


def test_cancelling_kills_pytest_and_skips_the_check(tmp_path: Path, indexed: Indexed) -> None:
    ws = Workspace(
        tmp_path / "ws",
        indexed,
        {
            "tests/test_slow.py": (
                "import time\n\nfrom inventory.stock import restock\n\n\n"
                "def test_slow() -> None:\n"
                "    time.sleep(60)\n"
                "    assert restock\n"
            )
        },
    )
    token = CancelToken()
    after = ws.edit(STOCK, "item.quantity += amount", "item.quantity = item.quantity + amount")
    timer = threading.Timer(2.0, token.cancel)
    timer.start()
    started = time.monotonic()
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()), cancel=token)
    timer.cancel()
    assert time.monotonic() - started < 30
    tests = _check(report, "tests")
    assert (tests.status, tests.summary) == (
        "skipped",
        "skipped: cancelled",
    )

    cancelled = CancelToken()
    cancelled.cancel()
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()), cancel=cancelled)
    assert {(c.status, c.summary) for c in report.checks} == {("skipped", "skipped: cancelled")}


def test_pytest_output_is_truncated_at_the_limit(ws: Workspace) -> None:
    after = ws.edit(STOCK, "item.quantity += amount", "item.quantity -= amount")
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()), output_limit=600)
    tests = _check(report, "tests")
    assert tests.status == "failed"
    output: str = tests.details["output"]
    assert len(output.encode("utf-8")) <= 600
    assert "omitted" in output
    assert "1 failed" in output[-200:]  # the tail: "1 failed, 5 passed in 0.12s"


def test_read_truncated_keeps_head_and_tail(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(b"HEAD" + "é".encode() * 5000 + b"TAIL")
    text = read_truncated(path, 200)
    assert text.startswith("HEAD") and text.endswith("TAIL")
    assert len(text.encode("utf-8")) <= 200
    path.write_bytes(b"short")
    assert read_truncated(path, 200) == "short"


def test_run_tests_runs_node_ids_on_the_workspace_as_it_is(ws: Workspace) -> None:
    run = ws.verifier.run_tests(
        ["tests/test_stock.py::test_restock_adds_units", "tests/test_report.py::test_low_stock"]
    )
    assert run.passed, run.output
    assert sorted(c.node_id for c in run.cases) == [
        "tests/test_report.py::test_low_stock",
        "tests/test_stock.py::test_restock_adds_units",
    ]


# -- affected tests ---------------------------------------------------------------------


def test_affected_tests_follow_the_call_graph(tmp_path: Path, indexed: Indexed) -> None:
    ws = Workspace(
        tmp_path / "ws",
        indexed,
        {
            "tests/test_classy.py": (
                "from inventory.report import banner\n\n\n"
                "class TestBanner:\n"
                "    def test_banner(self) -> None:\n"
                "        assert banner([])\n"
            )
        },
    )
    found = affected_tests(ws.reader, ["inventory.pricing.discount"], ["inventory/pricing.py"])
    by_node = {t.node_id: t for t in found.tests}
    assert by_node["tests/test_report.py::test_banner_underlines"].chain == (
        "test_report.test_banner_underlines",
        "inventory.report.banner",
        "inventory.report.summary",
        "inventory.stock.total_value",
        "inventory.pricing.discount",
    )
    assert "tests/test_classy.py::TestBanner::test_banner" in by_node
    assert found.reach == 1.0
    # no test file imports pricing directly: only the call graph selects tests
    assert all(t.via == "calls" for t in found.tests)

    shallow = affected_tests(
        ws.reader, ["inventory.pricing.discount"], ["inventory/pricing.py"], max_depth=2
    )
    assert "tests/test_report.py::test_banner_underlines" not in shallow.node_ids
    assert "tests/test_stock.py::test_total_value_applies_tax_and_discount" in shallow.node_ids

    limited = affected_tests(ws.reader, ["inventory.pricing.discount"], [], limit=2)
    assert len(limited.tests) == 2 and limited.truncated

    unknown = affected_tests(ws.reader, ["inventory.pricing.nothing_here"], [])
    assert unknown.unresolved == ("inventory.pricing.nothing_here",)
    assert unknown.reach == 0.0 and unknown.tests == ()


def test_test_files_and_node_ids() -> None:
    assert is_test_file("tests/test_x.py") and is_test_file("pkg/x_test.py")
    assert is_test_file("tests/helpers/basic.py")
    assert not is_test_file("tests/conftest.py") and not is_test_file("pkg/testing.py")
    assert collected_node_id("tests/test_x.py", "test_a", "function", []) == (
        "tests/test_x.py::test_a"
    )
    assert (
        collected_node_id("t/test_x.py", "test_a", "method", [("TestA", "class", "class TestA")])
        == "t/test_x.py::TestA::test_a"
    )
    unittest_class = [("Checks", "class", "class Checks(TestCase)")]
    assert collected_node_id("t/test_x.py", "test_a", "method", unittest_class) is not None
    assert collected_node_id("t/test_x.py", "test_a", "method", [("Helper", "class", "")]) is None
    nested = [("test_outer", "function", "def test_outer()")]
    assert collected_node_id("t/test_x.py", "test_a", "function", nested) is None
    assert collected_node_id("pkg/mod.py", "test_a", "function", []) is None


def test_tests_run_without_the_users_credentials(
    tmp_path: Path, indexed: Indexed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The affected tests run a change that a model may have written: variables holding
    credentials never reach them; the rest of the environment does."""
    monkeypatch.setenv("HEXAD_TEST_API_KEY", "sk-live-0123456789abcdef")
    monkeypatch.setenv("DEPLOY_TOKEN", "t0ken-0123456789")
    monkeypatch.setenv("HEXAD_TEST_PLAIN", "kept")
    ws = Workspace(
        tmp_path / "ws",
        indexed,
        {
            "tests/test_env.py": (
                "import os\nfrom decimal import Decimal\n\n"
                "from inventory.stock import Item, restock\n\n\n"
                "def test_env() -> None:\n"
                "    assert 'HEXAD_TEST_API_KEY' not in os.environ\n"
                "    assert 'DEPLOY_TOKEN' not in os.environ\n"
                "    assert os.environ['HEXAD_TEST_PLAIN'] == 'kept'\n"
                "    assert 'PATH' in os.environ\n"
                "    restock(Item('x', Decimal(1)), 1)\n"
            )
        },
    )
    after = ws.edit(STOCK, "item.quantity += amount", "item.quantity = item.quantity + amount")
    report = ws.verifier.verify(ws.draft({STOCK: after}, _restock_intent()))
    tests = _check(report, "tests")
    assert tests.status == "passed", tests
    assert tests.details["passed"] >= 1
