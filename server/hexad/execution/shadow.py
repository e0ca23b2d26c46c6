"""A mirror copy of the workspace, where changes are applied and tests run.

The mirror lives under ``shadow_dir`` (normally ``<root>/.hexad/shadow``) and holds every
workspace file except version-control metadata, Hexad's own folder, virtual environments,
dependency and cache folders, and what ``.gitignore`` ignores. :meth:`ShadowWorkspace.sync`
copies only files whose size or mtime differ from their mirror copy (``copy2`` keeps the
mtime, so a second sync of an unchanged tree only stats). :meth:`ShadowWorkspace.applied`
writes a change into the mirror under a thread lock and an inter-process file lock, and
restores the touched files afterwards. Nothing is ever written outside ``shadow_dir``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from hexad.execution.edits import Change, EditError, resolve_inside
from hexad.perception.files import IgnoreMatcher

# folders never mirrored, whatever .gitignore says (virtual environments are recognised
# by their pyvenv.cfg, whatever their name)
NEVER_COPIED = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".hexad",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
    }
)
MIRROR_NAME = "workspace"
LOCK_NAME = "lock"


@dataclass(frozen=True, slots=True)
class _Source:
    """A workspace entry to mirror: a file (stat of its content) or a folder link."""

    size: int
    mtime_ns: int
    link: str | None = None  # for a symlinked folder: the link text to create in the mirror


@dataclass(frozen=True, slots=True)
class SyncStats:
    files: int  # files in the mirror after the sync
    copied: int
    removed: int
    seconds: float


class ShadowWorkspace:
    """A mirror of ``root`` under ``shadow_dir`` for applying changes and running tests."""

    def __init__(self, root: Path, shadow_dir: Path) -> None:
        self.root = root.resolve()
        self.shadow_dir = shadow_dir.resolve()
        if self.shadow_dir == self.root or self.shadow_dir in self.root.parents:
            raise EditError(f"the shadow folder {self.shadow_dir} must not contain the workspace")
        self.mirror = self.shadow_dir / MIRROR_NAME
        self._lock_path = self.shadow_dir / LOCK_NAME
        self._thread_lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self.last_sync: SyncStats | None = None

    # -- public ---------------------------------------------------------------

    def sync(self) -> SyncStats:
        """Bring the mirror up to date with the workspace's files on disk."""
        with self._locked():
            return self._sync()

    @contextmanager
    def clean(self) -> Iterator[Path]:
        """The synced mirror with no change applied, held for the caller alone."""
        with self._locked():
            self._sync()
            yield self.mirror

    @contextmanager
    def applied(self, change: Change) -> Iterator[Path]:
        """The synced mirror with ``change`` written into it, held for the caller alone;
        the touched files are restored from the workspace afterwards."""
        with self._locked():
            self._sync()
            touched: list[str] = []
            made_dirs: list[Path] = []
            try:
                self._apply(change, touched, made_dirs)
                yield self.mirror
            finally:
                self._restore(touched, made_dirs)

    # -- locking --------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            self.shadow_dir.mkdir(parents=True, exist_ok=True)
            ignore = self.shadow_dir / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n", encoding="utf-8")
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    # -- sync -----------------------------------------------------------------

    def _sync(self) -> SyncStats:
        started = time.perf_counter()
        self.mirror.mkdir(parents=True, exist_ok=True)
        sources = self._scan_workspace()
        mirrored, mirror_dirs = self._scan_mirror()
        removed = 0
        for rel, (is_link, *_) in mirrored.items():
            source = sources.get(rel)
            if source is None or (source.link is not None) != is_link:
                self._remove(rel)
                removed += 1
        needed = {rel.rpartition("/")[0] for rel in sources}
        needed |= {parent for rel in needed for parent in _parents(rel)}
        for rel in sorted(mirror_dirs - needed, key=lambda d: -d.count("/")):
            target = self._inside(rel)
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
        copied = 0
        for rel, source in sources.items():
            current = mirrored.get(rel)
            if source.link is not None:
                if current is None or current[3] != source.link:
                    self._make_link(rel, source.link)
                continue
            if current is not None and current[:3] == (False, source.size, source.mtime_ns):
                continue
            self._copy(rel)
            copied += 1
        self._sources = sources
        stats = SyncStats(len(sources), copied, removed, time.perf_counter() - started)
        self.last_sync = stats
        return stats

    def _scan_workspace(self) -> dict[str, _Source]:
        """Every workspace entry to mirror, by workspace-relative posix path."""
        root = self.root
        ignore = IgnoreMatcher(root)
        out: dict[str, _Source] = {}
        stack: list[tuple[str, str]] = [(str(root), "")]
        while stack:
            directory, rel_dir = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    is_link = entry.is_symlink()
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_link:
                    source = self._link_source(entry.path, rel, ignore)
                    if source is not None:
                        out[rel] = source
                    continue
                if is_dir:
                    if (
                        entry.name in NEVER_COPIED
                        or entry.path == str(self.shadow_dir)
                        or os.path.exists(entry.path + "/pyvenv.cfg")
                        or ignore.ignored(rel, True)
                    ):
                        continue
                    stack.append((entry.path, rel))
                    continue
                if not entry.is_file(follow_symlinks=False) or ignore.ignored(rel, False):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                out[rel] = _Source(st.st_size, st.st_mtime_ns)
        return out

    def _link_source(self, path: str, rel: str, ignore: IgnoreMatcher) -> _Source | None:
        """A symlink inside the workspace: a file link is mirrored as a copy of its target,
        a folder link as a relative link to the target's mirror copy. Links that leave the
        workspace (or lead nowhere) are not mirrored."""
        try:
            target = Path(path).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not target.is_relative_to(self.root) or target.is_relative_to(self.shadow_dir):
            return None
        if target.is_dir():
            if ignore.ignored(rel, True):
                return None
            parent = (self.root / rel).parent
            return _Source(0, 0, os.path.relpath(target, parent))
        if not target.is_file() or ignore.ignored(rel, False):
            return None
        st = target.stat()
        return _Source(st.st_size, st.st_mtime_ns)

    def _scan_mirror(self) -> tuple[dict[str, tuple[bool, int, int, str | None]], set[str]]:
        """Mirror files and links (is link, size, mtime_ns, link text) and folders."""
        files: dict[str, tuple[bool, int, int, str | None]] = {}
        dirs: set[str] = set()
        stack: list[tuple[str, str]] = [(str(self.mirror), "")]
        while stack:
            directory, rel_dir = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    if entry.is_symlink():
                        files[rel] = (True, 0, 0, os.readlink(entry.path))
                    elif entry.is_dir(follow_symlinks=False):
                        dirs.add(rel)
                        stack.append((entry.path, rel))
                    else:
                        st = entry.stat(follow_symlinks=False)
                        files[rel] = (False, st.st_size, st.st_mtime_ns, None)
                except OSError:
                    continue
        return files, dirs

    def _inside(self, rel: str) -> Path:
        return resolve_inside(self.mirror, rel)

    def _copy(self, rel: str) -> None:
        target = self._inside(rel)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # a read-only copy cannot be overwritten in place
        shutil.copy2(self.root / rel, target)

    def _make_link(self, rel: str, link: str) -> None:
        target = self.mirror / rel
        self._inside(rel.rpartition("/")[0] or ".")
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(link, target)

    def _remove(self, rel: str) -> None:
        target = self.mirror / rel
        self._inside(rel.rpartition("/")[0] or ".")  # the folder holding it is in the mirror
        if target.is_symlink() or not target.is_dir():
            target.unlink(missing_ok=True)
        else:
            shutil.rmtree(target)

    # -- applying a change ----------------------------------------------------

    def _apply(self, change: Change, touched: list[str], made_dirs: list[Path]) -> None:
        for file_change in change.files:
            source = self._inside(file_change.path)
            target = self._inside(file_change.target)
            for rel in (file_change.path, file_change.target):
                if rel not in touched:
                    touched.append(rel)
            moved_or_deleted = file_change.after is None or file_change.new_path is not None
            if moved_or_deleted and (source.is_symlink() or source.is_file()):
                source.unlink()
            if file_change.after is None:
                continue
            missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
            made_dirs.extend(reversed(missing))
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink():
                target.unlink()  # write a file of its own, never through a link
            with open(target, "w", encoding="utf-8", newline="") as handle:
                handle.write(file_change.after)

    def _restore(self, touched: list[str], made_dirs: list[Path]) -> None:
        for rel in touched:
            source = self._sources.get(rel)
            if source is not None and source.link is None and (self.root / rel).is_file():
                self._copy(rel)
                continue
            target = self._inside(rel)
            if source is not None and source.link is not None:
                self._make_link(rel, source.link)
            elif target.is_symlink() or target.is_file():
                target.unlink()
        for directory in reversed(made_dirs):
            if directory.is_relative_to(self.mirror) and directory != self.mirror:
                with suppress(OSError):
                    directory.rmdir()


def _parents(rel_dir: str) -> Iterator[str]:
    while rel_dir:
        rel_dir = rel_dir.rpartition("/")[0]
        if rel_dir:
            yield rel_dir


def default_shadow_dir(root: Path) -> Path:
    """Where a workspace's mirror lives: in the user's cache (or ``$HEXAD_SHADOW_DIR``),
    outside the workspace, so no tool that walks the workspace (jedi, pytest, search)
    ever sees the copy."""
    chosen = os.environ.get("HEXAD_SHADOW_DIR")
    if chosen:
        base = Path(chosen)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hexad" / "shadow"
    resolved = root.resolve()
    digest = hashlib.blake2b(str(resolved).encode(), digest_size=6).hexdigest()
    return base / f"{resolved.name}-{digest}"
