"""A verification report: each check, its status, and the evidence behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CheckStatus = Literal["passed", "failed", "skipped", "error"]
MARK = {"passed": "✓", "failed": "✗", "skipped": "–", "error": "!"}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact behind a check: a place in the workspace and what is true there."""

    message: str
    path: str | None = None
    line: int | None = None  # 0-based
    col: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "path": self.path, "line": self.line, "col": self.col}


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # syntax | symbols | compile | names | tests
    status: CheckStatus
    summary: str  # one line: "3/3 tests pass", "2 new undefined names"
    evidence: tuple[Evidence, ...] = ()
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "evidence": [e.to_json() for e in self.evidence],
            "seconds": round(self.seconds, 4),
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """No check failed or broke (skipped checks do not fail a report)."""
        return all(c.status in ("passed", "skipped") for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status in ("failed", "error"))

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        """``parses ✓ · symbols ✓ · compiles ✓ · names ✓ · tests 3/3 ✓``"""
        return " · ".join(f"{c.name} {MARK[c.status]}" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "checks": [c.to_json() for c in self.checks],
        }
