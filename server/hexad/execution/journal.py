"""The edit journal: what makes a multi-file write all-or-nothing across a kill -9.

:func:`~hexad.execution.edits.write_change` moves each new text into place with an atomic
rename, but a change of several files takes several renames; a process killed between two
of them would leave some files edited and the rest not. So before anything in the user's
folders changes, the write records its plan — every temporary file it will stage, every
backup link it will keep of an old file, every file it will create — in a journal under
``<workspace>/.hexad/edits/``, synced to disk, and holds an exclusive lock on it while it
works. When all renames are done the journal is marked ``done``, backups are removed, and
the journal goes.

:func:`recover` looks at the journals no live process holds: one that is not ``done`` is
rolled back (created files removed, every old file put back from its backup link, staged
temporaries removed), one that is ``done`` only has its leftovers cleaned. Every write
recovers first, and so does the proposal service when it starts; a journal too broken to
read was cut short while it was being written, before anything was staged, and is removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; pid liveness instead
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

JOURNAL_DIR = Path(".hexad") / "edits"
VERSION = 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of a write, as absolute paths (the journal stores them relative)."""

    target: Path  # where the new text goes (None-equivalent: no new text)
    source: Path  # the file as it was (== target unless moved)
    tmp: Path | None  # the staged new text, renamed onto target
    backup: Path | None  # a hard link to the old file, while the write is in progress
    creates: bool  # target did not exist before
    removes_source: bool  # deleted or moved away


@dataclass(frozen=True, slots=True)
class Rollback:
    journal: str
    restored: tuple[str, ...]  # workspace paths put back as they were
    removed: tuple[str, ...]  # files the interrupted write had created
    completed: bool  # the write had finished; only leftovers were cleaned


class Journal:
    """An open journal, locked by this process until :meth:`close`."""

    def __init__(self, root: Path, entries: list[Entry]) -> None:
        self.root = root
        self.entries = entries
        folder = root / JOURNAL_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{os.getpid()}-{secrets.token_hex(6)}.json"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        self._size = 0
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._write("writing")
        fsync_dir(folder)

    def done(self) -> None:
        """Every rename is made: from here on a recovery only cleans up."""
        self._write("done")

    def close(self) -> None:
        """Remove the journal (the write is complete, or has been undone)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)

    def _write(self, state: str) -> None:
        """One ``pwrite`` over the old content, padded to its length: a kill leaves the
        journal either as it was or as it is now, never empty (truncating first would
        leave a moment where a finished write's journal reads as one never begun)."""
        data = json.dumps(
            {
                "version": VERSION,
                "pid": os.getpid(),
                "state": state,
                "entries": [_entry_json(self.root, e) for e in self.entries],
            }
        ).encode("utf-8")
        data = data.ljust(self._size)  # JSON allows the trailing spaces
        self._size = len(data)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)


def recover(root: Path) -> list[Rollback]:
    """Undo (or finish cleaning) every write a dead process left half-done under ``root``."""
    root = root.resolve()
    folder = root / JOURNAL_DIR
    try:
        names = sorted(p for p in folder.iterdir() if p.suffix == ".json")
    except OSError:
        return []
    done: list[Rollback] = []
    for path in names:
        result = _recover_one(root, path)
        if result is not None:
            done.append(result)
    return done


def _recover_one(root: Path, path: Path) -> Rollback | None:
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None  # a live write holds it
        try:
            raw = path.read_bytes()
            data = json.loads(raw.decode("utf-8"))
            entries = [_entry_from_json(root, e) for e in data["entries"]]
            state = str(data["state"])
            pid = int(data.get("pid", 0))
        except (OSError, ValueError, KeyError, TypeError):
            # cut short while the journal itself was written: nothing was staged yet
            path.unlink(missing_ok=True)
            return None
        if fcntl is None and pid and _alive(pid):  # pragma: no cover - Windows
            return None
        restored: list[str] = []
        removed: list[str] = []
        completed = state == "done"
        if not completed:
            for entry in entries:
                if entry.creates and entry.target.exists():
                    entry.target.unlink()
                    removed.append(_rel(root, entry.target))
            for entry in entries:
                if entry.backup is not None and os.path.lexists(entry.backup):
                    os.replace(entry.backup, entry.source)
                    restored.append(_rel(root, entry.source))
        for entry in entries:
            for leftover in (entry.tmp, entry.backup):
                if leftover is not None:
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()
        path.unlink(missing_ok=True)
        if restored or removed:
            log.warning(
                "an edit interrupted in a killed process was undone (%s): restored %s; removed %s",
                path.name,
                ", ".join(restored) or "nothing",
                ", ".join(removed) or "nothing",
            )
        return Rollback(path.name, tuple(restored), tuple(removed), completed)
    finally:
        os.close(fd)


def _entry_json(root: Path, entry: Entry) -> dict[str, Any]:
    return {
        "target": _rel(root, entry.target),
        "source": _rel(root, entry.source),
        "tmp": _rel(root, entry.tmp) if entry.tmp is not None else None,
        "backup": _rel(root, entry.backup) if entry.backup is not None else None,
        "creates": entry.creates,
        "removes_source": entry.removes_source,
    }


def _entry_from_json(root: Path, data: dict[str, Any]) -> Entry:
    def inside(value: Any) -> Path:
        # a journal names paths under the workspace only; anything else is not ours
        if not isinstance(value, str) or value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"not a workspace path: {value!r}")
        return root / value

    return Entry(
        target=inside(data["target"]),
        source=inside(data["source"]),
        tmp=inside(data["tmp"]) if data.get("tmp") is not None else None,
        backup=inside(data["backup"]) if data.get("backup") is not None else None,
        creates=bool(data["creates"]),
        removes_source=bool(data["removes_source"]),
    )


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (renames, new files) durable; best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:  # pragma: no cover - Windows only
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
