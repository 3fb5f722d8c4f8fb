//! The store conformance kit run against every shipped store: `MemoryStore` always,
//! `SqliteStore` on a temporary file (feature `sqlite`, in tests/sqlite.rs), and `PostgresStore`
//! when `DATABASE_URL` points at a server (required when `CI=true`).

#![cfg(feature = "test-kit")]

use std::sync::Arc;

use async_trait::async_trait;
mod common;

use common::MinimalStore;
use oauth_dcr::store::SecretHash;
use oauth_dcr::store::{Capability, ClientCount, ClientListing, InstanceIndex, UsageLog};
use oauth_dcr::{testkit, ClientRecord, ClientStore, MemoryStore, StoreError};
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    let store = Arc::new(MemoryStore::new());
    let report = testkit::check_client_store(store.clone()).await;
    assert_eq!(report.checked, ALL, "MemoryStore declares every capability");
    assert!(report.skipped.is_empty());
    testkit::check_initial_token_store(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_replay_guard_conforms() {
    testkit::check_replay_guard(Arc::new(oauth_dcr::statements::MemoryReplayGuard::new())).await;
}

const ALL: [Capability; 4] = [
    Capability::InstanceIndex,
    Capability::UsageLog,
    Capability::ClientCount,
    Capability::ClientListing,
];

/// The methods of the capabilities a test store may declare and then fail.
#[derive(Clone, Copy, PartialEq)]
enum Optional {
    FindByInstance,
    ReapCandidates,
    Count,
}

/// A [`MemoryStore`] behind a store that declares every capability but fails the methods in
/// `lacks` with a backend error, and whose `touch`, with `touch_bumps_version`, reads the record
/// and writes it back through `update`.
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

    fn as_instance_index(&self) -> Option<&dyn InstanceIndex> {
        Some(self)
    }

    fn as_usage_log(&self) -> Option<&dyn UsageLog> {
        Some(self)
    }

    fn as_client_count(&self) -> Option<&dyn ClientCount> {
        Some(self)
    }

    fn as_client_listing(&self) -> Option<&dyn ClientListing> {
        self.inner.as_client_listing()
    }
}

#[async_trait]
impl InstanceIndex for Partial {
    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.check(Optional::FindByInstance)?;
        self.inner.find_by_instance(instance).await
    }
}

#[async_trait]
impl UsageLog for Partial {
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

    async fn reap_candidates(
        &self,
        unused_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        self.check(Optional::ReapCandidates)?;
        self.inner.reap_candidates(unused_before, now, limit).await
    }
}

#[async_trait]
impl ClientCount for Partial {
    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        self.check(Optional::Count)?;
        self.inner.count(software_id).await
    }
}

/// A [`MinimalStore`] store whose `update` forgets to increment the version: a required rule.
#[derive(Default)]
struct KeepsVersion(MemoryStore);

#[async_trait]
impl ClientStore for KeepsVersion {
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
        self.0.update(record).await?;
        // Writes the record back at the version it was read with (a `touch` keeps the version).
        let mut stored = self
            .0
            .get(&record.client_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        stored.version = record.version;
        self.0.delete(&record.client_id, record.version + 1).await?;
        self.0.create(&stored).await
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        self.0.delete(client_id, version).await
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
async fn the_kit_accepts_a_store_with_only_the_required_methods_and_says_what_it_skipped() {
    let report = testkit::check_client_store(Arc::new(MinimalStore::default())).await;
    assert!(report.checked.is_empty(), "{report:?}");
    assert_eq!(report.skipped, ALL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_checks_the_required_rules_of_a_store_without_capabilities() {
    let failure = kit_failure(Arc::new(KeepsVersion::default())).await;
    assert!(
        failure.contains("update must increment the version"),
        "{failure}"
    );
    assert!(
        failure.contains("conformance kit run from tests/conformance.rs:"),
        "the failure names the line of the test that ran the kit: {failure}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_names_the_feature_each_failing_capability_cannot_serve() {
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
    // Lacking nothing, the same store passes, every capability checked.
    let report = testkit::check_client_store(Partial::lacking(&[])).await;
    assert_eq!(report.checked, ALL);
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

/// A [`MinimalStore`] store that declares a listing which forgets the origin filter.
#[derive(Default)]
struct SloppyListing(MinimalStore);

#[async_trait]
impl ClientStore for SloppyListing {
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

    fn as_client_listing(&self) -> Option<&dyn ClientListing> {
        Some(self)
    }
}

#[async_trait]
impl ClientListing for SloppyListing {
    async fn list(
        &self,
        query: &oauth_dcr::store::ListQuery,
    ) -> Result<oauth_dcr::store::ListPage, StoreError> {
        let mut unfiltered = query.clone();
        unfiltered.origin = None;
        self.0 .0.list(&unfiltered).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_checks_a_declared_listing() {
    let failure = kit_failure(Arc::new(SloppyListing::default())).await;
    assert!(
        failure.contains("the listing filtered by origin holds exactly the matching clients"),
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
        let report = testkit::check_client_store(store.clone()).await;
        assert_eq!(
            report.checked, ALL,
            "PostgresStore declares every capability"
        );
        testkit::check_initial_token_store(store.clone()).await;
        testkit::check_replay_guard(store).await;
        db.drop().await;
    }
}
