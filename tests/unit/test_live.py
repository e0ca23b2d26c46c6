"""The live index: buffers, incremental reparsing, refreshes and the file watcher."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hexad.core.text import UTF16
from hexad.perception.extract import extract
from hexad.perception.facts import FileFacts
from hexad.perception.files import MAX_FILE_BYTES
from hexad.perception.language import default_registry
from hexad.perception.live import LiveDocument, LiveIndex, TextEdit
from tests.conftest import WriteWorkspace

BASE = '''
def alpha(x):
    """Alpha — with a non-ASCII docstring: 世界 😀."""
    return beta(x) + 1


def beta(y):
    return y * 2


class Gamma:
    def delta(self):
        return alpha(self.value)
'''


def _facts(data: bytes, tree: Any = None) -> list[tuple[Any, ...]]:
    facts = FileFacts("m.py", "python", "m", "", 0, 0)
    extract(default_registry().get("python"), data, facts, tree)
    return [
        *((s.kind, s.qualname, s.start, s.end, s.name_start, s.signature) for s in facts.symbols),
        *((r.name, r.line, r.col, r.scope) for r in facts.refs),
    ]


def test_incremental_reparse_agrees_with_a_fresh_parse_after_random_edits() -> None:
    spec = default_registry().get("python")
    parser = spec.parser()
    rng = random.Random(1234)
    snippets = ["x", "(", ")", "\n", "    ", "def f():\n    pass\n", "ü", "😀", "call()", ":"]
    snippets.append('"""')
    doc = LiveDocument("m.py", spec, BASE.encode(), 1)
    doc.tree = parser.parse(doc.data)
    for step in range(300):
        text = doc.data.decode()
        lines = text.split("\n")
        line_a = rng.randrange(len(lines))
        line_b = min(len(lines) - 1, line_a + rng.choice([0, 0, 1]))
        # columns in UTF-16 units, as VS Code sends them
        units = [len(s.encode("utf-16-le")) // 2 for s in lines]
        col_a = rng.randint(0, units[line_a])
        low = col_a if line_b == line_a else 0
        col_b = rng.randint(low, units[line_b])
        edit = TextEdit((line_a, col_a), (line_b, col_b), rng.choice(snippets), UTF16)
        try:
            doc.apply([edit])
        except UnicodeDecodeError:
            pytest.fail("an edit split a character")
        doc.tree = parser.parse(doc.data, doc.tree)
        if step % 10 == 0:
            assert _facts(doc.data, doc.tree) == _facts(doc.data), f"diverged at step {step}"
    doc.data.decode("utf-8")  # still valid UTF-8: no edit landed inside a character


@pytest.fixture
def live(workspace: WriteWorkspace) -> Iterator[LiveIndex]:
    root = workspace(
        {
            "pkg/__init__.py": "",
            "pkg/core.py": BASE,
            "pkg/use.py": "from .core import alpha\n\ndef run():\n    return alpha(1)\n",
        }
    )
    index = LiveIndex(root, workers=1)
    index.refresh().result(timeout=30)
    yield index
    index.close_all()


def _names(live: LiveIndex, path: str) -> set[str]:
    return {s.qualname for s in live.reader().symbols_in_file(path)}


def test_buffer_edits_reach_the_index_without_saving(live: LiveIndex) -> None:
    on_disk = (live.root / "pkg/core.py").read_text()
    live.open("pkg/core.py", BASE, 1)
    added = "\ndef epsilon():\n    return beta(3)\n"
    live.change("pkg/core.py", 2, [TextEdit((13, 0), (13, 0), added)])
    assert live.wait_for("pkg/core.py")
    assert "pkg.core.epsilon" in _names(live, "pkg/core.py")
    assert (live.root / "pkg/core.py").read_text() == on_disk  # nothing written to disk
    # the new function's call is resolved, and calls into the file from elsewhere survive
    reader = live.reader()
    (eps,) = reader.lookup("pkg.core.epsilon")
    assert [(e.name, e.resolution) for e in reader.callees([eps])] == [("beta", "local")]
    (alpha,) = reader.lookup("pkg.core.alpha")
    assert {e.path for e in reader.callers([alpha], include_ambiguous=False)} == {
        "pkg/core.py",
        "pkg/use.py",
    }


def test_a_refresh_leaves_open_buffers_alone_and_close_restores_the_disk(live: LiveIndex) -> None:
    live.open("pkg/core.py", "def only_in_buffer():\n    pass\n", 1)
    assert live.wait_for("pkg/core.py")
    live.refresh().result(timeout=30)
    assert _names(live, "pkg/core.py") == {"pkg.core.only_in_buffer"}
    live.close("pkg/core.py")
    live.refresh().result(timeout=30)
    assert "pkg.core.alpha" in _names(live, "pkg/core.py")
    assert "pkg.core.only_in_buffer" not in _names(live, "pkg/core.py")


def test_the_watcher_follows_changes_made_outside_the_editor(live: LiveIndex) -> None:
    indexed = threading.Event()
    live.listener = lambda event, data: indexed.set() if event == "indexed" else None
    live.watch()
    (live.root / "pkg/new.py").write_text("def brand_new():\n    return 1\n")
    assert indexed.wait(timeout=20), "no refresh after a file was created"
    assert "pkg.new.brand_new" in _names(live, "pkg/new.py")
    indexed.clear()
    (live.root / "pkg/use.py").unlink()
    assert indexed.wait(timeout=20), "no refresh after a file was deleted"
    assert live.reader().module_deps("pkg/use.py") is None
    indexed.clear()
    (live.root / ".gitignore").write_text("ignored_*.py\n")
    assert indexed.wait(timeout=20)
    indexed.clear()
    (live.root / "pkg/ignored_gen.py").write_text("def gen():\n    pass\n")
    assert not indexed.wait(timeout=1.5), "an ignored file triggered a refresh"
    assert live.reader().module_deps("pkg/ignored_gen.py") is None


def test_a_buffer_outside_any_grammar_is_ignored(live: LiveIndex) -> None:
    assert live.open("notes.txt", "hello", 1) is None
    assert live.wait_for("notes.txt")


def test_many_quick_edits_coalesce_and_end_current(live: LiveIndex, tmp_path: Path) -> None:
    live.open("pkg/use.py", "def run():\n    return 0\n", 1)
    for version in range(2, 120):
        live.change("pkg/use.py", version, [TextEdit((1, 11), (1, 12), str(version % 10))])
    live.change("pkg/use.py", 120, ["def final_name():\n    return 1\n"])
    assert live.wait_for("pkg/use.py")
    assert _names(live, "pkg/use.py") == {"pkg.use.final_name"}


def test_a_buffer_past_the_walks_size_limit_is_skipped_like_the_file(live: LiveIndex) -> None:
    """The walk skips files over MAX_FILE_BYTES; a buffer that size is skipped the same
    way (its file has no facts while it stays so), and indexed again once it shrinks."""
    line = "value_%07d = 1\n"
    huge = "".join(line % i for i in range(MAX_FILE_BYTES // len(line % 0) + 2))
    assert len(huge.encode()) > MAX_FILE_BYTES
    live.open("pkg/core.py", BASE, 1)
    assert live.wait_for("pkg/core.py")
    assert "pkg.core.alpha" in _names(live, "pkg/core.py")
    live.change("pkg/core.py", 2, [huge])
    assert live.wait_for("pkg/core.py")
    assert _names(live, "pkg/core.py") == set()
    (reason,) = (
        live.reader()
        .conn.execute("SELECT skip_reason FROM files WHERE path = 'pkg/core.py'")
        .fetchone()
    )
    assert reason.startswith("too large")
    live.change("pkg/core.py", 3, ["def small_again():\n    pass\n"])
    assert live.wait_for("pkg/core.py")
    assert _names(live, "pkg/core.py") == {"pkg.core.small_again"}


def test_line_starts_follow_every_edit_without_a_rescan() -> None:
    """The line table is updated in place per edit; it always equals a fresh scan."""
    spec = default_registry().get("python")
    rng = random.Random(99)
    doc = LiveDocument("m.py", spec, BASE.encode(), 1)
    pieces = ["", "x", "\n", "\n\n", "a\nb", "ü\n", "😀", "    return 1\n"]
    for _ in range(400):
        size = len(doc.data)
        start = rng.randint(0, size)
        end = min(size, start + rng.choice([0, 0, 1, 3, 12, 40]))
        doc.apply([TextEdit(doc.point(start), doc.point(end), rng.choice(pieces))])
        fresh = LiveDocument("m.py", spec, doc.data, 1)
        assert doc.line_starts.tolist() == fresh.line_starts.tolist()
