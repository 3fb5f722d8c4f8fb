//! Signed request bodies (`application/jwt`): verified with the configured keys or with those a
//! software statement names, the claim rules and replay, the audience, the binding of `iss` per
//! key source, and the bound on the acceptance window.

mod common;

use std::sync::Arc;

use common::*;
use josekit::jws::{JwsSigner, HS256};
use oauth_dcr::statements::{MemoryReplayGuard, SignedRequests, StaticKeySource};
use oauth_dcr::{
    ClientStore, MemoryStore, RegistrationError, RegistrationResponse, RequestContext,
};
use serde_json::{json, Value};

// ---- signed request bodies ----

/// The claims of a signed registration request at `now`.
fn request_claims(now: i64) -> Value {
    json!({
        "iss": SOFTWARE_ID,
        "aud": "https://as.example",
        "iat": now,
        "exp": now + 300,
        "jti": format!("req-{now}"),
        "redirect_uris": [REDIRECT],
        "client_name": "Signed",
    })
}

async fn register_jwt(fx: &Server, jwt: &str) -> Result<RegistrationResponse, RegistrationError> {
    fx.registrar
        .register_signed(jwt.as_bytes(), &RequestContext::new())
        .await
}

#[tokio::test]
async fn a_signed_request_body_registers() {
    let fx = Server::configured(|r| r.with_signed_requests(signed_by_the_client()));
    let jwt = client_jws(&request_claims(fx.now()));
    let client = register_jwt(&fx, &jwt).await.unwrap();
    assert!(!client.client_id.is_empty());
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
    let reply = fx
        .handle(post(
            "application/jwt",
            None,
            client_jws(&claims).into_bytes(),
        ))
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.json["client_name"], "Signed");
    assert_eq!(fx.store.len(), 2);
}

#[tokio::test]
async fn a_tampered_signed_body_is_refused() {
    let fx = Server::configured(|r| r.with_signed_requests(signed_by_the_client()));
    let jwt = client_jws(&request_claims(fx.now()));
    let parts: Vec<&str> = jwt.split('.').collect();
    let forged = with(
        request_claims(fx.now()),
        json!({ "redirect_uris": ["https://attacker.example/cb"] }),
    );
    let tampered = format!("{}.{}.{}", parts[0], b64(forged.to_string()), parts[2]);
    let err = register_jwt(&fx, &tampered).await.unwrap_err();
    assert_error(err, 400, "invalid_request");
    let reply = fx
        .handle(post("application/jwt", None, tampered.into_bytes()))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "invalid_request");
    assert_eq!(fx.store.len(), 0);
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_bodies_are_refused() {
    let fx = Server::configured(|r| r.with_signed_requests(signed_by_the_client()));
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
    let fx = Server::configured(|r| {
        r.with_signed_requests(
            signed_by_the_client().replay_guard(Arc::new(MemoryReplayGuard::new())),
        )
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
        let jwt = client_jws(&with(request_claims(now), changes.clone()));
        let err = register_jwt(&fx, &jwt).await.unwrap_err();
        assert_error(err, 400, "invalid_request");
    }
    assert_eq!(fx.store.len(), 0);
    let jwt = client_jws(&request_claims(now));
    register_jwt(&fx, &jwt).await.unwrap();
    let err = register_jwt(&fx, &jwt).await.unwrap_err();
    assert_error(err, 400, "invalid_request");
    assert_eq!(fx.store.len(), 1, "a replayed body registers nothing");
}

#[tokio::test]
async fn plain_json_is_refused_when_signed_bodies_are_required() {
    let fx = Server::configured(|r| r.with_signed_requests(signed_by_the_client().required()));
    let err = fx.refuse(&named_web_client()).await;
    assert_error(err, 400, "invalid_request");
    let reply = fx
        .handle(post(
            "application/json",
            None,
            serde_json::to_vec(&named_web_client()).unwrap(),
        ))
        .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.error(), "invalid_request");
    assert_eq!(fx.store.len(), 0);
    register_jwt(&fx, &client_jws(&request_claims(fx.now())))
        .await
        .unwrap();
}

#[tokio::test]
async fn signed_bodies_are_refused_by_a_server_without_them() {
    let fx = Server::configured(|r| r);
    let jwt = client_jws(&request_claims(fx.now()));
    let err = register_jwt(&fx, &jwt).await.unwrap_err();
    assert_error(err, 400, "invalid_request");
    let reply = fx
        .handle(post("application/jwt", None, jwt.into_bytes()))
        .await;
    assert_eq!(reply.status, 415);
    assert_eq!(fx.store.len(), 0);
}

#[tokio::test]
async fn a_signed_update_replaces_the_metadata() {
    let fx = Server::configured(|r| r.with_signed_requests(signed_by_the_client()));
    let client = register_jwt(&fx, &client_jws(&request_claims(fx.now())))
        .await
        .unwrap();
    let claims = with(
        request_claims(fx.now()),
        json!({ "jti": "update-1", "client_id": client.client_id, "client_name": "Signed again" }),
    );
    let updated = fx
        .registrar
        .update_signed(
            &client.client_id,
            Some(&token(&client)),
            client_jws(&claims).as_bytes(),
            &RequestContext::new(),
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
    let fx = Server::configured(|r| {
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
    let client = register_jwt(&fx, &client_jws(&claims)).await.unwrap();
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

// ---- issue 14 (helper "jose"): B10 the claims of signed bodies per key source ----

/// Signed bodies with keys for any issuer and a replay guard.
fn any_issuer_with_guard() -> Server {
    Server::configured(|r| {
        r.with_signed_requests(
            signed_by_the_client().replay_guard(Arc::new(MemoryReplayGuard::new())),
        )
    })
}

/// With keys configured for any issuer (the example server's `--signed-request-jwks`), `iss`
/// is bound to nothing: a correctly signed body without it registers, and is used once.
#[tokio::test]
async fn a_signed_body_without_iss_is_accepted_when_keys_serve_any_issuer() {
    let fx = any_issuer_with_guard();
    let claims = with(request_claims(fx.now()), json!({ "iss": null }));
    let jwt = client_jws(&claims);
    let client = register_jwt(&fx, &jwt).await.unwrap();
    assert!(!client.client_id.is_empty());
    assert_eq!(client.metadata.client_name.as_deref(), Some("Signed"));
    let err = register_jwt(&fx, &jwt).await.unwrap_err();
    let reply = assert_error(err, 400, "invalid_request");
    assert!(reply.description().contains("used before"), "{reply:?}");
    // Through the HTTP adapter too.
    let claims = with(claims, json!({ "jti": "no-iss-over-http" }));
    let reply = fx
        .handle(post(
            "application/jwt",
            None,
            client_jws(&claims).into_bytes(),
        ))
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(fx.store.len(), 2);
}

/// Keys looked up per issuer bind `iss`: a body without it is refused, and one naming an
/// issuer without keys is refused as well.
#[tokio::test]
async fn a_signed_body_without_iss_is_refused_when_keys_are_looked_up_by_issuer() {
    let keys = StaticKeySource::new().with_issuer(SOFTWARE_ID, jwks("client.jwks.json"));
    let fx = Server::configured(|r| r.with_signed_requests(SignedRequests::new(Arc::new(keys))));
    let now = fx.now();
    let err = register_jwt(
        &fx,
        &client_jws(&with(request_claims(now), json!({ "iss": null }))),
    )
    .await
    .unwrap_err();
    let reply = assert_error(err, 400, "invalid_request");
    assert!(
        reply.description().contains("`iss` is required"),
        "{reply:?}"
    );
    let other = with(request_claims(now), json!({ "iss": "someone-else" }));
    let err = register_jwt(&fx, &client_jws(&other)).await.unwrap_err();
    assert_error(err, 400, "invalid_request");
    assert_eq!(fx.store.len(), 0);
    register_jwt(&fx, &client_jws(&request_claims(now)))
        .await
        .unwrap();
}

/// Keys named by a verified software statement bind the body to the statement, not to `iss`.
#[tokio::test]
async fn a_signed_body_verified_with_its_statements_keys_needs_no_iss() {
    let fx = Server::configured(|r| {
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
    let client = register_jwt(&fx, &client_jws(&claims)).await.unwrap();
    assert!(!client.client_id.is_empty());
}

/// The host's configured issuer is the audience every signed body must name.
#[tokio::test]
async fn a_signed_body_must_be_addressed_to_the_configured_issuer() {
    let mut rules = oauth_dcr::statements::JwtRules::default();
    rules.required_claims = vec!["iat".into(), "exp".into()];
    rules.audience = Some("https://as.example".into());
    let fx = Server::configured(|r| r.with_signed_requests(signed_by_the_client().rules(rules)));
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
        let outcome = register_jwt(&fx, &client_jws(&claims)).await;
        match (accepted, outcome) {
            (true, Ok(client)) => assert!(!client.client_id.is_empty()),
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
/// body's keys do not come by issuer (issue 15: the preset no longer takes a host key source
/// for software keys; here the statement names them by value).
#[tokio::test]
async fn uk_open_banking_requires_iss_even_with_keys_for_any_issuer() {
    let directory = StaticKeySource::new().with_issuer(ISSUER, jwks("issuer.jwks.json"));
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new());
    let registrar = oauth_dcr::profiles::OpenBanking::new(
        "https://as.example",
        Arc::new(directory),
        Arc::new(Recording::default()),
    )
    .registrar(ENDPOINT, store.clone())
    .with_clock(clock.clone());
    let fx = Server {
        registrar,
        store,
        clock,
    };
    let now = fx.now();
    // The statement names the software's keys by value: the body verifies with them, and
    // `iss` is still required.
    let statement = issuer_jws(
        "PS256",
        &json!({
            "iss": ISSUER, "iat": now, "software_id": "ob-software-1",
            "software_redirect_uris": [REDIRECT], "jwks": jwks_json("issuer.jwks.json"),
        }),
    );
    let claims = json!({
        "aud": "https://as.example", "iat": now, "exp": now + 300, "jti": "ob-no-iss",
        "redirect_uris": [REDIRECT], "software_statement": statement,
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
        let err = register_jwt(&fx, &client_jws(&claims)).await.unwrap_err();
        let reply = assert_error(err, 400, "invalid_request");
        assert!(reply.description().contains("too far ahead"), "{reply:?}");
    }
    assert_eq!(fx.store.len(), 0);
    let claims = with(
        request_claims(now),
        json!({ "exp": now + 23 * 3_600, "jti": "a-day" }),
    );
    register_jwt(&fx, &client_jws(&claims))
        .await
        .expect("within a day");
}
