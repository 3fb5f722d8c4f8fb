//! The protection flags end to end: `--trust-issuer` / `--require-software-statement` and
//! `--signed-request-jwks` / `--require-signed-request`.
//!
//! Each test makes its own P-256 keys with josekit and writes their public JWK Set to a file the
//! server loads at startup, as an operator would.

use std::path::PathBuf;

use josekit::jwk::{Jwk, KeyPair as _};
use josekit::jws::{JwsHeader, ES256};
use josekit::jwt::{self, JwtPayload};
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::server::{Reply, Server, JSON};

const DIRECTORY: &str = "https://directory.example";

/// A signing key and the file holding its public JWK Set.
pub(crate) struct Key {
    private: Jwk,
    jwks_file: PathBuf,
}

impl Key {
    pub(crate) fn new(name: &str) -> Self {
        let mut pair = ES256.generate_key_pair().expect("a P-256 key");
        pair.set_key_id(Some(name));
        let public = pair.to_jwk_public_key();
        let jwks_file = std::env::temp_dir().join(format!(
            "oauth-dcr-http-{}-{name}.jwks.json",
            std::process::id()
        ));
        let jwks = json!({ "keys": [Value::Object(public.as_ref().clone())] });
        std::fs::write(&jwks_file, jwks.to_string()).expect("write the JWK Set");
        Self {
            private: pair.to_jwk_private_key(),
            jwks_file,
        }
    }

    pub(crate) fn path(&self) -> &str {
        self.jwks_file.to_str().expect("a UTF-8 temporary path")
    }

    /// A compact JWS of `claims` with `iat` and `exp` (five minutes) added.
    pub(crate) fn sign(&self, mut claims: Map<String, Value>) -> String {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + 300).into());
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        if let Some(kid) = self.private.key_id() {
            header.set_key_id(kid);
        }
        let signer = ES256.signer_from_jwk(&self.private).expect("a signer");
        let payload = JwtPayload::from_map(claims).expect("claims");
        jwt::encode_with_signer(&payload, &header, &signer).expect("a JWS")
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.jwks_file);
    }
}

pub(crate) fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub(crate) async fn post(server: &Server, content_type: &str, body: String) -> Reply {
    let request = server
        .http
        .post(server.url("/register"))
        .header(CONTENT_TYPE, content_type)
        .body(body);
    server.send("post /register", request).await
}

fn assert_error(reply: &Reply, status: StatusCode, error: &str, description: &str) {
    assert_eq!(reply.status, status, "{:#}", reply.json);
    assert_eq!(reply.error(), error);
    let text = reply.json["error_description"].as_str().unwrap_or_default();
    assert!(text.contains(description), "{text:?} lacks {description:?}");
}

#[tokio::test]
async fn software_statements_from_a_trusted_issuer() {
    let directory = Key::new("directory");
    let stranger = Key::new("stranger");
    let trust = format!("{DIRECTORY}={}", directory.path());
    let server = Server::start(&["--trust-issuer", &trust, "--require-software-statement"]).await;
    let body = |statement: &str| {
        json!({
            "redirect_uris": ["https://app.example/cb"],
            "client_name": "Name In The Body",
            "software_statement": statement,
        })
        .to_string()
    };
    let statement_claims = json!({
        "iss": DIRECTORY,
        "jti": "statement-1",
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "client_name": "Name In The Statement",
    });

    let plain = r#"{"redirect_uris":["https://app.example/cb"]}"#;
    let missing = server.register(plain, None).await;
    assert_error(
        &missing,
        StatusCode::BAD_REQUEST,
        "invalid_software_statement",
        "a software statement is required",
    );

    let statement = directory.sign(claims(statement_claims.clone()));
    let client = post(&server, JSON, body(&statement)).await;
    assert_eq!(client.status, StatusCode::CREATED, "{:#}", client.json);
    assert_eq!(
        client.str("software_statement"),
        statement,
        "echoed unmodified"
    );
    assert_eq!(client.str("software_id"), "4NRB1-0XZABZI9E6-5SM3R");
    assert_eq!(
        client.str("client_name"),
        "Name In The Statement",
        "RFC 7591 §3.1.1: the statement's values take precedence"
    );

    let forged = stranger.sign(claims(statement_claims));
    let refused = post(&server, JSON, body(&forged)).await;
    // Signed with a key the trusted issuer's set does not hold: the signature does not verify
    // with its issuer's keys, an invalid statement (RFC 7591 §3.2.2; issue 14, B9).
    assert_error(
        &refused,
        StatusCode::BAD_REQUEST,
        "invalid_software_statement",
        "software statement: ",
    );

    let untrusted = stranger.sign(claims(json!({"iss": "https://elsewhere.example"})));
    let refused = post(&server, JSON, body(&untrusted)).await;
    assert_error(
        &refused,
        StatusCode::BAD_REQUEST,
        "unapproved_software_statement",
        "is not trusted",
    );
}

#[tokio::test]
async fn signed_request_bodies() {
    let client_key = Key::new("client");
    let stranger = Key::new("stranger-signed");
    let server = Server::start(&[
        "--signed-request-jwks",
        client_key.path(),
        "--require-signed-request",
    ])
    .await;
    let request = |key: &Key, jti: &str| {
        key.sign(claims(json!({
            "iss": "https://app.example",
            "aud": server.base,
            "jti": jti,
            "redirect_uris": ["https://app.example/cb"],
            "client_name": "Signed App",
        })))
    };

    let plain = server
        .register(r#"{"redirect_uris":["https://app.example/cb"]}"#, None)
        .await;
    assert_error(
        &plain,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "requires a signed request body",
    );

    let signed = request(&client_key, "request-1");
    let created = post(&server, "application/jwt", signed.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
    assert_eq!(created.str("client_name"), "Signed App");
    assert_eq!(
        created.json["redirect_uris"],
        json!(["https://app.example/cb"])
    );

    let replayed = post(&server, "application/jwt", signed).await;
    assert_error(&replayed, StatusCode::BAD_REQUEST, "invalid_request", "jti");

    let forged = post(&server, "application/jwt", request(&stranger, "request-2")).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{:#}", forged.json);
    assert_eq!(forged.error(), "invalid_request");

    let other = post(&server, "text/plain", request(&client_key, "request-3")).await;
    assert_error(
        &other,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request",
        "application/jwt",
    );

    let accepted = post(
        &server,
        "application/jwt",
        request(&client_key, "request-4"),
    )
    .await;
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "the server keeps serving"
    );
}

#[tokio::test]
async fn signed_requests_are_optional_without_the_require_flag() {
    let client_key = Key::new("client-optional");
    let server = Server::start(&["--signed-request-jwks", client_key.path()]).await;
    server.assert_serving().await;
    let signed = client_key.sign(claims(json!({
        "iss": "https://app.example",
        "aud": server.base,
        "jti": "only-once",
        "redirect_uris": ["https://app.example/cb"],
    })));
    let created = post(&server, "application/jwt", signed).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
}

/// The keys of `--signed-request-jwks` serve any issuer, so `iss` is bound to nothing and may be
/// left out; `aud` must be this server's issuer (issue 14, B10).
#[tokio::test]
async fn signed_requests_need_this_servers_audience_and_no_issuer() {
    let client_key = Key::new("client-audience");
    let server = Server::start(&["--signed-request-jwks", client_key.path()]).await;
    let request = |aud: Value, jti: &str| {
        let mut members = json!({ "jti": jti, "redirect_uris": ["https://app.example/cb"] });
        if !aud.is_null() {
            members["aud"] = aud;
        }
        client_key.sign(claims(members))
    };
    let created = post(
        &server,
        "application/jwt",
        request(json!(server.base), "no-iss"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
    for (aud, jti) in [
        (json!("https://other-as.example"), "elsewhere"),
        (Value::Null, "nowhere"),
    ] {
        let refused = post(&server, "application/jwt", request(aud, jti)).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "invalid_request", "aud");
    }
}
