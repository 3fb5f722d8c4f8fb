//! Outbound fetches during registration: only `sector_identifier_uri` is fetched and its redirect
//! URIs are checked, and the reference `HttpFetcher` refuses what it must (the local server tests
//! need feature `fetch`).

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::*;
use oauth_dcr::fetch::{FetchError, FetchLimits, Fetcher};
use serde_json::{json, Value};

// ---- outbound fetches ----

#[tokio::test]
async fn nothing_but_the_sector_identifier_is_fetched_during_registration() {
    let fetcher = Arc::new(Recording {
        body: serde_json::to_vec(&json!([REDIRECT])).unwrap(),
        ..Recording::default()
    });
    let fx = Server::configured(|r| r.with_sector_identifier_check(fetcher.clone()));
    fx.register(&json!({
        "redirect_uris": [REDIRECT],
        "jwks_uri": "https://app.example/jwks.json",
        "logo_uri": "https://app.example/logo.png",
        "client_uri": "https://app.example/",
        "policy_uri": "https://app.example/policy",
        "tos_uri": "https://app.example/tos",
        "request_uris": ["https://app.example/request.jwt"],
        "token_endpoint_auth_method": "private_key_jwt",
    }))
    .await;
    assert!(
        fetcher.urls.lock().unwrap().is_empty(),
        "client URLs are never fetched"
    );

    fx.register(&json!({
        "redirect_uris": [REDIRECT],
        "sector_identifier_uri": "https://app.example/sector.json",
    }))
    .await;
    assert_eq!(
        *fetcher.urls.lock().unwrap(),
        ["https://app.example/sector.json"]
    );

    let err = fx
        .refuse(&json!({
            "redirect_uris": ["https://app.example/other"],
            "sector_identifier_uri": "https://app.example/sector.json",
        }))
        .await;
    assert_error(err, 400, "invalid_client_metadata");
    assert_eq!(fx.store.len(), 2);
}

#[cfg(feature = "fetch")]
mod sector {
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use axum::http::{header, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use oauth_dcr::fetch::HttpFetcher;

    use super::*;

    const LISTED: [&str; 2] = ["https://app.example/cb", "https://app.example/cb2"];

    /// A local server with the documents the tests fetch, and a count of requests to `/count`.
    async fn serve() -> (SocketAddr, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = Router::new()
            .route("/sector", get(|| async { axum::Json(LISTED) }))
            .route(
                "/not-an-array",
                get(|| async { axum::Json(json!({ "redirect_uris": LISTED })) }),
            )
            .route(
                "/moved",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/sector")]) }),
            )
            .route("/big", get(|| async { "x".repeat(100 * 1024) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "[]"
                }),
            )
            .route(
                "/count",
                get(move || {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        "[]"
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, hits)
    }

    fn checking_registrar() -> Server {
        // The sector documents are served on loopback: development switches only.
        let policy = policy_with(|p| {
            p.dangerously_allow_http_metadata_uris = true;
            p.dangerously_allow_private_addresses = true;
        });
        let fetcher = Arc::new(HttpFetcher::dangerously_allow_loopback_for_tests().unwrap());
        Server::build(policy, |r| r.with_sector_identifier_check(fetcher))
    }

    fn registration(addr: SocketAddr, path: &str, redirects: &[&str]) -> Value {
        json!({
            "redirect_uris": redirects,
            "sector_identifier_uri": format!("http://{addr}{path}"),
            "subject_type": "public",
        })
    }

    #[tokio::test]
    async fn listed_redirect_uris_are_accepted_and_unlisted_refused() {
        let (addr, _) = serve().await;
        let fx = checking_registrar();
        fx.register(&registration(addr, "/sector", &LISTED)).await;
        fx.register(&registration(addr, "/sector", &LISTED[..1]))
            .await;
        assert_eq!(fx.store.len(), 2);

        let unlisted = ["https://app.example/cb", "https://app.example/elsewhere"];
        let err = fx.refuse(&registration(addr, "/sector", &unlisted)).await;
        let reply = assert_error(err, 400, "invalid_client_metadata");
        assert!(
            reply
                .description()
                .contains("https://app.example/elsewhere"),
            "{reply:?}"
        );
        assert_eq!(fx.store.len(), 2);
    }

    #[tokio::test]
    async fn a_sector_document_that_cannot_be_used_is_refused() {
        let (addr, _) = serve().await;
        let fx = checking_registrar();
        for path in ["/not-an-array", "/moved", "/big", "/missing"] {
            let err = fx.refuse(&registration(addr, path, &LISTED)).await;
            assert_error(err, 400, "invalid_client_metadata");
        }
        assert_eq!(fx.store.len(), 0);
    }

    #[tokio::test]
    async fn the_reference_fetcher_refuses_http_and_non_public_addresses() {
        let (addr, hits) = serve().await;
        let fetcher = HttpFetcher::new().unwrap();
        let port = addr.port();
        for url in [
            format!("http://{addr}/count"),
            "http://app.example/sector.json".to_owned(),
            format!("https://127.0.0.1:{port}/count"),
            "https://127.0.0.1/".to_owned(),
            "https://169.254.169.254/latest/meta-data/".to_owned(),
            "https://[::1]/".to_owned(),
            "https://[::ffff:127.0.0.1]/".to_owned(),
            "https://10.0.0.1/".to_owned(),
            "https://192.168.1.1/".to_owned(),
            "https://0.0.0.0/".to_owned(),
            "https://user@app.example/".to_owned(),
            "file:///etc/passwd".to_owned(),
        ] {
            let result = fetcher.fetch(&url, FetchLimits::default()).await;
            assert!(
                matches!(result, Err(FetchError::Refused(_))),
                "{url}: {result:?}"
            );
        }
        // A name that resolves to loopback never reaches the server either.
        let result = fetcher
            .fetch(
                &format!("https://localhost:{port}/count"),
                FetchLimits::default(),
            )
            .await;
        assert!(result.is_err(), "{result:?}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "no request reached the server"
        );
    }

    #[tokio::test]
    async fn the_test_fetcher_reaches_loopback_but_follows_no_redirect() {
        let (addr, hits) = serve().await;
        let fetcher = HttpFetcher::dangerously_allow_loopback_for_tests().unwrap();
        let fetched = fetcher
            .fetch(&format!("http://{addr}/sector"), FetchLimits::default())
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Vec<String>>(&fetched.body).unwrap(),
            LISTED
        );
        assert_eq!(fetched.content_type.as_deref(), Some("application/json"));
        fetcher
            .fetch(&format!("http://{addr}/count"), FetchLimits::default())
            .await
            .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        let moved = fetcher
            .fetch(&format!("http://{addr}/moved"), FetchLimits::default())
            .await;
        assert_eq!(moved, Err(FetchError::Redirect));
        let missing = fetcher
            .fetch(&format!("http://{addr}/missing"), FetchLimits::default())
            .await;
        assert_eq!(missing, Err(FetchError::Status(404)));
        // Still no private addresses other than loopback.
        let metadata = fetcher
            .fetch("http://169.254.169.254/latest/", FetchLimits::default())
            .await;
        assert!(
            matches!(metadata, Err(FetchError::Refused(_))),
            "{metadata:?}"
        );
    }

    #[tokio::test]
    async fn the_test_fetcher_caps_size_and_time() {
        let (addr, _) = serve().await;
        let fetcher = HttpFetcher::dangerously_allow_loopback_for_tests().unwrap();
        let big = fetcher
            .fetch(&format!("http://{addr}/big"), FetchLimits::default())
            .await;
        assert_eq!(big, Err(FetchError::TooLarge(64 * 1024)));

        let mut small = FetchLimits::default();
        small.max_bytes = 10;
        let sector = fetcher.fetch(&format!("http://{addr}/sector"), small).await;
        assert_eq!(sector, Err(FetchError::TooLarge(10)));

        let mut quick = FetchLimits::default();
        quick.timeout = Duration::from_millis(200);
        let slow = fetcher.fetch(&format!("http://{addr}/slow"), quick).await;
        assert_eq!(slow, Err(FetchError::Timeout));
    }
}
