//! Initial access tokens (RFC 7591 §3): bearer tokens the registration endpoint may demand,
//! verified by the host, with a required scope and optional single use.

mod issued;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::RegistrationError;
use crate::metadata::ClientMetadata;
use crate::store::StoreError;

pub use crate::secret::InitialAccessToken;
pub use issued::{InitialTokenStore, IssuedInitialTokens, IssuedToken, TokenSpec};

/// What a valid initial access token grants: returned by an [`InitialTokenVerifier`], and what
/// a token issued by [`IssuedInitialTokens::issue`] grants (see [`TokenSpec`]).
///
/// The grant a client registered with is kept with the client
/// ([`ClientRecord::initial_grant`](crate::ClientRecord::initial_grant)): its restrictions bind
/// every later update of that client as they bound the registration (RFC 7592 §2.2: an update is
/// validated "in the same way as the registration request").
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InitialAccessGrant {
    // `scopes` and `expires_at` are always written: the `IssuedToken` of builds before the grant
    // was its member requires both in a stored token, and during a rolling upgrade replicas of
    // both builds read the same tokens.
    /// The token's scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When the token expires; `None` if it does not (or the verifier already checked).
    #[serde(default, with = "time::serde::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Who the token was issued to (the bootstrap client, an administrator, …), for the host's
    /// policy and audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Whether the token may register only one client. Informational: the verifier enforces
    /// uses in [`InitialTokenVerifier::claim`]. A crate-issued token is single-use when its
    /// [`max_uses`](TokenSpec::max_uses) is one.
    #[serde(default)]
    pub single_use: bool,
    /// When set, the registered scope may only use these values (others are refused), at
    /// registration and at every update of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_scopes: Option<Vec<String>>,
    /// When set, every redirect URI must be on one of these hosts (`.example.com` admits
    /// subdomains), at registration and at every update of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_hosts: Option<Vec<String>>,
}

impl InitialAccessGrant {
    /// A grant with these scopes, no expiry, no subject, reusable.
    pub fn with_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            scopes: scopes.into_iter().map(str::to_owned).collect(),
            ..Self::default()
        }
    }

    /// Sets the expiry.
    #[must_use]
    pub fn expires_at(mut self, at: OffsetDateTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets the subject.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Restricts registrations with this token to these scopes.
    #[must_use]
    pub fn allowed_scopes<'a>(mut self, scopes: impl IntoIterator<Item = &'a str>) -> Self {
        self.allowed_scopes = Some(scopes.into_iter().map(str::to_owned).collect());
        self
    }

    /// Restricts registrations with this token to redirect URIs on these hosts.
    #[must_use]
    pub fn redirect_hosts<'a>(mut self, hosts: impl IntoIterator<Item = &'a str>) -> Self {
        self.redirect_hosts = Some(hosts.into_iter().map(str::to_owned).collect());
        self
    }

    /// Refuses metadata outside this grant's restrictions, on registration and on every update
    /// of a client registered with this grant.
    pub(crate) fn restrict(&self, metadata: &ClientMetadata) -> Result<(), RegistrationError> {
        if let (Some(allowed), Some(scope)) = (&self.allowed_scopes, &metadata.scope) {
            let outside: Vec<&str> = scope
                .tokens()
                .filter(|t| !allowed.iter().any(|a| a == t))
                .collect();
            if !outside.is_empty() {
                return Err(RegistrationError::refused(format!(
                    "the initial access token does not allow the scope `{}`",
                    outside.join(" ")
                )));
            }
        }
        if let Some(hosts) = &self.redirect_hosts {
            for uri in metadata.redirect_uris.iter().flatten() {
                if !redirect_allowed(uri.as_str(), hosts) {
                    return Err(RegistrationError::rejected(
                        crate::ErrorCode::InvalidRedirectUri,
                        format!("the initial access token does not allow the redirect URI `{uri}`"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Makes the token single-use.
    #[must_use]
    pub fn single_use(mut self) -> Self {
        self.single_use = true;
        self
    }
}

/// Whether a redirect URI stays within a grant's `redirect_hosts`: its host, or for a private-use
/// scheme without one, the domain the scheme names in reverse order (RFC 8252 §7.1:
/// `com.example.app:/cb` is the domain `app.example.com`). The loopback IP literals of native
/// apps (the user's own device) are always within.
fn redirect_allowed(uri: &str, hosts: &[String]) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    if let Some(host) = crate::validate::remote_host(&url) {
        return crate::validate::host_allowed(host, hosts);
    }
    if url.host_str().is_some_and(|h| !h.is_empty()) {
        return true; // a loopback IP literal
    }
    let domain: Vec<&str> = url.scheme().rsplit('.').collect();
    domain.len() > 1 && crate::validate::host_allowed(&domain.join("."), hosts)
}

/// Verifies initial access tokens issued by the host's token endpoint (for example through the
/// `client_credentials` grant with scope `register`).
///
/// The registrar calls [`claim`](Self::claim) once the registration is valid and just before it
/// is stored, and [`release`](Self::release) if storing then fails, so a rejected or failed
/// registration never burns a use and concurrent registrations cannot overspend a token: a
/// verifier with single-use or counted tokens makes `claim` an atomic check-and-increment.
#[async_trait]
pub trait InitialTokenVerifier: Send + Sync {
    /// What the token grants, or `None` if it is unknown, revoked or expired.
    ///
    /// # Errors
    /// When the verifier's backend fails (the client sees a 500).
    async fn verify(&self, token: &str) -> Result<Option<InitialAccessGrant>, StoreError>;

    /// Atomically takes one use of the token. `Ok(false)` if none is left. The default takes
    /// nothing (unlimited tokens).
    ///
    /// # Errors
    /// When the verifier's backend fails.
    async fn claim(&self, token: &str) -> Result<bool, StoreError> {
        let _ = token;
        Ok(true)
    }

    /// Gives back a use claimed for a registration that then failed.
    ///
    /// # Errors
    /// When the verifier's backend fails.
    async fn release(&self, token: &str) -> Result<(), StoreError> {
        let _ = token;
        Ok(())
    }
}
