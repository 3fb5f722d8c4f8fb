//! OpenID Federation 1.0: the parts a registration endpoint needs to admit a client through a
//! trust chain.
//!
//! [`Registrar::register_federated`](crate::Registrar::register_federated) registers a client
//! through the trust chain it sends, configured with [`ExplicitRegistration`]; the `http`
//! adapter serves it at the registration endpoint for `application/trust-chain+json`. The pieces:
//! [`chain`] verifies a trust chain from the client's own Entity Configuration up to a
//! [`TrustAnchor`] the host configured; [`policy`] resolves the metadata
//! policies (OpenID Federation 1.0 §6.1) the chain's authorities set and applies them; and
//! [`response`] signs the explicit registration response with the server's federation key
//! ([`Signer`], [`JwkSigner`](response::JwkSigner)).
//!
//! Not yet: resolving a chain by fetching, for a request that sends only the Entity
//! Configuration.

pub mod chain;
pub mod policy;
pub mod response;

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use chain::{ChainRules, TrustAnchor};
use response::Signer;

/// Explicit registration through OpenID Federation trust chains (OpenID Federation 1.0 §12.2),
/// for [`Registrar::with_explicit_registration`](crate::Registrar::with_explicit_registration):
/// this server's entity identifier, the trust anchors it trusts, and its federation signing key.
#[derive(Clone)]
pub struct ExplicitRegistration {
    pub(crate) entity_id: String,
    pub(crate) anchors: Vec<TrustAnchor>,
    pub(crate) rules: ChainRules,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) lifetime: Duration,
}

impl std::fmt::Debug for ExplicitRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplicitRegistration")
            .field("entity_id", &self.entity_id)
            .field("anchors", &self.anchors)
            .field("rules", &self.rules)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl ExplicitRegistration {
    /// Registrations for this server, `entity_id`, through chains to `anchors`, answered with
    /// statements `signer` signs. A registration lasts at most a day, and never past its chain.
    pub fn new(
        entity_id: impl Into<String>,
        anchors: Vec<TrustAnchor>,
        signer: Arc<dyn Signer>,
    ) -> Self {
        Self {
            entity_id: entity_id.into(),
            anchors,
            rules: ChainRules::default(),
            signer,
            lifetime: Duration::days(1),
        }
    }

    /// Replaces the rules chains are verified with.
    #[must_use]
    pub fn rules(mut self, rules: ChainRules) -> Self {
        self.rules = rules;
        self
    }

    /// The longest a registration lasts (it never outlives its chain). Defaults to one day.
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// This server's entity identifier.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }
}

/// A client registered through a trust chain.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FederatedRegistration {
    /// The client's identifier: its entity identifier.
    pub client_id: String,
    /// The trust anchor that admitted it.
    pub trust_anchor: String,
    /// When the registration expires.
    pub expires_at: OffsetDateTime,
    /// The explicit registration response to send, an
    /// `application/explicit-registration-response+jwt` signed by this server.
    pub response: String,
}
