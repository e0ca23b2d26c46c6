"""``hexad generate``: a packaged prompt through the routed model, on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hexad.inference.embedding import gemma_model_path

CACHE = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
ARGS = [
    "generate",
    "implement",
    "--prompt",
    "implement",
    "--var",
    "notes=-",
    "--var",
    "context=def helper(): ...",
    "--var",
    "language=python",
    "--var",
    "signature=def add(a: int, b: int) -> int:",
    "--max-tokens",
    "12",
    "--json",
]


def _hexad(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hexad", *args, "-w", str(ws)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_without_a_model_it_says_why_and_fails(tmp_path: Path) -> None:
    proc = _hexad(tmp_path, *ARGS)
    assert proc.returncode == 1
    answer = json.loads(proc.stdout)
    assert answer["ok"] is False and "not configured" in answer["unavailable"]


def test_with_the_gguf_it_answers_and_the_ledger_names_the_prompt(tmp_path: Path) -> None:
    model = gemma_model_path(CACHE / "models")
    proc = _hexad(tmp_path, *ARGS, "--model-path", str(model), "--task-id", "cli")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["ok"] is True and answer["model"] == "local" and answer["backend"] == "llama"
    assert answer["completionTokens"] <= 12 and answer["logprobs"]["tokens"] >= 1
    ledger = _hexad(tmp_path, "policy", "ledger", "--task", "cli", "--json")
    entries = json.loads(ledger.stdout)
    assert any(e["type"] == "decision" and e["kind"] == "generate" for e in entries)
