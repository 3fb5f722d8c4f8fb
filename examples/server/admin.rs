//! The admin endpoints, served only with `--admin-token TOKEN` and only to requests bearing it:
//!
//! - `GET /admin/clients?origin=&statement_issuer=&initial_token_subject=&after=&limit=`: the
//!   registered clients page by page ([`Registrar::list_clients`]), each with its provenance
//!   label; `next` is the `after` of the next page.
//! - `POST /admin/clients/{client_id}/registration-token`: a new registration access token for
//!   the client ([`Registrar::reissue_registration_token`]), the support path after reuse
//!   detection revoked its token or after it lost it. The answer is the client information
//!   response with the new token; every earlier token stops working.
//!
//! The token is compared in constant time (both sides hashed, then compared with
//! [`SecretHash`](oauth_dcr::store::SecretHash)'s equality). A request without it answers 401
//! with a bare `Bearer` challenge, a wrong one 401 `invalid_token` (RFC 6750 §3.1); both count
//! toward `--rate-limit-failed-management` ([`limits`](super::limits) counts every 401 and 403
//! under `/admin`), so the token cannot be guessed faster than that limit allows.
//!
//! Authenticate your real administrators with what your server already has; a shared token is
//! what an example can show.
//!
//! [`Registrar::list_clients`]: oauth_dcr::Registrar::list_clients
//! [`Registrar::reissue_registration_token`]: oauth_dcr::Registrar::reissue_registration_token

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use oauth_dcr::store::ListQuery;
use oauth_dcr::{RegistrationError, StoreError};
use serde_json::Value;

use super::{json_error, method_not_allowed, to_axum, App};

/// The query parameters of `GET /admin/clients`: [`ListQuery`]'s members. Any other is refused,
/// so that a misspelt filter does not silently list every client.
const PARAMETERS: [&str; 5] = [
    "origin",
    "statement_issuer",
    "initial_token_subject",
    "after",
    "limit",
];

/// `router` with the two admin endpoints.
pub(super) fn routes(router: Router<App>) -> Router<App> {
    router
        .route(
            "/admin/clients",
            get(list).fallback(|| async { method_not_allowed("GET, HEAD") }),
        )
        .route(
            "/admin/clients/{client_id}/registration-token",
            post(reissue).fallback(|| async { method_not_allowed("POST") }),
        )
}

/// `GET /admin/clients`: one page of the registered clients.
async fn list(State(app): State<App>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(refused) = authenticate(&app, &headers) {
        return refused;
    }
    let query = match list_query(&uri) {
        Ok(query) => query,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, "invalid_request", &why),
    };
    match app.registrar.list_clients(&query).await {
        Ok(page) => {
            let mut body = serde_json::to_value(&page).unwrap_or_default();
            let clients = body.get_mut("clients").and_then(Value::as_array_mut);
            for (item, client) in clients.into_iter().flatten().zip(&page.clients) {
                if let Value::Object(item) = item {
                    item.insert("provenance".into(), client.provenance_label().into());
                }
            }
            json(StatusCode::OK, &body)
        }
        Err(error) => to_axum(error.into_http()),
    }
}

/// The listing query of `uri`'s query string.
fn list_query(uri: &Uri) -> Result<ListQuery, String> {
    let raw = uri.query().unwrap_or_default();
    for (name, _) in url::form_urlencoded::parse(raw.as_bytes()) {
        if !PARAMETERS.contains(&name.as_ref()) {
            return Err(format!(
                "unknown query parameter `{name}`; the parameters are {}",
                PARAMETERS.join(", ")
            ));
        }
    }
    let Query(query) = Query::<ListQuery>::try_from_uri(uri).map_err(|e| e.body_text())?;
    if query
        .limit
        .is_some_and(|n| n == 0 || n > ListQuery::MAX_PAGE)
    {
        return Err(format!("limit must be from 1 to {}", ListQuery::MAX_PAGE));
    }
    Ok(query)
}

/// `POST /admin/clients/{client_id}/registration-token`: a new registration access token.
async fn reissue(
    State(app): State<App>,
    client_id: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    if let Err(refused) = authenticate(&app, request.headers()) {
        return refused;
    }
    // An identifier that is not UTF-8 once percent-decoded names no client.
    let Ok(Path(client_id)) = client_id else {
        return json_error(StatusCode::NOT_FOUND, "not_found", "no such client");
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "-".to_owned(), |ConnectInfo(addr)| addr.ip().to_string());
    // Who asked, for the event sinks (`Event::actor`): the shared token is all the example knows
    // of its administrators, so the address it came from.
    let actor = format!("admin-token from {peer}");
    match app
        .registrar
        .reissue_registration_token(&client_id, Some(&actor))
        .await
    {
        Ok(response) => {
            tracing::info!(%client_id, %actor, "registration access token reissued");
            to_axum(response.into_http(StatusCode::OK))
        }
        Err(RegistrationError::Store(StoreError::NotFound)) => {
            json_error(StatusCode::NOT_FOUND, "not_found", "no such client")
        }
        Err(error) => to_axum(error.into_http()),
    }
}

/// Admits a request bearing the admin token; otherwise the 401 to answer: a bare `Bearer`
/// challenge without credentials, `invalid_token` with wrong ones (RFC 6750 §3.1).
#[allow(clippy::result_large_err)]
fn authenticate(app: &App, headers: &HeaderMap) -> Result<(), Response> {
    let Some(expected) = &app.admin else {
        // Unreachable: the routes exist only with the token.
        return Err(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint",
        ));
    };
    // RFC 6750 §3.1: a request without a `Bearer` credential (no `Authorization` header, or
    // another scheme) gets a challenge without an error code.
    let bearer = headers.get_all(header::AUTHORIZATION).iter().any(|value| {
        let scheme = value
            .as_bytes()
            .split(|b| *b == b' ')
            .next()
            .unwrap_or_default();
        scheme.eq_ignore_ascii_case(b"bearer")
    });
    if !bearer {
        return Err(unauthorized(
            "Bearer",
            "invalid_request",
            "the admin endpoints need the admin token as a bearer token",
        ));
    }
    match oauth_dcr::http::bearer_token(headers) {
        Some(token) if expected.matches(token) => Ok(()),
        _ => Err(unauthorized(
            r#"Bearer error="invalid_token""#,
            "invalid_token",
            "the admin token is not valid",
        )),
    }
}

fn unauthorized(challenge: &'static str, code: &str, description: &str) -> Response {
    let mut response = json_error(StatusCode::UNAUTHORIZED, code, description);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// A JSON answer with `Cache-Control: no-store`: the listing is nobody's to cache.
fn json(status: StatusCode, body: &Value) -> Response {
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
