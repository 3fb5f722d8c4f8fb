//! Registration (RFC 7591 §3).

use http::StatusCode;

use crate::access::Admission;
use crate::credentials::Needed;
use crate::error::{ErrorCode, RegistrationError};
use crate::events::{Operation, Subject};
use crate::metadata::ClientMetadata;
use crate::registrar::{internal, Registrar, RequestContext};
use crate::response::RegistrationResponse;
use crate::secret::{ClientSecret, RegistrationAccessToken};
use crate::stages::{Accepted, Target};
use crate::store::{ClientRecord, Origin, StoreError, StoredSecret, StoredToken};
use time::OffsetDateTime;

/// How often a registration retries when the generated `client_id` is taken.
const ID_ATTEMPTS: usize = 3;

impl Registrar {
    /// Registers a client from its request body (RFC 7591 §3.1) and answers with its client
    /// information (§3.2.1, status 201).
    ///
    /// The stages run in order: initial access token, body (JSON, or a signed JWT when
    /// `context.body_format` says so), software statement, validation, the token's restrictions,
    /// the host's hook, the policy's limits (an idempotent re-registration replaces its
    /// instance's client and is never counted as a new one), credentials, store. Server-owned
    /// members in the body (`client_id`, `client_secret`, …) are ignored; unknown members are
    /// dropped unless the policy accepts them as extensions. Event sinks hear of the outcome.
    ///
    /// # Errors
    /// 403 `access_denied` when registration is switched off;
    /// 401 `invalid_token` / 403 `insufficient_scope` when an initial access token is required
    /// ([`require_initial_token`](Self::require_initial_token)) and missing or insufficient;
    /// 400 `invalid_request` for a body that is not a JSON object within the limits (413 when too
    /// large); 400 `invalid_redirect_uri` / `invalid_client_metadata` naming every refused member;
    /// 400 `invalid_software_statement` / `unapproved_software_statement`; the hook's refusal;
    /// 500 when the store fails, with nothing stored and no token use spent.
    pub async fn register(
        &self,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let outcome = self.register_client(body, context).await;
        self.report(Operation::Register, None, outcome).await
    }

    async fn register_client(
        &self,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<(RegistrationResponse, Subject), RegistrationError> {
        if !self.policy.registration_enabled {
            return Err(RegistrationError::rejected(
                ErrorCode::AccessDenied,
                "client registration is disabled on this server",
            ));
        }
        let admission = self.admit(context).await?;
        let mut intake = self.intake(body, context, None).await?;
        let Accepted {
            metadata,
            instance,
            existing,
        } = self
            .accept(&mut intake, context, Target::Register(&admission))
            .await?;
        let now = self.now();
        let NewCredentials {
            secret,
            token,
            stored_token,
            mut client_id,
        } = self.credentials(&metadata, instance.is_none(), now)?;
        let mut record = ClientRecord::new(String::new(), metadata, Origin::Dynamic, now);
        record.secret = secret.as_ref().map(|(_, stored)| stored.clone());
        record.registration_token = stored_token;
        record.initial_token_subject = admission.grant.as_ref().and_then(|g| g.subject.clone());
        // The grant's restrictions bind every later update of the client.
        record.initial_grant = admission.grant.clone();
        if let Some(statement) = intake.statement {
            record.software_statement = Some(statement.raw);
            record.statement_issuer = Some(statement.info.issuer);
            record.statement_asserted = statement.asserted;
        }
        record.instance = instance;
        if let Some(existing) = existing {
            return self
                .reregister(record, existing, secret, token, &admission, now)
                .await;
        }
        self.claim(&admission).await?;
        for attempt in 1..=ID_ATTEMPTS {
            record.client_id = client_id
                .take()
                .unwrap_or_else(|| self.generator.client_id());
            match self.store.create(&record).await {
                Ok(()) => break,
                Err(StoreError::Conflict) if attempt < ID_ATTEMPTS => {}
                Err(e) => {
                    self.release(&admission).await;
                    return Err(e.into());
                }
            }
        }
        let secret = secret.map(|(secret, _)| secret);
        let subject = self.subject(&record, Some(None));
        let response = self.response(record, secret, token, StatusCode::CREATED, now);
        Ok((response, subject))
    }

    /// The credentials of a new client, drawn together: a secret when the authentication method
    /// uses one, a registration access token when the policy issues them, and a client
    /// identifier when `with_id`. What the generator's
    /// [`draw`](crate::CredentialGenerator::draw) leaves out comes from its single methods, so a
    /// needed credential is never missing.
    fn credentials(
        &self,
        metadata: &ClientMetadata,
        with_id: bool,
        now: OffsetDateTime,
    ) -> Result<NewCredentials, RegistrationError> {
        let needed = Needed {
            client_id: with_id,
            client_secret: metadata.effective_auth_method().uses_secret(),
            registration_token: self.policy.registration_access_tokens,
        };
        let drawn = self.generator.draw(needed).map_err(internal)?;
        let secret = match (needed.client_secret, drawn.client_secret) {
            (false, _) => None,
            (true, Some(secret)) => Some(secret),
            (true, None) => Some(self.generator.client_secret().map_err(internal)?),
        };
        let token = match (needed.registration_token, drawn.registration_token) {
            (false, _) => None,
            (true, Some(token)) => Some(token),
            (true, None) => Some(self.generator.registration_token().map_err(internal)?),
        };
        Ok(NewCredentials {
            secret: secret.map(|s| (s.clone(), self.stored_secret(s, metadata, now))),
            stored_token: token.as_ref().map(|t| self.stored_token(t, now)),
            token: token.unwrap_or_default(),
            client_id: drawn.client_id.filter(|_| with_id),
        })
    }

    /// Idempotent re-registration: the existing client keeps its identifier and creation time
    /// and takes the new metadata and credentials.
    async fn reregister(
        &self,
        mut record: ClientRecord,
        existing: ClientRecord,
        secret: Option<(ClientSecret, StoredSecret)>,
        token: RegistrationAccessToken,
        admission: &Admission<'_>,
        now: OffsetDateTime,
    ) -> Result<(RegistrationResponse, Subject), RegistrationError> {
        if existing.origin != Origin::Dynamic {
            return Err(RegistrationError::refused(
                "this instance belongs to a client the server's administrators manage",
            ));
        }
        record.client_id = existing.client_id;
        // The grant the client first registered with keeps binding it (see `accept`); a token
        // presented now adds nothing the client may escape through.
        if existing.initial_grant.is_some() {
            record.initial_grant = existing.initial_grant;
            record.initial_token_subject = existing.initial_token_subject;
        }
        record.created_at = existing.created_at;
        record.last_used = existing.last_used;
        record.version = existing.version;
        self.claim(admission).await?;
        match self.store.update(&record).await {
            Ok(()) => {}
            Err(e) => {
                self.release(admission).await;
                return Err(match e {
                    StoreError::Conflict | StoreError::NotFound => {
                        RegistrationError::invalid_request(
                            "this instance is being registered concurrently; retry",
                        )
                    }
                    other => other.into(),
                });
            }
        }
        let subject = self.subject(&record, Some(None));
        let secret = secret.map(|(secret, _)| secret);
        let response = self.response(record, secret, token, StatusCode::CREATED, now);
        Ok((response, subject))
    }
}

/// What [`Registrar::credentials`] makes for a new client.
struct NewCredentials {
    /// The client secret and how it is stored.
    secret: Option<(ClientSecret, StoredSecret)>,
    /// The registration access token (empty when none is issued).
    token: RegistrationAccessToken,
    /// How the token is stored.
    stored_token: Option<StoredToken>,
    /// The client identifier, when one was asked for.
    client_id: Option<String>,
}
