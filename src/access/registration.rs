//! Registration access tokens (RFC 7592 §2): authentication at the client configuration
//! endpoint, rotation, reuse detection and the lost-response grace window.

use std::sync::Arc;

use time::OffsetDateTime;

use super::InitialTokenVerifier;

use crate::error::{ErrorCode, RegistrationError};
use crate::events::Operation;
use crate::registrar::Registrar;
use crate::secret::{RegistrationAccessToken, SecretHash};
use crate::store::{ClientRecord, Origin, PreviousToken, StoreError};

/// A client whose registration access token checked out.
#[derive(Debug)]
pub(crate) struct Authorized {
    pub(crate) record: ClientRecord,
    /// The token was the previous one, accepted once within the grace window.
    pub(crate) via_grace: bool,
    /// The token was the client's own host-issued access token, not a registration token.
    pub(crate) via_host: bool,
}

impl Registrar {
    /// RFC 7592 §2: authenticates a call to the client configuration endpoint.
    ///
    /// Any failure is the same 401 `invalid_token`, whether the token is empty, wrong, expired,
    /// rotated away or another client's, or the client does not exist. No token at all (`None`)
    /// is [`MissingToken`](RegistrationError::MissingToken), decided before the store is asked,
    /// so it says nothing about the client (RFC 6750 §3.1: no error code without credentials).
    /// A valid token presented for another `client_id` is revoked (RFC 7592 §2.1: "the
    /// registration access token used to make this request SHOULD be immediately revoked"). A rotated-away token is a sign of theft:
    /// with [`detect_token_reuse`](crate::ServerPolicy::detect_token_reuse) the client's current
    /// token is revoked too, unless the grace window admits it once.
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
        if let Some(record) = self.store.get(client_id).await? {
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
                });
            }
            if let Some(previous) = record.previous_token.as_ref().filter(|p| p.hash == hash) {
                let in_grace = !previous.grace_used
                    && self
                        .policy
                        .token_rotation_grace
                        .is_some_and(|grace| now - previous.rotated_at <= grace);
                if in_grace && current.is_some() {
                    check_origin(&record)?;
                    return Ok(Authorized {
                        record,
                        via_grace: true,
                        via_host: false,
                    });
                }
                if self.policy.detect_token_reuse {
                    self.revoke_on_reuse(record).await?;
                }
                return Err(RegistrationError::InvalidToken);
            }
            if let Some(authorized) = self.host_token(token, record).await? {
                return Ok(authorized);
            }
        }
        self.revoke_misused(&hash).await?;
        Err(RegistrationError::InvalidToken)
    }

    /// With [`manage_with_host_tokens`](Registrar::manage_with_host_tokens): an access token the
    /// host issued to this very client (its subject is the `client_id`, as with the
    /// `client_credentials` grant) authenticates it too.
    async fn host_token(
        &self,
        token: &str,
        record: ClientRecord,
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
    async fn revoke_on_reuse(&self, mut record: ClientRecord) -> Result<(), RegistrationError> {
        if record.registration_token.is_none() {
            return Ok(());
        }
        record.registration_token = None;
        record.previous_token = None;
        record.updated_at = self.now();
        match self.store.update(&record).await {
            Ok(()) => {
                let subject = self.subject(&record, None);
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
    ) -> RegistrationAccessToken {
        if authorized.via_host {
            return RegistrationAccessToken::default();
        }
        RegistrationAccessToken::new(presented.unwrap_or_default())
    }

    /// Gives `record` a new token and remembers the one it replaces, for reuse detection and the
    /// grace window. A token accepted through the grace window stays the remembered one, marked
    /// used, so it can never be accepted again and the token whose response was lost is dropped.
    pub(crate) fn rotate(
        &self,
        authorized: &mut Authorized,
        now: OffsetDateTime,
    ) -> Result<RegistrationAccessToken, RegistrationError> {
        if !self.policy.registration_access_tokens {
            return Ok(RegistrationAccessToken::default());
        }
        let (token, stored) = self.new_token(now)?;
        let record = &mut authorized.record;
        let replaced = record.registration_token.replace(stored);
        if authorized.via_grace {
            if let Some(previous) = &mut record.previous_token {
                previous.grace_used = true;
            }
        } else {
            record.previous_token = replaced.map(|old| PreviousToken {
                hash: old.hash,
                rotated_at: now,
                grace_used: false,
            });
        }
        record.updated_at = now;
        Ok(token)
    }
}

fn check_origin(record: &ClientRecord) -> Result<(), RegistrationError> {
    if record.origin == Origin::Dynamic {
        return Ok(());
    }
    Err(RegistrationError::Forbidden(
        "this client was not registered dynamically and cannot be managed here".into(),
    ))
}
