//! Readers and assertions for the `http::Response` that results and errors convert into.

use http::{HeaderMap, StatusCode};
use oauth_dcr::{RegistrationError, RegistrationResponse};
use serde_json::Value;

/// An `http::Response` taken apart: status, headers and the body parsed as JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

/// What a handler sends: an `http::Response`, an error's response, or a client information
/// response (with the status a handler gives a read or an update, 200: the response itself knows
/// no status).
pub trait Wire {
    fn wire(self) -> http::Response<Vec<u8>>;
}

impl Wire for http::Response<Vec<u8>> {
    fn wire(self) -> http::Response<Vec<u8>> {
        self
    }
}

impl Wire for RegistrationError {
    fn wire(self) -> http::Response<Vec<u8>> {
        self.into_http()
    }
}

impl Wire for RegistrationResponse {
    fn wire(self) -> http::Response<Vec<u8>> {
        self.into_http(StatusCode::OK)
    }
}

/// A registration's response as a handler sends it: 201 Created (RFC 7591 §3.2.1).
pub fn created(response: RegistrationResponse) -> Reply {
    Reply::of(response.into_http(StatusCode::CREATED))
}

impl Reply {
    /// Takes a response apart; panics if its body is not JSON.
    pub fn of(response: impl Wire) -> Self {
        let response = response.wire();
        let status = response.status();
        let headers = response.headers().clone();
        let json = serde_json::from_slice(response.body()).unwrap_or_else(|e| {
            panic!(
                "the body is not JSON ({e}): {}",
                String::from_utf8_lossy(response.body())
            )
        });
        Self {
            status,
            headers,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    pub fn description(&self) -> &str {
        self.json["error_description"].as_str().unwrap_or_default()
    }
}

/// The RFC 6749 §5.1 / RFC 7591 §3.2 cache headers every response must carry.
pub fn assert_no_store(reply: &Reply) {
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
    assert_eq!(reply.header("pragma"), Some("no-cache"), "{reply:?}");
}

/// Asserts a refusal's status and error code, the JSON error shape and the cache headers.
pub fn assert_error(err: RegistrationError, status: u16, code: &str) -> Reply {
    let reply = Reply::of(err);
    assert_eq!(reply.status.as_u16(), status, "{reply:?}");
    assert_eq!(reply.error(), code, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_no_store(&reply);
    let members: Vec<&String> = reply.json.as_object().unwrap().keys().collect();
    assert!(
        members
            .iter()
            .all(|m| *m == "error" || *m == "error_description"),
        "an error body carries only error and error_description: {reply:?}"
    );
    reply
}

/// The exact RFC 6750 401 of every missing or bad token (`invalid_token` with its challenge).
pub fn assert_invalid_token(err: RegistrationError) -> Reply {
    let reply = assert_error(err, 401, "invalid_token");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    reply
}

/// The registration access token of a response, as a string.
pub fn token(response: &RegistrationResponse) -> String {
    response
        .registration_access_token
        .as_ref()
        .expect("a registration access token")
        .secret()
        .to_owned()
}

/// The raw client secret of a response; panics if none was issued.
pub fn secret(response: &RegistrationResponse) -> String {
    response
        .client_secret
        .as_ref()
        .expect("a client secret")
        .secret()
        .to_owned()
}
