"""A workspace whose database file is garbage: the server moves it aside (nothing is
deleted), builds a fresh index, and tells the user once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.support import FIXTURE, SYMBOLS, Workspace

GARBAGE = b"this is not a database\n" * 100


@pytest.fixture
def workspace_root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    (root / ".hexad").mkdir()
    (root / ".hexad" / "hexad.db").write_bytes(GARBAGE)
    return root.resolve()


async def test_a_corrupt_database_is_moved_aside_and_the_user_told(ws: Workspace) -> None:
    status = await ws.command("hexad.indexStatus")
    assert status["symbols"] == SYMBOLS  # rebuilt from the files

    aside = list((ws.root / ".hexad").glob("hexad.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == GARBAGE
    warnings = [m.message for m in ws.client.messages if "moved" in m.message]  # type: ignore[attr-defined]
    assert len(warnings) == 1 and aside[0].name in warnings[0]
