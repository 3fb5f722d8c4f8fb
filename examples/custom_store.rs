//! A complete `ClientStore`: clients in a `HashMap` behind a `Mutex`, with the five required
//! methods and one capability, `InstanceIndex` (idempotent registration). `main` registers and
//! reads a client through a `Registrar` over it; the tests run the crate's conformance kit on it.
//!
//! ```text
//! cargo run --example custom_store --features test-kit
//! cargo test --example custom_store --features test-kit
//! ```
//!
//! For a database, each method below is one SQL statement (or one transaction): a unique
//! `client_id`, a unique registration token hash, a `version` column that `update` and `delete`
//! compare and `update` increments, and, for `InstanceIndex`, a unique instance hash column.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use oauth_dcr::store::InstanceIndex;
use oauth_dcr::store::SecretHash;
use oauth_dcr::{
    ClientRecord, ClientStore, Registrar, RegistrationRequest, RequestContext, ServerPolicy,
    StoreError,
};

/// Clients by `client_id`. One lock around the map makes every call atomic, as one SQL
/// statement or transaction per call does for a database.
#[derive(Default)]
struct HashMapStore {
    clients: Mutex<HashMap<String, ClientRecord>>,
}

impl HashMapStore {
    fn clients(&self) -> MutexGuard<'_, HashMap<String, ClientRecord>> {
        // Every write is one `insert` or `remove` after its checks: a panic elsewhere cannot
        // leave the map half-written, so a poisoned lock is safe to keep using.
        self.clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether a client other than `record`'s holds its registration token hash or its instance
/// hash: what a database's unique indexes refuse. (A scan keeps the example short.)
fn taken(clients: &HashMap<String, ClientRecord>, record: &ClientRecord) -> bool {
    let token = |r: &ClientRecord| r.registration_token.as_ref().map(|t| t.hash);
    clients.values().any(|other| {
        other.client_id != record.client_id
            && ((token(record).is_some() && token(other) == token(record))
                || (record.instance.is_some() && other.instance == record.instance))
    })
}

#[async_trait]
impl ClientStore for HashMapStore {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let mut clients = self.clients();
        if clients.contains_key(&record.client_id) || taken(&clients, record) {
            return Err(StoreError::Conflict);
        }
        clients.insert(record.client_id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.clients().get(client_id).cloned())
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let clients = self.clients();
        let mut holders = clients.values();
        let found = holders.find(|c| {
            c.registration_token
                .as_ref()
                .is_some_and(|t| t.hash == *hash)
        });
        Ok(found.cloned())
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let mut clients = self.clients();
        let stored = clients.get(&record.client_id).ok_or(StoreError::NotFound)?;
        // Compare-and-set: `UPDATE … SET version = version + 1 … WHERE version = $expected`.
        if stored.version != record.version || taken(&clients, record) {
            return Err(StoreError::Conflict);
        }
        let mut next = record.clone();
        next.version += 1;
        clients.insert(next.client_id.clone(), next);
        Ok(())
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        let mut clients = self.clients();
        let stored = clients.get(client_id).ok_or(StoreError::NotFound)?;
        if stored.version != version {
            return Err(StoreError::Conflict);
        }
        clients.remove(client_id);
        Ok(())
    }

    /// The one capability this store declares.
    fn as_instance_index(&self) -> Option<&dyn InstanceIndex> {
        Some(self)
    }
}

#[async_trait]
impl InstanceIndex for HashMapStore {
    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let clients = self.clients();
        let found = clients
            .values()
            .find(|c| c.instance.as_ref() == Some(instance));
        Ok(found.cloned())
    }
}

/// Registers a client and reads it back through a registrar over the store.
async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut policy = ServerPolicy::new("https://as.example/register");
    // Needs `InstanceIndex`: `try_new` checks the store declares it.
    policy.idempotent_registration = true;
    let registrar = Registrar::try_new(policy, Arc::new(HashMapStore::default()))?;

    let body = br#"{"redirect_uris":["https://app.example/cb"],"client_name":"Example App"}"#;
    let request = RegistrationRequest::from_json(body, &registrar.policy().limits)?;
    let client = registrar.register(request, &RequestContext::new()).await?;
    let token = client
        .registration_access_token
        .ok_or("no registration access token")?;
    let read = registrar
        .read(&client.client_id, Some(token.secret()))
        .await?;
    println!(
        "registered and read back {} ({})",
        read.client_id,
        read.metadata.client_name.as_deref().unwrap_or("unnamed")
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await
}

#[cfg(test)]
mod tests {
    use oauth_dcr::store::Capability;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_store_passes_the_conformance_kit() {
        let report =
            oauth_dcr::testkit::check_client_store(Arc::new(HashMapStore::default())).await;
        assert_eq!(report.checked, [Capability::InstanceIndex]);
        assert_eq!(
            report.skipped,
            [
                Capability::UsageLog,
                Capability::ClientCount,
                Capability::ClientListing
            ]
        );
    }

    #[tokio::test]
    async fn main_registers_and_reads_a_client() {
        run().await.unwrap();
    }

    /// A policy that needs a capability the store does not declare fails when the registrar is
    /// built, not at the first request.
    #[test]
    fn a_policy_needing_a_missing_capability_fails_at_construction() {
        let mut policy = ServerPolicy::new("https://as.example/register");
        policy.max_clients = Some(1000);
        let Err(missing) = Registrar::try_new(policy, Arc::new(HashMapStore::default())) else {
            panic!("max_clients over a store without ClientCount must be refused");
        };
        assert_eq!(missing.capability(), Capability::ClientCount);
        assert_eq!(missing.needed_by(), "ServerPolicy::max_clients");
    }
}
