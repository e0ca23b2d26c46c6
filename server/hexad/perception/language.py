"""Languages Hexad can read, discovered from ``grammars/<lang>/``.

Each folder holds ``language.toml`` (which wheel provides the grammar, which file
extensions it covers, which export and import conventions apply) and ``tags.scm`` (the
tree-sitter query). Adding a language means adding a grammar wheel and such a folder.
"""

from __future__ import annotations

import importlib
import logging
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tree_sitter import Language, Parser, Query

from hexad.core.errors import GrammarError
from hexad.core.resources import data_dir

log = logging.getLogger(__name__)

ExportRule = Literal["python", "keyword", "capitalized", "modifier", "all"]
ImportStyle = Literal["python", "path", "go", "rust", "package", "none"]


class ExportSpec(BaseModel):
    """How a language marks a definition as part of its public API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: ExportRule = "all"
    # keyword: node types that export what they contain (JS/TS ``export_statement``)
    node_types: tuple[str, ...] = ()
    # modifier: child node types holding visibility and the text that means public
    modifier_types: tuple[str, ...] = ()
    modifier_text: tuple[str, ...] = ()
    # members of an exported container are exported unless private by this prefix
    private_prefix: str = ""


class LanguageManifest(BaseModel):
    """The validated contents of ``grammars/<lang>/language.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    module: str = Field(description="Python module of the grammar wheel")
    function: str = "language"
    extensions: tuple[str, ...]
    filenames: tuple[str, ...] = ()
    exports: ExportSpec = ExportSpec()
    imports: ImportStyle = "none"
    self_names: tuple[str, ...] = ()
    container_kinds: tuple[str, ...] = ("class", "interface", "struct", "trait", "impl", "enum")
    module_separator: str = "."


@dataclass(frozen=True)
class LanguageSpec:
    """A loaded language: its manifest, grammar and compiled tags query."""

    manifest: LanguageManifest
    language: Language
    query: Query
    query_source: str
    folder: Path
    capture_names: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.manifest.name

    def parser(self) -> Parser:
        return Parser(self.language)


def _load_folder(folder: Path) -> LanguageSpec:
    manifest_path = folder / "language.toml"
    query_path = folder / "tags.scm"
    try:
        raw = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
        manifest = LanguageManifest.model_validate({"name": folder.name, **raw})
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise GrammarError(f"{manifest_path}: {exc}") from exc
    try:
        grammar_module = importlib.import_module(manifest.module)
        language = Language(getattr(grammar_module, manifest.function)())
    except (ImportError, AttributeError) as exc:
        raise GrammarError(
            f"grammar {manifest.name!r}: cannot load {manifest.module}: {exc}"
        ) from exc
    source = query_path.read_text(encoding="utf-8")
    try:
        query = Query(language, source)
    except Exception as exc:  # tree-sitter raises QueryError subclasses of several kinds
        raise GrammarError(f"{query_path}: invalid query: {exc}") from exc
    captures = frozenset(query.capture_name(i) for i in range(query.capture_count))
    return LanguageSpec(manifest, language, query, source, folder, captures)


class LanguageRegistry:
    """All languages found under a grammars folder, looked up by name or file name."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or data_dir("grammars")
        self._by_name: dict[str, LanguageSpec] = {}
        self._by_ext: dict[str, LanguageSpec] = {}
        self._by_filename: dict[str, LanguageSpec] = {}
        self.errors: list[str] = []
        for folder in sorted(p for p in self.root.iterdir() if (p / "language.toml").is_file()):
            try:
                spec = _load_folder(folder)
            except GrammarError as exc:
                # One broken grammar must not take the others down; report and go on.
                log.warning("skipping grammar: %s", exc)
                self.errors.append(str(exc))
                continue
            self._by_name[spec.name] = spec
            for ext in spec.manifest.extensions:
                self._by_ext[ext] = spec
            for filename in spec.manifest.filenames:
                self._by_filename[filename] = spec

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, name: str) -> LanguageSpec:
        return self._by_name[name]

    def for_path(self, path: str | Path) -> LanguageSpec | None:
        p = Path(path)
        spec = self._by_filename.get(p.name)
        if spec is not None:
            return spec
        suffixes = p.suffixes
        # longest compound suffix first, so ".d.ts" can differ from ".ts"
        for i in range(len(suffixes)):
            spec = self._by_ext.get("".join(suffixes[i:]))
            if spec is not None:
                return spec
        return None

    def extensions(self) -> frozenset[str]:
        return frozenset(self._by_ext)


@cache
def default_registry() -> LanguageRegistry:
    return LanguageRegistry()
