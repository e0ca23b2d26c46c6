"""Helpers for driving ``hexad serve`` end to end: the client, waits, positions, edits.

Positions are computed from the fixture's text, in UTF-16 code units (what VS Code
negotiates), never from the server's own conversions.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol import default_converter
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import register_lsp_features

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lsp_workspace"
# what the first index of the fixture holds
FILES, SYMBOLS, REFERENCES = 8, 39, 47
TIMEOUT = 30.0  # bound on every wait: a hang fails the test instead of stalling the suite

INDEXED = "hexad/indexed"
DOCUMENT_INDEXED = "hexad/documentIndexed"
MEMORY_SYNCED = "hexad/memorySynced"
PROGRESS = "hexad/generationProgress"


class HexadClient(LanguageClient):
    """pytest-lsp's test client, also recording Hexad's custom notifications in order."""

    def __init__(self) -> None:
        super().__init__(converter_factory=default_converter)
        register_lsp_features(self)
        self.initialize_result: types.InitializeResult | None = None
        self.notes: dict[str, list[Any]] = {
            INDEXED: [],
            DOCUMENT_INDEXED: [],
            MEMORY_SYNCED: [],
            PROGRESS: [],
        }
        for method in self.notes:
            self.feature(method)(self._recorder(method))

    def _recorder(self, method: str) -> Callable[[Any], None]:
        def record(params: Any) -> None:
            self.notes[method].append(params)

        return record


SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "hexad", "serve"], client_factory=HexadClient
)


def notes(client: LanguageClient, method: str) -> list[Any]:
    assert isinstance(client, HexadClient)
    return client.notes[method]


async def wait_note(
    client: LanguageClient,
    method: str,
    predicate: Callable[[Any], bool],
    after: int = 0,
    timeout: float = TIMEOUT,
) -> Any:
    """The first notification of ``method`` past the first ``after`` that matches
    ``predicate``, waiting for it if it has not arrived yet.

    Checking the record and registering the next ``wait_for_notification`` happen in one
    step of the event loop, so no notification can slip between them.
    """

    async def scan() -> Any:
        while True:
            for params in notes(client, method)[after:]:
                if predicate(params):
                    return params
            await client.wait_for_notification(method)

    return await asyncio.wait_for(scan(), timeout)


def indexed_mark(client: LanguageClient) -> int:
    """How many ``hexad/indexed`` have arrived; pass it to ``wait_indexed`` as ``after``."""
    return len(notes(client, INDEXED))


async def wait_indexed(client: LanguageClient, after: int) -> Any:
    """The first ``hexad/indexed`` after the first ``after`` ones."""
    return await wait_note(client, INDEXED, lambda _p: True, after)


async def wait_document(client: LanguageClient, path: str, version: int) -> Any:
    """Wait until ``path``'s buffer at ``version`` (or later) is in the index."""
    return await wait_note(
        client, DOCUMENT_INDEXED, lambda p: p.path == path and p.version >= version
    )


async def until_indexed(
    client: LanguageClient, after: int, check: Callable[[], Awaitable[bool]]
) -> None:
    """Wait through the ``hexad/indexed`` notifications past the first ``after`` until
    ``check`` holds: a change on disk may land in the refresh already running or in the
    one the watcher starts next, and either is fine."""

    async def run() -> None:
        seen = after
        while True:
            await wait_indexed(client, seen)
            seen += 1
            if await check():
                return

    await asyncio.wait_for(run(), TIMEOUT)


async def settle(aw: Any, timeout: float = TIMEOUT) -> Any:
    return await asyncio.wait_for(aw, timeout)


# -- positions -------------------------------------------------------------------------


def uri_of(path: Path) -> str:
    uri = from_fs_path(str(path))
    assert uri is not None
    return uri


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def position_at(text: str, offset: int) -> types.Position:
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return types.Position(line=line, character=utf16_len(text[start:offset]))


def find(text: str, needle: str, nth: int = 0) -> int:
    """Offset of the ``nth`` occurrence of ``needle`` (which must occur that often)."""
    offset = -1
    for _ in range(nth + 1):
        offset = text.find(needle, offset + 1)
        assert offset >= 0, f"{needle!r} (occurrence {nth}) not in the text"
    return offset


def line_range(text: str, first: int, last: int) -> types.Range:
    """From the first non-blank of line ``first`` to the end of line ``last``."""
    lines = text.split("\n")
    indent = len(lines[first]) - len(lines[first].lstrip())
    return types.Range(
        start=types.Position(line=first, character=indent),
        end=types.Position(line=last, character=utf16_len(lines[last])),
    )


class Workspace:
    """A copy of the fixture workspace, and the client talking about it."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root

    def path(self, rel: str) -> Path:
        return self.root / rel

    def uri(self, rel: str) -> str:
        return uri_of(self.root / rel)

    def text(self, rel: str) -> str:
        return self.path(rel).read_text(encoding="utf-8")

    def doc(self, rel: str) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(uri=self.uri(rel))

    def location(
        self, rel: str, needle: str, name: str | None = None, nth: int = 0, text: str | None = None
    ) -> types.Location:
        """Where ``name`` (default: all of ``needle``) is, inside the ``nth`` ``needle``."""
        return types.Location(uri=self.uri(rel), range=self.range(rel, needle, name, nth, text))

    def range(
        self, rel: str, needle: str, name: str | None = None, nth: int = 0, text: str | None = None
    ) -> types.Range:
        text = self.text(rel) if text is None else text
        start = find(text, needle, nth) + (needle.index(name) if name else 0)
        end = start + len(name or needle)
        return types.Range(start=position_at(text, start), end=position_at(text, end))

    def open(self, rel: str, text: str | None = None) -> Buffer:
        buffer = Buffer(self.client, rel, self.uri(rel), self.text(rel) if text is None else text)
        buffer.open()
        return buffer

    # requests, positioned by a needle in the file's text on disk (or in ``text=``)

    def at(
        self, rel: str, needle: str, nth: int = 0, shift: int = 1, text: str | None = None
    ) -> types.Position:
        """``shift`` characters into the ``nth`` ``needle`` (by default, inside its name)."""
        text = self.text(rel) if text is None else text
        return position_at(text, find(text, needle, nth) + shift)

    async def definition(self, rel: str, needle: str, nth: int = 0, **kw: Any) -> Any:
        return await settle(
            self.client.text_document_definition_async(
                types.DefinitionParams(
                    text_document=self.doc(rel), position=self.at(rel, needle, nth, **kw)
                )
            )
        )

    async def references(
        self, rel: str, needle: str, include_declaration: bool, nth: int = 0, **kw: Any
    ) -> list[types.Location] | None:
        found = await settle(
            self.client.text_document_references_async(
                types.ReferenceParams(
                    text_document=self.doc(rel),
                    position=self.at(rel, needle, nth, **kw),
                    context=types.ReferenceContext(include_declaration=include_declaration),
                )
            )
        )
        return None if found is None else list(found)  # the client decodes a tuple

    async def hover(self, rel: str, needle: str, nth: int = 0, **kw: Any) -> Any:
        return await settle(
            self.client.text_document_hover_async(
                types.HoverParams(
                    text_document=self.doc(rel), position=self.at(rel, needle, nth, **kw)
                )
            )
        )

    async def prepare(self, rel: str, needle: str, nth: int = 0, **kw: Any) -> Any:
        return await settle(
            self.client.text_document_prepare_call_hierarchy_async(
                types.CallHierarchyPrepareParams(
                    text_document=self.doc(rel), position=self.at(rel, needle, nth, **kw)
                )
            )
        )

    async def incoming(self, item: types.CallHierarchyItem) -> Any:
        return await settle(
            self.client.call_hierarchy_incoming_calls_async(
                types.CallHierarchyIncomingCallsParams(item=item)
            )
        )

    async def outgoing(self, item: types.CallHierarchyItem) -> Any:
        return await settle(
            self.client.call_hierarchy_outgoing_calls_async(
                types.CallHierarchyOutgoingCallsParams(item=item)
            )
        )

    async def symbols(self, rel: str) -> Any:
        return await settle(
            self.client.text_document_document_symbol_async(
                types.DocumentSymbolParams(text_document=self.doc(rel))
            )
        )

    async def search(self, query: str) -> Any:
        return await settle(
            self.client.workspace_symbol_async(types.WorkspaceSymbolParams(query=query))
        )

    async def command(self, name: str, *arguments: Any) -> Any:
        return await settle(
            self.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=name, arguments=list(arguments) or None)
            )
        )


class Buffer:
    """An open document whose edits go to the server as incremental didChange events."""

    def __init__(self, client: LanguageClient, rel: str, uri: str, text: str) -> None:
        self.client = client
        self.rel = rel
        self.uri = uri
        self.text = text
        self.version = 1

    def open(self) -> None:
        language = "typescript" if self.rel.endswith(".ts") else "python"
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=self.uri, language_id=language, version=self.version, text=self.text
                )
            )
        )

    def edit(self, start: int, end: int, new: str) -> None:
        """Replace text[start:end] with ``new``, as one incremental change."""
        self.send([self._change(start, end, new)])

    def batch(self, replacements: list[tuple[str, str]]) -> None:
        """Several replacements in one didChange, each range taken in the text the changes
        before it left (as a multi-cursor edit arrives)."""
        changes = []
        for old, new in replacements:
            start = find(self.text, old)
            changes.append(self._change(start, start + len(old), new))
        self.send(changes)

    def _change(self, start: int, end: int, new: str) -> types.TextDocumentContentChangePartial:
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=position_at(self.text, start), end=position_at(self.text, end)),
            text=new,
        )
        self.text = self.text[:start] + new + self.text[end:]
        return change

    def send(self, changes: list[types.TextDocumentContentChangePartial]) -> None:
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=list(changes),
            )
        )

    def replace(self, old: str, new: str, nth: int = 0) -> None:
        start = find(self.text, old, nth)
        self.edit(start, start + len(old), new)

    def insert(self, after: str, new: str) -> None:
        end = find(self.text, after) + len(after)
        self.edit(end, end, new)

    def append(self, new: str) -> None:
        self.edit(len(self.text), len(self.text), new)

    def close(self) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=self.uri)
            )
        )

    async def indexed(self) -> Any:
        return await wait_document(self.client, self.rel, self.version)


def send_raw(client: LanguageClient, message: dict[str, Any]) -> asyncio.Future[Any] | None:
    """Write a JSON-RPC message exactly as given, bypassing the client's typing (to send
    what a buggy client might). A request's answer, result or error, settles the future."""
    future: asyncio.Future[Any] | None = None
    if "id" in message:
        future = asyncio.get_running_loop().create_future()
        client.protocol._request_futures[message["id"]] = future  # the answer lands here
    body = json.dumps(message).encode("utf-8")
    writer: Any = client.protocol.writer
    writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return future


def stored_decision(root: Path, decision_id: int) -> tuple[str, list[str]]:
    """A proposal's status and its status history, read from the workspace's database
    by a connection of the test's own (what another process sees)."""
    conn = sqlite3.connect(root / ".hexad" / "hexad.db")
    try:
        (status,) = conn.execute(
            "SELECT status FROM memory_decisions WHERE id = ?", (decision_id,)
        ).fetchone()
        history = [
            r[0]
            for r in conn.execute(
                "SELECT status FROM memory_decision_events WHERE decision_id = ? ORDER BY id",
                (decision_id,),
            )
        ]
    finally:
        conn.close()
    return status, history
