"""The Python tags query and the extractor, on real tree-sitter parses."""

from __future__ import annotations

import textwrap

from hexad.perception.extract import extract
from hexad.perception.facts import FileFacts
from hexad.perception.language import default_registry

SOURCE = textwrap.dedent(
    '''
    """Module docstring."""
    import os.path
    import numpy as np
    from . import sibling
    from ..pkg.mod import thing as other, helper
    from collections import *

    __all__ = ["Public", "make"]

    LIMIT = 10


    class Public(Base, abc.ABC):
        """A public class.

        More text.
        """

        count = 0

        def method(self, x: int) -> int:  # trailing comment
            return self.helper(x) + make(x)

        def _private(self):
            def inner():
                return os.path.join("a", "b")
            return inner()

        def __eq__(self, other):
            return NotImplemented


    @decorate
    def make(value,
             *args):
        "Make a thing."
        return Public().method(value)


    def hidden():
        pass
    '''
)


def _facts(source: str = SOURCE, module: str = "pkg.mod") -> FileFacts:
    facts = FileFacts("pkg/mod.py", "python", module, "h", len(source), 0)
    extract(default_registry().get("python"), source.encode(), facts)
    return facts


def test_definitions_kinds_qualnames_and_exports() -> None:
    facts = _facts()
    got = {(s.kind, s.qualname, s.exported) for s in facts.symbols}
    assert got == {
        ("variable", "pkg.mod.__all__", False),
        ("variable", "pkg.mod.LIMIT", False),  # __all__ decides: LIMIT is not listed
        ("class", "pkg.mod.Public", True),
        ("field", "pkg.mod.Public.count", True),
        ("method", "pkg.mod.Public.method", True),
        ("method", "pkg.mod.Public._private", False),
        ("function", "pkg.mod.Public._private.inner", False),
        ("method", "pkg.mod.Public.__eq__", True),
        ("function", "pkg.mod.make", True),
        ("function", "pkg.mod.hidden", False),
    }


def test_exports_without_all_follow_underscore_convention() -> None:
    facts = _facts("def api():\n    pass\n\ndef _impl():\n    pass\n")
    assert {s.name: s.exported for s in facts.symbols} == {"api": True, "_impl": False}


def test_signatures_docs_and_positions() -> None:
    facts = _facts()
    by_name = {s.name: s for s in facts.symbols}
    assert by_name["method"].signature == "def method(self, x: int) -> int"
    assert by_name["make"].signature == "def make(value, *args)"
    assert by_name["Public"].signature == "class Public(Base, abc.ABC)"
    assert by_name["Public"].doc == "A public class.\n\nMore text."
    assert by_name["make"].doc == "Make a thing."
    assert by_name["hidden"].doc == ""
    public = by_name["Public"]
    lines = SOURCE.splitlines()
    assert lines[public.name_start[0]][public.name_start[1] : public.name_end_col] == "Public"
    assert facts.symbols[by_name["method"].parent] is public


def test_references_with_scope_and_receiver() -> None:
    facts = _facts()
    symbols = facts.symbols
    refs = {
        (r.kind, r.name, r.receiver, symbols[r.scope].name if r.scope >= 0 else None)
        for r in facts.refs
    }
    assert ("call", "helper", "self", "method") in refs
    assert ("call", "make", None, "method") in refs
    assert ("call", "join", "os.path", "inner") in refs
    assert ("call", "inner", None, "_private") in refs
    assert ("call", "method", "Public()", "make") in refs
    assert ("call", "Public", None, "make") in refs
    assert ("call", "decorate", None, None) in refs  # decorators apply at module level
    assert ("class", "Base", None, "Public") in refs  # the class refers to its bases
    assert ("class", "ABC", "abc", "Public") in refs


def test_imports() -> None:
    facts = _facts()
    got = {(i.source, i.name, i.alias, i.wildcard) for i in facts.imports}
    assert got == {
        ("os.path", None, None, False),
        ("numpy", None, "np", False),
        (".", "sibling", None, False),
        ("..pkg.mod", "thing", "other", False),
        ("..pkg.mod", "helper", None, False),
        ("collections", None, None, True),
    }


def test_syntax_errors_are_counted_and_the_rest_still_extracted() -> None:
    facts = _facts("def ok():\n    pass\n\ndef broken(:\n    pass\n\nclass After:\n    pass\n")
    assert facts.parse_errors >= 1
    assert "ok" in {s.name for s in facts.symbols}
