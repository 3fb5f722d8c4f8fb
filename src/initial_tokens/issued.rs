//! Initial access tokens issued by the crate itself, for servers whose token endpoint has none:
//! an expiry, a maximum number of uses counted atomically, optional restrictions, stored only as
//! a hash, listed and revoked.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::{InitialAccessGrant, InitialTokenVerifier};
use crate::credentials::{random_token, Clock, SystemClock};
use crate::secret::{InitialAccessToken, SecretHash};
use crate::store::StoreError;

/// A crate-issued initial access token as stored: never the token itself, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssuedToken {
    /// A public identifier, for listing and revoking.
    pub id: String,
    /// SHA-256 of the token.
    pub hash: SecretHash,
    /// Scopes the token carries (checked against the registrar's required scope).
    pub scopes: Vec<String>,
    /// Who the token was issued to.
    pub subject: Option<String>,
    /// When it was issued.
    #[serde(with = "time::serde::timestamp")]
    pub issued_at: OffsetDateTime,
    /// When it expires; `None` for never.
    #[serde(with = "time::serde::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// How many registrations it may make; `None` for unlimited.
    pub max_uses: Option<u32>,
    /// How many it has made.
    pub uses: u32,
    /// Scope values registrations with this token may ask for.
    pub allowed_scopes: Option<Vec<String>>,
    /// Hosts redirect URIs of registrations with this token must be on.
    pub redirect_hosts: Option<Vec<String>>,
}

impl IssuedToken {
    /// Whether the token can still be used at `now`.
    pub fn usable(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| now < at) && self.max_uses.is_none_or(|max| self.uses < max)
    }
}

/// Where crate-issued initial access tokens live. [`MemoryStore`](crate::MemoryStore) implements
/// it; multi-replica deployments use a shared database so that uses are counted once.
#[async_trait]
pub trait InitialTokenStore: Send + Sync {
    /// Stores a new token.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the id or hash exists.
    async fn insert_token(&self, token: &IssuedToken) -> Result<(), StoreError>;

    /// The token with this hash, if any.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn find_token(&self, hash: &SecretHash) -> Result<Option<IssuedToken>, StoreError>;

    /// Atomically takes one use if the token exists, has not expired at `now` and has uses
    /// left. `Ok(false)` otherwise.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn take_use(&self, hash: &SecretHash, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Gives back one use taken for a registration that then failed.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn give_back_use(&self, hash: &SecretHash) -> Result<(), StoreError>;

    /// All tokens, in no particular order.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn list_tokens(&self) -> Result<Vec<IssuedToken>, StoreError>;

    /// Removes a token by id. `Ok(false)` if there was none.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn revoke_token(&self, id: &str) -> Result<bool, StoreError>;
}

/// What to issue: see [`IssuedInitialTokens::issue`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TokenSpec {
    /// Scopes the token carries.
    pub scopes: Vec<String>,
    /// Who it is for.
    pub subject: Option<String>,
    /// How long it lives; `None` for ever (a lifetime past the year 9999 ends then).
    pub lifetime: Option<Duration>,
    /// How many registrations it may make; `None` for unlimited.
    pub max_uses: Option<u32>,
    /// Scope values its registrations may ask for.
    pub allowed_scopes: Option<Vec<String>>,
    /// Hosts its registrations' redirect URIs must be on.
    pub redirect_hosts: Option<Vec<String>>,
}

impl TokenSpec {
    /// A token with these scopes, no expiry, unlimited uses.
    pub fn with_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            scopes: scopes.into_iter().map(str::to_owned).collect(),
            ..Self::default()
        }
    }

    /// Sets the lifetime.
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Sets the maximum number of registrations.
    #[must_use]
    pub fn max_uses(mut self, uses: u32) -> Self {
        self.max_uses = Some(uses);
        self
    }

    /// Sets the subject.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Restricts the scopes its registrations may ask for.
    #[must_use]
    pub fn allowed_scopes<'a>(mut self, scopes: impl IntoIterator<Item = &'a str>) -> Self {
        self.allowed_scopes = Some(scopes.into_iter().map(str::to_owned).collect());
        self
    }

    /// Restricts its registrations' redirect hosts.
    #[must_use]
    pub fn redirect_hosts<'a>(mut self, hosts: impl IntoIterator<Item = &'a str>) -> Self {
        self.redirect_hosts = Some(hosts.into_iter().map(str::to_owned).collect());
        self
    }
}

/// Issues, verifies, lists and revokes crate-issued initial access tokens. Pass it to
/// [`Registrar::require_initial_token`](crate::Registrar::require_initial_token).
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::MemoryStore;
/// use oauth_dcr::initial_tokens::{IssuedInitialTokens, TokenSpec};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tokens = IssuedInitialTokens::new(Arc::new(MemoryStore::new()));
/// let (token, issued) = tokens
///     .issue(TokenSpec::with_scopes(["register"]).max_uses(5).lifetime(time::Duration::hours(1)))
///     .await?;
/// assert_eq!(issued.max_uses, Some(5));
/// // `token.secret()` goes to the client developer once; only its hash is stored.
/// # Ok::<(), oauth_dcr::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct IssuedInitialTokens {
    store: Arc<dyn InitialTokenStore>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for IssuedInitialTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedInitialTokens")
            .finish_non_exhaustive()
    }
}

impl IssuedInitialTokens {
    /// Tokens kept in `store`, with the system clock.
    pub fn new(store: Arc<dyn InitialTokenStore>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Issues a token. The returned token is the only copy: the store keeps its hash.
    ///
    /// # Errors
    /// When the store or the random source fails.
    pub async fn issue(
        &self,
        spec: TokenSpec,
    ) -> Result<(InitialAccessToken, IssuedToken), StoreError> {
        let token = InitialAccessToken::new(random_token().map_err(StoreError::backend)?);
        let now = self.clock.now();
        let record = IssuedToken {
            id: uuid::Uuid::new_v4().to_string(),
            hash: token.hash(),
            scopes: spec.scopes,
            subject: spec.subject,
            issued_at: now,
            expires_at: spec.lifetime.map(|lifetime| expiry(now, lifetime)),
            max_uses: spec.max_uses,
            uses: 0,
            allowed_scopes: spec.allowed_scopes,
            redirect_hosts: spec.redirect_hosts,
        };
        self.store.insert_token(&record).await?;
        Ok((token, record))
    }

    /// Every issued token.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn list(&self) -> Result<Vec<IssuedToken>, StoreError> {
        self.store.list_tokens().await
    }

    /// Revokes a token by id; `Ok(false)` if there was none.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn revoke(&self, id: &str) -> Result<bool, StoreError> {
        self.store.revoke_token(id).await
    }
}

/// `now + lifetime`, checked: a lifetime past the last second the clock holds (9999-12-31
/// 23:59:59 UTC) ends then, one before its first ends now (already expired).
fn expiry(now: OffsetDateTime, lifetime: Duration) -> OffsetDateTime {
    now.checked_add(lifetime).unwrap_or_else(|| {
        if lifetime.is_negative() {
            now
        } else {
            OffsetDateTime::from_unix_timestamp(253_402_300_799).unwrap_or(now)
        }
    })
}

#[async_trait]
impl InitialTokenVerifier for IssuedInitialTokens {
    async fn verify(&self, token: &str) -> Result<Option<InitialAccessGrant>, StoreError> {
        let found = self.store.find_token(&SecretHash::of(token)).await?;
        Ok(found
            .filter(|t| t.usable(self.clock.now()))
            .map(|t| InitialAccessGrant {
                scopes: t.scopes,
                expires_at: t.expires_at,
                subject: t.subject,
                single_use: t.max_uses == Some(1),
                allowed_scopes: t.allowed_scopes,
                redirect_hosts: t.redirect_hosts,
            }))
    }

    async fn claim(&self, token: &str) -> Result<bool, StoreError> {
        self.store
            .take_use(&SecretHash::of(token), self.clock.now())
            .await
    }

    async fn release(&self, token: &str) -> Result<(), StoreError> {
        self.store.give_back_use(&SecretHash::of(token)).await
    }
}
