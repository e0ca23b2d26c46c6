"""The embedding contract shared by memory (which stores and searches vectors) and
inference (which can supply them from a GGUF model).

Vectors are float32, L2-normalised rows, so cosine similarity is a dot product. An
embedder's ``fingerprint`` changes whenever its vectors would: a different model, a
retrained vocabulary, another dimension. Memory re-embeds when it changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Human-readable model name, e.g. ``workspace-ppmi-svd`` or a GGUF file name."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str:
        """Stable id of the vector space; equal fingerprints give comparable vectors."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """One normalised row per text (shape ``(len(texts), dim)``)."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """One normalised vector (shape ``(dim,)``) for a search query."""
        ...


class EmbedderWrapper:
    """An embedder forwarding to ``inner``: a subclass changes how texts become vectors
    (centring, caching, timing) and keeps the model's name, dimension and fingerprint."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


def normalise_rows(matrix: npt.NDArray[np.floating]) -> Vectors:
    """L2-normalise each row; all-zero rows stay zero."""
    out: Vectors = np.array(matrix, dtype=np.float32)
    if out.ndim == 1:
        norm = np.float32(np.linalg.norm(out))
        if norm > 0:
            out /= norm
        return out
    norms = np.linalg.norm(out, axis=1, keepdims=True).astype(np.float32)
    norms[norms == 0] = 1.0
    out /= norms
    return out
