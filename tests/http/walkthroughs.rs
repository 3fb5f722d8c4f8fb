//! The two README walkthroughs, step by step, asserting what README shows.

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::json;

use crate::server::{Reply, Server, BOOTSTRAP, JSON};

const CLIENT_CREDENTIALS_CLIENT: &str = r#"{"grant_types":["client_credentials"],"scope":"openid profile","redirect_uris":["https://tmp.com"]}"#;

/// The request bodies README shows match the description.
#[test]
fn walkthrough_requests_match_the_description() {
    let spec = crate::openapi::spec();
    for body in [CLIENT_CREDENTIALS_CLIENT, WEB_CLIENT] {
        let json = serde_json::from_str(body).expect("JSON");
        spec.check_request("post /register", JSON, &json)
            .expect("matches examples/openapi.yaml");
    }
    let token = json!({"grant_type": "client_credentials", "scope": "register"});
    spec.check_request("post /token", crate::server::FORM, &token)
        .expect("matches examples/openapi.yaml");
}

const WEB_CLIENT: &str =
    r#"{"redirect_uris":["https://client.example/callback"],"client_name":"My Web App"}"#;

/// README "Walkthrough: initial access token".
#[tokio::test]
async fn initial_access_token() {
    let server = Server::start(&BOOTSTRAP).await;

    // curl -s -u registerClient:password -d grant_type=client_credentials -d scope=register …/token
    let token = server
        .token(
            "grant_type=client_credentials&scope=register",
            Some(("registerClient", "password")),
        )
        .await;
    assert_eq!(token.status, StatusCode::OK);
    assert_eq!(token.str("token_type"), "Bearer");
    assert_eq!(token.json["expires_in"], 300);
    assert_eq!(token.str("scope"), "register");
    assert_eq!(token.str("access_token").len(), 43, "256 bits, base64url");
    assert_eq!(token.header("cache-control"), "no-store");
    let access_token = token.str("access_token");

    // Without the token: 401 with a bare Bearer challenge, no error code (RFC 6750 §3.1).
    let refused = server.register(CLIENT_CREDENTIALS_CLIENT, None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.error(), "invalid_request");
    assert_eq!(refused.header("www-authenticate"), "Bearer");
    assert_eq!(
        refused.json["error_description"],
        "registration requires an initial access token as a bearer token in the Authorization \
         header"
    );
    // With a token we did not issue: 401 invalid_token.
    let unknown = server
        .register(CLIENT_CREDENTIALS_CLIENT, Some("not-a-token-we-issued"))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.error(), "invalid_token");
    assert_eq!(
        unknown.header("www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(
        unknown.json["error_description"],
        "a valid initial access token is required to register"
    );

    // curl -s …/register -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '…'
    let client = server
        .register(CLIENT_CREDENTIALS_CLIENT, Some(access_token))
        .await;
    assert_eq!(client.status, StatusCode::CREATED, "{:#}", client.json);
    let client_id = client.str("client_id");
    assert!(!client.str("client_secret").is_empty());
    assert_eq!(client.json["client_secret_expires_at"], 0);
    assert!(!client.str("registration_access_token").is_empty());
    assert_eq!(
        client.str("registration_client_uri"),
        server.url(&format!("/register/{client_id}"))
    );
    assert_eq!(client.json["grant_types"], json!(["client_credentials"]));
    assert_eq!(client.str("scope"), "openid profile");
    assert_eq!(client.json["redirect_uris"], json!(["https://tmp.com"]));
    assert_eq!(
        client.str("token_endpoint_auth_method"),
        "client_secret_basic"
    );
    assert_eq!(client.header("cache-control"), "no-store");

    // The token is not single-use: it registers another client until it expires.
    let again = server
        .register(CLIENT_CREDENTIALS_CLIENT, Some(access_token))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_ne!(again.str("client_id"), client_id);
}

/// A token without the required scope answers 403 `insufficient_scope`.
#[tokio::test]
async fn token_without_the_required_scope() {
    let server = Server::start(&[
        "--bootstrap-client",
        "registerClient:password",
        "--require-initial-token",
        "admin",
    ])
    .await;
    let basic = Some(("registerClient", "password"));
    let register_only = server
        .token("grant_type=client_credentials&scope=register", basic)
        .await;
    assert_eq!(register_only.str("scope"), "register");

    let refused = server
        .register(
            CLIENT_CREDENTIALS_CLIENT,
            Some(register_only.str("access_token")),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error(), "insufficient_scope");
    assert_eq!(
        refused.json["error_description"],
        "the initial access token lacks the scope `admin`"
    );
    assert_eq!(
        refused.header("www-authenticate"),
        r#"Bearer error="insufficient_scope", scope="admin""#
    );

    // Without `scope` the token gets the required one.
    let admin = server.token("grant_type=client_credentials", basic).await;
    assert_eq!(admin.str("scope"), "admin");
    let client = server
        .register(CLIENT_CREDENTIALS_CLIENT, Some(admin.str("access_token")))
        .await;
    assert_eq!(client.status, StatusCode::CREATED);
}

/// README "Walkthrough: register, read, update, delete".
#[tokio::test]
async fn register_read_update_delete() {
    register_read_update_delete_on(&Server::start(&[]).await).await;
}

/// The same walkthrough with `--store postgres://…` (with `--features postgres` and
/// `DATABASE_URL`; skipped without them, except under `CI=true`).
#[cfg(feature = "postgres")]
#[tokio::test]
async fn register_read_update_delete_on_postgres() {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(!in_ci, "CI=true but DATABASE_URL is not set");
        eprintln!("skipping: set DATABASE_URL=postgres://… to run the walkthrough on PostgreSQL");
        return;
    };
    match Server::try_start(&["--store", &url]).await {
        Ok(server) => register_read_update_delete_on(&server).await,
        Err(e) if !in_ci => eprintln!("skipping: {e}"),
        Err(e) => panic!("CI=true but the database is unreachable: {e}"),
    }
}

async fn register_read_update_delete_on(server: &Server) {
    let endpoint = discover_the_endpoint(server).await;
    let (client_id, uri, first_token) = register_the_web_app(server, &endpoint).await;
    let read = read_with_rotation(server, &uri, &client_id, &first_token).await;
    let third_token = update_by_sending_back(server, &uri, &client_id, &read).await;
    delete_until_gone(server, &uri, &third_token).await;
}

/// Discovery names the registration endpoint.
async fn discover_the_endpoint(server: &Server) -> String {
    // curl -s http://127.0.0.1:8080/.well-known/openid-configuration
    let discovery = server
        .send(
            "get /.well-known/openid-configuration",
            server
                .http
                .get(server.url("/.well-known/openid-configuration")),
        )
        .await;
    assert_eq!(discovery.status, StatusCode::OK);
    assert_eq!(discovery.str("issuer"), server.base);
    let endpoint = discovery.str("registration_endpoint").to_owned();
    assert_eq!(endpoint, server.url("/register"));
    endpoint
}

/// Registers README's web app: its client id, its client URI and its first token.
async fn register_the_web_app(server: &Server, endpoint: &str) -> (String, String, String) {
    // curl -s $ENDPOINT -H 'Content-Type: application/json' -d '{…"client_name":"My Web App"}'
    let created = server
        .send(
            "post /register",
            server
                .http
                .post(endpoint)
                .header(CONTENT_TYPE, JSON)
                .body(WEB_CLIENT),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
    assert_eq!(created.str("client_name"), "My Web App");
    assert_eq!(
        created.json["redirect_uris"],
        json!(["https://client.example/callback"])
    );
    assert_eq!(created.json["grant_types"], json!(["authorization_code"]));
    assert_eq!(created.json["response_types"], json!(["code"]));
    assert_eq!(
        created.str("token_endpoint_auth_method"),
        "client_secret_basic"
    );
    assert_eq!(created.str("application_type"), "web");
    assert!(!created.str("client_secret").is_empty());
    assert_eq!(created.json["client_secret_expires_at"], 0);
    let expires_in = created.json["registration_access_token_expires_in"].as_i64();
    let thirty_days = 30 * 24 * 3600;
    assert!(expires_in.is_some_and(|s| s > thirty_days - 3600 && s <= thirty_days));
    let client_id = created.str("client_id").to_owned();
    let uri = created.str("registration_client_uri").to_owned();
    assert_eq!(uri, format!("{endpoint}/{client_id}"));
    let first_token = created.str("registration_access_token").to_owned();
    (client_id, uri, first_token)
}

/// A read answers 200 with a new token (the walkthrough does not present the old one again:
/// that is the reuse walkthrough, [`a_replayed_token_revokes_the_client`]).
async fn read_with_rotation(
    server: &Server,
    uri: &str,
    client_id: &str,
    first_token: &str,
) -> Reply {
    // curl -s $URI -H "Authorization: Bearer $RAT": 200, and a new token.
    let read = server
        .send(
            "get /register/{client_id}",
            server.http.get(uri).bearer_auth(first_token),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.str("client_id"), client_id);
    assert_eq!(read.str("client_name"), "My Web App");
    assert!(
        read.json.get("client_secret").is_none(),
        "hashed secrets are not returned"
    );
    let second_token = read.str("registration_access_token").to_owned();
    assert_ne!(second_token, first_token, "the token rotates on read");
    read
}

/// What the read returned, sent back with one change, updates the client; returns the new token.
async fn update_by_sending_back(
    server: &Server,
    uri: &str,
    client_id: &str,
    read: &Reply,
) -> String {
    let second_token = read.str("registration_access_token");
    // echo "$READ" | jq 'del(.registration_access_token, .registration_client_uri,
    //   .client_secret_expires_at, .client_id_issued_at) | .client_name = "My Renamed App"' |
    //   curl -s -X PUT $URI -H "Authorization: Bearer $RAT" -d @-
    // What the read returned, sent back with one change (RFC 7592 §2.2).
    let mut update = read.json.clone();
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        update.as_object_mut().expect("an object").remove(member);
    }
    update["client_name"] = json!("My Renamed App");
    crate::openapi::spec()
        .check_request("put /register/{client_id}", JSON, &update)
        .expect("the update matches examples/openapi.yaml");
    let updated = server
        .send(
            "put /register/{client_id}",
            server
                .http
                .put(uri)
                .bearer_auth(second_token)
                .header(CONTENT_TYPE, JSON)
                .body(update.to_string()),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:#}", updated.json);
    assert_eq!(updated.str("client_id"), client_id);
    assert_eq!(updated.str("client_name"), "My Renamed App");
    for unchanged in ["redirect_uris", "grant_types", "token_endpoint_auth_method"] {
        assert_eq!(updated.json[unchanged], read.json[unchanged], "{unchanged}");
    }
    let third_token = updated.str("registration_access_token").to_owned();
    assert_ne!(third_token, second_token, "the token rotates on update");
    third_token
}

/// Delete answers 204 without a body; the same token then answers 401.
async fn delete_until_gone(server: &Server, uri: &str, third_token: &str) {
    // curl -s -i -X DELETE $URI -H "Authorization: Bearer $RAT": 204 without a body.
    let deleted = server
        .send(
            "delete /register/{client_id}",
            server.http.delete(uri).bearer_auth(third_token),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.json.is_null());

    // Gone: the same token now answers 401.
    let gone = server
        .send(
            "get /register/{client_id}",
            server.http.get(uri).bearer_auth(third_token),
        )
        .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    assert_eq!(gone.error(), "invalid_token");
}

/// `--no-rotate-on-read` keeps the token on read; updates still rotate it.
#[tokio::test]
async fn no_rotate_on_read() {
    let server = Server::start(&["--no-rotate-on-read"]).await;
    let created = server
        .register(
            r#"{"redirect_uris":["https://client.example/callback"]}"#,
            None,
        )
        .await;
    let uri = created.str("registration_client_uri").to_owned();
    let token = created.str("registration_access_token").to_owned();
    for _ in 0..2 {
        let read = server
            .send(
                "get /register/{client_id}",
                server.http.get(&uri).bearer_auth(&token),
            )
            .await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.str("registration_access_token"), token);
    }
    let update = json!({
        "client_id": created.str("client_id"),
        "redirect_uris": ["https://client.example/callback"],
    });
    let updated = server
        .send(
            "put /register/{client_id}",
            server
                .http
                .put(&uri)
                .bearer_auth(&token)
                .header(CONTENT_TYPE, JSON)
                .body(update.to_string()),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_ne!(updated.str("registration_access_token"), token);
}

/// README "Walkthrough: a replayed token", on the crate's default (reuse detection on): the
/// rotated-away token is refused, and the client's current token is revoked with it; the
/// support path (`--admin-token`) then gives the client a new one, which manages it.
#[tokio::test]
async fn a_replayed_token_revokes_the_client() {
    // openssl rand -base64 16 > admin-token
    // cargo run --example server -- --admin-token "$(cat admin-token)"
    let admin_token = "q0VHLr1mF8zY3cJd2XkP+w==";
    let server = Server::start(&["--admin-token", admin_token]).await;
    let endpoint = discover_the_endpoint(&server).await;
    let (client_id, uri, first_token) = register_the_web_app(&server, &endpoint).await;
    let read = read_with_rotation(&server, &uri, &client_id, &first_token).await;
    let second_token = read.str("registration_access_token");

    // curl -s -i $URI -H "Authorization: Bearer $OLD_RAT": 401.
    let replayed = server
        .send(
            "get /register/{client_id}",
            server.http.get(&uri).bearer_auth(&first_token),
        )
        .await;
    assert_invalid_token(&replayed);

    // The current token, which worked a moment ago, is revoked too: whoever replayed the old
    // one may hold it. Reads and updates with it answer 401.
    let current = server
        .send(
            "get /register/{client_id}",
            server.http.get(&uri).bearer_auth(second_token),
        )
        .await;
    assert_invalid_token(&current);
    let mut update = read.json.clone();
    update["client_name"] = json!("My Renamed App");
    let update = server
        .send(
            "put /register/{client_id}",
            server
                .http
                .put(&uri)
                .bearer_auth(second_token)
                .header(CONTENT_TYPE, JSON)
                .body(update.to_string()),
        )
        .await;
    assert_invalid_token(&update);

    // The support path: curl -s -X POST …/admin/clients/$CLIENT_ID/registration-token
    //   -H "Authorization: Bearer $(cat admin-token)": 200, the client information with a new
    // token.
    let reissued = server
        .send(
            "post /admin/clients/{client_id}/registration-token",
            server
                .http
                .post(server.url(&format!("/admin/clients/{client_id}/registration-token")))
                .bearer_auth(admin_token),
        )
        .await;
    assert_eq!(reissued.status, StatusCode::OK, "{:#}", reissued.json);
    assert_eq!(reissued.str("client_id"), client_id);
    assert_eq!(reissued.str("client_name"), "My Web App");
    assert_eq!(reissued.str("registration_client_uri"), uri);
    let fresh = reissued.str("registration_access_token");
    assert!(![first_token.as_str(), second_token].contains(&fresh));

    // curl -s -o /dev/null -w '%{http_code}\n' "$URI" -H "Authorization: Bearer $RAT": 200.
    let read = server
        .send(
            "get /register/{client_id}",
            server.http.get(&uri).bearer_auth(fresh),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.json);
    // The revoked token stays revoked.
    let revoked = server
        .send(
            "get /register/{client_id}",
            server.http.get(&uri).bearer_auth(second_token),
        )
        .await;
    assert_invalid_token(&revoked);
}

/// With `--no-detect-token-reuse` the rotated-away token is refused and nothing else happens:
/// the current token keeps working.
#[tokio::test]
async fn without_reuse_detection_a_replayed_token_is_only_refused() {
    let server = Server::start(&["--no-detect-token-reuse"]).await;
    let endpoint = discover_the_endpoint(&server).await;
    let (client_id, uri, first_token) = register_the_web_app(&server, &endpoint).await;
    let read = read_with_rotation(&server, &uri, &client_id, &first_token).await;
    let replayed = server
        .send(
            "get /register/{client_id}",
            server.http.get(&uri).bearer_auth(&first_token),
        )
        .await;
    assert_invalid_token(&replayed);
    let current = server
        .send(
            "get /register/{client_id}",
            server
                .http
                .get(&uri)
                .bearer_auth(read.str("registration_access_token")),
        )
        .await;
    assert_eq!(current.status, StatusCode::OK, "{:#}", current.json);
}

#[track_caller]
fn assert_invalid_token(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:#}", reply.json);
    assert_eq!(reply.error(), "invalid_token");
    assert_eq!(
        reply.header("www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(
        reply.json["error_description"],
        "the registration access token is not valid"
    );
}
