"""Crash campaigns: kill -9 real Hexad work at random points, many times, and check that
nothing committed was lost and nothing was left half-done.

Each campaign starts a worker (``workers.py``) that does real work — indexing, a memory
sync, governance decisions and charges, multi-file edits through ``write_change``, renames
applied through the proposal service — and prints a line after each commit. The parent
lets it run for a random number of commits plus a random delay, sends SIGKILL to its
process group, reads what it had printed, and checks:

* the database opens (``connect``: migrations, recovery checks), ``PRAGMA integrity_check``
  is ``ok`` and ``foreign_key_check`` finds nothing;
* every row the worker reported committed is still there, as reported (or replaced by a
  later commit the worker did not get to report, where that is possible);
* the user's files are whole: after the journal's recovery, the workspace is exactly the
  state before an interrupted write or exactly the state after it, with no temporary or
  backup file left behind;
* the next run converges on what a run that was never interrupted produces.

Used by ``test_crash.py`` (a few kills per campaign) and ``bench/reliability.py --kills N``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexad.core.db import connect, database_path
from hexad.core.hashing import content_hash

REPO = Path(__file__).resolve().parents[2]
EXEC_FIXTURE = REPO / "tests" / "fixtures" / "exec_workspace"
EDITED = tuple(f"pkg/part{i}.py" for i in range(5))
KINDS = ("index", "memory", "ledger", "edits", "proposals")


@dataclass
class Campaign:
    kind: str
    runs: int = 0
    killed: int = 0  # runs that died by SIGKILL (the rest finished before the signal)
    commits: int = 0  # commits the workers reported before they died
    checked: int = 0  # reported rows found again after the kill
    failures: list[str] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def fail(self, run: int, what: str) -> None:
        self.failures.append(f"{self.kind} run {run}: {what}")

    def count(self, note: str, n: int = 1) -> None:
        self.notes[note] = self.notes.get(note, 0) + n

    def record(self, run: int, outcome: Outcome, *, must_die: bool = False) -> bool:
        """Count a worker run. A worker that finished before its kill is a failure when it
        ``must_die``, or when it failed; False when there is nothing more to check."""
        self.runs += 1
        self.killed += outcome.killed
        if outcome.killed:
            return True
        if must_die:
            self.fail(run, f"the worker stopped by itself: {outcome.stderr}")
            return True
        if outcome.returncode != 0:
            self.fail(run, f"the worker failed ({outcome.returncode}): {outcome.stderr}")
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "runs": self.runs,
            "killed": self.killed,
            "commits": self.commits,
            "checked": self.checked,
            "failures": list(self.failures),
            "notes": dict(self.notes),
            "seconds": round(self.seconds, 1),
        }


# -- a killable worker ----------------------------------------------------------------------


@dataclass
class Outcome:
    commits: list[dict[str, Any]]
    killed: bool
    returncode: int
    stderr: str


def run_worker(
    args: list[str],
    *,
    after: int,
    delay: float,
    timeout: float = 300.0,
    log: Path | None = None,
) -> Outcome:
    """Start a worker, kill its process group ``delay`` seconds after its ``after``-th
    commit (or let it finish), and return every commit it reported."""
    import json

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    if log is not None:
        # the workers' caches (jedi's parse cache, Hexad's shadow copies) are the
        # campaign's own: a kill may cut a cache file short, never the user's
        env["XDG_CACHE_HOME"] = str(log.parent / "xdg-cache")
        env["HEXAD_SHADOW_DIR"] = str(log.parent / "shadow")
    err_path = log or Path(os.devnull)
    with err_path.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.workers", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            start_new_session=True,
        )
        commits: list[dict[str, Any]] = []
        cond = threading.Condition()

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                if line.startswith("committed "):
                    with cond:
                        commits.append(json.loads(line[len("committed ") :]))
                        cond.notify_all()
            with cond:
                cond.notify_all()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        with cond:
            while len(commits) < after and proc.poll() is None and reader.is_alive():
                cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                if time.monotonic() > deadline:
                    break
        if delay:
            time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        reader.join(timeout=60)
        if log is not None:
            stderr = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        else:
            stderr = ""
    return Outcome(commits, killed and proc.returncode == -signal.SIGKILL, proc.returncode, stderr)


def check_database(root: Path) -> list[str]:
    """Problems with the workspace database after a kill (none: it opens and is sound)."""
    problems = []
    conn = connect(database_path(root))
    try:
        (result,) = conn.execute("PRAGMA integrity_check").fetchone()
        if result != "ok":
            problems.append(f"integrity_check: {result}")
        keys = conn.execute("PRAGMA foreign_key_check").fetchall()
        if keys:
            problems.append(f"foreign_key_check: {keys[:5]}")
        moved = [p.name for p in root.joinpath(".hexad").glob("hexad.db.*-*")]
        if moved:
            problems.append(f"the database was moved aside as corrupt: {moved}")
    finally:
        conn.close()
    return problems


# -- indexing -----------------------------------------------------------------------------


def _module_text(i: int, generation: int, modules: int) -> str:
    body = "\n".join(
        f"def f{i}_{j}(x):\n    return f{i}_{(j + generation) % 20}(x)\n" for j in range(20)
    )
    solo = f"def solo{i}():\n    return 1\n" if (generation + i) % 2 == 0 else ""
    return (
        f"from . import mod{(i + 7) % modules}\n\n{body}\n{solo}\n"
        f"def caller{i}():\n    return solo{(i + 1) % modules}()\n"
    )


def _index_snapshot(conn: Any) -> tuple[Any, ...]:
    files = conn.execute("SELECT path, hash, skip_reason FROM files ORDER BY path").fetchall()
    symbols = conn.execute(
        "SELECT f.path, s.qualname, s.kind, s.start_line, s.end_line, s.signature"
        " FROM symbols s JOIN files f ON f.id = s.file_id ORDER BY 1, 2, 4"
    ).fetchall()
    refs = conn.execute(
        "SELECT f.path, r.name, r.line, r.col, r.resolution, t.qualname FROM refs r"
        " JOIN files f ON f.id = r.file_id LEFT JOIN symbols t ON t.id = r.target_id"
        " ORDER BY 1, 3, 4, 2"
    ).fetchall()
    return files, symbols, refs


def index_campaign(folder: Path, kills: int, *, modules: int = 300, seed: int = 11) -> Campaign:
    from hexad.perception.indexer import Indexer

    campaign = Campaign("index")
    started = time.perf_counter()
    rng = random.Random(seed)
    root = folder / "index-ws"
    (root / "big").mkdir(parents=True)
    (root / "big" / "__init__.py").write_text("")
    for i in range(modules):
        (root / f"big/mod{i}.py").write_text(_module_text(i, 0, modules))
    # every content each file has had (hashes, oldest first), and what the workers reported
    # committed for it: (hash, how many contents the file had had by then)
    contents: dict[str, list[str]] = {
        p.relative_to(root).as_posix(): [content_hash(p.read_bytes())] for p in root.rglob("*.py")
    }
    view: dict[str, tuple[str | None, int]] = {}
    for run in range(1, kills + 1):
        if run > 1:
            for i in rng.sample(range(modules), modules // 3):
                text = _module_text(i, run, modules)
                (root / f"big/mod{i}.py").write_text(text)
                contents[f"big/mod{i}.py"].append(content_hash(text.encode()))
        outcome = run_worker(
            ["index", str(root), str(1 + run % 2)],
            after=rng.randint(0, 2),
            delay=rng.uniform(0.0, 0.5),
            log=folder / "index-worker.log",
        )
        if not campaign.record(run, outcome):
            continue
        for commit in outcome.commits:
            campaign.commits += 1
            for path, reported in commit.items():
                view[path] = (reported, len(contents[path]))
        for problem in check_database(root):
            campaign.fail(run, problem)
        conn = connect(database_path(root))
        try:
            rows = dict(
                conn.execute("SELECT path, hash FROM files WHERE skip_reason IS NULL").fetchall()
            )
        finally:
            conn.close()
        for path, (reported, known) in view.items():
            if path not in rows:
                campaign.fail(run, f"{path}: its committed row is gone")
                continue
            now = rows[path]
            # a later commit may have replaced it, with a newer content (or that content's
            # row before its references are in: no hash)
            newer = contents[path][known:]
            # a row stored without its hash gets it once its references are in
            filled = reported is None and now == contents[path][known - 1]
            if now == reported or now in newer or (now is None and newer) or filled:
                campaign.checked += 1
            else:
                campaign.fail(run, f"{path}: committed hash {reported}, found {now}")
    resumed = Indexer(root, workers=1)
    resumed.run()
    clean_conn = connect(folder / "index-clean.db")
    Indexer(root, conn=clean_conn, workers=1).run()
    if _index_snapshot(resumed.conn) != _index_snapshot(clean_conn):
        campaign.fail(kills, "the index after the kills differs from a clean index")
    resumed.conn.close()
    clean_conn.close()
    campaign.seconds = time.perf_counter() - started
    return campaign


# -- memory ingest --------------------------------------------------------------------------


def _memory_files(count: int, generation: int) -> dict[str, str]:
    files = {"gen/__init__.py": ""}
    for i in range(count):
        files[f"gen/m{i}.py"] = "\n".join(
            f"def handle_{i}_{j}(request, value):\n"
            f'    """Handle request {j} by scaling the value (generation {generation})."""\n'
            f"    return helper_{(j + generation) % 7}(request) * value + {i}\n"
            for j in range(12)
        )
    return files


def _memory_snapshot(root: Path) -> tuple[Any, ...]:
    conn = connect(database_path(root))
    try:
        items = sorted(conn.execute("SELECT key, hash FROM memory_items").fetchall())
        fts = conn.execute("SELECT count(*) FROM memory_fts").fetchone()[0]
        marks = sorted(conn.execute("SELECT path, hash FROM memory_files").fetchall())
        return items, fts, marks
    finally:
        conn.close()


def memory_campaign(folder: Path, kills: int, *, files: int = 60, seed: int = 12) -> Campaign:
    from hexad.memory import Memory
    from hexad.perception.indexer import Indexer

    campaign = Campaign("memory")
    started = time.perf_counter()
    rng = random.Random(seed)
    root = folder / "memory-ws"

    def write(gen: int, only: set[str] | None = None) -> None:
        for rel, text in _memory_files(files, gen).items():
            if only is None or rel in only:
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")

    write(0)
    Indexer(root, workers=1).run()
    marks: dict[str, str] = {}
    for run in range(1, kills + 1):
        if run > 1:  # the code changed since the last sync
            generation = run
            some = {f"gen/m{i}.py" for i in rng.sample(range(files), files // 3)}
            write(generation, some)
            Indexer(root, workers=1).run()
        outcome = run_worker(
            ["memory", str(root)],
            after=rng.randint(1, 12),
            delay=rng.uniform(0.0, 0.1),
            log=folder / "memory-worker.log",
        )
        if not campaign.record(run, outcome):
            continue
        for commit in outcome.commits:
            campaign.commits += 1
            marks.update(commit["files"])
        for problem in check_database(root):
            campaign.fail(run, problem)
        conn = connect(database_path(root))
        try:
            now = dict(conn.execute("SELECT path, hash FROM memory_files").fetchall())
            indexed = dict(conn.execute("SELECT path, hash FROM files").fetchall())
            items = conn.execute("SELECT count(*) FROM memory_items").fetchone()[0]
            fts = conn.execute("SELECT count(*) FROM memory_fts").fetchone()[0]
            unmarked = conn.execute(
                "SELECT count(*) FROM memory_files f WHERE NOT EXISTS"
                " (SELECT 1 FROM memory_items i WHERE i.path = f.path)"
                " AND f.path != 'gen/__init__.py'"
            ).fetchone()[0]
        finally:
            conn.close()
        if items != fts:
            campaign.fail(run, f"{items} items but {fts} keyword rows")
        if unmarked:
            campaign.fail(run, f"{unmarked} files marked synced without their chunks")
        for path, reported in marks.items():
            # the mark as reported, or a later sync's mark for the file's newer content
            if now.get(path) == reported or now.get(path) == indexed.get(path):
                campaign.checked += 1
            else:
                campaign.fail(run, f"{path}: committed mark {reported}, found {now.get(path)}")
    memory = Memory(connect(database_path(root)), root)
    memory.sync()
    memory.conn.close()
    fresh = folder / "memory-fresh"
    for path in root.rglob("*.py"):
        target = fresh / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    clean = Memory(connect(database_path(fresh)), fresh)
    Indexer(fresh, conn=clean.conn, workers=1).run()
    clean.sync()
    clean.conn.close()
    if _memory_snapshot(root) != _memory_snapshot(fresh):
        campaign.fail(kills, "memory after the kills differs from a clean sync")
    check = Memory(connect(database_path(root)), root)
    spaces = check.stats()["spaces"]
    check.conn.close()
    if not spaces or spaces[0]["pending"] or spaces[0]["vectors"] != files * 12:
        campaign.fail(kills, f"vectors after the final sync: {spaces}")
    campaign.seconds = time.perf_counter() - started
    return campaign


# -- the governance ledger ------------------------------------------------------------------

LEDGER_POLICY = """version = 1
description = "small budgets, so that the crash campaign's charges reach them"

[budgets]
tokens_per_task = 4000
"""
LEDGER_TASK_LIMIT = 4000


def ledger_campaign(folder: Path, kills: int, *, seed: int = 13) -> Campaign:
    """Two workers decide and charge at once; each is killed at its own random moment."""
    campaign = Campaign("ledger")
    started = time.perf_counter()
    rng = random.Random(seed)
    root = folder / "ledger-ws"
    (root / ".hexad" / "policies").mkdir(parents=True)
    (root / ".hexad" / "policies" / "crash.toml").write_text(LEDGER_POLICY, encoding="utf-8")
    (root / "pkg").mkdir()
    for i in range(5):
        (root / f"pkg/m{i}.py").write_text(f"X = {i}\n")
    conn = connect(database_path(root))
    expected_triggers = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%append-only%'"
    ).fetchone()[0]
    conn.close()
    decisions: dict[int, dict[str, Any]] = {}
    reported: set[int] = set()
    for run in range(1, kills + 1):
        outcomes: list[Outcome] = []

        def one(worker_seed: int, after: int, delay: float, outcomes: list[Outcome]) -> None:
            outcomes.append(
                run_worker(
                    ["ledger", str(root), str(worker_seed)],
                    after=after,
                    delay=delay,
                    log=folder / "ledger-worker.log",
                )
            )

        threads = [
            threading.Thread(
                target=one,
                args=(
                    seed * 1000 + run * 2 + k,
                    rng.randint(0, 80),
                    rng.uniform(0.0, 0.3),
                    outcomes,
                ),
            )
            for k in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for outcome in outcomes:
            campaign.record(run, outcome, must_die=True)
            for commit in outcome.commits:
                campaign.commits += 1
                if "decision" in commit:
                    decisions[int(commit["decision"])] = commit
                else:
                    reported.add(int(commit["reported"]))
        for problem in check_database(root):
            campaign.fail(run, problem)
        conn = connect(database_path(root))
        try:
            rows = {
                r[0]: (r[1], r[2])
                for r in conn.execute("SELECT id, effect, task_id FROM governance_decisions")
            }
            reserves = dict(
                conn.execute(
                    "SELECT decision_id, SUM(amount) FROM governance_spend"
                    " WHERE source = 'reserve' AND metric = 'tokens' GROUP BY decision_id"
                ).fetchall()
            )
            adjusted = {
                r[0]
                for r in conn.execute(
                    "SELECT decision_id FROM governance_spend WHERE source = 'adjust'"
                )
            }
            # reserves less the (here always downward) adjustments: what the budget sees
            per_task = conn.execute(
                "SELECT task_id, SUM(amount) FROM governance_spend"
                " WHERE metric = 'tokens' GROUP BY task_id"
            ).fetchall()
            triggers = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
                " AND sql LIKE '%append-only%'"
            ).fetchone()[0]
        finally:
            conn.close()
        for decision_id, commit in decisions.items():
            if rows.get(decision_id) != (commit["effect"], commit["task"]):
                campaign.fail(run, f"decision {decision_id} {commit} is {rows.get(decision_id)}")
            elif commit["tokens"] and reserves.get(decision_id) != commit["tokens"]:
                campaign.fail(run, f"decision {decision_id} lost its charge")
            else:
                campaign.checked += 1
        for decision_id in reported:
            if decision_id in adjusted:
                campaign.checked += 1
            else:
                campaign.fail(run, f"the spend reported for decision {decision_id} is gone")
        for task, total in per_task:
            if total > LEDGER_TASK_LIMIT:
                campaign.fail(run, f"{task} spent {total} tokens > {LEDGER_TASK_LIMIT}")
        if triggers != expected_triggers:
            campaign.fail(run, f"{triggers} append-only triggers, not {expected_triggers}")
    campaign.notes["decisions committed"] = len(decisions)
    campaign.notes["denied for budget"] = sum(
        1 for c in decisions.values() if c["effect"] == "deny"
    )
    campaign.seconds = time.perf_counter() - started
    return campaign


# -- multi-file edits -----------------------------------------------------------------------


def tree_at(generation: int) -> dict[str, str]:
    """The workspace's files at a generation of the edits campaign."""
    tree: dict[str, str] = {}
    filler = "".join(f"# line {n} of generation {generation}\n" for n in range(400))
    for path in EDITED:
        tree[path] = f"# {path} at generation {generation}\nGENERATION = {generation}\n{filler}"
    tree[f"moving_{generation % 2}.py"] = f"MOVED = {generation}\n{filler}"
    if generation % 2:
        tree["created.py"] = f"CREATED = {generation}\n"
    tree["pkg/__init__.py"] = ""
    return tree


def generation_of(root: Path) -> int:
    first = (root / EDITED[0]).read_text(encoding="utf-8").splitlines()[1]
    return int(first.split("=")[1])


def read_tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` but Hexad's own ``.hexad/`` (debris included)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".hexad" or rel.startswith(".hexad/") or "__pycache__" in rel:
            continue
        if path.is_file():
            out[rel] = path.read_text(encoding="utf-8", errors="replace")
    return out


def edits_campaign(folder: Path, kills: int, *, seed: int = 14) -> Campaign:
    from hexad.execution import journal

    campaign = Campaign("edits")
    started = time.perf_counter()
    rng = random.Random(seed)
    root = folder / "edits-ws"
    for rel, text in tree_at(0).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    last = 0
    for run in range(1, kills + 1):
        outcome = run_worker(
            ["edits", str(root)],
            after=rng.randint(0, 4),
            delay=rng.uniform(0.0, 0.03),
            log=folder / "edits-worker.log",
        )
        campaign.record(run, outcome, must_die=True)
        for commit in outcome.commits:
            campaign.commits += 1
            last = int(commit["generation"])
        before = read_tree(root)
        if before not in (tree_at(last), tree_at(last + 1)):
            campaign.count("kills that left a write half-done")
        undone = journal.recover(root)
        campaign.count("writes rolled back", sum(1 for u in undone if not u.completed))
        campaign.count("finished writes cleaned", sum(1 for u in undone if u.completed))
        after = read_tree(root)
        if after == tree_at(last):
            campaign.checked += 1
        elif after == tree_at(last + 1):
            campaign.checked += 1
            campaign.count("writes that completed unreported")
            last += 1
        else:
            wrong = sorted(
                set(after) ^ set(tree_at(last))
                | {p for p in after if after[p] != tree_at(last).get(p)}
            )
            campaign.fail(run, f"after recovery the files are neither state: {wrong[:8]}")
            last = generation_of(root)
        left = list((root / journal.JOURNAL_DIR).glob("*.json"))
        if left:
            campaign.fail(run, f"journals left after recovery: {left}")
    campaign.seconds = time.perf_counter() - started
    return campaign


# -- proposals applied ----------------------------------------------------------------------


def proposals_campaign(folder: Path, kills: int, *, seed: int = 15) -> Campaign:
    from hexad.execution.proposals import ProposalService
    from hexad.execution.sources import DiskSources
    from hexad.governance import open_engine
    from hexad.perception.index import IndexReader
    from hexad.perception.indexer import Indexer

    campaign = Campaign("proposals")
    started = time.perf_counter()
    rng = random.Random(seed)
    root = folder / "proposals-ws"
    shutil.copytree(
        EXEC_FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__", ".pytest*")
    )
    # renames back and forth, many of them: more than the built-in 120 proposals an hour
    (root / ".hexad" / "policies").mkdir(parents=True, exist_ok=True)
    (root / ".hexad" / "policies" / "crash.toml").write_text(
        "version = 1\n[budgets]\nproposals_per_hour = 1000\n", encoding="utf-8"
    )
    Indexer(root, workers=1).run()
    state_a = read_tree(root)
    state_b = {p: t.replace("with_tax", "add_tax") for p, t in state_a.items()}
    applied: dict[int, str] = {}
    for run in range(1, kills + 1):
        outcome = run_worker(
            ["proposals", str(root)],
            after=rng.randint(0, 3),
            delay=rng.uniform(0.0, 0.6),
            log=folder / "proposals-worker.log",
        )
        campaign.record(run, outcome, must_die=True)
        for commit in outcome.commits:
            campaign.commits += 1
            applied[int(commit["decision"])] = str(commit["name"])
        for problem in check_database(root):
            campaign.fail(run, problem)
        # what the next session does first: the proposal service recovers the journal
        conn = connect(database_path(root))
        service = ProposalService(
            root,
            DiskSources(root),
            lambda conn=conn: IndexReader(conn),
            conn,
            open_engine(root, user_file=None),
        )
        try:
            campaign.count("writes rolled back", len(service.recovered))
            now = read_tree(root)
            if now in (state_a, state_b):
                campaign.checked += 1
            else:
                diff = sorted(p for p in set(now) | set(state_a) if now.get(p) != state_a.get(p))
                campaign.fail(run, f"the files are neither before nor after a rename: {diff}")
            for decision_id in applied:
                stored = service.records.decision(decision_id)
                if stored is None or stored.status != "applied":
                    state = None if stored is None else stored.status
                    campaign.fail(run, f"applied decision {decision_id} is now {state}")
                else:
                    campaign.checked += 1
        finally:
            service.close()
    campaign.notes["renames applied"] = len(applied)
    campaign.seconds = time.perf_counter() - started
    return campaign


CAMPAIGNS: dict[str, Callable[[Path, int], Campaign]] = {
    "index": index_campaign,
    "memory": memory_campaign,
    "ledger": ledger_campaign,
    "edits": edits_campaign,
    "proposals": proposals_campaign,
}
