//! The respond stage: the client information response (RFC 7591 §3.2.1, RFC 7592 §3), built from
//! what was stored, never from the request.

use time::OffsetDateTime;

use crate::policy::ServerPolicy;
use crate::response::RegistrationResponse;

use super::Stored;

/// The response for `stored`, at `now` (the token's `expires_in` counts from it).
pub(crate) fn respond(
    policy: &ServerPolicy,
    stored: Stored,
    now: OffsetDateTime,
) -> RegistrationResponse {
    let Stored {
        record,
        secret,
        token,
        ..
    } = stored;
    let expires_in = record
        .registration_token
        .as_ref()
        .and_then(|t| t.expires_at)
        .map(|at| (at - now).whole_seconds().max(0));
    RegistrationResponse {
        registration_client_uri: policy.registration_client_uri(&record.client_id),
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
        metadata: record.metadata,
    }
}
