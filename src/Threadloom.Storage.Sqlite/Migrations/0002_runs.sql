-- Run engine (issue #3): the expiry of a run waiting for tool outputs, and the indexes the worker's sweeps use.
-- `locked_until` and `expires_at` hold Unix milliseconds.
ALTER TABLE runs ADD COLUMN expires_at INTEGER;
CREATE INDEX ix_runs_expiry ON runs(status, expires_at) WHERE status = 'requires_action';
CREATE INDEX ix_runs_lease ON runs(status, locked_until) WHERE locked_by IS NOT NULL;
CREATE INDEX ix_runs_active ON runs(thread_id, status);
