//! A store that fails on demand.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use oauth_dcr::store::{ClientCount, SecretHash, UsageLog};
use oauth_dcr::{ClientRecord, ClientStore, MemoryStore, StoreError};
use time::OffsetDateTime;

/// A `ClientStore` over a `MemoryStore` whose reads or writes fail on demand with a backend
/// error, to show that a store failure answers 500 and changes nothing.
#[derive(Debug, Default)]
pub struct FailingStore {
    pub inner: MemoryStore,
    fail_reads: AtomicBool,
    fail_writes: AtomicBool,
}

impl FailingStore {
    pub fn fail_reads(&self, on: bool) {
        self.fail_reads.store(on, Ordering::SeqCst);
    }

    pub fn fail_writes(&self, on: bool) {
        self.fail_writes.store(on, Ordering::SeqCst);
    }

    fn check(&self, flag: &AtomicBool) -> Result<(), StoreError> {
        if flag.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other(
                "connection to db-internal-7.example:5432 refused",
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl ClientStore for FailingStore {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.check(&self.fail_writes)?;
        self.inner.create(record).await
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.check(&self.fail_reads)?;
        self.inner.get(client_id).await
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.check(&self.fail_reads)?;
        self.inner.find_by_registration_token(hash).await
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.check(&self.fail_writes)?;
        self.inner.update(record).await
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        self.check(&self.fail_writes)?;
        self.inner.delete(client_id, version).await
    }

    fn as_usage_log(&self) -> Option<&dyn UsageLog> {
        Some(self)
    }

    fn as_client_count(&self) -> Option<&dyn ClientCount> {
        Some(self)
    }
}

#[async_trait]
impl UsageLog for FailingStore {
    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.check(&self.fail_writes)?;
        self.inner.touch(client_id, at).await
    }

    async fn reap_candidates(
        &self,
        unused_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        self.check(&self.fail_reads)?;
        self.inner.reap_candidates(unused_before, now, limit).await
    }
}

#[async_trait]
impl ClientCount for FailingStore {
    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        self.check(&self.fail_reads)?;
        self.inner.count(software_id).await
    }
}

/// A store with the five required methods only, over a `MemoryStore`: it declares no
/// capability.
#[derive(Debug, Default)]
pub struct MinimalStore(pub MemoryStore);

#[async_trait]
impl ClientStore for MinimalStore {
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
}
