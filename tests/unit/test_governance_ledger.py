"""The audit ledger and atomic budget charging, under threads and processes."""

from __future__ import annotations

import multiprocessing
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexad.core.db import connect, database_path
from hexad.core.errors import DatabaseError
from hexad.governance.engine import Engine
from hexad.governance.ledger import BudgetExceeded, Charge, Check, DecisionRecord, Ledger
from hexad.governance.loader import layer, parse
from hexad.governance.model import Action
from hexad.governance.policy import Policy


def policy_from(text: str) -> Policy:
    src, issues = parse(text, file="/p/test.toml", label="test.toml", layer="builtin")
    assert src is not None, issues
    return layer([(src, issues)])[0].policy


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


def engine_for(ws: Path, text: str, clock: Clock | None = None) -> Engine:
    return Engine(policy_from(text), ws, ledger=Ledger.open(ws), clock=clock or Clock())


# --- the audit trail --------------------------------------------------------------------


def test_decisions_and_spend_are_recorded(ws: Path) -> None:
    engine = engine_for(ws, "[budgets]\ntokens_per_day = 10_000\n")
    allowed = engine.decide(Action(kind="generate", task_id="t1", tokens=1200, seconds=3.5))
    assert allowed.effect == "allow" and allowed.charged and allowed.decision_id is not None
    entries = engine.ledger.entries() if engine.ledger else []
    assert [(e.type, e.task_id) for e in entries] == [
        ("decision", "t1"),
        ("spend", "t1"),
        ("spend", "t1"),
    ]
    assert entries[0].summary == {
        "kind": "generate",
        "effect": "allow",
        "rules": [],
        "policy": allowed.policy,
    }
    assert {
        (e.summary["metric"], e.summary["amount"], e.summary["source"]) for e in entries[1:]
    } == {
        ("tokens", 1200.0, "reserve"),
        ("seconds", 3.5, "reserve"),
    }
    stored = engine.ledger.decision(allowed.decision_id) if engine.ledger else None
    assert stored is not None and stored["action"] == {
        "kind": "generate",
        "task_id": "t1",
        "tokens": 1200,
        "seconds": 3.5,
    }


def test_every_decision_is_recorded_even_a_deny(ws: Path) -> None:
    engine = engine_for(ws, '[protected]\npaths = ["secret/"]\n')
    denied = engine.decide(Action(kind="edit", paths=("secret/a",)))
    assert denied.effect == "deny" and not denied.charged
    assert engine.ledger is not None
    (entry,) = engine.ledger.entries()
    assert entry.summary["rules"] == ["builtin:protected"]
    stored = engine.ledger.decision(entry.id)
    assert (
        stored is not None
        and stored["reasons"][0]["why"] == "path 'secret/a' matches protected 'secret/'"
    )


def test_explain_records_nothing(ws: Path) -> None:
    engine = engine_for(ws, "version = 1\n")
    engine.explain(Action(kind="generate", tokens=5))
    assert engine.ledger is not None and engine.ledger.entries() == []


def test_the_ledger_is_append_only(ws: Path) -> None:
    engine = engine_for(ws, "version = 1\n")
    engine.decide(Action(kind="propose", tokens=10))
    conn = connect(database_path(ws))
    for statement in (
        "DELETE FROM governance_decisions",
        "UPDATE governance_decisions SET effect = 'allow'",
        "DELETE FROM governance_spend",
        "UPDATE governance_spend SET amount = 0",
    ):
        with pytest.raises(Exception, match="append-only"):
            conn.execute(statement)
    conn.close()
    assert engine.ledger is not None and len(engine.ledger.entries()) == 3


def test_migration_applies_once(ws: Path) -> None:
    Ledger.open(ws).close()
    conn = connect(database_path(ws))
    names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
    assert names.count("m006_create_governance_ledger") == 1
    conn.close()


def test_a_ledger_in_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises((DatabaseError, OSError)):
        Ledger.open(blocker)


# --- budgets ----------------------------------------------------------------------------


def test_day_budget_is_charged_and_then_refuses(ws: Path) -> None:
    clock = Clock()
    engine = engine_for(ws, "[budgets]\ntokens_per_day = 1_000\n", clock)
    assert engine.decide(Action(kind="generate", tokens=600)).effect == "allow"
    second = engine.decide(Action(kind="generate", tokens=600))
    assert second.effect == "deny" and second.rules == ("budget:tokens_per_day",)
    assert second.reasons[0].why == "600 spent + 600 requested > 1000 per day"
    state = second.budget("tokens_per_day")
    assert state is not None and (state.spent, state.remaining) == (600, 400)
    assert engine.decide(Action(kind="generate", tokens=400)).effect == "allow"
    clock.now += 86_401  # a day later the window has moved on
    assert engine.decide(Action(kind="generate", tokens=1000)).effect == "allow"


def test_task_budgets_are_per_task(ws: Path) -> None:
    engine = engine_for(ws, "[budgets]\ntokens_per_task = 100\nseconds_per_task = 10\n")
    assert engine.decide(Action(kind="generate", task_id="a", tokens=80)).allowed
    assert not engine.decide(Action(kind="generate", task_id="a", tokens=30)).allowed
    assert engine.decide(Action(kind="generate", task_id="b", tokens=30)).allowed
    assert engine.decide(Action(kind="verify", task_id="a", seconds=9)).allowed
    refused = engine.decide(Action(kind="verify", task_id="a", seconds=2))
    assert refused.rules == ("budget:seconds_per_task",)


def test_proposals_per_hour_slide(ws: Path) -> None:
    clock = Clock()
    engine = engine_for(ws, "[budgets]\nproposals_per_hour = 2\n", clock)
    assert engine.decide(Action(kind="propose")).allowed
    clock.now += 1800
    assert engine.decide(Action(kind="propose")).allowed
    assert engine.decide(Action(kind="propose")).rules == ("budget:proposals_per_hour",)
    clock.now += 1801  # the first one has left the window
    assert engine.decide(Action(kind="propose")).allowed


def test_report_adjusts_what_was_reserved(ws: Path) -> None:
    engine = engine_for(ws, "[budgets]\ntokens_per_day = 5_000\n")
    decision = engine.decide(Action(kind="generate", tokens=1000))
    engine.report(decision, tokens=1700)
    assert engine.ledger is not None
    assert engine.ledger.spent("tokens") == 1700
    last = engine.ledger.entries()[-1]
    assert (
        last.summary["source"] == "adjust" and last.summary["note"] == "reserved 1000, spent 1700"
    )
    # a fact is recorded even past the budget, and then the budget refuses
    engine.report(engine.decide(Action(kind="generate", tokens=1)), tokens=9000)
    assert engine.ledger.spent("tokens") == 10_700
    assert not engine.decide(Action(kind="generate", tokens=1)).allowed


def test_approval_allows_a_gate_but_never_a_deny(ws: Path) -> None:
    engine = engine_for(
        ws,
        '[protected]\npaths = [".env"]\n'
        '[[rules]]\nid = "gate"\neffect = "require_approval"\nwhy = "look first"\n'
        'when = { kinds = ["delete"] }\n',
    )
    gated = engine.decide(Action(kind="delete", paths=("old.py",), tokens=10))
    assert gated.effect == "require_approval" and not gated.charged
    approved = engine.approve(gated)
    assert approved.effect == "allow" and approved.charged
    assert approved.rules == ("builtin:gate", "human:approved")
    denied = engine.decide(Action(kind="delete", paths=(".env",)))
    assert engine.approve(denied).effect == "deny"
    assert engine.approve(approved) is approved  # approving twice charges once
    assert engine.ledger is not None and engine.ledger.spent("tokens") == 10
    engine.close()


def test_edits_record_files_and_lines(ws: Path) -> None:
    engine = engine_for(ws, "version = 1\n")
    engine.decide(Action(kind="edit", paths=("a.py", "b.py"), lines_changed=12))
    assert engine.ledger is not None
    assert (engine.ledger.spent("files"), engine.ledger.spent("lines")) == (2, 12)


def test_commit_rolls_back_everything_when_one_charge_does_not_fit(ws: Path) -> None:
    ledger = Ledger.open(ws)
    record = DecisionRecord(None, "generate", "allow", (), {}, [], "x")
    ledger.commit(record, [Charge("tokens", 90, (Check("day", 100, window=60),))], now=10)
    with pytest.raises(BudgetExceeded) as refused:
        ledger.commit(
            record,
            [
                Charge("proposals", 1, (Check("hour", 5, window=60),)),
                Charge("tokens", 20, (Check("day", 100, window=60),)),
            ],
            now=11,
        )
    assert (refused.value.check.budget, refused.value.spent) == ("day", 90)
    assert ledger.spent("proposals") == 0  # the first charge was rolled back with it
    assert len([e for e in ledger.entries() if e.type == "decision"]) == 1
    ledger.close()


# --- concurrency ------------------------------------------------------------------------

LIMIT = 1_000
EACH = 70  # 14 fit, 1000 // 70


def test_concurrent_threads_sharing_an_engine_never_overshoot(ws: Path) -> None:
    engine = engine_for(ws, f"[budgets]\ntokens_per_day = {LIMIT}\n")
    with ThreadPoolExecutor(max_workers=8) as pool:
        decisions = list(
            pool.map(lambda _: engine.decide(Action(kind="generate", tokens=EACH)), range(40))
        )
    assert sum(d.allowed for d in decisions) == LIMIT // EACH
    assert engine.ledger is not None and engine.ledger.spent("tokens") == (LIMIT // EACH) * EACH


def test_concurrent_threads_with_their_own_connections_never_overshoot(ws: Path) -> None:
    policy = policy_from(f"[budgets]\ntokens_per_day = {LIMIT}\n")
    Ledger.open(ws).close()
    barrier = threading.Barrier(6)
    allowed: list[int] = []

    def worker() -> None:
        engine = Engine(policy, ws, ledger=Ledger.open(ws))
        barrier.wait()
        allowed.append(
            sum(engine.decide(Action(kind="generate", tokens=EACH)).allowed for _ in range(8))
        )
        assert engine.ledger is not None
        engine.ledger.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == LIMIT // EACH
    ledger = Ledger.open(ws)
    assert ledger.spent("tokens") == (LIMIT // EACH) * EACH
    ledger.close()


def _charge_in_process(args: tuple[str, int, float]) -> int:
    root, rounds, start_at = args
    while time.time() < start_at:
        time.sleep(0.001)
    policy = policy_from(f"[budgets]\ntokens_per_day = {LIMIT}\ntokens_per_task = {LIMIT}\n")
    engine = Engine(policy, Path(root), ledger=Ledger.open(Path(root)))
    allowed = 0
    for _ in range(rounds):
        allowed += engine.decide(Action(kind="generate", task_id="shared", tokens=EACH)).allowed
    return allowed


def test_concurrent_processes_never_overshoot(ws: Path) -> None:
    Ledger.open(ws).close()
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # let every process import before they race
    with context.Pool(4) as pool:
        allowed = pool.map(_charge_in_process, [(str(ws), 8, start_at)] * 4)
    assert sum(allowed) == LIMIT // EACH
    ledger = Ledger.open(ws)
    assert ledger.spent("tokens") == (LIMIT // EACH) * EACH
    assert ledger.spent("tokens", task_id="shared") == (LIMIT // EACH) * EACH
    ledger.close()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 500), st.lists(st.integers(1, 120), min_size=1, max_size=30))
def test_budgets_are_never_exceeded_under_concurrent_charges(
    limit: int, amounts: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        engine = Engine(
            policy_from(f"[budgets]\ntokens_per_day = {limit}\nproposals_per_hour = 9\n"),
            root,
            ledger=Ledger.open(root),
        )
        kinds = ["generate", "propose"]
        with ThreadPoolExecutor(max_workers=6) as pool:
            decisions = list(
                pool.map(
                    lambda i: engine.decide(Action(kind=kinds[i % 2], tokens=amounts[i])),
                    range(len(amounts)),
                )
            )
        assert engine.ledger is not None
        spent = engine.ledger.spent("tokens")
        assert spent <= limit
        assert spent == sum(d.action.tokens for d in decisions if d.allowed)
        assert engine.ledger.spent("proposals") <= 9
        for d in decisions:
            if not d.allowed:  # refused only when it really would not have fitted
                assert spent + d.action.tokens > limit or engine.ledger.spent("proposals") == 9
        engine.ledger.close()
