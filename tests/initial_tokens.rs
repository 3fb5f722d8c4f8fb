//! Initial access tokens (RFC 7591 §3): verified by the host or issued by the crate, single and
//! limited use under concurrency, scopes and expiry, the restrictions a token carries, and a
//! token required together with a software statement.

mod common;

use std::sync::Arc;

use common::*;
use oauth_dcr::initial_tokens::{InitialAccessGrant, IssuedInitialTokens, TokenSpec};
use oauth_dcr::store::SecretHash;
use oauth_dcr::{
    ClientStore, ErrorCode, MemoryStore, Registrar, RegistrationError, RegistrationResponse,
    ServerPolicy,
};
use serde_json::json;

// ---- host-verified initial access tokens ----

/// RFC 6750 §3.1: no credentials (no `Authorization`, or another scheme) get a bare `Bearer`
/// challenge without an error code; an empty or malformed bearer token is `invalid_token`.
#[tokio::test]
async fn a_missing_initial_token_is_401_without_an_error_code() {
    let tokens = Arc::new(HostTokens::default().with("iat-1", bootstrap(), None));
    let fx = Server::configured(|r| r.require_initial_token(tokens, Some("register")));
    let reply = assert_error(fx.refuse(&named_web_client()).await, 401, "invalid_request");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert_invalid_token(fx.refuse_with(&named_web_client(), &bearer("")).await);

    let body = serde_json::to_vec(&named_web_client()).unwrap();
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
        let reply = fx
            .handle(post("application/json", authorization, body.clone()))
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

    let reply = fx
        .handle(post("application/json", Some("Bearer iat-1"), body))
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
    let fx = Server::configured(|r| r.require_initial_token(tokens, Some("register")));
    assert_invalid_token(
        fx.refuse_with(&named_web_client(), &bearer("no-such-token"))
            .await,
    );
    fx.register_with(&named_web_client(), &bearer("short-lived"))
        .await
        .unwrap();
    fx.clock.advance(time::Duration::seconds(60));
    assert_invalid_token(
        fx.refuse_with(&named_web_client(), &bearer("short-lived"))
            .await,
    );
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
    let fx = Server::configured(|r| r.require_initial_token(tokens.clone(), Some("register")));
    let err = fx
        .refuse_with(&named_web_client(), &bearer("read-only"))
        .await;
    let reply = assert_error(err, 403, "insufficient_scope");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer error="insufficient_scope", scope="register""#)
    );
    assert_eq!(fx.store.len(), 0);
    fx.register_with(&named_web_client(), &bearer("registrar"))
        .await
        .unwrap();

    // Without a required scope, any valid token will do.
    let fx = Server::configured(|r| r.require_initial_token(tokens, None));
    fx.register_with(&named_web_client(), &bearer("read-only"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_single_use_token_works_once_and_survives_rejected_requests() {
    let tokens = Arc::new(HostTokens::default().with("once", bootstrap().single_use(), Some(1)));
    let fx = Server::configured(|r| {
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
        .register_bytes(b"{not json", &bearer("once"))
        .await
        .unwrap_err();
    assert_error(err, 400, "invalid_request");
    assert_eq!(
        tokens.uses_left("once"),
        Some(1),
        "rejected requests burn nothing"
    );
    assert_eq!(fx.store.len(), 0);

    fx.register_with(&named_web_client(), &bearer("once"))
        .await
        .unwrap();
    assert_eq!(tokens.uses_left("once"), Some(0));
    assert_invalid_token(fx.refuse_with(&named_web_client(), &bearer("once")).await);
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn a_failed_store_write_gives_the_use_back() {
    let tokens = Arc::new(HostTokens::default().with("once", bootstrap().single_use(), Some(1)));
    let store = Arc::new(FailingStore::default());
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone())
        .require_initial_token(tokens.clone(), Some("register"));
    let body = serde_json::to_vec(&named_web_client()).unwrap();

    store.fail_writes(true);
    let err = registrar
        .register_bytes(&body, &bearer("once"))
        .await
        .unwrap_err();
    assert_error(err, 500, "server_error");
    assert_eq!(tokens.uses_left("once"), Some(1));

    store.fail_writes(false);
    registrar
        .register_bytes(&body, &bearer("once"))
        .await
        .unwrap();
    assert_eq!(tokens.uses_left("once"), Some(0));
    assert_eq!(store.inner.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_spend_a_single_use_host_token_once() {
    let tokens = Arc::new(HostTokens::default().with("once", bootstrap().single_use(), Some(1)));
    let fx = Server::configured(|r| r.require_initial_token(tokens.clone(), Some("register")));
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
    let body = serde_json::to_vec(&named_web_client()).unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let registrar = registrar.clone();
            let body = body.clone();
            let context = bearer(token);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                registrar.register_bytes(&body, &context).await
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
fn issuing() -> (Server, IssuedInitialTokens) {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new());
    let tokens = IssuedInitialTokens::new(store.clone()).with_clock(clock.clone());
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone())
        .with_clock(clock.clone())
        .require_initial_token(Arc::new(tokens.clone()), Some("register"));
    let fx = Server {
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
            .issue(TokenSpec::new(InitialAccessGrant::with_scopes(["register"])).max_uses(m))
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
        .issue(InitialAccessGrant::with_scopes(["register"]).subject("partner-a"))
        .await
        .unwrap();
    let (second, second_issued) = tokens
        .issue(TokenSpec::new(InitialAccessGrant::with_scopes(["register"])).max_uses(3))
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
        .register_with(&named_web_client(), &bearer(first.secret()))
        .await
        .unwrap();
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.initial_token_subject.as_deref(), Some("partner-a"));
    assert_eq!(
        record.initial_grant.as_ref(),
        Some(&first_issued.grant),
        "the client keeps exactly the grant the token was issued with"
    );

    assert!(tokens.revoke(&first_issued.id).await.unwrap());
    assert_invalid_token(
        fx.refuse_with(&named_web_client(), &bearer(first.secret()))
            .await,
    );
    assert!(
        !tokens.revoke(&first_issued.id).await.unwrap(),
        "already revoked"
    );
    let listed = tokens.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, second_issued.id);
    fx.register_with(&named_web_client(), &bearer(second.secret()))
        .await
        .unwrap();
    assert_eq!(fx.store.len(), 2);
}

#[tokio::test]
async fn expired_crate_issued_tokens_are_refused() {
    let (fx, tokens) = issuing();
    let (token, issued) = tokens
        .issue(
            TokenSpec::new(InitialAccessGrant::with_scopes(["register"]))
                .lifetime(time::Duration::hours(1)),
        )
        .await
        .unwrap();
    assert_eq!(
        issued.grant.expires_at.map(|t| t.unix_timestamp()),
        Some(START + 3600)
    );
    fx.register_with(&named_web_client(), &bearer(token.secret()))
        .await
        .unwrap();
    fx.clock.advance(time::Duration::hours(2));
    assert_invalid_token(
        fx.refuse_with(&named_web_client(), &bearer(token.secret()))
            .await,
    );
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn crate_issued_tokens_need_the_required_scope() {
    let (fx, tokens) = issuing();
    let (token, _) = tokens
        .issue(InitialAccessGrant::with_scopes(["openid"]))
        .await
        .unwrap();
    let err = fx
        .refuse_with(&named_web_client(), &bearer(token.secret()))
        .await;
    assert_error(err, 403, "insufficient_scope");
}

// ---- token restrictions ----

async fn assert_restricted(fx: &Server, token: &str, uses_before: usize) {
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
    fx.register_with(&inside, &context).await.unwrap();
    assert_eq!(fx.store.len(), uses_before + 1);
}

#[tokio::test]
async fn host_token_restrictions_refuse_values_outside_them() {
    let grant = bootstrap()
        .allowed_scopes(["openid", "profile"])
        .redirect_hosts(["app.example", ".corp.example"]);
    let tokens = Arc::new(HostTokens::default().with("partner", grant, Some(5)));
    let fx = Server::configured(|r| r.require_initial_token(tokens.clone(), Some("register")));
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
            TokenSpec::new(
                InitialAccessGrant::with_scopes(["register"])
                    .allowed_scopes(["openid", "profile"])
                    .redirect_hosts(["app.example", ".corp.example"]),
            )
            .max_uses(2),
        )
        .await
        .unwrap();
    assert_restricted(&fx, token.secret(), 0).await;
    let listed = tokens.list().await.unwrap();
    let stored = listed.iter().find(|t| t.id == issued.id).unwrap();
    assert_eq!(stored.uses, 1, "refused registrations spent no use");
}

#[tokio::test]
async fn token_redirect_hosts_also_bind_ip_literal_hosts() {
    let grant = bootstrap().redirect_hosts(["app.example"]);
    let tokens = Arc::new(HostTokens::default().with("partner", grant, None));
    let fx = Server::configured(|r| r.require_initial_token(tokens, Some("register")));
    for uri in ["https://203.0.113.5/cb", "https://[2001:db8::1]/cb"] {
        let body = json!({ "redirect_uris": [uri] });
        let err = fx.refuse_with(&body, &bearer("partner")).await;
        assert_error(err, 400, "invalid_redirect_uri");
    }
    assert_eq!(fx.store.len(), 0);
}

// ---- combined modes ----

#[tokio::test]
async fn an_initial_token_and_a_software_statement_can_both_be_required() {
    let tokens = Arc::new(HostTokens::default().with("once", bootstrap().single_use(), Some(1)));
    let fx = Server::configured(|r| {
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
    let err = fx.refuse_with(&named_web_client(), &bearer("once")).await;
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
        .register_with(&body_with(&statement), &bearer("once"))
        .await
        .unwrap();
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.initial_token_subject.as_deref(), Some("bootstrap"));
    assert_eq!(record.statement_issuer.as_deref(), Some(ISSUER));
    assert_eq!(tokens.uses_left("once"), Some(0));
}
