"""Changes as whole-file texts: diffs, minimal text edits, and all-or-nothing writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexad.execution import journal
from hexad.execution.edits import (
    Change,
    EditError,
    FileChange,
    check_relpath,
    resolve_inside,
    write_change,
)


def apply_edits(text: str, change: FileChange) -> str:
    """Apply ``change.text_edits()`` to ``text`` the way an editor does (last first)."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        line, col = pos
        return offsets[line] + col if line < len(lines) else offsets[-1] + col

    out = text
    for edit in sorted(change.text_edits(), key=lambda e: e.start, reverse=True):
        out = out[: offset(edit.start)] + edit.text + out[offset(edit.end) :]
    return out


lines_strategy = st.lists(
    st.sampled_from(["a\n", "b\n", "ü\n", "\n", "x = 1\n", "tail"]), max_size=12
)


@settings(max_examples=300, deadline=None)
@given(lines_strategy, lines_strategy)
def test_text_edits_turn_before_into_after(before: list[str], after: list[str]) -> None:
    b, a = "".join(before), "".join(after)
    change = FileChange("m.py", b, a)
    assert apply_edits(b, change) == a


def test_diff_and_line_counts() -> None:
    change = Change(
        (
            FileChange("a.py", "x = 1\ny = 2\n", "x = 1\ny = 3\n"),
            FileChange("new.py", None, "z = 0\n"),
        )
    )
    diff = change.diff()
    assert "--- a/a.py" in diff and "+++ b/a.py" in diff
    assert "-y = 2" in diff and "+y = 3" in diff
    assert "--- /dev/null" in diff and "+++ b/new.py" in diff
    assert change.lines_changed() == 3
    assert change.paths == ("a.py", "new.py")
    hashes = change.base_hashes()
    assert hashes["new.py"] is None and hashes["a.py"]


def test_missing_final_newline_is_marked() -> None:
    diff = FileChange("a.py", "x = 1", "x = 2").diff()
    assert "\\ No newline at end of file" in diff


@pytest.mark.parametrize(
    "bad", ["", "/etc/passwd", "../x.py", "a/../../x.py", "a//b.py", "./a.py", "a\\b.py", "a\x00"]
)
def test_paths_must_stay_inside(bad: str) -> None:
    with pytest.raises(EditError):
        check_relpath(bad)
    with pytest.raises(EditError):
        Change((FileChange(bad, "", "x"),))


def test_a_path_twice_is_refused() -> None:
    with pytest.raises(EditError, match="twice"):
        Change((FileChange("a.py", "1", "2"), FileChange("a.py", "2", "3")))


def test_symlink_leaving_the_workspace_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "target.py").write_text("secret = 1\n")
    os.symlink(outside, root / "link")
    with pytest.raises(EditError, match="outside"):
        resolve_inside(root, "link/target.py")
    change = Change((FileChange("link/target.py", "secret = 1\n", "secret = 2\n"),))
    with pytest.raises(EditError):
        write_change(root, change)
    assert (outside / "target.py").read_text() == "secret = 1\n"


def test_write_change_writes_all_files(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "old.py").write_text("o = 1\n")
    os.chmod(tmp_path / "a.py", 0o750)
    change = Change(
        (
            FileChange("a.py", "a = 1\n", "a = 2\n"),
            FileChange("pkg/new.py", None, "n = 1\n"),
            FileChange("old.py", "o = 1\n", "o = 2\n", new_path="moved.py"),
        )
    )
    written = write_change(tmp_path, change)
    assert written == ["a.py", "pkg/new.py", "moved.py"]
    assert (tmp_path / "a.py").read_text() == "a = 2\n"
    assert (tmp_path / "a.py").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "pkg/new.py").read_text() == "n = 1\n"
    assert (tmp_path / "moved.py").read_text() == "o = 2\n"
    assert not (tmp_path / "old.py").exists()
    assert not list(tmp_path.rglob(".hexad-*")), "no temporary or backup file is left"


def test_write_change_refuses_a_file_that_changed(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 9\n")  # not what the change was computed on
    change = Change(
        (FileChange("a.py", "a = 1\n", "a = 2\n"), FileChange("b.py", "b = 1\n", "b = 2\n"))
    )
    with pytest.raises(EditError, match=r"b\.py has changed"):
        write_change(tmp_path, change)
    assert (tmp_path / "a.py").read_text() == "a = 1\n", "nothing is written"


def test_write_change_rolls_back_when_a_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 1\n")
    change = Change(
        (
            FileChange("a.py", "a = 1\n", "a = 2\n"),
            FileChange("b.py", "b = 1\n", "b = 2\n"),
            FileChange("c.py", None, "c = 1\n"),
        )
    )
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the third file's move into place fails
            raise OSError(28, "No space left on device")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(EditError, match="No space left"):
        write_change(tmp_path, change)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (tmp_path / "a.py").read_text() == "a = 1\n"
    assert (tmp_path / "b.py").read_text() == "b = 1\n"
    assert not (tmp_path / "c.py").exists()
    assert not list(tmp_path.glob(".hexad-*"))


def _three_file_change() -> Change:
    return Change(
        (
            FileChange("a.py", "a = 1\n", "a = 2\n"),
            FileChange("b.py", "b = 1\n", "b = 2\n"),
            FileChange("old.py", "o = 1\n", "o = 2\n", new_path="pkg/moved.py"),
            FileChange("c.py", None, "c = 1\n"),
        )
    )


def _die_after(replaces: int, root: Path, change: Change) -> None:
    """Write ``change`` in a forked child that dies (``os._exit``, as abruptly as a kill)
    right after its ``replaces``-th rename into place."""
    pid = os.fork()
    if pid == 0:  # the child
        real_replace = os.replace
        count = [0]

        def dying(src: object, dst: object) -> None:
            real_replace(src, dst)  # type: ignore[arg-type]
            count[0] += 1
            if count[0] == replaces:
                os._exit(9)

        os.replace = dying  # type: ignore[assignment]
        try:
            write_change(root, change)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9


@pytest.mark.parametrize("replaces", [1, 2, 3])
def test_a_write_killed_between_renames_is_undone_by_the_next_one(
    tmp_path: Path, replaces: int
) -> None:
    """The kill leaves some files new and some old; the journal lets the next write (or
    the next proposal service) put every file back before it does anything."""
    for name, text in {"a.py": "a = 1\n", "b.py": "b = 1\n", "old.py": "o = 1\n"}.items():
        (tmp_path / name).write_text(text)
    _die_after(replaces, tmp_path, _three_file_change())
    half = {p.name for p in tmp_path.rglob("*.py")}
    assert list(tmp_path.rglob(".hexad-*")), "the kill left the write half-done"
    assert (tmp_path / "a.py").read_text() == "a = 2\n"  # the first rename happened

    undone = journal.recover(tmp_path)
    assert [u.completed for u in undone] == [False]
    assert (tmp_path / "a.py").read_text() == "a = 1\n"
    assert (tmp_path / "b.py").read_text() == "b = 1\n"
    assert (tmp_path / "old.py").read_text() == "o = 1\n"
    assert not (tmp_path / "pkg" / "moved.py").exists() and not (tmp_path / "c.py").exists()
    assert not list(tmp_path.rglob(".hexad-*")), f"debris left from {half}"
    assert not list((tmp_path / journal.JOURNAL_DIR).iterdir())
    # and the same change then goes through whole
    write_change(tmp_path, _three_file_change())
    assert (tmp_path / "pkg" / "moved.py").read_text() == "o = 2\n"


def test_a_live_writes_journal_is_left_alone(tmp_path: Path) -> None:
    """Another process's recovery never undoes a write that is still going on (the
    journal is locked by its writer)."""
    (tmp_path / "a.py").write_text("a = 1\n")
    entry = journal.Entry(
        tmp_path / "a.py", tmp_path / "a.py", tmp_path / ".hexad-a.py.x.tmp", None, False, False
    )
    record = journal.Journal(tmp_path.resolve(), [entry])
    try:
        script = "import sys; from pathlib import Path; from hexad.execution import journal;"
        script += "print(len(journal.recover(Path(sys.argv[1]))))"
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == "0"
        assert record.path.exists()
    finally:
        record.close()
    assert not record.path.exists()


def _patch(before: list[str], diff: str) -> list[str]:
    """Apply a unified diff (as FileChange.diff writes it, without the no-newline marks),
    checking every context and removed line against ``before``."""
    out: list[str] = []
    at = 0
    for line in diff.splitlines(keepends=True)[2:]:
        if line.startswith("@@"):
            old = line.split()[1][1:].split(",")
            start = int(old[0]) - (0 if len(old) == 2 and old[1] == "0" else 1)
            out.extend(before[at:start])
            at = start
        elif line[0] in " -":
            assert before[at] == line[1:], (at, line)
            if line[0] == " ":
                out.append(before[at])
            at += 1
        else:
            out.append(line[1:])
    return out + before[at:]


_LINE = st.sampled_from([f"line {i}\n" for i in range(8)] + ["x = 1\n", "\n"])


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(_LINE, max_size=60),
    edits=st.lists(st.tuples(st.sampled_from("rid"), st.integers(0, 59), _LINE), max_size=8),
)
def test_a_diff_turns_before_into_after(before: list[str], edits: list[Any]) -> None:
    after = list(before)
    for op, where, text in edits:
        if op == "r" and after:
            after[where % len(after)] = text
        elif op == "i":
            after.insert(where % (len(after) + 1), text)
        elif op == "d" and after:
            del after[where % len(after)]
    change = FileChange("m.py", "".join(before), "".join(after))
    diff = change.diff()
    assert (diff == "") == (before == after)
    if diff:
        assert diff.startswith("--- a/m.py\n+++ b/m.py\n@@ -")
        assert _patch(before, diff) == after
    # the line count agrees with the diff's own + and - lines
    body = [line for line in diff.splitlines()[2:] if not line.startswith("@@")]
    assert change.lines_changed() == sum(1 for line in body if line[0] in "+-")
