"""The inference contract: requests, generations, cancellation, and the backend protocol.

Every backend — llama.cpp in process, an OpenAI-compatible server — takes the same
``GenerationRequest`` and returns the same ``Generation``: the text, why it stopped, token
counts (for governance's budgets), token log-probabilities (for trust), and timings.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hexad.core.embedding import Vectors
from hexad.core.errors import HexadError
from hexad.core.secrets import redact

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "budget"]


class InferenceError(HexadError):
    """A model call failed: the server is unreachable, the model crashed, a timeout."""


class ModelUnavailableError(HexadError):
    """The GGUF file is missing or unreadable, or llama.cpp is not installed."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class PromptRef:
    """Which prompt template produced a request: recorded with every call."""

    name: str
    version: str
    hash: str

    @property
    def label(self) -> str:
        """``name@version#hash`` (12 hex digits), as the ledger records it."""
        return f"{self.name}@{self.version}#{self.hash[:12]}"


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """Chat (``messages``) or plain completion (``prompt``): exactly one of the two.

    Whatever looks like a secret (``core.secrets``) is redacted from the text as the request
    is made, so no backend — in process or across the network — is ever sent one, whoever
    built the prompt (templates, the planner's retries, a command's raw values)."""

    messages: tuple[ChatMessage, ...] = ()
    prompt: str | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    json_schema: Mapping[str, Any] | None = None  # constrain the output to this schema
    top_logprobs: int = 0  # alternatives kept per token (the chosen token's is always kept)
    template: PromptRef | None = None

    def __post_init__(self) -> None:
        if bool(self.messages) == (self.prompt is not None):
            raise ValueError("a request has either messages or a prompt")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        cleaned = tuple(ChatMessage(m.role, redact(m.content)) for m in self.messages)
        if cleaned != self.messages:
            object.__setattr__(self, "messages", cleaned)
        if self.prompt is not None:
            object.__setattr__(self, "prompt", redact(self.prompt))


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    model: str
    backend: str
    seconds: float
    first_token_seconds: float | None = None
    logprobs: tuple[TokenLogprob, ...] = ()
    template: PromptRef | None = None
    parsed: Any = None  # the JSON value, when a schema constrained the output
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def logprob_stats(self) -> dict[str, float]:
        """Summary statistics trust uses: mean and min token log-probability, perplexity."""
        values = [t.logprob for t in self.logprobs if math.isfinite(t.logprob)]
        if not values:
            return {}
        mean = sum(values) / len(values)
        return {
            "mean_logprob": mean,
            "min_logprob": min(values),
            "perplexity": math.exp(-mean),
            "tokens": float(len(values)),
        }

    def json(self) -> Any:
        """The output parsed as JSON (raises ValueError when it is not)."""
        return self.parsed if self.parsed is not None else json.loads(self.text)


class CancelToken:
    """Set by whoever asked (an LSP ``$/cancelRequest``); backends check it per token."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


Progress = Callable[[int, str], None]  # completion tokens so far, text so far


class Backend(Protocol):
    """One way to reach models. ``model`` is a name from settings."""

    @property
    def name(self) -> str: ...

    def count_tokens(self, model: str, request: GenerationRequest) -> int:
        """Prompt tokens the request will cost, before it is sent."""
        ...

    def generate(
        self,
        model: str,
        request: GenerationRequest,
        *,
        cancel: CancelToken | None = None,
        on_progress: Progress | None = None,
        max_total_tokens: int | None = None,
    ) -> Generation:
        """Run the request. ``max_total_tokens`` (prompt + completion) is a budget cap: the
        generation stops there with ``finish_reason == "budget"``. A cancelled request
        returns what was generated so far with ``finish_reason == "cancelled"``."""
        ...

    def embed(self, model: str, texts: Sequence[str]) -> Vectors: ...

    def close(self) -> None: ...
