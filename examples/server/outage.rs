//! A database that goes away: requests answer 503 with `Retry-After`, not a bare 500.
//!
//! The crate answers every store failure with 500 `server_error` and no detail (the error's
//! cause is for the host's logs). A database that is restarting, unreachable or out of
//! connections is a different thing for a client: the request may well succeed in a few seconds.
//! So the example wraps its PostgreSQL and SQLite stores in [`Watched`], which looks at the cause
//! of each backend failure. When it is the database being unavailable, it marks the request, and
//! the [`unavailable`] middleware turns that request's 500 into 503 with `Retry-After`. Any other
//! store failure (an SQL error, a row that does not decode, a full disk) stays a 500.
//!
//! What "unavailable" means depends on the store:
//! - **PostgreSQL**: no connection could be had from the pool in time, the connection was
//!   refused or dropped, the server is shutting down or starting up or out of connections, an
//!   operation ran past the store's timeout.
//! - **SQLite**: the database stayed locked by another process (a backup, a migration, an
//!   `sqlite3` shell holding a write transaction) for longer than the store's busy timeout (5 s):
//!   `SQLITE_BUSY` or `SQLITE_LOCKED`. The store writes through one connection of its own, so
//!   only another process can hold that lock, and the same request succeeds once it lets go.
//!   Every other SQLite failure (I/O error, corrupt file, read-only file, full disk) needs an
//!   operator, not a retry: 500.
//!
//! Nothing hangs: every store operation is bounded by the store's timeout (5 s, connection wait
//! or lock wait included), and the PostgreSQL pool replaces dead connections by itself, so the
//! server recovers as soon as the database answers again.

// Only the PostgreSQL and SQLite stores are watched; without either feature the wrappers are
// unused.
#![cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]

use std::cell::Cell;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use oauth_dcr::statements::ReplayGuard;
use oauth_dcr::store::{
    ClientCount, ClientListing, InstanceIndex, ListPage, ListQuery, SecretHash, UsageLog,
};
use oauth_dcr::{ClientRecord, ClientStore, StoreError};
use time::OffsetDateTime;

/// The `Retry-After` of a 503, in seconds: about what a database restart takes.
pub(crate) const RETRY_AFTER_SECS: u32 = 5;

tokio::task_local! {
    /// Set when a store call of the current request found the database unavailable.
    static UNAVAILABLE: Cell<bool>;
}

/// The middleware: a request whose store calls found the database unavailable and that
/// answers 500 answers 503 `temporarily_unavailable` with `Retry-After` instead.
pub(crate) async fn unavailable(request: Request, next: Next) -> Response {
    let (response, unavailable) = UNAVAILABLE
        .scope(Cell::new(false), async {
            let response = next.run(request).await;
            (response, UNAVAILABLE.with(Cell::get))
        })
        .await;
    if unavailable && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        return service_unavailable();
    }
    response
}

fn service_unavailable() -> Response {
    let mut response = super::json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        &format!("the client store is unavailable; retry after {RETRY_AFTER_SECS} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// How a store's backend errors are told apart: whether one means the database cannot be used
/// now (and may be in a few seconds) rather than that it refused this operation.
pub(crate) type Classify = fn(&(dyn std::error::Error + 'static)) -> bool;

/// Marks the current request when `result` is a failure of an unavailable database, as
/// `classify` tells.
fn watch<T>(classify: Classify, result: Result<T, StoreError>) -> Result<T, StoreError> {
    if let Err(StoreError::Backend(cause)) = &result {
        if classify(cause.as_ref()) {
            // Outside a request (a background task) there is nothing to mark.
            let _ = UNAVAILABLE.try_with(|flag| flag.set(true));
        }
    }
    result
}

/// PostgreSQL: whether a backend error means the database cannot be reached now, rather than
/// that it refused this operation: decided by the first cause in the chain that says.
pub(crate) fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        #[cfg(feature = "postgres")]
        if let Some(unavailable) = postgres::is_unavailable(e) {
            return unavailable;
        }
        // A socket error, or the store's own timeout (`PostgresStore` reports it as an I/O
        // error "database timeout").
        if e.is::<std::io::Error>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// SQLite: whether a backend error is the database staying locked by another process past the
/// busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`), found anywhere in the cause chain. Nothing
/// else is: `SqliteStore`'s own failures (a record that does not decode) are I/O errors that
/// mean nothing about availability, so no I/O error counts here.
#[cfg(feature = "sqlite")]
pub(crate) fn is_sqlite_busy(error: &(dyn std::error::Error + 'static)) -> bool {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(rusqlite::Error::SqliteFailure(failure, _)) =
            e.downcast_ref::<rusqlite::Error>()
        {
            return matches!(failure.code, DatabaseBusy | DatabaseLocked);
        }
        cause = e.source();
    }
    false
}

#[cfg(feature = "postgres")]
mod postgres {
    use deadpool_postgres::PoolError;
    use tokio_postgres::error::SqlState;

    /// What a pool or driver error says, if it says anything.
    pub(super) fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> Option<bool> {
        if let Some(pool) = error.downcast_ref::<PoolError>() {
            return match pool {
                // No connection within the wait or create timeout.
                PoolError::Timeout(_) => Some(true),
                PoolError::Backend(e) => Some(driver(e)),
                // A closed pool or a missing runtime is the server's own fault.
                _ => Some(false),
            };
        }
        error.downcast_ref::<tokio_postgres::Error>().map(driver)
    }

    /// A driver error: a dropped connection, a socket error, or the server saying it is
    /// shutting down, starting up or out of connections.
    fn driver(error: &tokio_postgres::Error) -> bool {
        if error.is_closed() {
            return true;
        }
        match error.code() {
            Some(code) => [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::CONNECTION_EXCEPTION,
                SqlState::CONNECTION_FAILURE,
                SqlState::CONNECTION_DOES_NOT_EXIST,
                SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
            ]
            .contains(code),
            // No SQLSTATE: a connection or socket failure carries the I/O error as its source;
            // a value that does not convert carries something else.
            None => {
                let mut cause = std::error::Error::source(error);
                while let Some(e) = cause {
                    if e.is::<std::io::Error>() {
                        return true;
                    }
                    cause = e.source();
                }
                false
            }
        }
    }
}

/// A store whose backend failures are watched for an unavailable database. Every call and
/// every capability the inner store declares (instance index, usage log, client count, client
/// listing) goes through unchanged: the registrar sees the same capabilities through it.
pub(crate) struct Watched {
    inner: Arc<dyn ClientStore>,
    classify: Classify,
}

impl Watched {
    /// Watches `inner`, whose unavailability `classify` recognises.
    pub(crate) fn new(inner: Arc<dyn ClientStore>, classify: Classify) -> Self {
        Self { inner, classify }
    }

    fn watch<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        watch(self.classify, result)
    }
}

/// The error of a capability call on a store that stopped declaring it, which cannot happen
/// with the stores this example opens.
fn vanished() -> StoreError {
    StoreError::backend(std::io::Error::other(
        "the store no longer declares the capability",
    ))
}

#[async_trait]
impl ClientStore for Watched {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.watch(self.inner.create(record).await)
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.watch(self.inner.get(client_id).await)
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.watch(self.inner.find_by_registration_token(hash).await)
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.watch(self.inner.update(record).await)
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        self.watch(self.inner.delete(client_id, version).await)
    }

    fn as_instance_index(&self) -> Option<&dyn InstanceIndex> {
        self.inner
            .as_instance_index()
            .map(|_| self as &dyn InstanceIndex)
    }

    fn as_usage_log(&self) -> Option<&dyn UsageLog> {
        self.inner.as_usage_log().map(|_| self as &dyn UsageLog)
    }

    fn as_client_count(&self) -> Option<&dyn ClientCount> {
        self.inner
            .as_client_count()
            .map(|_| self as &dyn ClientCount)
    }

    fn as_client_listing(&self) -> Option<&dyn ClientListing> {
        self.inner
            .as_client_listing()
            .map(|_| self as &dyn ClientListing)
    }
}

#[async_trait]
impl InstanceIndex for Watched {
    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let index = self.inner.as_instance_index().ok_or_else(vanished)?;
        self.watch(index.find_by_instance(instance).await)
    }
}

#[async_trait]
impl UsageLog for Watched {
    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let log = self.inner.as_usage_log().ok_or_else(vanished)?;
        self.watch(log.touch(client_id, at).await)
    }

    async fn reap_candidates(
        &self,
        unused_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        let log = self.inner.as_usage_log().ok_or_else(vanished)?;
        self.watch(log.reap_candidates(unused_before, now, limit).await)
    }
}

#[async_trait]
impl ClientCount for Watched {
    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        let count = self.inner.as_client_count().ok_or_else(vanished)?;
        self.watch(count.count(software_id).await)
    }
}

#[async_trait]
impl ClientListing for Watched {
    async fn list(&self, query: &ListQuery) -> Result<ListPage, StoreError> {
        let listing = self.inner.as_client_listing().ok_or_else(vanished)?;
        self.watch(listing.list(query).await)
    }
}

/// A replay guard, watched the same way.
pub(crate) struct WatchedReplay {
    inner: Arc<dyn ReplayGuard>,
    classify: Classify,
}

impl WatchedReplay {
    /// Watches `inner`, whose unavailability `classify` recognises.
    pub(crate) fn new(inner: Arc<dyn ReplayGuard>, classify: Classify) -> Self {
        Self { inner, classify }
    }
}

#[async_trait]
impl ReplayGuard for WatchedReplay {
    async fn first_use(
        &self,
        key: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        watch(
            self.classify,
            self.inner.first_use(key, now, expires_at).await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_failures_and_timeouts_are_unavailability_and_others_are_not() {
        let timeout = StoreError::backend(std::io::Error::other("database timeout"));
        let StoreError::Backend(cause) = &timeout else {
            unreachable!()
        };
        assert!(is_unavailable(cause.as_ref()));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_unavailable(&refused));
        let other = std::fmt::Error;
        assert!(!is_unavailable(&other));
    }

    #[tokio::test]
    async fn only_an_unavailable_database_marks_the_request() {
        let failed: Result<(), StoreError> = Err(StoreError::backend(std::io::Error::other(
            "database timeout",
        )));
        assert!(watch(is_unavailable, failed).is_err());
        let marked = UNAVAILABLE
            .scope(Cell::new(false), async {
                let failed = Err(StoreError::backend(std::io::Error::other("x")));
                let _ = watch::<()>(is_unavailable, failed);
                UNAVAILABLE.with(Cell::get)
            })
            .await;
        assert!(marked);
        let unmarked = UNAVAILABLE
            .scope(Cell::new(false), async {
                let _ = watch::<()>(is_unavailable, Err(StoreError::Conflict));
                UNAVAILABLE.with(Cell::get)
            })
            .await;
        assert!(!unmarked);
    }

    /// SQLite: only a lock held past the busy timeout is unavailability; an I/O error of the
    /// store's own (a record that does not decode), a read-only or corrupt file are not.
    #[cfg(feature = "sqlite")]
    #[test]
    fn only_a_busy_or_locked_sqlite_database_is_unavailable() {
        use rusqlite::ffi;
        let failure = |code| {
            let error = rusqlite::Error::SqliteFailure(ffi::Error::new(code), None);
            StoreError::backend(error)
        };
        let classify = |error: StoreError| match error {
            StoreError::Backend(cause) => is_sqlite_busy(cause.as_ref()),
            _ => false,
        };
        assert!(classify(failure(ffi::SQLITE_BUSY)));
        assert!(classify(failure(ffi::SQLITE_LOCKED)));
        assert!(!classify(failure(ffi::SQLITE_READONLY)));
        assert!(!classify(failure(ffi::SQLITE_CORRUPT)));
        assert!(!classify(failure(ffi::SQLITE_FULL)));
        assert!(!classify(StoreError::backend(std::io::Error::other(
            "a stored record does not decode"
        ))));
    }

    /// The wrapper declares exactly the capabilities of the store it wraps, and the kit's checks
    /// of each pass through it.
    #[cfg(all(feature = "sqlite", feature = "test-kit"))]
    #[tokio::test(flavor = "multi_thread")]
    async fn a_watched_sqlite_store_keeps_every_capability() {
        let path = std::env::temp_dir().join(format!(
            "oauth-dcr-watched-{}-{}.db",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let store = Arc::new(
            oauth_dcr::store::SqliteStore::open(&path)
                .await
                .expect("a SQLite store"),
        );
        let watched = Watched::new(store.clone(), is_sqlite_busy);
        assert!(watched.as_instance_index().is_some());
        assert!(watched.as_usage_log().is_some());
        assert!(watched.as_client_count().is_some());
        assert!(watched.as_client_listing().is_some());
        let report = oauth_dcr::testkit::check_client_store(Arc::new(watched)).await;
        assert!(report.skipped.is_empty(), "{report:?}");
        assert_eq!(report.checked.len(), 4, "{report:?}");
        let replay = WatchedReplay::new(store, is_sqlite_busy);
        oauth_dcr::testkit::check_replay_guard(Arc::new(replay)).await;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }

    /// Without a capability in the store, none through the wrapper.
    #[test]
    fn a_watched_store_declares_no_more_than_its_store() {
        struct Bare;
        #[async_trait]
        impl ClientStore for Bare {
            async fn create(&self, _: &ClientRecord) -> Result<(), StoreError> {
                Ok(())
            }
            async fn get(&self, _: &str) -> Result<Option<ClientRecord>, StoreError> {
                Ok(None)
            }
            async fn find_by_registration_token(
                &self,
                _: &SecretHash,
            ) -> Result<Option<ClientRecord>, StoreError> {
                Ok(None)
            }
            async fn update(&self, _: &ClientRecord) -> Result<(), StoreError> {
                Ok(())
            }
            async fn delete(&self, _: &str, _: u64) -> Result<(), StoreError> {
                Ok(())
            }
        }
        let watched = Watched::new(Arc::new(Bare), is_unavailable);
        assert!(watched.as_instance_index().is_none());
        assert!(watched.as_usage_log().is_none());
        assert!(watched.as_client_count().is_none());
        assert!(watched.as_client_listing().is_none());
        let memory = Watched::new(Arc::new(oauth_dcr::MemoryStore::new()), is_unavailable);
        assert!(memory.as_client_listing().is_some());
    }
}
