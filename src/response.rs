//! [`RegistrationResponse`]: the client information response (RFC 7591 §3.2.1, RFC 7592 §3).

use http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::metadata::ClientMetadata;
use crate::registrar::Registrar;
use crate::secret::{ClientSecret, RegistrationAccessToken};
use crate::store::ClientRecord;

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
    /// The registration access token to use for the next read, update or delete; empty (and
    /// left out of the JSON) when the server issues none
    /// ([`ServerPolicy::registration_access_tokens`](crate::ServerPolicy::registration_access_tokens))
    /// or the client authenticated with its own access token and no new one was issued.
    #[serde(default, skip_serializing_if = "RegistrationAccessToken::is_empty")]
    pub registration_access_token: RegistrationAccessToken,
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
    pub metadata: Box<ClientMetadata>,
    /// 201 for a registration, 200 for a read or an update.
    #[serde(skip)]
    pub status: StatusCode,
}

impl RegistrationResponse {
    /// The JSON body: what `serde_json` makes of this value's `Serialize`, byte for byte,
    /// written without going through the serializer.
    pub fn to_json(&self) -> Vec<u8> {
        json::response(self)
    }

    /// The complete HTTP response with `Cache-Control: no-store` and `Pragma: no-cache`.
    pub fn into_http(self) -> http::Response<Vec<u8>> {
        crate::http::json_response(self.status, self.to_json())
    }
}

impl From<RegistrationResponse> for http::Response<Vec<u8>> {
    fn from(r: RegistrationResponse) -> Self {
        r.into_http()
    }
}

impl Registrar {
    pub(crate) fn response(
        &self,
        record: ClientRecord,
        secret: Option<ClientSecret>,
        token: RegistrationAccessToken,
        status: StatusCode,
        now: OffsetDateTime,
    ) -> RegistrationResponse {
        let expires_in = record
            .registration_token
            .as_ref()
            .and_then(|t| t.expires_at)
            .map(|at| (at - now).whole_seconds().max(0));
        RegistrationResponse {
            registration_client_uri: self.policy.registration_client_uri(&record.client_id),
            client_id: record.client_id,
            client_secret: secret,
            client_id_issued_at: record.created_at.unix_timestamp(),
            client_secret_expires_at: record
                .secret
                .as_ref()
                .map(|s| s.expires_at.map_or(0, OffsetDateTime::unix_timestamp)),
            registration_access_token: token,
            registration_access_token_expires_in: expires_in,
            software_statement: record.software_statement,
            metadata: Box::new(record.metadata),
            status,
        }
    }
}
