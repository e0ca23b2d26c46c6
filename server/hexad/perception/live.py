"""The index kept live for a language server: open buffers, the disk, and readers.

One writer thread owns every write. Edits to open buffers are applied to their text and
to their tree-sitter tree at once (cheap), then the writer reparses incrementally,
extracts, and replaces that file's rows, re-resolving only what the edit can affect —
the index always reflects unsaved text. Changes on disk (a git checkout, a generator,
another editor) arrive through watchdog, are debounced, and trigger a warm refresh
that leaves open buffers alone. Readers get their own connection per thread; WAL lets
them read committed data while the writer works, so requests are answered from what is
ready even during the first indexing.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tree_sitter import Parser, Point, Tree

from hexad.core.db import Connection, connect, database_path, transaction
from hexad.core.hashing import content_hash
from hexad.core.text import UTF8, bytes_from_units
from hexad.perception.extract import extract
from hexad.perception.facts import FileFacts
from hexad.perception.files import MAX_FILE_BYTES, SKIPPED_DIRS, IgnoreMatcher
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer, IndexSummary
from hexad.perception.language import LanguageRegistry, LanguageSpec, default_registry
from hexad.perception.modules import module_name
from hexad.perception.resolve import Resolver, resolve_all
from hexad.perception.store import FactWriter

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]
_NEWLINE = 0x0A
MAX_PASS_PAUSE = 1.0  # seconds a buffer's next pass may be held back


@dataclass(frozen=True, slots=True)
class TextEdit:
    """Replace a range of a buffer. Positions are (line, column) with columns counted in
    ``encoding``'s units, as the client sent them; the buffer converts them against its
    own text at the moment the edit applies (edits in one batch build on each other)."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str
    encoding: str = UTF8


@dataclass
class LiveDocument:
    path: str
    spec: LanguageSpec
    data: bytes
    version: int
    tree: Tree | None = None
    indexed_version: int = -1
    next_pass_at: float = 0.0  # monotonic time before which the index leaves it be
    line_starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._index_lines()

    def _index_lines(self) -> None:
        """Where every line starts (byte offsets), found at C speed."""
        newlines = np.flatnonzero(np.frombuffer(self.data, np.uint8) == _NEWLINE)
        self.line_starts = np.concatenate(([0], newlines + 1)).astype(np.int64)

    def _shift_lines(self, start: int, end: int, new: bytes) -> None:
        """Update the line starts for bytes ``start:end`` replaced by ``new``: those
        before stay, those inside go, the new text's are added, the rest move by the
        change in length — a keystroke costs microseconds, not a rescan of the file."""
        starts = self.line_starts
        first = int(np.searchsorted(starts, start, side="right"))
        after = int(np.searchsorted(starts, end, side="right"))
        added = np.flatnonzero(np.frombuffer(new, np.uint8) == _NEWLINE) + (start + 1)
        tail = starts[after:] + (len(new) - (end - start))
        self.line_starts = np.concatenate((starts[:first], added, tail)).astype(np.int64)

    def offset(self, point: tuple[int, int], encoding: str = UTF8) -> int:
        line, col = point
        if line >= len(self.line_starts):
            return len(self.data)
        if encoding != UTF8:
            col = bytes_from_units(self.line(line), col, encoding)
        return min(int(self.line_starts[line]) + col, len(self.data))

    def point(self, offset: int) -> Point:
        line = max(0, int(np.searchsorted(self.line_starts, offset, side="right")) - 1)
        return Point(line, offset - int(self.line_starts[line]))

    def line(self, line: int) -> bytes:
        if line >= len(self.line_starts):
            return b""
        start = int(self.line_starts[line])
        end = self.data.find(b"\n", start)
        return self.data[start : end if end >= 0 else len(self.data)]

    def apply(self, edits: Iterable[TextEdit | str]) -> None:
        """Apply edits in order (a plain string replaces the whole text)."""
        for edit in edits:
            if isinstance(edit, str):
                self.data = edit.encode("utf-8")
                self.tree = None  # nothing to reuse
                self._index_lines()
                continue
            start = self.offset(edit.start, edit.encoding)
            end = max(start, self.offset(edit.end, edit.encoding))
            new = edit.text.encode("utf-8")
            start_point, old_end_point = self.point(start), self.point(end)
            self.data = self.data[:start] + new + self.data[end:]
            self._shift_lines(start, end, new)
            if self.tree is not None:
                self.tree.edit(
                    start_byte=start,
                    old_end_byte=end,
                    new_end_byte=start + len(new),
                    start_point=start_point,
                    old_end_point=old_end_point,
                    new_end_point=self.point(start + len(new)),
                )


class LiveIndex:
    """A workspace's index, current to the last keystroke."""

    def __init__(
        self,
        root: Path | str,
        *,
        registry: LanguageRegistry | None = None,
        workers: int | None = None,
        debounce: float = 0.3,
        listener: Listener | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.registry = registry or default_registry()
        self.workers = workers
        self.debounce = debounce
        self.listener = listener
        self.db_path = database_path(self.root)
        self._write_conn = connect(self.db_path)
        self._local = threading.local()
        self._readers: list[Connection] = []
        self._readers_lock = threading.Lock()
        self.docs: dict[str, LiveDocument] = {}
        self._docs_lock = threading.Lock()
        self._lines: OrderedDict[str, tuple[tuple[int, int], list[bytes]]] = OrderedDict()
        self._lines_lock = threading.Lock()
        self._jobs: queue.Queue[tuple[str, Any, Future[Any] | None]] = queue.Queue()
        self._dirty: set[str] = set()
        self._waiters: dict[str, list[tuple[int, Future[None]]]] = {}
        self._resolver: Resolver | None = None
        self._parsers: dict[str, Parser] = {}
        self._indexing = False
        self.generation = 0
        self.last_summary: IndexSummary | None = None
        self._observer: Any = None
        self._timer: threading.Timer | None = None
        self._ignore = IgnoreMatcher(self.root)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hexad-index-writer", daemon=True)
        self._thread.start()

    # -- readers ---------------------------------------------------------------

    def reader(self) -> IndexReader:
        """An IndexReader on this thread's own connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.db_path, migrate=False)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return IndexReader(conn)

    @property
    def indexing(self) -> bool:
        return self._indexing

    def relpath(self, path: str | Path) -> str | None:
        """The workspace-relative posix path, or None for a path outside the workspace."""
        try:
            return Path(os.path.realpath(path)).relative_to(self.root).as_posix()
        except ValueError:
            return None

    def line(self, relpath: str, line: int) -> bytes:
        """One line of a file as the index sees it: the open buffer, else the disk."""
        doc = self.docs.get(relpath)
        if doc is not None:
            with doc.lock:
                return doc.line(line)
        lines = self._disk_lines(relpath)
        return lines[line].rstrip(b"\r") if 0 <= line < len(lines) else b""

    def _disk_lines(self, relpath: str) -> list[bytes]:
        """A file's lines, cached until its size or mtime changes (conversions of many
        results in one file read it once)."""
        path = self.root / relpath
        try:
            st = path.stat()
        except OSError:
            return []
        key = (st.st_mtime_ns, st.st_size)
        with self._lines_lock:
            cached = self._lines.get(relpath)
            if cached is not None and cached[0] == key:
                self._lines.move_to_end(relpath)
                return cached[1]
        try:
            lines = path.read_bytes().split(b"\n")
        except OSError:
            return []
        with self._lines_lock:
            self._lines[relpath] = (key, lines)
            while len(self._lines) > 256:
                self._lines.popitem(last=False)
        return lines

    def text(self, relpath: str) -> str | None:
        doc = self.docs.get(relpath)
        if doc is not None:
            with doc.lock:
                return doc.data.decode("utf-8", "replace")
        try:
            return (self.root / relpath).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    # -- buffers ---------------------------------------------------------------

    def open(self, relpath: str, text: str, version: int) -> Future[None] | None:
        spec = self.registry.for_path(relpath)
        if spec is None or spec.load_error() is not None:
            return None
        doc = LiveDocument(relpath, spec, text.encode("utf-8"), version)
        with self._docs_lock:
            self.docs[relpath] = doc
        return self._schedule_doc(doc)

    def change(
        self, relpath: str, version: int, edits: Iterable[TextEdit | str]
    ) -> Future[None] | None:
        doc = self.docs.get(relpath)
        if doc is None:
            return None
        with doc.lock:
            doc.apply(edits)
            doc.version = version
        return self._schedule_doc(doc)

    def close(self, relpath: str) -> None:
        with self._docs_lock:
            doc = self.docs.pop(relpath, None)
        if doc is not None:
            self._jobs.put(("refresh", None, None))  # the disk version takes over again

    def wait_for(self, relpath: str, timeout: float = 5.0) -> bool:
        """Block until the buffer's latest version is in the index (False on timeout)."""
        doc = self.docs.get(relpath)
        if doc is None or doc.indexed_version >= doc.version:
            return True
        future: Future[None] = Future()
        with self._docs_lock:
            self._waiters.setdefault(relpath, []).append((doc.version, future))
        if doc.indexed_version >= doc.version:
            return True
        try:
            future.result(timeout)
        except TimeoutError:
            return False
        return True

    def _schedule_doc(self, doc: LiveDocument) -> Future[None]:
        future: Future[None] = Future()
        with self._docs_lock:
            self._waiters.setdefault(doc.path, []).append((doc.version, future))
            first = doc.path not in self._dirty
            self._dirty.add(doc.path)
        if first:
            self._jobs.put(("doc", doc.path, None))
        return future

    # -- disk ------------------------------------------------------------------

    def refresh(self) -> Future[IndexSummary]:
        """Bring the index up to date with the disk (buffers stay as they are)."""
        future: Future[IndexSummary] = Future()
        self._jobs.put(("refresh", None, future))
        return future

    def watch(self) -> None:
        """Follow changes made outside the editor, debounced and gitignore-aware."""
        from watchdog.events import (
            DirCreatedEvent,
            DirDeletedEvent,
            DirMovedEvent,
            FileClosedEvent,
            FileCreatedEvent,
            FileDeletedEvent,
            FileModifiedEvent,
            FileMovedEvent,
            FileSystemEvent,
            FileSystemEventHandler,
        )
        from watchdog.observers import Observer

        live = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed", "closed_no_write"):
                    return
                if event.is_directory and event.event_type == "modified":
                    return  # a folder's listing changed: its files' own events say how
                paths = [event.src_path, getattr(event, "dest_path", "") or ""]
                if any(live._relevant(os.fsdecode(p)) for p in paths if p):
                    live._debounced_refresh()

        observer = Observer()
        # Only changes: opening and reading files (jedi reads many) must not wake us.
        changes: list[type[FileSystemEvent]] = [
            FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent,
            FileClosedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
        ]  # fmt: skip
        observer.schedule(Handler(), str(self.root), recursive=True, event_filter=changes)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def _relevant(self, path: str) -> bool:
        rel = self.relpath(path) if os.path.isabs(path) else path
        if rel is None:
            return False
        parts = rel.split("/")
        if any(p in SKIPPED_DIRS for p in parts[:-1]):
            return False
        if parts[-1] == ".gitignore":
            self._ignore.forget(rel)
            return True
        if self.registry.for_path(parts[-1]) is None:
            return os.path.isdir(path) and not self._ignore.ignored(rel, True)
        return not self._ignore.ignored(rel, False)

    def _debounced_refresh(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(
            self.debounce, lambda: self._jobs.put(("refresh", None, None))
        )
        self._timer.daemon = True
        self._timer.start()

    # -- the writer thread -------------------------------------------------------

    def _run(self) -> None:
        while True:
            kind, arg, future = self._jobs.get()
            if kind == "stop":
                break
            try:
                if kind == "doc":
                    self._index_doc(arg)
                elif kind == "refresh":
                    summary = self._refresh()
                    if future is not None:
                        future.set_result(summary)
            except Exception as exc:
                log.exception("index job %s failed", kind)
                if future is not None and not future.done():
                    future.set_exception(exc)
                self._emit("error", {"message": f"indexing failed: {exc}"})

    def _drain_docs(self) -> None:
        """Serve queued buffer edits in the middle of a long refresh."""
        with self._docs_lock:
            dirty = list(self._dirty)
        for path in dirty:
            self._index_doc(path)

    def _refresh(self) -> IndexSummary:
        self._indexing = True
        self._emit("indexing", {})
        try:
            indexer = Indexer(
                self.root,
                conn=self._write_conn,
                registry=self.registry,
                workers=self.workers,
                overlay=set(self.docs),
                between_batches=self._drain_docs,
            )
            summary = indexer.run(
                lambda done, total: self._emit("progress", {"done": done, "total": total})
            )
        finally:
            self._indexing = False
        self._resolver = None  # rebuilt from the refreshed tables on next use
        self.last_summary = summary
        # What indexing and jedi loaded lives on: keep the cyclic collector from walking
        # it again on every full collection (a 1 s pause in the middle of typing).
        gc.collect()
        gc.freeze()
        self.generation += 1
        self._emit("indexed", {"summary": summary})
        return summary

    def _index_doc(self, path: str) -> None:
        waiting = self.docs.get(path)
        if waiting is not None:
            pause = waiting.next_pass_at - time.monotonic()
            if pause > 0:  # typed into while its last pass ran: let the edits gather
                time.sleep(min(pause, MAX_PASS_PAUSE))
        with self._docs_lock:
            self._dirty.discard(path)
            doc = self.docs.get(path)
        if doc is None:
            self._wake(path, None)
            return
        started = time.perf_counter()
        with doc.lock:
            version = doc.version
            data = doc.data
            if len(data) > MAX_FILE_BYTES:
                doc.tree = None
        if len(data) > MAX_FILE_BYTES:
            self._skip_doc(doc, version, f"too large ({len(data)} bytes > {MAX_FILE_BYTES})")
            return
        with doc.lock:
            parser = self._parsers.get(doc.spec.name)
            if parser is None:
                parser = self._parsers[doc.spec.name] = doc.spec.parser()
            tree = parser.parse(data, doc.tree) if doc.tree is not None else parser.parse(data)
            doc.tree = tree
        digest = content_hash(data)
        # size/mtime 0 and a buffer: hash make the next disk refresh re-read the file
        facts = FileFacts(path, doc.spec.name, None, f"buffer:{digest}", 0, 0)
        facts.module = module_name(doc.spec.manifest.imports, self.root, path, None)
        extract(doc.spec, data, facts, tree)
        conn = self._write_conn
        live_resolution = not self._indexing
        with transaction(conn):
            writer = FactWriter(conn)
            file_id = writer.write(facts, defer_refs=live_resolution)
            new_module = writer.module_set_changed
            writer.finish()
            if live_resolution:
                if new_module or self._resolver is None:
                    self._resolver = resolve_all(conn, imports_changed=new_module, keep=True)
                else:
                    self._resolver.reload_file(file_id)
                    self._resolver.resolve_pending()
                assert self._resolver is not None
                writer.flush_refs(self._resolver, 1)
                conn.execute("DELETE FROM meta WHERE key = 'modules_changed'")
        with doc.lock:
            doc.indexed_version = max(doc.indexed_version, version)
        self.generation += 1
        self._wake(path, version)
        took = time.perf_counter() - started
        # the next pass of this buffer waits as long as this one took: a storm of edits to
        # a big file leaves the thread that reads them at least half the interpreter
        doc.next_pass_at = time.monotonic() + took
        self._emit("document", {"path": path, "version": version, "ms": took * 1000})

    def _skip_doc(self, doc: LiveDocument, version: int, reason: str) -> None:
        """A buffer the walk would skip (too large) is skipped the same way: its file has
        no facts while it stays so, and the index thread is not held up parsing it."""
        with transaction(self._write_conn):
            writer = FactWriter(self._write_conn)
            writer.write(FileFacts(doc.path, None, None, "", 0, 0, skip_reason=reason))
            writer.finish()
        with doc.lock:
            doc.indexed_version = max(doc.indexed_version, version)
        self.generation += 1
        self._wake(doc.path, version)
        self._emit("document", {"path": doc.path, "version": version, "skipped": reason})

    def _wake(self, path: str, version: int | None) -> None:
        with self._docs_lock:
            waiters = self._waiters.pop(path, [])
            keep = []
            for wanted, future in waiters:
                if version is None or wanted <= version:
                    if not future.done():
                        future.set_result(None)
                else:
                    keep.append((wanted, future))
            if keep:
                self._waiters[path] = keep

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self.listener is not None:
            try:
                self.listener(event, data)
            except Exception:
                log.exception("index listener failed on %s", event)

    # -- lifetime ----------------------------------------------------------------

    def close_all(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._observer is not None:
            self._observer.stop()
        self._jobs.put(("stop", None, None))
        self._thread.join(timeout=10)
        self._write_conn.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
