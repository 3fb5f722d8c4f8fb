//! The protection flags end to end: `--trust-issuer` / `--require-software-statement` and
//! `--signed-request-jwks` / `--require-signed-request`.
//!
//! The keys are those of `tests/data/keys/`: the server loads their public JWK Set files at
//! startup, as an operator's would.

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::common::{jws, key_path, signer, web_client, ISSUER};
use crate::server::{assert_error, Reply, Server, JSON};

/// A signing key of `tests/data/keys/` and the file holding its public JWK Set, which the server
/// loads at startup as an operator's would.
pub(crate) struct Key {
    kid: &'static str,
    pem: &'static str,
    jwks_file: String,
}

impl Key {
    /// The directory's ES256 key (`issuer-es256`), in `issuer.jwks.json`.
    pub(crate) fn directory() -> Self {
        Self::of("issuer-es256", "issuer-es256.pem", "issuer.jwks.json")
    }

    /// The client software's ES256 key (`client-es256`), in `client.jwks.json`.
    pub(crate) fn client() -> Self {
        Self::of("client-es256", "client-es256.pem", "client.jwks.json")
    }

    fn of(kid: &'static str, pem: &'static str, jwks: &str) -> Self {
        Self {
            kid,
            pem,
            jwks_file: key_path(jwks),
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.jwks_file
    }

    /// A compact JWS of `claims` with `iat` and `exp` (five minutes) added.
    pub(crate) fn sign(&self, mut claims: Map<String, Value>) -> String {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + 300).into());
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        jws(
            &header,
            &Value::Object(claims),
            signer("ES256", self.pem).as_ref(),
        )
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

/// [`assert_error`], and the description says `description`.
fn assert_refusal(reply: &Reply, status: StatusCode, error: &str, description: &str) {
    assert_error(reply, status, error);
    let text = reply.json["error_description"].as_str().unwrap_or_default();
    assert!(text.contains(description), "{text:?} lacks {description:?}");
}

#[tokio::test]
async fn software_statements_from_a_trusted_issuer() {
    let directory = Key::directory();
    let stranger = Key::client();
    let trust = format!("{ISSUER}={}", directory.path());
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
        "iss": ISSUER,
        "jti": "statement-1",
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "client_name": "Name In The Statement",
    });

    let plain = web_client().to_string();
    let missing = server.register(&plain, None).await;
    assert_refusal(
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
    assert_refusal(
        &refused,
        StatusCode::BAD_REQUEST,
        "invalid_software_statement",
        "software statement: ",
    );

    let untrusted = stranger.sign(claims(json!({"iss": "https://elsewhere.example"})));
    let refused = post(&server, JSON, body(&untrusted)).await;
    assert_refusal(
        &refused,
        StatusCode::BAD_REQUEST,
        "unapproved_software_statement",
        "is not trusted",
    );
}

#[tokio::test]
async fn signed_request_bodies() {
    let client_key = Key::client();
    let stranger = Key::directory();
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

    let plain = server.register(&web_client().to_string(), None).await;
    assert_refusal(
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
    assert_refusal(&replayed, StatusCode::BAD_REQUEST, "invalid_request", "jti");

    let forged = post(&server, "application/jwt", request(&stranger, "request-2")).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{:#}", forged.json);
    assert_eq!(forged.error(), "invalid_request");

    let other = post(&server, "text/plain", request(&client_key, "request-3")).await;
    assert_refusal(
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
    let client_key = Key::client();
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
    let client_key = Key::client();
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
        assert_refusal(&refused, StatusCode::BAD_REQUEST, "invalid_request", "aud");
    }
}
