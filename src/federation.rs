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
//! A client may also send only its Entity Configuration when the registration is given a
//! fetcher ([`ExplicitRegistration::resolve_with`]): [`resolve`] then finds the chain up its
//! `authority_hints`, and it is verified as a sent one is.

pub mod chain;
pub mod policy;
pub mod resolve;
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
    /// Chains verified already, by the SHA-256 of their statements, until they expire.
    pub(crate) verified: Arc<VerifiedChains>,
    /// Where chains are resolved from, for a client that sends only its Entity Configuration.
    pub(crate) fetcher: Option<Arc<dyn crate::fetch::Fetcher>>,
    pub(crate) resolve_limits: resolve::ResolveLimits,
}

/// Trust chains that verified, by the digest of their exact statements, each until its expiry:
/// a client that registers again with the same chain is not verified again. The statements are
/// signed and immutable, and the anchors and rules are this registration's own, so the only
/// thing that changes a chain's verdict is time; an entry is used only before the chain
/// expires. Bounded: when full, expired entries go first, then the entry expiring soonest.
#[derive(Default)]
pub(crate) struct VerifiedChains {
    chains: std::sync::Mutex<std::collections::HashMap<[u8; 32], chain::TrustChain>>,
}

impl VerifiedChains {
    /// The most chains kept.
    const CAPACITY: usize = 1024;

    /// The digest of a chain: each statement's length, then its bytes.
    pub(crate) fn key(chain: &[String]) -> [u8; 32] {
        use sha2::Digest as _;
        let mut digest = sha2::Sha256::new();
        for statement in chain {
            digest.update((statement.len() as u64).to_le_bytes());
            digest.update(statement.as_bytes());
        }
        digest.finalize().into()
    }

    /// The chain verified under `key`, if it has not expired at `now`.
    pub(crate) fn get(&self, key: &[u8; 32], now: OffsetDateTime) -> Option<chain::TrustChain> {
        let chains = self.chains.lock().unwrap_or_else(|e| e.into_inner());
        chains
            .get(key)
            .filter(|chain| now < chain.expires_at)
            .cloned()
    }

    /// Keeps `chain`, verified at `now`, under `key`.
    pub(crate) fn put(&self, key: [u8; 32], chain: &chain::TrustChain, now: OffsetDateTime) {
        let mut chains = self.chains.lock().unwrap_or_else(|e| e.into_inner());
        if chains.len() >= Self::CAPACITY {
            chains.retain(|_, kept| now < kept.expires_at);
        }
        if chains.len() >= Self::CAPACITY {
            let soonest = chains
                .iter()
                .min_by_key(|(_, kept)| kept.expires_at)
                .map(|(key, _)| *key);
            if let Some(soonest) = soonest {
                chains.remove(&soonest);
            }
        }
        chains.insert(key, chain.clone());
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.chains.lock().map(|c| c.len()).unwrap_or_default()
    }
}

impl std::fmt::Debug for ExplicitRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplicitRegistration")
            .field("entity_id", &self.entity_id)
            .field("anchors", &self.anchors)
            .field("rules", &self.rules)
            .field("lifetime", &self.lifetime)
            .field("resolves_chains", &self.fetcher.is_some())
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
            verified: Arc::default(),
            fetcher: None,
            resolve_limits: resolve::ResolveLimits::default(),
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

    /// Resolves the trust chain of a client that sends only its Entity Configuration
    /// (`application/entity-statement+jwt`) by fetching its superiors' statements through
    /// `fetcher`, within `limits` ([`resolve::resolve_chain`]). The fetcher is responsible for
    /// the SSRF rules ([`HttpFetcher`](crate::fetch::Fetcher) refuses private addresses).
    #[must_use]
    pub fn resolve_with(
        mut self,
        fetcher: Arc<dyn crate::fetch::Fetcher>,
        limits: resolve::ResolveLimits,
    ) -> Self {
        self.fetcher = Some(fetcher);
        self.resolve_limits = limits;
        self
    }

    /// Whether a chain is resolved for a client that sends only its Entity Configuration.
    pub fn resolves_chains(&self) -> bool {
        self.fetcher.is_some()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(expires_at: i64) -> chain::TrustChain {
        chain::TrustChain {
            subject: "https://rp.example".into(),
            trust_anchor: "https://ta.example".into(),
            immediate_superior: "https://int.example".into(),
            expires_at: OffsetDateTime::from_unix_timestamp(expires_at).unwrap(),
            metadata: serde_json::Map::new(),
            subject_jwks: serde_json::Value::Null,
            subject_claims: serde_json::Map::new(),
            statements: Vec::new(),
        }
    }

    #[test]
    fn verified_chains_are_kept_until_they_expire_and_within_bounds() {
        let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).unwrap();
        let chains = VerifiedChains::default();
        // The digest tells statements apart even where their concatenations agree.
        let a = VerifiedChains::key(&["ab".into(), "c".into()]);
        let b = VerifiedChains::key(&["a".into(), "bc".into()]);
        assert_ne!(a, b);
        chains.put(a, &chain(100), at(0));
        assert!(chains.get(&a, at(99)).is_some());
        assert!(chains.get(&a, at(100)).is_none(), "expired");
        assert!(chains.get(&b, at(0)).is_none());
        for n in 0..VerifiedChains::CAPACITY as i64 + 10 {
            let key = VerifiedChains::key(&[n.to_string()]);
            chains.put(key, &chain(1_000 + n), at(0));
        }
        assert!(chains.len() <= VerifiedChains::CAPACITY);
        // The soonest to expire went first: the newest are kept.
        let last = VerifiedChains::key(&[(VerifiedChains::CAPACITY as i64 + 9).to_string()]);
        assert!(chains.get(&last, at(0)).is_some());
    }
}
