"""The HTTP backend: models served by an OpenAI-compatible server (llama.cpp's servers,
vLLM, Ollama, OpenAI itself).

``OpenAIBackend`` serves every model in settings that has a ``url`` (the base URL, ending
in ``/v1``; a bare ``http://host:port`` gets ``/v1`` added). The design:

* **Streaming always.** Messages go to ``/chat/completions``, a prompt to
  ``/completions``, both with ``stream=True`` (server-sent events), so ``on_progress``
  hears every chunk, ``first_token_seconds`` is measured, and a cancelled request closes
  the stream (the server stops generating when it sees the disconnect) and returns the
  text so far with ``finish_reason == "cancelled"``. Cancellation is noticed when the next
  event arrives (a token, or a keep-alive comment) and between retries.
* **Budgets.** With ``max_total_tokens`` the prompt is counted first; the server is asked
  for at most what the budget leaves (``"budget"`` when that cut it, ``"length"`` when
  ``request.max_tokens`` did). Counting chunks as they come stops a server that ignores
  ``max_tokens`` at the same place.
* **Token counts.** ``usage`` from the server when it sends one (``stream_options:
  include_usage``); otherwise the prompt is counted with the server's tokenizer and the
  completion by its tokens' log-probabilities (or chunks). Each model's tokenizer endpoint
  is found once: vLLM's ``/tokenize`` (prompt or messages), llama.cpp's ``/tokenize`` and
  ``/apply-template``, llama-cpp-python's ``/extras/tokenize/count`` (text only: chat
  templates are approximated). Without one, ``chars / 4`` is the estimate.
  ``extra["prompt_tokens_source"]`` says which: ``usage``, ``tokenizer``, ``approximate``
  (tokenizer plus a guessed chat template) or ``estimate``; ``extra
  ["completion_tokens_source"]`` is ``usage``, ``logprobs`` or ``chunks``.
* **Features the server may lack** are dropped on the server's word and remembered per
  model and endpoint: a JSON schema is sent in OpenAI's form (``json_schema``) and, when
  that is rejected, in llama.cpp's (``json_object`` with ``schema``); ``logprobs`` and
  ``stream_options`` are left out when an error names them. (llama-cpp-python answers an
  invalid field with HTTP 500, so a 5xx that names the field counts as a rejection.)
  Log-probabilities are always asked for; when none come, ``extra["logprobs"]`` is
  ``"unavailable"``.
* **JSON output** is parsed into ``parsed`` and checked against the schema; when it does
  not parse or match, ``extra["json_error"]`` says why. A server may ignore the schema
  without an error (llama-cpp-python's ``/v1/completions`` does), which the check shows.
* **Failures.** Connection errors, 429 and 5xx are retried ``retries`` times with
  exponential backoff and jitter (or the server's ``Retry-After``, capped at a minute),
  but only before any token streamed; other 4xx fail at once with the server's message;
  a read timeout (``timeout_s`` between two reads) fails at once, since waiting again
  would double what the settings allow. A stream that ends without a finish reason is a
  failure, not a short answer. Every failure is an ``InferenceError`` of one sentence.
  The bearer token is read from the ``api_key_env`` variable per request, never logged.
* **Embeddings** come from ``/embeddings`` as L2-normalised float32 rows; a server that
  sends one vector per token has them averaged (see ``embed``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
import numpy as np

from hexad.core.embedding import Vectors, normalise_rows
from hexad.core.settings import ModelSettings
from hexad.inference.base import (
    CancelToken,
    FinishReason,
    Generation,
    GenerationRequest,
    InferenceError,
    Progress,
    TokenLogprob,
)
from hexad.inference.schema import parse_json

log = logging.getLogger(__name__)

Endpoint = Literal["chat", "completion"]
_PATHS: dict[Endpoint, str] = {"chat": "/chat/completions", "completion": "/completions"}
_BACKOFF_BASE_S, _BACKOFF_MAX_S = 0.5, 8.0
_RETRY_AFTER_MAX_S = 60.0
_CONNECT_TIMEOUT_MAX_S = 10.0
_CHARS_PER_TOKEN = 4
_CHAT_TOKENS_PER_MESSAGE, _CHAT_TOKENS_PRIMING = 5, 3  # a chat template's markers, guessed
_MESSAGE_CHARS = 300  # of a server's error message, in an InferenceError
_EMBED_BATCH = 64
_PROBE_TEXT = "Hello, world"
_SCHEMA_NAME_CHARS = 64
_RESPONSE_FORMATS = ("json_schema", "json_object")  # OpenAI and vLLM; llama.cpp

Feature = Literal["response_format", "logprobs", "stream_options"]
Tokenizer = Literal["vllm", "llama.cpp", "llama-cpp-python", "none"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Model:
    name: str  # the name in settings
    remote: str  # the server's name for it
    base: str  # .../v1
    root: str  # the server root, where tokenizer endpoints live
    timeout_s: float
    retries: int
    api_key_env: str | None


@dataclass(frozen=True, slots=True)
class _Features:
    """What one request asks of the server beyond the basics."""

    response_format: str | None  # one of _RESPONSE_FORMATS, or None without a schema
    logprobs: bool
    stream_options: bool


@dataclass(frozen=True, slots=True)
class _Count:
    tokens: int
    source: Literal["usage", "tokenizer", "approximate", "estimate"]


class _Transient(Exception):
    """A failure worth retrying: no connection (``status`` None), 429, 5xx."""

    def __init__(
        self, what: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(what)
        self.status = status
        self.retry_after = retry_after


class _Rejected(Exception):
    """An HTTP error response that retrying will not change."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if message else f"HTTP {status}")
        self.status = status
        self.message = message


class _Unsupported(Exception):
    """The server rejected a feature of the request; the caller drops or changes it."""

    def __init__(self, feature: Feature) -> None:
        super().__init__(feature)
        self.feature = feature


@dataclass
class _Stream:
    """What the events of one generation add up to."""

    text: str = ""
    tokens: int = 0  # completion tokens counted client-side
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish: str | None = None
    usage: dict[str, Any] | None = None
    remote_model: str | None = None
    started: float = field(default_factory=time.perf_counter)  # when generate was called
    first_token_at: float | None = None  # seconds after ``started``
    saw_logprobs: bool = False


class OpenAIBackend:
    """Every model with a ``url`` in ``models``, reached over HTTP."""

    def __init__(
        self,
        models: Mapping[str, ModelSettings],
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._models = {name: _model(name, s) for name, s in models.items() if s.url is not None}
        self._transport = transport
        self._client: httpx.Client | None = None  # made on first use, again after close()
        self._sleep = sleep
        self._random = random.Random()
        self._lock = threading.Lock()
        self._tokenizers: dict[str, Tokenizer] = {}
        self._formats: dict[tuple[str, Endpoint], str] = {}  # the response_format that works
        self._dropped: set[tuple[str, Endpoint, str]] = set()  # features a server rejected
        self._pooled: dict[str, bool] = {}  # whether a model's server returns one vector a text

    # --- the Backend protocol -----------------------------------------------------------

    @property
    def name(self) -> str:
        return "openai"

    def count_tokens(self, model: str, request: GenerationRequest) -> int:
        return self._count(self._model(model), request).tokens

    def generate(
        self,
        model: str,
        request: GenerationRequest,
        *,
        cancel: CancelToken | None = None,
        on_progress: Progress | None = None,
        max_total_tokens: int | None = None,
    ) -> Generation:
        started = time.perf_counter()
        target = self._model(model)
        endpoint: Endpoint = "chat" if request.messages else "completion"
        extra: dict[str, Any] = {}
        counted: _Count | None = None
        limit, budget_cut = request.max_tokens, False

        def done(stream: _Stream, finish: FinishReason) -> Generation:
            return self._generation(target, request, stream, finish, counted, started, extra)

        if max_total_tokens is not None:
            counted = self._count(target, request)
            left = max_total_tokens - counted.tokens
            if left <= 0:
                return done(_Stream(started=started), "budget")
            limit, budget_cut = min(limit, left), left < request.max_tokens
        if cancel is not None and cancel.cancelled:
            return done(_Stream(started=started), "cancelled")

        features = self._features(target, endpoint, request)
        url = target.base + _PATHS[endpoint]
        while True:  # once per feature the server turns out to lack
            read = partial(
                self._run_stream,
                target,
                url,
                _body(target, request, features, limit),
                request,
                started,
                limit,
                cancel,
                on_progress,
            )
            try:
                ran = self._retrying(target, url, read, cancel)
            except _Unsupported as unsupported:
                features = self._drop(target, endpoint, features, unsupported.feature)
                continue
            except _Rejected as rejected:
                raise InferenceError(
                    f"{url} rejected the request ({rejected}{_schema_note(features)})."
                ) from None
            break
        if ran is None:  # cancelled while waiting to retry
            return done(_Stream(started=started), "cancelled")
        (result, stream), retries = ran
        if retries:
            extra["retries"] = retries
        if features.response_format is not None:
            self._remember_format(target, endpoint, features.response_format)
            extra["response_format"] = features.response_format
        if not features.logprobs or not stream.saw_logprobs:
            extra["logprobs"] = "unavailable"
        if stream.remote_model:
            extra["remote_model"] = stream.remote_model
        finish: FinishReason
        if result == "cancelled":
            finish = "cancelled"
        elif result == "cut" or stream.finish == "length":
            finish = "budget" if budget_cut else "length"
        else:
            finish = "stop"
            if stream.finish not in (None, "stop"):
                extra["server_finish_reason"] = stream.finish
        return done(stream, finish)

    def embed(self, model: str, texts: Sequence[str]) -> Vectors:
        """One L2-normalised float32 row per text; blank texts are zero rows.

        A server that returns one vector per token (llama-cpp-python without pooling) has
        them averaged, as llama.cpp's mean pooling would, and gets one text per request:
        its vectors for the second and later texts of a batch are wrong (llama-cpp-python
        0.3). The first request of a model sends one text to find out which it is."""
        target = self._model(model)
        url = target.base + "/embeddings"
        todo = [(i, text) for i, text in enumerate(texts) if text.strip()]
        rows: dict[int, np.ndarray[Any, np.dtype[np.float32]]] = {}
        while todo:
            with self._lock:
                pooled = self._pooled.get(target.name)
            size = _EMBED_BATCH if pooled else 1
            batch, todo = todo[:size], todo[size:]
            body = {
                "model": target.remote,
                "input": [text for _, text in batch],
                "encoding_format": "float",
            }
            try:
                ran = self._retrying(target, url, partial(self._post_json, target, url, body))
            except _Rejected as rejected:
                raise InferenceError(f"{url} rejected the request ({rejected}).") from None
            assert ran is not None  # no cancel token: never abandoned
            vectors, per_token = _embeddings(url, ran[0], len(batch))
            with self._lock:
                self._pooled[target.name] = not per_token
            for (i, _), vector in zip(batch, vectors, strict=True):
                rows[i] = vector
        dims = {vector.shape[0] for vector in rows.values()}
        if len(dims) > 1:
            raise InferenceError(f"{url} returned vectors of different sizes {sorted(dims)}.")
        dim = dims.pop() if dims else 0
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for i, vector in rows.items():
            out[i] = vector
        return normalise_rows(out)

    def close(self) -> None:
        """Close the connections; a later call opens new ones."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __repr__(self) -> str:
        return f"OpenAIBackend(models={sorted(self._models)})"

    # --- models and features ------------------------------------------------------------

    def _model(self, model: str) -> _Model:
        target = self._models.get(model)
        if target is None:
            raise InferenceError(f"model {model!r} is not configured with a server url.")
        return target

    def _features(
        self, target: _Model, endpoint: Endpoint, request: GenerationRequest
    ) -> _Features:
        with self._lock:
            dropped = {f for (m, e, f) in self._dropped if (m, e) == (target.name, endpoint)}
            known = self._formats.get((target.name, endpoint), _RESPONSE_FORMATS[0])
        return _Features(
            response_format=known if request.json_schema is not None else None,
            logprobs="logprobs" not in dropped,
            stream_options="stream_options" not in dropped,
        )

    def _drop(
        self, target: _Model, endpoint: Endpoint, features: _Features, feature: Feature
    ) -> _Features:
        if feature == "response_format":
            assert features.response_format is not None
            following = _RESPONSE_FORMATS[_RESPONSE_FORMATS.index(features.response_format) + 1]
            log.info(
                "%s: %s rejected response_format %s; trying %s",
                target.name,
                endpoint,
                features.response_format,
                following,
            )
            self._remember_format(target, endpoint, following)
            return replace(features, response_format=following)
        log.info("%s: %s rejected %s; leaving it out", target.name, endpoint, feature)
        with self._lock:
            self._dropped.add((target.name, endpoint, feature))
        if feature == "logprobs":
            return replace(features, logprobs=False)
        return replace(features, stream_options=False)

    def _remember_format(self, target: _Model, endpoint: Endpoint, response_format: str) -> None:
        with self._lock:
            self._formats[(target.name, endpoint)] = response_format

    # --- HTTP ---------------------------------------------------------------------------

    def _headers(self, target: _Model) -> dict[str, str]:
        if target.api_key_env is None:
            return {}
        token = os.environ.get(target.api_key_env)
        if not token:
            raise InferenceError(
                f"model {target.name!r} needs a bearer token in the environment variable "
                f"{target.api_key_env}, which is not set."
            )
        return {"Authorization": f"Bearer {token}"}

    def _timeout(self, target: _Model) -> httpx.Timeout:
        return httpx.Timeout(
            target.timeout_s, connect=min(target.timeout_s, _CONNECT_TIMEOUT_MAX_S)
        )

    def _send(self, target: _Model, url: str, body: Mapping[str, Any]) -> httpx.Response:
        """POST ``body`` and return the open response (status < 400); errors classified."""
        headers = self._headers(target)
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(transport=self._transport, follow_redirects=True)
            client = self._client
        request = client.build_request(
            "POST", url, json=body, headers=headers, timeout=self._timeout(target)
        )
        try:
            response = client.send(request, stream=True)
        except httpx.TransportError as error:
            raise _transport_failure(target, url, error) from None
        if response.status_code < 400:
            return response
        try:
            response.read()
        except httpx.TransportError:
            pass
        finally:
            response.close()
        raise _http_failure(response, body)

    def _post_json(self, target: _Model, url: str, body: Mapping[str, Any]) -> Any:
        response = self._send(target, url, body)
        try:
            response.read()
        except httpx.TransportError as error:
            raise _transport_failure(target, url, error) from None
        finally:
            response.close()
        try:
            return response.json()
        except ValueError:
            raise InferenceError(f"{url} answered with something that is not JSON.") from None

    def _retrying(
        self,
        target: _Model,
        url: str,
        call: Callable[[], T],
        cancel: CancelToken | None = None,
    ) -> tuple[T, int] | None:
        """``call()`` and how many retries it took; ``None`` if cancelled while waiting."""
        attempt = 0
        while True:
            try:
                return call(), attempt
            except _Transient as failure:
                if attempt >= target.retries:
                    if attempt:
                        raise InferenceError(
                            f"{url} failed {attempt + 1} times, retried with backoff; "
                            f"the last failure: {failure}."
                        ) from None
                    raise InferenceError(f"{url} failed (retries are off): {failure}.") from None
                delay = failure.retry_after
                if delay is None:
                    ceiling = min(_BACKOFF_MAX_S, _BACKOFF_BASE_S * 2**attempt)
                    delay = ceiling * self._random.uniform(0.5, 1.0)
                log.warning(
                    "%s: %s; retry %d of %d in %.1fs",
                    url,
                    failure,
                    attempt + 1,
                    target.retries,
                    delay,
                )
                if cancel is not None and cancel.cancelled:
                    return None
                self._sleep(delay)
                if cancel is not None and cancel.cancelled:
                    return None
                attempt += 1

    # --- generation ---------------------------------------------------------------------

    def _run_stream(
        self,
        target: _Model,
        url: str,
        body: Mapping[str, Any],
        request: GenerationRequest,
        started: float,
        limit: int,
        cancel: CancelToken | None,
        on_progress: Progress | None,
    ) -> tuple[Literal["done", "cut", "cancelled"], _Stream]:
        """One generation: ``done`` when the server finished it, ``cut`` when the client
        stopped it at ``limit``, ``cancelled`` when the token was set."""
        stream = _Stream(started=started)
        response = self._send(target, url, body)
        try:
            if "text/event-stream" not in response.headers.get("content-type", ""):
                response.read()  # a server that does not stream: one JSON answer
                events: Iterator[str | None] = iter([response.text])
            else:
                events = _sse_events(response.iter_lines())
            for data in events:
                if cancel is not None and cancel.cancelled:
                    return "cancelled", stream
                if data is None:  # a keep-alive comment
                    continue
                if data.strip() == "[DONE]":
                    break
                outcome = _take(url, data, body, request, stream, limit)
                if outcome == "cut":
                    return "cut", stream
                if on_progress is not None and outcome == "text":
                    on_progress(stream.tokens, stream.text)
            if cancel is not None and cancel.cancelled:
                return "cancelled", stream
            if stream.finish is None:  # ran out, or [DONE] came alone: the server gave up
                raise _unfinished(url, body, stream)
            return "done", stream
        except httpx.TransportError as error:
            if stream.tokens == 0:
                raise _transport_failure(target, url, error) from None
            raise InferenceError(
                f"{url} broke off the answer after {stream.tokens} tokens ({_describe(error)})."
            ) from None
        finally:
            response.close()

    def _generation(
        self,
        target: _Model,
        request: GenerationRequest,
        stream: _Stream,
        finish: FinishReason,
        counted: _Count | None,
        started: float,
        extra: dict[str, Any],
    ) -> Generation:
        usage = stream.usage or {}
        prompt_tokens, completion_tokens = (
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
        )
        if isinstance(prompt_tokens, int):
            extra["prompt_tokens_source"] = "usage"
        else:
            if counted is None:
                counted = self._count(target, request)
            prompt_tokens = counted.tokens
            extra["prompt_tokens_source"] = counted.source
        if isinstance(completion_tokens, int) and finish != "cancelled":
            extra["completion_tokens_source"] = "usage"
        else:
            completion_tokens = stream.tokens
            extra["completion_tokens_source"] = "logprobs" if stream.saw_logprobs else "chunks"
        parsed = None
        if request.json_schema is not None:
            parsed = parse_json(stream.text, request.json_schema, finish, extra)
        return Generation(
            text=stream.text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=target.name,
            backend=self.name,
            seconds=time.perf_counter() - started,
            first_token_seconds=stream.first_token_at,
            logprobs=tuple(stream.logprobs),
            template=request.template,
            parsed=parsed,
            extra=extra,
        )

    # --- token counts -------------------------------------------------------------------

    def _count(self, target: _Model, request: GenerationRequest) -> _Count:
        try:
            tokenizer = self._tokenizer(target)
            if tokenizer != "none":
                return self._count_with(target, tokenizer, request)
        except (_Transient, _Rejected, InferenceError, KeyError, TypeError, ValueError) as failure:
            log.debug("%s: counting tokens with the server failed: %s", target.name, failure)
        return _estimate(request)

    def _tokenizer(self, target: _Model) -> Tokenizer:
        """Which tokenizer endpoint the server has, found once (connection errors aside)."""
        with self._lock:
            known = self._tokenizers.get(target.name)
        if known is not None:
            return known
        found: Tokenizer = "none"
        probes: list[tuple[Tokenizer, str, dict[str, Any]]] = [
            (
                "vllm",
                target.root + "/tokenize",
                {"model": target.remote, "prompt": _PROBE_TEXT, "content": _PROBE_TEXT},
            ),
            (
                "llama-cpp-python",
                target.root + "/extras/tokenize/count",
                {"model": target.remote, "input": _PROBE_TEXT},
            ),
        ]
        for kind, url, body in probes:
            try:
                answer = self._post_json(target, url, body)
            except _Transient as failure:
                if failure.status is None:
                    raise  # no connection: try again next time
                continue
            except (_Rejected, InferenceError):
                continue
            if not isinstance(answer, dict):
                continue
            if isinstance(answer.get("count"), int) and answer["count"] > 0:
                found = kind
            elif kind == "vllm" and isinstance(answer.get("tokens"), list) and answer["tokens"]:
                found = "llama.cpp"
            if found != "none":
                break
        log.info("%s: tokenizer endpoint: %s", target.name, found)
        with self._lock:
            self._tokenizers[target.name] = found
        return found

    def _count_with(
        self, target: _Model, tokenizer: Tokenizer, request: GenerationRequest
    ) -> _Count:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if tokenizer == "vllm":
            body: dict[str, Any] = {"model": target.remote}
            body.update({"messages": messages} if messages else {"prompt": request.prompt})
            answer = self._post_json(target, target.root + "/tokenize", body)
            return _Count(int(answer["count"]), "tokenizer")
        if tokenizer == "llama.cpp":
            text = request.prompt
            if messages:
                templated = self._post_json(
                    target, target.root + "/apply-template", {"messages": messages}
                )
                text = str(templated["prompt"])
            answer = self._post_json(
                target,
                target.root + "/tokenize",
                {"content": text, "add_special": not messages, "parse_special": True},
            )
            return _Count(len(answer["tokens"]), "tokenizer")
        text = request.prompt if request.prompt is not None else _joined(request)
        answer = self._post_json(
            target, target.root + "/extras/tokenize/count", {"model": target.remote, "input": text}
        )
        if not messages:
            return _Count(int(answer["count"]), "tokenizer")
        overhead = _CHAT_TOKENS_PER_MESSAGE * len(messages) + _CHAT_TOKENS_PRIMING
        return _Count(int(answer["count"]) + overhead, "approximate")


# --- events, bodies and answers ----------------------------------------------------------


def _take(
    url: str,
    data: str,
    body: Mapping[str, Any],
    request: GenerationRequest,
    stream: _Stream,
    limit: int,
) -> Literal["text", "cut", "none"]:
    """Add one event to ``stream``."""
    try:
        chunk = json.loads(data)
    except ValueError:
        raise InferenceError(f"{url} sent an event that is not JSON: {data[:80]!r}.") from None
    if not isinstance(chunk, dict):
        return "none"
    if "error" in chunk:
        message = _error_message(chunk)
        if stream.tokens == 0:
            unsupported = _unsupported(message, _sent(body))
            if unsupported is not None:
                raise _Unsupported(unsupported)
        raise InferenceError(f"{url} reported an error while answering: {message}.")
    if isinstance(chunk.get("model"), str):
        stream.remote_model = chunk["model"]
    if isinstance(chunk.get("usage"), dict):
        stream.usage = chunk["usage"]
    outcome: Literal["text", "cut", "none"] = "none"
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        if "messages" in body:
            delta = choice.get("delta") or choice.get("message") or {}
            piece = delta.get("content") if isinstance(delta, dict) else None
        else:
            piece = choice.get("text")
        entries = _logprobs(choice.get("logprobs"), request.top_logprobs)
        stream.saw_logprobs = stream.saw_logprobs or bool(entries)
        if (isinstance(piece, str) and piece) or entries:
            tokens = len(entries) if entries else 1
            if stream.tokens + tokens > limit:
                return "cut"  # a server that ignores max_tokens
            stream.tokens += tokens
            stream.logprobs.extend(entries)
            if isinstance(piece, str) and piece:
                stream.text += piece
                if stream.first_token_at is None:
                    stream.first_token_at = time.perf_counter() - stream.started
                outcome = "text"
        if choice.get("finish_reason"):
            stream.finish = str(choice["finish_reason"])
    return outcome


def _model(name: str, settings: ModelSettings) -> _Model:
    assert settings.url is not None
    base = settings.url.rstrip("/")
    if urlsplit(base).path in ("", "/"):
        base += "/v1"
    root = base.removesuffix("/v1")
    return _Model(
        name=name,
        remote=settings.remote_name or name,
        base=base,
        root=root,
        timeout_s=settings.timeout_s,
        retries=settings.retries,
        api_key_env=settings.api_key_env,
    )


def _body(
    target: _Model, request: GenerationRequest, features: _Features, limit: int
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": target.remote,
        "max_tokens": limit,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": True,
    }
    if request.messages:
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        if features.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
    else:
        body["prompt"] = request.prompt
        if features.logprobs:
            body["logprobs"] = request.top_logprobs
    if features.stream_options:
        body["stream_options"] = {"include_usage": True}
    if request.seed is not None:
        body["seed"] = request.seed
    if request.stop:
        body["stop"] = list(request.stop)
    schema = request.json_schema
    if schema is not None and features.response_format == "json_schema":
        name = "".join(c for c in str(schema.get("title", "output")) if c.isalnum() or c in "_-")
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": name[:_SCHEMA_NAME_CHARS] or "output", "schema": schema},
        }
    elif schema is not None:
        body["response_format"] = {"type": "json_object", "schema": schema}
    return body


def _sse_events(lines: Iterator[str]) -> Iterator[str | None]:
    """The data of each server-sent event; ``None`` for a comment (a keep-alive)."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith(":"):
            yield None
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
        # other fields (event, id, retry) carry nothing this backend uses
    if data:
        yield "\n".join(data)


def _logprobs(raw: Any, top: int) -> list[TokenLogprob]:
    """Per-token log-probabilities in either shape servers send: chat's ``content`` list,
    or the completions API's parallel ``tokens`` / ``token_logprobs`` / ``top_logprobs``."""
    if not isinstance(raw, dict):
        return []
    out: list[TokenLogprob] = []
    if isinstance(raw.get("content"), list):
        for item in raw["content"]:
            if not isinstance(item, dict):
                continue
            alternatives = [
                (str(alt.get("token", "")), _float(alt.get("logprob")))
                for alt in item.get("top_logprobs") or ()
                if isinstance(alt, dict)
            ]
            out.append(
                TokenLogprob(
                    str(item.get("token", "")),
                    _float(item.get("logprob")),
                    _best(alternatives, top),
                )
            )
        return out
    tokens, values = raw.get("tokens"), raw.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list):
        return []
    tops = raw.get("top_logprobs")
    tops = tops if isinstance(tops, list) else []
    for i, (token, value) in enumerate(zip(tokens, values, strict=False)):
        alternatives_map = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        alternatives = [(str(t), _float(v)) for t, v in alternatives_map.items()]
        out.append(TokenLogprob(str(token), _float(value), _best(alternatives, top)))
    return out


def _best(alternatives: list[tuple[str, float]], top: int) -> tuple[tuple[str, float], ...]:
    if top <= 0:
        return ()
    ranked = sorted(alternatives, key=lambda pair: -pair[1] if math.isfinite(pair[1]) else math.inf)
    return tuple(ranked[:top])


def _float(value: Any) -> float:
    """A log-probability as sent; NaN where the server sent none (never a made-up number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _unfinished(url: str, body: Mapping[str, Any], stream: _Stream) -> Exception:
    """A stream that ended without a finish reason: the server failed after it had answered
    200 (llama-cpp-python ends the stream silently when it cannot give log-probabilities,
    having been started without ``logits_all``, and sends a bare ``[DONE]`` when another
    request interrupts this one)."""
    if stream.tokens == 0 and "logprobs" in body:
        log.warning("%s ended the stream without an answer; trying without logprobs", url)
        return _Unsupported("logprobs")
    return InferenceError(
        f"{url} ended the answer after {stream.tokens} tokens without finishing it "
        "(the server's log may say why)."
    )


def _transport_failure(target: _Model, url: str, error: httpx.TransportError) -> Exception:
    if isinstance(error, httpx.ConnectTimeout):
        return _Transient(
            f"no connection within {min(target.timeout_s, _CONNECT_TIMEOUT_MAX_S):g} s"
        )
    if isinstance(error, httpx.TimeoutException):
        return InferenceError(
            f"{url} did not answer within {target.timeout_s:g} s (timeout_s); nothing was retried."
        )
    if isinstance(error, httpx.NetworkError | httpx.RemoteProtocolError):
        return _Transient(f"connection failed: {_describe(error)}")
    return InferenceError(f"{url} could not be reached ({_describe(error)}).")


def _http_failure(response: httpx.Response, body: Mapping[str, Any]) -> Exception:
    status = response.status_code
    try:
        message = _error_message(response.json())
    except ValueError:
        message = _clip(response.text)
    if status in (400, 422) or status >= 500:
        features = _sent(body)
        unsupported = _unsupported(message, features)
        if (
            unsupported is None
            and status in (400, 422)
            and features.response_format == "json_schema"
        ):
            unsupported = "response_format"  # OpenAI's form may be what the server lacks
        if unsupported is not None:
            return _Unsupported(unsupported)
    if status == 429 or status >= 500:
        reason = f"HTTP {status}" + (f": {message}" if message else "")
        retry_after = _retry_after(response.headers.get("retry-after"))
        return _Transient(reason, status=status, retry_after=retry_after)
    return _Rejected(status, message)


def _sent(body: Mapping[str, Any]) -> _Features:
    """The features a request body asks for."""
    response_format = body.get("response_format")
    return _Features(
        response_format=response_format.get("type") if isinstance(response_format, dict) else None,
        logprobs="logprobs" in body,
        stream_options="stream_options" in body,
    )


def _unsupported(message: str, features: _Features) -> Feature | None:
    """The feature an error message blames, if the request has it and can do without."""
    lower = message.lower()
    if features.response_format == _RESPONSE_FORMATS[0] and (
        "response_format" in lower or "json_schema" in lower
    ):
        return "response_format"
    if features.logprobs and "logprob" in lower:
        return "logprobs"
    if features.stream_options and ("stream_options" in lower or "include_usage" in lower):
        return "stream_options"
    return None


def _error_message(payload: Any) -> str:
    """The message in an error body: OpenAI's ``{"error": {"message"}}``, FastAPI's
    ``{"detail"}``, vLLM's ``{"message"}``, or the body itself."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and "message" in error:
            return _clip(str(error["message"]))
        for value in (error, payload.get("message"), payload.get("detail")):
            if isinstance(value, str):
                return _clip(value)
            if value is not None:
                return _clip(json.dumps(value))
    return _clip(json.dumps(payload))


def _clip(text: str) -> str:
    one_line = " ".join(text.split())
    if len(one_line) <= _MESSAGE_CHARS:
        return one_line
    return one_line[: _MESSAGE_CHARS - 1].rstrip() + "…"


def _describe(error: Exception) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), _RETRY_AFTER_MAX_S)


def _schema_note(features: _Features) -> str:
    if features.response_format is None:
        return ""
    tried = _RESPONSE_FORMATS[: _RESPONSE_FORMATS.index(features.response_format) + 1]
    return "; response_format tried: " + ", ".join(tried)


def _embeddings(
    url: str, answer: Any, expected: int
) -> tuple[list[np.ndarray[Any, np.dtype[np.float32]]], bool]:
    """The vectors of an embeddings answer, in input order, and whether the server sent
    one vector per token (then averaged here)."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or len(data) != expected:
        raise InferenceError(f"{url} did not return one embedding per text.")
    ordered = sorted(data, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
    vectors, per_token = [], False
    for item in ordered:
        try:
            array = np.asarray(item["embedding"], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise InferenceError(f"{url} returned an embedding that is not numbers.") from None
        if array.ndim == 2:  # one vector per token: mean-pool them
            per_token = True
            array = array.mean(axis=0) if array.shape[0] else np.zeros(array.shape[1], np.float32)
        if array.ndim != 1 or array.shape[0] == 0:
            raise InferenceError(f"{url} returned an embedding of shape {array.shape}.")
        vectors.append(array)
    return vectors, per_token


def _joined(request: GenerationRequest) -> str:
    return "\n".join(message.content for message in request.messages)


def _estimate(request: GenerationRequest) -> _Count:
    """``chars / 4``, rounded up, plus a guess at a chat template's markers."""
    text = request.prompt if request.prompt is not None else _joined(request)
    tokens = math.ceil(len(text) / _CHARS_PER_TOKEN)
    if request.messages:
        tokens += _CHAT_TOKENS_PER_MESSAGE * len(request.messages) + _CHAT_TOKENS_PRIMING
    return _Count(tokens, "estimate")
