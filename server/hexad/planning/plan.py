"""Plans: steps an engine can run, with what must hold before and after each.

A plan is data (pydantic, so a model's JSON answer is validated by the same schema): each
step names an execution action (a proposal request: ``kind`` plus its arguments), the
symbols and files that must exist before it runs (or that an earlier step creates), what
the index must show afterwards, and the steps it depends on. Plans are stored in memory's
plan runs, so a plan survives a restart.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ConditionKind = Literal[
    "symbol_exists",  # a qualified name is defined
    "symbol_absent",  # ... is not (after a rename or move)
    "file_exists",
    "file_absent",
    "signature_is",  # a function's parameter list, as written (``value``)
    "no_calls_to",  # nothing calls this qualified name any more
]
StepStatus = Literal["pending", "running", "done", "failed", "skipped", "cancelled"]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ConditionKind
    target: str = Field(min_length=1)
    """A qualified name (symbol conditions) or a workspace-relative path (file ones)."""
    value: str | None = None

    def describe(self) -> str:
        words = {
            "symbol_exists": "{t} is defined",
            "symbol_absent": "{t} is not defined",
            "file_exists": "{t} exists",
            "file_absent": "{t} does not exist",
            "signature_is": "{t} takes ({v})",
            "no_calls_to": "nothing calls {t}",
        }
        return words[self.kind].format(t=self.target, v=self.value or "")


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1)
    title: str = Field(min_length=1)
    action: dict[str, Any]
    """A proposal request (``execution.proposals.ProposalRequest``): ``kind`` and its
    arguments, e.g. ``{"kind": "rename", "symbol": "pkg.mod.f", "new_name": "g"}``."""
    preconditions: list[Condition] = Field(default_factory=list)
    postconditions: list[Condition] = Field(default_factory=list)
    depends_on: list[int] = Field(default_factory=list)
    creates: list[str] = Field(default_factory=list)
    """Symbols (qualified names) and files this step brings into existence."""
    removes: list[str] = Field(default_factory=list)
    why: str = ""
    status: StepStatus = "pending"
    proposal: int | None = None  # the proposal that carried it out
    detail: str | None = None  # why it failed or was skipped

    @field_validator("action")
    @classmethod
    def _has_kind(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("kind"), str) or not value["kind"]:
            raise ValueError("a step's action needs a kind (rename, signature, add_import, …)")
        return value

    @property
    def kind(self) -> str:
        return str(self.action["kind"])


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1)
    planner: str  # deterministic:<intent> | model
    summary: str = ""
    steps: list[Step] = Field(min_length=1)
    replans: int = 0
    intent: dict[str, Any] | None = None
    """What the plan was made from (``planning.intents.Intent``), so it can be made again
    from the index as it is when a step fails."""

    def step(self, step_id: int) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def markdown(self) -> str:
        """The plan as a person reads it."""
        marks = {
            "pending": "☐",
            "running": "▶",
            "done": "☑",
            "failed": "✗",
            "skipped": "–",
            "cancelled": "⊘",
        }
        lines = [f"# Plan: {self.task}", ""]
        if self.summary:
            lines += [self.summary, ""]
        lines.append(f"*{self.planner} planner, {len(self.steps)} steps*")
        for step in self.steps:
            after = f" (after {', '.join(map(str, step.depends_on))})" if step.depends_on else ""
            lines += ["", f"{marks[step.status]} **{step.id}. {step.title}**{after}"]
            if step.why:
                lines.append(f"   {step.why}")
            for cond in step.preconditions:
                lines.append(f"   - before: {cond.describe()}")
            for cond in step.postconditions:
                lines.append(f"   - after: {cond.describe()}")
            if step.detail:
                lines.append(f"   - {step.status}: {step.detail}")
        return "\n".join(lines) + "\n"


def plan_schema() -> dict[str, Any]:
    """The JSON schema a model's plan must follow (constrained decoding uses it)."""
    return Plan.model_json_schema()
