"""Build and refresh the structural index of a workspace.

A run walks the workspace, compares each file's size and mtime (then content hash) with
what the database holds, parses only what changed — on every core for a cold workspace —
writes each batch of files in one transaction, and resolves what became pending. A run
killed at any point leaves a database that opens, with every committed batch intact; the
next run picks up the rest.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Parser

from hexad import __version__
from hexad.core.db import Connection, connect, database_path, transaction
from hexad.core.errors import WorkspaceError
from hexad.core.hashing import content_hash
from hexad.perception.extract import extract
from hexad.perception.facts import FileFacts
from hexad.perception.files import Candidate, Skipped, sniff, walk
from hexad.perception.language import LanguageRegistry, default_registry
from hexad.perception.modules import module_name
from hexad.perception.resolve import resolve_all
from hexad.perception.store import FactWriter

log = logging.getLogger(__name__)

EXTRACTOR_VERSION = 1  # bump when extract.py or resolve.py change what they produce
BATCH_FILES = 128
PARALLEL_THRESHOLD = 48  # below this many files a process pool costs more than it saves
Progress = Callable[[int, int], None]


@dataclass
class IndexSummary:
    root: str
    files: int = 0
    parsed: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    symbols: int = 0
    refs: int = 0
    calls: int = 0
    imports: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    resolution: dict[str, int] = field(default_factory=dict)
    parse_errors: int = 0
    seconds: float = 0.0
    workers: int = 1
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase


_WorkItem = tuple[str, str, int, int, str | None]  # path, language, size, mtime_ns, old hash
_parsers: dict[str, Parser] = {}


def extract_file(
    root: Path, item: _WorkItem, registry: LanguageRegistry | None = None
) -> FileFacts | None:
    """Read, check and extract one file. None means its content did not change."""
    path, language, size, mtime_ns, old_hash = item
    registry = registry or default_registry()
    facts = FileFacts(path, language, None, "", size, mtime_ns)
    try:
        data = (root / path).read_bytes()
    except OSError as exc:
        facts.skip_reason = f"unreadable: {exc.strerror}"
        return facts
    facts.hash = content_hash(data)
    facts.size = len(data)
    if facts.hash == old_hash:
        return None
    reason = sniff(data)
    if reason is not None:
        log.info("skipping %s: %s", path, reason)
        facts.skip_reason = reason
        return facts
    spec = registry.get(language)
    facts.module = module_name(spec.manifest.imports, root, path, None)
    parser = _parsers.get(language)
    if parser is None:
        parser = _parsers[language] = spec.parser()
    try:
        extract(spec, data, facts, parser.parse(data))
    except RecursionError:
        facts.skip_reason = "nesting too deep to index"
        facts.symbols.clear()
        facts.refs.clear()
    return facts


def _extract_batch(root: str, items: list[_WorkItem]) -> list[tuple[_WorkItem, FileFacts | None]]:
    base = Path(root)
    return [(item, extract_file(base, item)) for item in items]


def _chunks(items: list[_WorkItem], size: int) -> Iterator[list[_WorkItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Indexer:
    """Indexes one workspace into its database."""

    def __init__(
        self,
        root: Path | str,
        *,
        conn: Connection | None = None,
        registry: LanguageRegistry | None = None,
        workers: int | None = None,
        overlay: Collection[str] = (),
        between_batches: Callable[[], None] | None = None,
    ) -> None:
        """``overlay``: paths whose rows come from open editor buffers, left as they are.
        ``between_batches``: called after each committed batch (the live index uses it to
        serve edits while a long run goes on)."""
        self.overlay = frozenset(overlay)
        self.between_batches = between_batches
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise WorkspaceError(f"not a directory: {root}")
        self.registry = registry or default_registry()
        self.conn = conn if conn is not None else connect(database_path(self.root))
        self.workers = workers or max(1, min(os.cpu_count() or 1, 8))

    def run(self, progress: Progress | None = None) -> IndexSummary:
        started = time.perf_counter()
        summary = IndexSummary(str(self.root))
        conn = self.conn
        fingerprint = self._fingerprint()
        row = conn.execute("SELECT value FROM meta WHERE key = 'extractor'").fetchone()
        stale = row is None or row[0] != fingerprint  # new grammars or extractor: redo all
        known = {
            path: (fid, -1 if stale else size, mtime, None if stale else hsh, reason)
            for fid, path, size, mtime, hsh, reason in conn.execute(
                "SELECT id, path, size, mtime_ns, hash, skip_reason FROM files"
            )
        }
        work: list[_WorkItem] = []
        skipped: list[FileFacts] = []
        seen: set[str] = set()
        for entry in walk(self.root, self.registry):
            seen.add(entry.path)
            if entry.path in self.overlay:
                summary.unchanged += 1
                continue
            if isinstance(entry, Skipped):
                summary.skipped.append((entry.path, entry.reason))
                old = known.get(entry.path)
                if old is None or old[4] != entry.reason:
                    skipped.append(
                        FileFacts(entry.path, None, None, "", 0, 0, skip_reason=entry.reason)
                    )
                continue
            assert isinstance(entry, Candidate)
            old = known.get(entry.path)
            if (
                old is not None
                and old[1] == entry.size
                and old[2] == entry.mtime_ns
                and old[3] is not None  # no hash: a run died before its references were in
                and old[4] is None
            ):
                summary.unchanged += 1
                continue
            # compiled only for languages with work to do, and before any worker forks
            grammar_error = self.registry.get(entry.language).load_error()
            if grammar_error is not None:
                reason = f"grammar unavailable: {grammar_error}"
                summary.skipped.append((entry.path, reason))
                if old is None or old[4] != reason:
                    skipped.append(FileFacts(entry.path, None, None, "", 0, 0, skip_reason=reason))
                continue
            old_hash = old[3] if old is not None and old[4] is None else None
            work.append((entry.path, entry.language, entry.size, entry.mtime_ns, old_hash))

        summary.phases["walk"] = time.perf_counter() - started
        writer = FactWriter(conn)
        removed = [v[0] for p, v in known.items() if p not in seen and p not in self.overlay]
        if removed or skipped:
            with transaction(conn):
                writer.remove(removed)
                for skip in skipped:
                    writer.write(skip)
                writer.finish()
        summary.removed = len(removed)

        total = len(work)
        if progress:
            progress(0, total)
        batch: list[FileFacts] = []
        touched: list[tuple[str, int]] = []
        for done, (item, facts) in enumerate(self._extract(work, summary), start=1):
            if facts is None:
                touched.append((item[0], item[3]))
                summary.unchanged += 1
            else:
                batch.append(facts)
                if facts.skip_reason:
                    summary.skipped.append((facts.path, facts.skip_reason))
                else:
                    summary.parsed += 1
            if len(batch) + len(touched) >= BATCH_FILES:
                self._commit(writer, batch, touched)
                batch, touched = [], []
            if progress and (done % 16 == 0 or done == total):
                progress(done, total)
        self._commit(writer, batch, touched)
        summary.phases["parse+store"] = time.perf_counter() - started - summary.phases["walk"]
        resolving = time.perf_counter()
        with transaction(conn):
            if stale:
                conn.execute("UPDATE refs SET resolution = NULL")
            dirty = conn.execute("SELECT 1 FROM meta WHERE key = 'modules_changed'").fetchone()
            resolver = resolve_all(
                conn, imports_changed=dirty is not None or stale, keep=bool(writer.deferred)
            )
            conn.execute("DELETE FROM meta WHERE key = 'modules_changed'")
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('indexed_at', datetime('now'))"
            )
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('extractor', ?)", (fingerprint,)
            )
        while writer.deferred:
            assert resolver is not None
            with transaction(conn):
                writer.flush_refs(resolver, BATCH_FILES)
        summary.phases["resolve"] = time.perf_counter() - resolving
        self._fill_counts(summary)
        summary.seconds = time.perf_counter() - started
        return summary

    def _fingerprint(self) -> str:
        """Changes whenever extraction or resolution could give different facts."""
        digest = hashlib.blake2b(f"{EXTRACTOR_VERSION}:{__version__}".encode(), digest_size=16)
        for name in self.registry.names:
            spec = self.registry.get(name)
            digest.update(name.encode())
            digest.update(spec.source_digest())
        return digest.hexdigest()

    def _extract(
        self, work: list[_WorkItem], summary: IndexSummary
    ) -> Iterable[tuple[_WorkItem, FileFacts | None]]:
        if len(work) < PARALLEL_THRESHOLD or self.workers == 1:
            summary.workers = 1
            for item in work:
                yield item, extract_file(self.root, item, self.registry)
            return
        # Interleave big and small files so every worker gets an even share.
        ordered = sorted(work, key=lambda w: w[2], reverse=True)
        chunk = max(4, min(32, len(ordered) // (self.workers * 8)))
        chunks = [
            ordered[i :: len(ordered) // chunk or 1] for i in range(len(ordered) // chunk or 1)
        ]
        method = "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"
        summary.workers = self.workers
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            futures = [pool.submit(_extract_batch, str(self.root), c) for c in chunks]
            for future in futures:
                yield from future.result()

    def _commit(
        self, writer: FactWriter, batch: list[FileFacts], touched: list[tuple[str, int]]
    ) -> None:
        if not batch and not touched:
            return
        with transaction(self.conn):
            for facts in batch:
                writer.write(facts)
            self.conn.executemany(
                "UPDATE files SET mtime_ns = ? WHERE path = ?", [(m, p) for p, m in touched]
            )
            writer.finish()
        if self.between_batches is not None:
            self.between_batches()

    def _fill_counts(self, summary: IndexSummary) -> None:
        conn = self.conn
        summary.files = conn.execute(
            "SELECT COUNT(*) FROM files WHERE skip_reason IS NULL"
        ).fetchone()[0]
        summary.symbols = conn.execute("SELECT COUNT(*) FROM symbols").fetchone()[0]
        summary.refs = conn.execute("SELECT COUNT(*) FROM refs").fetchone()[0]
        summary.calls = conn.execute("SELECT COUNT(*) FROM refs WHERE kind = 'call'").fetchone()[0]
        summary.imports = conn.execute("SELECT COUNT(*) FROM imports").fetchone()[0]
        summary.parse_errors = conn.execute(
            "SELECT COALESCE(SUM(parse_errors), 0) FROM files"
        ).fetchone()[0]
        summary.languages = dict(
            conn.execute(
                "SELECT language, COUNT(*) FROM files WHERE skip_reason IS NULL "
                "GROUP BY language ORDER BY 2 DESC"
            ).fetchall()
        )
        summary.resolution = dict(
            Counter(
                dict(
                    conn.execute(
                        "SELECT resolution, COUNT(*) FROM refs WHERE kind = 'call' "
                        "GROUP BY resolution"
                    ).fetchall()
                )
            )
        )


def index_workspace(
    root: Path | str, progress: Progress | None = None, **kwargs: object
) -> IndexSummary:
    indexer = Indexer(root, **kwargs)  # type: ignore[arg-type]
    try:
        return indexer.run(progress)
    finally:
        indexer.conn.close()
