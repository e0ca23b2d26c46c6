"""Opening a second connection must never drop the POSIX locks the first one holds.

Closing *any* descriptor of a file releases every fcntl lock the process holds on it. If
``connect`` read the header of a database this process already has open with plain file
I/O, another process closing its last connection would take itself for the only one,
checkpoint and delete the WAL — and this process's open connections would go on writing
into the deleted WAL, invisible to everyone else until they close (the bug a model-backed
proposal in ``hexad serve`` showed: a rejection committed, yet no other process saw it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hexad.core.db import connect, transaction

READ = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
print(conn.execute("SELECT count(*) FROM t").fetchone()[0])
conn.close()
"""


def _count_from_another_process(db: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", READ, str(db)], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def test_a_second_connect_keeps_the_first_connections_writes_visible(tmp_path: Path) -> None:
    db = tmp_path / ".hexad" / "hexad.db"
    first = connect(db)
    try:
        with transaction(first):
            first.execute("CREATE TABLE t (x INTEGER)")
            first.execute("INSERT INTO t VALUES (1)")
        second = connect(db, migrate=False)  # examines the file while `first` is open
        second.close()
        assert _count_from_another_process(db) == 1  # a reader comes and goes
        assert Path(f"{db}-wal").exists(), "the WAL this process writes to is still there"
        with transaction(first):
            first.execute("INSERT INTO t VALUES (2)")
        assert _count_from_another_process(db) == 2, "the second write is seen at once"
    finally:
        first.close()
    assert _count_from_another_process(db) == 2
