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
///
/// Serialized, the grant's members sit beside the others (`id`, `hash`, `scopes`, `subject`,
/// `issued_at`, `expires_at`, `max_uses`, `uses`, …), as tokens stored by earlier versions have
/// them: a stored token reads back whichever version wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssuedToken {
    /// A public identifier, for listing and revoking.
    pub id: String,
    /// SHA-256 of the token.
    pub hash: SecretHash,
    /// What the token grants (its scopes, subject, expiry and restrictions): exactly what
    /// [`IssuedInitialTokens`] returns for it from
    /// [`InitialTokenVerifier::verify`](super::InitialTokenVerifier::verify) while it is usable.
    #[serde(flatten)]
    pub grant: InitialAccessGrant,
    /// When it was issued.
    #[serde(with = "time::serde::timestamp")]
    pub issued_at: OffsetDateTime,
    /// How many registrations it may make; `None` for unlimited.
    #[serde(default)]
    pub max_uses: Option<u32>,
    /// How many it has made.
    #[serde(default)]
    pub uses: u32,
}

impl IssuedToken {
    /// Whether the token can still be used at `now`: not expired (`grant.expires_at`) and uses
    /// left.
    pub fn usable(&self, now: OffsetDateTime) -> bool {
        self.grant.expires_at.is_none_or(|at| now < at)
            && self.max_uses.is_none_or(|max| self.uses < max)
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

/// What to issue (see [`IssuedInitialTokens::issue`]): the grant, and how long and how often
/// it may be used.
///
/// The token's registrations get exactly the grant, with two members settled at issue:
/// - [`expires_at`](InitialAccessGrant::expires_at): the earlier of the grant's own and the end
///   of [`lifetime`](Self::lifetime);
/// - [`single_use`](InitialAccessGrant::single_use): whether `max_uses` is one; a single-use
///   grant is issued with at most one use.
///
/// An [`InitialAccessGrant`] is a `TokenSpec` with no lifetime and unlimited uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenSpec {
    /// What the token grants.
    pub grant: InitialAccessGrant,
    /// How long it lives from its issue; `None` for as long as the grant says (a lifetime past
    /// the year 9999 ends then).
    pub lifetime: Option<Duration>,
    /// How many registrations it may make; `None` for unlimited.
    pub max_uses: Option<u32>,
}

impl TokenSpec {
    /// A token granting `grant`, with no lifetime and unlimited uses.
    pub fn new(grant: InitialAccessGrant) -> Self {
        Self {
            grant,
            lifetime: None,
            max_uses: None,
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
}

impl From<InitialAccessGrant> for TokenSpec {
    fn from(grant: InitialAccessGrant) -> Self {
        Self::new(grant)
    }
}

/// Issues, verifies, lists and revokes crate-issued initial access tokens. Pass it to
/// [`Registrar::require_initial_token`](crate::Registrar::require_initial_token).
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::MemoryStore;
/// use oauth_dcr::initial_tokens::{InitialAccessGrant, IssuedInitialTokens, TokenSpec};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tokens = IssuedInitialTokens::new(Arc::new(MemoryStore::new()));
/// let grant = InitialAccessGrant::with_scopes(["register"]).subject("partner-a");
/// let (token, issued) = tokens
///     .issue(TokenSpec::new(grant).max_uses(5).lifetime(time::Duration::hours(1)))
///     .await?;
/// assert_eq!(issued.max_uses, Some(5));
/// assert_eq!(issued.grant.subject.as_deref(), Some("partner-a"));
///
/// // A grant alone is a token with no lifetime and unlimited uses.
/// let (_, unlimited) = tokens.issue(InitialAccessGrant::with_scopes(["register"])).await?;
/// assert_eq!((unlimited.max_uses, unlimited.grant.expires_at), (None, None));
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

    /// Issues a token granting `spec`'s grant (a [`TokenSpec`], or an [`InitialAccessGrant`]
    /// for no lifetime and unlimited uses). The returned token is the only copy: the store keeps
    /// its hash.
    ///
    /// # Errors
    /// When the store or the random source fails.
    pub async fn issue(
        &self,
        spec: impl Into<TokenSpec>,
    ) -> Result<(InitialAccessToken, IssuedToken), StoreError> {
        let TokenSpec {
            mut grant,
            lifetime,
            mut max_uses,
        } = spec.into();
        let token = InitialAccessToken::new(random_token().map_err(StoreError::backend)?);
        let now = self.clock.now();
        if let Some(lifetime) = lifetime {
            let end = expiry(now, lifetime);
            grant.expires_at = Some(grant.expires_at.map_or(end, |at| at.min(end)));
        }
        if grant.single_use {
            max_uses = Some(max_uses.map_or(1, |max| max.min(1)));
        }
        grant.single_use = max_uses == Some(1);
        let record = IssuedToken {
            id: uuid::Uuid::new_v4().to_string(),
            hash: token.hash(),
            grant,
            issued_at: now,
            max_uses,
            uses: 0,
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
                // What `issue` stored; a token stored before the grant had `single_use` has it
                // from its uses, as `issue` sets it.
                single_use: t.max_uses == Some(1),
                ..t.grant
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    const ISSUED: i64 = 1_700_000_000;

    fn at(t: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(t).unwrap()
    }

    #[derive(Debug)]
    struct Fixed(OffsetDateTime);

    impl Clock for Fixed {
        fn now(&self) -> OffsetDateTime {
            self.0
        }
    }

    fn tokens(store: Arc<MemoryStore>) -> IssuedInitialTokens {
        IssuedInitialTokens::new(store).with_clock(Arc::new(Fixed(at(ISSUED))))
    }

    /// `IssuedToken` as it was before the grant became its member, member for member.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Before {
        id: String,
        hash: SecretHash,
        scopes: Vec<String>,
        subject: Option<String>,
        #[serde(with = "time::serde::timestamp")]
        issued_at: OffsetDateTime,
        #[serde(with = "time::serde::timestamp::option")]
        expires_at: Option<OffsetDateTime>,
        max_uses: Option<u32>,
        uses: u32,
        allowed_scopes: Option<Vec<String>>,
        redirect_hosts: Option<Vec<String>>,
    }

    /// Tokens stored before the grant became `IssuedToken`'s member (a PostgreSQL `record`, a
    /// serialized token) read back with every member in place, and verify as they did.
    #[tokio::test]
    async fn a_token_stored_in_the_earlier_shape_reads_back_and_verifies_as_before() {
        let hash = serde_json::to_string(&SecretHash::of("partner-secret")).unwrap();
        let full = format!(
            r#"{{"id":"t-1","hash":{hash},"scopes":["register"],"subject":"partner-a",
                "issued_at":{ISSUED},"expires_at":{},"max_uses":1,"uses":0,
                "allowed_scopes":["openid"],"redirect_hosts":[".partner.example"]}}"#,
            ISSUED + 3600
        );
        let token: IssuedToken = serde_json::from_str(&full).unwrap();
        assert_eq!(token.id, "t-1");
        assert_eq!(token.hash, SecretHash::of("partner-secret"));
        assert_eq!(token.grant.scopes, ["register"]);
        assert_eq!(token.grant.subject.as_deref(), Some("partner-a"));
        assert_eq!(token.issued_at, at(ISSUED));
        assert_eq!(token.grant.expires_at, Some(at(ISSUED + 3600)));
        assert_eq!((token.max_uses, token.uses), (Some(1), 0));
        assert_eq!(token.grant.allowed_scopes, Some(vec!["openid".to_owned()]));
        assert_eq!(
            token.grant.redirect_hosts,
            Some(vec![".partner.example".to_owned()])
        );
        let store = Arc::new(MemoryStore::new());
        store.insert_token(&token).await.unwrap();
        let granted = tokens(store).verify("partner-secret").await.unwrap();
        let expected = InitialAccessGrant::with_scopes(["register"])
            .subject("partner-a")
            .expires_at(at(ISSUED + 3600))
            .allowed_scopes(["openid"])
            .redirect_hosts([".partner.example"])
            .single_use();
        assert_eq!(
            granted,
            Some(expected),
            "one use left: single use, as before"
        );

        let bare = format!(
            r#"{{"id":"t-2","hash":{hash},"scopes":[],"subject":null,"issued_at":{ISSUED},
                "expires_at":null,"max_uses":null,"uses":3,"allowed_scopes":null,
                "redirect_hosts":null}}"#
        );
        let token: IssuedToken = serde_json::from_str(&bare).unwrap();
        assert_eq!(token.grant, InitialAccessGrant::default());
        assert_eq!((token.max_uses, token.uses), (None, 3));
    }

    /// During a rolling upgrade both builds read the same stored tokens: each reads what the other
    /// wrote, member for member.
    #[test]
    fn tokens_read_back_across_the_change_in_both_directions() {
        let before = Before {
            id: "t-1".to_owned(),
            hash: SecretHash::of("partner-secret"),
            scopes: vec!["register".to_owned()],
            subject: None,
            issued_at: at(ISSUED),
            expires_at: None,
            max_uses: Some(4),
            uses: 2,
            allowed_scopes: None,
            redirect_hosts: Some(vec!["app.example".to_owned()]),
        };
        let now: IssuedToken =
            serde_json::from_str(&serde_json::to_string(&before).unwrap()).unwrap();
        let back: Before = serde_json::from_str(&serde_json::to_string(&now).unwrap()).unwrap();
        assert_eq!(back, before);
        for (scopes, expires_at) in [(vec![], None), (vec!["register".to_owned()], Some(at(1)))] {
            let now = IssuedToken {
                grant: InitialAccessGrant {
                    scopes,
                    expires_at,
                    ..InitialAccessGrant::default()
                },
                ..now.clone()
            };
            let read: Before = serde_json::from_str(&serde_json::to_string(&now).unwrap()).unwrap();
            assert_eq!(
                (read.scopes, read.expires_at),
                (now.grant.scopes, expires_at)
            );
        }
    }

    /// A token's registrations get exactly the grant it was issued with.
    #[tokio::test]
    async fn verify_returns_exactly_the_issued_grant() {
        let tokens = tokens(Arc::new(MemoryStore::new()));
        let grant = InitialAccessGrant::with_scopes(["register", "admin"])
            .subject("partner-a")
            .allowed_scopes(["openid"])
            .redirect_hosts([".partner.example"]);
        for spec in [
            TokenSpec::new(grant.clone()),
            TokenSpec::new(grant.clone()).max_uses(1),
            TokenSpec::new(grant.clone())
                .max_uses(3)
                .lifetime(Duration::hours(1)),
            TokenSpec::new(grant.clone().expires_at(at(ISSUED + 60))).lifetime(Duration::hours(1)),
            TokenSpec::new(grant.clone().single_use()),
        ] {
            let (token, issued) = tokens.issue(spec.clone()).await.unwrap();
            let granted = tokens.verify(token.secret()).await.unwrap();
            assert_eq!(granted.as_ref(), Some(&issued.grant), "{spec:?}");
            assert_eq!(
                InitialAccessGrant {
                    expires_at: None,
                    single_use: false,
                    ..issued.grant
                },
                grant,
                "{spec:?}"
            );
        }
    }

    /// The lifetime and the grant's own expiry: the earlier ends the token. A single-use grant
    /// is issued with one use, and one use makes the grant single-use.
    #[tokio::test]
    async fn issue_settles_the_expiry_and_single_use() {
        let tokens = tokens(Arc::new(MemoryStore::new()));
        let grant = InitialAccessGrant::with_scopes(["register"]);
        let cases = [
            (TokenSpec::new(grant.clone()), None, None),
            (
                TokenSpec::new(grant.clone()).lifetime(Duration::hours(1)),
                Some(ISSUED + 3600),
                None,
            ),
            (
                TokenSpec::new(grant.clone().expires_at(at(ISSUED + 60))),
                Some(ISSUED + 60),
                None,
            ),
            (
                TokenSpec::new(grant.clone().expires_at(at(ISSUED + 60)))
                    .lifetime(Duration::hours(1)),
                Some(ISSUED + 60),
                None,
            ),
            (
                TokenSpec::new(grant.clone().expires_at(at(ISSUED + 7200)))
                    .lifetime(Duration::hours(1)),
                Some(ISSUED + 3600),
                None,
            ),
            (TokenSpec::new(grant.clone().single_use()), None, Some(1)),
            (
                TokenSpec::new(grant.clone().single_use()).max_uses(5),
                None,
                Some(1),
            ),
            (TokenSpec::new(grant.clone()).max_uses(1), None, Some(1)),
            (TokenSpec::new(grant.clone()).max_uses(2), None, Some(2)),
        ];
        for (spec, expires_at, max_uses) in cases {
            let (_, issued) = tokens.issue(spec.clone()).await.unwrap();
            assert_eq!(
                issued.grant.expires_at.map(OffsetDateTime::unix_timestamp),
                expires_at,
                "{spec:?}"
            );
            assert_eq!(issued.max_uses, max_uses, "{spec:?}");
            assert_eq!(issued.grant.single_use, max_uses == Some(1), "{spec:?}");
        }
    }
}
