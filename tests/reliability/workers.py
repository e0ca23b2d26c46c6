"""The processes the crash campaigns kill: each does real Hexad work in a loop and prints
one line per commit (``committed <json>``), flushed, *after* the commit returned — so
whatever the parent read before its SIGKILL was committed, and must still be there.

Run as ``python -m tests.reliability.workers KIND ROOT [ARGS]``; see ``crash.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def emit(data: Any) -> None:
    sys.stdout.write("committed " + json.dumps(data) + "\n")
    sys.stdout.flush()


def index(root: Path, workers: int) -> None:
    """One indexer run; after each committed batch (and at the end), the rows of
    ``files`` that changed since the last report, read through a second connection."""
    from hexad.core.db import connect, database_path
    from hexad.perception.indexer import Indexer

    seen: dict[str, str | None] = {}
    watcher: Any = None

    def report() -> None:
        rows = dict(
            watcher.execute("SELECT path, hash FROM files WHERE skip_reason IS NULL").fetchall()
        )
        changed = {p: h for p, h in rows.items() if p not in seen or seen[p] != h}
        seen.update(changed)
        if changed:
            emit(changed)

    indexer = Indexer(root, workers=workers, between_batches=report)
    watcher = connect(database_path(root), migrate=False)
    report()
    indexer.run()
    report()
    print("done", flush=True)


def memory(root: Path) -> None:
    """One memory sync in small batches; after each progress report, the sync marks
    (``memory_files``) that changed, read through a second connection (so only what is
    committed)."""
    from hexad.core.db import connect, database_path
    from hexad.memory import Memory, sync

    sync.BATCH_FILES = 4
    sync.EMBED_BATCH = 64
    mem = Memory(connect(database_path(root)), root)
    watcher = connect(database_path(root), migrate=False)
    seen: dict[str, str] = {}

    def report(phase: str = "", done: int = 0, total: int = 0) -> None:
        rows = dict(watcher.execute("SELECT path, hash FROM memory_files").fetchall())
        changed = {p: h for p, h in rows.items() if seen.get(p) != h}
        seen.update(changed)
        emit({"files": changed})

    mem.sync(report)
    report()
    print("done", flush=True)


def ledger(root: Path, seed: int) -> None:
    """Decisions, charges and spend reports, for ever: each decision's id, effect and
    reserved tokens once ``decide`` returned; each reported spend once recorded."""
    import random

    from hexad.governance import Action, open_engine

    rng = random.Random(seed)
    engine = open_engine(root, user_file=None)
    while True:
        task = f"task-{rng.randrange(6)}"
        if rng.random() < 0.7:
            action = Action(
                kind="generate",
                engine="model",
                task="implement",
                task_id=task,
                tokens=rng.randint(50, 400),
                model="local",
            )
        else:
            action = Action(
                kind="edit",
                engine="structural",
                task="rename",
                task_id=task,
                paths=(f"pkg/m{rng.randrange(5)}.py",),
                lines_changed=rng.randint(1, 40),
            )
        decision = engine.decide(action)
        emit(
            {
                "decision": decision.decision_id,
                "effect": decision.effect,
                "task": task,
                "tokens": action.tokens if decision.charged else 0,
            }
        )
        if decision.charged and action.tokens and rng.random() < 0.5:
            engine.report(decision, tokens=rng.randint(10, action.tokens - 1))  # an adjustment
            emit({"reported": decision.decision_id})


def edits(root: Path) -> None:
    """Multi-file changes through ``write_change``, for ever: five files edited, one
    moved, one created or deleted — generation after generation."""
    from hexad.execution.edits import Change, FileChange, write_change
    from tests.reliability.crash import EDITED, generation_of, tree_at

    gen = generation_of(root)
    while True:
        now, nxt = tree_at(gen), tree_at(gen + 1)
        files: list[FileChange] = []
        for path in EDITED:
            files.append(FileChange(path, now[path], nxt[path]))
        moving = next(p for p in now if p.startswith("moving_"))
        moved = next(p for p in nxt if p.startswith("moving_"))
        files.append(FileChange(moving, now[moving], nxt[moved], new_path=moved))
        if "created.py" in now:
            files.append(FileChange("created.py", now["created.py"], None))
        else:
            files.append(FileChange("created.py", None, nxt["created.py"]))
        write_change(root, Change(tuple(files)))
        gen += 1
        emit({"generation": gen})


def proposals(root: Path) -> None:
    """Renames proposed, verified and applied through the proposal service, back and
    forth (``with_tax`` ↔ ``add_tax``), for ever; each applied decision's id and the
    name it left."""
    from hexad.core.db import connect, database_path
    from hexad.execution.proposals import ProposalRequest, ProposalService
    from hexad.execution.sources import DiskSources
    from hexad.governance import open_engine
    from hexad.perception.index import IndexReader
    from hexad.perception.indexer import Indexer

    conn = connect(database_path(root))
    service = ProposalService(
        root, DiskSources(root), lambda: IndexReader(conn), conn, open_engine(root, user_file=None)
    )
    while True:
        Indexer(root, conn=conn, workers=1).run()
        pricing = (root / "inventory" / "pricing.py").read_text(encoding="utf-8")
        old, new = ("with_tax", "add_tax") if "def with_tax" in pricing else ("add_tax", "with_tax")
        request = ProposalRequest.parse(
            {"kind": "rename", "symbol": f"inventory.pricing.{old}", "new_name": new}
        )
        proposal = service.propose(request, run_tests=False)
        service.apply(proposal.id, approved=True)
        emit({"decision": proposal.id, "name": new})


def main(argv: list[str]) -> None:
    kind, root = argv[0], Path(argv[1]).resolve()
    if kind == "index":
        index(root, int(argv[2]))
    elif kind == "memory":
        memory(root)
    elif kind == "ledger":
        ledger(root, int(argv[2]))
    elif kind == "edits":
        edits(root)
    elif kind == "proposals":
        proposals(root)
    else:
        raise SystemExit(f"unknown worker {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
