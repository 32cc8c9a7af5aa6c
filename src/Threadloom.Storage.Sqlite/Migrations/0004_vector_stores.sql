-- Vector stores (issue #4). A vector store file row in status 'in_progress' is an ingestion job: the worker leases it
-- with locked_by / locked_until (Unix milliseconds), as runs are leased. The id of a file row is the file's id, so
-- the key is (vector_store_id, id). Counts and usage of stores and batches are computed from these rows.
CREATE TABLE vector_stores (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_vector_stores_project ON vector_stores(project_id, seq);

CREATE TABLE vector_store_files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    vector_store_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    batch_id TEXT,
    status TEXT NOT NULL,
    usage_bytes INTEGER NOT NULL DEFAULT 0,
    locked_by TEXT,
    locked_until INTEGER,
    data TEXT NOT NULL,
    UNIQUE (vector_store_id, id)
);
CREATE INDEX ix_vector_store_files_store ON vector_store_files(vector_store_id, status);
CREATE INDEX ix_vector_store_files_file ON vector_store_files(project_id, id);
CREATE INDEX ix_vector_store_files_batch ON vector_store_files(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX ix_vector_store_files_jobs ON vector_store_files(status, seq) WHERE status = 'in_progress';

CREATE TABLE vector_store_file_batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    vector_store_id TEXT NOT NULL,
    data TEXT NOT NULL
);
