-- oauth-dcr schema, version 1. Applied by PostgresStore::migrate, or by your own migration tool
-- (replace {schema} with the schema name, "public" by default).

CREATE TABLE IF NOT EXISTS {schema}.dcr_clients (
    client_id                     TEXT PRIMARY KEY,
    -- The whole ClientRecord as JSON (metadata, secret hash or retrievable secret, provenance).
    record                        JSONB NOT NULL,
    software_id                   TEXT,
    -- SHA-256 of the current registration access token; the token itself is never stored.
    registration_token_hash       BYTEA UNIQUE,
    registration_token_expires_at TIMESTAMPTZ,
    origin                        TEXT NOT NULL,
    -- Optimistic concurrency: every update and delete compares and increments it.
    version                       BIGINT NOT NULL,
    created_at                    TIMESTAMPTZ NOT NULL,
    updated_at                    TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS dcr_clients_software_id ON {schema}.dcr_clients (software_id);

-- Crate-issued initial access tokens: hash only, uses counted in SQL.
CREATE TABLE IF NOT EXISTS {schema}.dcr_initial_tokens (
    id         TEXT PRIMARY KEY,
    hash       BYTEA NOT NULL UNIQUE,
    record     JSONB NOT NULL,
    expires_at TIMESTAMPTZ,
    max_uses   INTEGER,
    uses       INTEGER NOT NULL DEFAULT 0
);

-- The jti replay guard shared by every replica.
CREATE TABLE IF NOT EXISTS {schema}.dcr_replay (
    key        TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS dcr_replay_expires_at ON {schema}.dcr_replay (expires_at);
