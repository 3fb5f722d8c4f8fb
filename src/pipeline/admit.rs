//! The admit stage: whether the registration endpoint takes this request at all — registration
//! switched on, and the initial access token (RFC 7591 §3) when the registrar demands one. A
//! single-use token's use is claimed just before the client is stored and given back if storing
//! fails.

use std::fmt;
use std::sync::Arc;

use crate::error::{ErrorCode, RegistrationError};
use crate::initial_tokens::{InitialAccessGrant, InitialTokenVerifier};
use crate::registrar::Registrar;
use crate::request::RequestContext;
use crate::secret::InitialAccessToken;

/// The registration endpoint's demand for an initial access token.
#[derive(Clone)]
pub(crate) struct InitialTokenRequirement {
    pub(crate) verifier: Arc<dyn InitialTokenVerifier>,
    pub(crate) scope: Option<String>,
}

impl fmt::Debug for InitialTokenRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitialTokenRequirement")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A checked initial access token, to be claimed when the registration is stored.
#[derive(Debug)]
pub(crate) struct Admission<'a> {
    pub(crate) token: Option<&'a str>,
    pub(crate) grant: Option<InitialAccessGrant>,
}

impl Registrar {
    /// Demands an initial access token on every registration, verified by `verifier` and carrying
    /// `scope` when one is given (RFC 7591 §3, RFC 6750).
    ///
    /// An unknown or expired token answers 401 `invalid_token`; a token without the scope
    /// answers 403 `insufficient_scope`; both with the RFC 6750 `WWW-Authenticate` header. A
    /// request without credentials answers 401 with a bare `Bearer` challenge (no error code,
    /// RFC 6750 §3.1) and the body `invalid_request`.
    #[must_use]
    pub fn require_initial_token(
        mut self,
        verifier: Arc<dyn InitialTokenVerifier>,
        scope: Option<&str>,
    ) -> Self {
        self.initial_token = Some(InitialTokenRequirement {
            verifier,
            scope: scope.map(str::to_owned),
        });
        self
    }

    /// Checks that registration is on and the initial access token of a registration, if the
    /// registrar demands one.
    pub(crate) async fn admit<'a>(
        &self,
        context: &'a RequestContext,
    ) -> Result<Admission<'a>, RegistrationError> {
        if !self.policy.registration_enabled {
            return Err(RegistrationError::rejected(
                ErrorCode::AccessDenied,
                "client registration is disabled on this server",
            ));
        }
        let Some(requirement) = &self.initial_token else {
            return Ok(Admission {
                token: None,
                grant: None,
            });
        };
        let token = context
            .initial_access_token
            .as_ref()
            .map(InitialAccessToken::secret)
            .ok_or(RegistrationError::MissingInitialToken)?;
        if token.is_empty() {
            return Err(RegistrationError::InvalidInitialToken);
        }
        let grant = requirement
            .verifier
            .verify(token)
            .await?
            .filter(|g| g.expires_at.is_none_or(|at| self.now() < at))
            .ok_or(RegistrationError::InvalidInitialToken)?;
        if let Some(scope) = &requirement.scope {
            if !grant.scopes.iter().any(|s| s == scope) {
                return Err(RegistrationError::InsufficientScope {
                    scope: scope.clone(),
                });
            }
        }
        Ok(Admission {
            token: Some(token),
            grant: Some(grant),
        })
    }

    /// Claims a single-use token just before the client is stored.
    pub(crate) async fn claim(&self, admission: &Admission<'_>) -> Result<(), RegistrationError> {
        if let (Some(req), Some(token)) = (&self.initial_token, admission.token) {
            if !req.verifier.claim(token).await? {
                return Err(RegistrationError::InvalidInitialToken);
            }
        }
        Ok(())
    }

    /// Gives a claimed use back after a failed store write.
    pub(crate) async fn release(&self, admission: &Admission<'_>) {
        if let (Some(req), Some(token)) = (&self.initial_token, admission.token) {
            // Best effort: the registration already failed with the store's error.
            let _ = req.verifier.release(token).await;
        }
    }
}
