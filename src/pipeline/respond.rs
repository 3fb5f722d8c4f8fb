//! The respond stage: the client information response (RFC 7591 §3.2.1, RFC 7592 §3), built from
//! what was stored, never from the request.

use time::OffsetDateTime;

use crate::error::{ErrorCode, RegistrationError};
use crate::events::{Event, Guarded, Operation, Provenance};
use crate::metadata::{with_members, ClientMetadata};
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

macro_rules! member_changes {
    (; $($field:ident),+ $(,)?) => {
        /// Names of members whose values differ between two metadata sets (every member `after`
        /// has when there is no `before`), in name order: the typed fields compared one by one,
        /// then the other members.
        fn changed_members(before: Option<&ClientMetadata>, after: &ClientMetadata) -> Vec<String> {
            let none = ClientMetadata::default();
            let before = before.unwrap_or(&none);
            let mut names = Vec::new();
            $(
                if before.$field != after.$field {
                    names.push(stringify!($field).to_owned());
                }
            )+
            for (name, value) in &after.other {
                if before.other.get(name) != Some(value) {
                    names.push(name.clone());
                }
            }
            for name in before.other.keys() {
                if !after.other.contains_key(name) {
                    names.push(name.clone());
                }
            }
            names.sort();
            names
        }
    };
}

with_members!(member_changes!());

/// What an event says about a client that an operation succeeded on.
#[derive(Debug, Default)]
pub(crate) struct Subject {
    client_id: Option<String>,
    provenance: Provenance,
    changed: Vec<String>,
}

impl crate::registrar::Registrar {
    /// The event subject for `record` after an operation that changed its metadata from
    /// `before` (`None` on registration) to the record's; nothing is computed unless a sink
    /// wants events of `operation`.
    pub(crate) fn subject(
        &self,
        operation: Operation,
        record: &crate::store::ClientRecord,
        before: Option<Option<&ClientMetadata>>,
    ) -> Subject {
        if !self.listening(operation) {
            return Subject::default();
        }
        Subject {
            client_id: Some(record.client_id.clone()),
            provenance: Provenance {
                origin: Some(record.origin),
                initial_token_subject: record.initial_token_subject.clone(),
                statement_issuer: record.statement_issuer.clone(),
                federation: record.federation.clone(),
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
        if !self.listening(operation) {
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
        for sink in self.events.iter().filter(|sink| sink.wants(operation)) {
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
        if self.listening(operation) {
            let subject = Subject {
                client_id: client_id.map(str::to_owned),
                ..Subject::default()
            };
            self.emit(operation, subject, Some(error.code())).await;
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::*;

    /// The plain twin: the members whose JSON forms differ.
    fn changed_as_json(before: Option<&ClientMetadata>, after: &ClientMetadata) -> Vec<String> {
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

    fn metadata() -> impl proptest::strategy::Strategy<Value = ClientMetadata> {
        use proptest::prelude::*;
        let value = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (0u32..3).prop_map(Value::from),
            proptest::sample::select(vec!["a", "b", "https://a.example/cb", "web"])
                .prop_map(Value::from),
            proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "https://a.example/cb"]),
                0..3
            )
            .prop_map(Value::from),
        ];
        proptest::collection::btree_map(
            proptest::sample::select(vec![
                "redirect_uris",
                "grant_types",
                "client_name",
                "client_name#fr",
                "scope",
                "contacts",
                "default_max_age",
                "require_auth_time",
                "application_type",
                "jwks",
                "x_other",
                "software_id",
            ]),
            value,
            0..6,
        )
        .prop_map(|members| {
            // Members that do not deserialize are left out one by one.
            let mut object = Map::new();
            for (name, value) in members {
                object.insert(name.to_owned(), value);
                if serde_json::from_value::<ClientMetadata>(Value::Object(object.clone())).is_err()
                {
                    object.remove(name);
                }
            }
            serde_json::from_value(Value::Object(object)).unwrap_or_default()
        })
    }

    proptest::proptest! {
        #[test]
        fn typed_changes_agree_with_the_json_forms(
            before in metadata(),
            after in metadata(),
            registration in proptest::bool::ANY,
        ) {
            let before = (!registration).then_some(&before);
            proptest::prop_assert_eq!(
                changed_members(before, &after),
                changed_as_json(before, &after)
            );
        }
    }

    #[test]
    fn a_registration_changes_every_member_it_has() {
        let after: ClientMetadata = serde_json::from_str(
            r#"{"redirect_uris":["https://a.example/cb"],"client_name":"A","client_name#fr":"B"}"#,
        )
        .unwrap();
        assert_eq!(
            changed_members(None, &after),
            ["client_name", "client_name#fr", "redirect_uris"]
        );
        assert!(changed_members(Some(&after), &after).is_empty());
    }
}
