"""Benchmark Hexad's structural index against universal-ctags on a real workspace.

Installs a released package's wheel (Django by default) into a cache folder outside the
repository, copies its source package into a clean workspace, and then, on that same
tree and in the same run, measures:

* ``ctags -R --languages=Python`` (median wall time of N runs, tag count, peak RSS);
* a cold Hexad index (``.hexad`` deleted first), each run in a fresh interpreter so its
  peak RSS is its own: the parent's ``ru_maxrss`` and the largest parsing worker's;
* a warm start (nothing changed) and a re-index after one file changed;
* one uncached repository map of 1024 tokens.

It prints a table (or ``--json``) and says which performance targets were met. It never
fails on a missed target: the exit status is non-zero only when something broke.

Run it as ``.venv/bin/python bench/index.py [--repeat N] [--json]``. This is not a test;
pytest never imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PACKAGE = "django==5.2.*"
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hexad-bench"
REPO_ROOT = Path(__file__).resolve().parent.parent
TOUCH_LINE = b"# hexad bench: touched\n"
CTAGS_DEFINITION_KINDS = frozenset("cfmv")  # class, function, member, variable
SAMPLE_INTERVAL_S = 0.02
TARGETS = (
    ("cold index <= 3 s", "cold_index_s", 3.0),
    ("cold index <= 10x ctags", "cold_vs_ctags", 10.0),
    ("warm start <= 0.5 s", "warm_start_s", 0.5),
    ("peak RSS <= 400 MB", "peak_rss_mb", 400.0),
)


class BenchError(Exception):
    """Something the benchmark needs is missing or broke (not a missed target)."""


def log(message: str) -> None:
    """Report progress on stderr, so stdout holds only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def mb(kilobytes: float) -> float:
    """Kilobytes (as ``ru_maxrss`` and ``/proc`` report them on Linux) to megabytes."""
    return round(kilobytes / 1024, 1)


def median(values: list[float]) -> float:
    """The median of ``values``, rounded for the report."""
    return round(statistics.median(values), 4)


# --------------------------------------------------------------------------- workspace


@dataclass
class Workspace:
    """The tree being indexed and where it came from."""

    tree: Path
    package: str
    name: str
    version: str
    py_files: int
    source_bytes: int


def _slug(spec: str) -> str:
    """A folder name for a requirement spec: ``django==5.2.*`` -> ``django-5.2``."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", spec).strip("-.") or "package"


def _read_metadata(target: Path) -> tuple[str, str]:
    """Name and version from the single ``*.dist-info/METADATA`` under ``target``."""
    infos = sorted(target.glob("*.dist-info"))
    if len(infos) != 1:
        raise BenchError(f"expected one .dist-info in {target}, found {len(infos)}")
    fields: dict[str, str] = {}
    for line in (infos[0] / "METADATA").read_text(encoding="utf-8").splitlines():
        if not line:
            break
        key, _, value = line.partition(": ")
        fields.setdefault(key, value)
    return fields.get("Name", "?"), fields.get("Version", "?")


def prepare_workspace(spec: str, cache_root: Path) -> Workspace:
    """Install ``spec``'s wheel into the cache (once) and return a clean source tree.

    The wheel goes to ``<cache>/<slug>/wheel`` with ``pip install --no-deps --target``;
    its top-level packages (no ``bin/``, no ``*.dist-info``) are copied into
    ``<cache>/<slug>/tree``, which is what gets indexed. Both are reused when present.
    """
    base = cache_root / _slug(spec)
    wheel, tree, ready = base / "wheel", base / "tree", base / "ready.json"
    if not (ready.is_file() and tree.is_dir()):
        log(f"installing {spec} into {base}")
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-compile",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(wheel),
            spec,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"pip install {spec} failed:\n{done.stderr.strip()}")
        tree.mkdir()
        for entry in sorted(wheel.iterdir()):
            if entry.name == "bin" or entry.name.endswith((".dist-info", ".data")):
                continue
            if entry.name == "__pycache__":
                continue
            if entry.is_dir():
                shutil.copytree(
                    entry, tree / entry.name, ignore=shutil.ignore_patterns("__pycache__")
                )
            elif entry.suffix == ".py":
                shutil.copy2(entry, tree / entry.name)
        name, version = _read_metadata(wheel)
        ready.write_text(json.dumps({"spec": spec, "name": name, "version": version}))
    meta = json.loads(ready.read_text())
    py = [p for p in tree.rglob("*.py") if ".hexad" not in p.parts]
    if not py:
        raise BenchError(f"no Python files under {tree}")
    return Workspace(
        tree, spec, meta["name"], meta["version"], len(py), sum(p.stat().st_size for p in py)
    )


def pick_touch_file(tree: Path) -> Path:
    """A mid-size ``.py`` file: the median by size (ties broken by path)."""
    files = sorted(
        (p.stat().st_size, p.relative_to(tree).as_posix(), p)
        for p in tree.rglob("*.py")
        if ".hexad" not in p.parts and p.stat().st_size > 0
    )
    return files[len(files) // 2][2]


# --------------------------------------------------------------------------- processes


@dataclass
class Measured:
    """A finished subprocess: exit code, wall time, peak memory and its output."""

    returncode: int
    wall_s: float
    maxrss_kb: int
    stdout: str
    stderr: str
    sampled_rss_kb: int = 0
    sampled_pss_kb: int = 0


def _process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants, from ``/proc/<pid>/task/*/children``."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
            except OSError:
                continue
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """Current (RSS, PSS) of one process in kB; zeros when it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, pss


class TreeSampler(threading.Thread):
    """Polls a process tree's summed RSS and PSS from outside, keeping the peaks.

    PSS splits pages shared between the indexer and its forked workers, so the summed
    PSS peak is close to what the whole run really held. Runs in the benchmark process,
    never in the measured one (a thread there would change how the indexer starts workers).
    """

    def __init__(self, pid: int) -> None:
        """Watch ``pid`` and its descendants."""
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        if not os.path.exists("/proc/self/smaps_rollup"):
            return
        while not self._halt.is_set():
            rss = pss = 0
            for pid in _process_tree(self.pid):
                r, p = _memory_kb(pid)
                rss, pss = rss + r, pss + p
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self._halt.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._halt.set()
        self.join()


def run_measured(cmd: list[str], *, sample: bool = False) -> Measured:
    """Run ``cmd`` to completion, timing it and reading its peak RSS from ``wait4``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler = TreeSampler(proc.pid) if sample else None
        if sampler:
            sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if sampler:
                sampler.stop()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            proc.returncode,
            wall,
            usage.ru_maxrss,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            sampler.peak_rss_kb if sampler else 0,
            sampler.peak_pss_kb if sampler else 0,
        )


# --------------------------------------------------------------------------- ctags


def find_ctags(explicit: str | None) -> tuple[str, str]:
    """Path and version line of universal-ctags; BenchError if it is not there."""
    path = explicit or shutil.which("ctags") or "/usr/bin/ctags"
    try:
        version = subprocess.run(
            [path, "--version"], capture_output=True, text=True, check=True
        ).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError) as exc:
        raise BenchError(f"cannot run ctags at {path}: {exc}") from exc
    if "Universal Ctags" not in version:
        raise BenchError(f"{path} is not universal-ctags: {version}")
    return path, version


def count_tags(tags_file: Path) -> Counter[str]:
    """Tags per kind letter in a ctags file (pseudo-tags ``!_`` excluded)."""
    kinds: Counter[str] = Counter()
    with open(tags_file, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("!_"):
                continue
            _, sep, extension = line.rstrip("\n").rpartition(';"\t')
            kinds[extension.split("\t")[0] if sep else "?"] += 1
    return kinds


def bench_ctags(ctags: str, tree: Path, repeat: int) -> dict[str, Any]:
    """Run ``ctags -R --languages=Python`` ``repeat`` times over ``tree``."""
    runs: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="hexad-bench-") as tmp:
        tags_file = Path(tmp) / "tags"
        for i in range(repeat):
            tags_file.unlink(missing_ok=True)
            log(f"ctags run {i + 1}/{repeat}")
            run = run_measured([ctags, "-R", "--languages=Python", "-f", str(tags_file), str(tree)])
            if run.returncode != 0:
                raise BenchError(f"ctags failed ({run.returncode}): {run.stderr.strip()}")
            runs.append(run)
        kinds = count_tags(tags_file)
    return {
        "runs_s": [round(r.wall_s, 4) for r in runs],
        "median_s": median([r.wall_s for r in runs]),
        "peak_rss_mb": mb(max(r.maxrss_kb for r in runs)),
        "tags": sum(kinds.values()),
        "definitions": sum(n for k, n in kinds.items() if k in CTAGS_DEFINITION_KINDS),
        "by_kind": dict(kinds.most_common()),
    }


# --------------------------------------------------------------------------- hexad


def child_main(tree: str, workers: int | None, out: str) -> int:
    """Index ``tree`` in this (fresh) interpreter and write what happened to ``out``.

    Starts no thread: the indexer forks its workers only from a single-threaded process.
    """
    started = time.perf_counter()
    from dataclasses import asdict

    from hexad.perception.indexer import Indexer

    imported = time.perf_counter()
    indexer = Indexer(tree, workers=workers)
    try:
        summary = indexer.run()
    finally:
        indexer.conn.close()
    finished = time.perf_counter()
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    data = asdict(summary)
    data["skipped"] = dict(Counter(reason.split(" (")[0] for _, reason in summary.skipped))
    data["resolution"] = {str(k): v for k, v in summary.resolution.items()}
    result = {
        "summary": data,
        "import_s": imported - started,
        "index_s": summary.seconds,
        "in_process_s": finished - started,
        "rss_self_kb": self_kb,
        "rss_children_kb": children_kb,
    }
    Path(out).write_text(json.dumps(result))
    return 0


def run_hexad(tree: Path, workers: int | None, *, sample: bool = False) -> dict[str, Any]:
    """Index ``tree`` in a fresh interpreter; the child's report plus outside measurements.

    With ``sample``, the process tree's memory is also polled from here (that costs CPU
    on a small machine, so timed runs leave it off).
    """
    with tempfile.TemporaryDirectory(prefix="hexad-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            str(tree),
            "--child-out",
            str(out),
        ]
        if workers:
            cmd += ["--workers", str(workers)]
        run = run_measured(cmd, sample=sample)
        if run.returncode != 0 or not out.is_file():
            raise BenchError(f"hexad index failed ({run.returncode}):\n{run.stderr.strip()}")
        result: dict[str, Any] = json.loads(out.read_text())
    result["process_s"] = run.wall_s
    result["rss_sum_kb"] = result["rss_self_kb"] + result["rss_children_kb"]
    result["sampled_rss_kb"] = run.sampled_rss_kb
    result["sampled_pss_kb"] = run.sampled_pss_kb
    return result


def _run_row(result: dict[str, Any]) -> dict[str, Any]:
    """The per-run numbers worth keeping in the JSON results."""
    summary = result["summary"]
    return {
        "index_s": round(result["index_s"], 4),
        "import_s": round(result["import_s"], 4),
        "setup_s": round(result["in_process_s"] - result["import_s"] - result["index_s"], 4),
        "process_s": round(result["process_s"], 4),
        "parsed": summary["parsed"],
        "unchanged": summary["unchanged"],
        "workers": summary["workers"],
        "rss_self_mb": mb(result["rss_self_kb"]),
        "rss_children_mb": mb(result["rss_children_kb"]),
        "rss_sum_mb": mb(result["rss_sum_kb"]),
    }


def bench_cold(tree: Path, repeat: int, workers: int | None) -> dict[str, Any]:
    """``repeat`` cold indexes, each after deleting ``.hexad``, each in a fresh process."""
    results = []
    for i in range(repeat):
        shutil.rmtree(tree / ".hexad", ignore_errors=True)
        log(f"hexad cold index {i + 1}/{repeat}")
        results.append(run_hexad(tree, workers))
        if results[-1]["summary"]["parsed"] == 0:
            raise BenchError("a cold index parsed no file")
    rows = [_run_row(r) for r in results]
    shutil.rmtree(tree / ".hexad", ignore_errors=True)
    log("hexad cold index, untimed, sampling memory of every process")
    sampled = run_hexad(tree, workers, sample=True)
    return {
        "runs": rows,
        "median_s": median([r["index_s"] for r in results]),
        "median_process_s": median([r["process_s"] for r in results]),
        "median_import_s": median([r["import_s"] for r in results]),
        "median_setup_s": median([r["setup_s"] for r in rows]),
        "peak_rss_self_mb": max(r["rss_self_mb"] for r in rows),
        "peak_rss_children_mb": max(r["rss_children_mb"] for r in rows),
        "peak_rss_mb": max(r["rss_sum_mb"] for r in rows),
        "sampled_pss_mb": mb(sampled["sampled_pss_kb"]),
        "sampled_rss_mb": mb(sampled["sampled_rss_kb"]),
        "summary": results[-1]["summary"],
    }


def bench_warm(tree: Path, repeat: int, workers: int | None) -> dict[str, Any]:
    """``repeat`` re-indexes with nothing changed, each in a fresh process."""
    results = []
    for i in range(repeat):
        log(f"hexad warm start {i + 1}/{repeat}")
        result = run_hexad(tree, workers)
        if result["summary"]["parsed"]:
            raise BenchError(f"warm start re-parsed {result['summary']['parsed']} files")
        results.append(result)
    return {
        "runs": [_run_row(r) for r in results],
        "median_s": median([r["index_s"] for r in results]),
        "median_process_s": median([r["process_s"] for r in results]),
    }


def bench_touch(tree: Path, repeat: int, workers: int | None) -> dict[str, Any]:
    """Append a comment to one mid-size file, re-index, restore it exactly, re-index.

    The file's bytes and timestamps are put back even if indexing fails.
    """
    path = pick_touch_file(tree)
    original = path.read_bytes()
    st = path.stat()
    touched = original + (b"" if original.endswith(b"\n") else b"\n") + TOUCH_LINE
    changed, restored = [], []
    try:
        for i in range(repeat):
            log(f"hexad one-file re-index {i + 1}/{repeat}")
            path.write_bytes(touched)
            changed.append(run_hexad(tree, workers))
            path.write_bytes(original)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
            restored.append(run_hexad(tree, workers))
    finally:
        if path.read_bytes() != original:
            path.write_bytes(original)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    for result in changed + restored:
        if result["summary"]["parsed"] != 1:
            raise BenchError(f"expected one file re-parsed, got {result['summary']['parsed']}")
    return {
        "file": path.relative_to(tree).as_posix(),
        "file_bytes": len(original),
        "runs": [_run_row(r) for r in changed],
        "median_s": median([r["index_s"] for r in changed]),
        "median_process_s": median([r["process_s"] for r in changed]),
        "restore_median_s": median([r["index_s"] for r in restored]),
    }


def bench_repo_map(tree: Path) -> dict[str, Any]:
    """Time one uncached ``build_repo_map(conn, 1024)`` and count Python-only symbols."""
    from hexad.core.db import connect, database_path
    from hexad.perception.repomap import build_repo_map

    conn = connect(database_path(tree))
    try:
        started = time.perf_counter()
        repo_map = build_repo_map(conn, 1024, use_cache=False)
        seconds = time.perf_counter() - started
        py_symbols = conn.execute(
            "SELECT COUNT(*) FROM symbols JOIN files ON files.id = symbols.file_id "
            "WHERE files.language = 'python'"
        ).fetchone()[0]
        py_kinds = dict(
            conn.execute(
                "SELECT symbols.kind, COUNT(*) FROM symbols "
                "JOIN files ON files.id = symbols.file_id WHERE files.language = 'python' "
                "GROUP BY symbols.kind ORDER BY 2 DESC"
            ).fetchall()
        )
    finally:
        conn.close()
    return {
        "repo_map": {
            "seconds": round(seconds, 4),
            "tokens": repo_map.tokens,
            "files": repo_map.files,
            "symbols": len(repo_map.symbols),
        },
        "python_symbols": py_symbols,
        "python_symbol_kinds": py_kinds,
    }


# --------------------------------------------------------------------------- report


def machine_info(ctags_version: str, workspace: Workspace) -> dict[str, Any]:
    """Where the numbers were taken."""
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
        "hexad": __version__,
        "hexad_commit": commit or None,
        "ctags": ctags_version,
        "package": f"{workspace.name} {workspace.version}",
        "package_spec": workspace.package,
        "tree": str(workspace.tree),
        "python_files": workspace.py_files,
        "python_bytes": workspace.source_bytes,
    }


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it was met."""
    values = {
        "cold_index_s": results["cold"]["median_s"],
        "cold_vs_ctags": round(results["cold"]["median_s"] / results["ctags"]["median_s"], 2),
        "warm_start_s": results["warm"]["median_s"],
        "peak_rss_mb": results["cold"]["peak_rss_mb"],
    }
    return [
        {"target": name, "value": values[key], "limit": limit, "met": values[key] <= limit}
        for name, key, limit in TARGETS
    ]


def _ratio(a: float, b: float) -> str:
    """``a / b`` as ``12.3x``, or a dash when it means nothing."""
    return f"{a / b:.1f}x" if b else "-"


def print_report(r: dict[str, Any]) -> None:
    """The human-readable report: machine, comparison table, extras and targets."""
    m, c, cold, warm, touch = r["machine"], r["ctags"], r["cold"], r["warm"], r["touch"]
    s = cold["summary"]
    n = r["repeat"]
    files_s = s["files"] / cold["median_s"]
    ctags_files_s = m["python_files"] / c["median_s"]
    print("Hexad index benchmark")
    print(f"  machine   {m['cpus']} CPUs, {m['platform']}, Python {m['python']}")
    print(f"  hexad     {m['hexad']} ({m['hexad_commit']}), {s['workers']} parsing workers")
    print(f"  ctags     {m['ctags']}")
    print(
        f"  workspace {m['package']} ({m['package_spec']}): {m['python_files']} .py files, "
        f"{m['python_bytes'] / 1e6:.1f} MB of Python; hexad indexed {s['files']} files "
        f"({', '.join(f'{k} {v}' for k, v in s['languages'].items())})"
    )
    print(f"            {m['tree']}")
    print(f"  runs      median of {n} (each Hexad run in a fresh interpreter)")
    print()
    rows = [
        (
            "cold index, s",
            f"{cold['median_s']:.3f}",
            f"{c['median_s']:.3f}",
            _ratio(cold["median_s"], c["median_s"]),
        ),
        (
            "  whole process incl. start, s",
            f"{cold['median_process_s']:.3f}",
            f"{c['median_s']:.3f}",
            _ratio(cold["median_process_s"], c["median_s"]),
        ),
        (
            "  of which import hexad + Indexer(), s",
            f"{cold['median_import_s']:.3f} + {cold['median_setup_s']:.3f}",
            "",
            "",
        ),
        (
            "files/s (cold)",
            f"{files_s:,.0f}",
            f"{ctags_files_s:,.0f}",
            _ratio(files_s, ctags_files_s),
        ),
        ("warm start (nothing changed), s", f"{warm['median_s']:.3f}", "n/a", ""),
        ("  whole process incl. start, s", f"{warm['median_process_s']:.3f}", "", ""),
        ("one-file re-index, s", f"{touch['median_s']:.3f}", "n/a", ""),
        ("  whole process incl. start, s", f"{touch['median_process_s']:.3f}", "", ""),
        (
            "peak RSS, MB (main + worker)",
            f"{cold['peak_rss_mb']:.0f}",
            f"{c['peak_rss_mb']:.0f}",
            _ratio(cold["peak_rss_mb"], c["peak_rss_mb"]),
        ),
        (
            "  main process / largest worker",
            f"{cold['peak_rss_self_mb']:.0f} / {cold['peak_rss_children_mb']:.0f}",
            "",
            "",
        ),
        (
            "  polled sum over all processes",
            f"RSS {cold['sampled_rss_mb']:.0f}, PSS {cold['sampled_pss_mb']:.0f}",
            "",
            "",
        ),
        (
            "symbols vs tags (all)",
            f"{s['symbols']:,}",
            f"{c['tags']:,}",
            _ratio(s["symbols"], c["tags"]),
        ),
        (
            "  Python definitions",
            f"{r['python_symbols']:,}",
            f"{c['definitions']:,}",
            _ratio(r["python_symbols"], c["definitions"]),
        ),
    ]
    widths = [
        max(len(row[i]) for row in [*rows, ("measurement", "Hexad", "ctags", "ratio")])
        for i in range(4)
    ]

    def line(cells: tuple[str, str, str, str]) -> str:
        """One table row, first column left-aligned, the rest right-aligned."""
        return "  ".join(
            [
                cells[0].ljust(widths[0]),
                *(cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True)),
            ]
        )

    header = line(("measurement", "Hexad", "ctags", "ratio"))
    print(header)
    print("-" * len(header))
    for row in rows:
        print(line(row))
    print()
    print(
        "notes: ctags has no incremental mode (re-running it costs a full run); ctags tags "
        "count definitions\n       (c f m v) plus imported names (I x): "
        + ", ".join(f"{k} {v}" for k, v in c["by_kind"].items())
    )
    print(
        f"       one-file re-index touched {touch['file']} ({touch['file_bytes']:,} bytes); "
        f"restoring it and re-indexing took {touch['restore_median_s']:.3f} s"
    )
    print(
        f"       peak RSS = main ru_maxrss + largest worker's ru_maxrss; {s['workers']} workers "
        "ran at once and share pages with the main process;\n       the polled sums come from "
        "one extra, untimed cold run"
    )
    print()
    resolution = ", ".join(
        f"{k} {v:,}" for k, v in sorted(s["resolution"].items(), key=lambda kv: -kv[1])
    )
    rm = r["repo_map"]
    print("Hexad extracts beyond ctags")
    print(f"  references         {s['refs']:,}")
    print(f"  call edges         {s['calls']:,}   resolution: {resolution}")
    print(f"  imports            {s['imports']:,}")
    kinds = ", ".join(f"{k} {v:,}" for k, v in r["python_symbol_kinds"].items())
    print(f"  Python symbols     {kinds}")
    print(f"  parse errors       {s['parse_errors']:,}")
    skipped = ", ".join(f"{k} {v}" for k, v in s["skipped"].items()) or "none"
    print(f"  skipped files      {skipped}")
    print(
        f"  repo map (1024 tokens, uncached): {rm['seconds']:.3f} s, {rm['tokens']} tokens, "
        f"{rm['symbols']} symbols from {rm['files']} files"
    )
    print()
    print("targets")
    for t in r["targets"]:
        mark = "met   " if t["met"] else "MISSED"
        print(f"  [{mark}] {t['target']:<24} measured {t['value']:g} (limit {t['limit']:g})")
    print(
        "  (index seconds are Indexer.run(); whole-process times, which add interpreter start,"
        "\n   imports and Indexer() setup, are in the table above)"
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--json", action="store_true", help="print JSON results instead")
    parser.add_argument(
        "--package",
        default=DEFAULT_PACKAGE,
        help=f"pip requirement to index (default {DEFAULT_PACKAGE!r})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="Hexad parsing workers (default: the indexer's own choice)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=CACHE_ROOT,
        help=f"where wheels are installed (default {CACHE_ROOT})",
    )
    parser.add_argument("--ctags", default=None, help="universal-ctags binary")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.cache.resolve().is_relative_to(REPO_ROOT):
        parser.error("--cache must be outside the repository (no third-party code in it)")
    return args


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, on one tree, in one run."""
    ctags, ctags_version = find_ctags(args.ctags)
    workspace = prepare_workspace(args.package, args.cache)
    tree = workspace.tree
    results: dict[str, Any] = {
        "repeat": args.repeat,
        "machine": machine_info(ctags_version, workspace),
    }
    results["ctags"] = bench_ctags(ctags, tree, args.repeat)
    results["cold"] = bench_cold(tree, args.repeat, args.workers)
    results["warm"] = bench_warm(tree, args.repeat, args.workers)
    results["touch"] = bench_touch(tree, args.repeat, args.workers)
    results.update(bench_repo_map(tree))
    results["targets"] = evaluate_targets(results)
    return results


def main(argv: list[str] | None = None) -> int:
    """Entry point: the benchmark, or (internally) one index run in a child process."""
    args = parse_args(argv)
    if args.child:
        return child_main(args.child, args.workers, args.child_out)
    try:
        results = run_benchmark(args)
    except BenchError as exc:
        print(f"bench/index.py: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
