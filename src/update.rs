//! Client update (RFC 7592 §2.2).

use http::StatusCode;

use crate::error::RegistrationError;
use crate::events::{Operation, Subject};
use crate::metadata::ClientMetadata;
use crate::registrar::{Registrar, RequestContext};
use crate::request::ParsedRequest;
use crate::response::RegistrationResponse;
use crate::secret::constant_time_eq;
use crate::stages::{Accepted, Target};
use crate::store::{ClientRecord, SecretValue, StoredSecret};

impl Registrar {
    /// Replaces a client's metadata (RFC 7592 §2.2, status 200).
    ///
    /// The body is the client's full metadata: omitted members return to their defaults. It must
    /// carry `client_id` equal to the path's and may carry `client_secret` only if it equals the
    /// current one; the other members only the server sets (`registration_access_token`,
    /// `registration_client_uri`, `client_id_issued_at`, `client_secret_expires_at`,
    /// `registration_access_token_expires_in`) are ignored, so a client may send back what a
    /// read returned (RFC 7592 §2.2). It is validated exactly as a registration: the same rules,
    /// the restrictions of the initial access token the client registered with, the policy's
    /// `software_id` limit when the update moves the client to another `software_id`, and the
    /// host's hook. The client's software statement binds it: an update that omits
    /// `software_statement` or sends the stored one back keeps it and the members it asserts;
    /// another statement must verify and come from the same issuer for the same `software_id`.
    /// `"rotate_client_secret": true` asks for a new client secret, returned in the response; the
    /// old one keeps working for the policy's
    /// [`secret_rotation_overlap`](crate::ServerPolicy::secret_rotation_overlap). Otherwise the
    /// secret is kept when the new authentication method still uses one (a new secret is issued
    /// when the old one cannot serve it); with [`rotate_on_update`](crate::ServerPolicy::rotate_on_update) the
    /// registration access token rotates.
    ///
    /// # Errors
    /// As [`read`](Self::read) for the token; 400 `invalid_request` for a `client_id` or
    /// `client_secret` that does not match; as [`register`](Self::register) for the metadata;
    /// 400 `unapproved_software_statement` for a statement from another issuer or for another
    /// `software_id`. A refused update changes nothing.
    pub async fn update(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let outcome = self.update_client(client_id, token, body, context).await;
        self.report(Operation::Update, Some(client_id), outcome)
            .await
    }

    async fn update_client(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<(RegistrationResponse, Subject), RegistrationError> {
        let mut authorized = self.authorize(client_id, token).await?;
        let kept = authorized.record.software_statement.as_deref();
        let mut intake = self.intake(body, context, kept).await?;
        check_members(&intake.parsed, &authorized.record)?;
        let Accepted { metadata, .. } = self
            .accept(&mut intake, context, Target::Update(&authorized.record))
            .await?;

        let now = self.now();
        let (secret, shown_secret) = if intake.parsed.rotate_secret {
            self.rotate_secret(&mut authorized.record, &metadata, now)?
        } else {
            self.next_secret(&authorized.record, &metadata, now)?
        };
        // A token admitted through the grace window is always replaced.
        let token = if self.policy.rotate_on_update || authorized.via_grace {
            self.rotate(&mut authorized, now)?
        } else {
            self.unchanged_token(&authorized, token)
        };
        let mut next = authorized.record;
        next.secret = secret;
        if next.secret.is_none() {
            next.previous_secret = None;
        }
        // The client's statement (kept, or replaced by one from the same issuer for the same
        // software) and what it asserts; a client without one has no statement provenance.
        match intake.statement {
            Some(statement) => {
                next.software_statement = Some(statement.raw);
                next.statement_issuer = Some(statement.info.issuer);
                next.statement_asserted = statement.asserted;
            }
            None => {
                next.software_statement = None;
                next.statement_issuer = None;
                next.statement_asserted.clear();
            }
        }
        let before = std::mem::replace(&mut next.metadata, metadata);
        next.updated_at = now;
        self.save_managed(&next, &authorized.presented).await?;
        let secret =
            shown_secret.or_else(|| next.secret.as_ref().and_then(|s| s.retrievable()).cloned());
        let subject = self.subject(&next, Some(Some(&before)));
        let response = self.response(next, secret, token, StatusCode::OK, now);
        Ok((response, subject))
    }

    /// The secret after an update, and the secret to show when a new one was issued.
    fn next_secret(
        &self,
        record: &ClientRecord,
        metadata: &ClientMetadata,
        now: time::OffsetDateTime,
    ) -> Result<(Option<StoredSecret>, Option<crate::ClientSecret>), RegistrationError> {
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
                    let mut stored = self.stored_secret(raw.clone(), metadata, now);
                    stored.expires_at = kept.expires_at;
                    Ok((Some(stored), None))
                }
                // A hash cannot become an HMAC key: issue a new secret.
                _ => self.fresh_secret(metadata, now),
            },
            None => self.fresh_secret(metadata, now),
        }
    }

    /// A new secret on request; the current one becomes the previous one, valid for the
    /// policy's overlap (or less, if it expires sooner).
    fn rotate_secret(
        &self,
        record: &mut ClientRecord,
        metadata: &ClientMetadata,
        now: time::OffsetDateTime,
    ) -> Result<(Option<StoredSecret>, Option<crate::ClientSecret>), RegistrationError> {
        let fresh = self.fresh_secret(metadata, now)?;
        if fresh.0.is_some() {
            record.previous_secret = record.secret.take().map(|mut old| {
                let overlap_end = now.saturating_add(self.policy.secret_rotation_overlap);
                old.expires_at = Some(old.expires_at.map_or(overlap_end, |at| at.min(overlap_end)));
                old
            });
        }
        Ok(fresh)
    }

    fn fresh_secret(
        &self,
        metadata: &ClientMetadata,
        now: time::OffsetDateTime,
    ) -> Result<(Option<StoredSecret>, Option<crate::ClientSecret>), RegistrationError> {
        Ok(match self.new_secret(metadata, now)? {
            Some((secret, stored)) => (Some(stored), Some(secret)),
            None => (None, None),
        })
    }
}

/// RFC 7592 §2.2 member rules for an update body: `client_id` must be the client's, and
/// `client_secret`, when sent, its current secret.
///
/// The other members the server owns (`registration_access_token`, `registration_client_uri`,
/// `client_id_issued_at`, `client_secret_expires_at`, `registration_access_token_expires_in`)
/// are ignored: RFC 7592 §2.2 puts "MUST NOT include" on the client, not on the server, and a
/// client that sends back what it read (as the same paragraph asks for every other member) must
/// not be refused for it. None of them is ever taken from a request.
fn check_members(parsed: &ParsedRequest, record: &ClientRecord) -> Result<(), RegistrationError> {
    match parsed.client_id.as_deref() {
        Some(id) if constant_time_eq(id, &record.client_id) => {}
        Some(_) => {
            return Err(RegistrationError::invalid_request(
                "client_id does not match the client being updated",
            ))
        }
        None => {
            return Err(RegistrationError::invalid_request(
                "an update must include the client_id as a string",
            ))
        }
    }
    if parsed.server_owned.contains(&"client_secret") {
        let matches = parsed
            .client_secret
            .as_deref()
            .zip(record.secret.as_ref())
            .is_some_and(|(sent, stored)| stored.matches(sent));
        if !matches {
            // RFC 7592 §2.2: the client MUST NOT be allowed to overwrite its secret.
            return Err(RegistrationError::invalid_request(
                "client_secret does not match the current secret",
            ));
        }
    }
    Ok(())
}
