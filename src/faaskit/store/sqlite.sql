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

-- The outbox: every published message (and every task's payload), kept for dedup and tail.
CREATE TABLE IF NOT EXISTS faaskit_messages (
    id TEXT NOT NULL PRIMARY KEY,
    topic TEXT NOT NULL,
    key TEXT,
    data TEXT NOT NULL,
    headers TEXT NOT NULL,
    correlation_id TEXT,
    causation_id TEXT,
    published_at REAL NOT NULL,
    expires_at REAL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS faaskit_messages_by_time ON faaskit_messages (published_at);

-- One row per message and target (subscription, task or cron) until it is acked.
CREATE TABLE IF NOT EXISTS faaskit_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    target TEXT NOT NULL,
    key TEXT,
    ordered INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    errors TEXT NOT NULL DEFAULT '[]'
);

CREATE INDEX IF NOT EXISTS faaskit_deliveries_due ON faaskit_deliveries (target, available_at);
CREATE INDEX IF NOT EXISTS faaskit_deliveries_by_key ON faaskit_deliveries (target, key, seq);
-- A relayed cloud message names its delivery by message and target.
CREATE INDEX IF NOT EXISTS faaskit_deliveries_by_message ON faaskit_deliveries (message_id, target);

CREATE TABLE IF NOT EXISTS faaskit_dead_letters (
    seq INTEGER NOT NULL PRIMARY KEY,
    message_id TEXT NOT NULL,
    target TEXT NOT NULL,
    key TEXT,
    ordered INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    errors TEXT NOT NULL,
    reason TEXT NOT NULL,
    died_at REAL NOT NULL
);

-- The event store: streams of events with a global position (one writer: commit order).
CREATE TABLE IF NOT EXISTS faaskit_events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    UNIQUE (stream, version)
);

CREATE INDEX IF NOT EXISTS faaskit_events_by_type ON faaskit_events (type, position);

CREATE TABLE IF NOT EXISTS faaskit_checkpoints (
    name TEXT NOT NULL PRIMARY KEY,
    position INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS faaskit_snapshots (
    stream TEXT NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL
) WITHOUT ROWID;

-- Full-text search of read models: one FTS5 row per searchable document; its rowid comes
-- from faaskit_search_keys so a document's row is found without scanning the index.
CREATE TABLE IF NOT EXISTS faaskit_search_keys (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    UNIQUE (collection, doc_id)
);

-- A prefix index for 1 to 3 letters: every query word is a prefix ("lam" finds "lamp"),
-- and short ones would otherwise merge the doclists of every word they begin.
-- (A file made before has its table rebuilt with it the first time it is searched.)
CREATE VIRTUAL TABLE IF NOT EXISTS faaskit_search USING fts5(
    f0, f1, f2, f3, f4, f5, f6, f7,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);

-- Typed columns beside the full-text row (faaskit.store.search_sql): one row per searchable
-- document, same rowid; k0..k15 hold the values of the fields the collection is filtered,
-- bounded and sorted by, as json_extract reads them from the document. Untyped on purpose:
-- comparisons and order stay exactly those of json_extract (NULL < numbers < text).
-- Indexes per column, (collection, kN, doc_id), are made when a column is first used.
CREATE TABLE IF NOT EXISTS faaskit_search_rows (
    rowid INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14, k15
);

CREATE INDEX IF NOT EXISTS faaskit_search_rows_by_id ON faaskit_search_rows (collection, doc_id);

-- A document's typed row goes with its key, whoever deletes it (a delete, a projection
-- rebuild, a reset).
CREATE TRIGGER IF NOT EXISTS faaskit_search_keys_forget AFTER DELETE ON faaskit_search_keys
BEGIN
    DELETE FROM faaskit_search_rows WHERE rowid = old.rowid;
END;

-- Which typed column holds which field, per collection (slot N is column kN).
CREATE TABLE IF NOT EXISTS faaskit_search_columns (
    collection TEXT NOT NULL,
    field TEXT NOT NULL,
    slot INTEGER NOT NULL,
    PRIMARY KEY (collection, field)
) WITHOUT ROWID;

-- Token buckets (faaskit.ratelimit): ``tokens`` left at ``updated_at``; ``full_at`` is when
-- refill makes the bucket full again. A missing row is a full bucket, so a row past its
-- ``full_at`` says nothing and is deleted as takes go by (the index finds them).
CREATE TABLE IF NOT EXISTS faaskit_rate_limits (
    bucket TEXT NOT NULL PRIMARY KEY,
    tokens REAL NOT NULL,
    updated_at REAL NOT NULL,
    full_at REAL NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS faaskit_rate_limits_by_full_at ON faaskit_rate_limits (full_at);

-- Invocation records in batches (the runtime's, written with the next unit of work): each
-- row holds up to 1,024 records as a JSON array of [function, trigger, started_at,
-- duration, cpu, memory, cold, init_seconds, outcome], and the span of their start times.
-- A row and an index entry a record cost more than the invocation of a small handler.
CREATE TABLE IF NOT EXISTS faaskit_invocation_batches (
    first_at REAL NOT NULL,
    last_at REAL NOT NULL,
    records INTEGER NOT NULL,
    rows TEXT NOT NULL
);

-- Windows (batches that end after its start) and the retention's delete.
CREATE INDEX IF NOT EXISTS faaskit_invocation_batches_by_end
    ON faaskit_invocation_batches (last_at);

-- Records were a row each before 2026-12-03: that table goes (records are kept days).
DROP TABLE IF EXISTS faaskit_invocations;

-- Circuit breakers (faaskit.breakers), one row per name; a missing row is a closed breaker.
-- ``due_at``: when an open breaker lets a trial through, or when a half-open breaker's
-- trial (its ``trial`` token) loses its lease. See faaskit/store/breaker_rules.py.
CREATE TABLE IF NOT EXISTS faaskit_breakers (
    name TEXT NOT NULL PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'closed',
    failures INTEGER NOT NULL DEFAULT 0,
    opened_at REAL,
    due_at REAL,
    trial TEXT,
    opens INTEGER NOT NULL DEFAULT 0,
    changed_at REAL,
    last_error TEXT
) WITHOUT ROWID;
