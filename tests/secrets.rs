//! Secrets: client secrets, registration access tokens and initial access tokens never appear in
//! `Debug` output, error messages, error bodies or events; stored forms are hashes; generated
//! values are 256-bit base64url strings from the OS CSPRNG, all different.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use oauth_dcr::initial_tokens::{InitialAccessGrant, IssuedInitialTokens, TokenSpec};
use oauth_dcr::{
    ClientStore, MemoryStore, Registrar, RegistrationError, RegistrationResponse, RequestContext,
    ServerPolicy,
};
use serde_json::json;

/// A registrar with the crate's defaults, and the recorder of its events.
fn server() -> (Server, Arc<Recorder>) {
    let events = Arc::new(Recorder::default());
    let server = Server::configured(|r| r.with_event_sink(events.clone()));
    (server, events)
}

async fn register(registrar: &Registrar, method: &str) -> RegistrationResponse {
    let body = json!({
        "redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": method,
    });
    registrar
        .register_bytes(body.to_string().as_bytes(), &RequestContext::new())
        .await
        .unwrap()
}

fn credentials(response: &RegistrationResponse) -> Vec<String> {
    let mut values = vec![token(response)];
    values.extend(
        response
            .client_secret
            .as_ref()
            .map(|s| s.secret().to_owned()),
    );
    values
}

/// Fails if `shown` contains any of `secrets`.
fn assert_hidden(what: &str, shown: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !shown.contains(secret.as_str()),
            "{what} shows the secret `{secret}`: {shown}"
        );
    }
}

fn error_text(error: &RegistrationError) -> String {
    let body = serde_json::to_string(&error.response()).unwrap();
    let http = error.www_authenticate().map(|v| format!("{v:?}"));
    format!("{error} | {error:?} | {body} | {http:?}")
}

#[tokio::test]
async fn responses_and_records_redact_themselves_in_debug() {
    let (s, _) = server();
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
    ] {
        let client = register(&s.registrar, method).await;
        let secrets = credentials(&client);
        assert_eq!(secrets.len(), 2, "{method} issues a secret");
        let shown = format!("{client:?}");
        assert_hidden("RegistrationResponse", &shown, &secrets);
        assert!(shown.contains("[redacted]"), "{shown}");

        let record = s.store.get(&client.client_id).await.unwrap().unwrap();
        assert_hidden("ClientRecord", &format!("{record:?}"), &secrets);
        assert_hidden("ClientRecord", &format!("{record:#?}"), &secrets);
        assert_hidden("the store", &format!("{:?}", s.store), &secrets);
        assert_hidden("Registrar", &format!("{:?}", s.registrar), &secrets);
    }
}

/// Only the hash of a hashed secret and of every registration access token is kept: the stored
/// record, serialized as a database would, holds neither value.
#[tokio::test]
async fn stored_records_hold_hashes_only() {
    let (s, _) = server();
    let client = register(&s.registrar, "client_secret_basic").await;
    let record = s.store.get(&client.client_id).await.unwrap().unwrap();
    let stored = serde_json::to_string(&record).unwrap();
    assert_hidden("the stored record", &stored, &credentials(&client));
    let token = client
        .registration_access_token
        .as_ref()
        .expect("a registration access token")
        .secret();
    assert!(record.registration_token.unwrap().hash.verify(token));
}

#[tokio::test]
async fn request_contexts_and_registrars_hide_initial_access_tokens() {
    let tokens = IssuedInitialTokens::new(Arc::new(MemoryStore::new()));
    let (token, issued) = tokens
        .issue(TokenSpec::new(InitialAccessGrant::with_scopes(["register"])).max_uses(2))
        .await
        .unwrap();
    let secret = vec![token.secret().to_owned()];
    let context = bearer(token.secret());
    assert_hidden("RequestContext", &format!("{context:?}"), &secret);
    assert_hidden("InitialAccessToken", &format!("{token:?}"), &secret);
    assert_hidden("IssuedToken", &format!("{issued:?}"), &secret);
    assert_hidden("IssuedInitialTokens", &format!("{tokens:?}"), &secret);
    let stored = serde_json::to_string(&issued).unwrap();
    assert_hidden("the stored initial token", &stored, &secret);

    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), Arc::new(MemoryStore::new()))
        .require_initial_token(Arc::new(tokens), Some("register"));
    let client = registrar
        .register_bytes(br#"{"redirect_uris":["https://app.example/cb"]}"#, &context)
        .await
        .unwrap();
    assert_hidden("Registrar", &format!("{registrar:?}"), &secret);
    assert_hidden("RegistrationResponse", &format!("{client:?}"), &secret);
}

#[tokio::test]
async fn errors_never_repeat_a_presented_credential() {
    let (s, _) = server();
    let a = register(&s.registrar, "client_secret_basic").await;
    let b = register(&s.registrar, "client_secret_basic").await;
    let a_token = token(&a);
    let mut secrets = credentials(&a);
    secrets.extend(credentials(&b));

    // A wrong, another client's, and a guessed token.
    let guess = "guessed-token-0123456789abcdefghijklmnopqrstuvw".to_owned();
    for token in [guess.clone(), token(&b)] {
        let err = s
            .registrar
            .read(&a.client_id, Some(&token))
            .await
            .unwrap_err();
        let mut all = secrets.clone();
        all.push(guess.clone());
        assert_hidden("a token error", &error_text(&err), &all);
    }

    // An update with a client_secret that is not the current one, and one that is another
    // client's.
    let wrong = "chosen-secret-0123456789abcdefghijklmnopqrstuv".to_owned();
    let b_secret = b.client_secret.as_ref().unwrap().secret().to_owned();
    for sent in [wrong.clone(), b_secret] {
        let body = json!({
            "client_id": a.client_id,
            "client_secret": sent,
            "redirect_uris": ["https://app.example/cb"],
        });
        let err = s
            .registrar
            .update_bytes(
                &a.client_id,
                Some(&a_token),
                body.to_string().as_bytes(),
                &RequestContext::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400);
        let mut all = secrets.clone();
        all.push(wrong.clone());
        assert_hidden("a client_secret error", &error_text(&err), &all);
    }

    // A registration with an initial access token the server does not know.
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), Arc::new(MemoryStore::new()))
        .require_initial_token(
            Arc::new(IssuedInitialTokens::new(Arc::new(MemoryStore::new()))),
            None,
        );
    let presented = "unknown-initial-token-0123456789abcdefghijklmno".to_owned();
    let context = bearer(presented.as_str());
    let err = registrar
        .register_bytes(br#"{"redirect_uris":["https://app.example/cb"]}"#, &context)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 401);
    assert_hidden("an initial token error", &error_text(&err), &[presented]);
}

#[tokio::test]
async fn events_carry_no_credentials() {
    let (s, events) = server();
    let client = register(&s.registrar, "client_secret_basic").await;
    let mut secrets = credentials(&client);
    let read = s
        .registrar
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    secrets.extend(credentials(&read));
    let body = json!({"client_id": client.client_id, "redirect_uris": ["https://app.example/cb2"]});
    let updated = s
        .registrar
        .update_bytes(
            &client.client_id,
            Some(&token(&read)),
            body.to_string().as_bytes(),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    secrets.extend(credentials(&updated));
    let refused = s
        .registrar
        .read(&client.client_id, Some("not-the-token"))
        .await;
    assert!(refused.is_err());
    s.registrar
        .delete(&client.client_id, Some(&token(&updated)))
        .await
        .unwrap();

    let events = events.all();
    assert_eq!(events.len(), 5);
    assert_hidden("events", &format!("{events:?}"), &secrets);
}

fn assert_256_bit_base64url(value: &str) {
    assert_eq!(value.len(), 43, "{value}");
    assert!(
        value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{value} is not base64url"
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(value).unwrap().len(), 32, "{value}");
}

#[tokio::test]
async fn generated_credentials_are_256_bit_base64url_and_all_different() {
    let (s, _) = server();
    let mut seen = BTreeSet::new();
    for _ in 0..25 {
        let client = register(&s.registrar, "client_secret_basic").await;
        for value in credentials(&client) {
            assert_256_bit_base64url(&value);
            assert!(seen.insert(value), "a credential was issued twice");
        }
        let read = s
            .registrar
            .read(&client.client_id, Some(&token(&client)))
            .await
            .unwrap();
        let rotated = token(&read);
        assert_256_bit_base64url(&rotated);
        assert!(seen.insert(rotated), "a rotated token repeats");
    }
    let tokens = IssuedInitialTokens::new(Arc::new(MemoryStore::new()));
    for _ in 0..5 {
        let (token, _) = tokens.issue(TokenSpec::default()).await.unwrap();
        assert_256_bit_base64url(token.secret());
        assert!(seen.insert(token.secret().to_owned()));
    }
}

/// Secret comparisons are by value (constant-time by construction, which a test cannot time):
/// equal values match, any difference, including length, does not.
#[test]
fn secret_comparisons_compare_whole_values() {
    use oauth_dcr::store::SecretHash;
    use oauth_dcr::ClientSecret;
    assert!(SecretHash::of("abc").verify("abc"));
    for other in ["abd", "ab", "abcd", "", "ABC"] {
        assert_ne!(ClientSecret::new("abc"), ClientSecret::new(other));
        assert!(!SecretHash::of("abc").verify(other));
    }
    assert_eq!(ClientSecret::new("abc"), ClientSecret::new("abc"));
}
