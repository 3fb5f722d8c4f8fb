//! The example server's explicit registration through OpenID Federation trust chains
//! (`--federation-entity-id`, `--federation-key`, `--trust-anchor`): its Entity Configuration,
//! its discovery, and a client registered through a three-level chain over HTTP.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

use std::path::PathBuf;

use crate::common::{about, entity, sign, Entity};
use crate::server::Server;

/// The claims of a compact JWS, once it verified with `key` and has the `typ` `typ`.
fn verified(jwt: &str, key: &josekit::jwk::Jwk, typ: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["typ"], typ);
    let verifier = josekit::jws::ES256.verifier_from_jwk(key).unwrap();
    let input = format!("{}.{}", parts[0], parts[1]);
    josekit::jws::JwsVerifier::verify(
        &verifier,
        input.as_bytes(),
        &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
    )
    .expect("signed with the key");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

/// The example server with explicit registration as `op`, trusting `anchor` (its keys written
/// to files in a fresh directory, returned for removal), and `extra` flags.
async fn federated_server(op: &Entity, anchor: &Entity, extra: &[&str]) -> (Server, PathBuf) {
    static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("dcr-federation-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("op.jwk");
    let anchor_keys = dir.join("ta.jwks");
    std::fs::write(&key, op.private.to_string()).unwrap();
    std::fs::write(&anchor_keys, anchor.jwks.to_string()).unwrap();
    let anchor_flag = format!("{}={}", anchor.id, anchor_keys.display());
    let mut flags = vec![
        "--federation-entity-id",
        op.id.as_str(),
        "--federation-key",
        key.to_str().unwrap(),
        "--trust-anchor",
        anchor_flag.as_str(),
    ];
    flags.extend_from_slice(extra);
    (Server::start(&flags).await, dir)
}

/// A 200 answer of `media`, whose body is a JWS of `typ` signed with `key`: its claims.
async fn signed_answer(
    response: reqwest::Response,
    media: &str,
    key: &josekit::jwk::Jwk,
    typ: &str,
) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], media);
    verified(&response.text().await.unwrap(), key, typ)
}

#[tokio::test]
async fn the_example_server_registers_a_client_through_a_trust_chain() {
    let anchor = entity("https://ta.fed.example");
    let intermediate = entity("https://int.fed.example");
    let client = entity("https://rp.fed.example");
    let op = entity("https://op.fed.example");
    let (server, dir) = federated_server(&op, &anchor, &[]).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let public = {
        let set = &op.jwks["keys"][0];
        josekit::jwk::Jwk::from_map(set.as_object().unwrap().clone()).unwrap()
    };

    // The server's Entity Configuration names its key and its registration endpoint.
    let response = http
        .get(server.url("/.well-known/openid-federation"))
        .send()
        .await
        .unwrap();
    let configuration = signed_answer(
        response,
        "application/entity-statement+jwt",
        &public,
        "entity-statement+jwt",
    )
    .await;
    assert_eq!(configuration["iss"], op.id);
    assert_eq!(configuration["sub"], op.id);
    assert_eq!(configuration["jwks"], op.jwks);
    let provider = &configuration["metadata"]["openid_provider"];
    assert_eq!(
        provider["federation_registration_endpoint"],
        server.url("/register")
    );
    assert_eq!(
        provider["client_registration_types_supported"],
        json!(["explicit"])
    );

    // A client registers through its chain. The example's clock is the real one: the
    // statements are made valid around now.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let shift = |claims: Value| {
        let mut claims = claims;
        claims["iat"] = json!(now - 60);
        claims["exp"] = json!(now + 3600);
        claims
    };
    let chain = vec![
        sign(
            &client,
            &shift(about(
                &client,
                &client,
                json!({
                    "aud": op.id,
                    "authority_hints": [intermediate.id],
                    "metadata": { "openid_relying_party": {
                        "redirect_uris": ["https://rp.fed.example/cb"],
                        "token_endpoint_auth_method": "client_secret_basic"
                    }},
                }),
            )),
        ),
        sign(
            &intermediate,
            &shift(about(&intermediate, &client, json!({}))),
        ),
        sign(&anchor, &shift(about(&anchor, &intermediate, json!({})))),
    ];
    let post = |chain: &Vec<String>| {
        http.post(server.url("/register"))
            .header(CONTENT_TYPE, "application/trust-chain+json")
            .body(serde_json::to_vec(chain).unwrap())
            .send()
    };
    let registered = signed_answer(
        post(&chain).await.unwrap(),
        "application/explicit-registration-response+jwt",
        &public,
        "explicit-registration-response+jwt",
    )
    .await;
    assert_eq!(registered["iss"], op.id);
    assert_eq!(registered["aud"], client.id);
    assert_eq!(registered["trust_anchor"], anchor.id);
    let metadata = &registered["metadata"]["openid_relying_party"];
    assert_eq!(metadata["client_id"], client.id);
    assert!(metadata["client_secret"].is_string());

    // A chain signed by someone else is refused with the federation's error code.
    let mut forged = chain.clone();
    forged[2] = sign(&client, &shift(about(&anchor, &intermediate, json!({}))));
    let response = post(&forged).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_trust_chain");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_federation_flags_go_together() {
    let error = |args: &[&str]| crate::app::Config::parse(args.iter().copied()).unwrap_err();
    assert!(error(&["--federation-entity-id", "https://op.example"]).contains("go together"));
    assert!(error(&["--federation-key", "/nonexistent.jwk"]).contains("cannot read"));
    assert!(error(&["--trust-anchor", "nonsense"]).contains("ENTITY_ID=JWKS_FILE"));
    assert!(error(&["--federation-entity-id", "ftp://op.example"]).contains("http or https"));
    for shown in [
        "--federation-entity-id URL",
        "--federation-key JWK_FILE",
        "--trust-anchor ID=JWKS_FILE",
    ] {
        assert!(crate::app::USAGE.contains(shown), "{shown}");
    }
    let config = crate::app::Config::parse(Vec::<String>::new()).unwrap();
    assert!(!config.banner().contains("federation"));
}

/// README "Walkthrough: OpenID Federation explicit registration", step by step, with the
/// federation `examples/federation_chain.rs` makes.
#[tokio::test]
async fn the_federation_walkthrough() {
    use crate::federation_chain::{make, ANCHOR, CLIENT, INTERMEDIATE};
    let dir = std::env::temp_dir().join(format!("dcr-walkthrough-{}", std::process::id()));
    // README uses the server's URL; any identifier the client's configuration names will do.
    let entity_id = "https://op.walkthrough.example".to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    make(&dir, &entity_id, now).await.unwrap();
    let key = dir.join("op.jwk");
    let anchor = format!("{ANCHOR}={}", dir.join("ta.jwks").display());
    let server = Server::start(&[
        "--federation-entity-id",
        &entity_id,
        "--federation-key",
        key.to_str().unwrap(),
        "--trust-anchor",
        &anchor,
    ])
    .await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |name: &str| {
        let body = std::fs::read(dir.join(name)).unwrap();
        http.post(server.url("/register"))
            .header(CONTENT_TYPE, "application/trust-chain+json")
            .body(body)
            .send()
    };
    let response = post("chain.json").await.unwrap();
    assert_eq!(response.status(), 200);
    let jwt = response.text().await.unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["iss"], entity_id);
    assert_eq!(claims["sub"], CLIENT);
    assert_eq!(claims["trust_anchor"], ANCHOR);
    assert_eq!(claims["authority_hints"], json!([INTERMEDIATE]));
    let metadata = &claims["metadata"]["openid_relying_party"];
    assert_eq!(metadata["contacts"], json!(["helpdesk@ta.fed.example"]));
    assert_eq!(metadata["client_secret_expires_at"], claims["exp"]);
    assert!(metadata.get("registration_access_token").is_none());
    for (name, code, needle) in [
        (
            "chain-bad-signature.json",
            "invalid_trust_chain",
            "trust anchor's keys",
        ),
        ("chain-expired.json", "invalid_trust_chain", "expired"),
        (
            "chain-policy.json",
            "invalid_metadata",
            "token_endpoint_auth_method",
        ),
    ] {
        let response = post(name).await.unwrap();
        assert_eq!(response.status(), 400, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], code, "{name}");
        assert!(
            body["error_description"].as_str().unwrap().contains(needle),
            "{name}: {body}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A local federation served from loopback: each authority's Entity Configuration and its
/// `/fetch?sub=…` statement, as `application/entity-statement+jwt`, by path and query.
fn serve_federation(
    listener: tokio::net::TcpListener,
    documents: std::collections::HashMap<String, String>,
) {
    use axum::extract::State;
    use axum::http::{header, StatusCode, Uri};
    use axum::response::IntoResponse;
    use std::sync::Arc;

    async fn document(
        State(documents): State<Arc<std::collections::HashMap<String, String>>>,
        uri: Uri,
    ) -> axum::response::Response {
        let key = uri.path_and_query().map(|p| p.as_str()).unwrap_or_default();
        match documents.get(key) {
            Some(body) => (
                [(header::CONTENT_TYPE, "application/entity-statement+jwt")],
                body.clone(),
            )
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let router = axum::Router::new()
        .fallback(document)
        .with_state(Arc::new(documents));
    tokio::spawn(async move { axum::serve(listener, router).await });
}

/// With the `fetch` feature and the loopback switch, the example server resolves the chain of a
/// client that sends only its Entity Configuration from a federation served on loopback.
#[tokio::test]
async fn the_example_server_resolves_a_chain_from_a_federation_on_loopback() {
    // Entity identifiers under the loopback address the documents will be served from.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let anchor = entity(&format!("{base}/ta"));
    let intermediate = entity(&format!("{base}/int"));
    let client = entity("https://rp.fed.example");
    let op = entity("https://op.fed.example");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let valid = |mut claims: Value| {
        claims["iat"] = json!(now - 60);
        claims["exp"] = json!(now + 3600);
        claims
    };
    let mut documents = std::collections::HashMap::new();
    for (authority, hints, subject) in [
        (&intermediate, vec![anchor.id.clone()], &client),
        (&anchor, vec![], &intermediate),
    ] {
        let path = authority.id.trim_start_matches(&base).to_owned();
        let configuration = valid(about(
            authority,
            authority,
            json!({
                "authority_hints": hints,
                "metadata": { "federation_entity": {
                    "federation_fetch_endpoint": format!("{}/fetch", authority.id)
                }},
            }),
        ));
        documents.insert(
            format!("{path}/.well-known/openid-federation"),
            sign(authority, &configuration),
        );
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sub", &subject.id)
            .finish();
        documents.insert(
            format!("{path}/fetch?{query}"),
            sign(authority, &valid(about(authority, subject, json!({})))),
        );
    }
    serve_federation(listener, documents);

    let (server, dir) =
        federated_server(&op, &anchor, &["--dangerously-allow-http-loopback-fetch"]).await;
    let configuration = sign(
        &client,
        &valid(about(
            &client,
            &client,
            json!({
                "aud": op.id,
                "authority_hints": [intermediate.id],
                "metadata": { "openid_relying_party": {
                    "redirect_uris": ["https://rp.fed.example/cb"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": client.jwks,
                }},
            }),
        )),
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = http
        .post(server.url("/register"))
        .header(CONTENT_TYPE, "application/entity-statement+jwt")
        .body(configuration)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let jwt = response.text().await.unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["sub"], client.id);
    assert_eq!(claims["trust_anchor"], anchor.id);
    assert_eq!(claims["authority_hints"], json!([intermediate.id]));
    let _ = std::fs::remove_dir_all(&dir);
}
