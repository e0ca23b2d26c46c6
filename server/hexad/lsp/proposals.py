"""Proposals in the editor: code actions, their lazy resolution, review, accept, reject.

Code actions are offered cheaply (nothing is computed but what the cursor shows); the
edit is computed, verified and recorded on ``codeAction/resolve`` (or ``hexad.propose``),
and the proposal then shows as a diagnostic at its target with the confidence and the
verification summary, related information pointing at the evidence. Accepting sends a
``workspace/applyEdit`` whose change annotation asks the user to confirm when governance
requires approval; the client's answer is recorded in memory.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from hexad.core.db import connect, database_path
from hexad.core.errors import HexadError
from hexad.execution.edits import Change, FileChange
from hexad.execution.engines import imports
from hexad.execution.engines.base import EngineError
from hexad.execution.proposals import (
    Acceptance,
    Proposal,
    ProposalError,
    ProposalRequest,
    ProposalService,
    is_test_path,
)
from hexad.execution.sources import DiskSources
from hexad.governance import open_engine
from hexad.inference.base import CancelToken
from hexad.lsp.server import REQUEST_ID, HexadServer

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE = "hexad"
KIND_IMPLEMENT = "source.hexad.implement"
KIND_WRITE_TEST = "source.hexad.writeTest"
KIND_FIX_TEST = "source.hexad.fixTest"
ACTION_KINDS: list[types.CodeActionKind | str] = [
    types.CodeActionKind.QuickFix,
    types.CodeActionKind.RefactorExtract,
    types.CodeActionKind.RefactorInline,
    types.CodeActionKind.RefactorRewrite,
    "source.hexad",
]
SEVERITY = {
    "proceed": types.DiagnosticSeverity.Information,
    "review": types.DiagnosticSeverity.Warning,
    "escalate": types.DiagnosticSeverity.Error,
}


# -- the service ---------------------------------------------------------------------


_SERVICE_LOCK = threading.Lock()


def service(ls: HexadServer) -> ProposalService:
    """The workspace's proposal service, built on first use (by one thread)."""
    with _SERVICE_LOCK:
        return _service(ls)


def _service(ls: HexadServer) -> ProposalService:
    if ls.proposals is not None:
        ls.proposals.models = ls.model_service()  # rebuilt when the models setting changes
        return ls.proposals
    live = ls.live
    if ls.root is None or live is None:
        raise ProposalError("Hexad has no workspace folder open")

    def buffer(path: str) -> tuple[str, int] | None:
        doc = live.docs.get(path)
        if doc is None:
            return None
        with doc.lock:
            return doc.data.decode("utf-8", "replace"), doc.version

    memory = ls.memory.reader_memory() if ls.memory is not None else None
    proposals = ProposalService(
        ls.root,
        DiskSources(ls.root, buffer),
        live.reader,
        connect(database_path(ls.root), migrate=False),
        open_engine(ls.root),
        models=ls.model_service(),
        memory=memory,
    )
    stale = proposals.forget_unsettled()
    if stale:
        log.info("%d proposals from an earlier session can no longer be applied", stale)
    ls.proposals = proposals
    return proposals


# -- diagnostics -----------------------------------------------------------------------


def publish(ls: HexadServer) -> None:
    """Publish one diagnostic per live proposal at each of its targets; clear files that
    no longer have any."""
    if ls.converter is None or ls.proposals is None:
        return
    by_uri: dict[str, list[types.Diagnostic]] = {}
    for proposal in ls.proposals.live():
        for target in proposal.draft.targets[:1]:
            uri = ls.converter.lsp_uri(target.path)
            by_uri.setdefault(uri, []).append(_diagnostic(ls, proposal))
    for uri in set(ls.proposal_uris) - set(by_uri):
        by_uri[uri] = []
    for uri, diagnostics in by_uri.items():
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
        )
    ls.proposal_uris = {uri for uri, diags in by_uri.items() if diags}


def _diagnostic(ls: HexadServer, proposal: Proposal) -> types.Diagnostic:
    assert ls.converter is not None
    target = proposal.draft.targets[0]
    line_text = _line(proposal, target.path, target.line)
    stripped = len(line_text) - len(line_text.lstrip())
    rng = types.Range(
        ls.converter.lsp_position_in(line_text, target.line, stripped),
        ls.converter.lsp_position_in(line_text, target.line, len(line_text.rstrip("\r\n"))),
    )
    assessment = proposal.assessment
    severity = SEVERITY[assessment.decision]
    top = "; ".join(p.text for p in assessment.strongest(3))
    message = (
        f"Hexad #{proposal.id} {proposal.draft.task}: {proposal.confidence:.2f} → "
        f"{assessment.decision} — {top}"
    )
    if proposal.status == "stale":
        severity = types.DiagnosticSeverity.Hint
        message += f" · stale ({proposal.stale_reason}); propose it again"
    if not proposal.report.passed:
        message += " · " + "; ".join(c.summary for c in proposal.report.failures)
    related: list[types.DiagnosticRelatedInformation] = []
    here = types.Location(ls.converter.lsp_uri(target.path), rng)
    for point in assessment.points[3:]:
        related.append(
            types.DiagnosticRelatedInformation(here, f"{point.text} ({point.weight:+.2f})")
        )
    for check in proposal.report.checks:
        for ev in check.evidence[:10]:
            if ev.path is None:
                continue
            pos = types.Position(ev.line or 0, 0)
            related.append(
                types.DiagnosticRelatedInformation(
                    types.Location(ls.converter.lsp_uri(ev.path), types.Range(pos, pos)),
                    f"{check.name}: {ev.message}",
                )
            )
    for f in proposal.draft.change.files:
        pos = types.Position(0, 0)
        related.append(
            types.DiagnosticRelatedInformation(
                types.Location(ls.converter.lsp_uri(f.path), types.Range(pos, pos)),
                f"changes {f.path} ({f.lines_changed()} lines)",
            )
        )
    return types.Diagnostic(
        range=rng,
        message=message,
        severity=severity,
        source=SOURCE,
        code="proposal",
        data={"proposal": proposal.id, "confidence": proposal.confidence},
        related_information=related[:40],
    )


def _line(proposal: Proposal, path: str, line: int) -> str:
    f = proposal.draft.change.file(path)
    text = f.before if f is not None and f.before is not None else ""
    lines = text.splitlines()
    return lines[line] if 0 <= line < len(lines) else ""


# -- code actions ----------------------------------------------------------------------


def code_actions(ls: HexadServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    if ls.converter is None or ls.live is None:
        return []
    path = ls.converter.path_from_lsp(params.text_document.uri)
    if path is None:
        return []
    only = params.context.only
    actions = _proposal_actions(ls, path, params)
    if path.endswith(".py"):
        try:
            actions.extend(_candidates(ls, path, params))
        except (HexadError, OSError, SyntaxError, ValueError) as exc:
            log.debug("no candidate actions for %s: %s", path, exc)
    actions.extend(plan_actions(ls, path, params))
    if only:
        actions = [a for a in actions if _kind_matches(a.kind, only)]
    return actions


KIND_PLAN = "source.hexad.plan"
# ``# hexad: <task>``, ``# TODO: <task>``, ``# TODO(name): <task>``, ``# FIXME <task>``
PLAN_COMMENT = re.compile(
    r"#\s*(?:hexad|todo|fixme)\b(?:\([^)]*\))?\s*:?\s*(?P<task>\S.{7,})$", re.IGNORECASE
)
PLAN_PROMPT_CAPABILITY = "hexadPlanPrompt"  # experimental: the client asks for a task's text


def plan_actions(
    ls: HexadServer, path: str, params: types.CodeActionParams
) -> list[types.CodeAction]:
    """ "Plan …" actions: a task written in a ``# hexad:``/``# TODO:`` comment on the
    selected lines is planned as it stands (any client); "Plan a task here…" for
    clients that can ask for the task's text (they say so with the experimental
    capability ``hexadPlanPrompt``, and fill in ``task`` before running the command)."""
    if ls.live is None or ls.converter is None:
        return []
    text = ls.live.text(path)
    if text is None:
        return []
    lines = text.splitlines()
    first, last = params.range.start.line, params.range.end.line
    actions = []
    for number in range(first, min(last, first + 50, len(lines) - 1) + 1):
        found = PLAN_COMMENT.search(lines[number])
        if found is None:
            continue
        task = found.group("task").strip()
        short = task if len(task) <= 60 else task[:57] + "…"
        arguments = [{"task": task, "focus": {"path": path, "line": number}}]
        actions.append(_command_action(f"Hexad: Plan “{short}”", KIND_PLAN, arguments))
    if not actions and _client_prompts_for_task(ls):
        arguments = [{"ask": True, "focus": {"path": path, "line": first}}]
        actions.append(_command_action("Hexad: Plan a task here…", KIND_PLAN, arguments))
    return actions


def _command_action(title: str, kind: str, arguments: list[Any]) -> types.CodeAction:
    # the command comes with resolve (see _proposal_actions)
    return types.CodeAction(
        title=title,
        kind=kind,
        data={"command": "hexad.plan", "title": title, "arguments": arguments},
    )


def _client_prompts_for_task(ls: HexadServer) -> bool:
    try:
        experimental = ls.client_capabilities.experimental
    except (AttributeError, RuntimeError):
        return False
    return isinstance(experimental, dict) and experimental.get(PLAN_PROMPT_CAPABILITY) is True


def _kind_matches(kind: str | None, only: Sequence[str]) -> bool:
    value = str(kind or "")
    return any(value == str(o) or value.startswith(f"{o}.") for o in only)


def _proposal_actions(
    ls: HexadServer, path: str, params: types.CodeActionParams
) -> list[types.CodeAction]:
    if ls.proposals is None:
        return []
    wanted = {
        d.data.get("proposal")
        for d in params.context.diagnostics
        if d.source == SOURCE and isinstance(d.data, dict)
    }
    actions: list[types.CodeAction] = []
    for proposal in ls.proposals.live():
        target = proposal.draft.targets[0]
        at_cursor = target.path == path and (
            params.range.start.line <= target.line <= params.range.end.line
        )
        if proposal.id not in wanted and not at_cursor:
            continue
        diags = [d for d in params.context.diagnostics if _is_of(d, proposal.id)]
        arg = {"id": proposal.id}
        title = f"#{proposal.id} {proposal.draft.task}"
        for verb, name in (
            ("Accept", "hexad.accept"),
            ("Show diff of", "hexad.showDiff"),
            ("Reject", "hexad.reject"),
        ):
            if verb == "Accept" and (not proposal.report.passed or proposal.status != "proposed"):
                continue
            # the command comes with resolve: a listed action carrying a command is read
            # as a bare Command by clients built on lsprotocol
            actions.append(
                types.CodeAction(
                    title=f"Hexad: {verb} {title} ({proposal.confidence:.2f})",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=diags or None,
                    data={"command": name, "title": f"{verb} proposal", "arguments": [arg]},
                    is_preferred=verb == "Accept" and proposal.report.passed,
                )
            )
    return actions


def _is_of(diagnostic: types.Diagnostic, proposal_id: int) -> bool:
    return (
        diagnostic.source == SOURCE
        and isinstance(diagnostic.data, dict)
        and diagnostic.data.get("proposal") == proposal_id
    )


def _lazy(
    title: str, kind: str, request: dict[str, Any], uri: str, **extra: Any
) -> types.CodeAction:
    return types.CodeAction(title=title, kind=kind, data={"request": request, "uri": uri}, **extra)


def _candidates(
    ls: HexadServer, path: str, params: types.CodeActionParams
) -> list[types.CodeAction]:
    assert ls.converter is not None and ls.live is not None
    text = ls.live.text(path)
    if text is None:
        return []
    uri = params.text_document.uri
    start = ls.converter.codepoints_from_lsp(path, params.range.start)
    end = ls.converter.codepoints_from_lsp(path, params.range.end)
    actions: list[types.CodeAction] = []
    # quick fix: import an undefined name on these lines
    first, last = start[0], end[0]
    reader = ls.live.reader()
    for undefined in _undefined(text, path):
        if not first <= undefined.line <= last:
            continue
        diags = [
            d
            for d in params.context.diagnostics
            if d.range.start.line <= undefined.line <= d.range.end.line
        ]
        for candidate in imports.import_candidates(reader, undefined.name, path, limit=3):
            actions.append(
                _lazy(
                    f"Hexad: {candidate.statement}",
                    types.CodeActionKind.QuickFix,
                    {
                        "kind": "add_import",
                        "path": path,
                        "name": undefined.name,
                        "module": candidate.module,
                    },
                    uri,
                    diagnostics=diags or None,
                )
            )
    # refactorings on a selection
    if start != end:
        span = {
            "path": path,
            "line": start[0],
            "col": start[1],
            "endLine": end[0],
            "endCol": end[1],
        }
        actions.append(
            _lazy(
                "Hexad: Extract variable",
                types.CodeActionKind.RefactorExtract,
                {"kind": "extract_variable", **span, "newName": "new_var"},
                uri,
            )
        )
        actions.append(
            _lazy(
                "Hexad: Extract function",
                types.CodeActionKind.RefactorExtract,
                {"kind": "extract_function", **span, "newName": "new_func"},
                uri,
            )
        )
    else:
        word = _word(text, *start)
        if word and re.search(rf"^\s*{re.escape(word)}\s*=[^=]", text, re.MULTILINE):
            actions.append(
                _lazy(
                    f"Hexad: Inline {word}",
                    types.CodeActionKind.RefactorInline,
                    {"kind": "inline", "path": path, "line": start[0], "col": start[1]},
                    uri,
                )
            )
    actions.extend(_function_actions(ls, path, text, start[0], uri))
    return actions


@lru_cache(maxsize=8)
def _undefined(text: str, path: str) -> tuple[imports.UndefinedName, ...]:
    """pyflakes' undefined names of a buffer, once per text (code actions come often)."""
    return tuple(imports.undefined_names(text, path))


def _function_actions(
    ls: HexadServer, path: str, text: str, line: int, uri: str
) -> list[types.CodeAction]:
    assert ls.live is not None
    reader = ls.live.reader()
    enclosing = [
        s
        for s in reader.symbols_in_file(path)
        if s.kind in ("function", "method") and s.span.start_line <= line <= s.span.end_line
    ]
    if not enclosing:
        return []
    sym = max(enclosing, key=lambda s: s.span.start_line)
    actions: list[types.CodeAction] = []
    ripple = _signature_ripple(ls, path, text, sym.qualname, sym.span.start_line, line)
    if ripple is not None:
        old, new, sites = ripple
        actions.append(
            _lazy(
                f"Hexad: Update {sites} call site{'s' if sites != 1 else ''} of {sym.name} "
                f"to ({new})",
                types.CodeActionKind.RefactorRewrite,
                {
                    "kind": "ripple",
                    "path": path,
                    "symbol": sym.qualname,
                    "params": new,
                    "oldParams": old,
                },
                uri,
            )
        )
    models = ls.model_service()
    if models is None:
        return actions
    lines = text.splitlines()
    body = lines[sym.span.start_line : sym.span.end_line + 1]
    testing = is_test_path(path) and sym.name.startswith("test")
    if testing:
        if models.model_for("fix_test")[0] is not None:
            node = f"{path}::{sym.qualname.split('.', 1)[-1].replace('.', '::')}"
            if "." not in sym.qualname.removeprefix(_module_of(path) + "."):
                node = f"{path}::{sym.name}"
            actions.append(
                _lazy(
                    f"Hexad: Fix failing test {sym.name} (model)",
                    KIND_FIX_TEST,
                    {"kind": "fix_test", "test": node},
                    uri,
                )
            )
        return actions
    if _is_stub(body) and models.model_for("implement")[0] is not None:
        actions.append(
            _lazy(
                f"Hexad: Implement {sym.name} from its docstring (model)",
                KIND_IMPLEMENT,
                {"kind": "implement", "symbol": sym.qualname},
                uri,
            )
        )
    if models.model_for("write_test")[0] is not None:
        actions.append(
            _lazy(
                f"Hexad: Write a test for {sym.name} (model)",
                KIND_WRITE_TEST,
                {"kind": "write_test", "symbol": sym.qualname},
                uri,
            )
        )
    return actions


def _module_of(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _is_stub(lines: list[str]) -> bool:
    """A function whose body is only a docstring and/or pass / ... / raise
    NotImplementedError."""
    try:
        tree = ast.parse("\n".join(_dedent(lines)))
    except SyntaxError:
        return False
    func = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None
    )
    if func is None:
        return False
    body = list(func.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return True
    if len(body) != 1:
        return False
    stmt = body[0]
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return stmt.value.value is Ellipsis
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _dedent(lines: list[str]) -> list[str]:
    if not lines:
        return lines
    indent = len(lines[0]) - len(lines[0].lstrip())
    return [ln[indent:] if ln[:indent].isspace() or not ln[:indent] else ln for ln in lines]


def _signature_ripple(
    ls: HexadServer, path: str, text: str, qualname: str, def_line: int, line: int
) -> tuple[str, str, int] | None:
    """(old params, new params, call sites) when the cursor is on a function header whose
    parameters differ from the saved file's, else None."""
    assert ls.live is not None and ls.root is not None
    if line > def_line + 5:
        return None
    try:
        disk = (ls.root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if disk == text:
        return None
    new = _params_of(text, qualname, path)
    old = _params_of(disk, qualname, path)
    if new is None or old is None or new == old:
        return None
    reader = ls.live.reader()
    name = qualname.rsplit(".", 1)[-1]
    targets = [s for s in reader.lookup(name) if s.qualname == qualname]
    sites = len(reader.callers(targets)) if targets else 0
    if sites == 0:
        return None
    return old, new, sites


def _params_of(text: str, qualname: str, path: str) -> str | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    parts = qualname.removeprefix(_module_of(path) + ".").split(".")
    scope: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in parts:
        node = next(
            (
                n
                for n in scope
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        scope = node.body
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    return ast.unparse(node.args)


def _word(text: str, line: int, col: int) -> str | None:
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return None
    row = lines[line]
    start = col
    while start > 0 and (row[start - 1].isalnum() or row[start - 1] == "_"):
        start -= 1
    end = col
    while end < len(row) and (row[end].isalnum() or row[end] == "_"):
        end += 1
    word = row[start:end]
    return word if word.isidentifier() else None


def resolve(ls: HexadServer, action: types.CodeAction, cancel: Any) -> types.CodeAction:
    """Compute the proposal behind a lazy action; the action then reviews it."""
    data = action.data if isinstance(action.data, dict) else {}
    command = data.get("command")
    if isinstance(command, str) and command.startswith("hexad."):
        action.command = types.Command(
            str(data.get("title") or command), command, arguments=data.get("arguments")
        )
        return action
    request = data.get("request")
    if not isinstance(request, dict):
        return action
    proposal = propose(ls, request, cancel=cancel)
    action.title = f"{action.title} — {proposal.summary()}"
    action.command = types.Command(
        f"Review proposal #{proposal.id}", "hexad.review", arguments=[{"id": proposal.id}]
    )
    return action


# -- commands --------------------------------------------------------------------------


def propose(
    ls: HexadServer, raw: dict[str, Any], *, cancel: Any = None, run_tests: bool = True
) -> Proposal:
    request = ProposalRequest.parse(raw)
    try:
        proposal = service(ls).propose(request, run_tests=run_tests, cancel=cancel)
    except EngineError as exc:
        raise ProposalError(str(exc)) from exc
    ls.after_answer(publish, ls)
    return proposal


def workspace_edit(
    ls: HexadServer, proposal: Proposal, change: Change, acceptance: Acceptance | None
) -> types.WorkspaceEdit:
    """The change as a WorkspaceEdit: versioned document edits (and file operations), each
    under an annotation that asks for confirmation when governance requires approval."""
    assert ls.converter is not None and ls.proposals is not None
    annotation_id = f"hexad-proposal-{proposal.id}"
    confirm = acceptance is not None and acceptance.needs_confirmation
    reasons = "; ".join(acceptance.reasons) if acceptance is not None else ""
    annotations = {
        annotation_id: types.ChangeAnnotation(
            label=f"Hexad proposal #{proposal.id}: {proposal.draft.task}",
            needs_confirmation=confirm,
            description=(f"Needs your review: {reasons}. " if confirm else "") + proposal.summary(),
        )
    }
    supports = _edit_support(ls)
    doc_changes: list[Any] = []
    plain: dict[str, list[types.TextEdit]] = {}
    for f in change.files:
        uri = ls.converter.lsp_uri(f.path)
        if f.created:
            if not supports["create"]:
                raise ProposalError("this editor cannot create files through an edit")
            doc_changes.append(
                types.CreateFile(
                    uri=uri,
                    options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                    annotation_id=annotation_id if supports["annotations"] else None,
                )
            )
        if f.deleted:
            if not supports["delete"]:
                raise ProposalError("this editor cannot delete files through an edit")
            doc_changes.append(
                types.DeleteFile(
                    uri=uri, annotation_id=annotation_id if supports["annotations"] else None
                )
            )
            continue
        edits = _text_edits(ls, f, annotation_id if supports["annotations"] else None)
        version = ls.proposals.sources.version(f.path)
        doc_changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=version
                ),
                edits=edits,
            )
        )
        plain[uri] = [types.TextEdit(range=e.range, new_text=e.new_text) for e in edits]
        if f.new_path is not None:
            if not supports["rename"]:
                raise ProposalError("this editor cannot rename files through an edit")
            doc_changes.append(
                types.RenameFile(
                    old_uri=uri,
                    new_uri=ls.converter.lsp_uri(f.new_path),
                    annotation_id=annotation_id if supports["annotations"] else None,
                )
            )
    if not supports["document_changes"]:
        if any(f.created or f.deleted or f.new_path for f in change.files):
            raise ProposalError("this editor cannot create, delete or move files in an edit")
        return types.WorkspaceEdit(changes=plain)
    return types.WorkspaceEdit(
        document_changes=doc_changes,
        change_annotations=annotations if supports["annotations"] else None,
    )


def _text_edits(
    ls: HexadServer, f: FileChange, annotation_id: str | None
) -> list[types.TextEdit | types.AnnotatedTextEdit]:
    assert ls.converter is not None
    before = (f.before or "").splitlines(keepends=True)
    out: list[types.TextEdit | types.AnnotatedTextEdit] = []
    for edit in f.text_edits():
        (sl, sc), (el, ec) = edit.start, edit.end
        start_text = before[sl] if sl < len(before) else ""
        end_text = before[el] if el < len(before) else ""
        rng = types.Range(
            ls.converter.lsp_position_in(start_text, sl, sc),
            ls.converter.lsp_position_in(end_text, el, ec),
        )
        if annotation_id is None:
            out.append(types.TextEdit(range=rng, new_text=edit.text))
        else:
            out.append(
                types.AnnotatedTextEdit(range=rng, new_text=edit.text, annotation_id=annotation_id)
            )
    return out


def _edit_support(ls: HexadServer) -> dict[str, bool]:
    caps = ls.client_capabilities.workspace
    edit = caps.workspace_edit if caps is not None else None
    operations = {str(op) for op in (edit.resource_operations or [])} if edit else set()
    return {
        "document_changes": bool(edit and edit.document_changes),
        "annotations": bool(edit and edit.change_annotation_support is not None),
        "create": "create" in operations,
        "rename": "rename" in operations,
        "delete": "delete" in operations,
    }


async def accept(ls: HexadServer, proposal_id: int) -> dict[str, Any]:
    """Governance decides again; the edit goes to the client; its answer is recorded."""
    proposals = service(ls)
    acceptance = proposals.accept(proposal_id)
    proposal = acceptance.proposal
    try:
        edit = workspace_edit(ls, proposal, acceptance.change, acceptance)
    except ProposalError as exc:
        proposals.applied(acceptance, False, failure=str(exc))
        ls.after_answer(publish, ls)
        raise
    if acceptance.needs_confirmation and not _edit_support(ls)["annotations"]:
        # the client cannot ask its user to confirm an edit: ask first
        answer = await _ask(
            ls,
            f"Hexad proposal #{proposal.id} needs your review "
            f"({'; '.join(acceptance.reasons)}): {proposal.draft.task}. Apply it?",
            ["Apply", "Cancel"],
        )
        if answer != "Apply":
            proposals.applied(acceptance, False, failure="the user declined the review")
            ls.after_answer(publish, ls)
            return {"id": proposal.id, "applied": False, "status": proposal.status}
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label=f"Hexad: {proposal.draft.task}")
    )
    ok = bool(result.applied)
    failure = None if ok else (result.failure_reason or "the editor did not apply the edit")
    proposals.applied(acceptance, ok, failure=failure)
    ls.after_answer(publish, ls)
    return {
        "id": proposal.id,
        "applied": ok,
        "status": proposal.status,
        "failureReason": failure,
        "confirmationRequested": acceptance.needs_confirmation,
    }


async def review(ls: HexadServer, proposal_id: int) -> dict[str, Any]:
    """Show a proposal and offer Accept / Show diff / Reject where the client can ask."""
    proposal = service(ls).require(proposal_id)
    publish(ls)
    caps = ls.client_capabilities.window
    if caps is None or caps.show_message is None:
        return proposal.to_json()
    options = (["Accept"] if proposal.report.passed else []) + ["Show diff", "Reject"]
    answer = await _ask(
        ls, f"Hexad proposal #{proposal.id}: {proposal.draft.task} — {proposal.summary()}", options
    )
    if answer == "Accept":
        return await accept(ls, proposal_id)
    if answer == "Show diff":
        return await show_diff(ls, proposal_id)
    if answer == "Reject":
        return reject(ls, proposal_id, None)
    return proposal.to_json()


async def _ask(ls: HexadServer, message: str, options: list[str]) -> str | None:
    result = await ls.window_show_message_request_async(
        types.ShowMessageRequestParams(
            type=types.MessageType.Info,
            message=message,
            actions=[types.MessageActionItem(title=o) for o in options],
        )
    )
    return result.title if result is not None else None


def reject(ls: HexadServer, proposal_id: int, reason: str | None) -> dict[str, Any]:
    proposal = service(ls).reject(proposal_id, reason)
    ls.after_answer(publish, ls)
    return {
        "id": proposal_id,
        "status": "rejected",
        "task": proposal.draft.task if proposal else None,
    }


async def show_diff(ls: HexadServer, proposal_id: int) -> dict[str, Any]:
    """The proposal's diff: written to ``.hexad/proposals/<id>.diff`` and shown where the
    client can open documents; the answer also holds each file before and after (for a
    side-by-side view)."""
    proposal = service(ls).require(proposal_id)
    assert ls.root is not None and ls.converter is not None
    folder = ls.root / ".hexad" / "proposals"
    folder.mkdir(parents=True, exist_ok=True)
    diff_path = folder / f"{proposal.id}.diff"
    diff_path.write_text(proposal.draft.change.diff(), encoding="utf-8")
    uri = ls.converter.lsp_uri(str(diff_path))
    shown = False
    caps = ls.client_capabilities.window
    if caps is not None and caps.show_document is not None and caps.show_document.support:
        result = await ls.window_show_document_async(
            types.ShowDocumentParams(uri=uri, take_focus=True)
        )
        shown = bool(result.success)
    return {
        "id": proposal.id,
        "diff": proposal.draft.change.diff(),
        "uri": uri,
        "shown": shown,
        "files": [
            {"path": f.path, "newPath": f.new_path, "before": f.before, "after": f.after}
            for f in proposal.draft.change.files
        ],
    }


def refresh(ls: HexadServer, paths: list[str] | None) -> None:
    """Documents changed: proposals computed on their old text go stale."""
    if ls.proposals is None:
        return
    if ls.proposals.refresh(paths):
        publish(ls)


# -- handlers (registered in features.py) -----------------------------------------------


def _error(exc: Exception) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(str(exc))


async def _off_loop(ls: HexadServer, work: Callable[[CancelToken], T]) -> T:
    """Run ``work`` in a thread with a CancelToken that $/cancelRequest trips."""
    cancel = CancelToken()
    request_id = REQUEST_ID.get()
    if request_id is not None:
        ls.cancel_tokens[request_id] = cancel
    try:
        return await asyncio.to_thread(work, cancel)
    except asyncio.CancelledError:
        cancel.cancel()
        raise
    except HexadError as exc:
        raise _error(exc) from exc
    finally:
        if request_id is not None:
            ls.cancel_tokens.pop(request_id, None)


async def code_action_handler(
    ls: HexadServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    return await asyncio.to_thread(code_actions, ls, params) or None


async def code_action_resolve_handler(
    ls: HexadServer, params: types.CodeAction
) -> types.CodeAction:
    return await _off_loop(ls, lambda cancel: resolve(ls, params, cancel))


def _proposal_id(args: tuple[Any, ...], command: str) -> int:
    if len(args) == 1 and isinstance(args[0], dict):
        value = args[0].get("id")
    elif len(args) == 1:
        value = args[0]
    else:
        value = None
    if not isinstance(value, int) or isinstance(value, bool):
        raise JsonRpcInvalidParams(f"{command}: expects {{id: <proposal number>}}")
    return value


async def propose_command(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.propose`` [{kind, path?, line?, col?, endLine?, endCol?, symbol?, newName?,
    name?, module?, params?, oldParams?, values?, test?, samples?, tests?: bool}]:
    compute, verify and record a proposal; it then shows as a diagnostic."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams("hexad.propose: expects one object argument")
    raw = dict(args[0])
    run_tests = raw.pop("tests", True)
    if not isinstance(run_tests, bool):
        raise JsonRpcInvalidParams("hexad.propose: tests must be true or false")
    proposal = await _off_loop(
        ls, lambda cancel: propose(ls, raw, cancel=cancel, run_tests=run_tests)
    )
    return proposal.to_json()


async def accept_command(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.accept`` [{id}]: apply a proposal through the editor (workspace/applyEdit)."""
    proposal_id = _proposal_id(args, "hexad.accept")
    try:
        return await accept(ls, proposal_id)
    except HexadError as exc:
        ls.after_answer(publish, ls)
        raise _error(exc) from exc


async def reject_command(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.reject`` [{id, reason?}]: a reason becomes a learned note."""
    proposal_id = _proposal_id(args, "hexad.reject")
    reason = args[0].get("reason") if isinstance(args[0], dict) else None
    if reason is not None and not isinstance(reason, str):
        raise JsonRpcInvalidParams("hexad.reject: reason must be text")
    try:
        return await asyncio.to_thread(reject, ls, proposal_id, reason)
    except HexadError as exc:
        raise _error(exc) from exc


async def show_diff_command(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.showDiff`` [{id}]: the diff, shown as a document where the client can."""
    try:
        return await show_diff(ls, _proposal_id(args, "hexad.showDiff"))
    except HexadError as exc:
        raise _error(exc) from exc


async def review_command(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.review`` [{id}]: show the proposal and ask Accept / Show diff / Reject."""
    try:
        return await review(ls, _proposal_id(args, "hexad.review"))
    except HexadError as exc:
        raise _error(exc) from exc


def proposals_command(ls: HexadServer, *args: Any) -> list[dict[str, Any]]:
    """``hexad.proposals``: the live proposals, newest last."""
    if ls.proposals is None:
        return []
    return [p.to_json() for p in ls.proposals.live()]


# -- hover and code lenses --------------------------------------------------------------


def at_line(ls: HexadServer, path: str, line: int) -> list[Proposal]:
    if ls.proposals is None:
        return []
    return [
        p
        for p in ls.proposals.live()
        if p.draft.targets and p.draft.targets[0].path == path and p.draft.targets[0].line == line
    ]


def breakdown(proposal: Proposal) -> str:
    """The whole assessment as markdown: confidence, decision, every piece of evidence
    with its push, the checks, and governance's answer."""
    a = proposal.assessment
    proceed_at, escalate_below = a.thresholds
    lines = [
        f"**Hexad proposal #{proposal.id}** — {proposal.draft.task} ({proposal.status})",
        "",
        f"Confidence **{proposal.confidence:.2f}** → **{a.decision}** "
        f"(proceed at ≥ {proceed_at:.2f}, escalate below {escalate_below:.2f}; "
        f"{a.model} model)",
        "",
        "| evidence | push on the log-odds |",
        "|---|---|",
    ]
    lines += [f"| {p.text} | {p.weight:+.2f} |" for p in a.points]
    lines += ["", "| check | result |", "|---|---|"]
    lines += [f"| {c.name} | {c.status}: {c.summary} |" for c in proposal.report.checks]
    reasons = [r for r in proposal.governance.reasons if r.effect != "allow"]
    lines += ["", f"Governance: **{proposal.governance.effect}**"]
    lines += [f"- {r.why}" for r in reasons]
    if proposal.draft.notes:
        lines += ["", *(f"- note: {n}" for n in proposal.draft.notes)]
    return "\n".join(lines)


def code_lenses(ls: HexadServer, params: types.CodeLensParams) -> list[types.CodeLens]:
    if ls.converter is None or ls.proposals is None:
        return []
    path = ls.converter.path_from_lsp(params.text_document.uri)
    lenses: list[types.CodeLens] = []
    for proposal in ls.proposals.live():
        target = proposal.draft.targets[0] if proposal.draft.targets else None
        if target is None or target.path != path:
            continue
        pos = types.Position(target.line, 0)
        rng = types.Range(pos, pos)
        head = f"Hexad #{proposal.id}: {proposal.confidence:.2f} {proposal.assessment.decision}"
        verbs: list[tuple[str, str]] = [("Show diff", "hexad.showDiff"), ("Reject", "hexad.reject")]
        if proposal.report.passed and proposal.status == "proposed":
            verbs.insert(0, ("Accept", "hexad.accept"))
        for i, (verb, command) in enumerate(verbs):
            title = f"{head} — {verb}" if i == 0 else verb
            lenses.append(
                types.CodeLens(
                    range=rng,
                    command=types.Command(title, command, arguments=[{"id": proposal.id}]),
                )
            )
    return lenses


async def code_lens_handler(
    ls: HexadServer, params: types.CodeLensParams
) -> list[types.CodeLens] | None:
    return code_lenses(ls, params) or None
