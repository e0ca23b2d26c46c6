"""The crash campaign's finding: a process killed while parso wrote jedi's parse cache
leaves a truncated pickle, and every later jedi call that loads that module fails
(``EOFError: Ran out of input``) — renames refused for ever, in Hexad and any other
jedi-based tool sharing the cache. Hexad now removes the truncated files and tries again."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hexad.execution.engines import refactor
from hexad.execution.sources import DiskSources
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer
from hexad.perception.navigation import repair_jedi_cache
from tests.reliability.crash import EXEC_FIXTURE


@pytest.fixture
def jedi_cache(tmp_path: Path) -> Iterator[Path]:
    """jedi's cache in a folder of this test's own (jedi keeps it in a global setting)."""
    from jedi import settings

    before = settings.cache_directory
    settings.cache_directory = str(tmp_path / "jedi-cache")
    try:
        yield Path(settings.cache_directory)
    finally:
        settings.cache_directory = before


def _truncate_all(cache: Path) -> int:
    """Cut every pickle in half, and forget the trees parso holds in memory: what a new
    process finds after one was killed while writing them."""
    from parso import cache as parso_cache

    parso_cache.parser_cache.clear()
    count = 0
    for pickle_file in cache.rglob("*.pkl"):
        data = pickle_file.read_bytes()
        pickle_file.write_bytes(data[: len(data) // 2])  # killed halfway through the write
        count += 1
    return count


def test_a_truncated_parse_cache_is_repaired_and_the_rename_goes_through(
    tmp_path: Path, jedi_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import pickle

    import jedi

    root = tmp_path / "ws"
    shutil.copytree(EXEC_FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    indexer = Indexer(root, workers=1)
    indexer.run()
    reader = IndexReader(indexer.conn)

    def references() -> list[object]:
        stock = str(root / "inventory" / "stock.py")
        return list(jedi.Script(path=stock, project=jedi.Project(root)).get_references(6, 40))

    assert references()  # jedi parses the workspace's modules and pickles them
    first = refactor.rename_symbol(DiskSources(root), reader, "inventory.stock.restock", "r1")
    assert _truncate_all(jedi_cache) > 0, "jedi wrote no parse cache: nothing to break"

    # the bug, as the campaign met it: jedi fails on the module from then on
    with pytest.raises((EOFError, pickle.UnpicklingError)) as broken:
        references()
    with pytest.raises((EOFError, pickle.UnpicklingError)):
        references()
    assert repair_jedi_cache(broken.value)
    assert all(p.read_bytes().endswith(b".") for p in jedi_cache.rglob("*.pkl"))
    assert references()

    # and through the engine: the rename mends the cache and goes through
    assert references()
    _truncate_all(jedi_cache)
    with caplog.at_level("WARNING", logger="hexad.perception.navigation"):
        again = refactor.rename_symbol(DiskSources(root), reader, "inventory.stock.restock", "r2")
    assert "truncated files from jedi's parse cache" in caplog.text
    assert {f.path for f in again.change.files} == {f.path for f in first.change.files}
    indexer.conn.close()


def test_other_errors_are_not_taken_for_a_broken_cache(jedi_cache: Path) -> None:
    jedi_cache.mkdir(parents=True)
    (jedi_cache / "whole.pkl").write_bytes(b"\x80\x05K\x01.")
    assert not repair_jedi_cache(ValueError("not a valid position"))
    assert not repair_jedi_cache(EOFError("nothing broken in the cache"))
    assert (jedi_cache / "whole.pkl").exists()
