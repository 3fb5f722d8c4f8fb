//! # oauth-dcr
//!
//! OAuth 2.0 Dynamic Client Registration for any authorization server: RFC 7591 registration,
//! RFC 7592 read / update / delete with a registration access token, and the client metadata of
//! OpenID Connect Dynamic Client Registration 1.0, the OIDC logout specs, RFC 8705 (mTLS),
//! RFC 9449 (DPoP), RFC 9126 (PAR), RFC 9396, JARM and JWT introspection responses.
//!
//! The crate is framework-agnostic: a [`Registrar`] holds a [`ServerPolicy`] and a
//! [`ClientStore`] and exposes async functions over typed values. A [`RegistrationRequest`] is
//! read from the body's bytes (or built in code), [`validate`] checks it without any I/O (the dry
//! run), and the registrar's `register`, `read`, `update` and `delete` run the same stages for
//! every path into the store. Each [`RegistrationError`] knows its HTTP status, RFC error code,
//! JSON body and headers; the [`http`](mod@http) module serves whole `http::Request`s for hosts
//! that want it.
//!
//! ```
//! use std::sync::Arc;
//! use oauth_dcr::{MemoryStore, Registrar, RegistrationRequest, RequestContext, ServerPolicy};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let registrar = Registrar::new(
//!     ServerPolicy::new("https://as.example/register"),
//!     Arc::new(MemoryStore::new()),
//! );
//! let body = br#"{"grant_types":["client_credentials"],"scope":"openid profile"}"#;
//! let request = RegistrationRequest::from_json(body, &registrar.policy().limits)?;
//! let client = registrar.register(request, &RequestContext::new()).await?;
//! assert!(client.client_secret.is_some());
//! let created: http::Response<Vec<u8>> = client.into_http(http::StatusCode::CREATED);
//! assert_eq!(created.status(), 201);
//!
//! // In a handler: any error becomes a complete HTTP response.
//! let err = RegistrationRequest::from_json(b"not json", &registrar.policy().limits).unwrap_err();
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
//! Beyond the core, a module per capability: [`initial_tokens`] (bearer tokens that protect the
//! endpoint, [`Registrar::require_initial_token`]), [`statements`] (software statements and
//! signed request bodies), [`events`] (the host's [`RegistrationHook`](events::RegistrationHook)
//! and [`EventSink`](events::EventSink)s), [`documents`] (Client ID Metadata Documents,
//! [`Registrar::resolve_client_id`]), [`profiles`] (deployment presets), [`store`] (the store
//! trait, its optional capabilities, [`MemoryStore`] and `PostgresStore`), [`policy`],
//! [`credentials`], [`discovery`], [`fetch`] and [`http`](mod@http), with `service` (a
//! `tower::Service`) and `axum` (a router to nest) behind their features; client hygiene is
//! [`Registrar::reap`]. [`federation`] is OpenID Federation explicit registration
//! ([`Registrar::register_federated`]): trust chains, metadata policies, the signed response.
//!
//! | feature | adds |
//! | --- | --- |
//! | `fetch` | `fetch::HttpFetcher`: the SSRF-safe HTTPS fetcher for issuer keys, sector identifiers and metadata documents |
//! | `postgres` | `store::PostgresStore`: clients, crate-issued initial tokens and the `jti` replay guard in PostgreSQL |
//! | `sqlite` | `store::SqliteStore`: the same in one SQLite file (bundled, WAL), for single-node servers |
//! | `test-kit` | `testkit`: conformance checks for any store implementation |
//! | `tower` | `service::RegistrationService`: the registrar as a `tower::Service` for any `http_body::Body`, the body read within the policy's limit and a read timeout, routed by where it is mounted |
//! | `axum` | `axum::router`: `POST /register` and `GET`/`PUT`/`DELETE /register/{client_id}` as an axum `Router` to nest anywhere, `axum::discovery` for the discovery documents (implies `tower`) |
//! | `tracing` | a span per operation (operation, client id, outcome), the cause chain of every 500 logged once, `events::TracingSink` |

mod admin;
#[cfg(feature = "axum")]
pub mod axum;
pub mod credentials;
mod delete;
pub mod discovery;
pub mod documents;
mod error;
pub mod events;
mod federated;
pub mod federation;
pub mod fetch;
pub mod http;
mod hygiene;
pub mod initial_tokens;
mod metadata;
mod pipeline;
pub mod policy;
pub mod profiles;
mod read;
mod register;
mod registrar;
mod request;
mod response;
mod secret;
#[cfg(feature = "tower")]
pub mod service;
pub mod statements;
pub mod store;
#[cfg(feature = "test-kit")]
pub mod testkit;
mod trace;
mod update;
mod validate;

// The core path: a registrar over a policy and a store, typed requests and responses, the pure
// validation, and the errors. Everything else lives in the module named for what it does.
pub use credentials::{Clock, SystemClock};
pub use error::{ErrorCode, ErrorResponse, RegistrationError, Violation, Violations};
pub use metadata::{
    ApplicationType, AuthMethod, ClientMetadata, GrantType, JoseAlgorithm, RedirectUri,
    ResponseType, Scope, SubjectType,
};
pub use policy::{RequestLimits, ServerPolicy};
pub use registrar::Registrar;
pub use request::{RegistrationRequest, RequestContext};
pub use response::RegistrationResponse;
pub use secret::{ClientSecret, RegistrationAccessToken};
pub use store::{ClientRecord, ClientStore, MemoryStore, StoreError};
pub use validate::{validate, ValidatedMetadata};

/// The attribute the crate's async traits ([`ClientStore`], the capabilities, the hooks, sinks,
/// verifiers and guards) are declared with: implement them with `#[oauth_dcr::async_trait]`,
/// and no `async-trait` dependency of a matching version is needed.
///
/// ```
/// use oauth_dcr::{async_trait, statements::ReplayGuard, StoreError};
///
/// struct RememberNothing;
///
/// #[async_trait]
/// impl ReplayGuard for RememberNothing {
///     async fn first_use(
///         &self,
///         _key: &str,
///         _now: time::OffsetDateTime,
///         _expires_at: time::OffsetDateTime,
///     ) -> Result<bool, StoreError> {
///         Ok(true)
///     }
/// }
/// ```
pub use async_trait::async_trait;

/// The README's Rust examples that are not marked `ignore` compile and run as doctests (with
/// the features they use: the README's test command enables them all).
#[cfg(all(doctest, feature = "axum", feature = "tower"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
