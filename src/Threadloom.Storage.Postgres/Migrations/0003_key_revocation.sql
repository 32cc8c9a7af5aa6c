-- Keys can be revoked and listed (issue #9 §4), as in SQLite's 0007_key_revocation.sql. A revoked key keeps its row
-- with `revoked_at` set. `key_set` is one row: `version` moves with every key created or revoked, so each node drops
-- its cached grants within a second by reading it; `keys_configured` records for good that a key ever existed.
ALTER TABLE api_keys ADD COLUMN hint TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;

CREATE TABLE key_set (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL,
    keys_configured BOOLEAN NOT NULL
);
INSERT INTO key_set (id, version, keys_configured) VALUES (1, 0, EXISTS (SELECT 1 FROM api_keys));
