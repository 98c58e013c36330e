CREATE TABLE IF NOT EXISTS faaskit_documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;

-- One row per declared unique field of a document; its primary key enforces uniqueness.
CREATE TABLE IF NOT EXISTS faaskit_document_keys (
    collection TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (collection, field, value)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS faaskit_document_keys_by_document
    ON faaskit_document_keys (collection, id);
