//! The `tracing` feature, read back through a capturing subscriber: a span per operation with
//! its operation, client id and outcome; the `TracingSink`'s structured events; a store or key
//! source failure logged once with its cause chain; and no secret, token or body text anywhere in
//! what was captured.

#![cfg(feature = "tracing")]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::{FailingStore, ENDPOINT, REDIRECT};
use oauth_dcr::events::TracingSink;
use oauth_dcr::statements::{Jwks, KeyError, KeySource, SoftwareStatements};
use oauth_dcr::{MemoryStore, Registrar, RegistrationRequest, RequestContext, ServerPolicy};
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The lines that contain every one of `parts`.
    fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| parts.iter().all(|p| line.contains(p)))
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `future` with a subscriber that writes every span close and event, at every level, into
/// the returned buffer.
fn captured<F: std::future::Future>(future: F) -> (F::Output, Captured) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .finish();
    let output = tracing::subscriber::with_default(subscriber, || common::block_on(future));
    (output, captured)
}

fn request(registrar: &Registrar, body: &serde_json::Value) -> RegistrationRequest {
    RegistrationRequest::from_json(body.to_string().as_bytes(), &registrar.policy().limits).unwrap()
}

/// A value that appears in the request body and nowhere else.
const BODY_MARKER: &str = "Body-Marker-7f3a";

#[test]
fn each_operation_has_a_span_and_an_event_and_nothing_secret_is_written() {
    let registrar = Registrar::new(
        ServerPolicy::new(ENDPOINT),
        Arc::new(oauth_dcr::MemoryStore::new()),
    )
    .with_event_sink(Arc::new(TracingSink));
    let ((client, tokens, secret), out) = captured(async {
        let body = json!({ "redirect_uris": [REDIRECT], "client_name": BODY_MARKER });
        let client = registrar
            .register(request(&registrar, &body), &RequestContext::new())
            .await
            .unwrap();
        let secret = common::secret(&client);
        let first = common::token(&client);
        let read = registrar
            .read(&client.client_id, Some(&first))
            .await
            .unwrap();
        let second = common::token(&read);
        let update = json!({ "client_id": client.client_id, "redirect_uris": [REDIRECT], "client_name": "Renamed" });
        let updated = registrar
            .update(
                &client.client_id,
                Some(&second),
                request(&registrar, &update),
                &RequestContext::new(),
            )
            .await
            .unwrap();
        let current = updated
            .registration_access_token
            .as_ref()
            .map_or_else(|| second.clone(), |t| t.secret().to_owned());
        // A wrong token: refused.
        let refused = registrar
            .read(&client.client_id, Some("not-the-token"))
            .await;
        assert!(refused.is_err());
        registrar
            .delete(&client.client_id, Some(&current))
            .await
            .unwrap();
        (client, vec![first, second, current], secret)
    });
    let id = client.client_id.as_str();
    let client_field = format!("client_id=\"{id}\"");

    // One closed span per operation, with its fields; the registration's client id is recorded
    // when it succeeds.
    for operation in ["register", "read", "update", "delete"] {
        let spans = out.lines_with(&[
            "registrar{",
            &format!("operation=\"{operation}\""),
            &client_field,
            "outcome=\"ok\"",
            "close",
        ]);
        assert_eq!(spans.len(), 1, "{operation}:\n{}", out.text());
    }
    for line in out.text().lines() {
        assert!(line.matches(&client_field).count() <= 2, "{line}");
        let span = line.split("}:").next().unwrap_or_default();
        assert!(span.matches("client_id=").count() <= 1, "{line}");
    }
    let refused = out.lines_with(&[
        "registrar{",
        "operation=\"read\"",
        &client_field,
        "outcome=\"invalid_token\"",
        "status=401",
        "close",
    ]);
    assert_eq!(refused.len(), 1, "{}", out.text());

    // The sink's structured events, inside the operation's span.
    for (operation, message) in [
        ("register", "operation done"),
        ("read", "operation done"),
        ("update", "operation done"),
        ("delete", "operation done"),
        ("read", "operation refused"),
    ] {
        let events = out.lines_with(&[
            "oauth_dcr::events",
            message,
            &format!("operation=\"{operation}\""),
            &client_field,
        ]);
        assert!(!events.is_empty(), "{operation} {message}:\n{}", out.text());
    }
    assert_eq!(
        out.lines_with(&["oauth_dcr::events", "refused=\"invalid_token\""])
            .len(),
        1
    );
    assert_eq!(
        out.lines_with(&["oauth_dcr::events", "operation=\"update\"", "client_name"])
            .len(),
        1,
        "the update's changed members are named: {}",
        out.text()
    );

    let text = out.text();
    assert!(!text.contains(&secret), "the client secret was written");
    for token in &tokens {
        assert!(!text.contains(token.as_str()), "a token was written");
    }
    assert!(
        !text.contains("not-the-token"),
        "a presented token was written"
    );
    assert!(!text.contains(BODY_MARKER), "the request body was written");
    assert!(!text.contains("Renamed"), "the update's body was written");
    assert!(!text.contains(REDIRECT), "the request body was written");
}

#[test]
fn a_store_failure_is_logged_once_with_its_cause_chain() {
    let store = Arc::new(FailingStore::default());
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone())
        .with_event_sink(Arc::new(TracingSink));
    store.fail_writes(true);
    let (result, out) = captured(async {
        let body = json!({ "redirect_uris": [REDIRECT], "client_name": BODY_MARKER });
        registrar
            .register(request(&registrar, &body), &RequestContext::new())
            .await
    });
    let error = result.unwrap_err();
    assert_eq!(error.status(), 500);

    let chain =
        "store failure: store backend failure: connection to db-internal-7.example:5432 refused";
    let logged = out.lines_with(&["ERROR", chain]);
    assert_eq!(logged.len(), 1, "{}", out.text());
    assert!(
        logged[0].contains("operation=\"register\""),
        "{}",
        logged[0]
    );
    // Once: no other line names the cause.
    assert_eq!(
        out.lines_with(&["db-internal-7"]).len(),
        1,
        "{}",
        out.text()
    );
    let span = out.lines_with(&[
        "registrar{",
        "operation=\"register\"",
        "outcome=\"server_error\"",
        "status=500",
        "close",
    ]);
    assert_eq!(span.len(), 1, "{}", out.text());
    assert!(!out.text().contains(BODY_MARKER));

    // A refusal that is the client's fault is not logged as a failure.
    store.fail_writes(false);
    let (refused, out) = captured(async { registrar.read("unknown", Some("whatever")).await });
    assert_eq!(refused.unwrap_err().status(), 401);
    assert!(out.lines_with(&["ERROR"]).is_empty(), "{}", out.text());
}

/// A key source whose backend is down.
struct Down;

#[async_trait]
impl KeySource for Down {
    async fn keys(&self, _issuer: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        Err(KeyError::new("the directory's JWKS endpoint answered 503"))
    }
}

#[test]
fn a_key_source_failure_is_logged_once_with_its_cause() {
    let registrar = Registrar::new(
        ServerPolicy::new(ENDPOINT),
        Arc::new(oauth_dcr::MemoryStore::new()),
    )
    .with_software_statements(SoftwareStatements::new(Arc::new(Down)));
    let statement = common::issuer_jws(
        "ES256",
        &common::statement_claims(time::OffsetDateTime::now_utc().unix_timestamp()),
    );
    let (result, out) = captured(async {
        let body = json!({ "redirect_uris": [REDIRECT], "software_statement": statement });
        registrar
            .register(request(&registrar, &body), &RequestContext::new())
            .await
    });
    assert_eq!(result.unwrap_err().status(), 500);
    let logged = out.lines_with(&[
        "ERROR",
        "internal failure",
        "the directory's JWKS endpoint answered 503",
    ]);
    assert_eq!(logged.len(), 1, "{}", out.text());
    assert!(
        !out.text().contains(&statement),
        "the statement was written"
    );
}

#[test]
fn a_reissue_is_logged_with_who_asked_for_it() {
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        Arc::new(MemoryStore::new()),
    )
    .with_event_sink(Arc::new(TracingSink));
    let (reissued, out) = captured(async {
        let client = registrar
            .register(
                request(&registrar, &json!({ "redirect_uris": [REDIRECT] })),
                &RequestContext::new(),
            )
            .await
            .unwrap();
        registrar
            .reissue_registration_token(&client.client_id, Some("support:alice"))
            .await
            .unwrap()
    });
    let lines = out.lines_with(&["operation=\"reissue\"", "actor=\"support:alice\""]);
    assert_eq!(lines.len(), 1, "{}", out.text());
    let token = reissued.registration_access_token.unwrap();
    assert!(
        !out.text().contains(token.secret()),
        "the new token is never logged"
    );
}

#[test]
fn the_tracing_sink_wants_only_what_the_subscriber_writes() {
    use oauth_dcr::events::{EventSink as _, Operation};
    let at = |level| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_max_level(level)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            (
                TracingSink.wants(Operation::Register),
                TracingSink.wants(Operation::TokenReuse),
            )
        })
    };
    // `--quiet`: only token reuse (WARN) is written, so only it is built.
    assert_eq!(at(tracing::Level::WARN), (false, true));
    assert_eq!(at(tracing::Level::INFO), (true, true));
    assert_eq!(at(tracing::Level::ERROR), (false, false));
}
