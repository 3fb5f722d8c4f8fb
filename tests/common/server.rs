//! The registrar every test drives: over a `MemoryStore` the test keeps, with the manual clock.

use super::Bytes;
use std::sync::Arc;

use oauth_dcr::profiles::Profile;
use oauth_dcr::{
    ClientRecord, ClientStore, Clock, MemoryStore, Registrar, RegistrationError,
    RegistrationResponse, RequestContext, ServerPolicy,
};
use serde_json::Value;
use time::OffsetDateTime;

use super::{trusting_issuer, FailingStore, ManualClock, ENDPOINT};

/// The default policy of the registration and management tests: `ServerPolicy::new(ENDPOINT)`,
/// with reuse detection off so that a rotated-away token is refused without revoking the current
/// one (RFC 7592 semantics alone; reuse detection has its own tests in tests/lifecycle.rs).
pub fn policy() -> ServerPolicy {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.detect_token_reuse = false;
    policy
}

/// The crate's default policy for [`ENDPOINT`], changed by `change`.
pub fn policy_with(change: impl FnOnce(&mut ServerPolicy)) -> ServerPolicy {
    let mut policy = ServerPolicy::new(ENDPOINT);
    change(&mut policy);
    policy
}

/// A registrar over an in-memory store, with a manual clock.
pub struct Server {
    pub registrar: Registrar,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
}

impl Server {
    /// A registrar with [`policy`].
    pub fn new() -> Self {
        Self::with_policy(policy())
    }

    pub fn with_policy(policy: ServerPolicy) -> Self {
        Self::build(policy, |r| r)
    }

    /// A registrar with the crate's default policy for [`ENDPOINT`] (reuse detection on),
    /// configured by `configure`.
    pub fn configured(configure: impl FnOnce(Registrar) -> Registrar) -> Self {
        Self::build(ServerPolicy::new(ENDPOINT), configure)
    }

    /// A registrar with `policy`, configured by `configure`.
    pub fn build(policy: ServerPolicy, configure: impl FnOnce(Registrar) -> Registrar) -> Self {
        Self::over(|store| configure(Registrar::new(policy, store)))
    }

    /// The registrar `build` makes over the store (a preset's, say), with the manual clock.
    pub fn over(build: impl FnOnce(Arc<dyn ClientStore>) -> Registrar) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new());
        let registrar = build(store.clone()).with_clock(clock.clone());
        Self {
            registrar,
            store,
            clock,
        }
    }

    /// A preset's registrar.
    pub fn profile(profile: Profile) -> Self {
        Self::over(|store| profile.registrar(ENDPOINT, store))
    }

    /// A registrar trusting the issuer's keys for software statements.
    pub fn statements() -> Self {
        Self::configured(|r| r.with_software_statements(trusting_issuer()))
    }

    /// The clock's time as a Unix timestamp (the unit of JWT time claims).
    pub fn now(&self) -> i64 {
        self.clock.unix()
    }

    /// The clock's time.
    pub fn time(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Registers `body` anonymously; panics with the error if it is refused.
    pub async fn register(&self, body: &Value) -> RegistrationResponse {
        self.register_with(body, &RequestContext::new())
            .await
            .unwrap_or_else(|e| panic!("registration of {body} refused: {e}"))
    }

    pub async fn register_with(
        &self,
        body: &Value,
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let bytes = serde_json::to_vec(body).unwrap();
        self.registrar.register_bytes(&bytes, context).await
    }

    pub async fn register_bytes(
        &self,
        body: &[u8],
    ) -> Result<RegistrationResponse, RegistrationError> {
        self.registrar
            .register_bytes(body, &RequestContext::new())
            .await
    }

    /// Registers `body` anonymously and returns the refusal; panics if it is accepted.
    pub async fn refuse(&self, body: &Value) -> RegistrationError {
        self.refuse_with(body, &RequestContext::new()).await
    }

    pub async fn refuse_with(&self, body: &Value, context: &RequestContext) -> RegistrationError {
        match self.register_with(body, context).await {
            Ok(r) => panic!(
                "expected a refusal of {body}, got {}",
                String::from_utf8_lossy(&r.to_json())
            ),
            Err(e) => e,
        }
    }

    /// Registers these bytes and returns the refusal; panics if they are accepted.
    pub async fn refuse_bytes(&self, body: &[u8]) -> RegistrationError {
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
        self.update_with(client_id, token, body, &RequestContext::new())
            .await
    }

    pub async fn update_with(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &Value,
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let bytes = serde_json::to_vec(body).unwrap();
        self.registrar
            .update_bytes(client_id, token, &bytes, context)
            .await
    }

    pub async fn delete(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<(), RegistrationError> {
        self.registrar.delete(client_id, token).await
    }

    /// Sends `request` through the crate's HTTP adapter, anonymously.
    pub async fn handle(&self, request: http::Request<Vec<u8>>) -> super::Reply {
        super::Reply::of(
            oauth_dcr::http::handle(&self.registrar, request, &RequestContext::new()).await,
        )
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

/// A `POST /register` request with this content type, `Authorization` header and body.
pub fn post(
    content_type: &str,
    authorization: Option<&str>,
    body: Vec<u8>,
) -> http::Request<Vec<u8>> {
    let mut request = http::Request::post("/register").header("content-type", content_type);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(body).unwrap()
}

/// A registrar over a [`FailingStore`], with a manual clock.
pub fn failing_server() -> (Registrar, Arc<FailingStore>, Arc<ManualClock>) {
    let store = Arc::new(FailingStore::default());
    let clock = Arc::new(ManualClock::new());
    let registrar = Registrar::new(policy(), store.clone()).with_clock(clock.clone());
    (registrar, store, clock)
}
