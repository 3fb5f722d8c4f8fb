//! [`MemoryStore`]: the embedded, in-process store.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::{ClientRecord, ClientStore, StoreError};
use crate::access::{InitialTokenStore, IssuedToken};
use crate::secret::SecretHash;
use time::OffsetDateTime;

/// An in-memory [`ClientStore`]: a map from `client_id` to record and an index from registration
/// token hash to `client_id`, behind one lock so that every operation is atomic. It needs no
/// async runtime; its contents live as long as the value.
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::{MemoryStore, Registrar, ServerPolicy};
///
/// let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), Arc::new(MemoryStore::new()));
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    clients: HashMap<String, ClientRecord>,
    by_token: HashMap<[u8; 32], String>,
    initial_tokens: HashMap<[u8; 32], IssuedToken>,
}

impl Inner {
    fn index(&mut self, record: &ClientRecord) {
        if let Some(token) = &record.registration_token {
            self.by_token
                .insert(*token.hash.as_bytes(), record.client_id.clone());
        }
    }

    fn unindex(&mut self, client_id: &str) {
        let token = self
            .clients
            .get(client_id)
            .and_then(|r| r.registration_token.as_ref())
            .map(|t| *t.hash.as_bytes());
        if let Some(hash) = token {
            self.by_token.remove(&hash);
        }
    }

    fn token_taken(&self, record: &ClientRecord) -> bool {
        record.registration_token.as_ref().is_some_and(|t| {
            self.by_token
                .get(t.hash.as_bytes())
                .is_some_and(|owner| *owner != record.client_id)
        })
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of stored clients.
    pub fn len(&self) -> usize {
        self.read().clients.len()
    }

    /// Whether the store holds no client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A panic while the lock is held cannot leave a half-written entry (every write below is a
    // single map operation after all checks), so a poisoned lock is safe to keep using.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let mut inner = self.write();
        if inner.clients.contains_key(&record.client_id) || inner.token_taken(record) {
            return Err(StoreError::Conflict);
        }
        inner.index(record);
        inner
            .clients
            .insert(record.client_id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.read().clients.get(client_id).cloned())
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let inner = self.read();
        Ok(inner
            .by_token
            .get(hash.as_bytes())
            .and_then(|id| inner.clients.get(id))
            .cloned())
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let mut inner = self.write();
        let stored = inner
            .clients
            .get(&record.client_id)
            .ok_or(StoreError::NotFound)?;
        if stored.version != record.version {
            return Err(StoreError::Conflict);
        }
        if inner.token_taken(record) {
            return Err(StoreError::Conflict);
        }
        inner.unindex(&record.client_id);
        let mut record = record.clone();
        record.version += 1;
        inner.index(&record);
        inner.clients.insert(record.client_id.clone(), record);
        Ok(())
    }

    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        let inner = self.read();
        let n = match software_id {
            None => inner.clients.len(),
            Some(id) => inner
                .clients
                .values()
                .filter(|c| c.metadata.software_id.as_deref() == Some(id))
                .count(),
        };
        Ok(n as u64)
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        let mut inner = self.write();
        let stored = inner.clients.get(client_id).ok_or(StoreError::NotFound)?;
        if stored.version != version {
            return Err(StoreError::Conflict);
        }
        inner.unindex(client_id);
        inner.clients.remove(client_id);
        Ok(())
    }
}

#[async_trait]
impl InitialTokenStore for MemoryStore {
    async fn insert_token(&self, token: &IssuedToken) -> Result<(), StoreError> {
        let mut inner = self.write();
        let taken = inner.initial_tokens.contains_key(token.hash.as_bytes())
            || inner.initial_tokens.values().any(|t| t.id == token.id);
        if taken {
            return Err(StoreError::Conflict);
        }
        inner
            .initial_tokens
            .insert(*token.hash.as_bytes(), token.clone());
        Ok(())
    }

    async fn find_token(&self, hash: &SecretHash) -> Result<Option<IssuedToken>, StoreError> {
        Ok(self.read().initial_tokens.get(hash.as_bytes()).cloned())
    }

    async fn take_use(&self, hash: &SecretHash, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut inner = self.write();
        match inner.initial_tokens.get_mut(hash.as_bytes()) {
            Some(token) if token.usable(now) => {
                token.uses += 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn give_back_use(&self, hash: &SecretHash) -> Result<(), StoreError> {
        if let Some(token) = self.write().initial_tokens.get_mut(hash.as_bytes()) {
            token.uses = token.uses.saturating_sub(1);
        }
        Ok(())
    }

    async fn list_tokens(&self) -> Result<Vec<IssuedToken>, StoreError> {
        Ok(self.read().initial_tokens.values().cloned().collect())
    }

    async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let mut inner = self.write();
        let before = inner.initial_tokens.len();
        inner.initial_tokens.retain(|_, t| t.id != id);
        Ok(inner.initial_tokens.len() < before)
    }
}
