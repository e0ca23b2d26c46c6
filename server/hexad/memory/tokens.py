"""Words from code and prose, the one vocabulary shared by keyword search and the
workspace embedding.

Identifiers split on case changes, digits and underscores (``getHTTPResponse2`` ->
``get http response 2``); everything is lower-cased; English and code noise words are
dropped. Words are stemmed (Snowball English, the stemmer Sphinx uses) so "parsing"
meets ``parse``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import snowballstemmer

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

STOPWORDS = frozenset(
    """
    a an and are as at be been being but by can could did do does doing done for from
    had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our ours out over own
    same she should so some such than that the their theirs them then there these they
    this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours also e g ie eg etc via per
    self cls def return returns none true false pass elif else import lambda
    """.split()
)

MIN_LENGTH = 2
_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Porter-stem a lower-case word so "parsing", "parsed" and ``parse`` meet."""
    return _STEMMER.stemWord(word)  # type: ignore[no-any-return]


def split_identifier(identifier: str) -> list[str]:
    """``parse_HTTPHeader2`` -> ``['parse', 'http', 'header', '2']`` (not folded)."""
    parts: list[str] = []
    for piece in identifier.split("_"):
        parts.extend(m.group(0).lower() for m in _CAMEL.finditer(piece))
    return parts


def iter_words(text: str) -> Iterator[str]:
    """Folded, filtered words of ``text`` in order (code or prose alike)."""
    for _, stem in word_pairs(text):
        yield stem


@lru_cache(maxsize=262144)
def _identifier_pairs(identifier: str) -> tuple[tuple[str, str], ...]:
    """The kept (written, stemmed) parts of one identifier; identifiers repeat a lot."""
    return tuple(
        (part, fold(part))
        for part in split_identifier(identifier)
        if len(part) >= MIN_LENGTH and part not in STOPWORDS and not part.isdigit()
    )


def word_pairs(text: str) -> Iterator[tuple[str, str]]:
    """(as written, lower-cased; stemmed) for each kept word: to show users their words."""
    for match in _IDENT.finditer(text):
        yield from _identifier_pairs(match.group(0))


def words(text: str) -> list[str]:
    return list(iter_words(text))


def fts_text(text: str) -> str:
    """The text as keyword search indexes it: the words joined by spaces."""
    return " ".join(iter_words(text))
