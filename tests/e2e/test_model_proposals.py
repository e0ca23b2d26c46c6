"""Model-backed proposals end to end through a real client.

- A scripted model (a real OpenAI-compatible HTTP server on loopback whose answer the test
  writes) implements a stub with a typo: the proposal is built, verified in the shadow
  copy, and verification catches it (names ✗); accepting it is refused and the file stays
  as it was.
- The same model answering correctly gives a proposal that passes every check, including
  the fixture's tests that reach the function; accepting it lands the body in the file.
- The real gemma3-270m GGUF, run by llama.cpp inside ``hexad serve``, implements the same
  stub through the code action: whatever it writes goes through the whole pipeline
  (provenance, verification with its evidence, confidence, the decision stored), and the
  diagnostic says what verification found.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from hexad.inference.embedding import gemma_model_path
from tests.e2e.scripted_model import ScriptedModelServer, scripted_model
from tests.e2e.support import Workspace, settle
from tests.e2e.test_proposals import EditorSide, _wait_diagnostics

EXEC_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "exec_workspace"
CACHE = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
PRICING = "inventory/pricing.py"
STUB_LINE = 19  # `raise NotImplementedError` in clamp
ACTION = "Hexad: Implement clamp from its docstring (model)"
TYPO = (
    "```python\n"
    "def clamp(value: int, low: int, high: int) -> int:\n"
    "    return max(low, min(hihg, value))\n"
    "```\n"
)
RIGHT = (
    "```python\n"
    "def clamp(value: int, low: int, high: int) -> int:\n"
    "    return max(low, min(high, value))\n"
    "```\n"
)
CLAMP_TEST = """from inventory.pricing import clamp


def test_clamp_limits_both_ends():
    assert clamp(5, 0, 3) == 3
    assert clamp(-1, 0, 3) == 0
    assert clamp(2, 0, 3) == 2
"""


@pytest.fixture
def workspace_root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(EXEC_FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    (root / "tests" / "test_pricing.py").write_text(CLAMP_TEST, encoding="utf-8")
    return root.resolve()


@pytest.fixture
def model_answer() -> str:
    return TYPO


@pytest.fixture
def model_server(model_answer: str) -> Any:
    with scripted_model(lambda _body: model_answer) as server:
        yield server


@pytest.fixture
def init_options(request: pytest.FixtureRequest) -> Any:
    if "gemma" in request.node.name:
        path = str(gemma_model_path(CACHE / "models"))
        return {"models": {"local": {"path": path, "n_ctx": 2048, "threads": 2}}}
    server: ScriptedModelServer = request.getfixturevalue("model_server")
    return {"models": {"local": {"url": server.url, "retries": 0, "timeout_s": 30}}}


async def _implement_action(ws: Workspace) -> types.CodeAction:
    found = await settle(
        ws.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=ws.doc(PRICING),
                range=types.Range(types.Position(STUB_LINE, 4), types.Position(STUB_LINE, 4)),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
    )
    actions = [a for a in found or [] if isinstance(a, types.CodeAction)]
    titles = [a.title for a in actions]
    action = next((a for a in actions if a.title == ACTION), None)
    assert action is not None, titles
    assert action.kind == "source.hexad.implement"
    assert action.edit is None and action.command is None, "nothing is computed before resolve"
    return action


async def _resolve(ws: Workspace, action: types.CodeAction, timeout: float = 30.0) -> int:
    resolved = await settle(ws.client.code_action_resolve_async(action), timeout)
    assert resolved.command is not None and resolved.command.command == "hexad.review"
    proposal_id: int = resolved.command.arguments[0]["id"]
    return proposal_id


async def _proposal(ws: Workspace, proposal_id: int) -> dict[str, Any]:
    listed = await ws.command("hexad.proposals")
    return next(p for p in listed if p["id"] == proposal_id)


def _stored(root: Path, proposal_id: int) -> dict[str, Any]:
    conn = sqlite3.connect(root / ".hexad" / "hexad.db")
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(
            "SELECT status, engine, model, prompt_hash FROM memory_decisions WHERE id = ?",
            (proposal_id,),
        ).fetchone()
    finally:
        conn.close()
    return dict(row)


def _checks(proposal: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in proposal["verification"]["checks"]}


async def test_a_broken_model_edit_is_caught_by_verification(
    ws: Workspace, model_server: ScriptedModelServer
) -> None:
    before = ws.text(PRICING)
    editor = EditorSide(ws)
    proposal_id = await _resolve(ws, await _implement_action(ws))

    # the model was asked, with the stub's signature and docstring in the prompt
    assert model_server.requests, "the scripted model was called"
    prompt = "\n".join(m["content"] for m in model_server.requests[0]["messages"])
    assert "def clamp(value: int, low: int, high: int) -> int:" in prompt
    assert "limited to the range" in prompt

    proposal = await _proposal(ws, proposal_id)
    assert proposal["engine"] == "model" and proposal["model"] == "local"
    assert proposal["verification"]["passed"] is False
    checks = _checks(proposal)
    assert checks["syntax"] == "passed" and checks["compile"] == "passed"
    assert checks["names"] == "failed"
    names = next(c for c in proposal["verification"]["checks"] if c["name"] == "names")
    assert any("hihg" in e["message"] for e in names["evidence"]), names
    assert proposal["trust"]["decision"] == "escalate" and proposal["confidence"] < 0.2

    # the diagnostic at the stub says so, as an error, pointing at the evidence
    uri = ws.uri(PRICING)
    (diag,) = await _wait_diagnostics(ws, uri, bool)
    assert diag.severity == types.DiagnosticSeverity.Error
    assert "names ✗" in diag.message
    assert any("hihg" in r.message for r in diag.related_information or [])

    # accepting is refused: a failed proposal never reaches the files
    with pytest.raises(JsonRpcException, match="failed verification"):
        await ws.command("hexad.accept", {"id": proposal_id})
    assert editor.edits == []
    assert ws.text(PRICING) == before
    stored = _stored(ws.root, proposal_id)
    assert stored["status"] == "proposed" and stored["engine"] == "model"
    assert stored["prompt_hash"]

    # rejecting it is remembered; the file is untouched
    rejected = await ws.command("hexad.reject", {"id": proposal_id, "reason": "typo in the body"})
    assert rejected["status"] == "rejected", rejected
    assert _stored(ws.root, proposal_id)["status"] == "rejected"
    assert ws.text(PRICING) == before


@pytest.mark.parametrize("model_answer", [RIGHT])
async def test_a_right_model_edit_passes_the_affected_tests_and_applies(
    ws: Workspace, model_answer: str
) -> None:
    editor = EditorSide(ws)
    proposal_id = await _resolve(ws, await _implement_action(ws), timeout=90.0)
    proposal = await _proposal(ws, proposal_id)
    checks = _checks(proposal)
    assert proposal["verification"]["passed"] is True, proposal["verification"]
    assert checks["tests"] == "passed"
    tests = next(c for c in proposal["verification"]["checks"] if c["name"] == "tests")
    assert tests["details"]["passed"] >= 1, tests  # test_pricing reaches clamp

    answer = await ws.command("hexad.accept", {"id": proposal_id})
    assert answer["applied"] is True and answer["status"] == "applied"
    assert len(editor.edits) == 1
    text = ws.text(PRICING)
    assert "return max(low, min(high, value))" in text
    assert "NotImplementedError" not in text
    assert '"""Return ``value`` limited to the range' in text  # the docstring stays ours
    assert _stored(ws.root, proposal_id)["status"] == "applied"


async def test_a_gemma_body_runs_through_the_whole_pipeline(ws: Workspace) -> None:
    before = ws.text(PRICING)
    action = await _implement_action(ws)
    try:
        proposal_id = await _resolve(ws, action, timeout=240.0)
    except JsonRpcException as exc:
        # gemma3-270m may answer something that is not Python at all: the engine refuses
        # it with what the model said, and nothing is proposed or written
        assert "model's answer" in str(exc) or "not Python" in str(exc), exc
        assert ws.text(PRICING) == before
        return
    proposal = await _proposal(ws, proposal_id)
    assert proposal["engine"] == "model" and proposal["model"] == "local"
    assert proposal["kind"] == "implement"
    checks = _checks(proposal)
    assert {"syntax", "symbols", "compile", "names", "tests"} <= set(checks)
    # whatever it wrote, the evidence is there and the decision follows from it
    evidence = " ".join(p["text"] for p in proposal["trust"]["evidence"])
    assert "model" in evidence.lower(), evidence
    assert 0.0 < proposal["confidence"] < 1.0
    assert proposal["trust"]["decision"] in ("proceed", "review", "escalate")
    if not proposal["verification"]["passed"]:
        assert proposal["trust"]["decision"] != "proceed"
    uri = ws.uri(PRICING)
    (diag,) = await _wait_diagnostics(ws, uri, bool)
    assert f"#{proposal_id}" in diag.message
    assert f"{proposal['confidence']:.2f} → {proposal['trust']['decision']}" in diag.message
    stored = _stored(ws.root, proposal_id)
    assert stored["status"] == "proposed" and stored["model"] == "local"
    assert ws.text(PRICING) == before, "nothing is written before it is accepted"
