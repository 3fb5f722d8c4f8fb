//! The admin endpoints of `--admin-token`: the listing of clients with their provenance
//! (filters, pages, refused queries) and the reissue of a registration access token, behind the
//! admin token (401 without it or with a wrong one, failures rate-limited), and absent without
//! the flag.

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{web_client, ISSUER};
use crate::protection::{claims, post, Key};
use crate::server::{assert_error, Reply, Server, JSON};

/// The admin token the tests start their servers with.
pub(crate) const ADMIN: &str = "admin-token-for-the-tests-0123456789";

/// `GET /admin/clients` + `query`, with `token` as the bearer token (none: no header).
pub(crate) async fn list(server: &Server, query: &str, token: Option<&str>) -> Reply {
    let mut request = server
        .http
        .get(server.url(&format!("/admin/clients{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    server.send("get /admin/clients", request).await
}

/// `POST /admin/clients/{client_id}/registration-token` with `token` as the bearer token.
pub(crate) async fn reissue(server: &Server, client_id: &str, token: Option<&str>) -> Reply {
    let url = server.url(&format!("/admin/clients/{client_id}/registration-token"));
    let mut request = server.http.post(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    server
        .send(
            "post /admin/clients/{client_id}/registration-token",
            request,
        )
        .await
}

/// The `client_id`s of a listing page, in order.
fn ids(page: &Reply) -> Vec<String> {
    page.json["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .map(|c| c["client_id"].as_str().expect("client_id").to_owned())
        .collect()
}

async fn register(server: &Server, body: Value) -> Reply {
    let reply = server.register(&body.to_string(), None).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.json);
    reply
}

#[tokio::test]
async fn without_the_flag_there_are_no_admin_endpoints() {
    let server = Server::start(&[]).await;
    let created = register(&server, web_client()).await;
    for request in [
        server
            .http
            .get(server.url("/admin/clients"))
            .bearer_auth(ADMIN),
        server
            .http
            .post(server.url(&format!(
                "/admin/clients/{}/registration-token",
                created.str("client_id")
            )))
            .bearer_auth(ADMIN),
    ] {
        let response = request.send().await.expect("an answer");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"], "not_found");
    }
}

#[tokio::test]
async fn the_listing_filters_and_pages_with_each_clients_provenance() {
    let directory = Key::directory();
    let trust = format!("{ISSUER}={}", directory.path());
    let server = Server::start(&["--admin-token", ADMIN, "--trust-issuer", &trust]).await;

    // Three clients: the second with a software statement from the trusted directory.
    let first = register(
        &server,
        json!({"redirect_uris": ["https://a.example/cb"], "client_name": "A"}),
    )
    .await;
    let statement = directory.sign(claims(json!({
        "iss": ISSUER,
        "jti": "admin-listing-1",
        "software_id": "listed-software",
    })));
    let body = json!({
        "redirect_uris": ["https://b.example/cb"],
        "client_name": "B",
        "software_statement": statement,
    });
    let stated = post(&server, JSON, body.to_string()).await;
    assert_eq!(stated.status, StatusCode::CREATED, "{:#}", stated.json);
    let third = register(&server, web_client()).await;
    let all = [
        first.str("client_id"),
        stated.str("client_id"),
        third.str("client_id"),
    ];

    // Everything, in creation order, each with its provenance.
    let page = list(&server, "", Some(ADMIN)).await;
    assert_eq!(page.status, StatusCode::OK, "{:#}", page.json);
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(ids(&page), all);
    assert!(page.json.get("next").is_none(), "one page: {:#}", page.json);
    let listed = &page.json["clients"];
    assert_eq!(listed[0]["client_name"], "A");
    assert_eq!(listed[0]["origin"], "dynamic");
    assert_eq!(listed[0]["provenance"], "dynamic");
    assert_eq!(listed[0]["last_used"], Value::Null);
    assert!(listed[0].get("statement_issuer").is_none());
    assert_eq!(listed[1]["statement_issuer"], ISSUER);
    assert_eq!(listed[1]["software_id"], "listed-software");
    assert_eq!(
        listed[1]["provenance"],
        format!("dynamic statement:{ISSUER}")
    );
    let issued_at = first.json["client_id_issued_at"].as_i64();
    assert_eq!(listed[0]["created_at"].as_i64(), issued_at);

    // Filters: by statement issuer, by origin.
    let query = format!("?statement_issuer={}", urlencode(ISSUER));
    let stated_only = list(&server, &query, Some(ADMIN)).await;
    assert_eq!(ids(&stated_only), [stated.str("client_id")]);
    let dynamic = list(&server, "?origin=dynamic", Some(ADMIN)).await;
    assert_eq!(ids(&dynamic), all);
    let administrator = list(&server, "?origin=administrator", Some(ADMIN)).await;
    assert!(ids(&administrator).is_empty());
    let nobody = list(&server, "?initial_token_subject=partner", Some(ADMIN)).await;
    assert!(ids(&nobody).is_empty());

    // Pages of two: the cursor of the first page starts the second, which is the last.
    let first_page = list(&server, "?origin=dynamic&limit=2", Some(ADMIN)).await;
    assert_eq!(ids(&first_page), all[..2]);
    let next = first_page.str("next").to_owned();
    let second_page = list(
        &server,
        &format!("?origin=dynamic&limit=2&after={next}"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(ids(&second_page), all[2..]);
    assert!(second_page.json.get("next").is_none());

    // Queries the listing does not understand are refused, not ignored.
    for query in [
        "?orign=dynamic",
        "?origin=federated",
        "?after=not-a-cursor",
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
    ] {
        let refused = list(&server, query, Some(ADMIN)).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

#[tokio::test]
async fn the_admin_token_is_required() {
    let server = Server::start(&["--admin-token", ADMIN]).await;
    let created = register(&server, web_client()).await;
    let client_id = created.str("client_id");

    // No credentials (or another scheme): a bare challenge.
    let missing = list(&server, "", None).await;
    assert_error(&missing, StatusCode::UNAUTHORIZED, "invalid_request");
    assert_eq!(missing.header("www-authenticate"), "Bearer");
    let basic = server
        .send(
            "get /admin/clients",
            server
                .http
                .get(server.url("/admin/clients"))
                .basic_auth("admin", Some(ADMIN)),
        )
        .await;
    assert_error(&basic, StatusCode::UNAUTHORIZED, "invalid_request");
    assert_eq!(basic.header("www-authenticate"), "Bearer");

    // Wrong tokens, one a prefix of the right one: invalid_token.
    for wrong in ["admin", &ADMIN[..ADMIN.len() - 1], "x".repeat(200).as_str()] {
        let refused = list(&server, "", Some(wrong)).await;
        assert_error(&refused, StatusCode::UNAUTHORIZED, "invalid_token");
        assert_eq!(
            refused.header("www-authenticate"),
            r#"Bearer error="invalid_token""#
        );
    }
    // A registration access token is no admin token.
    let rat = created.str("registration_access_token");
    let refused = reissue(&server, client_id, Some(rat)).await;
    assert_error(&refused, StatusCode::UNAUTHORIZED, "invalid_token");
    let refused = reissue(&server, client_id, None).await;
    assert_error(&refused, StatusCode::UNAUTHORIZED, "invalid_request");
    // Nothing happened to the client: its token still works.
    let read = server
        .send(
            "get /register/{client_id}",
            server
                .http
                .get(created.str("registration_client_uri"))
                .bearer_auth(rat),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.json);

    // Another method: 405 with Allow.
    let delete = server
        .send(
            "delete /admin/clients",
            server
                .http
                .delete(server.url("/admin/clients"))
                .bearer_auth(ADMIN),
        )
        .await;
    assert_eq!(delete.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(delete.header("allow"), "GET, HEAD");
}

#[tokio::test]
async fn failed_admin_attempts_count_toward_the_failed_management_limit() {
    let server = Server::start(&[
        "--admin-token",
        ADMIN,
        "--rate-limit-failed-management",
        "2/min",
    ])
    .await;
    for _ in 0..2 {
        let refused = list(&server, "", Some("guessed")).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    // The third failure finds the bucket empty, and from then on the address is refused there
    // whatever it presents, the right token included.
    let third = list(&server, "", Some("guessed")).await;
    assert_error(
        &third,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    );
    let wait: u64 = third.header("retry-after").parse().expect("Retry-After");
    assert!((1..=30).contains(&wait), "Retry-After: {wait}");
    let right = list(&server, "", Some(ADMIN)).await;
    assert_error(
        &right,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    );
    let reissued = reissue(&server, "any-client", Some(ADMIN)).await;
    assert_error(
        &reissued,
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
    );
}

#[tokio::test]
async fn a_reissued_token_manages_the_client_after_reuse_detection_revoked_its_own() {
    let server = Server::start(&["--admin-token", ADMIN]).await;
    let created = register(&server, web_client()).await;
    let client_id = created.str("client_id");
    let uri = created.str("registration_client_uri");
    let first = created.str("registration_access_token");

    // A read rotates the token; the old one comes back: reuse detection revokes the current one.
    let read = get(&server, uri, first).await;
    assert_eq!(read.status, StatusCode::OK);
    let current = read.str("registration_access_token");
    assert_eq!(
        get(&server, uri, first).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&server, uri, current).await.status,
        StatusCode::UNAUTHORIZED
    );

    // An unknown client is 404; the right one gets a new token in its client information.
    let unknown = reissue(&server, "no-such-client", Some(ADMIN)).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");
    let reissued = reissue(&server, client_id, Some(ADMIN)).await;
    assert_eq!(reissued.status, StatusCode::OK, "{:#}", reissued.json);
    assert_eq!(reissued.header("cache-control"), "no-store");
    assert_eq!(reissued.str("client_id"), client_id);
    assert_eq!(reissued.str("registration_client_uri"), uri);
    assert!(
        reissued.json.get("client_secret").is_none(),
        "a hashed secret is never shown again"
    );
    let fresh = reissued.str("registration_access_token");
    assert!(![first, current].contains(&fresh));

    // The client manages itself with it: a read (which rotates it), then an update.
    assert_eq!(
        get(&server, uri, current).await.status,
        StatusCode::UNAUTHORIZED
    );
    let read = get(&server, uri, fresh).await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.json);
    let update = json!({"client_id": client_id, "redirect_uris": web_client()["redirect_uris"], "client_name": "Reissued"});
    let updated = server
        .send(
            "put /register/{client_id}",
            server
                .http
                .put(uri)
                .bearer_auth(read.str("registration_access_token"))
                .header(CONTENT_TYPE, JSON)
                .body(update.to_string()),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:#}", updated.json);
    assert_eq!(updated.str("client_name"), "Reissued");

    // A second reissue revokes the first one's token and everything after it.
    let again = reissue(&server, client_id, Some(ADMIN)).await;
    assert_eq!(again.status, StatusCode::OK);
    let latest = updated.str("registration_access_token");
    assert_eq!(
        get(&server, uri, latest).await.status,
        StatusCode::UNAUTHORIZED
    );
    let last = get(&server, uri, again.str("registration_access_token")).await;
    assert_eq!(last.status, StatusCode::OK);
}

/// `GET` the client configuration endpoint with `token`.
async fn get(server: &Server, uri: &str, token: &str) -> Reply {
    server
        .send(
            "get /register/{client_id}",
            server.http.get(uri).bearer_auth(token),
        )
        .await
}

/// `value` percent-encoded for a query string.
pub(crate) fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The admin endpoints over `--store postgres://…` (with `--features postgres` and
/// `DATABASE_URL`; skipped without them, except under `CI=true`): the store wrapper that maps an
/// unavailable database to 503 keeps the listing capability, and the reissue goes through.
/// Clients registered with the initial tokens of a bootstrap client named for this run are
/// listed by that subject, whatever else the database holds.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn listing_and_reissue_on_postgres() {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(!in_ci, "CI=true but DATABASE_URL is not set");
        eprintln!(
            "skipping: set DATABASE_URL=postgres://… to run the admin endpoints on PostgreSQL"
        );
        return;
    };
    let subject = format!("admin-{}", uuid::Uuid::new_v4().simple());
    let bootstrap = format!("{subject}:password");
    let flags = [
        "--store",
        url.as_str(),
        "--admin-token",
        ADMIN,
        "--bootstrap-client",
        bootstrap.as_str(),
        "--require-initial-token",
        "register",
    ];
    let server = match Server::try_start(&flags).await {
        Ok(server) => server,
        Err(e) if !in_ci => return eprintln!("skipping: {e}"),
        Err(e) => panic!("CI=true but the database is unreachable: {e}"),
    };
    let token = server
        .token(
            "grant_type=client_credentials&scope=register",
            Some((subject.as_str(), "password")),
        )
        .await;
    let token = token.str("access_token");
    let mut registered = Vec::new();
    for _ in 0..3 {
        let created = server
            .register(&web_client().to_string(), Some(token))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
        registered.push(created);
    }
    let all: Vec<&str> = registered.iter().map(|c| c.str("client_id")).collect();

    let query = format!("?initial_token_subject={subject}&limit=2");
    let first = list(&server, &query, Some(ADMIN)).await;
    assert_eq!(first.status, StatusCode::OK, "{:#}", first.json);
    assert_eq!(ids(&first), all[..2]);
    assert_eq!(
        first.json["clients"][0]["provenance"],
        format!("dynamic initial-token:{subject}")
    );
    let next = first.str("next");
    let second = list(&server, &format!("{query}&after={next}"), Some(ADMIN)).await;
    assert_eq!(ids(&second), all[2..]);
    assert!(second.json.get("next").is_none());

    let client = &registered[0];
    let reissued = reissue(&server, client.str("client_id"), Some(ADMIN)).await;
    assert_eq!(reissued.status, StatusCode::OK, "{:#}", reissued.json);
    let uri = client.str("registration_client_uri");
    let old = client.str("registration_access_token");
    assert_eq!(
        get(&server, uri, old).await.status,
        StatusCode::UNAUTHORIZED
    );
    let fresh = reissued.str("registration_access_token");
    assert_eq!(get(&server, uri, fresh).await.status, StatusCode::OK);
}
