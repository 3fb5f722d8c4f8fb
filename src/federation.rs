//! OpenID Federation 1.0: the parts a registration endpoint needs to admit a client through a
//! trust chain.
//!
//! So far it holds [`chain`], which verifies a trust chain a client sends, from its own Entity
//! Configuration up to a [`TrustAnchor`](chain::TrustAnchor) the host configured, and [`policy`],
//! the metadata policies (OpenID Federation 1.0 §6.1) the chain's authorities set, resolved down
//! the chain and applied to the client's metadata, and [`response`], the signed explicit
//! registration response with the server's federation key ([`Signer`](response::Signer),
//! [`JwkSigner`](response::JwkSigner)). The explicit registration endpoint, and the resolution
//! of a chain by fetching statements, build on them.

pub mod chain;
pub mod policy;
pub mod response;
