"""Hexad on a real codebase: Django's source, installed from PyPI into a cache folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hexad.core.db import connect, database_path
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer
from hexad.perception.repomap import build_repo_map

DJANGO = "django==5.2.*"
CACHE = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))


@pytest.fixture(scope="module")
def django_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheel = CACHE / "django-5.2"
    if not (wheel / "django" / "__init__.py").is_file():
        shutil.rmtree(wheel, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(wheel),
                DJANGO,
            ],
            check=True,
        )
    tree = tmp_path_factory.mktemp("django")
    shutil.copytree(wheel / "django", tree / "django")
    return tree


@pytest.fixture(scope="module")
def reader(django_tree: Path) -> Iterator[IndexReader]:
    summary = Indexer(django_tree).run()
    assert summary.files > 800 and not summary.skipped
    conn = connect(database_path(django_tree))
    yield IndexReader(conn)
    conn.close()


def test_callers_of_a_real_function(reader: IndexReader) -> None:
    edges = reader.callers(reader.lookup("django.utils.crypto.get_random_string"))
    callers = {e.caller.qualname for e in edges if e.caller and e.resolution == "import"}
    assert {
        "django.core.management.utils.get_random_secret_key",
        "django.contrib.auth.hashers.make_password",
        "django.middleware.csrf._get_new_csrf_string",
    } <= callers


def test_methods_resolve_through_self(reader: IndexReader) -> None:
    edges = reader.callees(reader.lookup("django.db.models.base.Model.save"))
    through_self = {e.callee.qualname for e in edges if e.callee and e.resolution == "self"}
    assert "django.db.models.base.Model.save_base" in through_self


def test_exported_api_and_external_packages(reader: IndexReader) -> None:
    (render,) = reader.lookup("django.shortcuts.render")
    assert render.exported and render.kind == "function"
    assert render.doc.startswith("Return an HttpResponse")
    packages = dict(reader.external_packages())
    assert "asgiref" in packages and "sqlparse" in packages
    assert "os" not in packages  # standard library is kept apart


def test_repo_map_on_django(reader: IndexReader) -> None:
    result = build_repo_map(reader.conn, 1024, use_cache=False)
    assert 900 <= result.tokens <= 1024
    assert result.files >= 10
    assert "django/core/exceptions.py:" in result.text


def test_the_first_readme_command_end_to_end(django_tree: Path) -> None:
    """What scripts/demo.sh runs, as a process: index, callers, map."""
    exe = [sys.executable, "-m", "hexad"]
    run = subprocess.run(
        [*exe, "callers", "get_random_string", "--json"],
        cwd=django_tree,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(run.stdout)
    assert len([c for c in data["callers"] if c["resolution"] == "import"]) >= 8
    run = subprocess.run(
        [*exe, "map", "--tokens", "512", "-w", str(django_tree)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.count(":\n") >= 5
