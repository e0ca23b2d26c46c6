"""Find, read, validate and layer policy files.

Layers, weakest first: the built-in files shipped in ``policies/`` (``data_dir``), the
user's global file (``$HEXAD_USER_POLICY``, else ``$XDG_CONFIG_HOME/hexad/policy.toml`` or
``~/.config/hexad/policy.toml``; ``%APPDATA%\\hexad\\policy.toml`` on Windows), then the
workspace's ``.hexad/policies/*.toml`` in name order.

:func:`parse` checks one file's text on its own (TOML syntax, then the schema) and returns
issues with exact positions; :class:`PolicyStore` layers the files and keeps, for each, the
last version that was valid, so a file broken mid-edit never drops the rules it had.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from hexad.core.resources import data_dir
from hexad.governance.model import LAYERS, PolicyFile, field_names
from hexad.governance.policy import Merger, Policy, PolicySource
from hexad.governance.source import START, Issue, Span, format_field, source_map, syntax_issue

log = logging.getLogger(__name__)

USER_POLICY_ENV = "HEXAD_USER_POLICY"
WORKSPACE_POLICY_DIR = Path(".hexad") / "policies"
MAX_POLICY_BYTES = 1_000_000


def user_policy_path() -> Path | None:
    """The user's global policy file (it need not exist); None when switched off with an
    empty ``$HEXAD_USER_POLICY``."""
    if USER_POLICY_ENV in os.environ:
        value = os.environ[USER_POLICY_ENV]
        return Path(value).expanduser() if value else None
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "hexad" / "policy.toml"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hexad" / "policy.toml"


def _user_label(path: Path) -> str:
    label, home = str(path), str(Path.home())
    return "~" + label[len(home) :] if label.startswith(home + os.sep) else label


@dataclass(frozen=True, slots=True)
class PolicyFileRef:
    """A policy file's place in the layering (it may not exist yet)."""

    path: Path
    layer: str
    label: str


def discover(
    workspace: Path | None, *, builtin_dir: Path | None = None, user_file: Path | None = None
) -> list[PolicyFileRef]:
    """Every policy file in force for ``workspace``, weakest first."""
    builtin = builtin_dir if builtin_dir is not None else data_dir("policies")
    refs = [
        PolicyFileRef(p.resolve(), "builtin", f"{builtin.name}/{p.name}")
        for p in sorted(builtin.glob("*.toml"))
    ]
    if user_file is not None and user_file.is_file():
        refs.append(PolicyFileRef(user_file.resolve(), "user", _user_label(user_file)))
    if workspace is not None:
        folder = workspace / WORKSPACE_POLICY_DIR
        refs += [
            PolicyFileRef(p.resolve(), "workspace", (WORKSPACE_POLICY_DIR / p.name).as_posix())
            for p in sorted(folder.glob("*.toml"))
            if p.is_file()
        ]
    return refs


def _decode(file: str, data: bytes) -> tuple[str | None, Issue | None]:
    if len(data) > MAX_POLICY_BYTES:
        return None, Issue(file, START, f"policy file is larger than {MAX_POLICY_BYTES} bytes")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        return None, Issue(file, Span(line, col, line, col + 1), "policy files must be UTF-8")


def _message(error: Any) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        if len(loc) > 1 and key in PolicyFile.model_fields:
            return (
                f"unknown key {key!r} in {format_field(loc[:-1])}: a top-level key must come"
                " before the first [table] header"
            )
        if key in field_names():
            return f"unknown key {key!r} in {format_field(loc[:-1]) or 'this table'}"
        close = difflib.get_close_matches(key, sorted(field_names()), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {key!r}{hint}"
    if kind == "missing":
        return f"missing required key {str(loc[-1])!r}"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    message = message[0].lower() + message[1:] if message else kind
    if kind.endswith("_type") and "input" in error:
        message += f", not {_toml_type(error['input'])}"
    return message


def _toml_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def _schema_issues(file: str, text: str, exc: ValidationError) -> list[Issue]:
    smap = source_map(text)
    issues = []
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if isinstance(p, int | str))
        kind = error["type"]
        message = _message(error)
        if loc and loc[-1] == "[key]":  # pydantic's marker for a bad key of a mapping
            loc = loc[:-1]
            message = f"invalid name {str(loc[-1])!r}: {message}"
        if kind == "missing":
            span, _ = smap.locate(loc[:-1], at_key=True)
        else:
            span, _ = smap.locate(loc, at_key=kind == "extra_forbidden" or "[key]" in error["loc"])
        issues.append(Issue(file, span, message, format_field(loc)))
    return sorted(issues, key=lambda i: (i.span.line, i.span.col))


def parse(
    text: str | bytes, *, file: str, layer: str = "workspace", label: str | None = None
) -> tuple[PolicySource | None, list[Issue]]:
    """Validate one policy file's text on its own. Never raises on any input."""
    if layer not in LAYERS:
        raise ValueError(f"unknown policy layer {layer!r}")
    if isinstance(text, bytes):
        decoded, problem = _decode(file, text)
        if decoded is None:
            return None, [problem] if problem else []
        text = decoded
    if len(text) > MAX_POLICY_BYTES:
        return None, [Issue(file, START, f"policy file is larger than {MAX_POLICY_BYTES} bytes")]
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [syntax_issue(file, text, exc)]
    except RecursionError:
        return None, [Issue(file, START, "TOML syntax: nested too deeply")]
    try:
        model = PolicyFile.model_validate(data)
    except ValidationError as exc:
        return None, _schema_issues(file, text, exc)
    except RecursionError:
        return None, [Issue(file, START, "policy nested too deeply")]
    src = PolicySource(file, label or file, layer, text, model, source_map(text))
    # what a file gets wrong on its own (duplicate ids, budgets above its own limits);
    # warnings depend on the layers below, so they come from `layer`
    errors = [i for i in Merger().check(src) if i.severity == "error"]
    return (None if errors else src), errors


def read(ref: PolicyFileRef) -> tuple[PolicySource | None, list[Issue]]:
    try:
        data = ref.path.read_bytes()
    except OSError as exc:
        return None, [Issue(str(ref.path), START, f"cannot read the policy file: {exc.strerror}")]
    return parse(data, file=str(ref.path), layer=ref.layer, label=ref.label)


@dataclass(frozen=True, slots=True)
class LoadResult:
    policy: Policy
    issues: dict[str, list[Issue]]  # by absolute file path; files without issues absent
    used: tuple[str, ...]  # absolute paths of the files in force (a last valid version counts)

    @property
    def errors(self) -> list[Issue]:
        return [i for found in self.issues.values() for i in found if i.severity == "error"]


def layer(
    files: Sequence[tuple[PolicySource | None, list[Issue]]],
    fallbacks: dict[str, PolicySource] | None = None,
) -> tuple[LoadResult, dict[str, PolicySource]]:
    """Merge parsed files in order. A file with an error is replaced by its fallback (its
    last valid version) when that still fits. Returns the result and the versions used."""
    fallbacks = fallbacks or {}
    merger = Merger()
    issues: dict[str, list[Issue]] = {}
    used: dict[str, PolicySource] = {}
    for src, parsed_issues in files:
        file = src.file if src is not None else (parsed_issues[0].file if parsed_issues else "")
        found = list(parsed_issues)
        if src is not None and not any(i.severity == "error" for i in found):
            found = merger.add(src)
            if not any(i.severity == "error" for i in found):
                used[file] = src
        if file not in used and file in fallbacks:
            previous = fallbacks[file]
            if any(i.severity == "error" for i in merger.add(previous)):
                log.info("the last valid version of %s no longer fits; left out", file)
            else:
                used[file] = previous
                log.info("%s has errors; its last valid version stays in force", file)
        if found:
            issues[file] = found
    return LoadResult(merger.policy(), issues, tuple(used)), used


class PolicyStore:
    """The policy in force for one workspace, kept current as files change.

    The editor can hand over unsaved text with :meth:`set_text`; each file's last valid
    version stays in force while its current text has errors.
    """

    def __init__(
        self,
        workspace: Path | None,
        *,
        builtin_dir: Path | None = None,
        user_file: Path | Literal["auto"] | None = "auto",
    ) -> None:
        self.workspace = workspace.resolve() if workspace is not None else None
        self.builtin_dir = builtin_dir
        self.user_file = user_policy_path() if user_file == "auto" else user_file
        self._overlays: dict[str, str] = {}
        self._last_valid: dict[str, PolicySource] = {}
        self.result = LoadResult(Policy(), {}, ())
        self.reload()

    @property
    def policy(self) -> Policy:
        return self.result.policy

    @property
    def issues(self) -> dict[str, list[Issue]]:
        return self.result.issues

    def refs(self) -> list[PolicyFileRef]:
        refs = discover(self.workspace, builtin_dir=self.builtin_dir, user_file=self.user_file)
        known = {str(r.path) for r in refs}
        for file in self._overlays:  # an unsaved new file in the workspace folder
            if file not in known and (ref := self.ref_for(Path(file))) is not None:
                refs.append(ref)
        order = {name: i for i, name in enumerate(LAYERS)}
        return sorted(
            refs, key=lambda r: (order[r.layer], r.path.name if r.layer != "builtin" else "")
        )

    def ref_for(self, path: Path) -> PolicyFileRef | None:
        """The layer ``path`` belongs to, if it is a policy file of this store."""
        user_name = self.user_file.name if self.user_file is not None else None
        if path.suffix != ".toml" and path.name != user_name:
            return None  # asked for every keystroke in any file: answer without the disk
        path = path.resolve()
        builtin = (self.builtin_dir or data_dir("policies")).resolve()
        if path.parent == builtin and path.suffix == ".toml":
            return PolicyFileRef(path, "builtin", f"{builtin.name}/{path.name}")
        if self.user_file is not None and path == self.user_file.resolve():
            return PolicyFileRef(path, "user", _user_label(self.user_file))
        if self.workspace is not None and path.suffix == ".toml":
            folder = (self.workspace / WORKSPACE_POLICY_DIR).resolve()
            if path.parent == folder:
                return PolicyFileRef(
                    path, "workspace", (WORKSPACE_POLICY_DIR / path.name).as_posix()
                )
        return None

    def _parse(self, ref: PolicyFileRef) -> tuple[PolicySource | None, list[Issue]]:
        text = self._overlays.get(str(ref.path))
        if text is None:
            return read(ref)
        return parse(text, file=str(ref.path), layer=ref.layer, label=ref.label)

    def reload(self) -> Policy:
        """Read every policy file again (unsaved editor text, where given, wins)."""
        parsed = [self._parse(ref) for ref in self.refs()]
        self.result, used = layer(parsed, self._last_valid)
        self._last_valid.update(used)
        return self.result.policy

    def set_text(self, path: Path, text: str | None) -> list[Issue]:
        """Use ``text`` for ``path`` (None: the file on disk again) and re-layer.
        Returns the issues of that file."""
        key = str(path.resolve())
        if text is None:
            self._overlays.pop(key, None)
        else:
            self._overlays[key] = text
        self.reload()
        return self.result.issues.get(key, [])

    def check_text(self, path: Path, text: str) -> list[Issue]:
        """The issues ``text`` would have as ``path``, in the context of the other files;
        changes nothing."""
        key = str(path.resolve())
        ref = self.ref_for(path) or PolicyFileRef(path.resolve(), "workspace", path.name)
        parsed = []
        for other in self.refs():
            if str(other.path) == key:
                continue
            parsed.append(self._parse(other))
        parsed.append(parse(text, file=key, layer=ref.layer, label=ref.label))
        ordered = _in_layer_order(parsed)
        result, _ = layer(ordered)
        return result.issues.get(key, [])


def _in_layer_order(
    parsed: Iterable[tuple[PolicySource | None, list[Issue]]],
) -> list[tuple[PolicySource | None, list[Issue]]]:
    order = {name: i for i, name in enumerate(LAYERS)}

    def rank(item: tuple[PolicySource | None, list[Issue]]) -> tuple[int, str]:
        src, _ = item
        if src is None:
            return (len(LAYERS), "")
        return (order[src.layer], src.label)

    return sorted(parsed, key=rank)


def load(
    workspace: Path | None,
    *,
    builtin_dir: Path | None = None,
    user_file: Path | Literal["auto"] | None = "auto",
    extra: Sequence[Path] = (),
) -> LoadResult:
    """Load the policy in force for ``workspace`` once (``hexad policy check``, tests).
    ``extra`` files are checked as workspace files on top."""
    user = user_policy_path() if user_file == "auto" else user_file
    refs = discover(workspace, builtin_dir=builtin_dir, user_file=user)
    known = {r.path for r in refs}
    for path in extra:
        if path.resolve() not in known:
            refs.append(PolicyFileRef(path.resolve(), "workspace", str(path)))
    result, _ = layer([read(ref) for ref in refs])
    return result
