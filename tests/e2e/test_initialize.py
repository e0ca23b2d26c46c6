"""initialize: what the server says it can do, how it takes bad settings, how it reports
its first index, and that its stdout carries nothing but JSON-RPC."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from lsprotocol import types
from lsprotocol.converters import get_converter
from pytest_lsp import LanguageClient, client_capabilities

import hexad
from hexad.lsp.features import COMMANDS, FEATURES
from tests.e2e.support import (
    FILES,
    SERVER,
    SYMBOLS,
    TIMEOUT,
    HexadClient,
    Workspace,
    notes,
    uri_of,
)

# the capability each request in the feature table is advertised by
CAPABILITY = {
    types.TEXT_DOCUMENT_DOCUMENT_SYMBOL: "document_symbol_provider",
    types.WORKSPACE_SYMBOL: "workspace_symbol_provider",
    types.TEXT_DOCUMENT_DEFINITION: "definition_provider",
    types.TEXT_DOCUMENT_REFERENCES: "references_provider",
    types.TEXT_DOCUMENT_HOVER: "hover_provider",
    types.TEXT_DOCUMENT_PREPARE_CALL_HIERARCHY: "call_hierarchy_provider",
    types.CALL_HIERARCHY_INCOMING_CALLS: "call_hierarchy_provider",
    types.CALL_HIERARCHY_OUTGOING_CALLS: "call_hierarchy_provider",
    types.TEXT_DOCUMENT_DID_OPEN: "text_document_sync",
    types.TEXT_DOCUMENT_DID_CHANGE: "text_document_sync",
    types.TEXT_DOCUMENT_DID_CLOSE: "text_document_sync",
    types.TEXT_DOCUMENT_DID_SAVE: "text_document_sync",
    types.TEXT_DOCUMENT_CODE_ACTION: "code_action_provider",
    types.CODE_ACTION_RESOLVE: "code_action_provider",
    types.TEXT_DOCUMENT_CODE_LENS: "code_lens_provider",
}
LIFECYCLE = {
    types.INITIALIZE,
    types.INITIALIZED,
    types.SHUTDOWN,
    types.WORKSPACE_DID_CHANGE_CONFIGURATION,
}
# what pygls always advertises, whatever the features
ALWAYS = {"position_encoding", "workspace"}


def result(client: LanguageClient) -> types.InitializeResult:
    assert isinstance(client, HexadClient)
    assert client.initialize_result is not None
    return client.initialize_result


async def test_server_info_and_capabilities_follow_the_feature_table(ws: Workspace) -> None:
    answer = result(ws.client)
    capabilities = answer.capabilities

    assert answer.server_info == types.ServerInfo(name="hexad", version=hexad.__version__)
    table = {f.method for f in FEATURES}
    assert table - LIFECYCLE == set(CAPABILITY)  # a new feature needs a line above
    advertised = {
        field.name
        for field in attrs.fields(types.ServerCapabilities)
        if getattr(capabilities, field.name) not in (None, False)
    }
    assert advertised == set(CAPABILITY.values()) | {"execute_command_provider"} | ALWAYS
    assert capabilities.position_encoding == types.PositionEncodingKind.Utf16
    assert capabilities.text_document_sync == types.TextDocumentSyncOptions(
        open_close=True,
        change=types.TextDocumentSyncKind.Incremental,
        will_save=False,
        will_save_wait_until=False,
        save=types.SaveOptions(include_text=False),
    )
    assert capabilities.execute_command_provider is not None
    commands = list(capabilities.execute_command_provider.commands)
    assert commands == [name for name, _handler in COMMANDS]
    assert commands == [
        "hexad.repoMap",
        "hexad.reindex",
        "hexad.indexStatus",
        "hexad.explainAction",
        "hexad.memory.search",
        "hexad.memory.status",
        "hexad.remember",
        "hexad.forget",
        "hexad.generate",
        "hexad.propose",
        "hexad.accept",
        "hexad.reject",
        "hexad.showDiff",
        "hexad.review",
        "hexad.proposals",
        "hexad.plan",
        "hexad.plan.run",
        "hexad.plan.cancel",
        "hexad.plans",
        "hexad.status",
    ]
    actions = capabilities.code_action_provider
    assert isinstance(actions, types.CodeActionOptions) and actions.resolve_provider is True
    assert [str(k) for k in actions.code_action_kinds or ()] == [
        "quickfix",
        "refactor.extract",
        "refactor.inline",
        "refactor.rewrite",
        "source.hexad",
    ]
    # valid (absent) settings: nothing to complain about
    assert ws.client.messages == []


@pytest.mark.parametrize(
    "init_options", [{"index": {"workers": 0}, "log_level": "loud", "bogus": 1}]
)
async def test_invalid_settings_warn_once_and_fall_back_to_defaults(
    ws: Workspace, init_options: Any
) -> None:
    assert ws.client.messages == [
        types.ShowMessageParams(
            type=types.MessageType.Warning,
            message="Hexad: setting index.workers: Input should be greater than or equal to 1; "
            "using the default (and 2 more)",
        )
    ]
    # the server runs on the defaults: it indexed, and jedi (on by default) answers
    status = await ws.command("hexad.indexStatus")
    assert (status["files"], status["symbols"]) == (FILES, SYMBOLS)
    found = await ws.definition("shop/services.py", "self.store.save(order)", shift=12)
    assert found == [ws.location("shop/storage.py", "def save", "save")]
    assert len(ws.client.messages) == 1


async def test_work_done_progress_for_the_first_index(ws: Workspace) -> None:
    first = notes(ws.client, "hexad/indexed")[0]
    assert (first.files, first.symbols) == (FILES, SYMBOLS)
    assert isinstance(first.seconds, float)

    # tokens are created in order; the first is the first index, ended before hexad/indexed
    token, reports = next(iter(ws.client.progress_reports.items()))
    assert str(token).startswith("hexad-index-")
    begin, *middle, end = reports
    assert begin == types.WorkDoneProgressBegin(title="Hexad: indexing", percentage=0)
    assert middle
    assert all(isinstance(r, types.WorkDoneProgressReport) for r in middle)
    assert [r.message for r in middle][-1] == f"{FILES}/{FILES} files"
    percentages = [r.percentage for r in middle]
    assert percentages == sorted(percentages)
    assert percentages[-1] == 100
    assert isinstance(end, types.WorkDoneProgressEnd)
    assert end.message is not None
    assert re.fullmatch(rf"{FILES} files, {SYMBOLS} symbols in \d+\.\d s", end.message)


# -- stdout is the protocol's alone ----------------------------------------------------


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_frame(stdout: asyncio.StreamReader) -> dict[str, Any] | None:
    """One message, read strictly: headers, a blank line, exactly the body announced;
    None at the end of the stream, which may only come between messages."""
    header = await stdout.readline()
    if header == b"":
        return None
    match = re.fullmatch(rb"Content-Length: (\d+)\r\n", header)
    assert match, f"not a JSON-RPC header on stdout: {header!r}"
    line = await stdout.readline()
    while line != b"\r\n":  # other headers (Content-Type) are allowed
        assert re.fullmatch(rb"[A-Za-z-]+: .*\r\n", line), f"bad header line: {line!r}"
        line = await stdout.readline()
    message = json.loads(await stdout.readexactly(int(match.group(1))))
    assert message["jsonrpc"] == "2.0"
    return message


async def test_stdout_carries_only_json_rpc(workspace_root: Path) -> None:
    """Drive the server by hand and read every byte of its stdout as framed JSON-RPC; with
    invalid settings the server logs a warning, which must arrive on stderr."""
    server = await asyncio.create_subprocess_exec(
        *SERVER.server_command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    assert server.stderr is not None
    stdin, stdout = server.stdin, server.stdout
    stderr = asyncio.ensure_future(server.stderr.read())
    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        process_id=None,
        root_uri=uri_of(workspace_root),
        initialization_options={"bogus": True},
    )
    seen: list[dict[str, Any]] = []

    async def until(predicate: Any) -> dict[str, Any]:
        while True:
            message = await read_frame(stdout)
            assert message is not None, "stdout closed early"
            seen.append(message)
            if "id" in message and "method" in message:  # a request to the client
                stdin.write(frame({"jsonrpc": "2.0", "id": message["id"], "result": None}))
            if predicate(message):
                return message

    try:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize"}
        stdin.write(frame({**init, "params": get_converter().unstructure(params)}))
        answer = await asyncio.wait_for(until(lambda m: m.get("id") == 1), TIMEOUT)
        assert answer["result"]["serverInfo"]["name"] == "hexad"
        stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        indexed = await asyncio.wait_for(
            until(lambda m: m.get("method") == "hexad/indexed"), TIMEOUT
        )
        assert (indexed["params"]["files"], indexed["params"]["symbols"]) == (FILES, SYMBOLS)
        stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        await asyncio.wait_for(until(lambda m: m.get("id") == 2), TIMEOUT)
        stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
        # whatever comes after the shutdown answer is framed JSON-RPC too, up to the end
        while (message := await asyncio.wait_for(read_frame(stdout), TIMEOUT)) is not None:
            seen.append(message)
        await asyncio.wait_for(server.wait(), TIMEOUT)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()

    assert server.returncode == 0
    methods = [m.get("method") for m in seen]
    assert "window/showMessage" in methods
    log = (await asyncio.wait_for(stderr, TIMEOUT)).decode("utf-8", "replace")
    assert "unknown setting bogus; ignored" in log
