"""The in-process llama.cpp backend: GGUF models run by ``llama-cpp-python``.

``LlamaBackend`` serves every model in settings that has a ``path``. The design:

* **One instance per model, loaded lazily** on first use and shared by every caller. A
  ``llama_cpp.Llama`` context is not thread-safe, so each model has a lock held for
  loading, unloading and every decode.
* **One generation at a time per backend**, through a FIFO queue (``_TurnQueue``) rather
  than a plain lock: ``threading.Lock`` is not fair, and a thread waiting on it cannot
  give up. Two generations at once on a small CPU only thrash each other's caches; in the
  queue they run one after the other, in arrival order, and a waiting request whose
  ``CancelToken`` is set leaves the queue (it is polled every 50 ms: the token offers no
  wait hook). Embedding batches take turns in the same queue.
* **Token counts without waiting.** Each model also has its tokenizer, llama.cpp's
  ``vocab_only`` load of the same file (no weights, no context), with its own lock:
  ``count_tokens`` never waits behind a running generation, and generation tokenizes
  with the same vocabulary, so ``count_tokens == Generation.prompt_tokens``.
* **Unloading after idle.** A model unused for its ``idle_unload_s`` is closed by
  ``sweep()``, which runs at the start of every call and on a daemon thread while
  anything is loaded; the idle time is read from the injected ``clock``. A model in use
  is never unloaded. ``close()`` unloads everything; a later call loads again.
* **Its own decoding loop.** Instead of ``create_completion(stream=True)`` this module
  drives ``Llama.eval`` and llama.cpp's sampler chain itself, because in
  llama-cpp-python 0.3 the streaming API:

  - gives log-probabilities only with ``logits_all=True``, which keeps an
    n_ctx x n_vocab float array (4 GiB for Gemma 3's 262k vocabulary at 4096 tokens)
    and computes the output layer for every prompt token; here only the last position's
    logits are read, after each decode;
  - sorts the whole vocabulary in Python for every token it reports log-probabilities for;
  - runs the grammar over the whole vocabulary at every step (about 0.25 s a token with a
    262k vocabulary); here the sampled token is checked first, then the 128 most likely
    ones, and the whole vocabulary only when all of those are rejected (llama.cpp's own
    sampler does the first and the last);
  - can be cancelled only between tokens; here the prompt is evaluated in batches of
    ``n_batch`` tokens and cancellation is checked between them too;
  - cannot stream log-probabilities for chat, whose template comes from the GGUF.

  The KV cache keeps the last request's tokens, so a request that shares a prefix with
  the previous one (a system prompt, a conversation) evaluates only the rest.
* **Chat templates.** Messages are formatted with the GGUF's own Jinja template, as
  ``create_chat_completion`` would; a GGUF without one (the Gemma 3 270M test model) gets
  llama.cpp's built-in template for its architecture, and other architectures are an
  error that says to send a plain prompt.
* **Log-probabilities** are the model's own (the raw logits' log-softmax, before
  temperature, top-p or the grammar), for every generated token, with the
  ``top_logprobs`` most likely alternatives when asked. The end-of-generation token is
  not part of the text and is neither counted nor reported.
* **JSON output.** ``request.json_schema`` becomes a GBNF grammar (llama-cpp-python's
  converter) that constrains sampling; the output is parsed and checked against the
  schema (``schema_errors``: the common keywords). Output that does not parse or match,
  for example because the token limit cut it, leaves ``parsed`` as ``None`` and says why
  in ``extra["json_error"]``.

Timings: ``seconds`` and ``first_token_seconds`` count from the moment the request's turn
came (they include a model load, which ``extra["load_seconds"]`` reports);
``extra["queue_seconds"]`` is the wait before it, ``extra["prompt_seconds"]`` the prompt
evaluation and ``extra["reused_prompt_tokens"]`` the prompt tokens found in the cache.

This module holds the models, the queue and the chat formatting; the decode loop itself
(prefill, sampler, grammar, log-probabilities, stops) is in ``decoding.py``.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from hexad.core.embedding import Vectors
from hexad.core.settings import ModelSettings
from hexad.inference import decoding
from hexad.inference.base import (
    CancelToken,
    FinishReason,
    Generation,
    GenerationRequest,
    InferenceError,
    ModelUnavailableError,
    Progress,
)
from hexad.inference.embedding import LlamaEmbedder
from hexad.inference.native import llama_cpp_module, quiet_load
from hexad.inference.schema import parse_json

log = logging.getLogger(__name__)

_QUEUE_POLL_S = 0.05  # how often a queued request looks at its cancel token
_EMBED_SLICE = 32  # texts embedded per turn in the queue
_SWEEP_MIN_S, _SWEEP_MAX_S = 0.5, 30.0
_GRAMMAR_CACHE_SIZE = 32
# llama.cpp's built-in chat templates for GGUFs that carry none, by general.architecture
_BUILTIN_TEMPLATES = {"gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "gemma3n": "gemma"}


class LlamaBackend:
    """GGUF models by name, run in this process (see the module docstring)."""

    def __init__(
        self,
        models: Mapping[str, ModelSettings],
        *,
        clock: Callable[[], float] = time.monotonic,
        background_sweep: bool = True,
    ) -> None:
        """``clock`` measures idleness; ``background_sweep=False`` leaves unloading to the
        sweeps that start every call and to whoever calls ``sweep()`` (tests, a timer)."""
        self._clock = clock
        self._background_sweep = background_sweep
        self._slots = {
            name: _Slot(name, settings, last_used=clock())
            for name, settings in models.items()
            if settings.path is not None
        }
        self._remote = {name: s.url for name, s in models.items() if s.path is None}
        self._queue = _TurnQueue()
        self._grammars: dict[str, str] = {}
        self._state_lock = threading.Lock()  # the sweeper thread and the grammar cache
        self._sweeper: threading.Thread | None = None
        self._stop_sweeper = threading.Event()

    # --- the Backend protocol --------------------------------------------------------

    @property
    def name(self) -> str:
        return "llama"

    def count_tokens(self, model: str, request: GenerationRequest) -> int:
        slot = self._generator(model)
        self.sweep()
        tokens, _ = self._prompt(slot, request)
        return len(tokens)

    def generate(
        self,
        model: str,
        request: GenerationRequest,
        *,
        cancel: CancelToken | None = None,
        on_progress: Progress | None = None,
        max_total_tokens: int | None = None,
    ) -> Generation:
        called = time.perf_counter()
        slot = self._generator(model)
        self.sweep()
        tokens, chat_template = self._prompt(slot, request)
        n_prompt = len(tokens)
        if n_prompt == 0:
            raise InferenceError(f"the prompt is empty and model {model!r} adds no BOS token")
        extra: dict[str, Any] = {}
        if chat_template is not None:
            extra["chat_template"] = chat_template

        def early(finish: FinishReason) -> Generation:
            extra["queue_seconds"] = time.perf_counter() - called
            return Generation(
                text="",
                finish_reason=finish,
                prompt_tokens=n_prompt,
                completion_tokens=0,
                model=model,
                backend=self.name,
                seconds=0.0,
                template=request.template,
                extra=extra,
            )

        limit = request.max_tokens
        cap: FinishReason = "length"
        if max_total_tokens is not None and max_total_tokens - n_prompt < limit:
            limit, cap = max_total_tokens - n_prompt, "budget"
            if limit <= 0:
                return early("budget")
        room = slot.settings.n_ctx - n_prompt
        if room <= 0:
            raise InferenceError(
                f"the prompt has {n_prompt} tokens, more than model {model!r} holds "
                f"(n_ctx {slot.settings.n_ctx})"
            )
        if room < limit:
            limit, cap = room, "length"
        grammar = None if request.json_schema is None else self._grammar(request.json_schema)
        if (cancel is not None and cancel.cancelled) or not self._queue.acquire(cancel):
            return early("cancelled")
        turn = time.perf_counter()
        extra["queue_seconds"] = turn - called
        try:
            with slot.lock:
                try:
                    llm = self._load(slot, extra)
                    outcome = decoding.decode(
                        llm,
                        tokens,
                        request,
                        grammar=grammar,
                        limit=limit,
                        cap=cap,
                        cancel=cancel,
                        on_progress=on_progress,
                        started=turn,
                    )
                except RuntimeError as error:  # llama_decode failed
                    if slot.llm is not None:
                        slot.llm.reset()  # the KV cache no longer matches its record
                    raise InferenceError(f"llama.cpp failed on model {model!r}: {error}") from error
                finally:
                    slot.last_used = self._clock()
        finally:
            self._queue.release()
        extra.update(outcome.extra)
        parsed = None
        if request.json_schema is not None:
            parsed = parse_json(outcome.text, request.json_schema, outcome.finish, extra)
        return Generation(
            text=outcome.text,
            finish_reason=outcome.finish,
            prompt_tokens=n_prompt,
            completion_tokens=outcome.completion_tokens,
            model=model,
            backend=self.name,
            seconds=time.perf_counter() - turn,
            first_token_seconds=outcome.first_token_seconds,
            logprobs=outcome.logprobs,
            template=request.template,
            parsed=parsed,
            extra=extra,
        )

    def embed(self, model: str, texts: Sequence[str]) -> Vectors:
        slot = self._slot(model)
        if slot.settings.role != "embedding":
            raise ModelUnavailableError(
                f"model {model!r} has role {slot.settings.role!r}; "
                "embeddings need a model with role 'embedding'"
            )
        self.sweep()
        if slot.embedder is None:
            slot.embedder = LlamaEmbedder(
                _model_path(slot),
                n_ctx=slot.settings.n_ctx,
                n_threads=slot.settings.threads,
                max_tokens=slot.settings.n_ctx,
            )
        embedder = slot.embedder
        rows: list[Vectors] = []
        for start in range(0, max(len(texts), 1), _EMBED_SLICE):
            self._queue.acquire(None)
            try:
                with slot.lock:
                    try:
                        rows.append(embedder.embed_documents(texts[start : start + _EMBED_SLICE]))
                    finally:
                        slot.last_used = self._clock()
            finally:
                self._queue.release()
        self._start_sweeper()
        return np.concatenate(rows) if len(rows) > 1 else rows[0]

    def close(self) -> None:
        """Unload every model (waiting for a running generation) and stop the sweeper."""
        with self._state_lock:
            sweeper, self._sweeper = self._sweeper, None
            self._stop_sweeper.set()
        if sweeper is not None:
            sweeper.join(timeout=5.0)
        for slot in self._slots.values():
            with slot.lock, slot.vocab_lock:
                self._unload(slot)

    # --- lifecycle -------------------------------------------------------------------

    def loaded(self, model: str) -> bool:
        """Whether anything of ``model`` (weights, tokenizer, embedder) is in memory."""
        return self._slot(model).loaded

    @property
    def queued(self) -> int:
        """Requests waiting for their turn."""
        return self._queue.waiting

    def sweep(self) -> list[str]:
        """Unload the models idle for their ``idle_unload_s``; return their names."""
        now = self._clock()
        unloaded: list[str] = []
        for slot in self._slots.values():
            idle = slot.settings.idle_unload_s
            if idle <= 0 or not slot.loaded or now - slot.last_used < idle:
                continue
            if not slot.lock.acquire(blocking=False):
                continue  # in use: not idle
            try:
                with slot.vocab_lock:
                    if slot.loaded and self._clock() - slot.last_used >= idle:
                        self._unload(slot)
                        unloaded.append(slot.name)
            finally:
                slot.lock.release()
        for name in unloaded:
            log.info(
                "unloaded model %s after %.0fs idle", name, self._slots[name].settings.idle_unload_s
            )
        return unloaded

    # --- internals -------------------------------------------------------------------

    def _slot(self, model: str) -> _Slot:
        slot = self._slots.get(model)
        if slot is not None:
            return slot
        if model in self._remote:
            raise ModelUnavailableError(
                f"model {model!r} is served at {self._remote[model]}, not by llama.cpp in process"
            )
        known = ", ".join(sorted(self._slots)) or "none"
        raise ModelUnavailableError(f"there is no local model named {model!r} (known: {known})")

    def _generator(self, model: str) -> _Slot:
        slot = self._slot(model)
        if slot.settings.role == "embedding":
            raise ModelUnavailableError(
                f"model {model!r} is an embedding model; it cannot generate"
            )
        return slot

    def _prompt(self, slot: _Slot, request: GenerationRequest) -> tuple[list[int], str | None]:
        """The request's prompt tokens, and which chat template formatted it (if chat)."""
        source = None
        with slot.vocab_lock:
            if slot.vocab is None:
                slot.vocab = _Vocab.load(_model_path(slot), slot.name)
            slot.last_used = self._clock()
            if request.prompt is not None:
                text = request.prompt
            else:
                text, source = slot.vocab.format_chat(request)
            tokens = slot.vocab.tokenize(text)
        self._start_sweeper()
        return tokens, source

    def _load(self, slot: _Slot, extra: dict[str, Any]) -> Any:
        """The model's ``Llama`` (called with ``slot.lock`` held)."""
        extra["load_seconds"] = 0.0
        if slot.llm is not None:
            return slot.llm
        path = _model_path(slot)
        llama_cpp = llama_cpp_module()
        started = time.perf_counter()
        try:
            with quiet_load(slot.name):  # Python-level prints; native logs: see native.py
                llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=slot.settings.n_ctx,
                    n_threads=slot.settings.threads,
                    n_threads_batch=slot.settings.threads,
                    logits_all=False,  # see the module docstring: logits are read per decode
                    verbose=True,  # verbose=False silences stdout for the whole process
                )
        except (ValueError, RuntimeError, OSError) as error:
            raise ModelUnavailableError(
                f"cannot load model {slot.name!r} ({path}): {error}"
            ) from error
        slot.llm = llm
        extra["load_seconds"] = time.perf_counter() - started
        log.info("loaded model %s from %s in %.1fs", slot.name, path, extra["load_seconds"])
        self._start_sweeper()
        return llm

    def _unload(self, slot: _Slot) -> None:
        """Free everything of ``slot`` (called with both of its locks held)."""
        if slot.llm is not None:
            slot.llm.close()
            slot.llm = None
        if slot.vocab is not None:
            slot.vocab.close()
            slot.vocab = None
        if slot.embedder is not None:
            slot.embedder.close()

    def _grammar(self, schema: Mapping[str, Any]) -> str:
        """The GBNF grammar for a JSON schema (cached: conversion runs in Python)."""
        key = json.dumps(schema, sort_keys=True)
        with self._state_lock:
            cached = self._grammars.get(key)
        if cached is not None:
            return cached
        grammar_module = _llama_cpp_module("llama_cpp.llama_grammar")
        try:
            gbnf = str(grammar_module.json_schema_to_gbnf(key))
        except Exception as error:  # the converter raises bare Exceptions and more
            raise InferenceError(f"cannot turn the JSON schema into a grammar: {error}") from error
        with self._state_lock:
            if len(self._grammars) >= _GRAMMAR_CACHE_SIZE:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[key] = gbnf
        return gbnf

    def _start_sweeper(self) -> None:
        intervals = [
            s.settings.idle_unload_s for s in self._slots.values() if s.settings.idle_unload_s > 0
        ]
        if not intervals or not self._background_sweep:
            return
        with self._state_lock:
            if self._sweeper is not None:
                return
            every = min(max(min(intervals) / 4, _SWEEP_MIN_S), _SWEEP_MAX_S)
            self._stop_sweeper = stop = threading.Event()
            self._sweeper = threading.Thread(
                target=self._sweep_loop, args=(stop, every), name="hexad-llama-unload", daemon=True
            )
            self._sweeper.start()

    def _sweep_loop(self, stop: threading.Event, every: float) -> None:
        while not stop.wait(every):
            try:
                self.sweep()
            except Exception:  # a failing close must not end the thread silently
                log.exception("unloading idle models failed")
            with self._state_lock:
                if stop.is_set():
                    return
                if not any(slot.loaded for slot in self._slots.values()):
                    self._sweeper = None  # the next load starts another
                    return


@dataclass(eq=False)
class _Slot:
    """One model: its ``Llama`` (under ``lock``) and its tokenizer (under ``vocab_lock``).

    Lock order: ``lock`` before ``vocab_lock``.
    """

    name: str
    settings: ModelSettings
    last_used: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    vocab_lock: threading.Lock = field(default_factory=threading.Lock)
    llm: Any = None
    vocab: _Vocab | None = None
    embedder: LlamaEmbedder | None = None

    @property
    def loaded(self) -> bool:
        embedder = self.embedder
        return (
            self.llm is not None
            or self.vocab is not None
            or (embedder is not None and embedder.loaded)
        )


def _model_path(slot: _Slot) -> Path:
    assert slot.settings.path is not None  # only models with a path get a slot
    path = Path(slot.settings.path).expanduser()
    if not path.is_file():
        raise ModelUnavailableError(f"model {slot.name!r}: the file {path} does not exist")
    return path


def _llama_cpp_module(name: str) -> ModuleType:
    llama_cpp_module()  # the clear error when llama-cpp-python is missing
    return importlib.import_module(name)


class _TurnQueue:
    """A FIFO lock: turns are given in arrival order; a waiter may leave when cancelled."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiters: deque[object] = deque()
        self._busy = False

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiters)

    def acquire(self, cancel: CancelToken | None) -> bool:
        """Wait for the turn; ``False`` when ``cancel`` was set first."""
        me = object()
        with self._cond:
            self._waiters.append(me)
            try:
                while self._busy or self._waiters[0] is not me:
                    if cancel is not None and cancel.cancelled:
                        return False
                    self._cond.wait(_QUEUE_POLL_S if cancel is not None else None)
                self._busy = True
                return True
            finally:
                self._waiters.remove(me)
                self._cond.notify_all()  # a new head, or a head that left

    def release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()


class _Vocab:
    """A GGUF file's vocabulary and metadata alone: llama.cpp's ``vocab_only`` load."""

    def __init__(self, llama_cpp: ModuleType, model: Any, name: str) -> None:
        self._lc = llama_cpp
        self._model = model
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._name = name
        self._bos = int(llama_cpp.llama_vocab_bos(self._vocab))
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab)) and self._bos >= 0
        self._chat: Any = None  # the Jinja formatter, made on first use

    @classmethod
    def load(cls, path: Path, name: str) -> _Vocab:
        llama_cpp = llama_cpp_module()
        llama_cpp.llama_backend_init()  # idempotent; Llama() does it on first use too
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        model = llama_cpp.llama_model_load_from_file(str(path).encode("utf-8"), params)
        if not model:
            raise ModelUnavailableError(f"cannot load model {name!r} ({path}): not a readable GGUF")
        return cls(llama_cpp, model, name)

    def close(self) -> None:
        if self._model is not None:
            self._lc.llama_model_free(self._model)
            self._model = None

    def tokenize(self, text: str) -> list[int]:
        """Tokens for ``text``: special tokens parsed (as llama-cpp-python does for string
        prompts and chat), one BOS in front when the model wants it."""
        data = text.encode("utf-8", "replace")
        size = len(data) + 8
        while True:
            buffer = (self._lc.llama_token * size)()
            n = int(
                self._lc.llama_tokenize(self._vocab, data, len(data), buffer, size, False, True)
            )
            if n >= 0:
                break
            size = -n
        tokens = list(buffer[:n])
        if self._add_bos and (not tokens or tokens[0] != self._bos):
            tokens.insert(0, self._bos)
        return tokens

    def metadata(self, key: str) -> str | None:
        buffer = ctypes.create_string_buffer(256)
        n = int(self._lc.llama_model_meta_val_str(self._model, key.encode(), buffer, 256))
        return None if n < 0 else buffer.value.decode("utf-8", "replace")

    def format_chat(self, request: GenerationRequest) -> tuple[str, str]:
        """The chat prompt, and its template's source: ``gguf`` or ``builtin:<name>``."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        template = self._lc.llama_model_chat_template(self._model, None)
        if template:
            if self._chat is None:
                formats = _llama_cpp_module("llama_cpp.llama_chat_format")
                self._chat = formats.Jinja2ChatFormatter(
                    template=template.decode("utf-8"),
                    bos_token=self._token_text(self._bos),
                    eos_token=self._token_text(int(self._lc.llama_vocab_eos(self._vocab))),
                )
            try:
                return str(self._chat(messages=messages).prompt), "gguf"
            except Exception as error:  # Jinja errors, raise_exception() in templates
                raise InferenceError(
                    f"model {self._name!r}'s chat template failed: {error}"
                ) from error
        architecture = self.metadata("general.architecture") or "unknown"
        builtin = _BUILTIN_TEMPLATES.get(architecture)
        if builtin is None:
            raise InferenceError(
                f"model {self._name!r} ({architecture}) has no chat template; send a plain prompt"
            )
        return self._apply_builtin(builtin, messages), f"builtin:{builtin}"

    def _apply_builtin(self, name: str, messages: list[dict[str, str]]) -> str:
        lc = self._lc
        chat = (lc.llama_chat_message * len(messages))(
            *(
                lc.llama_chat_message(m["role"].encode(), m["content"].encode("utf-8", "replace"))
                for m in messages
            )
        )
        size = 2 * sum(len(m["content"]) for m in messages) + 256
        for _ in range(2):
            buffer = ctypes.create_string_buffer(size)
            n = int(
                lc.llama_chat_apply_template(name.encode(), chat, len(messages), True, buffer, size)
            )
            if n < 0:
                raise InferenceError(f"llama.cpp has no chat template named {name!r}")
            if n <= size:
                return buffer.raw[:n].decode("utf-8", "replace")
            size = n
        raise InferenceError(f"chat template {name!r} did not fit its buffer")

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self._lc.llama_vocab_get_text(self._vocab, token)).decode("utf-8", "replace")
