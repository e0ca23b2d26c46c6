"""The decision engine: may this action go ahead?

``Engine.decide(action)`` answers with a :class:`Decision`: the effect (allow,
require_approval, escalate or deny — the strictest one any reason asks for), every reason
with the rule that gave it and why it matched, and the state of each budget. Reasons come
from, in this order:

1. ``hexad:outside-workspace`` (not a policy rule; nothing can switch it off): a path that
   resolves outside the workspace — through ``..``, an absolute path or a symbolic link —
   or that is not a valid path, is denied for every kind of action;
2. ``<layer>:protected`` — a created, edited, deleted or renamed path matches a protected
   glob: deny;
3. the policy's rules, named ``<layer>:<id>``;
4. ``escalation:review`` / ``escalation:escalate`` — the action carries a confidence below
   the escalation thresholds;
5. ``budget:<name>`` — the action would exceed a budget: deny.

``decide`` records the decision in the ledger and, when the effect is allow, charges the
action's tokens, seconds and proposal atomically; if a concurrent charge got there first
the answer becomes deny. ``explain`` is the same evaluation as a dry run.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from hexad.governance.ledger import (
    BudgetExceeded,
    Charge,
    Check,
    DecisionRecord,
    Ledger,
    format_amount,
)
from hexad.governance.model import EFFECT_RANK, MODIFYING_KINDS, Action, Effect, When
from hexad.governance.paths import PathResolver, ResolvedPath
from hexad.governance.policy import ActiveRoute, BudgetSetting, Choice, Origin, Policy

OUTSIDE_RULE = "hexad:outside-workspace"
APPROVED_RULE = "human:approved"
DAY = 86_400.0
HOUR = 3_600.0


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    effect: Effect
    why: str
    source: str | None = None  # file:line of the rule or setting

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "effect": self.effect, "why": self.why, "source": self.source}


@dataclass(frozen=True, slots=True)
class BudgetState:
    name: str
    scope: str  # task | day | hour | edit | verification
    limit: float | None  # None: no budget set
    spent: float  # before this action
    requested: float  # what this action asks for
    source: str | None = None

    @property
    def remaining(self) -> float | None:
        return None if self.limit is None else max(0.0, self.limit - self.spent)

    @property
    def exceeded(self) -> bool:
        return (
            self.limit is not None
            and self.requested > 0
            and self.spent + self.requested > self.limit
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "limit": self.limit,
            "spent": self.spent,
            "requested": self.requested,
            "remaining": self.remaining,
            "exceeded": self.exceeded,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    reasons: tuple[Reason, ...]
    budget_state: tuple[BudgetState, ...]
    action: Action
    route: ActiveRoute | None = None
    escalation: Choice | None = None  # what the confidence alone says, when given
    policy: str = ""  # digest of the policy files in force
    decision_id: int | None = None
    charged: bool = False

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.rule for r in self.reasons))

    def budget(self, name: str) -> BudgetState | None:
        return next((b for b in self.budget_state if b.name == name), None)

    def to_json(self) -> dict[str, Any]:
        route = None
        if self.route is not None:
            route = {
                "task": self.route.task,
                **self.route.route.model_dump(mode="json"),
                "source": str(self.route.origin),
            }
        return {
            "effect": self.effect,
            "rules": list(self.rules),
            "reasons": [r.to_json() for r in self.reasons],
            "budgets": [b.to_json() for b in self.budget_state],
            "route": route,
            "escalation": self.escalation,
            "action": self.action.model_dump(mode="json", exclude_defaults=True),
            "policy": self.policy,
            "decision_id": self.decision_id,
            "charged": self.charged,
        }


class PolicyHolder(Protocol):
    """Anything that holds the policy in force (a ``PolicyStore``)."""

    @property
    def policy(self) -> Policy: ...


class Engine:
    """Decides actions for one workspace under a policy, recording them in a ledger."""

    def __init__(
        self,
        policy: Policy | PolicyHolder,
        workspace: Path,
        *,
        ledger: Ledger | None = None,
        clock: Callable[[], float] = time.time,
        case_insensitive: bool | None = None,
    ) -> None:
        self._policy = policy
        self.workspace = workspace
        self.ledger = ledger
        self.clock = clock
        self.paths = PathResolver(workspace, case_insensitive=case_insensitive)

    @property
    def policy(self) -> Policy:
        held = self._policy
        return held if isinstance(held, Policy) else held.policy

    # the public questions -------------------------------------------------------------
    def explain(self, action: Action) -> Decision:
        """What ``decide`` would answer now, without recording or charging anything."""
        return self._evaluate(action, self.clock())

    def decide(self, action: Action) -> Decision:
        """Decide, record the decision, and charge the action's budgets when allowed."""
        now = self.clock()
        decision = self._evaluate(action, now)
        if self.ledger is None:
            return decision
        charges = self._charges(action) if decision.effect == "allow" else []
        return self._commit(decision, charges, now)

    def approve(self, decision: Decision) -> Decision:
        """A person approved ``decision``: decide again, and allow unless something now
        denies it (approval never overrides deny); charges like ``decide``."""
        if decision.effect == "allow":
            return decision  # nothing to approve, and charged already
        now = self.clock()
        fresh = self._evaluate(decision.action, now)
        if fresh.effect == "deny":
            return self._commit(fresh, [], now) if self.ledger is not None else fresh
        approved = replace(
            fresh,
            effect="allow",
            reasons=(*fresh.reasons, Reason(APPROVED_RULE, "allow", "a person approved it")),
        )
        if self.ledger is None:
            return approved
        return self._commit(approved, self._charges(decision.action), now)

    def report(
        self, decision: Decision, *, tokens: int | None = None, seconds: float | None = None
    ) -> None:
        """Record what the action really spent; the difference from what was reserved is
        appended as an adjustment (a fact is recorded even past a budget)."""
        if self.ledger is None:
            return
        for metric, actual in (("tokens", tokens), ("seconds", seconds)):
            if actual is None:
                continue
            reserved = (
                self.ledger.reserved(decision.decision_id, metric)
                if decision.decision_id is not None
                else 0.0
            )
            if actual != reserved:
                self.ledger.record_spend(
                    metric,
                    actual - reserved,
                    task_id=decision.action.task_id,
                    decision_id=decision.decision_id,
                    source="adjust" if decision.decision_id is not None else "actual",
                    note=f"reserved {format_amount(reserved)}, spent {format_amount(actual)}",
                )

    def route(self, task: str | None) -> ActiveRoute | None:
        return self.policy.route(task)

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()

    # evaluation -----------------------------------------------------------------------
    def _evaluate(self, action: Action, now: float) -> Decision:
        policy = self.policy
        reasons: list[Reason] = []
        resolved = [self.paths.resolve(p) for p in action.paths]
        for path in resolved:
            if path.problem is not None:
                reasons.append(Reason(OUTSIDE_RULE, "deny", path.problem))
        inside = [p for p in resolved if p.inside]
        if action.kind in MODIFYING_KINDS:
            for glob in policy.protected:
                for path in inside:
                    form = self.paths.matches(glob.glob, path)
                    if form is not None:
                        reasons.append(
                            Reason(
                                f"{glob.origin.layer}:protected",
                                "deny",
                                f"path {_quote(form)} matches protected {_quote(glob.glob)}",
                                str(glob.origin),
                            )
                        )
        for active in policy.rules:
            why = self._match(active.rule.when, action, inside)
            if why is not None:
                text = active.rule.why + (f" ({'; '.join(why)})" if why else "")
                reasons.append(Reason(active.name, active.rule.effect, text, str(active.origin)))
        choice: Choice | None = None
        if action.confidence is not None:
            esc = policy.escalation
            choice = esc.choose(action.confidence)
            if choice == "review":
                reasons.append(
                    Reason(
                        "escalation:review",
                        "require_approval",
                        f"confidence {action.confidence:g} is below proceed_at {esc.proceed_at:g}",
                        _where(esc.origin),
                    )
                )
            elif choice == "escalate":
                reasons.append(
                    Reason(
                        "escalation:escalate",
                        "escalate",
                        f"confidence {action.confidence:g} is below escalate_below "
                        f"{esc.escalate_below:g}",
                        _where(esc.origin),
                    )
                )
        budgets = self._budgets(action, now)
        for state in budgets:
            if state.exceeded:
                reasons.append(Reason(f"budget:{state.name}", "deny", _over(state), state.source))
        effect: Effect = "allow"
        for reason in reasons:
            if EFFECT_RANK[reason.effect] > EFFECT_RANK[effect]:
                effect = reason.effect
        reasons.sort(key=lambda r: -EFFECT_RANK[r.effect])
        return Decision(
            effect=effect,
            reasons=tuple(reasons),
            budget_state=budgets,
            action=action,
            route=policy.route(action.task),
            escalation=choice,
            policy=policy.digest,
        )

    def _match(self, when: When, action: Action, paths: list[ResolvedPath]) -> list[str] | None:
        """Why ``when`` matches ``action`` (one phrase per condition), or None."""
        why: list[str] = []
        if when.kinds is not None:
            if action.kind not in when.kinds:
                return None
            why.append(f"kind {action.kind}")
        if when.engines is not None:
            engine = action.engine
            hit = engine and next((p for p in when.engines if fnmatch.fnmatchcase(engine, p)), None)
            if not hit:
                return None
            why.append(f"engine {engine} matches {_quote(hit)}")
        if when.tasks is not None:
            task = action.task
            hit = task and next((p for p in when.tasks if fnmatch.fnmatchcase(task, p)), None)
            if not hit:
                return None
            why.append(f"task {task} matches {_quote(hit)}")
        if when.paths is not None:
            found = self._first_path(when.paths, paths)
            if found is None:
                return None
            why.append(f"path {_quote(found[0])} matches {_quote(found[1])}")
        if when.symbols is not None:
            found_symbol = _first_symbol(when.symbols, action.symbols)
            if found_symbol is None:
                return None
            why.append(f"symbol {found_symbol[0]} matches {_quote(found_symbol[1])}")
        if when.files_at_least is not None:
            if action.files < when.files_at_least:
                return None
            why.append(f"{action.files} files ≥ {when.files_at_least}")
        if when.lines_at_least is not None:
            if action.lines_changed < when.lines_at_least:
                return None
            why.append(f"{action.lines_changed} lines ≥ {when.lines_at_least}")
        if when.public_api_changed is not None:
            if action.public_api_changed != when.public_api_changed:
                return None
            why.append(
                "public API changed" if action.public_api_changed else "public API unchanged"
            )
        if when.tests_touched is not None:
            if action.tests_touched != when.tests_touched:
                return None
            why.append("tests touched" if action.tests_touched else "tests untouched")
        if when.confidence_below is not None:
            if action.confidence is None or action.confidence >= when.confidence_below:
                return None
            why.append(f"confidence {action.confidence:g} < {when.confidence_below:g}")
        return why

    def _first_path(self, globs: list[str], paths: list[ResolvedPath]) -> tuple[str, str] | None:
        for path in paths:
            for glob in globs:
                form = self.paths.matches(glob, path)
                if form is not None:
                    return form, glob
        return None

    def _budgets(self, action: Action, now: float) -> tuple[BudgetState, ...]:
        policy = self.policy
        task = action.task_id
        edit = action.kind in MODIFYING_KINDS or action.kind == "propose"
        proposal = 1.0 if action.kind == "propose" else 0.0
        verify_seconds = action.seconds if action.kind == "verify" else 0.0
        rows: list[tuple[str, str, float, float]] = [
            ("tokens_per_task", "task", self._spent("tokens", task=task), action.tokens),
            ("tokens_per_day", "day", self._spent("tokens", since=now - DAY), action.tokens),
            ("seconds_per_task", "task", self._spent("seconds", task=task), action.seconds),
            ("proposals_per_hour", "hour", self._spent("proposals", since=now - HOUR), proposal),
            ("files_per_edit", "edit", 0.0, float(action.files) if edit else 0.0),
            ("lines_per_edit", "edit", 0.0, float(action.lines_changed) if edit else 0.0),
            ("seconds_per_verification", "verification", 0.0, verify_seconds),
        ]
        states = []
        for name, scope, spent, requested in rows:
            setting: BudgetSetting = policy.budget(name)
            states.append(
                BudgetState(name, scope, setting.value, spent, requested, _where(setting.origin))
            )
        return tuple(states)

    def _spent(self, metric: str, *, task: str | None = None, since: float | None = None) -> float:
        if self.ledger is None:
            return 0.0
        if since is None and task is None:
            return 0.0  # a per-task budget without a task id: only this action counts
        return self.ledger.spent(metric, task_id=task, since=since)

    # charging -------------------------------------------------------------------------
    def _charges(self, action: Action) -> list[Charge]:
        policy = self.policy

        def check(name: str, *, task: bool = False, window: float | None = None) -> list[Check]:
            limit = policy.budget(name).value
            if limit is None or (task and action.task_id is None):
                return []
            return [Check(name, float(limit), action.task_id if task else None, window)]

        charges: list[Charge] = []
        if action.tokens:
            checks = check("tokens_per_task", task=True) + check("tokens_per_day", window=DAY)
            charges.append(Charge("tokens", float(action.tokens), tuple(checks)))
        if action.seconds:
            charges.append(
                Charge("seconds", action.seconds, tuple(check("seconds_per_task", task=True)))
            )
        if action.kind == "propose":
            charges.append(
                Charge("proposals", 1.0, tuple(check("proposals_per_hour", window=HOUR)))
            )
        if action.kind in MODIFYING_KINDS:
            charges.append(Charge("files", float(action.files)))
            if action.lines_changed:
                charges.append(Charge("lines", float(action.lines_changed)))
        return charges

    def _commit(self, decision: Decision, charges: list[Charge], now: float) -> Decision:
        assert self.ledger is not None
        try:
            decision_id = self.ledger.commit(_record(decision), charges, now=now)
        except BudgetExceeded as exc:
            # a concurrent charge took what was left: look again and deny
            fresh = self._evaluate(decision.action, now)
            if fresh.effect != "deny":
                reason = Reason(
                    f"budget:{exc.check.budget}",
                    "deny",
                    f"{format_amount(exc.spent)} spent + {format_amount(exc.amount)} requested"
                    f" > {format_amount(exc.check.limit)}",
                )
                fresh = replace(fresh, effect="deny", reasons=(reason, *fresh.reasons))
            decision_id = self.ledger.commit(_record(fresh), [], now=now)
            return replace(fresh, decision_id=decision_id)
        return replace(decision, decision_id=decision_id, charged=bool(charges))


def _record(decision: Decision) -> DecisionRecord:
    action = decision.action
    return DecisionRecord(
        task_id=action.task_id,
        kind=action.kind,
        effect=decision.effect,
        rules=decision.rules,
        action=action.model_dump(mode="json", exclude_defaults=True),
        reasons=[r.to_json() for r in decision.reasons],
        policy=decision.policy,
    )


def _first_symbol(patterns: list[str], symbols: tuple[str, ...]) -> tuple[str, str] | None:
    for symbol in symbols:
        folded = symbol.casefold()
        for pattern in patterns:
            if fnmatch.fnmatchcase(folded, pattern.casefold()):
                return symbol, pattern
    return None


def _where(origin: Origin | None) -> str | None:
    return str(origin) if origin is not None else None


def _quote(text: str) -> str:
    return "'" + text + "'"


def _over(state: BudgetState) -> str:
    unit = {"task": "per task", "day": "per day", "hour": "per hour"}.get(
        state.scope, f"per {state.scope}"
    )
    limit = format_amount(state.limit or 0)
    asked = f"{format_amount(state.requested)} requested > {limit} {unit}"
    return f"{format_amount(state.spent)} spent + {asked}" if state.spent else asked
