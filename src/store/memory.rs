//! [`MemoryStore`]: the embedded, in-process store.

use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use async_trait::async_trait;
use time::OffsetDateTime;

use self::clients::{Clients, Key};
use super::compact::Packed;
use super::{
    ClientCount, ClientListing, ClientRecord, ClientStore, InstanceIndex, ListPage, ListQuery,
    ListedClient, StoreError, UsageLog,
};
use crate::initial_tokens::{InitialTokenStore, IssuedToken};
use crate::secret::SecretHash;

/// Shards of each map: concurrent requests rarely wait for one another, and a growing map
/// resizes one small shard at a time instead of stalling every request.
const SHARDS: usize = 1024;

mod clients;

/// An index by SHA-256 digest (of a registration token or an instance key).
type ByHash = HashMap<[u8; 32], Arc<str>, BuildHasherDefault<DigestPrefix>>;

/// Hashes a SHA-256 digest by eight of its bytes (the second eight: ten bits of the first two
/// pick the token shard, so within a shard they are the same for every key): they are uniformly distributed
/// already, so hashing them again buys nothing. Every key inserted is the digest of a server-generated
/// secret; a client can only look up digests of what it sends, which probes but never fills the
/// table, so chosen keys cannot degrade it.
#[derive(Default)]
struct DigestPrefix(u64);

impl Hasher for DigestPrefix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // A `[u8; 32]` key arrives as its length, then its 32 bytes; anything shorter is folded
        // in whole.
        let chunk = bytes.get(8..16).unwrap_or(bytes);
        let mut word = [0u8; 8];
        let n = chunk.len().min(8);
        word[..n].copy_from_slice(&chunk[..n]);
        self.0 = self.0.rotate_left(8) ^ u64::from_le_bytes(word);
    }
}

/// An in-memory [`ClientStore`] (and [`InitialTokenStore`]): clients by `client_id` and an index
/// from registration token hash to `client_id`, each in sharded maps. Every write holds its
/// client's shard for its whole duration, so writes to one client are atomic and ordered; the
/// token index is checked against the record on every lookup, so it can never authenticate a
/// token the record no longer holds. It needs no async runtime; its contents live as long as the
/// value.
///
/// Records are kept packed, in one allocation of a few hundred bytes each (about 500 bytes of
/// resident memory per typical client, indexes included; see `benches/README.md`), and unpacked
/// into a fresh [`ClientRecord`] on every read.
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::{MemoryStore, Registrar, ServerPolicy};
///
/// let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), Arc::new(MemoryStore::new()));
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    /// Packed records by the hash of their `client_id` (see [`Clients`]): the identifier is
    /// read from the record itself, one allocation to reach.
    clients: Vec<RwLock<Clients>>,
    /// The keys of the `client_id` hashes: random per store, so nobody can choose identifiers
    /// that collide.
    ids: RandomState,
    tokens: Vec<RwLock<ByHash>>,
    instances: RwLock<ByHash>,
    initial_tokens: RwLock<HashMap<[u8; 32], IssuedToken>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            clients: (0..SHARDS).map(|_| RwLock::default()).collect(),
            ids: RandomState::new(),
            tokens: (0..SHARDS).map(|_| RwLock::default()).collect(),
            instances: RwLock::default(),
            initial_tokens: RwLock::default(),
        }
    }
}

// A panic while a lock is held cannot leave a half-written entry (every write below is a single
// map operation after all checks), so a poisoned lock is safe to keep using.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn instance_hash(record: &ClientRecord) -> Option<[u8; 32]> {
    record.instance.as_ref().map(|h| *h.as_bytes())
}

fn token_hash(record: &ClientRecord) -> Option<[u8; 32]> {
    record
        .registration_token
        .as_ref()
        .map(|t| *t.hash.as_bytes())
}

/// A packed record this store wrote itself always decodes; anything else is a backend failure,
/// never a panic.
fn corrupt() -> StoreError {
    StoreError::backend(std::io::Error::other("a stored record does not decode"))
}

fn unpack(packed: &Packed) -> Result<ClientRecord, StoreError> {
    packed.unpack().map(|record| *record).ok_or_else(corrupt)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of stored clients.
    pub fn len(&self) -> usize {
        self.clients.iter().map(|shard| read(shard).len()).sum()
    }

    /// Whether the store holds no client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shard of `client_id` and its key there: one hash picks both (the shard by bits the
    /// shard's own table does not index by).
    fn client_shard<'a>(&self, client_id: &'a str) -> (&RwLock<Clients>, Key<'a>) {
        let id = client_id.as_bytes();
        let hash = self.ids.hash_one(id);
        let key = Key { hash, id };
        (&self.clients[((hash >> 32) as usize) % SHARDS], key)
    }

    fn token_shard(&self, hash: &[u8; 32]) -> &RwLock<ByHash> {
        // The hash is uniformly random already.
        &self.tokens[usize::from(u16::from_le_bytes([hash[0], hash[1]])) % SHARDS]
    }

    /// Whether another client's record holds this token (checked against the record, so a stale
    /// index entry does not count). Called while holding `held`, the write lock of the calling
    /// client's shard: that shard is read through the guard, and another shard only if its lock
    /// is free (a busy one counts as held, never a wait, so two writers cannot deadlock).
    fn token_held_by_other(
        &self,
        hash: &[u8; 32],
        client_id: &str,
        held_lock: &RwLock<Clients>,
        held: &Clients,
    ) -> bool {
        let Some(owner) = read(self.token_shard(hash)).get(hash).cloned() else {
            return false;
        };
        if &*owner == client_id {
            return false;
        }
        let (owner_lock, owner_key) = self.client_shard(&owner);
        let holds = |map: &Clients| {
            map.get(owner_key)
                .is_some_and(|p| p.token_hash().as_ref() == Some(hash))
        };
        if std::ptr::eq(owner_lock, held_lock) {
            return holds(held);
        }
        match owner_lock.try_read() {
            Ok(guard) => holds(&guard),
            Err(TryLockError::Poisoned(poisoned)) => holds(&poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => true,
        }
    }

    /// The record of `owner` (what an index names under `hash`), if it still holds that hash:
    /// `holds` reads the hash from the packed record.
    fn indexed(
        &self,
        owner: Option<Arc<str>>,
        hash: &[u8; 32],
        holds: impl Fn(&Packed) -> Option<[u8; 32]>,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let Some(owner) = owner else {
            return Ok(None);
        };
        let (lock, key) = self.client_shard(&owner);
        read(lock)
            .get(key)
            .filter(|p| holds(p).as_ref() == Some(hash))
            .map(unpack)
            .transpose()
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let (lock, id) = self.client_shard(&record.client_id);
        let mut shard = write(lock);
        if shard.contains(id) {
            return Err(StoreError::Conflict);
        }
        let instance = instance_hash(record);
        // The instance index is one lock for the whole store: taken only by records that have one.
        let mut instances = instance.map(|i| (i, write(&self.instances)));
        if let Some((i, index)) = &instances {
            if index.get(i).is_some_and(|o| **o != *record.client_id) {
                return Err(StoreError::Conflict);
            }
        }
        // The indexes' copy of the identifier.
        let key = || Arc::<str>::from(record.client_id.as_str());
        if let Some(hash) = token_hash(record) {
            if self.token_held_by_other(&hash, &record.client_id, lock, &shard) {
                return Err(StoreError::Conflict);
            }
            write(self.token_shard(&hash)).insert(hash, key());
        }
        if let Some((i, index)) = &mut instances {
            index.insert(*i, key());
        }
        shard.put(id, Packed::new(record, record.version));
        Ok(())
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let (lock, key) = self.client_shard(client_id);
        read(lock).get(key).map(unpack).transpose()
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let bytes = hash.as_bytes();
        let owner = read(self.token_shard(bytes)).get(bytes).cloned();
        self.indexed(owner, bytes, Packed::token_hash)
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        let (lock, id) = self.client_shard(&record.client_id);
        let mut shard = write(lock);
        let stored = shard.get(id).ok_or(StoreError::NotFound)?;
        if stored.version().ok_or_else(corrupt)? != record.version {
            return Err(StoreError::Conflict);
        }
        // The indexes' copy of the identifier, made only for an index that changes.
        let key = || Arc::<str>::from(record.client_id.as_str());
        let old = stored.token_hash();
        let new = token_hash(record);
        let (old_instance, new_instance) = (stored.instance_hash(), instance_hash(record));
        if old != new {
            if let Some(hash) = new {
                if self.token_held_by_other(&hash, &record.client_id, lock, &shard) {
                    return Err(StoreError::Conflict);
                }
            }
            // A rotation hands the old entry's identifier on to the new one.
            let released = old.and_then(|hash| write(self.token_shard(&hash)).remove(&hash));
            if let Some(hash) = new {
                let owner = released
                    .filter(|owner| **owner == *record.client_id)
                    .unwrap_or_else(key);
                write(self.token_shard(&hash)).insert(hash, owner);
            }
        }
        if old_instance != new_instance {
            let mut instances = write(&self.instances);
            if let Some(i) = old_instance {
                instances.remove(&i);
            }
            if let Some(i) = new_instance {
                instances.insert(i, key());
            }
        }
        shard.put(id, Packed::new(record, record.version + 1));
        Ok(())
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        let (lock, id) = self.client_shard(client_id);
        let mut shard = write(lock);
        let stored = shard.get(id).ok_or(StoreError::NotFound)?;
        if stored.version().ok_or_else(corrupt)? != version {
            return Err(StoreError::Conflict);
        }
        if let Some(hash) = stored.token_hash() {
            write(self.token_shard(&hash)).remove(&hash);
        }
        if let Some(i) = stored.instance_hash() {
            write(&self.instances).remove(&i);
        }
        shard.remove(id);
        Ok(())
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
        Some(self)
    }
}

#[async_trait]
impl InstanceIndex for MemoryStore {
    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let bytes = instance.as_bytes();
        let owner = read(&self.instances).get(bytes).cloned();
        self.indexed(owner, bytes, Packed::instance_hash)
    }
}

#[async_trait]
impl UsageLog for MemoryStore {
    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let (lock, id) = self.client_shard(client_id);
        let mut shard = write(lock);
        let packed = shard.get(id).ok_or(StoreError::NotFound)?;
        let mut record = unpack(packed)?;
        record.last_used = Some(at);
        shard.put(id, Packed::new(&record, record.version));
        Ok(())
    }

    async fn reap_candidates(
        &self,
        unused_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        let mut found = Vec::new();
        for shard in &self.clients {
            let shard = read(shard);
            for packed in shard.iter() {
                if found.len() >= limit {
                    return Ok(found);
                }
                // Only the lifecycle members are decoded to decide; the rest for the chosen few.
                let lifecycle = packed.lifecycle().ok_or_else(corrupt)?;
                if lifecycle.is_reapable(unused_before, now) {
                    found.push(unpack(packed)?);
                }
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl ClientCount for MemoryStore {
    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        let n: usize = self
            .clients
            .iter()
            .map(|shard| match software_id {
                None => read(shard).len(),
                Some(id) => read(shard)
                    .iter()
                    .filter(|p| p.software_id() == Some(id))
                    .count(),
            })
            .sum();
        Ok(n as u64)
    }
}

/// A listed client ordered by its listing key, `(created_at, client_id)`.
struct ByListingKey(ListedClient);

impl ByListingKey {
    fn key(&self) -> (OffsetDateTime, &str) {
        (self.0.created_at, &self.0.client_id)
    }
}

impl PartialEq for ByListingKey {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for ByListingKey {}

impl PartialOrd for ByListingKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByListingKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

#[async_trait]
impl ClientListing for MemoryStore {
    /// One pass over the records, keeping the first `page_size + 1` in listing order in a
    /// bounded heap: only the lifecycle members are decoded to decide, the whole record only
    /// for filters on provenance and for the clients kept.
    async fn list(&self, query: &ListQuery) -> Result<ListPage, StoreError> {
        let keep = query.page_size() + 1;
        let provenance = query.statement_issuer.is_some() || query.initial_token_subject.is_some();
        let mut first: BinaryHeap<ByListingKey> = BinaryHeap::with_capacity(keep + 1);
        for shard in &self.clients {
            let shard = read(shard);
            for packed in shard.iter() {
                let lifecycle = packed.lifecycle().ok_or_else(corrupt)?;
                if !query.is_after_cursor(lifecycle.created_at, &lifecycle.client_id)
                    || query.origin.is_some_and(|o| o != lifecycle.origin)
                {
                    continue;
                }
                let beyond = first.len() >= keep
                    && first.peek().is_some_and(|last| {
                        (lifecycle.created_at, lifecycle.client_id.as_str()) > last.key()
                    });
                if beyond {
                    continue;
                }
                let record = unpack(packed)?;
                if provenance && !query.matches(&record) {
                    continue;
                }
                first.push(ByListingKey(ListedClient::of(&record)));
                if first.len() > keep {
                    first.pop();
                }
            }
        }
        let sorted = first.into_sorted_vec().into_iter().map(|c| c.0).collect();
        Ok(ListPage::from_sorted(sorted, query.page_size()))
    }
}

#[async_trait]
impl InitialTokenStore for MemoryStore {
    async fn insert_token(&self, token: &IssuedToken) -> Result<(), StoreError> {
        let mut tokens = write(&self.initial_tokens);
        let taken =
            tokens.contains_key(token.hash.as_bytes()) || tokens.values().any(|t| t.id == token.id);
        if taken {
            return Err(StoreError::Conflict);
        }
        tokens.insert(*token.hash.as_bytes(), token.clone());
        Ok(())
    }

    async fn find_token(&self, hash: &SecretHash) -> Result<Option<IssuedToken>, StoreError> {
        Ok(read(&self.initial_tokens).get(hash.as_bytes()).cloned())
    }

    async fn take_use(&self, hash: &SecretHash, now: OffsetDateTime) -> Result<bool, StoreError> {
        match write(&self.initial_tokens).get_mut(hash.as_bytes()) {
            Some(token) if token.usable(now) => {
                token.uses += 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn give_back_use(&self, hash: &SecretHash) -> Result<(), StoreError> {
        if let Some(token) = write(&self.initial_tokens).get_mut(hash.as_bytes()) {
            token.uses = token.uses.saturating_sub(1);
        }
        Ok(())
    }

    async fn list_tokens(&self) -> Result<Vec<IssuedToken>, StoreError> {
        Ok(read(&self.initial_tokens).values().cloned().collect())
    }

    async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let mut tokens = write(&self.initial_tokens);
        let before = tokens.len();
        tokens.retain(|_, t| t.id != id);
        Ok(tokens.len() < before)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher as _;

    use super::*;

    #[test]
    fn digests_of_one_shard_spread_over_the_buckets() {
        let build = BuildHasherDefault::<DigestPrefix>::default();
        // Keys of one token shard share their first two bytes; their hashes must still differ in
        // the low bits a table indexes by.
        let low_bits: std::collections::HashSet<u64> = (0u32..256)
            .map(|i| {
                let digest = *SecretHash::of(&format!("token-{i}")).as_bytes();
                let mut key = digest;
                key[0] = 7;
                key[1] = 3;
                build.hash_one(key) & 0xFF
            })
            .collect();
        assert!(low_bits.len() > 128, "{} distinct", low_bits.len());
    }

    /// The clients spread over the shards: one hash picks the shard and the key inside it, and
    /// the shard is picked by bits the table inside does not index by.
    #[test]
    fn clients_spread_over_the_shards() {
        let store = MemoryStore::new();
        let mut used = std::collections::HashSet::new();
        for i in 0..4 * SHARDS {
            let id = format!("client-{i}");
            let (lock, key) = store.client_shard(&id);
            assert_eq!(key.hash, store.ids.hash_one(id.as_bytes()));
            used.insert(std::ptr::from_ref(lock) as usize);
        }
        // 4,096 identifiers over 1,024 shards leave about 19 empty.
        assert!(used.len() > SHARDS * 9 / 10, "{} shards used", used.len());
    }
}
