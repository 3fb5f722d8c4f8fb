//! [`Registrar`]: the policy, the store, the clock and the credential generator in one value, and
//! the stages the four operations share.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::credentials::{Clock, CredentialGenerator, SystemClock};
use crate::documents::{DocumentTrust, Documents};
use crate::error::RegistrationError;
use crate::events::{EventSink, Operation, RegistrationHook};
use crate::fetch::Fetcher;
use crate::initial_tokens::InitialTokenVerifier;
use crate::pipeline::admit::InitialTokenRequirement;
use crate::pipeline::bind::Binders;
use crate::pipeline::issue::Issuer;
use crate::pipeline::verify::Verifiers;
use crate::pipeline::Stored;
use crate::policy::ServerPolicy;

use crate::statements::{SignedRequests, SoftwareStatements};
use crate::store::{check_capabilities, ClientStore, MissingCapability};

/// The registration endpoint (RFC 7591) and the client configuration endpoint (RFC 7592) as plain
/// async functions over typed values: the configuration, and the four operations, each a short
/// sequence of the same stages (admit or authorize, verify, validate, bind, issue, persist,
/// respond).
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::{MemoryStore, Registrar, RegistrationRequest, RequestContext, ServerPolicy};
///
/// # tokio_test(async {
/// let registrar = Registrar::new(
///     ServerPolicy::new("https://as.example/register"),
///     Arc::new(MemoryStore::new()),
/// );
/// let body = br#"{"redirect_uris":["https://app.example/cb"],"client_name":"App"}"#;
/// let request = RegistrationRequest::from_json(body, &registrar.policy().limits)?;
/// let client = registrar.register(request, &RequestContext::new()).await?;
/// assert_eq!(client.metadata.client_name.as_deref(), Some("App"));
///
/// let token = client.registration_access_token.expect("issued").secret().to_owned();
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
    /// `None`: the operating system's random source.
    pub(crate) generator: Option<Arc<dyn CredentialGenerator>>,
    pub(crate) initial_token: Option<InitialTokenRequirement>,
    pub(crate) statements: Option<SoftwareStatements>,
    pub(crate) signed_requests: Option<SignedRequests>,
    pub(crate) hook: Option<Arc<dyn RegistrationHook>>,
    pub(crate) events: Vec<Arc<dyn EventSink>>,
    pub(crate) sector_fetcher: Option<Arc<dyn Fetcher>>,
    pub(crate) documents: Option<Arc<Documents>>,
    pub(crate) document_trust: Option<Arc<dyn DocumentTrust>>,
    pub(crate) management_tokens: Option<Arc<dyn InitialTokenVerifier>>,
    pub(crate) federation: Option<Arc<crate::federation::ExplicitRegistration>>,
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
            .field("federation", &self.federation)
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
            generator: None,
            initial_token: None,
            statements: None,
            signed_requests: None,
            hook: None,
            events: Vec::new(),
            sector_fetcher: None,
            documents: None,
            document_trust: None,
            management_tokens: None,
            federation: None,
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
        self.generator = Some(generator);
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

    /// Accepts explicit registrations through OpenID Federation trust chains
    /// ([`register_federated`](Self::register_federated)).
    #[must_use]
    pub fn with_explicit_registration(
        mut self,
        federation: crate::federation::ExplicitRegistration,
    ) -> Self {
        self.federation = Some(Arc::new(federation));
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

    /// Whether explicit registration through federation trust chains is on
    /// ([`with_explicit_registration`](Self::with_explicit_registration)).
    pub fn accepts_federation(&self) -> bool {
        self.federation.is_some()
    }

    /// Whether explicit registration also resolves the chain of a client that sends only its
    /// Entity Configuration ([`ExplicitRegistration::resolve_with`](crate::federation::ExplicitRegistration::resolve_with)).
    pub fn resolves_federation_chains(&self) -> bool {
        self.federation
            .as_ref()
            .is_some_and(|f| f.resolves_chains())
    }

    /// The policy.
    pub fn policy(&self) -> &ServerPolicy {
        &self.policy
    }

    /// The store.
    pub fn store(&self) -> &dyn ClientStore {
        self.store.as_ref()
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Whether any event sink wants events of `operation` (events are built only then).
    pub(crate) fn listening(&self, operation: Operation) -> bool {
        self.events.iter().any(|sink| sink.wants(operation))
    }

    /// What the verify stage verifies with.
    pub(crate) fn verifiers(&self) -> Verifiers<'_> {
        Verifiers {
            statements: self.statements.as_ref(),
            signed_requests: self.signed_requests.as_ref(),
            limits: &self.policy.limits,
            now: self.now(),
        }
    }

    /// What the bind stage binds with.
    pub(crate) fn binders(&self) -> Binders<'_> {
        Binders {
            policy: &self.policy,
            store: self.store.as_ref(),
            hook: self.hook.as_deref(),
            sector_fetcher: self.sector_fetcher.as_deref(),
        }
    }

    /// What the issue stage issues with, now.
    pub(crate) fn issuer(&self) -> Issuer<'_> {
        Issuer {
            policy: &self.policy,
            generator: self.generator.as_deref(),
            now: self.now(),
        }
    }

    /// The last await of a registration, read or update: the event sinks hear of the outcome.
    /// What was stored becomes the response afterwards, in the operation's own function, so that
    /// the response (over a kilobyte) is built once where it is returned and is not carried out
    /// through the futures in between.
    pub(crate) async fn settle(
        &self,
        operation: Operation,
        client_id: Option<&str>,
        stored: Result<Stored, RegistrationError>,
    ) -> Result<Stored, RegistrationError> {
        match stored {
            Ok(stored) => {
                let registered = client_id
                    .is_none()
                    .then_some(stored.record.client_id.as_str());
                crate::trace::succeeded(registered);
                if self.listening(operation) {
                    let before = stored.changed.then_some(stored.before.as_deref());
                    let subject = self.subject(operation, &stored.record, before);
                    self.emit(operation, subject, None).await;
                }
                Ok(stored)
            }
            Err(e) => Err(self.refused(operation, client_id, e).await),
        }
    }
}
