"""The policy in force: policy files merged in layer order, with where each value came from.

Precedence, from the weakest layer to the strongest: the built-in files, then the user's
global file, then the workspace's files (each layer's files in name order). What a later
file may do to what came before:

- ``rules`` and ``protected`` paths add up: nothing a file says removes a deny rule or a
  protected path, so the effect of deny never depends on the order of the files;
- ``disable`` switches off an earlier rule that requires approval or escalates, unless it
  is ``hard``; disabling a deny rule or a hard rule is an error;
- ``limits`` only tighten: across layers the lowest value is in force; a higher one is
  ignored with a warning;
- ``budgets`` take the latest layer's value, but a budget above the hard limit in force is
  an error;
- ``routing`` takes the latest route per task; ``escalation`` the latest value per field,
  with the proceed threshold never below ``limits.min_proceed_at``.

A file with an error is left out whole, so a policy never takes effect half-read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from hexad.governance.model import BUDGET_NAMES, PolicyFile, Route, Rule
from hexad.governance.source import Issue, Key, SourceMap, format_field

Choice = Literal["proceed", "review", "escalate"]

DEFAULT_COST_WRONG_EDIT = 60.0
DEFAULT_COST_REVIEW = 3.0
DEFAULT_COST_ESCALATION = 15.0


@dataclass(frozen=True, slots=True)
class PolicySource:
    """One parsed policy file: its model, where its keys are, and which layer it is."""

    file: str  # absolute path
    label: str  # how messages name it (policies/default.toml, .hexad/policies/ci.toml)
    layer: str  # builtin | user | workspace
    text: str
    model: PolicyFile
    map: SourceMap

    def origin(self, loc: Key) -> Origin:
        return Origin(self.layer, self.label, self.map.line_of(loc))

    def issue(
        self, loc: Key, message: str, *, severity: Literal["error", "warning"] = "error"
    ) -> Issue:
        span, _ = self.map.locate(loc)
        return Issue(self.file, span, message, format_field(loc), severity)


@dataclass(frozen=True, slots=True)
class Origin:
    layer: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class BudgetSetting:
    """A budget in force: the soft value, the hard limit, and the smaller of the two."""

    name: str
    soft: int | None = None
    soft_origin: Origin | None = None
    hard: int | None = None
    hard_origin: Origin | None = None

    @property
    def value(self) -> int | None:
        if self.soft is None:
            return self.hard
        if self.hard is None:
            return self.soft
        return min(self.soft, self.hard)

    @property
    def origin(self) -> Origin | None:
        if self.soft is not None and (self.hard is None or self.soft <= self.hard):
            return self.soft_origin
        return self.hard_origin


@dataclass(frozen=True, slots=True)
class ActiveRule:
    name: str  # <layer>:<id>
    rule: Rule
    origin: Origin


@dataclass(frozen=True, slots=True)
class ProtectedGlob:
    glob: str
    origin: Origin


@dataclass(frozen=True, slots=True)
class ActiveRoute:
    task: str | None  # None: the default route
    route: Route
    origin: Origin


@dataclass(frozen=True, slots=True)
class EscalationSetting:
    """Thresholds the trust layer uses to choose proceed / review / escalate."""

    cost_wrong_edit: float = DEFAULT_COST_WRONG_EDIT
    cost_review: float = DEFAULT_COST_REVIEW
    cost_escalation: float = DEFAULT_COST_ESCALATION
    explicit_proceed_at: float | None = None
    explicit_escalate_below: float | None = None
    min_proceed_at: float | None = None
    origin: Origin | None = None  # the last file that set any of these

    @property
    def derived(self) -> tuple[float, float]:
        """(proceed_at, escalate_below) from the costs alone.

        Proceed beats review when (1-p)·W ≤ R + (1-p)·E, i.e. p ≥ 1 - R/(W-E); proceed
        beats escalate when p ≥ 1 - E/W; escalate beats review when p < R/E.
        """
        wrong, review, escalation = self.cost_wrong_edit, self.cost_review, self.cost_escalation
        over_review = 1 - review / (wrong - escalation) if wrong > escalation else 0.0
        over_escalation = 1 - escalation / wrong
        proceed_at = max(over_review, over_escalation)
        escalate_below = min(review / escalation, over_escalation)
        if escalate_below > proceed_at:  # a review never pays: one cut-off
            proceed_at = escalate_below = over_escalation
        return _clamp(proceed_at), _clamp(escalate_below)

    @property
    def proceed_at(self) -> float:
        value = self.explicit_proceed_at
        if value is None:
            value = self.derived[0]
        if self.min_proceed_at is not None:
            value = max(value, self.min_proceed_at)
        return value

    @property
    def escalate_below(self) -> float:
        value = self.explicit_escalate_below
        if value is None:
            value = self.derived[1]
        return min(value, self.proceed_at)

    def choose(self, confidence: float) -> Choice:
        if confidence >= self.proceed_at:
            return "proceed"
        if confidence < self.escalate_below:
            return "escalate"
        return "review"


def _clamp(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)


@dataclass(frozen=True)
class Policy:
    """The merged policy the engine decides with."""

    budgets: dict[str, BudgetSetting] = field(default_factory=dict)
    rules: tuple[ActiveRule, ...] = ()
    protected: tuple[ProtectedGlob, ...] = ()
    default_route: ActiveRoute | None = None
    routes: dict[str, ActiveRoute] = field(default_factory=dict)
    escalation: EscalationSetting = EscalationSetting()
    disabled: tuple[tuple[str, Origin], ...] = ()
    files: tuple[str, ...] = ()  # labels of the files in force, weakest first
    digest: str = ""

    def budget(self, name: str) -> BudgetSetting:
        return self.budgets.get(name) or BudgetSetting(name)

    def route(self, task: str | None) -> ActiveRoute | None:
        if task is not None and task in self.routes:
            return self.routes[task]
        return self.default_route


class Merger:
    """Folds policy files into one :class:`Policy`, strongest last.

    :meth:`add` checks a file against everything before it and applies it only when it has
    no error, so a rejected file changes nothing.
    """

    def __init__(self) -> None:
        self._budgets = {name: BudgetSetting(name) for name in BUDGET_NAMES}
        self._rules: dict[str, ActiveRule] = {}
        self._protected: list[ProtectedGlob] = []
        self._default_route: ActiveRoute | None = None
        self._routes: dict[str, ActiveRoute] = {}
        self._escalation = EscalationSetting()
        self._min_proceed_origin: Origin | None = None
        self._disabled: list[tuple[str, Origin]] = []
        self._sources: list[PolicySource] = []

    def check(self, src: PolicySource) -> list[Issue]:
        """What is wrong with ``src`` on top of the files added so far."""
        issues: list[Issue] = []
        model = src.model
        seen: set[str] = set()
        for i, rule in enumerate(model.rules):
            name = f"{src.layer}:{rule.id}"
            if name in seen or name in self._rules:
                where = f" (first at {self._rules[name].origin})" if name in self._rules else ""
                issues.append(src.issue(("rules", i, "id"), f"duplicate rule {name}{where}"))
            seen.add(name)
        for i, target in enumerate(model.disable):
            active = self._rules.get(target)
            loc = ("disable", i)
            if active is None:
                issues.append(
                    src.issue(
                        loc, f"no earlier rule {target}; nothing disabled", severity="warning"
                    )
                )
            elif active.rule.effect == "deny":
                issues.append(
                    src.issue(
                        loc,
                        f"{target} is a deny rule ({active.origin}); deny rules cannot be disabled",
                    )
                )
            elif active.rule.hard:
                issues.append(
                    src.issue(
                        loc, f"{target} is a hard rule ({active.origin}) and cannot be disabled"
                    )
                )
        limits = model.limits
        for name in BUDGET_NAMES:
            current = self._budgets[name]
            new_hard = getattr(limits, name)
            if new_hard is not None and current.hard is not None and new_hard > current.hard:
                issues.append(
                    src.issue(
                        ("limits", name),
                        f"{new_hard} is above the limit {current.hard} already in force "
                        f"({current.hard_origin}); the lower one applies",
                        severity="warning",
                    )
                )
            hard, hard_origin = current.hard, current.hard_origin
            if new_hard is not None and (hard is None or new_hard < hard):
                hard, hard_origin = new_hard, src.origin(("limits", name))
            soft = getattr(model.budgets, name)
            if soft is not None and hard is not None and soft > hard:
                issues.append(
                    src.issue(
                        ("budgets", name),
                        f"{soft} is above the hard limit {hard} ({hard_origin}); "
                        "a policy file can lower a hard limit, never raise it",
                    )
                )
        issues += self._check_escalation(src)
        return issues

    def _check_escalation(self, src: PolicySource) -> list[Issue]:
        issues: list[Issue] = []
        esc, limits = src.model.escalation, src.model.limits
        floor = self._escalation.min_proceed_at
        floor_origin = self._min_proceed_origin
        if limits.min_proceed_at is not None and (floor is None or limits.min_proceed_at > floor):
            floor, floor_origin = limits.min_proceed_at, src.origin(("limits", "min_proceed_at"))
        if (
            limits.min_proceed_at is not None
            and floor is not None
            and limits.min_proceed_at < floor
        ):
            issues.append(
                src.issue(
                    ("limits", "min_proceed_at"),
                    f"{limits.min_proceed_at} is below the limit {floor} already in force "
                    f"({floor_origin}); the higher one applies",
                    severity="warning",
                )
            )
        if esc.proceed_at is not None and floor is not None and esc.proceed_at < floor:
            issues.append(
                src.issue(
                    ("escalation", "proceed_at"),
                    f"{esc.proceed_at} is below the hard limit min_proceed_at = {floor} "
                    f"({floor_origin})",
                )
            )
        proceed = (
            esc.proceed_at if esc.proceed_at is not None else self._escalation.explicit_proceed_at
        )
        below = (
            esc.escalate_below
            if esc.escalate_below is not None
            else self._escalation.explicit_escalate_below
        )
        if proceed is not None and below is not None and below > proceed:
            loc: Key = (
                ("escalation", "escalate_below")
                if esc.escalate_below is not None
                else ("escalation", "proceed_at")
            )
            issues.append(
                src.issue(loc, f"escalate_below ({below}) would be above proceed_at ({proceed})")
            )
        return issues

    def add(self, src: PolicySource) -> list[Issue]:
        """Check ``src`` and, when it has no error, apply it. Returns its issues."""
        issues = self.check(src)
        if any(i.severity == "error" for i in issues):
            return issues
        self._apply(src)
        return issues

    def _apply(self, src: PolicySource) -> None:
        model = src.model
        for i, rule in enumerate(model.rules):
            name = f"{src.layer}:{rule.id}"
            self._rules[name] = ActiveRule(name, rule, src.origin(("rules", i)))
        for i, target in enumerate(model.disable):
            if self._rules.pop(target, None) is not None:
                self._disabled.append((target, src.origin(("disable", i))))
        for i, glob in enumerate(model.protected.paths):
            self._protected.append(ProtectedGlob(glob, src.origin(("protected", "paths", i))))
        for name in BUDGET_NAMES:
            current = self._budgets[name]
            hard, hard_origin = current.hard, current.hard_origin
            new_hard = getattr(model.limits, name)
            if new_hard is not None and (hard is None or new_hard < hard):
                hard, hard_origin = new_hard, src.origin(("limits", name))
            soft, soft_origin = current.soft, current.soft_origin
            if getattr(model.budgets, name) is not None:
                soft, soft_origin = getattr(model.budgets, name), src.origin(("budgets", name))
            self._budgets[name] = BudgetSetting(name, soft, soft_origin, hard, hard_origin)
        routing = model.routing
        if routing.default is not None:
            self._default_route = ActiveRoute(
                None, routing.default, src.origin(("routing", "default"))
            )
        for task, route in routing.tasks.items():
            self._routes[task] = ActiveRoute(task, route, src.origin(("routing", "tasks", task)))
        self._apply_escalation(src)
        self._sources.append(src)

    def _apply_escalation(self, src: PolicySource) -> None:
        esc, current = src.model.escalation, self._escalation
        floor = current.min_proceed_at
        new_floor = src.model.limits.min_proceed_at
        if new_floor is not None and (floor is None or new_floor > floor):
            floor = new_floor
            self._min_proceed_origin = src.origin(("limits", "min_proceed_at"))
        self._escalation = EscalationSetting(
            cost_wrong_edit=esc.cost_wrong_edit or current.cost_wrong_edit,
            cost_review=esc.cost_review or current.cost_review,
            cost_escalation=esc.cost_escalation or current.cost_escalation,
            explicit_proceed_at=(
                esc.proceed_at if esc.proceed_at is not None else current.explicit_proceed_at
            ),
            explicit_escalate_below=(
                esc.escalate_below
                if esc.escalate_below is not None
                else current.explicit_escalate_below
            ),
            min_proceed_at=floor,
            origin=src.origin(("escalation",)) if esc.model_fields_set else current.origin,
        )

    def policy(self) -> Policy:
        digest = hashlib.sha256()
        for src in self._sources:
            digest.update(f"{src.layer}\0{src.label}\0{src.text}\0".encode())
        return Policy(
            budgets=dict(self._budgets),
            rules=tuple(self._rules.values()),
            protected=tuple(self._protected),
            default_route=self._default_route,
            routes=dict(self._routes),
            escalation=self._escalation,
            disabled=tuple(self._disabled),
            files=tuple(src.label for src in self._sources),
            digest=digest.hexdigest()[:16],
        )
