"""Which files of a workspace Hexad reads, and why it skips the others.

Walks the tree once with ``os.scandir``, honouring every ``.gitignore`` on the way (and
``.git/info/exclude``) through pathspec, and never descends into version-control
metadata, dependency folders, vendored code or virtual environments. Secret files
(``core.secrets``: ``.env*``, keys, ``.ssh/``…), and links to them, are skipped with that
reason whatever their extension.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pathspec

from hexad.core.secrets import is_secret_path
from hexad.perception.language import LanguageRegistry

log = logging.getLogger(__name__)

SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".hexad",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".idea",
        ".vscode",
        "vendor",
        "vendored",
        "third_party",
        "site-packages",
        "bower_components",
        ".eggs",
    }
)
MAX_FILE_BYTES = 1_000_000
SECRET_REASON = "a secret file: never read into the index, memory or a model"
BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Candidate:
    """A source file found in the workspace, with what ``stat`` said about it."""

    path: str  # posix, relative to the root
    language: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


def _load_ignore(directory: str, extra: tuple[str, ...] = ()) -> pathspec.GitIgnoreSpec | None:
    lines: list[str] = list(extra)
    with (
        suppress(OSError),
        open(directory + "/.gitignore", encoding="utf-8", errors="replace") as f,
    ):
        lines += f.read().splitlines()
    if not lines:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def walk(root: Path, registry: LanguageRegistry) -> Iterator[Candidate | Skipped]:
    """Yield each source file under ``root`` (or why it was skipped), in a stable order."""
    root = root.resolve()
    exclude: tuple[str, ...] = ()
    with suppress(OSError):
        exclude = tuple((root / ".git" / "info" / "exclude").read_text("utf-8").splitlines())
    yield from _walk_dir(root, str(root), "", [], registry, exclude)


def _walk_dir(
    root: Path,
    directory: str,
    rel_dir: str,
    specs: list[tuple[str, pathspec.GitIgnoreSpec]],
    registry: LanguageRegistry,
    extra: tuple[str, ...] = (),
) -> Iterator[Candidate | Skipped]:
    spec = _load_ignore(directory, extra)
    if spec is not None:
        specs = [*specs, (rel_dir, spec)]
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        log.warning("cannot list %s: %s", directory, exc)
        return
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            is_link = entry.is_symlink()
        except OSError:
            continue
        if is_dir:
            if entry.name in SKIPPED_DIRS or _ignored(specs, rel, True):
                continue
            if os.path.exists(entry.path + "/pyvenv.cfg"):
                continue  # a virtual environment, whatever its name
            yield from _walk_dir(root, entry.path, rel, specs, registry)
            continue
        language = registry.for_path(entry.name)
        if language is None or _ignored(specs, rel, False):
            continue
        if is_secret_path(rel):
            yield Skipped(rel, SECRET_REASON)
            continue
        if is_link:
            try:
                target = Path(entry.path).resolve(strict=True)
            except (OSError, RuntimeError):
                yield Skipped(rel, "broken symbolic link")
                continue
            if not target.is_relative_to(root):
                yield Skipped(rel, "symbolic link to outside the workspace")
                continue
            if target.is_dir():
                continue
            if is_secret_path(target.relative_to(root).as_posix()):
                yield Skipped(rel, f"symbolic link to a secret file ({SECRET_REASON})")
                continue
        try:
            st = entry.stat(follow_symlinks=True)
        except OSError as exc:
            yield Skipped(rel, f"cannot stat: {exc.strerror}")
            continue
        if st.st_size > MAX_FILE_BYTES:
            yield Skipped(rel, f"too large ({st.st_size} bytes > {MAX_FILE_BYTES})")
            continue
        yield Candidate(rel, language.name, st.st_size, st.st_mtime_ns)


def _ignored(specs: list[tuple[str, pathspec.GitIgnoreSpec]], rel: str, is_dir: bool) -> bool:
    ignored = False
    for base, spec in specs:
        sub = rel[len(base) + 1 :] if base else rel
        if is_dir:
            sub += "/"
        result = spec.check_file(sub)
        if result.include is not None:
            ignored = result.include
    return ignored


def sniff(data: bytes) -> str | None:
    """Why file content cannot be indexed as source text, or None when it can."""
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return "binary content"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte {exc.start})"
    return None


class IgnoreMatcher:
    """Answers "is this path ignored?" for single paths (file-watcher events), with every
    .gitignore on the way and .git/info/exclude, cached per folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._exclude: tuple[str, ...] = ()
        with suppress(OSError):
            self._exclude = tuple(
                (root / ".git" / "info" / "exclude").read_text("utf-8").splitlines()
            )

    def forget(self, rel_gitignore: str) -> None:
        self._specs.pop(rel_gitignore.rpartition("/")[0], None)

    def _spec(self, rel_dir: str) -> pathspec.GitIgnoreSpec | None:
        if rel_dir not in self._specs:
            directory = str(self.root / rel_dir) if rel_dir else str(self.root)
            self._specs[rel_dir] = _load_ignore(directory, self._exclude if not rel_dir else ())
        return self._specs[rel_dir]

    def ignored(self, rel: str, is_dir: bool) -> bool:
        parts = rel.split("/")
        specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []
        for depth in range(len(parts)):
            base = "/".join(parts[:depth])
            if depth and _ignored(specs, base, True):
                return True  # an ignored folder hides everything below it
            spec = self._spec(base)
            if spec is not None:
                specs.append((base, spec))
        return _ignored(specs, rel, is_dir)
