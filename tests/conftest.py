"""Shared fixtures: small real workspaces written to temporary folders."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from hexad.core.db import Connection, connect
from hexad.perception.indexer import Indexer

WriteWorkspace = Callable[[dict[str, str | bytes]], Path]

# Property tests draw the same examples on every run, so the suite passes or fails on the
# code and not on the draw; HEXAD_HYPOTHESIS=explore draws anew on each run.
settings.register_profile("suite", derandomize=True, database=None)
settings.register_profile("explore", database=None)
settings.load_profile(os.environ.get("HEXAD_HYPOTHESIS", "suite"))


@pytest.fixture(autouse=True, scope="session")
def _shadow_copies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Shadow workspaces (verification's copies) go to a temporary folder, not the
    user's cache; servers started by e2e tests inherit the variable."""
    old = os.environ.get("HEXAD_SHADOW_DIR")
    os.environ["HEXAD_SHADOW_DIR"] = str(tmp_path_factory.mktemp("shadow"))
    yield
    if old is None:
        os.environ.pop("HEXAD_SHADOW_DIR", None)
    else:
        os.environ["HEXAD_SHADOW_DIR"] = old


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def workspace(tmp_path: Path) -> WriteWorkspace:
    root = tmp_path / "ws"
    root.mkdir()

    def make(files: dict[str, str | bytes]) -> Path:
        return write_files(root, files)

    return make


@pytest.fixture
def indexed(tmp_path: Path) -> Iterator[Callable[[Path], Connection]]:
    """Index a workspace in-process (one worker) and hand back its database connection."""
    conns: list[Connection] = []

    def run(root: Path) -> Connection:
        conn = connect(root / ".hexad" / "hexad.db")
        Indexer(root, conn=conn, workers=1).run()
        conns.append(conn)
        return conn

    yield run
    for conn in conns:
        conn.close()
