"""Plans carried out by the proposal service: the executor the CLI and the server give to
planning's runner (planning and execution are sibling layers and never import each
other; this module, above both, joins them). Nothing here speaks LSP."""

from __future__ import annotations

from collections.abc import Callable

from hexad.core.errors import HexadError
from hexad.execution.affected import affected_tests
from hexad.execution.proposals import NothingToChange, ProposalRequest, ProposalService
from hexad.perception.index import IndexReader
from hexad.planning.plan import Condition, Plan, Step
from hexad.planning.planners import PlanningError, find_function, parameters_of, same_parameters
from hexad.planning.runner import StepResult


class ServiceExecutor:
    """Each step: propose, verify, and (when verified and allowed) apply; then refresh
    the index so the next step and the postconditions see the change."""

    def __init__(
        self,
        service: ProposalService,
        reader: Callable[[], IndexReader],
        refresh: Callable[[], None],
        *,
        approve: bool = False,
        file_exists: Callable[[str], bool] | None = None,
    ) -> None:
        self.service = service
        self.reader = reader
        self.refresh = refresh
        self.approve = approve
        self.file_exists = file_exists or (lambda p: (service.root / p).is_file())

    def run(self, plan: Plan, step: Step) -> StepResult:
        if step.kind == "run_tests":
            return self._tests(step)
        try:
            proposal = self.service.propose(
                ProposalRequest.parse(step.action), task_id=f"plan:{plan.task}"[:120]
            )
        except NothingToChange as exc:
            return StepResult(True, f"nothing to change: {exc}")
        except HexadError as exc:
            return StepResult(False, str(exc))
        if not proposal.report.passed:
            failed = "; ".join(c.summary for c in proposal.report.failures)
            return StepResult(False, f"verification failed: {failed}", proposal.id, True)
        try:
            self.service.apply(proposal.id, approved=self.approve)
        except HexadError as exc:
            return StepResult(False, str(exc), proposal.id)
        self.refresh()
        return StepResult(True, proposal.summary(), proposal.id)

    def _tests(self, step: Step) -> StepResult:
        symbol = step.action.get("symbol")
        found = affected_tests(self.reader(), [symbol] if isinstance(symbol, str) else [], [])
        if not found.node_ids:
            return StepResult(True, "no test reaches the change")
        run = self.service.verifier.run_tests(found.node_ids)
        if run.timed_out:
            return StepResult(False, "the tests timed out")
        failed = [c.node_id for c in run.failed()]
        if failed:
            return StepResult(False, f"{len(failed)} test(s) fail: {', '.join(failed[:5])}")
        return StepResult(True, f"{len(found.node_ids)} test target(s) pass")

    def holds(self, condition: Condition) -> bool:
        reader = self.reader()
        target = condition.target
        if condition.kind in ("file_exists", "file_absent"):
            return self.file_exists(target) == (condition.kind == "file_exists")
        try:
            sym = find_function(reader, target) if condition.kind == "signature_is" else None
        except PlanningError:
            return False
        if sym is not None:
            return same_parameters(parameters_of(sym), condition.value or "")
        defined = any(s.qualname == target for s in reader.lookup(target.rsplit(".", 1)[-1]))
        if condition.kind == "symbol_exists":
            return defined
        if condition.kind == "symbol_absent":
            return not defined
        if condition.kind == "no_calls_to":
            syms = [s for s in reader.lookup(target.rsplit(".", 1)[-1]) if s.qualname == target]
            return not syms or not reader.callers(syms)
        return False
