"""The workspace embedding: PPMI + SVD word vectors trained on the workspace's chunks."""

from __future__ import annotations

import io
import random
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from hexad.core.embedding import Embedder
from hexad.memory import embedding
from hexad.memory.embedding import WorkspaceEmbedder
from hexad.memory.tokens import words

# Two topics. Code words are shared between docstrings and identifiers; the prose words
# ("deserialise", "transmit", ...) appear only in docstrings, so matching a query made of
# them against code without docstrings needs what co-occurrence taught the vectors.
TOPICS = {
    "json": {
        "code": "json loads dumps decode encode schema field key value parse payload".split(),
        "prose": [
            "Deserialise the stored document from disk.",
            "Serialise the record so it can be saved as a document.",
            "Validate the document against its schema before saving.",
            "Read a stored document and deserialise every record.",
        ],
    },
    "http": {
        "code": "http request response url header status socket connect timeout retry".split(),
        "prose": [
            "Transmit the message to the remote server over the network.",
            "Contact the remote server and wait for its answer.",
            "Retry the transmission when the network drops the connection.",
            "Transmit the message and report the server's answer.",
        ],
    },
}


def make_chunk(rng: random.Random, topic: str, *, doc: bool = True) -> str:
    code = TOPICS[topic]["code"]
    name = "_".join(rng.sample(code, 2))
    args = ", ".join(rng.sample(code, 2))
    body = "\n".join(
        f"    {rng.choice(code)} = {rng.choice(code)}.{rng.choice(code)}({rng.choice(code)})"
        for _ in range(4)
    )
    docstring = f'    """{rng.choice(TOPICS[topic]["prose"])}"""\n' if doc else ""
    return f"def {name}({args}):\n{docstring}{body}\n"


def corpus(seed: int = 0, per_topic: int = 60) -> list[str]:
    rng = random.Random(seed)
    return [make_chunk(rng, topic) for _ in range(per_topic) for topic in TOPICS]


@pytest.fixture(scope="module")
def trained() -> WorkspaceEmbedder:
    return WorkspaceEmbedder.train(corpus(), dim=16)


def test_satisfies_the_embedder_protocol(trained: WorkspaceEmbedder) -> None:
    assert isinstance(trained, Embedder)
    assert trained.name == "workspace-ppmi-svd"
    assert trained.fingerprint.startswith("workspace-ppmi-svd:")
    assert trained.dim == 16
    assert trained.trained_on == 120
    assert trained.vocabulary_size == len(
        {w for w, n in Counter(w for t in corpus() for w in words(t)).items() if n >= 2}
    )


def test_shapes_dtype_and_normalisation(trained: WorkspaceEmbedder) -> None:
    texts = ["parse the json payload", "http request with a timeout", "zzz qqq unknownword"]
    vectors = trained.embed_documents(texts)
    assert vectors.shape == (3, 16)
    assert vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[:2], 1.0, atol=1e-5)
    assert norms[2] == 0.0  # no known word: the zero vector
    query = trained.embed_query("parse the json payload")
    assert query.shape == (16,)
    assert query.dtype == np.float32
    np.testing.assert_allclose(query, vectors[0], atol=1e-6)
    assert trained.embed_documents([]).shape == (0, 16)


def test_related_texts_rank_first_on_shared_code_words(trained: WorkspaceEmbedder) -> None:
    rng = random.Random(7)
    docs = [make_chunk(rng, "json", doc=False) for _ in range(10)]
    docs += [make_chunk(rng, "http", doc=False) for _ in range(10)]
    vectors = trained.embed_documents(docs)
    for query, first in (
        ("decode the json payload", range(10)),
        ("send an http request", range(10, 20)),
    ):
        scores = vectors @ trained.embed_query(query)
        assert set(np.argsort(-scores)[:10].tolist()) == set(first)


def test_docstring_words_find_code_that_lacks_them(trained: WorkspaceEmbedder) -> None:
    """The query's words occur only in docstrings; the candidates have none."""
    rng = random.Random(11)
    json_docs = [make_chunk(rng, "json", doc=False) for _ in range(10)]
    http_docs = [make_chunk(rng, "http", doc=False) for _ in range(10)]
    vectors = trained.embed_documents(json_docs + http_docs)
    for query, expected in (
        ("deserialise the stored document", "json"),
        ("transmit a message over the network", "http"),
    ):
        assert not set(words(query)) & {w for t in json_docs + http_docs for w in words(t)}
        scores = vectors @ trained.embed_query(query)
        json_mean, http_mean = scores[:10].mean(), scores[10:].mean()
        related, unrelated = (
            (json_mean, http_mean) if expected == "json" else (http_mean, json_mean)
        )
        assert related > unrelated + 0.2
        top = np.argsort(-scores)[:5]
        assert all((i < 10) == (expected == "json") for i in top)


def test_words_of_one_topic_are_neighbours(trained: WorkspaceEmbedder) -> None:
    def sim(a: str, b: str) -> float:
        va, vb = trained.word_vector(a), trained.word_vector(b)
        assert va is not None and vb is not None
        return float(va @ vb)

    assert sim("json", "schema") > sim("json", "socket") + 0.3
    assert sim("http", "header") > sim("http", "dump") + 0.3
    assert trained.word_vector("nonexistent") is None


def test_same_seed_gives_identical_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "DENSE_SVD_MAX", 0)  # the randomized path
    texts = corpus(seed=3)
    a = WorkspaceEmbedder.train(texts, dim=8, seed=5)
    b = WorkspaceEmbedder.train(texts, dim=8, seed=5)
    assert a.fingerprint == b.fingerprint
    probe = ["json schema", "http timeout retry", *texts[:5]]
    assert np.array_equal(a.embed_documents(probe), b.embed_documents(probe))


def test_randomized_svd_matches_the_exact_one() -> None:
    rng = np.random.default_rng(0)
    left, right = rng.standard_normal((300, 12)), rng.standard_normal((12, 300))
    scale = np.diag(2.0 ** -np.arange(12))
    dense = left @ scale @ right + 1e-3 * rng.standard_normal((300, 300))
    matrix = sp.csr_matrix(dense.astype(np.float32))
    u, s = embedding._randomized_svd(matrix, 8, np.random.default_rng(1))
    exact_u, exact_s, _ = np.linalg.svd(dense)
    np.testing.assert_allclose(s, exact_s[:8], rtol=1e-3)
    # the same subspace: each exact singular vector lies in the span of the computed ones
    np.testing.assert_allclose(np.linalg.norm(u.T @ exact_u[:, :8], axis=0), 1.0, atol=1e-3)
    np.testing.assert_allclose(u.T @ u, np.eye(8), atol=1e-6)


def test_persistence_round_trips_exactly(trained: WorkspaceEmbedder) -> None:
    restored = WorkspaceEmbedder.from_bytes(trained.to_bytes())
    assert restored.fingerprint == trained.fingerprint
    assert restored.dim == trained.dim
    assert restored.vocabulary_size == trained.vocabulary_size
    assert restored.trained_on == trained.trained_on
    probe = ["deserialise the document", "http request", *corpus(seed=9, per_topic=3)]
    assert np.array_equal(restored.embed_documents(probe), trained.embed_documents(probe))


def test_unknown_format_is_refused(trained: WorkspaceEmbedder) -> None:
    archive = np.load(io.BytesIO(trained.to_bytes()), allow_pickle=False)
    fields = {name: archive[name] for name in archive.files}
    fields["format"] = np.array(99)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **fields)
    with pytest.raises(ValueError, match="format 99"):
        WorkspaceEmbedder.from_bytes(buffer.getvalue())


def test_drift(trained: WorkspaceEmbedder) -> None:
    assert trained.drift(corpus()) == 0.0  # every word there is seen at least twice
    assert trained.drift([]) == 0.0
    assert trained.drift(["quantum chromodynamics gluon lattice hadron"]) == 1.0
    half = trained.drift(["json schema quantum gluon"])
    assert half == pytest.approx(0.5)


def test_fingerprint_changes_when_retrained_on_another_corpus(
    trained: WorkspaceEmbedder,
) -> None:
    other = WorkspaceEmbedder.train(corpus(seed=1), dim=16)
    assert other.fingerprint != trained.fingerprint
    again = WorkspaceEmbedder.train(corpus(), dim=16)
    assert again.fingerprint == trained.fingerprint


@pytest.mark.parametrize(
    "texts",
    [
        [],
        [""],
        ["def parse_json(path): return json.loads(path)"],  # one text, one repeated word
        ["self", "a b c", "if x: pass"],  # stop words and short words only
    ],
)
def test_degenerate_corpora_train_and_embed(texts: list[str]) -> None:
    model = WorkspaceEmbedder.train(texts, dim=64)
    assert 1 <= model.dim <= max(1, model.vocabulary_size)
    assert model.trained_on == len(texts)
    vectors = model.embed_documents(["parse json", "nothing known here"])
    assert vectors.shape == (2, model.dim)
    assert np.all(np.isfinite(vectors))
    norms = np.linalg.norm(vectors, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))
    restored = WorkspaceEmbedder.from_bytes(model.to_bytes())
    assert restored.fingerprint == model.fingerprint


def test_dim_shrinks_to_the_vocabulary() -> None:
    texts = ["alpha beta gamma delta", "alpha beta gamma delta epsilon epsilon"]
    model = WorkspaceEmbedder.train(texts, dim=128)
    assert model.vocabulary_size == 5
    assert model.dim == 5
    vectors = model.embed_documents(["alpha gamma", "beta delta"])
    assert vectors.shape == (2, 5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_max_vocab_keeps_the_most_frequent_words() -> None:
    texts = ["common common common rare rare middle middle middle"] * 2
    model = WorkspaceEmbedder.train(texts, max_vocab=2, dim=2)
    assert model.vocabulary_size == 2
    assert model.word_vector("common") is not None
    assert model.word_vector("middl") is not None  # stemmed
    assert model.word_vector("rare") is None


def test_invalid_parameters_are_refused() -> None:
    for bad in ({"dim": 0}, {"window": 0}, {"min_count": 0}, {"max_vocab": 0}):
        with pytest.raises(ValueError):
            WorkspaceEmbedder.train(corpus(), **bad)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("aZbY_09 .\n(é)xHTTPServer"), max_size=40)))
def test_tokenising_by_runs_matches_tokens_words(texts: list[str]) -> None:
    """The training shortcut (tokenise each identifier run once) changes no word."""
    index = {word: i for i, word in enumerate(sorted({w for t in texts for w in words(t)}))}
    ids, offsets = embedding._Corpus(texts).ids(index)
    vocabulary = list(index)
    for i, text in enumerate(texts):
        assert [vocabulary[j] for j in ids[offsets[i] : offsets[i + 1]]] == words(text)
    assert embedding._Corpus(texts).word_counts() == Counter(w for t in texts for w in words(t))
