"""The Hexad language server: state, lifecycle, and registration from the feature table."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import threading
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, BinaryIO

from cattrs.errors import ClassValidationError
from cattrs.v import transform_error
from lsprotocol import types
from pygls.exceptions import (
    FeatureNotificationError,
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
    JsonRpcServerNotInitialized,
)
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path

from hexad import __version__
from hexad.core.db import clear_recovery_notice, connect, database_path, recovery_notice
from hexad.core.secrets import guard_handler
from hexad.core.settings import Settings, parse_settings
from hexad.execution.models import ModelService, open_model_service
from hexad.execution.proposals import ProposalService
from hexad.governance import open_engine
from hexad.inference.base import CancelToken
from hexad.lsp.convert import Converter
from hexad.lsp.memory import MemoryWorker
from hexad.lsp.policies import PolicyDocuments
from hexad.lsp.stdio import BufferedStdin
from hexad.perception.live import LiveIndex
from hexad.perception.navigation import Navigator

log = logging.getLogger(__name__)

_ANSWERED = object()  # a message already dealt with while it was being read
# A header line that ends a Content-Length header; whatever precedes it on the line is the
# tail of a frame whose length was wrong, and reading starts again here.
_CONTENT_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?\n?\Z", re.I)
MAX_MESSAGE_BYTES = 512 * 1024 * 1024  # a longer body is read, dropped and answered as such
_CHUNK = 1 << 20
# The id of the request being dispatched: tasks a handler starts inherit it, so a long
# command can register a CancelToken under its id (pygls cancels only the outer future of
# workspace/executeCommand, never the command's own coroutine).
REQUEST_ID: ContextVar[str | int | None] = ContextVar("hexad_request_id", default=None)


class HexadProtocol(LanguageServerProtocol):
    """pygls's protocol, except that every request gets exactly one answer, whatever
    arrives: a request whose params cannot be read, whose envelope is broken (not JSON,
    not UTF-8, not JSON-RPC 2.0, an id that is not a number or a string), that comes
    before ``initialize``, after ``shutdown``, or is a second ``initialize``, is answered
    with an error (pygls only logs them, and the client would wait for ever); and a
    message may leave its params out."""

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self.initialize_seen = False
        self._notifications = 0
        self._after: dict[str | int, list[tuple[Callable[..., Any], tuple[Any, ...]]]] = {}
        self._after_lock = threading.Lock()

    # -- answering ---------------------------------------------------------------------

    def after_answer(self, msg_id: str | int, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop right after request ``msg_id`` is answered
        (from any thread), once however often it is asked for: what it sends (diagnostics)
        then follows the answer on the wire."""
        with self._after_lock:
            pending = self._after.setdefault(msg_id, [])
            if (callback, args) not in pending:
                pending.append((callback, args))

    def _send_response(
        self, msg_id: Any, result: Any | None = None, error: Any | None = None
    ) -> None:
        super()._send_response(msg_id, result=result, error=error)
        with self._after_lock:
            callbacks = self._after.pop(msg_id, []) if msg_id is not None else []
        for callback, args in callbacks:
            try:
                callback(*args)
            except Exception:  # what follows an answer must not take the server down
                log.exception("after answering request %s", msg_id)

    # -- reading bodies (the frames come from read_frames) -----------------------------

    def receive(self, body: bytes) -> None:
        """Handle one message body as it came off the wire."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            # answer with the request's id where the rest of the message says it
            guess = _id_of(_loads(body.decode("utf-8", "replace")))
            if isinstance(guess, str) and "\ufffd" in guess:
                guess = None  # the broken bytes are in the id itself: it cannot be told
            self._reject(guess, JsonRpcParseError(f"the message is not UTF-8: {exc}"))
            return
        data = _loads(text)
        if data is _UNREADABLE:
            self._reject(None, JsonRpcParseError("the message is not JSON"))
            return
        if not isinstance(data, dict):
            self._reject(None, JsonRpcInvalidRequest("a message must be one JSON object"))
            return
        problem = _envelope_problem(data)
        if problem is not None:
            if "method" in data and "id" in data:  # a request: it is waiting for an answer
                self._reject(_id_of(data), JsonRpcInvalidRequest(problem))
            else:
                log.warning("dropped a message: %s", problem)
            return
        message = self.structure_message(data)  # the top level only: params stay data
        self.handle_message(message)

    def _reject(self, msg_id: Any, error: JsonRpcException) -> None:
        log.warning("%s (request %s)", error.message, msg_id)
        if msg_id is None:
            # JSON-RPC: an error whose request cannot be told has a null id
            error_json = {"code": error.code, "message": error.message}
            self._send_data({"jsonrpc": "2.0", "id": None, "error": error_json})
        else:
            self._send_response(msg_id, error=error.to_response_error())

    def structure_message(self, data: dict[str, Any]) -> Any:
        if "method" in data and "params" not in data:
            data = {**data, "params": None}  # JSON-RPC allows it; pygls's fallback types do not
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" not in data or "method" not in data:
                raise  # a notification or a response: nobody waits for an answer
            cause = exc.__cause__
            if isinstance(exc, JsonRpcInvalidParams) and isinstance(cause, ClassValidationError):
                problems = "; ".join(transform_error(cause, path="$")[:5])
                exc = JsonRpcInvalidParams(f"invalid params for {data['method']}: {problems}")
            log.warning("%s (request %s)", exc.message, data["id"])
            self._send_response(data["id"], error=exc.to_response_error())
            return _ANSWERED

    def handle_message(self, message: Any) -> None:
        if message is _ANSWERED:
            return
        method = getattr(message, "method", None)
        is_request = isinstance(method, str) and getattr(message, "id", None) is not None
        if is_request:
            error = self._lifecycle_error(str(method))
            if error is not None:
                self._reject(message.id, error)
                return
            if method == types.INITIALIZE:
                self.initialize_seen = True
        elif method is not None and not self.initialize_seen and method != types.EXIT:
            log.warning("dropped %s: it came before initialize", method)
            return
        token = REQUEST_ID.set(getattr(message, "id", None) if is_request else None)
        try:
            super().handle_message(message)
        finally:
            REQUEST_ID.reset(token)

    def _lifecycle_error(self, method: str) -> JsonRpcException | None:
        if method == types.INITIALIZE and self.initialize_seen:
            return JsonRpcInvalidRequest("the server is already initialized")
        if method != types.INITIALIZE and not self.initialize_seen:
            return JsonRpcServerNotInitialized(f"{method} before initialize")
        if self._shutdown:
            return JsonRpcInvalidRequest(f"{method} after shutdown")
        return None

    # -- documents: pygls keeps only those Hexad reads through it (policy files) --------

    def _keeps_text(self, uri: str) -> bool:
        """Whether pygls's own copy of a document is needed: the live index holds every
        other buffer, and updating a second copy cost more per keystroke than the rest."""
        server = self._server
        policies = getattr(server, "policies", None)
        if policies is None or not uri.startswith("file:"):
            return False
        fs_path = to_fs_path(uri)
        return fs_path is not None and bool(policies.owns(fs_path))

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Any:
        if self._keeps_text(params.text_document.uri):
            self.workspace.put_text_document(params.text_document)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        self._keep_changes(params)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    def _keep_changes(self, params: types.DidChangeTextDocumentParams) -> None:
        if self._keeps_text(params.text_document.uri):
            for change in params.content_changes:
                self.workspace.update_text_document(params.text_document, change)

    def _handle_notification(self, method_name: str, params: Any) -> None:
        """pygls's, except that didChange — a thousand a second while someone types —
        goes straight to its handler: pygls takes a generator round and two ``uuid4()``
        per notification, and each ``uuid4`` reads ``os.urandom`` (a sixth of what a
        keystroke cost). Errors are reported as pygls reports them."""
        if method_name != types.TEXT_DOCUMENT_DID_CHANGE or not self.initialize_seen:
            super()._handle_notification(method_name, params)
            return
        try:
            self._keep_changes(params)
            handler = self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)
            if handler is not None:
                self._notifications += 1
                self._execute_handler(
                    f"notification-{self._notifications}",
                    handler,
                    args=(params,),
                    callback=self._check_handler_result,
                )
        except Exception as error:
            log.exception("Failed to handle notification %r", method_name)
            self._server._report_server_error(error, FeatureNotificationError)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        if not _valid_id(msg_id):
            log.warning("$/cancelRequest with an id that is no request's: %r", msg_id)
            return
        server = self._server
        if isinstance(server, HexadServer):
            cancel = server.cancel_tokens.pop(msg_id, None)
            if cancel is not None:
                cancel.cancel()
        super()._handle_cancel_notification(msg_id)


_UNREADABLE = object()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _UNREADABLE


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _id_of(data: Any) -> Any:
    """The id a broken request asks to be answered under, if it is a usable one."""
    if isinstance(data, dict) and _valid_id(data.get("id")):
        return data["id"]
    return None


def _envelope_problem(data: dict[str, Any]) -> str | None:
    if data.get("jsonrpc") != "2.0":
        return "not a JSON-RPC 2.0 message (jsonrpc must be '2.0')"
    if "method" in data and not isinstance(data["method"], str):
        return "method must be a string"
    if "id" in data and "method" in data and not _valid_id(data["id"]):
        return "a request's id must be a number or a string"
    return None


async def read_frames(stop: threading.Event, reader: Any, protocol: HexadProtocol) -> None:
    """pygls's message loop, made to survive what a broken client writes: a frame with a
    missing, wrong or unreadable Content-Length costs that frame only (reading starts
    again at the next Content-Length header), and a body that cannot be read is answered
    with an error rather than only logged."""
    length: int | None = None
    while not stop.is_set():
        line: bytes = await reader.readline()
        if not line:
            break
        found = _CONTENT_LENGTH.search(line)
        if found is not None:
            if found.start() > 0 or length is not None:
                log.warning("dropped %d bytes of a malformed frame", found.start())
            length = int(found.group(1))
            continue
        if line.strip():  # another header (Content-Type), or the rest of a broken frame
            continue
        if length is None:  # a blank line with no length before it: nothing to read
            continue
        size, length = length, None
        if size > MAX_MESSAGE_BYTES:
            while size > 0:  # skipped without holding it
                chunk: bytes = await reader.readexactly(min(size, _CHUNK))
                if not chunk:
                    return
                size -= len(chunk)
            protocol._reject(None, JsonRpcInvalidRequest("the message is too large"))
            continue
        body: bytes = await reader.readexactly(size) if size else b""
        if size and not body:
            break
        try:
            protocol.receive(body)
        except Exception:
            log.exception("cannot handle a message")


class HexadServer(LanguageServer):
    """One workspace per server; the index lives in ``live``, navigation in ``navigator``."""

    def __init__(self) -> None:
        super().__init__(
            "hexad",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=HexadProtocol,
        )
        self.settings = Settings()
        self.root: Path | None = None
        self.live: LiveIndex | None = None
        self.navigator: Navigator | None = None
        self.converter: Converter | None = None
        self.policies: PolicyDocuments | None = None
        self.memory: MemoryWorker | None = None
        self._models: ModelService | None = None
        self.proposals: ProposalService | None = None
        self.proposal_uris: set[str] = set()
        self.cancel_tokens: dict[str | int, CancelToken] = {}  # by request id
        self.loop: asyncio.AbstractEventLoop | None = None
        self._progress_token: str | None = None
        self._progress_supported = False
        self._log_file: str | None = None

    # -- lifecycle -------------------------------------------------------------

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve on stdin/stdout as pygls does, through :func:`read_frames`."""
        stop = self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        protocol = self.protocol
        assert isinstance(protocol, HexadProtocol)

        async def serve() -> None:
            reader = BufferedStdin(stdin or sys.stdin.buffer, asyncio.get_running_loop())
            await read_frames(stop, reader, protocol)

        try:
            asyncio.run(serve())
        except BrokenPipeError:
            log.error("the connection to the client is lost; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()  # type: ignore[no-untyped-call]

    def configure(self, raw: Any) -> None:
        settings, problems = parse_settings(raw)
        if self._models is not None and settings.models != self.settings.models:
            self._close_models()
        self.settings = settings
        logging.getLogger("hexad").setLevel(settings.log_level.upper())
        if settings.log_file and settings.log_file != self._log_file:
            try:
                handler = logging.FileHandler(settings.log_file, encoding="utf-8")
            except OSError as exc:
                problems.append(f"setting log_file: cannot open {settings.log_file}: {exc}")
            else:
                handler.setFormatter(
                    logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
                )
                logging.getLogger().addHandler(guard_handler(handler))
                self._log_file = settings.log_file
        if self.navigator is not None:
            self.navigator.use_jedi = settings.jedi
        if problems:
            for problem in problems:
                log.warning("%s", problem)
            first = problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            self.window_show_message(
                types.ShowMessageParams(types.MessageType.Warning, f"Hexad: {first}")
            )

    def start_workspace(self, params: types.InitializeParams) -> None:
        uri = params.root_uri
        if uri is None and params.workspace_folders:
            uri = params.workspace_folders[0].uri
        fs_path = to_fs_path(uri) if uri else params.root_path
        if not fs_path or not Path(fs_path).is_dir():
            log.warning("no workspace folder: navigation answers only for open files")
            return
        self.root = Path(fs_path).resolve()
        capabilities = params.capabilities
        self._progress_supported = bool(
            capabilities.window and capabilities.window.work_done_progress
        )

    def open_index(self) -> None:
        """Create the live index and start the first refresh (called once initialized)."""
        if self.root is None or self.live is not None:
            return
        self.loop = asyncio.get_running_loop()
        live = LiveIndex(
            self.root,
            workers=self.settings.index.workers,
            debounce=self.settings.index.debounce_ms / 1000,
            listener=self._on_index_event,
        )
        self.live = live
        negotiated = self.workspace.position_encoding or types.PositionEncodingKind.Utf16
        # the enum's value ("utf-16"), not str() of it ("PositionEncodingKind.Utf16")
        encoding = str(getattr(negotiated, "value", negotiated))
        self.converter = Converter(self.root, encoding, live.line)
        self.navigator = Navigator(
            self.root, live.reader, live.line, live.text, use_jedi=self.settings.jedi
        )
        self.policies = PolicyDocuments(self.root, encoding)
        for problem in (i for issues in self.policies.store.issues.values() for i in issues):
            log.warning("policy: %s", problem.format())
        self._tell_recovery()
        self.memory = self._open_memory()
        first = live.refresh()
        if self.settings.index.watch:
            # Watch once the first index is in: its bulk writes would only flood the
            # watcher. A second (warm, cheap) refresh catches what changed meanwhile.
            first.add_done_callback(lambda _f: self._start_watching(live))

    def model_service(self) -> ModelService | None:
        """Model calls under the workspace's governance, built on first use from the
        ``models`` setting (rebuilt when the settings change)."""
        if self.root is None:
            return None
        if self._models is None:
            self._models = open_model_service(open_engine(self.root), self.settings.models)
        return self._models

    def _tell_recovery(self) -> None:
        """A corrupt or foreign database was moved aside: say so once, as a warning."""
        if self.root is None:
            return
        conn = connect(database_path(self.root), migrate=False)
        try:
            notice = recovery_notice(conn)
            if notice is not None:
                self.window_show_message(
                    types.ShowMessageParams(types.MessageType.Warning, f"Hexad: {notice}")
                )
                clear_recovery_notice(conn)
        finally:
            conn.close()

    def _open_memory(self) -> MemoryWorker | None:
        if self.root is None or not self.settings.memory.enabled:
            return None
        embedder = None
        if self.settings.memory.embed_model:
            from hexad.inference.embedding import LlamaEmbedder

            model = Path(self.settings.memory.embed_model).expanduser()
            if model.is_file():
                embedder = LlamaEmbedder(model)
            else:
                message = (
                    f"Hexad: memory.embed_model {model} does not exist; using the "
                    "workspace's own embedding"
                )
                log.warning("%s", message)
                self.window_show_message(
                    types.ShowMessageParams(types.MessageType.Warning, message)
                )
        return MemoryWorker(self.root, embedder, self._on_memory_event)

    def _on_memory_event(self, event: str, data: dict[str, Any]) -> None:
        self._on_index_event(f"memory.{event}", data)

    def _start_watching(self, live: LiveIndex) -> None:
        try:
            live.watch()
        except OSError as exc:  # inotify limits, unsupported file systems
            log.warning("cannot watch %s for changes: %s", live.root, exc)
            return
        live.refresh()

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback`` on the event loop (from any thread)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def after_answer(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback`` on the event loop once the request being handled has been
        answered (from any thread; outside a request, as soon as the loop can). Clients
        such as VS Code re-query code actions when diagnostics change, and drop a resolved
        action whose set changed while resolve was in flight: what a request changes is
        published after its answer."""
        request_id = REQUEST_ID.get()
        if request_id is None:
            self.call_soon(callback, *args)
            return
        protocol = self.protocol
        assert isinstance(protocol, HexadProtocol)
        protocol.after_answer(request_id, callback, *args)

    def close(self) -> None:
        if self.proposals is not None:
            self.proposals.close()
            self.proposals = None
        if self.live is not None:
            self.live.close_all()
            self.live = None
        if self.memory is not None:
            self.memory.close()
            self.memory = None
        self._close_models()

    def _close_models(self) -> None:
        service, self._models = self._models, None
        if service is not None:
            for backend in service.backends.values():
                backend.close()
            service.engine.close()

    def _refresh_proposals(self) -> None:
        """Files changed on disk: proposals computed on their old text go stale."""
        if self.proposals is not None:
            from hexad.lsp.proposals import refresh  # the feature module imports this one

            refresh(self, None)

    # -- index events (from the writer thread) ---------------------------------

    def _on_index_event(self, event: str, data: dict[str, Any]) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._handle_index_event, event, data)

    def _handle_index_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "indexing" and self._progress_supported and self._progress_token is None:
            token = self._progress_token = f"hexad-index-{uuid.uuid4().hex[:8]}"
            self.work_done_progress.create(token)
            self.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title="Hexad: indexing", percentage=0)
            )
        elif event == "progress" and self._progress_token is not None:
            done, total = data["done"], data["total"]
            pct = int(100 * done / total) if total else 100
            self.work_done_progress.report(
                self._progress_token,
                types.WorkDoneProgressReport(message=f"{done}/{total} files", percentage=pct),
            )
        elif event == "indexed":
            if self.converter is not None:
                self.converter.forget_paths()  # links may have changed with the files
            summary = data["summary"]
            if self._progress_token is not None:
                self.work_done_progress.end(
                    self._progress_token,
                    types.WorkDoneProgressEnd(
                        message=f"{summary.files} files, {summary.symbols} symbols "
                        f"in {summary.seconds:.1f} s"
                    ),
                )
                self._progress_token = None
            stats = {"files": summary.files, "symbols": summary.symbols}
            self.protocol.notify("hexad/indexed", {**stats, "seconds": round(summary.seconds, 3)})
            if self.memory is not None:
                self.memory.request_sync()
            self._refresh_proposals()
        elif event == "memory.synced":
            self.protocol.notify("hexad/memorySynced", data)
        elif event == "memory.error":
            self.window_show_message(
                types.ShowMessageParams(types.MessageType.Warning, data["message"])
            )
        elif event == "document":
            self.protocol.notify("hexad/documentIndexed", data)
        elif event == "error":
            self.window_show_message(
                types.ShowMessageParams(types.MessageType.Error, data["message"])
            )


def build_server() -> HexadServer:
    from hexad.lsp.features import register

    server = HexadServer()
    register(server)
    return server
