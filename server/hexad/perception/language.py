"""Languages Hexad can read, discovered from ``grammars/<lang>/``.

Each folder holds ``language.toml`` (which wheel provides the grammar, which file
extensions it covers, which export and import conventions apply) and ``tags.scm`` (the
tree-sitter query). Adding a language means adding a grammar wheel and such a folder.
"""

from __future__ import annotations

import importlib
import logging
import tomllib
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
    # another grammar folder whose tags.scm comes first (a dialect: TSX extends TypeScript)
    extends: str | None = None


class LanguageSpec:
    """A language: its manifest now, its grammar and compiled query on first use.

    Compiling a tags query costs tens of milliseconds, so a workspace pays only for the
    languages it contains. A grammar that fails to load fails once, with a GrammarError
    that says why, and the indexer skips that language's files with the reason.
    """

    def __init__(self, manifest: LanguageManifest, folder: Path) -> None:
        self.manifest = manifest
        self.folder = folder
        self._compiled: tuple[Language, Query, str] | None = None
        self._error: GrammarError | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    def _compile(self) -> tuple[Language, Query, str]:
        if self._compiled is not None:
            return self._compiled
        if self._error is not None:
            raise self._error
        try:
            self._compiled = _compile(self.manifest, self.folder)
        except GrammarError as exc:
            self._error = exc
            raise
        return self._compiled

    @property
    def language(self) -> Language:
        return self._compile()[0]

    @property
    def query(self) -> Query:
        return self._compile()[1]

    @property
    def query_source(self) -> str:
        return self._compile()[2]

    def load_error(self) -> str | None:
        """Why this grammar cannot be used, or None when it loads."""
        try:
            self._compile()
        except GrammarError as exc:
            return str(exc)
        return None

    def source_digest(self) -> bytes:
        """The manifest and query as shipped, without compiling anything."""
        return (self.folder / "language.toml").read_bytes() + _query_text(
            self.manifest, self.folder
        ).encode("utf-8")

    def parser(self) -> Parser:
        return Parser(self.language)


def _read_manifest(folder: Path) -> LanguageManifest:
    manifest_path = folder / "language.toml"
    try:
        raw = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
        return LanguageManifest.model_validate({"name": folder.name, **raw})
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise GrammarError(f"{manifest_path}: {exc}") from exc


def _query_text(manifest: LanguageManifest, folder: Path) -> str:
    """The folder's tags.scm, after the one of the folder it extends (if any)."""
    own = (folder / "tags.scm").read_text(encoding="utf-8")
    if manifest.extends is None:
        return own
    base = (folder.parent / manifest.extends / "tags.scm").read_text(encoding="utf-8")
    return f"{base}\n; -- {manifest.name} --\n{own}"


def _compile(manifest: LanguageManifest, folder: Path) -> tuple[Language, Query, str]:
    query_path = folder / "tags.scm"
    try:
        grammar_module = importlib.import_module(manifest.module)
        language = Language(getattr(grammar_module, manifest.function)())
    except (ImportError, AttributeError) as exc:
        raise GrammarError(
            f"grammar {manifest.name!r}: cannot load {manifest.module}: {exc}"
        ) from exc
    try:
        source = _query_text(manifest, folder)
        query = Query(language, source)
    except OSError as exc:
        raise GrammarError(f"{query_path}: {exc}") from exc
    except Exception as exc:  # tree-sitter raises QueryError subclasses of several kinds
        raise GrammarError(f"{query_path}: invalid query: {exc}") from exc
    return language, query, source


class LanguageRegistry:
    """All languages found under a grammars folder, looked up by name or file name."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or data_dir("grammars")
        self._by_name: dict[str, LanguageSpec] = {}
        self._by_ext: dict[str, LanguageSpec] = {}
        self._by_filename: dict[str, LanguageSpec] = {}
        self._manifest_errors: list[str] = []
        for folder in sorted(p for p in self.root.iterdir() if (p / "language.toml").is_file()):
            try:
                spec = LanguageSpec(_read_manifest(folder), folder)
            except GrammarError as exc:
                # One broken grammar must not take the others down; report and go on.
                log.warning("skipping grammar: %s", exc)
                self._manifest_errors.append(str(exc))
                continue
            self._by_name[spec.name] = spec
            for ext in spec.manifest.extensions:
                self._by_ext[ext] = spec
            for filename in spec.manifest.filenames:
                self._by_filename[filename] = spec

    @property
    def errors(self) -> list[str]:
        """Every grammar problem; compiles each language to find out (not for hot paths)."""
        found = list(self._manifest_errors)
        for name in self.names:
            error = self._by_name[name].load_error()
            if error is not None:
                found.append(error)
        return found

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, name: str) -> LanguageSpec:
        return self._by_name[name]

    def for_path(self, path: str | Path) -> LanguageSpec | None:
        name = str(path).rsplit("/", 1)[-1]
        spec = self._by_filename.get(name)
        if spec is not None:
            return spec
        # longest compound suffix first, so ".d.ts" can differ from ".ts"
        dot = name.find(".", 1)
        while dot > 0:
            spec = self._by_ext.get(name[dot:])
            if spec is not None:
                return spec
            dot = name.find(".", dot + 1)
        return None

    def extensions(self) -> frozenset[str]:
        return frozenset(self._by_ext)


@cache
def default_registry() -> LanguageRegistry:
    return LanguageRegistry()
