"""Named, append-only schema migrations for the workspace database.

Never edit a migration that has shipped: add a new one. Each runs in one transaction and
is recorded in ``schema_migrations``, so applying the list twice is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    statements: tuple[str, ...]


m001_create_files = Migration(
    "m001_create_files",
    (
        """CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            language TEXT,
            module TEXT,
            hash TEXT,
            size INTEGER NOT NULL DEFAULT 0,
            mtime_ns INTEGER NOT NULL DEFAULT 0,
            line_count INTEGER NOT NULL DEFAULT 0,
            parse_errors INTEGER NOT NULL DEFAULT 0,
            skip_reason TEXT
        )""",
        "CREATE INDEX files_module ON files(module)",
    ),
)

m002_create_symbols = Migration(
    "m002_create_symbols",
    (
        """CREATE TABLE symbols (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES symbols(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            qualname TEXT NOT NULL,
            start_line INTEGER NOT NULL, start_col INTEGER NOT NULL,
            end_line INTEGER NOT NULL, end_col INTEGER NOT NULL,
            name_line INTEGER NOT NULL, name_col INTEGER NOT NULL,
            name_end_col INTEGER NOT NULL,
            signature TEXT NOT NULL DEFAULT '',
            doc TEXT NOT NULL DEFAULT '',
            exported INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX symbols_name ON symbols(name)",
        "CREATE INDEX symbols_qualname ON symbols(qualname)",
        "CREATE INDEX symbols_file ON symbols(file_id)",
        "CREATE INDEX symbols_parent ON symbols(parent_id)",
    ),
)

m003_create_refs = Migration(
    "m003_create_refs",
    (
        # A reference to a name; kind 'call' rows are the call graph (scope_id -> target_id).
        # resolution: NULL while pending, else local | self | import | unique | ambiguous
        # | external | unresolved. target_id is set only when the target is certain.
        """CREATE TABLE refs (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            scope_id INTEGER REFERENCES symbols(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            receiver TEXT,
            line INTEGER NOT NULL, col INTEGER NOT NULL, end_col INTEGER NOT NULL,
            target_id INTEGER REFERENCES symbols(id) ON DELETE SET NULL,
            target_module TEXT,
            resolution TEXT,
            candidates INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX refs_name ON refs(name)",
        "CREATE INDEX refs_target ON refs(target_id)",
        "CREATE INDEX refs_scope ON refs(scope_id)",
        "CREATE INDEX refs_file ON refs(file_id)",
        "CREATE INDEX refs_pending ON refs(resolution) WHERE resolution IS NULL",
    ),
)

m004_create_imports = Migration(
    "m004_create_imports",
    (
        # One row per bound name. external holds the top-level package of an import that
        # leaves the workspace; stdlib is 1 when that package ships with the language.
        """CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            name TEXT,
            alias TEXT,
            wildcard INTEGER NOT NULL DEFAULT 0,
            line INTEGER NOT NULL,
            target_file_id INTEGER REFERENCES files(id) ON DELETE SET NULL,
            external TEXT,
            stdlib INTEGER NOT NULL DEFAULT 0,
            resolved INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX imports_file ON imports(file_id)",
        "CREATE INDEX imports_target ON imports(target_file_id)",
    ),
)

m005_create_meta = Migration(
    "m005_create_meta",
    ("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",),
)

m006_create_governance_ledger = Migration(
    "m006_create_governance_ledger",
    (
        # The audit ledger (governance): append-only, enforced by the triggers below.
        # ts is Unix time in seconds; rules, action and reasons are JSON.
        """CREATE TABLE governance_decisions (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            task_id TEXT,
            kind TEXT NOT NULL,
            effect TEXT NOT NULL,
            rules TEXT NOT NULL,
            action TEXT NOT NULL,
            reasons TEXT NOT NULL,
            policy TEXT NOT NULL
        )""",
        # metric: tokens | seconds | proposals | files | lines; source: reserve (charged
        # before acting) | actual (reported after) | adjust (actual minus reserved)
        """CREATE TABLE governance_spend (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            task_id TEXT,
            decision_id INTEGER REFERENCES governance_decisions(id),
            metric TEXT NOT NULL,
            amount REAL NOT NULL,
            source TEXT NOT NULL,
            note TEXT
        )""",
        "CREATE INDEX governance_decisions_ts ON governance_decisions(ts)",
        "CREATE INDEX governance_decisions_task ON governance_decisions(task_id)",
        "CREATE INDEX governance_spend_metric_ts ON governance_spend(metric, ts)",
        "CREATE INDEX governance_spend_task ON governance_spend(task_id, metric)",
        "CREATE INDEX governance_spend_decision ON governance_spend(decision_id)",
        """CREATE TRIGGER governance_decisions_no_update BEFORE UPDATE ON governance_decisions
        BEGIN SELECT RAISE(ABORT, 'the governance ledger is append-only'); END""",
        """CREATE TRIGGER governance_decisions_no_delete BEFORE DELETE ON governance_decisions
        BEGIN SELECT RAISE(ABORT, 'the governance ledger is append-only'); END""",
        """CREATE TRIGGER governance_spend_no_update BEFORE UPDATE ON governance_spend
        BEGIN SELECT RAISE(ABORT, 'the governance ledger is append-only'); END""",
        """CREATE TRIGGER governance_spend_no_delete BEFORE DELETE ON governance_spend
        BEGIN SELECT RAISE(ABORT, 'the governance ledger is append-only'); END""",
    ),
)

m007_create_memory = Migration(
    "m007_create_memory",
    (
        # Everything memory can recall is an item: a code chunk (one per indexed symbol),
        # a note, or a decision. key is stable across re-syncs (chunk: path::qualname, with
        # #n for same-named siblings); hash is of the text that was indexed and embedded.
        """CREATE TABLE memory_items (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL CHECK (type IN ('chunk', 'note', 'decision')),
            key TEXT NOT NULL UNIQUE,
            path TEXT,
            language TEXT,
            kind TEXT,
            name TEXT,
            qualname TEXT,
            start_line INTEGER,
            end_line INTEGER,
            title TEXT NOT NULL DEFAULT '',
            doc TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL DEFAULT '',
            hash TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL
        )""",
        "CREATE INDEX memory_items_path ON memory_items(path)",
        "CREATE INDEX memory_items_type ON memory_items(type)",
        "CREATE INDEX memory_items_qualname ON memory_items(qualname)",
        # Keyword search: rowid = memory_items.id; columns hold memory.tokens words.
        """CREATE VIRTUAL TABLE memory_fts USING fts5(
            name, doc, body, path, tokenize = 'unicode61'
        )""",
        # The content hash of each file whose chunks are in memory_items: the sync marker.
        "CREATE TABLE memory_files (path TEXT PRIMARY KEY, hash TEXT NOT NULL)",
        # One vector space per embedder fingerprint; vectors live in the vec0 table named
        # here (created at run time: its dimension depends on the model). state: building
        # (being filled in the background) | active (searched) | retired. doc_center and
        # query_center (float32 blobs) are subtracted from a model's vectors before they
        # are normalised (see memory.store.Centered); NULL for the workspace model.
        """CREATE TABLE memory_spaces (
            id INTEGER PRIMARY KEY,
            fingerprint TEXT NOT NULL UNIQUE,
            model TEXT NOT NULL,
            dim INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('building', 'active', 'retired')),
            table_name TEXT NOT NULL,
            created REAL NOT NULL,
            doc_center BLOB,
            query_center BLOB
        )""",
        # Which item text (by hash) each space holds a vector for: re-embed only on change.
        """CREATE TABLE memory_embedded (
            space_id INTEGER NOT NULL REFERENCES memory_spaces(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (space_id, item_id)
        ) WITHOUT ROWID""",
        # Trained embedders (the workspace's own model), persisted across sessions.
        """CREATE TABLE memory_models (
            name TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            data BLOB NOT NULL,
            trained_on INTEGER NOT NULL,
            created REAL NOT NULL
        )""",
        # scope: '' (the whole workspace), a path glob, or a qualified symbol name.
        # source: user (asked to remember) | learned (from a rejected proposal).
        """CREATE TABLE memory_notes (
            item_id INTEGER PRIMARY KEY REFERENCES memory_items(id) ON DELETE CASCADE,
            scope TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL CHECK (source IN ('user', 'learned')),
            decision_id INTEGER
        )""",
        # Proposals and what became of them, for trust to learn from. JSON in the *_json
        # columns; status: proposed | accepted | rejected | applied | reverted | stale.
        """CREATE TABLE memory_decisions (
            id INTEGER PRIMARY KEY,
            item_id INTEGER REFERENCES memory_items(id) ON DELETE SET NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            task TEXT NOT NULL,
            kind TEXT NOT NULL,
            engine TEXT NOT NULL DEFAULT '',
            model TEXT,
            prompt_hash TEXT,
            diff TEXT NOT NULL DEFAULT '',
            targets_json TEXT NOT NULL DEFAULT '[]',
            evidence_json TEXT NOT NULL DEFAULT '{}',
            verification_json TEXT NOT NULL DEFAULT '{}',
            confidence REAL,
            policy_json TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL,
            reason TEXT
        )""",
        "CREATE INDEX memory_decisions_status ON memory_decisions(status)",
        # Every status change of a decision, append-only: the outcome history.
        """CREATE TABLE memory_decision_events (
            id INTEGER PRIMARY KEY,
            decision_id INTEGER NOT NULL REFERENCES memory_decisions(id),
            ts REAL NOT NULL,
            status TEXT NOT NULL,
            detail TEXT
        )""",
        "CREATE INDEX memory_decision_events_decision ON memory_decision_events(decision_id)",
        """CREATE TRIGGER memory_decision_events_no_update
        BEFORE UPDATE ON memory_decision_events
        BEGIN SELECT RAISE(ABORT, 'decision history is append-only'); END""",
        """CREATE TRIGGER memory_decision_events_no_delete
        BEFORE DELETE ON memory_decision_events
        BEGIN SELECT RAISE(ABORT, 'decision history is append-only'); END""",
        # Plans being run, so an interrupted plan resumes after a restart.
        """CREATE TABLE memory_plan_runs (
            id TEXT PRIMARY KEY,
            task TEXT NOT NULL,
            plan_json TEXT NOT NULL,
            status TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL
        )""",
        """CREATE TABLE memory_plan_steps (
            run_id TEXT NOT NULL REFERENCES memory_plan_runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            status TEXT NOT NULL,
            detail_json TEXT NOT NULL DEFAULT '{}',
            updated REAL NOT NULL,
            PRIMARY KEY (run_id, idx)
        )""",
    ),
)

m008_create_memory_fts_vocab = Migration(
    "m008_create_memory_fts_vocab",
    (
        # Per-word document counts of memory_fts (a view on its index, no storage), for
        # leaving very common words out of keyword queries on large memories.
        "CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts_vocab USING fts5vocab(memory_fts, row)",
    ),
)

m009_create_trust_models = Migration(
    "m009_create_trust_models",
    (
        # Every fitted confidence model, newest last (the newest is in force); kept so a
        # report can say how calibration moved as outcomes arrived.
        """CREATE TABLE trust_models (
            id INTEGER PRIMARY KEY,
            created REAL NOT NULL,
            outcomes INTEGER NOT NULL,
            model_json TEXT NOT NULL
        )""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    m001_create_files,
    m002_create_symbols,
    m003_create_refs,
    m004_create_imports,
    m005_create_meta,
    m006_create_governance_ledger,
    m007_create_memory,
    m008_create_memory_fts_vocab,
    m009_create_trust_models,
)
