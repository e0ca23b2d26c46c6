"""workspace/executeCommand: hexad.indexStatus, hexad.reindex, hexad.repoMap.

The watcher is off here, so the only refreshes are the first one and those the commands
start: what hexad.reindex reports is exactly what changed on disk.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.support import (
    FILES,
    REFERENCES,
    SYMBOLS,
    Workspace,
    indexed_mark,
    wait_indexed,
)


@pytest.fixture
def init_options() -> Any:
    return {"index": {"watch": False}}


async def test_index_status(ws: Workspace, workspace_root: Path) -> None:
    ws.open("shop/pricing.py")
    status = await ws.command("hexad.indexStatus")

    assert isinstance(status["generation"], int)
    assert isinstance(status["lastRunSeconds"], float)
    assert {k: v for k, v in status.items() if k not in ("generation", "lastRunSeconds")} == {
        "state": "ready",
        "root": str(workspace_root),
        "openDocuments": ["shop/pricing.py"],
        "files": FILES,
        "symbols": SYMBOLS,
        "references": REFERENCES,
        "skipped": 0,
    }


async def test_reindex_picks_up_a_file_changed_on_disk(ws: Workspace) -> None:
    assert await ws.search("loyalty_bonus") == []
    path = ws.path("shop/pricing.py")
    path.write_text(
        ws.text("shop/pricing.py")
        + "\n\ndef loyalty_bonus(order: Order) -> float:\n    return 0.05 * order.count()\n",
        encoding="utf-8",
    )
    mark = indexed_mark(ws.client)

    summary = await ws.command("hexad.reindex")

    assert isinstance(summary["seconds"], float)
    picked = ("root", "files", "parsed", "unchanged", "removed", "skipped", "symbols", "languages")
    assert {k: summary[k] for k in picked} == {
        "root": str(ws.root),
        "files": FILES,
        "parsed": 1,
        "unchanged": FILES - 1,
        "removed": 0,
        "skipped": [],
        "symbols": SYMBOLS + 1,
        "languages": {"python": 7, "typescript": 1},
    }
    # the run also announced itself, like any refresh
    indexed = await wait_indexed(ws.client, mark)
    assert (indexed.files, indexed.symbols) == (FILES, SYMBOLS + 1)
    found = await ws.search("loyalty_bonus")
    assert [(s.name, s.location) for s in found] == [
        ("loyalty_bonus", ws.location("shop/pricing.py", "def loyalty_bonus", "loyalty_bonus"))
    ]
    assert (await ws.command("hexad.indexStatus"))["symbols"] == SYMBOLS + 1


def map_files(text: str) -> list[str]:
    return re.findall(r"^(\S+):$", text, flags=re.MULTILINE)


async def test_repo_map_respects_the_budget(ws: Workspace) -> None:
    small = await ws.command("hexad.repoMap", {"tokens": 64})
    large = await ws.command("hexad.repoMap", {"tokens": 4096})
    default = await ws.command("hexad.repoMap")

    assert 0 < small["tokens"] <= 64
    assert small["files"] == len(map_files(small["map"])) >= 1
    assert 64 < large["tokens"] <= 4096
    # everything fits in a large budget: every file with a definition, the TypeScript too
    assert map_files(large["map"]) == [
        "shop/__init__.py",
        "shop/cli.py",
        "shop/models.py",
        "shop/pricing.py",
        "shop/report.py",
        "shop/services.py",
        "shop/storage.py",
        "web/client.ts",
    ]
    for line in small["map"].splitlines():
        assert line in large["map"].splitlines()
    assert default["tokens"] <= 1024
    assert default["map"] == large["map"]  # the whole workspace is under 1024 tokens


async def test_repo_map_focus(ws: Workspace) -> None:
    plain = await ws.command("hexad.repoMap", {"tokens": 64})
    assert "web/client.ts:" not in plain["map"]
    assert "parseTotal" not in plain["map"]

    on_file = await ws.command("hexad.repoMap", {"tokens": 64, "focus": ["web/client.ts"]})
    on_name = await ws.command("hexad.repoMap", {"tokens": 64, "focus": ["parseTotal"]})

    assert on_file["tokens"] <= 64
    assert "web/client.ts" in map_files(on_file["map"])
    assert on_name["tokens"] <= 64
    assert "function parseTotal(body: { total: number }): number" in on_name["map"]


async def test_invalid_arguments_are_a_clean_error(ws: Workspace) -> None:
    cases: list[tuple[str, list[Any], str]] = [
        ("hexad.repoMap", [{"tokens": "many"}], "tokens must be an integer >= 16"),
        ("hexad.repoMap", [{"tokens": 5}], "tokens must be an integer >= 16"),
        ("hexad.repoMap", [{"focus": "shop"}], "focus must be a list of paths or names"),
        ("hexad.nope", [], "Command name 'hexad.nope' is not defined"),
    ]
    for command, arguments, message in cases:
        with pytest.raises(JsonRpcException) as caught:
            await ws.command(command, *arguments)

        error = caught.value
        assert error.code == types.ErrorCodes.InvalidParams, command
        assert message in error.message
        assert not error.data  # no traceback for the user to read
        # and the server carries on
        assert (await ws.command("hexad.indexStatus"))["state"] == "ready"
