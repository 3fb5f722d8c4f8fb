//! Compact JWS built by hand (so that tests can make every kind of malformed or malicious
//! token), the issuer's software statements, and the registrar settings that trust them.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jws::JwsSigner;
use oauth_dcr::statements::{SignedRequests, SoftwareStatements, StaticKeySource};
use serde_json::{json, Value};

use super::{issuer_key, jwks, signer, ISSUER, REDIRECT, SOFTWARE_ID};

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).unwrap()
}

/// A compact JWS over exactly these header and payload bytes.
pub fn jws_raw(header: &str, payload: &str, signer: &dyn JwsSigner) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signature))
}

/// A compact JWS of these header and payload objects.
pub fn jws(header: &Value, payload: &Value, signer: &dyn JwsSigner) -> String {
    jws_raw(&header.to_string(), &payload.to_string(), signer)
}

/// A compact JWS of `claims` signed by the issuer's `alg` key, with `typ` JWT and the key's `kid`.
pub fn issuer_jws(alg: &str, claims: &Value) -> String {
    let (kid, pem) = issuer_key(alg);
    let header = json!({ "alg": alg, "typ": "JWT", "kid": kid });
    jws(&header, claims, signer(alg, pem).as_ref())
}

/// The issuer's header for `alg`, with extra members.
pub fn issuer_header(alg: &str, extra: Value) -> Value {
    let (kid, _) = issuer_key(alg);
    let mut header = json!({ "alg": alg, "typ": "JWT", "kid": kid });
    for (k, v) in extra.as_object().unwrap() {
        header[k] = v.clone();
    }
    header
}

/// A compact JWS of `claims` signed by the client software's ES256 key (`client-es256`).
pub fn client_jws(claims: &Value) -> String {
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "client-es256" });
    jws(
        &header,
        claims,
        signer("ES256", "client-es256.pem").as_ref(),
    )
}

/// The claims of a valid statement at `now`: issuer, times, and client metadata.
pub fn statement_claims(now: i64) -> Value {
    json!({
        "iss": ISSUER,
        "iat": now,
        "exp": now + 300,
        "software_id": SOFTWARE_ID,
        "client_name": "B",
        "redirect_uris": [REDIRECT],
    })
}

/// `claims` with members replaced (a `null` removes the member).
pub fn with(mut claims: Value, changes: Value) -> Value {
    let map = claims.as_object_mut().unwrap();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    claims
}

/// Software statements from `ISSUER`, verified with `issuer.jwks.json`.
pub fn trusting_issuer() -> SoftwareStatements {
    SoftwareStatements::new(Arc::new(
        StaticKeySource::new().with_issuer(ISSUER, jwks("issuer.jwks.json")),
    ))
}

/// Signed bodies verified with the client's key (`client.jwks.json`), for any issuer.
pub fn signed_by_the_client() -> SignedRequests {
    SignedRequests::new(Arc::new(
        StaticKeySource::new().with_any_issuer(jwks("client.jwks.json")),
    ))
}
