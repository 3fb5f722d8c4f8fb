-- oauth-dcr SQLite schema, version 1. Applied by SqliteStore::open (recorded in
-- dcr_schema_migrations), or by your own migration tool (SqliteStore::migration_sql).
-- Times are Unix seconds.

CREATE TABLE IF NOT EXISTS dcr_clients (
    client_id               TEXT PRIMARY KEY NOT NULL,
    -- The whole ClientRecord as JSON (metadata, secret hash or retrievable secret, provenance).
    -- `version` and `last_used` are read from their columns.
    record                  TEXT NOT NULL,
    software_id             TEXT,
    -- SHA-256 of the current registration access token; the token itself is never stored.
    registration_token_hash BLOB UNIQUE,
    -- SHA-256 of the software_id and instance key of an idempotent registration.
    instance_hash           BLOB UNIQUE,
    origin                  TEXT NOT NULL,
    statement_issuer        TEXT,
    initial_token_subject   TEXT,
    -- Optimistic concurrency: every update and delete compares and increments it.
    version                 INTEGER NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    -- Written alone by UsageLog::touch, which must not change the version.
    last_used               INTEGER,
    secret_expires_at       INTEGER
);

CREATE INDEX IF NOT EXISTS dcr_clients_software_id ON dcr_clients (software_id);
-- ClientListing pages in (created_at, client_id) order.
CREATE INDEX IF NOT EXISTS dcr_clients_listing ON dcr_clients (created_at, client_id);

-- Crate-issued initial access tokens: hash only, uses counted in SQL.
CREATE TABLE IF NOT EXISTS dcr_initial_tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    record     TEXT NOT NULL,
    expires_at INTEGER,
    max_uses   INTEGER,
    uses       INTEGER NOT NULL DEFAULT 0
);

-- The jti replay guard: the SHA-256 of each key (issuer, NUL, jti), so any key takes 32 bytes.
CREATE TABLE IF NOT EXISTS dcr_replay_digests (
    key_sha256 BLOB PRIMARY KEY NOT NULL CHECK (length(key_sha256) = 32),
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS dcr_replay_digests_expires_at ON dcr_replay_digests (expires_at);
