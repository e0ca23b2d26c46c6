"""Load: a storm of didChange events on a large open file while requests flow (see
``load.py``). The default storm is short; ``bench/reliability.py`` runs 1,000 events/s for
30 s and prints the figures. Nothing here is timed: the checks are that every request is
answered, the index ends exactly where the client's text is, and memory stays flat.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.reliability.load import run_load

RATE = int(os.environ.get("HEXAD_LOAD_RATE", "500"))
SECONDS = float(os.environ.get("HEXAD_LOAD_SECONDS", "4"))


def test_a_storm_of_changes_while_requests_flow(tmp_path: Path) -> None:
    report = run_load(tmp_path, rate=RATE, seconds=SECONDS, functions=2000)
    print(report.to_json())
    assert report.final_ok, report.final_problem
    assert report.events == int(RATE * SECONDS)
    assert report.request_errors == 0
    assert set(report.requests) == {
        "textDocument/documentSymbol",
        "textDocument/hover",
        "workspace/symbol",
        "textDocument/definition",
    }, "every kind of request was answered during the storm"
    assert report.catch_up_ms is not None, "the index caught up with the last edit"
    assert report.lags_ms, "index passes were reported during the storm"
    # memory does not grow with the number of edits: the second half of the storm peaks
    # no higher than the first, give or take what one index pass allocates
    first, second = report.halves()
    assert second <= first * 1.25 + 64, (first, second)
