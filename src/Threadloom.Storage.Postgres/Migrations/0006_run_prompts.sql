-- The prompt of each model call of a run, as the model received it (issue #13: the playground's run inspector); the
-- equivalent of SQLite's 0011. `document` is a JSON object written by the run engine; `created_at` is Unix milliseconds.
CREATE TABLE run_prompts (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    turn INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    document TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_run_prompts_turn ON run_prompts(run_id, turn);
CREATE INDEX ix_run_prompts_thread ON run_prompts(thread_id);
