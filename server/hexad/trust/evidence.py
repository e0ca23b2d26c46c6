"""The evidence trust weighs, as plain values, and the features the models read.

Execution fills :class:`Evidence` from a proposal (its engine, verification, blast
radius, model statistics, similar past proposals, policy flags); trust never sees the
proposal itself. Every feature is cheap: nothing here needs the full test suite.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

CHECKS = ("syntax", "symbols", "compile", "names")


@dataclass(frozen=True, slots=True)
class Evidence:
    kind: str  # the engine's task kind: rename, add_import, implement, ...
    engine: str  # structural:jedi, structural:index, model
    checks: dict[str, str] = field(default_factory=dict)  # name -> passed/failed/skipped/error
    tests_selected: int = 0
    tests_run: int = 0
    tests_passed: int = 0
    tests_failed: int = 0  # broken by the change
    test_reach: float | None = None  # share of changed symbols some test reaches
    references: int = 0  # references to the changed symbols (call graph)
    files: int = 1
    lines: int = 0
    public_api: bool = False
    mean_logprob: float | None = None  # model output only
    min_logprob: float | None = None
    agreement: float | None = None  # share of samples agreeing with the chosen one
    similar: int = 0  # similar past proposals with an outcome
    similar_accepted: int = 0
    policy_flags: int = 0  # governance rules asking for review (beyond confidence)

    @property
    def is_model(self) -> bool:
        return self.engine.startswith("model")

    def failed_checks(self) -> list[str]:
        return [name for name in CHECKS if self.checks.get(name) in ("failed", "error")]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


# The features, in order. Each is documented where it is computed; signs of the
# cold-start weights say which way each pushes the probability.
FEATURES: tuple[str, ...] = (
    "check_failed",
    "tests_failed",
    "tests_passed",
    "no_tests",
    "reach",
    "model",
    "model_logprob",
    "model_agreement",
    "log_files",
    "log_lines",
    "log_references",
    "public_api",
    "history",
    "policy_flags",
)


def features(ev: Evidence) -> list[float]:
    """The feature vector of ``ev`` (see :data:`FEATURES`)."""
    failed = ev.failed_checks()
    ran = ev.tests_run
    passed_share = ev.tests_passed / ran if ran else 0.0
    logprob = ev.mean_logprob if ev.mean_logprob is not None else 0.0
    agreement = ev.agreement if ev.agreement is not None else 1.0
    # similar past proposals: acceptance rate shrunk toward 1/2 by how few there are
    history = (ev.similar_accepted + 1) / (ev.similar + 2) - 0.5 if ev.similar else 0.0
    return [
        1.0 if failed else 0.0,
        1.0 if ev.tests_failed else 0.0,
        passed_share if ran and not ev.tests_failed else 0.0,
        1.0 if ran == 0 else 0.0,
        ev.test_reach if ev.test_reach is not None else 0.0,
        1.0 if ev.is_model else 0.0,
        # a model's mean token log-probability, 0 when certain, -1 per nat of doubt
        max(-3.0, logprob) if ev.is_model else 0.0,
        (agreement - 1.0) if ev.is_model else 0.0,
        math.log1p(max(0, ev.files - 1)),
        math.log1p(ev.lines),
        math.log1p(ev.references),
        1.0 if ev.public_api else 0.0,
        history,
        float(ev.policy_flags),
    ]
