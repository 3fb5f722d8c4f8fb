//! `POST /token`: the RFC 6749 §5.2 errors of the example's `client_credentials` endpoint.

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use crate::server::{Reply, Server, JSON};

const GOOD: Option<(&str, &str)> = Some(("registerClient", "pass word"));

async fn server() -> Server {
    Server::start(&["--bootstrap-client", "registerClient:pass word"]).await
}

fn assert_error(reply: &Reply, status: StatusCode, error: &str) {
    assert_eq!(reply.status, status, "{:#}", reply.json);
    assert_eq!(reply.error(), error);
    assert!(!reply.json["error_description"]
        .as_str()
        .unwrap_or_default()
        .is_empty());
    assert_eq!(reply.header("cache-control"), "no-store");
}

#[tokio::test]
async fn credentials_in_the_body_or_form_encoded_in_basic() {
    let server = server().await;
    let body = "grant_type=client_credentials&client_id=registerClient&client_secret=pass+word";
    let reply = server.token(body, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:#}", reply.json);
    assert_eq!(reply.str("scope"), "register");

    // RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
    let reply = server
        .token(
            "grant_type=client_credentials",
            Some(("registerClient", "pass+word")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Unencoded, as curl -u sends them, works too when nothing needs encoding.
    let reply = server.token("grant_type=client_credentials", GOOD).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn client_authentication_failures() {
    let server = server().await;
    let grant = "grant_type=client_credentials";
    for basic in [
        Some(("registerClient", "wrong")),
        Some(("someoneElse", "pass word")),
        None,
    ] {
        let reply = server.token(grant, basic).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");
        assert_eq!(
            reply.header("www-authenticate"),
            r#"Basic realm="token", charset="UTF-8""#
        );
    }
    let reply = server
        .token(&format!("{grant}&client_id=registerClient"), None)
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "invalid_client");

    let both = format!("{grant}&client_id=registerClient&client_secret=pass+word");
    let reply = server.token(&both, GOOD).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn grant_and_scope_errors() {
    let server = server().await;
    let reply = server.token("grant_type=password", GOOD).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    let reply = server.token("scope=register", GOOD).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    let reply = server
        .token(
            "grant_type=client_credentials&grant_type=client_credentials",
            GOOD,
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    let reply = server
        .token("grant_type=client_credentials&scope=admin", GOOD)
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_scope");
    let reply = server
        .token("grant_type=client_credentials&scope=register%20%22x", GOOD)
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_scope");
}

#[tokio::test]
async fn malformed_requests() {
    let server = server().await;
    let url = server.url("/token");
    let json = server
        .send(
            "post /token",
            server
                .http
                .post(&url)
                .basic_auth("registerClient", Some("pass word"))
                .header(CONTENT_TYPE, JSON)
                .body(r#"{"grant_type":"client_credentials"}"#),
        )
        .await;
    assert_error(&json, StatusCode::BAD_REQUEST, "invalid_request");

    let huge = format!(
        "grant_type=client_credentials&scope={}",
        "a".repeat(9 * 1024)
    );
    let reply = server.token(&huge, GOOD).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");

    let get = server.send("get /token", server.http.get(&url)).await;
    assert_error(&get, StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    assert_eq!(get.header("allow"), "POST");

    let reply = server.token("grant_type=client_credentials", GOOD).await;
    assert_eq!(reply.status, StatusCode::OK, "the server keeps serving");
}

#[tokio::test]
async fn no_token_endpoint_without_a_bootstrap_client() {
    let server = Server::start(&[]).await;
    let reply = server
        .send("get /token", server.http.post(server.url("/token")))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
}
