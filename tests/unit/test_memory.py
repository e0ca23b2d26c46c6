"""Memory on a real workspace database: chunks in step with the index, hybrid recall,
notes, decisions, plan runs, restarts, kills and concurrent readers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from hexad.core.db import connect, database_path, transaction
from hexad.memory import Memory, Proposal
from hexad.memory.chunks import SymbolRow, build_chunks
from hexad.memory.store import ItemFields, ItemStore
from hexad.memory.tokens import fts_text, split_identifier, words
from hexad.perception.indexer import Indexer
from tests.conftest import WriteWorkspace, write_files

FILES: dict[str, str | bytes] = {
    "shop/__init__.py": "",
    "shop/pricing.py": '''
        """Prices, discounts and taxes."""


        def apply_discount(price, percent):
            """Reduce a price by a percentage discount."""
            return price * (1 - percent / 100)


        def add_sales_tax(amount, rate=0.2):
            """Add value-added tax to a net amount."""
            return amount * (1 + rate)


        class Invoice:
            """A customer invoice with line items."""

            def __init__(self, customer):
                self.customer = customer
                self.lines = []

            def total(self):
                """Sum of the line amounts, tax included."""
                return sum(add_sales_tax(line) for line in self.lines)
        ''',
    "shop/storage.py": '''
        import json
        from pathlib import Path


        def load_catalog(path):
            """Read the product catalog from a JSON file on disk."""
            return json.loads(Path(path).read_text())


        def save_catalog(path, catalog):
            """Write the product catalog to a JSON file."""
            Path(path).write_text(json.dumps(catalog))
        ''',
    "shop/net.py": '''
        import urllib.request


        def fetch_exchange_rates(url, timeout=5):
            """Download currency exchange rates over HTTP."""
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.read()
        ''',
}


def _open(root: Path, *, mirror: bool = False) -> Memory:
    conn = connect(database_path(root))
    Indexer(root, conn=conn, workers=1).run()
    return Memory(conn, root, mirror=mirror)


def _keys(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.item.key for h in hits]


# -- words -----------------------------------------------------------------------------


def test_identifiers_split_and_words_stem() -> None:
    assert split_identifier("parse_HTTPHeader2") == ["parse", "http", "header", "2"]
    assert split_identifier("getUserName") == ["get", "user", "name"]
    # prose and code meet: "parsing"/"parsed" and parse_ share a stem; noise words go
    assert words("Parsing the parsed parse_value") == ["pars", "pars", "pars", "valu"]
    assert fts_text("def self return None") == ""


# -- chunks ----------------------------------------------------------------------------


def test_chunks_fold_nested_bodies_and_drop_the_docstring() -> None:
    source = (
        "class A:\n"
        '    """Doc of A."""\n'
        "    x = 1\n"
        "    def m(self):\n"
        '        """Doc of m."""\n'
        "        return compute(self.x)\n"
    )
    rows = [
        SymbolRow(1, None, "A", "class", "mod.A", 0, 5, "class A:", "Doc of A."),
        SymbolRow(2, 1, "m", "method", "mod.A.m", 3, 5, "def m(self):", "Doc of m."),
    ]
    a, m = build_chunks("mod.py", "python", source, rows)
    assert a.key == "mod.py::mod.A" and m.key == "mod.py::mod.A.m"
    assert "Doc of A" not in a.body and a.doc == "Doc of A."
    assert "def m(self):" in a.body and "compute" not in a.body  # m is its own chunk
    assert "Doc of m" not in m.body and "compute(self.x)" in m.body
    moved = build_chunks(
        "mod.py",
        "python",
        "\n\n" + source,
        [
            SymbolRow(1, None, "A", "class", "mod.A", 2, 7, "class A:", "Doc of A."),
            SymbolRow(2, 1, "m", "method", "mod.A.m", 5, 7, "def m(self):", "Doc of m."),
        ],
    )
    assert [c.hash for c in moved] == [a.hash, m.hash]  # moving is not changing


def test_same_named_siblings_get_distinct_keys() -> None:
    rows = [
        SymbolRow(1, None, "f", "function", "m.f", 0, 1, "def f():", ""),
        SymbolRow(2, None, "f", "function", "m.f", 2, 3, "def f():", ""),
    ]
    chunks = build_chunks("m.py", "python", "def f():\n  1\ndef f():\n  2\n", rows)
    assert [c.key for c in chunks] == ["m.py::m.f", "m.py::m.f#2"]


# -- sync ------------------------------------------------------------------------------


def test_sync_is_incremental_and_reembeds_only_what_changed(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root)
    first = memory.sync()
    assert first.trained and first.files_synced == 4
    assert first.chunks_added == memory.items.count("chunk") == 8
    assert first.embedded == first.chunks_added
    stats = memory.stats()
    assert stats["spaces"][0]["pending"] == 0 and stats["spaces"][0]["state"] == "active"

    again = memory.sync()
    assert (again.files_synced, again.embedded, again.trained) == (0, 0, False)

    def line_of(qualname: str) -> int:
        row = memory.conn.execute(
            "SELECT start_line FROM memory_items WHERE qualname = ?", (qualname,)
        ).fetchone()
        return int(row[0])

    tax_line = line_of("shop.pricing.add_sales_tax")
    pricing = root / "shop/pricing.py"
    text = pricing.read_text()
    pricing.write_text(
        "\n\n" + text.replace("return price * (1 - percent / 100)", "return price * percent")
    )
    Indexer(root, conn=memory.conn, workers=1).run()
    third = memory.sync()
    # every chunk of the file moved down two lines; only apply_discount's text changed
    assert third.files_synced == 1
    assert (third.chunks_changed, third.chunks_added, third.chunks_removed) == (1, 0, 0)
    assert third.embedded == 1
    assert line_of("shop.pricing.add_sales_tax") == tax_line + 2  # moved, not re-embedded

    (root / "shop/net.py").unlink()
    Indexer(root, conn=memory.conn, workers=1).run()
    fourth = memory.sync()
    assert fourth.files_removed == 1 and fourth.chunks_removed == 1
    assert not memory.recall("exchange", 5, mode="keyword")
    vectors = memory.conn.execute(
        f"SELECT count(*) FROM {memory.items.active_space().table_name}"  # type: ignore[union-attr]
    ).fetchone()[0]
    assert vectors == memory.items.count()


def test_a_buffer_that_differs_from_disk_waits(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    # the live index stores an unsaved buffer's facts with a buffer: hash
    memory.conn.execute("UPDATE files SET hash = 'buffer:abc' WHERE path = 'shop/net.py'")
    report = memory.sync()
    assert report.files_waiting == 1 and report.chunks_removed == 0


# -- recall ----------------------------------------------------------------------------


def test_hybrid_recall_finds_by_name_and_by_meaning(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    by_name = memory.recall("apply discount", 3)
    assert by_name[0].item.qualname == "shop.pricing.apply_discount"
    assert by_name[0].matched["name"] == ["apply", "discount"]
    assert "words #1" in by_name[0].why and "meaning" in by_name[0].why

    json_hits = memory.recall("read json catalog from disk", 3)
    assert json_hits[0].item.qualname == "shop.storage.load_catalog"

    keyword = memory.recall("exchange rates", 5, mode="keyword")
    assert keyword[0].item.qualname == "shop.net.fetch_exchange_rates"
    assert all(h.vector_rank is None for h in keyword)
    vector = memory.recall("exchange rates", 5, mode="vector")
    assert all(h.keyword_rank is None and h.similarity is not None for h in vector)


def test_filters_narrow_both_retrievers(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    for mirror in (False, True):
        mem = Memory(memory.conn, root, mirror=mirror)
        hits = mem.recall("catalog price tax", 20, kinds=("method",))
        assert hits and {h.item.kind for h in hits} == {"method"}
        hits = mem.recall("catalog price tax", 20, path_glob="shop/storage*")
        assert hits and {h.item.path for h in hits} == {"shop/storage.py"}
        assert not mem.recall("catalog", 5, languages=("rust",))


def test_the_server_mirror_and_vec0_agree(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    mirrored = Memory(memory.conn, root, mirror=True)
    for query in ("tax on an amount", "customer invoice", "download over http"):
        plain = [
            (h.item.key, round(h.similarity or 0, 4))
            for h in memory.recall(query, 5, mode="vector")
        ]
        fast = [
            (h.item.key, round(h.similarity or 0, 4))
            for h in mirrored.recall(query, 5, mode="vector")
        ]
        assert plain == fast
    # the mirror notices new vectors
    mirrored.records.remember("invoices are immutable once sent", scope="shop.pricing.Invoice")
    mirrored.embed_pending()
    assert mirrored.recall("immutable invoices", 3, mode="vector", types=("note",))


def test_memory_survives_a_restart(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    note = memory.records.remember("prefer pathlib over os.path")
    assert memory.embed_pending() == 1
    before = _keys(memory.recall("product catalog json", 5))
    memory.conn.close()

    reopened = Memory(connect(database_path(root)), root)
    report = reopened.sync()
    assert (report.files_synced, report.embedded, report.trained) == (0, 0, False)
    assert _keys(reopened.recall("product catalog json", 5)) == before
    assert [n.id for n in reopened.records.notes()] == [note.id]


# -- notes -----------------------------------------------------------------------------


def test_notes_apply_by_scope_and_by_name(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    rec = memory.records
    on_file = rec.remember("storage uses pathlib, not os.path", scope="shop/storage.py")
    on_class = rec.remember("invoices are immutable once sent", scope="shop.pricing.Invoice")
    naming = rec.remember("never call load_catalog in a request handler")
    rec.remember("the code base targets Python 3.11")
    assert rec.remember("storage uses pathlib, not os.path", scope="shop/storage.py") == on_file

    def ids(path: str, qualname: str, name: str) -> set[int]:
        return {n.id for n in rec.notes_for(path, qualname, name)}

    assert ids("shop/storage.py", "shop.storage.load_catalog", "load_catalog") == {
        on_file.id,
        naming.id,
    }
    assert ids("shop/pricing.py", "shop.pricing.Invoice.total", "total") == {on_class.id}
    assert ids("shop/net.py", "shop.net.fetch_exchange_rates", "fetch_exchange_rates") == set()

    assert rec.forget(on_class.id) and not rec.forget(on_class.id)
    assert ids("shop/pricing.py", "shop.pricing.Invoice.total", "total") == set()
    with pytest.raises(ValueError, match="needs some text"):
        rec.remember("   ")


# -- decisions and plans ------------------------------------------------------------


def test_decisions_keep_their_history_and_teach_from_rejections(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    rec = memory.records
    proposal = Proposal(
        task="rename add_sales_tax to add_vat",
        kind="rename",
        engine="jedi",
        diff="-def add_sales_tax(amount, rate=0.2):\n+def add_vat(amount, rate=0.2):\n",
        targets=[{"path": "shop/pricing.py", "qualname": "shop.pricing.add_sales_tax"}],
        evidence={"references": 2},
        verification={"parses": True},
        confidence=0.8,
        policy={"effect": "allow"},
    )
    kept = rec.record(proposal)
    rec.set_status(kept, "accepted", detail="client applied the edit")
    rec.set_status(kept, "applied")
    dropped = rec.record(proposal)
    rejected = rec.set_status(dropped, "rejected", reason="we say VAT only in comments")
    assert rejected.outcome is False and rejected.reason == "we say VAT only in comments"

    decision = rec.decision(kept)
    assert decision is not None and decision.outcome is True
    assert [h[1] for h in decision.history] == ["proposed", "accepted", "applied"]
    assert decision.evidence == {"references": 2} and decision.confidence == 0.8
    assert [d.id for d in rec.outcomes()] == [kept, dropped]

    learned = rec.notes(source="learned")
    assert len(learned) == 1 and learned[0].scope == "shop.pricing.add_sales_tax"
    assert "we say VAT only in comments" in learned[0].text
    assert learned[0].decision_id == dropped

    # the history is append-only
    with pytest.raises(Exception, match="append-only"):
        memory.conn.execute("DELETE FROM memory_decision_events")
    # similar past proposals are found by meaning and words
    memory.sync()
    similar = memory.recall("rename add_sales_tax", 5, types=("decision",))
    assert {h.item.key for h in similar} == {f"decision:{kept}", f"decision:{dropped}"}
    with pytest.raises(ValueError, match="unknown decision status"):
        rec.set_status(kept, "maybe")
    with pytest.raises(KeyError):
        rec.set_status(999, "accepted")


def test_plan_runs_resume_after_a_restart(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root)
    plan = {"steps": [{"action": "rename"}, {"action": "update_callers"}]}
    run = memory.records.save_plan_run("rename add_sales_tax", plan)
    memory.records.set_step(run, 0, "done", {"decision": 1})
    memory.records.set_step(run, 1, "running")
    memory.conn.close()

    reopened = Memory(connect(database_path(root)), root)
    (unfinished,) = reopened.records.unfinished_plan_runs()
    assert unfinished["id"] == run and unfinished["plan"] == plan
    assert unfinished["steps"][0]["status"] == "done"
    assert unfinished["steps"][1]["status"] == "running"
    reopened.records.set_plan_status(run, "done")
    assert reopened.records.unfinished_plan_runs() == []


# -- reliability -----------------------------------------------------------------------


def test_item_writes_are_atomic(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root)
    store = ItemStore(memory.conn)
    fields = ItemFields(type="note", key="note:x", hash="h", fts=("", "", "some words", ""))
    with pytest.raises(RuntimeError), transaction(memory.conn):
        store.upsert(fields)
        raise RuntimeError("killed halfway")
    assert store.by_key("note:x") is None
    assert memory.conn.execute("SELECT count(*) FROM memory_fts").fetchone()[0] == 0


_SYNC_SCRIPT = """
import sys
from pathlib import Path
from hexad.core.db import connect, database_path
from hexad.memory import Memory
import hexad.memory.sync as sync
sync.BATCH_FILES = 4
sync.EMBED_BATCH = 64
root = Path(sys.argv[1])
memory = Memory(connect(database_path(root)), root)
def progress(phase, done, total):
    print(phase, done, total, flush=True)
memory.sync(progress)
print("done", flush=True)
"""


def _generated_files(count: int) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {"gen/__init__.py": ""}
    for i in range(count):
        files[f"gen/m{i}.py"] = "\n".join(
            f"def handle_{i}_{j}(request, value):\n"
            f'    """Handle request {j} by scaling the value."""\n'
            f"    return helper_{j % 7}(request) * value + {i}\n"
            for j in range(12)
        )
    return files


def _snapshot(root: Path) -> tuple[object, ...]:
    conn = connect(database_path(root))
    try:
        items = sorted(conn.execute("SELECT key, hash FROM memory_items").fetchall())
        fts = conn.execute("SELECT count(*) FROM memory_fts").fetchone()[0]
        return items, fts
    finally:
        conn.close()


@pytest.mark.parametrize("kill_after", [3, 9, 20])
def test_kill_during_ingest_leaves_a_consistent_database_that_resyncs(
    workspace: WriteWorkspace, kill_after: int
) -> None:
    root = workspace(_generated_files(60))
    Indexer(root, workers=1).run()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SYNC_SCRIPT, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for lines, _line in enumerate(proc.stdout, 1):
        if lines >= kill_after:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL  # killed mid-sync, not finished

    conn = connect(database_path(root))
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # consistent after the kill: every item has its keyword row, every file mark its chunks
    items = conn.execute("SELECT count(*) FROM memory_items").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM memory_fts").fetchone()[0] == items
    orphans = conn.execute(
        "SELECT count(*) FROM memory_files f WHERE NOT EXISTS"
        " (SELECT 1 FROM memory_items i WHERE i.path = f.path) AND EXISTS"
        " (SELECT 1 FROM symbols s JOIN files x ON x.id = s.file_id WHERE x.path = f.path)"
    ).fetchone()[0]
    assert orphans == 0
    marked = conn.execute("SELECT count(*) FROM memory_files").fetchone()[0]
    memory = Memory(conn, root)
    report = memory.sync()
    assert report.files_synced == 61 - marked  # the repair redoes only what was missing
    stats = memory.stats()
    assert stats["chunks"] == 60 * 12 and stats["files"] == 61
    assert stats["spaces"][0]["pending"] == 0
    assert stats["spaces"][0]["vectors"] == 60 * 12
    conn.close()

    # the same state as a sync that was never interrupted
    fresh = workspace(_generated_files(60)).parent / "fresh"
    fresh.mkdir()
    for path in root.rglob("*.py"):
        target = fresh / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    clean = Memory(connect(database_path(fresh)), fresh)
    Indexer(fresh, conn=clean.conn, workers=1).run()
    clean.sync()
    clean.conn.close()
    assert _snapshot(root) == _snapshot(fresh)


def test_readers_see_consistent_results_while_a_sync_writes(workspace: WriteWorkspace) -> None:
    root = workspace(_generated_files(40))
    Indexer(root, workers=1).run()
    writer = Memory(connect(database_path(root)), root)
    errors: list[BaseException] = []
    seen: list[int] = []
    done = threading.Event()

    def read() -> None:
        reader = Memory(connect(database_path(root)), root, mirror=True)
        try:
            while not done.is_set():
                hits = reader.recall("handle request scaling", 5)
                seen.append(len(hits))
                counts = reader.conn.execute(
                    "SELECT (SELECT count(*) FROM memory_items), (SELECT count(*) FROM memory_fts)"
                ).fetchone()
                assert counts[0] == counts[1]  # one snapshot: never half a batch
                time.sleep(0.001)
        except BaseException as exc:
            errors.append(exc)
        finally:
            reader.conn.close()

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        writer.sync()
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors
    assert seen and max(seen) == 5


class _HashEmbedder:
    """A deterministic stand-in for a configured model (e.g. llama.cpp): words hashed
    into 16 dimensions. Only the switching logic is under test here."""

    name = "hash-16"
    dim = 16
    fingerprint = "hash-16:v1"

    def embed_documents(self, texts: list[str]) -> np.ndarray:  # type: ignore[type-arg]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words(text):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1
        return out / norms

    def embed_query(self, text: str) -> np.ndarray:  # type: ignore[type-arg]
        return self.embed_documents([text])[0]


def test_switching_model_fills_a_new_space_while_the_old_one_serves(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    old = memory.items.active_space()
    assert old is not None and old.model == "workspace-ppmi-svd"

    switched = Memory(connect(database_path(root)), root, _HashEmbedder())
    reader = Memory(connect(database_path(root)), root)
    during: list[list[str]] = []

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "embed":  # the new space is half built: searches use the old one
            space = reader.items.active_space()
            assert space is not None and space.id == old.id
            during.append([h.item.key for h in reader.recall("tax", 3, mode="vector")])

    report = switched.sync(progress)
    assert report.model == "hash-16" and report.embedded == memory.items.count()
    assert during and during[0]
    spaces = switched.stats()["spaces"]
    assert [(s["model"], s["state"], s["pending"]) for s in spaces] == [("hash-16", "active", 0)]
    tables = {r[0] for r in memory.conn.execute("SELECT name FROM sqlite_master")}
    assert old.table_name not in tables  # the retired space's vectors are gone
    top = [h.item.qualname for h in switched.recall("sales tax", 3, mode="vector")]
    assert "shop.pricing.add_sales_tax" in top
    # a process without the model cannot embed queries for this space: words still work
    assert reader.recall("sales tax", 3, mode="vector") == []
    assert reader.recall("sales tax", 3)[0].item.qualname == "shop.pricing.add_sales_tax"


def test_the_workspace_model_is_retrained_when_the_code_drifts(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    first = memory.items.active_space()
    assert first is not None
    assert not memory.sync().trained  # nothing changed: the model stays
    write_files(
        root,
        {
            f"ledger/book{i}.py": f"def post_journal_entry_{i}(ledger, debit, credit):\n"
            f'    """Post a balanced journal entry to the general ledger."""\n'
            f"    return ledger.append((debit, credit))\n"
            for i in range(12)
        },
    )
    Indexer(root, conn=memory.conn, workers=1).run()
    report = memory.sync()
    assert report.trained  # 12 new chunks on 8: more than a quarter changed
    second = memory.items.active_space()
    assert second is not None and second.id != first.id
    assert second.fingerprint != first.fingerprint
    hit = memory.recall("general ledger journal", 1, mode="vector")[0]
    assert hit.item.path.startswith("ledger/book")  # type: ignore[union-attr]
    models = memory.conn.execute("SELECT count(*) FROM memory_models").fetchone()[0]
    assert models == 1  # the retired model went with its space


def test_a_long_docstring_is_stripped_before_the_body_is_cut() -> None:
    doc = "\n".join(f"    line {i} of a very long docstring" for i in range(80))
    source = f'def f(x):\n    """Summary.\n{doc}\n    """\n    return compute(x)\n'
    end = source.count("\n") - 1
    (chunk,) = build_chunks(
        "m.py", "python", source, [SymbolRow(1, None, "f", "function", "m.f", 0, end, "", "S")]
    )
    assert "long docstring" not in chunk.body and "return compute(x)" in chunk.body


def test_forgetting_refreshes_the_servers_vector_mirror(workspace: WriteWorkspace) -> None:
    root = workspace(FILES)
    memory = _open(root, mirror=True)
    memory.sync()
    note = memory.records.remember("invoices are immutable once sent")
    memory.embed_pending()
    assert note.id in {h.item.id for h in memory.recall("immutable invoices", 20, mode="vector")}
    memory.records.forget(note.id)
    left = memory.items.count()
    hits = memory.recall("immutable invoices", left, mode="vector")
    # a stale mirror would still rank the forgotten note, and return one hit too few
    assert note.id not in {h.item.id for h in hits} and len(hits) == left


def test_a_large_memory_leaves_very_common_words_out_of_the_keyword_query(
    workspace: WriteWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hexad.memory import search

    root = workspace(FILES)
    memory = _open(root)
    memory.sync()
    searcher = memory._searcher
    query = words("catalog price amount tax invoice customer json")
    assert searcher._selective(query) == query  # a small memory: every word counts
    monkeypatch.setattr(search, "LARGE_MEMORY", 0)
    monkeypatch.setattr(search, "COMMON_SHARE", 0.3)  # this memory has 8 chunks
    df = dict(memory.conn.execute("SELECT term, doc FROM memory_fts_vocab").fetchall())
    total = memory.items.count()
    kept = searcher._selective(query)
    assert kept == [w for w in query if df.get(w, 0) <= search.COMMON_SHARE * total]
    assert kept and kept != query  # some words are in more than 30% of the items
    monkeypatch.setattr(search, "COMMON_SHARE", 0.0)
    rarest = min(query, key=lambda w: df.get(w, 0))
    assert searcher._selective(query) == [rarest]  # never an empty query
