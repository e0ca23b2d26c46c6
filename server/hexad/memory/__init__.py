"""Memory: code chunks, notes and decisions in SQLite with sqlite-vec and FTS5."""
