"""Benchmark memory's recall quality and speed on Django's source.

Queries are the first lines of function and method docstrings; each query's target is
its function, indexed *without* that docstring (``MemorySync(include_doc=...)``), so a
query can only find its target through the name, the signature and the code. For every
search mode it reports recall@10 and MRR@10:

* ``keyword``: FTS5 BM25 alone;
* ``vector``: the workspace's own embedding (PPMI + SVD, trained on the workspace) alone;
* ``hybrid``: both, fused as ``hexad.memory.search`` fuses them (what the server uses);
* ``vector`` and ``hybrid`` with llama.cpp embeddings from the gemma3-270m GGUF, when
  ``llama_cpp`` and ``hexad.inference.embedding`` are there. Embedding with that model is
  slow on a small machine (about 1.5 chunks/s on 2 cores), so those rows use a subset
  corpus (150 query targets plus random other chunks, 600 in all, by default), and every
  mode is measured again on that subset too. llama.cpp runs one thread by default: with
  two on a busy 2-core machine a query took seconds instead of ~0.15 s.

It also reports ingest speed (chunk pass, training, embed pass) and query latency
percentiles at full Django size and at 50k chunks (Django copied under ``copy0/`` ...),
for the in-process mirror (the server) and the sqlite-vec ``vec0`` path.

Run it as ``.venv/bin/python bench/memory.py [--queries N] [--skip-llama] [--skip-50k]
[--json PATH]``; ``--package 'sqlalchemy==2.0.*'`` measures another code base (a hold-out
for constants tuned on Django). Progress goes to stderr, the report to stdout. It never
fails on a missed target: the exit status is non-zero only when something broke. Not a
test.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import inspect
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from hexad.core.db import Connection, connect, database_path, load_vector_extension, transaction
from hexad.core.embedding import Embedder, EmbedderWrapper, Vectors
from hexad.memory import Memory
from hexad.memory.chunks import Chunk, SymbolRow, build_chunks
from hexad.memory.store import ItemStore
from hexad.memory.sync import MemorySync, SyncReport
from hexad.perception.indexer import Indexer

K = 10
MODES = ("keyword", "vector", "hybrid")
MIN_QUERY_WORDS = 3
SCALE_CHUNKS = 50_000
WARMUP_QUERIES = 30
TARGETS = {"mrr_gain": 0.10, "p95_ms_at_50k": 20.0}
LLAMA_MAX_TOKENS = 128
LLAMA_THREADS = 1  # see --llama-threads


class BenchError(Exception):
    """Something the benchmark needs is missing or broke (not a missed target)."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


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


index_bench = _load_index_bench()


# --------------------------------------------------------------------------- workspaces


def copy_tree(source: Path, target: Path) -> None:
    """A copy of ``source`` without its ``.hexad`` (so nothing cached is reused)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))


def open_indexed(root: Path) -> tuple[Connection, dict[str, Any]]:
    """Index ``root`` from scratch; the connection and what the indexer reported."""
    conn = connect(database_path(root))
    load_vector_extension(conn)
    started = time.perf_counter()
    summary = Indexer(root, conn=conn).run()
    return conn, {
        "seconds": round(time.perf_counter() - started, 3),
        "files": summary.files,
        "symbols": summary.symbols,
    }


def all_chunks(conn: Connection, root: Path) -> list[Chunk]:
    """Every chunk sync would build (docstrings included), with the same keys."""
    chunks: list[Chunk] = []
    files = conn.execute(
        "SELECT id, path, language FROM files WHERE hash IS NOT NULL"
        " AND skip_reason IS NULL AND language IS NOT NULL ORDER BY path"
    ).fetchall()
    for file_id, path, language in files:
        text = (root / path).read_bytes().decode("utf-8", "replace")
        rows = [
            SymbolRow(*row)
            for row in conn.execute(
                "SELECT id, parent_id, name, kind, qualname, start_line, end_line, signature,"
                " doc FROM symbols WHERE file_id = ?",
                (file_id,),
            )
        ]
        chunks.extend(build_chunks(path, language, text, rows))
    return chunks


class Throttled:
    """A sync progress callback that logs each phase about every 20%."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.last: dict[str, int] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        step = max(total // 5, 1)
        if done >= total or done - self.last.get(phase, -step) >= step:
            self.last[phase] = done
            log(f"{self.label}: {phase} {done}/{total}")


def sync(
    conn: Connection,
    root: Path,
    label: str,
    embedder: Embedder | None = None,
    include_doc: Callable[[Chunk], bool] | None = None,
) -> SyncReport:
    return MemorySync(conn, root, embedder, include_doc=include_doc).run(Throttled(label))


def ingest_figures(report: SyncReport, chunks: int) -> dict[str, Any]:
    """Chunk pass, training and embed pass as seconds and chunks per second."""
    chunk_s = report.phases.get("chunks", 0.0)
    train_s = report.phases.get("train", 0.0)
    embed_s = report.phases.get("embed", 0.0) - train_s
    return {
        "chunks": chunks,
        "chunk_pass_s": round(chunk_s, 3),
        "chunk_pass_per_s": round(report.chunks_added / chunk_s, 1) if chunk_s else None,
        "train_s": round(train_s, 3),
        "embed_pass_s": round(embed_s, 3),
        "embed_per_s": round(report.embedded / embed_s, 1) if embed_s else None,
        "embedded": report.embedded,
        "model": report.model,
    }


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True, slots=True)
class Query:
    key: str  # the target chunk's key, path::qualname[#n]
    text: str  # the first line of the target's docstring


def first_line(doc: str) -> str:
    lines = doc.strip().splitlines()
    return lines[0].strip() if lines else ""


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def select_queries(
    chunks: Sequence[Chunk], n: int, seed: int
) -> tuple[list[Query], dict[str, int]]:
    """Functions and methods whose docstring's first line has at least three words.

    A first line that another chunk's docstring also starts with names no single target,
    so those are dropped (and counted). Returns the seeded sample of ``n`` (0: all) in a
    seeded random order, and the counts behind it.
    """
    firsts = Counter(_norm(first_line(c.doc)) for c in chunks if c.doc.strip())
    candidates, ambiguous = [], 0
    for chunk in chunks:
        if chunk.kind not in ("function", "method"):
            continue
        line = first_line(chunk.doc)
        if len(line.split()) < MIN_QUERY_WORDS:
            continue
        if firsts[_norm(line)] > 1:
            ambiguous += 1
            continue
        candidates.append(Query(chunk.key, line))
    candidates.sort(key=lambda q: q.key)
    rng = random.Random(seed)
    picked = rng.sample(candidates, n) if 0 < n < len(candidates) else list(candidates)
    rng.shuffle(picked)
    counts = {
        "chunks": len(chunks),
        "functions_with_doc": sum(
            1 for c in chunks if c.kind in ("function", "method") and c.doc.strip()
        ),
        "eligible": len(candidates),
        "ambiguous_dropped": ambiguous,
        "sampled": len(picked),
    }
    return picked, counts


def check_leaks(conn: Connection, queries: Sequence[Query]) -> tuple[list[Query], list[str]]:
    """Targets whose indexed text still holds their query line (or that are missing)."""
    store = ItemStore(conn)
    clean, problems = [], []
    for q in queries:
        item = store.by_key(q.key)
        if item is None:
            problems.append(f"{q.key}: not in memory")
            continue
        fts_doc = conn.execute("SELECT doc FROM memory_fts WHERE rowid = ?", (item.id,)).fetchone()
        haystack = _norm(
            "\n".join(p or "" for p in (item.qualname, item.title, item.doc, item.body))
        )
        if item.doc or (fts_doc and fts_doc[0]) or _norm(q.text) in haystack:
            problems.append(f"{q.key}: query line found in the indexed text: {q.text!r}")
            continue
        clean.append(q)
    return clean, problems


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    """One pass of every query through one mode."""

    ranks: list[int | None] = field(default_factory=list)  # 1-based, None: not in top K
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)


def run_queries(memory: Memory, queries: Sequence[Query], mode: str, repeat: int) -> Run:
    """Warm up, then time ``repeat`` passes; ranks come from the first pass."""
    for q in queries[:WARMUP_QUERIES]:
        memory.recall(q.text, K, mode=mode)  # type: ignore[arg-type]
    run = Run()
    for pass_no in range(repeat):
        for q in queries:
            wall, cpu = time.perf_counter(), time.process_time()
            found = memory.recall(q.text, K, mode=mode)  # type: ignore[arg-type]
            run.cpu_ms.append((time.process_time() - cpu) * 1e3)
            run.wall_ms.append((time.perf_counter() - wall) * 1e3)
            if pass_no == 0:
                keys = [r.item.key for r in found]
                run.ranks.append(keys.index(q.key) + 1 if q.key in keys else None)
    return run


def quality(ranks: Sequence[int | None]) -> dict[str, Any]:
    n = len(ranks)
    hits = [r for r in ranks if r is not None and r <= K]
    return {
        "queries": n,
        "recall@10": round(len(hits) / n, 4) if n else None,
        "mrr@10": round(sum(1.0 / r for r in hits) / n, 4) if n else None,
    }


def latency(run: Run) -> dict[str, Any]:
    wall = np.asarray(run.wall_ms)
    cpu = np.asarray(run.cpu_ms)
    p50, p95, p99 = np.percentile(wall, [50, 95, 99])
    c50, c95 = np.percentile(cpu, [50, 95])
    return {
        "timed": len(wall),
        "p50_ms": round(float(p50), 2),
        "p95_ms": round(float(p95), 2),
        "p99_ms": round(float(p99), 2),
        "cpu_p50_ms": round(float(c50), 2),
        "cpu_p95_ms": round(float(c95), 2),
    }


def measure_modes(
    conn: Connection,
    root: Path,
    queries: Sequence[Query],
    repeat: int,
    label: str,
    *,
    embedder: Embedder | None = None,
    modes: Sequence[str] = MODES,
    mirrors: Sequence[bool] = (True, False),
) -> dict[str, dict[str, Any]]:
    """Quality and latency per mode and search path; checks both paths rank alike."""
    out: dict[str, dict[str, Any]] = {}
    for mirror in mirrors:
        path = "mirror" if mirror else "vec0"
        memory = Memory(conn, root, embedder, mirror=mirror)
        for mode in modes:
            log(f"{label}: {mode} queries, {path} path")
            run = run_queries(memory, queries, mode, repeat)
            row = out.setdefault(mode, {"quality": quality(run.ranks), "_ranks": run.ranks})
            row[path] = latency(run)
            if run.ranks != row["_ranks"]:
                differ = sum(a != b for a, b in zip(run.ranks, row["_ranks"], strict=True))
                row.setdefault("notes", []).append(
                    f"the {path} path ranked {differ} targets differently from the first path"
                )
    return out


def compare(
    keyword: Sequence[int | None], vector: Sequence[int | None], hybrid: Sequence[int | None]
) -> dict[str, int]:
    """How hybrid's rank of each target compares with keyword's; ``either_top10``: targets
    that keyword or vector alone puts in its top 10 (what a perfect fusion could reach)."""
    out = Counter[str]()
    for kw, vec, hy in zip(keyword, vector, hybrid, strict=True):
        a, v, b = kw or K + 1, vec or K + 1, hy or K + 1
        if a == b:
            out["same" if a <= K else "both_missed"] += 1
        else:
            out["hybrid_better" if b < a else "hybrid_worse"] += 1
        if a <= K < b:
            out["lost_by_hybrid"] += 1
        if b <= K < a:
            out["gained_by_hybrid"] += 1
        if min(a, v) <= K:
            out["either_top10"] += 1
    return dict(out)


def examples(
    queries: Sequence[Query], rows: dict[str, dict[str, Any]], limit: int = 8
) -> list[dict[str, Any]]:
    """Queries that keyword found and hybrid lost (the interesting failures)."""
    kw, vec, hy = (rows[m]["_ranks"] for m in ("keyword", "vector", "hybrid"))
    out = []
    for i, q in enumerate(queries):
        if kw[i] is not None and hy[i] is None:
            out.append(
                {
                    "query": q.text,
                    "target": q.key,
                    "keyword": kw[i],
                    "vector": vec[i],
                    "hybrid": None,
                }
            )
            if len(out) >= limit:
                break
    return out


# --------------------------------------------------------------------------- llama


class CachedQueries(EmbedderWrapper):
    """An embedder that times the model and remembers query vectors, so hybrid reuses
    vector's (query embedding is timed apart)."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.cache: dict[str, Vectors] = {}
        self.query_ms: list[float] = []
        self.documents = 0
        self.documents_s = 0.0

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        started = time.perf_counter()
        vectors = self.inner.embed_documents(texts)
        self.documents_s += time.perf_counter() - started
        self.documents += len(texts)
        return vectors

    def forget_queries(self) -> None:
        self.cache.clear()
        self.query_ms.clear()

    def embed_query(self, text: str) -> Vectors:
        if text not in self.cache:
            started = time.perf_counter()
            self.cache[text] = self.inner.embed_query(text)
            self.query_ms.append((time.perf_counter() - started) * 1e3)
        return self.cache[text]


def load_llama(threads: int) -> tuple[Embedder | None, str]:
    """The gemma GGUF through ``LlamaEmbedder``, or None and why not."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None, "llama_cpp is not installed"
    try:
        from hexad.inference import embedding as llama_embedding
    except ImportError as exc:
        return None, f"hexad.inference.embedding cannot be imported ({exc})"
    cls = getattr(llama_embedding, "LlamaEmbedder", None)
    model_path = getattr(llama_embedding, "gemma_model_path", None)
    if cls is None or model_path is None:
        return None, "hexad.inference.embedding has no LlamaEmbedder or gemma_model_path"
    try:
        path = model_path()
    except Exception as exc:  # the model package is optional
        return None, f"the gemma GGUF is not available ({exc})"
    wanted = {"max_tokens": LLAMA_MAX_TOKENS, "n_threads": threads or None}
    accepted = inspect.signature(cls).parameters
    kwargs = {k: v for k, v in wanted.items() if k in accepted and v is not None}
    options = ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "default options"
    return cls(path, **kwargs), f"{Path(path).name} ({options})"


def shrink_to(conn: Connection, keep: set[str]) -> int:
    """Delete every memory item whose key is not in ``keep``; how many are left."""
    ids = [
        item_id
        for item_id, key in conn.execute("SELECT id, key FROM memory_items").fetchall()
        if key not in keep
    ]
    with transaction(conn):
        ItemStore(conn).delete(ids)
    return ItemStore(conn).count()


# --------------------------------------------------------------------------- stages


def stage_full(args: argparse.Namespace, tree: Path, tmp: Path) -> dict[str, Any]:
    """The package as one workspace: quality, ingest and latency; leaves it open."""
    root = tmp / "django"
    copy_tree(tree, root)
    log("full: indexing")
    conn, indexed = open_indexed(root)
    chunks = all_chunks(conn, root)
    queries, counts = select_queries(chunks, args.queries, args.seed)
    targets = {q.key for q in queries}
    report = sync(conn, root, "full", include_doc=lambda c: c.key not in targets)
    clean, problems = check_leaks(conn, queries)
    log(f"full: {len(clean)} queries, {len(problems)} dropped by the leak check")
    rows = measure_modes(conn, root, clean, args.repeat, "full")
    return {
        "root": root,
        "conn": conn,
        "chunks_per_path": Counter(c.path for c in chunks),
        "queries": clean,
        "result": {
            "index": indexed,
            "chunks": ItemStore(conn).count(),
            "query_counts": {**counts, "leaks": len(problems), "evaluated": len(clean)},
            "leaks": problems[:20],
            "ingest": ingest_figures(report, ItemStore(conn).count()),
            "modes": rows,
        },
    }


def stage_scale(
    tree: Path, tmp: Path, per_path: Counter[str], queries: Sequence[Query], repeat: int
) -> dict[str, Any]:
    """The package three times and then some, past 50k chunks: ingest and latency."""
    root = tmp / "scale"
    full = sum(per_path.values())
    copies = SCALE_CHUNKS // full
    for i in range(copies):
        copy_tree(tree, root / f"copy{i}")
    needed, partial = SCALE_CHUNKS - copies * full, []
    for path in sorted(per_path):
        if needed <= 0:
            break
        partial.append(path)
        needed -= per_path[path]
    for path in partial:
        (root / f"copy{copies}" / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tree / path, root / f"copy{copies}" / path)
    log(f"scale: {copies} copies + {len(partial)} files, indexing")
    conn, indexed = open_indexed(root)
    report = sync(conn, root, "scale")
    chunks = ItemStore(conn).count()
    log(f"scale: {chunks} chunks")
    rows = measure_modes(conn, root, queries, repeat, "scale")
    conn.close()
    for row in rows.values():  # quality means nothing with four copies of each target
        row.pop("quality")
        row.pop("_ranks")
    return {
        "copies": copies,
        "partial_files": len(partial),
        "index": indexed,
        "chunks": chunks,
        "ingest": ingest_figures(report, chunks),
        "modes": rows,
    }


def stage_subset(args: argparse.Namespace, full: dict[str, Any]) -> dict[str, Any]:
    """A small corpus where the gemma model is affordable; every mode measured on it."""
    conn, root = full["conn"], full["root"]
    queries: list[Query] = full["queries"][: args.llama_targets]
    targets = {q.key for q in full["queries"]}
    others = sorted(
        key
        for (key,) in conn.execute("SELECT key FROM memory_items").fetchall()
        if key not in targets
    )
    distractors = random.Random(args.seed + 1).sample(
        others, max(0, min(len(others), args.llama_corpus - len(queries)))
    )
    left = shrink_to(conn, {q.key for q in queries} | set(distractors))
    log(f"subset: {len(queries)} targets + {len(distractors)} distractors = {left} chunks")
    out: dict[str, Any] = {
        "chunks": left,
        "targets": len(queries),
        "modes": measure_modes(conn, root, queries, 1, "subset", mirrors=(True,)),
    }
    if args.skip_llama:
        out["llama"] = {"skipped": "--skip-llama"}
        return out
    embedder, detail = load_llama(args.llama_threads)
    if embedder is None:
        log(f"llama: skipped: {detail}")
        out["llama"] = {"skipped": detail}
        return out
    log(f"llama: embedding {left} chunks with {detail} (slow)")
    cached = CachedQueries(embedder)
    report = sync(conn, root, "llama", cached, include_doc=lambda c: c.key not in targets)
    sync_queries = len(cached.query_ms)  # sync may embed query-like texts (to centre the space)
    cached.forget_queries()
    rows = measure_modes(
        conn,
        root,
        queries,
        1,
        "llama",
        embedder=cached,
        modes=("vector", "hybrid"),
        mirrors=(True,),
    )
    q_ms = np.asarray(cached.query_ms or [0.0])
    out["llama"] = {
        "model": detail,
        "dim": embedder.dim,
        "embed_phase_s": round(report.phases.get("embed", 0.0), 2),
        "embedded": report.embedded,
        "model_texts": cached.documents,
        "model_queries_in_sync": sync_queries,
        "model_s": round(cached.documents_s, 2),
        "embed_per_s": round(cached.documents / cached.documents_s, 2)
        if cached.documents_s
        else None,
        "query_embed_p50_ms": round(float(np.percentile(q_ms, 50)), 1),
        "query_embed_p95_ms": round(float(np.percentile(q_ms, 95)), 1),
        "modes": rows,
    }
    return out


# --------------------------------------------------------------------------- report


def machine_info(workspace: Any) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "package": f"{workspace.name} {workspace.version}",
        "tree": str(workspace.tree),
        "hexad_commit": subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
        "memory_code_digest": _code_digest(),
    }


def _code_digest() -> str:
    """A digest of the code measured here (it changes between commits while uncommitted)."""
    server = Path(__file__).resolve().parent.parent / "server" / "hexad"
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted([*server.glob("memory/*.py"), *server.glob("inference/embedding.py")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def print_report(r: dict[str, Any]) -> None:
    m, full = r["machine"], r["full"]
    qc = full["query_counts"]
    print("# Hexad memory benchmark\n")
    print(
        f"machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; load average "
        f"{m['load_average_start']} at start, {m['load_average_end']} at end"
    )
    print(f"workspace: {m['package']} ({full['index']['files']} files, {full['chunks']:,} chunks)")
    print(f"code: {m['hexad_commit']}, memory code digest {m['memory_code_digest']}")
    print(
        f"queries: first docstring lines of {qc['functions_with_doc']:,} documented functions/"
        f"methods -> {qc['eligible']:,} with >= {MIN_QUERY_WORDS} words and a unique first line "
        f"({qc['ambiguous_dropped']} shared lines dropped) -> {qc['sampled']:,} sampled (seed "
        f"{r['seed']}) -> {qc['evaluated']:,} evaluated ({qc['leaks']} failed the leak check)"
    )
    print(
        "leak check: each target is indexed without its docstring; verified that no target's "
        f"indexed name/signature/doc/body contains its query line: {qc['leaks']} violations"
    )
    for line in full["leaks"][:5]:
        print(f"  - {line}")
    print()

    print("## Recall (k = 10)\n")
    rows: list[tuple[Any, ...]] = []
    labels = {"keyword": "keyword (BM25)", "vector": "vector", "hybrid": "hybrid"}
    for corpus, block, emb in (
        (f"full ({full['chunks']:,})", full["modes"], "workspace"),
        *(
            [(f"subset* ({r['subset']['chunks']:,})", r["subset"]["modes"], "workspace")]
            if "subset" in r
            else []
        ),
        *(
            [
                (
                    f"subset* ({r['subset']['chunks']:,})",
                    r["subset"]["llama"]["modes"],
                    "gemma3-270m",
                )
            ]
            if "modes" in r.get("subset", {}).get("llama", {})
            else []
        ),
    ):
        for mode, row in block.items():
            q = row["quality"]
            rows.append(
                (
                    corpus,
                    labels[mode],
                    "-" if mode == "keyword" else emb,
                    q["queries"],
                    _pct(q["recall@10"]),
                    f"{q['mrr@10']:.3f}",
                )
            )
    _table(("corpus (chunks)", "mode", "embedding", "queries", "recall@10", "MRR@10"), rows)
    if "subset" in r:
        s = r["subset"]
        print(
            f"\n*subset: the full {m['package']} memory above with every item deleted except "
            f"{s['targets']} query targets (the first of the evaluated queries) and random "
            f"non-target chunks,\n {s['chunks']:,} chunks in all; the workspace model is the "
            "one trained on the full workspace; BM25 statistics are the subset's.\n Its size "
            "(--llama-targets, --llama-corpus) is what gemma can embed in minutes on a small "
            "machine;\n with this few queries, differences under ~0.05 MRR are noise."
        )
        llama = s.get("llama", {})
        if "skipped" in llama:
            print(f" llama.cpp rows skipped: {llama['skipped']}")
        else:
            print(
                f" gemma: {llama['model']}, {llama['dim']} dims; sync embedded "
                f"{llama['embedded']} chunks in {llama['embed_phase_s']} s (with "
                f"{llama['model_texts'] - llama['embedded']} more documents and "
                f"{llama['model_queries_in_sync']} queries to centre the space);\n the model "
                f"embedded {llama['embed_per_s']} documents/s; a query "
                f"embeds in p50 {llama['query_embed_p50_ms']} / p95 "
                f"{llama['query_embed_p95_ms']} ms; 3,000 chunks would take "
                f"{3000 / (llama['embed_per_s'] or 1) / 60:.0f} min"
            )
    kw, hy = full["modes"]["keyword"]["quality"], full["modes"]["hybrid"]["quality"]
    versus = dict(r["hybrid_vs_keyword"])
    either = versus.pop("either_top10", 0)
    print(
        f"\nhybrid vs keyword on full {m['package']}: "
        f"MRR@10 {hy['mrr@10']:.3f} vs {kw['mrr@10']:.3f} "
        f"= {r['mrr_gain'] * 100:+.1f}% relative; per query: "
        + ", ".join(f"{k} {v}" for k, v in sorted(versus.items()))
        + f"\nkeyword or vector alone has the target in its top 10 for {either} of "
        f"{kw['queries']} queries (recall@10 {_pct(either / kw['queries'])}: the most a "
        "fusion of the two could reach)"
    )
    for ex in r["lost_examples"][:5]:
        print(
            f"  lost by hybrid: {ex['query']!r} -> {ex['target']} "
            f"(keyword #{ex['keyword']}, vector {ex['vector'] or '>10'})"
        )
    print()

    print("## Ingest\n")
    rows = []
    for name, block in (("full", full), *([("50k", r["scale"])] if "scale" in r else [])):
        ing = block["ingest"]
        rows.append(
            (
                f"{name} ({block['chunks']:,} chunks)",
                f"{block['index']['seconds']:.1f}",
                f"{ing['chunk_pass_s']:.1f} ({ing['chunk_pass_per_s']:,.0f}/s)",
                f"{ing['train_s']:.1f}",
                f"{ing['embed_pass_s']:.1f} ({ing['embed_per_s']:,.0f}/s)",
            )
        )
    _table(
        ("workspace", "index s", "chunk pass s (chunks/s)", "train s", "embed pass s (chunks/s)"),
        rows,
    )
    print()

    print("## Query latency (ms, wall clock; CPU time of the process alongside)\n")
    rows = []
    for name, block in (("full", full), *([("50k", r["scale"])] if "scale" in r else [])):
        for mode, row in block["modes"].items():
            for path in ("mirror", "vec0"):
                lat = row.get(path)
                if lat:
                    rows.append(
                        (
                            f"{name} ({block['chunks']:,})",
                            path,
                            mode,
                            lat["timed"],
                            lat["p50_ms"],
                            lat["p95_ms"],
                            lat["p99_ms"],
                            f"{lat['cpu_p50_ms']} / {lat['cpu_p95_ms']}",
                        )
                    )
    _table(("corpus", "path", "mode", "n", "p50", "p95", "p99", "CPU p50 / p95"), rows)
    print(
        "\nmirror: vectors held in process memory (the server); vec0: sqlite-vec KNN "
        f"(one-shot processes). {WARMUP_QUERIES} warm-up queries per mode before timing.\n"
        "CPU time above wall time means a second thread worked (OpenBLAS, in the mirror's "
        "matrix product)."
    )
    for name, block in (("full", full), *([("50k", r["scale"])] if "scale" in r else [])):
        for mode, row in block["modes"].items():
            for note in row.get("notes", []):
                print(f"note, {name} {mode}: {note} (exact ties in similarity break differently)")
    print()

    print("## Targets\n")
    for t in r["targets"]:
        mark = {True: "met   ", False: "MISSED", None: "n/a   "}[t["met"]]
        print(f"[{mark}] {t['target']}: {t['value']}")


def evaluate_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    out = [
        {
            "target": f"hybrid MRR@10 >= BM25 x {1 + TARGETS['mrr_gain']:.2f} "
            f"({r['machine']['package']})",
            "value": f"{r['mrr_gain'] * 100:+.1f}%",
            "met": r["mrr_gain"] >= TARGETS["mrr_gain"],
        }
    ]
    scale = r.get("scale")
    for path in ("mirror", "vec0"):
        p95 = scale["modes"]["hybrid"][path]["p95_ms"] if scale else None
        out.append(
            {
                "target": f"hybrid query p95 <= {TARGETS['p95_ms_at_50k']:g} ms at 50k chunks "
                f"({path} path)",
                "value": "-" if p95 is None else f"{p95} ms",
                "met": None if p95 is None else p95 <= TARGETS["p95_ms_at_50k"],
            }
        )
    return out


def _strip_private(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_private(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_strip_private(v) for v in value]
    return value


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=1000, help="queries to sample (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--repeat", type=int, default=1, help="timed passes per mode")
    parser.add_argument("--skip-llama", action="store_true", help="no llama.cpp rows")
    parser.add_argument("--skip-50k", action="store_true", help="no 50k-chunk latency")
    parser.add_argument(
        "--llama-targets", type=int, default=150, help="query targets in the subset corpus"
    )
    parser.add_argument("--llama-corpus", type=int, default=600, help="chunks in the subset corpus")
    parser.add_argument(
        "--llama-threads",
        type=int,
        default=LLAMA_THREADS,
        help="llama.cpp threads (0: LlamaEmbedder's default)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--package", default=index_bench.DEFAULT_PACKAGE)
    parser.add_argument("--cache", type=Path, default=index_bench.CACHE_ROOT)
    args = parser.parse_args(argv)
    if args.queries < 0 or args.repeat < 1 or args.llama_targets < 1:
        parser.error("--queries must be >= 0, --repeat and --llama-targets >= 1")
    return args


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    workspace = index_bench.prepare_workspace(args.package, args.cache)
    results: dict[str, Any] = {"machine": machine_info(workspace), "seed": args.seed}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hexad-memory-bench-") as tmp_name:
        tmp = Path(tmp_name)
        full = stage_full(args, workspace.tree, tmp)
        results["full"] = full["result"]
        modes = full["result"]["modes"]
        kw, hy = modes["keyword"]["quality"]["mrr@10"], modes["hybrid"]["quality"]["mrr@10"]
        results["mrr_gain"] = round((hy - kw) / kw, 4) if kw else 0.0
        results["hybrid_vs_keyword"] = compare(
            *(modes[m]["_ranks"] for m in ("keyword", "vector", "hybrid"))
        )
        results["lost_examples"] = examples(full["queries"], modes)
        if not args.skip_50k:
            results["scale"] = stage_scale(
                workspace.tree, tmp, full["chunks_per_path"], full["queries"], args.repeat
            )
        results["subset"] = stage_subset(args, full)
        full["conn"].close()
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = evaluate_targets(results)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = run_benchmark(args)
    except (BenchError, index_bench.BenchError) as exc:
        print(f"bench/memory.py: {exc}", file=sys.stderr)
        return 1
    print_report(results)
    print(f"\n(total {results['seconds']} s)")
    if args.json:
        args.json.write_text(json.dumps(_strip_private(results), indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
