"""Hostile workspaces: every case of the adversarial table (``adversarial.py``) is refused
the way it must be — outright, or never without a person — and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.adversarial import CASES, Case, Hostile, run_case


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    h = Hostile(tmp_path_factory.mktemp("hostile"))
    yield h
    h.close()


def test_the_table_is_large_and_covers_every_channel() -> None:
    assert len(CASES) >= 50
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.channel for c in CASES} == {
        "governance",
        "write",
        "proposal",
        "model",
        "plan",
        "policy",
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_hostile_case_is_refused_and_changes_nothing(hostile: Hostile, case: Case) -> None:
    outcome, changed = run_case(hostile, case)
    assert changed == [], f"{case.attack}: changed {changed} ({outcome.how})"
    assert outcome.refused == case.expect, f"{case.attack}: {outcome.how}"
