-- Keys can be revoked and listed (issue #9 §4). A revoked key keeps its row (for `keys list`) with `revoked_at` set.
-- `hint` is the redacted key shown in listings; `last_used_at` is recorded at most once a minute per node.
-- `key_set` is one row: `version` moves with every key created or revoked, so each node drops its cached grants
-- within a second by reading it; `keys_configured` records for good that a key ever existed, so revoking the last
-- key never turns dev mode back on. Times are Unix seconds, as in `api_keys.created_at`.
ALTER TABLE api_keys ADD COLUMN hint TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;

CREATE TABLE key_set (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    keys_configured INTEGER NOT NULL
);
INSERT INTO key_set (id, version, keys_configured) VALUES (1, 0, EXISTS (SELECT 1 FROM api_keys));
