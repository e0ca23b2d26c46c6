"""Intents and replanning: what a user asks for becomes a plan, and a plan whose step
fails because the code changed under it is made again from the index — once, bounded by
the policy — while a replan that would only repeat the failed edit is refused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.execution.edits import resolve_inside
from hexad.execution.proposals import ProposalService
from hexad.execution.shadow import ShadowWorkspace
from hexad.execution.sources import DiskSources
from hexad.execution.verify import Verifier
from hexad.governance import Engine, open_engine
from hexad.lsp.plans import ServiceExecutor, make_plan, make_replanner, max_replans
from hexad.memory.records import Records
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer
from hexad.planning.intents import Intent, Replanner, plan_intent, replan_request
from hexad.planning.plan import Condition, Plan, Step
from hexad.planning.planners import PlanningError
from hexad.planning.runner import PlanRunner, StepResult
from hexad.planning.validate import validate

FIXTURE = Path(__file__).parents[1] / "fixtures" / "exec_workspace"
Ws = tuple[Path, Connection, Engine]


@pytest.fixture
def ws(tmp_path: Path, indexed: Callable[[Path], Connection]) -> Ws:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    conn = indexed(root)
    return root, conn, open_engine(root, user_file=None)


def test_intents_parse_with_clear_errors() -> None:
    move = Intent.parse({"kind": "rename_module", "path": "a.py", "newPath": "b.py"})
    assert move.new_path == "b.py" and move.deterministic
    assert Intent.parse({"kind": "task", "text": "add retries"}).deterministic is False
    with pytest.raises(PlanningError, match="a move plan needs target"):
        Intent.parse({"kind": "move", "symbol": "pkg.f"})
    with pytest.raises(PlanningError, match="kind"):
        Intent.parse({"kind": "delete_everything"})
    with pytest.raises(PlanningError, match="a task plan needs text"):
        Intent.parse({"kind": "task", "text": ""})
    with pytest.raises(PlanningError, match="Extra inputs"):
        Intent.parse({"kind": "task", "text": "x", "sudo": True})


def test_each_structural_intent_plans_and_keeps_its_intent(ws: Ws) -> None:
    root, conn, engine = ws
    reader = IndexReader(conn)
    intents = [
        {"kind": "signature", "symbol": "inventory.report.low_stock", "params": "items, n=3"},
        {"kind": "add_parameter", "symbol": "inventory.stock.total_value", "name": "r"},
        {"kind": "move", "symbol": "inventory.report.banner", "target": "inventory/fmt.py"},
        {"kind": "rename_module", "path": "inventory/report.py", "new_path": "inventory/rep.py"},
        {
            "kind": "split_module",
            "path": "inventory/report.py",
            "groups": {"inventory/low.py": ["low_stock"]},
        },
    ]
    for raw in intents:
        plan = plan_intent(reader, Intent.parse(raw))
        assert plan.intent is not None and plan.intent["kind"] == raw["kind"]
        assert plan.planner == f"deterministic:{raw['kind']}"
        ok = validate(plan, reader, engine, file_exists=lambda p: resolve_inside(root, p).is_file())
        assert ok.ok, (raw, ok.to_json())
    sig = plan_intent(reader, Intent.parse(intents[0]))
    assert sig.intent is not None and sig.intent["was"] == "items: list[Item], threshold: int = 3"
    with pytest.raises(PlanningError, match="model planner"):
        plan_intent(reader, Intent.parse({"kind": "task", "text": "make it faster"}))


def _service(root: Path, conn: Connection, engine: Engine, tmp_path: Path) -> ProposalService:
    sources = DiskSources(root)
    return ProposalService(
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


def test_a_plan_the_code_moved_under_is_replanned_from_the_index_and_finishes(
    ws: Ws, tmp_path: Path
) -> None:
    root, conn, engine = ws
    service = _service(root, conn, engine, tmp_path)

    def reader() -> IndexReader:
        return IndexReader(conn)

    def refresh() -> None:
        Indexer(root, conn=conn).run()

    def exists(path: str) -> bool:
        return resolve_inside(root, path).is_file()

    intent = Intent.parse(
        {"kind": "add_parameter", "symbol": "inventory.stock.total_value", "name": "rounding"}
    )
    planned = make_plan(intent, service, reader(), file_exists=exists)
    assert planned.plan is not None
    titles = [s.title for s in planned.plan.steps]
    assert "Give summary the parameter rounding=None" in titles

    executor = ServiceExecutor(service, reader, refresh, approve=True, file_exists=exists)
    seen: list[tuple[int, str]] = []
    runner = PlanRunner(
        Records(conn),
        executor,
        lambda p: validate(p, reader(), engine, file_exists=exists),
        replanner=make_replanner(service, reader, executor),
        max_replans=max_replans(engine),
        on_progress=lambda _p, s: seen.append((s.id, s.status)),
    )
    run_id, validation = runner.start(planned.plan)
    assert validation.ok, validation.to_json()

    # after the plan was made, someone renames summary (its caller and its test too)
    report = root / "inventory/report.py"
    for changed in (report, root / "tests/test_report.py"):
        changed.write_text(changed.read_text().replace("summary", "summarize"))
    refresh()

    done = runner.run(run_id)
    stored = Records(conn).plan_run(run_id)
    assert stored is not None and stored["status"] == "done", done.markdown()
    assert done.replans == 1
    failed = [s for s in done.steps if s.status == "failed"]
    assert [s.title for s in failed] == ["Give summary the parameter rounding=None"]
    assert done.steps[0].status == "done", "the step that ran is kept, not redone"
    text = report.read_text()
    assert "def summarize(items: list[Item], rounding=None)" in text
    assert "total_value(items, rounding=rounding)" in text
    stock = (root / "inventory/stock.py").read_text()
    assert stock.count("rounding=None") == 1, "the definition changed once"
    assert all(s.status in ("done", "failed") for s in done.steps)


def test_a_replan_that_repeats_the_failed_edit_is_refused(ws: Ws) -> None:
    root, conn, engine = ws

    class Failing:
        def run(self, plan: Plan, step: Step) -> StepResult:
            return StepResult(step.id != 2, "names ✗" if step.id == 2 else "ok", None, True)

        def holds(self, condition: Condition) -> bool:
            return True

    def reader() -> IndexReader:
        return IndexReader(conn)

    plan = plan_intent(
        reader(),
        Intent.parse(
            {
                "kind": "signature",
                "symbol": "inventory.stock.restock",
                "params": "item, amount, n=1",
            }
        ),
    )
    runner = PlanRunner(
        Records(conn),
        Failing(),
        lambda p: validate(p, reader(), engine, file_exists=lambda p: (root / p).is_file()),
        replanner=Replanner(reader, Failing().holds),
        max_replans=2,
    )
    run_id, _ = runner.start(plan)
    result = runner.run(run_id)
    stored = Records(conn).plan_run(run_id)
    assert stored is not None and stored["status"] == "failed"
    assert result.replans == 0
    assert "not replanned: replanning gives step 2's edit again" in stored["plan"]["outcome"]


def test_the_policy_bounds_replans(ws: Ws, tmp_path: Path) -> None:
    root, _conn, engine = ws
    assert max_replans(engine) == 2, "the built-in policy"
    (root / ".hexad" / "policies").mkdir(parents=True, exist_ok=True)
    (root / ".hexad" / "policies" / "plans.toml").write_text(
        "version = 1\n[budgets]\nreplans_per_plan = 0\n"
    )
    assert max_replans(open_engine(root, user_file=None)) == 0


def test_a_model_replan_is_told_what_ran_and_what_failed() -> None:
    plan = Plan(
        task="Add retries",
        planner="model",
        intent={"kind": "task", "text": "add retry with backoff to every HTTP call"},
        steps=[
            Step(id=1, title="Add a helper", action={"kind": "implement", "symbol": "a.retry"}),
            Step(id=2, title="Use it", action={"kind": "implement", "symbol": "a.fetch"}),
        ],
    )
    plan.steps[0].status = "done"
    text = replan_request(plan, plan.steps[1], StepResult(False, "names ✗ undefined: sleep"))
    assert text.startswith("add retry with backoff to every HTTP call")
    assert "- done: Add a helper (kind=implement, symbol=a.retry)" in text
    assert "- FAILED: Use it (kind=implement, symbol=a.fetch): names ✗ undefined: sleep" in text


def test_the_plan_command_takes_every_intent(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hexad.cli import cli

    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)

    def dry(*args: str) -> dict[str, object]:
        ran = CliRunner().invoke(cli, ["plan", *args, "-w", str(root), "--dry-run", "--json"])
        assert ran.exit_code == 0, ran.output
        data: dict[str, object] = json.loads(ran.output)
        return data

    moved = dry("--move", "inventory.report.banner", "inventory/fmt.py")
    assert moved["plan"]["planner"] == "deterministic:move"  # type: ignore[index]
    split = dry(
        "--split",
        "inventory/report.py",
        "--into",
        "inventory/low.py=low_stock",
        "--into",
        "inventory/text.py=summary,banner",
        "Split the report module",
    )
    assert split["plan"]["task"] == "Split the report module"  # type: ignore[index]
    renamed = dry("--rename-module", "inventory/report.py", "inventory/reports.py")
    assert renamed["validation"]["ok"] is True  # type: ignore[index]

    free = CliRunner().invoke(cli, ["plan", "add retries everywhere", "-w", str(root), "--json"])
    assert free.exit_code == 2
    answer = json.loads(free.output)
    assert answer["run"] is None and "needs a model" in answer["refused"]

    both = CliRunner().invoke(
        cli, ["plan", "--move", "a.b", "c.py", "--rename-module", "a.py", "b.py", "-w", str(root)]
    )
    assert both.exit_code == 2 and "give one intent" in both.output


@pytest.mark.parametrize(
    ("old", "new", "unaffected"),
    [
        ("items, threshold=3", "items, threshold=3, floor=0", True),
        ("a, *, k", "a, *, k, j=2", True),
        ("a, *args", "a, *args, k=1", True),
        ("a, b", "a, b, c", False),
        ("a, b", "b, a", False),
        ("a, *args", "a, b=1, *args", False),
        ("a, *, k=1", "a, *, k", False),
        ("a, **kw", "a, b=1, **kw", False),
        ("a, b=2", "a, b", False),
    ],
)
def test_which_signature_changes_leave_every_call_alone(
    old: str, new: str, unaffected: bool
) -> None:
    from hexad.planning.planners import calls_unaffected

    assert calls_unaffected(old, new) is unaffected


def test_a_move_that_would_make_modules_import_each_other_drops_the_reexport(ws: Ws) -> None:
    from hexad.planning.module_planners import plan_move_symbol

    root, conn, _ = ws
    reader = IndexReader(conn)

    def text_of(path: str) -> str:
        return (root / path).read_text()

    plan = plan_move_symbol(
        reader, "inventory.pricing.with_tax", "inventory/tax.py", text_of=text_of
    )
    assert plan.steps[0].action["reexport"] is False
    assert "no re-export: with_tax uses TAX_RATE, which stays" in plan.summary
    with pytest.raises(PlanningError, match="would import each other"):
        plan_move_symbol(
            reader, "inventory.pricing.with_tax", "inventory/tax.py", reexport=True, text_of=text_of
        )
    free = plan_move_symbol(reader, "inventory.pricing.discount", "inventory/d.py", text_of=text_of)
    assert "reexport" not in free.steps[0].action, "a public name that uses nothing stays exported"


def _runner(root: Path, conn: Connection, engine: Engine, tmp_path: Path) -> PlanRunner:
    service = _service(root, conn, engine, tmp_path)

    def reader() -> IndexReader:
        return IndexReader(conn)

    def exists(path: str) -> bool:
        return resolve_inside(root, path).is_file()

    executor = ServiceExecutor(
        service, reader, lambda: Indexer(root, conn=conn).run(), approve=True, file_exists=exists
    )
    return PlanRunner(
        Records(conn),
        executor,
        lambda p: validate(p, reader(), engine, file_exists=exists),
        replanner=make_replanner(service, reader, executor),
        max_replans=2,
    )


def test_a_step_whose_file_is_gone_fails_before_it_runs_and_is_replanned(
    ws: Ws, tmp_path: Path
) -> None:
    root, conn, engine = ws
    intent = {"kind": "signature", "symbol": "inventory.stock.restock", "params": "amount, item"}
    plan = plan_intent(IndexReader(conn), Intent.parse(intent))
    runner = _runner(root, conn, engine, tmp_path)
    run_id, _ = runner.start(plan)
    (root / "tests/test_stock.py").rename(root / "tests/test_inventory_stock.py")
    Indexer(root, conn=conn).run()
    done = runner.run(run_id)
    failed = [s for s in done.steps if s.status == "failed"]
    assert len(failed) == 1 and "no longer true: tests/test_stock.py exists" in str(
        failed[0].detail
    )
    assert done.replans == 1 and all(s.status in ("done", "failed") for s in done.steps)
    assert "restock(3, Item(" in (root / "tests/test_inventory_stock.py").read_text()


def test_work_the_code_grew_while_a_plan_ran_is_added_at_the_end(ws: Ws, tmp_path: Path) -> None:
    root, conn, engine = ws
    intent = {
        "kind": "signature",
        "symbol": "inventory.report.low_stock",
        "params": "items, floor, threshold=3",
        "values": {"floor": "0"},
    }
    plan = plan_intent(IndexReader(conn), Intent.parse(intent))
    runner = _runner(root, conn, engine, tmp_path)
    run_id, _ = runner.start(plan)
    (root / "inventory/alerts.py").write_text(
        "from inventory.report import low_stock\n\n\ndef alert(items):\n"
        "    return low_stock(items, 2)\n"
    )
    Indexer(root, conn=conn).run()
    done = runner.run(run_id)
    assert Records(conn).plan_run(run_id)["status"] == "done"  # type: ignore[index]
    assert done.replans == 1
    assert "low_stock(items, 0, 2)" in (root / "inventory/alerts.py").read_text()
    kinds = [s.kind for s in done.steps]
    assert kinds.count("run_tests") == 2, "the tests ran again after the added step"
