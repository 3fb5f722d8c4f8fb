//! Events: every operation reported with what changed and its provenance, refusals with their
//! code, and never a credential.

mod common;

use std::sync::Arc;

use common::*;
use oauth_dcr::events::{Event, Operation};
use oauth_dcr::store::Origin;
use oauth_dcr::ErrorCode;
use serde_json::json;

#[tokio::test]
async fn events_report_every_operation_with_what_changed_and_provenance() {
    let sink = Arc::new(Recorder::default());
    let tokens = Arc::new(HostTokens::default().with("iat", bootstrap(), None));
    let fx = Server::configured(|r| {
        r.require_initial_token(tokens, Some("register"))
            .with_software_statements(trusting_issuer())
            .with_event_sink(sink.clone())
    });
    let statement = issuer_jws("EdDSA", &statement_claims(fx.now()));
    let client = fx
        .register_with(&body_with(&statement), &bearer("iat"))
        .await
        .unwrap();
    let id = client.client_id.clone();

    let events = sink.take();
    assert_eq!(events.len(), 1);
    let registered = &events[0];
    assert_eq!(registered.operation, Operation::Register);
    assert_eq!(registered.client_id.as_deref(), Some(id.as_str()));
    assert_eq!(registered.refused, None);
    for member in ["client_name", "redirect_uris", "software_id"] {
        assert!(
            registered.changed.iter().any(|c| c == member),
            "{member} in {:?}",
            registered.changed
        );
    }
    assert_eq!(registered.provenance.origin, Some(Origin::Dynamic));
    assert_eq!(
        registered.provenance.initial_token_subject.as_deref(),
        Some("bootstrap")
    );
    assert_eq!(
        registered.provenance.statement_issuer.as_deref(),
        Some(ISSUER)
    );
    assert_eq!(registered.at.unix_timestamp(), START);

    let read = fx.read(&id, Some(&token(&client))).await.unwrap();
    let update = json!({
        "client_id": id,
        "redirect_uris": [REDIRECT],
        "client_uri": "https://app.example/",
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
    });
    let updated = fx.update(&id, Some(&token(&read)), &update).await.unwrap();
    fx.delete(&id, Some(&token(&updated))).await.unwrap();

    let events = sink.take();
    let operations: Vec<Operation> = events.iter().map(|e| e.operation).collect();
    assert_eq!(
        operations,
        [Operation::Read, Operation::Update, Operation::Delete]
    );
    for event in &events {
        assert_eq!(event.client_id.as_deref(), Some(id.as_str()));
        assert_eq!(event.refused, None);
        assert_eq!(event.provenance.origin, Some(Origin::Dynamic));
        assert_eq!(
            event.provenance.initial_token_subject.as_deref(),
            Some("bootstrap")
        );
        assert_eq!(event.provenance.statement_issuer.as_deref(), Some(ISSUER));
    }
    assert!(events[0].changed.is_empty(), "a read changes nothing");
    // `client_name` is the statement's: the client keeps its statement (issue 14, A4).
    assert_eq!(events[1].changed, ["client_uri"]);
    assert!(events[2].changed.is_empty());

    // No event carries a secret or a token.
    let secrets = [
        client.client_secret.as_ref().unwrap().secret().to_owned(),
        token(&client),
        token(&read),
        token(&updated),
    ];
    let all: Vec<_> = [registered.clone()].into_iter().chain(events).collect();
    assert_no_credential(&all, &secrets);
}

/// No event's `Debug` output contains any of `secrets`.
fn assert_no_credential(events: &[Event], secrets: &[String]) {
    let printed = format!("{:?}", events.iter().collect::<Vec<_>>());
    for secret in secrets {
        assert!(
            !printed.contains(secret.as_str()),
            "an event leaks a credential"
        );
    }
}

#[tokio::test]
async fn refusals_are_reported_with_their_code() {
    let sink = Arc::new(Recorder::default());
    let fx = Server::configured(|r| r.with_event_sink(sink.clone()));
    fx.refuse(&bad_redirect()).await;
    let client = fx.register(&named_web_client()).await;
    let err = fx
        .registrar
        .read(&client.client_id, Some("wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 401);

    let events = sink.take();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].operation, Operation::Register);
    assert_eq!(events[0].client_id, None);
    assert_eq!(events[0].refused, Some(ErrorCode::InvalidRedirectUri));
    assert!(events[0].changed.is_empty());
    assert_eq!(events[1].refused, None);
    assert_eq!(events[2].operation, Operation::Read);
    assert_eq!(
        events[2].client_id.as_deref(),
        Some(client.client_id.as_str())
    );
    assert_eq!(events[2].refused, Some(ErrorCode::InvalidToken));
}

/// A sink that wants registrations and deletions only.
#[derive(Default)]
struct Choosy(Recorder);

#[async_trait::async_trait]
impl oauth_dcr::events::EventSink for Choosy {
    async fn notify(&self, event: &Event) {
        self.0.notify(event).await;
    }

    fn wants(&self, operation: Operation) -> bool {
        matches!(operation, Operation::Register | Operation::Delete)
    }
}

#[tokio::test]
async fn a_sink_hears_only_the_operations_it_wants() {
    use oauth_dcr::events::EventSink as _;
    let choosy = Arc::new(Choosy::default());
    let all = Arc::new(Recorder::default());
    let fx = Server::configured(|r| {
        r.with_event_sink(choosy.clone())
            .with_event_sink(all.clone())
    });
    let client = fx.register(&named_web_client()).await;
    let read = fx
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    fx.registrar
        .read(&client.client_id, Some("wrong"))
        .await
        .unwrap_err();
    fx.registrar
        .delete(&client.client_id, Some(&token(&read)))
        .await
        .unwrap();

    let heard: Vec<Operation> = choosy.0.take().iter().map(|e| e.operation).collect();
    assert_eq!(heard, [Operation::Register, Operation::Delete]);
    // The other sink still hears everything, refusals included.
    let everything: Vec<Operation> = all.take().iter().map(|e| e.operation).collect();
    assert_eq!(
        everything,
        [
            Operation::Register,
            Operation::Read,
            Operation::Read,
            Operation::Delete
        ]
    );
    // The default wants every operation.
    assert!(Recorder::default().wants(Operation::Read));
}
