"""textDocument/definition: through imports, self, jedi's types; empty for what is not ours."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from tests.e2e.support import Buffer, Workspace, settle, uri_of, utf16_len


def compute_total(ws: Workspace) -> types.Location:
    return ws.location("shop/pricing.py", "def compute_total", "compute_total")


async def test_call_to_a_function_imported_from_another_module(ws: Workspace) -> None:
    found = await ws.definition("shop/services.py", "compute_total(order, discount)")
    assert found == [compute_total(ws)]
    found = await ws.definition("shop/report.py", "compute_total(SAMPLE, 50)")
    assert found == [compute_total(ws)]


async def test_positions_after_non_ascii_text_count_utf16_units(ws: Workspace) -> None:
    # `return "Zoë 😀 pays " + str(compute_total(...`: the name starts at UTF-16 column 32,
    # code point 31, byte 35; the client's 33 read as bytes would land on `str`
    line = ws.text("shop/report.py").split("\n")[11]
    prefix = line[: line.index("compute_total")]
    assert (utf16_len(prefix), len(prefix), len(prefix.encode("utf-8"))) == (32, 31, 35)
    position = ws.at("shop/report.py", "compute_total(SAMPLE, 10)")
    assert (position.line, position.character) == (11, 33)

    found = await ws.definition("shop/report.py", "compute_total(SAMPLE, 10)")
    assert found == [compute_total(ws)]

    # `return "🎉🛒 " + receipt()`: two characters outside the BMP, 2 UTF-16 units each;
    # on the name's last letter, a server counting code points would be past the name
    call = ws.range("shop/report.py", '"🎉🛒 " + receipt()', "receipt")
    assert (call.start.character, call.end.character) == (21, 28)
    last_letter = types.Position(line=call.end.line, character=call.end.character - 1)
    found = await settle(
        ws.client.text_document_definition_async(
            types.DefinitionParams(text_document=ws.doc("shop/report.py"), position=last_letter)
        )
    )
    assert found == [ws.location("shop/report.py", "def receipt", "receipt")]
    hover = await settle(
        ws.client.text_document_hover_async(
            types.HoverParams(text_document=ws.doc("shop/report.py"), position=last_letter)
        )
    )
    assert hover is not None
    assert hover.range == call


async def test_method_through_self_and_a_definition_itself(ws: Workspace) -> None:
    found = await ws.definition("shop/services.py", "self.validate(order)", shift=7)
    assert found == [ws.location("shop/services.py", "def validate", "validate")]

    found = await ws.definition("shop/pricing.py", "def compute_total", shift=6)
    assert found == [compute_total(ws)]
    found = await ws.definition("shop/models.py", "def größe", shift=6)
    assert found == [ws.location("shop/models.py", "def größe", "größe")]


async def test_jedi_picks_the_class_of_an_ambiguous_method(ws: Workspace) -> None:
    # MemoryStore and JsonStore both define `save`: the index alone cannot tell; jedi
    # follows `self.store`'s annotation and `store = JsonStore(path)`
    memory_save = ws.location("shop/storage.py", "def save", "save", nth=0)
    json_save = ws.location("shop/storage.py", "def save", "save", nth=1)

    found = await ws.definition("shop/services.py", "self.store.save(order)", shift=12)
    assert found == [memory_save]
    found = await ws.definition("shop/services.py", "return store.save(order)", shift=14)
    assert found == [json_save]


async def test_typescript_call(ws: Workspace) -> None:
    found = await ws.definition("web/client.ts", "parseTotal(await")
    assert found == [ws.location("web/client.ts", "function parseTotal", "parseTotal")]


async def test_unknown_uri_and_file_outside_the_workspace_are_empty(
    ws: Workspace, tmp_path: Path
) -> None:
    async def definition(uri: str, line: int, character: int) -> object:
        return await settle(
            ws.client.text_document_definition_async(
                types.DefinitionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=character),
                )
            )
        )

    # a file the workspace does not have, inside and outside it
    assert await definition(ws.uri("shop/missing.py"), 0, 0) == []
    assert await definition("file:///nowhere/at/all.py", 3, 4) == []

    # a file outside the workspace, open in the editor, calling into the workspace
    outside = tmp_path / "scratch.py"
    text = "from shop.pricing import compute_total\n\ncompute_total(None)\n"
    outside.write_text(text, encoding="utf-8")
    Buffer(ws.client, "scratch.py", uri_of(outside), text).open()
    assert await definition(uri_of(outside), 2, 3) == []

    # the server still answers for the workspace
    found = await ws.definition("shop/services.py", "compute_total(order, discount)")
    assert found == [compute_total(ws)]
