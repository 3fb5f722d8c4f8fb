//! Generation of client identifiers, client secrets and registration access tokens, and the clock.
//! Both are injectable so that tests never depend on real randomness or the wall clock.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use time::OffsetDateTime;

use crate::secret::{ClientSecret, RegistrationAccessToken};

/// Bytes of entropy in every generated secret and token (256 bits, RFC 6749 §10.10 asks for at
/// least 128).
pub(crate) const SECRET_BYTES: usize = 32;

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

/// What a registration needs drawn at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Needed {
    pub(crate) client_id: bool,
    pub(crate) client_secret: bool,
    pub(crate) registration_token: bool,
}

/// What was drawn: exactly what [`Needed`] asked for.
#[derive(Debug, Default)]
pub(crate) struct Drawn {
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<ClientSecret>,
    pub(crate) registration_token: Option<RegistrationAccessToken>,
}

/// What `needed` asks for, from a host's generator, one method call each.
pub(crate) fn draw_each(
    generator: &dyn CredentialGenerator,
    needed: Needed,
) -> Result<Drawn, RandomError> {
    Ok(Drawn {
        client_secret: needed
            .client_secret
            .then(|| generator.client_secret())
            .transpose()?,
        registration_token: needed
            .registration_token
            .then(|| generator.registration_token())
            .transpose()?,
        client_id: needed.client_id.then(|| generator.client_id()),
    })
}

/// What `needed` asks for, from the operating system's random source in one call for just the
/// bytes needed: the identifier's 122 random bits and each 256-bit credential asked for (each
/// `getrandom` call costs about as much as the rest of the credential work together, and the
/// kernel's cost grows with the bytes drawn). Its plain twin is [`draw_each`] over
/// [`RandomGenerator`]; a test checks they make values of the same form.
pub(crate) fn draw(needed: Needed) -> Result<Drawn, RandomError> {
    let mut bytes = [0u8; 16 + 2 * SECRET_BYTES];
    let len = usize::from(needed.client_id) * 16
        + usize::from(needed.client_secret) * SECRET_BYTES
        + usize::from(needed.registration_token) * SECRET_BYTES;
    let (drawn, _) = bytes.split_at_mut(len);
    getrandom::fill(drawn).map_err(|_| RandomError(()))?;
    let mut rest: &[u8] = drawn;
    let mut take = |wanted: bool, n: usize| -> Option<&[u8]> {
        if !wanted {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    };
    let id = take(needed.client_id, 16);
    let secret = take(needed.client_secret, SECRET_BYTES);
    let token = take(needed.registration_token, SECRET_BYTES);
    let client_id = match id {
        Some(id) => {
            let id: [u8; 16] = id.try_into().map_err(|_| RandomError(()))?;
            Some(uuid::Builder::from_random_bytes(id).into_uuid().to_string())
        }
        None => None,
    };
    Ok(Drawn {
        client_id,
        client_secret: secret.map(|s| ClientSecret::new(URL_SAFE_NO_PAD.encode(s))),
        registration_token: token.map(|t| RegistrationAccessToken::new(URL_SAFE_NO_PAD.encode(t))),
    })
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
pub(crate) fn random_token() -> Result<String, RandomError> {
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
    fn one_draw_makes_what_is_needed_and_nothing_else() {
        let all = Needed {
            client_id: true,
            client_secret: true,
            registration_token: true,
        };
        let a = draw(all).unwrap();
        let b = draw(all).unwrap();
        let plain = draw_each(&RandomGenerator, all).unwrap();
        let form = |d: &Drawn| {
            (
                d.client_id.as_ref().map(String::len),
                d.client_secret.as_ref().map(|s| s.secret().len()),
                d.registration_token.as_ref().map(|t| t.secret().len()),
            )
        };
        assert_eq!(
            form(&a),
            form(&plain),
            "the one-call draw makes what the plain path makes"
        );
        let id = a.client_id.clone().unwrap();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        let secret = a.client_secret.as_ref().unwrap().secret().to_owned();
        let token = a.registration_token.as_ref().unwrap().secret().to_owned();
        for value in [&secret, &token] {
            assert_eq!(URL_SAFE_NO_PAD.decode(value).unwrap().len(), SECRET_BYTES);
        }
        assert_ne!(secret, token);
        assert_ne!(a.client_id, b.client_id);
        assert_ne!(a.client_secret, b.client_secret);
        let only_token = draw(Needed {
            registration_token: true,
            ..Needed::default()
        })
        .unwrap();
        assert!(only_token.client_id.is_none() && only_token.client_secret.is_none());
        assert!(only_token.registration_token.is_some());
        // Every combination draws exactly what it asks for, in the plain path's form.
        for bits in 0..8u8 {
            let needed = Needed {
                client_id: bits & 1 != 0,
                client_secret: bits & 2 != 0,
                registration_token: bits & 4 != 0,
            };
            let drawn = draw(needed).unwrap();
            let plain = draw_each(&RandomGenerator, needed).unwrap();
            assert_eq!(form(&drawn), form(&plain), "{bits:03b}");
            if let (Some(secret), Some(token)) = (&drawn.client_secret, &drawn.registration_token) {
                assert_ne!(secret.secret(), token.secret(), "{bits:03b}");
            }
        }
    }

    #[test]
    fn client_ids_are_uuid_v4() {
        let id = RandomGenerator.client_id();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }
}
