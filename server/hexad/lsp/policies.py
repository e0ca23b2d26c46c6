"""Policy files in the editor: diagnostics as the user types, hover on rules, reload on save.

Unsaved text is only checked (in the context of the other layers); what is in force changes
when the file is saved or closed. A file that is broken when saved leaves its last valid
version in force, and the user is told so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lsprotocol import types

from hexad.core.text import units_from_bytes
from hexad.governance import Action, Engine, Issue, PolicyStore, parse
from hexad.governance.model import Rule

log = logging.getLogger(__name__)


class PolicyDocuments:
    """The workspace's policy store, and the policy files open in the editor."""

    def __init__(self, root: Path, encoding: str) -> None:
        self.store = PolicyStore(root)
        self.engine = Engine(self.store, root)  # dry runs: nothing recorded or charged
        self.encoding = encoding
        self.texts: dict[str, str] = {}

    def explain(self, raw: object) -> dict[str, object]:
        """What the policy in force says about an action (a JSON object)."""
        return self.engine.explain(Action.model_validate(raw)).to_json()

    def owns(self, fs_path: str) -> bool:
        return self.store.ref_for(Path(fs_path)) is not None

    def diagnostics(self, fs_path: str, text: str) -> list[types.Diagnostic]:
        """Check unsaved text; nothing in force changes."""
        self.texts[fs_path] = text
        return [self._diagnostic(i, text) for i in self.store.check_text(Path(fs_path), text)]

    def saved(self, fs_path: str) -> tuple[list[types.Diagnostic], str | None]:
        """Reload from disk. Returns the file's diagnostics, and a message for the user when
        the saved file is broken (its last valid version stays in force)."""
        self.store.set_text(Path(fs_path), None)
        key = str(Path(fs_path).resolve())
        issues = self.store.issues.get(key, [])
        text = self.texts.get(fs_path)
        if text is None:
            try:
                text = Path(fs_path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
        errors = [i for i in issues if i.severity == "error"]
        message = None
        if errors:
            message = (
                f"Hexad: {Path(fs_path).name} has {len(errors)} error"
                f"{'s' if len(errors) != 1 else ''}; its last valid version stays in force."
            )
        else:
            log.info("policy reloaded from %s", fs_path)
        return [self._diagnostic(i, text) for i in issues], message

    def closed(self, fs_path: str) -> None:
        self.texts.pop(fs_path, None)
        self.store.reload()

    def _diagnostic(self, issue: Issue, text: str) -> types.Diagnostic:
        lines = text.split("\n")

        def position(line: int, col: int) -> types.Position:
            line0 = max(0, min(line - 1, len(lines) - 1)) if lines else 0
            current = lines[line0] if lines else ""
            chars = current[: max(0, col - 1)]  # issue columns count code points from 1
            units = units_from_bytes(current.encode(), len(chars.encode()), self.encoding)
            return types.Position(line0, units)

        span = issue.span
        start = position(span.line, span.col)
        end = position(span.end_line, span.end_col)
        if (end.line, end.character) <= (start.line, start.character):
            end = types.Position(start.line, start.character + 1)
        message = f"{issue.field}: {issue.message}" if issue.field else issue.message
        severity = (
            types.DiagnosticSeverity.Error
            if issue.severity == "error"
            else types.DiagnosticSeverity.Warning
        )
        return types.Diagnostic(types.Range(start, end), message, severity=severity, source="hexad")

    def hover(self, fs_path: str, position: types.Position) -> str | None:
        """What the rule under the cursor matches, in words."""
        text = self.texts.get(fs_path)
        if text is None:
            try:
                text = Path(fs_path).read_text(encoding="utf-8")
            except OSError:
                return None
        source, _issues = parse(text, file=fs_path, layer="workspace", label=Path(fs_path).name)
        if source is None or not source.model.rules:
            return None
        line = position.line + 1  # the source map counts from 1
        starts = [source.map.line_of(("rules", i)) for i in range(len(source.model.rules))]
        chosen = None
        for index, start in enumerate(starts):
            if start <= line:
                chosen = index
        if chosen is None:
            return None
        return describe_rule(source.model.rules[chosen])


def describe_rule(rule: Rule) -> str:
    when = rule.when
    conditions = []
    for label, value in (
        ("action kind", when.kinds),
        ("engine", when.engines),
        ("task", when.tasks),
        ("path", when.paths),
        ("symbol", when.symbols),
    ):
        if value:
            conditions.append(f"{label} matches any of {', '.join(f'`{v}`' for v in value)}")
    if when.files_at_least is not None:
        conditions.append(f"touches at least {when.files_at_least} files")
    if when.lines_at_least is not None:
        conditions.append(f"changes at least {when.lines_at_least} lines")
    if when.public_api_changed is not None:
        conditions.append(f"public API changed is {str(when.public_api_changed).lower()}")
    if when.tests_touched is not None:
        conditions.append(f"tests touched is {str(when.tests_touched).lower()}")
    if when.confidence_below is not None:
        conditions.append(f"confidence is below {when.confidence_below}")
    matches = (
        "every action" if not conditions else "an action whose " + "; and whose ".join(conditions)
    )
    hard = " (hard: no later file can disable it)" if rule.hard else ""
    return f"**rule `{rule.id}`** → `{rule.effect}`{hard}\n\n{rule.why}\n\nApplies to {matches}."
