//! Software statements and signed request bodies. The first byte picks the mode:
//!
//! - 0: the rest, as a string, is the `software_statement` of a JSON registration body;
//! - 1: the rest is an `application/jwt` registration body (a signed request);
//! - 2: the rest is a JWK Set for `Jwks::from_json`; when it parses, it becomes the trusted
//!   issuer's key set and a fixed, validly signed statement is verified against it;
//! - 3: the rest is a JSON registration body for a registrar that verifies statements;
//! - 4 and 5: the rest builds a payload with claim times at their edges
//!   (`oauth_dcr_fuzz::claims_from_bytes`), which the trusted issuer's key signs: 4 sends it as
//!   a software statement, 5 as a signed request body, to a registrar with replay guards (and,
//!   for odd input lengths, a maximum age), so that every claim-time computation sees it.
//!
//! `jws.dict` holds the claim names and edge numbers for libFuzzer (`-dict=jws.dict`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_dcr::statements::Jwks;
use oauth_dcr_fuzz::{
    check_error, claims_from_bytes, guarded_registrar, issuer_jwks, issuer_signed,
    protected_registrar, register_body, Format, ISSUER,
};

/// A statement signed by the issuer's key (see `fuzz/make-corpus.sh`): a fixed input for mode 2.
const SIGNED_STATEMENT: &str = include_str!("../corpus/jws/statement-valid").trim_ascii();

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 6 {
        0 => {
            let statement = String::from_utf8_lossy(rest);
            let body = serde_json::json!({
                "redirect_uris": ["https://app.example/cb"],
                "software_statement": statement,
            });
            register(
                issuer_jwks(),
                &serde_json::to_vec(&body).unwrap(),
                Format::Json,
            );
        }
        1 => register(issuer_jwks(), rest, Format::Jwt),
        2 => {
            let Ok(keys) = Jwks::from_json(rest) else {
                return;
            };
            let body = serde_json::json!({
                "redirect_uris": ["https://app.example/cb"],
                "software_statement": SIGNED_STATEMENT.strip_prefix('\0').unwrap_or_default(),
            });
            register(keys, &serde_json::to_vec(&body).unwrap(), Format::Json);
        }
        3 => register(issuer_jwks(), rest, Format::Json),
        4 => {
            let statement = issuer_signed(&claims_from_bytes(rest, Some(ISSUER)));
            let body = serde_json::json!({
                "redirect_uris": ["https://app.example/cb"],
                "software_statement": statement,
            });
            let registrar = guarded_registrar(issuer_jwks(), rest.len() % 2 == 1);
            answer(
                &registrar,
                &serde_json::to_vec(&body).unwrap(),
                Format::Json,
            );
        }
        _ => {
            let body = issuer_signed(&claims_from_bytes(rest, None));
            let registrar = guarded_registrar(issuer_jwks(), rest.len() % 2 == 1);
            answer(&registrar, body.as_bytes(), Format::Jwt);
        }
    }
});

fn register(keys: Jwks, body: &[u8], format: Format) {
    answer(&protected_registrar(keys), body, format);
}

fn answer(registrar: &oauth_dcr::Registrar, body: &[u8], format: Format) {
    match register_body(registrar, body, format) {
        Ok(client) => assert!(!client.client_id.is_empty()),
        Err(e) => check_error(&e),
    }
}
