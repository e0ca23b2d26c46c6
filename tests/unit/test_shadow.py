"""The shadow workspace: a mirror that takes changes without touching the user's files."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from hexad.execution.edits import Change, EditError, FileChange
from hexad.execution.shadow import ShadowWorkspace
from tests.conftest import WriteWorkspace

FILES: dict[str, str | bytes] = {
    "pkg/__init__.py": "",
    "pkg/a.py": "A = 1\n",
    "pkg/c.py": "C = 3\n",
    "pkg/d.py": "D = 4\n",
    "README.md": "# hello\n",
    "data/blob.bin": bytes(range(256)),
}


def _tree(root: Path, skip: tuple[str, ...] = (".hexad",)) -> dict[str, bytes]:
    """Every regular file under ``root`` (links followed when they are files)."""
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in skip or not path.is_file():
            continue
        out[rel] = path.read_bytes()
    return out


def _shadow(root: Path) -> ShadowWorkspace:
    return ShadowWorkspace(root, root / ".hexad" / "shadow")


def test_sync_copies_files_with_their_mtimes(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    shadow = _shadow(root)
    stats = shadow.sync()
    assert stats.copied == stats.files == len(FILES)
    assert _tree(shadow.mirror) == _tree(root)
    for rel in FILES:
        assert (shadow.mirror / rel).stat().st_mtime_ns == (root / rel).stat().st_mtime_ns
    assert shadow.mirror.is_relative_to(root / ".hexad" / "shadow")


def test_sync_skips_vcs_hexad_venvs_dependencies_and_ignored_files(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(
        {
            **FILES,
            ".gitignore": "build/\n*.log\n",
            ".git/config": "[core]\n",
            ".git/info/exclude": "scratch.py\n",
            "scratch.py": "x = 1\n",
            ".hexad/hexad.db": b"db",
            "env/pyvenv.cfg": "home = /usr\n",
            "env/lib/site.py": "x = 1\n",
            "node_modules/left-pad/index.js": "module.exports = 1\n",
            "pkg/__pycache__/a.cpython-311.pyc": b"\x00",
            "build/out.py": "x = 1\n",
            "debug.log": "noise\n",
            "sub/.gitignore": "secret.txt\n",
            "sub/secret.txt": "hidden\n",
            "sub/kept.txt": "kept\n",
        }
    )
    shadow = _shadow(root)
    shadow.sync()
    mirrored = set(_tree(shadow.mirror))
    assert mirrored == {*FILES, ".gitignore", "sub/.gitignore", "sub/kept.txt"}


def test_incremental_sync_recopies_only_what_changed(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    shadow = _shadow(root)
    shadow.sync()
    untouched = (shadow.mirror / "pkg/c.py").stat().st_ino
    again = shadow.sync()
    assert (again.copied, again.removed) == (0, 0)

    (root / "pkg/a.py").write_text("A = 100\n", encoding="utf-8")
    stat = (root / "pkg/a.py").stat()
    os.utime(root / "pkg/a.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    (root / "pkg/d.py").unlink()
    (root / "pkg/new.py").write_text("N = 0\n", encoding="utf-8")
    stats = shadow.sync()

    assert (stats.copied, stats.removed) == (2, 1)
    assert _tree(shadow.mirror) == _tree(root)
    assert (shadow.mirror / "pkg/c.py").stat().st_ino == untouched


def test_sync_removes_folders_that_left_the_workspace(workspace: WriteWorkspace) -> None:
    root = workspace({**FILES, "old/deep/x.py": "x = 1\n"})
    shadow = _shadow(root)
    shadow.sync()
    (root / "old/deep/x.py").unlink()
    (root / "old/deep").rmdir()
    (root / "old").rmdir()
    shadow.sync()
    assert not (shadow.mirror / "old").exists()


def test_applied_writes_the_change_into_the_mirror_only_and_restores_it(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(FILES)
    shadow = _shadow(root)
    user_files = _tree(root)
    change = Change(
        (
            FileChange("pkg/a.py", "A = 1\n", "A = 2\n"),
            FileChange("pkg/new/b.py", None, "B = 2\n"),
            FileChange("pkg/c.py", "C = 3\n", None),
            FileChange("pkg/d.py", "D = 4\n", "D = 5\n", new_path="moved/d2.py"),
        )
    )
    with shadow.applied(change) as mirror:
        assert mirror == shadow.mirror
        assert (mirror / "pkg/a.py").read_text() == "A = 2\n"
        assert (mirror / "pkg/new/b.py").read_text() == "B = 2\n"
        assert not (mirror / "pkg/c.py").exists()
        assert not (mirror / "pkg/d.py").exists()
        assert (mirror / "moved/d2.py").read_text() == "D = 5\n"
        assert _tree(root) == user_files  # byte for byte

    assert _tree(root) == user_files
    assert _tree(shadow.mirror) == user_files
    assert not (shadow.mirror / "pkg/new").exists()
    assert not (shadow.mirror / "moved").exists()
    assert shadow.sync().copied == 0  # restored with the workspace's mtimes


def test_applied_restores_the_mirror_when_the_caller_fails(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    shadow = _shadow(root)
    change = Change((FileChange("pkg/a.py", "A = 1\n", "A = 2\n"),))
    with pytest.raises(RuntimeError), shadow.applied(change):
        raise RuntimeError("tests crashed")
    assert (shadow.mirror / "pkg/a.py").read_text() == "A = 1\n"


def test_symlinks_leaving_the_workspace_are_not_followed(
    workspace: WriteWorkspace, tmp_path: Path
) -> None:
    root = workspace(FILES)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not copy\n", encoding="utf-8")
    (root / "leak").symlink_to(outside)
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "alias.py").symlink_to(root / "pkg" / "a.py")
    (root / "pkgalias").symlink_to(root / "pkg")

    shadow = _shadow(root)
    shadow.sync()
    mirror = shadow.mirror
    assert not (mirror / "leak").exists() and not (mirror / "leak").is_symlink()
    assert not (mirror / "leak.txt").exists() and not (mirror / "leak.txt").is_symlink()
    assert not (mirror / "alias.py").is_symlink()
    assert (mirror / "alias.py").read_text() == "A = 1\n"
    # a folder link stays a link, to the mirror's own copy
    assert (mirror / "pkgalias").is_symlink()
    assert (mirror / "pkgalias").resolve() == (mirror / "pkg").resolve()
    assert all("do not copy" not in p.read_text() for p in mirror.rglob("*.txt"))
    assert shadow.sync().copied == 0


def test_a_change_leaving_the_mirror_is_refused(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    shadow = _shadow(root)
    with pytest.raises(EditError):
        Change((FileChange("../escape.py", None, "x = 1\n"),))
    # a change that slipped past validation is refused by the mirror itself
    change = object.__new__(Change)
    object.__setattr__(change, "files", (FileChange("../escape.py", None, "x = 1\n"),))
    with pytest.raises(EditError), shadow.applied(change):
        pass
    assert not (shadow.shadow_dir / "escape.py").exists()
    assert not (root / ".hexad" / "escape.py").exists()
    assert _tree(shadow.mirror) == _tree(root)


def test_the_shadow_folder_cannot_hold_the_workspace(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    with pytest.raises(EditError):
        ShadowWorkspace(root, root.parent)
    with pytest.raises(EditError):
        ShadowWorkspace(root, root)


def test_two_verifications_never_share_the_mirror(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    # two instances: only the file lock stands between them
    shadows = [_shadow(root), _shadow(root)]
    spans: list[tuple[float, float, str]] = []
    seen: list[str] = []

    def work(index: int) -> None:
        text = f"A = {index + 10}\n"
        change = Change((FileChange("pkg/a.py", "A = 1\n", text),))
        with shadows[index].applied(change) as mirror:
            start = time.monotonic()
            time.sleep(0.2)
            seen.append((mirror / "pkg/a.py").read_text())
            spans.append((start, time.monotonic(), text))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == ["A = 10\n", "A = 11\n"]
    (a_start, a_end, _), (b_start, b_end, _) = sorted(spans)
    assert a_end <= b_start or b_end <= a_start
    assert (shadows[0].mirror / "pkg/a.py").read_text() == "A = 1\n"
