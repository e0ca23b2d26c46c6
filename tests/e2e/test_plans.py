"""Plans end to end: hexad.plan makes and validates a plan, hexad.plan.run carries it
out step by step — each edit through workspace/applyEdit — with hexad/planProgress
notifications, and the files end up as planned."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.support import Workspace
from tests.e2e.test_proposals import EXEC_FIXTURE, EditorSide, Wire


async def test_a_plan_is_made_validated_and_run_through_the_editor(ws: Workspace) -> None:
    editor = EditorSide(ws)
    progress: list[Any] = []

    def on_progress(params: Any) -> None:  # pygls registers functions, not bound methods
        progress.append(params)

    ws.client.feature("hexad/planProgress")(on_progress)

    made = await ws.command(
        "hexad.plan",
        {
            "addParameter": {
                "symbol": "inventory.stock.total_value",
                "name": "rounding",
                "default": "None",
            }
        },
    )
    assert made["status"] == "approved" and made["validation"]["ok"] is True
    assert made["markdown"].startswith("# Plan: Add rounding=None to inventory.stock.total_value")
    kinds = [s["action"]["kind"] for s in made["plan"]["steps"]]
    assert kinds == ["signature", "signature", "ripple", "run_tests"]

    wire = Wire(ws, ws.uri("inventory/stock.py"))
    done = await ws.command("hexad.plan.run", {"run": made["run"]})
    assert done["status"] == "done", done["markdown"]
    assert [s["status"] for s in done["plan"]["steps"]] == ["done"] * 4
    # each step's proposal shows while the plan runs, not once the run has answered
    shown, answered = wire.events[:-1], wire.events[-1:]
    assert answered == ["answer"] and "diagnostics:1" in shown, wire.events
    assert shown[-1] == "diagnostics:0", "applied steps leave no proposal behind"
    assert len(editor.edits) == 3, "each edit went through the editor"
    report = ws.text("inventory/report.py")
    assert "def summary(items: list[Item], rounding=None)" in report
    assert "total_value(items, rounding=rounding)" in report
    statuses = [(p.step, p.status) for p in progress]
    assert (1, "running") in statuses and (4, "done") in statuses


async def test_invalid_requests_and_declined_edits(ws: Workspace) -> None:
    EditorSide(ws, apply=False)
    with pytest.raises(JsonRpcException, match=r"no function named inventory\.nowhere"):
        await ws.command(
            "hexad.plan", {"signature": {"symbol": "inventory.nowhere", "params": "x"}}
        )
    with pytest.raises(JsonRpcException, match="give the task as text"):
        await ws.command("hexad.plan", {"focus": {"path": "inventory/report.py"}})
    refused = await ws.command("hexad.plan", {"task": "make it better"})
    assert refused["run"] is None and refused["status"] == "refused"
    assert "no model can plan this" in refused["refused"]
    made = await ws.command(
        "hexad.plan",
        {
            "signature": {
                "symbol": "inventory.report.low_stock",
                "params": "items, threshold=3, floor=0",
            }
        },
    )
    before = ws.text("inventory/report.py")
    done = await ws.command("hexad.plan.run", {"run": made["run"]})
    assert done["status"] == "failed"
    first = done["plan"]["steps"][0]
    assert first["status"] == "failed" and "not applied: user cancelled" in first["detail"]
    conn = sqlite3.connect(ws.root / ".hexad" / "hexad.db")
    try:
        (stored,) = conn.execute(
            "SELECT plan_json FROM memory_plan_runs WHERE id = ?", (made["run"],)
        ).fetchone()
    finally:
        conn.close()
    # replanning from the index gives the same edit again: refused, not retried blindly
    assert "not replanned" in json.loads(stored)["outcome"]
    assert ws.text("inventory/report.py") == before
    with pytest.raises(JsonRpcException, match="no running plan"):
        await ws.command("hexad.plan.cancel", {"run": made["run"]})


async def test_a_task_written_in_a_comment_is_offered_as_a_plan(ws: Workspace) -> None:
    from lsprotocol import types

    from tests.e2e.test_proposals import _actions

    rel = "inventory/report.py"
    text = ws.text(rel).replace(
        "def low_stock(", "# hexad: add a floor parameter to low_stock\ndef low_stock("
    )
    ws.path(rel).write_text(text)
    ws.open(rel, text)
    line = text.splitlines().index("# hexad: add a floor parameter to low_stock")
    actions = await _actions(ws, rel, line)
    plan = next(a for a in actions if a.kind == "source.hexad.plan")
    assert plan.title == "Hexad: Plan “add a floor parameter to low_stock”"
    assert plan.command is None, "the command comes with resolve"
    assert not any(a.title == "Hexad: Plan a task here…" for a in actions), (
        "a client that cannot ask for a task's text is not offered the open form"
    )
    resolved = await ws.client.code_action_resolve_async(plan)
    assert resolved.command is not None and resolved.command.command == "hexad.plan"
    (argument,) = resolved.command.arguments or []
    assert argument == {
        "task": "add a floor parameter to low_stock",
        "focus": {"path": rel, "line": line},
    }
    answer = await ws.command("hexad.plan", argument)
    assert answer["status"] == "refused" and answer["markdown"].startswith("# No plan")
    assert not isinstance(resolved, types.Command)


@pytest.fixture
def interrupted(tmp_path: Path) -> tuple[Path, str]:
    """A workspace with a plan that was running when its server stopped."""
    from click.testing import CliRunner

    from hexad.cli import cli

    root = tmp_path / "ws"
    shutil.copytree(EXEC_FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    made = CliRunner().invoke(
        cli,
        [
            "plan",
            "--signature",
            "inventory.stock.restock",
            "amount: int, item: Item",
            "-w",
            str(root),
            "--dry-run",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    run_id = json.loads(made.output)["run"]
    conn = sqlite3.connect(root / ".hexad" / "hexad.db")
    with conn:
        conn.execute("UPDATE memory_plan_runs SET status = 'running' WHERE id = ?", (run_id,))
    conn.close()
    return root.resolve(), run_id


@pytest.fixture
def workspace_root(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if "interrupted" in request.fixturenames:
        root: Path = request.getfixturevalue("interrupted")[0]
        return root
    root = tmp_path / "ws"
    shutil.copytree(EXEC_FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    return root.resolve()


async def test_a_plan_interrupted_by_a_restart_is_paused_announced_and_resumed(
    interrupted: tuple[Path, str], ws: Workspace
) -> None:
    _root, run_id = interrupted

    async def announced() -> Any:
        while True:
            for message in ws.client.messages:
                if run_id in message.message:
                    return message
            await ws.client.wait_for_notification("window/showMessage")

    message = await asyncio.wait_for(announced(), 60)
    assert "stopped after 0 of 3 steps" in message.message
    listed = await ws.command("hexad.plans", {})
    entry = next(p for p in listed if p["run"] == run_id)
    assert entry["status"] == "paused" and [s["status"] for s in entry["steps"]] == ["pending"] * 3
    EditorSide(ws)
    done = await ws.command("hexad.plan.run", {"run": run_id})
    assert done["status"] == "done", done["markdown"]
    assert "def restock(amount: int, item: Item)" in ws.text("inventory/stock.py")
    assert "restock(3, Item(" in ws.text("tests/test_stock.py")
    again = await ws.command("hexad.plans", {"limit": 5})
    assert next(p for p in again if p["run"] == run_id)["status"] == "done"
    with pytest.raises(JsonRpcException, match="limit"):
        await ws.command("hexad.plans", {"limit": 0})
