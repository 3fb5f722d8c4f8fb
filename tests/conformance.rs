//! The store conformance kit run against every shipped store: `MemoryStore` always, and
//! `PostgresStore` when `DATABASE_URL` points at a server (required when `CI=true`).

#![cfg(feature = "test-kit")]

use std::sync::Arc;

use oauth_dcr::{testkit, MemoryStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    let store = Arc::new(MemoryStore::new());
    testkit::check_client_store(store.clone()).await;
    testkit::check_initial_token_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_replay_guard_conforms() {
    testkit::check_replay_guard(Arc::new(oauth_dcr::MemoryReplayGuard::new())).await;
}

#[cfg(feature = "postgres")]
mod pg;

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_store_conforms() {
        let Some(db) = pg::TestDb::new().await else {
            return;
        };
        let store = Arc::new(db.store(8).await);
        testkit::check_client_store(store.clone()).await;
        testkit::check_initial_token_store(store.clone()).await;
        testkit::check_replay_guard(store).await;
        db.drop().await;
    }
}
