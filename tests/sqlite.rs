//! `SqliteStore` on a temporary file: the conformance kit, a client managed across a restart,
//! the file's WAL mode, a busy database that waits instead of failing, and every SQLite failure
//! a backend error with its cause.

#![cfg(all(feature = "sqlite", feature = "test-kit"))]

mod common;

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{token, Bytes, Recorder};
use oauth_dcr::initial_tokens::{InitialAccessGrant, IssuedInitialTokens, TokenSpec};
use oauth_dcr::store::{Capability, ClientCount, ListQuery, SqliteOptions, SqliteStore};
use oauth_dcr::{testkit, ClientStore, Registrar, RequestContext, ServerPolicy, StoreError};

/// A database file in the temporary directory, removed (with its WAL files) when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("oauth-dcr-test-{}.db", uuid::Uuid::new_v4())))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.0.clone().into_os_string();
        name.push(suffix);
        name.into()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for path in [self.0.clone(), self.sibling("-wal"), self.sibling("-shm")] {
            let _ = std::fs::remove_file(path);
        }
    }
}

const BODY: &[u8] = br#"{"redirect_uris":["https://app.example/cb"],"client_name":"Embedded","software_id":"embedded-app"}"#;

/// The error's sources, outermost first, as text.
fn causes(e: &StoreError) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        out.push(cause.to_string());
        source = cause.source();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conforms() {
    let db = TempDb::new();
    let store = Arc::new(SqliteStore::open(db.path()).await.expect("open"));
    let report = testkit::check_client_store(store.clone()).await;
    assert_eq!(
        report.checked,
        [
            Capability::InstanceIndex,
            Capability::UsageLog,
            Capability::ClientCount,
            Capability::ClientListing,
        ],
        "SqliteStore declares every capability"
    );
    assert!(report.skipped.is_empty());
    testkit::check_initial_token_store(store.clone()).await;
    testkit::check_replay_guard(store).await;
}

/// The kit on a store whose calls all wait for one reader: concurrency checks still pass when
/// every call queues.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conforms_with_a_single_reader() {
    let db = TempDb::new();
    let options = SqliteOptions::new().readers(1).durable_commits(false);
    let store = Arc::new(
        SqliteStore::open_with(db.path(), options)
            .await
            .expect("open"),
    );
    testkit::check_client_store(store.clone()).await;
    testkit::check_initial_token_store(store).await;
}

/// A client registered through a registrar over a file is managed with its token after the
/// registrar and the store are dropped and the file is opened again, and so are the initial
/// access tokens' uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_registered_before_a_restart_is_managed_with_its_token_after_it() {
    let db = TempDb::new();
    let ctx = RequestContext::new();
    let (client_id, first, initial) = {
        let store = Arc::new(SqliteStore::open(db.path()).await.expect("open"));
        let tokens = IssuedInitialTokens::new(store.clone());
        let (initial, _) = tokens
            .issue(
                TokenSpec::new(InitialAccessGrant::with_scopes(["register"]).subject("partner"))
                    .max_uses(2),
            )
            .await
            .expect("issue");
        let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), store)
            .require_initial_token(Arc::new(tokens), Some("register"));
        let ctx = RequestContext::new().with_initial_access_token(initial.secret());
        let client = registrar
            .register_bytes(BODY, &ctx)
            .await
            .expect("register");
        assert!(
            db.sibling("-wal").exists(),
            "the database is in WAL mode while it is open"
        );
        (client.client_id.clone(), token(&client), initial)
    };

    let store = Arc::new(SqliteStore::open(db.path()).await.expect("open again"));
    let tokens = IssuedInitialTokens::new(store.clone());
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        store.clone(),
    )
    .require_initial_token(Arc::new(tokens.clone()), Some("register"));
    let read = registrar
        .read(&client_id, Some(&first))
        .await
        .expect("the token issued before the restart reads the client");
    assert_eq!(read.metadata.client_name.as_deref(), Some("Embedded"));
    let second = token(&read);
    assert_ne!(first, second, "the read rotated the token");
    let update = format!(
        r#"{{"client_id":"{client_id}","redirect_uris":["https://app.example/cb"],"client_name":"Renamed","software_id":"embedded-app"}}"#
    );
    let updated = registrar
        .update_bytes(&client_id, Some(&second), update.as_bytes(), &ctx)
        .await
        .expect("update with the rotated token");
    assert_eq!(updated.metadata.client_name.as_deref(), Some("Renamed"));
    assert_eq!(
        registrar
            .read(&client_id, Some(&first))
            .await
            .unwrap_err()
            .status(),
        401,
        "the token rotated away before is dead"
    );
    let stored = store.get(&client_id).await.expect("get").expect("stored");
    assert_eq!(stored.initial_token_subject.as_deref(), Some("partner"));
    assert_eq!(store.count(Some("embedded-app")).await.expect("count"), 1);
    // The initial token was used once before the restart: one use is left after it.
    let listed = tokens.list().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].uses, 1);
    let ctx = RequestContext::new().with_initial_access_token(initial.secret());
    registrar
        .register_bytes(BODY, &ctx)
        .await
        .expect("the second use");
    assert_eq!(
        registrar
            .register_bytes(BODY, &ctx)
            .await
            .unwrap_err()
            .status(),
        401,
        "no third use"
    );
    drop(registrar);
    drop(store);

    // The rename and the listing survive the next restart too.
    let store = SqliteStore::open(db.path())
        .await
        .expect("open a third time");
    let stored = store.get(&client_id).await.expect("get").expect("stored");
    assert_eq!(stored.metadata.client_name.as_deref(), Some("Renamed"));
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        Arc::new(store),
    );
    let page = registrar
        .list_clients(&ListQuery::new().initial_token_subject("partner"))
        .await
        .expect("list");
    assert_eq!(page.clients.len(), 2);
    assert!(page.clients.iter().any(|c| c.client_id == client_id));
}

/// While another connection holds the write lock, writes wait for it (the busy timeout) and
/// succeed once it is released; reads do not wait at all (WAL). A lock held past the busy
/// timeout is a backend error naming SQLite's cause, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_database_makes_writes_wait_and_reads_go_on() {
    let db = TempDb::new();
    let store = SqliteStore::open(db.path()).await.expect("open");
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        Arc::new(store.clone()),
    );
    let before = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .expect("register");

    // Another process's writer: holds the lock for 600 ms.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let path = db.path().to_owned();
    let holder = std::thread::spawn(move || {
        let mut other = rusqlite::Connection::open(path).expect("a second connection");
        let tx = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("the write lock");
        locked_tx.send(()).expect("signal");
        std::thread::sleep(Duration::from_millis(600));
        tx.commit().expect("commit");
    });
    locked_rx.recv().expect("locked");

    let started = Instant::now();
    let read = store
        .get(&before.client_id)
        .await
        .expect("a read while the lock is held");
    assert!(read.is_some());
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "a read does not wait for a writer ({:?})",
        started.elapsed()
    );
    let written = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .expect("a write waits for the lock, then succeeds");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the write waited for the other writer ({:?})",
        started.elapsed()
    );
    holder.join().expect("holder");
    assert!(store.get(&written.client_id).await.expect("get").is_some());

    // A store that waits at most 50 ms, against a lock held for a second.
    let impatient = SqliteStore::open_with(
        db.path(),
        SqliteOptions::new().busy_timeout(Duration::from_millis(50)),
    )
    .await
    .expect("open");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let path = db.path().to_owned();
    let holder = std::thread::spawn(move || {
        let mut other = rusqlite::Connection::open(path).expect("a second connection");
        let tx = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("the write lock");
        locked_tx.send(()).expect("signal");
        std::thread::sleep(Duration::from_millis(1000));
        tx.rollback().expect("rollback");
    });
    locked_rx.recv().expect("locked");
    let Some(mut record) = impatient.get(&before.client_id).await.expect("get") else {
        panic!("the client exists");
    };
    record.metadata.client_name = Some("never written".to_owned());
    let err = impatient.update(&record).await.unwrap_err();
    holder.join().expect("holder");
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let chain = causes(&err).join(" / ");
    assert!(chain.contains("locked"), "the cause is SQLite's: {chain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_cannot_be_a_store_are_backend_errors_with_their_cause() {
    let missing_dir = std::env::temp_dir()
        .join(format!("oauth-dcr-missing-{}", uuid::Uuid::new_v4()))
        .join("clients.db");
    let err = SqliteStore::open(&missing_dir).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(
        causes(&err).len() > 1,
        "the cause is kept: {:?}",
        causes(&err)
    );

    let db = TempDb::new();
    std::fs::write(db.path(), vec![0x5a; 8192]).expect("write a file that is no database");
    let err = SqliteStore::open(db.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(
        causes(&err).join(" ").contains("not a database"),
        "{:?}",
        causes(&err)
    );

    for name in ["", ":memory:"] {
        let err = SqliteStore::open(name).await.unwrap_err();
        assert!(
            causes(&err).join(" ").contains("MemoryStore"),
            "{name:?}: {:?}",
            causes(&err)
        );
    }
}

/// A database migrated by a newer release is refused rather than used with a schema this
/// release does not know; a current one opens again without migrating twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_versioned() {
    let db = TempDb::new();
    drop(SqliteStore::open(db.path()).await.expect("create"));
    drop(
        SqliteStore::open(db.path())
            .await
            .expect("open again: nothing to apply"),
    );
    let connection = rusqlite::Connection::open(db.path()).expect("open");
    let versions: Vec<i64> = connection
        .prepare("SELECT version FROM dcr_schema_migrations ORDER BY version")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        versions,
        (1..=i64::try_from(SqliteStore::migration_sql().len()).unwrap()).collect::<Vec<_>>()
    );
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    connection
        .execute(
            "INSERT INTO dcr_schema_migrations (version) VALUES (999)",
            [],
        )
        .expect("a future version");
    drop(connection);
    let err = SqliteStore::open(db.path()).await.unwrap_err();
    assert!(
        causes(&err).join(" ").contains("newer release"),
        "{:?}",
        causes(&err)
    );
}

/// Reuse detection and the support path over SQLite: the event says who reissued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_by_reuse_detection_is_reissued_over_sqlite() {
    let db = TempDb::new();
    let store = Arc::new(SqliteStore::open(db.path()).await.expect("open"));
    let events = Arc::new(Recorder::default());
    let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), store)
        .with_event_sink(events.clone());
    let client = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .expect("register");
    let first = token(&client);
    let second = token(
        &registrar
            .read(&client.client_id, Some(&first))
            .await
            .expect("read"),
    );
    // The rotated-away token comes back: the current one is revoked too.
    assert_eq!(
        registrar
            .read(&client.client_id, Some(&first))
            .await
            .unwrap_err()
            .status(),
        401
    );
    assert_eq!(
        registrar
            .read(&client.client_id, Some(&second))
            .await
            .unwrap_err()
            .status(),
        401
    );
    let reissued = registrar
        .reissue_registration_token(&client.client_id, Some("support:sam"))
        .await
        .expect("reissue");
    let third = token(&reissued);
    registrar
        .read(&client.client_id, Some(&third))
        .await
        .expect("the reissued token works");
    let reissue = events
        .all()
        .into_iter()
        .find(|e| e.operation == oauth_dcr::events::Operation::Reissue)
        .expect("a reissue event");
    assert_eq!(reissue.actor.as_deref(), Some("support:sam"));
    assert_eq!(
        reissue.client_id.as_deref(),
        Some(client.client_id.as_str())
    );
    assert_eq!(reissue.refused, None);
}
