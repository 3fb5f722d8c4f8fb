//! RFC 6750 §3.1 over the example's router: a request without credentials gets a bare `Bearer`
//! challenge (no error code), a request with a bad bearer token gets `error="invalid_token"`.

use reqwest::header::CONTENT_TYPE;
use reqwest::{RequestBuilder, StatusCode};

use crate::common::web_client;
use crate::server::{Reply, Server, BOOTSTRAP, JSON};

/// 401 with `WWW-Authenticate: Bearer` and nothing else: no `error=`, no description; the body
/// is still an error object, with `invalid_request`, never `invalid_token`.
#[track_caller]
fn assert_bare_challenge(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {:#}",
        reply.json
    );
    assert_eq!(reply.header("www-authenticate"), "Bearer", "{what}");
    assert_eq!(reply.error(), "invalid_request", "{what}");
    assert_eq!(reply.header("cache-control"), "no-store", "{what}");
}

#[track_caller]
fn assert_invalid_token(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {:#}",
        reply.json
    );
    assert_eq!(
        reply.header("www-authenticate"),
        r#"Bearer error="invalid_token""#,
        "{what}"
    );
    assert_eq!(reply.error(), "invalid_token", "{what}");
}

async fn initial_token(server: &Server) -> String {
    let token = server
        .token(
            "grant_type=client_credentials&scope=register",
            Some(("registerClient", "password")),
        )
        .await;
    token.str("access_token").to_owned()
}

fn post(server: &Server) -> RequestBuilder {
    server
        .http
        .post(server.url("/register"))
        .header(CONTENT_TYPE, JSON)
        .body(web_client().to_string())
}

#[tokio::test]
async fn a_registration_without_credentials_gets_a_challenge_without_an_error_code() {
    let server = Server::start(&BOOTSTRAP).await;
    let op = "post /register";
    let none = server.send(op, post(&server)).await;
    assert_bare_challenge(&none, "no Authorization header");
    assert_eq!(
        none.json["error_description"],
        "registration requires an initial access token as a bearer token in the Authorization \
         header"
    );
    // Another scheme is "an unsupported authentication method": no credentials either.
    let basic = post(&server).basic_auth("registerClient", Some("password"));
    assert_bare_challenge(&server.send(op, basic).await, "Basic credentials");

    // A token that is wrong or malformed keeps `invalid_token`.
    let wrong = server
        .register(&web_client().to_string(), Some("not-a-token-we-issued"))
        .await;
    assert_invalid_token(&wrong, "an unknown token");
    let malformed = post(&server).header("authorization", "Bearer a b");
    assert_invalid_token(&server.send(op, malformed).await, "a malformed token");

    // Refusals stored nothing; the real token still registers.
    let token = initial_token(&server).await;
    let created = server
        .register(&web_client().to_string(), Some(&token))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
}

#[tokio::test]
async fn management_without_credentials_gets_a_challenge_without_an_error_code() {
    let server = Server::start(&[]).await;
    let created = server.register(&web_client().to_string(), None).await;
    let uri = created.str("registration_client_uri").to_owned();
    let token = created.str("registration_access_token").to_owned();
    let unknown = server.url("/register/no-such-client");
    let mut replies = Vec::new();
    for target in [&uri, &unknown] {
        let calls = [
            ("get", server.http.get(target)),
            (
                "put",
                server
                    .http
                    .put(target)
                    .header(CONTENT_TYPE, JSON)
                    .body(web_client().to_string()),
            ),
            ("delete", server.http.delete(target)),
            ("get", server.http.get(target).basic_auth("id", Some("s"))),
        ];
        for (method, request) in calls {
            let reply = server
                .send(&format!("{method} /register/{{client_id}}"), request)
                .await;
            assert_bare_challenge(&reply, &format!("{method} {target}"));
            replies.push(reply.json);
        }
    }
    // The same answer whether or not the client exists: nothing is looked up without a token.
    assert!(replies.iter().all(|r| *r == replies[0]), "{replies:#?}");

    // Nothing was deleted: the token still reads the client.
    let read = server
        .send(
            "get /register/{client_id}",
            server.http.get(&uri).bearer_auth(&token),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_or_rotated_token_keeps_invalid_token() {
    let server = Server::start(&[]).await;
    let created = server.register(&web_client().to_string(), None).await;
    let uri = created.str("registration_client_uri").to_owned();
    let first = created.str("registration_access_token").to_owned();
    let op = "get /register/{client_id}";
    let read = server
        .send(op, server.http.get(&uri).bearer_auth(&first))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let current = read.str("registration_access_token").to_owned();

    for (what, request) in [
        ("a wrong token", server.http.get(&uri).bearer_auth("wrong")),
        (
            "the rotated-away token",
            server.http.get(&uri).bearer_auth(&first),
        ),
        (
            "a malformed token",
            server.http.get(&uri).header("authorization", "Bearer a,b"),
        ),
        (
            "two Authorization headers",
            server
                .http
                .get(&uri)
                .bearer_auth(&current)
                .header("authorization", "Basic aWQ6cw=="),
        ),
    ] {
        assert_invalid_token(&server.send(op, request).await, what);
    }
    let delete = server.http.delete(&uri).bearer_auth("wrong");
    let reply = server.send("delete /register/{client_id}", delete).await;
    assert_invalid_token(&reply, "delete with a wrong token");
    let put = server
        .http
        .put(&uri)
        .bearer_auth("wrong")
        .header(CONTENT_TYPE, JSON)
        .body(web_client().to_string());
    let reply = server.send("put /register/{client_id}", put).await;
    assert_invalid_token(&reply, "update with a wrong token");
}
