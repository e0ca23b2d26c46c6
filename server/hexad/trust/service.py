"""Trust for one workspace: assess a proposal, refit on outcomes, report calibration.

The decision follows the expected-cost rule governance states (``[escalation]`` in the
policy): with confidence p, proceeding costs (1-p)·W (a wrong edit that lands), a review
costs R + (1-p)·E, escalating costs E; the cheapest wins, which gives two thresholds,
``proceed_at`` and ``escalate_below``. Whatever the thresholds say, a confidence below
:data:`NEVER_PROCEED_BELOW` never proceeds on its own.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hexad.core.db import Connection, transaction
from hexad.trust.evidence import Evidence
from hexad.trust.model import TrustModel, fit

log = logging.getLogger(__name__)

Choice = Literal["proceed", "review", "escalate"]
NEVER_PROCEED_BELOW = 0.5
REFIT_EVERY = 5  # new outcomes since the last fit before refitting
REFIT_SHARE = 0.1  # ... or this share of the outcomes the model was fitted on


@dataclass(frozen=True, slots=True)
class Point:
    """One piece of evidence in words, with its push on the log-odds."""

    text: str
    weight: float

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "weight": round(self.weight, 3)}


@dataclass(frozen=True, slots=True)
class Assessment:
    confidence: float
    decision: Choice
    points: tuple[Point, ...]  # strongest first
    model: str  # cold-start | fitted@<outcomes>
    thresholds: tuple[float, float]  # (proceed_at, escalate_below)

    def strongest(self, n: int = 3) -> tuple[Point, ...]:
        return self.points[:n]

    def to_json(self) -> dict[str, Any]:
        return {
            "confidence": round(self.confidence, 4),
            "decision": self.decision,
            "evidence": [p.to_json() for p in self.points],
            "model": self.model,
            "proceedAt": self.thresholds[0],
            "escalateBelow": self.thresholds[1],
        }


def decide(confidence: float, proceed_at: float, escalate_below: float) -> Choice:
    """The expected-cost choice, with the floor no policy can lower."""
    if confidence >= max(proceed_at, NEVER_PROCEED_BELOW):
        return "proceed"
    if confidence < min(escalate_below, proceed_at):
        return "escalate"
    return "review"


class Trust:
    """The workspace's confidence model, persisted in its database."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._model: TrustModel | None = None

    # -- the model -----------------------------------------------------------------------

    @property
    def model(self) -> TrustModel:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> TrustModel:
        row = self.conn.execute(
            "SELECT model_json FROM trust_models ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return TrustModel.cold_start()
        try:
            return TrustModel.from_json(json.loads(row[0]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("the stored trust model is unreadable (%s); using the cold start", exc)
            return TrustModel.cold_start()

    def refit(self, examples: Sequence[tuple[Evidence, bool]]) -> TrustModel:
        """Fit on every outcome so far and persist the model."""
        model = fit(examples)
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO trust_models(created, outcomes, model_json) VALUES (?, ?, ?)",
                (time.time(), model.outcomes, json.dumps(model.to_json())),
            )
        with self._lock:
            self._model = model
        log.info("trust model refitted on %d outcomes (%s)", model.outcomes, model.version)
        return model

    def due(self, outcomes: int) -> bool:
        """Whether ``outcomes`` (the count available now) warrant a refit."""
        fitted = self.model.outcomes
        new = outcomes - fitted
        return new >= REFIT_EVERY or (fitted > 0 and new >= fitted * REFIT_SHARE and new > 0)

    # -- assessing -----------------------------------------------------------------------

    def assess(self, ev: Evidence, *, proceed_at: float, escalate_below: float) -> Assessment:
        model = self.model
        confidence = model.probability(ev)
        label = "cold-start" if model.version == "cold-start" else f"fitted@{model.outcomes}"
        return Assessment(
            confidence,
            decide(confidence, proceed_at, escalate_below),
            tuple(describe(ev, dict(model.contributions(ev)))),
            label,
            (proceed_at, escalate_below),
        )


def describe(ev: Evidence, pushes: dict[str, float]) -> list[Point]:
    """The evidence in words, each with the log-odds push of the features behind it,
    strongest first (pieces that did not move the model still appear, weight 0)."""
    points: list[Point] = []
    failed = ev.failed_checks()
    marks = " ".join(
        f"{name} {'✗' if name in failed else '✓' if ev.checks.get(name) == 'passed' else '–'}"
        for name in ("syntax", "symbols", "compile", "names")
        if name in ev.checks
    )
    if marks:
        points.append(Point(marks, pushes.get("check_failed", 0.0)))
    if ev.tests_run:
        text = f"{ev.tests_passed}/{ev.tests_run} affected tests pass"
        if ev.tests_failed:
            text += f", {ev.tests_failed} broken by the change"
        weight = pushes.get("tests_failed", 0.0) + pushes.get("tests_passed", 0.0)
        points.append(Point(text, weight))
    else:
        points.append(Point("no test reaches the change", pushes.get("no_tests", 0.0)))
    if ev.test_reach is not None and ev.tests_run:
        points.append(
            Point(f"tests reach {ev.test_reach:.0%} of the changed code", pushes.get("reach", 0))
        )
    scope = f"{ev.files} file{'s' if ev.files != 1 else ''}, {ev.lines} lines changed"
    if ev.references:
        scope += f", {ev.references} references"
    points.append(
        Point(
            scope,
            pushes.get("log_files", 0.0)
            + pushes.get("log_lines", 0.0)
            + pushes.get("log_references", 0.0),
        )
    )
    if ev.public_api:
        points.append(Point("changes the public API", pushes.get("public_api", 0.0)))
    if ev.is_model:
        points.append(Point(f"model-written ({ev.kind})", pushes.get("model", 0.0)))
        if ev.mean_logprob is not None:
            points.append(
                Point(
                    f"model's mean token log-prob {ev.mean_logprob:.2f}",
                    pushes.get("model_logprob", 0.0),
                )
            )
        if ev.agreement is not None:
            points.append(
                Point(f"samples agree {ev.agreement:.0%}", pushes.get("model_agreement", 0.0))
            )
    if ev.similar:
        points.append(
            Point(
                f"similar edits accepted {ev.similar_accepted}/{ev.similar}",
                pushes.get("history", 0.0),
            )
        )
    if ev.policy_flags:
        points.append(
            Point(f"{ev.policy_flags} policy rule(s) ask for review", pushes.get("policy_flags", 0))
        )
    return sorted(points, key=lambda p: -abs(p.weight))
