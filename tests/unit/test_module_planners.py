"""Planning module moves: deterministic plans from a real index, validated, then run
step by step through the real proposal service (each step verified with the workspace's
tests in a shadow copy, applied, and the index refreshed)."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.execution.edits import file_inside
from hexad.execution.proposals import ProposalError, ProposalRequest, ProposalService
from hexad.execution.shadow import ShadowWorkspace
from hexad.execution.sources import DiskSources
from hexad.execution.verify import Verifier
from hexad.governance import Engine, open_engine
from hexad.memory.records import Records
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer
from hexad.planning.module_planners import (
    module_for_path,
    plan_move_symbol,
    plan_rename_module,
    plan_split_module,
)
from hexad.planning.plan import Condition, Plan, Step
from hexad.planning.planners import PlanningError
from hexad.planning.runner import PlanRunner, StepResult
from hexad.planning.validate import Validation, validate
from tests.conftest import write_files

FIXTURE = Path(__file__).parents[1] / "fixtures" / "exec_workspace"

Ws = tuple[Path, Connection, Engine]


@pytest.fixture
def ws(tmp_path: Path, indexed: Callable[[Path], Connection]) -> Ws:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    conn = indexed(root)
    return root, conn, open_engine(root, user_file=None)


def _exists(root: Path) -> Callable[[str], bool]:
    return functools.partial(file_inside, root)


def _validate(plan: Plan, root: Path, conn: Connection, engine: Engine) -> Validation:
    return validate(plan, IndexReader(conn), engine, file_exists=_exists(root))


class ServiceExecutor:
    """The proposal service as a plan's executor (what the CLI and server wire up)."""

    def __init__(self, service: ProposalService, root: Path, conn: Connection) -> None:
        self.service, self.root, self.conn = service, root, conn

    def run(self, plan: Plan, step: Step) -> StepResult:
        if step.kind == "run_tests":
            return StepResult(True, "tests ran in each step's verification")
        try:
            proposal = self.service.propose(ProposalRequest.parse(step.action))
        except ProposalError as exc:
            return StepResult(False, str(exc))
        if not proposal.report.passed:
            return StepResult(False, proposal.report.summary(), proposal.id, True)
        self.service.apply(proposal.id, approved=True)
        Indexer(self.root, conn=self.conn, workers=1).run()
        return StepResult(True, proposal.summary(), proposal.id)

    def holds(self, condition: Condition) -> bool:
        target = condition.target
        if condition.kind in ("file_exists", "file_absent"):
            return _exists(self.root)(target) == (condition.kind == "file_exists")
        reader = IndexReader(self.conn)
        defined = any(s.qualname == target for s in reader.lookup(target.rsplit(".", 1)[-1]))
        if condition.kind == "symbol_exists":
            return defined
        if condition.kind == "symbol_absent":
            return not defined
        return False


def _run(plan: Plan, root: Path, conn: Connection, engine: Engine, tmp_path: Path) -> Plan:
    sources = DiskSources(root)
    service = ProposalService(
        root,
        sources,
        lambda: IndexReader(conn),
        conn,
        engine,
        verifier=Verifier(
            root,
            sources,
            lambda: IndexReader(conn),
            shadow=ShadowWorkspace(root, tmp_path / "shadow"),
        ),
    )
    runner = PlanRunner(
        Records(conn),
        ServiceExecutor(service, root, conn),
        lambda p: _validate(p, root, conn, engine),
    )
    run_id, validation = runner.start(plan)
    assert validation.ok, validation.to_json()
    done = runner.run(run_id)
    assert [s.status for s in done.steps] == ["done"] * len(done.steps), done.markdown()
    stored = Records(conn).plan_run(run_id)
    assert stored is not None and stored["status"] == "done"
    return done


def test_a_move_plan_validates_and_runs(ws: Ws, tmp_path: Path) -> None:
    root, conn, engine = ws
    plan = plan_move_symbol(IndexReader(conn), "inventory.pricing.with_tax", "inventory/tax.py")
    assert plan.planner == "deterministic:move"
    move, tests = plan.steps
    assert move.action == {
        "kind": "move",
        "symbol": "inventory.pricing.with_tax",
        "target": "inventory/tax.py",
    }
    assert move.creates == ["inventory.tax.with_tax", "inventory/tax.py"]
    assert move.removes == ["inventory.pricing.with_tax"]
    assert Condition(kind="file_absent", target="inventory/tax.py") in move.preconditions
    assert Condition(kind="symbol_exists", target="inventory.tax.with_tax") in move.postconditions
    assert tests.action == {"kind": "run_tests", "symbol": "inventory.tax.with_tax"}
    assert tests.depends_on == [1]
    assert "imported by 1 file(s)" in plan.summary
    assert _validate(plan, root, conn, engine).ok

    _run(plan, root, conn, engine, tmp_path)
    assert "def with_tax(" in (root / "inventory/tax.py").read_text()
    assert "from inventory.tax import with_tax\n" in (root / "inventory/stock.py").read_text()
    pricing = (root / "inventory/pricing.py").read_text()
    assert "from inventory.tax import with_tax as with_tax\n" in pricing
    assert "def with_tax(" not in pricing


def test_a_module_rename_plan_validates_and_runs(ws: Ws, tmp_path: Path) -> None:
    root, conn, engine = ws
    plan = plan_rename_module(IndexReader(conn), "inventory/pricing.py", "inventory/prices.py")
    rename = plan.steps[0]
    assert rename.action == {
        "kind": "rename_module",
        "path": "inventory/pricing.py",
        "new_path": "inventory/prices.py",
    }
    assert rename.creates[0] == "inventory/prices.py"
    assert "inventory.prices.discount" in rename.creates
    assert "inventory.pricing.discount" in rename.removes
    assert plan.steps[1].action == {"kind": "run_tests", "path": "inventory/prices.py"}
    _run(plan, root, conn, engine, tmp_path)
    assert not (root / "inventory/pricing.py").exists()
    assert (root / "inventory/prices.py").is_file()
    stock = (root / "inventory/stock.py").read_text()
    assert "from inventory.prices import discount, with_tax" in stock


def test_a_split_plan_moves_what_is_used_first_and_runs(ws: Ws, tmp_path: Path) -> None:
    root, conn, engine = ws
    text = (root / "inventory/pricing.py").read_text()
    plan = plan_split_module(
        IndexReader(conn),
        "inventory/pricing.py",
        {
            "inventory/tax.py": ["with_tax", "TAX_RATE"],
            "inventory/discounts.py": ["inventory.pricing.discount", "clamp"],
        },
        text=text,
    )
    assert plan.planner == "deterministic:split_module"
    titles = [s.title for s in plan.steps]
    assert titles == [
        "Move TAX_RATE to inventory.tax",
        "Move with_tax to inventory.tax",
        "Move discount to inventory.discounts",
        "Move clamp to inventory.discounts",
        "Run the tests that reach inventory.pricing",
    ]
    first, second, third, fourth, tests = plan.steps
    # the new files come with the first step into them; later ones depend on it
    assert first.creates == ["inventory.tax.TAX_RATE", "inventory/tax.py"]
    assert second.depends_on == [1] and "after TAX_RATE" in second.why
    assert third.creates == ["inventory.discounts.discount", "inventory/discounts.py"]
    assert fourth.depends_on == [3] and fourth.creates == ["inventory.discounts.clamp"]
    assert Condition(kind="file_exists", target="inventory/discounts.py") in fourth.preconditions
    assert tests.depends_on == [1, 2, 3, 4]
    assert _validate(plan, root, conn, engine).ok

    _run(plan, root, conn, engine, tmp_path)
    tax = (root / "inventory/tax.py").read_text()
    assert "TAX_RATE = " in tax and "def with_tax(" in tax
    discounts = (root / "inventory/discounts.py").read_text()
    assert "def discount(" in discounts and "def clamp(" in discounts
    pricing = (root / "inventory/pricing.py").read_text()
    assert "def " not in pricing and "Decimal" not in pricing
    assert "from inventory.tax import with_tax as with_tax" in pricing
    assert "from inventory.discounts import discount as discount" in pricing
    assert "clamp" not in pricing, "nothing imported clamp: no re-export"
    stock = (root / "inventory/stock.py").read_text()
    assert "from inventory.discounts import discount\nfrom inventory.tax import with_tax\n" in stock


def test_split_order_from_the_index_and_moves_together(
    tmp_path: Path, indexed: Callable[[Path], Connection]
) -> None:
    root = tmp_path / "ws"
    write_files(
        root,
        {
            "pkg/__init__.py": "",
            "pkg/big.py": """
                def report() -> str:
                    return str(total())


                def total() -> int:
                    return ping(3)


                def ping(n: int) -> int:
                    return pong(n - 1) if n else 0


                def pong(n: int) -> int:
                    return ping(n - 1) if n else 1
            """,
        },
    )
    conn = indexed(root)
    engine = open_engine(root, user_file=None)
    reader = IndexReader(conn)
    plan = plan_split_module(
        reader,
        "pkg/big.py",
        {"pkg/reports.py": ["report", "total"], "pkg/games.py": ["ping", "pong"]},
    )
    moves = [s for s in plan.steps if s.kind == "move"]
    # calls the index knows: ping and pong call each other (one step), total calls ping
    assert [s.title for s in moves] == [
        "Move ping, pong to pkg.games",
        "Move total to pkg.reports",
        "Move report to pkg.reports",
    ]
    assert moves[0].action["together"] == ["pkg.big.pong"]
    assert moves[1].depends_on == [1] and moves[2].depends_on == [2]
    assert _validate(plan, root, conn, engine).ok
    with pytest.raises(PlanningError, match="use each other; put them in the same group"):
        plan_split_module(reader, "pkg/big.py", {"pkg/a.py": ["ping"], "pkg/b.py": ["pong"]})


def test_what_cannot_be_planned_is_refused(ws: Ws) -> None:
    root, conn, _ = ws
    (root / "inventory/limits.py").write_text("def clamp() -> None:\n    pass\n")
    Indexer(root, conn=conn, workers=1).run()
    reader = IndexReader(conn)
    with pytest.raises(PlanningError, match="not a top-level definition"):
        plan_move_symbol(reader, "inventory.stock.Item.value", "inventory/values.py")
    with pytest.raises(PlanningError, match="no Python symbol"):
        plan_move_symbol(reader, "inventory.pricing.ghost", "inventory/tax.py")
    with pytest.raises(PlanningError, match=r"inventory.limits.clamp exists already"):
        plan_move_symbol(reader, "inventory.pricing.clamp", "inventory/limits.py")
    with pytest.raises(PlanningError, match="the module the names are in"):
        plan_move_symbol(reader, "inventory.pricing.discount", "inventory/pricing.py")
    with pytest.raises(PlanningError, match="exists already"):
        plan_rename_module(reader, "inventory/pricing.py", "inventory/stock.py")
    with pytest.raises(PlanningError, match="is in two groups"):
        plan_split_module(
            reader,
            "inventory/pricing.py",
            {"inventory/a.py": ["clamp"], "inventory/b.py": ["clamp"]},
        )
    with pytest.raises(PlanningError, match=r"not a top-level definition of inventory/pricing.py"):
        plan_split_module(reader, "inventory/pricing.py", {"inventory/a.py": ["restock"]})
    assert module_for_path(reader, "inventory/new.py") == "inventory.new"
    assert module_for_path(reader, "tests/test_new.py") == "test_new"
    assert module_for_path(reader, "top.py") == "top"


def test_a_plan_into_what_exists_fails_validation(ws: Ws) -> None:
    root, conn, engine = ws
    plan = plan_move_symbol(IndexReader(conn), "inventory.pricing.clamp", "inventory/limits.py")
    (root / "inventory/limits.py").write_text("", encoding="utf-8")  # made since planning
    errors = [str(e) for e in _validate(plan, root, conn, engine).errors]
    assert any("needs inventory/limits.py not to exist" in e for e in errors), errors
    assert any("would create inventory/limits.py" in e for e in errors), errors
