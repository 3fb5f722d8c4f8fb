//! The `jti` replay guard for software statements and signed request bodies.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::store::StoreError;

/// Remembers the `jti` of each accepted JWT until it expires, so it is accepted only once.
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

/// An in-memory [`ReplayGuard`], pruning expired entries as it goes.
#[derive(Debug, Default)]
pub struct MemoryReplayGuard {
    seen: Mutex<HashMap<String, OffsetDateTime>>,
}

impl MemoryReplayGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ReplayGuard for MemoryReplayGuard {
    async fn first_use(
        &self,
        key: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, at| *at > now);
        }
        match seen.get(key) {
            Some(at) if *at > now => Ok(false),
            _ => {
                seen.insert(key.to_owned(), expires_at);
                Ok(true)
            }
        }
    }
}
