"""Protocol fuzzing of ``hexad serve``: hypothesis strategies for malformed and out-of-order
JSON-RPC over stdio, and the session that sends them and checks the answers.

Each fuzz *input* is a short sequence of frames of one kind: a request with wrong params
(for every request method and command the server registers), an unknown method, stray
notifications, a document's out-of-order life (changes before open, versions going
backwards, ranges past the end), a broken frame (bad Content-Length, no header, padding)
followed by a well-formed request, a broken body (invalid UTF-8, not JSON, not an object,
not JSON-RPC 2.0, ids of the wrong type), a huge parameter, or a cancellation storm.

What must hold, checked after every input and again at the end:

* the process stays up until ``exit``;
* every well-formed request gets exactly one response (a result, or an error with an
  integer code); a broken request gets at most one (under its id or a null id), and
  nothing answers an id that was never sent;
* after the storm, ordinary requests still answer as they did before it.

Used by ``tests/fuzz/test_protocol_fuzz.py`` (a few hundred inputs) and
``bench/reliability.py --fuzz-inputs N`` (as many as asked).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as use_seed
from hypothesis import strategies as st

from tests.fuzz.peer import ServerPeer, frame, key, notification, request, uri_of

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "exec_workspace"
REFERENCE = "inventory/stock.py"  # never named by the fuzzer: the after-storm check uses it
TOUCHED = ["inventory/pricing.py", "inventory/report.py", "tests/test_stock.py"]
LIFECYCLE = {"initialize", "initialized", "shutdown", "exit"}
SLOW_COMMANDS = {"hexad.reindex"}  # fine, but not hundreds of times

Expect = Literal["answer", "maybe"]


@dataclass(frozen=True)
class Sent:
    """One frame written to the server, and what it may be answered with."""

    data: bytes
    msg_id: Any = None  # the request's id (None: a notification or a broken frame)
    expect: Expect | None = None  # "answer": exactly one; "maybe": at most one
    malformed: bool = False  # may be answered under a null id, once


@dataclass
class Tally:
    inputs: int = 0
    frames: int = 0
    requests: int = 0
    malformed: int = 0
    bytes: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FuzzInput:
    kind: str
    frames: tuple[Sent, ...]

    def __repr__(self) -> str:  # what hypothesis prints for a failing input
        shown = [f.data[:300] for f in self.frames]
        return f"FuzzInput({self.kind!r}, {shown!r})"


# -- JSON values ---------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-1, max_value=40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from(["", "\x00", "🚚", "\r\n", "\u2028", "file:///", "../../etc/passwd"])
)
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutate(value: Any) -> st.SearchStrategy[Any]:
    """``value`` with one node (any depth) replaced by an arbitrary JSON value, or a key
    dropped: params that are almost right."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(value, ())

    def apply(path: tuple[Any, ...], new: Any, drop: bool) -> Any:
        if not path:
            return new
        copy = json.loads(json.dumps(value))
        parent = copy
        for step in path[:-1]:
            parent = parent[step]
        if drop and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
        return copy

    return st.builds(apply, st.sampled_from(paths), JSON, st.booleans())


# -- the workspace's vocabulary ------------------------------------------------------------


class Vocabulary:
    """URIs, positions and methods the strategies draw from, for one workspace root."""

    def __init__(self, root: Path) -> None:
        from hexad.lsp.features import COMMANDS, FEATURES

        self.root = root
        self.requests = sorted(
            {
                f.method
                for f in FEATURES
                if f.method not in LIFECYCLE
                and not f.method.startswith("textDocument/did")
                and f.method != "workspace/didChangeConfiguration"
            }
        )
        documents = {
            f.method for f in FEATURES if f.method.startswith(("textDocument/did", "workspace/"))
        }
        self.notifications = [
            *sorted(documents - set(self.requests)),
            *("$/cancelRequest", "$/setTrace", "$/progress", "initialized", "window/x"),
        ]
        self.commands = sorted(name for name, _ in COMMANDS if name not in SLOW_COMMANDS)
        self.uris = [uri_of(root / rel) for rel in TOUCHED] + [
            uri_of(root / "inventory" / "new_module.py"),
            uri_of(root / ".hexad" / "policies" / "fuzz.toml"),
            uri_of(root / "pyproject.toml"),
            "untitled:Untitled-1",
            "file:///etc/passwd",
            uri_of(root) + "/../../outside.py",
            uri_of(root) + "/inventory/%2e%2e/%2e%2e/x.py",
            uri_of(root) + "/a%00b.py",
            "file://",
            "not a uri",
            "",
        ]

    def uri(self) -> st.SearchStrategy[str]:
        return st.sampled_from(self.uris) | st.text(max_size=30)

    def position(self) -> st.SearchStrategy[dict[str, Any]]:
        number = st.integers(0, 40) | st.integers(-5, 2**31) | st.just(2**31 - 1)
        return st.fixed_dictionaries({"line": number, "character": number})

    def range(self) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({"start": self.position(), "end": self.position()})

    def params(self, method: str) -> st.SearchStrategy[Any]:
        """Well-shaped params for a request method (values may still be out of range)."""
        doc = st.fixed_dictionaries({"uri": self.uri()})
        at = st.fixed_dictionaries({"textDocument": doc, "position": self.position()})
        item = st.fixed_dictionaries(
            {
                "name": st.text(max_size=8),
                "kind": st.integers(1, 26),
                "uri": self.uri(),
                "range": self.range(),
                "selectionRange": self.range(),
                "data": JSON | st.fixed_dictionaries({"id": st.integers(-3, 400)}),
            }
        )
        table: dict[str, st.SearchStrategy[Any]] = {
            "textDocument/documentSymbol": st.fixed_dictionaries({"textDocument": doc}),
            "textDocument/codeLens": st.fixed_dictionaries({"textDocument": doc}),
            "workspace/symbol": st.fixed_dictionaries({"query": st.text(max_size=12)}),
            "textDocument/references": st.fixed_dictionaries(
                {
                    "textDocument": doc,
                    "position": self.position(),
                    "context": st.fixed_dictionaries({"includeDeclaration": st.booleans()}),
                }
            ),
            "callHierarchy/incomingCalls": st.fixed_dictionaries({"item": item}),
            "callHierarchy/outgoingCalls": st.fixed_dictionaries({"item": item}),
            "textDocument/codeAction": st.fixed_dictionaries(
                {
                    "textDocument": doc,
                    "range": self.range(),
                    "context": st.fixed_dictionaries(
                        {"diagnostics": st.just([])},
                        optional={"only": st.lists(st.sampled_from(["quickfix", "source"]))},
                    ),
                }
            ),
            "codeAction/resolve": st.fixed_dictionaries(
                {"title": st.text(max_size=10)},
                optional={
                    "data": JSON
                    | st.fixed_dictionaries(
                        {
                            "command": st.sampled_from(self.commands),
                            "arguments": st.lists(JSON, max_size=2),
                        }
                    )
                    | st.fixed_dictionaries(
                        {
                            "request": st.fixed_dictionaries(
                                {
                                    "kind": st.sampled_from(
                                        ["rename", "add_import", "inline", "nope", ""]
                                    )
                                },
                                optional={"path": st.text(max_size=12), "line": JSON},
                            )
                        }
                    )
                },
            ),
            "workspace/executeCommand": st.fixed_dictionaries(
                {
                    "command": st.sampled_from(self.commands) | st.text(max_size=12),
                    "arguments": st.lists(JSON, max_size=3),
                }
            ),
        }
        return table.get(method, at)


# -- fuzz inputs ---------------------------------------------------------------------------


class Inputs:
    """The strategies; each draws one :class:`FuzzInput`."""

    def __init__(self, vocab: Vocabulary, ids: Callable[[], str]) -> None:
        self.vocab = vocab
        self.ids = ids

    def request(self, method: str, params: Any, *, omit: bool = False) -> Sent:
        msg_id = self.ids()
        message = request(msg_id, method, None if omit else params)
        if not omit and params is None:
            message["params"] = None
        return Sent(frame(message), msg_id, "answer")

    def any(self) -> st.SearchStrategy[FuzzInput]:
        return st.one_of(
            self.wrong_params(),
            self.wrong_params(),
            self.unknown_method(),
            self.stray_notifications(),
            self.document_life(),
            self.broken_frame(),
            self.broken_body(),
            self.cancellation_storm(),
            self.large_param(),
        )

    def wrong_params(self) -> st.SearchStrategy[FuzzInput]:
        """A registered request method with params of any shape: a mutation of good
        params, arbitrary JSON, or none at all."""

        @st.composite
        def build(draw: st.DrawFn) -> FuzzInput:
            method = draw(st.sampled_from(self.vocab.requests))
            good = draw(self.vocab.params(method))
            how = draw(st.sampled_from(["good", "mutated", "mutated", "any", "omitted"]))
            if how == "good":
                params = good
            elif how == "mutated":
                params = draw(mutate(good))
            else:
                params = draw(JSON)
            return FuzzInput(
                f"params:{method}", (self.request(method, params, omit=how == "omitted"),)
            )

        return build()

    def unknown_method(self) -> st.SearchStrategy[FuzzInput]:
        known = set(self.vocab.requests) | set(self.vocab.notifications) | LIFECYCLE
        names = st.text(max_size=30) | st.sampled_from(
            ["$/unknown", "textDocument/unknown", "hexad/nope", "workspace/didNothing"]
        )

        @st.composite
        def build(draw: st.DrawFn) -> FuzzInput:
            method = draw(names.filter(lambda m: m not in known))
            params = draw(st.none() | JSON)
            if draw(st.booleans()):
                return FuzzInput("unknown-request", (self.request(method, params),))
            return FuzzInput("unknown-notification", (Sent(frame(notification(method, params))),))

        return build()

    def stray_notifications(self) -> st.SearchStrategy[FuzzInput]:
        @st.composite
        def build(draw: st.DrawFn) -> FuzzInput:
            sent = []
            for _ in range(draw(st.integers(1, 4))):
                method = draw(st.sampled_from(self.vocab.notifications))
                params = draw(JSON | st.fixed_dictionaries({"id": JSON}))
                sent.append(Sent(frame(notification(method, params))))
            return FuzzInput("notifications", tuple(sent))

        return build()

    def document_life(self) -> st.SearchStrategy[FuzzInput]:
        """open / change / save / close in any order, versions in any order, ranges
        anywhere, then documentSymbol and hover on the document."""
        texts = st.text(max_size=80) | st.sampled_from(
            ["def f(:\n", "class A:\n    def m(self): pass\n", "x = 1\r\ny = 2\r\n", "🚚" * 9]
        )

        @st.composite
        def build(draw: st.DrawFn) -> FuzzInput:
            uri = draw(st.sampled_from(self.vocab.uris))
            doc = {"uri": uri}
            sent: list[Sent] = []
            for _ in range(draw(st.integers(1, 6))):
                op = draw(st.sampled_from(["open", "change", "change", "save", "close"]))
                version = draw(st.integers(-3, 12))
                if op == "open":
                    item = {"uri": uri, "languageId": "python", "version": version}
                    item["text"] = draw(texts)
                    params: Any = {"textDocument": item}
                elif op == "change":
                    changes = draw(
                        st.lists(
                            st.fixed_dictionaries(
                                {"text": texts}, optional={"range": self.vocab.range()}
                            ),
                            max_size=3,
                        )
                    )
                    params = {
                        "textDocument": {**doc, "version": version},
                        "contentChanges": changes,
                    }
                else:
                    params = {"textDocument": doc}
                sent.append(Sent(frame(notification(f"textDocument/did{op.title()}", params))))
            sent.append(self.request("textDocument/documentSymbol", {"textDocument": doc}))
            position = draw(self.vocab.position())
            sent.append(
                self.request("textDocument/hover", {"textDocument": doc, "position": position})
            )
            if draw(st.booleans()):
                close = notification("textDocument/didClose", {"textDocument": doc})
                sent.append(Sent(frame(close)))
            return FuzzInput("document", tuple(sent))

        return build()

    def broken_frame(self) -> st.SearchStrategy[FuzzInput]:
        """A frame whose header is wrong, then a good request that must be answered (a
        broken frame must not take the frames after it down with it)."""

        @st.composite
        def build(draw: st.DrawFn) -> FuzzInput:
            bad = self.request("workspace/symbol", {"query": draw(st.text(max_size=6))})
            body = bad.data.split(b"\r\n\r\n", 1)[1]
            how = draw(
                st.sampled_from(
                    [
                        "not-a-number",
                        "negative",
                        "missing",
                        "too-short",
                        "too-long-padded",
                        "lowercase",
                        "extra-headers",
                        "blank-lines",
                        "garbage-before",
                        "zero",
                    ]
                )
            )
            maybe = Sent(b"", bad.msg_id, "maybe", malformed=True)
            if how == "not-a-number":
                data = b"Content-Length: " + draw(st.sampled_from([b"abc", b"1e3", b""])) + b"\r\n"
                data += b"\r\n" + body
            elif how == "negative":
                data = b"Content-Length: -%d\r\n\r\n" % len(body) + body
            elif how == "missing":
                data = b"\r\n" + body
            elif how == "too-short":
                cut = draw(st.integers(1, len(body) - 1))
                data = b"Content-Length: %d\r\n\r\n" % cut + body
            elif how == "too-long-padded":  # whitespace after the JSON: still one message
                pad = draw(st.integers(1, 64))
                data = b"Content-Length: %d\r\n\r\n" % (len(body) + pad) + body + b" " * pad
                maybe = Sent(b"", bad.msg_id, "answer")
            elif how == "lowercase":
                data = b"content-length: %d\r\n\r\n" % len(body) + body
                maybe = Sent(b"", bad.msg_id, "answer")
            elif how == "extra-headers":
                data = (
                    b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
                    + b"X-Fuzz: %d\r\n" % draw(st.integers(0, 9))
                    + b"Content-Length: %d\r\n\r\n" % len(body)
                    + body
                )
                maybe = Sent(b"", bad.msg_id, "answer")
            elif how == "blank-lines":
                data = b"\r\n\r\n" + frame(body)
                maybe = Sent(b"", bad.msg_id, "answer")
            elif how == "garbage-before":
                data = draw(st.binary(max_size=20).filter(lambda b: b"\n" not in b)) + frame(body)
                maybe = Sent(b"", bad.msg_id, "answer")
            else:  # zero: an empty body, then the request's body as stray bytes
                data = b"Content-Length: 0\r\n\r\n" + body
            probe = self.request("workspace/symbol", {"query": "restock"})
            sent = Sent(data, maybe.msg_id, maybe.expect, malformed=maybe.malformed)
            return FuzzInput(f"frame:{how}", (sent, probe))

        return build()

    def broken_body(self) -> st.SearchStrategy[FuzzInput]:
        """Well-framed bodies that are not UTF-8, not JSON, not an object, or not a
        JSON-RPC 2.0 request."""

        @st.composite
        def build(draw: st.DrawFn) -> FuzzInput:
            msg_id = self.ids()
            good = json.dumps(request(msg_id, "workspace/symbol", {"query": "total"})).encode()
            how = draw(
                st.sampled_from(
                    [
                        "invalid-utf8",
                        "not-json",
                        "truncated",
                        "not-an-object",
                        "batch",
                        "no-jsonrpc",
                        "old-jsonrpc",
                        "method-not-string",
                        "id-wrong-type",
                        "deep",
                    ]
                )
            )
            expect: Expect = "maybe"
            reply_id: Any = msg_id
            if how == "invalid-utf8":
                at = draw(st.integers(0, len(good)))
                junk = draw(
                    st.binary(min_size=1, max_size=4).map(lambda b: bytes(0x80 | c for c in b))
                )
                body = good[:at] + junk + good[at:]
                if _decodes(body):  # high bytes can form a valid sequence (b"\xdb\x88" is one)
                    body = good[:at] + b"\xff" + junk + good[at:]  # 0xFF never is
            elif how == "not-json":
                body = draw(st.binary(max_size=40).filter(lambda b: not _is_json(b)))
            elif how == "truncated":
                body = good[: draw(st.integers(1, len(good) - 1))]
            elif how == "not-an-object":
                body = json.dumps(draw(JSON.filter(lambda v: not isinstance(v, dict)))).encode()
            elif how == "batch":
                body = json.dumps([json.loads(good), json.loads(good)]).encode()
            elif how == "no-jsonrpc":
                body = json.dumps({"id": msg_id, "method": "workspace/symbol"}).encode()
                expect = "answer"
            elif how == "old-jsonrpc":
                version = draw(st.sampled_from(["1.0", 2, None, "2"]))
                body = json.dumps({"jsonrpc": version, "id": msg_id, "method": "hover"}).encode()
                expect = "answer"
            elif how == "method-not-string":
                method = draw(JSON.filter(lambda v: not isinstance(v, str)))
                body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method}).encode()
                expect = "answer"
            elif how == "id-wrong-type":
                reply_id = draw(
                    JSON.filter(lambda v: v is None or isinstance(v, bool | float | list | dict))
                )
                body = json.dumps(request(reply_id, "workspace/symbol", {"query": "x"})).encode()
            else:  # nested deeper than the JSON decoder goes
                depth = draw(st.integers(50, 200_000))
                body = b'{"jsonrpc":"2.0","id":"%s","method":"workspace/symbol","params":' % (
                    msg_id.encode()
                )
                body += b"[" * depth + b"]" * depth + b"}"
            sent = Sent(frame(body), reply_id, expect, malformed=True)
            probe = self.request("workspace/symbol", {"query": "restock"})
            return FuzzInput(f"body:{how}", (sent, probe))

        return build()

    def cancellation_storm(self) -> st.SearchStrategy[FuzzInput]:
        """Requests in flight, cancelled (some several times, some never), among cancels
        for ids that are no request's."""

        @st.composite
        def build(draw: st.DrawFn) -> FuzzInput:
            sent: list[Sent] = []
            pending: list[Any] = []
            for _ in range(draw(st.integers(1, 25))):
                method = draw(
                    st.sampled_from(
                        [
                            "textDocument/references",
                            "textDocument/hover",
                            "textDocument/documentSymbol",
                            "workspace/symbol",
                            "textDocument/definition",
                            "textDocument/codeAction",
                        ]
                    )
                )
                one = self.request(method, draw(self.vocab.params(method)))
                sent.append(one)
                pending.append(one.msg_id)
                for _ in range(draw(st.integers(0, 3))):
                    target = draw(
                        st.sampled_from(pending) | JSON | st.integers() | st.text(max_size=6)
                    )
                    sent.append(Sent(frame(notification("$/cancelRequest", {"id": target}))))
            for msg_id in draw(st.lists(st.sampled_from(pending), max_size=len(pending))):
                sent.append(Sent(frame(notification("$/cancelRequest", {"id": msg_id}))))
            return FuzzInput("cancel-storm", tuple(sent))

        return build()

    def large_param(self) -> st.SearchStrategy[FuzzInput]:
        @st.composite
        def build(draw: st.DrawFn) -> FuzzInput:
            size = draw(st.integers(10_000, 400_000))
            filler = draw(st.sampled_from(["a", "é", "🚚", "x\n"])) * (size // 4)
            method = draw(st.sampled_from(["workspace/symbol", "textDocument/hover", "hexad/x"]))
            if method == "workspace/symbol":
                params: Any = {"query": filler}
            else:
                params = {
                    "textDocument": {"uri": self.vocab.uris[0] + filler[:5000]},
                    "position": {"line": 0, "character": 0},
                    "padding": filler,
                }
            return FuzzInput("large", (self.request(method, params),))

        return build()


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


# -- the session -----------------------------------------------------------------------------


class Violation(AssertionError):
    pass


class FuzzSession:
    """One server on a copy of the exec fixture, the inputs sent to it, and the checks."""

    def __init__(self, folder: Path, *, initialize: bool = True) -> None:
        self.root = (folder / "ws").resolve()
        shutil.copytree(FIXTURE, self.root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
        self.peer = ServerPeer(self.root, log=folder / "server.log")
        self.tally = Tally()
        self.sent: list[Sent] = []
        self.sent_in: dict[str, str] = {}  # request id (as JSON) → the phase it was sent in
        self.phase: Literal["before", "running", "after"] = "before"
        self.vocab = Vocabulary(self.root)
        self.inputs = Inputs(self.vocab, lambda: self.peer.new_id("fz"))
        self.baseline: tuple[Any, Any] | None = None
        if initialize:
            self.start()

    def start(self) -> None:
        answer = self.peer.initialize()
        if "result" not in answer:
            raise Violation(f"initialize failed: {answer}")
        self.phase = "running"
        self.peer.wait_indexed()
        self.baseline = self.reference_answers()

    def reference_answers(self) -> tuple[Any, Any]:
        """documentSymbol and hover on a file the fuzzer never names."""
        doc = {"uri": uri_of(self.root / REFERENCE)}
        symbols = self.peer.call("textDocument/documentSymbol", {"textDocument": doc})
        hover = self.peer.call(
            "textDocument/hover",
            {"textDocument": doc, "position": {"line": 18, "character": 5}},  # restock
        )
        return symbols.get("result"), hover.get("result")

    # -- sending -------------------------------------------------------------------------

    def run(self, one: FuzzInput) -> None:
        """Send one input, then wait until everything it asked has been answered."""
        self.tally.inputs += 1
        self.tally.kinds[one.kind.split(":")[0]] = (
            self.tally.kinds.get(one.kind.split(":")[0], 0) + 1
        )
        for sent in one.frames:
            if sent.data:
                self.peer.send(sent.data)
                self.tally.frames += 1
                self.tally.bytes += len(sent.data)
            self.tally.requests += sent.expect is not None
            self.tally.malformed += sent.malformed
            self.sent.append(sent)
            if sent.expect is not None:
                self.sent_in[key(sent.msg_id)] = self.phase
        for sent in one.frames:
            if sent.expect == "answer":
                self.peer.wait_response(sent.msg_id, timeout=120)
        if not self.peer.alive():
            raise Violation(f"the server died on {one!r}: {self.peer.describe()}")
        self.check(one)

    def track(self, msg_id: Any) -> None:
        """A request sent straight through the peer that must be answered exactly once
        (the checks then count it like the fuzzer's own)."""
        self.sent.append(Sent(b"", msg_id, "answer"))
        self.sent_in[key(msg_id)] = self.phase

    def check(self, one: FuzzInput | None = None) -> None:
        """Every answer so far: one per request, well-formed, and none unasked for."""
        where = f" (after {one!r})" if one is not None else ""
        got = self.peer.got
        if got.bad_frames:
            raise Violation(f"the server wrote unframed output{where}: {got.bad_frames[:3]}")
        sent_keys: dict[str, Sent] = {}
        for sent in self.sent:
            if sent.expect is not None:
                sent_keys[key(sent.msg_id)] = sent
        nulls = 0
        for k, answers in list(got.responses.items()):
            for answer in answers:
                _well_formed(answer, where)
            sent = sent_keys.get(k)
            if k == "null":
                nulls += len(answers)
                continue
            if sent is None:
                if k.startswith('"call-'):  # the session's own requests
                    continue
                raise Violation(f"an answer to {k}, which was never asked{where}: {answers}")
            if len(answers) > 1:
                raise Violation(f"{len(answers)} answers to {k}{where}: {answers}")
            phase = self.sent_in.get(k)
            if phase != "running" and "result" in answers[0]:
                raise Violation(f"a result to {k}, sent {phase} the session{where}: {answers}")
        malformed = sum(s.malformed for s in self.sent)
        if nulls > malformed:
            raise Violation(f"{nulls} null-id answers for {malformed} malformed frames{where}")
        for k, sent in sent_keys.items():
            if sent.expect == "answer" and k not in got.responses:
                raise Violation(f"no answer to {k}{where}")

    def fuzz(self, examples: int, *, seed: int | None = None) -> None:
        """Draw and send ``examples`` inputs (hypothesis, generation only: the server is
        stateful, so shrinking would not replay faithfully)."""

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=False,  # the seed decides: fixed in the suite, or drawn anew
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(self.inputs.any())
        def one(drawn: FuzzInput) -> None:
            self.run(drawn)

        (use_seed(seed)(one) if seed is not None else one)()

    # -- the end -------------------------------------------------------------------------

    def after_storm(self) -> None:
        """Documents the fuzzer opened are closed; ordinary requests answer as before."""
        for uri in self.vocab.uris:
            self.peer.send(
                frame(notification("textDocument/didClose", {"textDocument": {"uri": uri}}))
            )
        # the disk takes over from the closed buffers in a refresh; one asked for now runs
        # after those (the index thread takes its jobs in order) and answers when done
        done = self.peer.call(
            "workspace/executeCommand", {"command": "hexad.reindex", "arguments": []}, timeout=120
        )
        if "result" not in done:
            raise Violation(f"hexad.reindex failed after the storm: {done}")
        if self.reference_answers() != self.baseline:
            raise Violation(
                f"answers changed after the storm: {self.reference_answers()} != {self.baseline}"
            )
        self.check()

    def shut_down(self, examples: int = 0) -> int:
        """shutdown, then more inputs (all refused, the process staying up), then exit;
        the exit status."""
        answer = self.peer.call("shutdown")
        if "error" in answer:
            raise Violation(f"shutdown failed: {answer}")
        self.phase = "after"
        if examples:
            self.fuzz(examples)
        if not self.peer.alive():
            raise Violation(f"the server exited before exit: {self.peer.describe()}")
        self.check()
        self.peer.send(frame(notification("exit")))
        try:
            code = self.peer.proc.wait(timeout=30)
        finally:
            self.peer.close()
        return code

    def close(self) -> None:
        self.peer.close()


def _well_formed(answer: dict[str, Any], where: str) -> None:
    has_result, has_error = "result" in answer, "error" in answer
    if has_result == has_error:
        raise Violation(f"a response needs a result or an error, not both or neither{where}")
    if has_error:
        error = answer["error"]
        if not (
            isinstance(error, dict)
            and isinstance(error.get("code"), int)
            and isinstance(error.get("message"), str)
        ):
            raise Violation(f"an error without an integer code and a message{where}: {answer}")
