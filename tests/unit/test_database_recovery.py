"""The workspace database never silently overwrites a corrupt or foreign file.

connect() moves such a file aside (with its -wal and -shm files), logs one warning, and
opens a fresh database that carries a notice for the user; readonly mode refuses instead.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, tzinfo
from pathlib import Path

import pytest

import hexad.core.db
from hexad.core.db import (
    APPLICATION_ID,
    RECOVERY_KEY,
    Connection,
    clear_recovery_notice,
    connect,
    recovery_notice,
    sqlite,
    transaction,
)
from hexad.core.errors import DatabaseError

GARBAGE = b"this is not a database, it is a shopping list: eggs, milk, flour\n" * 64


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ws" / ".hexad" / "hexad.db"


@pytest.fixture
def opened() -> Iterator[list[Connection]]:
    """Connections a test opens, closed at its end."""
    conns: list[Connection] = []
    yield conns
    for conn in conns:
        conn.close()


def _open(conns: list[Connection], path: Path, **kwargs: bool) -> Connection:
    conn = connect(path, **kwargs)
    conns.append(conn)
    return conn


def _aside(path: Path) -> list[Path]:
    """Files moved aside next to the database, sidecars included."""
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(f"{path.name}."))


def _write_hexad_db(path: Path, rows: int = 3000) -> None:
    """A real, checkpointed Hexad database spanning many pages."""
    conn = connect(path)
    with transaction(conn):
        conn.executemany(
            "INSERT INTO files(path, language, module, hash) VALUES (?, 'python', ?, ?)",
            [(f"pkg/module_{i:05d}.py", f"pkg.module_{i:05d}", "f" * 40) for i in range(rows)],
        )
    conn.close()  # the last connection checkpoints: no -wal is left behind
    assert not Path(f"{path}-wal").exists()


def _raw(path: Path) -> Connection:
    return sqlite.connect(str(path), isolation_level=None)


def _assert_fresh_hexad(conn: Connection) -> None:
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"


def _assert_recovered(
    conn: Connection, path: Path, original: bytes, reason: str
) -> tuple[Path, list[Path]]:
    """The original bytes sit aside under a dated name; the new database says so."""
    aside = _aside(path)
    main = [p for p in aside if not p.name.endswith(("-wal", "-shm", "-journal"))]
    assert len(main) == 1, aside
    moved = main[0]
    assert moved.name.startswith(f"hexad.db.{reason}-")
    assert moved.read_bytes() == original
    _assert_fresh_hexad(conn)
    (value,) = conn.execute("SELECT value FROM meta WHERE key = ?", (RECOVERY_KEY,)).fetchone()
    notice = json.loads(value)
    assert notice["reason"] == reason
    assert notice["moved_to"] == str(moved)
    assert notice["at"]
    sentence = recovery_notice(conn)
    assert sentence is not None and str(moved) in sentence and "rebuilt" in sentence
    return moved, aside


# -- corrupt files ----------------------------------------------------------------------


def test_garbage_bytes_are_moved_aside_and_a_fresh_database_is_created(
    db: Path, opened: list[Connection], caplog: pytest.LogCaptureFixture
) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(GARBAGE)
    with caplog.at_level(logging.WARNING, logger="hexad.core.db"):
        conn = _open(opened, db)
    moved, _ = _assert_recovered(conn, db, GARBAGE, "corrupt")
    sentence = recovery_notice(conn)
    assert sentence is not None and "not an SQLite file" in sentence
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(db) in message and str(moved) in message and "rebuilt" in message


def test_a_tiny_non_sqlite_file_is_corrupt(db: Path, opened: list[Connection]) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"SQLite")
    _assert_recovered(_open(opened, db), db, b"SQLite", "corrupt")


def test_a_truncated_database_is_moved_aside(db: Path, opened: list[Connection]) -> None:
    _write_hexad_db(db)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    _assert_recovered(_open(opened, db), db, data[: len(data) // 2], "corrupt")


def test_a_page_overwritten_in_the_middle_is_caught_before_use(
    db: Path, opened: list[Connection]
) -> None:
    _write_hexad_db(db)
    data = bytearray(db.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    middle = (len(data) // page_size // 2) * page_size
    data[middle : middle + page_size] = (b"GARBAGE!" * page_size)[:page_size]
    db.write_bytes(bytes(data))
    # The header and schema are intact: only the integrity check can tell.
    raw = _raw(db)
    assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    raw.close()
    _assert_recovered(_open(opened, db), db, bytes(data), "corrupt")


def test_wal_and_shm_sidecars_move_with_the_file(db: Path, opened: list[Connection]) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(GARBAGE)
    wal, shm = b"wal frames " * 100, b"shared memory " * 100
    Path(f"{db}-wal").write_bytes(wal)
    Path(f"{db}-shm").write_bytes(shm)
    conn = _open(opened, db)
    moved, aside = _assert_recovered(conn, db, GARBAGE, "corrupt")
    assert aside == sorted([moved, Path(f"{moved}-shm"), Path(f"{moved}-wal")])
    assert Path(f"{moved}-wal").read_bytes() == wal
    assert Path(f"{moved}-shm").read_bytes() == shm


def test_reopening_after_recovery_moves_nothing_and_the_notice_can_be_cleared(
    db: Path, opened: list[Connection], caplog: pytest.LogCaptureFixture
) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(GARBAGE)
    connect(db).close()
    before = _aside(db)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hexad.core.db"):
        conn = _open(opened, db)
    assert _aside(db) == before
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert recovery_notice(conn) is not None  # kept until a client has shown it
    clear_recovery_notice(conn)
    assert recovery_notice(conn) is None
    assert recovery_notice(_open(opened, db)) is None


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FrozenClock:
        return cls(2025, 1, 2, 3, 4, 5, tzinfo=tz)


def test_a_second_recovery_never_overwrites_the_first(
    db: Path, opened: list[Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hexad.core.db, "datetime", _FrozenClock)  # both in the same second
    db.parent.mkdir(parents=True)
    db.write_bytes(b"first " * 50)
    connect(db).close()
    db.unlink()
    db.write_bytes(b"second " * 50)
    _open(opened, db)
    first, second = (
        db.with_name("hexad.db.corrupt-20250102-030405"),
        db.with_name("hexad.db.corrupt-20250102-030405-2"),
    )
    assert _aside(db) == [first, second]
    assert (first.read_bytes(), second.read_bytes()) == (b"first " * 50, b"second " * 50)


# -- files that are not Hexad's -----------------------------------------------------------


def test_another_programs_database_is_moved_aside_intact(
    db: Path, opened: list[Connection]
) -> None:
    db.parent.mkdir(parents=True)
    raw = _raw(db)
    raw.execute("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)")
    raw.executemany("INSERT INTO customers(name) VALUES (?)", [("ada",), ("grace",)])
    raw.close()
    original = db.read_bytes()
    moved, _ = _assert_recovered(_open(opened, db), db, original, "foreign")
    sentence = recovery_notice(opened[0])
    assert sentence is not None and "not a Hexad database" in sentence
    theirs = _raw(moved)
    assert theirs.execute("SELECT name FROM customers ORDER BY id").fetchall() == [
        ("ada",),
        ("grace",),
    ]
    theirs.close()


def test_a_database_with_another_application_id_is_foreign(
    db: Path, opened: list[Connection]
) -> None:
    db.parent.mkdir(parents=True)
    raw = _raw(db)
    raw.execute("PRAGMA application_id = 0x0F055112")  # Fossil's
    raw.close()
    original = db.read_bytes()
    _assert_recovered(_open(opened, db), db, original, "foreign")


def test_another_programs_schema_migrations_table_is_not_ours(
    db: Path, opened: list[Connection]
) -> None:
    db.parent.mkdir(parents=True)
    raw = _raw(db)
    raw.execute("CREATE TABLE schema_migrations(version TEXT PRIMARY KEY)")  # Rails' shape
    raw.execute("INSERT INTO schema_migrations VALUES ('20240101000000')")
    raw.close()
    original = db.read_bytes()
    _assert_recovered(_open(opened, db), db, original, "foreign")


def test_a_foreign_database_keeps_its_uncheckpointed_wal(
    db: Path, opened: list[Connection]
) -> None:
    """A program killed in WAL mode leaves rows only in -wal: they move aside with it."""
    db.parent.mkdir(parents=True)
    script = textwrap.dedent(
        f"""
        import os
        from hexad.core.db import sqlite
        conn = sqlite.connect({str(db)!r}, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("CREATE TABLE notes(body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('only in the wal')")
        os._exit(0)  # no close, no checkpoint
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    main, wal = db.read_bytes(), Path(f"{db}-wal").read_bytes()
    moved, _ = _assert_recovered(_open(opened, db), db, main, "foreign")
    assert Path(f"{moved}-wal").read_bytes() == wal
    assert Path(f"{moved}-shm").exists()
    theirs = _raw(moved)
    assert theirs.execute("SELECT body FROM notes").fetchall() == [("only in the wal",)]
    theirs.close()


# -- files that are fine -----------------------------------------------------------------


def test_an_older_hexad_database_without_application_id_is_adopted(
    db: Path, opened: list[Connection]
) -> None:
    _write_hexad_db(db, rows=10)
    raw = _raw(db)
    raw.execute("PRAGMA application_id = 0")
    raw.close()
    conn = _open(opened, db)
    assert _aside(db) == []
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 10
    assert recovery_notice(conn) is None


def test_a_zero_byte_file_is_a_fresh_database(db: Path, opened: list[Connection]) -> None:
    db.parent.mkdir(parents=True)
    db.touch()
    conn = _open(opened, db)
    assert _aside(db) == []
    _assert_fresh_hexad(conn)
    assert recovery_notice(conn) is None


def test_a_new_database_is_marked_as_hexads(db: Path, opened: list[Connection]) -> None:
    conn = _open(opened, db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    memory = _open(opened, Path(":memory:"))
    assert memory.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_a_crashed_rollback_journal_is_rolled_back_not_moved(
    db: Path, opened: list[Connection]
) -> None:
    """An older database in rollback mode, killed mid-transaction, leaves a hot journal."""
    _write_hexad_db(db, rows=10)
    raw = _raw(db)
    raw.execute("PRAGMA journal_mode = DELETE")
    raw.close()
    script = textwrap.dedent(
        f"""
        import os
        from hexad.core.db import sqlite
        conn = sqlite.connect({str(db)!r}, isolation_level=None)
        conn.execute("PRAGMA cache_size = 1")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO files(path) VALUES (?)", [(f"x{{i}}" * 50,) for i in range(3000)]
        )
        os._exit(0)  # mid-transaction: pages spilled to the file, the journal is hot
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    assert Path(f"{db}-journal").stat().st_size > 0
    conn = _open(opened, db)
    assert _aside(db) == []
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 10
    assert recovery_notice(conn) is None


def test_a_locked_database_is_not_taken_for_a_corrupt_one(
    db: Path, opened: list[Connection]
) -> None:
    _write_hexad_db(db, rows=10)
    holder = _raw(db)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseError, match="locked"):
            connect(db, timeout=0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _aside(db) == []
    conn = _open(opened, db)
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 10


def test_every_connection_can_use_vec0_tables(db: Path, opened: list[Connection]) -> None:
    conn = _open(opened, db)
    conn.execute("CREATE VIRTUAL TABLE vectors USING vec0(embedding float[4])")
    conn.execute("INSERT INTO vectors(rowid, embedding) VALUES (1, '[1, 2, 3, 4]')")
    for other in (
        _open(opened, db),
        _open(opened, db, migrate=False),
        _open(opened, db, readonly=True),
    ):
        assert other.execute("SELECT rowid FROM vectors").fetchall() == [(1,)]
    assert _aside(db) == []


# -- readonly mode --------------------------------------------------------------------------


def test_readonly_refuses_a_corrupt_file_and_moves_nothing(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(GARBAGE)
    with pytest.raises(DatabaseError, match=r"is corrupt .* open it read-write"):
        connect(db, readonly=True)
    assert _aside(db) == []
    assert db.read_bytes() == GARBAGE


def test_readonly_opens_an_empty_file(db: Path, opened: list[Connection]) -> None:
    db.parent.mkdir(parents=True)
    db.touch()
    _open(opened, db, readonly=True)
    assert _aside(db) == []
    assert db.read_bytes() == b""


def test_readonly_refuses_a_foreign_file(db: Path) -> None:
    db.parent.mkdir(parents=True)
    raw = _raw(db)
    raw.execute("CREATE TABLE customers(id INTEGER PRIMARY KEY)")
    raw.close()
    with pytest.raises(DatabaseError, match="not a Hexad database"):
        connect(db, readonly=True)
    assert _aside(db) == []


# -- through the command line ---------------------------------------------------------------


def test_cli_index_rebuilds_over_a_garbage_database_and_keeps_it_aside(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "pkg").mkdir(parents=True)
    (ws / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (ws / "pkg" / "core.py").write_text("def answer():\n    return 42\n", encoding="utf-8")
    db = ws / ".hexad" / "hexad.db"
    db.parent.mkdir()
    db.write_bytes(GARBAGE)
    proc = subprocess.run(
        [sys.executable, "-m", "hexad", "index", str(ws), "--json"],
        cwd=ws,
        capture_output=True,
        check=False,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["parsed"] == 2
    assert "moved to" in proc.stderr and "rebuilt" in proc.stderr
    (moved,) = _aside(db)
    assert moved.read_bytes() == GARBAGE
    # the user was told once (the warning names the moved file), and the notice cleared,
    # so the next command does not repeat it
    assert proc.stderr.count("moved to") == 1
    again = subprocess.run(
        [sys.executable, "-m", "hexad", "index", str(ws), "--json"],
        cwd=ws,
        capture_output=True,
        check=False,
        text=True,
    )
    assert again.returncode == 0 and moved.name not in again.stderr
    conn = connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 2
        assert recovery_notice(conn) is None
    finally:
        conn.close()


def test_a_notice_this_process_already_logged_is_not_repeated(tmp_path: Path) -> None:
    db = tmp_path / ".hexad" / "hexad.db"
    db.parent.mkdir()
    db.write_bytes(GARBAGE)
    conn = connect(db)
    try:
        assert recovery_notice(conn) is not None  # for a client that did not see the log
        assert recovery_notice(conn, unannounced=True) is None  # the warning said it here
    finally:
        conn.close()
