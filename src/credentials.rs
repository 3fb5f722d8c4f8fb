//! Generation of client identifiers, client secrets and registration access tokens, and the clock.
//! Both are injectable so that tests never depend on real randomness or the wall clock.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use time::OffsetDateTime;

use crate::secret::{ClientSecret, RegistrationAccessToken};

/// Bytes of entropy in every generated secret and token (256 bits, RFC 6749 §10.10 asks for at
/// least 128).
pub const SECRET_BYTES: usize = 32;

/// Makes identifiers and credentials.
///
/// The default, [`RandomGenerator`], draws from the operating system's CSPRNG. Implement this
/// trait to choose another `client_id` format (a prefix, a ULID, …); secrets and tokens must stay
/// unguessable.
pub trait CredentialGenerator: Send + Sync + fmt::Debug {
    /// A new, unique client identifier. Clients never choose it (RFC 9700 §4.15).
    fn client_id(&self) -> String;

    /// A new client secret.
    ///
    /// # Errors
    /// When the random source fails.
    fn client_secret(&self) -> Result<ClientSecret, RandomError>;

    /// A new registration access token.
    ///
    /// # Errors
    /// When the random source fails.
    fn registration_token(&self) -> Result<RegistrationAccessToken, RandomError>;
}

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed")]
pub struct RandomError(());

/// UUID v4 client identifiers; 256-bit base64url secrets and tokens from the OS CSPRNG
/// (`getrandom`: `getrandom(2)` on Linux).
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomGenerator;

/// 32 bytes from the OS CSPRNG, base64url without padding (43 characters).
///
/// # Errors
/// When the operating system's random source fails.
pub fn random_token() -> Result<String, RandomError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| RandomError(()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl CredentialGenerator for RandomGenerator {
    fn client_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn client_secret(&self) -> Result<ClientSecret, RandomError> {
        random_token().map(ClientSecret::new)
    }

    fn registration_token(&self) -> Result<RegistrationAccessToken, RandomError> {
        random_token().map(RegistrationAccessToken::new)
    }
}

/// The source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_256_bits_in_the_base64url_alphabet() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), SECRET_BYTES);
    }

    #[test]
    fn client_ids_are_uuid_v4() {
        let id = RandomGenerator.client_id();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }
}
