//! The [`ClientStore`] trait and the record it stores.

mod compact;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::error::StoreError;
use crate::metadata::ClientMetadata;
use crate::secret::ClientSecret;
pub use crate::secret::SecretHash;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;

/// How a client came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Origin {
    /// Registered through the registration endpoint (RFC 7591); manageable with its registration
    /// access token (RFC 7592).
    Dynamic,
    /// Created by the host's administrators; the client configuration endpoint refuses it (403).
    Administrator,
}

/// How a client secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SecretValue {
    /// Only the SHA-256 is stored (the default): the secret can be verified, never shown again.
    Hashed(SecretHash),
    /// The raw secret is stored because the authentication method needs it as an HMAC key
    /// (`client_secret_jwt`). The host decides how to protect it at rest.
    Retrievable(ClientSecret),
}

/// A client secret as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSecret {
    /// The secret or its hash.
    pub value: SecretValue,
    /// When it expires; `None` for never (`client_secret_expires_at` = 0).
    #[serde(with = "time::serde::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl StoredSecret {
    /// Whether `presented` is this secret (constant-time), ignoring expiry.
    pub fn matches(&self, presented: &str) -> bool {
        match &self.value {
            SecretValue::Hashed(hash) => hash.verify(presented),
            SecretValue::Retrievable(secret) => *secret == ClientSecret::new(presented),
        }
    }

    /// The raw secret, when it is retrievable.
    pub fn retrievable(&self) -> Option<&ClientSecret> {
        match &self.value {
            SecretValue::Retrievable(secret) => Some(secret),
            SecretValue::Hashed(_) => None,
        }
    }
}

/// A registration access token as stored: its hash and its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    /// SHA-256 of the token.
    pub hash: SecretHash,
    /// When it stops working; `None` for never.
    #[serde(with = "time::serde::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// The registration access token a rotation replaced, kept to detect its reuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousToken {
    /// SHA-256 of the replaced token.
    pub hash: SecretHash,
    /// When it was replaced.
    #[serde(with = "time::serde::timestamp")]
    pub rotated_at: OffsetDateTime,
    /// Whether it was already accepted once through the grace window.
    pub grace_used: bool,
}

/// A registered client, as a [`ClientStore`] keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientRecord {
    /// The client identifier (RFC 7591 §3.2.1). Unique in the store.
    pub client_id: String,
    /// The validated metadata, defaults applied. Boxed: the metadata is most of a record's size,
    /// and records move through every operation.
    pub metadata: ClientMetadata,
    /// The client secret, if the authentication method uses one.
    pub secret: Option<StoredSecret>,
    /// The secret a rotation replaced, still accepted until its `expires_at` (the overlap that
    /// lets running instances of the client roll over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<StoredSecret>,
    /// The current registration access token, if any. Unique in the store.
    pub registration_token: Option<StoredToken>,
    /// The token the last rotation replaced (never valid by itself; see
    /// [`ServerPolicy::detect_token_reuse`](crate::ServerPolicy::detect_token_reuse)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_token: Option<PreviousToken>,
    /// Hashes of rotated-away registration access tokens that are never accepted again and whose
    /// presentation is reuse (see
    /// [`ServerPolicy::token_rotation_grace`](crate::ServerPolicy::token_rotation_grace)): the
    /// token a grace-window use replaced (the newer token of the chain that use forked), and the
    /// token used through the grace window once a later rotation replaces it as
    /// [`previous_token`](Self::previous_token). Kept until reuse revokes the client's token;
    /// bounded, because a grace use is refused when it would grow the list beyond a few entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_tokens: Vec<SecretHash>,
    /// The software statement the client registered (or last updated) with, returned unmodified
    /// (RFC 7591 §3.2.1). An update that omits it or sends it back unchanged keeps it, and the
    /// members it asserts keep precedence over the update's body.
    #[serde(default)]
    pub software_statement: Option<String>,
    /// The issuer of [`software_statement`](Self::software_statement): set exactly when the
    /// client has a statement (an update without a statement keeps the client's statement and
    /// its issuer).
    #[serde(default)]
    pub statement_issuer: Option<String>,
    /// Metadata members asserted by the software statement rather than self-asserted by the
    /// client (RFC 7591 §5: everything else MUST be treated as self-asserted).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub statement_asserted: BTreeSet<String>,
    /// SHA-256 of the `software_id` and the instance key the client registered with, for
    /// idempotent re-registration (see
    /// [`ServerPolicy::idempotent_registration`](crate::ServerPolicy::idempotent_registration)).
    /// Unique in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<SecretHash>,
    /// The subject of the initial access token the client registered with, if any.
    #[serde(default)]
    pub initial_token_subject: Option<String>,
    /// The grant of the initial access token the client registered with, if any: its
    /// restrictions (`allowed_scopes`, `redirect_hosts`) bind every update of the client, and the
    /// host's hook sees it on update. A record stored without it (before this field existed)
    /// reads as `None`: no restrictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_grant: Option<crate::initial_tokens::InitialAccessGrant>,
    /// How the client came to exist.
    pub origin: Origin,
    /// When the client identifier was issued (`client_id_issued_at`).
    #[serde(with = "time::serde::timestamp")]
    pub created_at: OffsetDateTime,
    /// When the record last changed.
    #[serde(with = "time::serde::timestamp")]
    pub updated_at: OffsetDateTime,
    /// When the host last reported the client as used (a completed flow), if ever; see
    /// [`Registrar::record_use`](crate::Registrar::record_use).
    #[serde(
        default,
        with = "time::serde::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_used: Option<OffsetDateTime>,
    /// Optimistic-concurrency version: [`ClientStore::update`] succeeds only if the stored
    /// version equals this one, and stores the record with the version incremented.
    pub version: u64,
}

impl ClientRecord {
    /// A new record at version 0, created and updated at `now`, with no credentials.
    pub fn new(
        client_id: impl Into<String>,
        metadata: ClientMetadata,
        origin: Origin,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            metadata,
            secret: None,
            previous_secret: None,
            registration_token: None,
            previous_token: None,
            retired_tokens: Vec::new(),
            software_statement: None,
            statement_issuer: None,
            statement_asserted: BTreeSet::new(),
            instance: None,
            initial_token_subject: None,
            initial_grant: None,
            origin,
            created_at: now,
            updated_at: now,
            last_used: None,
            version: 0,
        }
    }

    /// Whether the reaper may remove this client at `now`: registered dynamically, and either
    /// never used and created before `unused_before`, or dead — it has a secret, every secret it
    /// has has expired, and its registration access token is gone or expired, so it can neither
    /// authenticate nor manage itself. Clients created by administrators are never reapable.
    pub fn is_reapable(&self, unused_before: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        if self.origin != Origin::Dynamic {
            return false;
        }
        let never_used = self.last_used.is_none()
            && unused_before.is_some_and(|before| self.created_at < before);
        let expired = |s: &StoredSecret| s.expires_at.is_some_and(|at| at <= now);
        let dead = self.secret.as_ref().is_some_and(expired)
            && self.previous_secret.as_ref().is_none_or(expired)
            && self
                .registration_token
                .as_ref()
                .is_none_or(|t| t.expires_at.is_some_and(|at| at <= now));
        never_used || dead
    }

    /// Verifies a client secret presented at the host's token endpoint: constant-time, and
    /// `false` once the secret has expired.
    ///
    /// ```
    /// # use oauth_dcr::*;
    /// # async fn demo(registrar: &Registrar, client_id: &str, presented: &str) -> Result<(), Box<dyn std::error::Error>> {
    /// let now = time::OffsetDateTime::now_utc();
    /// let ok = registrar.store().get(client_id).await?
    ///     .is_some_and(|client| client.verify_secret(presented, now));
    /// # Ok(()) }
    /// ```
    ///
    /// During a secret rotation's overlap the previous secret is accepted too.
    pub fn verify_secret(&self, presented: &str, now: OffsetDateTime) -> bool {
        let check = |s: &StoredSecret| {
            let live = s.expires_at.is_none_or(|at| now < at);
            // Evaluate the comparison regardless of expiry so timing does not reveal it.
            s.matches(presented) & live
        };
        let current = self.secret.as_ref().is_some_and(check);
        let previous = self.previous_secret.as_ref().is_some_and(check);
        current | previous
    }
}

/// Where clients live. Implement it for your database, or use [`MemoryStore`].
///
/// Every write is atomic: a failed call leaves the store as it was. Implementations must make
/// [`update`](Self::update) and [`delete`](Self::delete) compare-and-set on
/// [`ClientRecord::version`], so that of two requests racing with the same registration access
/// token at most one wins. [`touch`](Self::touch) records a use without changing the version.
///
/// Three methods serve optional features and default to reporting a backend error, so that the
/// feature fails closed: [`find_by_instance`](Self::find_by_instance) (idempotent registration),
/// [`reap_candidates`](Self::reap_candidates) ([`Registrar::reap`](crate::Registrar::reap)) and
/// [`count`](Self::count) (the client limits). The conformance kit (`testkit::check_client_store`,
/// feature `test-kit`) checks every method, these included, and names the feature a failing one
/// cannot serve.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the `client_id` exists (the registrar then retries with another
    /// identifier).
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError>;

    /// Loads a client. `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`StoreError::Backend`] only.
    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;

    /// Loads the client whose current registration access token has this hash. `Ok(None)` when
    /// there is none.
    ///
    /// # Errors
    /// [`StoreError::Backend`] only.
    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError>;

    /// Replaces a client if the stored version equals `record.version`, storing it with the
    /// version incremented.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the client does not exist; [`StoreError::Conflict`] if the
    /// stored version differs.
    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError>;

    /// Removes a client and its registration access token if the stored version equals
    /// `version`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the client does not exist; [`StoreError::Conflict`] if the
    /// stored version differs.
    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError>;

    /// The dynamically registered client with this instance hash
    /// ([`ClientRecord::instance`]), if any. Needed only with idempotent registration; the
    /// default reports a backend error.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let _ = instance;
        Err(StoreError::backend(std::io::Error::other(
            "this store cannot find clients by instance",
        )))
    }

    /// Records that the client was used at `at` ([`ClientRecord::last_used`]): what
    /// [`Registrar::record_use`](crate::Registrar::record_use) calls from the token endpoint.
    ///
    /// It must not change [`ClientRecord::version`]: a use is a hint, not a state transition, and
    /// a version bump would make a management call that read the record just before (a read
    /// that rotates the token, an update) lose its compare-and-set and answer 401. A concurrent
    /// [`update`](Self::update) may then overwrite the time of use, which is harmless. There is
    /// no default: reading the record and writing it back through `update` bumps the version.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the client does not exist; [`StoreError::Backend`].
    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Up to `limit` clients for which [`ClientRecord::is_reapable`] may hold (a superset is
    /// fine: the reaper checks each one). The default reports a backend error, so a store that
    /// cannot list candidates reaps nothing, loudly.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn reap_candidates(
        &self,
        unused_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ClientRecord>, StoreError> {
        let _ = (unused_before, now, limit);
        Err(StoreError::backend(std::io::Error::other(
            "this store cannot list clients to reap",
        )))
    }

    /// The number of stored clients, or of those with this `software_id`. Needed only when the
    /// policy limits the number of clients; the default implementation reports a backend error,
    /// so such a limit fails closed.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError> {
        let _ = software_id;
        Err(StoreError::backend(std::io::Error::other(
            "this store cannot count clients",
        )))
    }
}
