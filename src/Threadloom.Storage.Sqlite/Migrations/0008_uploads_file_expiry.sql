-- Multipart uploads (POST /uploads) and their parts; the parts' bytes are staged on disk, outside the database.
CREATE TABLE uploads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ix_uploads_pending_expiry ON uploads(expires_at) WHERE status = 'pending';

CREATE TABLE upload_parts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    upload_id TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX ix_upload_parts_upload ON upload_parts(upload_id, seq);

-- Files with expires_after: the sweep finds the expired ones through this column.
ALTER TABLE files ADD COLUMN expires_at INTEGER;
CREATE INDEX ix_files_expires_at ON files(expires_at) WHERE expires_at IS NOT NULL;
