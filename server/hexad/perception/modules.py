"""Module names for files, and where an import statement leads.

Each language's manifest names an import style; this module knows those styles. A module
maps to one file (Python, JS/TS paths, Rust) or to several (a Go or Java package).
"""

from __future__ import annotations

import posixpath
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hexad.perception.language import ImportStyle

_PY_STDLIB = frozenset(sys.stdlib_module_names)
_NODE_BUILTINS = frozenset(
    (
        "assert buffer child_process cluster crypto dgram dns events fs http http2 https net "
        "os path perf_hooks process querystring readline stream string_decoder timers tls tty "
        "url util v8 vm worker_threads zlib"
    ).split()
)
_PATH_EXTENSIONS = (
    ".ts",
    ".tsx",
    ".d.ts",
    ".js",
    ".jsx",
    ".mjs",
    ".cjs",
    ".h",
    ".hpp",
    ".hh",
    ".c",
    ".cc",
    ".cpp",
    ".rb",
    ".mts",
    ".cts",
    ".hxx",
    ".cxx",
)
# TypeScript imports name the compiled file: `./x.js` means `./x.ts` when that exists
_TS_FOR_JS = {
    ".js": (".ts", ".tsx", ".d.ts"),
    ".jsx": (".tsx",),
    ".mjs": (".mts",),
    ".cjs": (".cts",),
}
_RUST_STD = frozenset({"std", "core", "alloc", "proc_macro", "test"})
_JAVA_STD = ("java.", "javax.", "jdk.", "kotlin.", "scala.", "System")
_GO_MOD = re.compile(r"^module\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ImportTarget:
    """Where one imported name leads: a workspace module, or a package outside it."""

    module: str | None  # workspace module the name comes from (or is, when name is None)
    name: str | None  # the definition imported from that module; None binds the module
    external: str | None = None  # top-level package when the import leaves the workspace
    stdlib: bool = False


def module_name(style: ImportStyle, root: Path, relpath: str, package: str | None) -> str | None:
    """The module a file defines, in the language's own notation."""
    if style == "python":
        return _python_module(root, relpath)
    if style == "path":
        return _strip_ext(relpath)
    if style == "go":
        directory = posixpath.dirname(relpath)
        prefix = _go_module_prefix(root)
        if prefix:
            return f"{prefix}/{directory}" if directory else prefix
        return directory or "."
    if style == "rust":
        return _rust_module(relpath)
    if style == "package":
        return package or posixpath.dirname(relpath).replace("/", ".") or None
    return None


def _strip_ext(relpath: str) -> str:
    for ext in sorted(_PATH_EXTENSIONS, key=len, reverse=True):
        if relpath.endswith(ext):
            return relpath[: -len(ext)]
    return posixpath.splitext(relpath)[0]


@lru_cache(maxsize=65536)
def _is_package_dir(directory: Path) -> bool:
    return (directory / "__init__.py").is_file() or (directory / "__init__.pyi").is_file()


def _python_module(root: Path, relpath: str) -> str:
    parts = relpath.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    names = [] if stem == "__init__" else [stem]
    directory = root.joinpath(*parts[:-1]) if len(parts) > 1 else root
    depth = len(parts) - 1
    while depth > 0 and _is_package_dir(directory):
        names.insert(0, directory.name)
        directory = directory.parent
        depth -= 1
    if not names:  # a top-level __init__.py at the workspace root
        names = [root.name]
    return ".".join(names)


@lru_cache(maxsize=64)
def _go_module_prefix(root: Path) -> str | None:
    try:
        text = (root / "go.mod").read_text(encoding="utf-8")
    except OSError:
        return None
    match = _GO_MOD.search(text)
    return match.group(1) if match else None


def _rust_module(relpath: str) -> str:
    parts = relpath[:-3].split("/") if relpath.endswith(".rs") else relpath.split("/")
    if "src" in parts:
        parts = parts[parts.index("src") + 1 :]
    if parts and parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return "::".join(["crate", *parts])


class ModuleMap:
    """Every workspace module, and the resolution of import sources against them."""

    def __init__(self) -> None:
        self.files: dict[str, list[int]] = {}
        self.paths: dict[str, int] = {}

    def add(self, module: str | None, path: str, file_id: int) -> None:
        self.paths[path] = file_id
        if module is not None:
            self.files.setdefault(module, []).append(file_id)

    def resolve(
        self,
        style: ImportStyle,
        importer_path: str,
        importer_module: str | None,
        source: str,
        name: str | None,
        separator: str,
    ) -> ImportTarget:
        if style == "python":
            return self._python(importer_path, importer_module, source, name)
        if style == "path":
            return self._path(importer_path, source, name)
        if style == "go":
            if source in self.files:
                return ImportTarget(source, name)
            first = source.split("/", 1)[0]
            return ImportTarget(None, name, external=source, stdlib="." not in first)
        if style in ("rust", "package"):
            return self._dotted(style, importer_module, source, name, separator)
        return ImportTarget(None, name, external=source)

    def _python(
        self, importer_path: str, importer_module: str | None, source: str, name: str | None
    ) -> ImportTarget:
        absolute = source
        if source.startswith("."):
            level = len(source) - len(source.lstrip("."))
            base = (importer_module or "").split(".")
            if not importer_path.endswith(("__init__.py", "__init__.pyi")):
                base = base[:-1]
            base = base[: len(base) - (level - 1)] if level > 1 else base
            rest = source[level:]
            absolute = ".".join([*base, rest] if rest else base)
        if name is not None:
            submodule = f"{absolute}.{name}" if absolute else name
            if submodule in self.files:
                return ImportTarget(submodule, None)
        if absolute in self.files:
            return ImportTarget(absolute, name)
        top = absolute.split(".", 1)[0]
        if top in self.files or not top:
            return ImportTarget(None, name)  # ours, but no such module: unresolved, not external
        return ImportTarget(None, name, external=top, stdlib=top in _PY_STDLIB)

    def _path(self, importer_path: str, source: str, name: str | None) -> ImportTarget:
        if source.startswith((".", "/")):
            base = posixpath.normpath(
                posixpath.join(posixpath.dirname(importer_path), source)
            ).lstrip("/")
            stem, suffix = posixpath.splitext(base)
            for candidate in (
                base,
                *(base + ext for ext in _PATH_EXTENSIONS),
                *(f"{base}/index{ext}" for ext in _PATH_EXTENSIONS),
                *(stem + ts for ts in _TS_FOR_JS.get(suffix, ())),
            ):
                if candidate in self.paths:
                    return ImportTarget(_strip_ext(candidate), name)
            return ImportTarget(None, name, external=None)
        # C/C++ quoted includes are relative to the including file or the workspace root
        if source in self.paths:
            return ImportTarget(_strip_ext(source), name)
        sibling = posixpath.join(posixpath.dirname(importer_path), source)
        if sibling in self.paths:
            return ImportTarget(_strip_ext(sibling), name)
        package = source.removeprefix("node:")
        if package.startswith("@"):
            package = "/".join(package.split("/", 2)[:2])
        else:
            package = package.split("/", 1)[0]
        stdlib = source.startswith("node:") or package in _NODE_BUILTINS or source.endswith(".h")
        return ImportTarget(None, name, external=package, stdlib=stdlib)

    def _dotted(
        self,
        style: ImportStyle,
        importer_module: str | None,
        source: str,
        name: str | None,
        sep: str,
    ) -> ImportTarget:
        if name is None and sep in source:
            source, name = source.rsplit(sep, 1)
        if style == "rust" and importer_module:
            head, _, rest = source.partition(sep)
            if head == "self":
                source = importer_module + (sep + rest if rest else "")
            elif head == "super":
                parent = importer_module.rsplit(sep, 1)[0]
                source = parent + (sep + rest if rest else "")
        if name is not None:
            nested = f"{source}{sep}{name}"
            if nested in self.files:
                return ImportTarget(nested, None)
        if source in self.files:
            return ImportTarget(source, name)
        # a class imported by its full name in a package-per-directory language
        if sep in source:
            outer, inner = source.rsplit(sep, 1)
            if outer in self.files:
                return ImportTarget(outer, inner)
        top = source.split(sep, 1)[0]
        stdlib = top in _RUST_STD if style == "rust" else source.startswith(_JAVA_STD)
        return ImportTarget(None, name, external=top, stdlib=stdlib)
