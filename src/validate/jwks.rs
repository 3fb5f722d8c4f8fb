//! Checks of a JWK Set given by value (`jwks`, RFC 7591 §2, RFC 7517 §5): public keys only, each
//! one decoded by the JOSE library the server will later verify and encrypt with, and strong
//! enough: RSA moduli of at least 2048 bits (RFC 7518 §3.3 and §4.2), elliptic curves of at least
//! 224 bits (FAPI 2.0 Security Profile §5.4.1), and only named curves the library knows.

use josekit::jwk::Jwk;
use serde_json::{Map, Value};

/// Members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3: "A key of size 2048 bits or
/// larger MUST be used").
pub(crate) const MIN_RSA_BITS: usize = 2048;

/// The largest RSA modulus accepted, in bits: OpenSSL's own limit for RSA operations, so that a
/// client cannot register a key the server could never use, or one costly to decode.
pub(crate) const MAX_RSA_BITS: usize = 16384;

/// The smallest elliptic curve accepted, in bits (FAPI 2.0 Security Profile §5.4.1: "shall
/// require ... elliptic curve keys with a minimum of 224 bits").
pub(crate) const MIN_EC_BITS: usize = 224;

/// How many keys of a set can serve each purpose.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usable {
    /// Keys that can verify the client's signatures (`use` absent or `sig`).
    pub(crate) signing: usize,
    /// Keys the server can encrypt to (`use` absent or `enc`).
    pub(crate) encryption: usize,
}

/// Checks that `set` is `{"keys": [...]}` of public keys the JOSE library decodes, each strong
/// enough; returns what the keys can be used for. A refused key is named by its index and `kid`.
pub(crate) fn check_public_set(set: &Value) -> Result<Usable, String> {
    let keys = set
        .as_object()
        .and_then(|o| o.get("keys"))
        .and_then(Value::as_array)
        .ok_or("must be an object with a `keys` array")?;
    let mut usable = Usable::default();
    for (i, key) in keys.iter().enumerate() {
        let (signs, encrypts) = check_public_key(key).map_err(|why| {
            let kid = key.get("kid").and_then(Value::as_str);
            match kid {
                Some(kid) => format!("key {i} (kid `{}`) {why}", super::printable(kid)),
                None => format!("key {i} {why}"),
            }
        })?;
        usable.signing += usize::from(signs);
        usable.encryption += usize::from(encrypts);
    }
    Ok(usable)
}

/// Checks one public key and returns whether it can sign and whether it can encrypt.
fn check_public_key(key: &Value) -> Result<(bool, bool), String> {
    let key = key.as_object().ok_or("is not an object")?;
    let kty = key
        .get("kty")
        .and_then(Value::as_str)
        .ok_or("has no `kty` string")?;
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| key.contains_key(**m)) {
        return Err(format!(
            "has the private member `{member}`: only public keys may be registered"
        ));
    }
    let required: &[&str] = match kty {
        "RSA" => &["n", "e"],
        "EC" => &["crv", "x", "y"],
        "OKP" => &["crv", "x"],
        "oct" => return Err("is a symmetric key: only public keys may be registered".to_owned()),
        other => {
            return Err(format!(
                "has the unsupported kty `{}`",
                super::printable(other)
            ))
        }
    };
    for member in required {
        if !key.get(*member).is_some_and(Value::is_string) {
            return Err(format!("({kty}) needs the string member `{member}`"));
        }
    }
    for member in ["kid", "use", "alg"] {
        if key.get(member).is_some_and(|v| !v.is_string()) {
            return Err(format!("has a `{member}` that is not a string"));
        }
    }
    let (signs, encrypts) = decode(kty, key)?;
    Ok(match key.get("use").and_then(Value::as_str) {
        None => (signs, encrypts),
        Some("sig") => (signs, false),
        Some("enc") => (false, encrypts),
        Some(_) => (false, false),
    })
}

/// Decodes the key material (and only it: `use`, `alg` and `key_ops` are the client's statement
/// of intent, not part of the key) with the JOSE library, after the strength rules; returns what
/// the kind of key can do.
fn decode(kty: &str, key: &Map<String, Value>) -> Result<(bool, bool), String> {
    use josekit::jwe::ECDH_ES;
    use josekit::jws::{EdDSA, ES256, ES256K, ES384, ES512, RS256};

    let crv = key.get("crv").and_then(Value::as_str).unwrap_or_default();
    let material: Map<String, Value> = ["kty", "crv", "n", "e", "x", "y"]
        .iter()
        .filter_map(|m| Some(((*m).to_owned(), key.get(*m)?.clone())))
        .collect();
    let jwk = Jwk::from_map(material).map_err(|e| malformed(kty, &e))?;
    // OpenSSL 3.0 must not decode keys concurrently (see `statements::KEY_DECODING`). Nothing is
    // left half-done by a panic while it is held: the guard protects no data.
    let decoded = |f: &dyn Fn() -> Result<(), josekit::JoseError>| {
        let _decoding = crate::statements::KEY_DECODING
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f().map_err(|e| malformed(kty, &e))
    };
    match kty {
        "RSA" => {
            let bits = rsa_bits(key)?;
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "is an RSA key of {bits} bits: at least {MIN_RSA_BITS} are required (RFC 7518 §3.3)"
                ));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!(
                    "is an RSA key of {bits} bits: at most {MAX_RSA_BITS} are supported"
                ));
            }
            decoded(&|| RS256.verifier_from_jwk(&jwk).map(drop))?;
            Ok((true, true))
        }
        "EC" => {
            let (bits, alg) = match crv {
                "P-256" => (256, ES256),
                "P-384" => (384, ES384),
                "P-521" => (521, ES512),
                "secp256k1" => (256, ES256K),
                // Not a registered JOSE curve and not one the library decodes, but clients send
                // it: refused for its size (FAPI 2.0 §5.4.1), which says more than its name.
                "P-192" => {
                    check_ec_bits(crv, 192)?;
                    return Err(unsupported_curve(crv));
                }
                other => return Err(unsupported_curve(other)),
            };
            check_ec_bits(crv, bits)?;
            decoded(&|| alg.verifier_from_jwk(&jwk).map(drop))?;
            Ok((true, true))
        }
        _ => match crv {
            "Ed25519" | "Ed448" => {
                decoded(&|| EdDSA.verifier_from_jwk(&jwk).map(drop))?;
                Ok((true, false))
            }
            "X25519" | "X448" => {
                decoded(&|| ECDH_ES.encrypter_from_jwk(&jwk).map(drop))?;
                Ok((false, true))
            }
            other => Err(unsupported_curve(other)),
        },
    }
}

/// The shared elliptic curve strength rule (FAPI 2.0 Security Profile §5.4.1).
pub(crate) fn check_ec_bits(crv: &str, bits: usize) -> Result<(), String> {
    if bits < MIN_EC_BITS {
        return Err(format!(
            "uses the {bits}-bit curve `{crv}`: at least {MIN_EC_BITS} bits are required"
        ));
    }
    Ok(())
}

/// The size of an RSA key's modulus `n` in bits, leading zero bits not counted.
fn rsa_bits(key: &Map<String, Value>) -> Result<usize, String> {
    use base64::Engine as _;
    let n = key.get("n").and_then(Value::as_str).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .map_err(|_| "has an `n` that is not base64url".to_owned())?;
    let Some(first) = bytes.iter().position(|b| *b != 0) else {
        return Ok(0);
    };
    let significant = bytes.len() - first;
    Ok(significant * 8 - bytes[first].leading_zeros() as usize)
}

fn unsupported_curve(crv: &str) -> String {
    format!("uses the unsupported curve `{}`", super::printable(crv))
}

/// The JOSE library's own text (OpenSSL's, underneath) stays out of the client's answer: it
/// names library internals, not the client's mistake.
fn malformed(kty: &str, _error: &josekit::JoseError) -> String {
    format!("is not a valid {kty} public key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RSA_2048_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn public_keys_pass_private_and_symmetric_fail() {
        let rsa = json!({"kty":"RSA","n":RSA_2048_N,"e":"AQAB","kid":"1"});
        let ec = json!({"kty":"EC","crv":"P-256","use":"sig",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert_eq!(
            check_public_set(&json!({"keys":[rsa, ec]})),
            Ok(Usable {
                signing: 2,
                encryption: 1
            })
        );
        for bad in [
            json!({"keys":[{"kty":"RSA","n":"0vx7","e":"AQAB","d":"X4cT"}]}),
            json!({"keys":[{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg"}]}),
            json!({"keys":[{"kty":"EC","crv":"P-256","x":"f83O"}]}),
            json!({"keys":[{"kty":"RSA","n":"0vx7","e":"AQAB"}]}),
            json!({"keys":"nope"}),
            json!([]),
        ] {
            assert!(check_public_set(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modulus_bits_ignore_leading_zeros() {
        let key = |n: &[u8]| {
            use base64::Engine as _;
            let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n);
            json!({ "n": n }).as_object().cloned().unwrap_or_default()
        };
        assert_eq!(rsa_bits(&key(&[0, 0, 1])), Ok(1));
        assert_eq!(rsa_bits(&key(&[0x80, 0])), Ok(16));
        assert_eq!(rsa_bits(&key(&[0; 4])), Ok(0));
        assert_eq!(rsa_bits(&key(&[])), Ok(0));
    }

    #[test]
    fn curves_under_224_bits_are_refused() {
        assert!(check_ec_bits("P-192", 192).is_err());
        assert!(check_ec_bits("P-224", 224).is_ok());
    }
}
