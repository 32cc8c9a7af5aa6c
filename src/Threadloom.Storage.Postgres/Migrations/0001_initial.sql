-- The PostgreSQL schema, equivalent to SQLite's migrations 0001-0006. Every object row keeps its document in `data`
-- (DomainJson, as text: jsonb would refuse the \u0000 escapes that user text may contain) plus the columns queries
-- filter on. `seq` is the insertion order lists page on. Lease and expiry times are Unix milliseconds, as on SQLite.
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE assistants (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_assistants_project ON assistants(project_id, seq);

CREATE TABLE threads (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_threads_project ON threads(project_id, seq);

CREATE TABLE messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    run_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX ix_messages_thread ON messages(thread_id, seq);
CREATE INDEX ix_messages_run ON messages(run_id, seq) WHERE run_id IS NOT NULL;

-- The ledger of blobs: a write holds its blob (held_at) before the bytes are in place; the collector deletes only
-- blobs past the grace period that no file references. The foreign key makes "a file row never points at a blob the
-- database has forgotten" a rule of the schema.
CREATE TABLE blobs (
    key TEXT PRIMARY KEY,
    length BIGINT NOT NULL,
    held_at BIGINT NOT NULL
);
CREATE INDEX ix_blobs_held ON blobs(held_at);

-- Blob bytes when Storage:Blobs is 'database': 1 MiB chunks, written and renamed to their key in one transaction.
CREATE TABLE blob_chunks (
    blob_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (blob_key, seq)
);

CREATE TABLE files (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    blob_key TEXT NOT NULL REFERENCES blobs(key),
    data TEXT NOT NULL
);
CREATE INDEX ix_files_project ON files(project_id, seq);
CREATE INDEX ix_files_blob ON files(blob_key);

CREATE TABLE runs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    status TEXT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    expires_at BIGINT,
    data TEXT NOT NULL
);
CREATE INDEX ix_runs_thread ON runs(thread_id, seq);
CREATE INDEX ix_runs_queued ON runs(seq) WHERE status = 'queued';
CREATE INDEX ix_runs_expiry ON runs(expires_at) WHERE status = 'requires_action';
CREATE INDEX ix_runs_lease ON runs(locked_until) WHERE locked_by IS NOT NULL;
-- One active run per thread, as a rule of the schema.
CREATE UNIQUE INDEX ux_runs_active_thread ON runs(thread_id) WHERE status IN ('queued', 'in_progress', 'requires_action', 'cancelling');

CREATE TABLE run_steps (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_run_steps_run ON run_steps(run_id, seq);
CREATE INDEX ix_run_steps_thread ON run_steps(thread_id);

CREATE TABLE vector_stores (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_vector_stores_project ON vector_stores(project_id, seq);

-- A row in status 'in_progress' is an ingestion job, leased with locked_by / locked_until.
CREATE TABLE vector_store_files (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL,
    vector_store_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    batch_id TEXT,
    status TEXT NOT NULL,
    usage_bytes BIGINT NOT NULL DEFAULT 0,
    locked_by TEXT,
    locked_until BIGINT,
    data TEXT NOT NULL,
    UNIQUE (vector_store_id, id)
);
CREATE INDEX ix_vector_store_files_store ON vector_store_files(vector_store_id, status);
CREATE INDEX ix_vector_store_files_file ON vector_store_files(project_id, id);
CREATE INDEX ix_vector_store_files_batch ON vector_store_files(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX ix_vector_store_files_jobs ON vector_store_files(seq) WHERE status = 'in_progress';

CREATE TABLE vector_store_file_batches (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    vector_store_id TEXT NOT NULL,
    data TEXT NOT NULL
);
