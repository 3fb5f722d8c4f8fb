//! Text rules: the characters any string of the metadata may hold, and what an e-mail contact
//! looks like. The strings are found through the member list the parser uses, so a member added
//! to [`ClientMetadata`] is covered without a change here.

use crate::metadata::{
    with_members, with_text_types, ApplicationType, AuthMethod, ClientMetadata, GrantType,
    JoseAlgorithm, RedirectUri, ResponseType, Scope, SubjectType, LOCALIZABLE,
};

/// Bidirectional embedding, override and isolate characters (U+202A–U+202E, U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether every byte is printable ASCII (0x20–0x7E), what nearly every value is: eight bytes
/// at a time, each word tested at once for a byte below 0x20, a DEL or a byte above 0x7F.
fn printable_ascii(value: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = value.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_le_bytes(bytes);
        // A byte below 0x20 borrows into its high bit when 0x20 is taken from it.
        let control = x.wrapping_sub(0x20 * ONES) & !x & HIGH;
        // A DEL is a zero byte once XORed with 0x7F.
        let del = x ^ (0x7f * ONES);
        let del = del.wrapping_sub(ONES) & !del & HIGH;
        if (control | del | (x & HIGH)) != 0 {
            return false;
        }
    }
    words.remainder().iter().all(|b| (0x20..0x7f).contains(b))
}

/// What `value`, a string in the member `field`, must not contain, if it does.
pub(super) fn character_problem(field: &str, value: &str) -> Option<&'static str> {
    if printable_ascii(value.as_bytes()) {
        return None;
    }
    // `char::is_control` is C0, DEL and C1.
    if value.chars().any(char::is_control) {
        return Some("control characters");
    }
    let base = field.split_once('#').map_or(field, |(base, _)| base);
    (LOCALIZABLE.contains(&base) && value.chars().any(is_bidi_control))
        .then_some("bidirectional override or isolate characters")
}

/// The ASCII characters an e-mail contact may hold: printable, and none of those that make a
/// display form (`Name <a@b>`) or a list.
const EMAIL_ASCII: [bool; 128] = {
    let mut set = [false; 128];
    let mut b = 0x21;
    while b < 0x7f {
        set[b] = true;
        b += 1;
    }
    let refused = b"<>()[],;:\\\"";
    let mut i = 0;
    while i < refused.len() {
        set[refused[i] as usize] = false;
        i += 1;
    }
    set
};

/// Whether `value` is plausibly one e-mail address (OpenID Connect Registration §2: `contacts`
/// are e-mail addresses): at most 254 bytes (RFC 5321 §4.5.3.1.3), one `@` between a local part
/// of at most 64 bytes and a domain of non-empty labels, no spaces, controls or the characters
/// that make a display form (`Name <a@b>`) or a list.
pub(super) fn plausible_email(value: &str) -> bool {
    let Some(at) = value.bytes().position(|b| b == b'@') else {
        return false;
    };
    let (local, domain) = (&value[..at], &value.as_bytes()[at + 1..]);
    // The domain: no second `@`, no empty label (a leading, trailing or doubled dot).
    let mut previous = b'.';
    for &b in domain {
        if b == b'@' || (b == b'.' && previous == b'.') {
            return false;
        }
        previous = b;
    }
    value.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && previous != b'.'
        && value.chars().all(|c| match u8::try_from(c) {
            Ok(b) if b.is_ascii() => EMAIL_ASCII[usize::from(b)],
            _ => !c.is_whitespace() && !c.is_control(),
        })
}

/// Every string a metadata value holds, for the character rules.
pub(super) trait Strings {
    /// Calls `f` with each string, nested ones included.
    fn each(&self, f: &mut dyn FnMut(&str));
}

impl Strings for String {
    fn each(&self, f: &mut dyn FnMut(&str)) {
        f(self);
    }
}

impl Strings for bool {
    fn each(&self, _: &mut dyn FnMut(&str)) {}
}

impl Strings for u64 {
    fn each(&self, _: &mut dyn FnMut(&str)) {}
}

impl<T: Strings> Strings for Option<T> {
    fn each(&self, f: &mut dyn FnMut(&str)) {
        if let Some(value) = self {
            value.each(f);
        }
    }
}

impl<T: Strings> Strings for Vec<T> {
    fn each(&self, f: &mut dyn FnMut(&str)) {
        for value in self {
            value.each(f);
        }
    }
}

impl Strings for serde_json::Value {
    fn each(&self, f: &mut dyn FnMut(&str)) {
        match self {
            Self::String(s) => f(s),
            Self::Array(items) => items.iter().for_each(|v| v.each(f)),
            Self::Object(members) => {
                for (key, value) in members {
                    f(key);
                    value.each(f);
                }
            }
            _ => {}
        }
    }
}

macro_rules! text_strings {
    ($($ty:ident => $make:expr),+ $(,)?) => {
        $(
            impl Strings for $ty {
                fn each(&self, f: &mut dyn FnMut(&str)) {
                    f(self.as_str());
                }
            }
        )+
    };
}
with_text_types!(text_strings!());

macro_rules! member_strings {
    (; $($field:ident),+ $(,)?) => {
        /// Calls `f` with every typed member's name and each of its strings: the member list is
        /// the one the parser uses, so no member can be missed.
        pub(super) fn member_strings(m: &ClientMetadata, f: &mut dyn FnMut(&str, &str)) {
            $( m.$field.each(&mut |s| f(stringify!($field), s)); )+
        }
    };
}
with_members!(member_strings!());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts() {
        for ok in [
            "ops@app.example",
            "a.b+c@x",
            "o'brien@xn--bcher-kva.example",
        ] {
            assert!(plausible_email(ok), "{ok}");
        }
        let long = format!("{}@app.example", "a".repeat(250));
        let local = format!("{}@app.example", "a".repeat(65));
        for bad in [
            "",
            "@",
            "ops",
            "ops@",
            "@app.example",
            "a@b@c",
            "a b@c",
            "a@b..c",
            "a@.b",
            "a@b.",
            "Ops <ops@app.example>",
            "a,b@c",
            "a@b\u{0}",
            &long,
            &local,
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn characters() {
        assert_eq!(character_problem("client_name", "Bank"), None);
        assert_eq!(character_problem("client_name#ar", "بنك"), None);
        assert!(character_problem("software_id", "a\u{0}").is_some());
        assert!(character_problem("software_id", "a\u{85}").is_some());
        assert!(character_problem("client_name#en", "a\u{202e}").is_some());
        // Bidirectional controls are refused only where a consent screen shows them.
        assert_eq!(character_problem("software_id", "a\u{202e}"), None);
    }

    /// The plain statement of the character rule, which [`character_problem`] computes faster.
    fn character_problem_plain(field: &str, value: &str) -> Option<&'static str> {
        if value.chars().any(char::is_control) {
            return Some("control characters");
        }
        let base = field.split_once('#').map_or(field, |(base, _)| base);
        (LOCALIZABLE.contains(&base) && value.chars().any(is_bidi_control))
            .then_some("bidirectional override or isolate characters")
    }

    /// The plain statement of the contact rule, which [`plausible_email`] computes faster.
    fn plausible_email_plain(value: &str) -> bool {
        let Some((local, domain)) = value.split_once('@') else {
            return false;
        };
        value.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !domain.is_empty()
            && !domain.contains('@')
            && domain.split('.').all(|label| !label.is_empty())
            && !value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
    }

    proptest::proptest! {
        #[test]
        fn the_character_rule_agrees_with_its_plain_statement(
            value in "([ -~]{0,9}[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}é]?){0,4}",
            localized in proptest::bool::ANY,
        ) {
            let field = if localized { "client_name#en" } else { "software_id" };
            proptest::prop_assert_eq!(
                character_problem(field, &value),
                character_problem_plain(field, &value)
            );
        }

        #[test]
        fn the_contact_rule_agrees_with_its_plain_statement(
            value in "[a@.<>()\\[\\],;:\\\\\" \\t\\x00\\x7f\\u{85}\\u{a0}é]{0,12}",
        ) {
            proptest::prop_assert_eq!(plausible_email(&value), plausible_email_plain(&value));
        }
    }
}
