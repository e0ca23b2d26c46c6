"""The repository map: PageRank ranking, personalisation, token budget, cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hexad.core.db import Connection
from hexad.perception.repomap import build_repo_map, estimate_tokens, rank_symbols
from tests.conftest import WriteWorkspace


def _files() -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        "core/__init__.py": "",
        "core/registry.py": """
            class Registry:
                def register(self, name):
                    return name

            def get_registry():
                return Registry()
        """,
        "core/rarely.py": """
            def lonely_helper():
                return 1
        """,
    }
    for i in range(8):
        files[f"core/user{i}.py"] = f"""
            from .registry import get_registry

            def feature_{i}():
                return get_registry().register("f{i}")
        """
    return files


def test_the_most_referenced_definition_ranks_first(
    workspace: WriteWorkspace, indexed: Callable[[Path], Connection]
) -> None:
    conn = indexed(workspace(_files()))
    ranked = rank_symbols(conn)
    assert ranked[0].name == "get_registry"
    names = [s.name for s in ranked]
    assert names.index("lonely_helper") > names.index("register")


def test_personalisation_pulls_focus_into_the_map(
    workspace: WriteWorkspace, indexed: Callable[[Path], Connection]
) -> None:
    conn = indexed(workspace(_files()))
    plain = build_repo_map(conn, 25, use_cache=False)
    assert "lonely_helper" not in plain.text
    focused = build_repo_map(conn, 25, focus_files=["core/rarely.py"], use_cache=False)
    assert "def lonely_helper()" in focused.text
    by_symbol = build_repo_map(conn, 25, focus_symbols=["lonely_helper"], use_cache=False)
    assert "def lonely_helper()" in by_symbol.text


def test_budget_is_respected_and_containers_give_context(
    workspace: WriteWorkspace, indexed: Callable[[Path], Connection]
) -> None:
    conn = indexed(workspace(_files()))
    for budget in (20, 50, 200, 2000):
        result = build_repo_map(conn, budget, use_cache=False)
        assert result.tokens <= budget
        assert estimate_tokens(result.text) == result.tokens
    full = build_repo_map(conn, 2000, use_cache=False).text
    # a method is shown inside its class
    assert "core/registry.py:\n│class Registry\n│    def register(self, name)\n" in full
    assert full.count("feature_") == 8


def test_cache_hits_until_a_file_changes(
    workspace: WriteWorkspace, indexed: Callable[[Path], Connection]
) -> None:
    root = workspace(_files())
    conn = indexed(root)
    first = build_repo_map(conn, 100)
    second = build_repo_map(conn, 100)
    assert not first.cached and second.cached and second.text == first.text
    (root / "core/rarely.py").write_text("def lonely_helper():\n    return 2\n")
    conn2 = indexed(root)
    assert not build_repo_map(conn2, 100).cached
