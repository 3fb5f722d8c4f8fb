//! Parsing request bytes into client metadata: size, depth, length and duplicate-key limits, type
//! checks per member, server-owned members set aside, unknown members dropped.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{RegistrationError, Violation};
use crate::metadata::{ClientMetadata, LOCALIZABLE};
use crate::policy::{RequestLimits, ServerPolicy};

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

/// A request body, parsed and type-checked but not yet validated against the policy.
#[derive(Debug, Default)]
pub(crate) struct ParsedRequest {
    pub(crate) metadata: ClientMetadata,
    /// Type errors and malformed language tags, one per member.
    pub(crate) violations: Vec<Violation>,
    /// `client_id` as sent (RFC 7592 §2.2 update), when it was a string.
    pub(crate) client_id: Option<String>,
    /// `client_secret` as sent (RFC 7592 §2.2 update), when it was a string.
    pub(crate) client_secret: Option<String>,
    /// Server-owned members that were present with a non-null value.
    pub(crate) server_owned: Vec<&'static str>,
    /// The `software_statement` member, when present.
    pub(crate) software_statement: Option<Value>,
}

/// Parses a request body into metadata.
///
/// # Errors
/// [`RegistrationError::BodyTooLarge`] over the size limit; [`RegistrationError::InvalidRequest`]
/// for anything that is not one JSON object within the limits, without duplicate members.
pub(crate) fn parse(
    body: &[u8],
    policy: &ServerPolicy,
) -> Result<ParsedRequest, RegistrationError> {
    let map = parse_object(body, &policy.limits)?;
    Ok(from_object(map, policy))
}

/// Parses bytes into a JSON object within `limits`, refusing duplicate members.
///
/// # Errors
/// As [`parse`].
pub(crate) fn parse_object(
    body: &[u8],
    limits: &RequestLimits,
) -> Result<Map<String, Value>, RegistrationError> {
    if body.len() > limits.max_body_bytes {
        return Err(RegistrationError::BodyTooLarge {
            limit: limits.max_body_bytes,
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = StrictValue { limits, depth: 0 }
        .deserialize(&mut deserializer)
        .and_then(|v| deserializer.end().map(|()| v))
        .map_err(|e| RegistrationError::invalid_request(format!("malformed JSON body: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(RegistrationError::invalid_request(
            "the request body must be a JSON object",
        )),
    }
}

/// Turns a JSON object into metadata: type errors become violations naming the member.
pub(crate) fn from_object(mut map: Map<String, Value>, policy: &ServerPolicy) -> ParsedRequest {
    let mut parsed = ParsedRequest::default();
    for name in SERVER_OWNED {
        match map.remove(name) {
            None | Some(Value::Null) => {}
            Some(value) => {
                parsed.server_owned.push(name);
                match (name, value) {
                    ("client_id", Value::String(s)) => parsed.client_id = Some(s),
                    ("client_secret", Value::String(s)) => parsed.client_secret = Some(s),
                    _ => {}
                }
            }
        }
    }
    parsed.software_statement = map.remove("software_statement").filter(|v| !v.is_null());

    let object = Value::Object(map);
    parsed.metadata = match ClientMetadata::deserialize(&object) {
        Ok(metadata) => metadata,
        Err(_) => diagnose(&object, &mut parsed.violations),
    };
    keep_known_members(&mut parsed.metadata, policy, &mut parsed.violations);
    parsed
}

/// Slow path after a type error: deserializes member by member to name every bad one, and keeps
/// the good ones.
fn diagnose(object: &Value, violations: &mut Vec<Violation>) -> ClientMetadata {
    let Value::Object(map) = object else {
        return ClientMetadata::default();
    };
    let mut good = Map::new();
    for (key, value) in map {
        let single = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        match ClientMetadata::deserialize(&single) {
            Ok(_) => {
                good.insert(key.clone(), value.clone());
            }
            Err(e) => violations.push(Violation::metadata(key, format!("`{key}`: {e}"))),
        }
    }
    ClientMetadata::deserialize(&Value::Object(good)).unwrap_or_default()
}

/// Of the members serde did not recognise, keeps valid language-tagged variants and the
/// extensions the policy accepts; drops the rest (RFC 7591 §2: ignore what is not understood).
fn keep_known_members(
    metadata: &mut ClientMetadata,
    policy: &ServerPolicy,
    violations: &mut Vec<Violation>,
) {
    metadata.other_mut().retain(|key, value| {
        if value.is_null() {
            return false;
        }
        if let Some((base, tag)) = key.split_once('#') {
            if !LOCALIZABLE.contains(&base) {
                return false;
            }
            if !is_language_tag(tag) {
                violations.push(Violation::metadata(
                    key.as_str(),
                    format!("`{key}`: `{tag}` is not a BCP 47 language tag"),
                ));
                return false;
            }
            if !value.is_string() {
                violations.push(Violation::metadata(
                    key.as_str(),
                    format!("`{key}` must be a string"),
                ));
                return false;
            }
            return true;
        }
        !RESERVED.contains(&key.as_str()) && policy.accepts_extension(key)
    });
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

/// Deserializes a `serde_json::Value` while enforcing depth, length and member limits and
/// refusing duplicate member names (a parser differential is an attack: RFC 8259 §4 leaves
/// duplicates undefined, and `serde_json::Map` would silently keep the last).
struct StrictValue<'a> {
    limits: &'a RequestLimits,
    depth: usize,
}

impl StrictValue<'_> {
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

    fn string<E: de::Error>(&self, s: &str) -> Result<Value, E> {
        if s.len() > self.limits.max_string_bytes {
            return Err(E::custom(format_args!(
                "a string is longer than {} bytes",
                self.limits.max_string_bytes
            )));
        }
        Ok(Value::String(s.to_owned()))
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
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.nested())? {
            if items.len() >= self.limits.max_array_len {
                return Err(de::Error::custom(format_args!(
                    "an array has more than {} elements",
                    self.limits.max_array_len
                )));
            }
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
