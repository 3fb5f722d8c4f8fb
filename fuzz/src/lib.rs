//! Fixtures and invariants shared by the fuzz targets: one current-thread runtime, registrars
//! configured like a real server, a fixed clock and the checks every answer must pass.

use std::sync::{Arc, OnceLock};

use oauth_dcr::{
    Clock, ErrorCode, Jwks, MemoryStore, Registrar, RegistrationError, ServerPolicy,
    SignedRequests, SoftwareStatements, StaticKeySource,
};
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
