-- Each chunk's vector store as one FTS5 token (the id without separators), in its own column, so a keyword query can
-- be limited to one store inside FTS5: `store_token : "vsabc…" AND {text context} : (…)` scores only that store's
-- rows, where a join after the match scored every matching row of every store (a small store beside a large one).
-- Its bm25 weight is 0. The FTS index is rebuilt from the content table.
DROP TRIGGER chunks_fts_insert;
DROP TRIGGER chunks_fts_delete;
DROP TABLE chunks_fts;

ALTER TABLE chunks ADD COLUMN store_token TEXT NOT NULL DEFAULT '';
UPDATE chunks SET store_token = replace(replace(vector_store_id, '_', ''), '-', '');

CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, context, store_token,
    content = 'chunks', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');

CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text, context, store_token) VALUES (new.id, new.text, new.context, new.store_token);
END;

CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text, context, store_token) VALUES ('delete', old.id, old.text, old.context, old.store_token);
END;
