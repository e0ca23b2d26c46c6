"""kill -9 during indexing, memory ingest, ledger writes and proposal application: the
database opens, no committed row is lost, no half-applied edit is left in the user's
files (see ``crash.py`` for what each campaign does and checks).

The default run kills each kind of work a few times; ``HEXAD_CRASH_KILLS=N`` kills each N
times, and ``bench/reliability.py --kills N`` prints the figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.crash import CAMPAIGNS

KILLS = int(os.environ.get("HEXAD_CRASH_KILLS", "0"))
DEFAULT_KILLS = {"index": 4, "memory": 4, "ledger": 2, "edits": 16, "proposals": 3}


@pytest.mark.parametrize("kind", list(CAMPAIGNS))
def test_kill_9_loses_nothing_committed_and_leaves_no_half_applied_edit(
    kind: str, tmp_path: Path
) -> None:
    kills = KILLS or DEFAULT_KILLS[kind]
    campaign = CAMPAIGNS[kind](tmp_path, kills)
    print(campaign.to_json())
    assert campaign.failures == []
    assert campaign.runs >= kills
    assert campaign.killed >= 1, "no run was killed: the campaign tested nothing"
    assert campaign.checked > 0, "nothing reported committed was checked"
