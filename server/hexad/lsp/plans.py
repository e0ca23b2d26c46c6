"""Plans carried out by the proposal service: the executor the CLI and the server give to
planning's runner (planning and execution are sibling layers and never import each
other; this module, above both, joins them). Nothing here speaks LSP."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hexad.core.errors import HexadError
from hexad.execution.affected import affected_tests
from hexad.execution.proposals import NothingToChange, ProposalRequest, ProposalService
from hexad.governance import Engine
from hexad.inference.base import CancelToken
from hexad.memory.records import Records
from hexad.perception.index import IndexReader
from hexad.planning.intents import Intent, Replanner, TextOf, plan_intent
from hexad.planning.model_planner import ModelPlanResult, plan_with_model
from hexad.planning.plan import Condition, Plan, Step
from hexad.planning.planners import PlanningError, find_function, parameters_of, same_parameters
from hexad.planning.runner import DEFAULT_MAX_REPLANS, StepResult

NOTES_FOR_MODEL = 12  # workspace notes a model planner reads


@dataclass
class Planned:
    """A plan for an intent, or why there is none; ``model`` has a model planner's
    attempts (answers, errors sent back, tokens)."""

    plan: Plan | None
    refused: str | None = None
    model: ModelPlanResult | None = None


def make_plan(
    intent: Intent,
    service: ProposalService,
    reader: IndexReader,
    *,
    file_exists: Callable[[str], bool],
    text_of: TextOf | None = None,
    cancel: CancelToken | None = None,
) -> Planned:
    """A structural intent through its deterministic planner; a free-form task through
    the model governance routes ``plan`` to, with the repository map and the workspace's
    notes. A :class:`PlanningError` says why a structural intent cannot be planned."""
    if intent.deterministic:
        return Planned(plan_intent(reader, intent, text_of=text_of))
    if service.models is None:
        return Planned(
            None,
            "a free-form task needs a model to plan it: set 'models' in the settings "
            "(or --model-path), or give a structural intent",
        )
    assert intent.text is not None
    result = plan_with_model(
        service.models,
        service.conn,
        reader,
        service.engine,
        intent.text,
        file_exists=file_exists,
        notes=_notes(service),
        task_id=_task_id(intent.title or intent.text),
        cancel=cancel,
    )
    if result.plan is not None:
        result.plan.intent = intent.to_json()
        if intent.title:
            result.plan.task = intent.title
    return Planned(result.plan, result.refused, result)


def make_replanner(
    service: ProposalService,
    reader: Callable[[], IndexReader],
    executor: ServiceExecutor,
    *,
    text_of: TextOf | None = None,
) -> Replanner:
    """Replans structural intents from the index; free-form tasks with the model (when
    one is configured) told what ran and what failed."""
    models = service.models
    model = None
    if models is not None:

        def model(text: str, old: Plan) -> Plan | None:
            result = plan_with_model(
                models,
                service.conn,
                reader(),
                service.engine,
                text,
                file_exists=executor.file_exists,
                notes=_notes(service),
                task_id=_task_id(old.task),
            )
            return result.plan

    return Replanner(reader, executor.holds, text_of=text_of, model=model)


def tests_each_step(plan: Plan) -> bool:
    """Whether a step's proposal runs the tests: not when the plan has its own tests step
    (a signature change breaks its callers' tests until the call-site steps ran; the
    steps are still checked for syntax, symbols, compilation and names one by one)."""
    return not any(s.kind == "run_tests" for s in plan.steps)


def max_replans(engine: Engine) -> int:
    """The policy's ``replans_per_plan``."""
    value = engine.policy.budget("replans_per_plan").value
    return DEFAULT_MAX_REPLANS if value is None else int(value)


def _notes(service: ProposalService) -> Sequence[str]:
    return [n.text for n in Records(service.conn).notes() if not n.scope][-NOTES_FOR_MODEL:]


def _task_id(text: str) -> str:
    return f"plan:{text}"[:120]


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
                ProposalRequest.parse(step.action),
                task_id=_task_id(plan.task),
                run_tests=tests_each_step(plan),
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
