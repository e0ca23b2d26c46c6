"""Proposals end to end through a real client: code actions, lazy resolution into a
verified proposal shown as a diagnostic, accept through workspace/applyEdit (the edit
lands in the file and the decision is stored), reject (nothing changes), staleness."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.support import Workspace, settle, stored_decision

EXEC_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "exec_workspace"
GROSS = (
    "from decimal import Decimal\n\n\n"
    "def gross(amount: Decimal) -> Decimal:\n    return with_tax(amount)\n"
)


@pytest.fixture
def workspace_root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(EXEC_FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    (root / "inventory" / "gross.py").write_text(GROSS, encoding="utf-8")
    return root.resolve()


class EditorSide:
    """What the editor does with workspace/applyEdit and showMessageRequest: applies text
    edits to the files (as an editor saving them would) and answers as told."""

    def __init__(self, ws: Workspace, apply: bool = True, answer: str | None = None) -> None:
        self.ws = ws
        self.apply = apply
        self.answer = answer
        self.edits: list[types.ApplyWorkspaceEditParams] = []
        self.asked: list[types.ShowMessageRequestParams] = []

        def on_apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            return self.on_apply(params)

        def on_ask(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
            return self.on_ask(params)

        # pygls registers plain functions, not bound methods
        ws.client.feature(types.WORKSPACE_APPLY_EDIT)(on_apply)
        ws.client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)(on_ask)

    def on_ask(self, params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        self.asked.append(params)
        return types.MessageActionItem(title=self.answer) if self.answer else None

    def on_apply(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        self.edits.append(params)
        if not self.apply:
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="user cancelled")
        for change in params.edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit), change
            path = Path(self.ws.root) / Path(change.text_document.uri.split("/ws/", 1)[1])
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            path.write_text(_apply(text, list(change.edits)), encoding="utf-8")
        return types.ApplyWorkspaceEditResult(applied=True)


def _apply(text: str, edits: list[Any]) -> str:
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos: types.Position) -> int:  # ASCII fixture: UTF-16 units == characters
        return (starts[pos.line] if pos.line < len(lines) else starts[-1]) + pos.character

    for edit in sorted(
        edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True
    ):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


async def _actions(ws: Workspace, rel: str, line: int, **context: Any) -> list[types.CodeAction]:
    found = await settle(
        ws.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=ws.doc(rel),
                range=types.Range(types.Position(line, 4), types.Position(line, 4)),
                context=types.CodeActionContext(diagnostics=[], **context),
            )
        )
    )
    return [a for a in found or [] if isinstance(a, types.CodeAction)]


async def test_add_import_quickfix_resolves_to_a_verified_proposal_and_applies(
    ws: Workspace,
) -> None:
    editor = EditorSide(ws)
    actions = await _actions(ws, "inventory/gross.py", 4)
    fix = next(a for a in actions if a.title == "Hexad: from inventory.pricing import with_tax")
    assert fix.kind == types.CodeActionKind.QuickFix
    assert fix.edit is None and fix.command is None, "nothing is computed before resolve"

    resolved = await settle(ws.client.code_action_resolve_async(fix))
    assert resolved.command is not None and resolved.command.command == "hexad.review"
    proposal_id = resolved.command.arguments[0]["id"]
    assert "syntax ✓" in resolved.title and "names ✓" in resolved.title

    # the proposal shows as a diagnostic at its target, with its verification
    uri = ws.uri("inventory/gross.py")
    diags = await _wait_diagnostics(ws, uri, bool)
    (diag,) = diags
    assert diag.source == "hexad" and diag.code == "proposal"
    confidence = diag.data["confidence"]
    assert f"#{proposal_id}" in diag.message and f"{confidence:.2f} → review" in diag.message
    assert "syntax ✓ symbols ✓ compile ✓ names ✓" in diag.message  # among the strongest three
    assert diag.severity == types.DiagnosticSeverity.Warning  # review
    assert diag.data["proposal"] == proposal_id
    assert diag.related_information

    # hover on the target line gives the whole breakdown; a code lens offers Accept
    hover = await settle(
        ws.client.text_document_hover_async(
            types.HoverParams(text_document=ws.doc("inventory/gross.py"), position=diag.range.start)
        )
    )
    assert hover is not None and f"Confidence **{confidence:.2f}** → **review**" in (
        hover.contents.value
    )
    assert "| evidence | push on the log-odds |" in hover.contents.value
    lenses = await settle(
        ws.client.text_document_code_lens_async(
            types.CodeLensParams(text_document=ws.doc("inventory/gross.py"))
        )
    )
    assert lenses and lenses[0].command is not None
    assert lenses[0].command.command == "hexad.accept"
    assert lenses[0].command.title.startswith(f"Hexad #{proposal_id}: {confidence:.2f} review")

    # the diagnostic carries Accept / Show diff / Reject actions
    on_diag = await settle(
        ws.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=ws.doc("inventory/gross.py"),
                range=diag.range,
                context=types.CodeActionContext(diagnostics=[diag]),
            )
        )
    )
    listed = [a for a in on_diag or [] if isinstance(a, types.CodeAction)]
    assert all(a.command is None for a in listed), "commands come with resolve"
    commands = set()
    for listed_action in listed:
        done = await settle(ws.client.code_action_resolve_async(listed_action))
        assert done.command is not None
        commands.add(done.command.command)
    assert {"hexad.accept", "hexad.showDiff", "hexad.reject"} <= commands

    shown = await ws.command("hexad.showDiff", {"id": proposal_id})
    assert "+from inventory.pricing import with_tax" in shown["diff"]
    assert (ws.root / ".hexad" / "proposals" / f"{proposal_id}.diff").exists()

    answer = await ws.command("hexad.accept", {"id": proposal_id})
    assert answer["applied"] is True and answer["status"] == "applied"
    (params,) = editor.edits
    # governance wants a person's review of a 0.5-confidence edit: the client is asked to confirm
    annotations = params.edit.change_annotations or {}
    assert answer["confirmationRequested"] is True
    assert any(a.needs_confirmation for a in annotations.values())
    text = ws.text("inventory/gross.py")
    assert "from inventory.pricing import with_tax\n" in text
    compile(text, "gross.py", "exec")
    status, history = stored_decision(ws.root, proposal_id)
    assert status == "applied" and history == ["proposed", "accepted", "applied"]
    assert await _wait_diagnostics(ws, uri, lambda d: not d) == []


async def test_a_declined_edit_is_recorded_and_changes_nothing(ws: Workspace) -> None:
    EditorSide(ws, apply=False)
    before = ws.text("inventory/gross.py")
    proposal = await ws.command(
        "hexad.propose",
        {"kind": "add_import", "path": "inventory/gross.py", "name": "with_tax"},
    )
    answer = await ws.command("hexad.accept", {"id": proposal["id"]})
    assert answer["applied"] is False and answer["failureReason"] == "user cancelled"
    assert ws.text("inventory/gross.py") == before
    status, _ = stored_decision(ws.root, proposal["id"])
    assert status == "rejected"


async def test_reject_changes_nothing_and_teaches_a_note(ws: Workspace) -> None:
    before = {p: ws.text(p) for p in ("inventory/stock.py", "inventory/report.py")}
    proposal = await ws.command(
        "hexad.propose",
        {"kind": "rename", "symbol": "inventory.stock.total_value", "newName": "stock_value"},
    )
    assert proposal["verification"]["passed"] is True, proposal["verification"]
    assert {f["path"] for f in proposal["files"]} >= {"inventory/stock.py", "inventory/report.py"}
    tests = next(c for c in proposal["verification"]["checks"] if c["name"] == "tests")
    assert tests["status"] == "passed" and tests["details"]["passed"] >= 1

    rejected = await ws.command(
        "hexad.reject", {"id": proposal["id"], "reason": "total_value is part of our API"}
    )
    assert rejected["status"] == "rejected"
    assert {p: ws.text(p) for p in before} == before
    status, _ = stored_decision(ws.root, proposal["id"])
    assert status == "rejected"
    notes = await ws.command(
        "hexad.memory.search", {"query": "total_value part of our API", "types": "note"}
    )
    assert any("part of our API" in n["item"]["title"] + n["item"].get("body", "") for n in notes)
    with pytest.raises(JsonRpcException, match="rejected"):
        await ws.command("hexad.accept", {"id": proposal["id"]})


async def test_a_proposal_goes_stale_when_its_document_changes(ws: Workspace) -> None:
    EditorSide(ws)
    buffer = ws.open("inventory/gross.py")
    proposal = await ws.command(
        "hexad.propose",
        {"kind": "add_import", "path": "inventory/gross.py", "name": "with_tax", "tests": False},
    )
    buffer.edit(len(buffer.text), len(buffer.text), "\n# edited\n")
    uri = ws.uri("inventory/gross.py")
    (diag,) = await _wait_diagnostics(ws, uri, lambda d: bool(d) and "stale" in d[0].message)
    assert "inventory/gross.py changed" in diag.message
    assert diag.severity == types.DiagnosticSeverity.Hint
    with pytest.raises(JsonRpcException, match="stale"):
        await ws.command("hexad.accept", {"id": proposal["id"]})
    status, history = stored_decision(ws.root, proposal["id"])
    assert status == "stale" and history[-1] == "stale"


async def test_bad_requests_get_clear_errors(ws: Workspace) -> None:
    with pytest.raises(JsonRpcException, match="kind"):
        await ws.command("hexad.propose", {"kind": "delete_everything"})
    with pytest.raises(JsonRpcException, match="needs new_name"):
        await ws.command("hexad.propose", {"kind": "rename", "symbol": "inventory.stock.restock"})
    with pytest.raises(JsonRpcException, match="no proposal #999"):
        await ws.command("hexad.accept", {"id": 999})
    with pytest.raises(JsonRpcException, match="inside the workspace"):
        await ws.command(
            "hexad.propose", {"kind": "add_import", "path": "../outside.py", "name": "json"}
        )


async def _wait_diagnostics(ws: Workspace, uri: str, predicate: Any) -> list[types.Diagnostic]:
    import asyncio

    async def scan() -> list[types.Diagnostic]:
        while True:
            diags = list(ws.client.diagnostics.get(uri, []))
            if uri in ws.client.diagnostics and predicate(diags):
                return diags
            await ws.client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

    return await asyncio.wait_for(scan(), 30)


class Wire:
    """The order in which the client reads answers and diagnostics off the wire."""

    def __init__(self, ws: Workspace, uri: str) -> None:
        self.events: list[str] = []
        protocol = ws.client.protocol
        handle = protocol.handle_message

        def record(message: Any) -> None:
            method = getattr(message, "method", None)
            if method == types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS and message.params.uri == uri:
                self.events.append(f"diagnostics:{len(message.params.diagnostics)}")
            elif method is None and getattr(message, "id", None) is not None:
                self.events.append("answer")
            handle(message)

        protocol.handle_message = record  # type: ignore[method-assign]

    def since(self, mark: int) -> list[str]:
        return self.events[mark:]


async def test_what_a_request_changes_is_published_after_its_answer(ws: Workspace) -> None:
    """VS Code re-queries code actions when diagnostics change and drops a resolved
    action whose set changed while resolve was in flight: a proposal's diagnostic must
    follow the answer that produced it, for resolve, accept and reject alike."""
    EditorSide(ws)
    uri = ws.uri("inventory/gross.py")
    wire = Wire(ws, uri)
    actions = await _actions(ws, "inventory/gross.py", 4)
    fix = next(a for a in actions if a.title == "Hexad: from inventory.pricing import with_tax")

    mark = len(wire.events)
    resolved = await settle(ws.client.code_action_resolve_async(fix))
    await _wait_diagnostics(ws, uri, bool)
    assert wire.since(mark)[:2] == ["answer", "diagnostics:1"], wire.events

    assert resolved.command is not None
    mark = len(wire.events)
    answer = await ws.command("hexad.accept", resolved.command.arguments[0])
    assert answer["applied"] is True
    await _wait_diagnostics(ws, uri, lambda d: not d)
    # the server's own workspace/applyEdit request is not an answer; its reply is not read
    assert wire.since(mark)[:2] == ["answer", "diagnostics:0"], wire.events

    proposal = await ws.command(
        "hexad.propose",
        {
            "kind": "rename",
            "symbol": "inventory.gross.gross",
            "newName": "gross_total",
            "tests": False,
        },
    )
    await _wait_diagnostics(ws, uri, bool)
    mark = len(wire.events)
    await ws.command("hexad.reject", {"id": proposal["id"]})
    await _wait_diagnostics(ws, uri, lambda d: not d)
    assert wire.since(mark)[:2] == ["answer", "diagnostics:0"], wire.events
