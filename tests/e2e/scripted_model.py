"""A scripted OpenAI-compatible model server on loopback, for end-to-end tests that need a
model answering exactly what the test says (a body with a typo, say).

It speaks the part of the protocol Hexad's HTTP backend uses: ``POST /v1/chat/completions``
and ``/v1/completions`` streamed as server-sent events with per-token log-probabilities and
a final ``usage`` chunk. Every request body is kept, so a test can check what was asked.
The server is real HTTP on a real socket; only the answers are scripted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = Callable[[dict[str, Any]], str]


class ScriptedModelServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.endswith(("/chat/completions", "/completions")):
                    self.send_error(404, "unknown endpoint")
                    return
                owner.requests.append(body)
                answer = owner.script(body)
                chunks = list(_events(answer, chat="messages" in body))
                payload = b"".join(chunks)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def scripted_model(script: Script) -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer(script)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _events(answer: str, chat: bool) -> Iterator[bytes]:
    """The answer streamed a line at a time, each piece one token of log-probability -0.05."""
    pieces = answer.splitlines(keepends=True) or [answer]
    for piece in pieces:
        if chat:
            entry = {"token": piece, "logprob": -0.05, "top_logprobs": []}
            choice = {
                "index": 0,
                "delta": {"content": piece},
                "logprobs": {"content": [entry]},
                "finish_reason": None,
            }
            yield _event({"object": "chat.completion.chunk", "choices": [choice]})
        else:
            logprobs = {"tokens": [piece], "token_logprobs": [-0.05], "top_logprobs": [{}]}
            choice = {"index": 0, "text": piece, "logprobs": logprobs, "finish_reason": None}
            yield _event({"object": "text_completion", "choices": [choice]})
    last = {"index": 0, "finish_reason": "stop"}
    if chat:
        last["delta"] = {}
    else:
        last["text"] = ""
    yield _event({"object": "chat.completion.chunk", "choices": [last]})
    usage = {"prompt_tokens": 100, "completion_tokens": len(pieces)}
    yield _event({"object": "chat.completion.chunk", "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"
