"""A real ``hexad -vv serve --log-file``: every message is logged at debug level (pygls
writes whole bodies), and still no secret the editor sent reaches the log file or stderr."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.fuzz.peer import ServerPeer, frame, notification, request, uri_of
from tests.unit.test_secrets import FIXTURE, SECRETS, TEXTS


def test_the_servers_logs_hold_no_secret(tmp_path: Path) -> None:
    root = (tmp_path / "ws").resolve()
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    log_file = tmp_path / "server-file.log"
    stderr = tmp_path / "server-stderr.log"
    peer = ServerPeer(root, log=stderr, args=("-vv", "serve", "--log-file", str(log_file)))
    try:
        peer.initialize()
        peer.wait_indexed()
        text = "\n".join(TEXTS[k].format(v) for k, v in SECRETS.items()) + "\n"
        uri = uri_of(root / "inventory" / "settings.py")
        item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
        peer.send(frame(notification("textDocument/didOpen", {"textDocument": item})))
        change = {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": text}]}
        peer.send(frame(notification("textDocument/didChange", change)))
        # a request whose params mention secrets, and broken ones that get logged as such
        query = TEXTS["password"].format(SECRETS["password"])
        assert "result" in peer.call("workspace/symbol", {"query": query})
        peer.send(frame(request("bad-1", "workspace/symbol", {"query": 42, "x": text})))
        peer.send(frame(b'{"jsonrpc": "2.0", "id": "bad-2", ' + text.encode()))
        peer.send(frame(json.dumps({"jsonrpc": "1.0", "id": "bad-3", "note": text})))
        peer.call("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
        assert peer.stop() == 0
    finally:
        peer.close()
    logs = log_file.read_text(encoding="utf-8") + stderr.read_text(encoding="utf-8")
    assert "textDocument/didOpen" in logs  # the messages were logged, at debug level
    assert "<redacted:" in logs
    assert [kind for kind, secret in SECRETS.items() if secret in logs] == []
