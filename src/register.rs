//! Registration (RFC 7591 §3).

use http::StatusCode;

use crate::error::RegistrationError;
use crate::registrar::{Registrar, RequestContext};
use crate::request;
use crate::response::RegistrationResponse;
use crate::store::{ClientRecord, Origin, StoreError};

/// How often a registration retries when the generated `client_id` is taken.
const ID_ATTEMPTS: usize = 3;

impl Registrar {
    /// Registers a client from a JSON request body (RFC 7591 §3.1) and answers with its
    /// client information (§3.2.1, status 201).
    ///
    /// Server-owned members in the body (`client_id`, `client_secret`, …) are ignored; unknown
    /// members are dropped unless the policy accepts them as extensions.
    ///
    /// # Errors
    /// 401 `invalid_token` / 403 `insufficient_scope` when an initial access token is required
    /// ([`require_initial_token`](Self::require_initial_token)) and missing or insufficient;
    /// 400 `invalid_request` for a body that is not a JSON object within the limits (413 when too
    /// large); 400 `invalid_redirect_uri` / `invalid_client_metadata` naming every refused member;
    /// 500 when the store fails, with nothing stored.
    pub async fn register(
        &self,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let admission = self.admit(context).await?;
        let metadata = self.validated(request::parse(body, &self.policy)?)?;
        let now = self.now();
        let secret = self.new_secret(&metadata, now)?;
        let (token, stored_token) = self.new_token(now)?;
        let mut record = ClientRecord::new(String::new(), metadata, Origin::Dynamic, now);
        record.secret = secret.as_ref().map(|(_, stored)| stored.clone());
        record.registration_token = Some(stored_token);
        self.claim(&admission).await?;
        for attempt in 1..=ID_ATTEMPTS {
            record.client_id = self.generator.client_id();
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
        Ok(self.response(&record, secret, token, StatusCode::CREATED))
    }
}
