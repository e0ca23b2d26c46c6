"""The decode loop of the in-process backend: prompt evaluation in batches, sampling
through llama.cpp's sampler chain (greedy, or temperature -> top-p -> draw), an optional
grammar checked against the sampled token first, each token's log-probability from the
raw logits, stop strings, cancellation and the token budget. See ``llama.py`` for why
Hexad drives ``Llama.eval`` itself instead of ``create_completion``.
"""

from __future__ import annotations

import codecs
import ctypes
import math
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from hexad.inference.base import (
    CancelToken,
    FinishReason,
    GenerationRequest,
    InferenceError,
    Progress,
    TokenLogprob,
)
from hexad.inference.native import llama_cpp_module

_GRAMMAR_SHORTLIST = 128  # candidates the grammar checks before the whole vocabulary
_RANDOM_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: llama.cpp picks a random seed
_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)


@dataclass(frozen=True, slots=True)
class Outcome:
    text: str
    finish: FinishReason
    completion_tokens: int
    first_token_seconds: float | None
    logprobs: tuple[TokenLogprob, ...]
    extra: dict[str, Any]


def decode(
    llm: Any,
    tokens: list[int],
    request: GenerationRequest,
    *,
    grammar: str | None,
    limit: int,
    cap: FinishReason,
    cancel: CancelToken | None,
    on_progress: Progress | None,
    started: float,
) -> Outcome:
    """Evaluate the prompt, then sample up to ``limit`` tokens (``llm``'s lock held)."""
    lc = llama_cpp_module()
    vocab = lc.llama_model_get_vocab(llm.model)
    n_vocab = int(llm.n_vocab())
    prefill_start = time.perf_counter()
    reused = prefill(lc, llm, tokens, cancel)
    extra: dict[str, Any] = {
        "prompt_seconds": time.perf_counter() - prefill_start,
        "reused_prompt_tokens": max(reused, 0),
    }
    if reused < 0:
        return Outcome("", "cancelled", 0, None, (), extra)
    pieces = Pieces(lc, vocab)
    stops = [s for s in request.stop if s]
    longest_stop = max((len(s) for s in stops), default=0)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = ""
    generated: list[int] = []
    logprobs: list[TokenLogprob] = []
    first: float | None = None
    finish: FinishReason = cap
    cut = False
    sampler = Sampler(lc, vocab, n_vocab, request, grammar)
    try:
        while True:
            if cancel is not None and cancel.cancelled:
                finish = "cancelled"
                break
            logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
            token = sampler.sample(logits)
            if first is None:
                first = time.perf_counter() - started
            if lc.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            generated.append(token)
            logprobs.append(token_logprob(logits, token, request.top_logprobs, pieces))
            before = len(text)
            text += decoder.decode(pieces(token))
            if stops:
                at = find_stop(text, stops, max(0, before - longest_stop))
                if at is not None:
                    text, finish, cut = text[:at], "stop", True
                    break
            if on_progress is not None:
                on_progress(len(generated), text[: len(text) - held_back(text, stops)])
            if len(generated) >= limit:
                break  # finish is the cap: "length" or "budget"
            llm.eval([token])
    finally:
        sampler.close()
    if not cut:
        text += decoder.decode(b"", final=True)  # a dangling partial character
    extra["grammar_full_passes"] = sampler.full_passes
    return Outcome(text, finish, len(generated), first, tuple(logprobs), extra)


def prefill(lc: ModuleType, llm: Any, tokens: list[int], cancel: CancelToken | None) -> int:
    """Evaluate ``tokens`` after the longest prefix already in the KV cache, one batch at a
    time; return how many were reused, or -1 when cancelled between batches."""
    cached = llm.input_ids[: llm.n_tokens].tolist()
    reuse = 0
    for a, b in zip(cached, tokens, strict=False):
        if a != b:
            break
        reuse += 1
    # the last prompt token is always evaluated again: sampling needs its logits
    reuse = max(min(reuse, len(tokens) - 1), 0)
    if reuse > 0 and not lc.llama_memory_seq_rm(lc.llama_get_memory(llm.ctx), -1, reuse, -1):
        reuse = 0  # a recurrent model cannot drop a partial sequence
    if reuse == 0:
        llm.reset()
    else:
        llm.n_tokens = reuse
    batch = int(llm.n_batch)
    for start in range(reuse, len(tokens), batch):
        if cancel is not None and cancel.cancelled:
            return -1
        llm.eval(tokens[start : start + batch])
    return reuse


class Pieces:
    """Token id → its bytes (cached: alternatives repeat)."""

    def __init__(self, lc: ModuleType, vocab: Any) -> None:
        self._lc = lc
        self._vocab = vocab
        self._cache: dict[int, bytes] = {}

    def __call__(self, token: int) -> bytes:
        piece = self._cache.get(token)
        if piece is None:
            size = 32
            while True:
                buffer = ctypes.create_string_buffer(size)
                n = int(self._lc.llama_token_to_piece(self._vocab, token, buffer, size, 0, False))
                if n >= 0:
                    piece = buffer.raw[:n]
                    break
                size = -n
            self._cache[token] = piece
        return piece

    def text(self, token: int) -> str:
        return self(token).decode("utf-8", "replace")


class Sampler:
    """llama.cpp's sampler chain (greedy, or temperature → top-p → random draw) and, for
    JSON output, a grammar checked against the sampled token first (see the module)."""

    def __init__(
        self,
        lc: ModuleType,
        vocab: Any,
        n_vocab: int,
        request: GenerationRequest,
        grammar: str | None,
    ) -> None:
        self._lc = lc
        self._greedy = request.temperature <= 0
        self.full_passes = 0
        self._chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        self._grammar: Any = None
        if self._greedy:
            lc.llama_sampler_chain_add(self._chain, lc.llama_sampler_init_greedy())
        else:
            seed = _RANDOM_SEED if request.seed is None else request.seed & 0xFFFFFFFF
            lc.llama_sampler_chain_add(self._chain, lc.llama_sampler_init_temp(request.temperature))
            if request.top_p < 1.0:
                lc.llama_sampler_chain_add(
                    self._chain, lc.llama_sampler_init_top_p(request.top_p, 1)
                )
            lc.llama_sampler_chain_add(self._chain, lc.llama_sampler_init_dist(seed))
        if grammar is not None:
            self._grammar = lc.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
            if not self._grammar:
                self.close()
                raise InferenceError("llama.cpp rejected the grammar made from the JSON schema")
        self._ids = np.arange(n_vocab, dtype=np.intc)
        self._all = Candidates(lc, n_vocab)
        self._few = Candidates(lc, _GRAMMAR_SHORTLIST)

    def sample(self, logits: np.ndarray[Any, Any]) -> int:
        token = self._draw(self._all.fill(self._ids, logits))
        if self._grammar is not None:
            if not self._allowed(token, logits):
                token = self._constrained(logits)
            self._lc.llama_sampler_accept(self._grammar, token)
        self._lc.llama_sampler_accept(self._chain, token)
        return token

    def close(self) -> None:
        if self._chain is not None:
            self._lc.llama_sampler_free(self._chain)
            self._chain = None
        if self._grammar is not None:
            self._lc.llama_sampler_free(self._grammar)
            self._grammar = None

    def _draw(self, candidates: Candidates) -> int:
        self._lc.llama_sampler_apply(self._chain, candidates.ref)
        return candidates.selected()

    def _allowed(self, token: int, logits: np.ndarray[Any, Any]) -> bool:
        one = self._few.fill(np.array([token], dtype=np.intc), logits)
        self._lc.llama_sampler_apply(self._grammar, one.ref)
        return bool(np.isfinite(one.data["logit"][0]))

    def _constrained(self, logits: np.ndarray[Any, Any]) -> int:
        if self._greedy:  # the best allowed token is usually among the most likely ones
            top = np.argpartition(logits, -_GRAMMAR_SHORTLIST)[-_GRAMMAR_SHORTLIST:]
            top = top[np.argsort(-logits[top], kind="stable")].astype(np.intc)
            few = self._few.fill(top, logits)
            self._lc.llama_sampler_apply(self._grammar, few.ref)
            allowed = np.flatnonzero(np.isfinite(few.data["logit"][: len(top)]))
            if len(allowed):
                return int(top[allowed[0]])  # exact: sorted, and greedy takes the best
        self.full_passes += 1
        candidates = self._all.fill(self._ids, logits)
        self._lc.llama_sampler_apply(self._grammar, candidates.ref)
        return self._draw(candidates)


class Candidates:
    """A ``llama_token_data_array`` over a reusable numpy buffer."""

    def __init__(self, lc: ModuleType, capacity: int) -> None:
        self.data = np.zeros(capacity, dtype=_TOKEN_DATA)
        self._array = lc.llama_token_data_array(
            data=self.data.ctypes.data_as(lc.llama_token_data_p),
            size=capacity,
            selected=-1,
            sorted=False,
        )
        self.ref = ctypes.byref(self._array)

    def fill(self, ids: np.ndarray[Any, Any], logits: np.ndarray[Any, Any]) -> Candidates:
        n = len(ids)
        self.data["id"][:n] = ids
        self.data["logit"][:n] = logits if n == len(logits) else logits[ids]
        self.data["p"][:n] = 0.0
        self._array.size = n
        self._array.selected = -1
        self._array.sorted = False
        return self

    def selected(self) -> int:
        index = int(self._array.selected)
        if index < 0:
            raise InferenceError("the sampler selected no token (the grammar allows none)")
        return int(self.data["id"][index])


def token_logprob(
    logits: np.ndarray[Any, Any], token: int, top: int, pieces: Pieces
) -> TokenLogprob:
    peak = float(logits.max())
    log_total = peak + math.log(float(np.exp(logits - peak).sum(dtype=np.float64)))
    alternatives: tuple[tuple[str, float], ...] = ()
    if top > 0:
        k = min(top, len(logits))
        best = np.argpartition(logits, -k)[-k:]
        best = best[np.argsort(-logits[best], kind="stable")]
        alternatives = tuple((pieces.text(int(i)), float(logits[i]) - log_total) for i in best)
    return TokenLogprob(pieces.text(token), float(logits[token]) - log_total, alternatives)


def find_stop(text: str, stops: list[str], start: int) -> int | None:
    found = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(found) if found else None


def held_back(text: str, stops: list[str]) -> int:
    """Characters at the end of ``text`` that may be the start of a stop string."""
    held = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), held, -1):
            if text.endswith(stop[:n]):
                held = n
                break
    return held
