"""Validation of a plan against the index and governance, before anything runs.

A plan is valid when its dependencies form an order the step list follows, every symbol
and file a step names exists or is created by a step it (transitively) depends on,
nothing a step means to create exists already, governance allows every step, and the
estimated cost fits the budgets. Each problem names its step and says what to change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from hexad.governance import Action, Engine
from hexad.perception.index import IndexReader
from hexad.planning.plan import Condition, Plan, Step

MODEL_KINDS = frozenset({"implement", "write_test", "fix_test"})
MODEL_STEP_TOKENS = 2_500  # prompt context plus answer, for the estimate
SYMBOL_ARGS = ("symbol",)
FINISHED = frozenset({"done", "failed", "skipped", "cancelled"})
PATH_ARGS = ("path",)


@dataclass(frozen=True, slots=True)
class PlanIssue:
    step: int | None  # None: the plan as a whole
    message: str

    def __str__(self) -> str:
        return f"step {self.step}: {self.message}" if self.step is not None else self.message


@dataclass
class Validation:
    errors: list[PlanIssue] = field(default_factory=list)
    notes: list[PlanIssue] = field(default_factory=list)  # approvals the steps will need
    estimate: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": [str(e) for e in self.errors],
            "notes": [str(n) for n in self.notes],
            "estimate": self.estimate,
        }


def validate(
    plan: Plan,
    reader: IndexReader,
    engine: Engine,
    *,
    file_exists: Callable[[str], bool],
    task_id: str | None = None,
) -> Validation:
    result = Validation()
    graph = _dependencies(plan, result)
    if graph is None:
        return result
    world = _World(reader, file_exists)
    for step in plan.steps:
        if step.status in FINISHED:
            continue  # it ran already: the index shows what it did
        ancestors = nx.ancestors(graph, step.id)
        before = [s for s in plan.steps if s.id in ancestors]
        created = {name for s in before for name in s.creates}
        removed = {name for s in before for name in s.removes}
        for problem in _step_problems(step, world, created, removed):
            result.errors.append(PlanIssue(step.id, problem))
    _governance(plan, engine, result, task_id)
    return result


def _dependencies(plan: Plan, result: Validation) -> nx.DiGraph | None:
    ids = [s.id for s in plan.steps]
    if len(set(ids)) != len(ids):
        result.errors.append(PlanIssue(None, "step ids repeat; each step needs its own id"))
        return None
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(ids)
    position = {sid: i for i, sid in enumerate(ids)}
    for step in plan.steps:
        for dep in step.depends_on:
            if dep not in position:
                result.errors.append(
                    PlanIssue(step.id, f"depends on step {dep}, which is not in the plan")
                )
            elif dep == step.id:
                result.errors.append(PlanIssue(step.id, "depends on itself"))
            else:
                graph.add_edge(dep, step.id)
                if position[dep] > position[step.id]:
                    result.errors.append(
                        PlanIssue(step.id, f"runs before step {dep}, which it depends on")
                    )
    if not nx.is_directed_acyclic_graph(graph):
        cycle = " → ".join(str(a) for a, _ in nx.find_cycle(graph))
        result.errors.append(PlanIssue(None, f"the dependencies form a cycle ({cycle})"))
        return None
    return graph


class _World:
    """What exists now: the index's symbols and the workspace's files."""

    def __init__(self, reader: IndexReader, file_exists: Callable[[str], bool]) -> None:
        self.reader = reader
        self.file_exists = file_exists
        self._symbols: dict[str, bool] = {}

    def symbol(self, qualname: str) -> bool:
        if qualname not in self._symbols:
            short = qualname.rsplit(".", 1)[-1]
            self._symbols[qualname] = any(s.qualname == qualname for s in self.reader.lookup(short))
        return self._symbols[qualname]

    def exists(self, name: str, *, is_file: bool) -> bool:
        return self.file_exists(name) if is_file else self.symbol(name)


def _step_problems(
    step: Step, world: _World, created: set[str], removed: set[str]
) -> Iterable[str]:
    def present(name: str, *, is_file: bool) -> bool:
        if name in removed:
            return False
        return name in created or world.exists(name, is_file=is_file)

    needs: list[Condition] = list(step.preconditions)
    for arg in SYMBOL_ARGS:
        value = step.action.get(arg)
        if isinstance(value, str) and value:
            needs.append(Condition(kind="symbol_exists", target=value))
    for arg in PATH_ARGS:
        value = step.action.get(arg)
        if isinstance(value, str) and value:
            needs.append(Condition(kind="file_exists", target=value))
    for cond in needs:
        is_file = cond.kind.startswith("file")
        if cond.kind in ("symbol_exists", "file_exists") and not present(
            cond.target, is_file=is_file
        ):
            what = "file" if is_file else "symbol"
            yield (
                f"needs the {what} {cond.target}, which does not exist and no earlier step "
                "it depends on creates"
            )
        elif cond.kind in ("symbol_absent", "file_absent") and present(
            cond.target, is_file=is_file
        ):
            yield f"needs {cond.target} not to exist, but it does"
    for name in step.creates:
        is_file = "/" in name or name.endswith(".py")
        if present(name, is_file=is_file):
            yield f"would create {name}, which already exists"


def _governance(plan: Plan, engine: Engine, result: Validation, task_id: str | None) -> None:
    todo = [s for s in plan.steps if s.status not in FINISHED]
    model_steps = [s for s in todo if s.kind in MODEL_KINDS]
    tokens = len(model_steps) * MODEL_STEP_TOKENS
    result.estimate = {"steps": len(todo), "model_steps": len(model_steps), "tokens": tokens}
    for step in todo:
        paths = tuple(str(step.action[a]) for a in PATH_ARGS if isinstance(step.action.get(a), str))
        symbols = tuple(
            str(step.action[a]) for a in SYMBOL_ARGS if isinstance(step.action.get(a), str)
        )
        decision = engine.explain(
            Action(
                kind="propose",
                engine="model" if step.kind in MODEL_KINDS else "structural",
                task=step.kind,
                task_id=task_id,
                paths=paths,
                symbols=symbols,
                tokens=MODEL_STEP_TOKENS if step.kind in MODEL_KINDS else 0,
            )
        )
        refused = [r.why for r in decision.reasons if r.effect == "deny"]
        if decision.effect == "deny":
            result.errors.append(PlanIssue(step.id, "governance refuses it: " + "; ".join(refused)))
        elif decision.effect in ("require_approval", "escalate"):
            reasons = "; ".join(r.why for r in decision.reasons if r.effect != "allow")
            result.notes.append(PlanIssue(step.id, f"will need {decision.effect}: {reasons}"))
    # the plan as a whole against what is left of the budgets
    whole = engine.explain(Action(kind="plan", task="plan", task_id=task_id, tokens=tokens))
    for state in whole.budget_state:
        left = state.remaining
        if left is None:
            continue
        if state.name in ("tokens_per_task", "tokens_per_day") and tokens > left:
            result.errors.append(
                PlanIssue(
                    None,
                    f"the plan needs about {tokens} model tokens; {state.name} has "
                    f"{int(left)} left",
                )
            )
        if state.name == "proposals_per_hour" and len(todo) > left:
            result.errors.append(
                PlanIssue(
                    None,
                    f"the plan has {len(todo)} steps to run; proposals_per_hour has "
                    f"{int(left)} left",
                )
            )
