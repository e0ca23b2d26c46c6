"""Prompt templates are data: TOML files in ``hexad/inference/prompts/``, versioned.

A template has a ``name``, a ``version`` its author bumps when the wording changes, a
``system`` and a ``user`` text with ``$placeholders`` (``string.Template``: code is full of
braces, so ``str.format`` would not do), and optionally a JSON ``schema`` the answer must
follow. Its hash is taken over the file's bytes, so an edit that forgets the version bump
still shows in the ledger, where every model call records ``name@version#hash``.
"""

from __future__ import annotations

import json
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hexad.core.errors import HexadError
from hexad.core.hashing import content_hash
from hexad.inference.base import ChatMessage, GenerationRequest, PromptRef

PROMPTS_DIR = Path(__file__).with_name("prompts")


class PromptError(HexadError):
    """A template is missing, malformed, or rendered without a value it needs."""


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    name: str
    version: str
    description: str
    system: str
    user: str
    schema: Mapping[str, Any] | None
    max_tokens: int
    hash: str
    path: Path

    @property
    def ref(self) -> PromptRef:
        return PromptRef(self.name, self.version, self.hash)

    @property
    def label(self) -> str:
        return self.ref.label

    def placeholders(self) -> set[str]:
        found: set[str] = set()
        for text in (self.system, self.user):
            for _, named, braced, _ in string.Template.pattern.findall(text):
                found.add(named or braced)
        found.discard("")
        return found

    def render(self, *, max_tokens: int | None = None, **values: object) -> GenerationRequest:
        """The request for these values; every placeholder must have one."""
        missing = self.placeholders() - values.keys()
        if missing:
            raise PromptError(f"prompt {self.name} needs {', '.join(sorted(missing))}")
        texts = {k: str(v) for k, v in values.items()}
        messages = []
        if self.system.strip():
            system = string.Template(self.system).substitute(texts)
            messages.append(ChatMessage("system", system))
        messages.append(ChatMessage("user", string.Template(self.user).substitute(texts)))
        return GenerationRequest(
            messages=tuple(messages),
            max_tokens=max_tokens or self.max_tokens,
            json_schema=self.schema,
            template=self.ref,
        )


def load_template(path: Path) -> PromptTemplate:
    try:
        data = path.read_bytes()
        doc = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PromptError(f"cannot read prompt {path.name}: {exc}") from exc
    try:
        schema = doc.get("schema")
        if isinstance(schema, str):  # a JSON document in a string
            schema = json.loads(schema)
        template = PromptTemplate(
            name=str(doc["name"]),
            version=str(doc["version"]),
            description=str(doc.get("description", "")),
            system=str(doc.get("system", "")),
            user=str(doc["user"]),
            schema=schema,
            max_tokens=int(doc.get("max_tokens", 512)),
            hash=content_hash(data),
            path=path,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PromptError(f"prompt {path.name} is malformed: {exc!r}") from exc
    if template.name != path.stem:
        raise PromptError(f"prompt {path.name} is named {template.name!r}; name it {path.stem!r}")
    return template


@lru_cache(maxsize=64)
def prompt(name: str) -> PromptTemplate:
    """The packaged template ``name``."""
    path = PROMPTS_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROMPTS_DIR.glob("*.toml")))
        raise PromptError(f"no prompt named {name!r} (known: {known})")
    return load_template(path)


def all_prompts() -> list[PromptTemplate]:
    return [load_template(p) for p in sorted(PROMPTS_DIR.glob("*.toml"))]
