//! The JSON text of a client information response, written straight into one buffer.
//!
//! The output is byte for byte what `serde_json` makes of the derived `Serialize` of
//! [`RegistrationResponse`] (same member order, same escapes; a property test holds the two
//! together). Writing it directly skips the serializer's state machine and the flattening of
//! the metadata, which were most of a response's cost.

use std::collections::BTreeMap;

use serde_json::Value;

use super::RegistrationResponse;
use crate::metadata::{
    with_members, with_text_types, ApplicationType, AuthMethod, ClientMetadata, GrantType,
    JoseAlgorithm, RedirectUri, ResponseType, Scope, SubjectType,
};

/// The JSON text of `response`.
pub(super) fn response(response: &RegistrationResponse) -> Vec<u8> {
    // Sized for a typical response, so that writing rarely reallocates.
    let mut out = Vec::with_capacity(1024);
    let RegistrationResponse {
        client_id,
        client_secret,
        client_id_issued_at,
        client_secret_expires_at,
        registration_access_token,
        registration_client_uri,
        registration_access_token_expires_in,
        software_statement,
        metadata,
    } = response;
    out.extend_from_slice(b"{\"client_id\":");
    client_id.write(&mut out);
    if let Some(secret) = client_secret {
        member(&mut out, "client_secret", secret.secret());
    }
    member(&mut out, "client_id_issued_at", client_id_issued_at);
    if let Some(expires_at) = client_secret_expires_at {
        member(&mut out, "client_secret_expires_at", expires_at);
    }
    if let Some(registration_access_token) = registration_access_token {
        member(
            &mut out,
            "registration_access_token",
            registration_access_token.secret(),
        );
    }
    member(&mut out, "registration_client_uri", registration_client_uri);
    if let Some(expires_in) = registration_access_token_expires_in {
        member(&mut out, "registration_access_token_expires_in", expires_in);
    }
    if let Some(statement) = software_statement {
        member(&mut out, "software_statement", statement);
    }
    metadata_members(metadata, &mut out);
    out.push(b'}');
    out
}

/// `,"name":value` for a member the crate names: every member but the first (`client_id`)
/// follows another, and no name the crate gives needs an escape.
fn member<T: Json + ?Sized>(out: &mut Vec<u8>, name: &'static str, value: &T) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    value.write(out);
}

macro_rules! metadata_json {
    (; $($field:ident),+ $(,)?) => {
        /// The members of `metadata` that are set, in declaration order, then its other members
        /// in name order: as the derived `Serialize` flattens them.
        fn metadata_members(metadata: &ClientMetadata, out: &mut Vec<u8>) {
            // Exhaustive, so that a new member cannot be forgotten here.
            let ClientMetadata { $($field,)+ other } = metadata;
            $(
                if let Some(value) = $field {
                    member(out, stringify!($field), value);
                }
            )+
            other_members(other, out);
        }
    };
}

with_members!(metadata_json!());

fn other_members(other: &BTreeMap<String, Value>, out: &mut Vec<u8>) {
    for (name, value) in other {
        out.push(b',');
        string(out, name);
        out.push(b':');
        value.write(out);
    }
}

/// A value with a JSON form.
trait Json {
    fn write(&self, out: &mut Vec<u8>);
}

impl Json for str {
    fn write(&self, out: &mut Vec<u8>) {
        string(out, self);
    }
}

impl Json for String {
    fn write(&self, out: &mut Vec<u8>) {
        string(out, self);
    }
}

impl Json for bool {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl Json for u64 {
    fn write(&self, out: &mut Vec<u8>) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = *self;
        loop {
            at -= 1;
            // `n % 10` is below 10.
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&digits[at..]);
    }
}

impl Json for i64 {
    fn write(&self, out: &mut Vec<u8>) {
        if *self < 0 {
            out.push(b'-');
        }
        self.unsigned_abs().write(out);
    }
}

impl<T: Json> Json for Vec<T> {
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write(out);
        }
        out.push(b']');
    }
}

/// JSON values (`jwks`, extensions): rare, and serde_json writes them.
impl Json for Value {
    fn write(&self, out: &mut Vec<u8>) {
        // Writing a `Value` into a `Vec` cannot fail: its keys are strings and a `Vec` takes
        // every byte.
        if serde_json::to_writer(&mut *out, self).is_err() {
            out.extend_from_slice(b"null");
        }
    }
}

macro_rules! text_json {
    ($($ty:ty => $make:path),+ $(,)?) => {
        $(
            impl Json for $ty {
                fn write(&self, out: &mut Vec<u8>) {
                    string(out, self.as_str());
                }
            }
        )+
    };
}

with_text_types!(text_json!());

/// What a byte becomes inside a JSON string, as serde_json writes it: 0 for itself, `u` for
/// `\u00XX`, any other letter for that backslash escape.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether any of the eight bytes of `word` is a control character, `"` or `\`.
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    (below_space | zero(quote) | zero(backslash)) & HIGH != 0
}

/// `s` as a JSON string.
fn string(out: &mut Vec<u8>, s: &str) {
    let mut rest = s.as_bytes();
    out.reserve(rest.len() + 2);
    out.push(b'"');
    loop {
        let clean = clean_prefix(rest);
        let (plain, tail) = rest.split_at(clean);
        out.extend_from_slice(plain);
        let Some((&byte, tail)) = tail.split_first() else {
            break;
        };
        let escape = ESCAPE[usize::from(byte)];
        out.push(b'\\');
        out.push(escape);
        if escape == b'u' {
            out.extend_from_slice(&[
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
        }
        rest = tail;
    }
    out.push(b'"');
}

/// How many bytes at the start of `bytes` need no escape: eight at a time, then one by one up to
/// the first that does.
fn clean_prefix(bytes: &[u8]) -> usize {
    let mut clean = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if needs_escape(u64::from_ne_bytes(word)) {
            break;
        }
        clean += 8;
    }
    clean
        + bytes[clean..]
            .iter()
            .take_while(|b| ESCAPE[usize::from(**b)] == 0)
            .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_string(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).unwrap_or_default()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_byte = String::new();
        for c in (0u8..=0x7f).map(char::from) {
            every_byte.push(c);
        }
        for s in [
            "",
            "plain",
            "exactly8",
            "https://client.example.org/cb/0/1",
            "quote\" in the middle of a long string",
            "back\\slash",
            "\u{7f}\u{80}é日本語\u{1F600}",
            "tab\tnew\nline\r\u{8}\u{c}\u{0}\u{1f}",
            every_byte.as_str(),
        ] {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(out, serde_string(s), "{s:?}");
        }
    }

    #[test]
    fn the_word_check_finds_each_byte_to_escape_at_each_position() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = special;
                assert!(
                    needs_escape(u64::from_ne_bytes(word)),
                    "{special:#x} at {at}"
                );
            }
        }
        for clean in (0x20u8..=0xff).filter(|b| *b != b'"' && *b != b'\\') {
            assert!(!needs_escape(u64::from_ne_bytes([clean; 8])), "{clean:#x}");
        }
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for n in [0i64, 7, 10, 1_795_327_791, -1, -86_400, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            n.write(&mut out);
            assert_eq!(out, n.to_string().into_bytes());
        }
        let mut out = Vec::new();
        u64::MAX.write(&mut out);
        assert_eq!(out, u64::MAX.to_string().into_bytes());
    }
}
