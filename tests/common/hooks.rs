//! Host hooks shared by several test binaries.

use async_trait::async_trait;
use oauth_dcr::events::{HookContext, RegistrationHook};
use oauth_dcr::{ClientMetadata, ErrorCode, RegistrationError};

/// Refuses names that impersonate a bank; with a code, refuses everything with it.
pub struct NoBanks(pub Option<ErrorCode>);

#[async_trait]
impl RegistrationHook for NoBanks {
    async fn check(
        &self,
        metadata: &mut ClientMetadata,
        _context: &HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        if let Some(code) = &self.0 {
            return Err(RegistrationError::rejected(
                code.clone(),
                "refused by policy",
            ));
        }
        if metadata
            .client_name
            .as_deref()
            .is_some_and(|n| n.contains("Bank"))
        {
            return Err(RegistrationError::refused(
                "client_name must not name a bank",
            ));
        }
        Ok(())
    }
}
