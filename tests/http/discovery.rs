//! Discovery documents, `--issuer`, and CORS for `--allow-origin`.

use reqwest::StatusCode;

use crate::common::web_client;
use crate::server::Server;

const WELL_KNOWN: [&str; 2] = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
];

#[tokio::test]
async fn both_documents_advertise_the_same_policy() {
    let server = Server::start(&["--bootstrap-client", "registerClient:password"]).await;
    let mut documents = Vec::new();
    for path in WELL_KNOWN {
        let reply = server
            .send(&format!("get {path}"), server.http.get(server.url(path)))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        documents.push(reply.json);
    }
    assert_eq!(documents[0], documents[1]);
    let document = &documents[0];
    assert_eq!(document["issuer"], server.base);
    assert_eq!(document["registration_endpoint"], server.url("/register"));
    assert_eq!(document["token_endpoint"], server.url("/token"));
    // OpenID Connect Discovery §3 requires these; the example advertises placeholders.
    assert_eq!(document["authorization_endpoint"], server.url("/authorize"));
    assert_eq!(document["jwks_uri"], server.url("/jwks"));
    let jwks = server
        .send("get /jwks", server.http.get(server.url("/jwks")))
        .await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert_eq!(jwks.json, serde_json::json!({"keys": []}));
    assert_eq!(
        document["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert!(document["grant_types_supported"]
        .as_array()
        .is_some_and(|g| g.contains(&"client_credentials".into())));
}

#[tokio::test]
async fn no_token_endpoint_advertised_without_a_bootstrap_client() {
    let server = Server::start(&[]).await;
    let path = WELL_KNOWN[0];
    let reply = server
        .send(&format!("get {path}"), server.http.get(server.url(path)))
        .await;
    assert!(reply.json.get("token_endpoint").is_none());
}

#[tokio::test]
async fn issuer_flag_sets_every_advertised_url() {
    let server = Server::start(&["--issuer", "https://as.example/"]).await;
    let path = WELL_KNOWN[1];
    let reply = server
        .send(&format!("get {path}"), server.http.get(server.url(path)))
        .await;
    assert_eq!(reply.json["issuer"], "https://as.example");
    assert_eq!(
        reply.json["registration_endpoint"],
        "https://as.example/register"
    );
    let created = server.register(&web_client().to_string(), None).await;
    let client_id = created.str("client_id");
    assert_eq!(
        created.str("registration_client_uri"),
        format!("https://as.example/register/{client_id}")
    );
}

#[tokio::test]
async fn cors_preflight_for_an_allowed_origin() {
    let server = Server::start(&["--allow-origin", "https://app.example"]).await;
    let preflight = |origin: &str| {
        server
            .http
            .request(reqwest::Method::OPTIONS, server.url("/register"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
    };
    let allowed = server
        .send("options /register", preflight("https://app.example"))
        .await;
    assert_eq!(allowed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        "https://app.example"
    );
    assert!(allowed
        .header("access-control-allow-methods")
        .contains("POST"));
    let headers = allowed
        .header("access-control-allow-headers")
        .to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    assert_eq!(allowed.header("vary"), "Origin");

    let other = server
        .send("options /register", preflight("https://evil.example"))
        .await;
    assert_eq!(other.status, StatusCode::NO_CONTENT);
    assert_eq!(other.header("access-control-allow-origin"), "");

    // The actual request from the allowed origin can read the response.
    let created = server
        .send(
            "post /register",
            server
                .http
                .post(server.url("/register"))
                .header("origin", "https://app.example")
                .header("content-type", "application/json")
                .body(web_client().to_string()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        created.header("access-control-allow-origin"),
        "https://app.example"
    );

    let discovery = server
        .send(
            "get /.well-known/openid-configuration",
            server
                .http
                .get(server.url("/.well-known/openid-configuration"))
                .header("origin", "https://app.example"),
        )
        .await;
    assert_eq!(
        discovery.header("access-control-allow-origin"),
        "https://app.example"
    );
}

#[tokio::test]
async fn url_client_ids_are_not_resolved_without_the_flag() {
    let server = Server::start(&[]).await;
    let url = server.url("/clients/resolve?client_id=https://app.example/client.json");
    let reply = server
        .send("get /clients/resolve", server.http.get(url))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json["error"], "access_denied");
}

#[cfg(feature = "fetch")]
#[tokio::test]
async fn url_client_ids_are_resolved_safely_with_the_flag() {
    let server = Server::start(&["--metadata-documents"]).await;
    let document = server
        .send(
            "get /.well-known/openid-configuration",
            server.http.get(server.url(WELL_KNOWN[0])),
        )
        .await;
    assert_eq!(document.json["client_id_metadata_document_supported"], true);

    // A document on a private address is never fetched, and the client is not told why
    // (issue 15: fetch details stay in the host's logs).
    let url = server.url("/clients/resolve?client_id=https://127.0.0.1/client.json");
    let reply = server
        .send("get /clients/resolve", server.http.get(url))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["error"], "invalid_client");
    assert_eq!(
        reply.json["error_description"],
        "the client metadata document could not be fetched"
    );

    let url = server.url("/clients/resolve?client_id=http://app.example/client.json");
    let reply = server
        .send("get /clients/resolve", server.http.get(url))
        .await;
    assert_eq!(reply.json["error"], "invalid_client");

    let reply = server
        .send(
            "get /clients/resolve",
            server.http.get(server.url("/clients/resolve")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["error"], "invalid_request");
}

/// Issue 14 item 19: the example server declares its scopes, discovery advertises them, and a
/// registration asking for anything else is refused.
#[tokio::test]
async fn declared_scopes_are_advertised_and_bound_registration() {
    async fn advertised(server: &Server) -> Vec<String> {
        let path = WELL_KNOWN[0];
        let reply = server
            .send(&format!("get {path}"), server.http.get(server.url(path)))
            .await;
        let mut scopes: Vec<String> = reply.json["scopes_supported"]
            .as_array()
            .expect("scopes_supported")
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        scopes.sort_unstable();
        scopes
    }
    let standard = Server::start(&[]).await;
    assert_eq!(
        advertised(&standard).await,
        [
            "address",
            "email",
            "offline_access",
            "openid",
            "phone",
            "profile"
        ]
    );
    let refused = standard
        .register(
            r#"{"redirect_uris":["https://app.example/cb"],"scope":"openid admin"}"#,
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error(), "invalid_client_metadata");

    let declared = Server::start(&["--scopes", "openid mcp:tools"]).await;
    assert_eq!(advertised(&declared).await, ["mcp:tools", "openid"]);
    let created = declared
        .register(
            r#"{"redirect_uris":["https://app.example/cb"],"scope":"openid mcp:tools"}"#,
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.str("scope"), "openid mcp:tools");
}
