"""Everything the server can do, in one table.

Each row names an LSP method, its handler, its registration options, and where it runs:
``loop`` handlers change state on the event loop (document sync, configuration) and
return at once; ``thread`` handlers compute an answer off the loop from the index's
committed state, so edits keep flowing while they work and cancellation answers at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from lsprotocol import types

from hexad.lsp import handlers, planning, proposals, status
from hexad.lsp.server import HexadServer


@dataclass(frozen=True)
class Feature:
    method: str
    handler: Callable[..., Any]
    runs: Literal["loop", "thread"]
    options: Any = None


def initialized(ls: HexadServer, params: types.InitializedParams) -> None:
    handlers.initialized(ls, params)
    planning.announce_interrupted(ls)


FEATURES: tuple[Feature, ...] = (
    Feature(types.INITIALIZE, handlers.initialize, "loop"),
    Feature(types.INITIALIZED, initialized, "loop"),
    Feature(types.SHUTDOWN, handlers.shutdown, "loop"),
    Feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION, handlers.did_change_configuration, "loop"),
    Feature(types.TEXT_DOCUMENT_DID_OPEN, handlers.did_open, "loop"),
    Feature(types.TEXT_DOCUMENT_DID_CHANGE, handlers.did_change, "loop"),
    Feature(types.TEXT_DOCUMENT_DID_CLOSE, handlers.did_close, "loop"),
    Feature(
        types.TEXT_DOCUMENT_DID_SAVE,
        handlers.did_save,
        "loop",
        types.SaveOptions(include_text=False),
    ),
    Feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL, handlers.document_symbol, "thread"),
    Feature(types.WORKSPACE_SYMBOL, handlers.workspace_symbol, "thread"),
    Feature(types.TEXT_DOCUMENT_DEFINITION, handlers.definition, "thread"),
    Feature(types.TEXT_DOCUMENT_REFERENCES, handlers.references, "thread"),
    Feature(types.TEXT_DOCUMENT_HOVER, handlers.hover, "thread"),
    Feature(types.TEXT_DOCUMENT_PREPARE_CALL_HIERARCHY, handlers.prepare_call_hierarchy, "thread"),
    Feature(types.CALL_HIERARCHY_INCOMING_CALLS, handlers.incoming_calls, "thread"),
    Feature(types.CALL_HIERARCHY_OUTGOING_CALLS, handlers.outgoing_calls, "thread"),
    Feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        proposals.code_action_handler,
        "thread",
        types.CodeActionOptions(code_action_kinds=proposals.ACTION_KINDS, resolve_provider=True),
    ),
    Feature(types.CODE_ACTION_RESOLVE, proposals.code_action_resolve_handler, "thread"),
    Feature(
        types.TEXT_DOCUMENT_CODE_LENS,
        proposals.code_lens_handler,
        "loop",
        types.CodeLensOptions(resolve_provider=False),
    ),
)

COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("hexad.repoMap", handlers.repo_map),
    ("hexad.reindex", handlers.reindex),
    ("hexad.indexStatus", handlers.index_status),
    ("hexad.explainAction", handlers.explain_action),
    ("hexad.memory.search", handlers.memory_search),
    ("hexad.memory.status", handlers.memory_status),
    ("hexad.remember", handlers.remember),
    ("hexad.forget", handlers.forget),
    ("hexad.generate", handlers.generate),
    ("hexad.propose", proposals.propose_command),
    ("hexad.accept", proposals.accept_command),
    ("hexad.reject", proposals.reject_command),
    ("hexad.showDiff", proposals.show_diff_command),
    ("hexad.review", proposals.review_command),
    ("hexad.proposals", proposals.proposals_command),
    ("hexad.plan", planning.plan_command),
    ("hexad.plan.run", planning.plan_run_command),
    ("hexad.plan.cancel", planning.plan_cancel_command),
    ("hexad.plans", planning.plans_command),
    ("hexad.status", status.status_command),
)


def register(server: HexadServer) -> None:
    for feature in FEATURES:
        server.feature(feature.method, feature.options)(feature.handler)
    for name, handler in COMMANDS:
        server.command(name)(handler)
