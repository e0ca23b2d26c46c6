"""Model calls under governance: route, budget, run, report — or degrade, with a reason.

Governance's routing picks the engine and model for a task kind; the model's settings pick
the backend (a ``path``: llama.cpp in process; a ``url``: an OpenAI-compatible server).
Before a call the prompt is counted and the call is decided as a ``generate`` action that
reserves prompt + ``max_tokens`` tokens — or less, when less is left in a token budget,
in which case the generation is capped there. After it, what was really spent is
reported. Whatever goes wrong (no model configured, the route says structural, a budget
is spent, the backend fails) the answer is a ``ModelCall`` without a generation and with
one sentence for the user: callers fall back to structural engines, never hang.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from hexad.core.errors import HexadError
from hexad.core.settings import ModelSettings
from hexad.governance import Action, Decision, Engine
from hexad.inference.base import Backend, CancelToken, Generation, GenerationRequest, Progress

log = logging.getLogger(__name__)

TOKEN_BUDGETS = ("tokens_per_task", "tokens_per_day")


@dataclass(frozen=True, slots=True)
class ModelCall:
    task: str
    model: str | None
    generation: Generation | None
    decision: Decision | None = None
    unavailable: str | None = None  # why no model answered, for the user

    @property
    def ok(self) -> bool:
        return self.generation is not None


class ModelService:
    def __init__(
        self,
        engine: Engine,
        models: Mapping[str, ModelSettings],
        backends: Mapping[str, Backend],
    ) -> None:
        """``backends``: ``{"llama": …, "openai": …}`` — those available in this process."""
        self.engine = engine
        self.models = dict(models)
        self.backends = dict(backends)

    def model_for(self, task: str) -> tuple[str | None, str | None]:
        """(model name, None) when ``task`` is routed to a usable model, else (None, why)."""
        route = self.engine.route(task)
        if route is None or route.route.engine != "model":
            engine = route.route.engine if route is not None else "structural"
            return None, f"governance routes {task!r} to the {engine} engine"
        name = route.route.model
        if name is None:
            return None, f"the route for {task!r} names no model"
        settings = self.models.get(name)
        if settings is None:
            configured = ", ".join(sorted(self.models)) or "none"
            return None, (
                f"the route for {task!r} uses model {name!r}, which is not configured "
                f"(models: {configured}); add it under the 'models' setting"
            )
        kind = "llama" if settings.path is not None else "openai"
        if kind not in self.backends:
            return None, f"model {name!r} needs the {kind} backend, which is not available"
        return name, None

    def generate(
        self,
        task: str,
        request: GenerationRequest,
        *,
        task_id: str | None = None,
        cancel: CancelToken | None = None,
        on_progress: Progress | None = None,
    ) -> ModelCall:
        model, why = self.model_for(task)
        if model is None:
            return ModelCall(task, None, None, unavailable=why)
        settings = self.models[model]
        backend = self.backends["llama" if settings.path is not None else "openai"]
        prompt = request.template
        label = prompt.label if prompt else None
        try:
            prompt_tokens = backend.count_tokens(model, request)
        except HexadError as exc:
            return ModelCall(task, model, None, unavailable=f"model {model!r}: {exc}")

        def action(tokens: int) -> Action:
            return Action(
                kind="generate",
                engine="model",
                task=task,
                task_id=task_id,
                tokens=tokens,
                model=model,
                prompt=label,
            )

        wanted = prompt_tokens + request.max_tokens
        left = self._tokens_left(self.engine.explain(action(wanted)))
        reserve = wanted if left is None else min(wanted, int(left))
        if reserve <= prompt_tokens:
            decision = self.engine.decide(action(wanted))  # recorded: refused for budget
            return ModelCall(
                task,
                model,
                None,
                decision,
                unavailable=f"the token budget is spent ({int(left or 0)} left, the prompt "
                f"alone needs {prompt_tokens})",
            )
        decision = self.engine.decide(action(reserve))
        if not decision.allowed:
            reasons = "; ".join(r.why for r in decision.reasons if r.effect != "allow")
            return ModelCall(
                task,
                model,
                None,
                decision,
                unavailable=f"governance answered {decision.effect}: {reasons}",
            )
        try:
            generation = backend.generate(
                model,
                request,
                cancel=cancel,
                on_progress=on_progress,
                max_total_tokens=reserve,
            )
        except HexadError as exc:  # InferenceError, ModelUnavailableError
            log.warning("model %s failed on %s: %s", model, task, exc)
            self.engine.report(decision, tokens=0)
            return ModelCall(task, model, None, decision, unavailable=f"model {model!r}: {exc}")
        self.engine.report(decision, tokens=generation.total_tokens, seconds=generation.seconds)
        return ModelCall(task, model, generation, decision)

    @staticmethod
    def _tokens_left(decision: Decision) -> float | None:
        left = [
            state.remaining
            for name in TOKEN_BUDGETS
            if (state := decision.budget(name)) is not None and state.remaining is not None
        ]
        return min(left) if left else None


def open_model_service(engine: Engine, models: Mapping[str, ModelSettings]) -> ModelService:
    """The service with a backend for each kind of model configured (none: every call
    degrades with its reason, and everything else keeps working)."""
    backends: dict[str, Backend] = {}
    if any(m.path is not None for m in models.values()):
        from hexad.inference.llama import LlamaBackend

        backends["llama"] = LlamaBackend(models)
    if any(m.url is not None for m in models.values()):
        from hexad.inference.openai import OpenAIBackend

        backends["openai"] = OpenAIBackend(models)
    return ModelService(engine, models, backends)


def call_json(call: ModelCall) -> dict[str, object]:
    """A model call as clients see it (LSP command results, ``hexad generate --json``)."""
    data: dict[str, object] = {
        "task": call.task,
        "model": call.model,
        "ok": call.ok,
        "unavailable": call.unavailable,
        "decision": call.decision.decision_id if call.decision is not None else None,
    }
    gen = call.generation
    if gen is not None:
        data.update(
            text=gen.text,
            finishReason=gen.finish_reason,
            promptTokens=gen.prompt_tokens,
            completionTokens=gen.completion_tokens,
            seconds=round(gen.seconds, 3),
            firstTokenSeconds=gen.first_token_seconds,
            logprobs=gen.logprob_stats(),
            parsed=gen.parsed,
            backend=gen.backend,
            prompt=gen.template.label if gen.template else None,
        )
    return data
