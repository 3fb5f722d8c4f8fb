//! Where clients live: the [`ClientStore`] trait every store implements, the optional
//! capabilities a store may declare ([`InstanceIndex`], [`UsageLog`], [`ClientCount`],
//! [`ClientListing`]), and the [`ClientRecord`] it stores.

mod compact;
mod listing;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::error::StoreError;
use crate::metadata::ClientMetadata;
use crate::policy::ServerPolicy;
use crate::secret::ClientSecret;
pub use crate::secret::SecretHash;

pub use listing::{ClientListing, InvalidCursor, ListCursor, ListPage, ListQuery, ListedClient};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore};

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

/// How a client registered through an OpenID Federation trust chain was admitted
/// ([`crate::federation`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FederationProvenance {
    /// The trust anchor at the top of the chain.
    pub trust_anchor: String,
    /// The client's immediate superior in the chain.
    pub immediate_superior: String,
    /// When the registration expires: no later than the chain.
    #[serde(with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
    /// The chain's statements as verified, the client's Entity Configuration first.
    pub trust_chain: Vec<String>,
}

impl FederationProvenance {
    /// The provenance of a registration through `chain`, valid until `expires_at` or the
    /// chain's expiry, whichever comes first.
    pub fn new(chain: &crate::federation::chain::TrustChain, expires_at: OffsetDateTime) -> Self {
        Self {
            trust_anchor: chain.trust_anchor.clone(),
            immediate_superior: chain.immediate_superior.clone(),
            expires_at: expires_at.min(chain.expires_at),
            trust_chain: chain.statements.clone(),
        }
    }
}

/// A registered client, as a [`ClientStore`] keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientRecord {
    /// The client identifier (RFC 7591 §3.2.1). Unique in the store.
    pub client_id: String,
    /// The validated metadata, defaults applied.
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
    /// For a client admitted through an OpenID Federation trust chain: which chain, and until
    /// when the registration is valid (never past the chain's expiry, OpenID Federation 1.0
    /// §12.3); the reaper removes it after that. A record stored without it reads as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<FederationProvenance>,
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
            federation: None,
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
    /// authenticate nor manage itself — or registered through a federation trust chain whose
    /// registration has expired ([`registration_expired`](Self::registration_expired)). Clients
    /// created by administrators are never reapable.
    pub fn is_reapable(&self, unused_before: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        if self.origin != Origin::Dynamic {
            return false;
        }
        if self.registration_expired(now) {
            return true;
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

    /// Whether the registration itself has expired at `now`: a client admitted through a
    /// federation trust chain is registered only until the chain's expiry (OpenID Federation 1.0
    /// §12.3). Other registrations do not expire.
    pub fn registration_expired(&self, now: OffsetDateTime) -> bool {
        self.federation
            .as_ref()
            .is_some_and(|f| f.expires_at <= now)
    }

    /// Verifies a client secret presented at the host's token endpoint: constant-time, and
    /// `false` once the secret or the registration has expired.
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
        (current | previous) & !self.registration_expired(now)
    }
}

/// Where clients live. Implement it for your database, or use [`MemoryStore`].
///
/// Five methods are required; `examples/custom_store.rs` is a complete store over a `HashMap`
/// in about a hundred lines. What each must guarantee:
///
/// | method | must guarantee | answers |
/// | --- | --- | --- |
/// | [`create`](Self::create) | stores the record as given, its `version` included; refuses a `client_id` that exists and a registration token hash another client holds (and an instance hash another client holds, when the store declares [`InstanceIndex`]) | `Ok(())`; [`Conflict`](StoreError::Conflict) on a taken identifier or hash |
/// | [`get`](Self::get) | the record as last written, with its stored `version` | `Ok(None)` when the client does not exist |
/// | [`find_by_registration_token`](Self::find_by_registration_token) | the client whose *current* [`registration_token`](ClientRecord::registration_token) has this hash: never one that rotated it away or was deleted | `Ok(None)` when no client holds it |
/// | [`update`](Self::update) | compare-and-set: replaces the record only if the stored `version` equals `record.version`, and stores it as `record.version + 1`; the token hash stays unique, as in `create`. Of concurrent updates from one version exactly one wins | [`NotFound`](StoreError::NotFound) when the client does not exist; [`Conflict`](StoreError::Conflict) on another version or a taken hash |
/// | [`delete`](Self::delete) | compare-and-set as `update`; removes the record, and with it its token (and instance) hash from every lookup | [`NotFound`](StoreError::NotFound); [`Conflict`](StoreError::Conflict) on another version |
///
/// And for every method:
/// - **Atomic**: a call that fails leaves the store as it was; a write is seen whole or not at
///   all (no half-written record, no index entry without its record).
/// - **Faithful**: every member of [`ClientRecord`] reads back as it was written, timestamps at
///   least to the second. `ClientRecord` implements `Serialize` and `Deserialize`: storing its
///   JSON next to the columns the store indexes is enough.
/// - **Versions belong to the store**: only `update` changes one (by one). The registrar relies
///   on it so that of two requests racing with the same registration access token at most one
///   wins.
/// - A backend failure (connection, timeout, …) is [`StoreError::Backend`]; the client sees a
///   500 with no detail, the host's logs see the cause.
///
/// Optional capabilities are traits of their own, which a store declares by overriding the
/// matching method below to return `Some(self)`:
/// - [`InstanceIndex`] ([`as_instance_index`](Self::as_instance_index)): idempotent
///   re-registration ([`ServerPolicy::idempotent_registration`](crate::ServerPolicy::idempotent_registration)).
/// - [`UsageLog`] ([`as_usage_log`](Self::as_usage_log)): use tracking and reaping
///   ([`Registrar::record_use`](crate::Registrar::record_use),
///   [`Registrar::reap`](crate::Registrar::reap),
///   [`ServerPolicy::unused_client_ttl`](crate::ServerPolicy::unused_client_ttl)).
/// - [`ClientCount`] ([`as_client_count`](Self::as_client_count)): the client limits
///   ([`ServerPolicy::max_clients`](crate::ServerPolicy::max_clients),
///   [`ServerPolicy::max_clients_per_software_id`](crate::ServerPolicy::max_clients_per_software_id)).
/// - [`ClientListing`] ([`as_client_listing`](Self::as_client_listing)): clients page by page
///   for admin views ([`Registrar::list_clients`](crate::Registrar::list_clients)).
///
/// A [`Registrar`](crate::Registrar) whose policy needs a capability the store does not declare
/// is refused when it is built ([`Registrar::try_new`](crate::Registrar::try_new) answers
/// [`MissingCapability`]), never at request time. The conformance kit
/// (`testkit::check_client_store`, feature `test-kit`) checks the required methods and every
/// declared capability.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the `client_id` exists (the registrar then retries with another
    /// identifier) or another client holds the registration token hash (or, with
    /// [`InstanceIndex`], the instance hash); [`StoreError::Backend`].
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
    /// stored version differs or another client holds the new token (or instance) hash;
    /// [`StoreError::Backend`].
    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError>;

    /// Removes a client, and its registration token and instance hashes from every lookup, if
    /// the stored version equals `version`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the client does not exist; [`StoreError::Conflict`] if the
    /// stored version differs; [`StoreError::Backend`].
    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError>;

    /// This store's [`InstanceIndex`], if it has one: override to return `Some(self)` when it
    /// implements the trait. `None` (the default) refuses a policy with
    /// [`idempotent_registration`](crate::ServerPolicy::idempotent_registration) at construction.
    fn as_instance_index(&self) -> Option<&dyn InstanceIndex> {
        None
    }

    /// This store's [`UsageLog`], if it has one: override to return `Some(self)` when it
    /// implements the trait. `None` (the default) refuses a policy with an
    /// [`unused_client_ttl`](crate::ServerPolicy::unused_client_ttl) at construction, and
    /// [`Registrar::record_use`](crate::Registrar::record_use) and
    /// [`Registrar::reap`](crate::Registrar::reap) answer an error naming the capability.
    fn as_usage_log(&self) -> Option<&dyn UsageLog> {
        None
    }

    /// This store's [`ClientCount`], if it has one: override to return `Some(self)` when it
    /// implements the trait. `None` (the default) refuses a policy with
    /// [`max_clients`](crate::ServerPolicy::max_clients) or
    /// [`max_clients_per_software_id`](crate::ServerPolicy::max_clients_per_software_id) at
    /// construction.
    fn as_client_count(&self) -> Option<&dyn ClientCount> {
        None
    }

    /// This store's [`ClientListing`], if it has one: override to return `Some(self)` when it
    /// implements the trait. `None` (the default) makes
    /// [`Registrar::list_clients`](crate::Registrar::list_clients) answer an error naming the
    /// capability.
    fn as_client_listing(&self) -> Option<&dyn ClientListing> {
        None
    }
}

/// Capability: finding a client by the hash of its `software_id` and instance key
/// ([`ClientRecord::instance`]), for idempotent re-registration
/// ([`ServerPolicy::idempotent_registration`](crate::ServerPolicy::idempotent_registration)).
/// Declared with [`ClientStore::as_instance_index`].
///
/// A store that declares it keeps instance hashes unique as it keeps token hashes unique:
/// [`create`](ClientStore::create) and [`update`](ClientStore::update) refuse with
/// [`StoreError::Conflict`] an instance hash another client holds, and an update or a delete
/// that removes a client's instance hash removes it from the lookup. In SQL: a nullable, unique
/// column.
#[async_trait]
pub trait InstanceIndex: Send + Sync {
    /// The client whose current [`ClientRecord::instance`] is `instance`. `Ok(None)` when there
    /// is none.
    ///
    /// # Errors
    /// [`StoreError::Backend`] only.
    async fn find_by_instance(
        &self,
        instance: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError>;
}

/// Capability: recording when clients are used and listing those the reaper may remove
/// ([`Registrar::record_use`](crate::Registrar::record_use),
/// [`Registrar::reap`](crate::Registrar::reap),
/// [`ServerPolicy::unused_client_ttl`](crate::ServerPolicy::unused_client_ttl)). Declared with
/// [`ClientStore::as_usage_log`].
#[async_trait]
pub trait UsageLog: Send + Sync {
    /// Records that the client was used at `at` ([`ClientRecord::last_used`]): what
    /// [`Registrar::record_use`](crate::Registrar::record_use) calls from the token endpoint.
    ///
    /// It must not change [`ClientRecord::version`]: a use is a hint, not a state transition, and
    /// a version bump would make a management call that read the record just before (a read
    /// that rotates the token, an update) lose its compare-and-set and answer 401. A concurrent
    /// [`update`](ClientStore::update) may then overwrite the time of use, which is harmless. So
    /// it cannot be written as a read followed by [`update`](ClientStore::update): in SQL, one
    /// `UPDATE … SET last_used = $2 WHERE client_id = $1`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the client does not exist; [`StoreError::Backend`].
    async fn touch(&self, client_id: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Up to `limit` clients for which [`ClientRecord::is_reapable`] may hold (a superset is
    /// fine: the reaper checks each one).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn reap_candidates(
        &self,
        unused_before: Option<OffsetDateTime>,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ClientRecord>, StoreError>;
}

/// Capability: counting clients, for the client limits
/// ([`ServerPolicy::max_clients`](crate::ServerPolicy::max_clients),
/// [`ServerPolicy::max_clients_per_software_id`](crate::ServerPolicy::max_clients_per_software_id)).
/// Declared with [`ClientStore::as_client_count`].
#[async_trait]
pub trait ClientCount: Send + Sync {
    /// The number of stored clients, or with `Some(software_id)` of those whose metadata has
    /// this `software_id`. The registrar counts before it writes, so an exact snapshot is not
    /// needed.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn count(&self, software_id: Option<&str>) -> Result<u64, StoreError>;
}

/// An optional capability of a [`ClientStore`]; its `Display` is the name of its trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// [`InstanceIndex`], declared with [`ClientStore::as_instance_index`].
    InstanceIndex,
    /// [`UsageLog`], declared with [`ClientStore::as_usage_log`].
    UsageLog,
    /// [`ClientCount`], declared with [`ClientStore::as_client_count`].
    ClientCount,
    /// [`ClientListing`], declared with [`ClientStore::as_client_listing`].
    ClientListing,
}

impl Capability {
    /// The name of its trait (`"InstanceIndex"`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::InstanceIndex => "InstanceIndex",
            Self::UsageLog => "UsageLog",
            Self::ClientCount => "ClientCount",
            Self::ClientListing => "ClientListing",
        }
    }

    /// The [`ClientStore`] method that declares it (`"as_instance_index"`).
    pub(crate) fn accessor(self) -> &'static str {
        match self {
            Self::InstanceIndex => "as_instance_index",
            Self::UsageLog => "as_usage_log",
            Self::ClientCount => "as_client_count",
            Self::ClientListing => "as_client_listing",
        }
    }

    /// Whether `store` declares it.
    pub(crate) fn declared_by(self, store: &dyn ClientStore) -> bool {
        match self {
            Self::InstanceIndex => store.as_instance_index().is_some(),
            Self::UsageLog => store.as_usage_log().is_some(),
            Self::ClientCount => store.as_client_count().is_some(),
            Self::ClientListing => store.as_client_listing().is_some(),
        }
    }

    /// The error for a call that needs this capability on a store without it: an internal
    /// error (500 without details) whose source is the [`MissingCapability`]. The registrar's constructor refuses
    /// such a store for the policy settings that need it, so only host calls
    /// ([`Registrar::record_use`](crate::Registrar::record_use),
    /// [`Registrar::reap`](crate::Registrar::reap),
    /// [`Registrar::list_clients`](crate::Registrar::list_clients)) meet it.
    pub(crate) fn missing(self, needed_by: &'static str) -> crate::error::RegistrationError {
        crate::error::RegistrationError::Internal(Box::new(MissingCapability {
            capability: self,
            needed_by,
        }))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy setting (or a registrar call) needs a capability the store does not declare: what
/// [`Registrar::try_new`](crate::Registrar::try_new) answers for such a store, a configuration
/// error found when the registrar is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the store does not declare the `{}` capability, which `{needed_by}` needs (implement \
     `oauth_dcr::store::{}` and return `Some(self)` from `ClientStore::{}`)",
    capability.name(),
    capability.name(),
    capability.accessor()
)]
pub struct MissingCapability {
    capability: Capability,
    needed_by: &'static str,
}

impl MissingCapability {
    /// The capability the store lacks.
    pub fn capability(&self) -> Capability {
        self.capability
    }

    /// What needs it: a policy setting (`"ServerPolicy::max_clients"`) or a registrar call
    /// (`"Registrar::reap"`).
    pub fn needed_by(&self) -> &'static str {
        self.needed_by
    }
}

/// Whether `store` declares every capability `policy` needs: idempotent registration needs an
/// [`InstanceIndex`], the client limits a [`ClientCount`], an unused-client TTL a [`UsageLog`].
/// The first one missing is the error.
pub(crate) fn check_capabilities(
    policy: &ServerPolicy,
    store: &dyn ClientStore,
) -> Result<(), MissingCapability> {
    let needs = [
        (
            policy.idempotent_registration,
            Capability::InstanceIndex,
            "ServerPolicy::idempotent_registration",
        ),
        (
            policy.max_clients.is_some(),
            Capability::ClientCount,
            "ServerPolicy::max_clients",
        ),
        (
            policy.max_clients_per_software_id.is_some(),
            Capability::ClientCount,
            "ServerPolicy::max_clients_per_software_id",
        ),
        (
            policy.unused_client_ttl.is_some(),
            Capability::UsageLog,
            "ServerPolicy::unused_client_ttl",
        ),
    ];
    for (needed, capability, needed_by) in needs {
        if needed && !capability.declared_by(store) {
            return Err(MissingCapability {
                capability,
                needed_by,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client admitted through a federation trust chain is registered only until the chain
    /// expires: after that its secret no longer verifies and the reaper may remove it.
    #[test]
    fn a_federation_registration_ends_with_its_chain() {
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let end = start + time::Duration::hours(1);
        let mut record = ClientRecord::new(
            "https://rp.fed.example",
            ClientMetadata::default(),
            Origin::Dynamic,
            start,
        );
        record.last_used = Some(start);
        record.secret = Some(StoredSecret {
            value: SecretValue::Hashed(SecretHash::of("s3cret")),
            expires_at: None,
        });
        let before = end - time::Duration::seconds(1);
        assert!(
            !record.registration_expired(end),
            "no federation provenance"
        );
        record.federation = Some(FederationProvenance {
            trust_anchor: "https://ta.fed.example".to_owned(),
            immediate_superior: "https://int.fed.example".to_owned(),
            expires_at: end,
            trust_chain: Vec::new(),
        });
        assert!(record.verify_secret("s3cret", before));
        assert!(!record.registration_expired(before));
        assert!(!record.is_reapable(None, before));
        assert!(record.registration_expired(end));
        assert!(!record.verify_secret("s3cret", end));
        assert!(record.is_reapable(None, end));
        // Administrators' clients are never reaped.
        record.origin = Origin::Administrator;
        assert!(!record.is_reapable(None, end));
    }
}
