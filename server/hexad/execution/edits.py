"""A proposed change to the workspace, as whole-file texts before and after.

Engines produce a :class:`Change`; verification applies it to a shadow copy; the editor
receives it as minimal text edits (:meth:`Change.text_edits`); ``hexad propose --apply``
writes it with :func:`write_change` (all files or none). Paths are workspace-relative
posix paths; positions are 0-based (line, column) with columns in code points of the
line (the LSP layer converts to the client's encoding).
"""

from __future__ import annotations

import difflib
import functools
import os
import posixpath
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hexad.core.errors import HexadError
from hexad.core.hashing import content_hash
from hexad.execution import journal


class EditError(HexadError):
    """A change that cannot be made: a path outside the workspace, a file that changed."""


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file: ``before`` None creates it, ``after`` None deletes it; ``new_path``
    moves it (the new text is ``after``)."""

    path: str
    before: str | None
    after: str | None
    new_path: str | None = None

    @property
    def created(self) -> bool:
        return self.before is None

    @property
    def deleted(self) -> bool:
        return self.after is None

    @property
    def target(self) -> str:
        """Where the file's text ends up."""
        return self.new_path or self.path

    def diff(self) -> str:
        a = "/dev/null" if self.before is None else f"a/{self.path}"
        b = "/dev/null" if self.after is None else f"b/{self.target}"
        lines = _unified(_lines(self.before or ""), _lines(self.after or ""), a, b)
        return "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )

    def lines_changed(self) -> int:
        """Lines added plus lines removed."""
        count = 0
        for tag, i1, i2, j1, j2 in _opcodes(_lines(self.before or ""), _lines(self.after or "")):
            if tag != "equal":
                count += (i2 - i1) + (j2 - j1)
        return count

    def text_edits(self) -> list[TextReplace]:
        """The smallest set of line-range replacements that turns ``before`` into
        ``after`` (whole lines; a created file is one insertion at 0:0)."""
        before, after = _lines(self.before or ""), _lines(self.after or "")
        edits: list[TextReplace] = []
        for tag, i1, i2, j1, j2 in _opcodes(before, after):
            if tag == "equal":
                continue
            start = _position(before, i1)
            end = _position(before, i2)
            edits.append(TextReplace(start, end, "".join(after[j1:j2])))
        return edits


@dataclass(frozen=True, slots=True)
class TextReplace:
    start: tuple[int, int]  # (line, column in code points)
    end: tuple[int, int]
    text: str


@dataclass(frozen=True, slots=True)
class Change:
    files: tuple[FileChange, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for change in self.files:
            for path in {change.path, change.target}:
                check_relpath(path)
                if path in seen:
                    raise EditError(f"{path} appears twice in one change")
                seen.add(path)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path the change reads or writes (sources and targets), in order."""
        out: list[str] = []
        for change in self.files:
            for path in (change.path, change.target):
                if path not in out:
                    out.append(path)
        return tuple(out)

    def file(self, path: str) -> FileChange | None:
        return next((f for f in self.files if f.path == path), None)

    def diff(self) -> str:
        return "".join(f.diff() for f in self.files)

    def lines_changed(self) -> int:
        return sum(f.lines_changed() for f in self.files)

    def base_hashes(self) -> dict[str, str | None]:
        """What each file held when the change was computed (None: did not exist)."""
        return {
            f.path: None if f.before is None else content_hash(f.before.encode())
            for f in self.files
        }

    @property
    def empty(self) -> bool:
        return all(f.before == f.after and f.new_path is None for f in self.files)


def check_relpath(path: str) -> str:
    """``path`` if it is a plain workspace-relative posix path, else :class:`EditError`."""
    pure = PurePosixPath(path)
    if (
        not path
        or pure.is_absolute()
        or "\\" in path
        or "\x00" in path
        or any(part in ("..", "") for part in path.split("/"))
        or posixpath.normpath(path) != path
    ):
        raise EditError(f"{path!r} is not a path inside the workspace")
    return path


def resolve_inside(root: Path, path: str) -> Path:
    """The absolute path of ``path`` under ``root``, refusing anything whose real location
    (symlinks followed) is outside the workspace."""
    check_relpath(path)
    root = root.resolve()
    full = root / path
    real = Path(os.path.realpath(full))
    if real != root and root not in real.parents:
        raise EditError(f"{path} resolves outside the workspace ({real})")
    return full


def file_inside(root: Path, path: str) -> bool:
    """Whether ``path`` names a file inside the workspace ``root`` (never one outside)."""
    try:
        return resolve_inside(root, path).is_file()
    except EditError:
        return False


def read_inside(root: Path, path: str) -> str | None:
    """The text of the workspace file ``path``; None when it is outside, missing or not
    UTF-8."""
    try:
        return resolve_inside(root, path).read_text(encoding="utf-8")
    except (EditError, OSError, UnicodeDecodeError):
        return None


def write_change(root: Path, change: Change) -> list[str]:
    """Write ``change`` under ``root``: every file's current text must still equal its
    ``before``; all new texts go to temporary files first and are then moved into place,
    so a failure leaves every file as it was — and so does a kill -9 at any point, through
    the edit journal (:mod:`hexad.execution.journal`), which the next write or the next
    proposal service undoes. Returns the paths written."""
    root = root.resolve()
    journal.recover(root)
    targets: list[tuple[FileChange, Path, Path | None]] = []
    for change_file in change.files:
        source = resolve_inside(root, change_file.path)
        target = resolve_inside(root, change_file.target)
        current: str | None
        try:
            current = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        except (OSError, UnicodeDecodeError) as exc:
            raise EditError(f"cannot read {change_file.path}: {exc}") from exc
        if current != change_file.before:
            state = "does not exist" if current is None else "has changed"
            raise EditError(f"{change_file.path} {state} since the proposal was computed")
        if change_file.new_path is not None and os.path.lexists(target):
            raise EditError(f"{change_file.target} already exists")
        targets.append((change_file, source, target if change_file.after is not None else None))
    token = secrets.token_hex(4)
    entries = [
        journal.Entry(
            target=target or source,
            source=source,
            tmp=(target.with_name(f".hexad-{target.name}.{token}.tmp") if target else None),
            backup=(
                source.with_name(f".hexad-{source.name}.{token}.bak")
                if change_file.before is not None
                else None
            ),
            creates=target is not None and (change_file.before is None or target != source),
            removes_source=change_file.before is not None
            and (change_file.deleted or change_file.new_path is not None),
        )
        for change_file, source, target in targets
    ]
    try:
        record = journal.Journal(root, entries)
    except OSError as exc:
        raise EditError(f"could not start the change: {exc}") from exc
    try:
        _write_entries(change, targets, entries)
        record.done()
    except OSError as exc:
        _undo(entries)
        record.close()
        raise EditError(f"could not write the change: {exc}") from exc
    # the backups go while the journal still names them: a kill now leaves nothing behind
    for entry in entries:
        if entry.backup is not None:
            entry.backup.unlink(missing_ok=True)
    record.close()
    return [f.target for f in change.files]


def _write_entries(
    change: Change,
    targets: list[tuple[FileChange, Path, Path | None]],
    entries: list[journal.Entry],
) -> None:
    """Stage every new text, link every old file to its backup, then rename into place."""
    for (change_file, source, target), entry in zip(targets, entries, strict=True):
        if target is None or entry.tmp is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # a new file gets the usual mode (the umask applies); an edited one keeps its own
        existing = source.exists()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        fd = os.open(entry.tmp, flags, 0o600 if existing else 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(change_file.after or "")
            handle.flush()
            os.fsync(handle.fileno())
        if existing:
            os.chmod(entry.tmp, source.stat().st_mode & 0o7777)
    # every existing file keeps a second name until all new texts are in place
    for entry in entries:
        if entry.backup is not None:
            os.link(entry.source, entry.backup)
    for entry in entries:
        if entry.tmp is not None:
            os.replace(entry.tmp, entry.target)
    for entry in entries:
        if entry.removes_source:
            entry.source.unlink()
    for folder in {e.target.parent for e in entries} | {e.source.parent for e in entries}:
        journal.fsync_dir(folder)


def _undo(entries: list[journal.Entry]) -> None:
    """Put every file back as it was after a failed write (this process is alive)."""
    for entry in entries:
        renamed = entry.tmp is not None and not entry.tmp.exists()  # in place already
        if entry.creates and renamed:
            entry.target.unlink(missing_ok=True)
    for entry in entries:
        if entry.backup is not None and os.path.lexists(entry.backup):
            os.replace(entry.backup, entry.source)
        if entry.tmp is not None:
            entry.tmp.unlink(missing_ok=True)


Opcode = tuple[str, int, int, int, int]
# A same-length middle with at most this share of its lines changed is diffed line by line
# (a rename: each changed line replaced in place) instead of by the quadratic matcher.
_LINEWISE_SHARE = 0.1
_LINEWISE_MIN = 8


def _opcodes(a: list[str], b: list[str]) -> list[Opcode]:
    """difflib's opcodes for ``a`` → ``b``, with the common head and tail taken off first
    (an edit usually touches a few lines of a long file; the matcher is quadratic).
    Memoized: a proposal asks for the same pair's diff, line count and edits."""
    return list(_cached_opcodes(tuple(a), tuple(b)))


@functools.lru_cache(maxsize=64)
def _cached_opcodes(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[Opcode, ...]:
    head = 0
    limit = min(len(a), len(b))
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    linewise = _linewise(a[head : len(a) - tail], b[head : len(b) - tail])
    middle: Sequence[Opcode] = (
        linewise
        if linewise is not None
        else difflib.SequenceMatcher(
            None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False
        ).get_opcodes()
    )
    out: list[tuple[str, int, int, int, int]] = []
    if head:
        out.append(("equal", 0, head, 0, head))
    for tag, i1, i2, j1, j2 in middle:
        if i1 == i2 and j1 == j2:
            continue
        out.append((tag, i1 + head, i2 + head, j1 + head, j2 + head))
    if tail:
        out.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    return tuple(out)


def _linewise(a: Sequence[str], b: Sequence[str]) -> list[Opcode] | None:
    """Opcodes pairing line i with line i, when both sides have as many lines and only a
    few differ (what the matcher would find, without its cost); None otherwise."""
    if len(a) != len(b):
        return None
    changed = [i for i in range(len(a)) if a[i] != b[i]]
    if len(changed) > max(_LINEWISE_MIN, _LINEWISE_SHARE * len(a)):
        return None  # lines moved or rewritten wholesale: let the matcher find the moves
    out: list[Opcode] = []
    position = 0
    index = 0
    while index < len(changed):
        start = changed[index]
        end = start + 1
        while index + 1 < len(changed) and changed[index + 1] == end:
            index += 1
            end += 1
        if start > position:
            out.append(("equal", position, start, position, start))
        out.append(("replace", start, end, start, end))
        position = end
        index += 1
    if position < len(a):
        out.append(("equal", position, len(a), position, len(a)))
    return out


def _unified(a: list[str], b: list[str], name_a: str, name_b: str, n: int = 3) -> Iterator[str]:
    """``difflib.unified_diff(a, b, name_a, name_b, n=n)``, grouped from :func:`_opcodes`
    (difflib would run its matcher over the whole file again)."""
    first = True
    for group in _grouped(_opcodes(a, b), n):
        if first:
            yield f"--- {name_a}\n"
            yield f"+++ {name_b}\n"
            first = False
        old, new = _hunk_range(group[0][1], group[-1][2]), _hunk_range(group[0][3], group[-1][4])
        yield f"@@ -{old} +{new} @@\n"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + line for line in a[i1:i2])
                continue
            yield from ("-" + line for line in a[i1:i2])
            yield from ("+" + line for line in b[j1:j2])


def _grouped(codes: list[Opcode], n: int) -> Iterator[list[Opcode]]:
    """Hunks: the changes with up to ``n`` lines of context (difflib's grouping)."""
    if not codes:
        return
    codes = list(codes)
    tag, i1, i2, j1, j2 = codes[0]
    if tag == "equal":
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    tag, i1, i2, j1, j2 = codes[-1]
    if tag == "equal":
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        start_a, start_b = i1, j1
        if tag == "equal" and i2 - i1 > 2 * n:  # a long stretch ends one hunk, starts another
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            yield group
            group = []
            start_a, start_b = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, start_a, i2, start_b, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _hunk_range(start: int, stop: int) -> str:
    """A hunk's line range as unified diffs write it (1-based; ``start,length``)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _position(lines: list[str], index: int) -> tuple[int, int]:
    """The (line, col) where line ``index`` starts; past the end: after the last char."""
    if index < len(lines):
        return (index, 0)
    if not lines:
        return (0, 0)
    last = lines[-1]
    if last.endswith(("\n", "\r")):
        return (len(lines), 0)
    return (len(lines) - 1, len(last))
