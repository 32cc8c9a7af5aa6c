-- A guard for writes sent in one batch with the rest of their unit of work (issue #12): a conditional write (a run's
-- update on its expected status, a run's insert against the one-active-run index) is wrapped as
-- "WITH w AS (... RETURNING 1) SELECT threadloom_require_rows(count(*)) FROM w", so a write that touched no row
-- raises SQLSTATE TL001 and the whole batch, which PostgreSQL runs as one transaction, is rolled back. The node turns
-- TL001 into RunStatusChangedException; nothing else raises it.
CREATE OR REPLACE FUNCTION threadloom_require_rows(touched bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF touched = 0 THEN
        RAISE EXCEPTION 'threadloom: the row was not as the write expected' USING ERRCODE = 'TL001';
    END IF;
    RETURN touched;
END
$$;
