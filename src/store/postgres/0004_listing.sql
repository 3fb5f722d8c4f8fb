-- oauth-dcr schema, version 4: admin views list clients page by page in (created_at, client_id)
-- order (ClientListing); this index serves each page without a sort of the whole table.

CREATE INDEX IF NOT EXISTS dcr_clients_listing ON {schema}.dcr_clients (created_at, client_id);
