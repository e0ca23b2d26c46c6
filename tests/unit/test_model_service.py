"""Model calls under governance, with a scripted backend: routing, the degraded answer
when no model can serve, budgets that refuse or cap a generation, the ledger record of
the prompt, failures and cancellation. The real backends have their own integration
tests; here only the logic around them is under test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hexad.core.settings import ModelSettings
from hexad.execution.models import ModelService
from hexad.governance import open_engine
from hexad.inference.base import CancelToken, GenerationRequest, InferenceError
from hexad.inference.fake import ScriptedBackend
from hexad.inference.prompts import prompt

POLICY = """
version = 1
[budgets]
tokens_per_task = {per_task}

[routing.tasks.implement]
engine = "model"
model = "local"

[routing.tasks.plan]
engine = "model"
model = "remote"
"""

LONG_ANSWER = " ".join(f"word{i}" for i in range(400))


def _service(
    root: Path, backend: ScriptedBackend, *, per_task: int = 100_000, remote: bool = False
) -> ModelService:
    policies = root / ".hexad" / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    (policies / "test.toml").write_text(POLICY.format(per_task=per_task), encoding="utf-8")
    engine = open_engine(root, user_file=None)
    models = {"local": ModelSettings(path=str(root / "model.gguf"))}
    if remote:
        models["remote"] = ModelSettings(url="http://127.0.0.1:9/v1")
    return ModelService(engine, models, {"llama": backend})


def _request() -> GenerationRequest:
    return prompt("implement").render(
        notes="-", context="def helper(): ...", language="python", signature="def f(x):"
    )


def test_a_routed_call_runs_and_the_ledger_names_its_prompt(tmp_path: Path) -> None:
    backend = ScriptedBackend({"local": "def f(x):\n    return x"})
    service = _service(tmp_path, backend)
    call = service.generate("implement", _request(), task_id="t1")
    assert call.ok and call.model == "local"
    assert call.generation is not None and call.generation.text.startswith("def f(x):")
    assert call.generation.logprobs and call.generation.finish_reason == "stop"
    assert call.decision is not None and call.decision.allowed

    rows = service.engine.ledger.entries(task_id="t1")  # type: ignore[union-attr]
    decision = next(e for e in rows if e.type == "decision")
    action = json.loads(
        service.engine.ledger.conn.execute(  # type: ignore[union-attr]
            "SELECT action FROM governance_decisions WHERE id = ?", (decision.id,)
        ).fetchone()[0]
    )
    template = prompt("implement")
    assert action["prompt"] == template.label and action["model"] == "local"
    spent = service.engine.ledger.spent("tokens", task_id="t1")  # type: ignore[union-attr]
    assert spent == call.generation.total_tokens  # reserved, then adjusted to the actual


@pytest.mark.parametrize(
    ("task", "why"),
    [
        ("rename", "governance routes 'rename' to the structural engine"),
        ("plan", "uses model 'remote', which is not configured"),
        ("no_such_task", "to the structural engine"),
    ],
)
def test_no_usable_model_degrades_with_a_reason(tmp_path: Path, task: str, why: str) -> None:
    backend = ScriptedBackend({"local": "x"})
    call = _service(tmp_path, backend).generate(task, _request())
    assert not call.ok and call.unavailable is not None and why in call.unavailable
    assert backend.calls == []


def test_a_model_on_a_missing_backend_degrades(tmp_path: Path) -> None:
    call = _service(tmp_path, ScriptedBackend(), remote=True).generate("plan", _request())
    assert not call.ok and "needs the openai backend" in (call.unavailable or "")


def test_a_budget_caps_a_long_generation(tmp_path: Path) -> None:
    backend = ScriptedBackend({"local": LONG_ANSWER})
    request = _request()
    prompt_tokens = backend.count_tokens("local", request)
    service = _service(tmp_path, backend, per_task=prompt_tokens + 25)
    call = service.generate("implement", request, task_id="capped")
    assert call.generation is not None
    assert call.generation.finish_reason == "budget"
    assert call.generation.completion_tokens == 25
    spent = service.engine.ledger.spent("tokens", task_id="capped")  # type: ignore[union-attr]
    assert spent == prompt_tokens + 25

    again = service.generate("implement", request, task_id="capped")
    assert not again.ok and "token budget is spent" in (again.unavailable or "")
    assert len(backend.calls) == 1  # the second call never reached the model


def test_a_failing_backend_degrades_and_spends_nothing(tmp_path: Path) -> None:
    backend = ScriptedBackend({"local": InferenceError("the model crashed")})
    service = _service(tmp_path, backend)
    call = service.generate("implement", _request(), task_id="boom")
    assert not call.ok and "the model crashed" in (call.unavailable or "")
    assert service.engine.ledger.spent("tokens", task_id="boom") == 0  # type: ignore[union-attr]


def test_cancellation_returns_what_was_generated(tmp_path: Path) -> None:
    backend = ScriptedBackend({"local": LONG_ANSWER})
    service = _service(tmp_path, backend)
    cancel = CancelToken()

    def progress(tokens: int, _text: str) -> None:
        if tokens == 7:
            cancel.cancel()

    call = service.generate("implement", _request(), cancel=cancel, on_progress=progress)
    assert call.generation is not None and call.generation.finish_reason == "cancelled"
    assert call.generation.completion_tokens == 7
