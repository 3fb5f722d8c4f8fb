//! A federation's entities for the tests: generated ES256 federation keys, entity statements
//! signed with them, and the claims of one entity's statement about another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jws::{JwsSigner, ES256};
use serde_json::{json, Value};

use super::{with, START};

/// A federation entity: its identifier, its federation key and the public JWK Set of it.
pub struct Entity {
    pub id: String,
    pub kid: String,
    pub signer: Box<dyn JwsSigner>,
    pub jwks: Value,
    /// The private JWK, for a server that signs with it.
    pub private: josekit::jwk::Jwk,
}

/// An entity with a new ES256 key whose `kid` is `{id}#1`.
pub fn entity(id: &str) -> Entity {
    let pair = ES256.generate_key_pair().unwrap();
    let kid = format!("{id}#1");
    let mut private = pair.to_jwk_key_pair();
    private.set_key_id(&kid);
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(&kid);
    Entity {
        id: id.to_owned(),
        kid,
        signer: Box::new(ES256.signer_from_jwk(&private).unwrap()),
        jwks: json!({ "keys": [Value::Object(public.as_ref().clone())] }),
        private,
    }
}

/// An entity statement (`typ` `entity-statement+jwt`) of `claims`, signed by `by`.
pub fn sign(by: &Entity, claims: &Value) -> String {
    let header = json!({ "alg": "ES256", "typ": "entity-statement+jwt", "kid": by.kid });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = by.signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The claims of `issuer`'s statement about `subject` (valid an hour around `START`), attesting
/// `subject`'s keys, with `extra` over them.
pub fn about(issuer: &Entity, subject: &Entity, extra: Value) -> Value {
    with(
        json!({
            "iss": issuer.id, "sub": subject.id, "iat": START - 60, "exp": START + 3600,
            "jwks": subject.jwks,
        }),
        extra,
    )
}
