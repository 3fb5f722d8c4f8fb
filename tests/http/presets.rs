//! `--profile`: the example server on each deployment preset, over real HTTP (issue 15, item 24),
//! and the development switch that lets its fetcher reach loopback.

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::data_path;
use crate::server::{Server, JSON};

async fn discovery(server: &Server) -> Value {
    let url = server.url("/.well-known/openid-configuration");
    server
        .send(
            "get /.well-known/openid-configuration",
            server.http.get(url),
        )
        .await
        .json
}

/// README "Walkthrough: FAPI 2.0 (a native app)".
#[tokio::test]
async fn a_fapi2_native_app_registers_over_http_with_profile_fapi2() {
    let server = Server::start(&["--profile", "fapi2"]).await;
    let metadata = discovery(&server).await;
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!([
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth"
        ])
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));

    // curl -s …/register -H 'Content-Type: application/json' -d @tests/data/fapi2-native-app.json
    let app = std::fs::read_to_string(data_path("fapi2-native-app.json")).unwrap();
    let reply = server.register(&app, None).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.json);
    assert_eq!(
        reply.json["redirect_uris"],
        json!(["http://127.0.0.1/cb", "com.example.app:/cb"])
    );
    assert_eq!(reply.json["application_type"], "native");
    assert_eq!(reply.json["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(reply.json["require_pushed_authorization_requests"], true);
    assert_eq!(reply.json["dpop_bound_access_tokens"], true);
    assert!(reply.json.get("client_secret").is_none(), "no secret");
    let client_id = reply.str("client_id").to_owned();
    let token = reply.str("registration_access_token").to_owned();

    // The same app with a client secret: FAPI 2.0 §5.3.2.1 allows only asymmetric methods.
    let mut secret: Value = serde_json::from_str(&app).unwrap();
    secret["token_endpoint_auth_method"] = json!("client_secret_basic");
    let refused = server.register(&secret.to_string(), None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error(), "invalid_client_metadata");
    assert_eq!(
        refused.json["error_description"],
        "token_endpoint_auth_method `client_secret_basic` is not supported"
    );
    // A private-use scheme without a dot: RFC 8252 §7.1, the ordinary native rule.
    let mut no_dot: Value = serde_json::from_str(&app).unwrap();
    no_dot["redirect_uris"] = json!(["myapp:/cb"]);
    let refused = server.register(&no_dot.to_string(), None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error(), "invalid_redirect_uri");
    assert_eq!(
        refused.json["error_description"],
        "redirect_uris: `myapp:/cb` uses the private-use scheme `myapp`, which is not in reverse \
         domain form (RFC 8252 §7.1)"
    );

    // The registration reads back as registered.
    let read = server
        .read(&server.url(&format!("/register/{client_id}")), &token)
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json["dpop_bound_access_tokens"], true);
}

#[tokio::test]
async fn each_profile_flag_runs_its_preset() {
    // OpenID Connect Dynamic: six response types, unsigned request objects.
    let oidc = Server::start(&["--profile", "oidc-dynamic"]).await;
    assert_eq!(
        discovery(&oidc).await["response_types_supported"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    let reply = oidc
        .register(
            r#"{"redirect_uris":["https://app.example/cb"],"request_object_signing_alg":"none"}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.json);

    // MCP: a public client on loopback.
    let mcp = Server::start(&["--profile", "mcp"]).await;
    let reply = mcp
        .register(
            r#"{"client_name":"Agent","redirect_uris":["http://127.0.0.1:53682/callback"]}"#,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.json);
    assert_eq!(reply.json["token_endpoint_auth_method"], "none");

    // Without a preset, the same FAPI client gets the crate's defaults (no PAR forced).
    let plain = Server::start(&[]).await;
    let app = std::fs::read_to_string(data_path("fapi2-native-app.json")).unwrap();
    let mut app: Value = serde_json::from_str(&app).unwrap();
    app["require_pushed_authorization_requests"] = json!(false);
    let reply = plain.register(&app.to_string(), None).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.json);
    assert_ne!(reply.json["require_pushed_authorization_requests"], true);
    let fapi = Server::start(&["--profile", "fapi2"]).await;
    let reply = fapi.register(&app.to_string(), None).await;
    assert_eq!(reply.json["require_pushed_authorization_requests"], true);
}

#[tokio::test]
async fn uk_open_banking_runs_on_the_directory_keys_and_refuses_plain_json() {
    let jwks = data_path("keys/issuer.jwks.json");
    let directory = format!("OpenBanking Ltd={jwks}");
    let server = Server::start(&[
        "--profile",
        "uk-open-banking",
        "--trust-issuer",
        &directory,
        "--signed-request-jwks",
        &jwks,
    ])
    .await;
    let metadata = discovery(&server).await;
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt", "tls_client_auth"])
    );
    let reply = server
        .send(
            "post /register",
            server
                .http
                .post(server.url("/register"))
                .header(CONTENT_TYPE, JSON)
                .body(r#"{"redirect_uris":["https://tpp.example/cb"]}"#),
        )
        .await;
    assert!(reply.status.is_client_error(), "{:#}", reply.json);
}

/// Counts the TCP connections made to a loopback port.
#[cfg(feature = "fetch")]
async fn connection_counter() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, count)
}

#[cfg(feature = "fetch")]
#[tokio::test]
async fn the_loopback_fetch_switch_lets_the_fetcher_reach_loopback_and_only_it() {
    use std::sync::atomic::Ordering;
    let (port, connections) = connection_counter().await;
    let resolve = |server: &Server| {
        let client_id = format!("https://127.0.0.1:{port}/client.json");
        server.url(&format!("/clients/resolve?client_id={client_id}"))
    };
    // Off (the default): the fetcher refuses the loopback address without connecting.
    let safe = Server::start(&["--metadata-documents"]).await;
    let reply = safe
        .send("get /clients/resolve", safe.http.get(resolve(&safe)))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no connection made");
    // On: the fetcher connects (the local server here speaks no TLS, so the fetch still fails).
    let dev = Server::start(&[
        "--metadata-documents",
        "--dangerously-allow-http-loopback-fetch",
    ])
    .await;
    let reply = dev
        .send("get /clients/resolve", dev.http.get(resolve(&dev)))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        connections.load(Ordering::SeqCst) >= 1,
        "the fetcher connected"
    );
}
