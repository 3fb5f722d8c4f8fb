//! The example server on PostgreSQL (`--store postgres://…`, with `--features postgres` and
//! `DATABASE_URL`; skipped without them, except under `CI=true`): software statements and signed
//! request bodies are each accepted once, through the `jti` replay guard in the database, which
//! every replica shares; and the initial access token mode works on it.

use reqwest::StatusCode;
use serde_json::json;

use crate::protection::{claims, post, Key};
use crate::server::{Reply, Server, JSON};

/// Two replicas of the example server over one database, each started with `--store URL` and
/// `flags`; `None` (skip) without a database.
async fn replicas(flags: &[&str]) -> Option<(Server, Server)> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(!in_ci, "CI=true but DATABASE_URL is not set");
        eprintln!("skipping: set DATABASE_URL=postgres://… to run the example on PostgreSQL");
        return None;
    };
    // Replicas of one server share its issuer identifier.
    let mut args = vec!["--store", url.as_str(), "--issuer", ISSUER];
    args.extend_from_slice(flags);
    let a = match Server::try_start(&args).await {
        Ok(server) => server,
        Err(e) if !in_ci => {
            eprintln!("skipping: {e}");
            return None;
        }
        Err(e) => panic!("CI=true but the database is unreachable: {e}"),
    };
    let b = Server::try_start(&args).await.expect("the second replica");
    Some((a, b))
}

/// The issuer identifier both replicas serve under.
const ISSUER: &str = "https://as.example";

/// A `jti` as real issuers make them: unique, here with a non-ASCII part and a few hundred bytes.
fn jti() -> String {
    format!("jti-🔑-{}-{}", uuid::Uuid::new_v4(), "ü".repeat(200))
}

fn assert_replay(reply: &Reply, error: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:#}", reply.json);
    assert_eq!(reply.error(), error);
    let description = reply.json["error_description"].as_str().unwrap_or_default();
    assert!(description.contains("jti"), "{description}");
}

#[tokio::test]
async fn a_software_statement_is_accepted_once_across_replicas_on_postgres() {
    let directory = Key::directory();
    let trust = format!("https://directory.example/ob={}", directory.path());
    let flags = ["--trust-issuer", &trust, "--require-software-statement"];
    let Some((a, b)) = replicas(&flags).await else {
        return;
    };
    let statement = directory.sign(claims(json!({
        "iss": "https://directory.example/ob",
        "jti": jti(),
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "client_name": "Good Bank",
    })));
    let body = json!({
        "redirect_uris": ["https://app.example/cb"],
        "software_statement": statement,
    })
    .to_string();

    let created = post(&a, JSON, body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
    assert_eq!(created.str("client_name"), "Good Bank");
    for replica in [&b, &a] {
        let replayed = post(replica, JSON, body.clone()).await;
        assert_replay(&replayed, "invalid_software_statement");
    }
}

#[tokio::test]
async fn a_signed_request_is_accepted_once_across_replicas_on_postgres() {
    let client_key = Key::client();
    let flags = [
        "--signed-request-jwks",
        client_key.path(),
        "--require-signed-request",
    ];
    let Some((a, b)) = replicas(&flags).await else {
        return;
    };
    let signed = client_key.sign(claims(json!({
        "iss": "https://app.example",
        "aud": ISSUER,
        "jti": jti(),
        "redirect_uris": ["https://app.example/cb"],
        "client_name": "Signed App",
    })));

    let created = post(&a, "application/jwt", signed.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
    for replica in [&b, &a] {
        let replayed = post(replica, "application/jwt", signed.clone()).await;
        assert_replay(&replayed, "invalid_request");
    }
}

#[tokio::test]
async fn initial_access_tokens_work_on_postgres() {
    let flags = [
        "--bootstrap-client",
        "registerClient:pass word",
        "--require-initial-token",
        "register",
    ];
    let Some((a, _)) = replicas(&flags).await else {
        return;
    };
    let client = r#"{"redirect_uris":["https://app.example/cb"],"client_name":"Bootstrapped"}"#;
    let refused = a.register(client, None).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:#}",
        refused.json
    );

    let token = a
        .token(
            "grant_type=client_credentials",
            Some(("registerClient", "pass word")),
        )
        .await;
    assert_eq!(token.status, StatusCode::OK, "{:#}", token.json);
    let created = a.register(client, Some(token.str("access_token"))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
    assert_eq!(created.str("client_name"), "Bootstrapped");
}
