-- Every object row keeps its document in `data` (DomainJson) plus the columns that queries filter on.
-- `seq` is the insertion order: lists page on it, so objects created in the same second stay in a stable order.
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE assistants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_assistants_project ON assistants(project_id, seq);

CREATE TABLE threads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_threads_project ON threads(project_id, seq);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    run_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX ix_messages_thread ON messages(thread_id, seq);
CREATE INDEX ix_messages_run ON messages(run_id, seq) WHERE run_id IS NOT NULL;

CREATE TABLE files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_files_project ON files(project_id, seq);
CREATE INDEX ix_files_blob ON files(blob_key);

CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    status TEXT NOT NULL,
    locked_by TEXT,
    locked_until INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX ix_runs_thread ON runs(thread_id, seq);
CREATE INDEX ix_runs_status ON runs(status, seq);

CREATE TABLE run_steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_run_steps_run ON run_steps(run_id, seq);
CREATE INDEX ix_run_steps_thread ON run_steps(thread_id);
