"""Plans end to end: hexad.plan makes and validates a plan, hexad.plan.run carries it
out step by step — each edit through workspace/applyEdit — with hexad/planProgress
notifications, and the files end up as planned."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.support import Workspace
from tests.e2e.test_proposals import EXEC_FIXTURE, EditorSide


@pytest.fixture
def workspace_root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(EXEC_FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    return root.resolve()


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

    done = await ws.command("hexad.plan.run", {"run": made["run"]})
    assert done["status"] == "done", done["markdown"]
    assert [s["status"] for s in done["plan"]["steps"]] == ["done"] * 4
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
    with pytest.raises(JsonRpcException, match="give signature"):
        await ws.command("hexad.plan", {"task": "make it better"})
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
    assert ws.text("inventory/report.py") == before
    with pytest.raises(JsonRpcException, match="no running plan"):
        await ws.command("hexad.plan.cancel", {"run": made["run"]})
