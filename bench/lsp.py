"""Benchmark Hexad's language server against jedi-language-server on a real workspace.

Both servers are driven over stdio by a real LSP client (pygls's ``LanguageClient``,
announcing Visual Studio Code 1.65's capabilities), one after the other, on the same copy
of Django's source (installed from its wheel into a cache folder outside the repository,
as ``bench/index.py`` does) and in the same run. jedi-language-server is installed from
PyPI into its own virtual environment in that cache, never into the project's.

For each server, once it is ready (for Hexad: after ``hexad/indexed``), the same files are
opened and the same requests are sent, one at a time, at the same positions:

* ``textDocument/definition``, ``textDocument/references`` and ``textDocument/hover`` at
  positions drawn (seeded) from real identifiers: call sites and definition names from
  Hexad's index, and any name token from Python's tokenizer;
* ``textDocument/documentSymbol`` on the open files;
* ``workspace/symbol`` with prefixes, fragments, initials and whole names of real
  Django symbols.

Each request is timed from send to response (p50, p95, mean). A request that runs past
``--timeout`` is cancelled (``$/cancelRequest``), counted as a timeout at the timeout, and
its answer is waited for before the next request; after ``--give-up`` timeouts in a row a
server counts as no longer answering and the rest of its requests are skipped and
reported as such. How many answers were non-empty is reported beside the times (and,
for definitions, whether both servers found the same target), so speed is never bought
by empty answers. Each server runs with its own, empty ``XDG_CACHE_HOME``, so neither
starts with jedi's on-disk parse cache from the other or from an earlier run.

Then, for Hexad only, one-character edits (``didChange``) are made in a function body of
a ~1,000-line file and of ``django/db/models/query.py``, and the time until
``hexad/documentIndexed`` says that version is in the index is measured, as the server
reports it and as the client sees it. Finally each server is sent an edit that adds a
function, followed by ``documentSymbol``, to show the outline has it.

It prints a side-by-side table (or ``--json``) and says which targets were met. It never
fails on a missed target: the exit status is non-zero only when something broke.

Run it as ``.venv/bin/python bench/lsp.py [--requests N] [--json]`` (4 to 7 minutes at
the defaults on 2 CPUs; ``--requests 20`` takes about 2). ``--hexad-cmd`` and
``--hexad-settings`` start a variant of Hexad's server for an A/B comparison. This is not
a test; pytest never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
import itertools
import json
import keyword
import os
import platform
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tokenize
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

DEFAULT_PACKAGE = "django==5.2.*"
DEFAULT_JLS = "jedi-language-server"
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hexad-bench"
REPO_ROOT = Path(__file__).resolve().parent.parent
CLIENT_SPEC = "visual-studio-code"
BIG_FILE = "django/db/models/query.py"
ADDED_FUNCTION = "hexad_bench_added"
JLS_MAX_SYMBOLS = 100  # Hexad answers workspace/symbol with up to 100 symbols
METHODS = (
    ("definition", "textDocument/definition"),
    ("references", "textDocument/references"),
    ("documentSymbol", "textDocument/documentSymbol"),
    ("workspace/symbol", "workspace/symbol"),
    ("hover", "textDocument/hover"),
)
HAND_QUERIES = (
    "QuerySet",
    "get_or_create",
    "HttpResp",
    "ForeignKey",
    "csrf",
    "ModelAdmin",
    "validate",
    "Migration",
    "reverse",
    "cache",
    "render_to",
    "JsonResponse",
    "serializ",
    "paginat",
    "urlpat",
    "middleware",
    "get_queryset",
    "Template",
    "auth",
    "signal",
)
SERVERS = ("hexad", "jedi")
STARTED: list[asyncio.subprocess.Process] = []  # killed on the way out if still running
STOPPING: list[bool] = []  # non-empty once SIGTERM arrived
SERVER_LABELS = {"hexad": "Hexad", "jedi": "jedi-ls"}


class BenchError(Exception):
    """Something the benchmark needs is missing or broke (not a missed target)."""


def log(message: str) -> None:
    """Report progress on stderr, so stdout holds only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile of ``values`` (linear interpolation between ranks)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def stats(values: list[float]) -> dict[str, Any]:
    """Count, p50, p95, mean and max of latencies in milliseconds."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "mean": None, "max": None}
    return {
        "count": len(values),
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "mean": round(statistics.fmean(values), 3),
        "max": round(max(values), 3),
    }


# --------------------------------------------------------------------------- setup


def _load_index_bench() -> ModuleType:
    """``bench/index.py`` as a module, to reuse how it installs and copies the workspace."""
    path = Path(__file__).resolve().with_name("index.py")
    spec = importlib.util.spec_from_file_location("hexad_bench_index", path)
    if spec is None or spec.loader is None:
        raise BenchError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@dataclass
class Peer:
    """The jedi-language-server install used as the peer."""

    executable: Path
    versions: dict[str, str]


def ensure_jls(cache_root: Path, spec: str) -> Peer:
    """Create ``<cache>/jls-venv`` with ``python -m venv`` and pip-install ``spec`` (once).

    The venv lives outside the repository and outside the project's own environment; it is
    reused while its recorded spec matches.
    """
    venv = cache_root / "jls-venv"
    ready = venv / "hexad-bench-ready.json"
    python = venv / "bin" / "python"
    meta = json.loads(ready.read_text()) if ready.is_file() else {}
    if meta.get("spec") != spec or not python.exists():
        log(f"installing {spec} into {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        cache_root.mkdir(parents=True, exist_ok=True)
        steps = (
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", spec],
        )
        for cmd in steps:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BenchError(f"{' '.join(cmd)} failed:\n{done.stderr.strip()[-2000:]}")
        probe = (
            "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('jedi-language-server', 'jedi', 'parso', 'pygls', 'lsprotocol')}))"
        )
        done = subprocess.run(
            [str(python), "-c", probe], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"cannot read versions in {venv}:\n{done.stderr.strip()}")
        meta = {"spec": spec, "versions": json.loads(done.stdout)}
        ready.write_text(json.dumps(meta))
    executable = venv / "bin" / "jedi-language-server"
    if not executable.exists():
        raise BenchError(f"{executable} is missing; delete {venv} to reinstall")
    return Peer(executable, meta["versions"])


def copy_workspace(tree: Path, into: Path) -> Path:
    """Copy the source tree (no ``.hexad``, no ``__pycache__``) into a fresh folder."""
    target = into / tree.parent.name
    shutil.copytree(tree, target, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    return target


# --------------------------------------------------------------------------- positions


@dataclass
class Probe:
    """One position to ask about, in LSP terms (0-based line, UTF-16 column)."""

    path: str
    line: int
    character: int
    name: str
    source: str  # "call" (a call site), "def" (a definition's name), "name" (any token)
    resolution: str | None = None  # how Hexad's index resolved a call site


@dataclass
class EditSite:
    """Where one-character edits go: just after a call's name, inside a function body."""

    path: str
    lines: int
    line: int
    character: int
    name: str


@dataclass
class Plan:
    """Everything both servers are asked, fixed before either is measured."""

    files: list[str]
    definition: list[Probe]
    references: list[Probe]
    hover: list[Probe]
    document_symbol: list[str]
    queries: list[tuple[str, str]]  # (query, how it was made)
    warmup: list[Probe]
    edits: list[EditSite]


def _utf16(line: bytes, byte_col: int) -> int:
    """A UTF-8 byte column as a UTF-16 column."""
    prefix = line[:byte_col].decode("utf-8", "replace")
    return len(prefix.encode("utf-16-le")) // 2


def _middle(start: int, end: int) -> int:
    """A column inside an identifier ``[start, end)``."""
    return start + max(0, (end - start) // 2)


def _name_tokens(path: str, text: str) -> list[Probe]:
    """Every identifier token in a file that is not a keyword, as probes."""
    probes: list[Probe] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return probes
    previous = ""
    for tok in tokens:
        if tok.type != tokenize.NAME or keyword.iskeyword(tok.string):
            if tok.type not in (tokenize.NL, tokenize.COMMENT):
                previous = tok.string
            continue
        if previous not in ("def", "class"):  # definition names are "def" probes
            (row, col), end = tok.start, tok.end[1]
            line = tok.line if tok.start[0] == tok.end[0] else ""
            if line:
                col16 = len(line[:col].encode("utf-16-le")) // 2
                end16 = len(line[:end].encode("utf-16-le")) // 2
                probes.append(Probe(path, row - 1, _middle(col16, end16), tok.string, "name"))
        previous = tok.string
    return probes


def _mix(rng: random.Random, pools: list[tuple[list[Probe], float]], total: int) -> list[Probe]:
    """``total`` probes drawn without replacement from pools in the given proportions."""
    picked: list[Probe] = []
    for i, (pool, share) in enumerate(pools):
        want = total - len(picked) if i == len(pools) - 1 else round(total * share)
        picked += rng.sample(pool, min(want, len(pool)))
    rng.shuffle(picked)
    return picked


def _queries(rng: random.Random, names: list[str], total: int) -> list[tuple[str, str]]:
    """Realistic workspace/symbol queries: hand-picked ones, then made from real names."""
    out = [(q, "hand") for q in HAND_QUERIES[:total]]
    makers = itertools.cycle(("prefix", "fragment", "initials", "exact"))
    while len(out) < total:
        how = next(makers)
        name = rng.choice(names)
        if how == "prefix":
            query = name[: rng.randint(3, 6)]
        elif how == "fragment":
            core = name.strip("_").lower()
            size = rng.randint(4, 6)
            if len(core) < size + 2:
                continue
            start = rng.randint(1, len(core) - size - 1)
            query = core[start : start + size]
        elif how == "initials":
            words = [w for w in re.split(r"_|(?<=[a-z0-9])(?=[A-Z])", name) if w]
            if len(words) < 2:
                continue
            query = "".join(w[0] for w in words).lower()
        else:
            query = name
        if len(query) >= 2:
            out.append((query, how))
    return out


def build_plan(root: Path, args: argparse.Namespace) -> Plan:
    """Pick files, positions, queries and edit sites from Hexad's index of ``root``."""
    from hexad.core.db import connect, database_path

    rng = random.Random(args.seed)
    conn = connect(database_path(root), readonly=True)
    try:
        rows = conn.execute(
            "SELECT path, line_count FROM files WHERE language = 'python' "
            "AND skip_reason IS NULL ORDER BY path"
        ).fetchall()
        line_counts = dict(rows)
        if BIG_FILE not in line_counts:
            raise BenchError(f"{BIG_FILE} is not in the index")
        near_1000 = min(line_counts, key=lambda p: (abs(line_counts[p] - 1000), p))
        edit_files = [near_1000, BIG_FILE]
        candidates = [p for p, n in rows if 150 <= n <= 3000 and p not in edit_files]
        files = sorted(rng.sample(candidates, min(args.files, len(candidates))) + edit_files)
        marks = ",".join("?" * len(files))
        calls = conn.execute(
            "SELECT f.path, r.line, r.col, r.end_col, r.name, r.resolution FROM refs r "
            f"JOIN files f ON f.id = r.file_id WHERE f.path IN ({marks}) AND r.kind = 'call' "
            "ORDER BY f.path, r.line, r.col",
            files,
        ).fetchall()
        defs = conn.execute(
            "SELECT f.path, s.name_line, s.name_col, s.name_end_col, s.name FROM symbols s "
            f"JOIN files f ON f.id = s.file_id WHERE f.path IN ({marks}) "
            "AND s.kind IN ('function', 'method', 'class') ORDER BY f.path, s.name_line",
            files,
        ).fetchall()
        sites = []
        for path in edit_files:
            middle = line_counts[path] // 2
            site = conn.execute(
                "SELECT r.line, r.end_col, r.name FROM refs r JOIN files f ON f.id = r.file_id "
                "JOIN symbols s ON s.id = r.scope_id WHERE f.path = ? AND r.kind = 'call' "
                "AND s.kind IN ('function', 'method') ORDER BY ABS(r.line - ?), r.line, r.col "
                "LIMIT 1",
                (path, middle),
            ).fetchone()
            if site is None:
                raise BenchError(f"no call inside a function in {path}")
            sites.append((path, *site))
        names = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT s.name FROM symbols s JOIN files f ON f.id = s.file_id "
                "WHERE f.language = 'python' AND s.exported = 1 "
                "AND s.kind IN ('class', 'function', 'method') ORDER BY s.name"
            )
        ]
    finally:
        conn.close()

    lines = {p: (root / p).read_bytes().split(b"\n") for p in files}

    def at(path: str, line: int, start: int, end: int) -> tuple[int, int]:
        raw = lines[path][line] if line < len(lines[path]) else b""
        return line, _middle(_utf16(raw, start), _utf16(raw, end))

    call_probes = [
        Probe(p, *at(p, ln, c, e), name, "call", res) for p, ln, c, e, name, res in calls
    ]
    def_probes = [Probe(p, *at(p, ln, c, e), name, "def") for p, ln, c, e, name in defs]
    name_probes = [
        probe
        for p in files
        for probe in _name_tokens(p, (root / p).read_text(encoding="utf-8", errors="replace"))
    ]
    n, n_refs = args.requests, args.references
    definition = _mix(rng, [(call_probes, 0.6), (name_probes, 0.4)], n)
    references = _mix(rng, [(def_probes, 0.5), (call_probes, 0.5)], n_refs)
    hover = _mix(rng, [(call_probes, 0.4), (def_probes, 0.3), (name_probes, 0.3)], n)
    measured = {id(p) for p in definition + references + hover}
    warmup = _mix(
        rng,
        [([p for p in pool if id(p) not in measured], 0.5) for pool in (call_probes, name_probes)],
        args.warmup,
    )
    document_symbol = [files[i % len(files)] for i in range(n)]
    rng.shuffle(document_symbol)
    edits = []
    for path, line, end_col, name in sites:
        raw = lines[path][line]
        edits.append(EditSite(path, line_counts[path], line, _utf16(raw, end_col), name))
    return Plan(
        files=files,
        definition=definition,
        references=references,
        hover=hover,
        document_symbol=document_symbol,
        queries=_queries(rng, names, n),
        warmup=warmup,
        edits=edits,
    )


# --------------------------------------------------------------------------- the client


@dataclass
class Timed:
    """One request: how long it took and what came back."""

    ms: float
    result: Any = None
    error: str | None = None
    timed_out: bool = False
    skipped: bool = False


class Session:
    """One language server process, driven over stdio by pygls's LanguageClient."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        init_options: Any,
        timeout: float,
        drain: float,
        env: dict[str, str] | None = None,
        give_up: int = 3,
    ) -> None:
        """Describe the server; nothing starts until :meth:`start`."""
        from pygls.lsp.client import LanguageClient

        self.name = name
        self.cmd = cmd
        self.env = env
        self.give_up = give_up
        self.unresponsive: str | None = None  # where the server stopped answering
        self._timeouts_in_a_row = 0
        self._sent: Counter[str] = Counter()
        self.init_options = init_options
        self.timeout = timeout
        self.drain = drain
        self.client = LanguageClient("hexad-bench", "1")
        self.root: Path | None = None
        self.server_info: str = "?"
        self.stderr_tail: list[str] = []
        self.notifications: Counter[str] = Counter()
        self.indexed: asyncio.Future[Any] | None = None
        self.doc_waiters: dict[tuple[str, int], asyncio.Future[tuple[float, float]]] = {}
        self.versions: dict[str, int] = {}
        self.toggled: set[str] = set()
        self._ids = itertools.count(1)
        self._stderr_task: asyncio.Task[None] | None = None
        self._register()

    def _register(self) -> None:
        """Answer what a server may ask of the client, and listen for notifications."""
        client = self.client

        @client.feature("window/workDoneProgress/create")
        def _progress_create(_params: Any) -> None:
            return None

        @client.feature("client/registerCapability")
        def _register_capability(_params: Any) -> None:
            return None

        @client.feature("client/unregisterCapability")
        def _unregister_capability(_params: Any) -> None:
            return None

        @client.feature("workspace/configuration")
        def _configuration(params: Any) -> list[Any]:
            return [None for _ in params.items]

        for method in (
            "window/logMessage",
            "window/showMessage",
            "textDocument/publishDiagnostics",
            "$/progress",
            "telemetry/event",
        ):
            client.feature(method)(self._counter(method))

        @client.feature("hexad/indexed")
        def _indexed(params: Any) -> None:
            self.notifications["hexad/indexed"] += 1
            if self.indexed is not None and not self.indexed.done():
                self.indexed.set_result(params)

        @client.feature("hexad/documentIndexed")
        def _document_indexed(params: Any) -> None:
            now = time.perf_counter()
            self.notifications["hexad/documentIndexed"] += 1
            waiter = self.doc_waiters.pop((_field(params, "path"), _field(params, "version")), None)
            if waiter is not None and not waiter.done():
                waiter.set_result((now, float(_field(params, "ms"))))

    def _counter(self, method: str) -> Callable[[Any], None]:
        """A notification handler that only counts."""

        def handler(_params: Any) -> None:
            self.notifications[method] += 1

        return handler

    @property
    def pid(self) -> int | None:
        """The server's process id, once started."""
        server = self.client._server
        return server.pid if server is not None else None

    async def _read_stderr(self) -> None:
        """Keep the server's stderr drained (a full pipe would block it); keep the tail."""
        server = self.client._server
        if server is None or server.stderr is None:
            return
        while line := await server.stderr.readline():
            self.stderr_tail = [*self.stderr_tail[-40:], line.decode(errors="replace")]

    async def start(self, root: Path) -> float:
        """Start the server in ``root`` and initialize it; the initialize round trip in ms."""
        from lsprotocol import types
        from pygls.uris import from_fs_path
        from pytest_lsp import client_capabilities

        self.root = root
        loop = asyncio.get_running_loop()
        self.indexed = loop.create_future()
        await self.client.start_io(*self.cmd, cwd=str(root), env=self.env)
        if self.client._server is not None:
            STARTED.append(self.client._server)
        self._stderr_task = asyncio.create_task(self._read_stderr())
        uri = from_fs_path(str(root))
        params = types.InitializeParams(
            process_id=os.getpid(),
            root_uri=uri,
            root_path=str(root),
            workspace_folders=[types.WorkspaceFolder(uri=uri, name=root.name)],
            capabilities=client_capabilities(CLIENT_SPEC),
            client_info=types.ClientInfo(name="Visual Studio Code", version="1.65.2"),
            initialization_options=self.init_options,
        )
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(self.client.initialize_async(params), 120)
        except Exception as exc:
            raise BenchError(f"{self.name}: initialize failed: {exc}\n{self.stderr()}") from exc
        elapsed = (time.perf_counter() - started) * 1000
        info = result.server_info
        self.server_info = f"{info.name} {info.version or ''}".strip() if info else "?"
        self.client.initialized(types.InitializedParams())
        return elapsed

    def stderr(self) -> str:
        """The last lines the server wrote to stderr."""
        return "".join(self.stderr_tail[-20:])

    def uri(self, path: str) -> str:
        """The file URI of a workspace-relative path."""
        from pygls.uris import from_fs_path

        assert self.root is not None
        return str(from_fs_path(str(self.root / path)))

    async def request(self, method: str, params: Any) -> Timed:
        """Send one request and time it; past the timeout, cancel it and wait it out.

        After ``give_up`` timeouts in a row the server is taken to have stopped answering:
        every later request is skipped (and reported so) instead of waiting on it again.
        """
        from lsprotocol import types

        if STOPPING:
            raise asyncio.CancelledError
        if self.unresponsive is not None:
            return Timed(0.0, error="skipped: the server had stopped answering", skipped=True)
        self._sent[method] += 1
        msg_id = f"bench-{next(self._ids)}"
        stamp: list[float] = []
        started = time.perf_counter()
        future: Future[Any] = self.client.protocol.send_request(method, params, msg_id=msg_id)
        future.add_done_callback(lambda _f: stamp.append(time.perf_counter()))
        waiting = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({waiting}, timeout=self.timeout)
        timed_out = not done
        if timed_out:
            self.client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
            await asyncio.wait({waiting}, timeout=self.drain)
        ms = ((stamp[0] if stamp else time.perf_counter()) - started) * 1000
        self._timeouts_in_a_row = self._timeouts_in_a_row + 1 if timed_out else 0
        if self._timeouts_in_a_row >= self.give_up:
            self.unresponsive = f"{method} request #{self._sent[method]}"
            log(f"{self.name}: {self.give_up} timeouts in a row; giving up at {self.unresponsive}")
        if not waiting.done():
            return Timed(ms, error="no answer after cancelling", timed_out=True)
        if waiting.exception() is not None:
            return Timed(ms, error=str(waiting.exception())[:200], timed_out=timed_out)
        return Timed(ms, waiting.result(), timed_out=timed_out)

    def open(self, path: str, text: str) -> None:
        """``didOpen`` at version 1."""
        from lsprotocol import types

        item = types.TextDocumentItem(
            uri=self.uri(path), language_id="python", version=1, text=text
        )
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))

    def expect_indexed(self, path: str, version: int) -> asyncio.Future[tuple[float, float]]:
        """A future for ``hexad/documentIndexed`` of ``path`` at ``version``."""
        future: asyncio.Future[tuple[float, float]] = asyncio.get_running_loop().create_future()
        self.doc_waiters[(path, version)] = future
        return future

    def change(
        self, path: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str
    ) -> None:
        """One incremental ``didChange``."""
        from lsprotocol import types

        rng = types.Range(
            start=types.Position(line=start[0], character=start[1]),
            end=types.Position(line=end[0], character=end[1]),
        )
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri(path), version=version
                ),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=text)],
            )
        )

    def memory_mb(self) -> dict[str, float]:
        """The server process's current and peak RSS (its own, not its children's)."""
        found: dict[str, float] = {}
        try:
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    key, _, value = line.partition(":")
                    if key in ("VmRSS", "VmHWM"):
                        found[key] = round(int(value.split()[0]) / 1024, 1)
        except (OSError, ValueError):
            pass
        return {"rss_mb": found.get("VmRSS", 0.0), "peak_rss_mb": found.get("VmHWM", 0.0)}

    async def close(self) -> bool:
        """``shutdown``, then ``exit``; True when the process ended by itself.

        A server that does not answer ``shutdown`` within 30 s, or has not exited 30 s
        after ``exit``, is killed (and the report says so).
        """
        server = self.client._server
        step = "shutdown"
        clean = True
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 30)
            step = "exit"
            self.client.exit(None)
            if server is not None:
                await asyncio.wait_for(server.wait(), 30)
        except Exception as exc:  # a server that will not stop must not hang the benchmark
            clean = False
            log(f"{self.name}: no clean stop ({step}: {exc!r}); killing it")
            if server is not None and server.returncode is None:
                server.kill()
                await server.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.stop(), 10)
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stderr_task
        return clean


def _field(params: Any, key: str) -> Any:
    """A field of a custom notification's params (pygls gives a namedtuple)."""
    if isinstance(params, dict):
        return params.get(key)
    return getattr(params, key, None)


# --------------------------------------------------------------------------- answers


def _relpath(root: Path, uri: str) -> str:
    """A result URI as a workspace-relative path (or the path itself, outside it)."""
    from pygls.uris import to_fs_path

    fs_path = to_fs_path(uri) or uri
    try:
        return Path(fs_path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # each server has its own jedi: compare typeshed paths from there
        _, sep, inside = fs_path.partition("/site-packages/")
        return f"<site-packages>/{inside}" if sep else fs_path


def _locations(root: Path, result: Any) -> list[tuple[str, int]]:
    """(path, line) of each Location or LocationLink in a definition/references answer."""
    if result is None:
        return []
    items = result if isinstance(result, (list, tuple)) else [result]
    out = []
    for item in items:
        uri = getattr(item, "uri", None) or getattr(item, "target_uri", None)
        rng = getattr(item, "range", None) or getattr(item, "target_selection_range", None)
        if uri is not None and rng is not None:
            out.append((_relpath(root, uri), rng.start.line))
    return out


def _symbol_names(result: Any) -> list[str]:
    """Every name in a documentSymbol answer (hierarchical or flat)."""
    names: list[str] = []
    stack = list(result or [])
    while stack:
        item = stack.pop()
        names.append(item.name)
        stack.extend(getattr(item, "children", None) or [])
    return names


def _hover_text(result: Any) -> str:
    """The text of a hover answer, whatever shape its contents take."""
    if result is None:
        return ""
    contents = result.contents
    parts = contents if isinstance(contents, (list, tuple)) else [contents]
    return "".join(p if isinstance(p, str) else getattr(p, "value", "") for p in parts).strip()


def summarize(method: str, root: Path, timed: Timed, timeout: float) -> dict[str, Any]:
    """What an answer held: its size and, for definitions, its targets.

    A request that timed out counts as taking exactly ``timeout`` seconds; when its answer
    came after all, that time is kept as ``answered_ms``.
    """
    row: dict[str, Any] = {"ms": round(timed.ms, 3)}
    if timed.skipped:
        return {"skipped": True}
    if timed.timed_out:
        row.update(ms=timeout * 1000, timeout=True, answered_ms=round(timed.ms, 3))
    if timed.error:
        row["error"] = timed.error
    result = timed.result
    if method in ("definition", "references"):
        locations = _locations(root, result)
        row["items"] = len(locations)
        if method == "definition":
            row["targets"] = sorted({f"{p}:{ln}" for p, ln in locations})[:5]
    elif method == "documentSymbol":
        row["items"] = len(_symbol_names(result))
    elif method == "workspace/symbol":
        row["items"] = len(result or [])
    else:
        row["items"] = 1 if _hover_text(result) else 0
    return row


# --------------------------------------------------------------------------- one server


async def measure_methods(session: Session, plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Every planned request, one at a time, method by method."""
    from lsprotocol import types

    assert session.root is not None
    root = session.root

    def doc(path: str) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(uri=session.uri(path))

    def pos(p: Probe) -> types.Position:
        return types.Position(line=p.line, character=p.character)

    def params_for(method: str, item: Any) -> Any:
        if method == "definition":
            return types.DefinitionParams(text_document=doc(item.path), position=pos(item))
        if method == "references":
            return types.ReferenceParams(
                text_document=doc(item.path),
                position=pos(item),
                context=types.ReferenceContext(include_declaration=True),
            )
        if method == "hover":
            return types.HoverParams(text_document=doc(item.path), position=pos(item))
        if method == "documentSymbol":
            return types.DocumentSymbolParams(text_document=doc(item))
        return types.WorkspaceSymbolParams(query=item[0])

    # references last: it is the slowest, and the likeliest to time out
    work: dict[str, Iterable[Any]] = {
        "definition": plan.definition,
        "documentSymbol": plan.document_symbol,
        "workspace/symbol": plan.queries,
        "hover": plan.hover,
        "references": plan.references,
    }
    lsp_method = dict(METHODS)
    # Warm up: a few untimed requests of each kind, at positions not measured.
    for method in work:
        items: list[Any] = {
            "documentSymbol": plan.files[:3],
            "workspace/symbol": [("Mod", "warmup"), ("get", "warmup"), ("xq", "warmup")],
        }.get(method, plan.warmup)
        for item in items:
            await session.request(lsp_method[method], params_for(method, item))
    results: dict[str, list[dict[str, Any]]] = {}
    for method, planned in work.items():
        rows = []
        todo = list(planned)
        log(f"{session.name}: {len(todo)} x {method}")
        for item in todo:
            timed = await session.request(lsp_method[method], params_for(method, item))
            row = summarize(method, root, timed, session.timeout)
            if isinstance(item, Probe):
                row.update(source=item.source, name=item.name)
                if item.resolution:
                    row["resolution"] = item.resolution
            elif isinstance(item, tuple):
                row.update(query=item[0], how=item[1])
            rows.append(row)
        results[method] = rows
    return results


def toggle(session: Session, site: EditSite) -> int:
    """The next one-character edit at ``site``: add an ``x`` after the call's name, or take
    it out again (so the text is valid Python after every edit); returns the new version."""
    version = session.versions.get(site.path, 1) + 1
    session.versions[site.path] = version
    start = (site.line, site.character)
    if site.path in session.toggled:
        session.toggled.discard(site.path)
        session.change(site.path, version, start, (site.line, site.character + 1), "")
    else:
        session.toggled.add(site.path)
        session.change(site.path, version, start, start, "x")
    return version


async def measure_edits(session: Session, plan: Plan, edits: int, gap: float) -> dict[str, Any]:
    """One-character edits in a function body of each edit file, timed to the index.

    Each edit waits for its ``hexad/documentIndexed`` before the next is sent (a pause of
    ``gap`` seconds in between, like typing), so no two edits are indexed together.
    """
    out: dict[str, Any] = {}
    for site in plan.edits:
        server_ms: list[float] = []
        client_ms: list[float] = []
        missed = 0
        for _ in range(edits):
            if STOPPING:
                raise asyncio.CancelledError
            version = session.versions.get(site.path, 1) + 1
            waiter = session.expect_indexed(site.path, version)
            started = time.perf_counter()
            toggle(session, site)
            try:
                arrived, ms = await asyncio.wait_for(waiter, 10)
            except TimeoutError:
                missed += 1
                session.doc_waiters.pop((site.path, version), None)
                continue
            client_ms.append((arrived - started) * 1000)
            server_ms.append(ms)
            await asyncio.sleep(gap)
        out[site.path] = {
            "lines": site.lines,
            "line": site.line + 1,
            "call": site.name,
            "edits": edits,
            "missed": missed,
            "server_ms": stats(server_ms),
            "client_ms": stats(client_ms),
            "server_samples": [round(v, 3) for v in server_ms],
            "client_samples": [round(v, 3) for v in client_ms],
        }
    return out


async def ws_after_edit(session: Session, plan: Plan, rounds: int = 10) -> dict[str, Any]:
    """workspace/symbol sent right after an edit is indexed, ``rounds`` times."""
    from lsprotocol import types

    site = plan.edits[0]
    times = []
    for i in range(rounds):
        waiter = session.expect_indexed(site.path, session.versions.get(site.path, 1) + 1)
        toggle(session, site)
        await asyncio.wait_for(waiter, 10)
        query = plan.queries[i % len(plan.queries)][0]
        timed = await session.request("workspace/symbol", types.WorkspaceSymbolParams(query=query))
        if not timed.skipped:
            times.append(timed.ms)
    if site.path in session.toggled:  # leave the text as it was
        waiter = session.expect_indexed(site.path, session.versions.get(site.path, 1) + 1)
        toggle(session, site)
        await asyncio.wait_for(waiter, 10)
    return {**stats(times), "samples": [round(v, 3) for v in times]}


async def add_function(session: Session, plan: Plan, texts: dict[str, str]) -> dict[str, Any]:
    """Append a function to the ~1,000-line file; is it in the next documentSymbol?

    Timed from sending the ``didChange`` to the ``documentSymbol`` answer.
    """
    from lsprotocol import types

    path = plan.edits[0].path
    version = session.versions.get(path, 1) + 1
    session.versions[path] = version
    last = texts[path].count("\n")
    added = f"\n\ndef {ADDED_FUNCTION}(value):\n    return value\n"
    started = time.perf_counter()
    session.change(path, version, (last, 0), (last, 0), added)
    identifier = types.TextDocumentIdentifier(uri=session.uri(path))
    timed = await session.request(
        "textDocument/documentSymbol", types.DocumentSymbolParams(text_document=identifier)
    )
    names = _symbol_names(timed.result)
    return {
        "file": path,
        "present": ADDED_FUNCTION in names,
        "ms": round((time.perf_counter() - started) * 1000, 3),
        "symbols": len(names),
        "error": timed.error,
    }


async def run_server(
    name: str,
    cmd: list[str],
    init_options: Any,
    root: Path,
    plan_source: Callable[[], Plan] | Plan,
    args: argparse.Namespace,
) -> tuple[dict[str, Any], Plan]:
    """Start one server, measure everything planned, and shut it down.

    ``plan_source`` is the plan, or (for Hexad, which runs first) a function that makes it
    from the index the server has just built.
    """
    # Each server gets its own, empty XDG_CACHE_HOME: jedi keeps parsed modules on disk
    # there, and one server must not start with the other's cache (or an earlier run's).
    cache = root.parent / f"xdg-cache-{name}"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    session = Session(name, cmd, init_options, args.timeout, args.drain, env, args.give_up)
    result: dict[str, Any] = {"command": " ".join(cmd)}
    try:
        log(f"{name}: starting")
        started = time.perf_counter()
        result["initialize_ms"] = round(await session.start(root), 1)
        result["server_info"] = session.server_info
        if name == "hexad":
            assert session.indexed is not None
            try:
                indexed = await asyncio.wait_for(session.indexed, args.index_timeout)
            except TimeoutError as exc:
                raise BenchError(f"hexad: no hexad/indexed in {args.index_timeout} s") from exc
            result["indexed"] = {
                "files": _field(indexed, "files"),
                "symbols": _field(indexed, "symbols"),
                "server_s": _field(indexed, "seconds"),
                "client_s": round(time.perf_counter() - started, 3),
            }
            log(f"hexad: indexed {result['indexed']}")
        plan = plan_source() if callable(plan_source) else plan_source
        texts = {p: (root / p).read_text(encoding="utf-8") for p in plan.files}
        opened = [session.expect_indexed(p, 1) for p in plan.files] if name == "hexad" else []
        started = time.perf_counter()
        for path in plan.files:
            session.open(path, texts[path])
        if opened:
            await asyncio.wait_for(asyncio.gather(*opened), 60)
            result["open_indexed_s"] = round(time.perf_counter() - started, 3)
        result["methods"] = await measure_methods(session, plan)
        if name == "hexad":
            log(f"hexad: {args.edits} one-character edits in each of {len(plan.edits)} files")
            result["edits"] = await measure_edits(session, plan, args.edits, args.edit_gap / 1000)
            result["ws_after_edit"] = await ws_after_edit(session, plan)
        result["add_function"] = await add_function(session, plan, texts)
        result["memory"] = session.memory_mb()
        result["notifications"] = dict(session.notifications)
        result["unresponsive"] = session.unresponsive
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(f"{name}: {exc!r}\n{session.stderr()}") from exc
    finally:
        result["clean_shutdown"] = await session.close()
    return result, plan


# --------------------------------------------------------------------------- results


CERTAIN = ("local", "self", "import", "unique")


def probe_group(row: dict[str, Any]) -> str:
    """Which kind of position a request was made at, for the breakdown."""
    source = row.get("source", "?")
    if source == "call":
        return "call, index-resolved" if row.get("resolution") in CERTAIN else "call, other"
    return {"def": "definition name", "name": "any name token"}.get(source, source)


def method_summary(all_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency statistics and answer sizes of one method's requests on one server."""
    rows = [r for r in all_rows if not r.get("skipped")]
    items = [r.get("items", 0) for r in rows]
    return {
        **stats([r["ms"] for r in rows]),
        "skipped": len(all_rows) - len(rows),
        "non_empty": sum(1 for n in items if n),
        "mean_items": round(statistics.fmean(items), 2) if items else 0,
        "timeouts": sum(1 for r in rows if r.get("timeout")),
        "errors": sum(1 for r in rows if r.get("error") and not r.get("timeout")),
    }


def compare(results: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """Per-method summaries, breakdowns by position kind, and definition agreement."""
    summary: dict[str, Any] = {}
    for method, _lsp in METHODS:
        summary[method] = {s: method_summary(results[s]["methods"][method]) for s in SERVERS}
    breakdown: dict[str, Any] = {}
    for method in ("definition", "references", "hover"):
        groups: dict[str, dict[str, list[float]]] = {}
        for server in SERVERS:
            for row in results[server]["methods"][method]:
                if row.get("skipped"):
                    continue
                groups.setdefault(probe_group(row), {s: [] for s in SERVERS})[server].append(
                    row["ms"]
                )
        breakdown[method] = {
            g: {s: stats(v) for s, v in by.items()} for g, by in sorted(groups.items())
        }
    hexad_defs = results["hexad"]["methods"]["definition"]
    jedi_defs = results["jedi"]["methods"]["definition"]
    both = agree = 0
    for h, j in zip(hexad_defs, jedi_defs, strict=True):
        if h.get("targets") and j.get("targets"):
            both += 1
            agree += bool(set(h["targets"]) & set(j["targets"]))
    resolutions = Counter(p.resolution for p in plan.definition if p.source == "call")
    errors: dict[str, dict[str, int]] = {}
    for server in SERVERS:
        for method, rows in results[server]["methods"].items():
            kinds = Counter(
                re.sub(r"\(.*", "(...)", r["error"])
                for r in rows
                if r.get("error") and not r.get("timeout") and not r.get("skipped")
            )
            if kinds:
                errors[f"{server} {method}"] = dict(kinds.most_common(3))
    return {
        "errors": errors,
        "summary": summary,
        "breakdown": breakdown,
        "definition_agreement": {"both_answered": both, "same_target": agree},
        "definition_call_resolutions": dict(resolutions.most_common()),
    }


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it was met."""
    summary = results["comparison"]["summary"]
    near_1000 = results["plan"]["edit_files"][0]
    edit = results["hexad"]["edits"][near_1000]
    out = [
        {
            "target": f"didChange -> index updated p95 <= 20 ms ({near_1000}, "
            f"{edit['lines']:,} lines; client-observed)",
            "value": edit["client_ms"]["p95"],
            "limit": 20.0,
            "note": f"server-reported p95 {_ms(edit['server_ms']['p95'])} ms",
        },
        {
            "target": "workspace/symbol p95 <= 50 ms",
            "value": summary["workspace/symbol"]["hexad"]["p95"],
            "limit": 50.0,
        },
    ]
    for method in ("definition", "references"):
        out.append(
            {
                "target": f"{method} p50 <= jedi-language-server p50",
                "value": summary[method]["hexad"]["p50"],
                "limit": summary[method]["jedi"]["p50"],
                "note": f"p95 {_ms(summary[method]['hexad']['p95'])} ms vs "
                f"{_ms(summary[method]['jedi']['p95'])} ms",
            }
        )
    for t in out:
        t["met"] = t["value"] is not None and t["limit"] is not None and t["value"] <= t["limit"]
    return out


def machine_info(peer: Peer, workspace: Any, root: Path) -> dict[str, Any]:
    """Where and with what the numbers were taken."""
    from importlib.metadata import version

    from hexad import __version__

    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "hexad": __version__,
        "hexad_commit": commit or None,
        "hexad_jedi": version("jedi"),
        "client": f"pygls {version('pygls')} LanguageClient, lsprotocol {version('lsprotocol')}, "
        f"capabilities: pytest-lsp {version('pytest-lsp')} '{CLIENT_SPEC}' (VS Code 1.65.2)",
        "peer": peer.versions,
        "package": f"{workspace.name} {workspace.version}",
        "python_files": workspace.py_files,
        "python_bytes": workspace.source_bytes,
        "workspace": str(root),
    }


# --------------------------------------------------------------------------- report


def _ms(value: float | None) -> str:
    """Milliseconds for the table."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print rows under a header, first column left-aligned, the rest right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    text = line(header)
    print(text)
    print("-" * len(text))
    for row in rows:
        print(line(row))


def print_report(r: dict[str, Any]) -> None:
    """The human-readable report."""
    m, h, j, c = r["machine"], r["hexad"], r["jedi"], r["comparison"]
    p = r["plan"]
    print("Hexad language server vs jedi-language-server")
    print(
        f"  machine    {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; load average "
        f"{' '.join(map(str, m['loadavg_start']))} at start, "
        f"{' '.join(map(str, m['loadavg_end']))} at end"
    )
    print(
        f"  hexad      {m['hexad']} ({m['hexad_commit']}), '{h['server_info']}', "
        f"jedi {m['hexad_jedi']} for what the index is not sure of"
    )
    print(
        f"             started as: {h['command']}"
        + (
            f", initializationOptions {json.dumps(r['hexad_settings'])}"
            if r["hexad_settings"]
            else ""
        )
    )
    pv = m["peer"]
    print(
        f"  peer       jedi-language-server {pv['jedi-language-server']} (jedi {pv['jedi']}, "
        f"parso {pv['parso']}, pygls {pv['pygls']}), "
        f"workspace.symbols.maxSymbols={JLS_MAX_SYMBOLS} (its default is 20)"
    )
    print(f"  client     {m['client']}, stdio")
    print(
        f"  workspace  {m['package']}: {m['python_files']} .py files, "
        f"{m['python_bytes'] / 1e6:.1f} MB, a fresh copy at {m['workspace']}"
    )
    ix = h["indexed"]
    print(
        f"  startup    Hexad: initialize {h['initialize_ms']:.0f} ms, hexad/indexed after "
        f"{ix['client_s']:.2f} s ({ix['files']} files, {ix['symbols']:,} symbols; server says "
        f"{ix['server_s']:.2f} s); {len(p['files'])} opened files indexed in "
        f"{h['open_indexed_s']:.2f} s. jedi-ls: initialize {j['initialize_ms']:.0f} ms"
    )
    print(
        f"  requests   sequential, one in flight; {p['requests']} per method ({p['references']} "
        f"references), after {p['warmup']} untimed warm-ups; timeout {r['timeout_s']:g} s "
        f"(a timeout counts as {r['timeout_s']:g} s); seed {p['seed']}"
    )
    print(
        f"  memory     peak RSS of the server process: Hexad {h['memory']['peak_rss_mb']:.0f} MB, "
        f"jedi-ls {j['memory']['peak_rss_mb']:.0f} MB"
    )
    print(
        "  shutdown   "
        + ", ".join(
            f"{SERVER_LABELS[s]} {'clean' if r[s]['clean_shutdown'] else 'KILLED'}" for s in SERVERS
        )
        + "; each server had its own empty XDG_CACHE_HOME (jedi's disk cache)"
    )
    for s in SERVERS:
        if r[s]["unresponsive"]:
            print(
                f"  WARNING    {SERVER_LABELS[s]} stopped answering at {r[s]['unresponsive']} "
                f"({r['give_up']} timeouts in a row); every later request to it was skipped"
            )
    print()
    rows = []
    for method, _lsp in METHODS:
        hs, js = c["summary"][method]["hexad"], c["summary"][method]["jedi"]
        ratio = f"{js['p50'] / hs['p50']:.1f}x" if hs["p50"] and js["p50"] else "-"
        rows.append(
            (
                method,
                str(hs["count"]),
                _ms(hs["p50"]),
                _ms(hs["p95"]),
                _ms(hs["mean"]),
                _ms(js["p50"]),
                _ms(js["p95"]),
                _ms(js["mean"]),
                ratio,
            )
        )
    _table(
        (
            "method (ms)",
            "n",
            "Hexad p50",
            "Hexad p95",
            "mean",
            "jedi-ls p50",
            "jedi-ls p95",
            "mean",
            "ratio p50 jedi/hexad",
        ),
        rows,
    )
    print()
    rows = []
    for method, _lsp in METHODS:
        hs, js = c["summary"][method]["hexad"], c["summary"][method]["jedi"]
        rows.append(
            (
                method,
                f"{hs['non_empty']}/{hs['count']}",
                f"{hs['mean_items']:g}",
                f"{hs['timeouts']}/{hs['errors']}/{hs['skipped']}",
                f"{js['non_empty']}/{js['count']}",
                f"{js['mean_items']:g}",
                f"{js['timeouts']}/{js['errors']}/{js['skipped']}",
            )
        )
    _table(
        (
            "answers",
            "Hexad non-empty",
            "mean items",
            "timeouts/errors/skipped",
            "jedi-ls non-empty",
            "mean items",
            "timeouts/errors/skipped",
        ),
        rows,
    )
    agreement = c["definition_agreement"]
    for where, kinds in c["errors"].items():
        server, method = where.split(" ", 1)
        print(
            f"errors: {SERVER_LABELS[server]} {method}: "
            + ", ".join(f"{n} x {text}" for text, n in kinds.items())
        )
    print(
        f"definition: both servers answered {agreement['both_answered']} of "
        f"{p['requests']}; the same target (file and line) in {agreement['same_target']}. "
        "Call-site probes by Hexad's resolution: "
        + ", ".join(f"{k} {v}" for k, v in c["definition_call_resolutions"].items())
    )
    print()
    rows = []
    for method, groups in c["breakdown"].items():
        for group, by in groups.items():
            hs, js = by["hexad"], by["jedi"]
            rows.append(
                (
                    f"{method}: {group}",
                    str(hs["count"]),
                    _ms(hs["p50"]),
                    _ms(hs["p95"]),
                    _ms(js["p50"]),
                    _ms(js["p95"]),
                )
            )
    _table(("by position (ms)", "n", "Hexad p50", "Hexad p95", "jedi-ls p50", "jedi-ls p95"), rows)
    print()
    print(
        f"didChange (Hexad): one-character edits in a function body, {r['edits']} per file, "
        f"{r['edit_gap_ms']:g} ms apart, each waited for"
    )
    rows = []
    for path, e in h["edits"].items():
        rows.append(
            (
                f"{path} ({e['lines']:,} lines, line {e['line']})",
                _ms(e["server_ms"]["p50"]),
                _ms(e["server_ms"]["p95"]),
                _ms(e["client_ms"]["p50"]),
                _ms(e["client_ms"]["p95"]),
                _ms(e["client_ms"]["max"]),
                str(e["missed"]),
            )
        )
    _table(
        ("file", "server p50", "server p95", "client p50", "client p95", "client max", "missed"),
        rows,
    )
    print(
        "  server = 'ms' in hexad/documentIndexed; client = didChange sent -> that "
        "version's hexad/documentIndexed received"
    )
    wa = h["ws_after_edit"]
    print(
        f"  workspace/symbol right after an edit is indexed: p50 {_ms(wa['p50'])} ms, "
        f"p95 {_ms(wa['p95'])} ms ({wa['count']} samples)"
    )
    for server in SERVERS:
        add = r[server]["add_function"]
        print(
            f"  {SERVER_LABELS[server]:<8} didChange adding def {ADDED_FUNCTION}() to "
            f"{add['file']}, then documentSymbol: "
            f"{'yes' if add['present'] else 'NO'}, answered after {add['ms']:.1f} ms"
            + (f" with an error: {add['error']}" if add["error"] else "")
        )
    print()
    print("targets")
    for t in r["targets"]:
        mark = "met   " if t["met"] else "MISSED"
        note = f"; {t['note']}" if t.get("note") else ""
        print(
            f"  [{mark}] {t['target']}: measured {_ms(t['value'])} ms, "
            f"limit {_ms(t['limit'])} ms{note}"
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per method")
    parser.add_argument(
        "--references",
        type=int,
        default=None,
        help="references requests (default: half of --requests; both servers take seconds "
        "on some of these)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON results instead")
    parser.add_argument("--files", type=int, default=24, help="files to open, besides edits")
    parser.add_argument("--edits", type=int, default=60, help="didChange edits per file")
    parser.add_argument(
        "--edit-gap", type=float, default=50.0, help="ms between edits (typing pace)"
    )
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per method")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument(
        "--give-up",
        type=int,
        default=3,
        help="timeouts in a row after which a server counts as no longer answering",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=120.0,
        help="seconds to wait for a timed-out request's answer before going on",
    )
    parser.add_argument("--index-timeout", type=float, default=300.0, help="for hexad/indexed")
    parser.add_argument("--seed", type=int, default=1, help="seed for positions and queries")
    parser.add_argument("--package", default=DEFAULT_PACKAGE, help="pip requirement to serve")
    parser.add_argument("--jls", default=DEFAULT_JLS, help="pip requirement of the peer")
    parser.add_argument(
        "--cache",
        type=Path,
        default=CACHE_ROOT,
        help=f"where the workspace and the peer are installed (default {CACHE_ROOT})",
    )
    parser.add_argument("--hexad-log", type=Path, default=None, help="hexad serve --log-file")
    parser.add_argument(
        "--hexad-cmd",
        default=None,
        help="command that starts Hexad's server, to compare a variant "
        "(default: this interpreter -m hexad serve)",
    )
    parser.add_argument(
        "--hexad-settings",
        type=json.loads,
        default=None,
        help='initializationOptions for Hexad as JSON, e.g. \'{"index": {"watch": false}}\'',
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.edits < 2 or args.files < 1:
        parser.error("--requests and --files must be at least 1, --edits at least 2")
    if args.references is None:
        args.references = max(1, args.requests // 2)
    if args.cache.resolve().is_relative_to(REPO_ROOT):
        parser.error("--cache must be outside the repository (no third-party code in it)")
    return args


async def run_both(args: argparse.Namespace, root: Path, peer: Peer) -> dict[str, Any]:
    """Hexad first (its index picks the plan), then jedi-language-server on the same plan.

    SIGTERM cancels this task, so the servers are shut down on the way out.
    """
    task = asyncio.current_task()

    def interrupted() -> None:
        log("SIGTERM: stopping the servers")
        STOPPING.append(True)  # wait_for can swallow a cancel: the loops check this too
        if task is not None:
            task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, interrupted)
    hexad_cmd = (
        shlex.split(args.hexad_cmd) if args.hexad_cmd else [sys.executable, "-m", "hexad", "serve"]
    )
    if args.hexad_log:
        hexad_cmd += ["--log-file", str(args.hexad_log)]
    hexad, plan = await run_server(
        "hexad", hexad_cmd, args.hexad_settings, root, lambda: build_plan(root, args), args
    )
    jedi_options = {"workspace": {"symbols": {"maxSymbols": JLS_MAX_SYMBOLS}}}
    jedi, _ = await run_server("jedi", [str(peer.executable)], jedi_options, root, plan, args)
    return {"hexad": hexad, "jedi": jedi, "plan_obj": plan}


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Everything, on one fresh copy of the workspace, in one run."""
    index_bench = _load_index_bench()
    try:
        workspace = index_bench.prepare_workspace(args.package, args.cache)
    except index_bench.BenchError as exc:
        raise BenchError(str(exc)) from exc
    peer = ensure_jls(args.cache, args.jls)
    with tempfile.TemporaryDirectory(prefix="hexad-bench-lsp-") as tmp:
        root = copy_workspace(workspace.tree, Path(tmp))
        machine = machine_info(peer, workspace, root)
        try:
            results = asyncio.run(run_both(args, root, peer))
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            raise BenchError("interrupted") from exc
        finally:
            for proc in STARTED:  # after an interrupt: no server outlives the benchmark
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGKILL)
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    plan: Plan = results.pop("plan_obj")
    results["machine"] = machine
    results["timeout_s"] = args.timeout
    results["give_up"] = args.give_up
    results["hexad_settings"] = args.hexad_settings
    results["edits"] = args.edits
    results["edit_gap_ms"] = args.edit_gap
    results["plan"] = {
        "seed": args.seed,
        "requests": args.requests,
        "references": args.references,
        "warmup": args.warmup,
        "files": plan.files,
        "edit_files": [e.path for e in plan.edits],
        "queries": plan.queries,
        "probes": {
            "definition": [asdict(p) for p in plan.definition],
            "references": [asdict(p) for p in plan.references],
            "hover": [asdict(p) for p in plan.hover],
        },
    }
    results["comparison"] = compare(results, plan)
    results["targets"] = evaluate_targets(results)
    return results


def _terminate(signum: int, _frame: Any) -> None:
    """SIGTERM: unwind like Ctrl-C, so servers are stopped and the copy is removed."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        results = run_benchmark(args)
    except BenchError as exc:
        print(f"bench/lsp.py: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
