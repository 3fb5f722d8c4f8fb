//! Administrative operations, for the host's support staff and admin views rather than for
//! clients: issuing a client a new registration access token, and listing clients.

use crate::error::{ErrorCode, RegistrationError};
use crate::events::{Event, Guarded, Operation, Provenance};
use crate::pipeline::respond::respond;
use crate::pipeline::Stored;
use crate::registrar::Registrar;
use crate::response::RegistrationResponse;
use crate::store::{Capability, ClientRecord, ListPage, ListQuery, Origin, StoreError};

/// How often a reissue reads the client again when a concurrent call changed it first.
const ATTEMPTS: usize = 3;

impl Registrar {
    /// Issues a dynamically registered client a new registration access token: the support
    /// path after [reuse detection](crate::ServerPolicy::detect_token_reuse) revoked its token,
    /// or after the client lost it. Call it only for someone you have authenticated as an
    /// administrator (the crate does not know your administrators).
    ///
    /// The client's current token, the token its last rotation replaced and every retired token
    /// stop working: only the new one manages the client. The store writes it with its
    /// compare-and-set, so a management call racing the reissue either lands before it (and its
    /// token is revoked by it) or loses; the reissue reads the client again and retries when it
    /// loses. The event sinks hear of it as [`Operation::Reissue`], with `actor` (whoever asked,
    /// as you name them) in [`Event::actor`].
    ///
    /// The answer is the client information response (RFC 7592 §3) with the new token, to hand
    /// to the client's developer; a hashed client secret is not in it (it is never shown again).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use oauth_dcr::{MemoryStore, Registrar, RegistrationRequest, RequestContext, ServerPolicy};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), Arc::new(MemoryStore::new()));
    /// # let body = br#"{"redirect_uris":["https://app.example/cb"]}"#;
    /// # let client = registrar.register(RegistrationRequest::from_json(body, &registrar.policy().limits)?, &RequestContext::new()).await?;
    /// let lost = client.registration_access_token.as_ref().unwrap().secret().to_owned();
    /// let reissued = registrar
    ///     .reissue_registration_token(&client.client_id, Some("support:alice"))
    ///     .await?;
    /// let fresh = reissued.registration_access_token.as_ref().unwrap().secret();
    /// assert!(registrar.read(&client.client_id, Some(&lost)).await.is_err());
    /// assert!(registrar.read(&client.client_id, Some(fresh)).await.is_ok());
    /// # Ok::<(), oauth_dcr::RegistrationError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`RegistrationError::Store`] with [`StoreError::NotFound`] when the client does not exist
    /// (an admin endpoint answers 404 for it); 403 `access_denied` for a client your
    /// administrators created (it is not managed with registration access tokens) or when the
    /// policy issues no registration access tokens or disables management;
    /// [`RegistrationError::Store`] when the store fails or the client kept changing under
    /// the retries.
    pub async fn reissue_registration_token(
        &self,
        client_id: &str,
        actor: Option<&str>,
    ) -> Result<RegistrationResponse, RegistrationError> {
        match self.reissue(client_id).await {
            Ok(stored) => {
                self.tell_admin(
                    Operation::Reissue,
                    client_id,
                    Some(&stored.record),
                    actor,
                    None,
                )
                .await;
                Ok(respond(&self.policy, stored))
            }
            Err(e) => {
                self.tell_admin(Operation::Reissue, client_id, None, actor, Some(e.code()))
                    .await;
                Err(e)
            }
        }
    }

    /// The reissue itself: read, replace the tokens, compare-and-set; again when a concurrent
    /// write won.
    async fn reissue(&self, client_id: &str) -> Result<Stored, RegistrationError> {
        if !self.policy.management_enabled || !self.policy.registration_access_tokens {
            return Err(RegistrationError::rejected(
                ErrorCode::AccessDenied,
                "this server issues no registration access tokens",
            ));
        }
        for attempt in 1..=ATTEMPTS {
            let mut record = self
                .store
                .get(client_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            if record.origin != Origin::Dynamic {
                return Err(RegistrationError::rejected(
                    ErrorCode::AccessDenied,
                    "this client was not registered dynamically and has no registration access \
                     token",
                ));
            }
            let issuer = self.issuer();
            let (token, stored) = issuer.token()?.ok_or_else(|| {
                RegistrationError::rejected(
                    ErrorCode::AccessDenied,
                    "this server issues no registration access tokens",
                )
            })?;
            record.registration_token = Some(stored);
            record.previous_token = None;
            record.retired_tokens.clear();
            record.updated_at = issuer.now;
            match self.store.update(&record).await {
                Ok(()) => {
                    record.version += 1;
                    let secret = record
                        .secret
                        .as_ref()
                        .and_then(|s| s.retrievable())
                        .cloned();
                    return Ok(Stored {
                        record: Box::new(record),
                        before: None,
                        changed: false,
                        secret,
                        token: Some(token),
                        at: issuer.now,
                    });
                }
                // Changed meanwhile (or, practically never, the new token's hash is taken):
                // read it again.
                Err(StoreError::Conflict) if attempt < ATTEMPTS => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// One page of the registered clients, each with how it came to be (origin, software
    /// statement issuer, initial access token subject), filtered and paged as `query` says: the
    /// admin view of the clients that registered dynamically (`ListQuery::new().origin(Origin::Dynamic)`).
    /// Pass the page's [`next`](ListPage::next) as the next query's
    /// [`after`](ListQuery::after) until it is `None`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use oauth_dcr::{MemoryStore, Registrar, ServerPolicy};
    /// use oauth_dcr::store::{ListQuery, Origin};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), Arc::new(MemoryStore::new()));
    /// let mut query = ListQuery::new().origin(Origin::Dynamic).limit(50);
    /// loop {
    ///     let page = registrar.list_clients(&query).await?;
    ///     for client in &page.clients {
    ///         println!("{} {}", client.client_id, client.provenance_label());
    ///     }
    ///     match page.next {
    ///         Some(next) => query = query.after(next),
    ///         None => break,
    ///     }
    /// }
    /// # Ok::<(), oauth_dcr::RegistrationError>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`RegistrationError::Store`] when the store fails; [`RegistrationError::Internal`] when
    /// it declares no [`ClientListing`](crate::store::ClientListing) (its source is the
    /// [`MissingCapability`](crate::store::MissingCapability)).
    pub async fn list_clients(&self, query: &ListQuery) -> Result<ListPage, RegistrationError> {
        let listing = self
            .store
            .as_client_listing()
            .ok_or_else(|| Capability::ClientListing.missing("Registrar::list_clients"))?;
        Ok(listing.list(query).await?)
    }

    /// Tells every sink about an administrative operation on `client_id` by `actor`: its
    /// provenance from `record` when it succeeded, its error code when it was refused.
    async fn tell_admin(
        &self,
        operation: Operation,
        client_id: &str,
        record: Option<&ClientRecord>,
        actor: Option<&str>,
        refused: Option<ErrorCode>,
    ) {
        if !self.listening(operation) {
            return;
        }
        let provenance = record.map_or_else(Provenance::default, |r| Provenance {
            origin: Some(r.origin),
            initial_token_subject: r.initial_token_subject.clone(),
            statement_issuer: r.statement_issuer.clone(),
            federation: r.federation.clone(),
        });
        let event = Event {
            operation,
            at: self.now(),
            client_id: Some(client_id.to_owned()),
            changed: Vec::new(),
            provenance,
            refused,
            actor: actor.map(str::to_owned),
        };
        for sink in self.events.iter().filter(|sink| sink.wants(operation)) {
            Guarded(sink.notify(&event)).await;
        }
    }
}
