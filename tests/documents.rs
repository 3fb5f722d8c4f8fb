//! Client ID Metadata Documents: URL client identifiers resolved through a `Fetcher`, validated
//! with the registration rules, cached within bounds, one fetch per URL at a time.
//!
//! Documents are served by a local axum server on loopback. Client identifiers are
//! `https://app.test/...` URLs; the test fetcher maps them onto the loopback server and fetches
//! through the crate's `HttpFetcher` with loopback allowed — only here, in tests.

#![cfg(feature = "fetch")]

mod common;
use common::Bytes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::{ENDPOINT, MCP_DOCUMENT};
use oauth_dcr::discovery::discovery_metadata;
use oauth_dcr::documents::{DocumentPolicy, DocumentTrust, Trust};
use oauth_dcr::fetch::{FetchError, FetchLimits, Fetched, Fetcher, HttpFetcher};
use oauth_dcr::{MemoryStore, Registrar, RegistrationError, ServerPolicy};

/// What the loopback server answers for one path.
#[derive(Clone)]
struct Doc {
    status: StatusCode,
    content_type: &'static str,
    cache_control: Option<&'static str>,
    location: Option<&'static str>,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    delay: Duration,
}

impl Doc {
    fn json(body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "application/json",
            cache_control: None,
            location: None,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
}

#[derive(Clone, Default)]
struct Site {
    docs: Arc<Mutex<HashMap<String, Doc>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Site {
    fn serve(&self, path: &str, doc: Doc) {
        self.docs.lock().unwrap().insert(path.to_owned(), doc);
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn document(State(site): State<Site>, Path(path): Path<String>) -> axum::response::Response {
    *site.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let doc = site.docs.lock().unwrap().get(&path).cloned();
    let Some(doc) = doc else {
        return StatusCode::NOT_FOUND.into_response();
    };
    tokio::time::sleep(doc.delay).await;
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, doc.content_type.parse().unwrap());
    if let Some(cc) = doc.cache_control {
        headers.insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    if let Some(location) = doc.location {
        headers.insert(header::LOCATION, location.parse().unwrap());
    }
    for (name, value) in &doc.headers {
        headers.insert(*name, value.parse().unwrap());
    }
    (doc.status, headers, doc.body).into_response()
}

/// Maps `https://app.test/<path>` onto the loopback server.
struct LoopbackFetcher {
    base: String,
    inner: HttpFetcher,
    calls: AtomicUsize,
}

#[async_trait]
impl Fetcher for LoopbackFetcher {
    async fn fetch(&self, url: &str, limits: FetchLimits) -> Result<Fetched, FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let path = url
            .strip_prefix("https://app.test/")
            .ok_or_else(|| FetchError::Refused(format!("{url} is not on the test host")))?;
        self.inner
            .fetch(&format!("{}/{path}", self.base), limits)
            .await
    }
}

struct Fixture {
    site: Site,
    fetcher: Arc<LoopbackFetcher>,
}

async fn fixture() -> Fixture {
    let site = Site::default();
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::get(document))
        .with_state(site.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let fetcher = Arc::new(LoopbackFetcher {
        base: format!("http://{addr}"),
        inner: HttpFetcher::dangerously_allow_loopback_for_tests().unwrap(),
        calls: AtomicUsize::new(0),
    });
    Fixture { site, fetcher }
}

fn registrar(fetcher: Arc<dyn Fetcher>, documents: DocumentPolicy) -> Registrar {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.metadata_documents = Some(documents);
    Registrar::new(policy, Arc::new(MemoryStore::new())).with_metadata_documents(fetcher)
}

fn with_policy(change: impl FnOnce(&mut DocumentPolicy)) -> DocumentPolicy {
    let mut policy = DocumentPolicy::default();
    change(&mut policy);
    policy
}

fn doc_body(client_id: &str, extra: &str) -> String {
    format!(
        r#"{{"client_id":"{client_id}","client_name":"Agent","redirect_uris":["http://127.0.0.1/callback","https://app.test/cb"],"application_type":"native"{extra}}}"#
    )
}

fn refused(err: RegistrationError, code: &str, needle: &str) {
    assert_eq!(err.status(), 400, "{err:?}");
    assert_eq!(err.code().as_str(), code, "{err:?}");
    let description = err.response().error_description.unwrap_or_default();
    assert!(
        description.contains(needle),
        "`{description}` should mention `{needle}`"
    );
}

#[tokio::test]
async fn a_valid_document_resolves_to_what_a_registration_would_store() {
    let f = fixture().await;
    let id = "https://app.test/agent.json";
    f.site.serve("agent.json", Doc::json(doc_body(id, "")));
    let registrar = registrar(f.fetcher.clone(), DocumentPolicy::default());

    let resolved = registrar.resolve_client_id(id).await.expect("resolves");
    assert_eq!(resolved.client_id, id);
    assert_eq!(resolved.trust, Trust::Unverified);
    // The same document, minus its client_id and with `none` spelled out, as a registration body.
    let body = doc_body(id, r#","token_endpoint_auth_method":"none""#);
    let registered = registrar
        .validate_bytes(body.as_bytes())
        .expect("valid as a registration");
    assert_eq!(resolved.metadata, registered);
    assert_eq!(resolved.metadata.client_name.as_deref(), Some("Agent"));
}

/// Issue 15: the README's setup (`ServerPolicy::new` plus `DocumentPolicy::default()`) resolves
/// it: a document without `application_type` is a native client, and `localhost` loopback
/// redirects are accepted for it.
#[tokio::test]
async fn an_mcp_coding_agent_document_resolves_under_the_default_policy() {
    let f = fixture().await;
    let id = "https://app.test/oauth/client-metadata.json";
    f.site
        .serve("oauth/client-metadata.json", Doc::json(MCP_DOCUMENT));
    let registrar = registrar(f.fetcher.clone(), DocumentPolicy::default());
    let resolved = registrar.resolve_client_id(id).await.expect("resolves");
    let m = serde_json::to_value(&resolved.metadata).unwrap();
    assert_eq!(m["application_type"], "native");
    assert_eq!(
        m["redirect_uris"],
        serde_json::json!(["http://localhost/callback", "http://127.0.0.1/callback"])
    );
    assert_eq!(m["token_endpoint_auth_method"], "none");
    assert_eq!(m["client_name"], "Example Coding Agent");
    // A document that says it is a web client still gets no http loopback redirect.
    let web = MCP_DOCUMENT.replace(
        r#""client_name""#,
        r#""application_type": "web", "client_name""#,
    );
    let web_id = "https://app.test/oauth/web.json";
    f.site.serve(
        "oauth/web.json",
        Doc::json(web.replace("oauth/client-metadata.json", "oauth/web.json")),
    );
    let err = registrar.resolve_client_id(web_id).await.expect_err("web");
    refused(err, "invalid_redirect_uri", "web client");
}

/// Issue 15, MCP: the consent screen shows the client's host and warns when every redirect
/// stays on this device (anyone can publish such a document and name any app); a server may
/// also demand a `client_name`.
#[tokio::test]
async fn documents_can_require_a_client_name_and_loopback_only_ones_are_labelled() {
    let f = fixture().await;
    let registrar = registrar(f.fetcher.clone(), DocumentPolicy::default());
    let id = "https://app.test/oauth/client-metadata.json";
    f.site
        .serve("oauth/client-metadata.json", Doc::json(MCP_DOCUMENT));
    let agent = registrar.resolve_client_id(id).await.expect("resolves");
    assert!(agent.loopback_only, "localhost and 127.0.0.1 only");
    assert_eq!(agent.host, "app.test");
    let mixed = "https://app.test/mixed.json";
    f.site.serve("mixed.json", Doc::json(doc_body(mixed, "")));
    let mixed = registrar.resolve_client_id(mixed).await.expect("resolves");
    assert!(
        !mixed.loopback_only,
        "it also redirects to https://app.test/cb"
    );

    let nameless = "https://app.test/nameless.json";
    f.site.serve(
        "nameless.json",
        Doc::json(format!(
            r#"{{"client_id":"{nameless}","redirect_uris":["http://127.0.0.1/callback"]}}"#
        )),
    );
    registrar
        .resolve_client_id(nameless)
        .await
        .expect("a name is optional by default");
    let strict = self::registrar(
        f.fetcher.clone(),
        with_policy(|p| p.require_client_name = true),
    );
    let err = strict
        .resolve_client_id(nameless)
        .await
        .expect_err("no name");
    refused(err, "invalid_client_metadata", "client_name");
    strict.resolve_client_id(id).await.expect("named");
}

/// The development switch for walkthroughs: an `http` loopback client id resolves when the
/// policy and the fetcher both allow it, and only then.
#[tokio::test]
async fn http_loopback_client_ids_resolve_only_with_the_development_switch() {
    let f = fixture().await;
    let id = format!("{}/dev.json", f.fetcher.base);
    f.site.serve("dev.json", Doc::json(doc_body(&id, "")));
    let fetcher: Arc<dyn Fetcher> =
        Arc::new(HttpFetcher::dangerously_allow_loopback_for_tests().unwrap());
    let off = registrar(fetcher.clone(), DocumentPolicy::default());
    let err = off.resolve_client_id(&id).await.expect_err("https only");
    refused(err, "invalid_client", "must use https");
    let dev = registrar(
        fetcher,
        with_policy(|p| p.dangerously_allow_http_loopback = true),
    );
    let resolved = dev.resolve_client_id(&id).await.expect("resolves locally");
    assert!(!resolved.loopback_only, "it also lists https://app.test/cb");
    assert_eq!(resolved.host, "127.0.0.1");
}

#[tokio::test]
async fn every_bad_document_is_refused_and_nothing_is_cached_as_valid() {
    let f = fixture().await;
    let base = "https://app.test/";
    let big = format!(r#","client_uri":"https://app.test/{}""#, "a".repeat(6000));
    let cases: Vec<(&str, Doc, &str, &str)> = vec![
        (
            "mismatch.json",
            Doc::json(doc_body("https://app.test/other.json", "")),
            "invalid_client",
            "does not equal its URL",
        ),
        (
            "secret-method.json",
            Doc::json(doc_body(
                &format!("{base}secret-method.json"),
                r#","token_endpoint_auth_method":"client_secret_basic""#,
            )),
            "invalid_client",
            "shared-secret",
        ),
        (
            "secret-field.json",
            Doc::json(doc_body(
                &format!("{base}secret-field.json"),
                r#","client_secret":"s3cret""#,
            )),
            "invalid_client",
            "client_secret",
        ),
        (
            "big.json",
            Doc::json(doc_body(&format!("{base}big.json"), &big)),
            "invalid_client",
            "could not be fetched",
        ),
        (
            "html.json",
            Doc {
                content_type: "text/html",
                ..Doc::json("<html></html>")
            },
            "invalid_client",
            "not JSON",
        ),
        (
            "not-json.json",
            Doc::json("{not json"),
            "invalid_client",
            "not acceptable",
        ),
        (
            "array.json",
            Doc::json("[1,2]"),
            "invalid_client",
            "not acceptable",
        ),
        (
            "redirect.json",
            Doc {
                status: StatusCode::FOUND,
                location: Some("https://evil.example/doc.json"),
                ..Doc::json("")
            },
            "invalid_client",
            "could not be fetched",
        ),
        (
            "bad-redirect-uri.json",
            Doc::json(format!(
                r#"{{"client_id":"{base}bad-redirect-uri.json","redirect_uris":["javascript:alert(1)"]}}"#
            )),
            "invalid_redirect_uri",
            "javascript",
        ),
        (
            "gone.json",
            Doc {
                status: StatusCode::NOT_FOUND,
                ..Doc::json("")
            },
            "invalid_client",
            "could not be fetched",
        ),
    ];
    let registrar = registrar(f.fetcher.clone(), DocumentPolicy::default());
    for (path, doc, code, needle) in cases {
        f.site.serve(path, doc);
        let id = format!("{base}{path}");
        let err = registrar.resolve_client_id(&id).await.expect_err(path);
        refused(err, code, needle);
        // A failure is never cached by default (the draft: the server "MUST NOT cache error
        // responses" or invalid documents): asking again fetches again, and fails the same way.
        let again = registrar.resolve_client_id(&id).await.expect_err(path);
        refused(again, code, needle);
        assert_eq!(f.site.hits(path), 2, "{path}: the failure was not cached");
    }
    assert_eq!(registrar.cached_documents(), 0, "no failure is cached");
}

/// The flood-damping knob, off by default, still remembers failures when a host turns it on
/// (a documented deviation from the draft).
#[tokio::test]
async fn failures_are_remembered_only_when_the_host_turns_failure_caching_on() {
    let f = fixture().await;
    let id = "https://app.test/flaky.json";
    assert_eq!(DocumentPolicy::default().failure_cache, Duration::ZERO);
    let damped = registrar(
        f.fetcher.clone(),
        with_policy(|p| p.failure_cache = Duration::from_secs(30)),
    );
    damped
        .resolve_client_id(id)
        .await
        .expect_err("not served yet");
    f.site.serve("flaky.json", Doc::json(doc_body(id, "")));
    damped
        .resolve_client_id(id)
        .await
        .expect_err("failure remembered");
    assert_eq!(f.site.hits("flaky.json"), 1);

    let plain = registrar(f.fetcher.clone(), DocumentPolicy::default());
    plain
        .resolve_client_id(id)
        .await
        .expect("a fresh fetch resolves");
    assert_eq!(f.site.hits("flaky.json"), 2);
}

#[tokio::test]
async fn private_addresses_slow_servers_and_dead_hosts_are_refused() {
    // The real fetcher refuses loopback targets outright.
    let strict: Arc<dyn Fetcher> = Arc::new(HttpFetcher::new().unwrap());
    let registrar_strict = registrar(strict, DocumentPolicy::default());
    for id in [
        "https://127.0.0.1/client.json",
        "https://[::1]/client.json",
        "https://169.254.169.254/latest/meta-data",
    ] {
        let err = registrar_strict.resolve_client_id(id).await.expect_err(id);
        refused(err, "invalid_client", "could not be fetched");
    }

    let f = fixture().await;
    let id = "https://app.test/slow.json";
    f.site.serve(
        "slow.json",
        Doc {
            delay: Duration::from_secs(3),
            ..Doc::json(doc_body(id, ""))
        },
    );
    let quick = with_policy(|p| {
        p.timeout = Duration::from_millis(200);
    });
    let err = registrar(f.fetcher.clone(), quick)
        .resolve_client_id(id)
        .await
        .expect_err("slow");
    refused(err, "invalid_client", "could not be fetched");

    let dead: Arc<dyn Fetcher> = Arc::new(LoopbackFetcher {
        base: "http://127.0.0.1:9".to_owned(),
        inner: HttpFetcher::dangerously_allow_loopback_for_tests().unwrap(),
        calls: AtomicUsize::new(0),
    });
    let err = registrar(dead, DocumentPolicy::default())
        .resolve_client_id("https://app.test/any.json")
        .await
        .expect_err("dead host");
    refused(err, "invalid_client", "could not be fetched");
}

/// The fetch module's promise: clients never see why a fetch failed (addresses, upstream
/// statuses); the host finds it in the error's `source()` for its logs.
#[tokio::test]
async fn fetch_failures_tell_the_client_nothing_and_the_host_everything() {
    let strict = registrar(
        Arc::new(HttpFetcher::new().unwrap()),
        DocumentPolicy::default(),
    );
    let err = strict
        .resolve_client_id("https://169.254.169.254/latest/meta-data")
        .await
        .expect_err("private address");
    let detail = fetch_detail(&err);
    assert!(matches!(detail, FetchError::Refused(d) if d.contains("169.254.169.254")));
    generic(&err, &["169.254", "public address"]);

    let f = fixture().await;
    f.site.serve(
        "gone.json",
        Doc {
            status: StatusCode::SERVICE_UNAVAILABLE,
            ..Doc::json("upstream says: database 10.0.0.7 down")
        },
    );
    let registrar = registrar(f.fetcher.clone(), DocumentPolicy::default());
    let err = registrar
        .resolve_client_id("https://app.test/gone.json")
        .await
        .expect_err("503");
    assert_eq!(fetch_detail(&err), FetchError::Status(503));
    generic(&err, &["503", "10.0.0.7"]);
}

fn fetch_detail(err: &RegistrationError) -> FetchError {
    let source = std::error::Error::source(err).expect("the detail is the source");
    source
        .downcast_ref::<FetchError>()
        .expect("a FetchError")
        .clone()
}

fn generic(err: &RegistrationError, hidden: &[&str]) {
    assert_eq!(err.status(), 400);
    assert_eq!(err.code().as_str(), "invalid_client");
    let wire = serde_json::to_string(&err.response()).unwrap();
    assert_eq!(
        err.response().error_description.as_deref(),
        Some("the client metadata document could not be fetched"),
        "{wire}"
    );
    for h in hidden {
        assert!(!wire.contains(h), "`{h}` leaked into {wire}");
        assert!(!err.to_string().contains(h), "`{h}` leaked into Display");
    }
}

#[tokio::test]
async fn url_rules_and_host_lists_apply_before_any_fetch() {
    let f = fixture().await;
    let policy = with_policy(|p| {
        p.denied_hosts = ["app.test".to_owned()].into();
    });
    let registrar = registrar(f.fetcher.clone(), policy);
    for id in [
        "https://app.test/denied.json",
        "http://app.test/plain.json",
        "https://app.test/",
        "https://app.test/a/../b.json",
        "https://app.test/c.json#frag",
        "https://user@app.test/c.json",
    ] {
        let err = registrar.resolve_client_id(id).await.expect_err(id);
        assert_eq!(err.code().as_str(), "invalid_client", "{id}");
    }
    assert_eq!(
        f.fetcher.calls.load(Ordering::SeqCst),
        0,
        "nothing was fetched"
    );
}

/// The draft compares the client id with the document's by simple string comparison: an `@` in
/// the path or query is no userinfo, and an explicit `:443` or an uppercase host is compared as
/// sent, not refused for its form.
#[tokio::test]
async fn client_ids_are_compared_as_sent_and_at_signs_outside_the_authority_are_not_userinfo() {
    let f = fixture().await;
    let registrar = registrar(f.fetcher.clone(), DocumentPolicy::default());
    for (id, path) in [
        (
            "https://app.test/agents/@scope/client.json",
            "agents/@scope/client.json",
        ),
        (
            "https://app.test/client.json?owner=me@example.com",
            "client.json",
        ),
    ] {
        f.site.serve(path, Doc::json(doc_body(id, "")));
        let resolved = registrar.resolve_client_id(id).await.expect(id);
        assert_eq!(resolved.client_id, id);
    }
    // The registrar fetches the parsed URL (`https://app.test/…`); the document's `client_id`
    // must still spell the id as the client sent it.
    for (id, path) in [
        ("https://app.test:443/port.json", "port.json"),
        ("https://APP.test/upper.json", "upper.json"),
    ] {
        f.site.serve(path, Doc::json(doc_body(id, "")));
        let resolved = registrar.resolve_client_id(id).await.expect(id);
        assert_eq!(resolved.client_id, id);
        // The document must spell the client id exactly as the client sends it.
        let other = format!("https://app.test/{path}");
        f.site.serve(path, Doc::json(doc_body(&other, "")));
        let fresh = self::registrar(f.fetcher.clone(), DocumentPolicy::default());
        let err = fresh.resolve_client_id(id).await.expect_err(id);
        refused(err, "invalid_client", "does not equal its URL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_resolutions_share_one_fetch_and_hits_come_from_the_cache() {
    let f = fixture().await;
    let id = "https://app.test/popular.json";
    f.site.serve(
        "popular.json",
        Doc {
            delay: Duration::from_millis(300),
            ..Doc::json(doc_body(id, ""))
        },
    );
    let registrar = Arc::new(registrar(f.fetcher.clone(), DocumentPolicy::default()));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let registrar = registrar.clone();
        tasks.push(tokio::spawn(async move {
            registrar.resolve_client_id(id).await
        }));
    }
    let mut resolved = Vec::new();
    for task in tasks {
        resolved.push(task.await.unwrap().expect("resolves"));
    }
    assert_eq!(
        f.site.hits("popular.json"),
        1,
        "20 concurrent resolutions, one fetch"
    );
    assert!(
        resolved.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])),
        "all share one result"
    );
    let later = registrar.resolve_client_id(id).await.unwrap();
    assert!(
        Arc::ptr_eq(&later, &resolved[0]),
        "a later call is a cache hit"
    );
    assert_eq!(f.site.hits("popular.json"), 1);
}

#[tokio::test]
async fn cache_lifetimes_follow_cache_control_within_the_policy_bounds() {
    let f = fixture().await;
    let policy = with_policy(|p| {
        p.min_cache = Duration::from_secs(60);
        p.max_cache = Duration::from_secs(3600);
    });
    let registrar = registrar(f.fetcher.clone(), policy);
    for (path, cache_control, expected) in [
        ("long.json", Some("public, max-age=999999"), 3600),
        ("short.json", Some("max-age=5"), 60),
        ("mid.json", Some("max-age=600"), 600),
        ("none.json", None, 60),
        ("nostore.json", Some("no-store"), 60),
    ] {
        let id = format!("https://app.test/{path}");
        f.site.serve(
            path,
            Doc {
                cache_control,
                ..Doc::json(doc_body(&id, ""))
            },
        );
        let resolved = registrar.resolve_client_id(&id).await.expect(path);
        assert_eq!(resolved.cache_for, Duration::from_secs(expected), "{path}");
    }
}

/// RFC 9111 §4.2: the freshness lifetime is `max-age`, else `Expires` minus `Date`; the `Age`
/// the document already has is taken off.
#[tokio::test]
async fn cache_lifetimes_honour_age_and_expires() {
    let f = fixture().await;
    let policy = with_policy(|p| {
        p.min_cache = Duration::from_secs(60);
        p.max_cache = Duration::from_secs(3600);
    });
    let registrar = registrar(f.fetcher.clone(), policy);
    let date = ("date", "Sun, 06 Nov 1994 08:49:37 GMT");
    let in_15_min = ("expires", "Sun, 06 Nov 1994 09:04:37 GMT");
    for (path, cache_control, headers, expected) in [
        ("aged.json", Some("max-age=600"), vec![("age", "100")], 500),
        (
            "too-old.json",
            Some("max-age=600"),
            vec![("age", "590")],
            60,
        ),
        ("expires.json", None, vec![date, in_15_min], 900),
        (
            "expires-aged.json",
            None,
            vec![date, in_15_min, ("age", "300")],
            600,
        ),
        (
            "expired.json",
            None,
            vec![in_15_min, ("date", "Mon, 07 Nov 1994 00:00:00 GMT")],
            60,
        ),
        ("bad-expires.json", None, vec![date, ("expires", "0")], 60),
        (
            "max-age-wins.json",
            Some("max-age=120"),
            vec![date, in_15_min],
            120,
        ),
    ] {
        let id = format!("https://app.test/{path}");
        f.site.serve(
            path,
            Doc {
                cache_control,
                headers,
                ..Doc::json(doc_body(&id, ""))
            },
        );
        let resolved = registrar.resolve_client_id(&id).await.expect(path);
        assert_eq!(resolved.cache_for, Duration::from_secs(expected), "{path}");
    }
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let f = fixture().await;
    let policy = with_policy(|p| {
        p.max_entries = 3;
    });
    let registrar = registrar(f.fetcher.clone(), policy);
    for i in 0..10 {
        let path = format!("client-{i}.json");
        let id = format!("https://app.test/{path}");
        f.site.serve(&path, Doc::json(doc_body(&id, "")));
        registrar.resolve_client_id(&id).await.expect("resolves");
        assert!(
            registrar.cached_documents() <= 3,
            "at most 3 entries, got {}",
            registrar.cached_documents()
        );
    }
    assert_eq!(registrar.cached_documents(), 3);
}

struct LabelDevelopment;

#[async_trait]
impl DocumentTrust for LabelDevelopment {
    async fn assess(
        &self,
        client_id: &str,
        metadata: &mut oauth_dcr::ClientMetadata,
        trust: Trust,
    ) -> Result<Trust, RegistrationError> {
        if client_id.contains("blocked") {
            return Err(RegistrationError::refused("this client is blocked"));
        }
        if client_id.contains("dev") {
            metadata.client_name = Some(format!(
                "{} (development)",
                metadata.client_name.clone().unwrap_or_default()
            ));
            return Ok(Trust::Labelled("under development".to_owned()));
        }
        Ok(trust)
    }
}

#[tokio::test]
async fn the_trust_hook_and_verified_hosts_label_or_refuse_clients() {
    let f = fixture().await;
    let policy = with_policy(|p| {
        p.verified_hosts = ["app.test".to_owned()].into();
    });
    let registrar =
        registrar(f.fetcher.clone(), policy).with_document_trust(Arc::new(LabelDevelopment));
    for path in ["ok.json", "dev.json", "blocked.json"] {
        let id = format!("https://app.test/{path}");
        f.site.serve(path, Doc::json(doc_body(&id, "")));
    }
    let ok = registrar
        .resolve_client_id("https://app.test/ok.json")
        .await
        .unwrap();
    assert_eq!(ok.trust, Trust::Verified);
    let dev = registrar
        .resolve_client_id("https://app.test/dev.json")
        .await
        .unwrap();
    assert_eq!(dev.trust, Trust::Labelled("under development".to_owned()));
    assert_eq!(
        dev.metadata.client_name.as_deref(),
        Some("Agent (development)")
    );
    let err = registrar
        .resolve_client_id("https://app.test/blocked.json")
        .await
        .unwrap_err();
    refused(err, "invalid_client_metadata", "blocked");
}

/// Issue 15: discovery says what the registrar can do: the policy enables documents, and a
/// fetcher is attached. The policy alone cannot say, so the free function never advertises it.
#[test]
fn discovery_advertises_metadata_documents_only_when_a_fetcher_is_attached() {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.metadata_documents = Some(DocumentPolicy::default());
    let flag = "client_id_metadata_document_supported";
    assert!(discovery_metadata(&policy).get(flag).is_none());
    let without = Registrar::new(policy.clone(), Arc::new(MemoryStore::new()));
    assert!(without.discovery_metadata().get(flag).is_none());
    let fetcher: Arc<dyn Fetcher> = Arc::new(HttpFetcher::new().unwrap());
    let with = Registrar::new(policy, Arc::new(MemoryStore::new()))
        .with_metadata_documents(fetcher.clone());
    assert_eq!(with.discovery_metadata()[flag], true);
    // A fetcher without the policy enables nothing either.
    let off = Registrar::new(ServerPolicy::new(ENDPOINT), Arc::new(MemoryStore::new()))
        .with_metadata_documents(fetcher);
    assert!(off.discovery_metadata().get(flag).is_none());
    assert_eq!(
        with.discovery_metadata()["registration_endpoint"],
        "https://as.example/register"
    );
}

#[tokio::test]
async fn without_the_policy_url_client_ids_are_not_resolved() {
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), Arc::new(MemoryStore::new()));
    let err = registrar
        .resolve_client_id("https://app.test/a.json")
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
}

/// Issue 14: a metadata document meets the same rules as a registration: addresses the server
/// would call, client keys, control and bidirectional characters, contacts, scopes.
#[tokio::test]
async fn documents_meet_the_address_key_character_contact_and_scope_rules() {
    let f = fixture().await;
    let base = "https://app.test/";
    let cases = [
        (
            "jwks-uri-metadata.json",
            r#","jwks_uri":"https://169.254.169.254/latest/meta-data/""#,
            "jwks_uri",
        ),
        (
            "weak-key.json",
            r#","jwks":{"keys":[{"kty":"EC","crv":"P-999","x":"AA","y":"AA"}]}"#,
            "jwks",
        ),
        (
            "bidi-name.json",
            r#","client_name#en":"Agent\u202e""#,
            "client_name#en",
        ),
        (
            "nul-version.json",
            r#","software_version":"1\u0000""#,
            "software_version",
        ),
        ("bad-contact.json", r#","contacts":["nobody"]"#, "contacts"),
        ("admin-scope.json", r#","scope":"openid admin""#, "scope"),
    ];
    let registrar = registrar(f.fetcher.clone(), DocumentPolicy::default());
    for (path, extra, field) in cases {
        let id = format!("{base}{path}");
        f.site.serve(path, Doc::json(doc_body(&id, extra)));
        let err = registrar.resolve_client_id(&id).await.expect_err(path);
        refused(err, "invalid_client_metadata", field);
    }
}

/// The host's hook (what the deployment profiles' rules use) sees a document as it sees a
/// registration, and may refuse it.
struct NoAgents(Mutex<Vec<oauth_dcr::events::Operation>>);

#[async_trait]
impl oauth_dcr::events::RegistrationHook for NoAgents {
    async fn check(
        &self,
        metadata: &mut oauth_dcr::ClientMetadata,
        context: &oauth_dcr::events::HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        self.0.lock().unwrap().push(context.operation);
        if metadata.client_name.as_deref() == Some("Agent") {
            return Err(RegistrationError::refused("agents are not welcome here"));
        }
        Ok(())
    }
}

/// Every rule on every path: a metadata document meets the host's hook and the
/// `sector_identifier_uri` check, as a registration does.
#[tokio::test]
async fn documents_meet_the_hook_and_the_sector_identifier_check() {
    let f = fixture().await;
    let hook = Arc::new(NoAgents(Mutex::new(Vec::new())));
    let registrar = registrar(f.fetcher.clone(), DocumentPolicy::default())
        .with_hook(hook.clone())
        .with_sector_identifier_check(f.fetcher.clone());

    let id = "https://app.test/agent.json";
    f.site.serve("agent.json", Doc::json(doc_body(id, "")));
    let err = registrar.resolve_client_id(id).await.expect_err("hooked");
    refused(err, "invalid_client_metadata", "agents are not welcome");
    assert_eq!(
        hook.0.lock().unwrap().as_slice(),
        [oauth_dcr::events::Operation::Resolve]
    );

    f.site
        .serve("sector.json", Doc::json(r#"["https://app.test/other"]"#));
    let id = "https://app.test/pairwise.json";
    let extra = r#","client_name":"Tool","sector_identifier_uri":"https://app.test/sector.json""#;
    let body = doc_body(id, extra).replacen(r#""client_name":"Agent","#, "", 1);
    f.site.serve("pairwise.json", Doc::json(body));
    let err = registrar.resolve_client_id(id).await.expect_err("sector");
    refused(err, "invalid_client_metadata", "sector_identifier_uri");
}

/// The documents' own rules (native by default, `localhost` redirects) hold after the host's
/// hook too: the hook's re-validation must not refuse the MCP document that validation
/// accepted.
#[tokio::test]
async fn an_mcp_document_resolves_under_a_host_hook_too() {
    let f = fixture().await;
    let hook = Arc::new(NoAgents(Mutex::new(Vec::new())));
    let registrar = registrar(f.fetcher.clone(), DocumentPolicy::default()).with_hook(hook.clone());
    let id = "https://app.test/oauth/client-metadata.json";
    f.site
        .serve("oauth/client-metadata.json", Doc::json(MCP_DOCUMENT));
    let resolved = registrar.resolve_client_id(id).await.expect("resolves");
    assert!(resolved.loopback_only);
    assert_eq!(hook.0.lock().unwrap().len(), 1, "the hook ran");
}
