"""Confidence models: a documented cold start, then one fitted on this workspace.

The cold-start model is a logistic model with hand-set weights whose signs are the
obvious ones (a failed check or a broken test lowers confidence, passing tests and high
model log-probabilities raise it, a wider blast radius lowers it). The fitted model is
the same logistic form, fitted to this workspace's outcomes by maximum a posteriori with
a Gaussian prior centred on the cold-start weights: with few outcomes it stays near the
cold start, with many it follows the data. Once there are enough outcomes, an isotonic
map fitted on out-of-fold scores corrects what the logistic form cannot.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import isotonic_regression

from hexad.trust.evidence import FEATURES, Evidence, features

# Cold-start weights: intercept first, then one per FEATURES entry.
COLD_START: dict[str, float] = {
    "intercept": 2.0,
    "check_failed": -6.0,  # a failed parse/compile/names/symbols check: almost surely wrong
    "tests_failed": -4.0,  # a test the change breaks
    "tests_passed": 1.0,  # share of affected tests passing (when some ran)
    "no_tests": -0.7,  # nothing checked the behaviour
    "reach": 0.5,  # share of changed symbols some test reaches
    "model": -1.5,  # model-written code is less certain than a structural refactoring
    "model_logprob": 1.5,  # mean token log-probability (≤ 0)
    "model_agreement": 2.0,  # samples agreeing (agreement - 1, ≤ 0)
    "log_files": -0.3,
    "log_lines": -0.25,
    "log_references": -0.1,
    "public_api": -0.3,
    "history": 3.0,  # acceptance of similar past proposals (shrunk rate - 1/2)
    "policy_flags": -0.2,
}
PRIOR_PRECISION = 1.0  # how strongly fitted weights are held to the cold start
INTERCEPT_PRECISION = 0.1
MIN_OUTCOMES_TO_FIT = 8
MIN_OUTCOMES_FOR_ISOTONIC = 100


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return out


@dataclass(frozen=True)
class TrustModel:
    """A logistic model over :data:`FEATURES`, optionally followed by an isotonic map."""

    weights: tuple[float, ...]  # intercept, then FEATURES
    version: str = "cold-start"
    outcomes: int = 0
    created: float = 0.0
    isotonic: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # (x, y) knots
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def cold_start(cls) -> TrustModel:
        return cls(tuple(COLD_START[name] for name in ("intercept", *FEATURES)))

    def raw(self, vector: Sequence[float]) -> float:
        """The logistic probability before the isotonic map."""
        z = self.weights[0] + sum(w * x for w, x in zip(self.weights[1:], vector, strict=True))
        return float(_sigmoid(np.array([z]))[0])

    def probability(self, ev: Evidence) -> float:
        return self.calibrate(self.raw(features(ev)))

    def calibrate(self, raw: float) -> float:
        if self.isotonic is None:
            return raw
        xs, ys = self.isotonic
        value = float(np.interp(raw, xs, ys))
        # never claim certainty from a finite sample
        return min(0.995, max(0.005, value))

    def contributions(self, ev: Evidence) -> list[tuple[str, float]]:
        """Each feature's push on the log-odds (weight times value), largest first."""
        vector = features(ev)
        pairs = [
            (name, w * x) for name, w, x in zip(FEATURES, self.weights[1:], vector, strict=True)
        ]
        return sorted((p for p in pairs if p[1] != 0.0), key=lambda p: -abs(p[1]))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "outcomes": self.outcomes,
            "created": self.created,
            "weights": dict(zip(("intercept", *FEATURES), self.weights, strict=True)),
            "isotonic": [list(self.isotonic[0]), list(self.isotonic[1])] if self.isotonic else None,
            "metrics": self.metrics,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrustModel:
        stored = data.get("weights", {})
        weights = tuple(
            float(stored.get(name, COLD_START[name])) for name in ("intercept", *FEATURES)
        )
        iso = data.get("isotonic")
        return cls(
            weights,
            version=str(data.get("version", "fitted")),
            outcomes=int(data.get("outcomes", 0)),
            created=float(data.get("created", 0.0)),
            isotonic=(tuple(iso[0]), tuple(iso[1])) if iso else None,
            metrics=dict(data.get("metrics", {})),
        )


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    prior: np.ndarray,
    *,
    precision: float = PRIOR_PRECISION,
    intercept_precision: float = INTERCEPT_PRECISION,
    iterations: int = 50,
) -> np.ndarray:
    """MAP weights (intercept first) of a logistic model with a Gaussian prior around
    ``prior``, by Newton's method (the problem is strictly convex)."""
    design = np.hstack([np.ones((x.shape[0], 1)), x])
    lam = np.full(design.shape[1], precision)
    lam[0] = intercept_precision
    w = prior.astype(float).copy()
    for _ in range(iterations):
        p = _sigmoid(design @ w)
        gradient = design.T @ (p - y) + lam * (w - prior)
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(lam)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return w


def fit(examples: Sequence[tuple[Evidence, bool]], *, folds: int = 2, seed: int = 0) -> TrustModel:
    """A model fitted on ``examples``; the cold start when there are too few or only one
    kind of outcome."""
    cold = TrustModel.cold_start()
    if len(examples) < MIN_OUTCOMES_TO_FIT or len({o for _, o in examples}) < 2:
        return TrustModel(cold.weights, outcomes=len(examples), created=time.time())
    x = np.array([features(ev) for ev, _ in examples], dtype=float)
    y = np.array([1.0 if ok else 0.0 for _, ok in examples])
    prior = np.array(cold.weights)
    weights = fit_logistic(x, y, prior)
    isotonic = None
    if len(examples) >= MIN_OUTCOMES_FOR_ISOTONIC:
        # out-of-fold scores: the isotonic map never sees a score from its own fit
        order = np.random.default_rng(seed).permutation(len(examples))
        scores = np.empty(len(examples))
        for k in range(folds):
            held = order[k::folds]
            kept = np.setdiff1d(order, held)
            w = fit_logistic(x[kept], y[kept], prior)
            scores[held] = _sigmoid(np.hstack([np.ones((len(held), 1)), x[held]]) @ w)
        isotonic = isotonic_knots(scores, y)
    return TrustModel(
        tuple(float(v) for v in weights),
        version="fitted",
        outcomes=len(examples),
        created=time.time(),
        isotonic=isotonic,
    )


def isotonic_knots(
    scores: np.ndarray, outcomes: np.ndarray
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Knots (x, y) of the non-decreasing map from scores to outcome rates."""
    order = np.argsort(scores, kind="stable")
    xs, ys = scores[order], outcomes[order]
    fitted = isotonic_regression(ys, increasing=True).x
    # one knot per block (its mean score), so np.interp is smooth between blocks
    knots_x: list[float] = []
    knots_y: list[float] = []
    start = 0
    for i in range(1, len(fitted) + 1):
        if i == len(fitted) or fitted[i] != fitted[start]:
            knots_x.append(float(np.mean(xs[start:i])))
            knots_y.append(float(fitted[start]))
            start = i
    return tuple(knots_x), tuple(knots_y)


def model_json(model: TrustModel) -> str:
    return json.dumps(model.to_json())


def logit(p: float) -> float:
    p = min(1 - 1e-9, max(1e-9, p))
    return math.log(p / (1 - p))
