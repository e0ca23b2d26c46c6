"""What a user asks for, as data, and the plan made from it — first, and again when a step
fails.

An :class:`Intent` is the request behind a plan: a structural intent (change a signature,
add a parameter, move a symbol, rename or split a module) that a deterministic planner
turns into steps from the index alone, or a free-form ``task`` that needs the model
planner. The plan keeps its intent, so :class:`Replanner` can make the rest of it again
from the index as it is after a step failed: the steps that ran stay as they are, the
steps whose outcome the index already shows are dropped, and the rest is renumbered after
them. A replan that would repeat the failed step unchanged is no replan at all (it would
fail the same way), and is refused with :class:`ReplanRefused` saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from hexad.perception.index import IndexReader
from hexad.planning.module_planners import plan_move_symbol, plan_rename_module, plan_split_module
from hexad.planning.plan import Condition, Plan, Step
from hexad.planning.planners import (
    PlanningError,
    find_function,
    parameters_of,
    plan_add_parameter,
    plan_change_signature,
)
from hexad.planning.runner import ReplanRefused, StepResult
from hexad.planning.validate import FINISHED

IntentKind = Literal["signature", "add_parameter", "move", "rename_module", "split_module", "task"]
DETERMINISTIC = ("signature", "add_parameter", "move", "rename_module", "split_module")


def _alias(camel: str, snake: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(snake, camel))


class Intent(BaseModel):
    """A request to plan. Which fields a kind needs: ``signature`` symbol, params
    (values); ``add_parameter`` symbol, name, default (thread); ``move`` symbol, target
    (reexport); ``rename_module`` path, new_path; ``split_module`` path, groups
    (reexport); ``task`` text."""

    model_config = ConfigDict(extra="forbid")

    kind: IntentKind
    title: str | None = None  # the plan's task line; a default is made from the intent
    symbol: str | None = None
    params: str | None = None
    values: dict[str, str] | None = None
    name: str | None = None
    default: str | None = None
    thread: bool = True
    target: str | None = None
    reexport: bool | None = None
    path: str | None = None
    new_path: str | None = _alias("newPath", "new_path")
    groups: dict[str, list[str]] | None = None
    text: str | None = None  # a free-form task
    was: str | None = None
    """signature, add_parameter: the function's parameters when the plan was first made
    (recorded by :func:`plan_intent`; replanning rewrites call sites from them)."""

    @classmethod
    def parse(cls, data: object) -> Intent:
        """An intent from JSON-like data; a :class:`PlanningError` says what is wrong."""
        try:
            intent = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "intent"
            raise PlanningError(f"{where}: {first['msg']}") from exc
        intent.check()
        return intent

    def check(self) -> None:
        needs = {
            "signature": ("symbol", "params"),
            "add_parameter": ("symbol", "name"),
            "move": ("symbol", "target"),
            "rename_module": ("path", "new_path"),
            "split_module": ("path", "groups"),
            "task": ("text",),
        }[self.kind]
        missing = [n for n in needs if getattr(self, n) in (None, "", {})]
        if missing:
            raise PlanningError(f"a {self.kind} plan needs {', '.join(missing)}")

    @property
    def deterministic(self) -> bool:
        return self.kind in DETERMINISTIC

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {
            "kind": self.kind
        }


TextOf = Callable[[str], str | None]  # a workspace file's current text (buffer or disk)


def plan_intent(reader: IndexReader, intent: Intent, *, text_of: TextOf | None = None) -> Plan:
    """The deterministic plan for a structural intent, from the index as it is now."""
    title = intent.title
    if intent.kind in ("signature", "add_parameter") and intent.was is None:
        assert intent.symbol is not None
        intent = intent.model_copy(
            update={"was": parameters_of(find_function(reader, intent.symbol))}
        )
    if intent.kind == "signature":
        assert intent.symbol is not None and intent.params is not None
        plan = plan_change_signature(
            reader, intent.symbol, intent.params, values=intent.values, task=title, was=intent.was
        )
    elif intent.kind == "add_parameter":
        assert intent.symbol is not None and intent.name is not None
        plan = plan_add_parameter(
            reader,
            intent.symbol,
            intent.name,
            intent.default or "None",
            thread=intent.thread,
            task=title,
            was=intent.was,
        )
    elif intent.kind == "move":
        assert intent.symbol is not None and intent.target is not None
        plan = plan_move_symbol(
            reader,
            intent.symbol,
            intent.target,
            reexport=intent.reexport,
            task=title,
            text_of=text_of,
        )
    elif intent.kind == "rename_module":
        assert intent.path is not None and intent.new_path is not None
        plan = plan_rename_module(reader, intent.path, intent.new_path, task=title)
    elif intent.kind == "split_module":
        assert intent.path is not None and intent.groups is not None
        plan = plan_split_module(
            reader,
            intent.path,
            intent.groups,
            text=text_of(intent.path) if text_of is not None else None,
            reexport=intent.reexport,
            task=title,
        )
    else:
        raise PlanningError("a free-form task needs the model planner (configure a model)")
    plan.intent = intent.to_json()
    return plan


# -- replanning ----------------------------------------------------------------------------

Holds = Callable[[Condition], bool]
ModelReplan = Callable[[str, Plan], Plan | None]  # (what to plan now, the old plan) → plan


class Replanner:
    """The runner's replanner: the rest of a plan made again after ``failed`` failed.

    Structural intents are planned again from the index (which the runner refreshed
    after every applied step); a free-form task goes back to ``model`` with what was
    done and what failed. ``holds`` tells which steps' outcomes the index already shows.
    """

    def __init__(
        self,
        reader: Callable[[], IndexReader],
        holds: Holds,
        *,
        text_of: TextOf | None = None,
        model: ModelReplan | None = None,
    ) -> None:
        self.reader = reader
        self.holds = holds
        self.text_of = text_of
        self.model = model

    def __call__(self, plan: Plan, failed: Step, result: StepResult) -> Plan | None:
        if plan.intent is None:
            raise ReplanRefused("the plan does not say what it was made from")
        fresh: Plan | None
        try:
            intent = Intent.parse(plan.intent)
            if intent.deterministic:
                fresh = plan_intent(self.reader(), intent, text_of=self.text_of)
            elif self.model is None:
                raise ReplanRefused("no model to replan a free-form task with")
            else:
                fresh = self.model(replan_request(plan, failed, result), plan)
        except PlanningError as exc:
            raise ReplanRefused(f"the index no longer allows the plan: {exc}") from exc
        if fresh is None:
            raise ReplanRefused("the model gave no valid plan for the rest")
        return self._merge(plan, failed, fresh)

    def rest(self, plan: Plan) -> Plan | None:
        """After every step ran: the steps the intent still needs on the index as it is
        now (edits no step made yet, then the tests once more); None when there are
        none. Only structural intents can be checked this way."""
        if plan.intent is None:
            return None
        try:
            intent = Intent.parse(plan.intent)
            if not intent.deterministic:
                return None
            fresh = plan_intent(self.reader(), intent, text_of=self.text_of)
        except PlanningError:
            return None  # e.g. the move is done: its symbol is no longer where it was
        ran = [s.action for s in plan.steps if s.status == "done"]
        todo = [
            s
            for s in fresh.steps
            if s.kind != "run_tests"
            and not self._achieved(s)
            and not any(_same_action(s.action, a) for a in ran)
        ]
        if not todo:
            return None
        todo += [s for s in fresh.steps if s.kind == "run_tests"]
        return self._combine(plan, fresh, todo)

    def _merge(self, plan: Plan, failed: Step, fresh: Plan) -> Plan | None:
        ran = [s.action for s in plan.steps if s.status == "done" and s.kind != "run_tests"]
        todo = [
            s
            for s in fresh.steps
            if s.kind == "run_tests"
            or not (self._achieved(s) or any(_same_action(s.action, a) for a in ran))
        ]
        if any(_same_action(s.action, failed.action) for s in todo):
            raise ReplanRefused(
                f"replanning gives step {failed.id}'s edit again, unchanged; it would fail "
                "the same way"
            )
        if not todo:
            raise ReplanRefused("nothing is left to do, yet a step failed")
        return self._combine(plan, fresh, todo)

    def _combine(self, plan: Plan, fresh: Plan, todo: list[Step]) -> Plan:
        """The steps that ran, then ``todo`` (from ``fresh``) renumbered after them."""
        kept = [s.model_copy(deep=True) for s in plan.steps if s.status in FINISHED]
        start = max((s.id for s in kept), default=0) + 1
        number = {s.id: start + i for i, s in enumerate(todo)}
        steps = kept + [
            s.model_copy(
                update={
                    "id": number[s.id],
                    "depends_on": [number[d] for d in s.depends_on if d in number],
                    "status": "pending",
                    "proposal": None,
                    "detail": None,
                }
            )
            for s in todo
        ]
        return Plan(
            task=plan.task,
            planner=plan.planner,
            summary=fresh.summary or plan.summary,
            steps=steps,
            replans=plan.replans,
            intent=plan.intent,
        )

    def _achieved(self, step: Step) -> bool:
        return bool(step.postconditions) and all(self.holds(c) for c in step.postconditions)


def _same_action(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def norm(action: dict[str, Any]) -> dict[str, Any]:
        return {k: sorted(v) if isinstance(v, list) else v for k, v in action.items()}

    return norm(a) == norm(b)


def replan_request(plan: Plan, failed: Step, result: StepResult) -> str:
    """What a model is asked when a free-form plan's step fails: the task, what ran, what
    failed and why, and to plan only the rest from the code as it is now."""
    intent = plan.intent or {}
    task = str(intent.get("text") or plan.task)
    done = [s for s in plan.steps if s.status == "done"]
    lines = [task, "", "Progress on this task so far:"]
    lines += [f"- done: {s.title} ({_brief(s.action)})" for s in done] or ["- nothing done yet"]
    lines.append(f"- FAILED: {failed.title} ({_brief(failed.action)}): {result.detail}")
    lines += [
        "",
        "The code already has the done steps' changes. Plan only the remaining work, and "
        "do not repeat the failed step unchanged.",
    ]
    return "\n".join(lines)


def _brief(action: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in action.items())
