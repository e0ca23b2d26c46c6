"""What users and outcomes teach: notes, proposal decisions, and plan runs.

Notes and decisions are memory items too (searchable by words and meaning); their own
tables hold what only they have. A decision's status history is append-only
(``memory_decision_events``); rejecting a proposal with a reason leaves a learned note
scoped to what the proposal touched, so the next proposal there can read it.

Text that looks like a secret (``core.secrets``) is redacted before it is stored: a note's
text, a decision's diff, evidence, verification output and status details.
"""

from __future__ import annotations

import fnmatch
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hexad.core.db import Connection, transaction
from hexad.core.hashing import parts_hash
from hexad.core.secrets import redact
from hexad.memory.store import ItemFields, ItemStore
from hexad.memory.tokens import fts_text

DECISION_STATUSES = frozenset({"proposed", "accepted", "rejected", "applied", "reverted", "stale"})
# outcome statuses: what trust learns from (accepted/applied = good, rejected/reverted = bad)
OUTCOMES = {"accepted": True, "applied": True, "rejected": False, "reverted": False}
NOTE_SOURCES = frozenset({"user", "learned"})
DIFF_SEARCH_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Note:
    id: int  # the memory item id
    text: str
    scope: str
    source: str
    decision_id: int | None
    created: float

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def applies_to(self, path: str | None, qualname: str | None) -> bool:
        """Scope '' applies everywhere; else a path glob or a (prefix of a) qualname."""
        if not self.scope:
            return True
        if qualname and (qualname == self.scope or qualname.startswith(self.scope + ".")):
            return True
        return bool(path) and fnmatch.fnmatchcase(path or "", self.scope)


@dataclass(slots=True)
class Proposal:
    """A proposal as execution hands it to memory."""

    task: str
    kind: str  # rename | add_import | implement | ...
    engine: str = ""
    model: str | None = None
    prompt_hash: str | None = None
    diff: str = ""
    targets: list[dict[str, Any]] = field(default_factory=list)  # {path, qualname?, line?}
    evidence: dict[str, Any] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)
    confidence: float | None = None
    policy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    id: int
    created: float
    updated: float
    task: str
    kind: str
    engine: str
    model: str | None
    prompt_hash: str | None
    diff: str
    targets: list[dict[str, Any]]
    evidence: dict[str, Any]
    verification: dict[str, Any]
    confidence: float | None
    policy: dict[str, Any]
    status: str
    reason: str | None
    history: tuple[tuple[float, str, str | None], ...] = ()

    @property
    def outcome(self) -> bool | None:
        """True (kept), False (rejected or reverted) or None (no outcome yet)."""
        return OUTCOMES.get(self.status)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["history"] = [
            {"ts": ts, "status": status, "detail": detail} for ts, status, detail in self.history
        ]
        data["outcome"] = self.outcome
        return data


_DECISION_COLUMNS = (
    "id, created, updated, task, kind, engine, model, prompt_hash, diff, targets_json,"
    " evidence_json, verification_json, confidence, policy_json, status, reason"
)


class Records:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.items = ItemStore(conn)

    # -- notes ---------------------------------------------------------------------------

    def remember(
        self, text: str, *, scope: str = "", source: str = "user", decision_id: int | None = None
    ) -> Note:
        text = redact(text.strip())
        if not text:
            raise ValueError("a note needs some text")
        if source not in NOTE_SOURCES:
            raise ValueError(f"note source must be one of {sorted(NOTE_SOURCES)}")
        key = f"note:{parts_hash(scope, text)}"
        with transaction(self.conn):
            existing = self.items.by_key(key)
            if existing is not None:  # the same note twice is one note
                return self._note(existing.id)  # type: ignore[return-value]
            item_id, _ = self.items.upsert(
                ItemFields(
                    type="note",
                    key=key,
                    hash=parts_hash(text),
                    fts=(fts_text(scope), "", fts_text(text), fts_text(scope)),
                    path=scope or None,
                    kind=source,
                    title=text.splitlines()[0][:120],
                    body=text,
                )
            )
            self.conn.execute(
                "INSERT INTO memory_notes(item_id, scope, source, decision_id) VALUES (?, ?, ?, ?)",
                (item_id, scope, source, decision_id),
            )
        note = self._note(item_id)
        assert note is not None
        return note

    def forget(self, note_id: int) -> bool:
        with transaction(self.conn):
            row = self.conn.execute(
                "SELECT 1 FROM memory_notes WHERE item_id = ?", (note_id,)
            ).fetchone()
            if row is None:
                return False
            self.items.delete([note_id])
        return True

    def _note(self, item_id: int) -> Note | None:
        row = self.conn.execute(
            "SELECT i.id, i.body, n.scope, n.source, n.decision_id, i.created"
            " FROM memory_notes n JOIN memory_items i ON i.id = n.item_id WHERE i.id = ?",
            (item_id,),
        ).fetchone()
        return Note(*row) if row else None

    def notes(self, *, source: str | None = None) -> list[Note]:
        where = " WHERE n.source = ?" if source else ""
        return [
            Note(*row)
            for row in self.conn.execute(
                "SELECT i.id, i.body, n.scope, n.source, n.decision_id, i.created"
                " FROM memory_notes n JOIN memory_items i ON i.id = n.item_id"
                + where
                + " ORDER BY i.id",
                (source,) if source else (),
            )
        ]

    def notes_for(self, path: str | None, qualname: str | None, name: str | None) -> list[Note]:
        """Notes scoped to this symbol or file, and workspace notes that name the symbol."""
        out = []
        name_words = set(fts_text(name or "").split()) if name and len(name) >= 3 else set()
        for note in self.notes():
            if (note.scope and note.applies_to(path, qualname)) or (
                not note.scope
                and name
                and (
                    name in note.text
                    or (name_words and name_words <= set(fts_text(note.text).split()))
                )
            ):
                out.append(note)
        return out

    # -- decisions -----------------------------------------------------------------------

    def record(self, proposal: Proposal, *, status: str = "proposed") -> int:
        if status not in DECISION_STATUSES:
            raise ValueError(f"unknown decision status {status!r}")
        proposal = _redacted_proposal(proposal)
        now = time.time()
        with transaction(self.conn):
            cur = self.conn.execute(
                "INSERT INTO memory_decisions(created, updated, task, kind, engine, model,"
                " prompt_hash, diff, targets_json, evidence_json, verification_json,"
                " confidence, policy_json, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    now,
                    now,
                    proposal.task,
                    proposal.kind,
                    proposal.engine,
                    proposal.model,
                    proposal.prompt_hash,
                    proposal.diff,
                    json.dumps(proposal.targets),
                    json.dumps(proposal.evidence),
                    json.dumps(proposal.verification),
                    proposal.confidence,
                    json.dumps(proposal.policy),
                    status,
                ),
            )
            decision_id = int(cur.lastrowid)
            first = proposal.targets[0] if proposal.targets else {}
            item_id, _ = self.items.upsert(
                ItemFields(
                    type="decision",
                    key=f"decision:{decision_id}",
                    hash=parts_hash(proposal.task, proposal.diff),
                    fts=(
                        fts_text(proposal.kind),
                        fts_text(proposal.task),
                        fts_text(proposal.diff[:DIFF_SEARCH_CHARS]),
                        fts_text(str(first.get("path", ""))),
                    ),
                    path=first.get("path"),
                    qualname=first.get("qualname"),
                    kind=proposal.kind,
                    title=proposal.task,
                    body=proposal.diff[:DIFF_SEARCH_CHARS],
                ),
                now=now,
            )
            self.conn.execute(
                "UPDATE memory_decisions SET item_id = ? WHERE id = ?", (item_id, decision_id)
            )
            self._event(decision_id, status, None, now)
        return decision_id

    def set_status(
        self,
        decision_id: int,
        status: str,
        *,
        detail: str | None = None,
        reason: str | None = None,
        confidence: float | None = None,
    ) -> Decision:
        """Move a decision on; a rejection with a reason becomes a learned note."""
        if status not in DECISION_STATUSES:
            raise ValueError(f"unknown decision status {status!r}")
        now = time.time()
        with transaction(self.conn):
            found = self.conn.execute(
                "SELECT 1 FROM memory_decisions WHERE id = ?", (decision_id,)
            ).fetchone()
            if found is None:
                raise KeyError(f"no decision {decision_id}")
            self.conn.execute(
                "UPDATE memory_decisions SET status = ?, updated = ?,"
                " reason = coalesce(?, reason), confidence = coalesce(?, confidence)"
                " WHERE id = ?",
                (status, now, _redact_opt(reason), confidence, decision_id),
            )
            self._event(decision_id, status, _redact_opt(detail or reason), now)
        decision = self.decision(decision_id)
        assert decision is not None
        if status == "rejected" and reason and reason.strip():
            target = decision.targets[0] if decision.targets else {}
            scope = str(target.get("qualname") or target.get("path") or "")
            self.remember(
                f"{reason.strip()} (learned from rejected proposal #{decision_id}: "
                f"{decision.task})",
                scope=scope,
                source="learned",
                decision_id=decision_id,
            )
        return decision

    def _event(self, decision_id: int, status: str, detail: str | None, now: float) -> None:
        self.conn.execute(
            "INSERT INTO memory_decision_events(decision_id, ts, status, detail)"
            " VALUES (?, ?, ?, ?)",
            (decision_id, now, status, detail),
        )

    def decision(self, decision_id: int) -> Decision | None:
        row = self.conn.execute(
            f"SELECT {_DECISION_COLUMNS} FROM memory_decisions WHERE id = ?", (decision_id,)
        ).fetchone()
        if row is None:
            return None
        history = tuple(
            (float(ts), str(status), detail)
            for ts, status, detail in self.conn.execute(
                "SELECT ts, status, detail FROM memory_decision_events WHERE decision_id = ?"
                " ORDER BY id",
                (decision_id,),
            )
        )
        return _decision(row, history)

    def decisions(
        self, *, statuses: Sequence[str] = (), kind: str | None = None, limit: int = 100
    ) -> list[Decision]:
        clauses: list[str] = []
        params: list[object] = []
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {_DECISION_COLUMNS} FROM memory_decisions{where} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [_decision(row, ()) for row in rows]

    def outcomes(self) -> list[Decision]:
        """Every decision with an outcome, oldest first: what trust calibrates on."""
        rows = self.conn.execute(
            f"SELECT {_DECISION_COLUMNS} FROM memory_decisions WHERE status IN"
            f" ({','.join('?' * len(OUTCOMES))}) ORDER BY id",
            tuple(OUTCOMES),
        ).fetchall()
        return [_decision(row, ()) for row in rows]

    # -- plan runs ----------------------------------------------------------------------

    def save_plan_run(
        self,
        task: str,
        plan: dict[str, Any],
        *,
        run_id: str | None = None,
        status: str = "running",
    ) -> str:
        run_id = run_id or uuid.uuid4().hex
        now = time.time()
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO memory_plan_runs(id, task, plan_json, status, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " plan_json = excluded.plan_json, status = excluded.status,"
                " updated = excluded.updated",
                (run_id, task, json.dumps(plan), status, now, now),
            )
        return run_id

    def set_step(
        self, run_id: str, index: int, status: str, detail: dict[str, Any] | None = None
    ) -> None:
        now = time.time()
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO memory_plan_steps(run_id, idx, status, detail_json, updated)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(run_id, idx) DO UPDATE SET"
                " status = excluded.status, detail_json = excluded.detail_json,"
                " updated = excluded.updated",
                (run_id, index, status, json.dumps(detail or {}), now),
            )
            self.conn.execute("UPDATE memory_plan_runs SET updated = ? WHERE id = ?", (now, run_id))

    def set_plan_status(self, run_id: str, status: str) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE memory_plan_runs SET status = ?, updated = ? WHERE id = ?",
                (status, time.time(), run_id),
            )

    def plan_run(self, run_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT id, task, plan_json, status, created, updated FROM memory_plan_runs"
            " WHERE id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        steps = {
            idx: {"status": status, "detail": json.loads(detail), "updated": updated}
            for idx, status, detail, updated in self.conn.execute(
                "SELECT idx, status, detail_json, updated FROM memory_plan_steps"
                " WHERE run_id = ? ORDER BY idx",
                (run_id,),
            )
        }
        return {
            "id": row[0],
            "task": row[1],
            "plan": json.loads(row[2]),
            "status": row[3],
            "created": row[4],
            "updated": row[5],
            "steps": steps,
        }

    def recent_plan_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest plan runs first, with their steps."""
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM memory_plan_runs ORDER BY updated DESC, rowid DESC LIMIT ?",
                (limit,),
            )
        ]
        return [run for run in (self.plan_run(i) for i in ids) if run is not None]

    def unfinished_plan_runs(self) -> list[dict[str, Any]]:
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM memory_plan_runs WHERE status IN ('running', 'paused')"
                " ORDER BY created"
            )
        ]
        return [run for run in (self.plan_run(i) for i in ids) if run is not None]


def _decision(row: Sequence[Any], history: tuple[tuple[float, str, str | None], ...]) -> Decision:
    return Decision(
        id=row[0],
        created=row[1],
        updated=row[2],
        task=row[3],
        kind=row[4],
        engine=row[5],
        model=row[6],
        prompt_hash=row[7],
        diff=row[8],
        targets=json.loads(row[9]),
        evidence=json.loads(row[10]),
        verification=json.loads(row[11]),
        confidence=row[12],
        policy=json.loads(row[13]),
        status=row[14],
        reason=row[15],
        history=history,
    )


def _redact_opt(text: str | None) -> str | None:
    return None if text is None else redact(text)


def _redact_value(value: Any) -> Any:
    """``value`` (JSON data) with every string in it redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    return value


def _redacted_proposal(proposal: Proposal) -> Proposal:
    return replace(
        proposal,
        task=redact(proposal.task),
        diff=redact(proposal.diff),
        targets=_redact_value(proposal.targets),
        evidence=_redact_value(proposal.evidence),
        verification=_redact_value(proposal.verification),
    )
