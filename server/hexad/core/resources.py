"""Locate data shipped with Hexad (grammars/, policies/).

In a wheel the folders are installed as ``hexad/_data/<name>``; in an editable install or a
source checkout they sit at the repository root, two levels above this package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@cache
def data_dir(name: str) -> Path:
    """Return the directory holding the shipped data folder ``name``."""
    candidates = (
        _PACKAGE_ROOT / "_data" / name,
        _PACKAGE_ROOT.parent.parent / name,
    )
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"Hexad data folder {name!r} not found (looked in {searched})")
