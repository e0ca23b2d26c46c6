"""The repository map: the workspace's most important definitions, in a token budget.

As in Aider's repo map, files are ranked with PageRank over who-references-whom, and each
file's rank flows to the definitions its references point at. Hexad's edges come from the
resolved call graph, so a reference counts toward the definition it really reaches; an
ambiguous reference splits its weight among the candidates. Personalisation pulls the
ranking toward the files and symbols the caller is working on. Maps are cached by the
index's content hash, the budget and the focus.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx

from hexad.core.db import Connection, transaction

CHARS_PER_TOKEN = 4.0  # a model-agnostic estimate; code tokenises at about 3.5-4.5 chars
_CACHE_PREFIX = "repomap:"
_CACHE_KEEP = 16


@dataclass(frozen=True)
class RankWeights:
    """Every weight the ranking uses, in one place."""

    damping: float = 0.85
    focus_file: float = 50.0  # references made from focused files count this much more
    focus_symbol: float = 10.0  # references to focused names
    meaningful_name: float = 2.0  # long snake_case / camelCase names say more than `get`
    private_name: float = 0.1  # _private definitions matter less to a reader
    widely_defined: float = 0.2  # names defined in many files (save, get, run)
    widely_defined_files: int = 5
    exported: float = 1.5  # public API is what other code is written against
    self_reference: float = 1.0  # per use inside the defining file, on top of the floor
    unreferenced: float = 0.02  # definitions nobody references still get a little rank
    # how much a reference counts, by how it was resolved: certain edges fully; a name that
    # is merely unique, less (less still through an unknown receiver); ambiguous, a sliver
    certain: float = 1.0
    unique_name: float = 0.5
    unique_member: float = 0.25
    ambiguous: float = 0.1
    ambiguous_member: float = 0.0  # `x.append()` with x unknown is usually a builtin's method


DEFAULT_WEIGHTS = RankWeights()


@dataclass
class RankedSymbol:
    id: int
    path: str
    name: str
    kind: str
    signature: str
    start_line: int
    end_line: int
    parent_id: int | None
    rank: float


@dataclass
class RepoMap:
    text: str
    tokens: int
    symbols: list[RankedSymbol] = field(default_factory=list)
    files: int = 0
    cached: bool = False


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _meaningful(name: str) -> bool:
    return len(name) >= 8 and ("_" in name.strip("_") or any(c.isupper() for c in name[1:]))


def rank_symbols(
    conn: Connection,
    focus_files: Sequence[str] = (),
    focus_symbols: Sequence[str] = (),
    weights: RankWeights = DEFAULT_WEIGHTS,
) -> list[RankedSymbol]:
    """All definitions, most important first."""
    symbols: dict[int, RankedSymbol] = {}
    exported: set[int] = set()
    by_name: dict[str, list[int]] = defaultdict(list)
    files_defining: dict[str, set[str]] = defaultdict(set)
    for sid, path, name, kind, sig, sl, el, pid, exp in conn.execute(
        "SELECT s.id, f.path, s.name, s.kind, s.signature, s.start_line, s.end_line, s.parent_id, "
        "s.exported FROM symbols s JOIN files f ON f.id = s.file_id"
    ):
        symbols[sid] = RankedSymbol(sid, path, name, kind, sig, sl, el, pid, 0.0)
        by_name[name].append(sid)
        files_defining[name].add(path)
        if exp:
            exported.add(sid)
    focus_files_set = set(focus_files)
    focus_names = set(focus_symbols)

    # (referencing file, defining symbol) -> weight
    edges: dict[tuple[str, int], float] = defaultdict(float)
    for path, name, target, resolution, receiver in conn.execute(
        "SELECT f.path, r.name, r.target_id, r.resolution, r.receiver FROM refs r "
        "JOIN files f ON f.id = r.file_id "
        "WHERE r.target_id IS NOT NULL OR r.resolution = 'ambiguous'"
    ):
        if resolution == "ambiguous":
            targets = by_name.get(name, [])
            if not targets:
                continue
            share = (weights.ambiguous if receiver is None else weights.ambiguous_member) / len(
                targets
            )
            if share == 0.0:
                continue
            for t in targets:
                edges[(path, t)] += share
        elif resolution == "unique":
            edges[(path, target)] += (
                weights.unique_name if receiver is None else weights.unique_member
            )
        else:
            edges[(path, target)] += weights.certain

    self_uses: dict[int, float] = defaultdict(float)
    graph = nx.DiGraph()
    graph.add_nodes_from({s.path for s in symbols.values()})
    contributions: list[tuple[str, int, float]] = []
    for (src, sid), count in edges.items():
        sym = symbols.get(sid)
        if sym is None:
            continue
        w = math.sqrt(count)
        if _meaningful(sym.name):
            w *= weights.meaningful_name
        if sym.name.startswith("_") and not sym.name.startswith("__"):
            w *= weights.private_name
        if len(files_defining[sym.name]) > weights.widely_defined_files:
            w *= weights.widely_defined
        if sid in exported:
            w *= weights.exported
        if sym.name in focus_names or (sym.path in focus_files_set and src != sym.path):
            w *= weights.focus_symbol
        if src in focus_files_set:
            w *= weights.focus_file
        if src == sym.path:
            # A file's own uses say little about its importance to the rest of the code:
            # they only order its definitions among themselves (see the floor below).
            self_uses[sid] += w
            continue
        contributions.append((src, sid, w))
        previous = graph.get_edge_data(src, sym.path, {}).get("weight", 0.0)
        graph.add_edge(src, sym.path, weight=previous + w)

    personalization = None
    focus_nodes = focus_files_set | {s.path for s in symbols.values() if s.name in focus_names}
    focus_nodes &= set(graph.nodes)
    if focus_nodes:
        personalization = {n: (1.0 if n in focus_nodes else 0.0) for n in graph.nodes}
    if graph.number_of_edges() == 0:
        file_rank = {n: 1.0 / max(1, graph.number_of_nodes()) for n in graph.nodes}
    else:
        try:
            file_rank = nx.pagerank(
                graph, alpha=weights.damping, weight="weight", personalization=personalization
            )
        except nx.PowerIterationFailedConvergence:
            file_rank = nx.pagerank(
                graph,
                alpha=weights.damping,
                weight="weight",
                personalization=personalization,
                max_iter=1000,
                tol=1e-4,
            )

    out_weight: dict[str, float] = defaultdict(float)
    for src, _sid, w in contributions:
        out_weight[src] += w
    for src, sid, w in contributions:
        symbols[sid].rank += file_rank.get(src, 0.0) * w / out_weight[src]
    floor = weights.unreferenced / max(1, len(symbols))
    for sym in symbols.values():
        base = (
            file_rank.get(sym.path, 0.0)
            * floor
            * (1.0 + weights.self_reference * self_uses[sym.id])
        )
        if sym.id in exported:
            base *= weights.exported
        if sym.name in focus_names:
            base *= weights.focus_symbol
        sym.rank += base
    return sorted(symbols.values(), key=lambda s: (-s.rank, s.path, s.start_line))


def render(chosen: Sequence[RankedSymbol], all_symbols: dict[int, RankedSymbol]) -> str:
    """Outline of the chosen definitions, grouped by file, with their containers for context."""
    by_file: dict[str, set[int]] = defaultdict(set)
    for sym in chosen:
        by_file[sym.path].add(sym.id)
        parent = sym.parent_id
        while parent is not None and parent in all_symbols:
            by_file[sym.path].add(parent)
            parent = all_symbols[parent].parent_id
    lines: list[str] = []
    for path in sorted(by_file):
        lines.append(f"{path}:")
        entries = sorted((all_symbols[i] for i in by_file[path]), key=lambda s: s.start_line)
        last_end = -1
        for sym in entries:
            depth = 0
            parent = sym.parent_id
            while parent is not None and parent in all_symbols:
                depth += 1
                parent = all_symbols[parent].parent_id
            if last_end >= 0 and sym.start_line > last_end + 1 and depth == 0:
                lines.append("⋮")
            lines.append("│" + "    " * depth + (sym.signature or sym.name))
            last_end = sym.start_line
        lines.append("⋮")
    return "\n".join(lines) + ("\n" if lines else "")


def _index_digest(conn: Connection) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for path, hsh in conn.execute(
        "SELECT path, hash FROM files WHERE skip_reason IS NULL ORDER BY path"
    ):
        digest.update(f"{path}\0{hsh}\n".encode())
    return digest.hexdigest()


def build_repo_map(
    conn: Connection,
    max_tokens: int = 1024,
    focus_files: Sequence[str] = (),
    focus_symbols: Sequence[str] = (),
    weights: RankWeights = DEFAULT_WEIGHTS,
    use_cache: bool = True,
) -> RepoMap:
    """The best outline of the workspace that fits in ``max_tokens``."""
    key = hashlib.blake2b(
        repr(
            (_index_digest(conn), max_tokens, sorted(focus_files), sorted(focus_symbols), weights)
        ).encode(),
        digest_size=16,
    ).hexdigest()
    if use_cache:
        row = conn.execute(
            "SELECT value FROM meta WHERE key = ?", (_CACHE_PREFIX + key,)
        ).fetchone()
        if row is not None:
            text = row[0]
            return RepoMap(text, estimate_tokens(text), files=text.count(":\n"), cached=True)
    ranked = rank_symbols(conn, focus_files, focus_symbols, weights)
    all_symbols = {s.id: s for s in ranked}
    # Binary search the number of definitions whose rendering fits the budget.
    lo, hi = 0, len(ranked)
    best_text, best_n = "", 0
    while lo <= hi:
        mid = (lo + hi) // 2
        text = render(ranked[:mid], all_symbols)
        if estimate_tokens(text) <= max_tokens:
            best_text, best_n = text, mid
            lo = mid + 1
        else:
            hi = mid - 1
    result = RepoMap(
        best_text,
        estimate_tokens(best_text),
        ranked[:best_n],
        files=len({s.path for s in ranked[:best_n]}),
    )
    if use_cache:
        with transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                (_CACHE_PREFIX + key, best_text),
            )
            conn.execute(
                "DELETE FROM meta WHERE key LIKE ? AND key NOT IN "
                "(SELECT key FROM meta WHERE key LIKE ? ORDER BY rowid DESC LIMIT ?)",
                (_CACHE_PREFIX + "%", _CACHE_PREFIX + "%", _CACHE_KEEP),
            )
    return result
