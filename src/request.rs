//! [`RegistrationRequest`]: a registration or update request as the client sent it, read from
//! bytes within the policy's limits (size, depth, lengths, no duplicate members), type-checked
//! member by member, with the members only the server sets put aside.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

mod typed;

use crate::error::{RegistrationError, Violation};
use crate::metadata::{with_members, ClientMetadata, LOCALIZABLE};
use crate::policy::RequestLimits;
use crate::secret::InitialAccessToken;

/// Members only the server sets (RFC 7591 §3.2.1, RFC 7592 §3). A registration never trusts them.
pub(crate) const SERVER_OWNED: [&str; 7] = [
    "client_id",
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token_expires_in",
];

/// Names that can never be kept as extensions, whatever the policy says: server-owned members and
/// the flags hosts commonly use internally for trust decisions.
pub(crate) const RESERVED: [&str; 12] = [
    "software_statement",
    "skip_consent",
    "skip_logout_consent",
    "trusted",
    "first_party",
    "is_admin",
    "admin",
    "metadata",
    "access_token_strategy",
    "provenance",
    "registered_by",
    "service_account_enabled",
];

/// A registration (RFC 7591 §3.1) or update (RFC 7592 §2.2) request: the client metadata as sent,
/// typed but not yet validated, and what travels with it.
///
/// [`Registrar::register`](crate::Registrar::register), [`Registrar::update`](crate::Registrar::update)
/// and [`validate`](crate::validate()) take one. Build it from the body's bytes
/// ([`from_json`](Self::from_json), [`from_jwt`](Self::from_jwt) for a signed body), from JSON a
/// host has already parsed ([`from_value`](Self::from_value)), or in code from
/// [`ClientMetadata`]:
///
/// ```
/// use oauth_dcr::{ClientMetadata, RegistrationRequest, RequestLimits};
///
/// let sent = RegistrationRequest::from_json(
///     br#"{"redirect_uris":["https://app.example/cb"],"client_name":"App"}"#,
///     &RequestLimits::default(),
/// )?;
/// assert_eq!(sent.metadata.client_name.as_deref(), Some("App"));
///
/// let mut metadata = ClientMetadata::default();
/// metadata.client_name = Some("Built in code".into());
/// let built = RegistrationRequest::from(metadata);
/// assert!(built.software_statement.is_none());
/// # Ok::<(), oauth_dcr::RegistrationError>(())
/// ```
///
/// A member of the wrong type does not fail the parse: it is left out of `metadata` and reported,
/// with every other problem, when the request is validated. Members the crate does not define are
/// kept in the metadata's extensions until validation drops those the policy does not accept
/// (RFC 7591 §2: ignore what is not understood).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RegistrationRequest {
    /// The client metadata as sent; not yet validated, no defaults applied.
    pub metadata: ClientMetadata,
    /// `software_statement` (RFC 7591 §2.3), verified by the registrar when it takes statements
    /// and ignored otherwise (§3.1.1).
    pub software_statement: Option<String>,
    /// `"rotate_client_secret": true` in an update: issue a new client secret.
    pub rotate_client_secret: bool,
    /// `instance_key`: the secret a client instance keeps to re-register idempotently
    /// ([`ServerPolicy::idempotent_registration`](crate::ServerPolicy::idempotent_registration)).
    pub instance_key: Option<String>,
    /// `client_id` as sent, which an update must carry (RFC 7592 §2.2).
    pub client_id: Option<String>,
    /// `client_secret` as sent: an update may carry it only if it is the current one.
    pub client_secret: Option<String>,
    /// Type errors and malformed language tags, one per member, found while reading.
    pub(crate) violations: Vec<Violation>,
    /// Server-owned members that were present with a non-null value.
    pub(crate) server_owned: Vec<&'static str>,
    /// `software_statement` was sent, but not as a string.
    pub(crate) statement_not_a_string: bool,
    /// How the request arrived.
    pub(crate) body: Body,
}

/// How a request arrived.
#[derive(Debug, Clone, Default)]
pub(crate) enum Body {
    /// Plain JSON, or built in code.
    #[default]
    Plain,
    /// A signed body (`application/jwt`), not yet verified: the metadata is empty until the
    /// registrar has checked the signature.
    Signed(String),
    /// A signed body whose signature verified: its JWT claims (`iss`, `aud`, `jti`, …).
    Verified(Map<String, Value>),
    /// A body that could not be read; refused when the pipeline reaches the request, after the
    /// caller's token was checked (RFC 6750 before RFC 7591 §3.2.2).
    Unreadable(Unreadable),
}

/// Why a body could not be read, kept until the pipeline refuses it.
#[derive(Debug, Clone)]
pub(crate) enum Unreadable {
    TooLarge(usize),
    Invalid(String),
}

impl From<Unreadable> for RegistrationError {
    fn from(why: Unreadable) -> Self {
        match why {
            Unreadable::TooLarge(limit) => Self::BodyTooLarge { limit },
            Unreadable::Invalid(message) => Self::invalid_request(message),
        }
    }
}

impl RegistrationRequest {
    /// Reads a JSON body (`application/json`) within `limits`.
    ///
    /// # Errors
    /// [`RegistrationError::BodyTooLarge`] over the size limit; 400 `invalid_request` for anything
    /// that is not one JSON object within the limits, without duplicate members.
    pub fn from_json(body: &[u8], limits: &RequestLimits) -> Result<Self, RegistrationError> {
        let mut request = Self::default();
        parse_members(
            body,
            limits,
            typed::Fields {
                request: &mut request,
            },
        )?;
        Ok(request)
    }

    /// Takes a JSON value a host has already parsed, within the same `limits` as
    /// [`from_json`](Self::from_json) (measured on its serialized form).
    ///
    /// # Errors
    /// As [`from_json`](Self::from_json).
    pub fn from_value(value: &Value, limits: &RequestLimits) -> Result<Self, RegistrationError> {
        let bytes = serde_json::to_vec(value)
            .map_err(|_| RegistrationError::invalid_request("the request is not JSON"))?;
        Self::from_json(&bytes, limits)
    }

    /// Takes a signed body (`application/jwt` or `application/jose`): a compact JWS whose payload
    /// is the metadata. Its members are read only once the registrar has verified the signature
    /// ([`SignedRequests`](crate::statements::SignedRequests)); until then `metadata` is empty.
    ///
    /// # Errors
    /// [`RegistrationError::BodyTooLarge`] over the size limit; 400 `invalid_request` for a body
    /// that is not UTF-8.
    pub fn from_jwt(body: &[u8], limits: &RequestLimits) -> Result<Self, RegistrationError> {
        if body.len() > limits.max_body_bytes {
            return Err(RegistrationError::BodyTooLarge {
                limit: limits.max_body_bytes,
            });
        }
        let raw = std::str::from_utf8(body)
            .map_err(|_| RegistrationError::invalid_request("the signed body is not UTF-8"))?;
        Ok(Self {
            body: Body::Signed(raw.trim().to_owned()),
            ..Self::default()
        })
    }

    /// The JWT claims (`iss`, `aud`, `iat`, `exp`, `jti`, …) of a signed body once it verified;
    /// `None` for a plain request.
    pub fn signed_claims(&self) -> Option<&Map<String, Value>> {
        match &self.body {
            Body::Verified(claims) => Some(claims),
            _ => None,
        }
    }

    /// Whether the request arrived as a signed body.
    pub fn is_signed(&self) -> bool {
        matches!(self.body, Body::Signed(_) | Body::Verified(_))
    }

    /// A request that stands for a body that could not be read: the registrar refuses it with
    /// `error` once the caller is authenticated.
    pub(crate) fn unreadable(error: &RegistrationError) -> Self {
        let why = match error {
            RegistrationError::BodyTooLarge { limit } => Unreadable::TooLarge(*limit),
            other => Unreadable::Invalid(match other {
                RegistrationError::InvalidRequest(message) => message.to_string(),
                other => other.to_string(),
            }),
        };
        Self {
            body: Body::Unreadable(why),
            ..Self::default()
        }
    }

    /// Turns a JSON object's members into a request: type errors become violations naming the
    /// member.
    pub(crate) fn from_members(map: Map<String, Value>) -> Self {
        let mut request = Self::default();
        for (key, value) in map {
            read_member(&mut request, Cow::Owned(key), value);
        }
        request
    }
}

impl From<ClientMetadata> for RegistrationRequest {
    /// A request for exactly this metadata (an administrator's tool, a host's own onboarding).
    fn from(metadata: ClientMetadata) -> Self {
        Self {
            metadata,
            ..Self::default()
        }
    }
}

/// What the host knows about the HTTP request besides its body.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RequestContext {
    /// The address of the peer, for the host's own policy decisions and logs.
    pub remote_addr: Option<IpAddr>,
    /// The bearer token of the registration request (RFC 7591 §3 initial access token), from the
    /// `Authorization` header.
    pub initial_access_token: Option<InitialAccessToken>,
}

impl RequestContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the peer address.
    #[must_use]
    pub fn with_remote_addr(mut self, addr: IpAddr) -> Self {
        self.remote_addr = Some(addr);
        self
    }

    /// Sets the initial access token.
    #[must_use]
    pub fn with_initial_access_token(mut self, token: impl Into<String>) -> Self {
        self.initial_access_token = Some(InitialAccessToken::new(token));
        self
    }
}

/// Parses bytes into a JSON object within `limits`, refusing duplicate members.
///
/// # Errors
/// As [`RegistrationRequest::from_json`].
pub(crate) fn parse_object(
    body: &[u8],
    limits: &RequestLimits,
) -> Result<Map<String, Value>, RegistrationError> {
    let mut map = Map::new();
    parse_members(body, limits, &mut map)?;
    Ok(map)
}

/// Where the members of a request object go, one at a time.
trait Sink<'de> {
    /// Reads the value of the member `key` from `access` (a member value, within `limits`) and
    /// keeps it.
    fn member<A: MapAccess<'de>>(
        &mut self,
        key: Cow<'de, str>,
        access: &mut A,
        limits: &RequestLimits,
    ) -> Result<(), A::Error>;
}

/// The members as a JSON object.
impl<'de> Sink<'de> for &mut Map<String, Value> {
    fn member<A: MapAccess<'de>>(
        &mut self,
        key: Cow<'de, str>,
        access: &mut A,
        limits: &RequestLimits,
    ) -> Result<(), A::Error> {
        let value = access.next_value_seed(StrictValue::member(limits))?;
        self.insert(key.into_owned(), value);
        Ok(())
    }
}

/// Reads one JSON object within `limits`, handing each member to `sink` in order.
fn parse_members<'de>(
    body: &'de [u8],
    limits: &RequestLimits,
    sink: impl Sink<'de>,
) -> Result<(), RegistrationError> {
    if body.len() > limits.max_body_bytes {
        return Err(RegistrationError::BodyTooLarge {
            limit: limits.max_body_bytes,
        });
    }
    // A body checked as UTF-8 once is read as text, so that serde_json does not check every
    // string again; any other body is read as bytes and fails exactly as it would.
    let read = match std::str::from_utf8(body) {
        Ok(text) => read_object(serde_json::Deserializer::from_str(text), limits, sink),
        Err(_) => read_object(serde_json::Deserializer::from_slice(body), limits, sink),
    };
    let was_object =
        read.map_err(|e| RegistrationError::invalid_request(format!("malformed JSON body: {e}")))?;
    if !was_object {
        return Err(RegistrationError::invalid_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(())
}

/// The whole input as one JSON value, its members (if an object) handed to `sink`.
fn read_object<'de, R: serde_json::de::Read<'de>>(
    mut deserializer: serde_json::Deserializer<R>,
    limits: &RequestLimits,
    sink: impl Sink<'de>,
) -> Result<bool, serde_json::Error> {
    let was_object = TopLevel { limits, sink }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(was_object)
}

/// Sets a server-owned member aside (RFC 7591 §3.2.1: never trusted on registration; RFC 7592
/// §2.2 rules on update).
fn server_owned(request: &mut RegistrationRequest, key: &str, value: Value) {
    let Some(name) = SERVER_OWNED.iter().find(|n| **n == key) else {
        return;
    };
    if value.is_null() {
        return;
    }
    request.server_owned.push(name);
    match (*name, value) {
        ("client_id", Value::String(s)) => request.client_id = Some(s),
        ("client_secret", Value::String(s)) => request.client_secret = Some(s),
        _ => {}
    }
}

/// Decodes one member's value, recording a violation naming it when its type is wrong. `null`
/// is absent.
fn decode<T: DeserializeOwned>(
    key: &str,
    value: Value,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    match Option::<T>::deserialize(value) {
        Ok(decoded) => decoded,
        Err(e) => {
            violations.push(Violation::metadata(key, format!("`{key}`: {e}")));
            None
        }
    }
}

/// Assigns a member to its typed field, moving the value (no copies, no intermediate
/// buffering); unknown members go through [`keep_unknown`]. A wrongly typed member is a
/// violation naming it, and the others are still read, so every problem is reported at once.
macro_rules! member_reader {
    (; $($field:ident),+ $(,)?) => {
        fn read_member(request: &mut RegistrationRequest, key: Cow<'_, str>, value: Value) {
            let metadata = &mut request.metadata;
            let violations = &mut request.violations;
            match &*key {
                $(stringify!($field) => metadata.$field = decode(&key, value, violations),)+
                "software_statement" => {
                    match value {
                        Value::Null => {}
                        Value::String(s) => request.software_statement = Some(s),
                        // Refused by the statement stage when the registrar takes statements.
                        _ => request.statement_not_a_string = true,
                    }
                }
                "rotate_client_secret" => {
                    request.rotate_client_secret =
                        decode::<bool>(&key, value, violations) == Some(true);
                }
                "instance_key" => {
                    request.instance_key = decode::<String>(&key, value, violations)
                        .filter(|k| !k.is_empty());
                }
                "client_id" | "client_secret" | "registration_access_token"
                | "registration_client_uri" | "client_id_issued_at"
                | "client_secret_expires_at" | "registration_access_token_expires_in" => {
                    server_owned(request, &key, value);
                }
                _ => keep_unknown(metadata, key.into_owned(), value, violations),
            }
        }
    };
}

with_members!(member_reader!());

/// A member's name without its language tag (`client_name#en` → `client_name`).
pub(crate) fn base_name(member: &str) -> &str {
    member.split_once('#').map_or(member, |(base, _)| base)
}

macro_rules! member_moves {
    (; $($field:ident),+ $(,)?) => {
        impl RegistrationRequest {
            /// Whether the metadata has the member `name` (a typed field, a language variant or
            /// an extension).
            pub(crate) fn has_member(&self, name: &str) -> bool {
                let metadata = &self.metadata;
                match name {
                    $(stringify!($field) => metadata.$field.is_some(),)+
                    _ => metadata.other.contains_key(name),
                }
            }

            /// Drops the member `base` in every language, and the violations about it.
            pub(crate) fn drop_member(&mut self, base: &str) {
                let metadata = &mut self.metadata;
                match base {
                    $(stringify!($field) => metadata.$field = None,)+
                    _ => {}
                }
                metadata.other.retain(|name, _| base_name(name) != base);
                self.violations.retain(|v| base_name(&v.field) != base);
            }

            /// Sets the member `name` from a JSON value, as the request's own member would be
            /// read (type errors become violations naming it); `false` for a name that is no
            /// metadata (server-owned or transient members are never taken from elsewhere).
            pub(crate) fn set_member(&mut self, name: &str, value: Value) -> bool {
                if SERVER_OWNED.contains(&name)
                    || matches!(name, "software_statement" | "rotate_client_secret" | "instance_key")
                {
                    return false;
                }
                read_member(self, Cow::Borrowed(name), value);
                true
            }
        }
    };
}

with_members!(member_moves!());

/// Of the members the crate does not define, keeps valid language-tagged variants of the
/// localizable members and every other member as an extension; validation then drops the
/// extensions the policy does not accept.
fn keep_unknown(
    metadata: &mut ClientMetadata,
    key: String,
    value: Value,
    violations: &mut Vec<Violation>,
) {
    if value.is_null() {
        return;
    }
    if let Some((base, tag)) = key.split_once('#') {
        if !LOCALIZABLE.contains(&base) {
            return;
        }
        if !is_language_tag(tag) {
            let message = format!("`{key}`: `{tag}` is not a BCP 47 language tag");
            violations.push(Violation::metadata(key, message));
            return;
        }
        if !value.is_string() {
            let message = format!("`{key}` must be a string");
            violations.push(Violation::metadata(key, message));
            return;
        }
    }
    metadata.other_mut().insert(key, value);
}

/// A well-formed BCP 47 tag: alphanumeric subtags of 1 to 8 characters, the first alphabetic.
pub(crate) fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let first_ok = subtags
        .next()
        .is_some_and(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The top level of a request body: an object read member by member into a [`Sink`], or any
/// other value, read within the same limits and reported as not an object (`false`).
struct TopLevel<'a, S> {
    limits: &'a RequestLimits,
    sink: S,
}

impl<'de, S: Sink<'de>> DeserializeSeed<'de> for TopLevel<'_, S> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: Sink<'de>> Visitor<'de> for TopLevel<'_, S> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.strict().string(v).map(|_| false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        self.strict().visit_seq(seq).map(|_| false)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<bool, A::Error> {
        let limits = self.limits;
        self.strict().check_depth()?;
        let mut seen = SeenKeys::default();
        while let Some(key) = access.next_key_seed(KeySeed)? {
            if key.len() > limits.max_string_bytes {
                return Err(de::Error::custom("a member name is too long"));
            }
            if seen.len() >= limits.max_members {
                return Err(de::Error::custom(format_args!(
                    "an object has more than {} members",
                    limits.max_members
                )));
            }
            self.sink.member(key.clone(), &mut access, limits)?;
            if !seen.insert(&key) {
                return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
            }
        }
        Ok(true)
    }
}

impl<S> TopLevel<'_, S> {
    fn strict(&self) -> StrictValue<'_> {
        StrictValue {
            limits: self.limits,
            depth: 0,
        }
    }
}

/// A member name, borrowed from the body when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The member names of one object so far: a short list searched in order, and a hash set once
/// the object is long enough for that to pay (so a body of many members costs linear time).
struct SeenKeys<'de> {
    list: Vec<Cow<'de, str>>,
    set: HashSet<Cow<'de, str>>,
}

impl Default for SeenKeys<'_> {
    fn default() -> Self {
        Self {
            list: Vec::with_capacity(Self::LINEAR),
            set: HashSet::new(),
        }
    }
}

impl<'de> SeenKeys<'de> {
    const LINEAR: usize = 16;

    fn len(&self) -> usize {
        self.list.len() + self.set.len()
    }

    /// Records `key`; `false` if it was seen before. (A `Cow`, so that a name borrowed from the
    /// body is kept without a copy.)
    #[allow(clippy::ptr_arg)]
    fn insert(&mut self, key: &Cow<'de, str>) -> bool {
        if self.list.len() < Self::LINEAR {
            if self.list.contains(key) {
                return false;
            }
            self.list.push(key.clone());
            return true;
        }
        !self.list.contains(key) && self.set.insert(key.clone())
    }
}

/// Deserializes a `serde_json::Value` while enforcing depth, length and member limits and
/// refusing duplicate member names (a parser differential is an attack: RFC 8259 §4 leaves
/// duplicates undefined, and `serde_json::Map` would silently keep the last).
#[derive(Clone, Copy)]
struct StrictValue<'a> {
    limits: &'a RequestLimits,
    depth: usize,
}

impl<'a> StrictValue<'a> {
    /// For the value of a member of the request object.
    fn member(limits: &'a RequestLimits) -> Self {
        StrictValue { limits, depth: 1 }
    }

    fn nested(&self) -> Self {
        StrictValue {
            limits: self.limits,
            depth: self.depth + 1,
        }
    }

    fn check_depth<E: de::Error>(&self) -> Result<(), E> {
        if self.depth >= self.limits.max_depth {
            return Err(E::custom(format_args!(
                "nesting deeper than {} levels",
                self.limits.max_depth
            )));
        }
        Ok(())
    }

    fn check_length<E: de::Error>(&self, s: &str) -> Result<(), E> {
        if s.len() > self.limits.max_string_bytes {
            return Err(E::custom(format_args!(
                "a string is longer than {} bytes",
                self.limits.max_string_bytes
            )));
        }
        Ok(())
    }

    fn string<E: de::Error>(&self, s: &str) -> Result<Value, E> {
        self.check_length(s)?;
        Ok(Value::String(s.to_owned()))
    }

    fn too_many<E: de::Error>(&self, count: usize) -> Result<(), E> {
        if count >= self.limits.max_array_len {
            return Err(de::Error::custom(format_args!(
                "an array has more than {} elements",
                self.limits.max_array_len
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.string(v)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.check_depth()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(16));
        while let Some(item) = seq.next_element_seed(self.nested())? {
            self.too_many(items.len())?;
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        self.check_depth()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if key.len() > self.limits.max_string_bytes {
                return Err(de::Error::custom("a member name is too long"));
            }
            if map.len() >= self.limits.max_members {
                return Err(de::Error::custom(format_args!(
                    "an object has more than {} members",
                    self.limits.max_members
                )));
            }
            let value = access.next_value_seed(self.nested())?;
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
            }
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RequestLimits {
        RequestLimits::default()
    }

    /// Reading straight into fields gives exactly what reading the object first gives: the same
    /// metadata, the same violations in the same order, the same set-aside members, or the same
    /// error.
    fn typed_agrees_with_the_object(body: &[u8]) {
        let limits = limits();
        let direct = RegistrationRequest::from_json(body, &limits);
        let via_object = parse_object(body, &limits).map(RegistrationRequest::from_members);
        match (direct, via_object) {
            (Ok(direct), Ok(via_object)) => {
                assert_eq!(format!("{direct:?}"), format!("{via_object:?}"), "{body:?}");
            }
            (Err(direct), Err(via_object)) => {
                assert_eq!(direct.to_string(), via_object.to_string());
            }
            (direct, via_object) => panic!("{direct:?} but {via_object:?}"),
        }
    }

    #[test]
    fn typed_members_agree_with_the_object_at_the_limits() {
        let long = "x".repeat(20_000);
        let many = vec!["\"g\""; 300].join(",");
        let deep = format!("{}{}", "[".repeat(20), "]".repeat(20));
        for body in [
            r#"{"redirect_uris":["https://a.example/cb",5,null,"https://b.example/cb"]}"#
                .to_owned(),
            r#"{"grant_types":"authorization_code","client_name":["x"],"scope":7}"#.to_owned(),
            r#"{"contacts":[["nested"]],"response_types":[{"a":1}],"client_name":null}"#.to_owned(),
            r#"{"redirect_uris":null,"grant_types":[],"contacts":["a\"b","\u00e9"]}"#.to_owned(),
            r#"{"client_name":"a","client_name":"b"}"#.to_owned(),
            r#"{"default_max_age":"1","require_auth_time":1,"jwks":"k"}"#.to_owned(),
            format!(r#"{{"client_name":"{long}"}}"#),
            format!(r#"{{"contacts":["{long}"]}}"#),
            format!(r#"{{"grant_types":[{many}]}}"#),
            format!(r#"{{"grant_types":[1,{many}]}}"#),
            format!(r#"{{"contacts":{deep}}}"#),
            format!(r#"{{"contacts":["a",{deep}]}}"#),
        ] {
            typed_agrees_with_the_object(body.as_bytes());
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            "[a-z:/.]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn typed_members_agree_with_the_object(
            members in proptest::collection::vec((
                proptest::sample::select(vec![
                    "redirect_uris", "grant_types", "response_types", "client_name", "scope",
                    "contacts", "token_endpoint_auth_method", "jwks", "default_max_age",
                    "require_auth_time", "client_id", "software_statement", "x_other",
                    "client_name#fr", "client_secret", "rotate_client_secret", "instance_key",
                    "registration_access_token",
                ]),
                json_value(),
            ), 0..6)
        ) {
            let body: String = members
                .iter()
                .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
                .collect::<Vec<_>>()
                .join(",");
            typed_agrees_with_the_object(format!("{{{body}}}").as_bytes());
        }
    }

    #[test]
    fn refuses_duplicate_members_at_any_depth() {
        for body in [
            r#"{"a":1,"a":2}"#,
            r#"{"jwks":{"keys":[{"kty":"RSA","kty":"EC"}]}}"#,
        ] {
            let err = parse_object(body.as_bytes(), &limits()).unwrap_err();
            assert!(err.to_string().contains("duplicate member"), "{err}");
        }
    }

    #[test]
    fn enforces_depth_array_and_string_limits() {
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let deep = format!(r#"{{"a":{deep}}}"#);
        assert!(parse_object(deep.as_bytes(), &limits()).is_err());
        let long_array = format!(r#"{{"a":[{}1]}}"#, "1,".repeat(10_000));
        assert!(parse_object(long_array.as_bytes(), &limits()).is_err());
        let long_string = format!(r#"{{"a":"{}"}}"#, "x".repeat(20_000));
        assert!(parse_object(long_string.as_bytes(), &limits()).is_err());
    }

    /// Every field of `ClientMetadata` is read by `read_members` (none falls through to the
    /// unknown members and is dropped).
    #[test]
    fn every_metadata_member_is_read() {
        let all: Value = serde_json::from_str(
            r#"{
            "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["authorization_code"], "response_types": ["code"], "client_name": "n",
            "client_uri": "https://a.example", "logo_uri": "https://a.example/l", "scope": "s",
            "contacts": ["c"], "tos_uri": "https://a.example/t", "policy_uri": "https://a.example/p",
            "jwks_uri": "https://a.example/j", "jwks": {"keys": []}, "software_id": "i",
            "software_version": "v", "application_type": "web",
            "sector_identifier_uri": "https://a.example/s", "subject_type": "public",
            "id_token_signed_response_alg": "RS256", "id_token_encrypted_response_alg": "RSA-OAEP",
            "id_token_encrypted_response_enc": "A128GCM", "userinfo_signed_response_alg": "RS256",
            "userinfo_encrypted_response_alg": "RSA-OAEP", "userinfo_encrypted_response_enc": "A128GCM",
            "request_object_signing_alg": "RS256", "request_object_encryption_alg": "RSA-OAEP",
            "request_object_encryption_enc": "A128GCM", "token_endpoint_auth_signing_alg": "RS256",
            "default_max_age": 60, "require_auth_time": true, "default_acr_values": ["a"],
            "initiate_login_uri": "https://a.example/i", "request_uris": ["https://a.example/r"],
            "post_logout_redirect_uris": ["https://a.example/o"],
            "frontchannel_logout_uri": "https://a.example/f", "frontchannel_logout_session_required": true,
            "backchannel_logout_uri": "https://a.example/b", "backchannel_logout_session_required": true,
            "tls_client_auth_subject_dn": "CN=a", "tls_client_auth_san_dns": "a.example",
            "tls_client_auth_san_uri": "https://a.example", "tls_client_auth_san_ip": "192.0.2.1",
            "tls_client_auth_san_email": "a@a.example", "tls_client_certificate_bound_access_tokens": true,
            "dpop_bound_access_tokens": true, "require_pushed_authorization_requests": true,
            "authorization_details_types": ["t"], "authorization_signed_response_alg": "RS256",
            "authorization_encrypted_response_alg": "RSA-OAEP", "authorization_encrypted_response_enc": "A128GCM",
            "introspection_signed_response_alg": "RS256", "introspection_encrypted_response_alg": "RSA-OAEP",
            "introspection_encrypted_response_enc": "A128GCM"
        }"#,
        )
        .unwrap();
        let Value::Object(map) = all.clone() else {
            unreachable!()
        };
        let parsed = RegistrationRequest::from_members(map);
        assert!(parsed.violations.is_empty(), "{:?}", parsed.violations);
        assert_eq!(serde_json::to_value(&parsed.metadata).unwrap(), all);
        // The derived `Deserialize` (used for storage) agrees.
        let derived: ClientMetadata = serde_json::from_value(all).unwrap();
        assert_eq!(derived, parsed.metadata);
    }

    #[test]
    fn language_tags() {
        for ok in ["en", "ja-Jpan-JP", "zh-Hant", "de-CH-1996", "x-private"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in [
            "",
            "-",
            "en-",
            "1en",
            "ja_JP",
            "toolongsubtag",
            "en--US",
            "en US",
        ] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
