//! Open enums for the IANA registries that metadata values come from, and small newtypes.
//!
//! Each enum has the known values as variants and keeps anything else in `Other`, so a value the
//! crate does not know still round-trips; the policy decides whether it is accepted.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How the store packs a metadata value that is one wire string: a known value of an open enum
/// as a one-byte code (1 and up), anything else as its string. Types without codes
/// (`CODED` false) are always their string.
pub(crate) trait Coded: Sized {
    /// Whether values of this type have codes.
    const CODED: bool = false;

    /// The value's code: 0 for a value that is stored as its string.
    fn code(&self) -> u8 {
        0
    }

    /// The known value with this code.
    fn from_code(_code: u8) -> Option<Self> {
        None
    }
}

impl Coded for ResponseType {}
impl Coded for JoseAlgorithm {}
impl Coded for RedirectUri {}
impl Coded for Scope {}

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(s) => s,
                }
            }
        }

        impl Coded for $name {
            const CODED: bool = true;

            fn code(&self) -> u8 {
                /// The known values, in order: a value's code is its position plus one.
                #[allow(dead_code)]
                #[repr(u8)]
                enum Known { $( $variant, )+ }
                match self {
                    $( Self::$variant => Known::$variant as u8 + 1, )+
                    Self::Other(_) => 0,
                }
            }

            fn from_code(code: u8) -> Option<Self> {
                /// As in `code`.
                #[allow(dead_code)]
                #[repr(u8)]
                enum Known { $( $variant, )+ }
                $(
                    if code == Known::$variant as u8 + 1 {
                        return Some(Self::$variant);
                    }
                )+
                None
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match value.as_str() {
                    $( $wire => Self::$variant, )+
                    _ => Self::Other(value),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }
    };
}

open_enum! {
    /// An OAuth grant type (RFC 7591 §2, IANA "OAuth Grant Type" values).
    GrantType {
        /// `authorization_code` (RFC 6749 §4.1).
        AuthorizationCode => "authorization_code",
        /// `implicit` (RFC 6749 §4.2).
        Implicit => "implicit",
        /// `password` (RFC 6749 §4.3).
        Password => "password",
        /// `client_credentials` (RFC 6749 §4.4).
        ClientCredentials => "client_credentials",
        /// `refresh_token` (RFC 6749 §6).
        RefreshToken => "refresh_token",
        /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523).
        JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
        /// `urn:ietf:params:oauth:grant-type:saml2-bearer` (RFC 7522).
        Saml2Bearer => "urn:ietf:params:oauth:grant-type:saml2-bearer",
        /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
        DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
        TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        /// `urn:openid:params:grant-type:ciba` (OpenID CIBA).
        Ciba => "urn:openid:params:grant-type:ciba",
    }
}

open_enum! {
    /// A token endpoint authentication method (RFC 7591 §2, RFC 8705 §2, OIDC Core §9).
    AuthMethod {
        /// `none`: a public client.
        None => "none",
        /// `client_secret_basic`: HTTP Basic with the client secret (the RFC 7591 default).
        ClientSecretBasic => "client_secret_basic",
        /// `client_secret_post`: the client secret in the form body.
        ClientSecretPost => "client_secret_post",
        /// `client_secret_jwt`: a JWT MACed with the client secret (needs the raw secret).
        ClientSecretJwt => "client_secret_jwt",
        /// `private_key_jwt`: a JWT signed with a key from `jwks` / `jwks_uri`.
        PrivateKeyJwt => "private_key_jwt",
        /// `tls_client_auth`: PKI mutual TLS (RFC 8705 §2.1).
        TlsClientAuth => "tls_client_auth",
        /// `self_signed_tls_client_auth`: self-signed mutual TLS (RFC 8705 §2.2).
        SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
    }
}

impl AuthMethod {
    /// Whether this method authenticates with a server-issued client secret.
    pub fn uses_secret(&self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }

    /// Whether this method needs the raw secret at the token endpoint (an HMAC key), so that the
    /// secret cannot be stored as a hash.
    pub fn needs_raw_secret(&self) -> bool {
        matches!(self, Self::ClientSecretJwt)
    }

    /// Whether this method verifies keys from the client's `jwks` or `jwks_uri`.
    pub fn needs_keys(&self) -> bool {
        matches!(self, Self::PrivateKeyJwt | Self::SelfSignedTlsClientAuth)
    }
}

open_enum! {
    /// The kind of application (OIDC Registration §2 `application_type`).
    ApplicationType {
        /// `web`: the default.
        Web => "web",
        /// `native`: an app on the user's device (RFC 8252).
        Native => "native",
    }
}

open_enum! {
    /// The subject identifier type (OIDC Core §8).
    SubjectType {
        /// `public`: the same `sub` for every client.
        Public => "public",
        /// `pairwise`: a different `sub` per sector.
        Pairwise => "pairwise",
    }
}

/// A response type: one or more space-separated values such as `code` or `code id_token`
/// (RFC 7591 §2, OAuth 2.0 Multiple Response Type Encoding Practices).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResponseType(String);

impl ResponseType {
    /// `code`.
    pub fn code() -> Self {
        Self("code".to_owned())
    }

    /// Wraps a response type value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The space-separated parts (`code id_token` has `code` and `id_token`).
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|p| !p.is_empty())
    }

    /// Whether one of the parts equals `part`.
    pub fn contains(&self, part: &str) -> bool {
        if !self.0.as_bytes().contains(&b' ') {
            // One part, the usual case.
            return self.0 == part;
        }
        self.parts().any(|p| p == part)
    }

    /// The parts in a canonical order, joined by one space, for comparison with a supported list.
    pub fn normalized(&self) -> String {
        let mut parts: Vec<&str> = self.parts().collect();
        parts.sort_unstable();
        parts.dedup();
        parts.join(" ")
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A JOSE algorithm (`alg`) or content encryption (`enc`) identifier, such as `RS256` or
/// `A128CBC-HS256` (RFC 7518).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JoseAlgorithm(String);

impl JoseAlgorithm {
    /// Wraps an algorithm name.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The name as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JoseAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for JoseAlgorithm {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// A redirection URI exactly as the client registered it.
///
/// OAuth compares redirect URIs by simple string comparison (RFC 9700 §2.1, OIDC Registration §2),
/// so this type keeps the original string; validation requires it to be in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Wraps a URI; [`validate`](crate::validate()) decides whether it is acceptable.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` (from an authorization request) matches this registered URI: byte for
    /// byte, except that the port of a loopback redirect may differ (RFC 8252 §7.3): an IP
    /// literal, or `localhost`, which only a policy with
    /// [`allow_localhost`](crate::policy::RedirectPolicy::allow_localhost) registers.
    pub fn matches(&self, candidate: &str) -> bool {
        if self.0 == candidate {
            return true;
        }
        let (Ok(registered), Ok(requested)) =
            (url::Url::parse(&self.0), url::Url::parse(candidate))
        else {
            return false;
        };
        let loopback = matches!(
            registered.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        ) || matches!(registered.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || matches!(registered.host(), Some(url::Host::Domain("localhost")));
        if !loopback || registered.scheme() != "http" || requested.as_str() != candidate {
            return false;
        }
        let mut without_port = requested;
        if without_port.set_port(registered.port()).is_err() {
            return false;
        }
        without_port.as_str() == registered.as_str()
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A space-delimited scope value (RFC 6749 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scope(String);

impl Scope {
    /// Wraps a scope string.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Builds a scope from tokens, joined by single spaces.
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        Self(tokens.into_iter().collect::<Vec<_>>().join(" "))
    }

    /// The scope string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scope tokens.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|t| !t.is_empty())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
