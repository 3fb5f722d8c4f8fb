//! The issue stage: the credentials of a client — its identifier, its secret when its
//! authentication method uses one, its registration access token — and how each is stored
//! (hashes, expiry).
//!
//! Input: the admitted metadata and the policy. Output: the credentials to show once and their
//! stored forms.

use time::OffsetDateTime;

use crate::credentials::{self, CredentialGenerator, Needed};
use crate::error::RegistrationError;
use crate::metadata::ClientMetadata;
use crate::policy::ServerPolicy;
use crate::secret::{ClientSecret, RegistrationAccessToken};
use crate::store::{ClientRecord, SecretValue, StoredSecret, StoredToken};

use super::internal;

/// What issues credentials: the policy (lifetimes, whether tokens are issued) and the
/// generator (`None`: the operating system's random source).
#[derive(Clone, Copy)]
pub(crate) struct Issuer<'a> {
    pub(crate) policy: &'a ServerPolicy,
    pub(crate) generator: Option<&'a dyn CredentialGenerator>,
    pub(crate) now: OffsetDateTime,
}

/// The credentials of a new client.
pub(crate) struct NewCredentials {
    /// The client secret and how it is stored.
    pub(crate) secret: Option<(ClientSecret, StoredSecret)>,
    /// The registration access token (`None` when the policy issues none) and how it is stored.
    pub(crate) token: Option<(RegistrationAccessToken, StoredToken)>,
    /// The client identifier, when one was asked for.
    pub(crate) client_id: Option<String>,
}

/// A secret to store with the client, and the one to show when it is new.
pub(crate) type NextSecret = (Option<StoredSecret>, Option<ClientSecret>);

impl Issuer<'_> {
    /// The credentials of a new client: a secret when the authentication method uses one, a
    /// registration access token when the policy issues them, and a client identifier when
    /// `with_id`.
    pub(crate) fn new_client(
        &self,
        metadata: &ClientMetadata,
        with_id: bool,
    ) -> Result<NewCredentials, RegistrationError> {
        let needed = Needed {
            client_id: with_id,
            client_secret: metadata.effective_auth_method().uses_secret(),
            registration_token: self.policy.registration_access_tokens,
        };
        let drawn = match self.generator {
            None => credentials::draw(needed).map_err(internal)?,
            Some(generator) => credentials::draw_each(generator, needed).map_err(internal)?,
        };
        Ok(NewCredentials {
            secret: drawn
                .client_secret
                .map(|s| (s.clone(), self.stored_secret(s, metadata))),
            token: drawn.registration_token.map(|t| {
                let stored = self.stored_token(&t);
                (t, stored)
            }),
            client_id: drawn.client_id,
        })
    }

    /// A new identifier, when the first one drawn was taken.
    pub(crate) fn client_id(&self) -> Result<String, RegistrationError> {
        let needed = Needed {
            client_id: true,
            ..Needed::default()
        };
        let drawn = match self.generator {
            None => credentials::draw(needed),
            Some(generator) => credentials::draw_each(generator, needed),
        };
        drawn
            .map_err(internal)?
            .client_id
            .ok_or_else(|| internal(std::io::Error::other("no client identifier was drawn")))
    }

    /// A new registration access token and its stored form; `None` when the policy issues none.
    pub(crate) fn token(
        &self,
    ) -> Result<Option<(RegistrationAccessToken, StoredToken)>, RegistrationError> {
        if !self.policy.registration_access_tokens {
            return Ok(None);
        }
        let token = match self.generator {
            None => {
                credentials::draw(Needed {
                    registration_token: true,
                    ..Needed::default()
                })
                .map_err(internal)?
                .registration_token
            }
            Some(generator) => Some(generator.registration_token().map_err(internal)?),
        };
        let token = token
            .ok_or_else(|| internal(std::io::Error::other("no registration token was drawn")))?;
        let stored = self.stored_token(&token);
        Ok(Some((token, stored)))
    }

    /// A new secret for `metadata`'s authentication method, if it uses one.
    fn fresh_secret(&self, metadata: &ClientMetadata) -> Result<NextSecret, RegistrationError> {
        if !metadata.effective_auth_method().uses_secret() {
            return Ok((None, None));
        }
        let secret = match self.generator {
            None => {
                credentials::draw(Needed {
                    client_secret: true,
                    ..Needed::default()
                })
                .map_err(internal)?
                .client_secret
            }
            Some(generator) => Some(generator.client_secret().map_err(internal)?),
        };
        let secret =
            secret.ok_or_else(|| internal(std::io::Error::other("no client secret was drawn")))?;
        Ok((
            Some(self.stored_secret(secret.clone(), metadata)),
            Some(secret),
        ))
    }

    /// How `secret` is stored for `metadata`: hashed unless the method needs the raw value.
    pub(crate) fn stored_secret(
        &self,
        secret: ClientSecret,
        metadata: &ClientMetadata,
    ) -> StoredSecret {
        let value = if metadata.effective_auth_method().needs_raw_secret() {
            SecretValue::Retrievable(secret)
        } else {
            SecretValue::Hashed(secret.hash())
        };
        StoredSecret {
            value,
            expires_at: self
                .policy
                .client_secret_lifetime
                .map(|d| self.now.saturating_add(d)),
        }
    }

    /// How `token`, issued now, is stored: its hash and the policy's expiry.
    pub(crate) fn stored_token(&self, token: &RegistrationAccessToken) -> StoredToken {
        StoredToken {
            hash: token.hash(),
            expires_at: self
                .policy
                .registration_token_lifetime
                .map(|d| self.now.saturating_add(d)),
        }
    }

    /// The secret after an update, and the secret to show when a new one was issued: the
    /// current one is kept while the new authentication method can use it.
    pub(crate) fn next_secret(
        &self,
        record: &ClientRecord,
        metadata: &ClientMetadata,
    ) -> Result<NextSecret, RegistrationError> {
        if !metadata.effective_auth_method().uses_secret() {
            return Ok((None, None));
        }
        let needs_raw = metadata.effective_auth_method().needs_raw_secret();
        match &record.secret {
            Some(kept) => match (&kept.value, needs_raw) {
                (SecretValue::Hashed(_), false) | (SecretValue::Retrievable(_), true) => {
                    Ok((Some(kept.clone()), None))
                }
                // From client_secret_jwt to a method that needs only a hash: same secret, hashed.
                (SecretValue::Retrievable(raw), false) => {
                    let mut stored = self.stored_secret(raw.clone(), metadata);
                    stored.expires_at = kept.expires_at;
                    Ok((Some(stored), None))
                }
                // A hash cannot become an HMAC key: issue a new secret.
                _ => self.fresh_secret(metadata),
            },
            None => self.fresh_secret(metadata),
        }
    }

    /// A new secret on request; the current one becomes the previous one, valid for the
    /// policy's overlap (or less, if it expires sooner).
    pub(crate) fn rotate_secret(
        &self,
        record: &mut ClientRecord,
        metadata: &ClientMetadata,
    ) -> Result<NextSecret, RegistrationError> {
        let fresh = self.fresh_secret(metadata)?;
        if fresh.0.is_some() {
            let overlap_end = self.now.saturating_add(self.policy.secret_rotation_overlap);
            record.previous_secret = record.secret.take().map(|mut old| {
                old.expires_at = Some(old.expires_at.map_or(overlap_end, |at| at.min(overlap_end)));
                old
            });
        }
        Ok(fresh)
    }
}
