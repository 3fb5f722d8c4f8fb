//! The store conformance kit run against every shipped store: `MemoryStore` always, and
//! `PostgresStore` when `DATABASE_URL` points at a server (required when `CI=true`).

#![cfg(feature = "test-kit")]

use std::sync::Arc;

use async_trait::async_trait;
use oauth_dcr::{testkit, ClientRecord, ClientStore, MemoryStore, SecretHash, StoreError};
use time::OffsetDateTime;

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

/// The methods of [`ClientStore`] a test store may leave to the trait's default.
#[derive(Clone, Copy, PartialEq)]
enum Optional {
    FindByInstance,
    ReapCandidates,
    Count,
}

/// A [`MemoryStore`] behind a store that keeps the trait's failing default for the methods in
/// `lacks` (the same backend error), and whose `touch`, with `touch_bumps_version`, reads the
/// record and writes it back through `update`: the default `touch` had before.
#[derive(Default)]
struct Partial {
    inner: MemoryStore,
    lacks: Vec<Optional>,
    touch_bumps_version: bool,
}

impl Partial {
    fn lacking(lacks: &[Optional]) -> Arc<Self> {
        Arc::new(Self {
            lacks: lacks.to_vec(),
            ..Self::default()
        })
    }

    fn check(&self, method: Optional) -> Result<(), StoreError> {
        if self.lacks.contains(&method) {
            return Err(StoreError::backend(std::io::Error::other(
                "this store cannot do that",
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl ClientStore for Partial {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.inner.create(record).await
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.inner.get(client_id).await
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.inner.find_by_registration_token(hash).await
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.inner.update(record).await
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        self.inner.delete(client_id, version).await
    }

    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        if !self.touch_bumps_version {
            return self.inner.touch(client_id, at).await;
        }
        for _ in 0..3 {
            let mut record = self.get(client_id).await?.ok_or(StoreError::NotFound)?;
            record.last_used = Some(at);
            match self.update(&record).await {
                Err(StoreError::Conflict) => continue,
                other => return other,
            }
        }
        Err(StoreError::Conflict)
    }

    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.check(Optional::FindByInstance)?;
        self.inner.find_by_instance(instance).await
    }

    async fn reap_candidates(
        &self,
        unused_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        self.check(Optional::ReapCandidates)?;
        self.inner.reap_candidates(unused_before, now, limit).await
    }

    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        self.check(Optional::Count)?;
        self.inner.count(software_id).await
    }
}

/// A store that implements only the methods without a default: the optional ones keep the
/// trait's defaults.
#[derive(Default)]
struct Minimal(MemoryStore);

#[async_trait]
impl ClientStore for Minimal {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.0.create(record).await
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.0.get(client_id).await
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.0.find_by_registration_token(hash).await
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.0.update(record).await
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        self.0.delete(client_id, version).await
    }

    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.0.touch(client_id, at).await
    }
}

/// The kit's failure message for `store`; panics if the kit passes it.
async fn kit_failure(store: Arc<dyn ClientStore>) -> String {
    let Err(failed) = tokio::spawn(testkit::check_client_store(store)).await else {
        panic!("the kit passed a store that breaks the registrar");
    };
    let panic = failed.into_panic();
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_fails_a_store_that_keeps_the_failing_defaults() {
    let failure = kit_failure(Arc::new(Minimal::default())).await;
    assert!(
        failure.contains("find_by_instance") && failure.contains("idempotent registration"),
        "{failure}"
    );
    assert!(
        failure.contains("conformance kit run from tests/conformance.rs:"),
        "the failure names the line of the test that ran the kit: {failure}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_names_the_feature_each_missing_method_cannot_serve() {
    for (lacks, method, feature) in [
        (
            Optional::FindByInstance,
            "find_by_instance",
            "idempotent registration",
        ),
        (
            Optional::ReapCandidates,
            "reap_candidates",
            "Registrar::reap",
        ),
        (Optional::Count, "count", "client limits"),
    ] {
        let failure = kit_failure(Partial::lacking(&[lacks])).await;
        assert!(
            failure.contains(method) && failure.contains(feature),
            "without {method}: {failure}"
        );
    }
    // Lacking nothing, the same store passes.
    testkit::check_client_store(Partial::lacking(&[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_fails_a_store_whose_touch_changes_the_version() {
    let store = Arc::new(Partial {
        touch_bumps_version: true,
        ..Partial::default()
    });
    let failure = kit_failure(store).await;
    assert!(
        failure.contains("touch must not change the version"),
        "{failure}"
    );
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
