-- oauth-dcr schema, version 2: idempotent re-registration looks clients up by the hash of their
-- software_id and instance key.

ALTER TABLE {schema}.dcr_clients ADD COLUMN IF NOT EXISTS instance_hash BYTEA UNIQUE;
