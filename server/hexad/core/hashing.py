"""Content hashes, one definition for every layer that compares them.

The index records each file's ``content_hash``; memory re-chunks a file when the hash of
what is on disk matches the index's and differs from what it last saw — so both must
hash the same way, which is why this lives in core.
"""

from __future__ import annotations

import hashlib


def content_hash(data: bytes) -> str:
    """128-bit BLAKE2b of ``data``, as hex."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def parts_hash(*parts: str) -> str:
    """A hash of several texts that keeps them apart (``("ab", "c") != ("a", "bc")``)."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()
