//! The Rust `openidconnect` crate (4.x) drives the example server, as a Rust relying party would:
//! typed discovery, registration through its `CoreClientRegistrationRequest`, a read, a
//! send-back update (RFC 7592 §2.2: what the read returned minus the four server-only members)
//! and a delete.
//!
//! Its HTTP client is the tests' reqwest client, talking to the example's router on a loopback
//! port: the crate is built without its own HTTP or TLS stack.

use openidconnect::core::{
    CoreClientRegistrationRequest, CoreClientRegistrationResponse, CoreProviderMetadata,
    CoreResponseType,
};
use openidconnect::registration::{ClientRegistrationError, EmptyAdditionalClientMetadata};
use openidconnect::{
    AccessToken, ClientName, HttpRequest, HttpResponse, IssuerUrl, LocalizedClaim, RedirectUrl,
    RegistrationUrl, ResponseTypes,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::server::{Server, BOOTSTRAP};

/// The four members RFC 7592 §2.2 says an update must not carry.
const SERVER_ONLY: [&str; 4] = [
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
];

/// The `AsyncHttpClient` the crate calls: reqwest over loopback to the example's router.
fn client(server: &Server) -> impl Fn(HttpRequest) -> BoxedCall {
    let http = server.http.clone();
    move |request: HttpRequest| {
        let http = http.clone();
        Box::pin(async move { send(&http, request).await })
    }
}

type BoxedCall = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HttpResponse, reqwest::Error>> + Send>,
>;

async fn send(
    http: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let response = http.execute(reqwest::Request::try_from(request)?).await?;
    let mut reply = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        reply = reply.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(reply.body(body).unwrap_or_default())
}

/// A call to the client configuration endpoint with the registration access token.
async fn manage(
    server: &Server,
    method: reqwest::Method,
    uri: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = server.http.request(method, uri).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let bytes = response.bytes().await.expect("a body");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json)
}

fn web_client_request() -> CoreClientRegistrationRequest {
    let redirect = RedirectUrl::new("https://app.example/cb".into()).expect("a URL");
    let mut name = LocalizedClaim::new();
    name.insert(None, ClientName::new("Rust RP".into()));
    CoreClientRegistrationRequest::new(vec![redirect], EmptyAdditionalClientMetadata {})
        .set_client_name(Some(name))
}

fn client_name(response: &CoreClientRegistrationResponse) -> Option<&str> {
    response
        .client_name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str())
}

fn registration_url(server: &Server) -> RegistrationUrl {
    RegistrationUrl::new(server.url("/register")).expect("a URL")
}

/// Registers with an initial access token from the example's token endpoint; returns the typed
/// response.
async fn register(server: &Server) -> CoreClientRegistrationResponse {
    let token = server
        .token(
            "grant_type=client_credentials&scope=register",
            Some(("registerClient", "password")),
        )
        .await;
    let http = client(server);
    web_client_request()
        .set_initial_access_token(Some(AccessToken::new(token.str("access_token").into())))
        .register_async(&registration_url(server), &http)
        .await
        .expect("the openidconnect crate registers")
}

/// Both discovery documents parse as typed provider metadata, the OpenID one through the
/// crate's own discovery (which also fetches `jwks_uri`).
#[tokio::test]
async fn typed_discovery_parses_both_documents() {
    let server = Server::start(&BOOTSTRAP).await;
    let http = client(&server);
    let issuer = IssuerUrl::new(server.base.clone()).expect("a URL");
    let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
        .await
        .expect("typed OpenID Connect discovery");
    assert_eq!(metadata.issuer(), &issuer);
    assert_eq!(
        metadata.authorization_endpoint().as_str(),
        server.url("/authorize")
    );
    assert_eq!(metadata.jwks_uri().as_str(), server.url("/jwks"));
    assert!(
        metadata.jwks().keys().is_empty(),
        "the example signs nothing"
    );
    assert_eq!(
        metadata.token_endpoint().map(|u| u.as_str().to_owned()),
        Some(server.url("/token"))
    );
    assert_eq!(
        metadata
            .registration_endpoint()
            .map(|u| u.as_str().to_owned()),
        Some(server.url("/register"))
    );
    assert_eq!(
        metadata.response_types_supported(),
        &vec![ResponseTypes::new(vec![CoreResponseType::Code])]
    );
    assert!(!metadata.id_token_signing_alg_values_supported().is_empty());
    assert!(!metadata.subject_types_supported().is_empty());

    let rfc8414 = server
        .send(
            "get /.well-known/oauth-authorization-server",
            server
                .http
                .get(server.url("/.well-known/oauth-authorization-server")),
        )
        .await;
    let typed: CoreProviderMetadata =
        serde_json::from_value(rfc8414.json).expect("typed RFC 8414 metadata");
    assert_eq!(typed.issuer(), &issuer);
    assert_eq!(
        typed.registration_endpoint(),
        metadata.registration_endpoint()
    );
}

/// `--authorization-endpoint` and `--jwks-uri` replace the placeholders; the document still
/// parses as typed metadata, and the example no longer serves `/jwks`.
#[tokio::test]
async fn discovery_flags_replace_the_placeholders() {
    let server = Server::start(&[
        "--authorization-endpoint",
        "https://login.example/authorize",
        "--jwks-uri",
        "https://login.example/jwks.json",
    ])
    .await;
    let path = "/.well-known/openid-configuration";
    let reply = server
        .send(&format!("get {path}"), server.http.get(server.url(path)))
        .await;
    let typed: CoreProviderMetadata = serde_json::from_value(reply.json).expect("typed metadata");
    assert_eq!(
        typed.authorization_endpoint().as_str(),
        "https://login.example/authorize"
    );
    assert_eq!(typed.jwks_uri().as_str(), "https://login.example/jwks.json");
    assert_eq!(typed.token_endpoint(), None, "no token endpoint is served");
    let jwks = server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(jwks.status(), StatusCode::NOT_FOUND);
}

/// Registration through the crate's request type (with an initial access token), a read of the
/// result, and a delete. Without the token the crate sees a 401.
#[tokio::test]
async fn register_read_and_delete_with_the_openidconnect_crate() {
    let server = Server::start(&BOOTSTRAP).await;
    let http = client(&server);
    let refused = web_client_request()
        .register_async(&registration_url(&server), &http)
        .await
        .expect_err("no initial access token");
    match refused {
        ClientRegistrationError::Response(status, _, _) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        other => panic!("expected a 401, got {other:?}"),
    }

    let registered = register(&server).await;
    assert_eq!(client_name(&registered), Some("Rust RP"));
    let uri = registered
        .registration_client_uri()
        .expect("registration_client_uri")
        .to_string();
    let token = registered
        .registration_access_token()
        .expect("registration_access_token")
        .secret()
        .clone();

    let (status, read) = manage(&server, reqwest::Method::GET, &uri, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{read:#}");
    let typed: CoreClientRegistrationResponse =
        serde_json::from_value(read.clone()).expect("a typed client information response");
    assert_eq!(typed.client_id(), registered.client_id());
    assert_eq!(client_name(&typed), Some("Rust RP"));

    let current = typed
        .registration_access_token()
        .expect("a rotated token")
        .secret()
        .clone();
    let (status, _) = manage(&server, reqwest::Method::DELETE, &uri, &current, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = manage(&server, reqwest::Method::GET, &uri, &current, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(gone["error"], "invalid_token");
}

/// RFC 7592 §2.2, as a library user does it: read, remove the four server-only members, change
/// `client_name`, PUT the rest back. Then delete with the token the update returned.
#[tokio::test]
async fn a_send_back_update_with_the_openidconnect_crate() {
    let server = Server::start(&BOOTSTRAP).await;
    let registered = register(&server).await;
    let uri = registered
        .registration_client_uri()
        .expect("registration_client_uri")
        .to_string();
    let token = registered
        .registration_access_token()
        .expect("registration_access_token")
        .secret()
        .clone();
    let (status, read) = manage(&server, reqwest::Method::GET, &uri, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{read:#}");
    let current = read["registration_access_token"]
        .as_str()
        .expect("a token")
        .to_owned();

    let mut update = read.clone();
    let members = update.as_object_mut().expect("an object");
    for member in SERVER_ONLY {
        members.remove(member);
    }
    members.insert("client_name".into(), "Renamed RP".into());
    let (status, updated) =
        manage(&server, reqwest::Method::PUT, &uri, &current, Some(&update)).await;
    assert_eq!(status, StatusCode::OK, "the send-back update: {updated:#}");
    let typed: CoreClientRegistrationResponse =
        serde_json::from_value(updated.clone()).expect("a typed client information response");
    assert_eq!(typed.client_id(), registered.client_id());
    assert_eq!(client_name(&typed), Some("Renamed RP"));

    let latest = typed
        .registration_access_token()
        .map_or(current.clone(), |t| t.secret().clone());
    let (status, _) = manage(&server, reqwest::Method::DELETE, &uri, &latest, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
