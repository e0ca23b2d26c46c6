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

MIGRATIONS: tuple[Migration, ...] = (
    m001_create_files,
    m002_create_symbols,
    m003_create_refs,
    m004_create_imports,
    m005_create_meta,
)
