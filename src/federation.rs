//! OpenID Federation 1.0: the parts a registration endpoint needs to admit a client through a
//! trust chain.
//!
//! So far this module holds [`policy`]: metadata policies (OpenID Federation 1.0 §6.1), resolved
//! down a trust chain and applied to a client's metadata. Trust chain resolution and the explicit
//! registration endpoint build on it.

pub mod policy;
