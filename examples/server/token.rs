//! A minimal token endpoint (RFC 6749 §4.4, the `client_credentials` grant) for one bootstrap
//! client, issuing short-lived initial access tokens, and the [`InitialTokenVerifier`] the
//! registrar checks them with.
//!
//! Tokens live in memory, keyed by their SHA-256 hash; expired ones are dropped whenever a new
//! one is issued.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use oauth_dcr::initial_tokens::{InitialAccessGrant, InitialTokenVerifier};
use oauth_dcr::store::SecretHash;
use oauth_dcr::StoreError;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::flags::{is_scope_token, BootstrapClient};

/// How long an initial access token lives.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::seconds(300);

/// Largest token request body in bytes.
const MAX_BODY: usize = 8 * 1024;

/// Issues initial access tokens to the bootstrap client and verifies them for the registrar.
#[derive(Debug)]
pub(crate) struct TokenIssuer {
    client: BootstrapClient,
    grantable: BTreeSet<String>,
    default_scope: String,
    tokens: Mutex<HashMap<[u8; 32], Issued>>,
}

#[derive(Debug)]
struct Issued {
    scopes: Vec<String>,
    expires_at: OffsetDateTime,
    subject: String,
}

/// An RFC 6749 §5.2 error: status, code and description.
#[derive(Debug)]
struct TokenError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl TokenError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    }

    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = json_response(self.status, &body);
        if self.code == "invalid_client" {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="token", charset="UTF-8""#),
            );
        }
        response
    }
}

impl TokenIssuer {
    /// An issuer for `client`, which may obtain `register` and `required_scope`; a request
    /// without `scope` gets `required_scope`, or `register` when none is required.
    pub(crate) fn new(client: BootstrapClient, required_scope: Option<&str>) -> Self {
        let default_scope = required_scope.unwrap_or("register").to_owned();
        let grantable = ["register", default_scope.as_str()]
            .into_iter()
            .map(str::to_owned)
            .collect();
        Self {
            client,
            grantable,
            default_scope,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Serves `POST /token`.
    pub(crate) async fn endpoint(&self, request: Request) -> Response {
        match self.token_request(request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn token_request(&self, request: Request) -> Result<Response, TokenError> {
        if request.method() != Method::POST {
            let mut response = TokenError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "method not allowed",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return Ok(response);
        }
        let (parts, body) = request.into_parts();
        if !is_form(&parts.headers) {
            return Err(TokenError::invalid_request(
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        let body = super::read_body(body, MAX_BODY).await.map_err(|e| {
            if e == super::BodyError::TooLarge {
                TokenError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    format!("request body exceeds {MAX_BODY} bytes"),
                )
            } else {
                TokenError::invalid_request("could not read the request body")
            }
        })?;
        let params = form_params(&body)?;
        self.authenticate(&parts.headers, &params)?;
        match params.get("grant_type").map(String::as_str) {
            None => return Err(TokenError::invalid_request("grant_type is missing")),
            Some("client_credentials") => {}
            Some(_) => {
                return Err(TokenError::new(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    "only the client_credentials grant is supported",
                ))
            }
        }
        let scopes = self.scopes(params.get("scope").map(String::as_str))?;
        self.issue(scopes)
    }

    /// RFC 6749 §2.3.1: the credentials in HTTP Basic or in the body, not both.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
    ) -> Result<(), TokenError> {
        let from_header = basic_credentials(headers)?;
        let from_body = match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            (None, None) => None,
            _ => return Err(TokenError::invalid_client()),
        };
        let (id, secret) = match (from_header, from_body) {
            (Some(_), Some(_)) => {
                return Err(TokenError::invalid_request(
                    "use one client authentication method, not both",
                ))
            }
            (Some(credentials), None) | (None, Some(credentials)) => credentials,
            (None, None) => return Err(TokenError::invalid_client()),
        };
        let id_ok = constant_time_eq(&id, &self.client.id);
        let secret_ok = constant_time_eq(&secret, &self.client.secret);
        if id_ok && secret_ok {
            Ok(())
        } else {
            Err(TokenError::invalid_client())
        }
    }

    /// RFC 6749 §3.3: the requested scopes, each one the bootstrap client may have.
    fn scopes(&self, requested: Option<&str>) -> Result<Vec<String>, TokenError> {
        let Some(requested) = requested else {
            return Ok(vec![self.default_scope.clone()]);
        };
        let scopes: BTreeSet<&str> = requested.split(' ').collect();
        match scopes.iter().find(|s| !self.grantable.contains(**s)) {
            Some(s) if is_scope_token(s) => Err(TokenError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("scope `{s}` is not available to this client"),
            )),
            Some(_) => Err(TokenError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "the scope is malformed",
            )),
            None => Ok(scopes.into_iter().map(str::to_owned).collect()),
        }
    }

    fn issue(&self, scopes: Vec<String>) -> Result<Response, TokenError> {
        let token = random_token().map_err(|_| {
            TokenError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "could not issue a token",
            )
        })?;
        let now = OffsetDateTime::now_utc();
        let scope = scopes.join(" ");
        let issued = Issued {
            scopes,
            expires_at: now + TOKEN_LIFETIME,
            subject: self.client.id.clone(),
        };
        {
            let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
            tokens.retain(|_, t| t.expires_at > now);
            tokens.insert(*SecretHash::of(&token).as_bytes(), issued);
        }
        let body = json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME.whole_seconds(),
            "scope": scope,
        });
        Ok(json_response(StatusCode::OK, &body))
    }
}

#[async_trait]
impl InitialTokenVerifier for TokenIssuer {
    async fn verify(&self, token: &str) -> Result<Option<InitialAccessGrant>, StoreError> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(tokens.get(SecretHash::of(token).as_bytes()).map(|t| {
            InitialAccessGrant::with_scopes(t.scopes.iter().map(String::as_str))
                .expires_at(t.expires_at)
                .subject(t.subject.as_str())
        }))
    }
}

/// A JSON response with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The form parameters; RFC 6749 §3.2: "parameters MUST NOT be included more than once".
/// Empty values count as omitted (§3.1).
fn form_params(body: &[u8]) -> Result<HashMap<String, String>, TokenError> {
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if value.is_empty() {
            continue;
        }
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(TokenError::invalid_request(format!(
                "parameter `{name}` is repeated"
            )));
        }
    }
    Ok(params)
}

/// The client credentials of an `Authorization: Basic` header, form-url-decoded
/// (RFC 6749 §2.3.1). `Ok(None)` without such a header.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| TokenError::invalid_client())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(TokenError::invalid_client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TokenError::invalid_client());
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(TokenError::invalid_client)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(TokenError::invalid_client)?;
    match (form_decode(id), form_decode(secret)) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        _ => Err(TokenError::invalid_client()),
    }
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte.
fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(b) = rest.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = [rest.next()?, rest.next()?];
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            _ => bytes.push(b),
        }
    }
    String::from_utf8(bytes).ok()
}

/// 256 bits from the OS CSPRNG, base64url without padding.
fn random_token() -> Result<String, getrandom::Error> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Compares two credentials in time that depends on neither: their SHA-256 digests, byte by
/// byte, every byte.
fn constant_time_eq(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%3Ac").as_deref(), Some("a b:c"));
        assert_eq!(form_decode("pass=word").as_deref(), Some("pass=word"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%+1"), None);
    }
}
