//! Initial access tokens as a host verifies them.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use oauth_dcr::initial_tokens::{InitialAccessGrant, InitialTokenVerifier};
use oauth_dcr::{RequestContext, StoreError};

/// A host's initial access tokens: each with its grant and the uses it has left (`None`:
/// unlimited). `claim` and `release` take and give back a use under one lock.
#[derive(Default)]
pub struct HostTokens {
    tokens: Mutex<HashMap<String, (InitialAccessGrant, Option<u32>)>>,
}

impl HostTokens {
    pub fn with(self, token: &str, grant: InitialAccessGrant, uses: Option<u32>) -> Self {
        self.tokens
            .lock()
            .unwrap()
            .insert(token.to_owned(), (grant, uses));
        self
    }

    pub fn uses_left(&self, token: &str) -> Option<u32> {
        self.tokens.lock().unwrap()[token].1
    }
}

#[async_trait]
impl InitialTokenVerifier for HostTokens {
    async fn verify(&self, token: &str) -> Result<Option<InitialAccessGrant>, StoreError> {
        let tokens = self.tokens.lock().unwrap();
        Ok(tokens
            .get(token)
            .filter(|(_, uses)| *uses != Some(0))
            .map(|(grant, _)| grant.clone()))
    }

    async fn claim(&self, token: &str) -> Result<bool, StoreError> {
        let mut tokens = self.tokens.lock().unwrap();
        Ok(match tokens.get_mut(token) {
            Some((_, None)) => true,
            Some((_, Some(left))) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        })
    }

    async fn release(&self, token: &str) -> Result<(), StoreError> {
        if let Some((_, Some(left))) = self.tokens.lock().unwrap().get_mut(token) {
            *left += 1;
        }
        Ok(())
    }
}

/// The host's bootstrap token: scope `register`, subject `bootstrap`.
pub fn bootstrap() -> InitialAccessGrant {
    InitialAccessGrant::with_scopes(["register"]).subject("bootstrap")
}

/// A request presenting `token` as its initial access token.
pub fn bearer(token: &str) -> RequestContext {
    RequestContext::new().with_initial_access_token(token)
}
