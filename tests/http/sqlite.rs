//! `--store sqlite:PATH`: the clients outlive the server (register, stop it, start another over
//! the same file, manage the client with its token, list it), and a database another process
//! keeps locked answers 503 with `Retry-After`, then recovers by itself.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::json;

use crate::admin::{list, ADMIN};
use crate::common::web_client;
use crate::server::{Server, JSON};

/// A fresh database path in the temporary directory; its files are removed on drop.
struct DatabaseFile(PathBuf);

impl DatabaseFile {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!(
            "oauth-dcr-http-{name}-{}-{}.db",
            std::process::id(),
            uuid::Uuid::new_v4()
        )))
    }

    /// `sqlite:PATH`, the `--store` value.
    fn store(&self) -> String {
        format!("sqlite:{}", self.0.display())
    }
}

impl Drop for DatabaseFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.0.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_outlive_a_restart_of_the_server() {
    let file = DatabaseFile::new("restart");
    let store = file.store();
    let flags = ["--store", store.as_str(), "--admin-token", ADMIN];

    let (before, stop) = Server::start_stoppable(&flags).await;
    let created = before.register(&web_client().to_string(), None).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
    let client_id = created.str("client_id").to_owned();
    let token = created.str("registration_access_token").to_owned();
    let path = created.str("registration_client_uri");
    let path = path[path.find("/register/").expect("a client URI")..].to_owned();
    stop.stop().await;
    assert!(
        before
            .http
            .get(before.url("/register"))
            .send()
            .await
            .is_err(),
        "the first server still answers"
    );

    // A new server (another port, so another issuer) over the same file.
    let (after, stop) = Server::start_stoppable(&flags).await;
    let read = after
        .send(
            "get /register/{client_id}",
            after.http.get(after.url(&path)).bearer_auth(&token),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.json);
    assert_eq!(read.str("client_id"), client_id);
    let rotated = read.str("registration_access_token");
    assert_ne!(rotated, token);
    let update = json!({
        "client_id": client_id,
        "redirect_uris": web_client()["redirect_uris"],
        "client_name": "After The Restart",
    });
    let updated = after
        .send(
            "put /register/{client_id}",
            after
                .http
                .put(after.url(&path))
                .bearer_auth(rotated)
                .header(CONTENT_TYPE, JSON)
                .body(update.to_string()),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:#}", updated.json);

    // The admin listing reads the same file (through the wrapper that maps a locked database
    // to 503, which must not hide the listing capability).
    let page = list(&after, "?origin=dynamic", Some(ADMIN)).await;
    assert_eq!(page.status, StatusCode::OK, "{:#}", page.json);
    let clients = page.json["clients"].as_array().expect("clients");
    assert_eq!(clients.len(), 1, "{:#}", page.json);
    assert_eq!(clients[0]["client_id"], client_id.as_str());
    assert_eq!(clients[0]["client_name"], "After The Restart");
    assert_eq!(clients[0]["provenance"], "dynamic");
    stop.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_locked_by_another_process_answers_503_then_recovers() {
    let file = DatabaseFile::new("locked");
    let store = file.store();
    let server = Server::start(&["--store", &store]).await;
    server.assert_serving().await;

    // Another process (here: another connection) holds the write lock.
    let mut other = rusqlite::Connection::open(&file.0).expect("a second connection");
    let holder = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("the write lock");

    // A registration waits for the store's busy timeout (5 s), then answers 503: never a hang.
    let started = Instant::now();
    let refused = server.register(&web_client().to_string(), None).await;
    let waited = started.elapsed();
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:#}",
        refused.json
    );
    assert_eq!(refused.error(), "temporarily_unavailable");
    assert_eq!(refused.header("retry-after"), "5");
    assert_eq!(refused.header("cache-control"), "no-store");
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(15)).contains(&waited),
        "answered after {waited:?}"
    );
    // Discovery does not touch the store.
    let discovery = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery");
    assert_eq!(discovery.status(), StatusCode::OK);

    // The lock goes away: the next registration succeeds, with no restart.
    holder.rollback().expect("release the lock");
    drop(other);
    server.assert_serving().await;
}
