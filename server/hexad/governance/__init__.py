"""Governance: policy model, loader, decision engine, budgets ledger and audit log.

Every layer asks before it acts::

    engine = open_engine(workspace)
    decision = engine.decide(Action(kind="edit", paths=("src/a.py",), lines_changed=12))
    if decision.effect == "allow": ...

See ``policies/README.md`` for the policy language and how layers combine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from hexad.governance.engine import BudgetState, Decision, Engine, Reason
from hexad.governance.ledger import Ledger
from hexad.governance.loader import PolicyStore, load, parse
from hexad.governance.model import Action, Effect, PolicyFile
from hexad.governance.policy import Policy
from hexad.governance.source import Issue

__all__ = [
    "Action",
    "BudgetState",
    "Decision",
    "Effect",
    "Engine",
    "Issue",
    "Ledger",
    "Policy",
    "PolicyFile",
    "PolicyStore",
    "Reason",
    "load",
    "open_engine",
    "parse",
]


def open_engine(
    workspace: Path, *, user_file: Path | Literal["auto"] | None = "auto", record: bool = True
) -> Engine:
    """The engine for ``workspace``: its policy files kept in a :class:`PolicyStore`, its
    decisions recorded in the workspace database (``record=False``: not recorded)."""
    store = PolicyStore(workspace, user_file=user_file)
    ledger = Ledger.open(workspace) if record else None
    return Engine(store, workspace, ledger=ledger)
