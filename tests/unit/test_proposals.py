"""The proposal service over real parts: a real index, jedi, governance with its ledger,
verification in a shadow copy with pytest, and memory's decisions. Model answers come
from the scripted backend (deterministic); the real model has its own integration test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hexad.core.db import Connection
from hexad.core.settings import ModelSettings
from hexad.execution.edits import Change, FileChange
from hexad.execution.engines.base import Draft, EngineError, Intent, Target
from hexad.execution.models import ModelService
from hexad.execution.proposals import (
    ProposalError,
    ProposalRequest,
    ProposalService,
    RequestError,
)
from hexad.execution.shadow import ShadowWorkspace
from hexad.execution.sources import DiskSources
from hexad.execution.verify import Verifier
from hexad.governance import PolicyStore, open_engine
from hexad.inference.fake import ScriptedBackend
from hexad.memory.records import Records
from hexad.perception.index import IndexReader

FIXTURE = Path(__file__).parents[1] / "fixtures" / "exec_workspace"
MODELS = """
version = 1
[routing.tasks.implement]
engine = "model"
model = "local"
"""


@dataclass
class Env:
    root: Path
    conn: Connection
    buffers: dict[str, tuple[str, int]]
    backend: ScriptedBackend
    service: ProposalService

    def decision_status(self, proposal_id: int) -> str:
        found = Records(self.conn).decision(proposal_id)
        assert found is not None
        return found.status

    def history(self, proposal_id: int) -> list[str]:
        found = Records(self.conn).decision(proposal_id)
        assert found is not None
        return [status for _, status, _ in found.history]


@pytest.fixture
def env(tmp_path: Path, indexed: Callable[[Path], Connection]) -> Env:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    (root / ".hexad" / "policies").mkdir(parents=True)
    (root / ".hexad" / "policies" / "models.toml").write_text(MODELS, encoding="utf-8")
    conn = indexed(root)
    engine = open_engine(root, user_file=None)
    buffers: dict[str, tuple[str, int]] = {}
    sources = DiskSources(root, buffers)
    backend = ScriptedBackend()
    models = ModelService(
        engine, {"local": ModelSettings(path=str(root / "model.gguf"))}, {"llama": backend}
    )
    verifier = Verifier(
        root,
        sources,
        lambda: IndexReader(conn),
        shadow=ShadowWorkspace(root, tmp_path / "shadow"),
    )
    service = ProposalService(
        root, sources, lambda: IndexReader(conn), conn, engine, verifier=verifier, models=models
    )
    return Env(root, conn, buffers, backend, service)


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in root.rglob("*.py")
        if ".hexad" not in p.parts
    }


def test_a_rename_is_verified_recorded_and_needs_approval_to_apply(env: Env) -> None:
    before = _files(env.root)
    proposal = env.service.propose(
        ProposalRequest(kind="rename", symbol="inventory.stock.total_value", new_name="stock_value")
    )
    report = proposal.report
    assert report.passed, report.to_json()
    assert [c.name for c in report.checks] == ["syntax", "symbols", "compile", "names", "tests"]
    tests = report.check("tests")
    assert tests is not None and tests.details["passed"] == tests.details["run"] >= 3
    # trust's cold start: every check and test passed, a small public-API rename
    assert 0.8 < proposal.confidence < 0.99
    assert proposal.assessment.model == "cold-start"
    # the rename reaches the public API (exported via __all__) and the tests: review it
    assert proposal.governance.effect == "require_approval"
    assert {r.rule for r in proposal.governance.reasons} >= {
        "builtin:public-api",
        "builtin:tests-touched",
    }
    assert env.decision_status(proposal.id) == "proposed"
    stored = Records(env.conn).decision(proposal.id)
    assert stored is not None and "+def stock_value(" in stored.diff
    assert stored.verification["passed"] is True and stored.confidence == proposal.confidence
    assert stored.evidence["trust"]["inputs"]["tests_run"] >= 3
    assert stored.evidence["trust"]["decision"] == proposal.assessment.decision

    with pytest.raises(ProposalError, match="requires approval"):
        env.service.apply(proposal.id)
    assert _files(env.root) == before, "nothing is written without approval"
    assert env.decision_status(proposal.id) == "rejected"

    again = env.service.propose(
        ProposalRequest(kind="rename", symbol="inventory.stock.total_value", new_name="stock_value")
    )
    written = env.service.apply(again.id, approved=True)
    assert set(written) >= {"inventory/stock.py", "inventory/report.py", "tests/test_stock.py"}
    assert "def stock_value(" in (env.root / "inventory/stock.py").read_text()
    assert env.history(again.id) == ["proposed", "accepted", "applied"]
    ledger = env.service.engine.ledger
    assert ledger is not None
    decisions = [e.summary for e in ledger.entries(limit=200) if e.type == "decision"]
    edits = [d for d in decisions if d["kind"] == "edit"]
    # applying: decided (approval required), then approved by the person: both audited
    assert edits[-2]["effect"] == "require_approval" and edits[-1]["effect"] == "allow"
    assert "approved" in " ".join(edits[-1]["rules"])


def test_a_broken_model_edit_is_caught_by_verification(env: Env) -> None:
    # the scripted model writes a body with a typo: it parses, but a name is undefined
    env.backend.script["local"] = (
        "def clamp(value: int, low: int, high: int) -> int:\n"
        "    return max(low, min(value, hihg))\n"
    )
    before = _files(env.root)
    proposal = env.service.propose(
        ProposalRequest(kind="implement", symbol="inventory.pricing.clamp")
    )
    assert not proposal.report.passed
    names = proposal.report.check("names")
    assert names is not None and names.status == "failed"
    assert any("hihg" in e.message for e in names.evidence)
    assert proposal.confidence < 0.05
    assert proposal.assessment.decision == "escalate"
    assert proposal.assessment.strongest(1)[0].text.startswith(
        "syntax ✓ symbols ✓ compile ✓ names ✗"
    )
    assert proposal.draft.model == "local" and proposal.draft.prompt_hash
    stored = Records(env.conn).decision(proposal.id)
    assert stored is not None and stored.verification["passed"] is False
    with pytest.raises(ProposalError, match="failed verification"):
        env.service.accept(proposal.id)
    assert _files(env.root) == before


def test_a_model_edit_that_breaks_behaviour_fails_the_tests(env: Env) -> None:
    (env.root / "tests" / "test_pricing.py").write_text(
        "from inventory.pricing import clamp\n\n\n"
        "def test_clamp_limits() -> None:\n"
        "    assert clamp(5, 0, 3) == 3\n"
        "    assert clamp(-1, 0, 3) == 0\n",
        encoding="utf-8",
    )
    from hexad.perception.indexer import Indexer

    Indexer(env.root, conn=env.conn, workers=1).run()
    env.backend.script["local"] = (
        "def clamp(value: int, low: int, high: int) -> int:\n"
        "    return min(low, max(value, high))\n"
    )
    proposal = env.service.propose(
        ProposalRequest(kind="implement", symbol="inventory.pricing.clamp")
    )
    tests = proposal.report.check("tests")
    assert tests is not None and tests.status == "failed", proposal.report.to_json()
    assert "tests/test_pricing.py::test_clamp_limits" in tests.details["failed"]

    env.backend.script["local"] = (
        "def clamp(value: int, low: int, high: int) -> int:\n"
        "    return max(low, min(value, high))\n"
    )
    good = env.service.propose(ProposalRequest(kind="implement", symbol="inventory.pricing.clamp"))
    assert good.report.passed, good.report.to_json()


def test_a_proposal_goes_stale_when_its_file_changes(env: Env) -> None:
    text = (env.root / "inventory/report.py").read_text()
    env.buffers["inventory/report.py"] = (
        text + "\n\ndef gross(items):\n    return with_tax(1)\n",
        2,
    )
    proposal = env.service.propose(
        ProposalRequest(kind="add_import", path="inventory/report.py", name="with_tax"),
        run_tests=False,
    )
    assert proposal.report.passed
    assert env.service.refresh(["inventory/stock.py"]) == []
    env.buffers["inventory/report.py"] = (env.buffers["inventory/report.py"][0] + "# more\n", 3)
    assert env.service.refresh(["inventory/report.py"]) == [proposal]
    assert proposal.status == "stale" and "inventory/report.py changed" in (
        proposal.stale_reason or ""
    )
    with pytest.raises(ProposalError, match="stale"):
        env.service.accept(proposal.id)
    assert env.decision_status(proposal.id) == "stale"


def test_governance_refuses_an_edit_into_a_protected_path(env: Env) -> None:
    draft = Draft(
        task="Rewrite the git config",
        kind="implement",
        engine="model",
        change=Change((FileChange(".git/config", None, "[core]\n"),)),
        intent=Intent(kind="implement"),
        targets=(Target(".git/config"),),
    )
    with pytest.raises(ProposalError, match="protected"):
        env.service.submit(draft)
    ledger = env.service.engine.ledger
    assert ledger is not None
    last = [e.summary for e in ledger.entries(limit=20) if e.type == "decision"][-1]
    assert (last["kind"], last["effect"]) == ("create", "deny"), "the refusal is audited"
    assert not (env.root / ".git").exists()


def test_bad_requests_are_refused_with_reasons(env: Env) -> None:
    with pytest.raises(RequestError, match="kind"):
        ProposalRequest.parse({"kind": "format_disk"})
    with pytest.raises(RequestError, match=r"needs new_name"):
        env.service.propose(ProposalRequest.parse({"kind": "rename", "symbol": "x.y"}))
    with pytest.raises(EngineError, match="no symbol"):
        env.service.propose(ProposalRequest(kind="implement", symbol="inventory.nowhere"))
    with pytest.raises(RequestError):
        ProposalRequest.parse({"kind": "rename", "line": -1})
    with pytest.raises(ProposalError, match="no proposal #41"):
        env.service.accept(41)


def test_unsettled_proposals_of_an_earlier_process_go_stale(env: Env) -> None:
    proposal = env.service.propose(
        ProposalRequest(kind="rename", symbol="inventory.report.banner", new_name="headline"),
        run_tests=False,
    )
    assert env.service.forget_unsettled() == 1
    assert env.decision_status(proposal.id) == "stale"


def test_rejecting_with_a_reason_leaves_a_learned_note(env: Env) -> None:
    proposal = env.service.propose(
        ProposalRequest(kind="rename", symbol="inventory.report.banner", new_name="headline"),
        run_tests=False,
    )
    env.service.reject(proposal.id, "banner is what the CLI calls it")
    notes = Records(env.conn).notes(source="learned")
    assert any("banner is what the CLI calls it" in n.text for n in notes)
    assert env.decision_status(proposal.id) == "rejected"
    assert env.service.get(proposal.id) is None


def test_outcomes_teach_trust(env: Env) -> None:
    def rename(new: str) -> float:
        proposal = env.service.propose(
            ProposalRequest(kind="rename", symbol="inventory.report.banner", new_name=new),
            run_tests=False,
        )
        return proposal.confidence

    first = rename("headline0")
    for n in range(5):
        found = env.service.get(max(p.id for p in env.service.live()))
        assert found is not None
        env.service.reject(found.id, None)
        rename(f"headline{n + 1}")
    # five rejected renames: the model was refitted, and history weighs on the next one
    assert env.service.trust.model.outcomes == 5
    latest = max(env.service.live(), key=lambda p: p.id)
    texts = [p.text for p in latest.assessment.points]
    assert "similar edits accepted 0/5" in texts
    assert latest.confidence < first
    stored = Records(env.conn).decision(latest.id)
    assert stored is not None and stored.evidence["trust"]["inputs"]["similar"] == 5


def test_low_confidence_never_applies_on_its_own_whatever_the_policy(env: Env) -> None:
    # a workspace policy that tries to let anything proceed is refused by the hard limit
    (env.root / ".hexad" / "policies" / "lax.toml").write_text(
        'version = 1\ndisable = ["builtin:unsure-model-edit"]\n'
        "[escalation]\nproceed_at = 0.01\nescalate_below = 0.0\n",
        encoding="utf-8",
    )
    store = env.service.engine._policy
    assert isinstance(store, PolicyStore)
    store.reload()
    (problem,) = [i for issues in store.issues.values() for i in issues]
    assert "hard limit min_proceed_at = 0.6" in problem.message
    env.backend.script["local"] = (
        "def clamp(value: int, low: int, high: int) -> int:\n"
        "    return max(low, min(value, high))\n"
    )
    proposal = env.service.propose(
        ProposalRequest(kind="implement", symbol="inventory.pricing.clamp"), run_tests=False
    )
    assert proposal.report.passed and proposal.confidence < 0.5
    assert proposal.assessment.decision == "review"
    before = (env.root / "inventory/pricing.py").read_text()
    with pytest.raises(ProposalError, match="requires approval"):
        env.service.apply(proposal.id)
    assert (env.root / "inventory/pricing.py").read_text() == before


def test_a_test_run_that_timed_out_counts_against_the_edit(env: Env) -> None:
    from hexad.execution.report import Check, Report

    draft = env.service.draft(
        ProposalRequest(kind="rename", symbol="inventory.report.banner", new_name="headline")
    )
    preview = env.service.engine.explain(
        env.service._action("edit", draft, "rename", None)  # what governance sees
    )
    checks = tuple(
        Check(name, "passed", "ok") for name in ("syntax", "symbols", "compile", "names")
    )
    timed_out = Report((*checks, Check("tests", "error", "timed out after 60 s", details={})))
    passed = Report((*checks, Check("tests", "passed", "3/3", details={"run": 3, "passed": 3})))
    bad = env.service.evidence(draft, timed_out, preview)
    good = env.service.evidence(draft, passed, preview)
    assert bad.tests_failed == 1 and good.tests_failed == 0
    assert (
        env.service.trust.model.probability(bad) < 0.1 < env.service.trust.model.probability(good)
    )
