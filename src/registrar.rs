//! [`Registrar`]: the policy, the store, the clock and the credential generator in one value, and
//! the stages the four operations share.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::access::{InitialTokenRequirement, InitialTokenVerifier};
use crate::credentials::{Clock, CredentialGenerator, RandomGenerator, SystemClock};
use crate::documents::{DocumentTrust, Documents};
use crate::error::{RegistrationError, Violations};
use crate::events::{EventSink, RegistrationHook};
use crate::fetch::Fetcher;
use crate::metadata::ClientMetadata;
use crate::policy::ServerPolicy;
use crate::request;
use crate::secret::{ClientSecret, InitialAccessToken, RegistrationAccessToken};
use crate::statements::{SignedRequests, SoftwareStatements};
use crate::store::{
    check_capabilities, ClientStore, MissingCapability, SecretValue, StoreError, StoredSecret,
    StoredToken,
};
use crate::validate;

/// What the host knows about the HTTP request besides its body.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RequestContext {
    /// The address of the peer, for the host's own policy decisions and logs.
    pub remote_addr: Option<IpAddr>,
    /// The bearer token of the registration request (RFC 7591 §3 initial access token), from the
    /// `Authorization` header.
    pub initial_access_token: Option<InitialAccessToken>,
    /// How the body is encoded. Defaults to JSON.
    pub body_format: BodyFormat,
}

/// How a registration or update body is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyFormat {
    /// `application/json` (RFC 7591 §3.1).
    #[default]
    Json,
    /// `application/jwt`: a JWS whose payload is the metadata (signed request bodies).
    Jwt,
}

impl RequestContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the peer address.
    #[must_use]
    pub fn with_remote_addr(mut self, addr: IpAddr) -> Self {
        self.remote_addr = Some(addr);
        self
    }

    /// Sets the body format.
    #[must_use]
    pub fn with_body_format(mut self, format: BodyFormat) -> Self {
        self.body_format = format;
        self
    }

    /// Sets the initial access token.
    #[must_use]
    pub fn with_initial_access_token(mut self, token: impl Into<String>) -> Self {
        self.initial_access_token = Some(InitialAccessToken::new(token));
        self
    }
}

/// The registration endpoint (RFC 7591) and the client configuration endpoint (RFC 7592) as plain
/// async functions over bytes and typed values.
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::{MemoryStore, Registrar, RequestContext, ServerPolicy};
///
/// # tokio_test(async {
/// let registrar = Registrar::new(
///     ServerPolicy::new("https://as.example/register"),
///     Arc::new(MemoryStore::new()),
/// );
/// let body = br#"{"redirect_uris":["https://app.example/cb"],"client_name":"App"}"#;
/// let client = registrar.register(body, &RequestContext::new()).await?;
/// assert_eq!(client.metadata.client_name.as_deref(), Some("App"));
///
/// let token = client.registration_access_token.secret().to_owned();
/// let read = registrar.read(&client.client_id, Some(&token)).await?;
/// // The token rotated on read: the old one no longer works.
/// assert!(registrar.read(&client.client_id, Some(&token)).await.is_err());
/// # Ok::<(), oauth_dcr::RegistrationError>(())
/// # });
/// # fn tokio_test<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct Registrar {
    pub(crate) policy: Arc<ServerPolicy>,
    pub(crate) store: Arc<dyn ClientStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) generator: Arc<dyn CredentialGenerator>,
    pub(crate) initial_token: Option<InitialTokenRequirement>,
    pub(crate) statements: Option<SoftwareStatements>,
    pub(crate) signed_requests: Option<SignedRequests>,
    pub(crate) hook: Option<Arc<dyn RegistrationHook>>,
    pub(crate) events: Vec<Arc<dyn EventSink>>,
    pub(crate) sector_fetcher: Option<Arc<dyn Fetcher>>,
    pub(crate) documents: Option<Arc<Documents>>,
    pub(crate) document_trust: Option<Arc<dyn DocumentTrust>>,
    pub(crate) management_tokens: Option<Arc<dyn InitialTokenVerifier>>,
}

impl fmt::Debug for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrar")
            .field("policy", &self.policy)
            .field("clock", &self.clock)
            .field("generator", &self.generator)
            .field("initial_token", &self.initial_token)
            .field("statements", &self.statements)
            .field("signed_requests", &self.signed_requests)
            .field("hook", &self.hook.is_some())
            .field("event_sinks", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Registrar {
    /// A registrar over `store` with the system clock and OS-random credentials.
    ///
    /// # Panics
    /// When `policy` needs a capability `store` does not declare (see [`try_new`](Self::try_new)):
    /// a configuration error, found here at construction, never at request time.
    pub fn new(policy: ServerPolicy, store: Arc<dyn ClientStore>) -> Self {
        match Self::try_new(policy, store) {
            Ok(registrar) => registrar,
            Err(missing) => panic!("{missing}"),
        }
    }

    /// As [`new`](Self::new), but a store that lacks a capability the policy needs is an error
    /// instead of a panic: idempotent registration needs an
    /// [`InstanceIndex`](crate::store::InstanceIndex), the client limits a
    /// [`ClientCount`](crate::store::ClientCount), an unused-client TTL a
    /// [`UsageLog`](crate::store::UsageLog) (see [`ClientStore`]).
    ///
    /// # Errors
    /// [`MissingCapability`] naming the first capability missing and the policy setting that
    /// needs it.
    pub fn try_new(
        policy: ServerPolicy,
        store: Arc<dyn ClientStore>,
    ) -> Result<Self, MissingCapability> {
        check_capabilities(&policy, store.as_ref())?;
        Ok(Self {
            policy: Arc::new(policy),
            store,
            clock: Arc::new(SystemClock),
            generator: Arc::new(RandomGenerator),
            initial_token: None,
            statements: None,
            signed_requests: None,
            hook: None,
            events: Vec::new(),
            sector_fetcher: None,
            documents: None,
            document_trust: None,
            management_tokens: None,
        })
    }

    /// Replaces the clock (tests use a fixed or manual clock).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the identifier and credential generator.
    #[must_use]
    pub fn with_generator(mut self, generator: Arc<dyn CredentialGenerator>) -> Self {
        self.generator = generator;
        self
    }

    /// Verifies software statements (RFC 7591 §2.3) against trusted issuers' keys; without this,
    /// statements are ignored (RFC 7591 §3.1.1 allows it).
    #[must_use]
    pub fn with_software_statements(mut self, statements: SoftwareStatements) -> Self {
        self.statements = Some(statements);
        self
    }

    /// Accepts signed request bodies (`application/jwt`).
    #[must_use]
    pub fn with_signed_requests(mut self, signed: SignedRequests) -> Self {
        self.signed_requests = Some(signed);
        self
    }

    /// Runs the host's own rules after validation.
    #[must_use]
    pub fn with_hook(mut self, hook: Arc<dyn RegistrationHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Adds a sink told about every operation.
    #[must_use]
    pub fn with_event_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events.push(sink);
        self
    }

    /// Fetches each registration's `sector_identifier_uri` through `fetcher` and refuses the
    /// registration unless the document is a JSON array holding every redirect URI
    /// (OIDC Registration §5). Without this, the URI is only checked for form.
    #[must_use]
    pub fn with_sector_identifier_check(mut self, fetcher: Arc<dyn Fetcher>) -> Self {
        self.sector_fetcher = Some(fetcher);
        self
    }

    /// Whether signed request bodies (`application/jwt`) are accepted.
    pub fn accepts_signed_requests(&self) -> bool {
        self.signed_requests.is_some()
    }

    /// The policy.
    pub fn policy(&self) -> &ServerPolicy {
        &self.policy
    }

    /// The store.
    pub fn store(&self) -> &dyn ClientStore {
        self.store.as_ref()
    }

    /// Validates a registration body without side effects: a dry run that returns the metadata
    /// a registration would store, defaults applied.
    ///
    /// It parses and validates the JSON body exactly as [`register`](Self::register) does; it does
    /// not check initial access tokens, verify software statements (which would consume their
    /// `jti`), run the host's hook or count clients.
    ///
    /// # Errors
    /// The parsing and validation errors [`register`](Self::register) would give for this body.
    pub fn validate(&self, body: &[u8]) -> Result<ClientMetadata, RegistrationError> {
        let mut parsed = request::parse(body, &self.policy)?;
        let violations = std::mem::take(&mut parsed.violations);
        self.validated_metadata(&mut parsed.metadata, violations)?;
        Ok(parsed.metadata)
    }

    /// Validates `metadata` in place (see [`validate::validate`]).
    pub(crate) fn validated_metadata(
        &self,
        metadata: &mut ClientMetadata,
        violations: Vec<crate::error::Violation>,
    ) -> Result<(), RegistrationError> {
        validate::validate(metadata, &self.policy, violations).map_err(|list| {
            Violations::new(list).map_or_else(
                || RegistrationError::invalid_request("invalid metadata"),
                RegistrationError::InvalidMetadata,
            )
        })
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// A new client secret for `metadata`'s authentication method, if it uses one, and how it is
    /// stored.
    pub(crate) fn new_secret(
        &self,
        metadata: &ClientMetadata,
        now: OffsetDateTime,
    ) -> Result<Option<(ClientSecret, StoredSecret)>, RegistrationError> {
        let method = metadata.effective_auth_method();
        if !method.uses_secret() {
            return Ok(None);
        }
        let secret = self.generator.client_secret().map_err(internal)?;
        Ok(Some((
            secret.clone(),
            self.stored_secret(secret, metadata, now),
        )))
    }

    /// How `secret` is stored for `metadata`: hashed unless the method needs the raw value.
    pub(crate) fn stored_secret(
        &self,
        secret: ClientSecret,
        metadata: &ClientMetadata,
        now: OffsetDateTime,
    ) -> StoredSecret {
        let value = if metadata.effective_auth_method().needs_raw_secret() {
            SecretValue::Retrievable(secret)
        } else {
            SecretValue::Hashed(secret.hash())
        };
        StoredSecret {
            value,
            expires_at: self
                .policy
                .client_secret_lifetime
                .map(|d| now.saturating_add(d)),
        }
    }

    /// A new registration access token and its stored form.
    pub(crate) fn new_token(
        &self,
        now: OffsetDateTime,
    ) -> Result<(RegistrationAccessToken, StoredToken), RegistrationError> {
        let token = self.generator.registration_token().map_err(internal)?;
        let stored = self.stored_token(&token, now);
        Ok((token, stored))
    }

    /// How `token`, issued at `now`, is stored: its hash and the policy's expiry.
    pub(crate) fn stored_token(
        &self,
        token: &RegistrationAccessToken,
        now: OffsetDateTime,
    ) -> StoredToken {
        StoredToken {
            hash: token.hash(),
            expires_at: self
                .policy
                .registration_token_lifetime
                .map(|d| now.saturating_add(d)),
        }
    }
}

/// A stored version that changed under us means another request used the same token first: to
/// this request the token is no longer valid.
pub(crate) fn lost_race(e: StoreError) -> RegistrationError {
    match e {
        StoreError::Conflict | StoreError::NotFound => RegistrationError::InvalidToken,
        other => RegistrationError::Store(other),
    }
}

pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> RegistrationError {
    RegistrationError::Store(StoreError::backend(e))
}
