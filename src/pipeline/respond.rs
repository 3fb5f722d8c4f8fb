//! The respond stage: the client information response (RFC 7591 §3.2.1, RFC 7592 §3), built from
//! what was stored, never from the request.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{ErrorCode, RegistrationError};
use crate::events::{Event, Guarded, Operation, Provenance};
use crate::metadata::ClientMetadata;
use crate::policy::ServerPolicy;
use crate::response::RegistrationResponse;
use crate::store::ClientRecord;

use super::Stored;

/// The response for `stored` (the token's `expires_in` counts from when it was issued).
pub(crate) fn respond(policy: &ServerPolicy, stored: Stored) -> RegistrationResponse {
    let Stored {
        record,
        secret,
        token,
        at: now,
        ..
    } = stored;
    // Only the members the response takes leave the boxed record.
    let ClientRecord {
        client_id,
        metadata,
        secret: stored_secret,
        registration_token,
        software_statement,
        created_at,
        ..
    } = *record;
    let expires_in = registration_token
        .as_ref()
        .and_then(|t| t.expires_at)
        .map(|at| (at - now).whole_seconds().max(0));
    RegistrationResponse {
        registration_client_uri: policy.registration_client_uri(&client_id),
        client_id,
        client_secret: secret,
        client_id_issued_at: created_at.unix_timestamp(),
        client_secret_expires_at: stored_secret
            .as_ref()
            .map(|s| s.expires_at.map_or(0, OffsetDateTime::unix_timestamp)),
        registration_access_token: token,
        registration_access_token_expires_in: expires_in,
        software_statement,
        metadata,
    }
}

/// Names of members whose values differ between two metadata sets.
fn changed_members(before: Option<&ClientMetadata>, after: &ClientMetadata) -> Vec<String> {
    let to_map = |m: &ClientMetadata| match serde_json::to_value(m) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let after = to_map(after);
    let before = before.map(to_map).unwrap_or_default();
    let mut names: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(before.keys().filter(|k| !after.contains_key(*k)).cloned())
        .collect();
    names.sort();
    names
}

/// What an event says about a client that an operation succeeded on.
#[derive(Debug, Default)]
pub(crate) struct Subject {
    client_id: Option<String>,
    provenance: Provenance,
    changed: Vec<String>,
}

impl crate::registrar::Registrar {
    /// The event subject for `record` after an operation that changed its metadata from
    /// `before` (`None` on registration) to the record's; nothing is computed without sinks.
    pub(crate) fn subject(
        &self,
        record: &crate::store::ClientRecord,
        before: Option<Option<&ClientMetadata>>,
    ) -> Subject {
        if self.events.is_empty() {
            return Subject::default();
        }
        Subject {
            client_id: Some(record.client_id.clone()),
            provenance: Provenance {
                origin: Some(record.origin),
                initial_token_subject: record.initial_token_subject.clone(),
                statement_issuer: record.statement_issuer.clone(),
            },
            changed: before.map_or_else(Vec::new, |b| changed_members(b, &record.metadata)),
        }
    }

    /// Tells every sink. Sinks cannot fail the request.
    pub(crate) async fn emit(
        &self,
        operation: Operation,
        subject: Subject,
        refused: Option<ErrorCode>,
    ) {
        if self.events.is_empty() {
            return;
        }
        let event = Event {
            operation,
            at: self.now(),
            client_id: subject.client_id,
            changed: subject.changed,
            provenance: subject.provenance,
            refused,
            actor: None,
        };
        for sink in &self.events {
            Guarded(sink.notify(&event)).await;
        }
    }

    /// Tells the sinks that `operation` on `client_id` (when known) was refused, and passes the
    /// error on.
    pub(crate) async fn refused(
        &self,
        operation: Operation,
        client_id: Option<&str>,
        error: RegistrationError,
    ) -> RegistrationError {
        crate::trace::refused(operation, &error);
        let subject = Subject {
            client_id: client_id.map(str::to_owned),
            ..Subject::default()
        };
        self.emit(operation, subject, Some(error.code())).await;
        error
    }
}
