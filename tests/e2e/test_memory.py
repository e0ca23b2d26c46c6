"""Memory over LSP: the server syncs memory after indexing; hexad.memory.search,
hexad.remember and hexad.forget work from any client; hover shows notes that apply."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.support import MEMORY_SYNCED, TIMEOUT, Workspace, wait_note


@pytest.fixture
def init_options() -> Any:
    return {"index": {"watch": True}}


async def _synced(ws: Workspace, after: int = 0) -> Any:
    return await wait_note(ws.client, MEMORY_SYNCED, lambda _p: True, after)


async def test_memory_is_synced_after_indexing_and_searchable(ws: Workspace) -> None:
    report = await _synced(ws)
    assert report.trained is True and report.files_synced >= 7
    assert report.chunks_added == report.embedded > 0

    hits = await ws.command("hexad.memory.search", {"query": "take percent off an amount", "k": 3})
    top = hits[0]
    assert top["item"]["qualname"] == "shop.pricing.apply_discount"
    assert top["location"]["uri"] == ws.uri("shop/pricing.py")
    assert top["location"]["range"]["start"]["line"] == ws.text(
        "shop/pricing.py"
    ).splitlines().index("def apply_discount(amount: float, percent: float) -> float:")
    assert "percent" in top["why"]

    only_ts = await ws.command(
        "hexad.memory.search", {"query": "order", "languages": ["typescript"], "k": 20}
    )
    assert only_ts and {h["item"]["language"] for h in only_ts} == {"typescript"}
    status = await ws.command("hexad.memory.status")
    assert status["chunks"] > 0 and status["spaces"][0]["pending"] == 0


async def test_remember_shows_in_hover_and_forget_removes_it(ws: Workspace) -> None:
    await _synced(ws)
    note = await ws.command(
        "hexad.remember", {"text": "discounts are capped at 50%", "scope": "shop.pricing"}
    )
    assert note["scope"] == "shop.pricing" and note["source"] == "user"

    hover = await ws.hover("shop/pricing.py", "def apply_discount", shift=6)
    assert hover is not None and "discounts are capped at 50%" in hover.contents.value
    assert f"note #{note['id']}" in hover.contents.value

    found = await ws.command("hexad.memory.search", {"query": "capped discounts", "types": "note"})
    assert [h["item"]["id"] for h in found] == [note["id"]]

    assert await ws.command("hexad.forget", note["id"]) == {"id": note["id"], "forgotten": True}
    assert await ws.command("hexad.forget", {"id": note["id"]}) == {
        "id": note["id"],
        "forgotten": False,
    }
    hover = await ws.hover("shop/pricing.py", "def apply_discount", shift=6)
    assert "capped" not in hover.contents.value


async def test_a_saved_change_reaches_memory(ws: Workspace) -> None:
    await _synced(ws)
    synced = len(ws.client.notes[MEMORY_SYNCED])  # type: ignore[attr-defined]
    path = ws.path("shop/pricing.py")
    path.write_text(
        path.read_text(encoding="utf-8")
        + "\n\ndef loyalty_bonus(points: int) -> float:\n    return points * 0.01\n",
        encoding="utf-8",
    )

    async def found() -> bool:
        hits = await ws.command("hexad.memory.search", {"query": "loyalty bonus", "k": 1})
        return bool(hits) and hits[0]["item"]["name"] == "loyalty_bonus"

    async def watch_syncs() -> None:
        seen = synced
        while True:  # the save lands in the sync already running, or in the next one
            await _synced(ws, seen)
            seen += 1
            if await found():
                return

    await asyncio.wait_for(watch_syncs(), TIMEOUT)


@pytest.mark.parametrize(
    ("command", "argument", "message"),
    [
        ("hexad.memory.search", {"query": ""}, "query must be a non-empty string"),
        ("hexad.memory.search", {"query": "x", "k": 0}, "k must be an integer"),
        ("hexad.memory.search", {"query": "x", "mode": "magic"}, "mode must be"),
        ("hexad.memory.search", {"query": "x", "kinds": [1]}, "kinds must be"),
        ("hexad.remember", {"text": "  "}, "text must be a non-empty string"),
        ("hexad.forget", {"id": "seven"}, "id must be a note id"),
        ("hexad.forget", [1, 2], "expects one object"),
    ],
)
async def test_bad_arguments_are_refused_clearly(
    ws: Workspace, command: str, argument: Any, message: str
) -> None:
    with pytest.raises(JsonRpcException, match=message):
        await ws.command(command, argument)
