"""A scripted backend for unit tests of the logic around models (routing, budgets,
cancellation, verification of model output): it answers from a script, token by token,
with the same contract as the real backends. Never used outside tests and benchmarks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hexad.core.embedding import Vectors, normalise_rows
from hexad.inference.base import (
    CancelToken,
    FinishReason,
    Generation,
    GenerationRequest,
    InferenceError,
    Progress,
    TokenLogprob,
)

Answer = str | Callable[[GenerationRequest], str] | Exception


def _prompt_text(request: GenerationRequest) -> str:
    if request.prompt is not None:
        return request.prompt
    return "\n".join(f"{m.role}: {m.content}" for m in request.messages)


@dataclass
class ScriptedBackend:
    """Answers ``script[model]`` (a string, a function of the request, or an exception to
    raise). Tokens are whitespace-separated words; each has log-probability ``logprob``."""

    script: dict[str, Answer] = field(default_factory=dict)
    logprob: float = -0.1
    calls: list[tuple[str, GenerationRequest]] = field(default_factory=list)
    name: str = "scripted"

    def count_tokens(self, model: str, request: GenerationRequest) -> int:
        return len(_prompt_text(request).split())

    def generate(
        self,
        model: str,
        request: GenerationRequest,
        *,
        cancel: CancelToken | None = None,
        on_progress: Progress | None = None,
        max_total_tokens: int | None = None,
    ) -> Generation:
        self.calls.append((model, request))
        answer = self.script.get(model)
        if answer is None:
            raise InferenceError(f"scripted backend has no answer for model {model!r}")
        if isinstance(answer, Exception):
            raise answer
        text = answer(request) if callable(answer) else answer
        started = time.perf_counter()
        prompt_tokens = self.count_tokens(model, request)
        allowed = request.max_tokens
        if max_total_tokens is not None:
            allowed = min(allowed, max_total_tokens - prompt_tokens)
        words = text.split(" ")
        out: list[str] = []
        finish: FinishReason = "stop"
        for word in words:
            if cancel is not None and cancel.cancelled:
                finish = "cancelled"
                break
            if len(out) >= allowed:
                finish = (
                    "budget"
                    if max_total_tokens is not None and allowed < request.max_tokens
                    else "length"
                )
                break
            out.append(word)
            if on_progress is not None:
                on_progress(len(out), " ".join(out))
        result = " ".join(out)
        parsed = None
        if request.json_schema is not None and finish == "stop":
            parsed = json.loads(result)
        return Generation(
            text=result,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(out),
            model=model,
            backend=self.name,
            seconds=time.perf_counter() - started,
            first_token_seconds=0.0 if out else None,
            logprobs=tuple(TokenLogprob(w, self.logprob) for w in out),
            template=request.template,
            parsed=parsed,
        )

    def embed(self, model: str, texts: Sequence[str]) -> Vectors:
        rows = np.zeros((len(texts), 8), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                rows[i, sum(word.encode()) % 8] += 1
        return normalise_rows(rows)

    def close(self) -> None:
        pass
