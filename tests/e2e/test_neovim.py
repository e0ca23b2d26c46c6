"""A second real client: Neovim's built-in LSP client, headless, drives ``hexad serve``.

The Lua script (``nvim/apply_proposal.lua``) opens a file of a copy of the exec fixture,
lists code actions through ``vim.lsp.buf.code_action()``, picks Hexad's add-import quick
fix, and lets Neovim resolve it and run its command; Hexad asks (review, then confirm,
since Neovim 0.7 cannot annotate edits), the script answers as a user would, Neovim's own
``workspace/applyEdit`` handler edits the buffer, and the buffer is written. This test then
checks the file on disk and the decision stored in the workspace's ``.hexad`` database.

Neovim comes from ``scripts/ensure-neovim.sh`` (Debian's package through apt-get when it
is missing); the test is skipped, with the script's reason, only where that cannot work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import stored_decision

REPO = Path(__file__).resolve().parents[2]
ENSURE = REPO / "scripts" / "ensure-neovim.sh"
SCRIPT = Path(__file__).resolve().parent / "nvim" / "apply_proposal.lua"
EXEC_FIXTURE = REPO / "tests" / "fixtures" / "exec_workspace"
GROSS = (
    "from decimal import Decimal\n\n\n"
    "def gross(amount: Decimal) -> Decimal:\n    return with_tax(amount)\n"
)
ACTION = "Hexad: from inventory.pricing import with_tax"
INSTALL_TIMEOUT = 900  # seconds: apt-get on a clean machine
RUN_TIMEOUT = 300  # seconds: the whole Neovim run
WAIT_TIMEOUT = 90  # seconds: each step (indexing; verification runs the fixture's tests)


@pytest.fixture(scope="module")
def nvim() -> str:
    """The path of a Neovim >= 0.7, installed through the project's script if missing."""
    try:
        done = subprocess.run(
            ["bash", str(ENSURE)],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot run {ENSURE.name}: {exc}")
    if done.returncode == 3:  # the script's "cannot install here"
        pytest.skip(f"no Neovim: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, f"{ENSURE.name} failed:\n{done.stderr[-4000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def workspace_root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(EXEC_FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    (root / "inventory" / "gross.py").write_text(GROSS, encoding="utf-8")
    return root.resolve()


def run_neovim(nvim: str, root: Path, tmp_path: Path, **settings: str) -> dict[str, Any]:
    out = tmp_path / "nvim-result.json"
    env = {
        **os.environ,
        "HEXAD_NVIM_ROOT": str(root),
        "HEXAD_NVIM_PYTHON": sys.executable,
        "HEXAD_NVIM_OUT": str(out),
        "HEXAD_NVIM_TIMEOUT_MS": str(WAIT_TIMEOUT * 1000),
        # Neovim keeps its LSP log, shada and swap files here, not in the user's home
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        **settings,
    }
    done = subprocess.run(
        [nvim, "--headless", "--clean", "-n", "-c", f"luafile {SCRIPT}"],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert out.exists(), f"Neovim wrote no result (exit {done.returncode}):\n{done.stderr}"
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert result["ok"] and done.returncode == 0, (
        f"Neovim run failed (exit {done.returncode}) after {result['steps']}: "
        f"{result['errors']}\nactions: {result['actions']}\nstderr: {done.stderr[-4000:]}"
    )
    return result


def test_neovim_applies_an_add_import_proposal(
    nvim: str, workspace_root: Path, tmp_path: Path
) -> None:
    before = {
        p.relative_to(workspace_root).as_posix(): p.read_bytes()
        for p in workspace_root.rglob("*")
        if p.is_file()
    }
    result = run_neovim(
        nvim,
        workspace_root,
        tmp_path,
        HEXAD_NVIM_FILE="inventory/gross.py",
        HEXAD_NVIM_LINE="5",  # `    return with_tax(amount)`
        HEXAD_NVIM_COL="11",
        HEXAD_NVIM_ACTION=ACTION,
    )

    assert result["steps"] == [
        "initialized",
        "indexed",
        "opened",
        "chosen",
        "applied",
        "written",
        "stopped",
    ]
    assert ACTION in result["actions"]
    # the server stopped on the shutdown / exit Neovim sent, not on a crash
    assert result["server_exit"] == {"code": 0, "signal": 0}

    # Hexad asked for a review, then (no change annotations in Neovim 0.7) to confirm
    (review, confirm) = result["asked"]
    assert [a["title"] for a in review["actions"]] == ["Accept", "Show diff", "Reject"]
    assert [a["title"] for a in confirm["actions"]] == ["Apply", "Cancel"]
    assert "needs your review" in confirm["message"]

    # one workspace/applyEdit, as plain text edits for the one file, applied by Neovim
    (edit,) = result["edits"]
    assert edit["label"] == "Hexad: Import with_tax from inventory.pricing in inventory/gross.py"
    assert list(edit["edit"]["changes"]) == [(workspace_root / "inventory/gross.py").as_uri()]
    assert result["apply_result"]["applied"] is True

    answer = result["command"]["result"]
    assert answer["applied"] is True and answer["status"] == "applied"
    assert answer["confirmationRequested"] is True

    # the buffer Neovim wrote is what is on disk: the import added, the rest unchanged
    text = (workspace_root / "inventory" / "gross.py").read_text(encoding="utf-8")
    assert text == result["buffer"]
    assert text == (
        "from decimal import Decimal\n\nfrom inventory.pricing import with_tax\n\n\n"
        "def gross(amount: Decimal) -> Decimal:\n    return with_tax(amount)\n"
    )
    compile(text, "gross.py", "exec")
    # nothing else in the workspace changed (Hexad's own .hexad/ aside)
    after = {
        p.relative_to(workspace_root).as_posix(): p.read_bytes()
        for p in workspace_root.rglob("*")
        if p.is_file() and not p.relative_to(workspace_root).as_posix().startswith(".hexad/")
    }
    assert set(after) == set(before)
    assert {p: b for p, b in after.items() if p != "inventory/gross.py"} == {
        p: b for p, b in before.items() if p != "inventory/gross.py"
    }

    # the decision, stored in the workspace's database
    status, history = stored_decision(workspace_root, answer["id"])
    assert status == "applied"
    assert history == ["proposed", "accepted", "applied"]
