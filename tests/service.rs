//! The `tower` service and the `axum` router over real HTTP: the four operations through the
//! router, the router nested under a prefix that the policy's URL does not name, the policy's
//! body limit (413, by `Content-Length` and as a chunked body arrives), a stalled body answered
//! 408 within the read timeout while other requests go on, the peer's address in the hook's
//! context, the discovery documents; and the service through `ServiceExt::oneshot` answering
//! what `http::handle` answers.

#![cfg(feature = "axum")]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http_body_util::{BodyExt as _, Full};
use oauth_dcr::events::{HookContext, RegistrationHook};
use oauth_dcr::initial_tokens::{InitialAccessGrant, InitialTokenVerifier};
use oauth_dcr::service::RegistrationService;
use oauth_dcr::{
    ClientMetadata, MemoryStore, Registrar, RegistrationError, RequestContext, ServerPolicy,
    StoreError,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

/// The public URL of the registration endpoint: clients are told it, whatever path the host
/// mounts the router at.
const ENDPOINT: &str = "https://as.example/connect/dcr";

fn registrar(policy: ServerPolicy) -> Registrar {
    Registrar::new(policy, Arc::new(MemoryStore::new()))
}

fn policy() -> ServerPolicy {
    ServerPolicy::new(ENDPOINT)
}

/// Serves `app` on 127.0.0.1 (port chosen by the OS), with the peers' addresses.
async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// One HTTP response, read whole.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn token(reply: &Reply) -> String {
    reply.body["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Writes `request` on a new connection and reads until the server closes it or `wait` passes;
/// returns what arrived.
async fn raw(addr: SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut received)).await;
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn the_router_registers_reads_updates_and_deletes_over_http() {
    let registrar = Arc::new(registrar(policy()));
    let addr = serve(oauth_dcr::axum::router(registrar.clone())).await;
    let http = reqwest::Client::new();
    let base = format!("http://{addr}/register");

    let created = send(
        http.post(&base)
            .json(&json!({"redirect_uris": ["https://app.example/cb"], "client_name": "App"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.headers["cache-control"], "no-store");
    assert_eq!(created.headers["content-type"], "application/json");
    let id = created.body["client_id"].as_str().unwrap().to_owned();
    assert!(created.body["client_secret"].is_string());
    // The public URL comes from the policy, not from where the router is served.
    assert_eq!(
        created.body["registration_client_uri"],
        format!("{ENDPOINT}/{id}")
    );

    let read = send(
        http.get(format!("{base}/{id}"))
            .bearer_auth(token(&created)),
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["client_name"], "App");
    // The token rotated on read.
    assert_ne!(token(&read), token(&created));

    let updated = send(
        http.put(format!("{base}/{id}"))
            .bearer_auth(token(&read))
            .json(&json!({
                "client_id": id,
                "redirect_uris": ["https://app.example/cb2"],
                "client_name": "App 2",
            })),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["client_name"], "App 2");
    let stored = registrar.store().get(&id).await.unwrap().unwrap();
    assert_eq!(stored.metadata.client_name.as_deref(), Some("App 2"));

    let current = updated.body["registration_access_token"]
        .as_str()
        .map_or_else(|| token(&read), str::to_owned);
    let deleted = send(http.delete(format!("{base}/{id}")).bearer_auth(&current)).await;
    assert_eq!(deleted.status, 204);
    assert!(registrar.store().get(&id).await.unwrap().is_none());
    let gone = send(http.get(format!("{base}/{id}")).bearer_auth(&current)).await;
    assert_eq!(gone.status, 401);
    assert_eq!(
        gone.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );

    // What `http::handle` answers beyond the four operations.
    let patch = send(http.patch(format!("{base}/{id}"))).await;
    assert_eq!(patch.status, 405);
    assert_eq!(patch.headers["allow"], "GET, PUT, DELETE, OPTIONS");
    let form = send(
        http.post(&base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("redirect_uris=x"),
    )
    .await;
    assert_eq!(form.status, 415);
    let deeper = send(http.get(format!("{base}/{id}/more"))).await;
    assert_eq!(deeper.status, 404);
}

#[tokio::test]
async fn the_router_nested_under_a_prefix_serves_there_whatever_the_policy_path() {
    let registrar = Arc::new(registrar(policy()));
    // The policy says /connect/dcr (the public URL); the host serves /oauth/register.
    let app = axum::Router::new().nest("/oauth", oauth_dcr::axum::router(registrar.clone()));
    let addr = serve(app).await;
    let http = reqwest::Client::new();
    let body = json!({"redirect_uris": ["https://app.example/cb"]});

    let created = send(
        http.post(format!("http://{addr}/oauth/register"))
            .json(&body),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["client_id"].as_str().unwrap().to_owned();
    let read = send(
        http.get(format!("http://{addr}/oauth/register/{id}"))
            .bearer_auth(token(&created)),
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["client_id"], id.as_str());

    // Neither the unprefixed path nor the policy's path is served.
    for path in ["/register", "/connect/dcr"] {
        let elsewhere = send(http.post(format!("http://{addr}{path}")).json(&body)).await;
        assert_eq!(elsewhere.status, 404, "{path}");
    }

    // `http::handle` routes by the policy's path: the same request would not be served there.
    let request = http::Request::post("/oauth/register")
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .unwrap();
    let response = oauth_dcr::http::handle(&registrar, request, &RequestContext::new()).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_body_over_the_policy_limit_answers_413_and_one_at_the_limit_is_read() {
    let mut policy = policy();
    policy.limits.max_body_bytes = 1024;
    let addr = serve(oauth_dcr::axum::router(registrar(policy))).await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/register");
    let json = json!({"redirect_uris": ["https://app.example/cb"]}).to_string();
    let padded = |len: usize| format!("{json}{}", " ".repeat(len - json.len()));

    let at_limit = send(
        http.post(&url)
            .header("content-type", "application/json")
            .body(padded(1024)),
    )
    .await;
    assert_eq!(at_limit.status, 201, "{}", at_limit.body);

    let over = send(
        http.post(&url)
            .header("content-type", "application/json")
            .body(padded(1025)),
    )
    .await;
    assert_eq!(over.status, 413);
    assert_eq!(over.body["error"], "invalid_request");
    assert_eq!(over.headers["cache-control"], "no-store");

    // Chunked, with no Content-Length: cut off as it arrives.
    let chunk = "x".repeat(800);
    let request = format!(
        "POST /register HTTP/1.1\r\nhost: as.example\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         {len:x}\r\n{chunk}\r\n{len:x}\r\n{chunk}\r\n0\r\n\r\n",
        len = chunk.len()
    );
    let reply = raw(addr, request.as_bytes(), Duration::from_secs(10)).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
}

/// Verifies one initial access token, `letmein`.
struct OneToken;

#[async_trait]
impl InitialTokenVerifier for OneToken {
    async fn verify(&self, token: &str) -> Result<Option<InitialAccessGrant>, StoreError> {
        Ok((token == "letmein").then(|| InitialAccessGrant::with_scopes(["register"])))
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_only_after_the_callers_token() {
    let mut policy = policy();
    policy.limits.max_body_bytes = 64;
    let registrar = registrar(policy).require_initial_token(Arc::new(OneToken), None);
    let addr = serve(oauth_dcr::axum::router(registrar)).await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/register");
    let big = format!(r#"{{"client_name":"{}"}}"#, "x".repeat(200));

    let anonymous = send(
        http.post(&url)
            .header("content-type", "application/json")
            .body(big.clone()),
    )
    .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let with_token = send(
        http.post(&url)
            .bearer_auth("letmein")
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!(with_token.status, 413, "{}", with_token.body);
}

#[tokio::test]
async fn a_stalled_body_answers_408_within_the_read_timeout_and_others_are_served_meanwhile() {
    let service =
        RegistrationService::new(registrar(policy())).with_read_timeout(Duration::from_millis(300));
    let addr = serve(oauth_dcr::axum::router_with(service)).await;

    // Announces 100 bytes, sends 10, then nothing.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(
            b"POST /register HTTP/1.1\r\nhost: as.example\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"redirect",
        )
        .await
        .unwrap();
    let started = Instant::now();

    // Meanwhile another client registers.
    let http = reqwest::Client::new();
    let other = send(
        http.post(format!("http://{addr}/register"))
            .json(&json!({"redirect_uris": ["https://app.example/cb"]})),
    )
    .await;
    assert_eq!(other.status, 201);

    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 1024];
        loop {
            match stalled.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    let reply = String::from_utf8_lossy(&received).into_owned();
    assert!(
        read.is_ok(),
        "the stalled connection was still open after 10 s"
    );
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("connection: close"),
        "{reply}"
    );
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
}

/// Keeps the peer address each registration's context had.
#[derive(Default)]
struct Peers(Mutex<Vec<Option<IpAddr>>>);

#[async_trait]
impl RegistrationHook for Peers {
    async fn check(
        &self,
        _: &mut ClientMetadata,
        context: &HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        self.0.lock().unwrap().push(context.request.remote_addr);
        Ok(())
    }
}

#[tokio::test]
async fn the_peers_address_reaches_the_registrars_context() {
    let peers = Arc::new(Peers::default());
    let registrar = registrar(policy()).with_hook(peers.clone());
    let addr = serve(oauth_dcr::axum::router(registrar)).await;
    let created = send(
        reqwest::Client::new()
            .post(format!("http://{addr}/register"))
            .json(&json!({"redirect_uris": ["https://app.example/cb"]})),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        *peers.0.lock().unwrap(),
        [Some(IpAddr::from([127, 0, 0, 1]))]
    );
}

#[tokio::test]
async fn discovery_serves_the_hosts_document_with_the_registrars_members() {
    let mut policy = policy();
    policy.allowed_origins = vec!["https://console.example".into()];
    let registrar = registrar(policy);
    let base = json!({"issuer": "https://as.example", "authorization_endpoint": "https://as.example/authorize"});
    let app = axum::Router::new()
        .nest("/oauth", oauth_dcr::axum::router(registrar.clone()))
        .merge(oauth_dcr::axum::discovery(&registrar, base));
    let addr = serve(app).await;
    let http = reqwest::Client::new();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let document = send(
            http.get(format!("http://{addr}{path}"))
                .header("origin", "https://console.example"),
        )
        .await;
        assert_eq!(document.status, 200, "{path}");
        assert_eq!(document.headers["content-type"], "application/json");
        assert_eq!(
            document.headers["access-control-allow-origin"],
            "https://console.example"
        );
        assert_eq!(document.body["issuer"], "https://as.example");
        assert_eq!(document.body["registration_endpoint"], ENDPOINT);
        assert_eq!(
            Value::Object(registrar.discovery_metadata())["grant_types_supported"],
            document.body["grant_types_supported"]
        );
        let foreign = send(
            http.get(format!("http://{addr}{path}"))
                .header("origin", "https://evil.example"),
        )
        .await;
        assert!(!foreign.headers.contains_key("access-control-allow-origin"));
        let post = send(http.post(format!("http://{addr}{path}"))).await;
        assert_eq!(post.status, 405);
        assert_eq!(post.headers["allow"], "GET, HEAD");
    }
}

/// The service's answer and `http::handle`'s to the same request, as status, headers and body.
async fn both(
    service: &RegistrationService,
    registrar: &Registrar,
    request: impl Fn() -> http::Request<Vec<u8>>,
) -> [(u16, http::HeaderMap, Vec<u8>); 2] {
    let served = service
        .clone()
        .oneshot(request().map(Full::<bytes::Bytes>::from))
        .await
        .unwrap();
    let (parts, body) = served.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    let handled = oauth_dcr::http::handle(registrar, request(), &RequestContext::new()).await;
    let (handled_parts, handled_body) = handled.into_parts();
    [
        (parts.status.as_u16(), parts.headers, body),
        (
            handled_parts.status.as_u16(),
            handled_parts.headers,
            handled_body,
        ),
    ]
}

#[tokio::test]
async fn the_service_answers_what_http_handle_answers() {
    let mut policy = ServerPolicy::new("https://as.example/register");
    policy.allowed_origins = vec!["https://console.example".into()];
    let registrar = registrar(policy);
    // Mounted where the policy says, so that `http::handle` serves the same paths.
    let service = RegistrationService::new(registrar.clone()).mounted_at("/register");
    let request = |method: &str, path: &str, content_type: &str, body: &str| {
        let method = method.to_owned();
        let path = path.to_owned();
        let content_type = content_type.to_owned();
        let body = body.to_owned();
        move || {
            http::Request::builder()
                .method(method.as_str())
                .uri(path.as_str())
                .header("content-type", content_type.as_str())
                .header("origin", "https://console.example")
                .body(body.clone().into_bytes())
                .unwrap()
        }
    };
    let cases = [
        request("POST", "/register", "application/json", "not json"),
        request("POST", "/register", "application/json", "[]"),
        request("POST", "/register", "text/plain", "{}"),
        request(
            "POST",
            "/register",
            "application/json",
            r#"{"redirect_uris":["http://app.example/cb"]}"#,
        ),
        request("PATCH", "/register", "application/json", "{}"),
        request("OPTIONS", "/register/abc", "", ""),
        request("GET", "/register/abc", "", ""),
        request("DELETE", "/register/abc", "", ""),
        request("PUT", "/register/abc", "application/json", "{}"),
        request("GET", "/register/a/b", "", ""),
        request("GET", "/elsewhere", "", ""),
    ];
    for case in cases {
        let [served, handled] = both(&service, &registrar, &case).await;
        let described = format!("{} {}", case().method(), case().uri());
        assert_eq!(served.0, handled.0, "{described}");
        assert_eq!(served.1, handled.1, "{described}");
        assert_eq!(served.2, handled.2, "{described}");
    }

    // A registration: the same status and headers, a client that works.
    let register = request(
        "POST",
        "/register",
        "application/json",
        r#"{"redirect_uris":["https://app.example/cb"]}"#,
    );
    let [served, handled] = both(&service, &registrar, &register).await;
    assert_eq!(served.0, 201);
    assert_eq!(served.0, handled.0);
    assert_eq!(served.1, handled.1);
    let client: Value = serde_json::from_slice(&served.2).unwrap();
    let id = client["client_id"].as_str().unwrap();
    assert!(registrar.store().get(id).await.unwrap().is_some());

    // Elsewhere than its mount, nothing.
    let other = RegistrationService::new(registrar.clone()).mounted_at("/dcr");
    let response = other
        .oneshot(register().map(Full::<bytes::Bytes>::from))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
