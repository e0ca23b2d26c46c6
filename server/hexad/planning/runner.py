"""Running a plan: steps one by one through an executor, state kept in memory, and
replanning from a failed step (bounded).

Planning and execution are sibling layers: the runner drives any :class:`StepExecutor`
(the CLI and the server wire the proposal service into one), so planning never imports
execution. Every state change is written to memory's plan runs before the next step, so a
plan interrupted by a restart resumes from its first unfinished step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hexad.memory.records import Records
from hexad.planning.plan import Condition, Plan, Step
from hexad.planning.validate import Validation

DEFAULT_MAX_REPLANS = 2


@dataclass(frozen=True, slots=True)
class StepResult:
    ok: bool
    detail: str = ""
    proposal: int | None = None
    verification_failed: bool = False  # the edit was made and failed its checks


class StepExecutor(Protocol):
    def run(self, plan: Plan, step: Step) -> StepResult:
        """Carry out ``step`` (propose, verify, apply) and say how it went."""
        ...

    def holds(self, condition: Condition) -> bool:
        """Whether the index (refreshed after the step) shows ``condition``."""
        ...


class ReplanRefused(Exception):
    """A replanner's reason for not replanning (the message, in the user's terms)."""


Replanner = Callable[[Plan, Step, StepResult], Plan | None]
Validator = Callable[[Plan], Validation]
Progress = Callable[[Plan, Step], None]


class PlanRunner:
    def __init__(
        self,
        records: Records,
        executor: StepExecutor,
        validator: Validator,
        *,
        replanner: Replanner | None = None,
        max_replans: int = DEFAULT_MAX_REPLANS,
        on_progress: Progress | None = None,
    ) -> None:
        self.records = records
        self.executor = executor
        self.validator = validator
        self.replanner = replanner
        self.max_replans = max_replans
        self.on_progress = on_progress
        self.cancelled = False

    def start(self, plan: Plan) -> tuple[str, Validation]:
        """Validate and store a plan (status ``approved`` when valid, else ``invalid``);
        nothing runs yet."""
        validation = self.validator(plan)
        status = "approved" if validation.ok else "invalid"
        run_id = self.records.save_plan_run(plan.task, _stored(plan, validation), status=status)
        return run_id, validation

    def run(self, run_id: str) -> Plan:
        """Run an approved (or interrupted) plan from its first unfinished step."""
        stored = self.records.plan_run(run_id)
        if stored is None:
            raise KeyError(f"no plan run {run_id}")
        plan = Plan.model_validate(stored["plan"]["plan"])
        if stored["status"] == "invalid":
            raise ValueError(
                "an invalid plan never runs: "
                + "; ".join(stored["plan"].get("validation", {}).get("errors", []))
            )
        self.records.set_plan_status(run_id, "running")
        while True:
            step = next((s for s in plan.steps if s.status in ("pending", "running")), None)
            if step is None:
                more = self._complete(plan)
                if more is None:
                    break
                plan = more
                self.records.save_plan_run(
                    plan.task, _stored(plan, None), run_id=run_id, status="running"
                )
                continue
            if self.cancelled:
                self._finish(run_id, plan, "cancelled", "cancelled by the user")
                return plan
            blocked = [d for d in step.depends_on if _status(plan, d) != "done"]
            if blocked:
                step.status = "skipped"
                step.detail = f"step(s) {', '.join(map(str, blocked))} did not finish"
                self._save(run_id, plan, step)
                continue
            step.status = "running"
            self._save(run_id, plan, step)
            gone = [c.describe() for c in step.preconditions if not self.executor.holds(c)]
            if gone:
                result = StepResult(False, "before it ran, no longer true: " + "; ".join(gone))
            else:
                result = self.executor.run(plan, step)
            step.proposal = result.proposal
            if result.ok:
                missing = [c.describe() for c in step.postconditions if not self.executor.holds(c)]
                if missing:
                    result = StepResult(
                        False,
                        "afterwards the index does not show: " + "; ".join(missing),
                        result.proposal,
                        verification_failed=True,
                    )
            if result.ok:
                step.status = "done"
                step.detail = result.detail or None
                self._save(run_id, plan, step)
                continue
            step.status = "failed"
            step.detail = result.detail
            self._save(run_id, plan, step)
            replanned, why_not = self._replan(plan, step, result)
            if replanned is None:
                outcome = f"step {step.id} failed: {result.detail}"
                if why_not:
                    outcome = f"{outcome}; {why_not}"
                self._finish(run_id, plan, "failed", outcome)
                return plan
            plan = replanned
            if self.on_progress is not None:
                self.on_progress(plan, step)
            self.records.save_plan_run(
                plan.task, _stored(plan, None), run_id=run_id, status="running"
            )
        self._finish(run_id, plan, "done", None)
        return plan

    def _replan(self, plan: Plan, step: Step, result: StepResult) -> tuple[Plan | None, str]:
        """The plan made again from the failed step, or None and why not."""
        if self.replanner is None:
            return None, ""
        if plan.replans >= self.max_replans:
            return None, f"not replanned: the policy allows {self.max_replans} replan(s) a plan"
        try:
            fresh = self.replanner(plan, step, result)
        except ReplanRefused as exc:
            return None, f"not replanned: {exc}"
        if fresh is None:
            return None, "not replanned: no new plan"
        validation = self.validator(fresh)
        if not validation.ok:
            errors = "; ".join(str(e) for e in validation.errors[:3])
            return None, f"not replanned: the new plan is invalid ({errors})"
        fresh.replans = plan.replans + 1
        return fresh, ""

    def _complete(self, plan: Plan) -> Plan | None:
        """Once every step ran: the rest of the work, when the index shows the task is not
        finished (the code changed while the plan ran: a new call site, say), as more
        steps; None when it is. Counts as a replan."""
        rest = getattr(self.replanner, "rest", None)
        if rest is None or plan.replans >= self.max_replans:
            return None
        if any(s.status != "done" for s in plan.steps):
            return None
        more: Plan | None = rest(plan)
        if more is None or not self.validator(more).ok:
            return None
        more.replans = plan.replans + 1
        return more

    def _save(self, run_id: str, plan: Plan, step: Step) -> None:
        self.records.save_plan_run(plan.task, _stored(plan, None), run_id=run_id, status="running")
        self.records.set_step(
            run_id,
            step.id,
            step.status,
            {"title": step.title, "detail": step.detail, "proposal": step.proposal},
        )
        if self.on_progress is not None:
            self.on_progress(plan, step)

    def _finish(self, run_id: str, plan: Plan, status: str, detail: str | None) -> None:
        for step in plan.steps:
            if step.status == "pending" and status != "done":
                step.status = "cancelled" if status == "cancelled" else "skipped"
        self.records.save_plan_run(
            plan.task, {**_stored(plan, None), "outcome": detail}, run_id=run_id, status=status
        )


def _status(plan: Plan, step_id: int) -> str | None:
    found = plan.step(step_id)
    return found.status if found is not None else None


def _stored(plan: Plan, validation: Validation | None) -> dict[str, Any]:
    data: dict[str, Any] = {"plan": plan.to_json()}
    if validation is not None:
        data["validation"] = validation.to_json()
    return data
