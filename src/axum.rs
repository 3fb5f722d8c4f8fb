//! An axum [`Router`] for the registration endpoint and the client configuration endpoints,
//! over the [`RegistrationService`]: `POST /register` and `GET`/`PUT`/`DELETE
//! /register/{client_id}`, mountable anywhere with [`Router::nest`] (the policy's
//! [`registration_endpoint`](crate::ServerPolicy::registration_endpoint) is the public URL clients
//! are told about, and need not match where the router is mounted). [`discovery`] serves the
//! discovery documents when the host wants them served.
//!
//! ```
//! use std::sync::Arc;
//! use oauth_dcr::{MemoryStore, Registrar, ServerPolicy};
//!
//! let registrar = Registrar::new(
//!     ServerPolicy::new("https://as.example/oauth/register"),
//!     Arc::new(MemoryStore::new()),
//! );
//! let base = serde_json::json!({
//!     "issuer": "https://as.example",
//!     "authorization_endpoint": "https://as.example/authorize",
//!     "token_endpoint": "https://as.example/token",
//!     "jwks_uri": "https://as.example/jwks",
//! });
//! let app: axum::Router = axum::Router::new()
//!     // POST /oauth/register, GET/PUT/DELETE /oauth/register/{client_id}
//!     .nest("/oauth", oauth_dcr::axum::router(registrar.clone()))
//!     // GET /.well-known/openid-configuration and /.well-known/oauth-authorization-server
//!     .merge(oauth_dcr::axum::discovery(&registrar, base));
//! # async fn serve(app: axum::Router) -> std::io::Result<()> {
//! // The peer's address reaches the registrar's `RequestContext`.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
//! # }
//! ```
//!
//! An application with its own state nests the router as a service:
//! `Router::new().nest_service("/oauth", oauth_dcr::axum::router(registrar))`.

use std::net::SocketAddr;
use std::sync::Arc;

use ::axum::body::Body;
use ::axum::extract::{ConnectInfo, Request};
use ::axum::middleware::map_request;
use ::axum::response::Response;
use ::axum::routing::get;
use ::axum::Router;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use serde_json::{Map, Value};

use crate::registrar::Registrar;
use crate::request::RequestContext;
use crate::service::RegistrationService;

/// `POST /register` and `GET`/`PUT`/`DELETE /register/{client_id}` over `registrar`, with the
/// [`RegistrationService`]'s defaults (the policy's body limit, a
/// [`DEFAULT_READ_TIMEOUT`](crate::service::DEFAULT_READ_TIMEOUT)).
pub fn router(registrar: impl Into<Arc<Registrar>>) -> Router {
    router_with(RegistrationService::new(registrar))
}

/// As [`router`], over a service configured by the host (its read timeout).
///
/// When the server is run with `into_make_service_with_connect_info::<SocketAddr>()`, the
/// peer's address becomes the [`RequestContext::remote_addr`] of requests that do not carry a
/// `RequestContext` already.
pub fn router_with(service: RegistrationService) -> Router {
    Router::new()
        .nest_service("/register", service)
        .layer(map_request(peer_context))
}

/// The request with a [`RequestContext`] naming the peer, unless the host put one there.
async fn peer_context(mut request: Request) -> Request {
    let extensions = request.extensions_mut();
    if extensions.get::<RequestContext>().is_none() {
        if let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<SocketAddr>>() {
            let context = RequestContext::new().with_remote_addr(peer.ip());
            extensions.insert(context);
        }
    }
    request
}

/// `GET /.well-known/openid-configuration` and `GET /.well-known/oauth-authorization-server`:
/// the host's `base` document (`issuer`, `authorization_endpoint`, `token_endpoint`,
/// `jwks_uri`, …; see [`discovery_metadata`](crate::discovery::discovery_metadata)) with the
/// registrar's [`discovery_metadata`](Registrar::discovery_metadata) merged in, so what is
/// advertised is what the registrar enforces. An origin in the policy's
/// [`allowed_origins`](crate::ServerPolicy::allowed_origins) may read it from a browser. Merge it
/// at the root of the host's router: the well-known paths are not nested.
///
/// `base` is a JSON object; any other value is taken as an empty one.
pub fn discovery(registrar: &Registrar, base: Value) -> Router {
    let mut document = match base {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    document.extend(registrar.discovery_metadata());
    let document: Arc<str> = Arc::from(Value::Object(document).to_string());
    let origins: Arc<[String]> = Arc::from(registrar.policy().allowed_origins.clone());
    let serve = move |headers: HeaderMap| {
        let document = document.clone();
        let origins = origins.clone();
        async move { discovery_response(&document, &origins, &headers) }
    };
    let not_allowed = || async {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        response
    };
    let route = get(serve).fallback(not_allowed);
    Router::new()
        .route("/.well-known/openid-configuration", route.clone())
        .route("/.well-known/oauth-authorization-server", route)
}

fn discovery_response(document: &str, origins: &[String], request: &HeaderMap) -> Response {
    let mut response = Response::new(Body::from(document.to_owned()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(origin) = request.get(header::ORIGIN) {
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if origin
            .to_str()
            .is_ok_and(|o| origins.iter().any(|a| a == o))
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
    }
    response
}
