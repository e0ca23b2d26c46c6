"""The workspace database: one SQLite file under ``<workspace>/.hexad/``.

stdlib ``sqlite3`` is used when it can load extensions (sqlite-vec needs that); otherwise
``sqlean`` (sqlean-py), a drop-in build of the same module with extension loading. The
connection runs in WAL mode so readers never block the writer and a killed process loses
nothing that was committed.
"""

from __future__ import annotations

import logging
import sqlite3 as _stdlib_sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from hexad.core.errors import DatabaseError
from hexad.core.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

DB_DIRNAME = ".hexad"
DB_FILENAME = "hexad.db"


def _pick_driver() -> ModuleType:
    probe = _stdlib_sqlite3.connect(":memory:")
    try:
        if hasattr(probe, "enable_load_extension"):
            return _stdlib_sqlite3
    finally:
        probe.close()
    import sqlean

    return sqlean  # type: ignore[no-any-return]


sqlite = _pick_driver()
Connection = Any  # sqlite3.Connection or sqlean.Connection: same API, distinct classes


def database_path(workspace: Path) -> Path:
    return workspace / DB_DIRNAME / DB_FILENAME


def connect(path: Path | str, *, migrate: bool = True, readonly: bool = False) -> Connection:
    """Open (and by default migrate) the database at ``path``."""
    if str(path) != ":memory:" and not readonly:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if Path(path).parent.name == DB_DIRNAME:
            _ensure_ignored(Path(path).parent)
    try:
        if readonly:
            conn = sqlite.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            conn = sqlite.connect(str(path), check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 30000")
        if migrate and not readonly:
            apply_migrations(conn)
    except sqlite.DatabaseError as exc:
        raise DatabaseError(f"cannot open the Hexad database at {path}: {exc}") from exc
    return conn


def load_vector_extension(conn: Connection) -> None:
    """Load sqlite-vec into ``conn`` (used by the memory layer)."""
    import sqlite_vec

    conn.enable_load_extension(True)
    try:
        sqlite_vec.load(conn)
    finally:
        conn.enable_load_extension(False)


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """Run the block in one IMMEDIATE transaction: all of it commits, or none of it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def apply_migrations(conn: Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[str]:
    """Apply the named migrations not yet recorded; each one runs in its own transaction."""
    conn.isolation_level = None  # explicit transactions only
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    applied = []
    for migration in migrations:
        if migration.name in done:
            continue
        with transaction(conn):
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations(name) VALUES (?)", (migration.name,))
        log.info("applied migration %s", migration.name)
        applied.append(migration.name)
    return applied


_HEXAD_GITIGNORE = """\
# Hexad's database and caches stay local; workspace policies are meant to be shared.
*
!.gitignore
!policies/
!policies/**
"""


def _ensure_ignored(directory: Path) -> None:
    """Keep the database out of version control even without a project .gitignore entry."""
    marker = directory / ".gitignore"
    if not marker.exists():
        try:
            marker.write_text(_HEXAD_GITIGNORE, encoding="utf-8")
        except OSError:
            log.debug("could not write %s", marker)
