//! Client read (RFC 7592 §2.1).

use crate::error::RegistrationError;
use crate::events::Operation;
use crate::pipeline::respond::respond;
use crate::pipeline::Stored;
use crate::registrar::Registrar;
use crate::response::RegistrationResponse;
use crate::trace::traced;

impl Registrar {
    /// Reads a client's current configuration with its registration access token (the HTTP
    /// status is 200).
    ///
    /// With [`rotate_on_read`](crate::ServerPolicy::rotate_on_read) (the default) the response
    /// carries a new token and the presented one stops working at once. A hashed client secret is
    /// never returned; a retrievable one (`client_secret_jwt`) is.
    ///
    /// # Errors
    /// 401 `invalid_token` for a wrong, expired or rotated-away token, another client's token
    /// (which is then revoked) or an unknown client; 401
    /// [`MissingToken`](RegistrationError::MissingToken) without a token (`None`); 403 for a
    /// client the host created or when management is switched off; 500 when the store fails,
    /// with the old token still valid.
    pub async fn read(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let stored = traced(Operation::Read, Some(client_id), async {
            let stored = self.read_client(client_id, token).await;
            self.settle(Operation::Read, Some(client_id), stored).await
        })
        .await?;
        Ok(respond(&self.policy, stored))
    }

    async fn read_client(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<Stored, RegistrationError> {
        let mut authorized = self.authorize(client_id, token).await?;
        let issuer = self.issuer();
        // A token admitted through the grace window is always replaced.
        let token = if self.policy.rotate_on_read || authorized.via_grace {
            let fresh = self.rotate(&mut authorized, &issuer)?;
            self.save_managed(&authorized.record, &authorized.presented)
                .await?;
            fresh
        } else {
            self.unchanged_token(&authorized, token)
        };
        let record = authorized.record;
        let secret = record
            .secret
            .as_ref()
            .and_then(|s| s.retrievable())
            .cloned();
        Ok(Stored {
            record,
            before: None,
            changed: false,
            secret,
            token,
            at: issuer.now,
        })
    }
}
