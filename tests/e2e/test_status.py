"""workspace/executeCommand hexad.status: the index, today's spending against the budgets
in force, and the live proposals — what the VS Code status bar shows."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from hexad.lsp.status import local_midnight
from tests.e2e.support import Workspace

EXEC_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "exec_workspace"
RENAME = {"kind": "rename", "symbol": "inventory.stock.total_value", "newName": "stock_value"}


@pytest.fixture
def workspace_root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(EXEC_FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    return root.resolve()


@pytest.fixture
def init_options() -> Any:
    return {"index": {"watch": False}}


def budget(answer: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in answer["budgets"] if b["name"] == name)


async def test_status_of_a_fresh_workspace(ws: Workspace, workspace_root: Path) -> None:
    answer = await ws.command("hexad.status")

    index = answer["index"]
    assert index["state"] == "ready"
    assert index["root"] == str(workspace_root)
    assert index["files"] == 6 and index["symbols"] > 0
    assert index == {**await ws.command("hexad.indexStatus"), "generation": index["generation"]}
    assert answer["today"]["tokens"] == answer["today"]["proposals"] == 0
    assert answer["today"]["since"] == local_midnight(time.time())
    # the built-in policy's budgets (budgets are soft and below the hard limits)
    assert budget(answer, "tokens_per_day") == {
        "name": "tokens_per_day",
        "metric": "tokens",
        "windowSeconds": 86_400.0,
        "spent": 0.0,
        "limit": 2_000_000,
    }
    assert budget(answer, "proposals_per_hour")["limit"] == 120
    assert answer["proposals"] == {"live": 0, "byStatus": {}, "byDecision": {}}


async def test_status_counts_a_proposal_and_its_charge(ws: Workspace) -> None:
    proposal = await ws.command("hexad.propose", RENAME)
    answer = await ws.command("hexad.status")

    assert answer["today"]["proposals"] == 1
    assert budget(answer, "proposals_per_hour")["spent"] == 1
    decision = proposal["trust"]["decision"]
    assert answer["proposals"] == {
        "live": 1,
        "byStatus": {"proposed": 1},
        "byDecision": {decision: 1},
    }

    await ws.command("hexad.reject", {"id": proposal["id"]})
    after = await ws.command("hexad.status")
    assert after["proposals"]["live"] == 0
    assert after["today"]["proposals"] == 1  # a rejection refunds nothing


def test_local_midnight_is_the_start_of_the_day() -> None:
    now = time.time()
    midnight = local_midnight(now)
    assert 0 <= now - midnight < 86_400 + 3_600  # a DST day may be 25 hours long
    assert time.localtime(midnight)[3:6] == (0, 0, 0)
    assert local_midnight(midnight) == midnight
