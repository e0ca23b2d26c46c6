"""Protocol fuzzing: malformed and out-of-order JSON-RPC, written byte for byte to a real
``hexad serve`` over stdio (see ``protocol.py`` for what is sent and what must hold).

The default run sends a few hundred inputs; ``HEXAD_FUZZ_INPUTS=N`` sends N in the main
session (``bench/reliability.py --fuzz-inputs N`` prints the figures), and
``HEXAD_FUZZ_SEED`` sets hypothesis's seed (fixed by default; ``random`` draws anew).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.fuzz.peer import frame, notification, request
from tests.fuzz.protocol import REFERENCE, FuzzSession, Sent, uri_of

INPUTS = int(os.environ.get("HEXAD_FUZZ_INPUTS", "300"))
# The suite replays one fixed draw so that CI is not a lottery; a new draw each run is for
# exploring (``HEXAD_FUZZ_SEED=random``, or ``bench/reliability.py``, which draws anew).
_SEED = os.environ.get("HEXAD_FUZZ_SEED", "20261207")
SEED = None if _SEED == "random" else int(_SEED)
HUGE = 20 * 1024 * 1024  # bytes of text in one didOpen


def test_fuzz_a_running_server_then_shut_it_down(tmp_path: Path) -> None:
    session = FuzzSession(tmp_path)
    try:
        session.fuzz(INPUTS, seed=SEED)
        session.after_storm()
        code = session.shut_down(examples=max(20, INPUTS // 10))
    finally:
        session.close()
    assert code == 0  # exit after shutdown
    tally = session.tally
    print(f"fuzz: {tally.inputs} inputs, {tally.frames} frames, {tally.requests} requests")
    assert tally.inputs >= INPUTS
    assert set(tally.kinds) >= {"params", "document", "frame", "body", "cancel-storm"}


def test_fuzz_before_initialize(tmp_path: Path) -> None:
    """Requests before initialize are refused (-32002), notifications dropped; the
    server then initializes and works as usual."""
    session = FuzzSession(tmp_path, initialize=False)
    try:
        session.fuzz(max(20, INPUTS // 6), seed=SEED)
        for answers in session.peer.got.responses.values():
            for answer in answers:
                # refused: not initialized (or, read first, params or envelope broken)
                assert answer["error"]["code"] in (-32002, -32602, -32600, -32700), answer
        session.start()
        session.check()
        assert session.baseline is not None and session.baseline[0], "symbols after all"
    finally:
        session.close()


def test_a_20_mb_document_and_a_storm_of_cancels(tmp_path: Path) -> None:
    session = FuzzSession(tmp_path)
    try:
        peer = session.peer
        uri = uri_of(session.root / "inventory" / "huge.py")
        line = "value_%06d = 'x' * 64  # padding padding padding padding padding\n"
        text = "".join(line % i for i in range(HUGE // len(line % 0) + 1))
        assert len(text) >= HUGE
        item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
        peer.send(frame(notification("textDocument/didOpen", {"textDocument": item})))
        ids = [peer.new_id("storm") for _ in range(200)]
        for msg_id in ids:
            session.track(msg_id)
        doc = {"uri": uri_of(session.root / REFERENCE)}
        for n, msg_id in enumerate(ids):
            method = ("textDocument/documentSymbol", "workspace/symbol")[n % 2]
            params = {"textDocument": doc} if n % 2 == 0 else {"query": "rest"}
            peer.send(frame(request(msg_id, method, params)))
            peer.send(frame(notification("$/cancelRequest", {"id": ids[n // 2]})))
        for msg_id in ids:
            peer.send(frame(notification("$/cancelRequest", {"id": msg_id})))
        for msg_id in ids:
            (answer,) = [peer.wait_response(msg_id, timeout=300)]
            if "error" in answer:
                assert answer["error"]["code"] == -32800, answer  # RequestCancelled
        assert all(len(peer.responses_to(i)) == 1 for i in ids)
        symbols = peer.call(
            "textDocument/documentSymbol", {"textDocument": {"uri": uri}}, timeout=300
        )
        assert "result" in symbols
        assert peer.alive()
        # a 20 MB request body gets its answer too
        big = peer.call("workspace/symbol", {"query": "q" * HUGE}, timeout=300)
        assert big.get("result") == [] or "error" in big, json.dumps(big)[:200]
        session.after_storm()
    finally:
        session.close()


def test_the_stream_survives_a_lying_content_length(tmp_path: Path) -> None:
    """The exact failure the fuzzer found first: one frame with a bad header used to
    swallow every frame after it (the server never answered again, exit included)."""
    session = FuzzSession(tmp_path)
    try:
        peer = session.peer
        body = json.dumps(request("lying", "workspace/symbol", {"query": "a"})).encode()
        peer.send(b"Content-Length: abc\r\n\r\n" + body)
        peer.send(frame(request("next", "workspace/symbol", {"query": "restock"})))
        session.track("next")
        answer = peer.wait_response("next", timeout=60)
        assert answer["result"][0]["name"] == "restock"  # answered, best match first
        assert peer.responses_to("lying") == []  # its frame is lost; what follows is not
        code = session.shut_down()
    finally:
        session.close()
    assert code == 0


def test_invalid_utf8_inside_an_id_is_answered_under_a_null_id(tmp_path: Path) -> None:
    """Found by the fuzzer after 4,000 inputs: the server answered under the id as decoded
    with replacement characters, an id the client never sent."""
    session = FuzzSession(tmp_path)
    try:
        peer = session.peer
        body = b'{"jsonrpc": "2.0", "id": "bad-\x9c\xea-id", "method": "workspace/symbol"}'
        peer.send(frame(body))
        session.sent.append(Sent(frame(body), malformed=True))  # may be answered, once
        peer.send(frame(request("after", "workspace/symbol", {"query": "restock"})))
        session.track("after")
        assert "result" in peer.wait_response("after", timeout=60)
        (null_answer,) = peer.responses_to(None)
        assert null_answer["error"]["code"] == -32700  # parse error, under a null id
        assert set(peer.got.responses) <= {'"after"', "null"} | {
            k for k in peer.got.responses if k.startswith('"call-')
        }
        assert session.shut_down() == 0
    finally:
        session.close()
