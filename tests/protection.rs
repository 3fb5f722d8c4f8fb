//! Protecting the registration endpoint: initial access tokens verified by the host and issued
//! by the crate, token restrictions, combined modes, the registration and management switches,
//! the host's hook, events, redirect host and client-count limits, signed request bodies, and the
//! `sector_identifier_uri` check with the SSRF-hardened fetcher (feature `fetch`).

mod signing;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use josekit::jws::{JwsSigner, HS256};
use oauth_dcr::fetch::{FetchError, FetchLimits, Fetched, Fetcher};
use oauth_dcr::{
    BodyFormat, ClientMetadata, ClientRecord, ClientStore, ErrorCode, Event, EventSink,
    HookContext, InitialAccessGrant, InitialTokenVerifier, IssuedInitialTokens, MemoryReplayGuard,
    MemoryStore, Operation, Origin, RedirectUri, Registrar, RegistrationError, RegistrationHook,
    RegistrationResponse, RequestContext, SecretHash, ServerPolicy, SignedRequests,
    StaticKeySource, StoreError, TokenSpec,
};
use serde_json::{json, Value};
use signing::*;

// ---- fixtures ----

/// A host's initial access tokens: each with its grant and the uses it has left (`None`:
/// unlimited). `claim` and `release` take and give back a use under one lock.
#[derive(Default)]
struct HostTokens {
    tokens: Mutex<HashMap<String, (InitialAccessGrant, Option<u32>)>>,
}

impl HostTokens {
    fn with(self, token: &str, grant: InitialAccessGrant, uses: Option<u32>) -> Self {
        self.tokens
            .lock()
            .unwrap()
            .insert(token.to_owned(), (grant, uses));
        self
    }

    fn uses_left(&self, token: &str) -> Option<u32> {
        self.tokens.lock().unwrap()[token].1
    }
}

#[async_trait]
impl InitialTokenVerifier for HostTokens {
    async fn verify(&self, token: &str) -> Result<Option<InitialAccessGrant>, StoreError> {
        let tokens = self.tokens.lock().unwrap();
        Ok(tokens
            .get(token)
            .filter(|(_, uses)| *uses != Some(0))
            .map(|(grant, _)| grant.clone()))
    }

    async fn claim(&self, token: &str) -> Result<bool, StoreError> {
        let mut tokens = self.tokens.lock().unwrap();
        Ok(match tokens.get_mut(token) {
            Some((_, None)) => true,
            Some((_, Some(left))) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        })
    }

    async fn release(&self, token: &str) -> Result<(), StoreError> {
        if let Some((_, Some(left))) = self.tokens.lock().unwrap().get_mut(token) {
            *left += 1;
        }
        Ok(())
    }
}

/// The host's bootstrap token: scope `register`, subject `bootstrap`.
fn bootstrap() -> InitialAccessGrant {
    InitialAccessGrant::with_scopes(["register"]).subject("bootstrap")
}

fn bearer(token: &str) -> RequestContext {
    RequestContext::new().with_initial_access_token(token)
}

fn web_client() -> Value {
    json!({ "redirect_uris": [REDIRECT], "client_name": "App" })
}

fn bad_redirect() -> Value {
    json!({ "redirect_uris": ["javascript:alert(1)"] })
}

fn rat(response: &RegistrationResponse) -> String {
    response.registration_access_token.secret().to_owned()
}

/// The exact RFC 6750 401 of a missing or bad initial access token.
fn assert_invalid_token(err: RegistrationError) -> Reply {
    let reply = assert_error(err, 401, "invalid_token");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    reply
}

async fn handle(registrar: &Registrar, request: http::Request<Vec<u8>>) -> Reply {
    Reply::of(oauth_dcr::http::handle(registrar, request, &RequestContext::new()).await)
}

fn post(content_type: &str, authorization: Option<&str>, body: Vec<u8>) -> http::Request<Vec<u8>> {
    let mut request = http::Request::post("/register").header("content-type", content_type);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(body).unwrap()
}

// ---- host-verified initial access tokens ----

/// RFC 6750 §3.1: no credentials (no `Authorization`, or another scheme) get a bare `Bearer`
/// challenge without an error code; an empty or malformed bearer token is `invalid_token`.
#[tokio::test]
async fn a_missing_initial_token_is_401_without_an_error_code() {
    let tokens = Arc::new(HostTokens::default().with("iat-1", bootstrap(), None));
    let fx = Fixture::new(|r| r.require_initial_token(tokens, Some("register")));
    let reply = assert_error(fx.refuse(&web_client()).await, 401, "invalid_request");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert_invalid_token(fx.refuse_with(&web_client(), &bearer("")).await);

    let body = serde_json::to_vec(&web_client()).unwrap();
    for (authorization, code, challenge) in [
        (None, "invalid_request", "Bearer"),
        (Some("Basic aWF0LTE6"), "invalid_request", "Bearer"),
        (Some("iat-1"), "invalid_request", "Bearer"),
        (
            Some("Bearer"),
            "invalid_token",
            r#"Bearer error="invalid_token""#,
        ),
    ] {
        let reply = handle(
            &fx.registrar,
            post("application/json", authorization, body.clone()),
        )
        .await;
        assert_eq!(reply.status, 401, "{authorization:?}");
        assert_eq!(reply.error(), code, "{authorization:?}");
        assert_eq!(
            reply.header("www-authenticate"),
            Some(challenge),
            "{authorization:?}"
        );
    }
    assert_eq!(fx.store.len(), 0);

    let reply = handle(
        &fx.registrar,
        post("application/json", Some("Bearer iat-1"), body),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let record = fx
        .store
        .get(reply.json["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.initial_token_subject.as_deref(), Some("bootstrap"));
}

#[tokio::test]
async fn unknown_and_expired_initial_tokens_are_401() {
    let expires = time::OffsetDateTime::from_unix_timestamp(START + 60).unwrap();
    let tokens =
        Arc::new(HostTokens::default().with("short-lived", bootstrap().expires_at(expires), None));
    let fx = Fixture::new(|r| r.require_initial_token(tokens, Some("register")));
    assert_invalid_token(
        fx.refuse_with(&web_client(), &bearer("no-such-token"))
            .await,
    );
    fx.register(&web_client(), &bearer("short-lived"))
        .await
        .unwrap();
    fx.clock.advance(time::Duration::seconds(60));
    assert_invalid_token(fx.refuse_with(&web_client(), &bearer("short-lived")).await);
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn a_token_without_the_required_scope_is_403_insufficient_scope() {
    let tokens = Arc::new(
        HostTokens::default()
            .with(
                "read-only",
                InitialAccessGrant::with_scopes(["openid", "read"]),
                None,
            )
            .with(
                "registrar",
                InitialAccessGrant::with_scopes(["openid", "register"]),
                None,
            ),
    );
    let fx = Fixture::new(|r| r.require_initial_token(tokens.clone(), Some("register")));
    let err = fx.refuse_with(&web_client(), &bearer("read-only")).await;
    let reply = assert_error(err, 403, "insufficient_scope");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer error="insufficient_scope", scope="register""#)
    );
    assert_eq!(fx.store.len(), 0);
    fx.register(&web_client(), &bearer("registrar"))
        .await
        .unwrap();

    // Without a required scope, any valid token will do.
    let fx = Fixture::new(|r| r.require_initial_token(tokens, None));
    fx.register(&web_client(), &bearer("read-only"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_single_use_token_works_once_and_survives_rejected_requests() {
    let tokens = Arc::new(HostTokens::default().with("once", bootstrap().single_use(), Some(1)));
    let fx = Fixture::new(|r| {
        r.require_initial_token(tokens.clone(), Some("register"))
            .with_hook(Arc::new(NoBanks(None)))
    });

    let err = fx.refuse_with(&bad_redirect(), &bearer("once")).await;
    assert_error(err, 400, "invalid_redirect_uri");
    let bank = json!({ "redirect_uris": [REDIRECT], "client_name": "A Bank" });
    let err = fx.refuse_with(&bank, &bearer("once")).await;
    assert_error(err, 400, "invalid_client_metadata");
    let err = fx
        .registrar
        .register(b"{not json", &bearer("once"))
        .await
        .unwrap_err();
    assert_error(err, 400, "invalid_request");
    assert_eq!(
        tokens.uses_left("once"),
        Some(1),
        "rejected requests burn nothing"
    );
    assert_eq!(fx.store.len(), 0);

    fx.register(&web_client(), &bearer("once")).await.unwrap();
    assert_eq!(tokens.uses_left("once"), Some(0));
    assert_invalid_token(fx.refuse_with(&web_client(), &bearer("once")).await);
    assert_eq!(fx.store.len(), 1);
}

/// A store whose `create` fails on demand.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    fail_create: AtomicBool,
}

#[async_trait]
impl ClientStore for FlakyStore {
    async fn create(&self, record: &ClientRecord) -> Result<(), StoreError> {
        if self.fail_create.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other("db down")));
        }
        self.inner.create(record).await
    }

    async fn get(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        self.inner.get(client_id).await
    }

    async fn find_by_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<ClientRecord>, StoreError> {
        self.inner.find_by_registration_token(hash).await
    }

    async fn update(&self, record: &ClientRecord) -> Result<(), StoreError> {
        self.inner.update(record).await
    }

    async fn touch(&self, client_id: &str, at: time::OffsetDateTime) -> Result<(), StoreError> {
        self.inner.touch(client_id, at).await
    }

    async fn delete(&self, client_id: &str, version: u64) -> Result<(), StoreError> {
        self.inner.delete(client_id, version).await
    }
}

#[tokio::test]
async fn a_failed_store_write_gives_the_use_back() {
    let tokens = Arc::new(HostTokens::default().with("once", bootstrap().single_use(), Some(1)));
    let store = Arc::new(FlakyStore::default());
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone())
        .require_initial_token(tokens.clone(), Some("register"));
    let body = serde_json::to_vec(&web_client()).unwrap();

    store.fail_create.store(true, Ordering::SeqCst);
    let err = registrar
        .register(&body, &bearer("once"))
        .await
        .unwrap_err();
    assert_error(err, 500, "server_error");
    assert_eq!(tokens.uses_left("once"), Some(1));

    store.fail_create.store(false, Ordering::SeqCst);
    registrar.register(&body, &bearer("once")).await.unwrap();
    assert_eq!(tokens.uses_left("once"), Some(0));
    assert_eq!(store.inner.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_spend_a_single_use_host_token_once() {
    let tokens = Arc::new(HostTokens::default().with("once", bootstrap().single_use(), Some(1)));
    let fx = Fixture::new(|r| r.require_initial_token(tokens.clone(), Some("register")));
    let outcomes = register_concurrently(&fx.registrar, "once", 20).await;
    assert_eq!(successes(&outcomes), 1);
    assert_eq!(fx.store.len(), 1);
    assert_eq!(tokens.uses_left("once"), Some(0));
}

/// Registers `n` clients at once with `token`; every refusal must be 401 `invalid_token`.
async fn register_concurrently(
    registrar: &Registrar,
    token: &str,
    n: usize,
) -> Vec<Result<RegistrationResponse, RegistrationError>> {
    let body = serde_json::to_vec(&web_client()).unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let registrar = registrar.clone();
            let body = body.clone();
            let context = bearer(token);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                registrar.register(&body, &context).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    for outcome in &outcomes {
        if let Err(e) = outcome {
            assert_eq!(e.status(), 401, "{e:?}");
            assert_eq!(e.code(), ErrorCode::InvalidToken);
        }
    }
    outcomes
}

fn successes(outcomes: &[Result<RegistrationResponse, RegistrationError>]) -> usize {
    outcomes.iter().filter(|o| o.is_ok()).count()
}

// ---- crate-issued initial access tokens ----

/// A registrar whose store also keeps crate-issued tokens.
fn issuing() -> (Fixture, IssuedInitialTokens) {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new());
    let tokens = IssuedInitialTokens::new(store.clone()).with_clock(clock.clone());
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone())
        .with_clock(clock.clone())
        .require_initial_token(Arc::new(tokens.clone()), Some("register"));
    let fx = Fixture {
        registrar,
        store,
        clock,
    };
    (fx, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crate_issued_tokens_with_m_uses_succeed_exactly_min_n_m_times_under_concurrency() {
    for (n, m) in [(50, 7), (5, 7), (7, 7)] {
        let (fx, tokens) = issuing();
        let (token, issued) = tokens
            .issue(TokenSpec::with_scopes(["register"]).max_uses(m))
            .await
            .unwrap();
        let outcomes = register_concurrently(&fx.registrar, token.secret(), n).await;
        let expected = n.min(m as usize);
        assert_eq!(successes(&outcomes), expected, "N={n} M={m}");
        assert_eq!(fx.store.len(), expected, "N={n} M={m}");
        let listed = tokens.list().await.unwrap();
        let stored = listed.iter().find(|t| t.id == issued.id).unwrap();
        assert_eq!(stored.uses as usize, expected, "N={n} M={m}");
    }
}

#[tokio::test]
async fn crate_issued_tokens_are_stored_as_hashes_listed_and_revoked() {
    let (fx, tokens) = issuing();
    let (first, first_issued) = tokens
        .issue(TokenSpec::with_scopes(["register"]).subject("partner-a"))
        .await
        .unwrap();
    let (second, second_issued) = tokens
        .issue(TokenSpec::with_scopes(["register"]).max_uses(3))
        .await
        .unwrap();
    assert_ne!(first.secret(), second.secret());
    assert!(first.secret().len() >= 43, "at least 256 bits, base64url");

    let listed = tokens.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    for (secret, issued) in [(&first, &first_issued), (&second, &second_issued)] {
        let stored = listed.iter().find(|t| t.id == issued.id).unwrap();
        assert_eq!(stored.hash, SecretHash::of(secret.secret()));
        let serialized = serde_json::to_string(stored).unwrap();
        assert!(
            !serialized.contains(secret.secret()),
            "only the hash is stored"
        );
        assert!(!format!("{stored:?}").contains(secret.secret()));
    }

    let client = fx
        .register(&web_client(), &bearer(first.secret()))
        .await
        .unwrap();
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.initial_token_subject.as_deref(), Some("partner-a"));

    assert!(tokens.revoke(&first_issued.id).await.unwrap());
    assert_invalid_token(fx.refuse_with(&web_client(), &bearer(first.secret())).await);
    assert!(
        !tokens.revoke(&first_issued.id).await.unwrap(),
        "already revoked"
    );
    let listed = tokens.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, second_issued.id);
    fx.register(&web_client(), &bearer(second.secret()))
        .await
        .unwrap();
    assert_eq!(fx.store.len(), 2);
}

#[tokio::test]
async fn expired_crate_issued_tokens_are_refused() {
    let (fx, tokens) = issuing();
    let (token, issued) = tokens
        .issue(TokenSpec::with_scopes(["register"]).lifetime(time::Duration::hours(1)))
        .await
        .unwrap();
    assert_eq!(
        issued.expires_at.map(|t| t.unix_timestamp()),
        Some(START + 3600)
    );
    fx.register(&web_client(), &bearer(token.secret()))
        .await
        .unwrap();
    fx.clock.advance(time::Duration::hours(2));
    assert_invalid_token(fx.refuse_with(&web_client(), &bearer(token.secret())).await);
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn crate_issued_tokens_need_the_required_scope() {
    let (fx, tokens) = issuing();
    let (token, _) = tokens
        .issue(TokenSpec::with_scopes(["openid"]))
        .await
        .unwrap();
    let err = fx.refuse_with(&web_client(), &bearer(token.secret())).await;
    assert_error(err, 403, "insufficient_scope");
}

// ---- token restrictions ----

async fn assert_restricted(fx: &Fixture, token: &str, uses_before: usize) {
    let context = bearer(token);
    let refusals = [
        (
            json!({ "redirect_uris": [REDIRECT], "scope": "openid admin" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://evil.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://app.example.evil.test/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://evilcorp.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": [REDIRECT, "https://evil.example/cb"], "scope": "openid" }),
            "invalid_redirect_uri",
        ),
    ];
    for (body, code) in refusals {
        let err = fx.refuse_with(&body, &context).await;
        assert_error(err, 400, code);
    }
    assert_eq!(fx.store.len(), uses_before);
    let inside = json!({
        "redirect_uris": [REDIRECT, "https://team.corp.example/cb"],
        "scope": "openid profile",
    });
    fx.register(&inside, &context).await.unwrap();
    assert_eq!(fx.store.len(), uses_before + 1);
}

#[tokio::test]
async fn host_token_restrictions_refuse_values_outside_them() {
    let grant = bootstrap()
        .allowed_scopes(["openid", "profile"])
        .redirect_hosts(["app.example", ".corp.example"]);
    let tokens = Arc::new(HostTokens::default().with("partner", grant, Some(5)));
    let fx = Fixture::new(|r| r.require_initial_token(tokens.clone(), Some("register")));
    assert_restricted(&fx, "partner", 0).await;
    assert_eq!(
        tokens.uses_left("partner"),
        Some(4),
        "only the accepted registration counted"
    );
}

#[tokio::test]
async fn crate_issued_token_restrictions_refuse_values_outside_them() {
    let (fx, tokens) = issuing();
    let (token, issued) = tokens
        .issue(
            TokenSpec::with_scopes(["register"])
                .max_uses(2)
                .allowed_scopes(["openid", "profile"])
                .redirect_hosts(["app.example", ".corp.example"]),
        )
        .await
        .unwrap();
    assert_restricted(&fx, token.secret(), 0).await;
    let listed = tokens.list().await.unwrap();
    let stored = listed.iter().find(|t| t.id == issued.id).unwrap();
    assert_eq!(stored.uses, 1, "refused registrations spent no use");
}

// ---- combined modes ----

#[tokio::test]
async fn an_initial_token_and_a_software_statement_can_both_be_required() {
    let tokens = Arc::new(HostTokens::default().with("once", bootstrap().single_use(), Some(1)));
    let fx = Fixture::new(|r| {
        r.require_initial_token(tokens.clone(), Some("register"))
            .with_software_statements(trusting_issuer().required())
    });
    let now = fx.now();
    let statement = issuer_jws("ES256", &statement_claims(now));

    let err = fx.refuse(&body_with(&statement)).await;
    assert!(
        matches!(err, RegistrationError::MissingInitialToken),
        "{err:?}"
    );
    let err = fx.refuse_with(&web_client(), &bearer("once")).await;
    assert_error(err, 400, "invalid_software_statement");
    let expired = issuer_jws(
        "ES256",
        &with(statement_claims(now), json!({ "exp": now - 3600 })),
    );
    let err = fx.refuse_with(&body_with(&expired), &bearer("once")).await;
    assert_error(err, 400, "invalid_software_statement");
    let untrusted = issuer_jws(
        "ES256",
        &with(
            statement_claims(now),
            json!({ "iss": "https://elsewhere.example" }),
        ),
    );
    let err = fx
        .refuse_with(&body_with(&untrusted), &bearer("once"))
        .await;
    assert_error(err, 400, "unapproved_software_statement");
    assert_eq!(tokens.uses_left("once"), Some(1));
    assert_eq!(fx.store.len(), 0);

    let client = fx
        .register(&body_with(&statement), &bearer("once"))
        .await
        .unwrap();
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.initial_token_subject.as_deref(), Some("bootstrap"));
    assert_eq!(record.statement_issuer.as_deref(), Some(ISSUER));
    assert_eq!(tokens.uses_left("once"), Some(0));
}

// ---- switches ----

fn policy_with(change: impl FnOnce(&mut ServerPolicy)) -> ServerPolicy {
    let mut policy = ServerPolicy::new(ENDPOINT);
    change(&mut policy);
    policy
}

#[tokio::test]
async fn registration_switched_off_answers_403_while_management_stays_on() {
    let store = Arc::new(MemoryStore::new());
    let open = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone());
    let body = serde_json::to_vec(&web_client()).unwrap();
    let client = open.register(&body, &RequestContext::new()).await.unwrap();

    let closed = Registrar::new(
        policy_with(|p| p.registration_enabled = false),
        store.clone(),
    );
    let err = closed
        .register(&body, &RequestContext::new())
        .await
        .unwrap_err();
    assert_error(err, 403, "access_denied");
    assert_eq!(store.len(), 1);

    // Even a registrar demanding a token answers the switch first.
    let tokens = Arc::new(HostTokens::default().with("iat", bootstrap(), None));
    let guarded = closed
        .clone()
        .require_initial_token(tokens, Some("register"));
    let err = guarded.register(&body, &bearer("iat")).await.unwrap_err();
    assert_error(err, 403, "access_denied");

    let read = closed
        .read(&client.client_id, Some(&rat(&client)))
        .await
        .unwrap();
    let update = json!({ "client_id": client.client_id, "redirect_uris": [REDIRECT], "client_name": "Renamed" });
    let updated = closed
        .update(
            &client.client_id,
            Some(&rat(&read)),
            &serde_json::to_vec(&update).unwrap(),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(updated.metadata.client_name.as_deref(), Some("Renamed"));
    closed
        .delete(&client.client_id, Some(&rat(&updated)))
        .await
        .unwrap();
    assert_eq!(store.len(), 0);
}

#[tokio::test]
async fn management_switched_off_answers_403_while_registration_stays_on() {
    let store = Arc::new(MemoryStore::new());
    let registrar = Registrar::new(policy_with(|p| p.management_enabled = false), store.clone());
    let body = serde_json::to_vec(&web_client()).unwrap();
    let client = registrar
        .register(&body, &RequestContext::new())
        .await
        .unwrap();
    assert_eq!(client.status, 201);
    let token = rat(&client);
    let before = store.get(&client.client_id).await.unwrap().unwrap();

    let err = registrar
        .read(&client.client_id, Some(&token))
        .await
        .unwrap_err();
    assert_error(err, 403, "access_denied");
    let update = json!({ "client_id": client.client_id, "redirect_uris": [REDIRECT], "client_name": "Renamed" });
    let err = registrar
        .update(
            &client.client_id,
            Some(&token),
            &serde_json::to_vec(&update).unwrap(),
            &RequestContext::new(),
        )
        .await
        .unwrap_err();
    assert_error(err, 403, "access_denied");
    let err = registrar
        .delete(&client.client_id, Some(&token))
        .await
        .unwrap_err();
    assert_error(err, 403, "access_denied");
    assert_eq!(store.get(&client.client_id).await.unwrap().unwrap(), before);

    // The token still works once management is back on.
    let managed = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone());
    managed.read(&client.client_id, Some(&token)).await.unwrap();
}

// ---- the host's hook ----

/// Refuses names that impersonate a bank; with a code, refuses everything with it.
struct NoBanks(Option<ErrorCode>);

#[async_trait]
impl RegistrationHook for NoBanks {
    async fn check(
        &self,
        metadata: &mut ClientMetadata,
        _context: &HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        if let Some(code) = &self.0 {
            return Err(RegistrationError::rejected(
                code.clone(),
                "refused by policy",
            ));
        }
        if metadata
            .client_name
            .as_deref()
            .is_some_and(|n| n.contains("Bank"))
        {
            return Err(RegistrationError::refused(
                "client_name must not name a bank",
            ));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_hook_refusal_reaches_the_client() {
    let fx = Fixture::new(|r| r.with_hook(Arc::new(NoBanks(None))));
    let body = json!({ "redirect_uris": [REDIRECT], "client_name": "Totally A Bank" });
    let err = fx.refuse(&body).await;
    let reply = assert_error(err, 400, "invalid_client_metadata");
    assert_eq!(reply.description(), "client_name must not name a bank");
    assert_eq!(fx.store.len(), 0);

    // Through the HTTP adapter.
    let reply = handle(
        &fx.registrar,
        post("application/json", None, serde_json::to_vec(&body).unwrap()),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "invalid_client_metadata");
    assert_eq!(reply.description(), "client_name must not name a bank");

    fx.accept(&web_client()).await;
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn a_hook_refusal_can_name_another_rfc_code() {
    for (code, wire) in [
        (ErrorCode::InvalidRedirectUri, "invalid_redirect_uri"),
        (
            ErrorCode::UnapprovedSoftwareStatement,
            "unapproved_software_statement",
        ),
    ] {
        let fx = Fixture::new(|r| r.with_hook(Arc::new(NoBanks(Some(code)))));
        let reply = assert_error(fx.refuse(&web_client()).await, 400, wire);
        assert_eq!(reply.description(), "refused by policy");
        assert_eq!(fx.store.len(), 0);
    }
}

/// A change a hook makes to the metadata.
type Change = fn(&mut ClientMetadata);

/// Applies a change to the metadata.
struct Adjust(Change);

#[async_trait]
impl RegistrationHook for Adjust {
    async fn check(
        &self,
        metadata: &mut ClientMetadata,
        _context: &HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        (self.0)(metadata);
        Ok(())
    }
}

#[tokio::test]
async fn a_hook_can_adjust_metadata() {
    let fx = Fixture::new(|r| {
        r.with_hook(Arc::new(Adjust(|m| {
            m.client_name = Some(format!(
                "{} (unverified)",
                m.client_name.as_deref().unwrap_or("")
            ));
            m.contacts = Some(vec!["dcr-review@as.example".into()]);
        })))
    });
    let client = fx.accept(&web_client()).await;
    assert_eq!(
        client.metadata.client_name.as_deref(),
        Some("App (unverified)")
    );
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(
        record.metadata.contacts,
        Some(vec!["dcr-review@as.example".to_owned()])
    );
}

#[tokio::test]
async fn metadata_a_hook_adjusted_is_validated_again() {
    let cases: [(Change, &str); 3] = [
        (
            |m| m.redirect_uris = Some(vec![RedirectUri::new("javascript:alert(1)")]),
            "invalid_redirect_uri",
        ),
        (
            |m| m.redirect_uris = Some(vec![RedirectUri::new("https://app.example/cb#frag")]),
            "invalid_redirect_uri",
        ),
        (
            |m| m.logo_uri = Some("http://app.example/logo.png".into()),
            "invalid_client_metadata",
        ),
    ];
    for (change, code) in cases {
        let fx = Fixture::new(|r| r.with_hook(Arc::new(Adjust(change))));
        assert_error(fx.refuse(&web_client()).await, 400, code);
        assert_eq!(fx.store.len(), 0);
    }
}

/// What a hook saw.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    operation: Operation,
    client_id: Option<String>,
    remote_addr: Option<IpAddr>,
    token_subject: Option<String>,
    token_scopes: Vec<String>,
    statement_issuer: Option<String>,
    software_id_claim: Option<Value>,
}

#[derive(Default)]
struct Watch(Mutex<Vec<Seen>>);

#[async_trait]
impl RegistrationHook for Watch {
    async fn check(
        &self,
        _metadata: &mut ClientMetadata,
        context: &HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        self.0.lock().unwrap().push(Seen {
            operation: context.operation,
            client_id: context.client_id.map(str::to_owned),
            remote_addr: context.request.remote_addr,
            token_subject: context.initial_token.and_then(|g| g.subject.clone()),
            token_scopes: context
                .initial_token
                .map(|g| g.scopes.clone())
                .unwrap_or_default(),
            statement_issuer: context.statement.map(|s| s.issuer.clone()),
            software_id_claim: context
                .statement
                .and_then(|s| s.claims.get("software_id").cloned()),
        });
        Ok(())
    }
}

#[tokio::test]
async fn the_hook_sees_the_request_context() {
    let watch = Arc::new(Watch::default());
    let tokens = Arc::new(HostTokens::default().with("iat", bootstrap(), None));
    let fx = Fixture::new(|r| {
        r.require_initial_token(tokens, Some("register"))
            .with_software_statements(trusting_issuer())
            .with_hook(watch.clone())
    });
    let peer: IpAddr = "203.0.113.7".parse().unwrap();
    let statement = issuer_jws("RS256", &statement_claims(fx.now()));
    let context = bearer("iat").with_remote_addr(peer);
    let client = fx.register(&body_with(&statement), &context).await.unwrap();

    let update = json!({ "client_id": client.client_id, "redirect_uris": [REDIRECT] });
    fx.registrar
        .update(
            &client.client_id,
            Some(&rat(&client)),
            &serde_json::to_vec(&update).unwrap(),
            &RequestContext::new().with_remote_addr(peer),
        )
        .await
        .unwrap();

    let seen = watch.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            Seen {
                operation: Operation::Register,
                client_id: None,
                remote_addr: Some(peer),
                token_subject: Some("bootstrap".into()),
                token_scopes: vec!["register".into()],
                statement_issuer: Some(ISSUER.into()),
                software_id_claim: Some(json!("4NRB1-0XZABZI9E6-5SM3R")),
            },
            // On update, the hook sees the grant the client registered with and the client's
            // statement, which bind the update as they bound the registration (issue 14, A2/A4).
            Seen {
                operation: Operation::Update,
                client_id: Some(client.client_id.clone()),
                remote_addr: Some(peer),
                token_subject: Some("bootstrap".into()),
                token_scopes: vec!["register".into()],
                statement_issuer: Some(ISSUER.into()),
                software_id_claim: Some(json!("4NRB1-0XZABZI9E6-5SM3R")),
            },
        ]
    );
}

// ---- events ----

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

#[async_trait]
impl EventSink for Recorder {
    async fn notify(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn events_report_every_operation_with_what_changed_and_provenance() {
    let sink = Arc::new(Recorder::default());
    let tokens = Arc::new(HostTokens::default().with("iat", bootstrap(), None));
    let fx = Fixture::new(|r| {
        r.require_initial_token(tokens, Some("register"))
            .with_software_statements(trusting_issuer())
            .with_event_sink(sink.clone())
    });
    let statement = issuer_jws("EdDSA", &statement_claims(fx.now()));
    let client = fx
        .register(&body_with(&statement), &bearer("iat"))
        .await
        .unwrap();
    let id = client.client_id.clone();

    let events = sink.take();
    assert_eq!(events.len(), 1);
    let registered = &events[0];
    assert_eq!(registered.operation, Operation::Register);
    assert_eq!(registered.client_id.as_deref(), Some(id.as_str()));
    assert_eq!(registered.refused, None);
    for member in ["client_name", "redirect_uris", "software_id"] {
        assert!(
            registered.changed.iter().any(|c| c == member),
            "{member} in {:?}",
            registered.changed
        );
    }
    assert_eq!(registered.provenance.origin, Some(Origin::Dynamic));
    assert_eq!(
        registered.provenance.initial_token_subject.as_deref(),
        Some("bootstrap")
    );
    assert_eq!(
        registered.provenance.statement_issuer.as_deref(),
        Some(ISSUER)
    );
    assert_eq!(registered.at.unix_timestamp(), START);

    let read = fx.registrar.read(&id, Some(&rat(&client))).await.unwrap();
    let update = json!({
        "client_id": id,
        "redirect_uris": [REDIRECT],
        "client_uri": "https://app.example/",
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
    });
    let updated = fx
        .registrar
        .update(
            &id,
            Some(&rat(&read)),
            &serde_json::to_vec(&update).unwrap(),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    fx.registrar
        .delete(&id, Some(&rat(&updated)))
        .await
        .unwrap();

    let events = sink.take();
    let operations: Vec<Operation> = events.iter().map(|e| e.operation).collect();
    assert_eq!(
        operations,
        [Operation::Read, Operation::Update, Operation::Delete]
    );
    for event in &events {
        assert_eq!(event.client_id.as_deref(), Some(id.as_str()));
        assert_eq!(event.refused, None);
        assert_eq!(event.provenance.origin, Some(Origin::Dynamic));
        assert_eq!(
            event.provenance.initial_token_subject.as_deref(),
            Some("bootstrap")
        );
        assert_eq!(event.provenance.statement_issuer.as_deref(), Some(ISSUER));
    }
    assert!(events[0].changed.is_empty(), "a read changes nothing");
    // `client_name` is the statement's: the client keeps its statement (issue 14, A4).
    assert_eq!(events[1].changed, ["client_uri"]);
    assert!(events[2].changed.is_empty());

    // No event carries a secret or a token.
    let secrets = [
        client.client_secret.as_ref().unwrap().secret().to_owned(),
        rat(&client),
        rat(&read),
        rat(&updated),
    ];
    let printed = format!(
        "{:?}",
        [registered.clone()]
            .iter()
            .chain(&events)
            .collect::<Vec<_>>()
    );
    for secret in &secrets {
        assert!(
            !printed.contains(secret.as_str()),
            "an event leaks a credential"
        );
    }
}

#[tokio::test]
async fn refusals_are_reported_with_their_code() {
    let sink = Arc::new(Recorder::default());
    let fx = Fixture::new(|r| r.with_event_sink(sink.clone()));
    fx.refuse(&bad_redirect()).await;
    let client = fx.accept(&web_client()).await;
    let err = fx
        .registrar
        .read(&client.client_id, Some("wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 401);

    let events = sink.take();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].operation, Operation::Register);
    assert_eq!(events[0].client_id, None);
    assert_eq!(events[0].refused, Some(ErrorCode::InvalidRedirectUri));
    assert!(events[0].changed.is_empty());
    assert_eq!(events[1].refused, None);
    assert_eq!(events[2].operation, Operation::Read);
    assert_eq!(
        events[2].client_id.as_deref(),
        Some(client.client_id.as_str())
    );
    assert_eq!(events[2].refused, Some(ErrorCode::InvalidToken));
}

// ---- declarative limits ----

#[tokio::test]
async fn trusted_redirect_hosts_refuse_other_hosts() {
    let policy = policy_with(|p| {
        p.trusted_redirect_hosts = Some(BTreeSet::from([
            "app.example".into(),
            ".corp.example".into(),
        ]))
    });
    let fx = Fixture::with_policy(policy, |r| r);
    for uri in [
        "https://app.example/cb",
        "https://corp.example/cb",
        "https://team.corp.example/cb",
    ] {
        fx.accept(&json!({ "redirect_uris": [uri] })).await;
    }
    for uri in [
        "https://evil.example/cb",
        "https://app.example.evil.test/cb",
        "https://evilcorp.example/cb",
        "https://corp.example.evil.test/cb",
    ] {
        let err = fx
            .refuse(&json!({ "redirect_uris": [REDIRECT, uri] }))
            .await;
        assert_error(err, 400, "invalid_redirect_uri");
    }
    assert_eq!(fx.store.len(), 3);
}

#[tokio::test]
async fn trusted_redirect_hosts_also_bind_ip_literal_hosts() {
    // An https redirect URI on a public IP address is on none of the trusted hosts.
    let policy =
        policy_with(|p| p.trusted_redirect_hosts = Some(BTreeSet::from(["app.example".into()])));
    let fx = Fixture::with_policy(policy, |r| r);
    for uri in ["https://203.0.113.5/cb", "https://[2001:db8::1]/cb"] {
        let err = fx.refuse(&json!({ "redirect_uris": [uri] })).await;
        assert_error(err, 400, "invalid_redirect_uri");
    }
    assert_eq!(fx.store.len(), 0);
}

#[tokio::test]
async fn token_redirect_hosts_also_bind_ip_literal_hosts() {
    let grant = bootstrap().redirect_hosts(["app.example"]);
    let tokens = Arc::new(HostTokens::default().with("partner", grant, None));
    let fx = Fixture::new(|r| r.require_initial_token(tokens, Some("register")));
    for uri in ["https://203.0.113.5/cb", "https://[2001:db8::1]/cb"] {
        let body = json!({ "redirect_uris": [uri] });
        let err = fx.refuse_with(&body, &bearer("partner")).await;
        assert_error(err, 400, "invalid_redirect_uri");
    }
    assert_eq!(fx.store.len(), 0);
}

#[tokio::test]
async fn max_clients_caps_the_number_of_registrations() {
    let fx = Fixture::with_policy(policy_with(|p| p.max_clients = Some(2)), |r| r);
    let first = fx.accept(&web_client()).await;
    fx.accept(&web_client()).await;
    let err = fx.refuse(&web_client()).await;
    assert_error(err, 400, "invalid_client_metadata");
    assert_eq!(fx.store.len(), 2);

    fx.registrar
        .delete(&first.client_id, Some(&rat(&first)))
        .await
        .unwrap();
    fx.accept(&web_client()).await;
    assert_eq!(fx.store.len(), 2);
}

#[tokio::test]
async fn max_clients_per_software_id_caps_each_software() {
    let fx = Fixture::with_policy(
        policy_with(|p| p.max_clients_per_software_id = Some(1)),
        |r| r,
    );
    let software = |id: &str| json!({ "redirect_uris": [REDIRECT], "software_id": id });
    fx.accept(&software("app-1")).await;
    let err = fx.refuse(&software("app-1")).await;
    assert_error(err, 400, "invalid_client_metadata");
    fx.accept(&software("app-2")).await;
    fx.accept(&web_client()).await;
    fx.accept(&web_client()).await;
    assert_eq!(fx.store.len(), 4);
}

// ---- signed request bodies ----

const SOFTWARE: &str = "4NRB1-0XZABZI9E6-5SM3R";

/// The claims of a signed registration request at `now`.
fn request_claims(now: i64) -> Value {
    json!({
        "iss": SOFTWARE,
        "aud": "https://as.example",
        "iat": now,
        "exp": now + 300,
        "jti": format!("req-{now}"),
        "redirect_uris": [REDIRECT],
        "client_name": "Signed",
    })
}

fn client_signed(claims: &Value) -> String {
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "client-es256" });
    jws(
        &header,
        claims,
        signer("ES256", "client-es256.pem").as_ref(),
    )
}

fn jwt_body() -> RequestContext {
    RequestContext::new().with_body_format(BodyFormat::Jwt)
}

/// Signed bodies verified with the client's key, configured on the server.
fn signed_requests() -> SignedRequests {
    SignedRequests::new(Arc::new(
        StaticKeySource::new().with_any_issuer(jwks("client.jwks.json")),
    ))
}

async fn register_jwt(fx: &Fixture, jwt: &str) -> Result<RegistrationResponse, RegistrationError> {
    fx.registrar.register(jwt.as_bytes(), &jwt_body()).await
}

#[tokio::test]
async fn a_signed_request_body_registers() {
    let fx = Fixture::new(|r| r.with_signed_requests(signed_requests()));
    let jwt = client_signed(&request_claims(fx.now()));
    let client = register_jwt(&fx, &jwt).await.unwrap();
    assert_eq!(client.status, 201);
    assert_eq!(client.metadata.client_name.as_deref(), Some("Signed"));
    let wire = Reply::of(client.clone());
    for claim in ["iss", "aud", "iat", "exp", "jti"] {
        assert!(
            wire.json.get(claim).is_none(),
            "the JWT claim {claim} is not client metadata"
        );
    }

    // Through the HTTP adapter with `Content-Type: application/jwt`.
    let claims = with(request_claims(fx.now()), json!({ "jti": "req-http" }));
    let reply = handle(
        &fx.registrar,
        post("application/jwt", None, client_signed(&claims).into_bytes()),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.json["client_name"], "Signed");
    assert_eq!(fx.store.len(), 2);
}

#[tokio::test]
async fn a_tampered_signed_body_is_refused() {
    let fx = Fixture::new(|r| r.with_signed_requests(signed_requests()));
    let jwt = client_signed(&request_claims(fx.now()));
    let parts: Vec<&str> = jwt.split('.').collect();
    let forged = with(
        request_claims(fx.now()),
        json!({ "redirect_uris": ["https://attacker.example/cb"] }),
    );
    let tampered = format!("{}.{}.{}", parts[0], b64(forged.to_string()), parts[2]);
    let err = register_jwt(&fx, &tampered).await.unwrap_err();
    assert_error(err, 400, "invalid_request");
    let reply = handle(
        &fx.registrar,
        post("application/jwt", None, tampered.into_bytes()),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "invalid_request");
    assert_eq!(fx.store.len(), 0);
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_bodies_are_refused() {
    let fx = Fixture::new(|r| r.with_signed_requests(signed_requests()));
    let claims = request_claims(fx.now());
    let payload = claims.to_string();
    let none = format!(
        "{}.{}.",
        b64(json!({ "alg": "none" }).to_string()),
        b64(&payload)
    );
    let public_key_mac = HS256
        .signer_from_bytes(key_file("client.jwks.json"))
        .unwrap();
    let hs256 = jws(
        &json!({ "alg": "HS256", "kid": "client-es256" }),
        &claims,
        &public_key_mac as &dyn JwsSigner,
    );
    let attacker = jws(
        &json!({ "alg": "RS256", "kid": "attacker-rs256" }),
        &claims,
        signer("RS256", "attacker-rs256.pem").as_ref(),
    );
    let embedded = jws(
        &json!({ "alg": "RS256", "jwk": jwks_json("attacker.jwks.json")["keys"][0] }),
        &claims,
        signer("RS256", "attacker-rs256.pem").as_ref(),
    );
    let plain_json = payload.clone();
    for bad in [none, hs256, attacker, embedded, plain_json] {
        let err = register_jwt(&fx, &bad).await.unwrap_err();
        assert_error(err, 400, "invalid_request");
    }
    assert_eq!(fx.store.len(), 0);
}

#[tokio::test]
async fn signed_bodies_follow_the_claim_rules() {
    let fx = Fixture::new(|r| {
        r.with_signed_requests(signed_requests().replay_guard(Arc::new(MemoryReplayGuard::new())))
    });
    let now = fx.now();
    // Without `iss` a body is accepted here: the keys serve any issuer, so nothing binds it
    // (issue 14, B10; see `a_signed_body_without_iss_is_accepted_when_keys_serve_any_issuer`).
    for changes in [
        json!({ "exp": null }),
        json!({ "iat": null }),
        json!({ "exp": now - 3600, "iat": now - 7200 }),
        json!({ "jti": null }),
    ] {
        let jwt = client_signed(&with(request_claims(now), changes.clone()));
        let err = register_jwt(&fx, &jwt).await.unwrap_err();
        assert_error(err, 400, "invalid_request");
    }
    assert_eq!(fx.store.len(), 0);
    let jwt = client_signed(&request_claims(now));
    register_jwt(&fx, &jwt).await.unwrap();
    let err = register_jwt(&fx, &jwt).await.unwrap_err();
    assert_error(err, 400, "invalid_request");
    assert_eq!(fx.store.len(), 1, "a replayed body registers nothing");
}

#[tokio::test]
async fn plain_json_is_refused_when_signed_bodies_are_required() {
    let fx = Fixture::new(|r| r.with_signed_requests(signed_requests().required()));
    let err = fx.refuse(&web_client()).await;
    assert_error(err, 400, "invalid_request");
    let reply = handle(
        &fx.registrar,
        post(
            "application/json",
            None,
            serde_json::to_vec(&web_client()).unwrap(),
        ),
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.error(), "invalid_request");
    assert_eq!(fx.store.len(), 0);
    register_jwt(&fx, &client_signed(&request_claims(fx.now())))
        .await
        .unwrap();
}

#[tokio::test]
async fn signed_bodies_are_refused_by_a_server_without_them() {
    let fx = Fixture::new(|r| r);
    let jwt = client_signed(&request_claims(fx.now()));
    let err = register_jwt(&fx, &jwt).await.unwrap_err();
    assert_error(err, 400, "invalid_request");
    let reply = handle(
        &fx.registrar,
        post("application/jwt", None, jwt.into_bytes()),
    )
    .await;
    assert_eq!(reply.status, 415);
    assert_eq!(fx.store.len(), 0);
}

#[tokio::test]
async fn a_signed_update_replaces_the_metadata() {
    let fx = Fixture::new(|r| r.with_signed_requests(signed_requests()));
    let client = register_jwt(&fx, &client_signed(&request_claims(fx.now())))
        .await
        .unwrap();
    let claims = with(
        request_claims(fx.now()),
        json!({ "jti": "update-1", "client_id": client.client_id, "client_name": "Signed again" }),
    );
    let updated = fx
        .registrar
        .update(
            &client.client_id,
            Some(&rat(&client)),
            client_signed(&claims).as_bytes(),
            &jwt_body(),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.metadata.client_name.as_deref(),
        Some("Signed again")
    );
}

#[tokio::test]
async fn a_signed_body_is_verified_with_the_jwks_its_statement_names() {
    // The server trusts no client key directly: only the directory's statements.
    let fx = Fixture::new(|r| {
        r.with_software_statements(trusting_issuer())
            .with_signed_requests(SignedRequests::new(Arc::new(StaticKeySource::new())))
    });
    let now = fx.now();
    let statement = issuer_jws(
        "PS256",
        &with(
            statement_claims(now),
            json!({ "jwks": jwks_json("client.jwks.json") }),
        ),
    );
    let claims = with(
        request_claims(now),
        json!({ "software_statement": statement }),
    );
    let client = register_jwt(&fx, &client_signed(&claims)).await.unwrap();
    assert_eq!(
        client.software_statement.as_deref(),
        Some(statement.as_str())
    );
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.statement_issuer.as_deref(), Some(ISSUER));
    assert_eq!(record.metadata.jwks, Some(jwks_json("client.jwks.json")));

    // The attacker replays the statement in a body it signs itself.
    let stolen = jws(
        &json!({ "alg": "RS256", "kid": "attacker-rs256" }),
        &with(claims.clone(), json!({ "jti": "stolen" })),
        signer("RS256", "attacker-rs256.pem").as_ref(),
    );
    let err = register_jwt(&fx, &stolen).await.unwrap_err();
    assert_error(err, 400, "invalid_request");

    // A statement from an untrusted issuer names the attacker's keys: they are not used.
    let forged_statement = jws(
        &json!({ "alg": "RS256", "kid": "attacker-rs256" }),
        &with(
            statement_claims(now),
            json!({ "iss": "https://attacker.example", "jwks": jwks_json("attacker.jwks.json") }),
        ),
        signer("RS256", "attacker-rs256.pem").as_ref(),
    );
    let forged = jws(
        &json!({ "alg": "RS256", "kid": "attacker-rs256" }),
        &with(
            request_claims(now),
            json!({ "jti": "forged", "software_statement": forged_statement }),
        ),
        signer("RS256", "attacker-rs256.pem").as_ref(),
    );
    let err = register_jwt(&fx, &forged).await.unwrap_err();
    assert_eq!(err.status(), 400, "{err:?}");
    assert_eq!(fx.store.len(), 1);
}

// ---- outbound fetches ----

/// A fetcher that serves one document and records every URL it is asked for.
#[derive(Default)]
struct Recording {
    body: Vec<u8>,
    urls: Mutex<Vec<String>>,
}

#[async_trait]
impl Fetcher for Recording {
    async fn fetch(&self, url: &str, _limits: FetchLimits) -> Result<Fetched, FetchError> {
        self.urls.lock().unwrap().push(url.to_owned());
        Ok(Fetched::new(self.body.clone()))
    }
}

#[tokio::test]
async fn nothing_but_the_sector_identifier_is_fetched_during_registration() {
    let fetcher = Arc::new(Recording {
        body: serde_json::to_vec(&json!([REDIRECT])).unwrap(),
        ..Recording::default()
    });
    let fx = Fixture::new(|r| r.with_sector_identifier_check(fetcher.clone()));
    fx.accept(&json!({
        "redirect_uris": [REDIRECT],
        "jwks_uri": "https://app.example/jwks.json",
        "logo_uri": "https://app.example/logo.png",
        "client_uri": "https://app.example/",
        "policy_uri": "https://app.example/policy",
        "tos_uri": "https://app.example/tos",
        "request_uris": ["https://app.example/request.jwt"],
        "token_endpoint_auth_method": "private_key_jwt",
    }))
    .await;
    assert!(
        fetcher.urls.lock().unwrap().is_empty(),
        "client URLs are never fetched"
    );

    fx.accept(&json!({
        "redirect_uris": [REDIRECT],
        "sector_identifier_uri": "https://app.example/sector.json",
    }))
    .await;
    assert_eq!(
        *fetcher.urls.lock().unwrap(),
        ["https://app.example/sector.json"]
    );

    let err = fx
        .refuse(&json!({
            "redirect_uris": ["https://app.example/other"],
            "sector_identifier_uri": "https://app.example/sector.json",
        }))
        .await;
    assert_error(err, 400, "invalid_client_metadata");
    assert_eq!(fx.store.len(), 2);
}

#[cfg(feature = "fetch")]
mod sector {
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use axum::http::{header, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use oauth_dcr::fetch::HttpFetcher;

    use super::*;

    const LISTED: [&str; 2] = ["https://app.example/cb", "https://app.example/cb2"];

    /// A local server with the documents the tests fetch, and a count of requests to `/count`.
    async fn serve() -> (SocketAddr, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = Router::new()
            .route("/sector", get(|| async { axum::Json(LISTED) }))
            .route(
                "/not-an-array",
                get(|| async { axum::Json(json!({ "redirect_uris": LISTED })) }),
            )
            .route(
                "/moved",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/sector")]) }),
            )
            .route("/big", get(|| async { "x".repeat(100 * 1024) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "[]"
                }),
            )
            .route(
                "/count",
                get(move || {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        "[]"
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, hits)
    }

    fn checking_registrar() -> Fixture {
        // The sector documents are served on loopback: development switches only.
        let policy = policy_with(|p| {
            p.dangerously_allow_http_metadata_uris = true;
            p.dangerously_allow_private_addresses = true;
        });
        let fetcher = Arc::new(HttpFetcher::dangerously_allow_loopback_for_tests().unwrap());
        Fixture::with_policy(policy, |r| r.with_sector_identifier_check(fetcher))
    }

    fn registration(addr: SocketAddr, path: &str, redirects: &[&str]) -> Value {
        json!({
            "redirect_uris": redirects,
            "sector_identifier_uri": format!("http://{addr}{path}"),
            "subject_type": "public",
        })
    }

    #[tokio::test]
    async fn listed_redirect_uris_are_accepted_and_unlisted_refused() {
        let (addr, _) = serve().await;
        let fx = checking_registrar();
        fx.accept(&registration(addr, "/sector", &LISTED)).await;
        fx.accept(&registration(addr, "/sector", &LISTED[..1]))
            .await;
        assert_eq!(fx.store.len(), 2);

        let unlisted = ["https://app.example/cb", "https://app.example/elsewhere"];
        let err = fx.refuse(&registration(addr, "/sector", &unlisted)).await;
        let reply = assert_error(err, 400, "invalid_client_metadata");
        assert!(
            reply
                .description()
                .contains("https://app.example/elsewhere"),
            "{reply:?}"
        );
        assert_eq!(fx.store.len(), 2);
    }

    #[tokio::test]
    async fn a_sector_document_that_cannot_be_used_is_refused() {
        let (addr, _) = serve().await;
        let fx = checking_registrar();
        for path in ["/not-an-array", "/moved", "/big", "/missing"] {
            let err = fx.refuse(&registration(addr, path, &LISTED)).await;
            assert_error(err, 400, "invalid_client_metadata");
        }
        assert_eq!(fx.store.len(), 0);
    }

    #[tokio::test]
    async fn the_reference_fetcher_refuses_http_and_non_public_addresses() {
        let (addr, hits) = serve().await;
        let fetcher = HttpFetcher::new().unwrap();
        let port = addr.port();
        for url in [
            format!("http://{addr}/count"),
            "http://app.example/sector.json".to_owned(),
            format!("https://127.0.0.1:{port}/count"),
            "https://127.0.0.1/".to_owned(),
            "https://169.254.169.254/latest/meta-data/".to_owned(),
            "https://[::1]/".to_owned(),
            "https://[::ffff:127.0.0.1]/".to_owned(),
            "https://10.0.0.1/".to_owned(),
            "https://192.168.1.1/".to_owned(),
            "https://0.0.0.0/".to_owned(),
            "https://user@app.example/".to_owned(),
            "file:///etc/passwd".to_owned(),
        ] {
            let result = fetcher.fetch(&url, FetchLimits::default()).await;
            assert!(
                matches!(result, Err(FetchError::Refused(_))),
                "{url}: {result:?}"
            );
        }
        // A name that resolves to loopback never reaches the server either.
        let result = fetcher
            .fetch(
                &format!("https://localhost:{port}/count"),
                FetchLimits::default(),
            )
            .await;
        assert!(result.is_err(), "{result:?}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "no request reached the server"
        );
    }

    #[tokio::test]
    async fn the_test_fetcher_reaches_loopback_but_follows_no_redirect() {
        let (addr, hits) = serve().await;
        let fetcher = HttpFetcher::dangerously_allow_loopback_for_tests().unwrap();
        let fetched = fetcher
            .fetch(&format!("http://{addr}/sector"), FetchLimits::default())
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Vec<String>>(&fetched.body).unwrap(),
            LISTED
        );
        assert_eq!(fetched.content_type.as_deref(), Some("application/json"));
        fetcher
            .fetch(&format!("http://{addr}/count"), FetchLimits::default())
            .await
            .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        let moved = fetcher
            .fetch(&format!("http://{addr}/moved"), FetchLimits::default())
            .await;
        assert_eq!(moved, Err(FetchError::Redirect));
        let missing = fetcher
            .fetch(&format!("http://{addr}/missing"), FetchLimits::default())
            .await;
        assert_eq!(missing, Err(FetchError::Status(404)));
        // Still no private addresses other than loopback.
        let metadata = fetcher
            .fetch("http://169.254.169.254/latest/", FetchLimits::default())
            .await;
        assert!(
            matches!(metadata, Err(FetchError::Refused(_))),
            "{metadata:?}"
        );
    }

    #[tokio::test]
    async fn the_test_fetcher_caps_size_and_time() {
        let (addr, _) = serve().await;
        let fetcher = HttpFetcher::dangerously_allow_loopback_for_tests().unwrap();
        let big = fetcher
            .fetch(&format!("http://{addr}/big"), FetchLimits::default())
            .await;
        assert_eq!(big, Err(FetchError::TooLarge(64 * 1024)));

        let mut small = FetchLimits::default();
        small.max_bytes = 10;
        let sector = fetcher.fetch(&format!("http://{addr}/sector"), small).await;
        assert_eq!(sector, Err(FetchError::TooLarge(10)));

        let mut quick = FetchLimits::default();
        quick.timeout = Duration::from_millis(200);
        let slow = fetcher.fetch(&format!("http://{addr}/slow"), quick).await;
        assert_eq!(slow, Err(FetchError::Timeout));
    }
}

// ---- issue 14 (helper "jose"): B10 the claims of signed bodies per key source ----

/// Signed bodies with keys for any issuer and a replay guard.
fn any_issuer_with_guard() -> Fixture {
    Fixture::new(|r| {
        r.with_signed_requests(signed_requests().replay_guard(Arc::new(MemoryReplayGuard::new())))
    })
}

/// With keys configured for any issuer (the example server's `--signed-request-jwks`), `iss`
/// is bound to nothing: a correctly signed body without it registers, and is used once.
#[tokio::test]
async fn a_signed_body_without_iss_is_accepted_when_keys_serve_any_issuer() {
    let fx = any_issuer_with_guard();
    let claims = with(request_claims(fx.now()), json!({ "iss": null }));
    let jwt = client_signed(&claims);
    let client = register_jwt(&fx, &jwt).await.unwrap();
    assert_eq!(client.status, 201);
    assert_eq!(client.metadata.client_name.as_deref(), Some("Signed"));
    let err = register_jwt(&fx, &jwt).await.unwrap_err();
    let reply = assert_error(err, 400, "invalid_request");
    assert!(reply.description().contains("used before"), "{reply:?}");
    // Through the HTTP adapter too.
    let claims = with(claims, json!({ "jti": "no-iss-over-http" }));
    let reply = handle(
        &fx.registrar,
        post("application/jwt", None, client_signed(&claims).into_bytes()),
    )
    .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(fx.store.len(), 2);
}

/// Keys looked up per issuer bind `iss`: a body without it is refused, and one naming an
/// issuer without keys is refused as well.
#[tokio::test]
async fn a_signed_body_without_iss_is_refused_when_keys_are_looked_up_by_issuer() {
    let keys = StaticKeySource::new().with_issuer(SOFTWARE, jwks("client.jwks.json"));
    let fx = Fixture::new(|r| r.with_signed_requests(SignedRequests::new(Arc::new(keys))));
    let now = fx.now();
    let err = register_jwt(
        &fx,
        &client_signed(&with(request_claims(now), json!({ "iss": null }))),
    )
    .await
    .unwrap_err();
    let reply = assert_error(err, 400, "invalid_request");
    assert!(
        reply.description().contains("`iss` is required"),
        "{reply:?}"
    );
    let other = with(request_claims(now), json!({ "iss": "someone-else" }));
    let err = register_jwt(&fx, &client_signed(&other)).await.unwrap_err();
    assert_error(err, 400, "invalid_request");
    assert_eq!(fx.store.len(), 0);
    register_jwt(&fx, &client_signed(&request_claims(now)))
        .await
        .unwrap();
}

/// Keys named by a verified software statement bind the body to the statement, not to `iss`.
#[tokio::test]
async fn a_signed_body_verified_with_its_statements_keys_needs_no_iss() {
    let fx = Fixture::new(|r| {
        r.with_software_statements(trusting_issuer())
            .with_signed_requests(SignedRequests::new(Arc::new(StaticKeySource::new())))
    });
    let now = fx.now();
    let statement = issuer_jws(
        "PS256",
        &with(
            statement_claims(now),
            json!({ "jwks": jwks_json("client.jwks.json") }),
        ),
    );
    let claims = with(
        request_claims(now),
        json!({ "iss": null, "software_statement": statement }),
    );
    let client = register_jwt(&fx, &client_signed(&claims)).await.unwrap();
    assert_eq!(client.status, 201);
}

/// The host's configured issuer is the audience every signed body must name.
#[tokio::test]
async fn a_signed_body_must_be_addressed_to_the_configured_issuer() {
    let mut rules = oauth_dcr::JwtRules::default();
    rules.required_claims = vec!["iat".into(), "exp".into()];
    rules.audience = Some("https://as.example".into());
    let fx = Fixture::new(|r| r.with_signed_requests(signed_requests().rules(rules)));
    let now = fx.now();
    for (aud, accepted) in [
        (json!("https://as.example"), true),
        (json!(["https://rs.example", "https://as.example"]), true),
        (json!("https://other-as.example"), false),
        (json!(["https://other-as.example"]), false),
        (json!(null), false),
        (json!(42), false),
    ] {
        let claims = with(
            request_claims(now),
            json!({ "aud": aud, "jti": aud.to_string() }),
        );
        let outcome = register_jwt(&fx, &client_signed(&claims)).await;
        match (accepted, outcome) {
            (true, Ok(client)) => assert_eq!(client.status, 201),
            (false, Err(e)) => {
                let reply = assert_error(e, 400, "invalid_request");
                assert!(
                    reply.description().contains("audience")
                        || reply.description().contains("`aud`")
                );
            }
            (_, outcome) => panic!("aud {aud}: {outcome:?}"),
        }
    }
    assert_eq!(fx.store.len(), 2);
}

/// UK Open Banking binds `iss` to the statement's `software_id`: it is required even when the
/// host gives keys for any issuer.
#[tokio::test]
async fn uk_open_banking_requires_iss_even_with_keys_for_any_issuer() {
    let directory = StaticKeySource::new().with_issuer(ISSUER, jwks("issuer.jwks.json"));
    let software = StaticKeySource::new().with_any_issuer(jwks("issuer.jwks.json"));
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new());
    let registrar = oauth_dcr::OpenBanking::new(
        "https://as.example",
        Arc::new(directory),
        Arc::new(software),
    )
    .registrar(ENDPOINT, store.clone())
    .with_clock(clock.clone());
    let fx = Fixture {
        registrar,
        store,
        clock,
    };
    let now = fx.now();
    let claims = json!({
        "aud": "https://as.example", "iat": now, "exp": now + 300, "jti": "ob-no-iss",
        "redirect_uris": [REDIRECT],
    });
    let header = json!({ "alg": "PS256", "typ": "JWT", "kid": "issuer-ps256" });
    let jwt = jws(
        &header,
        &claims,
        signer("PS256", "issuer-ps256.pem").as_ref(),
    );
    let err = register_jwt(&fx, &jwt).await.unwrap_err();
    let reply = assert_error(err, 400, "invalid_request");
    assert!(
        reply.description().contains("`iss` is required"),
        "{reply:?}"
    );
}

/// A signed body's acceptance window is bounded (24 hours by default), so that a key holder
/// cannot fill the replay guard with `jti`s remembered until year 9999.
#[tokio::test]
async fn a_signed_body_accepted_for_longer_than_its_maximum_lifetime_is_refused() {
    let fx = any_issuer_with_guard();
    let now = fx.now();
    for (exp, jti) in [(253_402_300_799_i64, "far"), (now + 2 * 86_400, "two-days")] {
        let claims = with(request_claims(now), json!({ "exp": exp, "jti": jti }));
        let err = register_jwt(&fx, &client_signed(&claims))
            .await
            .unwrap_err();
        let reply = assert_error(err, 400, "invalid_request");
        assert!(reply.description().contains("too far ahead"), "{reply:?}");
    }
    assert_eq!(fx.store.len(), 0);
    let claims = with(
        request_claims(now),
        json!({ "exp": now + 23 * 3_600, "jti": "a-day" }),
    );
    register_jwt(&fx, &client_signed(&claims))
        .await
        .expect("within a day");
}
