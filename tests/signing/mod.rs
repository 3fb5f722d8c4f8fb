//! Fixtures for the software statement and protection tests: the keys of `tests/data/keys/`,
//! compact JWS built by hand (so that tests can make every kind of malformed or malicious token),
//! a manual clock, and a reader for error responses.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use http::{HeaderMap, StatusCode};
use josekit::jws::JwsSigner;
use oauth_dcr::{
    Clock, Jwks, MemoryStore, Registrar, RegistrationError, RegistrationResponse, RequestContext,
    ServerPolicy, SoftwareStatements, StaticKeySource,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// The registration endpoint of every test server.
pub const ENDPOINT: &str = "https://as.example/register";

/// The trusted directory that signs software statements.
pub const ISSUER: &str = "https://directory.example";

/// The manual clock's starting time (2023-11-14T22:13:20Z).
pub const START: i64 = 1_700_000_000;

/// The redirect URI of the test clients.
pub const REDIRECT: &str = "https://app.example/cb";

/// The statement algorithms the crate accepts by default, with the issuer key for each.
pub const ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// A file of `tests/data/keys/`.
pub fn key_file(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"));
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

/// A josekit signer for `alg` from a PEM private key of `tests/data/keys/`.
///
/// The first call decodes an RSA-PSS key before any other: OpenSSL 3.0 fails on threads that
/// decode the process's first RSA-PSS keys at the same moment (see `tests/concurrent_keys.rs`),
/// and the crate can serialize only its own decoding, not these helpers'. Every test signs
/// before the crate verifies, so no decoding in a test binary races the first.
pub fn signer(alg: &str, pem_file: &str) -> Box<dyn JwsSigner> {
    use josekit::jws::{EdDSA, ES256, PS256, RS256, RS384};
    static FIRST_RSA_PSS: std::sync::Once = std::sync::Once::new();
    FIRST_RSA_PSS.call_once(|| {
        let pem = key_file("issuer-ps256.pem");
        let mut jwk = RS256.key_pair_from_pem(&pem).unwrap().to_jwk_private_key();
        jwk.set_algorithm("PS256");
        PS256.signer_from_jwk(&jwk).unwrap();
    });
    let pem = key_file(pem_file);
    match alg {
        "RS256" => Box::new(RS256.signer_from_pem(&pem).unwrap()),
        "RS384" => Box::new(RS384.signer_from_pem(&pem).unwrap()),
        // josekit reads a PS256 key from PEM only in the RSASSA-PSS PKCS#8 form; the test keys are
        // plain RSA keys (as `openssl genpkey -algorithm RSA` writes them), so go through a JWK.
        "PS256" => {
            let mut jwk = RS256.key_pair_from_pem(&pem).unwrap().to_jwk_private_key();
            jwk.set_algorithm("PS256");
            Box::new(PS256.signer_from_jwk(&jwk).unwrap())
        }
        "ES256" => Box::new(ES256.signer_from_pem(&pem).unwrap()),
        "EdDSA" => Box::new(EdDSA.signer_from_pem(&pem).unwrap()),
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

/// The claims of a valid statement at `now`: issuer, times, and client metadata.
pub fn statement_claims(now: i64) -> Value {
    json!({
        "iss": ISSUER,
        "iat": now,
        "exp": now + 300,
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
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

/// A clock that moves only when a test says so.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new() -> Self {
        Self(Mutex::new(
            OffsetDateTime::from_unix_timestamp(START).unwrap(),
        ))
    }

    pub fn advance(&self, by: time::Duration) {
        *self.0.lock().unwrap() += by;
    }

    pub fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// A registrar over a `MemoryStore` the test keeps, with a manual clock.
pub struct Fixture {
    pub registrar: Registrar,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
}

impl Fixture {
    pub fn new(configure: impl FnOnce(Registrar) -> Registrar) -> Self {
        Self::with_policy(ServerPolicy::new(ENDPOINT), configure)
    }

    pub fn with_policy(
        policy: ServerPolicy,
        configure: impl FnOnce(Registrar) -> Registrar,
    ) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new());
        let registrar = configure(Registrar::new(policy, store.clone()).with_clock(clock.clone()));
        Self {
            registrar,
            store,
            clock,
        }
    }

    /// A registrar trusting the issuer's keys for software statements.
    pub fn statements() -> Self {
        Self::new(|r| r.with_software_statements(trusting_issuer()))
    }

    pub fn now(&self) -> i64 {
        self.clock.unix()
    }

    pub async fn register(
        &self,
        body: &Value,
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let bytes = serde_json::to_vec(body).unwrap();
        self.registrar.register(&bytes, context).await
    }

    /// Registers `body` anonymously; panics with the error if it is refused.
    pub async fn accept(&self, body: &Value) -> RegistrationResponse {
        self.register(body, &RequestContext::new())
            .await
            .unwrap_or_else(|e| panic!("registration of {body} refused: {e}"))
    }

    /// Registers `body` anonymously and returns the refusal; panics if it is accepted.
    pub async fn refuse(&self, body: &Value) -> RegistrationError {
        self.refuse_with(body, &RequestContext::new()).await
    }

    pub async fn refuse_with(&self, body: &Value, context: &RequestContext) -> RegistrationError {
        match self.register(body, context).await {
            Ok(r) => panic!(
                "expected a refusal of {body}, got {}",
                String::from_utf8_lossy(&r.to_json())
            ),
            Err(e) => e,
        }
    }
}

/// Software statements from `ISSUER`, verified with `issuer.jwks.json`.
pub fn trusting_issuer() -> SoftwareStatements {
    SoftwareStatements::new(Arc::new(
        StaticKeySource::new().with_issuer(ISSUER, jwks("issuer.jwks.json")),
    ))
}

/// A registration body carrying a statement, with self-asserted members that differ from it.
pub fn body_with(statement: &str) -> Value {
    json!({
        "redirect_uris": ["https://app.example/body"],
        "client_name": "A",
        "software_statement": statement,
    })
}

/// An `http::Response` taken apart: status, headers and the body parsed as JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn of(response: impl Into<http::Response<Vec<u8>>>) -> Self {
        let response = response.into();
        let json = if response.body().is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(response.body()).unwrap_or_else(|e| {
                panic!(
                    "the body is not JSON ({e}): {}",
                    String::from_utf8_lossy(response.body())
                )
            })
        };
        Self {
            status: response.status(),
            headers: response.headers().clone(),
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    pub fn description(&self) -> &str {
        self.json["error_description"].as_str().unwrap_or_default()
    }
}

/// Asserts a refusal's status and code, its JSON shape and cache headers; returns the reply.
pub fn assert_error(err: RegistrationError, status: u16, code: &str) -> Reply {
    let reply = Reply::of(err);
    assert_eq!(reply.status.as_u16(), status, "{reply:?}");
    assert_eq!(reply.error(), code, "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
    let members: Vec<&String> = reply.json.as_object().unwrap().keys().collect();
    assert!(
        members
            .iter()
            .all(|m| *m == "error" || *m == "error_description"),
        "an error body carries only error and error_description: {reply:?}"
    );
    reply
}
