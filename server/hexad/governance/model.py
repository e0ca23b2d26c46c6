"""The policy language: what a policy file may say, and what an action looks like.

Policy files are TOML validated by these pydantic models: frozen, strict (a string is
never taken for a number) and closed (an unknown key is an error, never silently
ignored). ``policies/schema.json`` is generated from :class:`PolicyFile`; a test fails
when the two drift apart (``hexad policy schema --write`` regenerates it).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

import pathspec
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION: Literal[1] = 1

Effect = Literal["allow", "require_approval", "escalate", "deny"]
RuleEffect = Literal["require_approval", "escalate", "deny"]
EFFECT_RANK: dict[str, int] = {"allow": 0, "require_approval": 1, "escalate": 2, "deny": 3}

ActionKind = Literal[
    "read",  # read a file into a model's context
    "plan",  # make a plan for a task
    "generate",  # run a model
    "propose",  # compute a proposal (shown to the user, not yet applied)
    "edit",  # change existing files in the workspace
    "create",  # add a file
    "delete",  # remove a file
    "rename",  # move a file
    "verify",  # run checks and tests
]
ACTION_KINDS: tuple[str, ...] = get_args(ActionKind)
MODIFYING_KINDS = frozenset({"edit", "create", "delete", "rename"})

BudgetName = Literal[
    "tokens_per_task",
    "tokens_per_day",
    "seconds_per_task",
    "proposals_per_hour",
    "files_per_edit",
    "lines_per_edit",
    "seconds_per_verification",
    "replans_per_plan",
]
BUDGET_NAMES: tuple[str, ...] = get_args(BudgetName)


def _check_glob(value: str) -> str:
    """A gitignore-style pattern, relative to the workspace root."""
    if not value.strip():
        raise ValueError("a path glob cannot be empty")
    if "\x00" in value:
        raise ValueError("a path glob cannot contain a NUL character")
    if value.startswith("!"):
        raise ValueError("negated globs ('!…') are not supported; narrow the rule instead")
    if value.startswith("#"):
        raise ValueError("a glob starting with '#' is a comment in gitignore syntax")
    try:
        spec = pathspec.GitIgnoreSpec.from_lines([value])
    except Exception as exc:  # pathspec raises its own error types for malformed patterns
        raise ValueError(f"invalid glob {value!r}: {exc}") from None
    if not spec.patterns or spec.patterns[0].include is None:
        raise ValueError(f"glob {value!r} matches nothing")
    return value


def _check_pattern(value: str) -> str:
    if not value or "\x00" in value:
        raise ValueError("a pattern cannot be empty or contain a NUL character")
    return value


Glob = Annotated[str, AfterValidator(_check_glob)]
Pattern = Annotated[str, AfterValidator(_check_pattern)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
EngineName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")]
LAYERS = ("builtin", "user", "workspace")
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, allow_inf_nan=False, use_attribute_docstrings=True
    )


class Budgets(_Model):
    """Soft budgets: any later layer may change them, within the hard ``[limits]``."""

    tokens_per_task: int | None = Field(default=None, ge=0)
    """Model tokens one task may spend (prompt and completion)."""
    tokens_per_day: int | None = Field(default=None, ge=0)
    """Model tokens spent in any 24 hours, all tasks together."""
    seconds_per_task: int | None = Field(default=None, ge=0)
    """Wall-clock seconds one task may take, verification included."""
    proposals_per_hour: int | None = Field(default=None, ge=0)
    """Proposals computed in any 60 minutes."""
    files_per_edit: int | None = Field(default=None, ge=0)
    """Files one edit may change."""
    lines_per_edit: int | None = Field(default=None, ge=0)
    """Lines one edit may change (added plus removed)."""
    seconds_per_verification: int | None = Field(default=None, ge=0)
    """Test-run time one verification may take; callers use it as their timeout."""
    replans_per_plan: int | None = Field(default=None, ge=0)
    """Times a running plan may be replanned after a step fails (0: a failed step ends it)."""


class Limits(Budgets):
    """Hard limits. Across layers the lowest wins: a later file can tighten, never loosen."""

    min_proceed_at: Probability | None = None
    """The confidence below which no edit may proceed without review, whatever the
    escalation economics say."""


class Protected(_Model):
    """Paths no action may create, edit, delete or rename. Layers add to this list; no
    layer can remove what an earlier one protected."""

    paths: list[Glob] = Field(default_factory=list)
    """gitignore-style globs relative to the workspace root (``*.pem``, ``.git/``)."""


class When(_Model):
    """What a rule matches. Every condition given must hold; a list matches when any of
    its entries does. A rule without conditions matches every action."""

    kinds: list[ActionKind] | None = None
    engines: list[Pattern] | None = None
    """fnmatch patterns over the engine's name (``model*``, ``remote:*``)."""
    tasks: list[Pattern] | None = None
    """fnmatch patterns over the task kind (``rename``, ``implement``)."""
    paths: list[Glob] | None = None
    """gitignore-style globs; any path of the action may match."""
    symbols: list[Pattern] | None = None
    """fnmatch patterns over qualified symbol names, matched ignoring case."""
    files_at_least: int | None = Field(default=None, ge=1)
    lines_at_least: int | None = Field(default=None, ge=1)
    public_api_changed: bool | None = None
    tests_touched: bool | None = None
    confidence_below: Probability | None = None
    """Matches actions that carry a confidence lower than this."""


class Rule(_Model):
    id: Name
    """Unique within its layer; the engine names the rule ``<layer>:<id>``."""
    effect: RuleEffect
    why: str = Field(min_length=1)
    """One sentence shown whenever the rule matches."""
    hard: bool = False
    """A hard rule cannot be disabled by a later layer (deny rules never can)."""
    when: When = Field(default_factory=When)


class Route(_Model):
    engine: EngineName
    """The engine that serves the task (``structural``, ``model``)."""
    model: str | None = None
    """The model, for model-backed engines (a name from settings)."""
    fallbacks: list[EngineName] = Field(default_factory=list)
    """Engines tried in order when the first cannot serve the task."""


class Routing(_Model):
    default: Route | None = None
    tasks: dict[Name, Route] = Field(default_factory=dict)
    """Task kind to route; a later layer replaces a task's route as a whole."""


class Escalation(_Model):
    """Economics behind proceed / review / escalate, in minutes of a person's time. With
    confidence p that an edit is right: proceeding costs (1-p)·wrong_edit, a review costs
    review + (1-p)·escalation, escalating costs escalation; the cheapest wins. Explicit
    thresholds override the derived ones."""

    cost_wrong_edit: float | None = Field(default=None, gt=0)
    """What a wrong edit that lands costs to find and undo."""
    cost_review: float | None = Field(default=None, gt=0)
    """What one review by a person costs."""
    cost_escalation: float | None = Field(default=None, gt=0)
    """What handing the task up costs (a stronger engine, or a person doing it)."""
    proceed_at: Probability | None = None
    """Proceed without review at or above this confidence."""
    escalate_below: Probability | None = None
    """Escalate below this confidence; review in between."""

    @model_validator(mode="after")
    def _ordered(self) -> Escalation:
        if (
            self.proceed_at is not None
            and self.escalate_below is not None
            and self.escalate_below > self.proceed_at
        ):
            raise ValueError("escalate_below must not be above proceed_at")
        return self


class PolicyFile(_Model):
    """One policy file. Built-in files ship in ``policies/``; a user's global file and a
    workspace's ``.hexad/policies/*.toml`` layer on top, in that order."""

    model_config = ConfigDict(title="Hexad policy file")

    version: Literal[1] = SCHEMA_VERSION
    description: str = ""
    budgets: Budgets = Field(default_factory=Budgets)
    limits: Limits = Field(default_factory=Limits)
    protected: Protected = Field(default_factory=Protected)
    rules: list[Rule] = Field(default_factory=list)
    disable: list[
        Annotated[str, Field(pattern=r"^(builtin|user|workspace):[a-z0-9][a-z0-9_.-]{0,63}$")]
    ] = Field(default_factory=list)
    """Rules of earlier layers to switch off, as ``<layer>:<id>``. Hard rules and deny
    rules cannot be disabled."""
    routing: Routing = Field(default_factory=Routing)
    escalation: Escalation = Field(default_factory=Escalation)


class Action(BaseModel):
    """What a layer is about to do, as governance sees it. Paths are relative to the
    workspace root (or absolute); counts the caller does not know stay at their defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: ActionKind
    engine: str | None = None
    task: str | None = None
    """The task kind (``rename``, ``implement``): picks the route."""
    task_id: str | None = None
    """Per-task budgets are charged to this id."""
    paths: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    files_touched: int | None = Field(default=None, ge=0)
    """Defaults to the number of distinct paths."""
    lines_changed: int = Field(default=0, ge=0)
    public_api_changed: bool = False
    tests_touched: bool = False
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    tokens: int = Field(default=0, ge=0)
    """Model tokens the action will spend."""
    seconds: float = Field(default=0.0, ge=0.0)
    """Wall seconds the action will take (for ``verify``: the test run's time)."""
    model: str | None = None
    """The model a ``generate`` action runs (a name from settings)."""
    prompt: str | None = None
    """The prompt template of a ``generate`` action, ``name@version#hash``: the ledger
    records which prompt every model call used."""

    @property
    def files(self) -> int:
        return self.files_touched if self.files_touched is not None else len(set(self.paths))


def policy_schema() -> dict[str, Any]:
    schema = PolicyFile.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }


def policy_schema_text() -> str:
    """The JSON Schema exactly as ``policies/schema.json`` holds it."""
    return json.dumps(policy_schema(), indent=2, ensure_ascii=False) + "\n"


def field_names() -> frozenset[str]:
    """Every key a policy file may use anywhere (for 'did you mean' suggestions)."""
    names: set[str] = set()
    for model in (PolicyFile, Budgets, Limits, Protected, When, Rule, Route, Routing, Escalation):
        names.update(model.model_fields)
    return frozenset(names)
