"""Proposals: a request becomes a verified, governed, remembered edit proposal.

The path of every proposal::

    request → engine draft → governance (propose, and a preview of the edit)
            → verification in the shadow copy → confidence → memory decision
            → shown; later accepted (governance again, then applied) or rejected

A proposal goes stale when a file it was computed on changes; a stale proposal is never
applied. Its confidence comes from trust: the cold-start model until this workspace has
outcomes, then one fitted on them (refitted as accepts and rejects arrive).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from hexad.core.db import Connection
from hexad.core.errors import HexadError
from hexad.core.hashing import content_hash
from hexad.execution import journal
from hexad.execution.edits import Change, EditError, write_change
from hexad.execution.engines import imports, model, move, refactor, signature
from hexad.execution.engines.base import Draft, EngineError, Sources
from hexad.execution.models import ModelService
from hexad.execution.report import Check, Report
from hexad.execution.verify import Verifier
from hexad.governance import Action, Decision, Engine
from hexad.memory.records import Proposal as ProposalRecord
from hexad.memory.records import Records
from hexad.perception.index import IndexReader
from hexad.trust import NEVER_PROCEED_BELOW, Assessment, Evidence, Trust

log = logging.getLogger(__name__)

SIMILAR_K = 10  # past proposals consulted for the acceptance history
DEFAULT_OUTPUT_LIMIT = 64_000
KINDS = (
    "rename",
    "extract_variable",
    "extract_function",
    "inline",
    "add_import",
    "signature",
    "ripple",
    "move",
    "rename_module",
    "implement",
    "write_test",
    "fix_test",
)
Kind = Literal[
    "rename",
    "extract_variable",
    "extract_function",
    "inline",
    "add_import",
    "signature",
    "ripple",
    "move",
    "rename_module",
    "implement",
    "write_test",
    "fix_test",
]
TASK_OF_KIND = {"ripple": "signature"}  # the governance task kind of a request kind


class ProposalError(HexadError):
    """A proposal cannot be made, accepted or applied; the message says why."""


class NothingToChange(ProposalError):
    """The engine found nothing to change (e.g. every call site already fits)."""


class RequestError(ProposalError):
    """The request itself is malformed."""


def _alias(camel: str) -> AliasChoices:
    """A field clients may spell in camelCase (LSP) or snake_case (Python)."""
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()
    return AliasChoices(snake, camel)


class ProposalRequest(BaseModel):
    """What to propose. Positions are 0-based; columns count code points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    path: str | None = None
    line: int | None = Field(default=None, ge=0)
    col: int | None = Field(default=None, ge=0)
    end_line: int | None = Field(default=None, ge=0, validation_alias=_alias("endLine"))
    end_col: int | None = Field(default=None, ge=0, validation_alias=_alias("endCol"))
    symbol: str | None = None  # a qualified name
    new_name: str | None = Field(default=None, validation_alias=_alias("newName"))
    name: str | None = None  # add_import: the undefined name
    module: str | None = None  # add_import: the module to import it from
    params: str | None = None  # signature: the new parameter list; ripple: the new one
    old_params: str | None = Field(default=None, validation_alias=_alias("oldParams"))  # ripple
    values: dict[str, str] = Field(default_factory=dict)  # signature: values for new params
    only_paths: list[str] | None = Field(default=None, validation_alias=_alias("onlyPaths"))
    """signature/ripple: update only the call sites in these files (a plan's step)."""
    target: str | None = None  # move: the module file the symbol goes to
    reexport: bool | None = None  # move: leave `from target import name` behind (None: if public)
    together: list[str] | None = None  # move: more names of the same module, moved with it
    new_path: str | None = Field(default=None, validation_alias=_alias("newPath"))  # rename_module
    test: str | None = None  # fix_test: a pytest node id
    samples: int = Field(default=1, ge=1, le=8)  # model engines

    @classmethod
    def parse(cls, data: Any) -> ProposalRequest:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
                for e in exc.errors()[:5]
            )
            raise RequestError(f"invalid proposal request: {problems}") from exc

    def need(self, *names: str) -> None:
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise RequestError(f"a {self.kind} proposal needs {', '.join(missing)}")


@dataclass
class Proposal:
    """A live proposal: the draft, its verification, and where it stands."""

    id: int  # the memory decision id
    draft: Draft
    report: Report
    confidence: float
    assessment: Assessment
    governance: Decision  # the edit as governance sees it now (explained, not charged)
    base: dict[str, str | None]  # content hash of each file when the draft was computed
    versions: dict[str, int | None]
    created: float = field(default_factory=time.time)
    status: str = "proposed"
    stale_reason: str | None = None

    @property
    def needs_approval(self) -> bool:
        return self.governance.effect == "require_approval"

    @property
    def kind(self) -> str:
        return self.draft.kind

    def summary(self) -> str:
        """``0.91 review · syntax ✓ · symbols ✓ · compile ✓ · names ✓ · tests ✓``"""
        return f"{self.confidence:.2f} {self.assessment.decision} · {self.report.summary()}"

    def to_json(self) -> dict[str, Any]:
        draft = self.draft
        return {
            "id": self.id,
            "task": draft.task,
            "kind": draft.kind,
            "engine": draft.engine,
            "model": draft.model,
            "status": self.status,
            "staleReason": self.stale_reason,
            "confidence": self.confidence,
            "trust": self.assessment.to_json(),
            "summary": self.summary(),
            "verification": self.report.to_json(),
            "policy": _policy_json(self.governance),
            "needsApproval": self.needs_approval,
            "targets": [t.to_json() for t in draft.targets],
            "files": [
                {"path": f.path, "newPath": f.new_path, "created": f.created, "deleted": f.deleted}
                for f in draft.change.files
            ],
            "diff": draft.change.diff(),
            "linesChanged": draft.change.lines_changed(),
            "notes": list(draft.notes),
            "intent": draft.intent.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Acceptance:
    """What accepting a proposal means now: the change to apply, and whether a person
    must confirm it (governance asks for approval)."""

    proposal: Proposal
    change: Change
    decision: Decision  # the recorded edit decision
    needs_confirmation: bool
    reasons: tuple[str, ...]


class ProposalService:
    """Makes, keeps and settles the proposals of one workspace."""

    def __init__(
        self,
        root: Path,
        sources: Sources,
        reader: Callable[[], IndexReader],
        conn: Connection,
        engine: Engine,
        *,
        verifier: Verifier | None = None,
        models: ModelService | None = None,
        memory: Any = None,
        trust: Trust | None = None,
    ) -> None:
        self.root = root.resolve()
        self.sources = sources
        self.reader = reader
        self.conn = conn
        self.engine = engine
        self.verifier = verifier or Verifier(self.root, sources, reader)
        self.models = models
        self.memory = memory
        self.records = Records(conn)
        self.trust = trust or Trust(conn)
        self._live: dict[int, Proposal] = {}
        self._lock = threading.RLock()
        # a write a killed process left half-done is undone before anything else happens
        self.recovered = [r for r in journal.recover(self.root) if not r.completed]

    # -- making --------------------------------------------------------------------------

    def propose(
        self,
        request: ProposalRequest,
        *,
        run_tests: bool = True,
        cancel: Any = None,
        task_id: str | None = None,
    ) -> Proposal:
        draft = self.draft(request, cancel=cancel, task_id=task_id)
        return self.submit(draft, run_tests=run_tests, cancel=cancel, task_id=task_id)

    def submit(
        self,
        draft: Draft,
        *,
        run_tests: bool = True,
        cancel: Any = None,
        task_id: str | None = None,
    ) -> Proposal:
        """Govern, verify and record a draft an engine made: the proposal users see."""
        if draft.change.empty:
            why = f" ({'; '.join(draft.notes)})" if draft.notes else ""
            raise NothingToChange(f"{draft.task}: nothing would change{why}")
        task = TASK_OF_KIND.get(draft.kind, draft.kind)
        asked = self.engine.decide(self._action("propose", draft, task, task_id))
        if not asked.allowed:
            raise ProposalError(f"governance refused to propose: {_reasons(asked)}")
        preview = self._edit_decision(draft, task, task_id, confidence=None, record=False)
        if preview.effect == "deny":
            self._edit_decision(draft, task, task_id, confidence=None, record=True)
            raise ProposalError(f"governance refuses this edit: {_reasons(preview)}")
        budget = self.engine.policy.budget("seconds_per_verification").value
        started = time.perf_counter()
        report = self.verifier.verify(
            draft,
            run_tests=run_tests,
            timeout=float(budget) if budget is not None else 300.0,
            output_limit=DEFAULT_OUTPUT_LIMIT,
            cancel=cancel,
        )
        verify_seconds = time.perf_counter() - started
        evidence = self.evidence(draft, report, preview)
        escalation = self.engine.policy.escalation
        assessment = self.trust.assess(
            evidence, proceed_at=escalation.proceed_at, escalate_below=escalation.escalate_below
        )
        confidence = assessment.confidence
        shown = self._edit_decision(draft, task, task_id, confidence=confidence, record=False)
        proposal_id = self.records.record(
            ProposalRecord(
                task=draft.task,
                kind=draft.kind,
                engine=draft.engine,
                model=draft.model,
                prompt_hash=draft.prompt_hash,
                diff=draft.change.diff(),
                targets=[t.to_json() for t in draft.targets],
                evidence={
                    **draft.evidence,
                    "notes": list(draft.notes),
                    "intent": draft.intent.to_json(),
                    "symbols": list(draft.symbols),
                    "files": len(draft.change.files),
                    "linesChanged": draft.change.lines_changed(),
                    "verifySeconds": round(verify_seconds, 4),
                    "trust": {**assessment.to_json(), "inputs": evidence.to_json()},
                },
                verification=report.to_json(),
                confidence=confidence,
                policy=_policy_json(shown),
            )
        )
        proposal = Proposal(
            id=proposal_id,
            draft=draft,
            report=report,
            confidence=confidence,
            assessment=assessment,
            governance=shown,
            base=draft.change.base_hashes(),
            versions={f.path: self.sources.version(f.path) for f in draft.change.files},
        )
        with self._lock:
            self._live[proposal_id] = proposal
        return proposal

    def draft(
        self, request: ProposalRequest, *, cancel: Any = None, task_id: str | None = None
    ) -> Draft:
        """The engine's change for ``request``, unverified (raises EngineError)."""
        src, reader = self.sources, self.reader()
        kind = request.kind
        if kind == "rename":
            request.need("new_name")
            assert request.new_name is not None
            if request.symbol is not None:
                return refactor.rename_symbol(src, reader, request.symbol, request.new_name)
            path, line, col = self._at(request)
            return refactor.rename(src, reader, path, line, col, request.new_name)
        if kind in ("extract_variable", "extract_function"):
            request.need("path", "line", "col", "end_line", "end_col", "new_name")
            start = (request.line or 0, request.col or 0)
            end = (request.end_line or 0, request.end_col or 0)
            assert request.path is not None and request.new_name is not None
            if kind == "extract_variable":
                return refactor.extract_variable(src, request.path, start, end, request.new_name)
            return refactor.extract_function(
                src, reader, request.path, start, end, request.new_name
            )
        if kind == "inline":
            path, line, col = self._at(request)
            return refactor.inline(src, path, line, col)
        if kind == "add_import":
            request.need("path", "name")
            assert request.path is not None and request.name is not None
            return imports.add_import(
                src, reader, request.path, request.name, module=request.module
            )
        if kind in ("signature", "ripple"):
            request.need("params")
            assert request.params is not None
            path, qualname = self._symbol(request, reader)
            if kind == "signature":
                return signature.change_signature(
                    src,
                    reader,
                    path,
                    qualname,
                    request.params,
                    values=request.values,
                    only_paths=request.only_paths,
                )
            request.need("old_params")
            assert request.old_params is not None
            return signature.ripple(
                src,
                reader,
                path,
                qualname,
                old_params=request.old_params,
                new_params=request.params,
                values=request.values,
                only_paths=request.only_paths,
            )
        if kind in ("move", "rename_module"):
            if kind == "move":
                request.need("symbol", "target")
                assert request.symbol is not None and request.target is not None
                return move.move_symbol(
                    src,
                    reader,
                    request.symbol,
                    request.target,
                    reexport=request.reexport,
                    together=request.together or (),
                )
            request.need("path", "new_path")
            assert request.path is not None and request.new_path is not None
            return move.rename_module(src, reader, request.path, request.new_path)
        return self._model_draft(request, reader, cancel=cancel, task_id=task_id)

    def _model_draft(
        self, request: ProposalRequest, reader: IndexReader, *, cancel: Any, task_id: str | None
    ) -> Draft:
        if self.models is None:
            raise EngineError(
                f"{request.kind.replace('_', ' ')} needs a model; none is configured "
                "(set 'models' in the settings)"
            )
        common: dict[str, Any] = {
            "memory": self.memory,
            "task_id": task_id,
            "cancel": cancel,
        }
        if request.kind == "fix_test":
            request.need("test")
            assert request.test is not None
            failure = self.verifier.run_tests([request.test], cancel=cancel)
            if failure.passed:
                raise EngineError(f"{request.test} passes; there is nothing to fix")
            path = request.test.split("::", 1)[0]
            qualname = _test_qualname(request.test)
            return model.fix_test(
                self.models,
                self.sources,
                reader,
                self.conn,
                path,
                qualname,
                node_id=request.test,
                failure_output=failure.output,
                **common,
            )
        path, qualname = self._symbol(request, reader)
        if request.kind == "implement":
            return model.implement(
                self.models,
                self.sources,
                reader,
                self.conn,
                path,
                qualname,
                samples=request.samples,
                **common,
            )
        return model.write_test(
            self.models, self.sources, reader, self.conn, path, qualname, **common
        )

    def _at(self, request: ProposalRequest) -> tuple[str, int, int]:
        request.need("path", "line", "col")
        assert request.path is not None
        return request.path, request.line or 0, request.col or 0

    def _symbol(self, request: ProposalRequest, reader: IndexReader) -> tuple[str, str]:
        """(path, qualname) of the function a request names, by qualname or position."""
        if request.symbol is not None:
            found = [s for s in reader.lookup(request.symbol) if s.qualname == request.symbol]
            if not found:
                found = [
                    s
                    for s in reader.lookup(request.symbol.rsplit(".", 1)[-1])
                    if s.qualname.endswith(request.symbol)
                ]
            if not found:
                raise EngineError(f"no symbol named {request.symbol} in the index")
            if len(found) > 1:
                where = ", ".join(f"{s.qualname} ({s.location})" for s in found[:5])
                raise EngineError(f"{request.symbol} is ambiguous: {where}")
            return found[0].path, found[0].qualname
        path, line, _ = self._at(request)
        enclosing = [
            s
            for s in reader.symbols_in_file(path)
            if s.kind in ("function", "method") and s.span.start_line <= line <= s.span.end_line
        ]
        if not enclosing:
            raise EngineError(f"no function at {path}:{line + 1}")
        inner = max(enclosing, key=lambda s: s.span.start_line)
        return path, inner.qualname

    # -- trust ---------------------------------------------------------------------------

    def evidence(self, draft: Draft, report: Report, preview: Decision) -> Evidence:
        """What trust weighs, from the draft, its verification and governance's preview."""
        checks = {c.name: c.status for c in report.checks}
        tests = report.check("tests")
        details = tests.details if tests is not None else {}
        stats = draft.evidence.get("logprobs") or {}
        similar, accepted = self._history(draft)
        flags = sum(
            1
            for r in preview.reasons
            if r.effect in ("require_approval", "escalate") and not r.rule.startswith("escalation")
        )
        return Evidence(
            kind=draft.kind,
            engine=draft.engine,
            checks={k: v for k, v in checks.items() if k != "tests"},
            tests_selected=int(details.get("selected", 0)),
            tests_run=int(details.get("run", 0)),
            tests_passed=int(details.get("passed", 0)),
            # a run that timed out or broke counts against the edit, never as "no tests"
            tests_failed=max(
                len(details.get("failed", [])),
                1 if tests is not None and tests.status == "error" else 0,
            ),
            test_reach=details.get("reach"),
            references=self._references(draft),
            files=len(draft.change.files),
            lines=draft.change.lines_changed(),
            public_api=self._public_api_changed(draft),
            mean_logprob=stats.get("mean_logprob"),
            min_logprob=stats.get("min_logprob"),
            agreement=draft.evidence.get("agreement"),
            similar=similar,
            similar_accepted=accepted,
            policy_flags=flags,
        )

    def _references(self, draft: Draft) -> int:
        reader = self.reader()
        targets = [
            sym
            for qualname in draft.symbols
            for sym in reader.lookup(qualname.rsplit(".", 1)[-1])
            if sym.qualname == qualname
        ]
        return len(reader.callers(targets)) if targets else 0

    def _history(self, draft: Draft) -> tuple[int, int]:
        """(similar past proposals with an outcome, how many of them were kept): the
        nearest decisions in memory when it searches, else the latest of the same kind."""
        outcomes: list[bool] = []
        if self.memory is not None:
            try:
                hits = self.memory.recall(draft.task, k=SIMILAR_K * 2, types=("decision",))
            except Exception:  # memory is advice here: never fail a proposal over it
                log.exception("similar proposals could not be searched")
                hits = []
            for hit in hits:
                key = str(hit.item.key)
                if not key.startswith("decision:"):
                    continue
                found = self.records.decision(int(key.split(":", 1)[1]))
                if found is not None and found.outcome is not None and found.kind == draft.kind:
                    outcomes.append(found.outcome)
        else:
            outcomes = [
                d.outcome
                for d in self.records.decisions(
                    statuses=("accepted", "applied", "rejected", "reverted"),
                    kind=draft.kind,
                    limit=SIMILAR_K,
                )
                if d.outcome is not None
            ]
        outcomes = outcomes[:SIMILAR_K]
        return len(outcomes), sum(outcomes)

    def refit_trust(self, *, force: bool = False) -> bool:
        """Refit the confidence model on every stored outcome when enough are new."""
        examples = [
            (Evidence.from_json(d.evidence["trust"]["inputs"]), bool(d.outcome))
            for d in self.records.outcomes()
            if isinstance(d.evidence.get("trust"), dict) and "inputs" in d.evidence["trust"]
        ]
        if not force and not self.trust.due(len(examples)):
            return False
        self.trust.refit(examples)
        return True

    # -- governance ----------------------------------------------------------------------

    def _action(
        self,
        kind: str,
        draft: Draft,
        task: str,
        task_id: str | None,
        *,
        paths: Iterable[str] | None = None,
        confidence: float | None = None,
    ) -> Action:
        change = draft.change
        chosen = tuple(paths) if paths is not None else change.paths
        return Action.model_validate(
            {
                "kind": kind,
                "engine": draft.engine,
                "task": task,
                "task_id": task_id,
                "paths": chosen,
                "symbols": tuple(draft.symbols),
                "files_touched": len(change.files),
                "lines_changed": change.lines_changed(),
                "public_api_changed": self._public_api_changed(draft),
                "tests_touched": any(is_test_path(p) for p in change.paths),
                "confidence": confidence,
            }
        )

    def _edit_decision(
        self,
        draft: Draft,
        task: str,
        task_id: str | None,
        *,
        confidence: float | None,
        record: bool,
    ) -> Decision:
        """Governance on the edit itself: one action per kind of file change (edit,
        create, delete, rename); the strictest answer stands."""
        groups: dict[str, list[str]] = {}
        for f in draft.change.files:
            if f.created:
                groups.setdefault("create", []).append(f.path)
            elif f.deleted:
                groups.setdefault("delete", []).append(f.path)
            elif f.new_path is not None:
                groups.setdefault("rename", []).extend([f.path, f.new_path])
            else:
                groups.setdefault("edit", []).append(f.path)
        decisions = []
        for kind, paths in groups.items():
            action = self._action(kind, draft, task, task_id, paths=paths, confidence=confidence)
            decisions.append(self.engine.decide(action) if record else self.engine.explain(action))
        return _strictest(decisions)

    def _public_api_changed(self, draft: Draft) -> bool:
        intent = draft.intent
        touched = {old for old, _ in intent.renamed} | set(intent.removed)
        if intent.kind in ("signature", "ripple"):
            touched |= set(draft.symbols)
        if not touched:
            return False
        reader = self.reader()
        for qualname in touched:
            for sym in reader.lookup(qualname.rsplit(".", 1)[-1]):
                if sym.qualname == qualname and sym.exported:
                    return True
        return False

    # -- settling ------------------------------------------------------------------------

    def get(self, proposal_id: int) -> Proposal | None:
        with self._lock:
            return self._live.get(proposal_id)

    def live(self) -> list[Proposal]:
        with self._lock:
            return sorted(self._live.values(), key=lambda p: p.id)

    def require(self, proposal_id: int) -> Proposal:
        proposal = self.get(proposal_id)
        if proposal is not None:
            return proposal
        stored = self.records.decision(proposal_id)
        if stored is None:
            raise ProposalError(f"no proposal #{proposal_id}")
        raise ProposalError(
            f"proposal #{proposal_id} is {stored.status} and can no longer be applied"
        )

    def refresh(self, paths: Iterable[str] | None = None) -> list[Proposal]:
        """Mark stale every live proposal whose files changed (``paths``: only those
        that touch these files). Returns the proposals that went stale now."""
        wanted = set(paths) if paths is not None else None
        went: list[Proposal] = []
        for proposal in self.live():
            if proposal.status != "proposed":
                continue
            for path, base in proposal.base.items():
                if wanted is not None and path not in wanted:
                    continue
                if self._hash(path) != base:
                    self._mark_stale(proposal, f"{path} changed after the proposal was made")
                    went.append(proposal)
                    break
        return went

    def accept(self, proposal_id: int, *, task_id: str | None = None) -> Acceptance:
        """Governance decides on the edit again, now; the caller applies the change (the
        editor through workspace/applyEdit, the CLI with :meth:`apply`) and reports back."""
        proposal = self.require(proposal_id)
        self._check_current(proposal)
        if not proposal.report.passed:
            failed = ", ".join(c.name for c in proposal.report.failures)
            raise ProposalError(
                f"proposal #{proposal.id} failed verification ({failed}); it cannot be applied"
            )
        draft = proposal.draft
        task = TASK_OF_KIND.get(draft.kind, draft.kind)
        decision = self._edit_decision(
            draft, task, task_id, confidence=proposal.confidence, record=True
        )
        if decision.effect in ("deny", "escalate"):
            self.records.set_status(
                proposal.id,
                "rejected",
                detail=f"governance answered {decision.effect}: {_reasons(decision)}",
            )
            self._settle(proposal, "rejected")
            raise ProposalError(
                f"governance answered {decision.effect} for proposal #{proposal.id}: "
                f"{_reasons(decision)}"
            )
        self.records.set_status(proposal.id, "accepted", detail="accepted by the user")
        return Acceptance(
            proposal,
            draft.change,
            decision,
            # trust's own decision counts too: whatever a policy allows, a confidence
            # under the floor never goes in without a person
            needs_confirmation=decision.effect == "require_approval"
            or proposal.assessment.decision != "proceed",
            reasons=tuple(r.why for r in decision.reasons if r.effect != "allow")
            + _trust_reasons(proposal, decision),
        )

    def applied(self, acceptance: Acceptance, ok: bool, *, failure: str | None = None) -> Proposal:
        """Record what became of an accepted proposal: applied, or not (the client
        refused, or a person declined the confirmation)."""
        proposal = acceptance.proposal
        if ok:
            if acceptance.needs_confirmation:
                self.engine.approve(acceptance.decision)
            self.records.set_status(proposal.id, "applied", detail="applied to the workspace")
            self._settle(proposal, "applied")
        else:
            why = failure or "the edit was not applied"
            self.records.set_status(proposal.id, "rejected", detail=why, reason=None)
            self._settle(proposal, "rejected")
        return proposal

    def apply(self, proposal_id: int, *, approved: bool = False) -> list[str]:
        """Write an accepted proposal to the workspace files (the CLI's ``--apply``);
        a proposal that needs approval is written only when ``approved``."""
        acceptance = self.accept(proposal_id)
        if acceptance.needs_confirmation and not approved:
            self.applied(
                acceptance, False, failure="needs approval: " + "; ".join(acceptance.reasons)
            )
            raise ProposalError(
                "governance requires approval before this edit is written: "
                + "; ".join(acceptance.reasons)
            )
        try:
            written = write_change(self.root, acceptance.change)
        except EditError as exc:
            self.applied(acceptance, False, failure=str(exc))
            raise ProposalError(str(exc)) from exc
        self.applied(acceptance, True)
        return written

    def reject(self, proposal_id: int, reason: str | None = None) -> Proposal | None:
        proposal = self.get(proposal_id)
        if proposal is None and self.records.decision(proposal_id) is None:
            raise ProposalError(f"no proposal #{proposal_id}")
        self.records.set_status(
            proposal_id, "rejected", detail="rejected by the user", reason=reason or None
        )
        if proposal is not None:
            self._settle(proposal, "rejected")
        return proposal

    def close(self) -> None:
        self.engine.close()
        self.conn.close()

    # -- helpers -------------------------------------------------------------------------

    def _check_current(self, proposal: Proposal) -> None:
        if proposal.status == "stale":
            raise ProposalError(f"proposal #{proposal.id} is stale: {proposal.stale_reason}")
        if proposal.status != "proposed":
            raise ProposalError(f"proposal #{proposal.id} is already {proposal.status}")
        for path, base in proposal.base.items():
            if self._hash(path) != base:
                reason = f"{path} changed after the proposal was made"
                self._mark_stale(proposal, reason)
                raise ProposalError(f"proposal #{proposal.id} is stale: {reason}")

    def _hash(self, path: str) -> str | None:
        try:
            return content_hash(self.sources.text(path).encode())
        except (FileNotFoundError, UnicodeDecodeError, EditError):
            return None

    def _mark_stale(self, proposal: Proposal, reason: str) -> None:
        proposal.status = "stale"
        proposal.stale_reason = reason
        self.records.set_status(proposal.id, "stale", detail=reason)

    def _settle(self, proposal: Proposal, status: str) -> None:
        proposal.status = status
        with self._lock:
            self._live.pop(proposal.id, None)
        try:
            self.refit_trust()
        except Exception:  # a refit is an improvement, never a reason to fail a settle
            log.exception("the trust model could not be refitted")

    def forget_unsettled(self) -> int:
        """Proposals left 'proposed' by an earlier process cannot be applied (their
        change lived in that process): say so in their history (the server calls this
        when it starts). Returns how many there were."""
        old = self.records.decisions(statuses=("proposed",), limit=100_000)
        for decision in old:
            self.records.set_status(
                decision.id, "stale", detail="the process that made it ended; propose again"
            )
        return len(old)


def _trust_reasons(proposal: Proposal, decision: Decision) -> tuple[str, ...]:
    a = proposal.assessment
    if a.decision == "proceed" or decision.effect != "allow":
        return ()
    return (
        f"confidence {a.confidence:.2f} is below what proceeds on its own "
        f"({max(a.thresholds[0], NEVER_PROCEED_BELOW):.2f})",
    )


def is_test_path(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    parts = path.split("/")[:-1]
    return (
        name.startswith("test_")
        or name.endswith(("_test.py", "_tests.py"))
        or name == "conftest.py"
        or any(p in ("tests", "test") for p in parts)
    )


def _test_qualname(node_id: str) -> str:
    """``tests/test_a.py::TestX::test_y`` → ``TestX.test_y`` (the index's qualname
    within the module is prefixed by the caller's module name when needed)."""
    parts = node_id.split("::")[1:]
    return ".".join(p.split("[", 1)[0] for p in parts)


def _strictest(decisions: list[Decision]) -> Decision:
    order = {"allow": 0, "require_approval": 1, "escalate": 2, "deny": 3}
    return max(decisions, key=lambda d: order[d.effect])


def _reasons(decision: Decision) -> str:
    return "; ".join(r.why for r in decision.reasons if r.effect != "allow") or decision.effect


def _policy_json(decision: Decision) -> dict[str, Any]:
    return {
        "effect": decision.effect,
        "reasons": [
            {"rule": r.rule, "effect": r.effect, "why": r.why}
            for r in decision.reasons
            if r.effect != "allow"
        ],
        "decision": decision.decision_id,
    }


def verification_failed(report: Report) -> list[Check]:
    return list(report.failures)


def proposals_by_path(proposals: Iterable[Proposal]) -> Mapping[str, list[Proposal]]:
    out: dict[str, list[Proposal]] = {}
    for proposal in proposals:
        for target in proposal.draft.targets:
            out.setdefault(target.path, []).append(proposal)
    return out
