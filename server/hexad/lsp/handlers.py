"""Thin handlers: find the document, call a layer service, convert the answer.

Handlers marked off-loop in the feature table run their service call in a worker thread
(``asyncio.to_thread``), so a long request never blocks edits, and a cancelled request
is answered as cancelled at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from lsprotocol import types
from pydantic import ValidationError
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from hexad.core.types import Location, Span
from hexad.inference.base import CancelToken
from hexad.lsp import proposals
from hexad.lsp.server import REQUEST_ID, HexadServer
from hexad.perception.repomap import build_repo_map

log = logging.getLogger(__name__)


# -- lifecycle -----------------------------------------------------------------


def initialize(ls: HexadServer, params: types.InitializeParams) -> None:
    ls.configure(params.initialization_options)
    ls.start_workspace(params)


def initialized(ls: HexadServer, params: types.InitializedParams) -> None:
    ls.open_index()


def did_change_configuration(ls: HexadServer, params: types.DidChangeConfigurationParams) -> None:
    ls.configure(params.settings)


def shutdown(ls: HexadServer, params: None) -> None:
    ls.close()


# -- documents -------------------------------------------------------------------


def _policy_path(ls: HexadServer, uri: str) -> str | None:
    """The file system path of a policy file of this workspace, else None."""
    if ls.policies is None or not uri.startswith("file:"):
        return None
    fs_path = to_fs_path(uri)
    return fs_path if fs_path is not None and ls.policies.owns(fs_path) else None


def _publish(ls: HexadServer, uri: str, diagnostics: list[types.Diagnostic]) -> None:
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
    )


def did_open(ls: HexadServer, params: types.DidOpenTextDocumentParams) -> None:
    doc = params.text_document
    policy = _policy_path(ls, doc.uri)
    if policy is not None and ls.policies is not None:
        _publish(ls, doc.uri, ls.policies.diagnostics(policy, doc.text))
        return
    if ls.live is None or ls.converter is None:
        return
    path = ls.converter.path_from_lsp(doc.uri)
    if path is not None:
        ls.live.open(path, doc.text, doc.version)


def did_change(ls: HexadServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    policy = _policy_path(ls, uri)
    if policy is not None and ls.policies is not None:
        # pygls has applied the changes to its copy of the document before calling us
        text = ls.workspace.get_text_document(uri).source
        _publish(ls, uri, ls.policies.diagnostics(policy, text))
        return
    if ls.live is None or ls.converter is None:
        return
    path = ls.converter.path_from_lsp(uri)
    if path is None:
        return
    edits = [ls.converter.text_edit_from_lsp(c) for c in params.content_changes]
    ls.live.change(path, params.text_document.version, edits)
    proposals.refresh(ls, [path])


def did_save(ls: HexadServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    policy = _policy_path(ls, uri)
    if policy is None or ls.policies is None:
        return
    diagnostics, message = ls.policies.saved(policy)
    _publish(ls, uri, diagnostics)
    if message is not None:
        ls.window_show_message(types.ShowMessageParams(types.MessageType.Warning, message))


def did_close(ls: HexadServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    policy = _policy_path(ls, uri)
    if policy is not None and ls.policies is not None:
        ls.policies.closed(policy)
        return
    if ls.live is None or ls.converter is None:
        return
    path = ls.converter.path_from_lsp(uri)
    if path is not None:
        ls.live.close(path)


# -- navigation ------------------------------------------------------------------


def _ready(ls: HexadServer, uri: str) -> str | None:
    """The document's workspace path once its latest edits are indexed, else None."""
    if ls.live is None or ls.converter is None:
        return None
    path = ls.converter.path_from_lsp(uri)
    if path is None:
        return None
    ls.live.wait_for(path)
    return path


async def document_symbol(
    ls: HexadServer, params: types.DocumentSymbolParams
) -> list[types.DocumentSymbol]:
    def work() -> list[types.DocumentSymbol]:
        path = _ready(ls, params.text_document.uri)
        if path is None or ls.navigator is None or ls.converter is None:
            return []
        return [ls.converter.lsp_document_symbol(t) for t in ls.navigator.document_symbols(path)]

    return await asyncio.to_thread(work)


async def workspace_symbol(
    ls: HexadServer, params: types.WorkspaceSymbolParams
) -> list[types.WorkspaceSymbol]:
    def work() -> list[types.WorkspaceSymbol]:
        if ls.navigator is None or ls.converter is None or ls.live is None:
            return []
        found = ls.navigator.workspace_symbols(params.query, ls.live.generation)
        return [ls.converter.lsp_workspace_symbol(s) for s in found]

    return await asyncio.to_thread(work)


def _at(ls: HexadServer, uri: str, position: types.Position) -> tuple[str, int, int] | None:
    path = _ready(ls, uri)
    if path is None or ls.converter is None:
        return None
    line, col = ls.converter.position_from_lsp(path, position)
    return path, line, col


async def definition(ls: HexadServer, params: types.DefinitionParams) -> list[types.Location]:
    def work() -> list[types.Location]:
        at = _at(ls, params.text_document.uri, params.position)
        if at is None or ls.navigator is None or ls.converter is None:
            return []
        return [ls.converter.lsp_location(loc) for loc in ls.navigator.definition(*at)]

    return await asyncio.to_thread(work)


async def references(ls: HexadServer, params: types.ReferenceParams) -> list[types.Location]:
    def work() -> list[types.Location]:
        at = _at(ls, params.text_document.uri, params.position)
        if at is None or ls.navigator is None or ls.converter is None:
            return []
        found = ls.navigator.references(*at, params.context.include_declaration)
        return [ls.converter.lsp_location(loc) for loc in found]

    return await asyncio.to_thread(work)


async def hover(ls: HexadServer, params: types.HoverParams) -> types.Hover | None:
    policy = _policy_path(ls, params.text_document.uri)
    if policy is not None and ls.policies is not None:
        text = ls.policies.hover(policy, params.position)
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(types.MarkupKind.Markdown, text))

    def work() -> types.Hover | None:
        at = _at(ls, params.text_document.uri, params.position)
        if at is None or ls.navigator is None or ls.converter is None:
            return None
        shown = proposals.at_line(ls, at[0], at[1])
        if shown:  # a proposal's target line: its whole assessment
            text = "\n\n---\n\n".join(proposals.breakdown(p) for p in shown)
            return types.Hover(contents=types.MarkupContent(types.MarkupKind.Markdown, text))
        info = ls.navigator.hover(*at)
        if info is None:
            return None
        path, line, col = at
        word = ls.navigator.word_at(path, line, col)
        span = Span(line, word[1], line, word[2]) if word else None
        notes: list[str] = []
        if ls.memory is not None and info.symbol is not None:
            sym = info.symbol
            notes = [
                f"{n.text} *(note #{n.id}{', learned' if n.source == 'learned' else ''})*"
                for n in ls.memory.notes_for(sym.path, sym.qualname, sym.name)
            ]
        return ls.converter.lsp_hover(info, path, span, notes)

    return await asyncio.to_thread(work)


async def prepare_call_hierarchy(
    ls: HexadServer, params: types.CallHierarchyPrepareParams
) -> list[types.CallHierarchyItem] | None:
    def work() -> list[types.CallHierarchyItem] | None:
        at = _at(ls, params.text_document.uri, params.position)
        if at is None or ls.navigator is None or ls.converter is None:
            return None
        sym = ls.navigator.symbol_at(*at)
        return [ls.converter.lsp_call_hierarchy_item(sym)] if sym is not None else None

    return await asyncio.to_thread(work)


def _item_id(item: types.CallHierarchyItem) -> int | None:
    data = item.data
    if isinstance(data, dict) and isinstance(data.get("id"), int):
        return int(data["id"])
    return None


async def incoming_calls(
    ls: HexadServer, params: types.CallHierarchyIncomingCallsParams
) -> list[types.CallHierarchyIncomingCall]:
    def work() -> list[types.CallHierarchyIncomingCall]:
        symbol_id = _item_id(params.item)
        if symbol_id is None or ls.navigator is None or ls.converter is None:
            return []
        return [ls.converter.lsp_incoming(g) for g in ls.navigator.incoming_calls(symbol_id)]

    return await asyncio.to_thread(work)


async def outgoing_calls(
    ls: HexadServer, params: types.CallHierarchyOutgoingCallsParams
) -> list[types.CallHierarchyOutgoingCall]:
    def work() -> list[types.CallHierarchyOutgoingCall]:
        symbol_id = _item_id(params.item)
        if symbol_id is None or ls.navigator is None or ls.converter is None:
            return []
        converted = (ls.converter.lsp_outgoing(g) for g in ls.navigator.outgoing_calls(symbol_id))
        return [c for c in converted if c is not None]

    return await asyncio.to_thread(work)


# -- commands --------------------------------------------------------------------


def _arg(args: Any, key: str, default: Any) -> Any:
    if isinstance(args, list) and args and isinstance(args[0], dict):
        return args[0].get(key, default)
    return default


async def repo_map(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.repoMap`` [{tokens?: int, focus?: [path or symbol name]}]."""

    def work() -> dict[str, Any]:
        if ls.live is None:
            return {"map": "", "tokens": 0}
        tokens = _arg(list(args), "tokens", 1024)
        focus = _arg(list(args), "focus", [])
        if not isinstance(tokens, int) or tokens < 16:
            raise JsonRpcInvalidParams("hexad.repoMap: tokens must be an integer >= 16")
        if not isinstance(focus, list) or not all(isinstance(f, str) for f in focus):
            raise JsonRpcInvalidParams("hexad.repoMap: focus must be a list of paths or names")
        conn = ls.live.reader().conn
        paths = {r[0] for r in conn.execute("SELECT path FROM files")}
        result = build_repo_map(
            conn,
            tokens,
            [f for f in focus if f in paths],
            [f for f in focus if f not in paths],
            use_cache=False,
        )
        return {"map": result.text, "tokens": result.tokens, "files": result.files}

    return await asyncio.to_thread(work)


async def reindex(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.reindex``: refresh from disk now; answers with the run's summary."""
    if ls.live is None:
        return {"error": "no workspace"}
    summary = await asyncio.wrap_future(ls.live.refresh())
    data = asdict(summary)
    data["skipped"] = [{"path": p, "reason": r} for p, r in summary.skipped]
    return data


def explain_action(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.explainAction`` [{kind, paths?, engine?, ...}]: the policy's dry-run answer."""
    if ls.policies is None:
        raise JsonRpcInvalidParams("hexad.explainAction: no workspace")
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams("hexad.explainAction: expects one action object")
    try:
        return ls.policies.explain(args[0])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise JsonRpcInvalidParams(f"hexad.explainAction: {where}: {first['msg']}") from exc


def index_status(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.indexStatus``: whether indexing runs, and what the index holds."""
    if ls.live is None:
        return {"state": "no workspace"}
    conn = ls.live.reader().conn
    counts = {
        "files": conn.execute("SELECT COUNT(*) FROM files WHERE skip_reason IS NULL").fetchone()[0],
        "symbols": conn.execute("SELECT COUNT(*) FROM symbols").fetchone()[0],
        "references": conn.execute("SELECT COUNT(*) FROM refs").fetchone()[0],
        "skipped": conn.execute(
            "SELECT COUNT(*) FROM files WHERE skip_reason IS NOT NULL"
        ).fetchone()[0],
    }
    last = ls.live.last_summary
    return {
        "state": "indexing" if ls.live.indexing else "ready",
        "root": str(ls.live.root),
        "openDocuments": sorted(ls.live.docs),
        "generation": ls.live.generation,
        "lastRunSeconds": round(last.seconds, 3) if last else None,
        **counts,
    }


# -- memory ----------------------------------------------------------------------


def _memory(ls: HexadServer, command: str) -> Any:
    if ls.memory is None:
        raise JsonRpcInvalidParams(f"{command}: memory is off (no workspace, or memory.enabled)")
    return ls.memory


def _one_object(args: tuple[Any, ...], command: str, positional: str) -> dict[str, Any]:
    """Commands take one object; a lone string or number stands for ``positional``."""
    if len(args) == 1 and isinstance(args[0], dict):
        return args[0]
    if len(args) == 1 and isinstance(args[0], str | int) and not isinstance(args[0], bool):
        return {positional: args[0]}
    raise JsonRpcInvalidParams(f"{command}: expects one object argument")


def _strings(value: Any, command: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise JsonRpcInvalidParams(f"{command}: {key} must be a string or a list of strings")


async def memory_search(ls: HexadServer, *args: Any) -> list[dict[str, Any]]:
    """``hexad.memory.search`` [{query, k?, mode?, types?, kinds?, languages?, path?}]."""
    command = "hexad.memory.search"
    memory = _memory(ls, command)
    opts = _one_object(args, command, "query")
    query, k, mode = opts.get("query"), opts.get("k", 10), opts.get("mode", "hybrid")
    if not isinstance(query, str) or not query.strip():
        raise JsonRpcInvalidParams(f"{command}: query must be a non-empty string")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1000:
        raise JsonRpcInvalidParams(f"{command}: k must be an integer from 1 to 1000")
    if mode not in ("hybrid", "keyword", "vector"):
        raise JsonRpcInvalidParams(f"{command}: mode must be hybrid, keyword or vector")
    path_glob = opts.get("path")
    if path_glob is not None and not isinstance(path_glob, str):
        raise JsonRpcInvalidParams(f"{command}: path must be a glob string")
    filters = {
        key: _strings(opts.get(key), command, key) for key in ("types", "kinds", "languages")
    }

    def work() -> list[dict[str, Any]]:
        hits = memory.recall(query, k, mode=mode, path_glob=path_glob, **filters)
        out = []
        for hit in hits:
            data = hit.to_json()
            item = hit.item
            if item.type != "note" and item.path and ls.converter is not None:
                start = item.start_line or 0
                end = item.end_line if item.end_line is not None else start
                loc = ls.converter.lsp_location(Location(item.path, Span(start, 0, end, 0)))
                r = loc.range
                data["location"] = {
                    "uri": loc.uri,
                    "range": {
                        "start": {"line": r.start.line, "character": r.start.character},
                        "end": {"line": r.end.line, "character": r.end.character},
                    },
                }
            out.append(data)
        return out

    return await asyncio.to_thread(work)


async def remember(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.remember`` [{text, scope?}] or ["text"]: keep a note across sessions."""
    command = "hexad.remember"
    memory = _memory(ls, command)
    opts = _one_object(args, command, "text")
    text, scope = opts.get("text"), opts.get("scope", "")
    if not isinstance(text, str) or not text.strip():
        raise JsonRpcInvalidParams(f"{command}: text must be a non-empty string")
    if not isinstance(scope, str):
        raise JsonRpcInvalidParams(f"{command}: scope must be a path glob or a qualified name")
    note = await asyncio.to_thread(memory.remember, text, scope)
    return dict(note.to_json())


async def forget(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.forget`` [{id}] or [id]: drop a note."""
    command = "hexad.forget"
    memory = _memory(ls, command)
    note_id = _one_object(args, command, "id").get("id")
    if not isinstance(note_id, int) or isinstance(note_id, bool):
        raise JsonRpcInvalidParams(f"{command}: id must be a note id (an integer)")
    forgotten = await asyncio.to_thread(memory.forget, note_id)
    return {"id": note_id, "forgotten": forgotten}


async def memory_status(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.memory.status``: what memory holds and how the last sync went."""
    memory = _memory(ls, "hexad.memory.status")
    stats = await asyncio.to_thread(memory.stats)
    last = memory.last_report
    return {**stats, "lastSync": last.to_json() if last is not None else None}


# -- models ----------------------------------------------------------------------

PROGRESS_EVERY = 16  # tokens between hexad/generationProgress notifications


async def generate(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.generate`` [{task, prompt, values, maxTokens?, taskId?}]: run a packaged
    prompt through the model governance routes ``task`` to. Cancelling the request stops
    the generation; with no usable model the answer says why (``unavailable``)."""
    from hexad.execution.models import call_json
    from hexad.inference.prompts import PromptError
    from hexad.inference.prompts import prompt as load_prompt

    command = "hexad.generate"
    opts = _one_object(args, command, "task")
    task, name, values = opts.get("task"), opts.get("prompt"), opts.get("values", {})
    max_tokens, task_id = opts.get("maxTokens"), opts.get("taskId")
    if not isinstance(task, str) or not task:
        raise JsonRpcInvalidParams(f"{command}: task must be a task kind, e.g. implement")
    if not isinstance(name, str) or not isinstance(values, dict):
        raise JsonRpcInvalidParams(f"{command}: prompt must be a name and values an object")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise JsonRpcInvalidParams(f"{command}: maxTokens must be a positive integer")
    try:
        request = load_prompt(name).render(max_tokens=max_tokens, **values)
    except PromptError as exc:
        raise JsonRpcInvalidParams(f"{command}: {exc}") from exc
    service = ls.model_service()
    if service is None:
        raise JsonRpcInvalidParams(f"{command}: no workspace")
    cancel = CancelToken()
    request_id = REQUEST_ID.get()
    if request_id is not None:  # $/cancelRequest for this id stops the model (server.py)
        ls.cancel_tokens[request_id] = cancel
    loop = asyncio.get_running_loop()

    def progress(tokens: int, _text: str) -> None:  # from the model's thread
        if tokens == 1 or tokens % PROGRESS_EVERY == 0:
            loop.call_soon_threadsafe(
                ls.protocol.notify,
                "hexad/generationProgress",
                {"request": request_id, "task": task, "tokens": tokens},
            )

    try:
        call = await asyncio.to_thread(
            service.generate,
            task,
            request,
            task_id=task_id if isinstance(task_id, str) else None,
            cancel=cancel,
            on_progress=progress,
        )
    except asyncio.CancelledError:
        cancel.cancel()
        raise
    finally:
        if request_id is not None:
            ls.cancel_tokens.pop(request_id, None)
    return call_json(call)
