"""The audit ledger: every decision and every spend, appended to the workspace database.

Two tables (migration ``m006_create_governance_ledger``): ``governance_decisions`` and
``governance_spend``. Triggers refuse UPDATE and DELETE on both, so nothing the agent runs
can rewrite or erase the record; a correction is a new row (an ``adjust`` spend).

Budgets are charged atomically. :meth:`Ledger.commit` opens ``BEGIN IMMEDIATE`` (the
database's write lock, so no other connection — thread or process — can commit between
the check and the write), then inserts each spend with one conditional
``INSERT … SELECT … WHERE spent + amount <= limit``. If any insert finds its budget
exhausted, the whole transaction rolls back and nothing is charged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hexad.core.db import Connection, connect, database_path, transaction

Metric = Literal["tokens", "seconds", "proposals", "files", "lines"]
SpendSource = Literal["reserve", "actual", "adjust"]


@dataclass(frozen=True, slots=True)
class Check:
    """One budget a charge must stay within: per task, or over a sliding time window."""

    budget: str
    limit: float
    task_id: str | None = None  # the sum runs over this task's spend
    window: float | None = None  # the sum runs over the last `window` seconds


@dataclass(frozen=True, slots=True)
class Charge:
    metric: str
    amount: float
    checks: tuple[Check, ...] = ()


def format_amount(value: float) -> str:
    """``2000000.0`` → ``2000000``; ``1.5`` → ``1.5`` (never ``2e+06``)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


class BudgetExceeded(Exception):
    """A charge would take a budget past its limit; nothing was charged."""

    def __init__(self, check: Check, spent: float, amount: float) -> None:
        super().__init__(
            f"{check.budget}: {format_amount(spent)} spent + {format_amount(amount)}"
            f" > {format_amount(check.limit)}"
        )
        self.check = check
        self.spent = spent
        self.amount = amount


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """What the ledger keeps of a decision."""

    task_id: str | None
    kind: str
    effect: str
    rules: tuple[str, ...]
    action: dict[str, Any]
    reasons: list[dict[str, Any]]
    policy: str  # digest of the policy files in force


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the ledger, decision or spend, for display."""

    id: int
    ts: float
    type: Literal["decision", "spend"]
    task_id: str | None
    summary: dict[str, Any]


class Ledger:
    """The audit ledger of one workspace database. Safe to share between threads."""

    def __init__(self, conn: Connection, *, clock: Any = time.time) -> None:
        self.conn = conn
        self.clock = clock
        self._lock = threading.RLock()

    @classmethod
    def open(cls, workspace: Path) -> Ledger:
        return cls(connect(database_path(workspace)))

    def close(self) -> None:
        self.conn.close()

    # reading --------------------------------------------------------------------------
    def spent(
        self, metric: str, *, task_id: str | None = None, since: float | None = None
    ) -> float:
        sql = "SELECT COALESCE(SUM(amount), 0) FROM governance_spend WHERE metric = ?"
        params: list[Any] = [metric]
        if task_id is not None:
            sql += " AND task_id = ?"
            params.append(task_id)
        if since is not None:
            sql += " AND ts > ?"
            params.append(since)
        with self._lock:
            return float(self.conn.execute(sql, params).fetchone()[0])

    def entries(self, *, limit: int = 50, task_id: str | None = None) -> list[Entry]:
        """The latest ``limit`` rows, decisions and spends together, oldest first."""
        where, params = ("WHERE task_id = ?", [task_id]) if task_id is not None else ("", [])
        with self._lock:
            rows = self.conn.execute(
                # a decision's spends come right after it
                f"""SELECT * FROM (
                    SELECT id, ts, 'decision', task_id, kind, effect, rules, policy, NULL, id
                    FROM governance_decisions {where}
                    UNION ALL
                    SELECT id, ts, 'spend', task_id, metric, amount, source, decision_id, note,
                           COALESCE(decision_id, 0)
                    FROM governance_spend {where}
                ) ORDER BY 2 DESC, 10 DESC, 3 DESC, 1 DESC LIMIT ?""",
                [*params, *params, limit],
            ).fetchall()
        out = []
        for row in reversed(rows):
            if row[2] == "decision":
                summary = {
                    "kind": row[4],
                    "effect": row[5],
                    "rules": json.loads(row[6]),
                    "policy": row[7],
                }
            else:
                summary = {
                    "metric": row[4],
                    "amount": row[5],
                    "source": row[6],
                    "decision_id": row[7],
                    "note": row[8],
                }
            out.append(Entry(row[0], row[1], row[2], row[3], summary))
        return out

    def decision(self, decision_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT id, ts, task_id, kind, effect, rules, action, reasons, policy"
                " FROM governance_decisions WHERE id = ?",
                (decision_id,),
            ).fetchone()
        if row is None:
            return None
        keys = ("id", "ts", "task_id", "kind", "effect", "rules", "action", "reasons", "policy")
        data = dict(zip(keys, row, strict=True))
        for key in ("rules", "action", "reasons"):
            data[key] = json.loads(data[key])
        return data

    # writing --------------------------------------------------------------------------
    def commit(
        self, record: DecisionRecord, charges: Sequence[Charge] = (), *, now: float | None = None
    ) -> int:
        """Append ``record`` and its charges in one transaction; returns the decision id.

        Raises :class:`BudgetExceeded` (and appends nothing) when a charge does not fit.
        """
        now = self.clock() if now is None else now
        with self._lock:
            try:
                with transaction(self.conn):
                    cursor = self.conn.execute(
                        "INSERT INTO governance_decisions"
                        "(ts, task_id, kind, effect, rules, action, reasons, policy)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            now,
                            record.task_id,
                            record.kind,
                            record.effect,
                            json.dumps(list(record.rules)),
                            json.dumps(record.action, sort_keys=True),
                            json.dumps(record.reasons),
                            record.policy,
                        ),
                    )
                    decision_id = int(cursor.lastrowid)
                    for charge in charges:
                        self._charge(charge, record.task_id, decision_id, now)
            except _Refused as refused:
                raise refused.exceeded from None
        return decision_id

    def _charge(self, charge: Charge, task_id: str | None, decision_id: int, now: float) -> None:
        conditions, params = [], []
        for check in charge.checks:
            sql, args = _spent_sql(charge.metric, check, now)
            conditions.append(f"({sql}) + ? <= ?")
            params += [*args, charge.amount, check.limit]
        cursor = self.conn.execute(
            "INSERT INTO governance_spend(ts, task_id, decision_id, metric, amount, source)"
            " SELECT ?, ?, ?, ?, ?, 'reserve'"
            + (" WHERE " + " AND ".join(conditions) if conditions else ""),
            [now, task_id, decision_id, charge.metric, charge.amount, *params],
        )
        if cursor.rowcount == 1:
            return
        for check in charge.checks:  # which one refused, for the message
            sql, args = _spent_sql(charge.metric, check, now)
            spent = float(self.conn.execute(sql, args).fetchone()[0])
            if spent + charge.amount > check.limit:
                raise _Refused(BudgetExceeded(check, spent, charge.amount))
        raise _Refused(BudgetExceeded(charge.checks[0], 0.0, charge.amount))

    def record_spend(
        self,
        metric: str,
        amount: float,
        *,
        task_id: str | None = None,
        decision_id: int | None = None,
        source: SpendSource = "actual",
        note: str | None = None,
        now: float | None = None,
    ) -> int:
        """Append a spend that already happened; no budget can refuse a fact."""
        now = self.clock() if now is None else now
        with self._lock, transaction(self.conn):
            cursor = self.conn.execute(
                "INSERT INTO governance_spend"
                "(ts, task_id, decision_id, metric, amount, source, note)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now, task_id, decision_id, metric, amount, source, note),
            )
            return int(cursor.lastrowid)

    def reserved(self, decision_id: int, metric: str) -> float:
        with self._lock:
            row = self.conn.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM governance_spend"
                " WHERE decision_id = ? AND metric = ?",
                (decision_id, metric),
            ).fetchone()
        return float(row[0])


class _Refused(Exception):
    """Raised inside the transaction so that it rolls back; carries the real reason."""

    def __init__(self, exceeded: BudgetExceeded) -> None:
        super().__init__(str(exceeded))
        self.exceeded = exceeded


def _spent_sql(metric: str, check: Check, now: float) -> tuple[str, list[Any]]:
    sql = "SELECT COALESCE(SUM(amount), 0) FROM governance_spend WHERE metric = ?"
    args: list[Any] = [metric]
    if check.task_id is not None:
        sql += " AND task_id = ?"
        args.append(check.task_id)
    if check.window is not None:
        sql += " AND ts > ?"
        args.append(now - check.window)
    return sql, args
