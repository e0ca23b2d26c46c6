"""A raw JSON-RPC peer for ``hexad serve`` over stdio: it writes whatever bytes it is given
(well-formed or not) and reads every message the server sends, strictly framed.

It answers the server's own requests (progress tokens, applyEdit, showMessageRequest,
configuration) the way a passive editor would, keeps every response by id, and counts
notifications, so a fuzzer can check that each request it sent got exactly one answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pygls.uris import from_fs_path


class PeerError(AssertionError):
    """The server broke the protocol, died, or did not answer in time."""


def frame(body: bytes | str | dict[str, Any], *, header: bytes | None = None) -> bytes:
    """A base-protocol frame: ``Content-Length`` header, blank line, body."""
    if isinstance(body, dict):
        body = json.dumps(body)
    data = body.encode("utf-8") if isinstance(body, str) else body
    head = header if header is not None else b"Content-Length: %d\r\n" % len(data)
    return head + b"\r\n" + data


def request(msg_id: Any, method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def notification(method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def key(msg_id: Any) -> str:
    """Ids may be any JSON value in what a fuzzer sends: compare them as JSON text."""
    return json.dumps(msg_id, sort_keys=True)


def uri_of(path: Path) -> str:
    uri = from_fs_path(str(path))
    assert uri is not None
    return uri


@dataclass
class Received:
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notifications: Counter[str] = field(default_factory=Counter)
    server_requests: Counter[str] = field(default_factory=Counter)
    indexed: int = 0
    bad_frames: list[str] = field(default_factory=list)  # what the server wrote unframed


class ServerPeer:
    """One ``hexad serve`` process and the thread that reads what it writes."""

    def __init__(
        self,
        root: Path | None,
        *,
        log: Path,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = ("serve",),
    ) -> None:
        """``args``: the command line after ``python -m hexad`` (``-vv serve`` …)."""
        self.root = root
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hexad", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=root or Path.cwd(),
            env={**os.environ, **(env or {})},
        )
        self.got = Received()
        # called on the reader thread for each notification: (method, params, when received)
        self.on_notification: Callable[[str, Any, float], None] | None = None
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._next = 0
        self._reader = threading.Thread(target=self._read, name="peer-reader", daemon=True)
        self._reader.start()

    # -- writing ---------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        with self._write_lock:
            try:
                stdin.write(data)
                stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise PeerError(f"the server closed its input: {self.describe()}") from exc

    def send_message(self, message: dict[str, Any]) -> None:
        self.send(frame(message))

    def new_id(self, prefix: str = "p") -> str:
        """A fresh id, always as long as the last (a fuzzer's draws depend on lengths, so
        ids of varying width would make the same choices draw different data)."""
        with self._cond:
            self._next += 1
            return f"{prefix}-{self._next:09d}"

    def call(self, method: str, params: Any = None, *, timeout: float = 60.0) -> dict[str, Any]:
        """Send a request and wait for its (one) response."""
        msg_id = self.new_id("call")
        self.send_message(request(msg_id, method, params))
        return self.wait_response(msg_id, timeout=timeout)

    # -- reading ---------------------------------------------------------------------------

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length: int | None = None
            while True:
                line = out.readline()
                if not line:
                    with self._cond:
                        self._cond.notify_all()
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                elif name.strip().lower() != "content-type":
                    self._bad(f"unexpected header line {line[:200]!r}")
            if length is None:
                self._bad("a frame without Content-Length")
                continue
            body = out.read(length)
            try:
                message = json.loads(body.decode("utf-8"))
            except ValueError as exc:
                self._bad(f"unreadable body ({exc}): {body[:200]!r}")
                continue
            self._dispatch(message)

    def _bad(self, what: str) -> None:
        with self._cond:
            self.got.bad_frames.append(what)
            self._cond.notify_all()

    def _dispatch(self, message: Any) -> None:
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            self._bad(f"not a JSON-RPC 2.0 message: {str(message)[:200]}")
            return
        method = message.get("method")
        if method is not None and "id" in message:  # the server asks the editor something
            with self._cond:
                self.got.server_requests[method] += 1
            self.send_message(
                {"jsonrpc": "2.0", "id": message["id"], "result": _answer(method, message)}
            )
            return
        if method is not None and self.on_notification is not None:
            self.on_notification(method, message.get("params"), time.monotonic())
        with self._cond:
            if method is not None:
                self.got.notifications[method] += 1
                if method == "hexad/indexed":
                    self.got.indexed += 1
            else:
                self.got.responses.setdefault(key(message.get("id")), []).append(message)
            self._cond.notify_all()

    # -- waiting ---------------------------------------------------------------------------

    def wait(self, predicate: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerError(f"timed out waiting for {what}: {self.describe()}")
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise PeerError(
                        f"the server exited while waiting for {what}: {self.describe()}"
                    )
                self._cond.wait(min(left, 0.5))

    def wait_response(self, msg_id: Any, *, timeout: float = 60.0) -> dict[str, Any]:
        k = key(msg_id)
        self.wait(lambda: k in self.got.responses, f"the answer to {k}", timeout)
        with self._cond:
            return self.got.responses[k][0]

    def wait_indexed(self, after: int = 0, timeout: float = 120.0) -> None:
        self.wait(lambda: self.got.indexed > after, "hexad/indexed", timeout)

    def responses_to(self, msg_id: Any) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.got.responses.get(key(msg_id), []))

    # -- lifecycle -------------------------------------------------------------------------

    def initialize(self, *, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        root_uri = uri_of(self.root) if self.root is not None else None
        caps = capabilities or {
            "window": {"workDoneProgress": True},
            "workspace": {"applyEdit": True, "workspaceEdit": {"documentChanges": True}},
            "textDocument": {"codeAction": {"resolveSupport": {"properties": ["edit"]}}},
        }
        answer = self.call(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root_uri,
                "capabilities": caps,
                "workspaceFolders": [{"uri": root_uri, "name": "ws"}] if root_uri else None,
            },
        )
        self.send_message(notification("initialized", {}))
        return answer

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """shutdown, exit; the exit status (killed if it does not go)."""
        if self.alive():
            try:
                self.call("shutdown", timeout=timeout)
                self.send_message(notification("exit"))
            except PeerError:
                pass
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.close()
        return code

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._reader.join(timeout=5)
        self._log.close()

    def describe(self) -> str:
        code = self.proc.poll()
        state = "running" if code is None else f"exited with {code}"
        try:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            tail = ""
        return f"server {state}; log tail:\n{tail}"


def _answer(method: str, message: dict[str, Any]) -> Any:
    if method == "workspace/applyEdit":
        return {"applied": False, "failureReason": "the fuzzing peer applies nothing"}
    if method == "workspace/configuration":
        items = (message.get("params") or {}).get("items") or []
        return [None for _ in items]
    return None  # progress/create, showMessageRequest (dismissed), showDocument …
