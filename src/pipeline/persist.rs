//! The persist stage: a new client created under a fresh identifier (retried when the drawn one
//! is taken), an idempotent re-registration replacing its instance's client, and the
//! compare-and-set that makes racing management calls lose cleanly.

use crate::error::RegistrationError;
use crate::registrar::Registrar;
use crate::store::{ClientRecord, Origin, StoreError};

use super::admit::Admission;
use super::issue::Issuer;

/// How often a registration retries when the generated `client_id` is taken.
const ID_ATTEMPTS: usize = 3;

impl Registrar {
    /// Stores a new client, claiming the initial token's use first and giving it back when the
    /// store fails. `client_id` is the identifier drawn with the credentials, if any.
    pub(crate) async fn create(
        &self,
        mut record: Box<ClientRecord>,
        mut client_id: Option<String>,
        admission: &Admission<'_>,
        issuer: &Issuer<'_>,
    ) -> Result<Box<ClientRecord>, RegistrationError> {
        self.claim(admission).await?;
        for attempt in 1..=ID_ATTEMPTS {
            record.client_id = match client_id.take() {
                Some(id) => id,
                None => match issuer.client_id() {
                    Ok(id) => id,
                    Err(e) => {
                        self.release(admission).await;
                        return Err(e);
                    }
                },
            };
            match self.store.create(&record).await {
                Ok(()) => return Ok(record),
                Err(StoreError::Conflict) if attempt < ID_ATTEMPTS => {}
                Err(e) => {
                    self.release(admission).await;
                    return Err(e.into());
                }
            }
        }
        self.release(admission).await;
        Err(StoreError::Conflict.into())
    }

    /// Idempotent re-registration: the existing client keeps its identifier, its creation time
    /// and the grant it registered with, and takes the new metadata and credentials.
    pub(crate) async fn replace_instance(
        &self,
        mut record: Box<ClientRecord>,
        existing: Box<ClientRecord>,
        admission: &Admission<'_>,
    ) -> Result<Box<ClientRecord>, RegistrationError> {
        if existing.origin != Origin::Dynamic {
            return Err(RegistrationError::refused(
                "this instance belongs to a client the server's administrators manage",
            ));
        }
        record.client_id = existing.client_id;
        // The grant the client first registered with keeps binding it (see the bind stage); a
        // token presented now adds nothing the client may escape through.
        if existing.initial_grant.is_some() {
            record.initial_grant = existing.initial_grant;
            record.initial_token_subject = existing.initial_token_subject;
        }
        record.created_at = existing.created_at;
        record.last_used = existing.last_used;
        record.version = existing.version;
        self.claim(admission).await?;
        if let Err(e) = self.store.update(&record).await {
            self.release(admission).await;
            return Err(match e {
                StoreError::Conflict | StoreError::NotFound => RegistrationError::invalid_request(
                    "this instance is being registered concurrently; retry",
                ),
                other => other.into(),
            });
        }
        Ok(record)
    }
}

/// A stored version that changed under us means another request used the same token first: to
/// this request the token is no longer valid.
pub(crate) fn lost_race(e: StoreError) -> RegistrationError {
    match e {
        StoreError::Conflict | StoreError::NotFound => RegistrationError::InvalidToken,
        other => RegistrationError::Store(other),
    }
}
