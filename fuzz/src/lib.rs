//! Fixtures and invariants shared by the fuzz targets: one current-thread runtime, registrars
//! configured like a real server, a fixed clock and the checks every answer must pass.

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jws::{JwsSigner, RS256};
use oauth_dcr::statements::{
    Jwks, JwtRules, MemoryReplayGuard, SignedRequests, SoftwareStatements, StaticKeySource,
};
use oauth_dcr::{Clock, ErrorCode, MemoryStore, Registrar, RegistrationError, ServerPolicy};
use time::OffsetDateTime;

/// The registration endpoint of every fuzzed registrar.
pub const ENDPOINT: &str = "https://as.example/register";

/// The trusted software statement issuer; its key is `tests/hostile/keys/issuer.jwk.json`.
pub const ISSUER: &str = "https://directory.example";

/// The fixed time of every fuzzed registrar (2023-11-14T22:13:20Z): the seed statements are
/// valid at this instant.
pub const NOW: i64 = 1_700_000_000;

/// The trusted issuer's public key set.
pub const ISSUER_JWKS: &str = concat!(
    r#"{"keys":["#,
    include_str!("../../tests/hostile/keys/issuer.jwk.json"),
    "]}"
);

/// A fixed clock.
#[derive(Debug)]
pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).expect("a valid timestamp")
    }
}

/// The one current-thread runtime every target runs its futures on.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a tokio runtime")
        })
        .block_on(future)
}

/// The trusted issuer's keys.
pub fn issuer_jwks() -> Jwks {
    Jwks::from_json(ISSUER_JWKS.as_bytes()).expect("the issuer JWKS parses")
}

/// The policy of the fuzzed registrars: the defaults plus one accepted extension.
pub fn policy() -> ServerPolicy {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy
        .accepted_extensions
        .insert("example_extension_parameter".to_owned());
    policy
}

/// A registrar over a fresh store, without software statement support.
pub fn plain_registrar() -> Registrar {
    Registrar::new(policy(), Arc::new(MemoryStore::new())).with_clock(Arc::new(FixedClock))
}

/// A registrar over a fresh store that verifies software statements from [`ISSUER`] and accepts
/// signed request bodies verified with the same keys.
pub fn protected_registrar(keys: Jwks) -> Registrar {
    let statements = StaticKeySource::new().with_issuer(ISSUER, keys.clone());
    let requests = StaticKeySource::new().with_any_issuer(keys);
    plain_registrar()
        .with_software_statements(SoftwareStatements::new(Arc::new(statements)))
        .with_signed_requests(SignedRequests::new(Arc::new(requests)))
}

/// A registrar like [`protected_registrar`] whose statements and signed bodies also pass a
/// replay guard, with a five-minute maximum age when `max_age` is set: every claim-time
/// computation (leeway, maximum age, the guard's expiry) is reached.
pub fn guarded_registrar(keys: Jwks, max_age: bool) -> Registrar {
    let mut rules = JwtRules::default();
    if max_age {
        rules.max_age = Some(time::Duration::minutes(5));
    }
    let statements = StaticKeySource::new().with_issuer(ISSUER, keys.clone());
    let requests = StaticKeySource::new().with_any_issuer(keys);
    plain_registrar()
        .with_software_statements(
            SoftwareStatements::new(Arc::new(statements))
                .rules(rules.clone())
                .replay_guard(Arc::new(MemoryReplayGuard::new())),
        )
        .with_signed_requests(
            SignedRequests::new(Arc::new(requests))
                .rules(rules)
                .replay_guard(Arc::new(MemoryReplayGuard::new())),
        )
}

/// NumericDates at the edges, as a client may write them: the bounds of `i64` and `u64`, the
/// years −9999, 0 and 9999 and just past, the fixed clock's time and its leeway, fractions,
/// huge and tiny floats, and values that are no number at all.
pub const EDGE_TIMES: [&str; 30] = [
    "-9223372036854775808",
    "9223372036854775807",
    "18446744073709551615",
    "123456789012345678901234567890",
    "-377705116800",
    "-377705116801",
    "-62167219200",
    "253402300799",
    "253402300800",
    "253402300799.999999999",
    "0",
    "-0",
    "-1",
    "1700000000",
    "1699999940",
    "1700000060",
    "1700000300",
    "1699999700",
    "1700000000.5",
    "1.7e9",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "5e-324",
    "1e19",
    "1e400",
    "\"1700000000\"",
    "null",
    "true",
    "[]",
];

/// The JSON text of a claim time picked by `selector`: an edge, absent (`None`), an `i64` or an
/// `f64` read from `bytes`.
fn claim_time(selector: u8, bytes: &mut &[u8]) -> Option<String> {
    let mut word = || {
        let mut eight = [0u8; 8];
        let n = bytes.len().min(8);
        eight[..n].copy_from_slice(&bytes[..n]);
        *bytes = &bytes[n..];
        eight
    };
    match usize::from(selector) % (EDGE_TIMES.len() + 3) {
        i if i < EDGE_TIMES.len() => Some(EDGE_TIMES[i].to_owned()),
        i if i == EDGE_TIMES.len() => None,
        i if i == EDGE_TIMES.len() + 1 => Some(i64::from_le_bytes(word()).to_string()),
        _ => {
            let f = f64::from_le_bytes(word());
            Some(if f.is_finite() {
                format!("{f:e}")
            } else {
                "0".to_owned()
            })
        }
    }
}

/// A JWT payload built from fuzz input, so that claim times reach their edges behind a valid
/// signature: three selector bytes pick `exp`, `iat` and `nbf` (see [`EDGE_TIMES`]); what is
/// left, when it is a JSON object, adds its members (metadata, `jti`, `aud`, `iss`, more
/// times). `issuer` is the default `iss` (`None`: none).
pub fn claims_from_bytes(data: &[u8], issuer: Option<&str>) -> String {
    let (selectors, mut rest) = data.split_at(data.len().min(3));
    let mut members = Vec::new();
    for (i, name) in ["exp", "iat", "nbf"].into_iter().enumerate() {
        let selector = selectors.get(i).copied().unwrap_or(0);
        if let Some(raw) = claim_time(selector, &mut rest) {
            members.push(format!("\"{name}\":{raw}"));
        }
    }
    let extra: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(rest).unwrap_or_default();
    let mut defaults = serde_json::json!({
        "jti": "fuzz",
        "redirect_uris": ["https://app.example/cb"],
    });
    if let Some(issuer) = issuer {
        defaults["iss"] = issuer.into();
    }
    for (name, value) in defaults.as_object().into_iter().flatten() {
        if !extra.contains_key(name) {
            members.push(format!(
                "{}:{value}",
                serde_json::Value::from(name.as_str())
            ));
        }
    }
    for (name, value) in &extra {
        members.push(format!(
            "{}:{value}",
            serde_json::Value::from(name.as_str())
        ));
    }
    format!("{{{}}}", members.join(","))
}

/// The trusted issuer's private key (`tests/hostile/keys/issuer.pem`), signing fuzz payloads.
const ISSUER_PEM: &str = include_str!("../../tests/hostile/keys/issuer.pem");

/// A compact JWS of `payload` (JSON text, as is) signed RS256 by the trusted issuer's key.
pub fn issuer_signed(payload: &str) -> String {
    issuer_signed_as(payload, "JWT")
}

/// [`issuer_signed`] with the `typ` header `typ` (`entity-statement+jwt` for the federation
/// target, whose trust anchor holds the same key).
pub fn issuer_signed_as(payload: &str, typ: &str) -> String {
    static SIGNER: OnceLock<Box<dyn JwsSigner>> = OnceLock::new();
    let signer = SIGNER.get_or_init(|| {
        Box::new(
            RS256
                .signer_from_pem(ISSUER_PEM)
                .expect("the issuer key parses"),
        )
    });
    let header = serde_json::json!({"alg": "RS256", "typ": typ, "kid": "issuer-rs256"}).to_string();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = signer.sign(input.as_bytes()).expect("RS256 signs");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Every refusal is a client error with an RFC code (the in-memory store never fails, so a 500
/// is a finding too); a panic here is a finding.
pub fn check_error(error: &RegistrationError) {
    let status = error.status();
    let response = error.response();
    let known = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidRedirectUri,
        ErrorCode::InvalidClientMetadata,
        ErrorCode::InvalidSoftwareStatement,
        ErrorCode::UnapprovedSoftwareStatement,
        ErrorCode::InvalidToken,
        ErrorCode::InsufficientScope,
        ErrorCode::AccessDenied,
        ErrorCode::ServerError,
    ];
    assert!(known.contains(&response.error), "unknown code {error:?}");
    assert!(
        matches!(status.as_u16(), 400 | 401 | 403 | 413),
        "unexpected status {status} for {error:?}"
    );
    if let RegistrationError::InvalidMetadata(violations) = error {
        assert!(violations.iter().next().is_some(), "empty violations");
        for v in violations.iter() {
            assert!(!v.field.is_empty(), "a violation names no field: {v:?}");
        }
    }
    assert!(serde_json::to_vec(&response).is_ok());
}

/// Every HTTP answer is no-store, and every error body is JSON with an `error` string.
pub fn check_response(response: &http::Response<Vec<u8>>) {
    assert_eq!(
        response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "a response without Cache-Control: no-store"
    );
    let status = response.status();
    assert!(
        matches!(
            status.as_u16(),
            200 | 201 | 204 | 400 | 401 | 403 | 404 | 405 | 413 | 415
        ),
        "unexpected status {status}"
    );
    if !status.is_success() {
        let body: serde_json::Value =
            serde_json::from_slice(response.body()).expect("an error body is JSON");
        assert!(body["error"].is_string(), "an error body without `error`");
    }
}

/// How a fuzzed body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `application/jwt`: a signed request body.
    Jwt,
}

/// Registers `body` as a host's handler does: read into a request within the policy's limits,
/// then registered.
pub fn register_body(
    registrar: &Registrar,
    body: &[u8],
    format: Format,
) -> Result<oauth_dcr::RegistrationResponse, RegistrationError> {
    let limits = &registrar.policy().limits;
    let request = match format {
        Format::Json => oauth_dcr::RegistrationRequest::from_json(body, limits)?,
        Format::Jwt => oauth_dcr::RegistrationRequest::from_jwt(body, limits)?,
    };
    block_on(registrar.register(request, &oauth_dcr::RequestContext::new()))
}

/// The federation target: the first byte picks the mode.
///
/// - even: the rest is JSON, an array whose last element is `openid_relying_party` metadata and
///   whose other elements are `metadata_policy` claims, resolved in order and applied to it. No
///   resolved parameter may come out `null`, and an essential one may not be missing.
/// - odd: the rest is lines, a trust chain of compact entity statements, verified against the
///   trust anchor `ISSUER` (the trusted issuer's key set) at `NOW`; a line that starts with `{`
///   is a payload signed as an entity statement by that key, so that the chain reaches the checks
///   behind the signatures. A chain that verifies names that anchor and its first statement's
///   subject.
pub fn federation(data: &[u8]) {
    use oauth_dcr::federation::chain::{verify_chain, ChainRules, TrustAnchor};
    use oauth_dcr::federation::policy::MetadataPolicy;

    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(serde_json::Value::Array(mut items)) = serde_json::from_slice(rest) else {
            return;
        };
        let Some(serde_json::Value::Object(metadata)) = items.pop() else {
            return;
        };
        let Ok(policy) = MetadataPolicy::resolve(&items, &[]) else {
            return;
        };
        if let Ok(out) = policy.apply("openid_relying_party", &metadata) {
            for (name, value) in &out {
                let kept = metadata.get(name) == Some(value);
                assert!(kept || !value.is_null(), "the policy output {name}: null");
            }
            for (name, _) in &metadata {
                let essential = policy
                    .parameter("openid_relying_party", name)
                    .and_then(|p| p.essential)
                    == Some(true);
                assert!(
                    !essential || out.contains_key(name),
                    "essential {name} removed"
                );
            }
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let chain: Vec<String> = text
        .lines()
        .take(16)
        .map(|line| {
            if line.starts_with('{') {
                issuer_signed_as(line, "entity-statement+jwt")
            } else {
                line.to_owned()
            }
        })
        .collect();
    let anchors = [TrustAnchor::new(ISSUER, issuer_jwks())];
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("a valid timestamp");
    if let Ok(verified) = verify_chain(&chain, &anchors, &ChainRules::default(), now) {
        assert_eq!(verified.trust_anchor, ISSUER);
        assert!(verified.expires_at >= now - time::Duration::seconds(60));
    }
}
