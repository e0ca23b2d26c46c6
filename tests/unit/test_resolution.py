"""Cross-file resolution: every call edge says how it was resolved, and it is right."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.perception.index import IndexReader
from tests.conftest import WriteWorkspace

FILES: dict[str, str | bytes] = {
    "app/__init__.py": """
        from .core.engine import Engine
        from .core import util as u
        __all__ = ["Engine", "u"]
    """,
    "app/core/__init__.py": "",
    "app/core/util.py": """
        def helper(x):
            return x

        def shared():
            return 1
    """,
    "app/core/engine.py": """
        import json
        import os.path
        from . import util
        from .util import helper as h

        class Engine:
            def start(self):
                self.configure()
                return h(1)

            def configure(self):
                path = os.path.join("a", "b")
                return json.dumps(util.shared())

            @classmethod
            def build(cls):
                return cls.create()

            @classmethod
            def create(cls):
                return cls()
    """,
    "app/cli.py": """
        import app.core.util
        from app import Engine
        from .core.engine import Engine as E2
        from .plugins.extra import shared

        def main():
            engine = Engine()
            E2.build()
            app.core.util.helper(2)
            engine.start()
            shared()
            return run()

        def run():
            def local():
                return 1
            return local()
    """,
    "app/plugins/__init__.py": "",
    "app/plugins/extra.py": """
        def shared():
            return 2

        def caller():
            return mystery()

        def mystery():
            return 3
    """,
    "other.py": """
        def shared():
            return 3

        def uses_collision(obj):
            return obj.configure()

        def uses_unknown(thing):
            return thing.start()

        class Other:
            def start(self):
                return 0
    """,
}


@pytest.fixture
def reader(workspace: WriteWorkspace, indexed: Callable[[Path], Connection]) -> IndexReader:
    return IndexReader(indexed(workspace(FILES)))


def _edges(reader: IndexReader, caller: str) -> dict[str, tuple[str, str | None]]:
    (sym,) = reader.lookup(caller)
    return {
        e.name: (e.resolution, e.callee.qualname if e.callee else e.target_module)
        for e in reader.callees([sym])
    }


def test_module_names_follow_packages(reader: IndexReader) -> None:
    modules = dict(reader.conn.execute("SELECT path, module FROM files").fetchall())
    assert modules["app/__init__.py"] == "app"
    assert modules["app/core/engine.py"] == "app.core.engine"
    assert modules["other.py"] == "other"


def test_self_and_cls_resolve_to_the_enclosing_class(reader: IndexReader) -> None:
    start = _edges(reader, "app.core.engine.Engine.start")
    assert start["configure"] == ("self", "app.core.engine.Engine.configure")
    build = _edges(reader, "app.core.engine.Engine.build")
    assert build["create"] == ("self", "app.core.engine.Engine.create")


def test_aliases_relative_imports_and_external_packages(reader: IndexReader) -> None:
    start = _edges(reader, "app.core.engine.Engine.start")
    assert start["h"] == ("import", "app.core.util.helper")  # from .util import helper as h
    configure = _edges(reader, "app.core.engine.Engine.configure")
    assert configure["shared"] == ("import", "app.core.util.shared")  # util.shared via module
    assert configure["dumps"] == ("external", "json")
    assert configure["join"] == ("external", "os")


def test_reexports_dotted_modules_and_local_scopes(reader: IndexReader) -> None:
    main = _edges(reader, "app.cli.main")
    assert main["Engine"] == ("import", "app.core.engine.Engine")  # through app/__init__.py
    assert main["build"] == ("import", "app.core.engine.Engine.build")  # E2.build: aliased class
    assert main["helper"] == ("import", "app.core.util.helper")  # app.core.util.helper(2)
    assert main["shared"] == ("import", "app.plugins.extra.shared")  # not other.shared
    assert main["run"] == ("local", "app.cli.run")
    run = _edges(reader, "app.cli.run")
    assert run["local"] == ("local", "app.cli.run.local")


def test_collisions_are_reported_never_guessed(reader: IndexReader) -> None:
    # engine.start(): the receiver is a local variable; two classes define start()
    main = _edges(reader, "app.cli.main")
    assert main["start"][0] == "ambiguous"
    (edge,) = [e for e in reader.callees(reader.lookup("app.cli.main")) if e.name == "start"]
    assert edge.callee is None and edge.candidates == 2
    # configure() is defined once in the workspace: unique, and labelled as such
    assert _edges(reader, "other.uses_collision")["configure"] == (
        "unique",
        "app.core.engine.Engine.configure",
    )
    # a bare call to a name defined only in this file resolves locally, not globally
    assert _edges(reader, "app.plugins.extra.caller")["mystery"] == (
        "local",
        "app.plugins.extra.mystery",
    )


def test_callers_lists_certain_then_ambiguous_sites(reader: IndexReader) -> None:
    targets = reader.lookup("app.core.util.helper")
    edges = reader.callers(targets)
    sites = {(e.path, e.line + 1, e.resolution) for e in edges}
    assert sites == {("app/core/engine.py", 9, "import"), ("app/cli.py", 9, "import")}
    start = reader.lookup("app.core.engine.Engine.start")
    maybe = reader.callers(start)
    assert {(e.path, e.resolution) for e in maybe} == {
        ("app/cli.py", "ambiguous"),
        ("other.py", "ambiguous"),
    }
    assert reader.callers(start, include_ambiguous=False) == []


def test_import_graph_and_external_packages(reader: IndexReader) -> None:
    deps = reader.module_deps("app/core/engine.py")
    assert deps is not None
    assert deps.imports == ("app/core/util.py",)
    assert set(deps.imported_by) == {"app/__init__.py", "app/cli.py"}
    assert deps.stdlib == ("json", "os")
    assert deps.external == ()


def test_invalidation_is_narrow_for_body_edits_and_wide_for_new_names(
    workspace: WriteWorkspace, indexed: Callable[[Path], Connection]
) -> None:
    from hexad.perception.indexer import extract_file
    from hexad.perception.store import FactWriter

    root = workspace(
        {
            "a.py": "def helper():\n    return 1\n\ndef run(x):\n    return x.process()\n",
            "b.py": "from a import helper\n\ndef use():\n    return helper()\n",
            "c.py": "def go(y):\n    return y.process() + y.other()\n",
            "d.py": "class P:\n    def process(self):\n        pass\n\n"
            "class Q:\n    def process(self):\n        pass\n",
        }
    )
    conn = indexed(root)

    def pending_after_rewrite(source: str) -> set[tuple[str, str]]:
        (root / "a.py").write_text(source)
        facts = extract_file(root, ("a.py", "python", 0, 0, None))
        assert facts is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            writer = FactWriter(conn)
            writer.write(facts)
            writer.finish()
            return {
                (path, name)
                for path, name in conn.execute(
                    "SELECT f.path, r.name FROM refs r JOIN files f ON f.id = r.file_id "
                    "WHERE r.resolution IS NULL"
                )
            }
        finally:
            conn.execute("ROLLBACK")

    # a body edit: only the call that pointed at a.py's rewritten symbol rows
    assert pending_after_rewrite(
        "def helper():\n    return 2\n\ndef run(x):\n    return x.process()\n"
    ) == {("b.py", "helper")}
    # a new definition of an ambiguous name: every call of that name gets another look,
    # and a new top-level name sends importers of a.py back to the resolver too
    assert pending_after_rewrite(
        "def helper():\n    return 1\n\ndef run(x):\n    return x.process()\n\n"
        "class R:\n    def process(self):\n        pass\n"
    ) == {("b.py", "helper"), ("c.py", "process")}


def test_a_query_longer_than_any_name_finds_nothing_at_once(reader: IndexReader) -> None:
    """A client may send a workspace/symbol query of megabytes; no name can hold it, so
    none is searched (the fuzzer found a 20 MB query taking four minutes of CPU)."""
    assert [s.qualname for s, _ in reader.search("helper")][:1] == ["app.core.util.helper"]
    assert reader.search("q" * 2_000_000) == []
    assert reader.search("app." * 500_000) == []  # the qualified-name path
    longest = max(len(s.name) for s, _ in reader.search("", limit=1000))
    assert reader.search("x" * (longest + 1)) == []
