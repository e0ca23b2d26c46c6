"""hexad.generate over LSP: with no model configured it degrades with a reason; with the
real gemma GGUF configured it answers under governance (the ledger names the prompt);
and cancelling the request stops the model."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from hexad.core.db import connect, database_path
from hexad.inference.embedding import gemma_model_path
from tests.e2e.support import PROGRESS, TIMEOUT, Workspace, wait_note

CACHE = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
VALUES = {
    "notes": "-",
    "context": "def subtotal(order): ...",
    "language": "python",
    "signature": "def loyalty_bonus(points: int) -> float:",
}


def _gemma() -> str:
    return str(gemma_model_path(CACHE / "models"))


@pytest.mark.parametrize("init_options", [None])
async def test_no_model_configured_degrades_with_a_reason(ws: Workspace, init_options: Any) -> None:
    answer = await ws.command(
        "hexad.generate", {"task": "implement", "prompt": "implement", "values": VALUES}
    )
    assert answer["ok"] is False and answer["model"] is None
    assert "model 'local', which is not configured" in answer["unavailable"]
    # everything else still works
    assert [s.name for s in await ws.search("subtotal")] == ["subtotal"]


@pytest.fixture
def init_options() -> Any:
    return {"models": {"local": {"path": _gemma(), "n_ctx": 1024, "threads": 1}}}


async def test_a_configured_gguf_answers_under_governance(
    ws: Workspace, workspace_root: Path
) -> None:
    answer = await ws.command(
        "hexad.generate",
        {
            "task": "implement",
            "prompt": "implement",
            "values": VALUES,
            "maxTokens": 24,
            "taskId": "e2e",
        },
    )
    assert answer["ok"] is True and answer["model"] == "local"
    assert answer["finishReason"] in ("stop", "length") and answer["completionTokens"] >= 1
    assert answer["logprobs"]["tokens"] == answer["completionTokens"]
    assert answer["prompt"].startswith("implement@1#")
    conn = connect(database_path(workspace_root))
    try:
        (action,) = conn.execute(
            "SELECT action FROM governance_decisions WHERE id = ?", (answer["decision"],)
        ).fetchone()
    finally:
        conn.close()
    assert json.loads(action)["prompt"] == answer["prompt"]


async def test_cancelling_the_request_stops_the_model(ws: Workspace, workspace_root: Path) -> None:
    params = types.ExecuteCommandParams(
        command="hexad.generate",
        arguments=[
            {
                "task": "implement",
                "prompt": "implement",
                "values": VALUES,
                "maxTokens": 600,
                "taskId": "cancelled",
            }
        ],
    )
    future = ws.client.protocol.send_request(
        types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="long-generation"
    )
    # the model streams progress while it generates; cancel once it has started
    started = await wait_note(ws.client, PROGRESS, lambda p: p.request == "long-generation")
    assert started.task == "implement" and started.tokens >= 1
    ws.client.protocol.notify("$/cancelRequest", types.CancelParams(id="long-generation"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(asyncio.wrap_future(future), TIMEOUT)
    # the next call is served once the cancelled one has stopped (one at a time)
    answer = await ws.command(
        "hexad.generate",
        {"task": "implement", "prompt": "implement", "values": VALUES, "maxTokens": 4},
    )
    assert answer["ok"] is True and answer["completionTokens"] <= 4
    # the cancelled call reserved prompt + 600 tokens and reported far fewer
    conn = connect(database_path(workspace_root))
    try:
        rows = conn.execute(
            "SELECT source, amount FROM governance_spend WHERE task_id = 'cancelled'"
            " AND metric = 'tokens'"
        ).fetchall()
    finally:
        conn.close()
    reserved = sum(a for src, a in rows if src == "reserve")
    spent = sum(a for _src, a in rows)
    assert reserved > 600 and spent < reserved - 300
