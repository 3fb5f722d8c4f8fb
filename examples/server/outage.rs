//! A database that goes away: requests answer 503 with `Retry-After`, not a bare 500.
//!
//! The crate answers every store failure with 500 `server_error` and no detail (the error's
//! cause is for the host's logs). A database that is restarting, unreachable or out of
//! connections is a different thing for a client: the request may well succeed in a few seconds.
//! So the example wraps its PostgreSQL stores in [`Watched`], which looks at the cause of each
//! backend failure. When it is the database being unavailable (no connection could be had from
//! the pool in time, the connection was refused or dropped, the server is shutting down or
//! starting up, an operation ran past the store's timeout), it marks the request, and the
//! [`unavailable`] middleware turns that request's 500 into 503 with `Retry-After`. Any other
//! store failure (an SQL error, a row that does not decode) stays a 500.
//!
//! Nothing hangs: every store operation is bounded by the store's timeout (5 s, connection wait
//! included), and the pool replaces dead connections by itself, so the server recovers as soon
//! as the database answers again.

// Only the PostgreSQL store is watched; without the `postgres` feature the wrappers are unused.
#![cfg_attr(not(feature = "postgres"), allow(dead_code))]

use std::cell::Cell;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use oauth_dcr::statements::ReplayGuard;
use oauth_dcr::store::{ClientCount, InstanceIndex, SecretHash, UsageLog};
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

/// Marks the current request when `result` is a failure of an unavailable database.
fn watch<T>(result: Result<T, StoreError>) -> Result<T, StoreError> {
    if let Err(StoreError::Backend(cause)) = &result {
        if is_unavailable(cause.as_ref()) {
            // Outside a request (a background task) there is nothing to mark.
            let _ = UNAVAILABLE.try_with(|flag| flag.set(true));
        }
    }
    result
}

/// Whether a backend error means the database cannot be reached now, rather than that it
/// refused this operation: decided by the first cause in the chain that says.
fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
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
/// every capability the inner store declares goes through unchanged.
pub(crate) struct Watched {
    inner: Arc<dyn ClientStore>,
}

impl Watched {
    /// Watches `inner`.
    pub(crate) fn new(inner: Arc<dyn ClientStore>) -> Self {
        Self { inner }
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
        watch(self.inner.create(record).await)
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        watch(self.inner.get(client_id).await)
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        watch(self.inner.find_by_registration_token(hash).await)
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        watch(self.inner.update(record).await)
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        watch(self.inner.delete(client_id, version).await)
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
}

#[async_trait]
impl InstanceIndex for Watched {
    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let index = self.inner.as_instance_index().ok_or_else(vanished)?;
        watch(index.find_by_instance(instance).await)
    }
}

#[async_trait]
impl UsageLog for Watched {
    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let log = self.inner.as_usage_log().ok_or_else(vanished)?;
        watch(log.touch(client_id, at).await)
    }

    async fn reap_candidates(
        &self,
        unused_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        let log = self.inner.as_usage_log().ok_or_else(vanished)?;
        watch(log.reap_candidates(unused_before, now, limit).await)
    }
}

#[async_trait]
impl ClientCount for Watched {
    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        let count = self.inner.as_client_count().ok_or_else(vanished)?;
        watch(count.count(software_id).await)
    }
}

/// A replay guard, watched the same way.
pub(crate) struct WatchedReplay {
    inner: Arc<dyn ReplayGuard>,
}

impl WatchedReplay {
    /// Watches `inner`.
    pub(crate) fn new(inner: Arc<dyn ReplayGuard>) -> Self {
        Self { inner }
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
        watch(self.inner.first_use(key, now, expires_at).await)
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
        assert!(watch(failed).is_err());
        let marked = UNAVAILABLE
            .scope(Cell::new(false), async {
                let _ = watch::<()>(Err(StoreError::backend(std::io::Error::other("x"))));
                UNAVAILABLE.with(Cell::get)
            })
            .await;
        assert!(marked);
        let unmarked = UNAVAILABLE
            .scope(Cell::new(false), async {
                let _ = watch::<()>(Err(StoreError::Conflict));
                UNAVAILABLE.with(Cell::get)
            })
            .await;
        assert!(!unmarked);
    }
}
