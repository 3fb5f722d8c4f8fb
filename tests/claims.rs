//! Claim times at the edges (issue 14, items B6 and B7): whatever numbers a software statement,
//! a signed request body or an initial access token carries, the answer is a 201 or a 400 with
//! the mode's error code, never a panic or a 500; integer and fractional NumericDates are read
//! alike; and a replay guard remembers a `jti` for as long as its token would be accepted.
//!
//! Tokens are signed with the keys of `tests/data/keys/`; their payloads are written as text, so
//! that a claim can hold any JSON number (`1e308`, `-0`, 30 digits) exactly as a client sends it.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use oauth_dcr::initial_tokens::{InitialAccessGrant, IssuedInitialTokens, TokenSpec};
use oauth_dcr::statements::{
    JwtRules, MemoryReplayGuard, ReplayGuard, SignedRequests, StaticKeySource,
};
use oauth_dcr::{
    MemoryStore, Registrar, RegistrationError, RegistrationResponse, RequestContext, ServerPolicy,
    StoreError,
};
use proptest::prelude::*;
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// 9999-12-31T23:59:59Z, the last whole second the clock holds.
const LAST_SECOND: i64 = 253_402_300_799;

/// A replay guard that remembers in memory and records every expiry it is asked to keep.
#[derive(Default)]
struct RecordingGuard {
    inner: MemoryReplayGuard,
    expiries: Mutex<Vec<OffsetDateTime>>,
}

impl RecordingGuard {
    fn last(&self) -> Option<OffsetDateTime> {
        self.expiries.lock().unwrap().last().copied()
    }
}

#[async_trait]
impl ReplayGuard for RecordingGuard {
    async fn first_use(
        &self,
        key: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.expiries.lock().unwrap().push(expires_at);
        self.inner.first_use(key, now, expires_at).await
    }
}

/// How a registrar is configured for one run.
#[derive(Debug, Clone, Copy)]
enum Setup {
    /// The defaults: no replay guard, no maximum age.
    Plain,
    /// A replay guard.
    Guarded,
    /// A replay guard and a maximum age of five minutes.
    GuardedWithMaxAge,
    /// A maximum age and a leeway as long as a `Duration` can be.
    Extreme,
    /// A leeway as negative as a `Duration` can be.
    NegativeLeeway,
}

const SETUPS: [Setup; 5] = [
    Setup::Plain,
    Setup::Guarded,
    Setup::GuardedWithMaxAge,
    Setup::Extreme,
    Setup::NegativeLeeway,
];

impl Setup {
    fn rules(self, mut rules: JwtRules) -> JwtRules {
        match self {
            Self::Plain | Self::Guarded => {}
            Self::GuardedWithMaxAge => rules.max_age = Some(Duration::minutes(5)),
            Self::Extreme => {
                rules.max_age = Some(Duration::MAX);
                rules.leeway = Duration::MAX;
            }
            Self::NegativeLeeway => rules.leeway = Duration::MIN,
        }
        rules
    }

    fn guarded(self) -> bool {
        matches!(self, Self::Guarded | Self::GuardedWithMaxAge)
    }
}

/// A registrar for statements or signed bodies, with `setup`, `guard` and `clock`.
fn registrar(
    mode: Mode,
    setup: Setup,
    guard: Arc<dyn ReplayGuard>,
    clock: Arc<ManualClock>,
) -> Registrar {
    let store = Arc::new(MemoryStore::new());
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), store).with_clock(clock);
    match mode {
        Mode::Statement => {
            let mut statements = trusting_issuer().rules(setup.rules(JwtRules::default()));
            if setup.guarded() {
                statements = statements.replay_guard(guard);
            }
            registrar.with_software_statements(statements)
        }
        Mode::SignedBody => {
            let keys = StaticKeySource::new().with_any_issuer(jwks("client.jwks.json"));
            // `SignedRequests`' default rules require `iat` and `exp`; with a guard, these
            // require `iat` only and leave `exp` to the guard's own rule (required unless a
            // maximum age bounds the body).
            let mut base = JwtRules::default();
            base.required_claims = vec!["iat".into(), "exp".into()];
            if setup.guarded() {
                base.required_claims = vec!["iat".into()];
            }
            let mut requests = SignedRequests::new(Arc::new(keys)).rules(setup.rules(base));
            if setup.guarded() {
                requests = requests.replay_guard(guard);
            }
            registrar.with_signed_requests(requests)
        }
    }
}

/// Where the claims travel.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// In a software statement, inside a JSON body.
    Statement,
    /// As the payload of an `application/jwt` body.
    SignedBody,
}

impl Mode {
    /// The error code of every refusal in this mode.
    fn code(self) -> &'static str {
        match self {
            Self::Statement => "invalid_software_statement",
            Self::SignedBody => "invalid_request",
        }
    }

    /// A signed token whose payload is `members` (JSON text, raw numbers as written) followed
    /// by the mode's other claims.
    fn token(self, members: &[(&str, &str)], jti: &str) -> String {
        let (header, rest, pem) = match self {
            Self::Statement => (
                r#"{"alg":"ES256","typ":"JWT","kid":"issuer-es256"}"#,
                json!({ "iss": ISSUER, "jti": jti, "software_id": "4NRB1-0XZABZI9E6-5SM3R",
                        "redirect_uris": [REDIRECT] }),
                "issuer-es256.pem",
            ),
            Self::SignedBody => (
                r#"{"alg":"ES256","typ":"JWT","kid":"client-es256"}"#,
                json!({ "iss": "https://app.example", "jti": jti,
                        "redirect_uris": [REDIRECT] }),
                "client-es256.pem",
            ),
        };
        let mut payload = String::from("{");
        for (name, raw) in members {
            payload.push_str(&format!("\"{name}\":{raw},"));
        }
        payload.push_str(&rest.to_string()[1..]);
        jws_raw(header, &payload, signer("ES256", pem).as_ref())
    }

    async fn register(
        self,
        registrar: &Registrar,
        token: &str,
    ) -> Result<RegistrationResponse, RegistrationError> {
        match self {
            Self::Statement => {
                let body = json!({ "redirect_uris": [REDIRECT], "software_statement": token });
                let bytes = serde_json::to_vec(&body).unwrap();
                registrar
                    .register_bytes(&bytes, &RequestContext::new())
                    .await
            }
            Self::SignedBody => {
                registrar
                    .register_signed(token.as_bytes(), &RequestContext::new())
                    .await
            }
        }
    }
}

/// The answer, as `(status, code, description)`: a 201, or a 400 with the mode's code.
fn outcome(
    mode: Mode,
    result: Result<RegistrationResponse, RegistrationError>,
) -> (u16, String, String) {
    match result {
        Ok(client) => {
            assert!(!client.client_id.is_empty());
            (201, String::new(), String::new())
        }
        Err(e) => {
            let reply = Reply::of(e);
            assert_eq!(
                (reply.status.as_u16(), reply.error()),
                (400, mode.code()),
                "{reply:?}"
            );
            (
                400,
                reply.error().to_owned(),
                reply.description().to_owned(),
            )
        }
    }
}

/// Registers a token with these time members once, and returns the answer.
fn attempt(mode: Mode, setup: Setup, members: &[(&str, &str)]) -> (u16, String, String) {
    let registrar = registrar(
        mode,
        setup,
        Arc::new(MemoryReplayGuard::new()),
        Arc::new(ManualClock::new()),
    );
    let token = mode.token(members, "edge");
    outcome(mode, block_on(mode.register(&registrar, &token)))
}

// ---- B6: no panic, out of range is a 400 ----

#[test]
fn a_statement_expiring_in_the_last_second_of_year_9999_is_accepted_without_panic() {
    let exp = LAST_SECOND.to_string();
    let iat = START.to_string();
    for setup in [Setup::Plain, Setup::Guarded, Setup::GuardedWithMaxAge] {
        let answer = attempt(Mode::Statement, setup, &[("exp", &exp), ("iat", &iat)]);
        assert_eq!(answer.0, 201, "{setup:?}: {answer:?}");
    }
}

#[test]
fn a_signed_body_expiring_in_the_last_second_of_year_9999_is_accepted_without_panic() {
    let exp = LAST_SECOND.to_string();
    let iat = START.to_string();
    for setup in [Setup::Plain, Setup::Guarded, Setup::GuardedWithMaxAge] {
        let answer = attempt(Mode::SignedBody, setup, &[("exp", &exp), ("iat", &iat)]);
        assert_eq!(answer.0, 201, "{setup:?}: {answer:?}");
    }
}

/// NumericDates no clock holds: i64 bounds, past year 9999, past `u64`, huge floats.
const OUT_OF_RANGE: [&str; 8] = [
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "123456789012345678901234567890",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "2.5e17",
];

#[test]
fn time_claims_outside_the_clocks_range_are_400_for_statements_and_signed_bodies() {
    let iat = START.to_string();
    let exp = (START + 300).to_string();
    for mode in [Mode::Statement, Mode::SignedBody] {
        for raw in OUT_OF_RANGE {
            for claim in ["exp", "nbf", "iat"] {
                let mut members = vec![(claim, raw)];
                if claim != "iat" {
                    members.push(("iat", &iat));
                }
                if claim != "exp" {
                    members.push(("exp", &exp));
                }
                for setup in SETUPS {
                    let (status, _, description) = attempt(mode, setup, &members);
                    assert_eq!(status, 400, "{mode:?} {setup:?} {claim}={raw}");
                    assert!(
                        description.contains(&format!("`{claim}`"))
                            || description.contains("is required"),
                        "{mode:?} {setup:?} {claim}={raw}: {description}"
                    );
                }
            }
        }
    }
}

#[test]
fn extreme_leeway_and_max_age_configurations_do_not_panic() {
    let edges = ["0", "-1", &LAST_SECOND.to_string(), "-377705116800"].map(String::from);
    for mode in [Mode::Statement, Mode::SignedBody] {
        for setup in [Setup::Extreme, Setup::NegativeLeeway] {
            for exp in &edges {
                for iat in &edges {
                    attempt(mode, setup, &[("exp", exp), ("iat", iat), ("nbf", iat)]);
                }
            }
        }
    }
}

#[test]
fn an_initial_token_lifetime_past_year_9999_does_not_panic() {
    let lifetimes = [
        Duration::MAX,
        Duration::MIN,
        Duration::seconds(i64::MAX),
        Duration::seconds(i64::MIN),
        Duration::days(3_000_000),
    ];
    for lifetime in lifetimes {
        let (status, expires_at) = initial_token(START, lifetime, START);
        let expires_at = expires_at.unwrap();
        if lifetime.is_positive() {
            assert_eq!(status, 201, "{lifetime}");
            assert_eq!(expires_at.unix_timestamp(), LAST_SECOND, "{lifetime}");
        } else {
            assert_eq!(
                status, 401,
                "a token that ends before it begins: {lifetime}"
            );
        }
    }
}

/// Issues a token at `issued` with `lifetime`, registers with it at `used`: the status, and the
/// token's expiry.
fn initial_token(issued: i64, lifetime: Duration, used: i64) -> (u16, Option<OffsetDateTime>) {
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let clock = Arc::new(ManualClock::starting(at(issued)));
    let store = Arc::new(MemoryStore::new());
    let tokens = IssuedInitialTokens::new(store.clone()).with_clock(clock.clone());
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), store)
        .with_clock(Arc::new(ManualClock::new()))
        .require_initial_token(Arc::new(tokens.clone()), Some("register"));
    block_on(async {
        let spec = TokenSpec::new(InitialAccessGrant::with_scopes(["register"])).lifetime(lifetime);
        let (token, issued) = tokens.issue(spec).await.unwrap();
        clock.set(at(used));
        let context = bearer(token.secret());
        let body = serde_json::to_vec(&json!({ "redirect_uris": [REDIRECT] })).unwrap();
        let status = match registrar.register_bytes(&body, &context).await {
            Ok(_) => 201,
            Err(e) => e.status().as_u16(),
        };
        (status, issued.grant.expires_at)
    })
}

// ---- B7: the replay guard covers the acceptance window ----

#[test]
fn with_a_replay_guard_a_token_without_exp_or_max_age_is_refused() {
    let iat = START.to_string();
    for mode in [Mode::Statement, Mode::SignedBody] {
        let guard = Arc::new(RecordingGuard::default());
        let registrar = registrar_with(mode, Setup::Guarded, guard.clone());
        let token = mode.token(&[("iat", &iat)], "no-exp");
        let (status, _, description) = outcome(mode, block_on(mode.register(&registrar, &token)));
        assert_eq!(status, 400, "{mode:?}");
        assert!(
            description.contains("`exp` is required: a `jti` is remembered only while"),
            "{description}"
        );
        assert_eq!(guard.last(), None, "nothing remembered for a refused token");
        // With a maximum age the same token is bounded, accepted once and remembered.
        let registrar = registrar_with(mode, Setup::GuardedWithMaxAge, guard.clone());
        let (status, ..) = outcome(mode, block_on(mode.register(&registrar, &token)));
        assert_eq!(status, 201, "{mode:?}");
        let until = OffsetDateTime::from_unix_timestamp(START + 300 + 60).unwrap();
        assert_eq!(guard.last(), Some(until), "iat + max_age + leeway");
        let (status, _, description) = outcome(mode, block_on(mode.register(&registrar, &token)));
        assert_eq!(status, 400);
        assert!(description.contains("used before"), "{description}");
    }
}

fn registrar_with(mode: Mode, setup: Setup, guard: Arc<RecordingGuard>) -> Registrar {
    registrar(mode, setup, guard, Arc::new(ManualClock::new()))
}

#[test]
fn a_fractional_exp_is_remembered_until_it_ends_like_an_integer_one() {
    for mode in [Mode::Statement, Mode::SignedBody] {
        let remembered = |raw: &str, jti: &str| {
            let guard = Arc::new(RecordingGuard::default());
            let registrar = registrar_with(mode, Setup::Guarded, guard.clone());
            let iat = START.to_string();
            let token = mode.token(&[("exp", raw), ("iat", &iat)], jti);
            let (status, ..) = outcome(mode, block_on(mode.register(&registrar, &token)));
            assert_eq!(status, 201, "{mode:?} exp={raw}");
            guard.last().unwrap()
        };
        let integer = remembered(&(START + 300).to_string(), "integer");
        let float = remembered(&format!("{}.0", START + 300), "float");
        let exponent = remembered(&format!("{}e0", START + 300), "exponent");
        let expected = OffsetDateTime::from_unix_timestamp(START + 360).unwrap();
        assert_eq!((integer, float, exponent), (expected, expected, expected));
        let half = remembered(&format!("{}.5", START + 300), "half");
        assert_eq!(half, expected + Duration::milliseconds(500));
    }
}

// ---- property tests ----

/// A NumericDate as a client may write it: edges, any integer, any float, near the clock's
/// time, huge exponents, and values that are no number at all.
fn raw_time() -> impl Strategy<Value = String> {
    let edges = prop::sample::select(vec![
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "123456789012345678901234567890",
        "0",
        "-0",
        "-1",
        "-62167219200",
        "-377705116800",
        "-377705116801",
        "253402300799",
        "253402300800",
        "253402300799.999999999",
        "1e308",
        "-1e308",
        "1.7976931348623157e308",
        "5e-324",
        "1e19",
        "1e400",
        "-1e400",
        "1E3",
        "0.5",
        "\"1700000000\"",
        "null",
        "true",
        "[]",
        "{}",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        3 => edges,
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        3 => (-4000i64..4000).prop_map(|d| (START + d).to_string()),
        2 => (-4000i64..4000, 0u32..1000).prop_map(|(d, ms)| format!("{}.{ms:03}", START + d)),
        1 => (-400i32..400).prop_map(|e| format!("1e{e}")),
    ]
}

/// Optional time members.
fn time_members() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    (
        prop::option::of(raw_time()),
        prop::option::of(raw_time()),
        prop::option::of(raw_time()),
    )
        .prop_map(|(exp, iat, nbf)| {
            [("exp", exp), ("iat", iat), ("nbf", nbf)]
                .into_iter()
                .filter_map(|(name, raw)| Some((name, raw?)))
                .collect()
        })
}

fn borrowed<'a>(members: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    members.iter().map(|(n, r)| (*n, r.as_str())).collect()
}

proptest! {
    #![proptest_config(proptest_config(128))]

    /// Any time claims in a statement: a 201, or a 400 `invalid_software_statement`.
    #[test]
    fn statements_with_any_time_claims_answer_201_or_400(
        members in time_members(),
        setup in prop::sample::select(SETUPS.to_vec()),
    ) {
        attempt(Mode::Statement, setup, &borrowed(&members));
    }

    /// Any time claims in a signed body: a 201, or a 400 `invalid_request`.
    #[test]
    fn signed_bodies_with_any_time_claims_answer_201_or_400(
        members in time_members(),
        setup in prop::sample::select(SETUPS.to_vec()),
    ) {
        attempt(Mode::SignedBody, setup, &borrowed(&members));
    }

    /// An integer NumericDate and the same number written as a fraction get the same answer.
    #[test]
    fn integer_and_fractional_time_claims_are_read_alike(
        exp in -4000i64..4000,
        iat in -4000i64..4000,
        setup in prop::sample::select(SETUPS.to_vec()),
        statement in any::<bool>(),
    ) {
        let mode = if statement { Mode::Statement } else { Mode::SignedBody };
        let (exp, iat) = (START + exp, START + iat);
        let integer = attempt(mode, setup, &[("exp", &exp.to_string()), ("iat", &iat.to_string())]);
        let fraction = attempt(mode, setup, &[("exp", &format!("{exp}.0")), ("iat", &format!("{iat}.0"))]);
        prop_assert_eq!(integer, fraction);
    }

    /// A guarded token is remembered at least until it is refused by its own time claims: at
    /// the instant the guard forgets its `jti`, a registrar without a guard refuses it too.
    #[test]
    fn a_jti_is_remembered_while_its_token_is_accepted(
        exp in prop::option::of(-400i64..4000),
        iat in -400i64..400,
        fraction in 0u32..1000,
        max_age in any::<bool>(),
        statement in any::<bool>(),
    ) {
        let mode = if statement { Mode::Statement } else { Mode::SignedBody };
        let setup = if max_age { Setup::GuardedWithMaxAge } else { Setup::Guarded };
        let iat = (START + iat).to_string();
        let exp = exp.map(|e| format!("{}.{fraction:03}", START + e));
        let mut members = vec![("iat", iat.as_str())];
        if let Some(exp) = &exp {
            members.push(("exp", exp.as_str()));
        }
        let token = mode.token(&members, "remembered");
        let guard = Arc::new(RecordingGuard::default());
        let guarded = registrar_with(mode, setup, guard.clone());
        let (status, ..) = outcome(mode, block_on(mode.register(&guarded, &token)));
        prop_assume!(status == 201);
        // The same rules, with a guard that has seen nothing, at the instant the first forgets.
        let forgotten_at = guard.last().unwrap();
        let fresh = registrar(mode, setup, Arc::new(MemoryReplayGuard::new()), Arc::new(ManualClock::starting(forgotten_at)));
        let (status, _, description) = outcome(mode, block_on(mode.register(&fresh, &token)));
        prop_assert_eq!(status, 400, "accepted after the guard forgot it");
        prop_assert!(
            description.contains("expired") || description.contains("too long ago"),
            "{}", description
        );
    }

    /// Initial tokens with any lifetime, issued and used at any time: no panic, a 201 or a 401.
    #[test]
    fn initial_tokens_with_any_lifetime_answer_201_or_401(
        lifetime in prop_oneof![
            any::<i64>().prop_map(Duration::seconds),
            prop::sample::select(vec![Duration::MAX, Duration::MIN, Duration::ZERO]),
            (-100_000i64..100_000).prop_map(Duration::seconds),
        ],
        issued in prop_oneof![Just(START), any::<i64>(), Just(LAST_SECOND), Just(-377_705_116_800)],
    ) {
        let (status, _) = initial_token(issued, lifetime, START);
        prop_assert!(status == 201 || status == 401, "{}", status);
    }
}

// ---- numbers from a fetched document ----

/// Serves one valid metadata document with `Cache-Control: max-age` as long as it can be.
struct ForeverDocument;

#[async_trait]
impl oauth_dcr::fetch::Fetcher for ForeverDocument {
    async fn fetch(
        &self,
        url: &str,
        _limits: oauth_dcr::fetch::FetchLimits,
    ) -> Result<oauth_dcr::fetch::Fetched, oauth_dcr::fetch::FetchError> {
        let body = json!({ "client_id": url, "redirect_uris": ["https://app.test/cb"] });
        let mut fetched = oauth_dcr::fetch::Fetched::new(body.to_string().into_bytes());
        fetched.content_type = Some("application/json".into());
        fetched.max_age = Some(std::time::Duration::from_secs(u64::MAX));
        Ok(fetched)
    }
}

/// A document's `max-age` and the host's cache bounds at their maximum: the cache's expiry is
/// checked arithmetic, not a panic.
#[test]
fn a_document_cache_lifetime_past_what_the_clock_can_add_does_not_panic() {
    let mut documents = oauth_dcr::documents::DocumentPolicy::default();
    documents.min_cache = std::time::Duration::MAX;
    documents.max_cache = std::time::Duration::MAX;
    documents.failure_cache = std::time::Duration::MAX;
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.metadata_documents = Some(documents);
    let registrar = Registrar::new(policy, Arc::new(MemoryStore::new()))
        .with_metadata_documents(Arc::new(ForeverDocument));
    block_on(async {
        for client_id in ["https://app.test/client.json", "https://app.test/"] {
            let outcome = registrar.resolve_client_id(client_id).await;
            if let Err(e) = outcome {
                assert_eq!(e.status().as_u16(), 400, "{e}");
            }
        }
        let resolved = registrar
            .resolve_client_id("https://app.test/client.json")
            .await
            .unwrap();
        assert_eq!(resolved.client_id, "https://app.test/client.json");
    });
}
