//! The `jti` replay guard for software statements and signed request bodies.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::store::StoreError;

/// Remembers the `jti` of each accepted JWT until it expires, so it is accepted only once.
///
/// The registrar passes, as `expires_at`, the end of the token's acceptance window (`exp` plus
/// the leeway, or `iat` plus the maximum age plus the leeway): a guard must refuse the key until
/// then, or a token could be replayed while it is still valid.
///
/// Multi-replica deployments share it through their database (the PostgreSQL store provides
/// one); [`MemoryReplayGuard`] serves a single process.
#[async_trait]
pub trait ReplayGuard: Send + Sync {
    /// Records `key` (issuer and `jti`) until `expires_at`. `Ok(false)` if it was seen already
    /// and has not expired by `now`.
    ///
    /// A key is any string: the issuer, NUL, then the `jti`, both chosen by the token's signer,
    /// so it may hold any character and be kilobytes long. A database column that refuses NUL
    /// (PostgreSQL `text`) or truncates cannot hold it as such; store a digest (the PostgreSQL
    /// store keeps its SHA-256).
    ///
    /// # Errors
    /// When the backend fails; the client sees a 500.
    async fn first_use(
        &self,
        key: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// An in-memory [`ReplayGuard`] for a single process, bounded in memory.
///
/// It keeps a SHA-256 digest of each key (a fixed size, whatever the `jti`), forgets entries as
/// they expire, and holds at most [`capacity`](Self::with_capacity) unexpired entries: when full,
/// a new key is refused with an error (the client sees a 500) rather than an unexpired one
/// forgotten, which would let its token be replayed.
#[derive(Debug)]
pub struct MemoryReplayGuard {
    capacity: usize,
    seen: Mutex<Seen>,
}

/// The digests seen, with their expiry, and the same entries ordered by expiry for pruning.
#[derive(Debug, Default)]
struct Seen {
    until: HashMap<[u8; 32], OffsetDateTime>,
    by_expiry: BTreeSet<(OffsetDateTime, [u8; 32])>,
}

impl Seen {
    /// Forgets every entry expired at `now`.
    fn prune(&mut self, now: OffsetDateTime) {
        while let Some(&(at, digest)) = self.by_expiry.first() {
            if at > now {
                break;
            }
            self.by_expiry.pop_first();
            if self.until.get(&digest) == Some(&at) {
                self.until.remove(&digest);
            }
        }
    }

    fn insert(&mut self, digest: [u8; 32], expires_at: OffsetDateTime) {
        if let Some(old) = self.until.insert(digest, expires_at) {
            self.by_expiry.remove(&(old, digest));
        }
        self.by_expiry.insert((expires_at, digest));
    }
}

impl Default for MemoryReplayGuard {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl MemoryReplayGuard {
    /// The default capacity: 100,000 unexpired entries (a few megabytes).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// An empty guard holding at most [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty guard holding at most `capacity` unexpired entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// How many unexpired entries the guard held after its last call (for monitoring and tests).
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .until
            .len()
    }

    /// Whether the guard holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The guard is full of unexpired entries.
#[derive(Debug, thiserror::Error)]
#[error("the replay guard holds {0} unexpired entries, its capacity")]
struct Full(usize);

#[async_trait]
impl ReplayGuard for MemoryReplayGuard {
    async fn first_use(
        &self,
        key: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.prune(now);
        if seen.until.contains_key(&digest) {
            return Ok(false);
        }
        if seen.until.len() >= self.capacity {
            return Err(StoreError::backend(Full(self.capacity)));
        }
        seen.insert(digest, expires_at);
        Ok(true)
    }
}
