//! Client hygiene: use tracking and the reaper of expired and never-used clients.

use crate::error::RegistrationError;
use crate::events::Operation;
use crate::registrar::Registrar;
use crate::store::{Capability, StoreError};

impl Registrar {
    /// Records that a client was used (call it when a flow completes at your token endpoint).
    /// Cheap: the store writes one timestamp, without changing the record's version
    /// ([`UsageLog::touch`](crate::store::UsageLog::touch)), so a management call racing it
    /// (a read that rotates the token, an update) never fails because of it.
    ///
    /// A URL client identifier, when this registrar resolves metadata documents
    /// ([`resolves_metadata_documents`](Self::resolves_metadata_documents)), names a client with
    /// no record: its document is its registration, so there is no timestamp to write and the
    /// reaper never sees it. Its use is its resolution: `record_use` resolves it
    /// ([`resolve_client_id`](Self::resolve_client_id): from the cache, or fetched again once the
    /// cached document expired, which keeps the metadata current) and answers `Ok` while the
    /// document still resolves.
    ///
    /// # Errors
    /// [`RegistrationError::Store`] when the store fails or the client does not exist;
    /// [`RegistrationError::Internal`] when the store declares no
    /// [`UsageLog`](crate::store::UsageLog) (its source is the
    /// [`MissingCapability`](crate::store::MissingCapability)); for a URL client, the
    /// resolution's error (a withdrawn or invalid document).
    pub async fn record_use(&self, client_id: &str) -> Result<(), RegistrationError> {
        if crate::documents::is_url_client_id(client_id) && self.resolves_metadata_documents() {
            return self.resolve_client_id(client_id).await.map(|_| ());
        }
        let usage = self
            .store
            .as_usage_log()
            .ok_or_else(|| Capability::UsageLog.missing("Registrar::record_use"))?;
        Ok(usage.touch(client_id, self.now()).await?)
    }

    /// Removes up to `batch` reapable clients ([`ClientRecord::is_reapable`]: never used within
    /// [`unused_client_ttl`](crate::ServerPolicy::unused_client_ttl), or unable to authenticate
    /// and to manage themselves) and returns their identifiers; each removal is reported to the
    /// event sinks as [`Operation::Reap`]. Clients created by administrators are never removed.
    /// Call it periodically, again while it returns a full batch.
    ///
    /// [`ClientRecord::is_reapable`]: crate::ClientRecord::is_reapable
    ///
    /// # Errors
    /// [`RegistrationError::Store`] when the store fails (clients removed before that stay
    /// removed); [`RegistrationError::Internal`] when it declares no
    /// [`UsageLog`](crate::store::UsageLog) (its source is the
    /// [`MissingCapability`](crate::store::MissingCapability)).
    pub async fn reap(&self, batch: usize) -> Result<Vec<String>, RegistrationError> {
        let now = self.now();
        let unused_before = self
            .policy
            .unused_client_ttl
            .map(|ttl| now.saturating_sub(ttl));
        let usage = self
            .store
            .as_usage_log()
            .ok_or_else(|| Capability::UsageLog.missing("Registrar::reap"))?;
        let candidates = usage.reap_candidates(unused_before, now, batch).await?;
        let mut removed = Vec::new();
        for record in candidates.into_iter().take(batch) {
            if !record.is_reapable(unused_before, now) {
                continue;
            }
            match self.store.delete(&record.client_id, record.version).await {
                Ok(()) => {
                    let subject = self.subject(Operation::Reap, &record, None);
                    self.emit(Operation::Reap, subject, None).await;
                    removed.push(record.client_id);
                }
                // Changed or removed meanwhile: leave it for the next round.
                Err(StoreError::Conflict | StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }
}
