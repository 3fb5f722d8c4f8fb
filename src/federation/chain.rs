//! Trust chains (OpenID Federation 1.0 §4 and §10.2): a chain of signed entity statements from a
//! client's own Entity Configuration up to a trust anchor the host configured, verified
//! statement by statement, with the authorities' constraints and metadata policies applied.
//!
//! A chain is never trusted as sent: every signature is checked with the keys its superior
//! attests (the last one with the trust anchor's keys from configuration, never from the chain),
//! every link (`iss` of one is `sub` of the next), every time window, and every constraint.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::policy::MetadataPolicy;
use crate::policy::RequestLimits;
use crate::statements::{decode_typed, verify_signature, Decoded, Jwks, JwtError, JwtRules};

/// The media type of an entity statement, its JOSE `typ` (OpenID Federation 1.0 §3).
pub const ENTITY_STATEMENT_TYP: &str = "entity-statement+jwt";

/// The entity type a federation entity always keeps (OpenID Federation 1.0 §6.2.3).
const FEDERATION_ENTITY: &str = "federation_entity";

/// A trust anchor the host trusts: its entity identifier and its federation key set, from the
/// host's configuration.
#[derive(Clone)]
pub struct TrustAnchor {
    id: String,
    keys: Jwks,
}

impl std::fmt::Debug for TrustAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchor")
            .field("id", &self.id)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl TrustAnchor {
    /// The trust anchor `entity_id` with its federation entity keys `keys`.
    pub fn new(entity_id: impl Into<String>, keys: Jwks) -> Self {
        Self {
            id: entity_id.into(),
            keys,
        }
    }

    /// Its entity identifier.
    pub fn entity_id(&self) -> &str {
        &self.id
    }
}

/// Bounds and rules for verifying a trust chain.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChainRules {
    /// Accepted signing algorithms (`none` and HMAC are refused whatever is listed). Defaults to
    /// RS256, PS256, ES256 and EdDSA.
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `iat` and `exp`. Defaults to 60 seconds.
    pub leeway: Duration,
    /// Most statements in a chain, the subject's Entity Configuration and the trust anchor's
    /// included. Defaults to 8.
    pub max_statements: usize,
    /// Longest accepted statement, in bytes. Defaults to 64 KiB.
    pub max_statement_bytes: usize,
}

impl Default for ChainRules {
    fn default() -> Self {
        Self {
            // The same algorithms and clock skew as every JWT the crate verifies.
            algorithms: JwtRules::default().algorithms,
            leeway: JwtRules::default().leeway,
            max_statements: 8,
            max_statement_bytes: 64 * 1024,
        }
    }
}

/// A trust chain that verified: who it is about, which anchor admitted it, until when, and the
/// subject's resolved metadata.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TrustChain {
    /// The subject's entity identifier (for a client, its `client_id`).
    pub subject: String,
    /// The trust anchor at the top of the chain.
    pub trust_anchor: String,
    /// The subject's immediate superior in this chain.
    pub immediate_superior: String,
    /// When the first statement of the chain expires: the chain is valid until then.
    pub expires_at: OffsetDateTime,
    /// The subject's metadata, by entity type, with its superior's `metadata` values, the
    /// allowed entity types and the chain's metadata policy applied.
    pub metadata: Map<String, Value>,
    /// The subject's federation key set, the `jwks` claim of its Entity Configuration as sent
    /// (an explicit registration response may copy it verbatim).
    pub subject_jwks: Value,
    /// Every claim of the subject's Entity Configuration, as verified (its `aud`, for one).
    pub subject_claims: Map<String, Value>,
    /// The statements, as verified, subject first.
    pub statements: Vec<String>,
}

/// Why a trust chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A statement is malformed, badly signed, expired or not linked to the next; the chain
    /// does not end at a configured trust anchor; a constraint or a metadata policy of the chain
    /// is violated or broken. OpenID Federation's `invalid_trust_chain`.
    #[error("invalid trust chain: {0}")]
    InvalidChain(String),
    /// The subject's metadata does not comply with the chain's resolved metadata policy.
    /// OpenID Federation's `invalid_metadata`.
    #[error("invalid metadata: {0}")]
    InvalidMetadata(String),
}

fn chain_error(message: impl Into<String>) -> ChainError {
    ChainError::InvalidChain(message.into())
}

/// One decoded statement with the claims every statement has.
struct Statement<'a> {
    decoded: Decoded<'a>,
    iss: String,
    sub: String,
    exp: OffsetDateTime,
    jwks: Option<Jwks>,
}

impl Statement<'_> {
    fn claim(&self, name: &str) -> Option<&Value> {
        self.decoded.claims.get(name)
    }

    fn is_configuration(&self) -> bool {
        self.iss == self.sub
    }
}

/// Verifies `chain` (compact entity statements, the subject's Entity Configuration first, each
/// next one issued by the previous one's superior, ending with a statement issued by one of
/// `anchors`, optionally followed by that anchor's own Entity Configuration) at the instant
/// `now`, and resolves the subject's metadata.
///
/// # Errors
/// [`ChainError::InvalidChain`] for any statement or link that does not verify, a chain that
/// does not end at one of `anchors`, a violated constraint or a broken metadata policy;
/// [`ChainError::InvalidMetadata`] when the subject's metadata fails the chain's policy.
pub fn verify_chain(
    chain: &[String],
    anchors: &[TrustAnchor],
    rules: &ChainRules,
    now: OffsetDateTime,
) -> Result<TrustChain, ChainError> {
    if chain.len() < 2 {
        return Err(chain_error(
            "a trust chain holds the subject's Entity Configuration and at least one subordinate statement",
        ));
    }
    if chain.len() > rules.max_statements {
        return Err(chain_error(format!(
            "a trust chain may hold at most {} statements",
            rules.max_statements
        )));
    }
    let jwt_rules = JwtRules {
        algorithms: rules.algorithms.clone(),
        leeway: rules.leeway,
        required_claims: ["iss", "sub", "iat", "exp"].map(String::from).to_vec(),
        max_length: rules.max_statement_bytes,
        ..JwtRules::default()
    };
    let limits = RequestLimits::default();
    let statements = chain
        .iter()
        .enumerate()
        .map(|(at, raw)| statement(at, raw, &jwt_rules, &limits, now))
        .collect::<Result<Vec<_>, _>>()?;

    let subject = &statements[0];
    if !subject.is_configuration() {
        return Err(chain_error(
            "the first statement is not the subject's Entity Configuration (`iss` differs from `sub`)",
        ));
    }
    // The last statement issued by the anchor about its subordinate; the anchor's own Entity
    // Configuration may follow it.
    let last = statements.len() - 1;
    let top = if statements[last].is_configuration() {
        last - 1
    } else {
        last
    };
    if top == 0 {
        return Err(chain_error("the chain holds no subordinate statement"));
    }
    let anchor_id = &statements[top].iss;
    let anchor = anchors
        .iter()
        .find(|a| a.id == *anchor_id)
        .ok_or_else(|| chain_error(format!("`{anchor_id}` is not a trusted anchor")))?;
    if top != last && statements[last].iss != *anchor_id {
        return Err(chain_error(
            "the last statement is not the trust anchor's Entity Configuration",
        ));
    }

    // Links, and no entity twice.
    let mut issuers = BTreeSet::new();
    for j in 1..=last {
        let (below, this) = (&statements[j - 1], &statements[j]);
        if this.sub != below.iss {
            return Err(chain_error(format!(
                "statement {j} is about `{}`, not about `{}`, the issuer of the one before",
                this.sub, below.iss
            )));
        }
        if j <= top && this.is_configuration() {
            return Err(chain_error(format!(
                "statement {j} is an Entity Configuration where a subordinate statement belongs"
            )));
        }
    }
    for s in &statements[..=top] {
        if !issuers.insert(s.iss.as_str()) {
            return Err(chain_error(format!("`{}` appears twice: a loop", s.iss)));
        }
    }

    // The subject lists its superior, and names it for what it publishes.
    let superior = &statements[1].iss;
    let hints = subject
        .claim("authority_hints")
        .and_then(Value::as_array)
        .ok_or_else(|| chain_error("the subject's Entity Configuration has no authority_hints"))?;
    if !hints.iter().any(|h| h.as_str() == Some(superior)) {
        return Err(chain_error(format!(
            "the subject's authority_hints do not name `{superior}`"
        )));
    }

    // Signatures: the subject with its own keys and with the keys its superior attests; each
    // subordinate statement with the keys the next one attests; the anchor's with configuration.
    let keys_of = |at: usize| {
        statements[at]
            .jwks
            .as_ref()
            .ok_or_else(|| chain_error(format!("statement {at} has no jwks")))
    };
    let signed = |at: usize, keys: &Jwks, by: &str| {
        verify_signature(&statements[at].decoded, keys).map_err(|e| {
            chain_error(format!(
                "statement {at} does not verify with {by}'s keys: {}",
                jwt_message(e)
            ))
        })
    };
    signed(0, keys_of(0)?, "its own")?;
    for j in 0..top {
        signed(j, keys_of(j + 1)?, "the superior")?;
    }
    signed(top, &anchor.keys, "the trust anchor")?;
    if top != last {
        signed(last, &anchor.keys, "the trust anchor")?;
    }

    // Constraints, each from the statement that sets it, over the chain below it.
    for (j, s) in statements.iter().enumerate().take(top + 1).skip(1) {
        if let Some(constraints) = s.claim("constraints") {
            check_constraints(j, constraints, &statements[..j])?;
        }
    }

    // Metadata: the subject's, its superior's `metadata` values over it, only the allowed entity
    // types, then the resolved policy.
    let mut metadata = match subject.claim("metadata") {
        Some(Value::Object(m)) => m.clone(),
        None => Map::new(),
        Some(_) => return Err(chain_error("the subject's metadata is not a JSON object")),
    };
    match statements[1].claim("metadata") {
        Some(Value::Object(fixed)) => {
            for (entity_type, values) in fixed {
                let Value::Object(values) = values else {
                    return Err(chain_error("the superior's metadata is not a JSON object"));
                };
                if let Some(Value::Object(own)) = metadata.get_mut(entity_type) {
                    for (name, value) in values {
                        own.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        None => {}
        Some(_) => return Err(chain_error("the superior's metadata is not a JSON object")),
    }
    for s in &statements[1..=top] {
        if let Some(allowed) = s
            .claim("constraints")
            .and_then(|c| c.get("allowed_entity_types"))
        {
            let allowed = strings(allowed, "allowed_entity_types")?;
            metadata.retain(|t, _| t == FEDERATION_ENTITY || allowed.contains(&t.as_str()));
        }
    }
    let mut critical = Vec::new();
    for s in &statements[1..=top] {
        if let Some(crit) = s.claim("metadata_policy_crit") {
            critical.extend(
                strings(crit, "metadata_policy_crit")?
                    .into_iter()
                    .map(str::to_owned),
            );
        }
    }
    let claims = statements[1..=top]
        .iter()
        .rev()
        .filter_map(|s| s.claim("metadata_policy"));
    let policy = MetadataPolicy::resolve(claims, &critical)
        .map_err(|e| chain_error(format!("metadata_policy: {e}")))?;
    for (entity_type, values) in metadata.iter_mut() {
        let Value::Object(values) = values else {
            return Err(chain_error(format!(
                "the subject's metadata for {entity_type} is not a JSON object"
            )));
        };
        *values = policy
            .apply(entity_type, values)
            .map_err(|e| ChainError::InvalidMetadata(e.to_string()))?;
    }

    let expires_at = statements.iter().map(|s| s.exp).min().unwrap_or(now);
    Ok(TrustChain {
        subject: subject.sub.clone(),
        trust_anchor: anchor.id.clone(),
        immediate_superior: superior.clone(),
        expires_at,
        metadata,
        subject_jwks: subject.claim("jwks").cloned().unwrap_or(Value::Null),
        subject_claims: subject.decoded.claims.clone(),
        statements: chain.to_vec(),
    })
}

/// Decodes statement `at` and checks what every entity statement must be: explicitly typed,
/// `iss`, `sub`, `iat` and `exp` present and within their window, a `jwks` key set when there is
/// one, and no `crit` claim this crate would have to understand.
fn statement<'a>(
    at: usize,
    raw: &'a str,
    rules: &JwtRules,
    limits: &RequestLimits,
    now: OffsetDateTime,
) -> Result<Statement<'a>, ChainError> {
    let fail = |e: JwtError| chain_error(format!("statement {at}: {}", jwt_message(e)));
    let decoded = decode_typed(raw, rules, limits, Some(ENTITY_STATEMENT_TYP)).map_err(fail)?;
    let until = crate::statements::check_claims(&decoded.claims, rules, now).map_err(fail)?;
    let text = |name: &str| match decoded.claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(chain_error(format!(
            "statement {at}: `{name}` is not a string"
        ))),
    };
    let (iss, sub) = (text("iss")?, text("sub")?);
    // `exp` is required, so the window has an end; less the leeway, it is the `exp` itself.
    let exp = until
        .map(|end| end.saturating_sub(rules.leeway))
        .ok_or_else(|| chain_error(format!("statement {at}: no `exp`")))?;
    if let Some(crit) = decoded.claims.get("crit") {
        let names = strings(crit, "crit")?;
        if let Some(name) = names.first() {
            return Err(chain_error(format!(
                "statement {at}: the critical claim `{name}` is not understood"
            )));
        }
    }
    let jwks = match decoded.claims.get("jwks") {
        None => None,
        Some(Value::Object(set)) => Some(
            Jwks::from_object(set.clone())
                .map_err(|e| chain_error(format!("statement {at}: jwks: {e}")))?,
        ),
        Some(_) => {
            return Err(chain_error(format!(
                "statement {at}: jwks is not an object"
            )))
        }
    };
    Ok(Statement {
        decoded,
        iss,
        sub,
        exp,
        jwks,
    })
}

/// A claim that must be an array of strings.
fn strings<'v>(value: &'v Value, name: &str) -> Result<Vec<&'v str>, ChainError> {
    value
        .as_array()
        .and_then(|items| items.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .ok_or_else(|| chain_error(format!("`{name}` is not an array of strings")))
}

/// The constraints set by statement `at` (OpenID Federation 1.0 §6.2), over the statements
/// below it (`below`, the subject's first).
fn check_constraints(
    at: usize,
    constraints: &Value,
    below: &[Statement<'_>],
) -> Result<(), ChainError> {
    let constraints = constraints
        .as_object()
        .ok_or_else(|| chain_error(format!("statement {at}: constraints is not an object")))?;
    if let Some(max) = constraints.get("max_path_length") {
        let max = max.as_u64().ok_or_else(|| {
            chain_error(format!(
                "statement {at}: max_path_length is not a non-negative integer"
            ))
        })?;
        // The intermediates between this statement's issuer and the subject.
        let intermediates = (at - 1) as u64;
        if intermediates > max {
            return Err(chain_error(format!(
                "statement {at} allows {max} intermediates below it, and the chain has {intermediates}"
            )));
        }
    }
    if let Some(naming) = constraints.get("naming_constraints") {
        let naming = naming.as_object().ok_or_else(|| {
            chain_error(format!(
                "statement {at}: naming_constraints is not an object"
            ))
        })?;
        let permitted = naming
            .get("permitted")
            .map(|v| strings(v, "permitted"))
            .transpose()?;
        let excluded = naming
            .get("excluded")
            .map(|v| strings(v, "excluded"))
            .transpose()?;
        for s in below {
            let host = url::Url::parse(&s.iss)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                .ok_or_else(|| chain_error(format!("`{}` is not a URL with a host", s.iss)))?;
            let matches = |name: &&str| name_matches(&host, name);
            if excluded.as_ref().is_some_and(|e| e.iter().any(matches))
                || permitted.as_ref().is_some_and(|p| !p.iter().any(matches))
            {
                return Err(chain_error(format!(
                    "`{}` is outside the names statement {at} permits",
                    s.iss
                )));
            }
        }
    }
    Ok(())
}

/// RFC 5280 §4.2.1.10 domain name constraints, as OpenID Federation 1.0 §6.2.2 uses them: a name
/// starting with a period matches hosts below it, any other name that host only.
fn name_matches(host: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if name.starts_with('.') {
        host.ends_with(&name)
    } else {
        host == name
    }
}

fn jwt_message(e: JwtError) -> String {
    match e {
        JwtError::Invalid(m) | JwtError::Untrusted(m) => m,
        JwtError::Internal(_) => "the key could not be used".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use josekit::jws::{JwsSigner, ES256};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const RP: &str = "openid_relying_party";

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).unwrap()
    }

    struct Entity {
        id: String,
        kid: String,
        signer: Box<dyn JwsSigner>,
        jwks: Value,
    }

    fn entity(id: &str) -> Entity {
        let pair = ES256.generate_key_pair().unwrap();
        let kid = format!("{id}#1");
        let mut private = pair.to_jwk_private_key();
        private.set_key_id(&kid);
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(&kid);
        Entity {
            id: id.to_owned(),
            kid,
            signer: Box::new(ES256.signer_from_jwk(&private).unwrap()),
            jwks: json!({ "keys": [Value::Object(public.as_ref().clone())] }),
        }
    }

    fn sign_as(signer: &Entity, typ: &str, claims: &Value) -> String {
        let header = json!({ "alg": "ES256", "typ": typ, "kid": signer.kid });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = signer.signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn sign(signer: &Entity, claims: &Value) -> String {
        sign_as(signer, ENTITY_STATEMENT_TYP, claims)
    }

    fn with(mut base: Value, extra: Value) -> Value {
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    /// The claims of `issuer`'s statement about `subject`.
    fn about(issuer: &Entity, subject: &Entity, extra: Value) -> Value {
        with(
            json!({
                "iss": issuer.id, "sub": subject.id, "iat": NOW - 60, "exp": NOW + 3600,
                "jwks": subject.jwks,
            }),
            extra,
        )
    }

    struct Federation {
        anchor: Entity,
        intermediate: Entity,
        leaf: Entity,
    }

    fn federation() -> Federation {
        Federation {
            anchor: entity("https://ta.fed.example"),
            intermediate: entity("https://int.fed.example"),
            leaf: entity("https://rp.fed.example"),
        }
    }

    fn leaf_metadata() -> Value {
        json!({ RP: {
            "redirect_uris": ["https://rp.fed.example/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "contacts": ["ops@rp.fed.example"]
        }})
    }

    impl Federation {
        fn anchors(&self) -> Vec<TrustAnchor> {
            let keys = Jwks::from_json(self.anchor.jwks.to_string().as_bytes()).unwrap();
            vec![TrustAnchor::new(&self.anchor.id, keys)]
        }

        fn configuration(&self) -> Value {
            about(
                &self.leaf,
                &self.leaf,
                json!({ "authority_hints": [self.intermediate.id], "metadata": leaf_metadata() }),
            )
        }

        /// The leaf's Entity Configuration, the intermediate's statement about it, and the
        /// anchor's about the intermediate, each with extra claims.
        fn chain(&self, leaf: Value, intermediate: Value, anchor: Value) -> Vec<String> {
            vec![
                sign(&self.leaf, &with(self.configuration(), leaf)),
                sign(
                    &self.intermediate,
                    &about(&self.intermediate, &self.leaf, intermediate),
                ),
                sign(
                    &self.anchor,
                    &about(&self.anchor, &self.intermediate, anchor),
                ),
            ]
        }

        fn plain(&self) -> Vec<String> {
            self.chain(json!({}), json!({}), json!({}))
        }

        fn verify(&self, chain: &[String]) -> Result<TrustChain, ChainError> {
            verify_chain(chain, &self.anchors(), &ChainRules::default(), now())
        }
    }

    fn invalid(result: Result<TrustChain, ChainError>, needle: &str) {
        match result {
            Err(ChainError::InvalidChain(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected an invalid chain ({needle}), got {other:?}"),
        }
    }

    #[test]
    fn a_three_level_chain_verifies_with_its_policies_applied() {
        let f = federation();
        let chain = f.chain(
            json!({}),
            json!({ "metadata_policy": { RP: {
                "token_endpoint_auth_method": {"one_of": ["private_key_jwt"]},
                "contacts": {"add": ["help@int.fed.example"]}
            }}}),
            json!({ "exp": NOW + 600, "metadata_policy": { RP: {
                "token_endpoint_auth_method": {
                    "one_of": ["private_key_jwt", "self_signed_tls_client_auth"],
                    "essential": true
                },
                "grant_types": {"default": ["authorization_code"]}
            }}}),
        );
        let verified = f.verify(&chain).unwrap();
        assert_eq!(verified.subject, f.leaf.id);
        assert_eq!(verified.trust_anchor, f.anchor.id);
        assert_eq!(verified.immediate_superior, f.intermediate.id);
        assert_eq!(verified.expires_at.unix_timestamp(), NOW + 600);
        assert_eq!(
            verified.metadata[RP],
            json!({
                "redirect_uris": ["https://rp.fed.example/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
                "contacts": ["ops@rp.fed.example", "help@int.fed.example"],
                "grant_types": ["authorization_code"]
            })
        );
        // The anchor's own Entity Configuration may close the chain.
        let mut closed = chain;
        closed.push(sign(&f.anchor, &about(&f.anchor, &f.anchor, json!({}))));
        assert_eq!(f.verify(&closed).unwrap().trust_anchor, f.anchor.id);
    }

    #[test]
    fn a_statement_signed_by_the_wrong_key_breaks_the_chain() {
        let f = federation();
        let impostor = entity("https://rp.fed.example");
        let mut chain = f.plain();
        // The leaf's configuration signed by a key its superior does not attest.
        chain[0] = sign(
            &impostor,
            &with(f.configuration(), json!({ "jwks": impostor.jwks })),
        );
        invalid(f.verify(&chain), "superior");
        // The intermediate's statement signed by someone else.
        let mut chain = f.plain();
        chain[1] = sign(&f.leaf, &about(&f.intermediate, &f.leaf, json!({})));
        invalid(f.verify(&chain), "does not verify");
        // An anchor statement under the anchor's name with other keys.
        let fake = entity("https://ta.fed.example");
        let mut chain = f.plain();
        chain[2] = sign(&fake, &about(&fake, &f.intermediate, json!({})));
        invalid(f.verify(&chain), "trust anchor");
        // Its own Entity Configuration cannot vouch for the anchor either.
        let mut chain = f.plain();
        chain[2] = sign(&fake, &about(&fake, &f.intermediate, json!({})));
        chain.push(sign(&fake, &about(&fake, &fake, json!({}))));
        invalid(f.verify(&chain), "trust anchor");
    }

    #[test]
    fn statements_outside_their_time_window_break_the_chain() {
        let f = federation();
        invalid(
            f.verify(&f.chain(json!({}), json!({ "exp": NOW - 120 }), json!({}))),
            "expired",
        );
        invalid(
            f.verify(&f.chain(json!({ "iat": NOW + 600 }), json!({}), json!({}))),
            "future",
        );
        invalid(
            f.verify(&f.chain(json!({}), json!({}), json!({ "exp": null }))),
            "exp",
        );
    }

    #[test]
    fn links_anchors_and_shapes_are_checked() {
        let f = federation();
        let other = entity("https://other.fed.example");
        // A statement about someone else.
        let mut chain = f.plain();
        chain[1] = sign(&f.intermediate, &about(&f.intermediate, &other, json!({})));
        invalid(f.verify(&chain), "not about");
        // An anchor the host does not trust.
        let stranger = entity("https://ta.elsewhere.example");
        let mut chain = f.plain();
        chain[2] = sign(&stranger, &about(&stranger, &f.intermediate, json!({})));
        invalid(f.verify(&chain), "not a trusted anchor");
        // Too short, too long, not an Entity Configuration first.
        invalid(f.verify(&f.plain()[..1]), "at least one");
        let rules = ChainRules {
            max_statements: 2,
            ..ChainRules::default()
        };
        invalid(
            verify_chain(&f.plain(), &f.anchors(), &rules, now()),
            "at most 2",
        );
        invalid(f.verify(&f.plain()[1..]), "Entity Configuration");
        // Not explicitly typed as an entity statement.
        let mut chain = f.plain();
        chain[1] = sign_as(
            &f.intermediate,
            "JWT",
            &about(&f.intermediate, &f.leaf, json!({})),
        );
        invalid(f.verify(&chain), "entity-statement+jwt");
        // A critical claim nobody here understands.
        invalid(
            f.verify(&f.chain(json!({}), json!({ "crit": ["x"], "x": 1 }), json!({}))),
            "critical claim",
        );
        // The subject does not name its superior.
        invalid(
            f.verify(&f.chain(
                json!({ "authority_hints": [other.id] }),
                json!({}),
                json!({}),
            )),
            "authority_hints",
        );
    }

    #[test]
    fn a_key_rotation_verifies_while_the_superior_attests_the_new_key() {
        let f = federation();
        // A new key under a new `kid` (the entity's identifier does not change; only the key
        // and its `kid` are used here).
        let rotated = entity("https://rp.fed.example/2026");
        let both = json!({ "keys": [
            f.leaf.jwks["keys"][0].clone(),
            rotated.jwks["keys"][0].clone(),
        ]});
        // The client signs with its new key and publishes both; its superior attests both.
        let configuration = with(f.configuration(), json!({ "jwks": &both }));
        let chain = vec![
            sign(&rotated, &configuration),
            sign(
                &f.intermediate,
                &about(&f.intermediate, &f.leaf, json!({ "jwks": both })),
            ),
            sign(&f.anchor, &about(&f.anchor, &f.intermediate, json!({}))),
        ];
        assert!(f.verify(&chain).is_ok());
        // A superior that still attests only the old key does not vouch for the new one.
        let stale = vec![
            chain[0].clone(),
            sign(&f.intermediate, &about(&f.intermediate, &f.leaf, json!({}))),
            chain[2].clone(),
        ];
        invalid(f.verify(&stale), "superior");
    }

    #[test]
    fn a_loop_is_refused() {
        let f = federation();
        let chain = vec![
            sign(&f.leaf, &f.configuration()),
            sign(&f.intermediate, &about(&f.intermediate, &f.leaf, json!({}))),
            sign(&f.leaf, &about(&f.leaf, &f.intermediate, json!({}))),
            sign(&f.intermediate, &about(&f.intermediate, &f.leaf, json!({}))),
            sign(&f.anchor, &about(&f.anchor, &f.intermediate, json!({}))),
        ];
        invalid(f.verify(&chain), "twice");
    }

    #[test]
    fn constraints_bind_the_chain_below_them() {
        let f = federation();
        let anchor = |constraints: Value| json!({ "constraints": constraints });
        invalid(
            f.verify(&f.chain(
                json!({}),
                json!({}),
                anchor(json!({ "max_path_length": 0 })),
            )),
            "intermediates",
        );
        assert!(f
            .verify(&f.chain(
                json!({}),
                json!({}),
                anchor(json!({ "max_path_length": 1 }))
            ))
            .is_ok());
        invalid(
            f.verify(&f.chain(
                json!({}),
                json!({}),
                anchor(json!({ "naming_constraints": { "permitted": [".other.example"] } })),
            )),
            "outside the names",
        );
        invalid(
            f.verify(&f.chain(
                json!({}),
                json!({}),
                anchor(json!({ "naming_constraints": {
                    "permitted": [".fed.example"], "excluded": ["rp.fed.example"]
                }})),
            )),
            "outside the names",
        );
        assert!(f
            .verify(&f.chain(
                json!({}),
                json!({}),
                anchor(json!({ "naming_constraints": { "permitted": [".fed.example"] } })),
            ))
            .is_ok());
        // An entity type the anchor does not allow is removed from the subject's metadata.
        let verified = f
            .verify(&f.chain(
                json!({}),
                json!({}),
                anchor(json!({ "allowed_entity_types": ["openid_provider"] })),
            ))
            .unwrap();
        assert!(verified.metadata.get(RP).is_none());
    }

    #[test]
    fn metadata_and_policies_come_from_the_superiors() {
        let f = federation();
        // The superior's metadata values override the subject's.
        let verified = f
            .verify(&f.chain(
                json!({}),
                json!({ "metadata": { RP: { "contacts": ["fixed@int.fed.example"] } } }),
                json!({}),
            ))
            .unwrap();
        assert_eq!(
            verified.metadata[RP]["contacts"],
            json!(["fixed@int.fed.example"])
        );
        // Metadata the policy refuses.
        let refused = f.verify(&f.chain(
            json!({}),
            json!({ "metadata_policy": { RP: {
                "token_endpoint_auth_method": {"one_of": ["self_signed_tls_client_auth"]}
            }}}),
            json!({}),
        ));
        assert!(
            matches!(refused, Err(ChainError::InvalidMetadata(_))),
            "{refused:?}"
        );
        // Policies that cannot be merged: the chain itself is broken.
        invalid(
            f.verify(&f.chain(
                json!({}),
                json!({ "metadata_policy": { RP: { "subject_type": {"value": "public"} } } }),
                json!({ "metadata_policy": { RP: { "subject_type": {"value": "pairwise"} } } }),
            )),
            "metadata_policy",
        );
        // An operator declared critical that this crate does not know.
        invalid(
            f.verify(&f.chain(
                json!({}),
                json!({ "metadata_policy": { RP: { "client_name": {"regexp": "^A"} } } }),
                json!({ "metadata_policy_crit": ["regexp"] }),
            )),
            "regexp",
        );
    }
}
