//! [`RegistrationResponse`]: the client information response (RFC 7591 §3.2.1, RFC 7592 §3).

use http::header::{self, HeaderValue};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::metadata::ClientMetadata;
use crate::secret::{ClientSecret, RegistrationAccessToken};

mod json;

/// The client information response: the credentials the server provisioned and all registered
/// metadata, defaults included. Built from the stored record, never from the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegistrationResponse {
    /// The client identifier.
    pub client_id: String,
    /// The client secret: always in a registration response when one was issued, in a read or
    /// update response only when it is retrievable (`client_secret_jwt`) or newly issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// When the client identifier was issued, in seconds since the Unix epoch.
    pub client_id_issued_at: i64,
    /// When the secret expires in seconds since the Unix epoch, 0 for never; present whenever the
    /// client has a secret (RFC 7591 §3.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// The registration access token to use for the next read, update or delete; `None` (and
    /// left out of the JSON) when the server issues none
    /// ([`ServerPolicy::registration_access_tokens`](crate::ServerPolicy::registration_access_tokens))
    /// or the client authenticated with its own access token and no new one was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<RegistrationAccessToken>,
    /// The client configuration endpoint of this client.
    pub registration_client_uri: String,
    /// Seconds until the registration access token expires, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token_expires_in: Option<i64>,
    /// The software statement the client registered with, unmodified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_statement: Option<String>,
    /// The registered metadata.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

impl RegistrationResponse {
    /// The JSON body: what `serde_json` makes of this value's `Serialize`, byte for byte,
    /// written without going through the serializer.
    pub fn to_json(&self) -> Vec<u8> {
        json::response(self)
    }

    /// The complete HTTP response with `Cache-Control: no-store` and `Pragma: no-cache`: status
    /// 201 Created for a registration (RFC 7591 §3.2.1), 200 OK for a read or an update
    /// (RFC 7592 §2.1, §2.2).
    pub fn into_http(self, status: StatusCode) -> http::Response<Vec<u8>> {
        json_response(status, self.to_json())
    }
}

/// A JSON response with the headers RFC 7591 §3.2 and RFC 6749 §5.1 require.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(body);
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
