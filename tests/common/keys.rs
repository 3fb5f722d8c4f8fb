//! The test keys: `tests/data/keys/` (see its README) and the hostile corpus' own
//! `tests/hostile/keys/`. Every test reads these files; no test generates a key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use josekit::jws::JwsSigner;
use oauth_dcr::statements::Jwks;
use serde_json::{json, Value};

/// The statement algorithms the crate accepts by default, with the issuer key for each.
pub const ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// A 1024-bit RSA modulus (`openssl genrsa 1024`): a key too weak for any client.
pub const RSA_1024_N: &str = "6hSzeOgFwUJ_wQOKO4QpD6O95exdV6aOHSGRTqKekzrqY_6BcHPmnd65jFbkpATAtdabr3dj7k7vFACGiZwswkE__UpmhI3-dI2hNeYkvC8ViYsayJNnTIgR63ZGpJKJ59qFNrGZezOl93d1zI9tNDr5kPvGon26wV6p9ezE-ac";

/// The RFC 7517 Appendix A.1 P-256 public key's coordinates.
pub const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
pub const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

/// The path of a file of `tests/data/keys/`.
pub fn key_path(name: &str) -> String {
    format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A file of `tests/data/keys/`.
pub fn key_file(name: &str) -> Vec<u8> {
    let path = key_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A JWK Set of `tests/data/keys/`.
pub fn jwks(name: &str) -> Jwks {
    Jwks::from_json(&key_file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A JWK Set of `tests/data/keys/` as JSON.
pub fn jwks_json(name: &str) -> Value {
    serde_json::from_slice(&key_file(name)).unwrap()
}

/// A file of `tests/hostile/keys/` (see the README there).
pub fn hostile_key_file(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/hostile/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The one JWK of a `tests/hostile/keys/` file, as a JWK Set.
pub fn hostile_jwks(name: &str) -> Jwks {
    let key: Value = serde_json::from_slice(&hostile_key_file(name)).unwrap();
    Jwks::from_json(json!({ "keys": [key] }).to_string().as_bytes()).unwrap()
}

/// A josekit signer for `alg` from a PEM private key of `tests/data/keys/`.
///
/// The first call decodes an RSA-PSS key before any other: OpenSSL 3.0 fails on threads that
/// decode the process's first RSA-PSS keys at the same moment (see `tests/concurrent_keys.rs`),
/// and the crate can serialize only its own decoding, not these helpers'. Every test signs
/// before the crate verifies, so no decoding in a test binary races the first.
pub fn signer(alg: &str, pem_file: &str) -> Box<dyn JwsSigner> {
    signer_from_pem(alg, &key_file(pem_file))
}

/// A josekit signer for `alg` from these PEM bytes (see [`signer`]).
pub fn signer_from_pem(alg: &str, pem: &[u8]) -> Box<dyn JwsSigner> {
    use josekit::jws::{EdDSA, ES256, PS256, RS256, RS384};
    static FIRST_RSA_PSS: std::sync::Once = std::sync::Once::new();
    FIRST_RSA_PSS.call_once(|| {
        let pem = key_file("issuer-ps256.pem");
        let mut jwk = RS256.key_pair_from_pem(&pem).unwrap().to_jwk_private_key();
        jwk.set_algorithm("PS256");
        PS256.signer_from_jwk(&jwk).unwrap();
    });
    match alg {
        "RS256" => Box::new(RS256.signer_from_pem(pem).unwrap()),
        "RS384" => Box::new(RS384.signer_from_pem(pem).unwrap()),
        // josekit reads a PS256 key from PEM only in the RSASSA-PSS PKCS#8 form; the test keys are
        // plain RSA keys (as `openssl genpkey -algorithm RSA` writes them), so go through a JWK.
        "PS256" => {
            let mut jwk = RS256.key_pair_from_pem(pem).unwrap().to_jwk_private_key();
            jwk.set_algorithm("PS256");
            Box::new(PS256.signer_from_jwk(&jwk).unwrap())
        }
        "ES256" => Box::new(ES256.signer_from_pem(pem).unwrap()),
        "EdDSA" => Box::new(EdDSA.signer_from_pem(pem).unwrap()),
        other => panic!("no test signer for {other}"),
    }
}

/// The issuer's key id and PEM file for `alg`.
pub fn issuer_key(alg: &str) -> (&'static str, &'static str) {
    match alg {
        "RS256" => ("issuer-rs256", "issuer-rs256.pem"),
        "PS256" => ("issuer-ps256", "issuer-ps256.pem"),
        "ES256" => ("issuer-es256", "issuer-es256.pem"),
        "EdDSA" => ("issuer-eddsa", "issuer-eddsa.pem"),
        other => panic!("the issuer has no {other} key"),
    }
}

/// The DER of a PEM document (the body between the armour lines, base64-decoded).
pub fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// The standard base64 of a certificate's DER, as `x5c` carries it.
pub fn x5c(pem_file: &str) -> String {
    STANDARD.encode(pem_to_der(&key_file(pem_file)))
}
