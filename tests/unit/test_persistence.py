"""The database: migrations, warm starts that re-parse only what changed, crash safety."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from hexad.core.db import apply_migrations, connect, database_path, load_vector_extension
from hexad.core.migrations import MIGRATIONS
from hexad.perception.indexer import BATCH_FILES, Indexer
from tests.conftest import WriteWorkspace, write_files


def _snapshot(conn: object) -> tuple[object, ...]:
    c = conn  # a sqlite3-compatible connection
    return (
        sorted(c.execute("SELECT path, hash FROM files").fetchall()),  # type: ignore[attr-defined]
        sorted(c.execute("SELECT qualname, kind, exported FROM symbols").fetchall()),  # type: ignore[attr-defined]
        sorted(
            c.execute(  # type: ignore[attr-defined]
                "SELECT f.path, r.line, r.name, r.resolution, t.qualname FROM refs r "
                "JOIN files f ON f.id = r.file_id LEFT JOIN symbols t ON t.id = r.target_id"
            ).fetchall()
        ),
    )


def test_migrations_are_named_and_idempotent(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.sqlite")
    names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [m.name for m in MIGRATIONS]
    assert apply_migrations(conn) == []
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_vec_loads_into_the_connection(tmp_path: Path) -> None:
    conn = connect(tmp_path / "db.sqlite")
    load_vector_extension(conn)
    (version,) = conn.execute("SELECT vec_version()").fetchone()
    assert version.startswith("v")


def test_warm_start_reparses_only_changed_files(workspace: WriteWorkspace) -> None:
    files: dict[str, str | bytes] = {
        f"pkg/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(20)
    }
    files["pkg/__init__.py"] = ""
    files["pkg/user.py"] = "from .m3 import f3\n\ndef use():\n    return f3()\n"
    root = workspace(files)
    first = Indexer(root, workers=1).run()
    assert first.parsed == 22
    warm = Indexer(root, workers=1).run()
    assert (warm.parsed, warm.unchanged) == (0, 22)

    (root / "pkg/m3.py").write_text("def f3():\n    return 33\n\ndef g3():\n    return f3()\n")
    os.utime(root / "pkg/m5.py")  # touched, content unchanged: hashed, not parsed
    one = Indexer(root, workers=1).run()
    assert one.parsed == 1 and one.unchanged == 21
    conn = connect(database_path(root))
    rows = conn.execute(
        "SELECT r.resolution, t.qualname FROM refs r JOIN symbols s ON s.id = r.scope_id "
        "LEFT JOIN symbols t ON t.id = r.target_id WHERE s.name = 'use'"
    ).fetchall()
    assert rows == [("import", "pkg.m3.f3")]  # re-resolved to the new symbol row

    (root / "pkg/m3.py").unlink()
    gone = Indexer(root, workers=1).run()
    assert gone.removed == 1
    rows = conn.execute(
        "SELECT r.resolution, r.target_id FROM refs r JOIN symbols s ON s.id = r.scope_id "
        "WHERE s.name = 'use'"
    ).fetchall()
    assert rows == [("unresolved", None)]


def test_parallel_and_serial_indexing_agree(workspace: WriteWorkspace, tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        f"p/mod{i}.py": f"from .mod{(i + 1) % 60} import fn{(i + 1) % 60}\n\n"
        f"def fn{i}():\n    return fn{(i + 1) % 60}()\n"
        for i in range(60)
    }
    files["p/__init__.py"] = ""
    root = workspace(files)
    serial_db = connect(tmp_path / "serial.db")
    Indexer(root, conn=serial_db, workers=1).run()
    parallel = Indexer(root, workers=2)
    summary = parallel.run()
    assert summary.workers == 2
    assert _snapshot(parallel.conn) == _snapshot(serial_db)


_INDEX_SCRIPT = """
import sys
from hexad.perception.indexer import Indexer
def progress(done, total):
    print(f"{done} {total}", flush=True)
Indexer(sys.argv[1], workers=int(sys.argv[2])).run(progress)
print("done", flush=True)
"""


def _module_text(i: int, generation: int) -> str:
    body = "\n".join(
        f"def f{i}_{j}(x):\n    return f{i}_{(j + generation) % 30}(x)\n" for j in range(30)
    )
    # solo{i} exists only in some generations, and mod{i-1} calls it: a file that did not
    # change sees its call flip between unique and unresolved, which only exact
    # invalidation (committed with each batch) keeps right across a kill
    solo = f"def solo{i}():\n    return 1\n" if (generation + i) % 2 == 0 else ""
    return (
        f"from . import mod{(i + 7) % 400}\n\n{body}\n{solo}\n"
        f"def caller{i}():\n    return solo{(i + 1) % 400}()\n"
    )


def _rewrite_some(root: Path, rng: random.Random, generation: int) -> None:
    for i in rng.sample(range(400), 150):
        (root / f"big/mod{i}.py").write_text(_module_text(i, generation))


def test_kill_during_indexing_leaves_a_usable_database(tmp_path: Path) -> None:
    """kill -9 at random points of cold and warm runs; every time the database opens,
    passes its integrity checks, and a final run converges on a clean index."""
    root = tmp_path / "ws"
    write_files(root, {"big/__init__.py": ""})
    rng = random.Random(7)
    for i in range(400):
        (root / f"big/mod{i}.py").write_text(_module_text(i, 0))
    killed = 0
    for attempt in range(8):
        if attempt:
            _rewrite_some(root, rng, attempt)
        proc = subprocess.Popen(
            [sys.executable, "-c", _INDEX_SCRIPT, str(root), str(1 + attempt % 2)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None
        # progress comes every 16 files; odd attempts die right after the first batch
        # committed, even ones at a random report or somewhere in resolution
        stop_after = rng.randint(1, 12) if attempt % 2 == 0 else BATCH_FILES // 16 + 1
        for seen, line in enumerate(proc.stdout, start=1):
            if line.startswith("done"):
                break
            done, total = map(int, line.split())
            if seen >= stop_after or done == total:
                if done == total:
                    time.sleep(rng.uniform(0.0, 0.3))  # somewhere in resolution
                os.killpg(proc.pid, signal.SIGKILL)
                killed += 1
                break
        proc.wait()
        conn = connect(database_path(root))
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.close()
    assert killed >= 6
    resumed = Indexer(root, workers=1)
    resumed.run()
    clean = connect(tmp_path / "clean.db")
    Indexer(root, conn=clean, workers=1).run()
    assert _snapshot(resumed.conn) == _snapshot(clean)


def test_a_grammar_or_extractor_change_reindexes_everything(workspace: WriteWorkspace) -> None:
    root = workspace({"a.py": "def a():\n    pass\n"})
    Indexer(root, workers=1).run()
    conn = connect(database_path(root))
    conn.execute("UPDATE meta SET value = 'old' WHERE key = 'extractor'")
    again = Indexer(root, workers=1).run()
    assert again.parsed == 1


_DIE_BEFORE_RESOLVING = """
import os, sys
import hexad.perception.indexer as indexer
def die(*args, **kwargs):
    os._exit(9)
indexer.resolve_all = die
indexer.Indexer(sys.argv[1], workers=1).run()
"""


def test_a_kill_between_commit_and_resolution_loses_no_invalidation(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(
        {
            "a.py": "def use():\n    return solo()\n",
            "b.py": "def other():\n    pass\n",
            "c.py": "def first():\n    pass\n",
        }
    )
    Indexer(root, workers=1).run()
    (root / "b.py").write_text("def solo():\n    return 1\n")  # a.py's call now resolves
    (root / "c.py").write_text("def first():\n    return 2\n")
    result = subprocess.run([sys.executable, "-c", _DIE_BEFORE_RESOLVING, str(root)], check=False)
    assert result.returncode == 9
    Indexer(root, workers=1).run()  # b.py and c.py are unchanged now; only a.py's ref is stale
    conn = connect(database_path(root))
    assert conn.execute(
        "SELECT r.resolution, t.qualname FROM refs r LEFT JOIN symbols t ON t.id = r.target_id "
        "WHERE r.name = 'solo'"
    ).fetchall() == [("unique", "b.solo")]


def test_the_database_folder_ignores_itself_and_nothing_else(tmp_path: Path) -> None:
    connect(database_path(tmp_path)).close()
    ignore = tmp_path / ".hexad" / ".gitignore"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".hexad" / "policies").mkdir()
    (tmp_path / ".hexad" / "policies" / "team.toml").write_text("# shared\n")
    checked = subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "check-ignore",
            ".hexad/hexad.db",
            ".hexad/policies/team.toml",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.stdout.split() == [".hexad/hexad.db"]  # the database only
    assert ignore.read_text().startswith("# Hexad")
    connect(tmp_path / "elsewhere.db").close()
    assert not (tmp_path / ".gitignore").exists()
