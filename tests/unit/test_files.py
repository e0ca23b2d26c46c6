"""Which files get indexed: ignore rules, dependency folders, and bad content."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hexad.core.db import Connection
from hexad.perception.files import MAX_FILE_BYTES, Candidate, Skipped, walk
from hexad.perception.language import default_registry
from tests.conftest import WriteWorkspace


def _walk(root: Path) -> tuple[set[str], dict[str, str]]:
    found: set[str] = set()
    skipped: dict[str, str] = {}
    for entry in walk(root, default_registry()):
        if isinstance(entry, Candidate):
            found.add(entry.path)
        else:
            assert isinstance(entry, Skipped)
            skipped[entry.path] = entry.reason
    return found, skipped


def test_gitignore_nested_negation_and_info_exclude(workspace: WriteWorkspace) -> None:
    root = workspace(
        {
            ".gitignore": "build/\n*.gen.py\n!keep.gen.py\n",
            ".git/info/exclude": "scratch.py\n",
            "src/a.py": "x = 1\n",
            "src/b.gen.py": "x = 1\n",
            "src/keep.gen.py": "x = 1\n",
            "build/out.py": "x = 1\n",
            "scratch.py": "x = 1\n",
            "sub/.gitignore": "local_only.py\n/anchored.py\n",
            "sub/local_only.py": "x = 1\n",
            "sub/anchored.py": "x = 1\n",
            "sub/deeper/anchored.py": "x = 1\n",
            "local_only.py": "x = 1\n",
        }
    )
    found, _ = _walk(root)
    assert found == {
        "src/a.py",
        "src/keep.gen.py",
        "sub/deeper/anchored.py",
        "local_only.py",  # sub/.gitignore only applies below sub/
    }


def test_dependency_vendor_and_virtualenv_folders_are_skipped(workspace: WriteWorkspace) -> None:
    root = workspace(
        {
            "main.py": "x = 1\n",
            "node_modules/pkg/index.js": "x\n",
            "vendor/lib.py": "x = 1\n",
            ".venv/lib/site.py": "x = 1\n",
            "myenv/pyvenv.cfg": "home = /usr\n",
            "myenv/lib/python3.11/site-packages/dep.py": "x = 1\n",
            ".git/hooks/hook.py": "x = 1\n",
            "notes.txt": "not source\n",
        }
    )
    found, _ = _walk(root)
    assert found == {"main.py"}


def test_bad_files_are_skipped_with_a_reason_never_a_crash(
    workspace: WriteWorkspace, indexed: Callable[[Path], Connection], tmp_path: Path
) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("def secret():\n    pass\n")
    root = workspace(
        {
            "good.py": "def good():\n    pass\n",
            "binary.py": b"\x00\x01\x02def x(): pass\n",
            "latin1.py": "def caf\xe9():\n    pass\n".encode("latin-1"),
            "huge.py": b"x = 1\n" * (MAX_FILE_BYTES // 6 + 10),
            "empty.py": b"",
        }
    )
    os.symlink(outside, root / "link.py")
    os.symlink(root / "missing.py", root / "dangling.py")
    conn = indexed(root)
    reasons = dict(
        conn.execute("SELECT path, skip_reason FROM files WHERE skip_reason IS NOT NULL").fetchall()
    )
    assert reasons["binary.py"] == "binary content"
    assert reasons["latin1.py"].startswith("not UTF-8")
    assert reasons["huge.py"].startswith("too large")
    assert reasons["link.py"] == "symbolic link to outside the workspace"
    assert reasons["dangling.py"] == "broken symbolic link"
    names = {r[0] for r in conn.execute("SELECT name FROM symbols")}
    assert names == {"good"}  # nothing from skipped files, nothing from outside
    indexed_files = {r[0] for r in conn.execute("SELECT path FROM files WHERE skip_reason IS NULL")}
    assert indexed_files == {"good.py", "empty.py"}


def test_a_broken_grammar_skips_its_files_and_spares_the_others(
    workspace: WriteWorkspace, tmp_path: Path
) -> None:
    import shutil

    from hexad.core.resources import data_dir
    from hexad.perception.indexer import Indexer
    from hexad.perception.language import LanguageRegistry

    grammars = tmp_path / "grammars"
    shutil.copytree(data_dir("grammars") / "python", grammars / "python")
    (grammars / "broken").mkdir()
    (grammars / "broken" / "language.toml").write_text(
        'module = "tree_sitter_python"\nextensions = [".brk"]\n'
    )
    (grammars / "broken" / "tags.scm").write_text("(no_such_node) @definition.function\n")
    (grammars / "nomanifest").mkdir()
    (grammars / "nomanifest" / "language.toml").write_text("extensions = 3\n")
    registry = LanguageRegistry(grammars)
    assert registry.names == ["broken", "python"]
    assert len(registry.errors) == 2  # the bad manifest, and the invalid query
    root = workspace({"ok.py": "def ok():\n    pass\n", "x.brk": "anything\n"})
    summary = Indexer(root, registry=registry, workers=1).run()
    assert summary.files == 1 and summary.symbols == 1
    ((path, reason),) = summary.skipped
    assert path == "x.brk" and reason.startswith("grammar unavailable:")
    assert "invalid query" in reason
