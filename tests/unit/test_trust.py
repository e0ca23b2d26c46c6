"""Trust: the cold-start model's directions, fitting and calibration on outcomes,
persistence in the workspace database, the expected-cost decision, and the metrics."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexad.core.db import connect
from hexad.governance.policy import EscalationSetting
from hexad.trust import NEVER_PROCEED_BELOW, Evidence, Trust, TrustModel, decide
from hexad.trust.metrics import (
    auroc,
    brier,
    caught_at_review_rate,
    ece,
    reliability,
    reliability_svg,
)
from hexad.trust.model import fit

CHECKS_OK = {"syntax": "passed", "symbols": "passed", "compile": "passed", "names": "passed"}
BASE = Evidence(
    kind="rename",
    engine="structural:jedi",
    checks=CHECKS_OK,
    tests_selected=4,
    tests_run=4,
    tests_passed=4,
    test_reach=1.0,
    references=6,
    files=2,
    lines=8,
)


def p(ev: Evidence) -> float:
    return TrustModel.cold_start().probability(ev)


def with_(ev: Evidence, **changes: object) -> Evidence:
    data = ev.to_json()
    data.update(changes)
    return Evidence.from_json(data)


# -- the cold start goes the obvious way ------------------------------------------------


def test_cold_start_directions() -> None:
    good = p(BASE)
    assert good > 0.9
    assert p(with_(BASE, checks={**CHECKS_OK, "names": "failed"})) < 0.1
    assert p(with_(BASE, tests_failed=1, tests_passed=3)) < good
    assert p(with_(BASE, tests_run=0, tests_passed=0, tests_selected=0)) < good
    assert p(with_(BASE, files=15, lines=400, references=300)) < good
    assert p(with_(BASE, public_api=True)) < good
    model = with_(BASE, engine="model", kind="implement", mean_logprob=-0.2, agreement=1.0)
    assert p(model) < good
    assert p(with_(model, mean_logprob=-1.5)) < p(model)
    assert p(with_(model, agreement=0.33)) < p(model)
    assert p(with_(BASE, similar=10, similar_accepted=10)) > good
    assert p(with_(BASE, similar=10, similar_accepted=0)) < good


@settings(max_examples=200, deadline=None)
@given(
    files=st.integers(1, 50),
    lines=st.integers(0, 2000),
    extra=st.integers(1, 50),
    passed=st.integers(0, 10),
)
def test_cold_start_is_monotone_in_blast_radius_and_tests(
    files: int, lines: int, extra: int, passed: int
) -> None:
    ev = with_(BASE, files=files, lines=lines, tests_run=10, tests_passed=passed)
    assert p(with_(ev, files=files + extra)) <= p(ev)
    assert p(with_(ev, lines=lines + extra)) <= p(ev)
    if passed < 10:
        assert p(with_(ev, tests_passed=passed + 1)) >= p(ev)


# -- fitting -------------------------------------------------------------------------


def synthetic(n: int, seed: int) -> list[tuple[Evidence, bool]]:
    """Outcomes drawn from a known truth: structural edits are right 95% of the time,
    model edits 40%, and anything with a failed check 2%."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        model = rng.random() < 0.5
        failed = rng.random() < 0.15
        ev = with_(
            BASE,
            engine="model" if model else "structural:jedi",
            kind="implement" if model else "rename",
            mean_logprob=-0.5 if model else None,
            checks={**CHECKS_OK, "names": "failed"} if failed else CHECKS_OK,
        )
        truth = 0.02 if failed else 0.40 if model else 0.95
        out.append((ev, rng.random() < truth))
    return out


def test_too_few_outcomes_keep_the_cold_start() -> None:
    model = fit(synthetic(5, 1))
    assert model.version == "cold-start" and model.weights == TrustModel.cold_start().weights


def test_a_fitted_model_is_calibrated_on_held_out_outcomes() -> None:
    train, test = synthetic(600, 1), synthetic(600, 2)
    model = fit(train)
    assert model.version == "fitted" and model.isotonic is not None
    predicted = [model.probability(ev) for ev, _ in test]
    outcomes = [o for _, o in test]
    cold = [TrustModel.cold_start().probability(ev) for ev, _ in test]
    assert ece(predicted, outcomes) < 0.05
    assert ece(predicted, outcomes) < ece(cold, outcomes)
    assert brier(predicted, outcomes) < brier(cold, outcomes)
    structural = model.probability(with_(BASE))
    assert abs(structural - 0.95) < 0.05


def test_isotonic_map_is_monotone() -> None:
    model = fit(synthetic(400, 3))
    assert model.isotonic is not None
    xs, ys = model.isotonic
    assert list(xs) == sorted(xs) and list(ys) == sorted(ys)
    grid = [model.calibrate(i / 100) for i in range(101)]
    assert grid == sorted(grid)


# -- persistence and refits --------------------------------------------------------------


def test_the_model_persists_in_the_workspace_database(tmp_path: Path) -> None:
    db = tmp_path / "hexad.db"
    conn = connect(db)
    trust = Trust(conn)
    assert trust.model.version == "cold-start"
    assert trust.due(5) and not trust.due(4)
    fitted = trust.refit(synthetic(200, 4))
    conn.close()
    again = Trust(connect(db))
    assert again.model.weights == pytest.approx(fitted.weights)
    assert again.model.outcomes == 200
    assert not again.due(204) and again.due(205)


def test_an_unreadable_stored_model_falls_back_to_the_cold_start(tmp_path: Path) -> None:
    conn = connect(tmp_path / "hexad.db")
    conn.execute("INSERT INTO trust_models(created, outcomes, model_json) VALUES (0, 3, '{broken')")
    assert Trust(conn).model.version == "cold-start"


# -- the decision ----------------------------------------------------------------------


def test_decision_follows_the_thresholds_with_a_floor() -> None:
    assert decide(0.95, 0.93, 0.2) == "proceed"
    assert decide(0.9, 0.93, 0.2) == "review"
    assert decide(0.1, 0.93, 0.2) == "escalate"
    # a policy that would let anything proceed still never proceeds below the floor
    assert decide(NEVER_PROCEED_BELOW - 0.01, 0.0, 0.0) == "review"
    assert decide(0.3, 0.2, 0.5) == "review"  # escalate_below above proceed_at is capped


@settings(max_examples=400, deadline=None)
@given(
    wrong=st.floats(1.0, 500.0),
    review=st.floats(0.1, 100.0),
    escalation=st.floats(0.1, 200.0),
    p=st.floats(0.0, 1.0),
)
def test_the_choice_is_the_cheapest_expected_cost(
    wrong: float, review: float, escalation: float, p: float
) -> None:
    """The rule README and policies/README.md state: with confidence p, proceeding costs
    (1-p)·W, reviewing R + (1-p)·E, escalating E; the thresholds derived from the costs
    pick the cheapest (up to the 4-decimal rounding of the thresholds)."""
    setting = EscalationSetting(
        cost_wrong_edit=wrong, cost_review=review, cost_escalation=escalation
    )
    proceed_at, escalate_below = setting.derived
    if min(abs(p - proceed_at), abs(p - escalate_below)) < 1e-3:
        return  # on a threshold: either answer is right to rounding
    costs = {
        "proceed": (1 - p) * wrong,
        "review": review + (1 - p) * escalation,
        "escalate": escalation,
    }
    best = min(costs.values())
    cheapest = {choice for choice, cost in costs.items() if cost <= best + 1e-6 * wrong}
    assert setting.choose(p) in cheapest, (setting.choose(p), costs, setting.derived)


def test_assessment_explains_itself(tmp_path: Path) -> None:
    trust = Trust(connect(tmp_path / "hexad.db"))
    bad = with_(BASE, tests_failed=2, tests_passed=2)
    found = trust.assess(bad, proceed_at=0.93, escalate_below=0.2)
    assert found.decision in ("review", "escalate")
    top = found.strongest(3)
    assert top[0].text == "2/4 affected tests pass, 2 broken by the change"
    assert top[0].weight < 0
    assert all(abs(a.weight) >= abs(b.weight) for a, b in itertools.pairwise(top))
    data = found.to_json()
    assert data["model"] == "cold-start" and data["evidence"][0]["text"] == top[0].text


# -- metrics -----------------------------------------------------------------------------


def test_metrics_on_known_values() -> None:
    assert auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert auroc([0.5, 0.5], [True, False]) == pytest.approx(0.5)
    assert auroc([0.2, 0.3], [True, True]) is None
    assert brier([1.0, 0.0], [True, False]) == 0.0
    assert brier([0.5], [True]) == 0.25
    assert ece([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert ece([0.9] * 10, [True] * 5 + [False] * 5) == pytest.approx(0.4)
    bins = reliability([0.05, 0.95, 1.0], [False, True, True])
    assert [(b.count, b.observed) for b in bins] == [(1, 0.0), (2, 1.0)]
    assert caught_at_review_rate(
        [0.1, 0.2, 0.9, 0.95, 0.3], [False, True, True, True, False], 0.4
    ) == (
        1,
        2,
    )


def test_reliability_diagram_is_an_svg() -> None:
    svg = reliability_svg([0.1, 0.9, 0.8], [False, True, True], title="test <model>")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "test &lt;model&gt;" in svg and svg.count("<circle") == 3


# -- the report --------------------------------------------------------------------------


def test_trust_report_over_stored_outcomes(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from hexad.cli import cli
    from hexad.memory.records import Proposal, Records

    root = tmp_path / "ws"
    root.mkdir()
    conn = connect(root / ".hexad" / "hexad.db")
    records = Records(conn)
    rng = random.Random(5)
    for n in range(40):
        confidence = rng.random()
        decision = records.record(
            Proposal(task=f"edit {n}", kind="rename", confidence=confidence, diff="-a\n+b\n")
        )
        kept = rng.random() < confidence  # calibrated by construction
        records.set_status(decision, "applied" if kept else "rejected")
    records.record(Proposal(task="still open", kind="rename", confidence=0.9))  # no outcome
    conn.close()

    result = CliRunner().invoke(cli, ["trust", "report", "-w", str(root), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["outcomes"] == 40
    assert sum(b["count"] for b in report["bins"]) == 40
    assert 0.0 <= report["ece"] < 0.3 and 0.0 <= report["brier"] <= 0.3
    assert report["auroc"] is not None and report["auroc"] > 0.6
    svg = Path(report["diagram"])
    assert svg.is_file() and svg.read_text().startswith("<svg")

    text = CliRunner().invoke(cli, ["trust", "report", "-w", str(root)])
    assert text.exit_code == 0 and "ECE" in text.output and "AUROC" in text.output
