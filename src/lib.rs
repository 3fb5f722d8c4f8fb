//! # oauth-dcr
//!
//! OAuth 2.0 Dynamic Client Registration for any authorization server: RFC 7591 registration,
//! RFC 7592 read / update / delete with a registration access token, and the client metadata of
//! OpenID Connect Dynamic Client Registration 1.0, the OIDC logout specs, RFC 8705 (mTLS),
//! RFC 9449 (DPoP), RFC 9126 (PAR), RFC 9396, JARM and JWT introspection responses.
//!
//! The crate is framework-agnostic: a [`Registrar`] holds a [`ServerPolicy`] and a
//! [`ClientStore`] and exposes async functions over bytes and typed values. Each
//! [`RegistrationError`] knows its HTTP status, RFC error code, JSON body and headers; the
//! [`http`](mod@http) module serves whole `http::Request`s for hosts that want it.
//!
//! ```
//! use std::sync::Arc;
//! use oauth_dcr::{MemoryStore, Registrar, RequestContext, ServerPolicy};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let registrar = Registrar::new(
//!     ServerPolicy::new("https://as.example/register"),
//!     Arc::new(MemoryStore::new()),
//! );
//! let body = br#"{"grant_types":["client_credentials"],"scope":"openid profile"}"#;
//! let client = registrar.register(body, &RequestContext::new()).await?;
//! assert!(client.client_secret.is_some());
//! assert_eq!(client.status, 201);
//!
//! // In a handler: any error becomes a complete HTTP response.
//! let err = registrar.register(b"not json", &RequestContext::new()).await.unwrap_err();
//! let response: http::Response<Vec<u8>> = err.into();
//! assert_eq!(response.status(), 400);
//! # Ok::<(), oauth_dcr::RegistrationError>(())
//! # }).unwrap();
//! ```
//!
//! Security defaults: identifiers and credentials come from the OS CSPRNG (256-bit secrets and
//! tokens), secrets and tokens are stored as SHA-256 hashes and compared in constant time,
//! clients never choose their `client_id` or secret, redirect URIs must be canonical absolute
//! URIs without fragments, userinfo or wildcards, registration access tokens expire after 30 days
//! and rotate on every read and update.
//!
//! Beyond the core: initial access tokens ([`Registrar::require_initial_token`],
//! [`IssuedInitialTokens`]), software statements and signed request bodies
//! ([`SoftwareStatements`], [`SignedRequests`]), a [`RegistrationHook`] and [`EventSink`]s,
//! Client ID Metadata Documents ([`Registrar::resolve_client_id`]), client hygiene
//! ([`Registrar::reap`]) and deployment presets ([`Profile`]).
//!
//! | feature | adds |
//! | --- | --- |
//! | `fetch` | `fetch::HttpFetcher`: the SSRF-safe HTTPS fetcher for issuer keys, sector identifiers and metadata documents |
//! | `postgres` | `PostgresStore`: clients, crate-issued initial tokens and the `jti` replay guard in PostgreSQL |
//! | `test-kit` | `testkit`: conformance checks for any store implementation |

mod access;
mod credentials;
mod delete;
mod discovery;
mod documents;
mod error;
mod events;
pub mod fetch;
pub mod http;
mod hygiene;
mod metadata;
mod policy;
mod profiles;
mod read;
mod register;
mod registrar;
mod request;
mod response;
mod secret;
mod stages;
mod statements;
pub mod store;
#[cfg(feature = "test-kit")]
pub mod testkit;
mod update;
mod validate;

// The public interface is:
pub use access::{
    InitialAccessGrant, InitialTokenStore, InitialTokenVerifier, IssuedInitialTokens, IssuedToken,
    TokenSpec,
};
pub use credentials::{
    random_token, Clock, CredentialGenerator, Drawn, Needed, RandomError, RandomGenerator,
    SystemClock, SECRET_BYTES,
};
pub use discovery::discovery_metadata;
pub use documents::{
    is_url_client_id, DocumentKeys, DocumentPolicy, DocumentTrust, ResolvedClient, Trust,
};
pub use error::{ErrorCode, ErrorResponse, RegistrationError, Violation, Violations};
pub use events::{
    Event, EventSink, HookContext, Operation, Provenance, RegistrationHook, StatementInfo,
};
pub use metadata::{
    ApplicationType, AuthMethod, ClientMetadata, GrantType, JoseAlgorithm, RedirectUri,
    ResponseType, Scope, SubjectType, LOCALIZABLE,
};
pub use policy::{Defaults, JoseSupport, RedirectPolicy, RequestLimits, ScopePolicy, ServerPolicy};
pub use profiles::{OpenBanking, Profile};
pub use registrar::{BodyFormat, Registrar, RequestContext};
pub use response::RegistrationResponse;
pub use secret::{
    constant_time_eq, ClientSecret, InitialAccessToken, RegistrationAccessToken, SecretHash,
};
pub use statements::{
    CachingKeySource, Jwks, JwtRules, KeyError, KeySource, MemoryReplayGuard, ReplayGuard,
    SignedRequests, SoftwareStatements, StaticKeySource,
};
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
pub use store::{
    ClientRecord, ClientStore, MemoryStore, Origin, PreviousToken, SecretValue, StoreError,
    StoredSecret, StoredToken,
};
