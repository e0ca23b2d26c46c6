"""The workspace database: one SQLite file under ``<workspace>/.hexad/``.

stdlib ``sqlite3`` is used when it can load extensions (sqlite-vec needs that); otherwise
``sqlean`` (sqlean-py), a drop-in build of the same module with extension loading. The
connection runs in WAL mode so readers never block the writer and a killed process loses
nothing that was committed. Every connection has sqlite-vec loaded.

Hexad marks its databases with ``PRAGMA application_id`` and looks at an existing file before
using it: one that is corrupt, or that belongs to another program, is moved aside (never
deleted) and a fresh database takes its place; :func:`recovery_notice` says so to the user.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3 as _stdlib_sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from hexad.core.errors import DatabaseError
from hexad.core.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)

DB_DIRNAME = ".hexad"
DB_FILENAME = "hexad.db"
APPLICATION_ID = 0x48584144  # "HXAD" in PRAGMA application_id marks a Hexad database
RECOVERY_KEY = "db.recovered"  # meta key: JSON notice of a file moved aside by connect()
_ANNOUNCED: set[str] = set()  # files this process moved aside, and logged a warning for

_SIDECARS = ("-wal", "-shm", "-journal")  # files that belong to a database file
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_READONLY = 8
_SQLITE_NOTADB = 26
_CORRUPTION_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


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


# (st_dev, st_ino) of the database files this process has opened connections to
_OPENED: set[tuple[int, int]] = set()
_OPENED_LOCK = threading.Lock()


def _is_opened(identity: tuple[int, int] | None) -> bool:
    with _OPENED_LOCK:
        return identity in _OPENED


def _mark_opened(path: Path) -> None:
    try:
        stat = path.stat()
    except OSError:
        return
    with _OPENED_LOCK:
        _OPENED.add((stat.st_dev, stat.st_ino))


def database_path(workspace: Path) -> Path:
    return workspace / DB_DIRNAME / DB_FILENAME


def connect(
    path: Path | str, *, migrate: bool = True, readonly: bool = False, timeout: float = 30.0
) -> Connection:
    """Open (and by default migrate) the database at ``path``, with sqlite-vec loaded.

    An existing file is examined first: one that is not SQLite, fails ``PRAGMA quick_check``
    (run when ``migrate`` or ``readonly``; other connections are secondary ones to a database
    already checked) or is another program's database is moved aside as
    ``hexad.db.corrupt-<UTC time>`` or ``hexad.db.foreign-<UTC time>`` with its ``-wal`` and
    ``-shm`` files, and a fresh, migrated database replaces it; :func:`recovery_notice` then
    returns a sentence for the user. In ``readonly`` mode such a file raises
    :class:`DatabaseError` and nothing moves. A locked or busy file is never taken for a
    corrupt one: it waits up to ``timeout`` seconds, then raises :class:`DatabaseError`.
    """
    try:
        if str(path) == ":memory:":
            return _open_writable(Path(":memory:"), _Finding("fresh"), migrate, timeout)
        path = Path(path)
        if readonly:
            conn = _open_readonly(path, timeout)
            _mark_opened(path)
            return conn
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.name == DB_DIRNAME:
            _ensure_ignored(path.parent)
        finding = _examine(path, deep=migrate, timeout=timeout)
        if finding.state not in ("corrupt", "foreign"):
            conn = _open_writable(path, finding, migrate, timeout)
        else:
            conn = _recover(path, finding, migrate, timeout)
        _mark_opened(path)
        return conn
    except sqlite.DatabaseError as exc:
        raise DatabaseError(f"cannot open the Hexad database at {path}: {exc}") from exc


def recovery_notice(conn: Connection, *, unannounced: bool = False) -> str | None:
    """One sentence for the user if ``connect`` replaced a bad database file, else None.
    ``unannounced``: None also when this process did the moving (its warning said it)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (RECOVERY_KEY,)).fetchone()
    except sqlite.OperationalError:  # no meta table: a database not migrated yet
        return None
    if row is None:
        return None
    try:
        notice = json.loads(row[0])
    except ValueError:
        notice = None
    if not isinstance(notice, dict):
        notice = {}
    if unannounced and str(notice.get("moved_to", "")) in _ANNOUNCED:
        return None
    return _recovery_sentence(
        str(notice.get("path") or "the workspace"),
        str(notice.get("reason", "")),
        str(notice.get("detail", "")),
        str(notice.get("moved_to", "")),
    )


def clear_recovery_notice(conn: Connection) -> None:
    """Forget the recovery notice (once the user has seen it)."""
    if recovery_notice(conn) is None:
        return
    if conn.in_transaction:
        conn.execute("DELETE FROM meta WHERE key = ?", (RECOVERY_KEY,))
        return
    with transaction(conn):
        conn.execute("DELETE FROM meta WHERE key = ?", (RECOVERY_KEY,))


def load_vector_extension(conn: Connection) -> None:
    """Load sqlite-vec into ``conn`` (``connect`` does this for every connection)."""
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


# -- examining and recovering an existing file -----------------------------------------


@dataclass(frozen=True, slots=True)
class _Finding:
    """What the file at the database path turned out to be.

    fresh: absent, empty or without tables; hexad: carries our application_id; legacy: an
    older Hexad database without it; corrupt and foreign: to be moved aside.
    """

    state: Literal["fresh", "hexad", "legacy", "corrupt", "foreign"]
    detail: str = ""
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file examined


def _examine(path: Path, *, deep: bool, timeout: float, readonly: bool = False) -> _Finding:
    """Look at the file at ``path`` through a read-only connection, changing nothing."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return _Finding("fresh")
    identity = (stat.st_dev, stat.st_ino)
    if stat.st_size == 0:
        return _Finding("fresh", identity=identity)
    # Closing any descriptor of a file drops every POSIX lock this process holds on it:
    # another process could then take itself for the last connection and delete the WAL
    # that this process's open connections still write to. So the header is read by hand
    # only from files this process has no connection to; SQLite judges the others
    # (SQLITE_NOTADB, in _inspect).
    if not _is_opened(identity):
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_MAGIC))
        if header != _SQLITE_MAGIC:
            return _Finding("corrupt", "it is not an SQLite file", identity)
    try:
        conn = _open_ro(path, timeout)
        try:
            finding = _inspect(conn, deep=deep)
        finally:
            conn.close()
    except sqlite.OperationalError as exc:
        # A read-only connection cannot roll back a hot journal left by a crashed writer
        # (rollback-journal mode, so an older or foreign file): let a writable one do it.
        hot_journal = _error_code(exc) & 0xFF == _SQLITE_READONLY and _has_sidecar(path, "-journal")
        if readonly or not hot_journal:
            raise
        conn = sqlite.connect(str(path), check_same_thread=False, timeout=timeout)
        try:
            finding = _inspect(conn, deep=deep)
        finally:
            conn.close()
    return _Finding(finding.state, finding.detail, identity)


def _inspect(conn: Connection, *, deep: bool) -> _Finding:
    try:
        (app_id,) = conn.execute("PRAGMA application_id").fetchone()
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            )
        ]
        if app_id not in (0, APPLICATION_ID):
            return _Finding("foreign", f"application_id {app_id:#010x} is not Hexad's")
        state: Literal["fresh", "hexad", "legacy"] = "hexad" if app_id else "fresh"
        if app_id == 0 and tables:
            if not _is_hexad_schema(conn, tables):
                shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
                return _Finding("foreign", f"it holds tables {shown} but no Hexad migrations")
            state = "legacy"
        if deep:
            (result,) = conn.execute("PRAGMA quick_check(1)").fetchone()
            if result != "ok":
                return _Finding("corrupt", " ".join(str(result).split())[:200])
        return _Finding(state)
    except sqlite.DatabaseError as exc:
        if _error_code(exc) & 0xFF == _SQLITE_NOTADB or "not a database" in str(exc).lower():
            return _Finding("corrupt", "it is not an SQLite file")
        if _is_corruption(exc):
            return _Finding("corrupt", str(exc))
        raise


def _is_hexad_schema(conn: Connection, tables: list[str]) -> bool:
    """An older Hexad database: our ``schema_migrations``, begun with ``m001_``."""
    if "schema_migrations" not in tables:
        return False
    try:
        names = [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]
    except sqlite.OperationalError:  # another program's schema_migrations, without `name`
        return False
    if not names:  # interrupted before the first migration committed
        return tables == ["schema_migrations"]
    return any(isinstance(name, str) and name.startswith("m001_") for name in names)


def _recover(path: Path, finding: _Finding, migrate: bool, timeout: float) -> Connection:
    """Move the bad file aside, log it, and open a fresh database that records the notice.

    The fresh database is migrated whatever ``migrate`` says: the notice lives in ``meta``.
    """
    moved_to = _move_aside(path, finding)
    if moved_to is None:  # another process replaced the file meanwhile: use what is there
        return connect(path, migrate=migrate, timeout=timeout)
    sentence = _recovery_sentence(str(path), finding.state, finding.detail, str(moved_to))
    log.warning("%s", sentence)
    _ANNOUNCED.add(str(moved_to))
    fresh = _examine(path, deep=False, timeout=timeout)
    if fresh.state in ("corrupt", "foreign"):
        raise DatabaseError(f"{sentence} But the new database at {path} is unusable too.")
    conn = _open_writable(path, fresh, True, timeout)
    notice = {
        "reason": finding.state,
        "detail": finding.detail,
        "path": str(path),
        "moved_to": str(moved_to),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        with transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                (RECOVERY_KEY, json.dumps(notice)),
            )
    except BaseException:
        conn.close()
        raise
    return conn


def _move_aside(path: Path, finding: _Finding) -> Path | None:
    """Rename the file and its sidecars to a free ``<name>.<state>-<time>`` name; never delete.

    Returns None if the file at ``path`` is no longer the one examined.
    """
    base = f"{path.name}.{finding.state}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    target, counter = path.with_name(base), 1
    while any(os.path.lexists(f"{target}{suffix}") for suffix in ("", *_SIDECARS)):
        counter += 1
        target = path.with_name(f"{base}-{counter}")
    try:
        stat = path.stat()
        if (stat.st_dev, stat.st_ino) != finding.identity:
            return None
        # Sidecars first: a stale -wal left beside the new database would be replayed into it.
        for suffix in _SIDECARS:
            if os.path.lexists(f"{path}{suffix}"):
                os.rename(f"{path}{suffix}", f"{target}{suffix}")
        os.rename(path, target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DatabaseError(
            f"the Hexad database at {path} is {_FOUND[finding.state]} ({finding.detail}) and"
            f" could not be moved aside: {exc}"
        ) from exc
    return target


_FOUND = {"corrupt": "corrupt", "foreign": "not a Hexad database"}


def _recovery_sentence(path: str, reason: str, detail: str, moved_to: str) -> str:
    found = _FOUND.get(reason, "unusable")
    why = f" ({detail})" if detail else ""
    return (
        f"The Hexad database at {path} was {found}{why}, so it was moved to {moved_to}"
        " and the index will be rebuilt."
    )


def _error_code(exc: Exception) -> int:
    code = getattr(exc, "sqlite_errorcode", None)
    return code if isinstance(code, int) else -1


def _is_corruption(exc: Exception) -> bool:
    """Only definitive damage: SQLITE_CORRUPT or SQLITE_NOTADB, never BUSY, LOCKED or IOERR."""
    code = _error_code(exc)
    if code >= 0:
        return code & 0xFF in _CORRUPTION_CODES
    message = str(exc).lower()
    return "malformed" in message or "not a database" in message


def _has_sidecar(path: Path, suffix: str) -> bool:
    try:
        return Path(f"{path}{suffix}").stat().st_size > 0
    except OSError:
        return False


# -- opening -----------------------------------------------------------------------------


def _open_ro(path: Path, timeout: float) -> Connection:
    conn = sqlite.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False, timeout=timeout
    )
    try:
        load_vector_extension(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _open_readonly(path: Path, timeout: float) -> Connection:
    finding = _examine(path, deep=True, timeout=timeout, readonly=True)
    if finding.state in ("corrupt", "foreign"):
        raise DatabaseError(
            f"the Hexad database at {path} is {_FOUND[finding.state]} ({finding.detail});"
            " open it read-write to move it aside and rebuild the index"
        )
    conn = _open_ro(path, timeout)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    except BaseException:
        conn.close()
        raise
    return conn


def _open_writable(path: Path, finding: _Finding, migrate: bool, timeout: float) -> Connection:
    conn = sqlite.connect(str(path), check_same_thread=False, timeout=timeout)
    try:
        load_vector_extension(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if finding.state in ("fresh", "legacy"):
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            if finding.state == "legacy":
                log.info("marked the older Hexad database at %s as Hexad's", path)
        if migrate:
            apply_migrations(conn)
    except BaseException:
        conn.close()
        raise
    return conn


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
