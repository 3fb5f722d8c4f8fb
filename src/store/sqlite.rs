//! [`SqliteStore`]: clients, crate-issued initial access tokens and the `jti` replay guard in one
//! SQLite file, the embedded persistent store of a single-node server.
//!
//! Why `rusqlite` (with the `bundled` feature): it is the most used and best kept SQLite binding,
//! a thin, synchronous layer over the C library, and `bundled` compiles a known, recent SQLite
//! into the crate, so the store never depends on the system's version (UPSERT, `WITHOUT ROWID`
//! and WAL behave the same everywhere) and needs no library installed. SQLite's calls block —
//! on the disk, and on another writer for up to the busy timeout — so every call runs on tokio's
//! blocking threads ([`tokio::task::spawn_blocking`]), never on an async worker. The async
//! drivers that exist are that design with a thread per connection inside (`tokio-rusqlite`,
//! `deadpool-sqlite`) or a much larger dependency (`sqlx`); the pool here is a few dozen lines
//! over a semaphore.
//!
//! The file is opened in WAL mode: readers never wait for the writer, nor the writer for
//! readers. SQLite allows one writer at a time, so the store keeps exactly one writing
//! connection, behind an async semaphore: concurrent writes queue without holding a thread, and
//! none of them meets `SQLITE_BUSY` from this process. Reads go to a small pool of read-only
//! connections. Another process writing the same file makes a write wait (the busy timeout)
//! rather than fail at once.
//!
//! Every write is one SQL statement, atomic on its own: updates and deletes compare and
//! increment `version`, token uses are counted with a conditional `UPDATE`, the replay guard is
//! one UPSERT.

mod initial_tokens;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::{
    ClientCount, ClientListing, ClientRecord, ClientStore, InstanceIndex, ListPage, ListQuery,
    ListedClient, Origin, StoreError, UsageLog,
};
use crate::secret::SecretHash;
use crate::statements::ReplayGuard;

/// The schema's versions, in order: each applied once, in one transaction with the others of
/// its run, and recorded in `dcr_schema_migrations`.
const MIGRATIONS: [(i64, &str); 1] = [(1, include_str!("sqlite/0001_init.sql"))];

/// How a [`SqliteStore`] opens its file: see [`SqliteStore::open_with`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    readers: usize,
    busy_timeout: Duration,
    durable: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            durable: true,
        }
    }
}

impl SqliteOptions {
    /// Four readers, a 5-second busy timeout, durable commits.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many read connections the store keeps open at most (at least one; 4 by default).
    /// Writes always go through one connection.
    #[must_use]
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers.max(1);
        self
    }

    /// How long a statement waits for a lock another process holds on the file before it fails
    /// with [`StoreError::Backend`] (5 seconds by default).
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Whether each commit reaches the disk before the call returns (`synchronous = FULL`, the
    /// default): a registration answered 201 survives a power cut. `false` is
    /// `synchronous = NORMAL`: still never corrupt, and an application crash loses nothing, but
    /// a power cut may lose the last commits; faster on slow disks.
    #[must_use]
    pub fn durable_commits(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }
}

/// Which connections a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
}

/// Open connections of one role, and how many calls may use one at once.
struct Pool {
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    fn new(size: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(size)),
            idle: Mutex::new(Vec::with_capacity(size)),
        }
    }

    fn take(&self) -> Option<Connection> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn give_back(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(connection);
    }
}

struct Shared {
    path: PathBuf,
    options: SqliteOptions,
    writer: Pool,
    readers: Pool,
    replay_calls: AtomicU64,
}

impl Shared {
    fn pool(&self, role: Role) -> &Pool {
        match role {
            Role::Writer => &self.writer,
            Role::Reader => &self.readers,
        }
    }

    /// A new connection of `role`, its pragmas set.
    fn connect(&self, role: Role) -> Result<Connection, StoreError> {
        // No URI interpretation: the path is a file name, whatever it looks like.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags).map_err(backend)?;
        connection
            .busy_timeout(self.options.busy_timeout)
            .map_err(backend)?;
        let synchronous = if self.options.durable {
            "FULL"
        } else {
            "NORMAL"
        };
        connection
            .pragma_update(None, "synchronous", synchronous)
            .map_err(backend)?;
        if role == Role::Reader {
            connection
                .pragma_update(None, "query_only", true)
                .map_err(backend)?;
        }
        Ok(connection)
    }
}

/// A [`ClientStore`] with every capability ([`InstanceIndex`], [`UsageLog`], [`ClientCount`],
/// [`ClientListing`]), an [`InitialTokenStore`](crate::initial_tokens::InitialTokenStore) and a
/// [`ReplayGuard`] in one SQLite file (feature `sqlite`): the persistent store of a single-node
/// server, with nothing to run beside it.
///
/// [`open`](Self::open) creates the file if needed, switches it to WAL mode and applies the
/// schema's migrations (versioned like `PostgresStore`'s). Clients are kept as the JSON of their
/// record next to the columns the store looks them up by; [`touch`](UsageLog::touch) writes the
/// time of use without changing the record's version. The replay guard keeps the SHA-256 of each
/// key. Every SQLite failure is a [`StoreError::Backend`] whose source is the SQLite error.
///
/// It needs a tokio runtime (any flavour): its calls run on the runtime's blocking threads. For
/// several replicas sharing one database, use `PostgresStore`; SQLite over a network file system
/// is not supported by SQLite itself.
///
/// ```no_run
/// use std::sync::Arc;
/// use oauth_dcr::store::SqliteStore;
/// use oauth_dcr::{Registrar, ServerPolicy};
///
/// # async fn demo() -> Result<(), oauth_dcr::StoreError> {
/// let store = SqliteStore::open("/var/lib/auth/clients.db").await?;
/// let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), Arc::new(store));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(e)
}

fn failure(message: &'static str) -> StoreError {
    StoreError::backend(std::io::Error::other(message))
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` with the default [`SqliteOptions`], in WAL
    /// mode, and applies the migrations it lacks.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or created, is not a database, was
    /// migrated by a newer release of this crate, or cannot use WAL; or when `path` is empty or
    /// `:memory:` (each connection would see a database of its own: use
    /// [`MemoryStore`](crate::MemoryStore)).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// As [`open`](Self::open), with these options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let name = path.as_os_str();
        if name.is_empty() || name == ":memory:" {
            return Err(failure(
                "SqliteStore needs a file (an in-memory SQLite database is private to one \
                 connection); use MemoryStore for a store in memory",
            ));
        }
        let readers = options.readers;
        let store = Self {
            shared: Arc::new(Shared {
                path,
                options,
                writer: Pool::new(1),
                readers: Pool::new(readers),
                replay_calls: AtomicU64::new(0),
            }),
        };
        store.write(migrate).await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The SQL of every migration, in order, for hosts that apply migrations with their own
    /// tool ([`open`](Self::open) applies them itself).
    pub fn migration_sql() -> Vec<&'static str> {
        MIGRATIONS.iter().map(|(_, sql)| *sql).collect()
    }

    /// Runs `work` on the writing connection.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run(Role::Writer, work).await
    }

    /// Runs `work` on a reading connection.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run(Role::Reader, work).await
    }

    /// Waits (asynchronously) for a connection of `role`, then runs `work` on it on a blocking
    /// thread. The connection goes back to its pool from that thread, so a caller that stops
    /// waiting loses nothing: the work completes, and the connection is reused.
    async fn run<T: Send + 'static>(
        &self,
        role: Role,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let permit = self
            .shared
            .pool(role)
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(backend)?;
        let shared = self.shared.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pool = shared.pool(role);
            let mut connection = match pool.take() {
                Some(connection) => connection,
                None => shared.connect(role)?,
            };
            let result = work(&mut connection);
            pool.give_back(connection);
            result
        });
        task.await.map_err(backend)?
    }

    /// The client whose `column` equals `value` (a unique column), if any.
    async fn record_where(
        &self,
        sql: &'static str,
        value: rusqlite::types::Value,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(sql).map_err(backend)?;
            let row = statement
                .query_row([value], |row| Ok(RecordRow::read(row)))
                .optional()
                .map_err(backend)?;
            row.map(|r| r?.into_record()).transpose()
        })
        .await
    }
}

/// Creates the migrations table, refuses a schema newer than this release knows, and applies
/// the migrations not recorded yet, in one `IMMEDIATE` transaction (another process opening the
/// file at the same time waits for it).
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(backend)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(failure("the database cannot use WAL mode"));
    }
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS dcr_schema_migrations (version INTEGER PRIMARY KEY NOT NULL);",
    )
    .map_err(backend)?;
    let newest: Option<i64> = tx
        .query_row(
            "SELECT max(version) FROM dcr_schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(backend)?;
    let known = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if newest.is_some_and(|v| v > known) {
        return Err(failure(
            "the database was migrated by a newer release of oauth-dcr than this one",
        ));
    }
    for (version, sql) in MIGRATIONS {
        if newest.is_some_and(|v| v >= version) {
            continue;
        }
        tx.execute_batch(sql).map_err(backend)?;
        tx.execute(
            "INSERT INTO dcr_schema_migrations (version) VALUES (?1)",
            [version],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

/// Whether `e` is a refused duplicate (primary key or unique column).
fn unique_violation(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(failure, _) => matches!(
            failure.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        ),
        _ => false,
    }
}

fn origin_text(origin: Origin) -> &'static str {
    match origin {
        Origin::Dynamic => "dynamic",
        Origin::Administrator => "administrator",
    }
}

fn version_param(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(backend)
}

fn time_from(seconds: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(backend)
}

/// `at` in whole seconds, rounded up: an expiry stored this way is never earlier than `at`.
fn ceil_seconds(at: OffsetDateTime) -> i64 {
    let seconds = at.unix_timestamp();
    if at.nanosecond() > 0 {
        seconds.saturating_add(1)
    } else {
        seconds
    }
}

/// The columns a client is written with, owned so that they can move to a blocking thread.
struct ClientColumns {
    client_id: String,
    record: String,
    software_id: Option<String>,
    token_hash: Option<Vec<u8>>,
    instance_hash: Option<Vec<u8>>,
    origin: &'static str,
    statement_issuer: Option<String>,
    initial_token_subject: Option<String>,
    created_at: i64,
    updated_at: i64,
    last_used: Option<i64>,
    secret_expires_at: Option<i64>,
}

impl ClientColumns {
    fn of(record: &ClientRecord) -> Result<Self, StoreError> {
        Ok(Self {
            client_id: record.client_id.clone(),
            record: serde_json::to_string(record).map_err(backend)?,
            software_id: record.metadata.software_id.clone(),
            token_hash: record
                .registration_token
                .as_ref()
                .map(|t| t.hash.as_bytes().to_vec()),
            instance_hash: record.instance.as_ref().map(|h| h.as_bytes().to_vec()),
            origin: origin_text(record.origin),
            statement_issuer: record.statement_issuer.clone(),
            initial_token_subject: record.initial_token_subject.clone(),
            created_at: record.created_at.unix_timestamp(),
            updated_at: record.updated_at.unix_timestamp(),
            last_used: record.last_used.map(OffsetDateTime::unix_timestamp),
            secret_expires_at: record
                .secret
                .as_ref()
                .and_then(|s| s.expires_at)
                .map(OffsetDateTime::unix_timestamp),
        })
    }
}

/// The columns a client is read from.
struct RecordRow {
    record: String,
    version: i64,
    last_used: Option<i64>,
}

const RECORD_COLUMNS: &str = "record, version, last_used";

impl RecordRow {
    /// The first three columns of `row` (`record, version, last_used`).
    fn read(row: &rusqlite::Row<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            record: row.get(0).map_err(backend)?,
            version: row.get(1).map_err(backend)?,
            last_used: row.get(2).map_err(backend)?,
        })
    }

    fn into_record(self) -> Result<ClientRecord, StoreError> {
        let mut record: ClientRecord = serde_json::from_str(&self.record).map_err(backend)?;
        record.version = u64::try_from(self.version).map_err(backend)?;
        record.last_used = self.last_used.map(time_from).transpose()?;
        Ok(record)
    }
}

/// Why a compare-and-set write changed no row: the client is gone, or its version moved.
/// Asked on the writing connection, which no other write of this store can use meanwhile.
fn why_unchanged(connection: &Connection, client_id: &str) -> StoreError {
    let found = connection
        .prepare_cached("SELECT 1 FROM dcr_clients WHERE client_id = ?1")
        .and_then(|mut statement| statement.exists([client_id]));
    match found {
        Ok(true) => StoreError::Conflict,
        Ok(false) => StoreError::NotFound,
        Err(e) => backend(e),
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let c = ClientColumns::of(record)?;
        let version = version_param(record.version)?;
        self.write(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "INSERT INTO dcr_clients (client_id, record, software_id, \
                     registration_token_hash, instance_hash, origin, statement_issuer, \
                     initial_token_subject, version, created_at, updated_at, last_used, \
                     secret_expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(backend)?;
            let inserted = statement.execute(params![
                c.client_id,
                c.record,
                c.software_id,
                c.token_hash,
                c.instance_hash,
                c.origin,
                c.statement_issuer,
                c.initial_token_subject,
                version,
                c.created_at,
                c.updated_at,
                c.last_used,
                c.secret_expires_at,
            ]);
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if unique_violation(&e) => Err(StoreError::Conflict),
                Err(e) => Err(backend(e)),
            }
        })
        .await
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        const SQL: &str = "SELECT record, version, last_used FROM dcr_clients WHERE client_id = ?1";
        self.record_where(SQL, client_id.to_owned().into()).await
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        const SQL: &str = "SELECT record, version, last_used FROM dcr_clients \
                           WHERE registration_token_hash = ?1";
        self.record_where(SQL, hash.as_bytes().to_vec().into())
            .await
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let mut next = record.clone();
        next.version += 1;
        let c = ClientColumns::of(&next)?;
        let expected = version_param(record.version)?;
        self.write(move |connection| {
            let updated = connection
                .prepare_cached(
                    "UPDATE dcr_clients SET record = ?2, software_id = ?3, \
                     registration_token_hash = ?4, instance_hash = ?5, origin = ?6, \
                     statement_issuer = ?7, initial_token_subject = ?8, version = version + 1, \
                     created_at = ?9, updated_at = ?10, last_used = ?11, secret_expires_at = ?12 \
                     WHERE client_id = ?1 AND version = ?13",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        c.client_id,
                        c.record,
                        c.software_id,
                        c.token_hash,
                        c.instance_hash,
                        c.origin,
                        c.statement_issuer,
                        c.initial_token_subject,
                        c.created_at,
                        c.updated_at,
                        c.last_used,
                        c.secret_expires_at,
                        expected,
                    ])
                });
            match updated {
                Ok(1) => Ok(()),
                Ok(_) => Err(why_unchanged(connection, &c.client_id)),
                Err(e) if unique_violation(&e) => Err(StoreError::Conflict),
                Err(e) => Err(backend(e)),
            }
        })
        .await
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        let client_id = client_id.to_owned();
        let version = version_param(version)?;
        self.write(move |connection| {
            let deleted = connection
                .prepare_cached("DELETE FROM dcr_clients WHERE client_id = ?1 AND version = ?2")
                .and_then(|mut statement| statement.execute(params![client_id, version]))
                .map_err(backend)?;
            if deleted == 1 {
                return Ok(());
            }
            Err(why_unchanged(connection, &client_id))
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
impl InstanceIndex for SqliteStore {
    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        const SQL: &str =
            "SELECT record, version, last_used FROM dcr_clients WHERE instance_hash = ?1";
        self.record_where(SQL, instance.as_bytes().to_vec().into())
            .await
    }
}

#[async_trait]
impl UsageLog for SqliteStore {
    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        // One statement on its own column, no version change: a use is a hint, not a state
        // transition.
        let client_id = client_id.to_owned();
        let at = at.unix_timestamp();
        self.write(move |connection| {
            let touched = connection
                .prepare_cached("UPDATE dcr_clients SET last_used = ?2 WHERE client_id = ?1")
                .and_then(|mut statement| statement.execute(params![client_id, at]))
                .map_err(backend)?;
            if touched == 1 {
                Ok(())
            } else {
                Err(StoreError::NotFound)
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
        // A superset (times in whole seconds, rounded towards including): never used and old
        // enough, or with an expired secret; the reaper checks the rest of the rule on each one.
        // Without a TTL no client is old enough to count as never used.
        let before = unused_before.map_or(i64::MIN, ceil_seconds);
        let now = ceil_seconds(now);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {RECORD_COLUMNS} FROM dcr_clients WHERE origin = 'dynamic' AND ( \
                       (last_used IS NULL AND created_at < ?1) OR secret_expires_at <= ?2 \
                       OR json_extract(record, '$.federation.expires_at') <= ?2 \
                     ) LIMIT ?3"
                ))
                .map_err(backend)?;
            let rows = statement
                .query_map(params![before, now, limit], |row| Ok(RecordRow::read(row)))
                .map_err(backend)?;
            rows.map(|row| row.map_err(backend)??.into_record())
                .collect()
        })
        .await
    }
}

#[async_trait]
impl ClientCount for SqliteStore {
    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        let software_id = software_id.map(str::to_owned);
        self.read(move |connection| {
            let n: i64 = match &software_id {
                None => connection
                    .prepare_cached("SELECT count(*) FROM dcr_clients")
                    .and_then(|mut s| s.query_row([], |row| row.get(0))),
                Some(id) => connection
                    .prepare_cached("SELECT count(*) FROM dcr_clients WHERE software_id = ?1")
                    .and_then(|mut s| s.query_row([id], |row| row.get(0))),
            }
            .map_err(backend)?;
            u64::try_from(n).map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl ClientListing for SqliteStore {
    /// One query over the `(created_at, client_id)` index; times in whole seconds, as stored.
    async fn list(&self, query: &ListQuery) -> Result<ListPage, StoreError> {
        let origin = query.origin.map(origin_text);
        let issuer = query.statement_issuer.clone();
        let subject = query.initial_token_subject.clone();
        let after_at = query.after.as_ref().map(|c| c.created_at.unix_timestamp());
        let after_id = query.after.as_ref().map(|c| c.client_id.clone());
        let page = query.page_size();
        let limit = i64::try_from(page + 1).map_err(backend)?;
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {RECORD_COLUMNS} FROM dcr_clients \
                     WHERE (?1 IS NULL OR origin = ?1) \
                       AND (?2 IS NULL OR statement_issuer = ?2) \
                       AND (?3 IS NULL OR initial_token_subject = ?3) \
                       AND (?4 IS NULL OR (created_at, client_id) > (?4, ?5)) \
                     ORDER BY created_at, client_id LIMIT ?6"
                ))
                .map_err(backend)?;
            let rows = statement
                .query_map(
                    params![origin, issuer, subject, after_at, after_id, limit],
                    |row| Ok(RecordRow::read(row)),
                )
                .map_err(backend)?;
            let mut clients = Vec::new();
            for row in rows {
                let record = row.map_err(backend)??.into_record()?;
                clients.push(ListedClient::of(&record));
            }
            Ok(ListPage::from_sorted(clients, page))
        })
        .await
    }
}

/// The replay table's key: the SHA-256 of the whole key (an issuer, NUL and a `jti` of any
/// length), 32 bytes whatever the key.
fn replay_digest(key: &str) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(key.as_bytes()).to_vec()
}

#[async_trait]
impl ReplayGuard for SqliteStore {
    async fn first_use(
        &self,
        key: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let digest = replay_digest(key);
        // Whole seconds: the expiry rounded up, so a key is never forgotten before its end.
        let expires_at = ceil_seconds(expires_at);
        let now = now.unix_timestamp();
        // Keep the table small: prune expired entries once every 256 calls.
        let prune = self.shared.replay_calls.fetch_add(1, Ordering::Relaxed) % 256 == 0;
        self.write(move |connection| {
            // Inserted, or replaced an entry that had expired: first use. Otherwise a replay.
            let n = connection
                .prepare_cached(
                    "INSERT INTO dcr_replay_digests (key_sha256, expires_at) VALUES (?1, ?2) \
                     ON CONFLICT (key_sha256) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE dcr_replay_digests.expires_at <= ?3",
                )
                .and_then(|mut statement| statement.execute(params![digest, expires_at, now]))
                .map_err(backend)?;
            if prune {
                connection
                    .prepare_cached("DELETE FROM dcr_replay_digests WHERE expires_at <= ?1")
                    .and_then(|mut statement| statement.execute([now]))
                    .map_err(backend)?;
            }
            Ok(n == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_round_up_to_the_second() {
        let whole = OffsetDateTime::from_unix_timestamp(100).expect("a time");
        assert_eq!(ceil_seconds(whole), 100);
        assert_eq!(ceil_seconds(whole + time::Duration::milliseconds(1)), 101);
        assert_eq!(ceil_seconds(whole - time::Duration::milliseconds(1)), 100);
    }
}
