-- Keyword statistics per project (issue #9 §3): bm25's row count, average length and document frequencies were those
-- of one FTS5 table shared by every project, so one tenant's files moved another tenant's scores. Each project now
-- has its own FTS5 table, chunks_fts_{id} with the id below, created and written by SqliteChunkIndex in the same
-- transaction as the chunk rows (a trigger cannot choose a table per row). The shared chunks_fts is split into them
-- by SqliteKeywordTables on the index's first use (SQL alone cannot create tables by name), then dropped.
DROP TRIGGER chunks_fts_insert;
DROP TRIGGER chunks_fts_delete;

CREATE TABLE chunk_fts_tables (
    id INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL UNIQUE
);
