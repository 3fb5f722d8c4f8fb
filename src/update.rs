//! Client update (RFC 7592 §2.2).

use http::StatusCode;

use crate::error::RegistrationError;
use crate::registrar::{lost_race, Registrar};
use crate::request::{self, ParsedRequest};
use crate::response::RegistrationResponse;
use crate::secret::RegistrationAccessToken;
use crate::store::{ClientRecord, SecretValue};

impl Registrar {
    /// Replaces a client's metadata (RFC 7592 §2.2, status 200).
    ///
    /// The body is the client's full metadata: omitted members return to their defaults. It must
    /// carry `client_id` equal to the path's, may carry `client_secret` only if it equals the
    /// current one, and must not carry `registration_access_token`, `registration_client_uri`,
    /// `client_id_issued_at` or `client_secret_expires_at`. It is validated exactly as a
    /// registration. The secret is kept when the new authentication method still uses one (a new
    /// secret is issued when the old one cannot serve it); with
    /// [`rotate_on_update`](crate::ServerPolicy::rotate_on_update) the registration access token
    /// rotates.
    ///
    /// # Errors
    /// As [`read`](Self::read) for the token; 400 `invalid_request` for the member rules above;
    /// as [`register`](Self::register) for the metadata. A refused update changes nothing.
    pub async fn update(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<RegistrationResponse, RegistrationError> {
        let record = self.authorize(client_id, token).await?;
        let parsed = request::parse(body, &self.policy)?;
        check_members(&parsed, &record)?;
        let metadata = self.validated(parsed)?;

        let now = self.now();
        let mut next = record.clone();
        let mut shown_secret = None;
        next.secret = match &record.secret {
            _ if !metadata.effective_auth_method().uses_secret() => None,
            Some(kept) if fits(&kept.value, &metadata) => Some(kept.clone()),
            Some(kept) if kept.retrievable().is_some() => {
                // From client_secret_jwt to a method that needs only a hash: same secret, hashed.
                let secret = kept.retrievable().cloned();
                secret.map(|s| {
                    let mut stored = self.stored_secret(s, &metadata, now);
                    stored.expires_at = kept.expires_at;
                    stored
                })
            }
            _ => self.new_secret(&metadata, now)?.map(|(secret, stored)| {
                shown_secret = Some(secret);
                stored
            }),
        };
        let token = if self.policy.rotate_on_update {
            let (token, stored) = self.new_token(now)?;
            next.registration_token = Some(stored);
            token
        } else {
            RegistrationAccessToken::new(token.unwrap_or_default())
        };
        next.metadata = metadata;
        next.updated_at = now;
        self.store.update(&next).await.map_err(lost_race)?;
        let secret =
            shown_secret.or_else(|| next.secret.as_ref().and_then(|s| s.retrievable()).cloned());
        Ok(self.response(&next, secret, token, StatusCode::OK))
    }
}

/// Whether a kept secret's storage form still serves the new authentication method.
fn fits(value: &SecretValue, metadata: &crate::ClientMetadata) -> bool {
    let raw_needed = metadata.effective_auth_method().needs_raw_secret();
    matches!(value, SecretValue::Retrievable(_)) || !raw_needed
}

/// RFC 7592 §2.2 member rules for an update body.
fn check_members(parsed: &ParsedRequest, record: &ClientRecord) -> Result<(), RegistrationError> {
    let forbidden: Vec<&str> = parsed
        .server_owned
        .iter()
        .copied()
        .filter(|m| !matches!(*m, "client_id" | "client_secret"))
        .collect();
    if !forbidden.is_empty() {
        return Err(RegistrationError::invalid_request(format!(
            "an update must not include {}",
            forbidden.join(", ")
        )));
    }
    match parsed.client_id.as_deref() {
        Some(id) if crate::secret::constant_time_eq(id, &record.client_id) => {}
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
    let sent_secret = parsed.server_owned.contains(&"client_secret");
    if sent_secret {
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
