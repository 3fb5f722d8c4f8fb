//! [`PostgresStore`]: clients, crate-issued initial access tokens and the `jti` replay guard in
//! PostgreSQL, shared by every replica of the authorization server.
//!
//! Built on `tokio-postgres` with a `deadpool-postgres` pool: a small, widely used driver without
//! compile-time query checking or macros, so it builds fast and needs no database at build time.
//! Every write is one SQL statement, atomic on its own: rotation and updates compare and
//! increment `version`, token uses are counted with a conditional `UPDATE`, so no lost update
//! and no overspent token whatever the number of replicas.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use tokio_postgres::NoTls;

use super::{
    ClientCount, ClientListing, ClientRecord, ClientStore, InstanceIndex, ListPage, ListQuery,
    ListedClient, StoreError, UsageLog,
};
use crate::initial_tokens::{InitialTokenStore, IssuedToken};
use crate::secret::SecretHash;
use crate::statements::ReplayGuard;

const MIGRATIONS: [(i32, &str); 4] = [
    (1, include_str!("postgres/0001_init.sql")),
    (2, include_str!("postgres/0002_instances.sql")),
    (3, include_str!("postgres/0003_replay_digests.sql")),
    (4, include_str!("postgres/0004_listing.sql")),
];

/// A [`ClientStore`] with every capability ([`InstanceIndex`], [`UsageLog`], [`ClientCount`],
/// [`ClientListing`]), an [`InitialTokenStore`] and a [`ReplayGuard`] over PostgreSQL.
///
/// The replay guard keeps the SHA-256 of each key (the issuer, NUL and the `jti`), so any key,
/// however long and whatever its characters, takes 32 bytes (migration 3, table
/// `dcr_replay_digests`). [`touch`](UsageLog::touch) writes the time of use without changing
/// the record's version.
///
/// ```no_run
/// use oauth_dcr::store::PostgresStore;
///
/// # async fn demo() -> Result<(), oauth_dcr::StoreError> {
/// let store = PostgresStore::connect("postgres://dcr@db.internal/auth", 16).await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    timeout: Duration,
    replay_calls: Arc<AtomicU64>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects a pool of at most `max_connections` to `url` (a libpq-style connection string
    /// or `postgres://` URL, without TLS; put TLS in front through your network or use
    /// [`from_pool`](Self::from_pool) with a TLS-enabled pool). Connections open lazily.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub async fn connect(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(StoreError::backend)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(StoreError::backend)?;
        Ok(Self::from_pool(pool))
    }

    /// Uses an existing pool.
    pub fn from_pool(pool: Pool) -> Self {
        Self {
            pool,
            schema: "public".to_owned(),
            timeout: Duration::from_secs(5),
            replay_calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Keeps the tables in another schema (an SQL identifier: lowercase letters, digits and `_`),
    /// which [`migrate`](Self::migrate) creates if needed.
    ///
    /// # Errors
    /// When `schema` is not a plain identifier.
    pub fn with_schema(mut self, schema: &str) -> Result<Self, StoreError> {
        let plain = !schema.is_empty()
            && schema.len() <= 63
            && !schema.starts_with(|c: char| c.is_ascii_digit())
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !plain {
            return Err(StoreError::backend(std::io::Error::other(
                "the schema must be a plain lowercase SQL identifier",
            )));
        }
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// Sets the time limit of each operation (connection wait included). Defaults to 5 seconds.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Creates or upgrades the tables. Safe to call from every replica at start: an advisory lock
    /// serialises concurrent calls, and applied versions are recorded.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let schema = &self.schema;
        self.timed(async {
            let mut client = self.pool.get().await.map_err(StoreError::backend)?;
            let tx = client.transaction().await.map_err(StoreError::backend)?;
            tx.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock(7591); \
                 CREATE SCHEMA IF NOT EXISTS {schema}; \
                 CREATE TABLE IF NOT EXISTS {schema}.dcr_schema_migrations (version INTEGER PRIMARY KEY);"
            ))
            .await
            .map_err(StoreError::backend)?;
            for (version, sql) in MIGRATIONS {
                let applied = tx
                    .query_opt(
                        &format!("SELECT 1 FROM {schema}.dcr_schema_migrations WHERE version = $1"),
                        &[&version],
                    )
                    .await
                    .map_err(StoreError::backend)?;
                if applied.is_none() {
                    tx.batch_execute(&sql.replace("{schema}", schema))
                        .await
                        .map_err(StoreError::backend)?;
                    tx.execute(
                        &format!("INSERT INTO {schema}.dcr_schema_migrations (version) VALUES ($1)"),
                        &[&version],
                    )
                    .await
                    .map_err(StoreError::backend)?;
                }
            }
            tx.commit().await.map_err(StoreError::backend)
        })
        .await
    }

    /// The SQL of every migration with `{schema}` filled in, for hosts that apply migrations
    /// with their own tool.
    pub fn migration_sql(&self) -> Vec<String> {
        MIGRATIONS
            .iter()
            .map(|(_, sql)| sql.replace("{schema}", &self.schema))
            .collect()
    }

    async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| StoreError::backend(std::io::Error::other("database timeout")))?
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(StoreError::backend)
    }

    /// A pooled connection and `sql` prepared on it, from the connection's statement cache: after
    /// the first use, a statement costs one round trip.
    async fn prepared(
        &self,
        sql: &str,
    ) -> Result<(deadpool_postgres::Object, tokio_postgres::Statement), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(StoreError::backend)?;
        Ok((client, statement))
    }

    /// The client whose `column` equals `value` (a unique column), if any.
    async fn record_where(
        &self,
        column: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Option<ClientRecord>, StoreError> {
        let sql = format!(
            "SELECT record, version FROM {} WHERE {column} = $1",
            self.table("dcr_clients")
        );
        self.timed(async {
            let row = self.query_opt(&sql, &[value]).await?;
            row.as_ref().map(record_from).transpose()
        })
        .await
    }

    /// Why a compare-and-set write touched no row: the client is gone, or its version moved.
    /// Asked on the connection that made the write, so a one-connection pool cannot wait on
    /// itself.
    async fn why_unchanged(
        &self,
        client: &deadpool_postgres::Object,
        client_id: &str,
    ) -> StoreError {
        let sql = format!(
            "SELECT 1 FROM {} WHERE client_id = $1",
            self.table("dcr_clients")
        );
        match client.query_opt(&sql, &[&client_id]).await {
            Ok(Some(_)) => StoreError::Conflict,
            Ok(None) => StoreError::NotFound,
            Err(e) => StoreError::backend(e),
        }
    }

    /// One row or none.
    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, StoreError> {
        let (client, statement) = self.prepared(sql).await?;
        client
            .query_opt(&statement, params)
            .await
            .map_err(StoreError::backend)
    }

    fn table(&self, name: &str) -> String {
        format!("{}.{name}", self.schema)
    }
}

fn token_columns(record: &ClientRecord) -> (Option<Vec<u8>>, Option<OffsetDateTime>) {
    match &record.registration_token {
        Some(t) => (Some(t.hash.as_bytes().to_vec()), t.expires_at),
        None => (None, None),
    }
}

fn instance_column(record: &ClientRecord) -> Option<Vec<u8>> {
    record.instance.as_ref().map(|h| h.as_bytes().to_vec())
}

fn origin(record: &ClientRecord) -> &'static str {
    match record.origin {
        super::Origin::Dynamic => "dynamic",
        super::Origin::Administrator => "administrator",
    }
}

fn unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn record_from(row: &tokio_postgres::Row) -> Result<ClientRecord, StoreError> {
    let Json(mut record): Json<ClientRecord> = row.try_get(0).map_err(StoreError::backend)?;
    let version: i64 = row.try_get(1).map_err(StoreError::backend)?;
    record.version = u64::try_from(version).map_err(StoreError::backend)?;
    Ok(record)
}

fn version_param(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(StoreError::backend)
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let (hash, expires) = token_columns(record);
        let sql = format!(
            "INSERT INTO {} (client_id, record, software_id, registration_token_hash, \
             registration_token_expires_at, origin, version, created_at, updated_at, \
             instance_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (client_id) DO NOTHING",
            self.table("dcr_clients")
        );
        self.timed(async {
            let (client, statement) = self.prepared(&sql).await?;
            let inserted = client
                .execute(
                    &statement,
                    &[
                        &record.client_id,
                        &Json(record),
                        &record.metadata.software_id,
                        &hash,
                        &expires,
                        &origin(record),
                        &version_param(record.version)?,
                        &record.created_at,
                        &record.updated_at,
                        &instance_column(record),
                    ],
                )
                .await;
            match inserted {
                Ok(1) => Ok(()),
                Ok(_) => Err(StoreError::Conflict),
                Err(e) if unique_violation(&e) => Err(StoreError::Conflict),
                Err(e) => Err(StoreError::backend(e)),
            }
        })
        .await
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.record_where("client_id", &client_id).await
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.record_where("registration_token_hash", &hash.as_bytes().to_vec())
            .await
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let mut next = record.clone();
        next.version += 1;
        let (hash, expires) = token_columns(&next);
        let table = self.table("dcr_clients");
        let sql = format!(
            "UPDATE {table} SET record = $2, software_id = $3, registration_token_hash = $4, \
             registration_token_expires_at = $5, origin = $6, version = version + 1, \
             updated_at = $7, instance_hash = $9 WHERE client_id = $1 AND version = $8"
        );
        self.timed(async {
            let (client, statement) = self.prepared(&sql).await?;
            let updated = client
                .execute(
                    &statement,
                    &[
                        &next.client_id,
                        &Json(&next),
                        &next.metadata.software_id,
                        &hash,
                        &expires,
                        &origin(&next),
                        &next.updated_at,
                        &version_param(record.version)?,
                        &instance_column(&next),
                    ],
                )
                .await;
            match updated {
                Ok(1) => Ok(()),
                Ok(_) => Err(self.why_unchanged(&client, &record.client_id).await),
                Err(e) if unique_violation(&e) => Err(StoreError::Conflict),
                Err(e) => Err(StoreError::backend(e)),
            }
        })
        .await
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        let table = self.table("dcr_clients");
        let sql = format!("DELETE FROM {table} WHERE client_id = $1 AND version = $2");
        self.timed(async {
            let (client, statement) = self.prepared(&sql).await?;
            let deleted = client
                .execute(&statement, &[&client_id, &version_param(version)?])
                .await
                .map_err(StoreError::backend)?;
            if deleted == 1 {
                return Ok(());
            }
            Err(self.why_unchanged(&client, client_id).await)
        })
        .await
    }

    fn as_instance_index(&self) -> Option<&dyn InstanceIndex> {
        Some(self)
    }

    fn as_usage_log(&self) -> Option<&dyn UsageLog> {
        Some(self)
    }

    fn as_client_count(&self) -> Option<&dyn ClientCount> {
        Some(self)
    }

    fn as_client_listing(&self) -> Option<&dyn ClientListing> {
        Some(self)
    }
}

#[async_trait]
impl InstanceIndex for PostgresStore {
    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.record_where("instance_hash", &instance.as_bytes().to_vec())
            .await
    }
}

#[async_trait]
impl UsageLog for PostgresStore {
    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        // One statement, no version change: a use is a hint, not a state transition.
        let sql = format!(
            "UPDATE {} SET record = jsonb_set(record, '{{last_used}}', to_jsonb($2::bigint)) \
             WHERE client_id = $1",
            self.table("dcr_clients")
        );
        let at = at.unix_timestamp();
        self.timed(async {
            let (client, statement) = self.prepared(&sql).await?;
            match client.execute(&statement, &[&client_id, &at]).await {
                Ok(1) => Ok(()),
                Ok(_) => Err(StoreError::NotFound),
                Err(e) => Err(StoreError::backend(e)),
            }
        })
        .await
    }

    async fn reap_candidates(
        &self,
        unused_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        // A superset: never used and old enough, with an expired secret, or an expired
        // federation registration; the reaper checks the rest of the rule on each record.
        let sql = format!(
            "SELECT record, version FROM {} WHERE origin = 'dynamic' AND ( \
               (record->>'last_used' IS NULL AND created_at < $1) \
               OR (record->'secret'->>'expires_at')::bigint <= $2 \
               OR (record->'federation'->>'expires_at')::bigint <= $2 \
             ) LIMIT $3",
            self.table("dcr_clients")
        );
        // Without a TTL no client is old enough to count as never used.
        let before = unused_before.unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let now = now.unix_timestamp();
        let limit = i64::try_from(limit).map_err(StoreError::backend)?;
        self.timed(async {
            let (client, statement) = self.prepared(&sql).await?;
            let rows = client
                .query(&statement, &[&before, &now, &limit])
                .await
                .map_err(StoreError::backend)?;
            rows.iter().map(record_from).collect()
        })
        .await
    }
}

#[async_trait]
impl ClientCount for PostgresStore {
    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        let table = self.table("dcr_clients");
        self.timed(async {
            let client = self.client().await?;
            let row = match software_id {
                None => {
                    client
                        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                        .await
                }
                Some(id) => {
                    client
                        .query_one(
                            &format!("SELECT count(*) FROM {table} WHERE software_id = $1"),
                            &[&id],
                        )
                        .await
                }
            }
            .map_err(StoreError::backend)?;
            let n: i64 = row.try_get(0).map_err(StoreError::backend)?;
            u64::try_from(n).map_err(StoreError::backend)
        })
        .await
    }
}

#[async_trait]
impl ClientListing for PostgresStore {
    /// One query over the `(created_at, client_id)` index (migration 4); the provenance
    /// filters read the record's JSON. The cursor is the `created_at` column (microseconds), so
    /// clients created within one second keep their order across pages.
    async fn list(&self, query: &ListQuery) -> Result<ListPage, StoreError> {
        let sql = format!(
            "SELECT record, version, created_at FROM {} \
             WHERE ($1::text IS NULL OR origin = $1) \
               AND ($2::text IS NULL OR record->>'statement_issuer' = $2) \
               AND ($3::text IS NULL OR record->>'initial_token_subject' = $3) \
               AND ($4::timestamptz IS NULL OR (created_at, client_id) > ($4, $5::text)) \
             ORDER BY created_at, client_id LIMIT $6",
            self.table("dcr_clients")
        );
        let origin = query.origin.map(|o| match o {
            super::Origin::Dynamic => "dynamic",
            super::Origin::Administrator => "administrator",
        });
        let after_at = query.after.as_ref().map(|c| c.created_at);
        let after_id = query.after.as_ref().map(|c| c.client_id.as_str());
        let page = query.page_size();
        let limit = i64::try_from(page + 1).map_err(StoreError::backend)?;
        self.timed(async {
            let (client, statement) = self.prepared(&sql).await?;
            let rows = client
                .query(
                    &statement,
                    &[
                        &origin,
                        &query.statement_issuer,
                        &query.initial_token_subject,
                        &after_at,
                        &after_id,
                        &limit,
                    ],
                )
                .await
                .map_err(StoreError::backend)?;
            let mut clients = Vec::with_capacity(rows.len());
            for row in &rows {
                let record = record_from(row)?;
                let mut listed = ListedClient::of(&record);
                listed.created_at = row.try_get(2).map_err(StoreError::backend)?;
                clients.push(listed);
            }
            Ok(ListPage::from_sorted(clients, page))
        })
        .await
    }
}

fn token_from(row: &tokio_postgres::Row) -> Result<IssuedToken, StoreError> {
    let Json(mut token): Json<IssuedToken> = row.try_get(0).map_err(StoreError::backend)?;
    let uses: i32 = row.try_get(1).map_err(StoreError::backend)?;
    token.uses = u32::try_from(uses).map_err(StoreError::backend)?;
    Ok(token)
}

#[async_trait]
impl InitialTokenStore for PostgresStore {
    async fn insert_token(&self, token: &IssuedToken) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {} (id, hash, record, expires_at, max_uses, uses) VALUES ($1, $2, $3, $4, $5, $6)",
            self.table("dcr_initial_tokens")
        );
        let max_uses = token
            .max_uses
            .map(i32::try_from)
            .transpose()
            .map_err(StoreError::backend)?;
        let uses = i32::try_from(token.uses).map_err(StoreError::backend)?;
        self.timed(async {
            let inserted = self
                .client()
                .await?
                .execute(
                    &sql,
                    &[
                        &token.id,
                        &token.hash.as_bytes().to_vec(),
                        &Json(token),
                        &token.grant.expires_at,
                        &max_uses,
                        &uses,
                    ],
                )
                .await;
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if unique_violation(&e) => Err(StoreError::Conflict),
                Err(e) => Err(StoreError::backend(e)),
            }
        })
        .await
    }

    async fn find_token(&self, hash: &SecretHash) -> Result<Option<IssuedToken>, StoreError> {
        let sql = format!(
            "SELECT record, uses FROM {} WHERE hash = $1",
            self.table("dcr_initial_tokens")
        );
        let hash = hash.as_bytes().to_vec();
        self.timed(async {
            let row = self.query_opt(&sql, &[&hash]).await?;
            row.as_ref().map(token_from).transpose()
        })
        .await
    }

    async fn take_use(&self, hash: &SecretHash, now: OffsetDateTime) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {} SET uses = uses + 1 WHERE hash = $1 \
             AND (expires_at IS NULL OR expires_at > $2) \
             AND (max_uses IS NULL OR uses < max_uses)",
            self.table("dcr_initial_tokens")
        );
        let hash = hash.as_bytes().to_vec();
        self.timed(async {
            let (client, statement) = self.prepared(&sql).await?;
            let taken = client
                .execute(&statement, &[&hash, &now])
                .await
                .map_err(StoreError::backend)?;
            Ok(taken == 1)
        })
        .await
    }

    async fn give_back_use(&self, hash: &SecretHash) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE {} SET uses = GREATEST(uses - 1, 0) WHERE hash = $1",
            self.table("dcr_initial_tokens")
        );
        let hash = hash.as_bytes().to_vec();
        self.timed(async {
            self.client()
                .await?
                .execute(&sql, &[&hash])
                .await
                .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<IssuedToken>, StoreError> {
        let sql = format!(
            "SELECT record, uses FROM {} ORDER BY id",
            self.table("dcr_initial_tokens")
        );
        self.timed(async {
            let rows = self
                .client()
                .await?
                .query(&sql, &[])
                .await
                .map_err(StoreError::backend)?;
            rows.iter().map(token_from).collect()
        })
        .await
    }

    async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE id = $1",
            self.table("dcr_initial_tokens")
        );
        self.timed(async {
            let n = self
                .client()
                .await?
                .execute(&sql, &[&id])
                .await
                .map_err(StoreError::backend)?;
            Ok(n == 1)
        })
        .await
    }
}

/// The replay table's key: the SHA-256 of the whole key. Keys are an issuer, NUL and a `jti`,
/// which PostgreSQL `text` refuses, and a `jti` may be kilobytes long; a digest is any key in
/// 32 bytes, and SHA-256 has no known collisions, so distinct keys stay distinct.
fn replay_digest(key: &str) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(key.as_bytes()).to_vec()
}

#[async_trait]
impl ReplayGuard for PostgresStore {
    async fn first_use(
        &self,
        key: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let table = self.table("dcr_replay_digests");
        // Inserted, or replaced an entry that had expired: first use. Otherwise a replay.
        let sql = format!(
            "INSERT INTO {table} (key_sha256, expires_at) VALUES ($1, $2) \
             ON CONFLICT (key_sha256) DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE {table}.expires_at <= $3"
        );
        let prune = format!("DELETE FROM {table} WHERE expires_at <= $1");
        let digest = replay_digest(key);
        self.timed(async {
            let (client, statement) = self.prepared(&sql).await?;
            let n = client
                .execute(&statement, &[&digest, &expires_at, &now])
                .await
                .map_err(StoreError::backend)?;
            // Keep the table small: prune expired entries once every 256 calls.
            if self.replay_calls.fetch_add(1, Ordering::Relaxed) % 256 == 0 {
                client
                    .execute(&prune, &[&now])
                    .await
                    .map_err(StoreError::backend)?;
            }
            Ok(n == 1)
        })
        .await
    }
}
