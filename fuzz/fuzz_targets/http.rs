//! Bearer header parsing and the HTTP adapter. The first byte picks the mode:
//!
//! - 0: the rest is an `Authorization` header value for `http::bearer_token`;
//! - 1: the rest is an HTTP request for `http::handle`: a method line, a path line, header lines
//!   `name: value`, an empty line, then the body. `$ID` and `$TOKEN` in the path and the header
//!   values and the body stand for a registered client's identifier and its registration access
//!   token, so the fuzzer reaches the authorized code paths.

#![no_main]

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use libfuzzer_sys::fuzz_target;
use oauth_dcr::RequestContext;
use oauth_dcr_fuzz::{block_on, check_response, plain_registrar, register_body, Format};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        bearer(rest);
    } else {
        handle(rest);
    }
});

fn bearer(value: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value.clone());
    if let Some(token) = oauth_dcr::http::bearer_token(&headers) {
        // RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
        let body = token.trim_end_matches('=');
        assert!(!body.is_empty(), "empty token from {value:?}");
        assert!(
            body.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)),
            "token {token:?} outside b64token"
        );
        let text = value
            .to_str()
            .expect("a token comes from a visible-ASCII header");
        assert!(
            text.ends_with(token),
            "token {token:?} is not the end of {text:?}"
        );
    }
}

fn handle(input: &[u8]) {
    let registrar = plain_registrar();
    let client = register_body(
        &registrar,
        br#"{"redirect_uris":["https://app.example/cb"]}"#,
        Format::Json,
    )
    .expect("the fixture client registers");
    let id = client.client_id.as_bytes();
    let token = client
        .registration_access_token
        .as_ref()
        .expect("a token is issued")
        .secret()
        .as_bytes();
    let substitute = |bytes: &[u8]| replace(&replace(bytes, b"$ID", id), b"$TOKEN", token);

    let mut lines = input.splitn(3, |b| *b == b'\n');
    let (Some(method), Some(path)) = (lines.next(), lines.next()) else {
        return;
    };
    let rest = lines.next().unwrap_or_default();
    let Ok(method) = http::Method::from_bytes(method) else {
        return;
    };
    let Ok(uri) = http::Uri::try_from(substitute(path)) else {
        return;
    };
    let (head, body) = match find(rest, b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let mut request = http::Request::new(substitute(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(&line[..colon]);
        let value = HeaderValue::from_bytes(&substitute(line[colon + 1..].trim_ascii()));
        if let (Ok(name), Ok(value)) = (name, value) {
            request.headers_mut().append(name, value);
        }
    }
    let response = block_on(oauth_dcr::http::handle(
        &registrar,
        request,
        &RequestContext::new(),
    ));
    check_response(&response);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
