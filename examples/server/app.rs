//! The example server's router: discovery, the registration and client configuration endpoints
//! through [`oauth_dcr::http::handle`], the optional token endpoint, the optional admin
//! endpoints, and request logging.
//!
//! `tests/http/main.rs` includes this file to run the README walkthroughs against the same router.

#[path = "admin.rs"]
mod admin;
#[path = "flags.rs"]
mod flags;
#[path = "limits.rs"]
mod limits;
#[path = "logs.rs"]
pub(crate) mod logs;
#[path = "outage.rs"]
mod outage;
#[path = "serve.rs"]
mod serve;
#[path = "token.rs"]
mod token;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use oauth_dcr::federation::chain::TrustAnchor;
use oauth_dcr::federation::response::{entity_statement, JwkSigner};
use oauth_dcr::federation::ExplicitRegistration;
use oauth_dcr::initial_tokens::InitialTokenVerifier;
use oauth_dcr::policy::ScopePolicy;
use oauth_dcr::profiles::{OpenBanking, Profile};
use oauth_dcr::statements::{
    JwtRules, MemoryReplayGuard, ReplayGuard, SignedRequests, SoftwareStatements, StaticKeySource,
};
use oauth_dcr::{
    ClientStore, MemoryStore, Registrar, RegistrationError, RequestContext, ServerPolicy,
};
use serde_json::{json, Value};
use tracing_subscriber::filter::{LevelFilter, Targets};

pub(crate) use flags::{AdminToken, Config, StoreChoice, USAGE};
pub(crate) use logs::log_writer;
pub(crate) use serve::{serve, shutdown_signal};

/// How many bytes beyond the policy's body limit are read, so that the crate itself answers a
/// slightly oversized body with its 413; anything longer is cut off here with the same error.
const BODY_SLACK: usize = 1024;

/// What every handler shares: one reference count to touch per request.
#[derive(Clone)]
struct App(Arc<Shared>);

impl std::ops::Deref for App {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`App`] holds.
struct Shared {
    registrar: Arc<Registrar>,
    tokens: Option<Arc<token::TokenIssuer>>,
    /// `--admin-token`: the admin endpoints are served only with it.
    admin: Option<Arc<AdminToken>>,
    discovery: Bytes,
    /// `--federation-entity-id`: the server's entity identifier, signing key and discovery
    /// members, for its Entity Configuration.
    federation: Option<Arc<Federation>>,
}

/// What the server's own Entity Configuration states.
struct Federation {
    entity_id: String,
    signer: Arc<JwkSigner>,
    provider: serde_json::Map<String, serde_json::Value>,
}

/// Where the server keeps its state: the clients, and the `jti` replay guard of software
/// statements and signed requests.
#[derive(Clone)]
pub(crate) struct Stores {
    /// The client store.
    pub(crate) clients: Arc<dyn ClientStore>,
    /// The replay guard: in PostgreSQL with the PostgreSQL store, so that every replica refuses
    /// a `jti` any of them accepted.
    pub(crate) replay: Arc<dyn ReplayGuard>,
}

/// The stores `config` names: fresh in-memory ones, the SQLite file created and migrated, or
/// PostgreSQL with its tables migrated.
///
/// # Errors
/// A message for the operator when the database cannot be opened, reached or migrated.
pub(crate) async fn open_store(config: &Config) -> Result<Stores, String> {
    match &config.store {
        StoreChoice::Memory => Ok(Stores {
            clients: Arc::new(MemoryStore::new()),
            replay: Arc::new(MemoryReplayGuard::new()),
        }),
        #[cfg(feature = "sqlite")]
        StoreChoice::Sqlite(path) => {
            let store = oauth_dcr::store::SqliteStore::open(path)
                .await
                .map_err(|e| format!("SQLite store {}: {}", path.display(), chain(&e)))?;
            let store = Arc::new(store);
            // A database another process keeps locked answers 503 with Retry-After (outage.rs).
            Ok(Stores {
                clients: Arc::new(outage::Watched::new(store.clone(), outage::is_sqlite_busy)),
                replay: Arc::new(outage::WatchedReplay::new(store, outage::is_sqlite_busy)),
            })
        }
        #[cfg(not(feature = "sqlite"))]
        StoreChoice::Sqlite(_) => Err("SQLite needs the `sqlite` feature".into()),
        #[cfg(feature = "postgres")]
        StoreChoice::Postgres(url) => {
            let failed = |e: oauth_dcr::StoreError| format!("PostgreSQL store: {}", chain(&e));
            let store = oauth_dcr::store::PostgresStore::connect(url, 16)
                .await
                .map_err(failed)?;
            store.migrate().await.map_err(failed)?;
            let store = Arc::new(store);
            // A database that goes away answers 503 with Retry-After (outage.rs).
            Ok(Stores {
                clients: Arc::new(outage::Watched::new(store.clone(), outage::is_unavailable)),
                replay: Arc::new(outage::WatchedReplay::new(store, outage::is_unavailable)),
            })
        }
        #[cfg(not(feature = "postgres"))]
        StoreChoice::Postgres(_) => Err("PostgreSQL needs the `postgres` feature".into()),
    }
}

/// An error and its causes, `: `-separated, for the operator.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// The router for `config`, over `stores`.
pub(crate) fn router(config: &Config, stores: Stores) -> Router {
    let required = config.require_initial_token.as_deref();
    let tokens = config
        .bootstrap
        .clone()
        .map(|client| Arc::new(token::TokenIssuer::new(client, required)));
    let mut registrar = match config.profile {
        Some(Profile::UkOpenBanking) => open_banking(config, stores),
        profile => {
            let mut registrar = Registrar::new(policy(config, profile), stores.clients);
            if let Some(profile) = profile {
                // The preset's own rules (for OidcDynamic and Mcp, a hook that accepts all).
                registrar = registrar.with_hook(profile.hook());
            }
            protection(config, registrar, stores.replay)
        }
    };
    if let (Some(scope), Some(tokens)) = (required, &tokens) {
        let verifier: Arc<dyn InitialTokenVerifier> = tokens.clone();
        registrar = registrar.require_initial_token(verifier, Some(scope));
    }
    let signer = config.federation.as_ref().map(|flags| {
        // Checked when the flags were read.
        Arc::new(JwkSigner::from_jwk(&flags.key).expect("the federation key was checked"))
    });
    if let (Some(flags), Some(signer)) = (&config.federation, &signer) {
        let anchors = flags
            .anchors
            .iter()
            .map(|(id, keys)| TrustAnchor::new(id, keys.clone()))
            .collect();
        let explicit = ExplicitRegistration::new(&flags.entity_id, anchors, signer.clone());
        registrar = registrar.with_explicit_registration(federation_resolver(config, explicit));
    }
    // The crate's events (registrations, reads, updates, deletes, refusals, token reuse,
    // reissues) as structured log lines; token reuse at WARN, so `--quiet` keeps it.
    #[cfg(feature = "tracing")]
    {
        registrar = registrar.with_event_sink(Arc::new(oauth_dcr::events::TracingSink));
    }
    let discovery = discovery_document(config, &registrar);
    let federation = match (&config.federation, signer) {
        (Some(flags), Some(signer)) => {
            let mut provider = discovery.as_object().cloned().unwrap_or_default();
            provider.insert("issuer".into(), config.issuer.clone().into());
            Some(Arc::new(Federation {
                entity_id: flags.entity_id.clone(),
                signer,
                provider,
            }))
        }
        _ => None,
    };
    let has_federation = federation.is_some();
    let has_token_endpoint = tokens.is_some();
    let app = App(Arc::new(Shared {
        registrar: Arc::new(registrar),
        tokens,
        admin: config.admin_token.clone().map(Arc::new),
        discovery: Bytes::from(discovery.to_string()),
        federation,
    }));
    let mut router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery_handler).fallback(discovery_not_allowed),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery_handler).fallback(discovery_not_allowed),
        )
        .route("/register", any(registration))
        .route("/register/{client_id}", any(registration))
        .route(
            "/clients/resolve",
            get(resolve).fallback(discovery_not_allowed),
        );
    if has_token_endpoint {
        router = router.route("/token", any(token_handler));
    }
    if has_federation {
        router = router.route(
            "/.well-known/openid-federation",
            get(entity_configuration).fallback(discovery_not_allowed),
        );
    }
    if config.jwks_uri.is_none() {
        router = router.route("/jwks", get(jwks_handler).fallback(discovery_not_allowed));
    }
    if config.admin_token.is_some() {
        router = admin::routes(router);
    }
    let router = router
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint") });
    let router = router
        .layer(middleware::from_fn(outage::unavailable))
        .layer(middleware::from_fn_with_state(
            Arc::new(limits::Limits::new(config)),
            limits::guard,
        ));
    // With `--quiet` no request is logged: the layer would only format lines nobody sees.
    let router = if config.quiet {
        router
    } else {
        router.layer(middleware::from_fn(log))
    };
    router.with_state(app)
}

/// The policy: the `--profile` preset's (or the crate's default one), with the example's flags.
fn policy(config: &Config, profile: Option<Profile>) -> ServerPolicy {
    let endpoint = config.registration_endpoint();
    let mut policy = profile.map_or_else(|| ServerPolicy::new(&endpoint), |p| p.policy(&endpoint));
    policy.rotate_on_read = config.rotate_on_read;
    policy.detect_token_reuse = config.detect_token_reuse;
    policy.allowed_origins.clone_from(&config.allowed_origins);
    // Declared, so discovery advertises them as scopes_supported and registration refuses others.
    policy.scope = ScopePolicy::reject_outside(config.scopes.iter().map(String::as_str));
    if config.metadata_documents {
        let mut documents = policy.metadata_documents.take().unwrap_or_default();
        // The development switch serves documents locally: `http` loopback client ids too.
        documents.dangerously_allow_http_loopback = config.dangerously_allow_http_loopback_fetch;
        policy.metadata_documents = Some(documents);
    }
    policy
}

/// `--profile uk-open-banking`: the crate's [`OpenBanking`] registrar, with the directory's keys
/// from `--trust-issuer`, the software's key sets fetched from the URL each statement names
/// (`software_jwks_endpoint`), and every `--audience` accepted as the signed requests' `aud`
/// besides the issuer. The preset's policy keeps its own scopes (`openid accounts payments
/// fundsconfirmations`); `--no-rotate-on-read`, `--detect-token-reuse` and `--allow-origin`
/// apply. With `--dangerously-allow-http-loopback-fetch`, a statement's key set may be served on
/// `http` loopback and become the client's `jwks_uri` (local walkthroughs only).
fn open_banking(config: &Config, stores: Stores) -> Registrar {
    let directory = config
        .trusted_issuers
        .iter()
        .fold(StaticKeySource::new(), |keys, (issuer, jwks)| {
            keys.with_issuer(issuer.as_str(), jwks.clone())
        });
    let endpoint = config.registration_endpoint();
    let mut policy = Profile::UkOpenBanking.policy(&endpoint);
    policy.rotate_on_read = config.rotate_on_read;
    policy.detect_token_reuse = config.detect_token_reuse;
    policy.allowed_origins.clone_from(&config.allowed_origins);
    if config.dangerously_allow_http_loopback_fetch {
        policy.dangerously_allow_http_metadata_uris = true;
        policy.dangerously_allow_private_addresses = true;
    }
    config
        .audiences()
        .into_iter()
        .fold(
            OpenBanking::new(
                config.issuer.clone(),
                Arc::new(directory),
                key_fetcher(config),
            ),
            OpenBanking::audience,
        )
        .replay_guard(stores.replay)
        .registrar_with_policy(policy, stores.clients)
}

/// The fetcher of Open Banking software key sets.
#[cfg(feature = "fetch")]
fn key_fetcher(config: &Config) -> Arc<dyn oauth_dcr::fetch::Fetcher> {
    match fetcher(config) {
        Ok(fetcher) => Arc::new(fetcher),
        Err(e) => {
            tracing::error!("cannot build the fetcher for software key sets: {e}");
            Arc::new(NoFetcher)
        }
    }
}

/// Without the `fetch` feature no key set can be fetched: signed requests are refused (500).
#[cfg(not(feature = "fetch"))]
fn key_fetcher(_: &Config) -> Arc<dyn oauth_dcr::fetch::Fetcher> {
    Arc::new(NoFetcher)
}

/// A fetcher that fetches nothing.
struct NoFetcher;

#[async_trait::async_trait]
impl oauth_dcr::fetch::Fetcher for NoFetcher {
    async fn fetch(
        &self,
        url: &str,
        _: oauth_dcr::fetch::FetchLimits,
    ) -> Result<oauth_dcr::fetch::Fetched, oauth_dcr::fetch::FetchError> {
        Err(oauth_dcr::fetch::FetchError::Refused(format!(
            "{url}: this server fetches nothing (build it with the `fetch` feature)"
        )))
    }
}

/// Software statements from the trusted issuers, and signed request bodies: each accepted once
/// (it must carry a `jti`, which `replay` remembers).
fn protection(
    config: &Config,
    mut registrar: Registrar,
    replay: Arc<dyn ReplayGuard>,
) -> Registrar {
    if !config.trusted_issuers.is_empty() {
        let keys = config
            .trusted_issuers
            .iter()
            .fold(StaticKeySource::new(), |keys, (issuer, jwks)| {
                keys.with_issuer(issuer.as_str(), jwks.clone())
            });
        let mut statements = SoftwareStatements::new(Arc::new(keys)).replay_guard(replay.clone());
        if config.require_software_statement {
            statements = statements.required();
        }
        registrar = registrar.with_software_statements(statements);
    }
    if let Some(jwks) = &config.signed_request_keys {
        let keys = StaticKeySource::new().with_any_issuer(jwks.clone());
        // Each signed request is used once: it must carry a `jti`, which is remembered. The keys
        // serve any issuer, so `iss` is optional; `aud` must name this server's issuer.
        let mut rules = JwtRules::default();
        rules.required_claims = vec!["iat".into(), "exp".into()];
        rules.audience = Some(config.issuer.clone());
        rules.max_lifetime = Some(time::Duration::hours(24));
        let mut signed = SignedRequests::new(Arc::new(keys))
            .rules(rules)
            .replay_guard(replay);
        if config.require_signed_request {
            signed = signed.required();
        }
        registrar = registrar.with_signed_requests(signed);
    }
    metadata_documents(config, registrar)
}

/// Client ID Metadata Documents through the crate's SSRF-safe fetcher.
#[cfg(feature = "fetch")]
fn metadata_documents(config: &Config, registrar: Registrar) -> Registrar {
    if !config.metadata_documents {
        return registrar;
    }
    match fetcher(config) {
        Ok(fetcher) => registrar.with_metadata_documents(Arc::new(fetcher)),
        Err(e) => {
            // Never run without the fetcher the flag asked for: say why and stop.
            eprintln!("--metadata-documents: the fetcher could not be built: {e}");
            std::process::exit(1);
        }
    }
}

/// The fetcher every server-side fetch goes through: the crate's SSRF-safe [`HttpFetcher`], or,
/// with `--dangerously-allow-http-loopback-fetch`, one that also reaches plain `http` and
/// loopback addresses (local walkthroughs and tests only).
///
/// [`HttpFetcher`]: oauth_dcr::fetch::HttpFetcher
///
/// # Errors
/// When the TLS backend cannot be initialised.
#[cfg(feature = "fetch")]
pub(crate) fn fetcher(
    config: &Config,
) -> Result<oauth_dcr::fetch::HttpFetcher, oauth_dcr::fetch::FetchError> {
    if config.dangerously_allow_http_loopback_fetch {
        oauth_dcr::fetch::HttpFetcher::dangerously_allow_loopback_for_tests()
    } else {
        oauth_dcr::fetch::HttpFetcher::new()
    }
}

#[cfg(not(feature = "fetch"))]
fn metadata_documents(_: &Config, registrar: Registrar) -> Registrar {
    registrar
}

/// With the `fetch` feature, a client may send only its Entity Configuration: its trust chain
/// is resolved through the crate's SSRF-safe fetcher (with
/// `--dangerously-allow-http-loopback-fetch`, also from `http` on loopback, for a local
/// federation).
#[cfg(feature = "fetch")]
fn federation_resolver(config: &Config, explicit: ExplicitRegistration) -> ExplicitRegistration {
    match fetcher(config) {
        Ok(fetcher) => explicit.resolve_with(
            Arc::new(fetcher),
            oauth_dcr::federation::resolve::ResolveLimits::default(),
        ),
        Err(e) => {
            // Never run without the fetcher the flags asked for: say why and stop.
            eprintln!("--federation-entity-id: the fetcher could not be built: {e}");
            std::process::exit(1);
        }
    }
}

/// Without the `fetch` feature a client sends its whole trust chain.
#[cfg(not(feature = "fetch"))]
fn federation_resolver(_: &Config, explicit: ExplicitRegistration) -> ExplicitRegistration {
    explicit
}

/// `GET /clients/resolve?client_id=URL`: what the server would use for a URL client identifier
/// (the validated metadata and its trust label), or the error it would give.
async fn resolve(
    State(app): State<App>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(client_id) = query.get("client_id") else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the client_id query parameter is required",
        );
    };
    match app.registrar.resolve_client_id(client_id).await {
        Ok(client) => {
            let trust = match &client.trust {
                oauth_dcr::documents::Trust::Verified => "verified".to_owned(),
                oauth_dcr::documents::Trust::Labelled(label) => label.clone(),
                _ => "unverified".to_owned(),
            };
            let mut body = serde_json::to_value(&client.metadata).unwrap_or_default();
            if let Value::Object(map) = &mut body {
                map.insert("client_id".into(), client.client_id.clone().into());
                map.insert("trust".into(), trust.into());
                map.insert("cache_for".into(), client.cache_for.as_secs().into());
            }
            let mut response = Response::new(Body::from(body.to_string()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => to_axum(error.into_http()),
    }
}

/// RFC 8414 §2 / OpenID Connect Discovery §3: the host's base document (the issuer and its
/// endpoints) with the registration members the crate derives from the policy the registrar
/// enforces merged in.
///
/// OpenID Connect Discovery §3 requires `authorization_endpoint` and `jwks_uri` (RFC 8414 §2
/// requires the first too), and typed clients (the Rust `openidconnect` crate) refuse a document
/// without them. This example implements neither, so it advertises `--authorization-endpoint`
/// and `--jwks-uri`, by default placeholders under the issuer: `/authorize` (not served) and
/// `/jwks` (an empty JWK Set: the example signs no ID tokens). `token_endpoint` is advertised
/// when the example serves one (`--bootstrap-client`).
fn discovery_document(config: &Config, registrar: &Registrar) -> Value {
    let mut document = serde_json::Map::new();
    document.insert("issuer".into(), config.issuer.clone().into());
    document.insert(
        "authorization_endpoint".into(),
        config.authorization_endpoint().into(),
    );
    if config.bootstrap.is_some() {
        document.insert("token_endpoint".into(), config.token_endpoint().into());
    }
    document.insert("jwks_uri".into(), config.jwks_uri().into());
    document.extend(registrar.discovery_metadata());
    Value::Object(document)
}

/// `GET /jwks` (without `--jwks-uri`): the example's JWK Set, empty, since it signs nothing.
/// The server's Entity Configuration (OpenID Federation 1.0 §9): signed now with its
/// federation key, valid for a day, naming its keys and, as an `openid_provider`, its discovery
/// members with the federation registration endpoint.
async fn entity_configuration(State(app): State<App>) -> Response {
    let Some(federation) = &app.0.federation else {
        return json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint");
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = serde_json::json!({
        "iss": federation.entity_id,
        "sub": federation.entity_id,
        "iat": now,
        "exp": now + 86_400,
        "jwks": { "keys": [federation.signer.public_jwk()] },
        "metadata": {
            "openid_provider": federation.provider,
            "federation_entity": {},
        },
    });
    let Some(claims) = claims.as_object() else {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "");
    };
    match entity_statement(federation.signer.as_ref(), claims).await {
        Ok(jwt) => {
            let mut response = Response::new(Body::from(jwt));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/entity-statement+jwt"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "the entity configuration could not be signed");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the entity configuration could not be signed",
            )
        }
    }
}

async fn jwks_handler() -> Response {
    let mut response = Response::new(Body::from(r#"{"keys":[]}"#));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn discovery_handler(State(app): State<App>, headers: HeaderMap) -> Response {
    let mut response = Response::new(Body::from(app.discovery.clone()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    allow_origin(&app, &headers, &mut response);
    response
}

async fn discovery_not_allowed() -> Response {
    method_not_allowed("GET, HEAD")
}

/// Lets an allowed browser origin read the discovery document.
fn allow_origin(app: &App, request: &HeaderMap, response: &mut Response) {
    let Some(origin) = request.get(header::ORIGIN) else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    let allowed = origin.to_str().is_ok_and(|o| {
        let policy = app.registrar.policy();
        policy.allowed_origins.iter().any(|a| a == o)
    });
    if allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
}

/// `POST /register` and `GET`/`PUT`/`DELETE /register/{client_id}`: the crate answers everything,
/// errors included, once the body is read.
async fn registration(State(app): State<App>, request: Request) -> Response {
    let mut context = RequestContext::new();
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        context = context.with_remote_addr(peer.ip());
    }
    let (parts, body) = request.into_parts();
    let limit = app.registrar.policy().limits.max_body_bytes;
    let body = match read_body(body, limit + BODY_SLACK).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return to_axum(RegistrationError::BodyTooLarge { limit }.into())
        }
        Err(BodyError::Unreadable) => {
            let error = RegistrationError::InvalidRequest("could not read the request body".into());
            return to_axum(error.into());
        }
    };
    let request = http::Request::from_parts(parts, body);
    to_axum(oauth_dcr::http::handle(&app.registrar, request, &context).await)
}

async fn token_handler(State(app): State<App>, request: Request) -> Response {
    match &app.tokens {
        Some(tokens) => tokens.endpoint(request).await,
        None => json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
    }
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    /// It is longer than the limit.
    TooLarge,
    /// The connection failed or the framing was invalid.
    Unreadable,
}

/// Reads at most `limit` bytes of `body`.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

fn to_axum(response: http::Response<Vec<u8>>) -> Response {
    response.map(Body::from)
}

/// An OAuth-style JSON error with `Cache-Control: no-store`.
fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({ "error": code, "error_description": description });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// What is logged: one line per request at `INFO`, and the crate's own warnings and errors
/// (token reuse, the cause of a 500); `WARN` and above only with `--quiet`; or what `RUST_LOG`
/// says, in the `target=level,level` form of [`Targets`] (`RUST_LOG=info` adds the crate's spans
/// and an event line per operation: two lines a request cost a quarter of the throughput, one
/// costs a few per cent, benches/README.md).
pub(crate) fn log_filter(quiet: bool) -> Targets {
    let default = default_log_filter(quiet);
    match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => match directives.parse::<Targets>() {
            Ok(filter) => filter,
            Err(e) => {
                eprintln!("RUST_LOG ignored ({e}): expected `target=level,level`");
                default
            }
        },
        _ => default,
    }
}

/// What is logged without `RUST_LOG`.
pub(crate) fn default_log_filter(quiet: bool) -> Targets {
    let level = if quiet {
        LevelFilter::WARN
    } else {
        LevelFilter::INFO
    };
    Targets::new()
        .with_default(level)
        .with_target("oauth_dcr", LevelFilter::WARN)
}

/// Logs each request's method, path (never the query), status, latency, client address and, for
/// the registrar's successful operations, the `client_id` (a registration's path does not name
/// it). Headers and bodies, which carry secrets and tokens, are never logged.
async fn log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let started = Instant::now();
    let response = next.run(request).await;
    let line = AccessLine {
        method: &method,
        path: &path,
        status: response.status().as_u16(),
        latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        peer,
        client_id: response
            .extensions()
            .get::<oauth_dcr::http::ClientId>()
            .map(|oauth_dcr::http::ClientId(id)| id.as_str()),
    };
    tracing::info!(access = %line);
    response
}

/// A request's log line, `key=value` pairs in one field (`access`, which
/// [`logs::line_fields`] writes as it is): one formatting pass, where a field each cost twice
/// as much.
struct AccessLine<'a> {
    method: &'a axum::http::Method,
    path: &'a str,
    status: u16,
    latency_us: u64,
    peer: Option<std::net::IpAddr>,
    client_id: Option<&'a str>,
}

impl std::fmt::Display for AccessLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A parsed URI's path has no ASCII control character or space, but may hold UTF-8
        // (C1 controls included): anything beyond ASCII is escaped, as every other field is.
        write!(
            f,
            "request method={} path={} status={} latency_us={}",
            self.method,
            logs::escaped(self.path),
            self.status,
            self.latency_us
        )?;
        if let Some(peer) = self.peer {
            write!(f, " peer={peer}")?;
        }
        if let Some(client_id) = self.client_id {
            write!(f, " client_id={}", logs::escaped(client_id))?;
        }
        Ok(())
    }
}
