"""Settings a client sends (initializationOptions, workspace/didChangeConfiguration).

An invalid value never stops the server: it is reported once, in one sentence, and
replaced by its default; every valid value is kept.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class IndexSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workers: int | None = Field(default=None, ge=1, le=64, description="parsing processes")
    watch: bool = Field(default=True, description="follow changes made outside the editor")
    debounce_ms: int = Field(default=300, ge=0, le=60_000)


class MemorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="keep semantic memory in step with the index")
    embed_model: str | None = Field(
        default=None, description="GGUF file for llama.cpp embeddings; none: the workspace's own"
    )


class ModelSettings(BaseModel):
    """One model, by the name routes use: a GGUF file run in process, or a model served
    by an OpenAI-compatible server (llama.cpp's server, vLLM, Ollama)."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="GGUF file, run by llama.cpp in process")
    url: str | None = Field(default=None, description="OpenAI-compatible base URL (.../v1)")
    remote_name: str | None = Field(default=None, description="the server's name for it")
    role: Literal["chat", "code", "embedding"] = "chat"
    n_ctx: int = Field(default=4096, ge=128, le=1_048_576, description="context tokens")
    threads: int | None = Field(default=None, ge=1, le=256)
    idle_unload_s: float = Field(default=300.0, ge=0, description="unload after idle; 0 never")
    timeout_s: float = Field(default=120.0, gt=0, description="per HTTP request")
    retries: int = Field(default=2, ge=0, le=10, description="HTTP retries on failure")
    api_key_env: str | None = Field(default=None, description="env var with a bearer token")

    @model_validator(mode="after")
    def _one_place(self) -> ModelSettings:
        if (self.path is None) == (self.url is None):
            raise ValueError("a model needs exactly one of path (GGUF file) or url (server)")
        return self


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: IndexSettings = IndexSettings()
    memory: MemorySettings = MemorySettings()
    models: dict[str, ModelSettings] = Field(
        default_factory=dict, description="models by name; governance routes name them"
    )
    jedi: bool = Field(default=True, description="ask jedi where the index is not certain")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_file: str | None = None


def parse_settings(raw: Any) -> tuple[Settings, list[str]]:
    """Validate ``raw``; return the settings and one message per value that was replaced."""
    if raw is None:
        return Settings(), []
    if not isinstance(raw, dict):
        return Settings(), [f"settings must be an object, got {type(raw).__name__}; using defaults"]
    data: dict[str, Any] = {k: v for k, v in raw.items() if k != "hexad"}
    if isinstance(raw.get("hexad"), dict):  # the client may nest under its section name
        data.update(raw["hexad"])
    problems: list[str] = []
    for _attempt in range(32):
        try:
            return Settings.model_validate(data), problems
        except ValidationError as exc:
            for error in exc.errors():
                loc = [str(p) for p in error["loc"]]
                name = ".".join(loc)
                if error["type"] == "extra_forbidden":
                    problems.append(f"unknown setting {name}; ignored")
                else:
                    problems.append(f"setting {name}: {error['msg']}; using the default")
                _drop(data, loc)
    return Settings(), [*problems, "settings could not be repaired; using defaults"]


def _drop(data: dict[str, Any], loc: list[str]) -> None:
    node: Any = data
    for key in loc[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    if isinstance(node, dict):
        node.pop(loc[-1], None)
