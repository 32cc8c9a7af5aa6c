-- The chunk index: tsvector (GIN) for keywords, pgvector for vectors. A store keeps one embedding model (and width)
-- for its life, recorded in chunk_stores. The vector column has no fixed width (stores differ), so HNSW indexes are
-- partial expression indexes, one per common width, each over the rows of that width: a query uses one by naming the
-- same cast and predicate. Other widths are searched exactly.
CREATE TABLE chunk_stores (
    vector_store_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    dimensions INTEGER NOT NULL
);

CREATE TABLE chunk_files (
    vector_store_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    attributes TEXT,
    chunk_count INTEGER NOT NULL,
    usage_bytes BIGINT NOT NULL,
    PRIMARY KEY (vector_store_id, file_id)
);

CREATE TABLE chunks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    dimensions INTEGER NOT NULL,
    embedding vector NOT NULL,
    -- Text weighs A, context (file name and heading) B, as SQLite's bm25 weights text 1.0 and context 0.5.
    tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english', text), 'A') || setweight(to_tsvector('english', context), 'B')) STORED
);
CREATE INDEX ix_chunks_file ON chunks(vector_store_id, file_id, chunk_index);
CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX ix_chunks_hnsw_384 ON chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dimensions = 384;
CREATE INDEX ix_chunks_hnsw_768 ON chunks USING hnsw ((embedding::vector(768)) vector_cosine_ops) WHERE dimensions = 768;
CREATE INDEX ix_chunks_hnsw_1024 ON chunks USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WHERE dimensions = 1024;
CREATE INDEX ix_chunks_hnsw_1536 ON chunks USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE dimensions = 1536;
