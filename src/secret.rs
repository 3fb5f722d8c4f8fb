//! Secret-bearing types: they redact themselves in `Debug`, have no `Display`, expose their value
//! through one documented method, hash with SHA-256 and compare in constant time.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Whether the value is empty (none was issued).
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Wraps a secret value (for example one a client presented).
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself. Handle with care: never log it.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// The SHA-256 of the secret, the only form in which the crate stores it.
            pub fn hash(&self) -> SecretHash {
                SecretHash::of(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            /// Constant-time comparison.
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}
    };
}

secret_type! {
    /// A client secret (RFC 7591 §3.2.1): at least 256 bits from the OS CSPRNG, base64url.
    ClientSecret
}

secret_type! {
    /// A registration access token (RFC 7592 §3): a bearer credential for the client configuration
    /// endpoint, at least 256 bits from the OS CSPRNG, base64url.
    RegistrationAccessToken
}

secret_type! {
    /// An initial access token presented to the registration endpoint (RFC 7591 §3).
    InitialAccessToken
}

/// The SHA-256 of a secret or token. Equality is constant-time; `Debug` shows a short prefix
/// only.
///
/// SHA-256 without a salt or a slow KDF is appropriate here because every value hashed is a
/// server-generated 256-bit random string: there is nothing to brute-force.
#[derive(Clone, Copy)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes a secret value.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Wraps stored hash bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn verify(&self, secret: &str) -> bool {
        *self == Self::of(secret)
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretHash {}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

impl Serialize for SecretHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(serde::de::Error::custom)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a secret hash has 32 bytes"))?;
        Ok(Self(bytes))
    }
}

/// Constant-time equality of two strings (their lengths may leak, their contents do not).
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_compare_whole_values() {
        assert!(constant_time_eq("abc", "abc"));
        for other in ["abd", "ab", "abcd", "", "ABC"] {
            assert!(!constant_time_eq("abc", other), "{other}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = ClientSecret::new("s3cr3t-value");
        let token = RegistrationAccessToken::new("t0k3n-value");
        let shown = format!("{secret:?} {token:?} {:?}", token.hash());
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn hash_round_trips_and_verifies() {
        let token = RegistrationAccessToken::new("abc");
        let hash = token.hash();
        assert!(hash.verify("abc"));
        assert!(!hash.verify("abd"));
        let json = serde_json::to_string(&hash).unwrap();
        let back: SecretHash = serde_json::from_str(&json).unwrap();
        assert_eq!(back, hash);
    }
}
