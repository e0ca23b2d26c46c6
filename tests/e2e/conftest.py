"""Each test drives its own ``hexad serve`` over stdio, on its own copy of the fixture
workspace (the server writes ``.hexad/`` into it, and some tests change files)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.e2e.support import FIXTURE, SERVER, HexadClient, Workspace, uri_of, wait_indexed


@pytest.fixture
def init_options() -> Any:
    """initializationOptions; a test parametrizes this name to send its own."""
    return None


@pytest.fixture
def workspace_root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    return root.resolve()


@pytest_lsp.fixture(config=SERVER)
async def client(
    lsp_client: LanguageClient, workspace_root: Path, init_options: Any
) -> AsyncIterator[None]:
    """A server initialized on the workspace, its first index finished."""
    assert isinstance(lsp_client, HexadClient)
    uri = uri_of(workspace_root)
    lsp_client.initialize_result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name="ws")],
            initialization_options=init_options,
        )
    )
    await wait_indexed(lsp_client, after=0)
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def ws(client: LanguageClient, workspace_root: Path) -> Workspace:
    return Workspace(client, workspace_root)
