-- Run events between nodes (issue #12 §3). A stream tails run_events by (run_id, seq); LISTEN/NOTIFY only wakes it,
-- so a missed notification delays an event and loses nothing. run_event_heads numbers each run's events: a writer
-- takes the head row's lock to number its rows, so rows of one run commit in sequence order and a tailer that reads
-- "seq > cursor" never skips one. Both tables are pruned once a run has ended (bounded growth). Times are Unix ms.
CREATE TABLE run_event_heads (
    run_id TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX ix_run_event_heads_updated ON run_event_heads(updated_at);

CREATE TABLE run_events (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
