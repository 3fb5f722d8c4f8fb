//! Client management (RFC 7592): read, update and delete with the registration access token;
//! rotation, expiry and revocation of the token; every bad token answering the same 401; clients
//! created by administrators; concurrency; cache headers; store failures.

mod common;
use common::Bytes;

use common::{
    assert_error, assert_invalid_token, assert_no_store, bearer, created, data_json,
    failing_server, policy, secret, token, web_client, HostTokens, Reply, Server, ENDPOINT, START,
};
use std::sync::{Arc, Mutex};

use oauth_dcr::events::{HookContext, Operation, RegistrationHook};
use oauth_dcr::initial_tokens::InitialAccessGrant;
use oauth_dcr::profiles::Profile;
use oauth_dcr::store::ClientCount;
use oauth_dcr::store::{Origin, SecretHash, StoredToken};
use oauth_dcr::{
    ClientMetadata, ClientRecord, ClientStore, GrantType, MemoryStore, RedirectUri,
    RegistrationAccessToken, RegistrationError, RegistrationResponse, RequestContext,
};
use serde_json::{json, Value};
use time::Duration;

const THIRTY_DAYS: i64 = 30 * 24 * 60 * 60;

/// A server with one registered web client.
async fn registered() -> (Server, RegistrationResponse) {
    let server = Server::new();
    let client = server.register(&web_client()).await;
    (server, client)
}

/// An update body for `client`: its `client_id` and the given metadata.
fn update_body(client_id: &str, metadata: Value) -> Value {
    let mut body = metadata;
    body["client_id"] = json!(client_id);
    body
}

// ---- read ----

#[tokio::test]
async fn read_returns_the_current_metadata_and_a_new_token() {
    let (server, client) = registered().await;
    let read = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();

    assert_eq!(read.client_id, client.client_id);
    assert_eq!(read.metadata, client.metadata);
    assert_eq!(read.registration_client_uri, client.registration_client_uri);
    assert_eq!(read.client_id_issued_at, client.client_id_issued_at);
    assert_ne!(token(&read), token(&client));
    let stored = server.record(&client.client_id).await;
    assert_eq!(
        stored.registration_token.unwrap().hash,
        RegistrationAccessToken::new(token(&read)).hash()
    );
}

#[tokio::test]
async fn reading_a_client_twice_the_first_token_stops_working_after_the_rotation() {
    let (server, client) = registered().await;
    let first = token(&client);

    let read = server.read(&client.client_id, Some(&first)).await.unwrap();
    let second = token(&read);
    assert_ne!(first, second);

    let err = server
        .read(&client.client_id, Some(&first))
        .await
        .unwrap_err();
    assert_invalid_token(err);
    let again = server.read(&client.client_id, Some(&second)).await.unwrap();
    assert_eq!(again.metadata, client.metadata);
}

#[tokio::test]
async fn without_rotation_on_read_the_same_token_keeps_working() {
    let mut policy = policy();
    policy.rotate_on_read = false;
    let server = Server::with_policy(policy);
    let client = server.register(&web_client()).await;
    let presented = token(&client);
    for _ in 0..3 {
        let read = server
            .read(&client.client_id, Some(&presented))
            .await
            .unwrap();
        assert_eq!(token(&read), presented);
    }
}

#[tokio::test]
async fn a_read_renews_the_token_and_its_expiry() {
    let (server, client) = registered().await;
    server.clock.advance(Duration::days(20));
    let read = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    assert_eq!(read.registration_access_token_expires_in, Some(THIRTY_DAYS));
    // 40 days after registration, the token of the read 20 days in still works.
    server.clock.advance(Duration::days(20));
    let again = server.read(&client.client_id, Some(&token(&read))).await;
    assert!(again.is_ok());
}

#[tokio::test]
async fn the_token_expires_after_30_days_by_default() {
    let (server, client) = registered().await;
    let presented = token(&client);
    server.clock.advance(Duration::days(30));
    let err = server
        .read(&client.client_id, Some(&presented))
        .await
        .unwrap_err();
    assert_invalid_token(err);
    // Expiry locks the client out of its registration; it does not delete it.
    assert!(server.store.get(&client.client_id).await.unwrap().is_some());
}

#[tokio::test]
async fn the_token_still_works_one_second_before_it_expires() {
    let (server, client) = registered().await;
    server
        .clock
        .advance(Duration::days(30) - Duration::seconds(1));
    let read = server.read(&client.client_id, Some(&token(&client))).await;
    assert!(read.is_ok());
}

#[tokio::test]
async fn token_expiry_can_be_turned_off() {
    let mut policy = policy();
    policy.registration_token_lifetime = None;
    policy.rotate_on_read = false;
    let server = Server::with_policy(policy);
    let client = server.register(&web_client()).await;
    server.clock.advance(Duration::days(3650));
    let read = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    assert_eq!(read.registration_access_token_expires_in, None);
}

#[tokio::test]
async fn a_read_never_returns_a_hashed_secret_but_returns_a_retrievable_one() {
    let (server, client) = registered().await;
    let read = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    assert!(read.client_secret.is_none());
    let reply = Reply::of(read);
    assert!(reply.json.get("client_secret").is_none());
    assert_eq!(reply.json["client_secret_expires_at"], 0);

    let mut jwt = web_client();
    jwt["token_endpoint_auth_method"] = json!("client_secret_jwt");
    let client = server.register(&jwt).await;
    let read = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    assert_eq!(
        read.client_secret.as_ref().map(|s| s.secret()),
        Some(secret(&client).as_str())
    );
}

#[tokio::test]
async fn read_and_update_responses_carry_every_member_rfc_7592_requires() {
    let (server, client) = registered().await;
    let read = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    let read_token = token(&read);
    let body = update_body(&client.client_id, web_client());
    let updated = server
        .update(&client.client_id, Some(&read_token), &body)
        .await
        .unwrap();
    for reply in [Reply::of(read), Reply::of(updated)] {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_no_store(&reply);
        assert_eq!(reply.json["client_id"], client.client_id.as_str());
        assert_eq!(
            reply.json["registration_client_uri"],
            client.registration_client_uri.as_str()
        );
        assert!(reply.json["registration_access_token"].is_string());
        assert_eq!(reply.json["client_id_issued_at"], START);
        assert_eq!(reply.json["client_secret_expires_at"], 0);
        assert_eq!(
            reply.json["registration_access_token_expires_in"],
            THIRTY_DAYS
        );
        for member in [
            "redirect_uris",
            "grant_types",
            "response_types",
            "token_endpoint_auth_method",
        ] {
            assert!(reply.json.get(member).is_some(), "{member}: {}", reply.json);
        }
    }
}

// ---- update ----

#[tokio::test]
async fn an_update_replaces_the_whole_metadata() {
    let server = Server::new();
    let client = server
        .register(&json!({
            "redirect_uris": ["https://app.example/cb"],
            "client_name": "App",
            "client_name#fr": "Appli",
            "logo_uri": "https://app.example/logo.png",
            "contacts": ["ops@app.example"],
            "scope": "openid profile",
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_post",
        }))
        .await;
    let body = update_body(
        &client.client_id,
        json!({ "redirect_uris": ["https://app.example/new-cb"] }),
    );
    let updated = server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap();
    let reply = Reply::of(updated.clone());
    for gone in [
        "client_name",
        "client_name#fr",
        "logo_uri",
        "contacts",
        "scope",
    ] {
        assert!(
            reply.json.get(gone).is_none(),
            "{gone} kept: {}",
            reply.json
        );
    }
    // Omitted members return to their defaults.
    assert_eq!(reply.json["grant_types"], json!(["authorization_code"]));
    assert_eq!(
        reply.json["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(
        reply.json["redirect_uris"],
        json!(["https://app.example/new-cb"])
    );
    let stored = server.record(&client.client_id).await;
    assert_eq!(stored.metadata, updated.metadata);
    assert_eq!(
        stored.metadata.redirect_uris,
        Some(vec![RedirectUri::new("https://app.example/new-cb")])
    );
    assert_eq!(
        stored.metadata.grant_types,
        Some(vec![GrantType::AuthorizationCode])
    );
}

#[tokio::test]
async fn an_update_rotates_the_token() {
    let (server, client) = registered().await;
    let body = update_body(&client.client_id, web_client());
    let updated = server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap();
    assert_ne!(token(&updated), token(&client));
    let err = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap_err();
    assert_invalid_token(err);
    assert!(server
        .read(&client.client_id, Some(&token(&updated)))
        .await
        .is_ok());
}

#[tokio::test]
async fn without_rotation_on_update_the_same_token_keeps_working() {
    let mut policy = policy();
    policy.rotate_on_update = false;
    let server = Server::with_policy(policy);
    let client = server.register(&web_client()).await;
    let presented = token(&client);
    let body = update_body(&client.client_id, web_client());
    let updated = server
        .update(&client.client_id, Some(&presented), &body)
        .await
        .unwrap();
    assert_eq!(token(&updated), presented);
    assert!(server
        .update(&client.client_id, Some(&presented), &body)
        .await
        .is_ok());
}

#[tokio::test]
async fn an_update_keeps_the_client_secret_and_the_creation_time() {
    let (server, client) = registered().await;
    server.clock.advance(Duration::hours(1));
    let mut metadata = web_client();
    metadata["client_name"] = json!("Renamed");
    let body = update_body(&client.client_id, metadata);
    let updated = server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap();
    // A hashed secret is never shown again, and still verifies.
    assert!(updated.client_secret.is_none());
    assert_eq!(updated.client_id_issued_at, START);
    let stored = server.record(&client.client_id).await;
    assert!(stored.verify_secret(&secret(&client), server.time()));
    assert_eq!(stored.created_at.unix_timestamp(), START);
    assert_eq!(stored.updated_at, server.time());
}

#[tokio::test]
async fn an_update_must_carry_the_matching_client_id() {
    let (server, client) = registered().await;
    let mut without = web_client();
    without["client_name"] = json!("Renamed");
    let mut other = without.clone();
    other["client_id"] = json!("someone-else");
    let mut number = without.clone();
    number["client_id"] = json!(42);
    let mut case = without.clone();
    case["client_id"] = json!(client.client_id.to_uppercase());

    let before = server.record(&client.client_id).await;
    for body in [without, other, number, case] {
        let err = server
            .update(&client.client_id, Some(&token(&client)), &body)
            .await
            .unwrap_err();
        let reply = assert_error(err, 400, "invalid_request");
        assert!(reply.description().contains("client_id"), "{}", reply.json);
        assert_eq!(server.record(&client.client_id).await, before, "{body}");
    }
    assert!(server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_client_secret_in_an_update_must_equal_the_current_one() {
    let (server, client) = registered().await;
    let before = server.record(&client.client_id).await;
    let mut body = update_body(&client.client_id, web_client());
    body["client_name"] = json!("Renamed");
    for wrong in [json!("my-own-chosen-secret"), json!(""), json!(7)] {
        body["client_secret"] = wrong;
        let err = server
            .update(&client.client_id, Some(&token(&client)), &body)
            .await
            .unwrap_err();
        let reply = assert_error(err, 400, "invalid_request");
        assert!(
            reply.description().contains("client_secret"),
            "{}",
            reply.json
        );
        assert_eq!(server.record(&client.client_id).await, before);
    }

    body["client_secret"] = json!(secret(&client));
    let updated = server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap();
    assert_eq!(updated.metadata.client_name.as_deref(), Some("Renamed"));
    let stored = server.record(&client.client_id).await;
    assert!(stored.verify_secret(&secret(&client), server.time()));
}

/// RFC 7592 §2.2 puts "MUST NOT include" on the client, not the server: a client that sends back
/// what it was given (the four RFC members and `registration_access_token_expires_in` included)
/// is not refused, and none of these members changes anything.
#[tokio::test]
async fn an_update_ignores_the_members_the_server_owns() {
    let (server, client) = registered().await;
    let before = server.record(&client.client_id).await;
    let owned = [
        ("registration_access_token", json!("a-token-of-my-choosing")),
        ("registration_client_uri", json!("https://evil.example/reg")),
        ("client_id_issued_at", json!(1)),
        ("client_secret_expires_at", json!(1)),
        ("registration_access_token_expires_in", json!(99_999_999)),
    ];
    let mut presented = token(&client);
    for (member, value) in owned {
        let mut body = update_body(&client.client_id, web_client());
        body[member] = value;
        let updated = server
            .update(&client.client_id, Some(&presented), &body)
            .await
            .unwrap_or_else(|e| panic!("{member}: {e}"));
        presented = token(&updated);
        assert_ne!(presented, "a-token-of-my-choosing");
        assert_eq!(updated.client_id_issued_at, START, "{member}");
        assert_eq!(updated.client_secret_expires_at, Some(0), "{member}");
        assert_eq!(
            updated.registration_client_uri, client.registration_client_uri,
            "{member}"
        );
        assert_eq!(
            updated.registration_access_token_expires_in,
            Some(THIRTY_DAYS),
            "{member}"
        );
        let stored = server.record(&client.client_id).await;
        assert_eq!(stored.created_at, before.created_at, "{member}");
        assert_eq!(stored.secret, before.secret, "{member}");
        assert_eq!(
            stored.registration_token.unwrap().hash,
            RegistrationAccessToken::new(presented.clone()).hash(),
            "{member}"
        );
    }
}

/// The body of a send-back update: what `response` says on the wire, without the four members
/// RFC 7592 §2.2 tells the client to leave out.
fn send_back(response: &RegistrationResponse) -> Value {
    let mut body: Value = serde_json::from_slice(&response.to_json()).unwrap();
    let map = body.as_object_mut().unwrap();
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        map.remove(member);
    }
    body
}

#[tokio::test]
async fn a_client_can_update_by_sending_back_what_a_read_returned() {
    let mut policy = policy();
    policy.accepted_extensions.insert("x_tier".to_owned());
    let server = Server::with_policy(policy);
    let client = server
        .register(&json!({
            "redirect_uris": ["https://app.example/cb"],
            "client_name": "App",
            "client_name#fr": "Appli",
            "token_endpoint_auth_method": "client_secret_jwt",
            "x_tier": {"level": 2},
        }))
        .await;
    let read = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    let mut body = send_back(&read);
    assert!(body.get("registration_access_token_expires_in").is_some());
    assert!(
        body.get("client_secret").is_some(),
        "a retrievable secret is read back"
    );
    body["client_name"] = json!("Renamed");
    let updated = server
        .update(&client.client_id, Some(&token(&read)), &body)
        .await
        .unwrap_or_else(|e| panic!("the send-back update {body} is refused: {e}"));
    assert_eq!(updated.metadata.client_name.as_deref(), Some("Renamed"));
    let mut expected = read.metadata.clone();
    expected.client_name = Some("Renamed".to_owned());
    assert_eq!(updated.metadata, expected);
    assert_eq!(server.record(&client.client_id).await.metadata, expected);
}

/// The way a client library does it, over HTTP: GET the client, take the JSON it answered, drop
/// the four members RFC 7592 §2.2 names, change one member, PUT it back.
#[tokio::test]
async fn over_http_a_read_sent_back_with_one_change_updates_the_client() {
    let (server, client) = registered().await;
    let handle = |request: http::Request<Vec<u8>>| async {
        Reply::of(oauth_dcr::http::handle(&server.registrar, request, &RequestContext::new()).await)
    };
    let path = format!("/register/{}", client.client_id);
    let read = handle(
        http::Request::get(&path)
            .header("authorization", format!("Bearer {}", token(&client)))
            .body(Vec::new())
            .unwrap(),
    )
    .await;
    assert_eq!(read.status, 200, "{read:?}");
    let mut body = read.json.clone();
    let map = body.as_object_mut().unwrap();
    let next_token = map["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        map.remove(member);
    }
    map.insert("client_name".into(), json!("Renamed"));
    let put = |body: &Value, token: &str| {
        http::Request::put(&path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap())
            .unwrap()
    };
    let updated = handle(put(&body, &next_token)).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(updated.json["client_name"], "Renamed");
    assert_eq!(
        server
            .record(&client.client_id)
            .await
            .metadata
            .client_name
            .as_deref(),
        Some("Renamed")
    );

    // The same send-back with a bad redirect URI answers with the real error.
    let mut bad = body.clone();
    bad["redirect_uris"] = json!(["https://app.example/cb#fragment"]);
    let token = updated.json["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = handle(put(&bad, &token)).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.error(), "invalid_redirect_uri", "{refused:?}");
}

/// Every profile's defaults and forced values come back in a read; sent back, they are a valid
/// update that changes nothing.
#[tokio::test]
async fn under_every_profile_a_read_sent_back_is_an_update_that_changes_nothing() {
    let client_keys = data_json("keys/client.jwks.json");
    let cases = [
        (
            Profile::OidcDynamic,
            json!({ "redirect_uris": ["https://app.example/cb"], "scope": "openid" }),
        ),
        (
            Profile::Fapi2,
            json!({
                "redirect_uris": ["https://app.example/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": client_keys,
                "dpop_bound_access_tokens": true,
            }),
        ),
        (
            Profile::Mcp,
            json!({ "client_name": "Agent", "redirect_uris": ["http://127.0.0.1:53682/callback"] }),
        ),
    ];
    for (profile, body) in cases {
        let registrar = profile.registrar(ENDPOINT, Arc::new(MemoryStore::new()));
        let context = RequestContext::new();
        let client = registrar
            .register_bytes(&serde_json::to_vec(&body).unwrap(), &context)
            .await
            .unwrap_or_else(|e| panic!("{profile:?}: {e}"));
        let read = registrar
            .read(&client.client_id, Some(&token(&client)))
            .await
            .unwrap();
        let back = serde_json::to_vec(&send_back(&read)).unwrap();
        let updated = registrar
            .update_bytes(&client.client_id, Some(&token(&read)), &back, &context)
            .await
            .unwrap_or_else(|e| panic!("{profile:?}: the send-back is refused: {e}"));
        assert_eq!(updated.metadata, read.metadata, "{profile:?}");
    }
}

#[tokio::test]
async fn a_send_back_update_with_a_bad_redirect_uri_answers_invalid_redirect_uri() {
    let (server, client) = registered().await;
    let read = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    let before = server.record(&client.client_id).await;
    let mut body = send_back(&read);
    body["redirect_uris"] = json!(["javascript:alert(1)"]);
    let err = server
        .update(&client.client_id, Some(&token(&read)), &body)
        .await
        .unwrap_err();
    assert_error(err, 400, "invalid_redirect_uri");
    assert_eq!(server.record(&client.client_id).await, before);
}

#[tokio::test]
async fn a_refused_update_leaves_the_stored_client_exactly_as_it_was() {
    let server = Server::new();
    let client = server
        .register(&json!({
            "redirect_uris": ["https://app.example/cb"],
            "client_name": "App",
        }))
        .await;
    let before = server.record(&client.client_id).await;
    server.clock.advance(Duration::minutes(5));
    let refusals = [
        (
            json!({ "redirect_uris": ["javascript:alert(1)"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://evil.example/cb#x"], "client_name": "Evil" }),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({ "redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://app.example/cb"], "logo_uri": "http://app.example/logo.png" }),
            "invalid_client_metadata",
        ),
    ];
    for (metadata, code) in refusals {
        let body = update_body(&client.client_id, metadata.clone());
        let err = server
            .update(&client.client_id, Some(&token(&client)), &body)
            .await
            .unwrap_err();
        assert_error(err, 400, code);
        assert_eq!(server.record(&client.client_id).await, before, "{metadata}");
    }
    let err = server
        .registrar
        .update_bytes(
            &client.client_id,
            Some(&token(&client)),
            b"not json",
            &RequestContext::new(),
        )
        .await
        .unwrap_err();
    assert_error(err, 400, "invalid_request");
    assert_eq!(server.record(&client.client_id).await, before);
    // The token of the refused updates still works.
    assert!(server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .is_ok());
}

// ---- delete ----

#[tokio::test]
async fn delete_removes_the_client_and_its_token() {
    let (server, client) = registered().await;
    let presented = token(&client);
    server
        .delete(&client.client_id, Some(&presented))
        .await
        .unwrap();

    assert!(server.store.get(&client.client_id).await.unwrap().is_none());
    assert!(server
        .store
        .find_by_registration_token(&SecretHash::of(&presented))
        .await
        .unwrap()
        .is_none());
    assert_invalid_token(
        server
            .read(&client.client_id, Some(&presented))
            .await
            .unwrap_err(),
    );
    assert_invalid_token(
        server
            .delete(&client.client_id, Some(&presented))
            .await
            .unwrap_err(),
    );
}

// ---- bad tokens ----

/// The ways a token can be bad.
#[derive(Debug, Clone, Copy)]
enum BadToken {
    Missing,
    Empty,
    Wrong,
    Expired,
    RotatedAway,
    UnknownClient,
}

#[derive(Debug, Clone, Copy)]
enum Call {
    Read,
    Update,
    Delete,
}

/// Makes `call` with a `bad` token on a fresh server and returns the error, checking that the
/// client was not changed.
async fn with_bad_token(bad: BadToken, call: Call) -> RegistrationError {
    let (server, client) = registered().await;
    let mut client_id = client.client_id.clone();
    let presented = match bad {
        BadToken::Missing => None,
        BadToken::Empty => Some(String::new()),
        BadToken::Wrong => Some(
            RegistrationAccessToken::new("x".repeat(43))
                .secret()
                .to_owned(),
        ),
        BadToken::Expired => {
            server.clock.advance(Duration::days(31));
            Some(token(&client))
        }
        BadToken::RotatedAway => {
            server
                .read(&client.client_id, Some(&token(&client)))
                .await
                .unwrap();
            Some(token(&client))
        }
        BadToken::UnknownClient => {
            client_id = "3f1e6a8c-0000-4000-8000-000000000000".to_owned();
            Some("x".repeat(43))
        }
    };
    let before = server.record(&client.client_id).await;
    let presented = presented.as_deref();
    let body = update_body(
        &client_id,
        json!({ "redirect_uris": ["https://evil.example/cb"] }),
    );
    let result = match call {
        Call::Read => server.read(&client_id, presented).await.map(|_| ()),
        Call::Update => server
            .update(&client_id, presented, &body)
            .await
            .map(|_| ()),
        Call::Delete => server.delete(&client_id, presented).await,
    };
    assert_eq!(
        server.record(&client.client_id).await,
        before,
        "{bad:?} {call:?} changed the client"
    );
    result.expect_err("a bad token must be refused")
}

#[tokio::test]
async fn every_bad_token_answers_the_same_401_invalid_token() {
    let mut replies = Vec::new();
    for bad in [
        BadToken::Empty,
        BadToken::Wrong,
        BadToken::Expired,
        BadToken::RotatedAway,
        BadToken::UnknownClient,
    ] {
        for call in [Call::Read, Call::Update, Call::Delete] {
            let reply = assert_invalid_token(with_bad_token(bad, call).await);
            replies.push((bad, call, reply));
        }
    }
    // They reveal nothing about which: same body, same headers.
    let (_, _, first) = &replies[0];
    for (bad, call, reply) in &replies {
        assert_eq!(reply.json, first.json, "{bad:?} {call:?}");
        assert_eq!(reply.headers, first.headers, "{bad:?} {call:?}");
    }
}

/// RFC 6750 §3.1: no token at all is not a bad token. The challenge carries no error code; the
/// client is left alone.
#[tokio::test]
async fn no_token_answers_401_with_a_bare_bearer_challenge() {
    for call in [Call::Read, Call::Update, Call::Delete] {
        let err = with_bad_token(BadToken::Missing, call).await;
        assert!(
            matches!(err, RegistrationError::MissingToken),
            "{call:?}: {err:?}"
        );
        let reply = assert_error(err, 401, "invalid_request");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{call:?}");
    }
}

#[tokio::test]
async fn a_valid_token_presented_for_another_client_is_revoked() {
    let server = Server::new();
    let owner = server.register(&web_client()).await;
    let other = server.register(&web_client()).await;
    let owner_token = token(&owner);

    for call in 0..3 {
        let err = match call {
            0 => server
                .read(&other.client_id, Some(&owner_token))
                .await
                .unwrap_err(),
            1 => server
                .update(
                    &other.client_id,
                    Some(&owner_token),
                    &update_body(&other.client_id, web_client()),
                )
                .await
                .unwrap_err(),
            _ => server
                .delete(&other.client_id, Some(&owner_token))
                .await
                .unwrap_err(),
        };
        assert_invalid_token(err);
    }
    // The owner's next call with it fails: the token was revoked.
    let err = server
        .read(&owner.client_id, Some(&owner_token))
        .await
        .unwrap_err();
    assert_invalid_token(err);
    // The owner still exists; the other client is untouched and its own token works.
    assert!(server.store.get(&owner.client_id).await.unwrap().is_some());
    assert!(server
        .read(&other.client_id, Some(&token(&other)))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_valid_token_presented_for_an_unknown_client_is_revoked() {
    let (server, client) = registered().await;
    let presented = token(&client);
    let err = server
        .read("00000000-0000-4000-8000-000000000000", Some(&presented))
        .await
        .unwrap_err();
    assert_invalid_token(err);
    let err = server
        .read(&client.client_id, Some(&presented))
        .await
        .unwrap_err();
    assert_invalid_token(err);
}

// ---- clients created by administrators ----

async fn administrator_client(server: &Server) -> ClientRecord {
    let mut metadata = ClientMetadata::default();
    metadata.redirect_uris = Some(vec![RedirectUri::new("https://admin.example/cb")]);
    metadata.client_name = Some("Back office".to_owned());
    let mut record = ClientRecord::new(
        "admin-client",
        metadata,
        Origin::Administrator,
        server.time(),
    );
    record.registration_token = Some(StoredToken {
        hash: RegistrationAccessToken::new("admin-registration-token").hash(),
        expires_at: None,
    });
    server.store.create(&record).await.unwrap();
    server.record("admin-client").await
}

#[tokio::test]
async fn a_client_created_by_administrators_cannot_be_managed_here() {
    let server = Server::new();
    let before = administrator_client(&server).await;
    let presented = Some("admin-registration-token");
    let body = update_body(
        "admin-client",
        json!({ "redirect_uris": ["https://evil.example/cb"] }),
    );

    assert_error(
        server.read("admin-client", presented).await.unwrap_err(),
        403,
        "access_denied",
    );
    assert_error(
        server
            .update("admin-client", presented, &body)
            .await
            .unwrap_err(),
        403,
        "access_denied",
    );
    assert_error(
        server.delete("admin-client", presented).await.unwrap_err(),
        403,
        "access_denied",
    );
    assert_eq!(server.record("admin-client").await, before);
    // Without its token, such a client is as unknown as any other.
    assert_invalid_token(
        server
            .read("admin-client", Some("guess"))
            .await
            .unwrap_err(),
    );
}

// ---- concurrency ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_reads_with_the_same_token_exactly_one_succeeds() {
    for _ in 0..50 {
        let (server, client) = registered().await;
        let (a, b) = {
            let (r1, r2) = (server.registrar.clone(), server.registrar.clone());
            let (id1, id2) = (client.client_id.clone(), client.client_id.clone());
            let (t1, t2) = (token(&client), token(&client));
            let one = tokio::spawn(async move { r1.read(&id1, Some(&t1)).await });
            let two = tokio::spawn(async move { r2.read(&id2, Some(&t2)).await });
            let (one, two) = tokio::join!(one, two);
            (one.unwrap(), two.unwrap())
        };
        let winners: Vec<&RegistrationResponse> = [&a, &b].into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "{a:?} {b:?}");
        let loser = [a.as_ref().err(), b.as_ref().err()]
            .into_iter()
            .flatten()
            .next()
            .unwrap();
        assert_eq!(loser.status(), 401);
        // The winner's token is the one that works now.
        let stored = server.record(&client.client_id).await;
        assert_eq!(
            stored.registration_token.unwrap().hash,
            RegistrationAccessToken::new(token(winners[0])).hash()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_read_and_update_with_the_same_token_exactly_one_succeeds() {
    for _ in 0..50 {
        let (server, client) = registered().await;
        let (r1, r2) = (server.registrar.clone(), server.registrar.clone());
        let (id1, id2) = (client.client_id.clone(), client.client_id.clone());
        let (t1, t2) = (token(&client), token(&client));
        let mut metadata = web_client();
        metadata["client_name"] = json!("Renamed");
        let body = serde_json::to_vec(&update_body(&client.client_id, metadata)).unwrap();
        let read = tokio::spawn(async move { r1.read(&id1, Some(&t1)).await.is_ok() });
        let update = tokio::spawn(async move {
            r2.update_bytes(&id2, Some(&t2), &body, &RequestContext::new())
                .await
                .is_ok()
        });
        let (read, update) = tokio::join!(read, update);
        let (read, update) = (read.unwrap(), update.unwrap());
        assert!(read ^ update, "read {read}, update {update}");
        let stored = server.record(&client.client_id).await;
        assert_eq!(stored.metadata.client_name.is_some(), update);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_deletes_with_the_same_token_exactly_one_succeeds() {
    for _ in 0..50 {
        let (server, client) = registered().await;
        let calls = (0..2).map(|_| {
            let registrar = server.registrar.clone();
            let id = client.client_id.clone();
            let presented = token(&client);
            tokio::spawn(async move { registrar.delete(&id, Some(&presented)).await.is_ok() })
        });
        let mut succeeded = 0;
        for call in calls.collect::<Vec<_>>() {
            succeeded += usize::from(call.await.unwrap());
        }
        assert_eq!(succeeded, 1);
        assert!(server.store.is_empty());
    }
}

// ---- headers ----

#[tokio::test]
async fn every_response_carries_no_store_and_no_cache() {
    let (server, client) = registered().await;
    let mut replies = vec![created(client.clone())];
    let read = server
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    replies.push(Reply::of(read.clone()));
    let updated = server
        .update(
            &client.client_id,
            Some(&token(&read)),
            &update_body(&client.client_id, web_client()),
        )
        .await
        .unwrap();
    replies.push(Reply::of(updated.clone()));
    // Errors: 400, 401, 403, 413.
    replies.push(Reply::of(server.refuse_bytes(b"[]").await));
    replies.push(Reply::of(
        server
            .refuse_bytes(br#"{"redirect_uris":["http://a.example"]}"#)
            .await,
    ));
    replies.push(Reply::of(
        server.read(&client.client_id, None).await.unwrap_err(),
    ));
    replies.push(Reply::of(server.refuse_bytes(&vec![b' '; 65 * 1024]).await));
    administrator_client(&server).await;
    replies.push(Reply::of(
        server
            .read("admin-client", Some("admin-registration-token"))
            .await
            .unwrap_err(),
    ));
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [201, 200, 200, 400, 400, 401, 413, 403]);
    for reply in &replies {
        assert_no_store(reply);
    }

    // A delete answers 204 through the http adapter, with the same headers.
    let request = http::Request::delete(format!("/register/{}", client.client_id))
        .header("authorization", format!("Bearer {}", token(&updated)))
        .body(Vec::new())
        .unwrap();
    let response =
        oauth_dcr::http::handle(&server.registrar, request, &RequestContext::new()).await;
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
}

// ---- store failures ----

#[tokio::test]
async fn a_failing_store_answers_500_without_detail_and_changes_nothing() {
    let (registrar, store, _clock) = failing_server();
    let body = serde_json::to_vec(&web_client()).unwrap();
    let client = registrar
        .register_bytes(&body, &RequestContext::new())
        .await
        .unwrap();
    let presented = token(&client);
    let id = client.client_id.as_str();
    let before = store.inner.get(id).await.unwrap().unwrap();
    let update = serde_json::to_vec(&update_body(
        id,
        json!({ "redirect_uris": ["https://app.example/new"] }),
    ))
    .unwrap();

    for (reads, writes) in [(false, true), (true, false)] {
        store.fail_reads(reads);
        store.fail_writes(writes);
        let failures = [
            registrar.read(id, Some(&presented)).await.map(|_| ()),
            registrar
                .update_bytes(id, Some(&presented), &update, &RequestContext::new())
                .await
                .map(|_| ()),
            registrar.delete(id, Some(&presented)).await,
        ];
        for failure in failures {
            let reply = assert_error(failure.unwrap_err(), 500, "server_error");
            assert_eq!(reply.json, json!({"error": "server_error"}));
        }
        store.fail_reads(false);
        store.fail_writes(false);
        assert_eq!(store.inner.get(id).await.unwrap().unwrap(), before);
    }
    // The token survived every failure.
    assert!(registrar.read(id, Some(&presented)).await.is_ok());
}

#[tokio::test]
async fn a_store_failure_is_logged_with_its_cause_but_not_shown() {
    let (registrar, store, _clock) = failing_server();
    store.fail_reads(true);
    let err = registrar.read("any", Some("token")).await.unwrap_err();
    // The cause is kept for the host's logs...
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(source.is_some());
    // ...and never reaches the client.
    let reply = Reply::of(err);
    assert!(!reply.json.to_string().contains("db-internal"));
    assert_eq!(reply.json, json!({"error": "server_error"}));
}

// ---- an update is held to the rules that bound the registration ----

/// A server demanding an initial access token, and a client registered with `partner`, whose
/// grant allows the scopes `openid profile` and redirect URIs on `app.example`.
async fn restricted() -> (Server, RegistrationResponse) {
    let grant = InitialAccessGrant::with_scopes(["register"])
        .subject("partner-onboarding")
        .allowed_scopes(["openid", "profile"])
        .redirect_hosts(["app.example"]);
    let tokens = Arc::new(HostTokens::default().with("partner", grant, None));
    let server = Server::build(policy(), |r| {
        r.require_initial_token(tokens, Some("register"))
    });
    let body = json!({ "redirect_uris": ["https://app.example/cb"], "scope": "openid" });
    let client = server
        .register_with(&body, &bearer("partner"))
        .await
        .unwrap();
    (server, client)
}

#[tokio::test]
async fn an_update_cannot_widen_the_initial_tokens_redirect_hosts() {
    let (server, client) = restricted().await;
    let before = server.record(&client.client_id).await;
    let body = update_body(
        &client.client_id,
        json!({ "redirect_uris": ["https://evil.example/cb"], "scope": "openid" }),
    );
    let err = server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap_err();
    let reply = assert_error(err, 400, "invalid_redirect_uri");
    assert!(reply.description().contains("evil.example"), "{reply:?}");
    assert_eq!(server.record(&client.client_id).await, before);
}

#[tokio::test]
async fn an_update_cannot_widen_the_initial_tokens_scopes() {
    let (server, client) = restricted().await;
    let before = server.record(&client.client_id).await;
    let body = update_body(
        &client.client_id,
        json!({ "redirect_uris": ["https://app.example/cb"], "scope": "openid admin" }),
    );
    let err = server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap_err();
    let reply = assert_error(err, 400, "invalid_client_metadata");
    assert!(reply.description().contains("admin"), "{reply:?}");
    assert_eq!(server.record(&client.client_id).await, before);
}

#[tokio::test]
async fn an_update_within_the_initial_tokens_restrictions_is_accepted_and_keeps_them() {
    let (server, client) = restricted().await;
    let body = update_body(
        &client.client_id,
        json!({ "redirect_uris": ["https://app.example/new"], "scope": "openid profile" }),
    );
    let updated = server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap();
    // The restrictions still bind the next update.
    let body = update_body(
        &client.client_id,
        json!({ "redirect_uris": ["https://evil.example/cb"] }),
    );
    let err = server
        .update(&client.client_id, Some(&token(&updated)), &body)
        .await
        .unwrap_err();
    assert_error(err, 400, "invalid_redirect_uri");
    let stored = server.record(&client.client_id).await;
    let grant = stored
        .initial_grant
        .expect("the grant is kept with the client");
    assert_eq!(grant.subject.as_deref(), Some("partner-onboarding"));
    assert_eq!(grant.redirect_hosts, Some(vec!["app.example".to_owned()]));
}

/// What a hook saw of the initial access token, per operation.
#[derive(Default)]
struct SeenGrants(Mutex<Vec<(Operation, Option<String>)>>);

#[async_trait::async_trait]
impl RegistrationHook for SeenGrants {
    async fn check(
        &self,
        _: &mut ClientMetadata,
        context: &HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        let subject = context.initial_token.and_then(|g| g.subject.clone());
        self.0.lock().unwrap().push((context.operation, subject));
        Ok(())
    }
}

#[tokio::test]
async fn the_hook_sees_the_registering_grant_on_update() {
    let (mut server, client) = restricted().await;
    let hook = Arc::new(SeenGrants::default());
    server.registrar = server.registrar.with_hook(hook.clone());
    let body = update_body(
        &client.client_id,
        json!({ "redirect_uris": ["https://app.example/cb"] }),
    );
    server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap();
    assert_eq!(
        *hook.0.lock().unwrap(),
        [(Operation::Update, Some("partner-onboarding".to_owned()))]
    );
}

fn quota_of_one() -> Server {
    let mut policy = policy();
    policy.max_clients_per_software_id = Some(1);
    Server::with_policy(policy)
}

#[tokio::test]
async fn an_update_cannot_take_a_software_id_whose_quota_is_full() {
    let server = quota_of_one();
    server
        .register(&json!({ "redirect_uris": ["https://app.example/cb"], "software_id": "app-1" }))
        .await;
    let client = server.register(&web_client()).await;
    let before = server.record(&client.client_id).await;
    let body = update_body(
        &client.client_id,
        json!({ "redirect_uris": ["https://app.example/cb"], "software_id": "app-1" }),
    );
    let err = server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap_err();
    let reply = assert_error(err, 400, "invalid_client_metadata");
    assert!(reply.description().contains("app-1"), "{reply:?}");
    assert_eq!(server.record(&client.client_id).await, before);
    assert_eq!(server.store.count(Some("app-1")).await.unwrap(), 1);
}

#[tokio::test]
async fn an_update_that_keeps_its_software_id_does_not_count_against_it() {
    let server = quota_of_one();
    let client = server
        .register(&json!({ "redirect_uris": ["https://app.example/cb"], "software_id": "app-1" }))
        .await;
    let body = update_body(
        &client.client_id,
        json!({ "redirect_uris": ["https://app.example/cb"], "software_id": "app-1", "client_name": "Renamed" }),
    );
    let updated = server
        .update(&client.client_id, Some(&token(&client)), &body)
        .await
        .unwrap();
    assert_eq!(updated.metadata.client_name.as_deref(), Some("Renamed"));
    // Moving to a software_id with room is fine too.
    let body = update_body(
        &client.client_id,
        json!({ "redirect_uris": ["https://app.example/cb"], "software_id": "app-2" }),
    );
    server
        .update(&client.client_id, Some(&token(&updated)), &body)
        .await
        .unwrap();
}

/// Initial tokens for re-registration tests: `partner` is restricted to `openid profile` and
/// `app.example`, `open` restricts nothing.
fn two_tokens() -> HostTokens {
    let partner = InitialAccessGrant::with_scopes(["register"])
        .allowed_scopes(["openid", "profile"])
        .redirect_hosts(["app.example"]);
    HostTokens::default().with("partner", partner, None).with(
        "open",
        InitialAccessGrant::with_scopes(["register"]),
        None,
    )
}

/// An idempotent re-registration replaces a client: the restrictions of the token the client
/// first registered with bind the replacement as they bind an update, whatever token the
/// re-registration presents.
#[tokio::test]
async fn a_re_registration_cannot_escape_the_initial_tokens_restrictions() {
    let mut policy = policy();
    policy.idempotent_registration = true;
    let store = Arc::new(MemoryStore::new());
    let registrar = oauth_dcr::Registrar::new(policy, store.clone())
        .require_initial_token(Arc::new(two_tokens()), Some("register"));
    let instance = |uri: &str, scope: &str| {
        serde_json::to_vec(&json!({
            "redirect_uris": [uri],
            "scope": scope,
            "software_id": "agent",
            "instance_key": "k-1",
        }))
        .unwrap()
    };
    let first = registrar
        .register_bytes(
            &instance("https://app.example/cb", "openid"),
            &bearer("partner"),
        )
        .await
        .expect("registered within the restrictions");
    let before = store.get(&first.client_id).await.unwrap();

    let err = registrar
        .register_bytes(
            &instance("https://evil.example/cb", "openid"),
            &bearer("open"),
        )
        .await
        .unwrap_err();
    assert_error(err, 400, "invalid_redirect_uri");
    let err = registrar
        .register_bytes(
            &instance("https://app.example/cb", "openid email"),
            &bearer("open"),
        )
        .await
        .unwrap_err();
    assert_error(err, 400, "invalid_client_metadata");
    assert_eq!(store.get(&first.client_id).await.unwrap(), before);

    // Within the restrictions the instance re-registers, and its grant still binds it.
    let again = registrar
        .register_bytes(
            &instance("https://app.example/new", "profile"),
            &bearer("open"),
        )
        .await
        .expect("re-registered");
    assert_eq!(again.client_id, first.client_id);
    let stored = store.get(&first.client_id).await.unwrap().unwrap();
    let grant = stored.initial_grant.expect("the first grant is kept");
    assert_eq!(grant.redirect_hosts, Some(vec!["app.example".to_owned()]));
}

/// A grant restricted to some hosts does not let a private-use scheme of another domain through
/// (RFC 8252 §7.1: the scheme names a domain in reverse order); loopback stays allowed.
#[tokio::test]
async fn an_initial_tokens_redirect_hosts_bind_private_use_schemes() {
    let (server, client) = restricted().await;
    let native = |uri: &str| {
        update_body(
            &client.client_id,
            json!({ "redirect_uris": [uri], "application_type": "native",
                    "token_endpoint_auth_method": "none" }),
        )
    };
    let before = server.record(&client.client_id).await;
    let err = server
        .update(
            &client.client_id,
            Some(&token(&client)),
            &native("com.evil.app:/cb"),
        )
        .await
        .unwrap_err();
    assert_error(err, 400, "invalid_redirect_uri");
    assert_eq!(server.record(&client.client_id).await, before);
    let updated = server
        .update(
            &client.client_id,
            Some(&token(&client)),
            &native("example.app:/cb"),
        )
        .await
        .expect("the partner's own scheme");
    let updated = server
        .update(
            &client.client_id,
            Some(&token(&updated)),
            &native("http://127.0.0.1/cb"),
        )
        .await
        .expect("loopback");
    assert_eq!(
        updated
            .metadata
            .redirect_uris
            .as_deref()
            .map(|u| u[0].as_str()),
        Some("http://127.0.0.1/cb")
    );
}
