//! Client delete (RFC 7592 §2.3).

use crate::error::RegistrationError;
use crate::events::Operation;
use crate::pipeline::persist::lost_race;
use crate::registrar::Registrar;
use crate::store::ClientRecord;
use crate::trace::traced;

impl Registrar {
    /// Deletes a client with its registration access token. The client identifier, its secret
    /// and its token stop working at once; the host answers 204 No Content.
    ///
    /// RFC 7592 §2.3 says the server SHOULD also invalidate the client's grants and tokens: that
    /// is the host's job, after this returns (an [`EventSink`](crate::events::EventSink) is a
    /// good place).
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub async fn delete(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<(), RegistrationError> {
        traced(Operation::Delete, Some(client_id), async {
            match self.delete_client(client_id, token).await {
                Ok(record) => {
                    crate::trace::succeeded(None);
                    self.emit(
                        Operation::Delete,
                        self.subject(Operation::Delete, &record, None),
                        None,
                    )
                    .await;
                    Ok(())
                }
                Err(e) => Err(self.refused(Operation::Delete, Some(client_id), e).await),
            }
        })
        .await
    }

    async fn delete_client(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<Box<ClientRecord>, RegistrationError> {
        let record = self.authorize(client_id, token).await?.record;
        self.store
            .delete(client_id, record.version)
            .await
            .map_err(lost_race)?;
        Ok(record)
    }
}
