//! Client update (RFC 7592 §2.2).

use crate::error::RegistrationError;
use crate::events::Operation;
use crate::pipeline::bind::{bind, Target};
use crate::pipeline::respond::respond;
use crate::pipeline::verify::verify;
use crate::pipeline::{record_statement, validated, Stored};
use crate::registrar::Registrar;
use crate::request::RegistrationRequest;
use crate::request::RequestContext;
use crate::response::RegistrationResponse;
use crate::secret::constant_time_eq;
use crate::store::ClientRecord;
use crate::trace::traced;

impl Registrar {
    /// Replaces a client's metadata (RFC 7592 §2.2; the HTTP status is 200).
    ///
    /// The request is the client's full metadata: omitted members return to their defaults. It
    /// must carry `client_id` equal to the path's and may carry `client_secret` only if it equals
    /// the current one; the other members only the server sets (`registration_access_token`,
    /// `registration_client_uri`, `client_id_issued_at`, `client_secret_expires_at`,
    /// `registration_access_token_expires_in`) are ignored, so a client may send back what a
    /// read returned (RFC 7592 §2.2). It runs the stages of [`register`](Self::register): the
    /// same verify, validate and bind, where the restrictions of the initial access token the
    /// client registered with, the policy's `software_id` limit (when the update moves the
    /// client to another `software_id`) and the host's hook bind it as they bound the
    /// registration. The client's software statement binds it: an update that omits
    /// `software_statement` or sends the stored one back keeps it and the members it asserts;
    /// another statement must verify and come from the same issuer for the same `software_id`.
    /// `"rotate_client_secret": true` asks for a new client secret, returned in the response; the
    /// old one keeps working for the policy's
    /// [`secret_rotation_overlap`](crate::ServerPolicy::secret_rotation_overlap). Otherwise the
    /// secret is kept when the new authentication method still uses one (a new secret is issued
    /// when the old one cannot serve it); with
    /// [`rotate_on_update`](crate::ServerPolicy::rotate_on_update) the registration access token
    /// rotates.
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
        request: RegistrationRequest,
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let request = Box::new(request);
        let stored = traced(Operation::Update, Some(client_id), async {
            let stored = self.update_client(client_id, token, request, context).await;
            self.settle(Operation::Update, Some(client_id), stored)
                .await
        })
        .await?;
        Ok(respond(&self.policy, stored))
    }

    async fn update_client(
        &self,
        client_id: &str,
        token: Option<&str>,
        request: Box<RegistrationRequest>,
        context: &RequestContext,
    ) -> Result<Stored, RegistrationError> {
        let mut authorized = self.authorize(client_id, token).await?;
        let kept = authorized.record.software_statement.clone();
        let mut verified = verify(request, kept.as_deref(), &self.verifiers()).await?;
        check_members(&verified.request, &authorized.record)?;
        let metadata = validated(&self.policy, &mut verified)?;
        let target = Target::Update(&authorized.record);
        let admitted = bind(metadata, &verified, target, context, &self.binders()).await?;
        let metadata = admitted.metadata;

        let issuer = self.issuer();
        let (secret, shown_secret) = if verified.request.rotate_client_secret {
            issuer.rotate_secret(&mut authorized.record, &metadata)?
        } else {
            issuer.next_secret(&authorized.record, &metadata)?
        };
        // A token admitted through the grace window is always replaced.
        let token = if self.policy.rotate_on_update || authorized.via_grace {
            self.rotate(&mut authorized, &issuer)?
        } else {
            self.unchanged_token(&authorized, token)
        };
        let mut next = authorized.record;
        next.secret = secret;
        if next.secret.is_none() {
            next.previous_secret = None;
        }
        record_statement(&mut next, verified.statement);
        let before = std::mem::replace(&mut next.metadata, metadata.0);
        let before = self.listening(Operation::Update).then(|| Box::new(before));
        next.updated_at = issuer.now;
        self.save_managed(&next, &authorized.presented).await?;
        let secret =
            shown_secret.or_else(|| next.secret.as_ref().and_then(|s| s.retrievable()).cloned());
        Ok(Stored {
            record: next,
            before,
            changed: true,
            secret,
            token,
            at: issuer.now,
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
fn check_members(
    parsed: &RegistrationRequest,
    record: &ClientRecord,
) -> Result<(), RegistrationError> {
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
