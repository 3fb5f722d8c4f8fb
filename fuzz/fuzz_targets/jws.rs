//! Software statements and signed request bodies. The first byte picks the mode:
//!
//! - 0: the rest, as a string, is the `software_statement` of a JSON registration body;
//! - 1: the rest is an `application/jwt` registration body (a signed request);
//! - 2: the rest is a JWK Set for `Jwks::from_json`; when it parses, it becomes the trusted
//!   issuer's key set and a fixed, validly signed statement is verified against it;
//! - 3: the rest is a JSON registration body for a registrar that verifies statements.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_dcr::{BodyFormat, Jwks, RequestContext};
use oauth_dcr_fuzz::{block_on, check_error, issuer_jwks, protected_registrar};

/// A statement signed by the issuer's key (see `fuzz/make-corpus.sh`): a fixed input for mode 2.
const SIGNED_STATEMENT: &str = include_str!("../corpus/jws/statement-valid").trim_ascii();

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let statement = String::from_utf8_lossy(rest);
            let body = serde_json::json!({
                "redirect_uris": ["https://app.example/cb"],
                "software_statement": statement,
            });
            register(
                issuer_jwks(),
                &serde_json::to_vec(&body).unwrap(),
                BodyFormat::Json,
            );
        }
        1 => register(issuer_jwks(), rest, BodyFormat::Jwt),
        2 => {
            let Ok(keys) = Jwks::from_json(rest) else {
                return;
            };
            let body = serde_json::json!({
                "redirect_uris": ["https://app.example/cb"],
                "software_statement": SIGNED_STATEMENT.strip_prefix('\0').unwrap_or_default(),
            });
            register(keys, &serde_json::to_vec(&body).unwrap(), BodyFormat::Json);
        }
        _ => register(issuer_jwks(), rest, BodyFormat::Json),
    }
});

fn register(keys: Jwks, body: &[u8], format: BodyFormat) {
    let registrar = protected_registrar(keys);
    let context = RequestContext::new().with_body_format(format);
    match block_on(registrar.register(body, &context)) {
        Ok(client) => assert_eq!(client.status, 201),
        Err(e) => check_error(&e),
    }
}
