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

/// What `value`, a string in the member `field`, must not contain, if it does.
pub(super) fn character_problem(field: &str, value: &str) -> Option<&'static str> {
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Some("control characters");
    }
    if value.is_ascii() {
        return None;
    }
    if value.chars().any(char::is_control) {
        return Some("control characters");
    }
    let base = field.split_once('#').map_or(field, |(base, _)| base);
    (LOCALIZABLE.contains(&base) && value.chars().any(is_bidi_control))
        .then_some("bidirectional override or isolate characters")
}

/// Whether `value` is plausibly one e-mail address (OpenID Connect Registration §2: `contacts`
/// are e-mail addresses): at most 254 bytes (RFC 5321 §4.5.3.1.3), one `@` between a local part
/// of at most 64 bytes and a domain of non-empty labels, no spaces, controls or the characters
/// that make a display form (`Name <a@b>`) or a list.
pub(super) fn plausible_email(value: &str) -> bool {
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
}
