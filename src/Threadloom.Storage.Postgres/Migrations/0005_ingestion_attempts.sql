-- Issue #9 §2, as in SQLite's 0010_ingestion_attempts.sql: each claim of an ingestion job counts an attempt, so a
-- file that crashed the extraction worker (or the node) twice is failed instead of being claimed again forever.
ALTER TABLE vector_store_files ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
