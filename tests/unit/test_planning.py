"""Planning: deterministic plans from the index, validation before anything runs, and
the runner driving the real proposal service step by step (state in memory)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.execution.edits import resolve_inside
from hexad.execution.proposals import ProposalError, ProposalRequest, ProposalService
from hexad.execution.shadow import ShadowWorkspace
from hexad.execution.sources import DiskSources
from hexad.execution.verify import Verifier
from hexad.governance import Engine, open_engine
from hexad.memory.records import Records
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer
from hexad.planning.plan import Condition, Plan, Step
from hexad.planning.planners import PlanningError, plan_add_parameter, plan_change_signature
from hexad.planning.runner import PlanRunner, StepResult
from hexad.planning.validate import Validation, validate

FIXTURE = Path(__file__).parents[1] / "fixtures" / "exec_workspace"


Ws = tuple[Path, Connection, Engine]


@pytest.fixture
def ws(tmp_path: Path, indexed: Callable[[Path], Connection]) -> Ws:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    conn = indexed(root)
    return root, conn, open_engine(root, user_file=None)


def _validate(plan: Plan, root: Path, conn: Connection, engine: Engine) -> Validation:
    return validate(
        plan,
        IndexReader(conn),
        engine,
        file_exists=lambda p: resolve_inside(root, p).is_file(),
    )


def test_change_signature_plan_orders_definition_call_sites_and_tests(ws: Ws) -> None:
    root, conn, engine = ws
    plan = plan_change_signature(
        IndexReader(conn),
        "inventory.stock.total_value",
        "items, rounding, percent=0",
        values={"rounding": "None"},
    )
    kinds = [s.kind for s in plan.steps]
    assert kinds[0] == "signature" and kinds[-1] == "run_tests"
    assert plan.steps[0].action["only_paths"] == ["inventory/stock.py"]
    rippled = [s.action["only_paths"][0] for s in plan.steps if s.kind == "ripple"]
    assert set(rippled) == {"inventory/report.py", "tests/test_stock.py"}
    assert all(s.depends_on == [1] for s in plan.steps if s.kind == "ripple")
    assert plan.steps[-1].depends_on == [s.id for s in plan.steps[:-1]]
    assert _validate(plan, root, conn, engine).ok
    text = plan.markdown()
    assert text.startswith("# Plan: Change inventory.stock.total_value") and "☐ **1." in text


def test_planning_refuses_what_cannot_be_planned(ws: Ws) -> None:
    _, conn, _ = ws
    reader = IndexReader(conn)
    with pytest.raises(PlanningError, match="no function"):
        plan_change_signature(reader, "inventory.nowhere", "x")
    with pytest.raises(PlanningError, match="already takes"):
        plan_change_signature(reader, "inventory.stock.restock", "item: Item, amount: int")
    with pytest.raises(PlanningError, match="not a parameter list"):
        plan_change_signature(reader, "inventory.stock.restock", "item,, amount")
    with pytest.raises(PlanningError, match="already has a parameter"):
        plan_add_parameter(reader, "inventory.stock.restock", "amount", "1")


def test_validation_names_each_problem(ws: Ws) -> None:
    root, conn, engine = ws
    plan = Plan(
        task="a bad plan",
        planner="model",
        steps=[
            Step(
                id=1,
                title="rename something that is not there",
                action={"kind": "rename", "symbol": "inventory.ghost", "new_name": "spirit"},
            ),
            Step(
                id=2,
                title="use what step 3 makes",
                action={"kind": "implement", "symbol": "inventory.pricing.fresh"},
                depends_on=[3],
            ),
            Step(
                id=3,
                title="make it",
                action={"kind": "implement", "symbol": "inventory.pricing.clamp"},
                creates=["inventory.pricing.fresh"],
            ),
            Step(
                id=4,
                title="create what exists",
                action={"kind": "write_test", "symbol": "inventory.stock.restock"},
                creates=["tests/test_stock.py"],
            ),
            Step(
                id=5,
                title="touch the git config",
                action={"kind": "add_import", "path": ".git/config", "name": "x"},
            ),
        ],
    )
    found = [str(e) for e in _validate(plan, root, conn, engine).errors]
    assert any(e.startswith("step 1: needs the symbol inventory.ghost") for e in found)
    assert "step 2: runs before step 3, which it depends on" in found
    assert any(e.startswith("step 4: would create tests/test_stock.py") for e in found)
    assert any(e.startswith("step 5: needs the file .git/config") for e in found)


def test_a_dependency_cycle_is_refused(ws: Ws) -> None:
    root, conn, engine = ws
    step = {"kind": "rename", "symbol": "inventory.stock.restock", "new_name": "x"}
    plan = Plan(
        task="cycle",
        planner="model",
        steps=[
            Step(id=1, title="a", action=step, depends_on=[2]),
            Step(id=2, title="b", action=step, depends_on=[1]),
        ],
    )
    errors = [str(e) for e in _validate(plan, root, conn, engine).errors]
    assert any("runs before step 2" in e for e in errors)


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
        reader = IndexReader(self.conn)
        if condition.kind == "signature_is":
            from hexad.planning.planners import find_function, parameters_of, same_parameters

            return same_parameters(
                parameters_of(find_function(reader, condition.target)), condition.value or ""
            )
        return True


def test_a_plan_runs_step_by_step_and_survives_in_memory(ws: Ws, tmp_path: Path) -> None:
    root, conn, engine = ws
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
    plan = plan_add_parameter(IndexReader(conn), "inventory.stock.total_value", "rounding", "None")
    records = Records(conn)
    seen: list[tuple[int, str]] = []
    runner = PlanRunner(
        records,
        ServiceExecutor(service, root, conn),
        lambda p: _validate(p, root, conn, engine),
        on_progress=lambda _p, s: seen.append((s.id, s.status)),
    )
    run_id, validation = runner.start(plan)
    assert validation.ok, validation.to_json()
    done = runner.run(run_id)
    assert [s.status for s in done.steps] == ["done"] * len(done.steps), done.markdown()
    stock = (root / "inventory/stock.py").read_text()
    assert "def total_value(items: list[Item], percent: int = 0, rounding=None)" in stock
    report = (root / "inventory/report.py").read_text()
    assert "def summary(items: list[Item], rounding=None)" in report
    assert "total_value(items, rounding=rounding)" in report
    stored = records.plan_run(run_id)
    assert stored is not None and stored["status"] == "done"
    assert all(v["status"] == "done" for v in stored["steps"].values())
    assert (1, "running") in seen and (1, "done") in seen


def test_a_failed_step_stops_the_plan_and_is_remembered(ws: Ws) -> None:
    root, conn, engine = ws

    class Failing:
        def run(self, plan: Plan, step: Step) -> StepResult:
            return StepResult(step.id != 2, "names ✗" if step.id == 2 else "ok", None, True)

        def holds(self, condition: Condition) -> bool:
            return True

    plan = plan_change_signature(IndexReader(conn), "inventory.stock.restock", "amount, item")
    runner = PlanRunner(Records(conn), Failing(), lambda p: _validate(p, root, conn, engine))
    run_id, _ = runner.start(plan)
    result = runner.run(run_id)
    assert result.steps[1].status == "failed" and result.steps[1].detail == "names ✗"
    assert result.steps[-1].status == "skipped"
    stored = Records(conn).plan_run(run_id)
    assert stored is not None and stored["status"] == "failed"

    # with a replanner the failed step is planned again (bounded)
    calls: list[int] = []

    def replan(p: Plan, step: Step, _r: StepResult) -> Plan:
        calls.append(step.id)
        fresh = p.model_copy(deep=True)
        fresh.step(step.id).status = "pending"  # type: ignore[union-attr]
        return fresh

    runner = PlanRunner(
        Records(conn),
        Failing(),
        lambda p: _validate(p, root, conn, engine),
        replanner=replan,
        max_replans=2,
    )
    run_id, _ = runner.start(plan)
    runner.run(run_id)
    assert calls == [2, 2], "two replans, then the plan stops"


def test_the_plan_command_plans_validates_and_runs(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from hexad.cli import cli

    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    args = ["plan", "--signature", "inventory.stock.restock", "amount: int, item: Item"]
    dry = CliRunner().invoke(cli, [*args, "-w", str(root), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.output)
    assert data["validation"]["ok"] is True
    assert [s["action"]["kind"] for s in data["plan"]["steps"]] == [
        "signature",
        "ripple",
        "run_tests",
    ]
    assert "def restock(item" in (root / "inventory/stock.py").read_text(), (
        "a dry run changes nothing"
    )

    ran = CliRunner().invoke(
        cli, ["plan", "--resume", data["run"], "-w", str(root), "--approve", "--json"]
    )
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["status"] == "done"
    assert "def restock(amount: int, item: Item)" in (root / "inventory/stock.py").read_text()

    bad = CliRunner().invoke(
        cli, ["plan", "--signature", "inventory.nowhere", "x", "-w", str(root)]
    )
    assert bad.exit_code != 0 and "no function named inventory.nowhere" in bad.output
