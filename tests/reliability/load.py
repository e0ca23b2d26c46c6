"""Load: a storm of ``didChange`` events on a large open file while requests flow, against
a real ``hexad serve`` over stdio.

A paced sender writes ``rate`` incremental edits per second (a number typed over on a
random line, every fiftieth a new function added at the end), batched per 10 ms tick, for
``seconds``; a second thread keeps requests going one after another (documentSymbol and
hover on the large file, workspace/symbol, definition) and times each; a third samples the
server's resident memory (the process and its children) from ``/proc``. The client keeps
its own copy of the text, so at the end it knows exactly what the index must show.

After the storm one last edit renames the first function to a marker; the figures:

* events sent and the rate achieved (a server that stopped reading would slow the
  sender: its pipe fills);
* request latency per method, p50 / p95 / max;
* index lag: from sending a version to the ``hexad/documentIndexed`` notification that
  covers it (edits coalesce, so one notification covers many versions), p50 / p95 / max;
* catch-up: from the last edit to the notification for its version — then the index is
  checked: the marker is found by workspace/symbol and documentSymbol lists exactly the
  functions the client's copy has;
* resident memory before, at its peak, and after the storm.

Used by ``test_load.py`` (a short storm) and ``bench/reliability.py`` (1,000 events/s
for 30 s).
"""

from __future__ import annotations

import random
import re
import shutil
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fuzz.peer import ServerPeer, frame, notification, uri_of

MARKER = "caught_up_marker"
TICK = 0.01  # seconds between the sender's batches


@dataclass
class LoadReport:
    rate: int
    seconds: float
    lines: int
    events: int = 0
    sent_seconds: float = 0.0
    requests: dict[str, list[float]] = field(default_factory=dict)  # method → ms
    request_errors: int = 0
    lags_ms: list[float] = field(default_factory=list)
    index_passes: int = 0
    catch_up_ms: float | None = None
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (t, MB)
    storm_span: tuple[float, float] = (0.0, 0.0)
    final_ok: bool = False
    final_problem: str = ""

    @property
    def achieved_rate(self) -> float:
        return self.events / self.sent_seconds if self.sent_seconds else 0.0

    def rss(self, when: str) -> float:
        start, end = self.storm_span
        before = [mb for t, mb in self.rss_mb if t <= start] or [self.rss_mb[0][1]]
        during = [mb for t, mb in self.rss_mb if start <= t <= end] or before
        after = [mb for t, mb in self.rss_mb if t >= end] or during
        return {"before": before[-1], "peak": max(during + after), "after": after[-1]}[when]

    def halves(self) -> tuple[float, float]:
        """Peak resident memory in the first and in the second half of the storm."""
        start, end = self.storm_span
        middle = (start + end) / 2
        first = [mb for t, mb in self.rss_mb if start <= t < middle]
        second = [mb for t, mb in self.rss_mb if middle <= t <= end]
        return max(first or [0.0]), max(second or [0.0])

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "lines": self.lines,
            "events": self.events,
            "achieved_rate": round(self.achieved_rate, 1),
            "requests": {
                m: {"n": len(v), **percentiles(v)} for m, v in sorted(self.requests.items())
            },
            "request_errors": self.request_errors,
            "index_lag_ms": percentiles(self.lags_ms),
            "index_passes": self.index_passes,
            "catch_up_ms": None if self.catch_up_ms is None else round(self.catch_up_ms, 1),
            "rss_mb": {k: round(self.rss(k), 1) for k in ("before", "peak", "after")}
            if self.rss_mb
            else {},
            "rss_halves_mb": [round(x, 1) for x in self.halves()],
            "final_ok": self.final_ok,
            "final_problem": self.final_problem,
        }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": round(statistics.median(ordered), 2), "p95": at(0.95), "max": at(1.0)}


def big_module(functions: int) -> list[str]:
    """Lines of a large module: ``functions`` small functions calling their neighbour."""
    lines: list[str] = []
    for i in range(functions):
        lines += [f"def f_{i}(x):", f"    return f_{(i + 1) % functions}(x) + {i}", ""]
    return lines


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MB (0 where /proc is absent)."""
    total = 0
    pending = [pid]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending += [int(c) for c in children]
        except (OSError, ValueError):
            continue
    return total / 1024


class Document:
    """The client's copy of the open file and the edits it sends."""

    def __init__(self, lines: list[str], rng: random.Random) -> None:
        self.lines = lines
        self.rng = rng
        self.version = 1
        self.functions = sum(1 for line in lines if line.startswith("def "))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def edit(self) -> dict[str, Any]:
        """One change event: retype the number on a random ``return`` line, or (one in
        fifty) add a function at the end."""
        self.version += 1
        if self.rng.random() < 0.02:
            at = len(self.lines)
            name = f"added_{self.version}"
            new = [f"def {name}(x):", "    return x", ""]
            self.lines += new
            self.functions += 1
            change = {
                "range": _range(at, 0, at, 0),
                "text": "\n".join(new) + "\n",
            }
            return change
        while True:
            line = self.rng.randrange(len(self.lines))
            match = re.search(r"\+ (\d+)$", self.lines[line])
            if match is not None:
                break
        start, end = match.span(1)
        number = str(self.rng.randrange(10_000))
        self.lines[line] = self.lines[line][:start] + number
        return {"range": _range(line, start, line, end), "text": number}

    def rename_first(self) -> dict[str, Any]:
        self.version += 1
        old = self.lines[0]
        end = old.index("(")
        self.lines[0] = f"def {MARKER}" + old[end:]
        return {"range": _range(0, 0, 0, end), "text": f"def {MARKER}"}


def _range(l1: int, c1: int, l2: int, c2: int) -> dict[str, Any]:
    return {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}


def run_load(
    folder: Path,
    *,
    rate: int,
    seconds: float,
    functions: int = 2000,
    seed: int = 5,
    catch_up_timeout: float = 300.0,
) -> LoadReport:
    rng = random.Random(seed)
    root = (folder / "load-ws").resolve()
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    lines = big_module(functions)
    big = root / "pkg" / "big.py"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "pkg" / "use.py").write_text("from pkg.big import f_1\n\nVALUE = f_1(2)\n")
    report = LoadReport(rate=rate, seconds=seconds, lines=len(lines))
    peer = ServerPeer(root, log=folder / "load-server.log")
    sent_at: dict[int, float] = {}  # version → when it was written
    indexed: list[tuple[int, float]] = []  # (version, when its notification came)
    cond = threading.Condition()

    def on_notification(method: str, params: Any, when: float) -> None:
        if method == "hexad/documentIndexed" and isinstance(params, dict):
            with cond:
                indexed.append((int(params.get("version", 0)), when))
                cond.notify_all()

    peer.on_notification = on_notification
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            report.rss_mb.append((time.monotonic() - started, rss_mb(peer.proc.pid)))
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        peer.initialize()
        peer.wait_indexed(timeout=300)
        uri = uri_of(big)
        doc = Document(lines, rng)
        item = {"uri": uri, "languageId": "python", "version": 1, "text": doc.text()}
        peer.send(frame(notification("textDocument/didOpen", {"textDocument": item})))
        _wait_version(cond, indexed, 1, catch_up_timeout)
        time.sleep(0.5)  # a few memory samples before the storm

        def requests() -> None:
            cycle = [
                ("textDocument/documentSymbol", lambda: {"textDocument": {"uri": uri}}),
                (
                    "textDocument/hover",
                    lambda: {
                        "textDocument": {"uri": uri},
                        "position": {"line": 3 * rng.randrange(functions), "character": 5},
                    },
                ),
                ("workspace/symbol", lambda: {"query": f"f_{rng.randrange(functions)}"}),
                (
                    "textDocument/definition",
                    lambda: {
                        "textDocument": {"uri": uri},
                        "position": {"line": 3 * rng.randrange(functions) + 1, "character": 12},
                    },
                ),
            ]
            n = 0
            while not stop.is_set() or n < len(cycle):  # every method at least once
                method, params = cycle[n % len(cycle)]
                n += 1
                began = time.monotonic()
                answer = peer.call(method, params(), timeout=120)
                elapsed = (time.monotonic() - began) * 1000
                report.requests.setdefault(method, []).append(elapsed)
                if "error" in answer:
                    report.request_errors += 1

        asker = threading.Thread(target=requests, daemon=True)
        storm_start = time.monotonic()
        report.storm_span = (storm_start - started, storm_start - started)
        asker.start()
        due = 0
        total = int(rate * seconds)  # all are sent: a server slow to read stretches the storm
        tick = 0
        while True:
            if due >= total:
                break
            now = time.monotonic() - storm_start
            want = min(total, int((now + TICK) * rate))
            batch = b""
            while due < want:
                change = doc.edit()
                params = {
                    "textDocument": {"uri": uri, "version": doc.version},
                    "contentChanges": [change],
                }
                batch += frame(notification("textDocument/didChange", params))
                sent_at[doc.version] = time.monotonic()
                due += 1
            if batch:
                peer.send(batch)
            tick += 1
            pause = storm_start + tick * TICK - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        report.events = due
        report.sent_seconds = time.monotonic() - storm_start
        final = doc.rename_first()
        params = {"textDocument": {"uri": uri, "version": doc.version}, "contentChanges": [final]}
        last_sent = time.monotonic()
        peer.send(frame(notification("textDocument/didChange", params)))
        sent_at[doc.version] = last_sent
        caught = _wait_version(cond, indexed, doc.version, catch_up_timeout)
        storm_end = time.monotonic()
        report.storm_span = (storm_start - started, storm_end - started)
        stop.set()
        asker.join(timeout=180)
        if caught is not None:
            report.catch_up_ms = (caught - last_sent) * 1000
        with cond:
            passes = sorted(indexed)
        report.index_passes = len(passes)
        report.lags_ms = _lags(sent_at, passes)
        report.final_ok, report.final_problem = _check_final(peer, uri, doc)
        time.sleep(1.0)
        report.rss_mb.append((time.monotonic() - started, rss_mb(peer.proc.pid)))
        if not peer.alive():
            report.final_ok, report.final_problem = False, "the server died"
        peer.stop()
    finally:
        stop.set()
        peer.close()
        sampler.join(timeout=5)
    shutil.rmtree(root / ".hexad", ignore_errors=True)
    return report


def _wait_version(
    cond: threading.Condition, indexed: list[tuple[int, float]], version: int, timeout: float
) -> float | None:
    """When a notification covering ``version`` came (None: not within ``timeout``)."""
    deadline = time.monotonic() + timeout
    with cond:
        while True:
            hits = [when for v, when in indexed if v >= version]
            if hits:
                return min(hits)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            cond.wait(left)


def _lags(sent_at: dict[int, float], passes: list[tuple[int, float]]) -> list[float]:
    """For each version sent, how long until a notification covered it (ms)."""
    lags: list[float] = []
    covered = iter(passes)
    current = next(covered, None)
    for version in sorted(sent_at):
        while current is not None and current[0] < version:
            current = next(covered, None)
        if current is None:
            break
        lags.append(max(0.0, (current[1] - sent_at[version]) * 1000))
    return lags


def _check_final(peer: ServerPeer, uri: str, doc: Document) -> tuple[bool, str]:
    found = peer.call("workspace/symbol", {"query": MARKER}, timeout=120).get("result") or []
    if [s.get("name") for s in found] != [MARKER]:
        return False, f"workspace/symbol {MARKER!r} answered {found}"
    symbols = peer.call("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    names = [s.get("name") for s in symbols.get("result") or []]
    if len(names) != doc.functions or names[0] != MARKER:
        return False, f"documentSymbol lists {len(names)} symbols, the client has {doc.functions}"
    return True, ""
