//! Software statements (RFC 7591 §2.3) and signed request bodies: compact JWS verified with
//! josekit against keys from configuration, never from the token.
//!
//! What this module checks itself, because josekit does not: the algorithm allowlist (never
//! `none`, never HMAC with public keys), `crit` (refused: no extension is understood), keys
//! smuggled in `jwk` / `jku` / `x5u` / `x5c` headers (refused), `b64` (refused), nested JWTs
//! (refused), duplicate members in header and payload (refused), `kid` selection with ambiguity
//! as an error, the presence of `iss` and other required claims, `exp` / `nbf` / `iat` with a
//! leeway (checked, saturating arithmetic: no claim can overflow it), a maximum age, the
//! audience, `jti` replay for as long as a token is accepted, and a size cap before any
//! decoding.

mod keys;
mod replay;

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::error::{ErrorCode, RegistrationError};
use crate::policy::RequestLimits;

pub use keys::{CachingKeySource, Jwks, KeyError, KeySource, StaticKeySource};
pub use replay::{MemoryReplayGuard, ReplayGuard};

/// JWT registered claims (RFC 7519 §4.1): they describe the statement, not the client, so they
/// are never merged into the metadata.
const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// JOSE header members that carry or point to keys; a verifier must never use them (RULES 1.8).
const KEY_HEADERS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// Rules a JWT must meet besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwtRules {
    /// Accepted `alg` values. `none` and HMAC algorithms are refused even if listed. Defaults to
    /// RS256, PS256, ES256 and EdDSA.
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf`, `iat` and [`max_age`](Self::max_age). Defaults to
    /// 60 seconds.
    ///
    /// Time claims are NumericDates (RFC 7519 §2), integers or not, read alike; a number outside
    /// the dates the clock can hold (years −9999 to 9999) is refused with a 400.
    pub leeway: Duration,
    /// When set, `iat` is required and the token is accepted only while `iat` plus this age
    /// plus the leeway is in the future. Defaults to `None`.
    pub max_age: Option<Duration>,
    /// The host's own issuer identifier: when set, `aud` is required and must contain this
    /// value. Set it to your authorization server's issuer for signed request bodies. Defaults to
    /// `None`.
    pub audience: Option<String>,
    /// Further accepted audiences: `aud` must then contain [`audience`](Self::audience) or one
    /// of these (UK Open Banking DCR v3.3: the authorization server's issuer or the ASPSP's
    /// organisation identifier from the directory). Defaults to none.
    pub other_audiences: Vec<String>,
    /// Claims that must be present. Besides these, `iss` is required of every software
    /// statement (RFC 7591 §2.3) and of signed request bodies whose keys are looked up by issuer;
    /// with a replay guard, `jti`, and `exp` unless `max_age` is set. Defaults to none.
    pub required_claims: Vec<String>,
    /// Longest accepted compact JWS, checked before decoding. Defaults to 16 KiB.
    pub max_length: usize,
    /// When set, a token that would stay acceptable for longer than this from now (its `exp`, or
    /// `iat` plus [`max_age`](Self::max_age), beyond now plus this lifetime plus the leeway) is
    /// refused. It bounds how long a replay guard must remember a `jti`, so that tokens whose
    /// signer is not a trusted party (signed request bodies) cannot fill it with entries that
    /// never expire. Defaults to `None`; [`SignedRequests::new`] sets 24 hours.
    pub max_lifetime: Option<Duration>,
}

impl Default for JwtRules {
    fn default() -> Self {
        Self {
            algorithms: ["RS256", "PS256", "ES256", "EdDSA"]
                .map(String::from)
                .to_vec(),
            leeway: Duration::seconds(60),
            max_age: None,
            audience: None,
            other_audiences: Vec::new(),
            required_claims: Vec::new(),
            max_length: 16 * 1024,
            max_lifetime: None,
        }
    }
}

/// How the registrar treats software statements (RFC 7591 §2.3).
#[derive(Clone)]
pub struct SoftwareStatements {
    pub(crate) keys: Arc<dyn KeySource>,
    pub(crate) rules: JwtRules,
    pub(crate) replay: Option<Arc<dyn ReplayGuard>>,
    pub(crate) required: bool,
    /// Members filled from statement claims when the request omits them: (member, claims).
    pub(crate) fills: Vec<(String, Vec<String>)>,
}

impl fmt::Debug for SoftwareStatements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareStatements")
            .field("rules", &self.rules)
            .field("replay", &self.replay.is_some())
            .field("required", &self.required)
            .field("fills", &self.fills)
            .finish_non_exhaustive()
    }
}

impl SoftwareStatements {
    /// Verifies statements against the keys of trusted issuers from `keys`.
    pub fn new(keys: Arc<dyn KeySource>) -> Self {
        Self {
            keys,
            rules: JwtRules::default(),
            replay: None,
            required: false,
            fills: Vec::new(),
        }
    }

    /// Replaces the JWT rules.
    #[must_use]
    pub fn rules(mut self, rules: JwtRules) -> Self {
        self.rules = rules;
        self
    }

    /// Fills the metadata member `member`, when the request omits it, from the first of `claims`
    /// the verified statement carries (an ecosystem's own claim names: UK Open Banking's
    /// `software_jwks_endpoint` for `jwks_uri`). The filled value counts as asserted by the
    /// statement, and validation, the hook and the stored record all see it, on registration
    /// and update alike. `jwks_uri` is not filled when the request sends `jwks` (RFC 7591 §2:
    /// never both).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use oauth_dcr::statements::{SoftwareStatements, StaticKeySource};
    ///
    /// let statements = SoftwareStatements::new(Arc::new(StaticKeySource::new()))
    ///     .fill_from("redirect_uris", ["software_redirect_uris"]);
    /// ```
    #[must_use]
    pub fn fill_from<'a>(
        mut self,
        member: impl Into<String>,
        claims: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let claims = claims.into_iter().map(str::to_owned).collect();
        self.fills.push((member.into(), claims));
        self
    }

    /// Accepts each statement `jti` only once. The statement must then carry a `jti`, and `exp`
    /// unless the rules set a [`max_age`](JwtRules::max_age): the guard remembers the `jti` for
    /// as long as the statement would be accepted (until `exp` plus the leeway, or `iat` plus
    /// the maximum age plus the leeway, whichever comes first).
    #[must_use]
    pub fn replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> Self {
        self.replay = Some(guard);
        self
    }

    /// Refuses registrations without a statement.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// How the registrar treats signed request bodies (`application/jwt`): a JWS whose payload is the
/// metadata, as UK Open Banking and FAPI deployments send it.
#[derive(Clone)]
pub struct SignedRequests {
    pub(crate) keys: Arc<dyn KeySource>,
    pub(crate) rules: JwtRules,
    pub(crate) replay: Option<Arc<dyn ReplayGuard>>,
    pub(crate) required: bool,
    /// Key sets at the URLs verified statements name, by URL, fetched and cached.
    pub(crate) statement_key_sets: Option<Arc<dyn KeySource>>,
}

impl fmt::Debug for SignedRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequests")
            .field("rules", &self.rules)
            .field("replay", &self.replay.is_some())
            .field("required", &self.required)
            .field("statement_key_sets", &self.statement_key_sets.is_some())
            .finish_non_exhaustive()
    }
}

impl SignedRequests {
    /// Verifies request bodies with the keys `keys` holds for the request's `iss` (use
    /// [`StaticKeySource::with_any_issuer`] for one server-wide key set, which also verifies
    /// bodies without `iss`). When the body carries a verified software statement with a `jwks`
    /// claim, those keys are used instead, and `iss` is not required either.
    ///
    /// Set [`JwtRules::audience`] to your issuer identifier so that a body addressed to another
    /// server is refused.
    pub fn new(keys: Arc<dyn KeySource>) -> Self {
        Self {
            keys,
            rules: JwtRules {
                required_claims: vec!["iat".into(), "exp".into()],
                max_lifetime: Some(Duration::hours(24)),
                ..JwtRules::default()
            },
            replay: None,
            required: false,
            statement_key_sets: None,
        }
    }

    /// Verifies a body that carries a verified software statement naming its software's key set
    /// by URL (`software_jwks_endpoint`, or Brazil's `software_jwks_uri`) with the keys at that
    /// URL, fetched through `fetcher` and cached for five minutes per URL (fetched again early,
    /// at most every 30 seconds, when a body names a `kid` the cached set lacks; at most 1,024
    /// URLs held). UK Open Banking's Directory: the request "MUST be signed with a key in the
    /// software statement's key set". A statement's `jwks` claim still comes first; bodies
    /// without such a statement are verified with the key source of [`new`](Self::new).
    ///
    /// The URL comes from a statement the directory signed, never from the body itself; the
    /// fetcher is still responsible for the SSRF rules ([`Fetcher`](crate::fetch::Fetcher)). A failed
    /// fetch answers 500 (the detail goes to the host's logs, not to the client).
    #[must_use]
    pub fn keys_from_statement_endpoints(
        mut self,
        fetcher: Arc<dyn crate::fetch::Fetcher>,
    ) -> Self {
        let source = EndpointKeys { fetcher };
        let cached = CachingKeySource::new(source, std::time::Duration::from_secs(300));
        self.statement_key_sets = Some(Arc::new(cached));
        self
    }

    /// Replaces the JWT rules (by default `iat` and `exp` are required, and `iss` where keys are
    /// looked up by issuer).
    #[must_use]
    pub fn rules(mut self, rules: JwtRules) -> Self {
        self.rules = rules;
        self
    }

    /// Accepts each request `jti` only once. A body must then carry a `jti`, and `exp` unless
    /// the rules set a [`max_age`](JwtRules::max_age); the guard remembers the `jti` for as long
    /// as the body would be accepted.
    #[must_use]
    pub fn replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> Self {
        self.replay = Some(guard);
        self
    }

    /// Refuses plain JSON bodies.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// Why a JWS was refused.
#[derive(Debug)]
pub(crate) enum JwtError {
    /// Malformed, badly signed, expired, replayed, …
    Invalid(String),
    /// Well-formed but from an issuer the server does not trust.
    Untrusted(String),
    /// The key source or the replay guard failed.
    Internal(RegistrationError),
}

impl JwtError {
    /// The registration error, with `invalid` and `untrusted` as the codes for the two kinds.
    pub(crate) fn into_error(
        self,
        invalid: ErrorCode,
        untrusted: ErrorCode,
        what: &str,
    ) -> RegistrationError {
        match self {
            Self::Invalid(m) => RegistrationError::rejected(invalid, format!("{what}: {m}")),
            Self::Untrusted(m) => RegistrationError::rejected(untrusted, format!("{what}: {m}")),
            Self::Internal(e) => e,
        }
    }
}

/// A decoded compact JWS whose signature is not yet checked.
pub(crate) struct Decoded<'a> {
    alg: String,
    kid: Option<String>,
    pub(crate) claims: Map<String, Value>,
    signing_input: &'a [u8],
    signature: Vec<u8>,
}

/// Whether `name` is a JWT registered claim rather than client metadata.
pub(crate) fn is_registered_claim(name: &str) -> bool {
    REGISTERED_CLAIMS.contains(&name)
}

fn invalid(message: impl Into<String>) -> JwtError {
    JwtError::Invalid(message.into())
}

/// Splits and decodes a compact JWS, checks its header, and parses its payload. Nothing here is
/// trusted until [`verify_signature`] succeeds.
pub(crate) fn decode<'a>(
    raw: &'a str,
    rules: &JwtRules,
    limits: &RequestLimits,
) -> Result<Decoded<'a>, JwtError> {
    decode_typed(raw, rules, limits, None)
}

/// [`decode`] for a token whose `typ` header must be exactly `typ` (an explicitly typed JWT,
/// RFC 8725 §3.11: an entity statement is `entity-statement+jwt`); `None` accepts a plain JWT
/// or no `typ`.
pub(crate) fn decode_typed<'a>(
    raw: &'a str,
    rules: &JwtRules,
    limits: &RequestLimits,
    typ: Option<&str>,
) -> Result<Decoded<'a>, JwtError> {
    if raw.len() > rules.max_length {
        return Err(invalid(format!("longer than {} bytes", rules.max_length)));
    }
    let mut parts = raw.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a compact JWS of three parts"));
    };
    let b64 = |part: &str, name: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| invalid(format!("the {name} is not base64url")))
    };
    let header = parse_json(&b64(header, "header")?, limits, "header")?;
    let claims = parse_json(&b64(payload, "payload")?, limits, "payload")?;
    let signature = b64(signature, "signature")?;
    if signature.is_empty() {
        return Err(invalid("the signature is empty"));
    }
    let alg = check_header(&header, rules, typ)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= 256 => Some(kid.clone()),
        Some(_) => return Err(invalid("`kid` must be a non-empty string")),
    };
    let signing_input = &raw.as_bytes()[..raw.rfind('.').unwrap_or(0)];
    Ok(Decoded {
        alg,
        kid,
        claims,
        signing_input,
        signature,
    })
}

fn parse_json(
    bytes: &[u8],
    limits: &RequestLimits,
    name: &str,
) -> Result<Map<String, Value>, JwtError> {
    crate::request::parse_object(bytes, limits)
        .map_err(|e| invalid(format!("the {name} is not a JSON object ({e})")))
}

/// RFC 7515 §4.1 header checks the JOSE library leaves to us. Returns the algorithm.
fn check_header(
    header: &Map<String, Value>,
    rules: &JwtRules,
    typ: Option<&str>,
) -> Result<String, JwtError> {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("the header has no `alg` string"))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(invalid("unsigned (`alg` none) tokens are refused"));
    }
    if alg.starts_with("HS") || alg.starts_with("hs") {
        return Err(invalid(format!("the MAC algorithm `{alg}` is refused")));
    }
    if !rules.algorithms.iter().any(|a| a == alg) {
        return Err(invalid(format!("the algorithm `{alg}` is not accepted")));
    }
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: a recipient MUST reject a JWS whose `crit` names an extension it does
        // not understand; this server understands none.
        return Err(invalid("`crit` header extensions are not supported"));
    }
    if let Some(name) = KEY_HEADERS.iter().find(|h| header.contains_key(**h)) {
        return Err(invalid(format!(
            "keys in the `{name}` header are refused; keys come from configuration"
        )));
    }
    if header.contains_key("b64") {
        return Err(invalid("the `b64` header is refused"));
    }
    if header
        .get("cty")
        .and_then(Value::as_str)
        .is_some_and(|c| c.eq_ignore_ascii_case("jwt"))
    {
        return Err(invalid("nested JWTs are refused"));
    }
    match (header.get("typ"), typ) {
        (Some(Value::String(t)), Some(wanted)) if t.eq_ignore_ascii_case(wanted) => {}
        (_, Some(wanted)) => return Err(invalid(format!("the `typ` is not `{wanted}`"))),
        (None, None) => {}
        (Some(Value::String(t)), None)
            if t.eq_ignore_ascii_case("jwt") || t.eq_ignore_ascii_case("application/jwt") => {}
        (Some(other), None) => return Err(invalid(format!("the `typ` {other} is not JWT"))),
    }
    Ok(alg.to_owned())
}

/// Picks the one key that fits the token (`kid` and `alg`) and checks the signature.
///
/// `jwks` are the keys of the issuer the token names (or keys bound to it otherwise), so every
/// failure here is an invalid token, never an untrusted one: RFC 7591 §3.2.2 keeps
/// `unapproved_software_statement` for statements the server does not accept, and a statement
/// whose signature does not verify with its own issuer's keys (a trusted issuer's name over
/// another trusted issuer's key, a `kid` the issuer does not have) is simply invalid.
pub(crate) fn verify_signature(decoded: &Decoded<'_>, jwks: &Jwks) -> Result<(), JwtError> {
    let candidates: Vec<(usize, &Jwk)> = jwks
        .keys()
        .into_iter()
        .enumerate()
        .filter(|(_, k)| decoded.kid.is_none() || k.key_id() == decoded.kid.as_deref())
        .filter(|(_, k)| fits(k, &decoded.alg))
        .collect();
    let (index, key) = match candidates.as_slice() {
        [one] => *one,
        [] => {
            return Err(invalid(match &decoded.kid {
                Some(kid) => format!(
                    "no trusted `{}` key with kid `{kid}`: the signature does not verify",
                    decoded.alg
                ),
                None => format!(
                    "no trusted `{}` key: the signature does not verify",
                    decoded.alg
                ),
            }))
        }
        _ => return Err(invalid("several keys fit and the token names no `kid`")),
    };
    // Building a verifier converts the JWK into an OpenSSL key, several times the cost of the
    // signature check itself: the key set keeps each one it built.
    let verifier = jwks
        .verifier(index, &decoded.alg, || verifier(&decoded.alg, key))
        .map_err(|e| invalid(format!("unusable key: {e}")))?;
    verifier
        .verify(decoded.signing_input, &decoded.signature)
        .map_err(|_| invalid("the signature does not verify"))
}

/// Whether a JWK can verify `alg`: family and curve, and its own `alg` / `use` if given.
fn fits(key: &Jwk, alg: &str) -> bool {
    let crv = key.parameter("crv").and_then(Value::as_str);
    let family = match (key.key_type(), alg) {
        ("RSA", "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512") => true,
        ("EC", "ES256") => crv == Some("P-256"),
        ("EC", "ES384") => crv == Some("P-384"),
        ("EC", "ES512") => crv == Some("P-521"),
        ("OKP", "EdDSA") => matches!(crv, Some("Ed25519" | "Ed448")),
        _ => false,
    };
    family && key.algorithm().is_none_or(|a| a == alg) && key.key_use().is_none_or(|u| u == "sig")
}

/// Held while a JWK becomes an OpenSSL key. OpenSSL 3.0 fails to decode an RSA-PSS public key
/// on threads that decode one at the same moment as another the first time the process does,
/// and goes on failing on those threads (`tests/concurrent_keys.rs`). Key sets keep the
/// verifiers they build, so keys are decoded rarely and the lock costs nothing measurable.
pub(crate) static KEY_DECODING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn verifier(alg: &str, key: &Jwk) -> Result<Arc<dyn JwsVerifier>, String> {
    use josekit::jws::{EdDSA, ES256, ES384, ES512, PS256, PS384, PS512, RS256, RS384, RS512};
    // Nothing is left half-done by a panic while it is held: the guard protects no data.
    let _decoding = KEY_DECODING.lock().unwrap_or_else(|e| e.into_inner());
    fn boxed<V: JwsVerifier + 'static>(
        made: Result<V, josekit::JoseError>,
    ) -> Result<Arc<dyn JwsVerifier>, String> {
        made.map(|v| Arc::new(v) as Arc<dyn JwsVerifier>)
            .map_err(|e| e.to_string())
    }
    match alg {
        "RS256" => boxed(RS256.verifier_from_jwk(key)),
        "RS384" => boxed(RS384.verifier_from_jwk(key)),
        "RS512" => boxed(RS512.verifier_from_jwk(key)),
        "PS256" => boxed(PS256.verifier_from_jwk(key)),
        "PS384" => boxed(PS384.verifier_from_jwk(key)),
        "PS512" => boxed(PS512.verifier_from_jwk(key)),
        "ES256" => boxed(ES256.verifier_from_jwk(key)),
        "ES384" => boxed(ES384.verifier_from_jwk(key)),
        "ES512" => boxed(ES512.verifier_from_jwk(key)),
        "EdDSA" => boxed(EdDSA.verifier_from_jwk(key)),
        other => Err(format!("the algorithm `{other}` is not supported")),
    }
}

/// Time, audience and presence rules on verified claims. Returns the end of the token's
/// acceptance window (exclusive) when `exp` or [`JwtRules::max_age`] bounds it.
///
/// Every time claim is a NumericDate (RFC 7519 §2), an integer or not, read the same way; the
/// arithmetic with the leeway and the maximum age saturates, so no claim can overflow it.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    rules: &JwtRules,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, JwtError> {
    for name in &rules.required_claims {
        if claims.get(name).is_none_or(Value::is_null) {
            return Err(invalid(format!("the claim `{name}` is required")));
        }
    }
    let times = Times::of(claims)?;
    let until = times.accepted_until(rules)?;
    if let (Some(end), Some(lifetime)) = (until, rules.max_lifetime) {
        let latest = now.saturating_add(lifetime).saturating_add(rules.leeway);
        if end > latest {
            return Err(invalid(format!(
                "it would be accepted for longer than {lifetime}: its `exp` is too far ahead"
            )));
        }
    }
    if until.is_some_and(|end| now >= end) {
        return Err(match times.exp {
            Some(exp) if now >= exp.saturating_add(rules.leeway) => invalid("expired"),
            _ => invalid("issued too long ago"),
        });
    }
    if times
        .nbf
        .is_some_and(|nbf| now < nbf.saturating_sub(rules.leeway))
    {
        return Err(invalid("not valid yet"));
    }
    if times
        .iat
        .is_some_and(|iat| now < iat.saturating_sub(rules.leeway))
    {
        return Err(invalid("issued in the future"));
    }
    check_audience(claims, rules)?;
    Ok(until)
}

/// The time claims of a token.
struct Times {
    exp: Option<OffsetDateTime>,
    nbf: Option<OffsetDateTime>,
    iat: Option<OffsetDateTime>,
}

impl Times {
    fn of(claims: &Map<String, Value>) -> Result<Self, JwtError> {
        Ok(Self {
            exp: numeric_date(claims, "exp")?,
            nbf: numeric_date(claims, "nbf")?,
            iat: numeric_date(claims, "iat")?,
        })
    }

    /// The instant from which the token is refused: `exp` plus the leeway, or `iat` plus the
    /// maximum age and the leeway, whichever comes first; `None` when neither bounds it.
    fn accepted_until(&self, rules: &JwtRules) -> Result<Option<OffsetDateTime>, JwtError> {
        let by_exp = self.exp.map(|exp| exp.saturating_add(rules.leeway));
        let by_age = match (rules.max_age, self.iat) {
            (None, _) => None,
            (Some(max_age), Some(iat)) => {
                Some(iat.saturating_add(max_age.saturating_add(rules.leeway)))
            }
            (Some(_), None) => return Err(invalid("the claim `iat` is required")),
        };
        Ok(match (by_exp, by_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }
}

/// A NumericDate claim (RFC 7519 §2: seconds since the epoch, "non-integer values can be
/// represented"): integers and fractions alike, refused outside the dates the clock can hold.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<OffsetDateTime>, JwtError> {
    let number = match claims.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number,
        Some(_) => return Err(invalid(format!("the claim `{name}` is not a NumericDate"))),
    };
    let at = match number.as_i64() {
        Some(seconds) => OffsetDateTime::from_unix_timestamp(seconds).ok(),
        None => number.as_f64().and_then(from_fractional_seconds),
    };
    at.map(Some).ok_or_else(|| {
        invalid(format!(
            "the claim `{name}` is a NumericDate out of range: {number}"
        ))
    })
}

/// Seconds with a fraction as an instant, to the nanosecond; `None` when not finite or out of
/// range.
fn from_fractional_seconds(seconds: f64) -> Option<OffsetDateTime> {
    // Far beyond any date the clock holds, and well inside `i128`: the cast below is exact in
    // range, and never reached with a value it would have to saturate.
    const LIMIT: f64 = 1e20;
    if !seconds.is_finite() || seconds.abs() > LIMIT {
        return None;
    }
    let nanos = (seconds * 1e9).round() as i128;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

fn check_audience(claims: &Map<String, Value>, rules: &JwtRules) -> Result<(), JwtError> {
    let expected: Vec<&str> = rules
        .audience
        .iter()
        .chain(&rules.other_audiences)
        .map(String::as_str)
        .collect();
    if expected.is_empty() {
        return Ok(());
    }
    let ok = match claims.get("aud") {
        Some(Value::String(aud)) => expected.contains(&aud.as_str()),
        Some(Value::Array(list)) => list
            .iter()
            .any(|a| a.as_str().is_some_and(|a| expected.contains(&a))),
        _ => false,
    };
    match expected.as_slice() {
        _ if ok => Ok(()),
        [one] => Err(invalid(format!("the audience must include `{one}`"))),
        several => Err(invalid(format!(
            "the audience must include one of `{}`",
            several.join("`, `")
        ))),
    }
}

/// Verifies a software statement from a key source: decode, trusted issuer, signature
/// (refreshing keys once on an unknown `kid`), claims and replay. RFC 7591 §2.3: a statement
/// "MUST contain an `iss` (issuer) claim".
pub(crate) async fn verify_from_source<'a>(
    raw: &'a str,
    rules: &JwtRules,
    source: &dyn KeySource,
    replay: Option<&dyn ReplayGuard>,
    limits: &RequestLimits,
    now: OffsetDateTime,
) -> Result<Decoded<'a>, JwtError> {
    let (decoded, until) = verify_unspent(raw, rules, source, limits, now).await?;
    check_replay(&decoded.claims, until, replay, now).await?;
    Ok(decoded)
}

/// [`verify_from_source`] without the replay guard: decode, trusted issuer, signature and
/// claims. Returns the end of the token's acceptance window, for [`spend`] once whatever the
/// token travels in has verified too.
pub(crate) async fn verify_unspent<'a>(
    raw: &'a str,
    rules: &JwtRules,
    source: &dyn KeySource,
    limits: &RequestLimits,
    now: OffsetDateTime,
) -> Result<(Decoded<'a>, Option<OffsetDateTime>), JwtError> {
    let decoded = decode(raw, rules, limits)?;
    let keys = issuer_keys(&decoded, source).await?;
    verify_signature(&decoded, &keys)?;
    let until = check_claims(&decoded.claims, rules, now)?;
    Ok((decoded, until))
}

/// Accepts the `jti` of verified `claims` once (see [`verify_unspent`]).
pub(crate) async fn spend(
    claims: &Map<String, Value>,
    until: Option<OffsetDateTime>,
    replay: Option<&dyn ReplayGuard>,
    now: OffsetDateTime,
) -> Result<(), JwtError> {
    check_replay(claims, until, replay, now).await
}

/// Verifies a signed request body from a key source. Its `iss` is required only where it is bound
/// to something: when `source` looks keys up by issuer. A source with keys for any issuer
/// ([`KeySource::keys_for_any_issuer`]) verifies a body without `iss`.
pub(crate) async fn verify_body_from_source<'a>(
    raw: &'a str,
    rules: &JwtRules,
    source: &dyn KeySource,
    replay: Option<&dyn ReplayGuard>,
    limits: &RequestLimits,
    now: OffsetDateTime,
) -> Result<Decoded<'a>, JwtError> {
    let decoded = decode(raw, rules, limits)?;
    let keys = if decoded.claims.get("iss").is_none_or(Value::is_null) {
        source
            .keys_for_any_issuer()
            .await
            .map_err(internal)?
            .ok_or_else(|| invalid("the claim `iss` is required: keys are looked up by issuer"))?
    } else {
        issuer_keys(&decoded, source).await?
    };
    verified(decoded, &keys, rules, replay, now).await
}

fn internal(e: KeyError) -> JwtError {
    JwtError::Internal(RegistrationError::Internal(Box::new(e)))
}

/// The keys of the token's issuer, refreshed once when they lack the token's `kid`.
async fn issuer_keys(decoded: &Decoded<'_>, source: &dyn KeySource) -> Result<Arc<Jwks>, JwtError> {
    let issuer = match decoded.claims.get("iss") {
        Some(Value::String(issuer)) => issuer.as_str(),
        None | Some(Value::Null) => return Err(invalid("the claim `iss` is required")),
        Some(_) => return Err(invalid("the claim `iss` must be a string")),
    };
    named_keys(decoded, source, issuer).await
}

/// The keys `source` holds under `issuer`, refreshed once when they lack the token's `kid`.
async fn named_keys(
    decoded: &Decoded<'_>,
    source: &dyn KeySource,
    issuer: &str,
) -> Result<Arc<Jwks>, JwtError> {
    let keys = source
        .keys(issuer)
        .await
        .map_err(internal)?
        .ok_or_else(|| JwtError::Untrusted(format!("the issuer `{issuer}` is not trusted")))?;
    if decoded.kid.as_deref().is_some_and(|kid| !keys.has_kid(kid)) {
        if let Some(fresh) = source.refresh(issuer).await.map_err(internal)? {
            return Ok(fresh);
        }
    }
    Ok(keys)
}

/// Verifies a compact JWS with the keys `source` holds under `name` (the key set URL a verified
/// statement names), refreshed once when they lack the token's `kid`.
pub(crate) async fn verify_with_named_source<'a>(
    raw: &'a str,
    rules: &JwtRules,
    source: &dyn KeySource,
    name: &str,
    replay: Option<&dyn ReplayGuard>,
    limits: &RequestLimits,
    now: OffsetDateTime,
) -> Result<Decoded<'a>, JwtError> {
    let decoded = decode(raw, rules, limits)?;
    let keys = named_keys(&decoded, source, name).await?;
    verified(decoded, &keys, rules, replay, now).await
}

/// Verifies a compact JWS against a fixed key set (keys named by a verified statement).
pub(crate) async fn verify_with_keys<'a>(
    raw: &'a str,
    rules: &JwtRules,
    keys: &Jwks,
    replay: Option<&dyn ReplayGuard>,
    limits: &RequestLimits,
    now: OffsetDateTime,
) -> Result<Decoded<'a>, JwtError> {
    let decoded = decode(raw, rules, limits)?;
    verified(decoded, keys, rules, replay, now).await
}

/// Signature, claims and replay of a decoded token.
async fn verified<'a>(
    decoded: Decoded<'a>,
    keys: &Jwks,
    rules: &JwtRules,
    replay: Option<&dyn ReplayGuard>,
    now: OffsetDateTime,
) -> Result<Decoded<'a>, JwtError> {
    verify_signature(&decoded, keys)?;
    let until = check_claims(&decoded.claims, rules, now)?;
    check_replay(&decoded.claims, until, replay, now).await?;
    Ok(decoded)
}

/// Accepts the token's `jti` once. The guard remembers it until the end of the token's
/// acceptance window, so a token is never accepted again while it is still valid: with a guard,
/// that window must be bounded (by `exp`, or by `iat` and [`JwtRules::max_age`]).
async fn check_replay(
    claims: &Map<String, Value>,
    until: Option<OffsetDateTime>,
    replay: Option<&dyn ReplayGuard>,
    now: OffsetDateTime,
) -> Result<(), JwtError> {
    let Some(guard) = replay else { return Ok(()) };
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid("the claim `jti` is required"))?;
    let until = until.ok_or_else(|| {
        invalid(
            "the claim `exp` is required: a `jti` is remembered only while its token is \
             accepted",
        )
    })?;
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = format!("{issuer}\u{0}{jti}");
    match guard.first_use(&key, now, until).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(invalid("the `jti` was used before")),
        Err(e) => Err(JwtError::Internal(e.into())),
    }
}

/// The claims of a software statement that name the software's key set by URL: UK Open Banking
/// and Brazil spellings.
pub(crate) const STATEMENT_JWKS_CLAIMS: [&str; 2] = ["software_jwks_endpoint", "software_jwks_uri"];

/// Key sets by URL, fetched: the "issuer" a [`KeySource`] is asked about is the URL itself.
struct EndpointKeys {
    fetcher: Arc<dyn crate::fetch::Fetcher>,
}

#[async_trait::async_trait]
impl KeySource for EndpointKeys {
    async fn keys(&self, url: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        let fetched = self
            .fetcher
            .fetch(url, crate::fetch::FetchLimits::default())
            .await
            .map_err(|e| KeyError::new(format!("{url}: {e}")))?;
        Jwks::from_json(&fetched.body).map(|k| Some(Arc::new(k)))
    }
}
