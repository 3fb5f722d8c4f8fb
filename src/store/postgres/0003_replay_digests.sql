-- oauth-dcr schema, version 3: the jti replay guard keeps the SHA-256 of each key. Keys are the
-- issuer, NUL, the jti: PostgreSQL text refuses NUL, so the version 1 table (dcr_replay) could
-- hold no real key. A digest holds any key in 32 bytes, however long the jti.
--
-- Additive: dcr_replay stays for replicas still running an older release during a rolling
-- upgrade (it can hold no key with a NUL, so nothing is lost by not copying it); drop it once
-- every replica runs this one.

CREATE TABLE IF NOT EXISTS {schema}.dcr_replay_digests (
    key_sha256 BYTEA PRIMARY KEY CHECK (octet_length(key_sha256) = 32),
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS dcr_replay_digests_expires_at ON {schema}.dcr_replay_digests (expires_at);
