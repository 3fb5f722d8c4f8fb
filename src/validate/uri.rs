//! URI rules: redirect URIs (RFC 9700 §2.1, RFC 8252, OIDC Registration §2) and the other URL
//! metadata (RFC 7591 §2 and §5).
//!
//! Every URI is parsed once with the WHATWG parser of the `url` crate and must already be in the
//! form that parser serializes it to: a URI that changes when normalised (case, default port, dot
//! segments, percent-encoding, IDN, numeric IPv4 forms) is refused, so the string the client
//! registers is exactly the one the authorization endpoint later compares byte for byte.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::fetch::{is_loopback_name, is_public_ip};

use crate::metadata::ApplicationType;
use crate::policy::{RedirectPolicy, ServerPolicy};

/// Schemes refused in any URI, compared case-insensitively (`JavaScript:` is `javascript:`).
const DANGEROUS_SCHEMES: [&str; 8] = [
    "javascript",
    "vbscript",
    "data",
    "blob",
    "file",
    "about",
    "filesystem",
    "view-source",
];

/// Checks one redirect URI (or post-logout redirect URI) for the given application type, and
/// returns the host it sends the user agent to (see [`remote_host`]). Returns a lowercase message
/// on refusal.
pub(crate) fn check_redirect<'a>(
    uri: &'a str,
    application_type: &ApplicationType,
    rules: &RedirectPolicy,
) -> Result<Option<Cow<'a, str>>, String> {
    if uri.len() > rules.max_uri_len {
        return Err(format!("is longer than {} bytes", rules.max_uri_len));
    }
    // What the fast path proves canonical is printable ASCII without `#` or `*` with the https
    // scheme: it passes the character checks below, which only the other URIs need.
    if let Some(host) = canonical_https(uri) {
        if is_loopback_name(host) {
            return Err("must not use a loopback host with https".to_owned());
        }
        return Ok(Some(Cow::Borrowed(host)));
    }
    check_characters(uri)?;
    if uri.contains('#') {
        return Err("must not contain a fragment".to_owned());
    }
    if uri.contains('*') {
        return Err("must not contain wildcards".to_owned());
    }
    let url = check_parsed_redirect(uri, application_type, rules)?;
    Ok(remote_host(&url).map(|host| Cow::Owned(host.to_owned())))
}

/// The rules of [`check_redirect`] on a URI the WHATWG parser reads.
fn check_parsed_redirect(
    uri: &str,
    application_type: &ApplicationType,
    rules: &RedirectPolicy,
) -> Result<Url, String> {
    let url = parse_canonical(uri)?;
    match url.scheme() {
        "https" => {
            // OIDC Registration §2, RFC 8252 §8.3: loopback is for native clients over http.
            // Every spelling counts: all of 127.0.0.0/8, IPv4-mapped loopback, the unspecified
            // addresses (which connect to this host) and `localhost.`.
            if is_loopback(&url, true) || is_local_literal(&url) {
                return Err("must not use a loopback host with https".to_owned());
            }
            Ok(url)
        }
        "http" => {
            let literal = is_loopback(&url, false);
            let named = is_loopback(&url, true) && !literal;
            if named && !rules.allow_localhost {
                return Err(
                    "must use the loopback IP literal 127.0.0.1 or [::1], not `localhost`"
                        .to_owned(),
                );
            }
            if !literal && !named {
                return Err("must use https (plain http is allowed only on loopback)".to_owned());
            }
            match application_type {
                ApplicationType::Native => Ok(url),
                _ if rules.dangerously_allow_http_loopback_for_web => Ok(url),
                _ => Err(
                    "must use https for a web client (loopback http is for native clients)"
                        .to_owned(),
                ),
            }
        }
        scheme => {
            if *application_type != ApplicationType::Native {
                return Err(format!(
                    "uses the private-use scheme `{scheme}`, which only native clients may register"
                ));
            }
            if !scheme.contains('.') {
                return Err(format!(
                    "uses the private-use scheme `{scheme}`, which is not in reverse domain form (RFC 8252 §7.1)"
                ));
            }
            Ok(url)
        }
    }
}

/// The host of `uri` when it is, certainly, an https URL already in the exact form the WHATWG
/// parser serializes it to: lowercase `https://`, a domain of lowercase letters, digits and
/// hyphens whose last label starts with a letter (so it is not read as an IPv4 address) and none
/// of which is an IDNA `xn--` label, an optional port other than 443 without leading zeros, a
/// path of characters the parser keeps as they are with no `.` or `..` segment, and an optional
/// query of such characters. `None` means "not proven": the URI then goes through the parser.
/// A registration usually sends such URIs, and this check costs a fraction of a parse.
fn canonical_https(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("https://")?;
    let bytes = rest.as_bytes();
    // One pass over the host: labels of `[a-z0-9-]`, none empty, none `xn--`.
    let mut at = 0;
    let mut label = 0;
    let end = loop {
        match *bytes.get(at)? {
            b'a'..=b'z' | b'0'..=b'9' | b'-' => {}
            b @ (b'.' | b':' | b'/' | b'?') => {
                let this = &bytes[label..at];
                if this.is_empty() || this.starts_with(b"xn--") {
                    return None;
                }
                if b != b'.' {
                    break b;
                }
                label = at + 1;
            }
            _ => return None,
        }
        at += 1;
    };
    // The last label starts with a letter: the parser does not read the host as IPv4.
    if !bytes[label].is_ascii_lowercase() {
        return None;
    }
    let host = &rest[..at];
    if end == b':' {
        let port = at + 1;
        at = port + bytes[port..].iter().position(|b| !b.is_ascii_digit())?;
        if !canonical_port(&rest[port..at]) {
            return None;
        }
    }
    // The path: `/`, then segments of kept characters, none `.` or `..`, up to `?` or the end.
    if bytes.get(at) != Some(&b'/') {
        return None;
    }
    let mut segment = at + 1;
    at += 1;
    loop {
        match bytes.get(at) {
            None | Some(b'?' | b'/') => {
                if matches!(&bytes[segment..at], b"." | b"..") {
                    return None;
                }
                if bytes.get(at) != Some(&b'/') {
                    break;
                }
                segment = at + 1;
            }
            Some(&b) if KEPT_IN_PATH[usize::from(b)] => {}
            Some(_) => return None,
        }
        at += 1;
    }
    let query = bytes.get(at + 1..).unwrap_or_default();
    query
        .iter()
        .all(|&b| KEPT_IN_QUERY[usize::from(b)])
        .then_some(host)
}

/// A 256-entry membership table: ASCII letters and digits, and `extra`.
const fn byte_set(extra: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    let mut b = 0;
    while b < 128 {
        set[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        set[extra[i] as usize] = true;
        i += 1;
    }
    set
}

/// Path characters the WHATWG parser keeps as they are (a conservative subset).
const KEPT_IN_PATH: [bool; 256] = byte_set(b"-._~!$&'()+,;=:@/");
/// Query characters it keeps as they are in a special URL (no `'`, which it encodes there).
const KEPT_IN_QUERY: [bool; 256] = byte_set(b"-._~!$&()+,;=:@/?");

/// Digits without a leading zero, at most 65535, not https' default 443 (which the parser drops).
fn canonical_port(port: &str) -> bool {
    !port.starts_with('0')
        && (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| p <= 65535 && p != 443)
}

/// Checks a URL metadata value (`client_uri`, `jwks_uri`, …): absolute, canonical, https (or
/// http when the policy dangerously allows it), with a host and no userinfo.
pub(crate) fn check_web_uri(
    uri: &str,
    policy: &ServerPolicy,
    allow_fragment: bool,
) -> Result<Url, String> {
    if uri.len() > policy.redirect.max_uri_len {
        return Err(format!(
            "is longer than {} bytes",
            policy.redirect.max_uri_len
        ));
    }
    check_characters(uri)?;
    if !allow_fragment && uri.contains('#') {
        return Err("must not contain a fragment".to_owned());
    }
    let url = parse_canonical(uri)?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if policy.dangerously_allow_http_metadata_uris => Ok(url),
        scheme => Err(format!("must use https, not `{scheme}`")),
    }
}

/// Refuses empty URIs, whitespace and control characters anywhere (the WHATWG parser would strip
/// some of them silently) and the dangerous schemes in any letter case.
fn check_characters(uri: &str) -> Result<(), String> {
    if uri.is_empty() {
        return Err("must not be empty".to_owned());
    }
    // Printable ASCII has neither; only other text needs the Unicode classes.
    let printable = uri.bytes().all(|b| (0x21..0x7F).contains(&b));
    if !printable && uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    if let Some((scheme, _)) = uri.split_once(':') {
        if let Some(dangerous) = DANGEROUS_SCHEMES
            .iter()
            .find(|d| d.eq_ignore_ascii_case(scheme))
        {
            return Err(format!("uses the forbidden scheme `{dangerous}`"));
        }
    }
    Ok(())
}

/// Parses an absolute URI and requires it to be canonical, allowing only an omitted root path
/// (`https://app.example` for `https://app.example/`). Refuses userinfo.
fn parse_canonical(uri: &str) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|e| format!("is not an absolute URI ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() || has_userinfo(uri) {
        return Err("must not contain userinfo".to_owned());
    }
    if url.as_str() != uri && !only_root_path_added(uri, url.as_str()) {
        return Err(format!(
            "is not in canonical form (it would be read as `{}`)",
            url.as_str()
        ));
    }
    if url.has_authority() && url.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".to_owned());
    }
    Ok(url)
}

/// `@` in the authority part, even when the parser would drop an empty userinfo.
fn has_userinfo(uri: &str) -> bool {
    let Some((_, rest)) = uri.split_once("//") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.contains('@')
}

/// Whether `serialized` is `original` with only a `/` root path inserted after the authority.
fn only_root_path_added(original: &str, serialized: &str) -> bool {
    let Some(scheme_end) = original.find("://") else {
        return false;
    };
    let authority_end = original[scheme_end + 3..]
        .find(['/', '?'])
        .map_or(original.len(), |i| i + scheme_end + 3);
    if original[authority_end..].starts_with('/') {
        return false;
    }
    let mut repaired = String::with_capacity(original.len() + 1);
    repaired.push_str(&original[..authority_end]);
    repaired.push('/');
    repaired.push_str(&original[authority_end..]);
    repaired == serialized
}

/// The host a redirect URI sends the user agent to, for trusted-host rules: any domain or IP
/// literal, except the loopback IP literals of native apps (the user's own device). `None` for
/// private-use schemes without a host.
pub(crate) fn remote_host(url: &Url) -> Option<&str> {
    if is_loopback(url, false) {
        return None;
    }
    url.host_str().filter(|h| !h.is_empty())
}

/// Whether the parsed host is one of the RFC 8252 §7.3 loopback IP literals (`127.0.0.1`,
/// `[::1]`), or (with `names`) `localhost` or a `.localhost` name, with or without a trailing
/// dot. Decided on the parsed host, never on a string prefix.
fn is_loopback(url: &Url, names: bool) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        Some(Host::Domain(d)) => names && is_loopback_name(d),
        None => false,
    }
}

/// Whether the parsed host is any IP literal of this machine: all of 127.0.0.0/8, `0.0.0.0`,
/// `[::1]`, `[::]`, and their IPv4-mapped and IPv4-compatible forms.
fn is_local_literal(url: &Url) -> bool {
    let v4 = |ip: Ipv4Addr| ip.is_loopback() || ip.is_unspecified();
    match url.host() {
        Some(Host::Ipv4(ip)) => v4(ip),
        Some(Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.is_unspecified() || ip.to_ipv4().is_some_and(v4)
        }
        _ => false,
    }
}

/// Why the authorization server must not fetch or call `url` (RFC 9700 §4.15, the SSRF class of
/// `jwks_uri`, `sector_identifier_uri` and back-channel endpoints): an IP literal outside the
/// public ranges (the fetcher's own rule, [`is_public_ip`]) or a loopback name. `None` when the
/// host is a public address or any other name (which the fetcher checks again once resolved).
pub(crate) fn non_public_host(url: &Url) -> Option<&'static str> {
    match url.host()? {
        Host::Ipv4(ip) if !is_public_ip(IpAddr::V4(ip)) => Some("is on a non-public address"),
        Host::Ipv6(ip) if !is_public_ip(IpAddr::V6(ip)) => Some("is on a non-public address"),
        Host::Domain(d) if is_loopback_name(d) => Some("is on a loopback host"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(uri: &str) -> Result<Option<Cow<'_, str>>, String> {
        check_redirect(uri, &ApplicationType::Web, &RedirectPolicy::default())
    }

    fn native(uri: &str) -> Result<Option<Cow<'_, str>>, String> {
        check_redirect(uri, &ApplicationType::Native, &RedirectPolicy::default())
    }

    #[test]
    fn web_clients() {
        for ok in [
            "https://app.example/cb",
            "https://tmp.com",
            "https://app.example:8443/cb?x=1",
            "https://xn--pple-43d.com/cb",
        ] {
            assert!(web(ok).is_ok(), "{ok}: {:?}", web(ok));
        }
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#",
            "https://app.example/cb#x",
            "https://*.app.example/cb",
            "https://user@app.example/cb",
            "https://@app.example/cb",
            "https://localhost/cb",
            "https://localhost./cb",
            "https://app.localhost./cb",
            "https://127.0.0.1/cb",
            "https://127.0.0.2/cb",
            "https://0.0.0.0/cb",
            "https://[::1]/cb",
            "https://[::]/cb",
            "https://[::ffff:7f00:1]/cb",
            "https://[::7f00:1]/cb",
            "http://127.0.0.1/cb",
            "HTTPS://app.example/cb",
            "https://APP.example/cb",
            "https://app.example:443/cb",
            "https://app.example/a/../cb",
            "https://app.example/%2e%2e/cb",
            "https://аpple.com/cb",
            " https://app.example/cb",
            "https://app.example/c b",
            "https://app.example/cb\n",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "/relative",
            "com.example.app:/cb",
            "",
        ] {
            assert!(web(bad).is_err(), "{bad}");
        }
    }

    /// The plain statement of [`canonical_https`], part by part: the fast path's twin.
    fn canonical_https_plain(uri: &str) -> Option<&str> {
        let rest = uri.strip_prefix("https://")?;
        let authority_end = rest.bytes().position(|b| b == b'/' || b == b'?')?;
        let (authority, path_and_query) = rest.split_at(authority_end);
        let (host, port) = match authority.bytes().position(|b| b == b':') {
            Some(colon) => (&authority[..colon], Some(&authority[colon + 1..])),
            None => (authority, None),
        };
        if !port.is_none_or(canonical_port) || !canonical_domain(host) {
            return None;
        }
        let (path, query) = match path_and_query.bytes().position(|b| b == b'?') {
            Some(mark) => (&path_and_query[..mark], Some(&path_and_query[mark + 1..])),
            None => (path_and_query, None),
        };
        let path_ok = path.starts_with('/')
            && path.bytes().all(|b| KEPT_IN_PATH[usize::from(b)])
            && !path
                .as_bytes()
                .split(|&b| b == b'/')
                .any(|segment| segment == b"." || segment == b"..");
        let query_ok = query.is_none_or(|q| q.bytes().all(|b| KEPT_IN_QUERY[usize::from(b)]));
        (path_ok && query_ok).then_some(host)
    }

    /// Dot-separated labels of `[a-z0-9-]`, none empty, none an IDNA `xn--` label, the last one
    /// starting with a letter.
    fn canonical_domain(host: &str) -> bool {
        let mut labels = host.as_bytes().split(|&b| b == b'.');
        let label_ok = |label: &[u8]| {
            !label.is_empty()
                && !label.starts_with(b"xn--")
                && label
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        };
        let mut last = None;
        let all_ok = labels.all(|label| {
            last = Some(label);
            label_ok(label)
        });
        all_ok
            && last
                .and_then(|l| l.first())
                .is_some_and(u8::is_ascii_lowercase)
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_agrees_with_its_plain_statement(
            uri in "(https?://)?(xn--)?[a-z0-9.:@-]{0,12}([/?][a-z./?:%'|-]{0,12})?"
        ) {
            proptest::prop_assert_eq!(canonical_https(&uri), canonical_https_plain(&uri));
        }
    }

    /// What the fast path accepts, the parser reads as the same URL with the same host, and the
    /// full rules accept.
    fn agrees_with_the_parser(uri: &str) {
        let Some(host) = canonical_https(uri) else {
            return;
        };
        assert!(check_characters(uri).is_ok(), "{uri}");
        assert!(!uri.contains('#') && !uri.contains('*'), "{uri}");
        let url = Url::parse(uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(url.as_str(), uri);
        assert_eq!(url.host_str(), Some(host), "{uri}");
        assert!(matches!(url.host(), Some(Host::Domain(_))), "{uri}");
        if !host.ends_with("localhost") {
            assert!(web(uri).is_ok(), "{uri}");
            let parsed =
                check_parsed_redirect(uri, &ApplicationType::Web, &RedirectPolicy::default());
            assert!(parsed.is_ok(), "{uri}: {parsed:?}");
        }
    }

    #[test]
    fn the_fast_path_accepts_only_what_the_parser_keeps() {
        for ok in [
            "https://app.example/cb",
            "https://a-b.example:8443/x/y?z=1&w=/v",
            "https://app.example/cb?a=b?c",
            "https://x1.example/!$&'()+,;=:@",
        ] {
            assert!(canonical_https(ok).is_some(), "{ok}");
            agrees_with_the_parser(ok);
        }
        for unproven in [
            "https://app.example",
            "https://app.example?x",
            "https://App.example/cb",
            "https://app.example:443/cb",
            "https://app.example:0443/cb",
            "https://app.example:/cb",
            "https://app.example:99999/cb",
            "https://1.2.3.4/cb",
            "https://app.0x7f/cb",
            "https://app.123/cb",
            "https://app.example./cb",
            "https://app..example/cb",
            "https://xn--pple-43d.com/cb",
            "https://user@app.example/cb",
            "https://[::1]/cb",
            "https://app.example/a/../cb",
            "https://app.example/a/./cb",
            "https://app.example/%2e/cb",
            "https://app.example/a\\b",
            "https://app.example/a|b",
            "https://app.example/cb?it's",
            "https://app_1.example/cb",
            "HTTPS://app.example/cb",
            "http://app.example/cb",
        ] {
            assert!(canonical_https(unproven).is_none(), "{unproven}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_agrees_with_the_parser(
            uri in "https://[a-z0-9.-]{1,12}(:[0-9]{1,6})?(/[a-zA-Z0-9._~!$&'()+,;=:@%|/-]{0,12})?(\\?[a-zA-Z0-9._~!$&'()+,;=:@/?-]{0,8})?"
        ) {
            agrees_with_the_parser(&uri);
        }
    }

    #[test]
    fn hosts_the_server_would_call() {
        let refused = |uri: &str| non_public_host(&Url::parse(uri).unwrap());
        for private in [
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/",
            "https://127.0.0.2/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:a00:1]/",
            "https://localhost/",
            "https://localhost./",
            "https://a.localhost/",
        ] {
            assert!(refused(private).is_some(), "{private}");
        }
        for public in [
            "https://93.184.216.34/",
            "https://[2606:4700::1111]/",
            "https://app.example/",
            "https://localhost.app.example/",
        ] {
            assert_eq!(refused(public), None, "{public}");
        }
    }

    #[test]
    fn native_clients() {
        for ok in [
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51004/cb",
            "http://[::1]:8080/",
            "com.example.app:/oauth2redirect",
            "https://app.example/cb",
        ] {
            assert!(native(ok).is_ok(), "{ok}: {:?}", native(ok));
        }
        for bad in [
            "http://localhost/cb",
            "http://localhost.evil.example/cb",
            "http://127.0.0.1.nip.io/cb",
            "http://2130706433/cb",
            "http://0x7f.1/cb",
            "http://127.1/cb",
            "https://localhost/cb",
            "myapp:/cb",
            "http://example.com/cb",
            "http://localhost@evil.example/cb",
        ] {
            assert!(native(bad).is_err(), "{bad}");
        }
        let rules = RedirectPolicy {
            allow_localhost: true,
            ..RedirectPolicy::default()
        };
        assert!(
            check_redirect("http://localhost:3000/cb", &ApplicationType::Native, &rules).is_ok()
        );
    }
}
