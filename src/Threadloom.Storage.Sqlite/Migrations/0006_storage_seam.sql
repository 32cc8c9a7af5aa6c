-- The storage seam (issue #12 §1) and blob lifetime (issue #9 §3).
-- One active run per thread is a guarantee of the schema, not of a check-then-insert that only SQLite's single
-- writer made safe: a second active run on a thread violates this index.
CREATE UNIQUE INDEX ux_runs_active_thread ON runs(thread_id) WHERE status IN ('queued', 'in_progress', 'requires_action', 'cancelling');

-- The ledger of blob bytes in the blob folder. A write holds its blob (held_at, Unix milliseconds) before the bytes
-- are moved into place; the collector deletes a blob only when its hold is older than the grace period and no file
-- row references it, in the same write transaction as the row's deletion.
CREATE TABLE blobs (
    key TEXT PRIMARY KEY,
    length INTEGER NOT NULL,
    held_at INTEGER NOT NULL
);
CREATE INDEX ix_blobs_held ON blobs(held_at);

-- Blobs written before the ledger existed are held from now, so the first sweep after the grace period collects
-- those that no file references any more (their bytes were left behind by a failed upload or a delete).
INSERT INTO blobs (key, length, held_at)
SELECT blob_key, MAX(COALESCE(json_extract(data, '$.bytes'), 0)), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
FROM files GROUP BY blob_key;
