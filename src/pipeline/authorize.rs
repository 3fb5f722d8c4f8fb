//! Registration access tokens (RFC 7592 §2): authentication at the client configuration
//! endpoint, rotation, reuse detection and the lost-response grace window.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::error::{ErrorCode, RegistrationError};
use crate::events::Operation;
use crate::initial_tokens::InitialTokenVerifier;
use crate::registrar::Registrar;

use super::issue::Issuer;
use super::persist::lost_race;
use crate::secret::{RegistrationAccessToken, SecretHash};
use crate::store::{ClientRecord, Origin, PreviousToken, StoreError};

/// Most [`ClientRecord::retired_tokens`] a record keeps. Each grace-window use retires two
/// tokens (the one it replaced now, the one it used at the next rotation), so a client may use
/// the window this many times over half; a grace use that would need more room is refused as
/// reuse, never made by forgetting a retired token.
const MAX_RETIRED: usize = 16;

/// A client whose registration access token checked out.
#[derive(Debug)]
pub(crate) struct Authorized {
    /// Boxed: a record is large, and it moves through every stage of a management call.
    pub(crate) record: Box<ClientRecord>,
    /// The token was the previous one, accepted once within the grace window.
    pub(crate) via_grace: bool,
    /// The token was the client's own host-issued access token, not a registration token.
    pub(crate) via_host: bool,
    /// The SHA-256 of the token presented.
    pub(crate) presented: SecretHash,
}

impl Registrar {
    /// RFC 7592 §2: authenticates a call to the client configuration endpoint.
    ///
    /// Any failure is the same 401 `invalid_token`, whether the token is empty, wrong, expired,
    /// rotated away or another client's, or the client does not exist. No token at all (`None`)
    /// is [`MissingToken`](RegistrationError::MissingToken), decided before the store is asked,
    /// so it says nothing about the client (RFC 6750 §3.1: no error code without credentials).
    /// A valid token presented for another `client_id` is revoked (RFC 7592 §2.1: "the
    /// registration access token used to make this request SHOULD be immediately revoked"). A
    /// rotated-away token is a sign of theft: with
    /// [`detect_token_reuse`](crate::ServerPolicy::detect_token_reuse) the client's current token
    /// is revoked too, unless the grace window admits it once.
    pub(crate) async fn authorize(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<Authorized, RegistrationError> {
        if !self.policy.management_enabled {
            return Err(RegistrationError::rejected(
                ErrorCode::AccessDenied,
                "client management is disabled on this server",
            ));
        }
        let token = token.ok_or(RegistrationError::MissingToken)?;
        if token.is_empty() {
            return Err(RegistrationError::InvalidToken);
        }
        let hash = SecretHash::of(token);
        let now = self.now();
        // Boxed as soon as it is loaded: the record then moves through this future (and the
        // stages after it) as a pointer. (A `let` of its own, so that no temporary of the
        // store's answer is kept across the awaits below.)
        let record = self.store.get(client_id).await?.map(Box::new);
        if let Some(record) = record {
            let current = record.registration_token.as_ref();
            if current.is_some_and(|t| t.hash == hash) {
                if current
                    .and_then(|t| t.expires_at)
                    .is_some_and(|at| now >= at)
                {
                    return Err(RegistrationError::InvalidToken);
                }
                check_origin(&record)?;
                return Ok(Authorized {
                    record,
                    via_grace: false,
                    via_host: false,
                    presented: hash,
                });
            }
            if let Some(previous) = record.previous_token.as_ref().filter(|p| p.hash == hash) {
                if self.in_grace(&record, previous, now) {
                    check_origin(&record)?;
                    return Ok(Authorized {
                        record,
                        via_grace: true,
                        via_host: false,
                        presented: hash,
                    });
                }
                return Err(self.reused(record).await);
            }
            if record.retired_tokens.contains(&hash) {
                return Err(self.reused(record).await);
            }
            if let Some(authorized) = self.host_token(token, record).await? {
                return Ok(authorized);
            }
        }
        // Boxed, as the reuse path: what an attacker's token costs stays out of every
        // legitimate call's future.
        Box::pin(self.revoke_misused(&hash)).await?;
        Err(RegistrationError::InvalidToken)
    }

    /// Whether `previous` (the token the last rotation replaced, just presented) is admitted once
    /// through the grace window: the window is open, it was not used yet, the client still has a
    /// token to replace, and the record has room to retire both tokens that use involves.
    fn in_grace(
        &self,
        record: &ClientRecord,
        previous: &PreviousToken,
        now: OffsetDateTime,
    ) -> bool {
        !previous.grace_used
            && record.registration_token.is_some()
            && record.retired_tokens.len() + 2 <= MAX_RETIRED
            && self
                .policy
                .token_rotation_grace
                .is_some_and(|grace| now - previous.rotated_at <= grace)
    }

    /// A rotated-away token was presented beyond its single grace use: with
    /// [`detect_token_reuse`](crate::ServerPolicy::detect_token_reuse), revoke the client's
    /// token. The answer is always 401 `invalid_token` (or the store's failure).
    async fn reused(&self, record: Box<ClientRecord>) -> RegistrationError {
        if self.policy.detect_token_reuse {
            // Boxed: the revocation's state stays out of every legitimate call's future.
            if let Err(e) = Box::pin(self.revoke_on_reuse(record)).await {
                return e;
            }
        }
        RegistrationError::InvalidToken
    }

    /// Stores `record`, written by a management call that authenticated with the token whose
    /// hash is `presented`. When the write loses its compare-and-set, another call changed the
    /// client meanwhile; if that call was a grace-window use which retired the presented token,
    /// the presented token is reused now: it is detected at once, not at its next presentation.
    ///
    /// # Errors
    /// 401 `invalid_token` when the write lost (the record changed or is gone); the store's
    /// failure otherwise.
    pub(crate) async fn save_managed(
        &self,
        record: &ClientRecord,
        presented: &SecretHash,
    ) -> Result<(), RegistrationError> {
        match self.store.update(record).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) if self.policy.detect_token_reuse => {
                let current = self.store.get(&record.client_id).await?.map(Box::new);
                match current {
                    Some(current) if current.retired_tokens.contains(presented) => {
                        Err(self.reused(current).await)
                    }
                    _ => Err(RegistrationError::InvalidToken),
                }
            }
            Err(e) => Err(lost_race(e)),
        }
    }

    /// With [`manage_with_host_tokens`](Registrar::manage_with_host_tokens): an access token the
    /// host issued to this very client (its subject is the `client_id`, as with the
    /// `client_credentials` grant) authenticates it too.
    async fn host_token(
        &self,
        token: &str,
        record: Box<ClientRecord>,
    ) -> Result<Option<Authorized>, RegistrationError> {
        let Some(verifier) = &self.management_tokens else {
            return Ok(None);
        };
        let now = self.now();
        let grant = verifier.verify(token).await?.filter(|g| {
            g.subject.as_deref() == Some(record.client_id.as_str())
                && g.expires_at.is_none_or(|at| now < at)
        });
        if grant.is_none() {
            return Ok(None);
        }
        check_origin(&record)?;
        Ok(Some(Authorized {
            record,
            via_grace: false,
            via_host: true,
            presented: SecretHash::of(token),
        }))
    }

    /// Accepts, at the client configuration endpoint, access tokens the host issued to the client
    /// itself (verified by `verifier`; the grant's subject must be the `client_id`), besides the
    /// registration access token: the UK Open Banking style, where a client manages its
    /// registration with its own `client_credentials` token.
    #[must_use]
    pub fn manage_with_host_tokens(mut self, verifier: Arc<dyn InitialTokenVerifier>) -> Self {
        self.management_tokens = Some(verifier);
        self
    }

    /// A rotated-away token came back: someone else holds a copy. Revoke the current token
    /// as well (the legitimate owner recovers through the host) and tell the event sinks.
    async fn revoke_on_reuse(
        &self,
        mut record: Box<ClientRecord>,
    ) -> Result<(), RegistrationError> {
        if record.registration_token.is_none() {
            return Ok(());
        }
        record.registration_token = None;
        record.previous_token = None;
        record.retired_tokens.clear();
        record.updated_at = self.now();
        match self.store.update(&record).await {
            Ok(()) => {
                let subject = self.subject(Operation::TokenReuse, &record, None);
                self.emit(
                    Operation::TokenReuse,
                    subject,
                    Some(ErrorCode::InvalidToken),
                )
                .await;
                Ok(())
            }
            Err(StoreError::Conflict | StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn revoke_misused(&self, hash: &SecretHash) -> Result<(), RegistrationError> {
        let Some(mut owner) = self.store.find_by_registration_token(hash).await? else {
            return Ok(());
        };
        owner.registration_token = None;
        owner.updated_at = self.now();
        match self.store.update(&owner).await {
            // Someone else changed the record meanwhile: the token is rotated or revoked already,
            // or the client is gone.
            Ok(()) | Err(StoreError::Conflict | StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The token a response carries when none is issued: the presented registration access token
    /// (still valid), never a host access token the client authenticated with.
    pub(crate) fn unchanged_token(
        &self,
        authorized: &Authorized,
        presented: Option<&str>,
    ) -> Option<RegistrationAccessToken> {
        if authorized.via_host {
            return None;
        }
        presented.map(RegistrationAccessToken::new)
    }

    /// Gives `record` a new token and remembers the one it replaces, for reuse detection and the
    /// grace window.
    ///
    /// A grace-window use forks the token chain: the token it replaces was issued to whoever
    /// made the last rotation (the owner, when the previous token was stolen), so it is retired,
    /// and its holder is detected when it comes back. The token used through the window stays
    /// the remembered one, marked used, and is retired when a later rotation replaces it: any
    /// presentation of a rotated-away token beyond its single grace use is reuse.
    pub(crate) fn rotate(
        &self,
        authorized: &mut Authorized,
        issuer: &Issuer<'_>,
    ) -> Result<Option<RegistrationAccessToken>, RegistrationError> {
        let Some((token, stored)) = issuer.token()? else {
            return Ok(None);
        };
        let now = issuer.now;
        let record = &mut authorized.record;
        let replaced = record.registration_token.replace(stored);
        if authorized.via_grace {
            if let Some(previous) = &mut record.previous_token {
                previous.grace_used = true;
            }
            record.retired_tokens.extend(replaced.map(|t| t.hash));
        } else {
            if let Some(used) = record.previous_token.take().filter(|p| p.grace_used) {
                record.retired_tokens.push(used.hash);
            }
            record.previous_token = replaced.map(|old| PreviousToken {
                hash: old.hash,
                rotated_at: now,
                grace_used: false,
            });
        }
        record.updated_at = now;
        Ok(Some(token))
    }
}

fn check_origin(record: &ClientRecord) -> Result<(), RegistrationError> {
    if record.origin == Origin::Dynamic {
        return Ok(());
    }
    Err(RegistrationError::rejected(
        ErrorCode::AccessDenied,
        "this client was not registered dynamically and cannot be managed here",
    ))
}
