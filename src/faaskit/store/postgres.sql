CREATE TABLE IF NOT EXISTS faaskit_documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    data JSONB NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);

CREATE INDEX IF NOT EXISTS faaskit_documents_data
    ON faaskit_documents USING GIN (data jsonb_path_ops);

-- One row per declared unique field of a document; its primary key enforces uniqueness.
CREATE TABLE IF NOT EXISTS faaskit_document_keys (
    collection TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (collection, field, value)
);

CREATE INDEX IF NOT EXISTS faaskit_document_keys_by_document
    ON faaskit_document_keys (collection, id);
