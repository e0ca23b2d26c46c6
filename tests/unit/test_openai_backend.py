"""The OpenAI-compatible backend against a scripted server (``httpx.MockTransport``)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from hexad.core.settings import ModelSettings
from hexad.inference.base import (
    CancelToken,
    ChatMessage,
    GenerationRequest,
    InferenceError,
    TokenLogprob,
)
from hexad.inference.openai import OpenAIBackend

BASE = "http://models.test/v1"
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
Handler = Callable[[httpx.Request], httpx.Response]


# --- a scripted server ----------------------------------------------------------------------


class Events(httpx.SyncByteStream):
    """A response body that records how much of it was read and whether it was closed."""

    def __init__(self, parts: list[bytes], fail_after: int | None = None) -> None:
        self.parts = parts
        self.fail_after = fail_after
        self.sent = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            if self.fail_after is not None and self.sent == self.fail_after:
                raise httpx.ReadError("connection reset by peer")
            self.sent += 1
            yield part

    def close(self) -> None:
        self.closed = True


def event(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def chat_chunk(
    text: str | None = None,
    *,
    finish: str | None = None,
    logprob: float | None = None,
    top: dict[str, float] | None = None,
) -> bytes:
    delta = {} if text is None else {"content": text}
    logprobs = None
    if logprob is not None:
        alternatives = [{"token": t, "logprob": v} for t, v in (top or {}).items()]
        logprobs = {"content": [{"token": text, "logprob": logprob, "top_logprobs": alternatives}]}
    choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
    return event({"object": "chat.completion.chunk", "model": "remote-x", "choices": [choice]})


def text_chunk(
    text: str, *, finish: str | None = None, logprob: float | None = None, top: Any = None
) -> bytes:
    logprobs = None
    if logprob is not None:
        logprobs = {"tokens": [text], "token_logprobs": [logprob], "top_logprobs": [top]}
    choice = {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}
    return event({"object": "text_completion", "choices": [choice]})


def usage_chunk(prompt: int, completion: int) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return event({"object": "chat.completion.chunk", "choices": [], "usage": usage})


# the event streams of responses, by id(response); the response is kept so its id is not reused
BODIES: dict[int, tuple[httpx.Response, Events]] = {}


def stream(*parts: bytes, fail_after: int | None = None) -> httpx.Response:
    events = Events(list(parts), fail_after)
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=events)
    BODIES[id(response)] = (response, events)
    return response


def chat_stream(*pieces: str, finish: str = "stop") -> httpx.Response:
    return stream(
        chat_chunk(None), *(chat_chunk(p) for p in pieces), chat_chunk(finish=finish), DONE
    )


def error(status: int, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message}}, headers=headers)


def copy(response: httpx.Response) -> httpx.Response:
    """A new response like ``response``, which the client has read already."""
    if id(response) in BODIES:
        _, events = BODIES[id(response)]
        return stream(*events.parts, fail_after=events.fail_after)
    return httpx.Response(response.status_code, headers=response.headers, content=response.content)


class Server:
    """Answers by path: each path has a queue of responses (the last one repeats) or a
    function of the request. Every request is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, list[httpx.Response | Exception] | Handler] = {}
        self.requests: list[httpx.Request] = []
        self.served: set[int] = set()

    def on(self, path: str, *answers: httpx.Response | Exception | Handler) -> None:
        if len(answers) == 1 and callable(answers[0]) and not isinstance(answers[0], Exception):
            self.routes[path] = answers[0]
        else:
            self.routes[path] = [a for a in answers if not callable(a) or isinstance(a, Exception)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get(request.url.path)
        if route is None:
            return httpx.Response(404, json={"detail": "Not Found"})
        if callable(route):
            return route(request)
        answer = route.pop(0) if len(route) > 1 else route[0]
        if isinstance(answer, Exception):
            raise answer
        if id(answer) in self.served:  # the last answer repeats: a fresh copy of it
            return copy(answer)
        self.served.add(id(answer))
        return answer

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_backend(
    server: Server, sleeps: list[float] | None = None, **settings: Any
) -> OpenAIBackend:
    settings.setdefault("url", BASE)
    model = ModelSettings(**settings)
    record = sleeps if sleeps is not None else []
    return OpenAIBackend(
        {"m": model, "local": ModelSettings(path="/models/x.gguf")},
        transport=httpx.MockTransport(server),
        sleep=record.append,
    )


def chat(text: str = "Say hello.", **kwargs: Any) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), **kwargs)


# --- streaming, logprobs and counts --------------------------------------------------------


def test_chat_stream_with_usage_and_logprobs(server: Server) -> None:
    server.on(
        "/v1/chat/completions",
        stream(
            chat_chunk(None),
            chat_chunk("Hel", logprob=-0.5, top={"Hi": -1.5, "Hel": -0.5, "Yo": -3.0}),
            b": ping - keep-alive\n\n",
            chat_chunk("lo", logprob=-0.25, top={"lo": -0.25}),
            chat_chunk(finish="stop"),
            usage_chunk(17, 2),
            DONE,
        ),
    )
    progress: list[tuple[int, str]] = []
    backend = make_backend(server, remote_name="served-name")
    request = chat(max_tokens=7, top_logprobs=2, stop=("\n",), seed=3, temperature=0.2)
    result = backend.generate("m", request, on_progress=lambda n, t: progress.append((n, t)))

    assert (result.text, result.finish_reason) == ("Hello", "stop")
    assert (result.prompt_tokens, result.completion_tokens) == (17, 2)
    assert result.extra["prompt_tokens_source"] == "usage"
    assert result.extra["completion_tokens_source"] == "usage"
    assert result.extra["remote_model"] == "remote-x"
    assert "logprobs" not in result.extra
    assert result.logprobs == (
        TokenLogprob("Hel", -0.5, (("Hel", -0.5), ("Hi", -1.5))),  # best first, top 2
        TokenLogprob("lo", -0.25, (("lo", -0.25),)),
    )
    assert progress == [(1, "Hel"), (2, "Hello")]
    assert result.first_token_seconds is not None
    assert 0 <= result.first_token_seconds <= result.seconds
    assert (result.model, result.backend) == ("m", "openai")

    (body,) = server.bodies("/v1/chat/completions")
    assert body == {
        "model": "served-name",
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 7,
        "temperature": 0.2,
        "top_p": 1.0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "logprobs": True,
        "top_logprobs": 2,
        "seed": 3,
        "stop": ["\n"],
    }
    assert not server.bodies("/tokenize")  # usage made counting unnecessary


def test_completion_stream_counts_without_usage(server: Server) -> None:
    server.on("/tokenize", httpx.Response(404))
    server.on("/extras/tokenize/count", httpx.Response(200, json={"count": 6}))
    server.on(
        "/v1/completions",
        stream(
            text_chunk(" Paris", logprob=-0.1, top={" Paris": -0.1, " Lyon": -2.5}),
            # one event whose data spans two lines, then a token the server sent no top for
            b'data: {"choices": [{"index": 0, "text": ".",\ndata:  "logprobs": {"tokens": ["."],'
            b' "token_logprobs": [-0.2], "top_logprobs": [null]}, "finish_reason": null}]}\n\n',
            text_chunk("", finish="length"),
            DONE,
        ),
    )
    backend = make_backend(server)
    request = GenerationRequest(prompt="The capital of France is", max_tokens=2, top_logprobs=1)
    result = backend.generate("m", request)

    assert (result.text, result.finish_reason) == (" Paris.", "length")
    assert (result.prompt_tokens, result.completion_tokens) == (6, 2)
    assert result.extra["prompt_tokens_source"] == "tokenizer"
    assert result.extra["completion_tokens_source"] == "logprobs"
    assert result.logprobs == (
        TokenLogprob(" Paris", -0.1, ((" Paris", -0.1),)),
        TokenLogprob(".", -0.2, ()),
    )
    (body,) = server.bodies("/v1/completions")
    assert body["prompt"] == "The capital of France is"
    assert body["logprobs"] == 1  # the completions API takes a number
    assert "messages" not in body and "top_logprobs" not in body
    # the tokenizer endpoint was found once and is remembered
    assert backend.count_tokens("m", request) == 6
    assert len(server.bodies("/tokenize")) == 1


def test_missing_logprobs_are_reported_not_invented(server: Server) -> None:
    server.on("/v1/chat/completions", chat_stream("a", "b", "c"))
    result = make_backend(server).generate("m", chat())
    assert result.text == "abc"
    assert result.logprobs == ()
    assert result.logprob_stats() == {}
    assert result.extra["logprobs"] == "unavailable"
    assert result.completion_tokens == 3
    assert result.extra["completion_tokens_source"] == "chunks"


def test_a_missing_logprob_value_is_nan(server: Server) -> None:
    null_logprob = {
        "index": 0,
        "delta": {"content": "y"},
        "logprobs": {"content": [{"token": "y", "logprob": None}]},
        "finish_reason": "stop",
    }
    server.on(
        "/v1/chat/completions",
        stream(chat_chunk("x", logprob=-1.0), event({"choices": [null_logprob]}), DONE),
    )
    result = make_backend(server).generate("m", chat())
    assert [t.token for t in result.logprobs] == ["x", "y"]
    assert math.isnan(result.logprobs[1].logprob)
    assert result.logprob_stats()["tokens"] == 1.0  # NaN is left out of the statistics


def test_a_server_that_does_not_stream_is_understood(server: Server) -> None:
    answer = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 1},
    }
    server.on("/v1/chat/completions", httpx.Response(200, json=answer))
    result = make_backend(server).generate("m", chat())
    assert (result.text, result.finish_reason, result.total_tokens) == ("hi", "stop", 5)


def test_other_finish_reasons_are_kept_in_extra(server: Server) -> None:
    server.on("/v1/chat/completions", chat_stream("no", finish="content_filter"))
    result = make_backend(server).generate("m", chat())
    assert result.finish_reason == "stop"
    assert result.extra["server_finish_reason"] == "content_filter"


# --- retries and failures --------------------------------------------------------------------


def test_retry_on_503_then_success(server: Server, sleeps: list[float]) -> None:
    server.on("/v1/chat/completions", error(503, "loading model"), chat_stream("ok"))
    result = make_backend(server, sleeps).generate("m", chat())
    assert result.text == "ok"
    assert result.extra["retries"] == 1
    assert len(server.bodies("/v1/chat/completions")) == 2
    (delay,) = sleeps
    assert 0.25 <= delay <= 0.5  # the first backoff step, with jitter


def test_connection_errors_are_retried(server: Server, sleeps: list[float]) -> None:
    server.on(
        "/v1/chat/completions",
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
        chat_stream("ok"),
    )
    result = make_backend(server, sleeps, retries=2).generate("m", chat())
    assert result.text == "ok"
    assert result.extra["retries"] == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # exponential


def test_retry_after_is_honoured(server: Server, sleeps: list[float]) -> None:
    server.on(
        "/v1/chat/completions",
        error(429, "slow down", **{"Retry-After": "2"}),
        error(503, "busy", **{"Retry-After": "0.5"}),
        error(503, "busy", **{"Retry-After": "Fri, 31 Dec 2999 23:59:59 GMT"}),
        chat_stream("ok"),
    )
    result = make_backend(server, sleeps, retries=3).generate("m", chat())
    assert result.text == "ok"
    assert sleeps == [2.0, 0.5, 60.0]  # a date far away is capped at a minute


def test_retries_run_out_with_one_clear_sentence(server: Server, sleeps: list[float]) -> None:
    server.on("/v1/chat/completions", error(502, "bad gateway\n  upstream down"))
    with pytest.raises(InferenceError) as caught:
        make_backend(server, sleeps, retries=2).generate("m", chat())
    message = str(caught.value)
    assert message == (
        f"{BASE}/chat/completions failed 3 times, retried with backoff; "
        "the last failure: HTTP 502: bad gateway upstream down."
    )
    assert len(server.requests) == 3
    assert len(sleeps) == 2


def test_no_retries_when_turned_off(server: Server, sleeps: list[float]) -> None:
    server.on("/v1/chat/completions", error(500, "boom"))
    with pytest.raises(InferenceError, match=r"failed \(retries are off\): HTTP 500: boom\.$"):
        make_backend(server, sleeps, retries=0).generate("m", chat())
    assert sleeps == []


def test_a_400_is_not_retried(server: Server, sleeps: list[float]) -> None:
    server.on("/v1/chat/completions", error(400, "the prompt is longer than the context"))
    with pytest.raises(InferenceError) as caught:
        make_backend(server, sleeps).generate("m", chat())
    assert str(caught.value) == (
        f"{BASE}/chat/completions rejected the request "
        "(HTTP 400: the prompt is longer than the context)."
    )
    assert len(server.requests) == 1
    assert sleeps == []


def test_a_fastapi_error_body_is_read(server: Server) -> None:
    server.on("/v1/chat/completions", httpx.Response(404, json={"detail": "Not Found"}))
    with pytest.raises(InferenceError, match=r"HTTP 404: Not Found"):
        make_backend(server).generate("m", chat())


def test_a_read_timeout_fails_at_once(server: Server, sleeps: list[float]) -> None:
    server.on("/v1/chat/completions", httpx.ReadTimeout("timed out"))
    with pytest.raises(InferenceError, match=r"did not answer within 5 s"):
        make_backend(server, sleeps, timeout_s=5).generate("m", chat())
    assert len(server.requests) == 1
    assert sleeps == []


def test_timeouts_come_from_settings(server: Server) -> None:
    server.on("/v1/chat/completions", chat_stream("ok"))
    make_backend(server, timeout_s=30).generate("m", chat())
    timeout = server.requests[0].extensions["timeout"]
    assert timeout == {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}


def test_a_connect_timeout_is_retried(server: Server, sleeps: list[float]) -> None:
    server.on("/v1/chat/completions", httpx.ConnectTimeout("no route"))
    with pytest.raises(InferenceError, match=r"failed 2 times.*no connection within 2 s"):
        make_backend(server, sleeps, retries=1, timeout_s=2).generate("m", chat())


def test_no_retry_once_tokens_streamed(server: Server, sleeps: list[float]) -> None:
    server.on(
        "/v1/chat/completions",
        stream(chat_chunk("a"), chat_chunk("b"), chat_chunk("c"), DONE, fail_after=2),
    )
    with pytest.raises(InferenceError, match=r"broke off the answer after 2 tokens"):
        make_backend(server, sleeps).generate("m", chat())
    assert len(server.requests) == 1
    assert sleeps == []


def test_a_failure_before_the_first_token_is_retried(server: Server, sleeps: list[float]) -> None:
    server.on(
        "/v1/chat/completions",
        stream(chat_chunk(None), chat_chunk("late"), fail_after=1),
        chat_stream("ok"),
    )
    result = make_backend(server, sleeps).generate("m", chat())
    assert result.text == "ok"
    assert result.completion_tokens == 1  # nothing of the failed attempt is counted


@pytest.mark.parametrize("done", [b"", DONE], ids=["no-done", "bare-done"])
def test_a_stream_that_ends_unfinished_is_an_error(server: Server, done: bytes) -> None:
    server.on("/v1/chat/completions", stream(chat_chunk("half"), done))
    with pytest.raises(InferenceError, match=r"ended the answer after 1 tokens without finishing"):
        make_backend(server).generate("m", chat())


def test_an_error_event_is_an_error(server: Server) -> None:
    server.on("/v1/chat/completions", stream(event({"error": {"message": "out of memory"}})))
    with pytest.raises(InferenceError, match=r"reported an error while answering: out of memory"):
        make_backend(server).generate("m", chat())


# --- cancellation and budgets ------------------------------------------------------------


def test_cancel_mid_stream_closes_it_and_keeps_the_text(server: Server) -> None:
    body = Events([chat_chunk(f"t{i} ") for i in range(10)] + [chat_chunk(finish="stop"), DONE])
    server.on(
        "/v1/chat/completions",
        httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body),
    )
    server.on("/extras/tokenize/count", httpx.Response(200, json={"count": 3}))
    cancel = CancelToken()

    def progress(tokens: int, text: str) -> None:
        if tokens == 3:
            cancel.cancel()

    result = make_backend(server).generate("m", chat(), cancel=cancel, on_progress=progress)
    assert (result.text, result.finish_reason) == ("t0 t1 t2 ", "cancelled")
    assert result.completion_tokens == 3
    assert body.closed
    assert body.sent < 6  # the rest of the stream was never read


def test_cancelled_before_the_call_sends_nothing_to_generate(server: Server) -> None:
    cancel = CancelToken()
    cancel.cancel()
    result = make_backend(server).generate("m", chat(), cancel=cancel)
    assert (result.text, result.finish_reason, result.completion_tokens) == ("", "cancelled", 0)
    assert not server.bodies("/v1/chat/completions")


def test_cancelled_while_waiting_to_retry(server: Server) -> None:
    server.on("/v1/chat/completions", error(503, "busy"))
    cancel = CancelToken()
    backend = OpenAIBackend(
        {"m": ModelSettings(url=BASE)},
        transport=httpx.MockTransport(server),
        sleep=lambda _: cancel.cancel(),
    )
    result = backend.generate("m", chat(), cancel=cancel)
    assert result.finish_reason == "cancelled"
    assert len(server.bodies("/v1/chat/completions")) == 1


def test_the_budget_caps_max_tokens(server: Server) -> None:
    server.on("/extras/tokenize/count", httpx.Response(200, json={"count": 10}))
    server.on(
        "/v1/completions",
        stream(*(text_chunk(w) for w in "abcd"), text_chunk("", finish="length"), DONE),
    )
    backend = make_backend(server)
    request = GenerationRequest(prompt="ten tokens", max_tokens=50)
    result = backend.generate("m", request, max_total_tokens=14)
    assert server.bodies("/v1/completions")[0]["max_tokens"] == 4
    assert (result.text, result.finish_reason) == ("abcd", "budget")
    assert (result.prompt_tokens, result.completion_tokens) == (10, 4)
    assert result.total_tokens == 14
    # the request's own limit, when it is the smaller one, ends in "length"
    result = backend.generate("m", replace_max(request, 3), max_total_tokens=14)
    assert server.bodies("/v1/completions")[1]["max_tokens"] == 3
    assert result.finish_reason == "length"


def replace_max(request: GenerationRequest, max_tokens: int) -> GenerationRequest:
    return GenerationRequest(prompt=request.prompt, max_tokens=max_tokens)


def test_the_budget_stops_a_server_that_ignores_max_tokens(server: Server) -> None:
    server.on("/extras/tokenize/count", httpx.Response(200, json={"count": 10}))
    server.on("/v1/completions", stream(*(text_chunk(w) for w in "abcdefgh"), DONE))
    result = make_backend(server).generate(
        "m", GenerationRequest(prompt="p", max_tokens=50), max_total_tokens=14
    )
    assert (result.text, result.finish_reason, result.completion_tokens) == ("abcd", "budget", 4)


def test_a_prompt_over_the_budget_is_not_sent(server: Server) -> None:
    server.on("/extras/tokenize/count", httpx.Response(200, json={"count": 10}))
    result = make_backend(server).generate("m", GenerationRequest(prompt="p"), max_total_tokens=10)
    assert (result.text, result.finish_reason, result.completion_tokens) == ("", "budget", 0)
    assert result.prompt_tokens == 10
    assert not server.bodies("/v1/completions")


# --- features the server may lack -----------------------------------------------------------


@pytest.mark.parametrize(
    "rejection",
    [
        error(400, "unknown response_format type"),
        error(422, "validation error"),
        # llama-cpp-python: an invalid field is an internal server error naming it
        error(500, "Input should be 'text' or 'json_object' ('body', 'response_format', 'type')"),
    ],
    ids=["400", "422", "500-naming-the-field"],
)
def test_response_format_falls_back_and_is_remembered(
    server: Server, sleeps: list[float], rejection: httpx.Response
) -> None:
    answer = '{"name": "Ada", "age": 36}'
    server.on("/v1/chat/completions", rejection, chat_stream(answer), chat_stream(answer))
    backend = make_backend(server, sleeps)
    request = chat("A person as JSON", json_schema=SCHEMA)
    result = backend.generate("m", request)
    assert result.parsed == {"name": "Ada", "age": 36}
    assert result.json() == {"name": "Ada", "age": 36}
    assert result.extra["response_format"] == "json_object"
    assert "json_error" not in result.extra
    first, second = server.bodies("/v1/chat/completions")
    assert first["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SCHEMA},
    }
    assert second["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert sleeps == []  # a fallback is not a retry

    backend.generate("m", request)
    third = server.bodies("/v1/chat/completions")[2]
    assert third["response_format"]["type"] == "json_object"


def test_both_response_formats_rejected(server: Server) -> None:
    server.on("/v1/chat/completions", error(400, "no structured output here"))
    with pytest.raises(InferenceError) as caught:
        make_backend(server).generate("m", chat(json_schema=SCHEMA))
    assert "HTTP 400: no structured output here" in str(caught.value)
    assert "response_format tried: json_schema, json_object" in str(caught.value)
    assert len(server.requests) == 2


def test_output_that_is_not_json_is_reported(server: Server) -> None:
    server.on("/v1/chat/completions", chat_stream('{"name": "Ada"', finish="length"))
    result = make_backend(server).generate("m", chat(json_schema=SCHEMA))
    assert result.parsed is None
    assert result.extra["json_error"].startswith("the output is not valid JSON")
    assert result.extra["json_error"].endswith("cut by max_tokens")


def test_output_that_breaks_the_schema_is_reported(server: Server) -> None:
    server.on("/v1/chat/completions", chat_stream('{"name": "Ada"}'))
    result = make_backend(server).generate("m", chat(json_schema=SCHEMA))
    assert result.parsed is None
    assert result.extra["json_error"] == "the output does not match the schema: $ lacks 'age'"


def test_rejected_logprobs_are_left_out_and_remembered(server: Server) -> None:
    server.on(
        "/v1/chat/completions",
        error(400, "top_logprobs is not supported by this model"),
        chat_stream("ok"),
    )
    backend = make_backend(server)
    result = backend.generate("m", chat(top_logprobs=3))
    assert result.text == "ok"
    assert result.extra["logprobs"] == "unavailable"
    first, second = server.bodies("/v1/chat/completions")
    assert first["logprobs"] is True
    assert "logprobs" not in second and "top_logprobs" not in second
    backend.generate("m", chat())
    assert "logprobs" not in server.bodies("/v1/chat/completions")[2]


def test_an_empty_stream_is_retried_without_logprobs(server: Server) -> None:
    # llama-cpp-python started without logits_all answers 200 and then nothing at all
    server.on(
        "/v1/completions",
        stream(),
        stream(text_chunk("x"), text_chunk("", finish="stop"), DONE),
    )
    server.on("/extras/tokenize/count", httpx.Response(200, json={"count": 2}))
    result = make_backend(server).generate("m", GenerationRequest(prompt="p"))
    assert result.text == "x"
    assert result.extra["logprobs"] == "unavailable"


def test_rejected_stream_options_are_left_out(server: Server) -> None:
    server.on(
        "/v1/chat/completions",
        error(400, "Unrecognized request argument supplied: stream_options"),
        chat_stream("ok"),
    )
    server.on("/extras/tokenize/count", httpx.Response(200, json={"count": 2}))
    result = make_backend(server).generate("m", chat())
    assert result.text == "ok"
    assert "stream_options" not in server.bodies("/v1/chat/completions")[1]


# --- token counts ------------------------------------------------------------------------


def test_vllm_counts_chat_messages(server: Server) -> None:
    server.on("/tokenize", httpx.Response(200, json={"count": 21, "tokens": [1] * 21}))
    backend = make_backend(server)
    assert backend.count_tokens("m", chat("hello there")) == 21
    probe, count = server.bodies("/tokenize")
    assert "prompt" in probe
    assert count == {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}


def test_llama_cpp_server_counts_through_its_template(server: Server) -> None:
    def tokenize(request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["content"]
        return httpx.Response(200, json={"tokens": list(range(len(text.split())))})

    server.on("/tokenize", tokenize)
    server.on("/apply-template", httpx.Response(200, json={"prompt": "<user> a b c <model>"}))
    backend = make_backend(server)
    assert backend.count_tokens("m", chat("a b c")) == 5
    assert backend.count_tokens("m", GenerationRequest(prompt="one two")) == 2


def test_without_a_tokenizer_the_count_is_an_estimate(server: Server) -> None:
    server.on("/v1/completions", stream(text_chunk("x", finish="stop"), DONE))
    backend = make_backend(server)
    request = GenerationRequest(prompt="x" * 41)
    assert backend.count_tokens("m", request) == 11  # 41 / 4, rounded up
    result = backend.generate("m", request)
    assert result.prompt_tokens == 11
    assert result.extra["prompt_tokens_source"] == "estimate"
    # chat adds a guess at the template's markers
    assert backend.count_tokens("m", chat("x" * 8)) == 2 + 5 + 3


def test_llama_cpp_python_chat_counts_are_approximate(server: Server) -> None:
    server.on("/extras/tokenize/count", httpx.Response(200, json={"count": 4}))
    server.on("/v1/chat/completions", chat_stream("ok"))
    result = make_backend(server).generate("m", chat())
    assert result.prompt_tokens == 4 + 5 + 3
    assert result.extra["prompt_tokens_source"] == "approximate"


# --- the API key ---------------------------------------------------------------------------


def test_api_key_from_the_environment_never_logged(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-very-secret-value"
    monkeypatch.setenv("HEXAD_TEST_KEY", secret)
    server.on("/v1/chat/completions", error(503, "busy"), chat_stream("ok"))
    server.on("/v1/completions", error(401, "invalid api key"))
    backend = make_backend(server, api_key_env="HEXAD_TEST_KEY")
    with caplog.at_level(logging.DEBUG):
        backend.generate("m", chat())
        with pytest.raises(InferenceError) as caught:
            backend.generate("m", GenerationRequest(prompt="p"))
    assert all(r.headers["authorization"] == f"Bearer {secret}" for r in server.requests)
    assert caplog.records  # the retry and the request were logged ...
    assert secret not in caplog.text  # ... without the key
    assert secret not in str(caught.value)


def test_a_missing_api_key_is_a_clear_error(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEXAD_TEST_KEY", raising=False)
    with pytest.raises(InferenceError, match=r"environment variable HEXAD_TEST_KEY"):
        make_backend(server, api_key_env="HEXAD_TEST_KEY").generate("m", chat())
    assert not server.requests


def test_no_authorization_header_without_a_key(server: Server) -> None:
    server.on("/v1/chat/completions", chat_stream("ok"))
    make_backend(server).generate("m", chat())
    assert "authorization" not in server.requests[0].headers


# --- embeddings, models, lifecycle ---------------------------------------------------------


VECTORS = {"alpha": [3.0, 4.0], "gamma": [0.0, 2.0], "delta": [5.0, 0.0]}


def pooled_embeddings(request: httpx.Request) -> httpx.Response:
    inputs = json.loads(request.content)["input"]
    data = [{"index": i, "embedding": VECTORS[text]} for i, text in enumerate(inputs)]
    return httpx.Response(200, json={"data": data[::-1]})  # any order: "index" says which


def token_embeddings(request: httpx.Request) -> httpx.Response:
    (text,) = json.loads(request.content)["input"]
    x, y = VECTORS[text]
    return httpx.Response(200, json={"data": [{"index": 0, "embedding": [[x, 0.0], [x, 2 * y]]}]})


def test_embeddings_are_normalised_rows_in_order(server: Server) -> None:
    server.on("/v1/embeddings", pooled_embeddings)
    backend = make_backend(server)
    vectors = backend.embed("m", ["alpha", "  ", "gamma", "delta"])
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, [[0.6, 0.8], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0]], atol=1e-6)
    # the first request finds out the server pools; then texts go in batches
    assert [b["input"] for b in server.bodies("/v1/embeddings")] == [["alpha"], ["gamma", "delta"]]
    assert server.bodies("/v1/embeddings")[0]["model"] == "m"


def test_token_vectors_are_averaged_one_text_at_a_time(server: Server) -> None:
    server.on("/v1/embeddings", token_embeddings)
    vectors = make_backend(server).embed("m", ["alpha", "gamma", "delta"])
    np.testing.assert_allclose(vectors, [[0.6, 0.8], [0.0, 1.0], [1.0, 0.0]], atol=1e-6)
    assert [b["input"] for b in server.bodies("/v1/embeddings")] == [
        ["alpha"],
        ["gamma"],
        ["delta"],
    ]


def test_embeddings_retry_and_fail_clearly(server: Server, sleeps: list[float]) -> None:
    server.on("/v1/embeddings", error(500, "model must be created with embedding=True"))
    with pytest.raises(InferenceError, match=r"/v1/embeddings failed 3 times.*embedding=True"):
        make_backend(server, sleeps).embed("m", ["x"])


def test_no_texts_no_request(server: Server) -> None:
    assert make_backend(server).embed("m", []).shape == (0, 0)
    assert not server.requests


def test_a_model_without_a_url_is_not_served_here(server: Server) -> None:
    backend = make_backend(server)
    for model in ("local", "nowhere"):
        with pytest.raises(InferenceError, match=r"is not configured with a server url"):
            backend.generate(model, chat())


def test_a_bare_url_gets_v1_and_the_tokenizer_lives_at_the_root(server: Server) -> None:
    server.on("/v1/chat/completions", chat_stream("ok"))
    server.on("/extras/tokenize/count", httpx.Response(200, json={"count": 2}))
    make_backend(server, url="http://models.test:8080/").generate("m", chat())
    paths = [str(r.url) for r in server.requests]
    assert "http://models.test:8080/v1/chat/completions" in paths
    assert "http://models.test:8080/extras/tokenize/count" in paths


def test_close_and_use_again(server: Server) -> None:
    server.on("/v1/chat/completions", chat_stream("ok"))
    backend = make_backend(server)
    assert backend.name == "openai"
    backend.generate("m", chat())
    backend.close()
    backend.close()
    assert backend.generate("m", chat()).text == "ok"
