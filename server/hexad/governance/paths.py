"""Paths as governance sees them: resolved before anything is matched.

A path an action names is joined to the workspace root, ``..`` is collapsed and symbolic
links are followed (``os.path.realpath``), so ``src/../.env`` and a link to ``.env`` are
both ``.env``, and a link or ``..`` that leaves the workspace is outside it. On a
case-insensitive file system the on-disk spelling is recovered and globs match ignoring
case, so ``.ENV`` is ``.env`` there.

Globs are gitignore patterns (pathspec): ``*.pem`` matches at any depth, ``/top.txt`` only
at the root, ``.git/`` the folder and everything in it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

import pathspec


@dataclass(frozen=True, slots=True)
class ResolvedPath:
    given: str
    lexical: str | None  # relative posix path with '..' collapsed, links not followed
    resolved: str | None  # relative posix path after following links; None when outside
    absolute: str  # the real absolute path
    problem: str | None = None  # why no action may touch it (outside, invalid)

    @property
    def inside(self) -> bool:
        return self.problem is None

    def forms(self) -> tuple[str, ...]:
        """The relative spellings globs are matched against: where it really is, and what
        it was called (a link to ``.env`` is caught by either)."""
        found = [p for p in (self.resolved, self.lexical) if p is not None]
        return tuple(dict.fromkeys(found))


def is_case_insensitive(folder: Path) -> bool:
    """Whether the file system holding ``folder`` ignores case (probed, not guessed)."""
    for candidate in (folder, *folder.parents):
        name = candidate.name
        swapped = name.swapcase()
        if swapped != name:
            try:
                return os.path.samefile(candidate, candidate.with_name(swapped))
            except OSError:
                return False
    return sys.platform in ("win32", "darwin")


def _within(child: str, parent: str, fold: bool) -> bool:
    if fold:
        child, parent = child.casefold(), parent.casefold()
    if child == parent:
        return True
    prefix = parent if parent.endswith(os.sep) else parent + os.sep
    return child.startswith(prefix)


class PathResolver:
    """Resolves action paths against one workspace root."""

    def __init__(self, root: Path, *, case_insensitive: bool | None = None) -> None:
        self.root = os.path.realpath(root)
        self.case_insensitive = (
            is_case_insensitive(Path(self.root)) if case_insensitive is None else case_insensitive
        )

    def resolve(self, given: str) -> ResolvedPath:
        if not given or "\x00" in given:
            return ResolvedPath(given, None, None, "", f"{given!r} is not a valid path")
        joined = os.path.join(self.root, given)  # an absolute `given` stays itself
        normal = os.path.normpath(joined)
        lexical = self._relative(normal)
        try:
            real = os.path.realpath(joined)
        except (OSError, ValueError) as exc:
            return ResolvedPath(
                given, lexical, None, normal, f"{given!r} cannot be resolved: {exc}"
            )
        resolved = self._relative(real)
        if resolved is None:
            how = " through a symbolic link" if lexical is not None else ""
            return ResolvedPath(
                given,
                lexical,
                None,
                real,
                f"{given!r} resolves{how} to {real}, outside the workspace",
            )
        if self.case_insensitive:
            resolved = self._on_disk_case(resolved)
        return ResolvedPath(given, lexical, resolved, real)

    def _relative(self, absolute: str) -> str | None:
        if not _within(absolute, self.root, self.case_insensitive):
            return None
        rest = absolute[len(self.root) :].lstrip(os.sep)
        if os.altsep:
            rest = rest.replace(os.sep, "/")
        return PurePosixPath(rest).as_posix() if rest else "."

    def _on_disk_case(self, relative: str) -> str:
        """The spelling the folder listing uses, component by component, where it exists."""
        if relative == ".":
            return relative
        folder = self.root
        parts: list[str] = []
        for given in relative.split("/"):
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            part = given
            if given not in names:
                folded = given.casefold()
                part = next((n for n in names if n.casefold() == folded), given)
            parts.append(part)
            folder = os.path.join(folder, part)
        return "/".join(parts)

    def matches(self, glob: str, path: ResolvedPath) -> str | None:
        """The spelling of ``path`` that ``glob`` matches, if any."""
        spec = _compiled(glob.casefold() if self.case_insensitive else glob)
        for form in path.forms():
            probe = form.casefold() if self.case_insensitive else form
            if probe == ".":
                continue
            if spec.match_file(probe) or spec.match_file(probe + "/"):
                return form
        return None


@lru_cache(maxsize=4096)
def _compiled(glob: str) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines([glob])
