//! Registration (RFC 7591 §3).

use crate::error::RegistrationError;
use crate::events::Operation;
use crate::pipeline::bind::{bind, Admitted, Target};
use crate::pipeline::issue::NewCredentials;
use crate::pipeline::respond::respond;
use crate::pipeline::verify::verify;
use crate::pipeline::{record_statement, validated, Stored};
use crate::registrar::Registrar;
use crate::request::RegistrationRequest;
use crate::request::RequestContext;
use crate::response::RegistrationResponse;
use crate::store::{ClientRecord, Origin};
use crate::trace::traced;

impl Registrar {
    /// Registers a client (RFC 7591 §3.1) and answers with its client information (§3.2.1; the
    /// HTTP status is 201).
    ///
    /// The stages run in order: admit (registration on, the initial access token), verify (a
    /// signed body, the software statement), validate, bind (the token's restrictions, the
    /// host's hook, the sector identifier document, the policy's limits; an idempotent
    /// re-registration replaces its instance's client and is never counted as a new one), issue
    /// the credentials, persist, respond. Server-owned members of the request (`client_id`,
    /// `client_secret`, …) are ignored; unknown members are dropped unless the policy accepts
    /// them as extensions. Event sinks hear of the outcome.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use oauth_dcr::{MemoryStore, Registrar, RegistrationRequest, RequestContext, ServerPolicy};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let registrar = Registrar::new(
    ///     ServerPolicy::new("https://as.example/register"),
    ///     Arc::new(MemoryStore::new()),
    /// );
    /// let request = RegistrationRequest::from_json(
    ///     br#"{"redirect_uris":["https://app.example/cb"]}"#,
    ///     &registrar.policy().limits,
    /// )?;
    /// let client = registrar.register(request, &RequestContext::new()).await?;
    /// assert!(client.client_secret.is_some());
    /// # Ok::<(), oauth_dcr::RegistrationError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// 403 `access_denied` when registration is switched off;
    /// 401 `invalid_token` / 403 `insufficient_scope` when an initial access token is required
    /// ([`require_initial_token`](Self::require_initial_token)) and missing or insufficient;
    /// 400 `invalid_redirect_uri` / `invalid_client_metadata` naming every refused member;
    /// 400 `invalid_software_statement` / `unapproved_software_statement`; the hook's refusal;
    /// 500 when the store fails, with nothing stored and no token use spent.
    pub async fn register(
        &self,
        request: RegistrationRequest,
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let request = Box::new(request);
        let stored = traced(Operation::Register, None, async {
            let stored = self.register_client(request, context).await;
            self.settle(Operation::Register, None, stored).await
        })
        .await?;
        Ok(respond(&self.policy, stored))
    }

    async fn register_client(
        &self,
        request: Box<RegistrationRequest>,
        context: &RequestContext,
    ) -> Result<Stored, RegistrationError> {
        let admission = self.admit(context).await?;
        let mut verified = verify(request, None, &self.verifiers()).await?;
        let metadata = validated(&self.policy, &mut verified)?;
        let target = Target::Register(admission.grant.as_ref());
        let Admitted {
            metadata,
            instance,
            existing,
        } = bind(metadata, &verified, target, context, &self.binders()).await?;
        let issuer = self.issuer();
        let NewCredentials {
            secret,
            token,
            client_id,
        } = issuer.new_client(&metadata, existing.is_none())?;

        let mut record = Box::new(ClientRecord::new(
            String::new(),
            metadata.0,
            Origin::Dynamic,
            issuer.now,
        ));
        record.secret = secret.as_ref().map(|(_, stored)| stored.clone());
        record.registration_token = token.as_ref().map(|(_, stored)| stored.clone());
        record.initial_token_subject = admission.grant.as_ref().and_then(|g| g.subject.clone());
        // The grant's restrictions bind every later update of the client.
        record.initial_grant = admission.grant.clone();
        record_statement(&mut record, verified.statement);
        record.instance = instance;
        let record = match existing {
            Some(existing) => self.replace_instance(record, existing, &admission).await?,
            None => self.create(record, client_id, &admission, &issuer).await?,
        };
        Ok(Stored {
            record,
            before: None,
            changed: true,
            secret: secret.map(|(secret, _)| secret),
            token: token.map(|(token, _)| token),
            at: issuer.now,
        })
    }
}
