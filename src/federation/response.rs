//! The explicit registration response (OpenID Federation 1.0 §12.2.3): an entity statement the
//! server signs with its federation key, telling the client what was registered, through which
//! trust anchor and superior, and until when.

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::JwsSigner;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::chain::TrustChain;

/// The `typ` of an explicit registration response, and the media type it is served with
/// (`application/` prefixed).
pub const EXPLICIT_REGISTRATION_RESPONSE_TYP: &str = "explicit-registration-response+jwt";

/// The server's federation signing key. Implement it over a key store or an HSM; [`JwkSigner`]
/// holds a private JWK in memory.
#[async_trait]
pub trait Signer: Send + Sync {
    /// The JWS algorithm (`ES256`, `PS256`, `EdDSA`, …).
    fn algorithm(&self) -> &str;

    /// The key's `kid`, which federation statements must carry.
    fn key_id(&self) -> &str;

    /// Signs the JWS signing input (`BASE64URL(header) || '.' || BASE64URL(payload)`).
    ///
    /// # Errors
    /// When the key cannot sign.
    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A signing key could not be read or could not sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("federation signing key: {0}")]
pub struct SignError(String);

impl SignError {
    /// An error with this description.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A [`Signer`] over a private JWK held in memory.
pub struct JwkSigner {
    alg: String,
    kid: String,
    signer: Box<dyn JwsSigner>,
    public: Map<String, Value>,
}

impl std::fmt::Debug for JwkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwkSigner")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwkSigner {
    /// Reads a private JWK (RFC 7517) with its public members. It must carry a `kid`; its `alg` is taken from the key's
    /// `alg` member, or from its curve for EC (`ES256`, `ES384`, `ES512`) and OKP (`EdDSA`)
    /// keys; an RSA key must name its `alg` (`RS256`, `PS256`, …).
    ///
    /// # Errors
    /// Not a JSON Web Key, no `kid`, no private part, or an algorithm this crate does not sign
    /// with (`none` and HMAC included).
    pub fn from_jwk(bytes: &[u8]) -> Result<Self, SignError> {
        use josekit::jws::{EdDSA, ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512};
        let jwk = Jwk::from_bytes(bytes).map_err(|e| SignError::new(e.to_string()))?;
        let kid = jwk
            .key_id()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| SignError::new("the key has no `kid`"))?
            .to_owned();
        let crv = jwk.parameter("crv").and_then(Value::as_str);
        let alg = match (jwk.algorithm(), jwk.key_type(), crv) {
            (Some(alg), _, _) => alg.to_owned(),
            (None, "EC", Some("P-256")) => "ES256".to_owned(),
            (None, "EC", Some("P-384")) => "ES384".to_owned(),
            (None, "EC", Some("P-521")) => "ES512".to_owned(),
            (None, "OKP", Some("Ed25519" | "Ed448")) => "EdDSA".to_owned(),
            _ => {
                return Err(SignError::new(
                    "the key names no `alg` this crate can infer",
                ))
            }
        };
        let made = |r: Result<Box<dyn JwsSigner>, josekit::JoseError>| {
            r.map_err(|e| SignError::new(e.to_string()))
        };
        fn boxed<S: JwsSigner + 'static>(
            s: Result<S, josekit::JoseError>,
        ) -> Result<Box<dyn JwsSigner>, josekit::JoseError> {
            s.map(|s| Box::new(s) as Box<dyn JwsSigner>)
        }
        let signer = made(match alg.as_str() {
            "RS256" => boxed(RS256.signer_from_jwk(&jwk)),
            "RS384" => boxed(RS384.signer_from_jwk(&jwk)),
            "RS512" => boxed(RS512.signer_from_jwk(&jwk)),
            "PS256" => boxed(PS256.signer_from_jwk(&jwk)),
            "PS384" => boxed(PS384.signer_from_jwk(&jwk)),
            "PS512" => boxed(PS512.signer_from_jwk(&jwk)),
            "ES256" => boxed(ES256.signer_from_jwk(&jwk)),
            "ES384" => boxed(ES384.signer_from_jwk(&jwk)),
            "ES512" => boxed(ES512.signer_from_jwk(&jwk)),
            "EdDSA" => boxed(EdDSA.signer_from_jwk(&jwk)),
            other => {
                return Err(SignError::new(format!(
                    "the algorithm `{other}` is not one this crate signs with"
                )))
            }
        })?;
        let needed: &[&str] = match jwk.key_type() {
            "EC" => &["x", "y"],
            "OKP" => &["x"],
            _ => &["n", "e"],
        };
        if let Some(missing) = needed.iter().find(|m| jwk.parameter(m).is_none()) {
            return Err(SignError::new(format!(
                "the key has no `{missing}`: its public half cannot be published"
            )));
        }
        let private = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
        let public: Map<String, Value> = jwk
            .as_ref()
            .iter()
            .filter(|(name, _)| !private.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Ok(Self {
            alg,
            kid,
            signer,
            public,
        })
    }

    /// The public half of the key, to publish in the server's federation `jwks`.
    pub fn public_jwk(&self) -> &Map<String, Value> {
        &self.public
    }
}

#[async_trait]
impl Signer for JwkSigner {
    fn algorithm(&self) -> &str {
        &self.alg
    }

    fn key_id(&self) -> &str {
        &self.kid
    }

    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, SignError> {
        self.signer
            .sign(input)
            .map_err(|e| SignError::new(e.to_string()))
    }
}

/// What an explicit registration response states.
#[derive(Debug, Clone)]
pub struct Registered<'a> {
    /// The server's own entity identifier (`iss`).
    pub server: &'a str,
    /// The chain that admitted the client.
    pub chain: &'a TrustChain,
    /// The registered `openid_relying_party` metadata, with the `client_id` provisioned and any
    /// credentials issued.
    pub metadata: &'a Map<String, Value>,
    /// When the registration expires; the statement's `exp` is this or the chain's expiry,
    /// whichever comes first.
    pub expires_at: OffsetDateTime,
    /// When the statement is issued.
    pub now: OffsetDateTime,
}

/// Signs the explicit registration response for `registered` (OpenID Federation 1.0 §12.2.3):
/// `iss` the server, `sub` and `aud` the client's entity identifier, `iat`, `exp` no later than
/// the chain's, `trust_anchor`, `authority_hints` naming the superior the chain went through,
/// `metadata.openid_relying_party` and a verbatim copy of the client's federation `jwks`; typed
/// `explicit-registration-response+jwt`.
///
/// # Errors
/// The metadata has no `client_id`, or the signer fails.
pub async fn registration_response(
    signer: &dyn Signer,
    registered: &Registered<'_>,
) -> Result<String, SignError> {
    if !registered
        .metadata
        .get("client_id")
        .is_some_and(Value::is_string)
    {
        return Err(SignError::new(
            "the registered metadata must include the client_id provisioned",
        ));
    }
    let chain = registered.chain;
    let exp = registered.expires_at.min(chain.expires_at);
    let mut claims = json!({
        "iss": registered.server,
        "sub": chain.subject,
        "aud": chain.subject,
        "iat": registered.now.unix_timestamp(),
        "exp": exp.unix_timestamp(),
        "trust_anchor": chain.trust_anchor,
        "authority_hints": [chain.immediate_superior],
        "metadata": { "openid_relying_party": registered.metadata },
    });
    if chain.subject_jwks.is_object() {
        claims["jwks"] = chain.subject_jwks.clone();
    }
    sign_typed(signer, EXPLICIT_REGISTRATION_RESPONSE_TYP, &claims).await
}

/// Signs an entity statement (`typ` `entity-statement+jwt`) of these claims with the server's
/// federation key: the server's own Entity Configuration, served at
/// `/.well-known/openid-federation`, for one.
///
/// # Errors
/// The claims have no `iss` or `sub` string, or the signer fails.
pub async fn entity_statement(
    signer: &dyn Signer,
    claims: &Map<String, Value>,
) -> Result<String, SignError> {
    for name in ["iss", "sub"] {
        if !claims.get(name).is_some_and(Value::is_string) {
            return Err(SignError::new(format!(
                "an entity statement needs an `{name}` string"
            )));
        }
    }
    sign_typed(
        signer,
        super::chain::ENTITY_STATEMENT_TYP,
        &Value::Object(claims.clone()),
    )
    .await
}

/// A compact JWS of `claims`, typed `typ`, with the signer's algorithm and key id.
async fn sign_typed(signer: &dyn Signer, typ: &str, claims: &Value) -> Result<String, SignError> {
    let header = json!({
        "alg": signer.algorithm(),
        "kid": signer.key_id(),
        "typ": typ,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer.sign(input.as_bytes()).await?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RequestLimits;
    use crate::statements::{decode_typed, verify_signature, Jwks, JwtRules};
    use josekit::jws::ES256;

    fn chain() -> TrustChain {
        TrustChain {
            subject: "https://rp.fed.example".to_owned(),
            trust_anchor: "https://ta.fed.example".to_owned(),
            immediate_superior: "https://int.fed.example".to_owned(),
            expires_at: OffsetDateTime::from_unix_timestamp(1_800_003_600).unwrap(),
            metadata: Map::new(),
            subject_jwks: json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]}),
            subject_claims: Map::new(),
            statements: Vec::new(),
        }
    }

    fn server_key() -> (JwkSigner, Jwks) {
        let pair = ES256.generate_key_pair().unwrap();
        let mut private = pair.to_jwk_key_pair();
        private.set_key_id("op-1");
        let signer = JwkSigner::from_jwk(private.to_string().as_bytes()).unwrap();
        assert_eq!(signer.algorithm(), "ES256");
        assert!(signer.public_jwk().get("d").is_none());
        let public = json!({"keys": [Value::Object(signer.public_jwk().clone())]});
        let keys = Jwks::from_json(public.to_string().as_bytes()).unwrap();
        (signer, keys)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_response_is_a_typed_statement_of_what_was_registered() {
        let (signer, keys) = server_key();
        let chain = chain();
        let metadata = json!({"client_id": "https://rp.fed.example", "redirect_uris": ["https://rp.fed.example/cb"]});
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let registered = Registered {
            server: "https://op.example",
            chain: &chain,
            metadata: metadata.as_object().unwrap(),
            // Longer than the chain: the chain's expiry wins.
            expires_at: now + time::Duration::days(30),
            now,
        };
        let jwt = block_on(registration_response(&signer, &registered)).unwrap();
        let rules = JwtRules {
            algorithms: vec!["ES256".to_owned()],
            ..JwtRules::default()
        };
        let decoded = decode_typed(
            &jwt,
            &rules,
            &RequestLimits::default(),
            Some(EXPLICIT_REGISTRATION_RESPONSE_TYP),
        )
        .unwrap();
        verify_signature(&decoded, &keys).unwrap();
        let claims = Value::Object(decoded.claims);
        assert_eq!(claims["iss"], "https://op.example");
        assert_eq!(claims["sub"], "https://rp.fed.example");
        assert_eq!(claims["aud"], "https://rp.fed.example");
        assert_eq!(claims["iat"], 1_800_000_000);
        assert_eq!(claims["exp"], 1_800_003_600);
        assert_eq!(claims["trust_anchor"], "https://ta.fed.example");
        assert_eq!(
            claims["authority_hints"],
            json!(["https://int.fed.example"])
        );
        assert_eq!(claims["metadata"]["openid_relying_party"], metadata);
        assert_eq!(claims["jwks"], chain.subject_jwks);
        // An entity statement's typ is refused for it, and its own for an entity statement.
        assert!(decode_typed(
            &jwt,
            &rules,
            &RequestLimits::default(),
            Some(super::super::chain::ENTITY_STATEMENT_TYP)
        )
        .is_err());
        // A registration that ends first sets exp.
        let sooner = Registered {
            expires_at: now + time::Duration::minutes(5),
            ..registered
        };
        let jwt = block_on(registration_response(&signer, &sooner)).unwrap();
        let decoded = decode_typed(
            &jwt,
            &rules,
            &RequestLimits::default(),
            Some(EXPLICIT_REGISTRATION_RESPONSE_TYP),
        )
        .unwrap();
        assert_eq!(decoded.claims["exp"], 1_800_000_300);
    }

    #[test]
    fn an_entity_statement_is_typed_and_verifies() {
        let (signer, keys) = server_key();
        let claims =
            json!({"iss": "https://op.example", "sub": "https://op.example", "iat": 1, "exp": 2});
        let jwt = block_on(entity_statement(&signer, claims.as_object().unwrap())).unwrap();
        let rules = JwtRules {
            algorithms: vec!["ES256".to_owned()],
            ..JwtRules::default()
        };
        let decoded = decode_typed(
            &jwt,
            &rules,
            &RequestLimits::default(),
            Some(super::super::chain::ENTITY_STATEMENT_TYP),
        )
        .unwrap();
        verify_signature(&decoded, &keys).unwrap();
        assert_eq!(Value::Object(decoded.claims), claims);
        let anonymous = json!({"iat": 1});
        assert!(block_on(entity_statement(&signer, anonymous.as_object().unwrap())).is_err());
    }

    #[test]
    fn a_response_without_a_client_id_is_refused() {
        let (signer, _) = server_key();
        let chain = chain();
        let metadata = json!({"redirect_uris": ["https://rp.fed.example/cb"]});
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let registered = Registered {
            server: "https://op.example",
            chain: &chain,
            metadata: metadata.as_object().unwrap(),
            expires_at: now,
            now,
        };
        assert!(block_on(registration_response(&signer, &registered)).is_err());
    }

    #[test]
    fn signing_keys_are_read_with_their_algorithm() {
        let pair = ES256.generate_key_pair().unwrap();
        let mut private = pair.to_jwk_key_pair();
        let refused = |jwk: &Jwk| JwkSigner::from_jwk(jwk.to_string().as_bytes()).is_err();
        assert!(refused(&private), "no kid");
        private.set_key_id("k");
        assert!(!refused(&private));
        let mut hmac = private.clone();
        hmac.set_algorithm("HS256");
        assert!(refused(&hmac), "HMAC");
        let mut without_public = pair.to_jwk_private_key();
        without_public.set_key_id("k");
        assert!(refused(&without_public), "no public half to publish");
        let mut public = pair.to_jwk_public_key();
        public.set_key_id("k");
        assert!(refused(&public), "public only");
        assert!(JwkSigner::from_jwk(b"{}").is_err());
        let rsa = josekit::jws::RS256.generate_key_pair(2048).unwrap();
        let mut rsa = rsa.to_jwk_key_pair().as_ref().clone();
        rsa.insert("kid".to_owned(), json!("r"));
        rsa.remove("alg");
        let text = Value::Object(rsa.clone()).to_string();
        assert!(
            JwkSigner::from_jwk(text.as_bytes()).is_err(),
            "RSA needs alg"
        );
        rsa.insert("alg".to_owned(), json!("PS256"));
        let text = Value::Object(rsa).to_string();
        let signer = JwkSigner::from_jwk(text.as_bytes()).unwrap();
        assert_eq!(signer.algorithm(), "PS256");
        assert!(["d", "p", "q", "dp", "dq", "qi"]
            .iter()
            .all(|m| signer.public_jwk().get(*m).is_none()));
    }
}
