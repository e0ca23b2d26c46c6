"""Policy files in the editor: diagnostics as you type, hover on rules, reload on save,
and the last valid policy kept in force when a saved file is broken."""

from __future__ import annotations

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.support import Workspace, position_at, settle

RULE = """version = 1

[[rules]]
id = "shop-reviews"
effect = "escalate"
why = "the shop package is billing code"
when = { paths = ["shop/**"], files_at_least = 2 }
"""
REL = ".hexad/policies/team.toml"
ACTION = {"kind": "edit", "paths": ["shop/pricing.py", "shop/services.py"], "files_touched": 2}


async def diagnostics_for(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    await settle(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS))
    return list(client.diagnostics[uri])


async def explain(client: LanguageClient) -> dict[str, object]:
    result = await settle(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="hexad.explainAction", arguments=[ACTION])
        )
    )
    assert isinstance(result, dict)
    return result


async def test_policy_file_lifecycle(client: LanguageClient, ws: Workspace) -> None:
    before = await explain(client)
    assert before["effect"] == "allow"

    path = ws.path(REL)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RULE, encoding="utf-8")
    uri = ws.uri(REL)

    # typing an unknown key: an error at that key, nothing in force changes
    typo = RULE.replace('effect = "escalate"', 'efect = "escalate"')
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="toml", version=1, text=typo)
        )
    )
    found = {d.message.split(":")[0]: d for d in await diagnostics_for(client, uri)}
    assert set(found) == {"rules[0].efect", "rules[0].effect"}  # unknown, and now missing
    unknown = found["rules[0].efect"]
    assert unknown.severity == types.DiagnosticSeverity.Error
    assert "did you mean 'effect'" in unknown.message
    start = typo.index("efect")
    assert unknown.range.start == position_at(typo, start)
    assert unknown.range.end == position_at(typo, start + len("efect"))

    # fixing it clears the diagnostic
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=RULE)],
        )
    )
    assert await diagnostics_for(client, uri) == []

    # hover on the rule says what it matches
    hover = await settle(
        client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=position_at(RULE, RULE.index("why")),
            )
        )
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.value.startswith("**rule `shop-reviews`** → `escalate`")
    assert "path matches any of `shop/**`" in hover.contents.value
    assert "touches at least 2 files" in hover.contents.value

    # saving puts it in force, without a restart
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert await diagnostics_for(client, uri) == []
    after = await explain(client)
    assert after["effect"] == "escalate"
    assert "workspace:shop-reviews" in {r["rule"] for r in after["reasons"]}  # type: ignore[attr-defined]

    # a broken file saved: the user is told, the last valid version stays in force
    path.write_text(RULE.replace("[[rules]]", "[[rules]"), encoding="utf-8")
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert await diagnostics_for(client, uri) != []
    while not client.messages:  # sent right after the diagnostics
        await settle(client.wait_for_notification(types.WINDOW_SHOW_MESSAGE))
    warning = client.messages[-1]
    assert warning.type == types.MessageType.Warning
    assert "last valid version stays in force" in warning.message
    assert (await explain(client))["effect"] == "escalate"


async def test_explain_action_rejects_a_malformed_action(client: LanguageClient) -> None:
    try:
        await settle(
            client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="hexad.explainAction", arguments=[{"kind": "teleport"}]
                )
            )
        )
    except Exception as exc:  # pygls raises JsonRpcInvalidParams on the client side
        assert "kind" in str(exc)
    else:
        raise AssertionError("a malformed action was accepted")
