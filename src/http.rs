//! Adapters between the `http` crate's types and the registrar: one function that serves the
//! registration endpoint and the client configuration endpoint from an `http::Request`, and the
//! pieces it is made of for hosts that route themselves.
//!
//! ```
//! use std::sync::Arc;
//! use oauth_dcr::{http::handle, MemoryStore, Registrar, RequestContext, ServerPolicy};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), Arc::new(MemoryStore::new()));
//! let request = http::Request::post("/register")
//!     .header("content-type", "application/json")
//!     .body(br#"{"redirect_uris":["https://app.example/cb"]}"#.to_vec())?;
//! let response = handle(&registrar, request, &RequestContext::new()).await;
//! assert_eq!(response.status(), 201);
//! assert_eq!(response.headers()["cache-control"], "no-store");
//! # Ok::<(), http::Error>(())
//! # }).unwrap();
//! ```

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::error::RegistrationError;
use crate::policy::RequestLimits;
use crate::registrar::Registrar;
use crate::request::RegistrationRequest;
use crate::request::RequestContext;
use crate::response::json_response;

/// The [`RegistrationRequest`] of a registration or update body: a signed body when the
/// `Content-Type` is `application/jwt` or `application/jose`, JSON otherwise.
///
/// A body that cannot be read within `limits` still yields a request: the registrar refuses it
/// (400 `invalid_request`, 413 over the size limit) once it has checked the caller's initial or
/// registration access token, so that an unauthenticated caller learns nothing from its body
/// (RFC 6750 before RFC 7591 §3.2.2).
pub fn registration_request(
    headers: &HeaderMap,
    body: &[u8],
    limits: &RequestLimits,
) -> RegistrationRequest {
    request_from(headers, Ok(body), limits)
}

/// As [`registration_request`], for a body that may have failed to arrive (too large, cut off,
/// too slow): the failure is deferred like a malformed body's.
fn request_from(
    headers: &HeaderMap,
    body: Result<&[u8], &RegistrationError>,
    limits: &RequestLimits,
) -> RegistrationRequest {
    let read = match body {
        Ok(body) if is_jwt(headers) => RegistrationRequest::from_jwt(body, limits),
        Ok(body) => RegistrationRequest::from_json(body, limits),
        Err(e) => return RegistrationRequest::unreadable(e),
    };
    read.unwrap_or_else(|e| RegistrationRequest::unreadable(&e))
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The bearer token of the `Authorization` header (RFC 6750 §2.1), if there is exactly one such
/// header, its scheme is `Bearer` in any letter case, and the token is a well-formed `b64token`.
///
/// Tokens in the query string or the form body (RFC 6750 §2.2, §2.3) are not accepted.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let well_formed = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    well_formed.then_some(token)
}

/// The credentials of a request for the registrar: `None` when the request carries none (no
/// `Authorization` header, or one with another scheme than `Bearer`), the bearer token when it
/// is well formed, and an empty token, which no client holds, when a `Bearer` credential is
/// malformed or the header is repeated.
///
/// RFC 6750 §3.1 separates the two refusals: a request that "lacks any authentication
/// information (e.g., the client was unaware that authentication is necessary or attempted
/// using an unsupported authentication method)" gets a challenge without an error code; a bad
/// bearer token gets `invalid_token`.
fn credentials(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next()?;
    let repeated = values.next().is_some();
    let bearer = first
        .as_bytes()
        .get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer"));
    if !bearer && !repeated {
        return None;
    }
    Some(bearer_token(headers).unwrap_or_default())
}

/// Whether the `Content-Type` is `application/json`, parameters (`charset=utf-8`) allowed.
pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|t| t.eq_ignore_ascii_case("application/json"))
}

/// Whether the `Content-Type` is `application/jwt` or `application/jose` (a signed request
/// body). The UK Open Banking API definition and its `conformance-dcr` tool send the compact JWS
/// as `application/jose` (RFC 7515 §9.2.1 registers it for the compact serialization).
pub fn is_jwt(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|t| {
        t.eq_ignore_ascii_case("application/jwt") || t.eq_ignore_ascii_case("application/jose")
    })
}

/// Whether the `Content-Type` is `application/trust-chain+json`: an explicit registration
/// through an OpenID Federation trust chain (OpenID Federation 1.0 §12.2.1).
pub fn is_trust_chain(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|t| t.eq_ignore_ascii_case("application/trust-chain+json"))
}

/// Whether the `Content-Type` is `application/entity-statement+jwt`.
fn is_entity_statement(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|t| t.eq_ignore_ascii_case("application/entity-statement+jwt"))
}

fn media_type(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or_default().trim())
}

/// The `client_id` of the client a request registered, read, updated or deleted, in the
/// extensions of every successful response [`handle`] and [`handle_route`] give: what a host's
/// access log needs to name the client without reading the body (a registration's path does not
/// name it). Refusals carry none.
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::http::{handle, ClientId};
/// use oauth_dcr::{MemoryStore, Registrar, RequestContext, ServerPolicy};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), Arc::new(MemoryStore::new()));
/// let request = http::Request::post("/register")
///     .header("content-type", "application/json")
///     .body(br#"{"redirect_uris":["https://app.example/cb"]}"#.to_vec())?;
/// let response = handle(&registrar, request, &RequestContext::new()).await;
/// let ClientId(client_id) = response.extensions().get::<ClientId>().unwrap();
/// assert!(String::from_utf8_lossy(response.body()).contains(client_id.as_str()));
/// # Ok::<(), http::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(pub String);

/// `response`, with the `client_id` it concerns in its extensions.
fn naming(mut response: Response<Vec<u8>>, client_id: String) -> Response<Vec<u8>> {
    response.extensions_mut().insert(ClientId(client_id));
    response
}

/// Which endpoint a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route<'a> {
    /// The registration endpoint itself.
    Registration,
    /// A client configuration endpoint, with the client identifier from the path.
    Client(&'a str),
}

impl Route<'_> {
    /// Whether a request with `method` on this route carries a registration request body
    /// (`POST` on the registration endpoint, `PUT` on a client configuration endpoint).
    pub fn takes_body(&self, method: &Method) -> bool {
        matches!(
            (self, method),
            (Route::Registration, &Method::POST) | (Route::Client(_), &Method::PUT)
        )
    }
}

/// Matches `path` against the path of the policy's registration endpoint: the endpoint itself,
/// or the endpoint followed by one non-empty segment (the `client_id`).
pub fn route<'a>(registrar: &Registrar, path: &'a str) -> Option<Route<'a>> {
    route_under(
        endpoint_path(&registrar.policy().registration_endpoint),
        path,
    )
}

/// Matches `path` against `mount`, the path the registration endpoint is served at, whatever the
/// policy's [`registration_endpoint`](crate::ServerPolicy::registration_endpoint) says: `mount`
/// itself (or with a trailing `/`) is the registration endpoint, `mount` followed by one
/// non-empty segment a client configuration endpoint. An empty `mount` matches paths relative
/// to the mount point, as a router hands them to a nested service (`/` and `/{client_id}`).
///
/// ```
/// use oauth_dcr::http::{route_under, Route};
///
/// assert_eq!(route_under("/oauth/register", "/oauth/register"), Some(Route::Registration));
/// assert_eq!(route_under("/oauth/register", "/oauth/register/abc"), Some(Route::Client("abc")));
/// assert_eq!(route_under("", "/abc"), Some(Route::Client("abc")));
/// assert_eq!(route_under("/oauth/register", "/register"), None);
/// assert_eq!(route_under("/oauth/register", "/oauth/register/a/b"), None);
/// ```
pub fn route_under<'a>(mount: &str, path: &'a str) -> Option<Route<'a>> {
    let rest = path.strip_prefix(mount.trim_end_matches('/'))?;
    match rest {
        "" | "/" => Some(Route::Registration),
        _ => {
            let id = rest.strip_prefix('/')?;
            (!id.is_empty() && !id.contains('/')).then_some(Route::Client(id))
        }
    }
}

fn endpoint_path(endpoint: &str) -> &str {
    match endpoint.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => endpoint,
    }
}

/// Serves one request to the registration endpoint or a client configuration endpoint.
///
/// - `POST` on the registration endpoint registers (201); `GET`, `PUT` and `DELETE` on
///   `{endpoint}/{client_id}` read (200), update (200) and delete (204).
/// - Other methods answer 405 with `Allow`; `OPTIONS` answers 204 with `Allow`, and with the CORS
///   headers when the request's `Origin` is in [`allowed_origins`](crate::ServerPolicy::allowed_origins).
/// - With [`Registrar::with_explicit_registration`], a `POST` of `application/trust-chain+json`
///   on the registration endpoint is an OpenID Federation explicit registration
///   ([`Registrar::register_federated`]): 200 with the signed
///   `application/explicit-registration-response+jwt`.
/// - Bodies must be `application/json`, or `application/jwt` / `application/jose` when the
///   registrar accepts signed request bodies (415 otherwise); the bearer token comes from the
///   `Authorization` header only. A request that needs a token and carries no credentials (no
///   `Authorization` header, or another scheme than `Bearer`) answers 401 with a bare
///   `WWW-Authenticate: Bearer` challenge (RFC 6750 §3.1); a malformed, unknown, expired or
///   rotated-away bearer token answers 401 with `error="invalid_token"`.
/// - Paths outside the endpoint answer 404.
///
/// Every response carries `Cache-Control: no-store` and `Pragma: no-cache`.
pub async fn handle<B: AsRef<[u8]>>(
    registrar: &Registrar,
    request: Request<B>,
    context: &RequestContext,
) -> Response<Vec<u8>> {
    let path = request.uri().path();
    match route(registrar, path) {
        None => not_found(registrar, request.headers()),
        Some(route) => handle_route(registrar, route, &request, context).await,
    }
}

/// Serves one request whose route the host has already decided (from its router's path
/// parameters, or with [`route_under`] for the path it mounts the endpoint at), exactly as
/// [`handle`] serves a request on that route; the request's path is not looked at.
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::http::{handle_route, Route};
/// use oauth_dcr::{MemoryStore, Registrar, RequestContext, ServerPolicy};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), Arc::new(MemoryStore::new()));
/// // Served at /oauth/dcr, whatever the policy's public URL says.
/// let request = http::Request::post("/oauth/dcr")
///     .header("content-type", "application/json")
///     .body(br#"{"redirect_uris":["https://app.example/cb"]}"#.to_vec())?;
/// let response = handle_route(&registrar, Route::Registration, &request, &RequestContext::new()).await;
/// assert_eq!(response.status(), 201);
/// # Ok::<(), http::Error>(())
/// # }).unwrap();
/// ```
pub async fn handle_route<B: AsRef<[u8]>>(
    registrar: &Registrar,
    route: Route<'_>,
    request: &Request<B>,
    context: &RequestContext,
) -> Response<Vec<u8>> {
    let body = Ok(request.body().as_ref());
    respond(
        registrar,
        route,
        request.method(),
        request.headers(),
        body,
        context,
    )
    .await
}

/// The answer to a path outside the endpoints: 404 (with CORS headers for an allowed origin).
pub(crate) fn not_found(registrar: &Registrar, headers: &HeaderMap) -> Response<Vec<u8>> {
    let mut response = error(StatusCode::NOT_FOUND, "not_found", "no such endpoint");
    cors(registrar, headers, &mut response);
    response
}

/// The answer to a body that did not arrive within the host's read timeout: 408, and the
/// connection is not kept.
#[cfg(feature = "tower")]
pub(crate) fn timed_out(registrar: &Registrar, headers: &HeaderMap) -> Response<Vec<u8>> {
    let mut response = error(
        StatusCode::REQUEST_TIMEOUT,
        "invalid_request",
        "the request body did not arrive in time",
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    cors(registrar, headers, &mut response);
    response
}

/// The one dispatch behind [`handle`], [`handle_route`] and the `tower` service: `body` is the
/// body's bytes, or why it could not be read (refused as a malformed body is, after the
/// caller's token).
pub(crate) async fn respond(
    registrar: &Registrar,
    route: Route<'_>,
    method: &Method,
    headers: &HeaderMap,
    body: Result<&[u8], &RegistrationError>,
    context: &RequestContext,
) -> Response<Vec<u8>> {
    let mut response = dispatch(registrar, route, method, headers, body, context).await;
    cors(registrar, headers, &mut response);
    response
}

async fn dispatch(
    registrar: &Registrar,
    route: Route<'_>,
    method: &Method,
    headers: &HeaderMap,
    body: Result<&[u8], &RegistrationError>,
    context: &RequestContext,
) -> Response<Vec<u8>> {
    let token = credentials(headers);
    let allow = match route {
        Route::Registration => "POST, OPTIONS",
        Route::Client(_) => "GET, PUT, DELETE, OPTIONS",
    };
    let mut context = context.clone();
    if matches!(route, Route::Registration)
        && method == Method::POST
        && registrar.accepts_federation()
        && (is_trust_chain(headers) || is_entity_statement(headers))
    {
        return federated(registrar, headers, body, &context).await;
    }
    if route.takes_body(method) {
        let signed = is_jwt(headers) && registrar.accepts_signed_requests();
        if !signed && !is_json(headers) {
            let expected = if registrar.accepts_signed_requests() {
                "the request body must be application/json or application/jwt"
            } else {
                "the request body must be application/json"
            };
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                expected,
            );
        }
    }
    let result = match (route, method) {
        (Route::Registration, &Method::POST) => {
            if let Some(token) = token {
                context = context.with_initial_access_token(token);
            }
            let request = request_from(headers, body, &registrar.policy().limits);
            registrar.register(request, &context).await.map(|r| {
                let client_id = r.client_id.clone();
                naming(r.into_http(StatusCode::CREATED), client_id)
            })
        }
        (Route::Client(id), &Method::GET) => registrar
            .read(id, token)
            .await
            .map(|r| naming(r.into_http(StatusCode::OK), id.to_owned())),
        (Route::Client(id), &Method::PUT) => {
            let request = request_from(headers, body, &registrar.policy().limits);
            registrar
                .update(id, token, request, &context)
                .await
                .map(|r| naming(r.into_http(StatusCode::OK), id.to_owned()))
        }
        (Route::Client(id), &Method::DELETE) => registrar.delete(id, token).await.map(|()| {
            let mut response = Response::new(Vec::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            no_store(response.headers_mut());
            naming(response, id.to_owned())
        }),
        (_, &Method::OPTIONS) => {
            let mut response = Response::new(Vec::new());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            no_store(response.headers_mut());
            return response;
        }
        _ => {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "method not allowed",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            return response;
        }
    };
    result.unwrap_or_else(RegistrationError::into_http)
}

/// An explicit registration through a federation trust chain: the body is the chain, a JSON
/// array of compact entity statements; the answer is 200 with the signed
/// `application/explicit-registration-response+jwt`.
async fn federated(
    registrar: &Registrar,
    headers: &HeaderMap,
    body: Result<&[u8], &RegistrationError>,
    context: &RequestContext,
) -> Response<Vec<u8>> {
    let configuration_only = !is_trust_chain(headers);
    if configuration_only && !registrar.resolves_federation_chains() {
        // Resolving a chain from the Entity Configuration alone means fetching every
        // superior's statements, which this registrar was not given a fetcher for.
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the trust chain as application/trust-chain+json: this server does not resolve a chain from an Entity Configuration alone",
        );
    }
    let body = match body {
        Ok(body) => body,
        Err(RegistrationError::BodyTooLarge { limit }) => {
            return RegistrationError::BodyTooLarge { limit: *limit }.into_http()
        }
        Err(RegistrationError::InvalidRequest(message)) => {
            return error(StatusCode::BAD_REQUEST, "invalid_request", message)
        }
        Err(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &other.to_string(),
            )
        }
    };
    let limits = &registrar.policy().limits;
    if body.len() > limits.max_body_bytes {
        return RegistrationError::BodyTooLarge {
            limit: limits.max_body_bytes,
        }
        .into_http();
    }
    let chain = if configuration_only {
        match std::str::from_utf8(body) {
            Ok(configuration) => vec![configuration.trim().to_owned()],
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the Entity Configuration is not UTF-8",
                )
            }
        }
    } else {
        let Ok(chain) = serde_json::from_slice::<Vec<String>>(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the trust chain must be a JSON array of compact entity statements",
            );
        };
        chain
    };
    match registrar.register_federated(&chain, context).await {
        Ok(registered) => {
            let mut response = Response::new(registered.response.into_bytes());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/explicit-registration-response+jwt"),
            );
            no_store(response.headers_mut());
            naming(response, registered.client_id)
        }
        Err(e) => e.into_http(),
    }
}

fn error(status: StatusCode, code: &str, description: &str) -> Response<Vec<u8>> {
    let body = serde_json::json!({ "error": code, "error_description": description });
    json_response(status, body.to_string().into_bytes())
}

/// Adds CORS headers when the request's `Origin` is allowed by the policy.
fn cors(registrar: &Registrar, request: &HeaderMap, response: &mut Response<Vec<u8>>) {
    let Some(origin) = request.get(header::ORIGIN) else {
        return;
    };
    let allowed = origin
        .to_str()
        .is_ok_and(|o| registrar.policy().allowed_origins.iter().any(|a| a == o));
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if !allowed {
        return;
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(
            bearer_token(&auth("Bearer abc-DEF_123")),
            Some("abc-DEF_123")
        );
        assert_eq!(bearer_token(&auth("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&auth("BEARER abc==")), Some("abc=="));
        for bad in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearerabc",
            "Bearer ===",
        ] {
            assert_eq!(bearer_token(&auth(bad)), None, "{bad}");
        }
        let mut two = auth("Bearer a");
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(bearer_token(&two), None);
    }

    #[test]
    fn credentials_tell_no_credentials_from_a_bad_bearer_token() {
        assert_eq!(credentials(&HeaderMap::new()), None);
        for other_scheme in ["Basic abc", "MAC abc", "abc", "Digest x=y"] {
            assert_eq!(credentials(&auth(other_scheme)), None, "{other_scheme}");
        }
        assert_eq!(credentials(&auth("Bearer abc")), Some("abc"));
        for malformed in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearerabc",
            "bearer\tabc",
        ] {
            assert_eq!(credentials(&auth(malformed)), Some(""), "{malformed}");
        }
        let mut two = auth("Basic a");
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(credentials(&two), Some(""));
    }

    #[test]
    fn endpoint_paths() {
        assert_eq!(endpoint_path("https://as.example/register"), "/register");
        assert_eq!(endpoint_path("https://as.example"), "/");
        assert_eq!(
            endpoint_path("http://127.0.0.1:8080/oauth/register/"),
            "/oauth/register/"
        );
    }
}
