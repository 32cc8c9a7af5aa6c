-- File search chunk index (issue #4). One row per chunk; the FTS5 table indexes the chunk text and its context
-- (file name and heading) with an external-content table kept in sync by triggers. Embeddings are float32
-- little-endian blobs of the store's model; the model is recorded once per vector store in chunk_stores.
CREATE TABLE chunk_stores (
    vector_store_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    dimensions INTEGER NOT NULL
);

-- Attributes are per vector store file (as on OpenAI), so they live here and are joined to chunks.
CREATE TABLE chunk_files (
    vector_store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    attributes TEXT,
    chunk_count INTEGER NOT NULL,
    usage_bytes INTEGER NOT NULL,
    PRIMARY KEY (vector_store_id, file_id)
);

CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL,
    vector_store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    context TEXT NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    token_count INTEGER NOT NULL,
    page INTEGER,
    heading TEXT,
    embedding BLOB NOT NULL
);
CREATE INDEX ix_chunks_file ON chunks(vector_store_id, file_id, chunk_index);

CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, context,
    content = 'chunks', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text, context) VALUES (new.id, new.text, new.context);
END;

CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text, context) VALUES ('delete', old.id, old.text, old.context);
END;
