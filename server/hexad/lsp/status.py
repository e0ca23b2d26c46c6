"""``hexad.status``: what an editor's status line shows, in one answer.

The index (as ``hexad.indexStatus`` reports it), what was spent today against the budgets
in force (from the audit ledger), and the live proposals by status and decision. Reading
it changes nothing and charges nothing.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import sqlite3
import time
from collections import Counter
from typing import Any

from hexad.core.db import connect, database_path
from hexad.governance import Ledger
from hexad.lsp import handlers
from hexad.lsp.server import HexadServer

log = logging.getLogger(__name__)

# (budget name, metric, sliding window in seconds): the budgets that add up over time
WINDOWED = (
    ("tokens_per_day", "tokens", 86_400.0),
    ("proposals_per_hour", "proposals", 3_600.0),
)
METRICS = ("tokens", "seconds", "proposals")


def local_midnight(now: float) -> float:
    """The timestamp of the start of ``now``'s day, in local time."""
    day = datetime.datetime.fromtimestamp(now).date()
    return datetime.datetime.combine(day, datetime.time()).timestamp()


def spending(ls: HexadServer, now: float) -> dict[str, Any]:
    """Spent since local midnight, and each windowed budget's use against its limit."""
    today = dict.fromkeys(METRICS, 0.0)
    budgets: list[dict[str, Any]] = []
    limits: dict[str, int | None] = {}
    if ls.policies is not None:
        policy = ls.policies.engine.policy
        limits = {name: policy.budget(name).value for name, _metric, _window in WINDOWED}
    spent = {name: 0.0 for name, _metric, _window in WINDOWED}
    if ls.root is not None:
        conn = connect(database_path(ls.root), migrate=False)
        ledger = Ledger(conn)
        try:
            since = local_midnight(now)
            today = {metric: ledger.spent(metric, since=since) for metric in METRICS}
            spent = {
                name: ledger.spent(metric, since=now - window) for name, metric, window in WINDOWED
            }
        except sqlite3.Error as exc:  # a database not migrated yet: nothing spent
            log.debug("no ledger to read yet: %s", exc)
        finally:
            ledger.close()
    for name, metric, window in WINDOWED:
        budgets.append(
            {
                "name": name,
                "metric": metric,
                "windowSeconds": window,
                "spent": spent[name],
                "limit": limits.get(name),
            }
        )
    return {"today": {**today, "since": local_midnight(now)}, "budgets": budgets}


def proposal_counts(ls: HexadServer) -> dict[str, Any]:
    if ls.proposals is None:
        return {"live": 0, "byStatus": {}, "byDecision": {}}
    live = ls.proposals.live()
    return {
        "live": len(live),
        "byStatus": dict(Counter(p.status for p in live)),
        "byDecision": dict(Counter(p.assessment.decision for p in live)),
    }


def status(ls: HexadServer, now: float | None = None) -> dict[str, Any]:
    moment = time.time() if now is None else now
    return {
        "index": handlers.index_status(ls),
        **spending(ls, moment),
        "proposals": proposal_counts(ls),
    }


async def status_command(ls: HexadServer, *args: Any) -> dict[str, Any]:
    """``hexad.status``: {index, today: {tokens, seconds, proposals, since}, budgets:
    [{name, metric, windowSeconds, spent, limit}], proposals: {live, byStatus,
    byDecision}}."""
    return await asyncio.to_thread(status, ls)
