//! Fixtures shared by the integration tests: a registrar over a `MemoryStore` with a manual
//! clock, registration helpers, a store that fails on demand, and readers for the
//! `http::Response` that results and errors convert into.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use http::{HeaderMap, StatusCode};
use oauth_dcr::{
    ClientRecord, ClientStore, Clock, MemoryStore, Registrar, RegistrationError,
    RegistrationResponse, RequestContext, SecretHash, ServerPolicy, StoreError,
};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// The registration endpoint of every test server.
pub const ENDPOINT: &str = "https://as.example/register";

/// The manual clock's starting time (2023-11-14T22:13:20Z).
pub const START: i64 = 1_700_000_000;

/// A clock that moves only when a test says so.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new() -> Self {
        Self(Mutex::new(
            OffsetDateTime::from_unix_timestamp(START).unwrap(),
        ))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// The default policy of the tests: `ServerPolicy::new(ENDPOINT)`, with reuse detection off so
/// that a rotated-away token is refused without revoking the current one (RFC 7592 semantics
/// alone; reuse detection has its own tests in tests/lifecycle.rs).
pub fn policy() -> ServerPolicy {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.detect_token_reuse = false;
    policy
}

/// A registrar over an in-memory store, with a manual clock.
pub struct Server {
    pub registrar: Registrar,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
}

impl Server {
    pub fn new() -> Self {
        Self::with_policy(policy())
    }

    pub fn with_policy(policy: ServerPolicy) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new());
        let registrar = Registrar::new(policy, store.clone()).with_clock(clock.clone());
        Self {
            registrar,
            store,
            clock,
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Registers `body` and returns the response; panics with the error if it is refused.
    pub async fn register(&self, body: &Value) -> RegistrationResponse {
        let bytes = serde_json::to_vec(body).unwrap();
        self.register_bytes(&bytes)
            .await
            .unwrap_or_else(|e| panic!("registration of {body} refused: {e}"))
    }

    pub async fn register_bytes(
        &self,
        body: &[u8],
    ) -> Result<RegistrationResponse, RegistrationError> {
        self.registrar.register(body, &RequestContext::new()).await
    }

    /// Registers `body` and returns the error; panics if it is accepted.
    pub async fn refuse(&self, body: &[u8]) -> RegistrationError {
        match self.register_bytes(body).await {
            Ok(r) => panic!(
                "expected a refusal of {}, got {}",
                String::from_utf8_lossy(body),
                String::from_utf8_lossy(&r.to_json())
            ),
            Err(e) => e,
        }
    }

    /// The stored record of a client; panics if it does not exist.
    pub async fn record(&self, client_id: &str) -> ClientRecord {
        self.store
            .get(client_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("client {client_id} is not stored"))
    }

    pub async fn read(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<RegistrationResponse, RegistrationError> {
        self.registrar.read(client_id, token).await
    }

    pub async fn update(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let bytes = serde_json::to_vec(body).unwrap();
        self.registrar
            .update(client_id, token, &bytes, &RequestContext::new())
            .await
    }

    pub async fn delete(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<(), RegistrationError> {
        self.registrar.delete(client_id, token).await
    }
}

/// A web client with one redirect URI: the smallest valid registration.
pub fn web_client() -> Value {
    serde_json::json!({ "redirect_uris": ["https://app.example/cb"] })
}

/// The registration access token of a response, as a string.
pub fn token(response: &RegistrationResponse) -> String {
    response.registration_access_token.secret().to_owned()
}

/// The raw client secret of a response; panics if none was issued.
pub fn secret(response: &RegistrationResponse) -> String {
    response
        .client_secret
        .as_ref()
        .expect("a client secret")
        .secret()
        .to_owned()
}

/// An `http::Response` taken apart: status, headers and the body parsed as JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn of(response: impl Into<http::Response<Vec<u8>>>) -> Self {
        let response = response.into();
        let status = response.status();
        let headers = response.headers().clone();
        let json = serde_json::from_slice(response.body()).unwrap_or_else(|e| {
            panic!(
                "the body is not JSON ({e}): {}",
                String::from_utf8_lossy(response.body())
            )
        });
        Self {
            status,
            headers,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    pub fn description(&self) -> &str {
        self.json["error_description"].as_str().unwrap_or_default()
    }
}

/// The RFC 6749 §5.1 / RFC 7591 §3.2 cache headers every response must carry.
pub fn assert_no_store(reply: &Reply) {
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
    assert_eq!(reply.header("pragma"), Some("no-cache"), "{reply:?}");
}

/// Asserts a refusal's status and error code, the JSON error shape and the cache headers.
pub fn assert_error(err: RegistrationError, status: u16, code: &str) -> Reply {
    let reply = Reply::of(err);
    assert_eq!(reply.status.as_u16(), status, "{reply:?}");
    assert_eq!(reply.error(), code, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_no_store(&reply);
    let members: Vec<&String> = reply.json.as_object().unwrap().keys().collect();
    assert!(
        members
            .iter()
            .all(|m| *m == "error" || *m == "error_description"),
        "an error body carries only error and error_description: {reply:?}"
    );
    reply
}

/// The exact 401 every registration access token failure answers with.
pub fn assert_invalid_token(err: RegistrationError) -> Reply {
    let reply = assert_error(err, 401, "invalid_token");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    reply
}

/// Reads a file of `tests/data/`.
pub fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A file of `tests/data/` parsed as JSON.
pub fn data_json(name: &str) -> Value {
    serde_json::from_slice(&data(name)).unwrap()
}

/// A `ClientStore` over a `MemoryStore` whose reads or writes fail on demand with a backend
/// error, to show that a store failure answers 500 and changes nothing.
#[derive(Debug, Default)]
pub struct FailingStore {
    pub inner: MemoryStore,
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
}

impl FailingStore {
    pub fn fail_reads(&self, on: bool) {
        self.fail_reads.store(on, Ordering::SeqCst);
    }

    pub fn fail_writes(&self, on: bool) {
        self.fail_writes.store(on, Ordering::SeqCst);
    }

    fn check(&self, flag: &AtomicBool) -> Result<(), StoreError> {
        if flag.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other(
                "connection to db-internal-7.example:5432 refused",
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl ClientStore for FailingStore {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.check(&self.fail_writes)?;
        self.inner.create(record).await
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.check(&self.fail_reads)?;
        self.inner.get(client_id).await
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.check(&self.fail_reads)?;
        self.inner.find_by_registration_token(hash).await
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.check(&self.fail_writes)?;
        self.inner.update(record).await
    }

    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.check(&self.fail_writes)?;
        self.inner.touch(client_id, at).await
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        self.check(&self.fail_writes)?;
        self.inner.delete(client_id, version).await
    }

    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        self.check(&self.fail_reads)?;
        self.inner.count(software_id).await
    }
}

/// A registrar over a [`FailingStore`], with a manual clock.
pub fn failing_server() -> (Registrar, Arc<FailingStore>, Arc<ManualClock>) {
    let store = Arc::new(FailingStore::default());
    let clock = Arc::new(ManualClock::new());
    let registrar = Registrar::new(policy(), store.clone()).with_clock(clock.clone());
    (registrar, store, clock)
}
