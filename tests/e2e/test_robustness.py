"""What an editor really sends: vanished files, untitled buffers, edits racing requests,
cancellations, malformed messages, changes to unopened files, bursts of keystrokes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from tests.e2e.support import (
    Buffer,
    Workspace,
    indexed_mark,
    position_at,
    send_raw,
    settle,
    until_indexed,
)

REPORT = "shop/report.py"
PRICING = "shop/pricing.py"


def names(symbols: Any) -> list[str]:
    return [s.name for s in symbols]


async def responsive(ws: Workspace) -> None:
    """The server still answers, and correctly."""
    found = await ws.definition("shop/services.py", "compute_total(order, discount)")
    assert found == [ws.location(PRICING, "def compute_total", "compute_total")]


async def test_request_for_a_file_that_vanished_from_disk(ws: Workspace) -> None:
    text = ws.text(REPORT)
    at_receipt = pos_in(text, "def receipt", 5)
    at_call = pos_in(text, "compute_total(SAMPLE)", 2)
    mark = indexed_mark(ws.client)
    ws.path(REPORT).unlink()

    # asked before the watcher's refresh: answered (from what the index still holds)
    await request_everything(ws, ws.doc(REPORT), at_receipt)
    await request_everything(ws, ws.doc(REPORT), at_call)

    async def forgotten() -> bool:
        return await ws.symbols(REPORT) == []

    await until_indexed(ws.client, mark, forgotten)

    assert await request_everything(ws, ws.doc(REPORT), at_receipt) == ([], [], None, [], None)
    assert await request_everything(ws, ws.doc(REPORT), at_call) == ([], [], None, [], None)
    found = await ws.references(PRICING, "def compute_total", False, shift=6)
    assert found == [ws.location("shop/services.py", "compute_total(order", "compute_total")]
    await responsive(ws)


async def test_open_buffer_outlives_its_file(ws: Workspace) -> None:
    buffer = ws.open(REPORT)
    ws.path(REPORT).unlink()
    await ws.command("hexad.reindex")  # a refresh from disk has run since

    assert names(await ws.symbols(REPORT)) == ["SAMPLE", "SAMPLE_TOTAL", "receipt", "banner"]
    found = await ws.definition(REPORT, "compute_total(SAMPLE)", text=buffer.text)
    assert found == [ws.location(PRICING, "def compute_total", "compute_total")]

    # closed, it is gone for good
    buffer.close()
    await ws.command("hexad.reindex")
    assert await ws.symbols(REPORT) == []


async def test_untitled_document(ws: Workspace) -> None:
    text = "from shop.pricing import compute_total\n\n\ndef draft():\n    return compute_total\n"
    buffer = Buffer(ws.client, "Untitled-1", "untitled:Untitled-1", text)
    buffer.open()
    buffer.replace("draft", "sketch")
    doc = types.TextDocumentIdentifier(uri=buffer.uri)
    at = position_at(buffer.text, buffer.text.index("compute_total\n") + 2)

    assert await request_everything(ws, doc, at) == ([], [], None, [], None)
    assert await ws.search("sketch") == []
    buffer.close()
    await responsive(ws)


async def test_document_changed_just_before_the_request(ws: Workspace) -> None:
    buffer = ws.open(PRICING)
    await buffer.indexed()
    # the edit and the requests leave together; the answers must see the edit
    buffer.replace("def subtotal(", "def net_sum(")
    buffer.replace("subtotal(order), discount", "net_sum(order), discount")
    doc = types.TextDocumentIdentifier(uri=buffer.uri)
    at_call = position_at(buffer.text, buffer.text.index("net_sum(order), discount") + 2)

    symbols, definition, hover = await settle(
        asyncio.gather(
            ws.client.text_document_document_symbol_async(
                types.DocumentSymbolParams(text_document=doc)
            ),
            ws.client.text_document_definition_async(
                types.DefinitionParams(text_document=doc, position=at_call)
            ),
            ws.client.text_document_hover_async(
                types.HoverParams(text_document=doc, position=at_call)
            ),
        )
    )

    assert names(symbols) == ["TAX_RATE", "net_sum", "apply_discount", "compute_total"]
    assert definition == [ws.location(PRICING, "def net_sum", "net_sum", text=buffer.text)]
    assert hover is not None
    assert hover.contents.value.startswith("```python\ndef net_sum(order: Order) -> float\n```")


async def test_cancel_requests_in_flight(ws: Workspace) -> None:
    # references at an ambiguous call: jedi works on each, so they overlap
    params = types.ReferenceParams(
        text_document=ws.doc("shop/services.py"),
        position=ws.at("shop/services.py", "self.store.save(order)", shift=12),
        context=types.ReferenceContext(include_declaration=True),
    )
    expected = {
        (loc.uri, loc.range.start.line, loc.range.start.character)
        for loc in (
            ws.location("shop/storage.py", "def save", "save"),
            ws.location("shop/services.py", "self.store.save(order)", "save"),
        )
    }
    ids = [f"refs-{i}" for i in range(24)]
    pending = [
        asyncio.wrap_future(
            ws.client.protocol.send_request(types.TEXT_DOCUMENT_REFERENCES, params, msg_id=i)
        )
        for i in ids
    ]
    for msg_id in ids[:-1]:  # cancel all but the last
        ws.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    answers = await settle(asyncio.gather(*pending, return_exceptions=True))

    cancelled = 0
    for answer in answers:
        if isinstance(answer, BaseException):
            assert isinstance(answer, JsonRpcRequestCancelled), answer
            assert answer.code == types.LSPErrorCodes.RequestCancelled
            cancelled += 1
        else:
            got = {(loc.uri, loc.range.start.line, loc.range.start.character) for loc in answer}
            assert got == expected
    assert not isinstance(answers[-1], BaseException)  # never cancelled, so answered
    assert cancelled <= len(ids) - 1  # how many: a matter of timing
    # cancelling what was already answered is harmless
    ws.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=ids[-1]))
    await responsive(ws)


async def test_concurrent_requests_all_get_the_right_answer(ws: Workspace) -> None:
    # an editor asks for hover, definition and references at once; where the index is
    # unsure, each of them asks jedi, from the server's worker threads
    services = "shop/services.py"
    memory_save = ws.location("shop/storage.py", "def save", "save", nth=0)
    json_save = ws.location("shop/storage.py", "def save", "save", nth=1)
    at_memory = ws.at(services, "self.store.save(order)", shift=12)
    at_json = ws.at(services, "return store.save(order)", shift=14)
    doc = ws.doc(services)

    def definition(at: types.Position) -> Any:
        return ws.client.text_document_definition_async(
            types.DefinitionParams(text_document=doc, position=at)
        )

    def references(at: types.Position) -> Any:
        return ws.client.text_document_references_async(
            types.ReferenceParams(
                text_document=doc,
                position=at,
                context=types.ReferenceContext(include_declaration=False),
            )
        )

    rounds = 6
    answers = await settle(
        asyncio.gather(
            *(
                request(at)
                for _ in range(rounds)
                for request in (definition, references)
                for at in (at_memory, at_json)
            )
        )
    )

    expected = [
        [memory_save],
        [json_save],
        [ws.location(services, "self.store.save(order)", "save")],
        [ws.location(services, "return store.save(order)", "save")],
    ]
    assert [list(answer) for answer in answers] == expected * rounds


async def test_malformed_messages(ws: Workspace) -> None:
    # a request whose params have the wrong types: an error answer, not silence
    answer = send_raw(
        ws.client,
        {
            "jsonrpc": "2.0",
            "id": "bad-1",
            "method": "textDocument/hover",
            "params": {"textDocument": {"uri": 5}, "position": "here"},
        },
    )
    assert answer is not None
    with pytest.raises(JsonRpcException) as caught:
        await settle(answer)
    assert caught.value.code == types.ErrorCodes.InvalidParams

    # a method nobody knows
    answer = send_raw(ws.client, {"jsonrpc": "2.0", "id": "bad-2", "method": "hexad/nope"})
    assert answer is not None
    with pytest.raises(JsonRpcException) as caught:
        await settle(answer)
    assert caught.value.code == types.ErrorCodes.MethodNotFound

    # notifications with bad params cannot be answered; they must not break anything
    send_raw(
        ws.client,
        {
            "jsonrpc": "2.0",
            "method": "textDocument/didChange",
            "params": {"textDocument": {"uri": ws.uri(PRICING)}, "contentChanges": 7},
        },
    )
    send_raw(ws.client, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": []})
    await responsive(ws)
    assert names(await ws.symbols(PRICING)) == [
        "TAX_RATE",
        "subtotal",
        "apply_discount",
        "compute_total",
    ]


async def test_change_to_a_document_never_opened(ws: Workspace) -> None:
    buffer = Buffer(ws.client, PRICING, ws.uri(PRICING), ws.text(PRICING))  # not opened
    buffer.replace("def compute_total(", "def grand_total(")
    ws.client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=ws.doc("shop/cli.py"))
    )

    # ignored: the disk still speaks for the file
    assert names(await ws.symbols(PRICING))[-1] == "compute_total"
    assert await ws.search("grand_total") == []
    await responsive(ws)


async def test_burst_of_keystrokes(ws: Workspace) -> None:
    buffer = ws.open(PRICING)
    cursor = len(buffer.text)

    def type_(text: str) -> None:  # one keystroke, one didChange
        nonlocal cursor
        for ch in text:
            buffer.edit(cursor, cursor, ch)
            cursor += 1

    type_("\n\ndef shipping(order: Order) -> float:\n    ")
    type_('"""')
    buffer.edit(cursor, cursor, '"""')  # the editor closes the docstring ahead of the cursor
    type_("Gratis ab drei Stück — 🚚.")  # typed after an emoji, before the closing quotes
    cursor += 3
    type_("\n    return 0.0 if order.count() >= 3 else 4.95\n")
    events = 200
    anchor = buffer.text.index("def shipping") + len("def ship")
    while buffer.version < 1 + events:  # a typo, and its backspace
        buffer.edit(anchor, anchor, "x")
        buffer.edit(anchor, anchor + 1, "")
    assert buffer.version == 1 + events

    symbols = await ws.symbols(PRICING)

    assert names(symbols) == ["TAX_RATE", "subtotal", "apply_discount", "compute_total", "shipping"]
    shipping = symbols[-1]
    last_line = buffer.text.rstrip("\n").split("\n")[-1]
    assert last_line == "    return 0.0 if order.count() >= 3 else 4.95"
    assert shipping.range == types.Range(
        start=types.Position(line=23, character=0),
        end=types.Position(line=25, character=len(last_line)),
    )
    assert shipping.selection_range == ws.range(
        PRICING, "def shipping", "shipping", text=buffer.text
    )
    hover = await ws.hover(PRICING, "def shipping", shift=5, text=buffer.text)
    assert hover is not None
    assert hover.contents.value.split("\n\n---\n\n")[2] == "Gratis ab drei Stück — 🚚."
    indexed = await buffer.indexed()
    assert indexed.version == buffer.version
    assert await ws.search("shippingx") == []


# -- helpers ---------------------------------------------------------------------------


def pos_in(text: str, needle: str, shift: int) -> types.Position:
    return position_at(text, text.index(needle) + shift)


async def request_everything(
    ws: Workspace, doc: types.TextDocumentIdentifier, at: types.Position
) -> tuple[Any, Any, Any, Any, Any]:
    """documentSymbol, definition, hover, references and prepareCallHierarchy at ``at``."""
    client = ws.client
    symbols = await settle(
        client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc))
    )
    definition = await settle(
        client.text_document_definition_async(
            types.DefinitionParams(text_document=doc, position=at)
        )
    )
    hover = await settle(
        client.text_document_hover_async(types.HoverParams(text_document=doc, position=at))
    )
    references = await settle(
        client.text_document_references_async(
            types.ReferenceParams(
                text_document=doc,
                position=at,
                context=types.ReferenceContext(include_declaration=True),
            )
        )
    )
    prepared = await settle(
        client.text_document_prepare_call_hierarchy_async(
            types.CallHierarchyPrepareParams(text_document=doc, position=at)
        )
    )
    return list(symbols or []), list(definition or []), hover, list(references or []), prepared
