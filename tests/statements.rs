//! Software statements (RFC 7591 §2.3, §3.1.1): accepted with each default algorithm, claims
//! taking precedence over the body, provenance recorded, and every malformed or malicious
//! statement refused with the right code and nothing stored.
//!
//! Tokens are built by hand from the keys of `tests/data/keys/` (see its README), so that each
//! test controls every byte of the header, the payload and the signature.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use josekit::jws::{JwsSigner, HS256};
use oauth_dcr::fetch::FetchedKeySource;
use oauth_dcr::statements::{
    CachingKeySource, Jwks, JwtRules, KeyError, KeySource, MemoryReplayGuard, SignedRequests,
    SoftwareStatements, StaticKeySource,
};
use oauth_dcr::{ClientStore, RegistrationError, RegistrationResponse, RequestContext};
use serde_json::{json, Value};

/// Registers `statement` in a body whose own members differ, expects a 400 with `code` and a
/// description that gives `why`, and checks that nothing was stored.
async fn assert_refused(fx: &Server, statement: &str, code: &str, why: &str) -> Reply {
    let err = fx.refuse(&body_with(statement)).await;
    let reply = assert_error(err, 400, code);
    assert!(
        reply.description().starts_with("software statement: ")
            && reply.description().contains(why),
        "refused for another reason than {why:?}: {reply:?}"
    );
    assert_eq!(fx.store.len(), 0, "nothing is stored after a refusal");
    reply
}

// ---- accepted statements ----

#[tokio::test]
async fn a_statement_signed_with_each_default_algorithm_is_accepted_and_echoed() {
    for alg in ALGORITHMS {
        let fx = Server::statements();
        let statement = issuer_jws(alg, &statement_claims(fx.now()));
        let client = fx.register(&body_with(&statement)).await;
        assert!(!client.client_id.is_empty(), "{alg}");
        assert_eq!(
            client.software_statement.as_deref(),
            Some(statement.as_str()),
            "{alg}: the response returns the statement unmodified (RFC 7591 §3.2.1)"
        );
        let wire = Reply::of(client.clone().into_http(http::StatusCode::CREATED));
        assert_eq!(wire.status, 201);
        assert_eq!(wire.json["software_statement"], json!(statement), "{alg}");
        assert_eq!(fx.store.len(), 1, "{alg}");

        // A read returns the same statement, still unmodified.
        let token = token(&client);
        let read = fx.read(&client.client_id, Some(&token)).await.unwrap();
        assert_eq!(read.software_statement.as_deref(), Some(statement.as_str()));
    }
}

#[tokio::test]
async fn statement_claims_take_precedence_over_body_members() {
    let fx = Server::statements();
    let claims = with(
        statement_claims(fx.now()),
        json!({ "client_name": "B", "redirect_uris": ["https://app.example/statement"] }),
    );
    let statement = issuer_jws("ES256", &claims);
    let body = json!({
        "client_name": "A",
        "redirect_uris": ["https://app.example/body"],
        "software_id": "self-asserted-id",
        "scope": "openid profile",
        "software_statement": statement,
    });
    let client = fx.register(&body).await;
    let m = &client.metadata;
    assert_eq!(m.client_name.as_deref(), Some("B"));
    let uris: Vec<&str> = m
        .redirect_uris
        .iter()
        .flatten()
        .map(|u| u.as_str())
        .collect();
    assert_eq!(uris, ["https://app.example/statement"]);
    assert_eq!(m.software_id.as_deref(), Some("4NRB1-0XZABZI9E6-5SM3R"));
    // Members the statement does not assert come from the body.
    assert_eq!(m.scope.as_ref().map(|s| s.as_str()), Some("openid profile"));
}

#[tokio::test]
async fn software_id_issuer_and_asserted_members_are_recorded() {
    let fx = Server::statements();
    let statement = issuer_jws("PS256", &statement_claims(fx.now()));
    let mut body = body_with(&statement);
    body["scope"] = json!("openid");
    let client = fx.register(&body).await;

    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(
        record.metadata.software_id.as_deref(),
        Some("4NRB1-0XZABZI9E6-5SM3R")
    );
    assert_eq!(record.statement_issuer.as_deref(), Some(ISSUER));
    assert_eq!(
        record.software_statement.as_deref(),
        Some(statement.as_str())
    );
    let asserted: BTreeSet<String> = ["client_name", "redirect_uris", "software_id"]
        .map(String::from)
        .into();
    assert_eq!(
        record.statement_asserted, asserted,
        "RFC 7591 §5: only statement claims are asserted; the body's scope is self-asserted"
    );
}

#[tokio::test]
async fn a_registration_without_a_statement_is_self_asserted() {
    let fx = Server::statements();
    let client = fx
        .register(&json!({ "redirect_uris": [REDIRECT], "software_id": "mine" }))
        .await;
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.software_statement, None);
    assert_eq!(record.statement_issuer, None);
    assert!(record.statement_asserted.is_empty());
    assert_eq!(client.software_statement, None);
}

#[tokio::test]
async fn an_update_with_a_statement_applies_and_records_it() {
    let fx = Server::statements();
    let first = issuer_jws("ES256", &statement_claims(fx.now()));
    let client = fx.register(&body_with(&first)).await;
    let token = token(&client);

    let second = issuer_jws(
        "EdDSA",
        &with(statement_claims(fx.now()), json!({ "client_name": "C" })),
    );
    let mut update = body_with(&second);
    update["client_id"] = json!(client.client_id);
    let bytes = serde_json::to_vec(&update).unwrap();
    let updated = fx
        .registrar
        .update_bytes(
            &client.client_id,
            Some(&token),
            &bytes,
            &RequestContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(updated.metadata.client_name.as_deref(), Some("C"));
    assert_eq!(updated.software_statement.as_deref(), Some(second.as_str()));
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.software_statement.as_deref(), Some(second.as_str()));
}

#[tokio::test]
async fn statement_provenance_stays_true_after_an_update_without_the_statement() {
    // RFC 7591 §5: what the statement did not assert is self-asserted. After an update that
    // changes an asserted member without a statement, the record must not call the new,
    // self-asserted value statement-asserted (the update may also be refused).
    let fx = Server::statements();
    let claims = statement_claims(fx.now());
    let client = fx.register(&body_with(&issuer_jws("ES256", &claims))).await;
    let update = json!({
        "client_id": client.client_id,
        "redirect_uris": [REDIRECT],
        "client_name": "Impostor",
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
    });
    let result = fx
        .update(
            &client.client_id,
            Some(
                client
                    .registration_access_token
                    .as_ref()
                    .expect("a registration access token")
                    .secret(),
            ),
            &update,
        )
        .await;
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    let metadata = serde_json::to_value(&record.metadata).unwrap();
    for member in &record.statement_asserted {
        assert_eq!(
            metadata.get(member),
            claims.get(member),
            "`{member}` is recorded as statement-asserted but no longer holds the statement's \
             value (update {})",
            if result.is_ok() {
                "accepted"
            } else {
                "refused"
            }
        );
    }
}

// ---- unsigned, MACed and badly signed statements ----

#[tokio::test]
async fn alg_none_is_refused_in_any_letter_case() {
    let fx = Server::statements();
    let claims = statement_claims(fx.now()).to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "JWT" }).to_string();
        // The unsecured JWS form: an empty signature (RFC 7515 Appendix A.5).
        let unsecured = format!("{}.{}.", b64(&header), b64(&claims));
        assert_refused(
            &fx,
            &unsecured,
            "invalid_software_statement",
            "signature is empty",
        )
        .await;
        // The same with a signature attached, so that only `alg` decides.
        let (_, pem) = issuer_key("RS256");
        let signed = jws_raw(&header, &claims, signer("RS256", pem).as_ref());
        assert_refused(&fx, &signed, "invalid_software_statement", "unsigned").await;
    }
}

#[tokio::test]
async fn hs256_keyed_with_the_issuers_public_key_is_refused() {
    let fx = Server::statements();
    let claims = statement_claims(fx.now());
    let public_pem = key_file("issuer-rs256.pub.pem");
    let public_der = key_file("issuer-rs256.pub.der");
    assert_eq!(pem_to_der(&public_pem), public_der);
    let public_jwk = jwks_json("issuer.jwks.json")["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "issuer-rs256")
        .unwrap()
        .to_string();
    let modulus = unb64(
        jwks_json("issuer.jwks.json")["keys"][0]["n"]
            .as_str()
            .unwrap(),
    );
    for (form, secret) in [
        ("PEM", public_pem),
        ("DER", public_der),
        ("JWK", public_jwk.into_bytes()),
        ("modulus", modulus),
    ] {
        let mac = HS256.signer_from_bytes(&secret).unwrap();
        for kid in [Some("issuer-rs256"), None] {
            let mut header = json!({ "alg": "HS256", "typ": "JWT" });
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            let token = jws(&header, &claims, &mac as &dyn JwsSigner);
            let reply =
                assert_refused(&fx, &token, "invalid_software_statement", "MAC algorithm").await;
            assert!(!reply.description().is_empty(), "{form}");
        }
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let fx = Server::statements();
    for alg in ALGORITHMS {
        let statement = issuer_jws(alg, &statement_claims(fx.now()));
        let parts: Vec<&str> = statement.split('.').collect();
        let forged = with(
            statement_claims(fx.now()),
            json!({ "redirect_uris": ["https://attacker.example/cb"] }),
        );
        let tampered = format!("{}.{}.{}", parts[0], b64(forged.to_string()), parts[2]);
        assert_refused(
            &fx,
            &tampered,
            "invalid_software_statement",
            "signature does not verify",
        )
        .await;

        // One flipped bit in the signature.
        let mut signature = unb64(parts[2]);
        signature[0] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(signature));
        assert_refused(
            &fx,
            &flipped,
            "invalid_software_statement",
            "signature does not verify",
        )
        .await;
    }
}

#[tokio::test]
async fn a_stripped_signature_is_refused() {
    let fx = Server::statements();
    let statement = issuer_jws("RS256", &statement_claims(fx.now()));
    let unsigned = &statement[..=statement.rfind('.').unwrap()];
    assert!(unsigned.ends_with('.'));
    assert_refused(
        &fx,
        unsigned,
        "invalid_software_statement",
        "signature is empty",
    )
    .await;
    assert_refused(
        &fx,
        unsigned.trim_end_matches('.'),
        "invalid_software_statement",
        "three parts",
    )
    .await;
}

#[tokio::test]
async fn a_statement_signed_by_another_key_under_the_issuers_kid_is_refused() {
    let fx = Server::statements();
    let header = issuer_header("RS256", json!({}));
    let forged = jws(
        &header,
        &statement_claims(fx.now()),
        signer("RS256", "attacker-rs256.pem").as_ref(),
    );
    assert_refused(
        &fx,
        &forged,
        "invalid_software_statement",
        "signature does not verify",
    )
    .await;
}

#[tokio::test]
async fn malformed_statements_are_refused() {
    let fx = Server::statements();
    let valid = issuer_jws("ES256", &statement_claims(fx.now()));
    let parts: Vec<&str> = valid.split('.').collect();
    let not_json = format!("{}.{}.{}", parts[0], b64("not json"), parts[2]);
    let array_payload = format!("{}.{}.{}", parts[0], b64("[1,2]"), parts[2]);
    let padded = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);
    let four_parts = format!("{valid}.{}", parts[2]);
    for bad in [
        "",
        "not a jwt",
        "a.b.c",
        "!!!.???.###",
        not_json.as_str(),
        array_payload.as_str(),
        padded.as_str(),
        four_parts.as_str(),
    ] {
        assert_refused(&fx, bad, "invalid_software_statement", "").await;
    }
}

#[tokio::test]
async fn a_software_statement_that_is_not_a_string_is_refused() {
    let fx = Server::statements();
    for value in [
        json!(42),
        json!({ "iss": ISSUER }),
        json!(["a.b.c"]),
        json!(true),
    ] {
        let body = json!({ "redirect_uris": [REDIRECT], "software_statement": value });
        let err = fx.refuse(&body).await;
        assert_error(err, 400, "invalid_software_statement");
        assert_eq!(fx.store.len(), 0);
    }
}

// ---- time claims ----

#[tokio::test]
async fn an_expired_statement_is_refused() {
    let fx = Server::statements();
    let now = fx.now();
    let expired = with(
        statement_claims(now),
        json!({ "iat": now - 7200, "exp": now - 3600 }),
    );
    assert_refused(
        &fx,
        &issuer_jws("RS256", &expired),
        "invalid_software_statement",
        "expired",
    )
    .await;
}

#[tokio::test]
async fn a_statement_not_valid_yet_is_refused() {
    let fx = Server::statements();
    let now = fx.now();
    let early = with(statement_claims(now), json!({ "nbf": now + 3600 }));
    assert_refused(
        &fx,
        &issuer_jws("RS256", &early),
        "invalid_software_statement",
        "not valid yet",
    )
    .await;
    let future = with(
        statement_claims(now),
        json!({ "iat": now + 3600, "exp": now + 7200 }),
    );
    assert_refused(
        &fx,
        &issuer_jws("RS256", &future),
        "invalid_software_statement",
        "in the future",
    )
    .await;
}

#[tokio::test]
async fn time_claims_get_a_small_leeway_and_no_more() {
    let fx = Server::statements();
    let now = fx.now();
    // Default leeway: 60 seconds.
    let just_expired = with(statement_claims(now), json!({ "exp": now - 30 }));
    fx.register(&body_with(&issuer_jws("ES256", &just_expired)))
        .await;
    let almost_valid = with(statement_claims(now), json!({ "nbf": now + 30 }));
    fx.register(&body_with(&issuer_jws("ES256", &almost_valid)))
        .await;
    assert_eq!(fx.store.len(), 2);
    let expired = with(statement_claims(now), json!({ "exp": now - 61 }));
    let err = fx.refuse(&body_with(&issuer_jws("ES256", &expired))).await;
    assert_error(err, 400, "invalid_software_statement");
    assert_eq!(fx.store.len(), 2);
}

#[tokio::test]
async fn the_leeway_is_configurable() {
    let mut rules = JwtRules::default();
    rules.leeway = time::Duration::ZERO;
    let fx = Server::configured(|r| r.with_software_statements(trusting_issuer().rules(rules)));
    let now = fx.now();
    let just_expired = with(statement_claims(now), json!({ "exp": now - 1 }));
    assert_refused(
        &fx,
        &issuer_jws("ES256", &just_expired),
        "invalid_software_statement",
        "expired",
    )
    .await;
    let almost_valid = with(statement_claims(now), json!({ "nbf": now + 1 }));
    assert_refused(
        &fx,
        &issuer_jws("ES256", &almost_valid),
        "invalid_software_statement",
        "not valid yet",
    )
    .await;
}

#[tokio::test]
async fn time_claims_must_be_numeric_dates() {
    let fx = Server::statements();
    let now = fx.now();
    for bad in [
        json!({ "exp": "tomorrow" }),
        json!({ "nbf": [now] }),
        json!({ "iat": { "at": now } }),
    ] {
        let claims = with(statement_claims(now), bad);
        assert_refused(
            &fx,
            &issuer_jws("RS256", &claims),
            "invalid_software_statement",
            "NumericDate",
        )
        .await;
    }
}

#[tokio::test]
async fn max_age_refuses_an_old_or_missing_iat() {
    let mut rules = JwtRules::default();
    rules.max_age = Some(time::Duration::minutes(5));
    let fx = Server::configured(|r| r.with_software_statements(trusting_issuer().rules(rules)));
    let now = fx.now();
    let old = with(statement_claims(now), json!({ "iat": now - 600 }));
    assert_refused(
        &fx,
        &issuer_jws("ES256", &old),
        "invalid_software_statement",
        "too long ago",
    )
    .await;
    let no_iat = with(statement_claims(now), json!({ "iat": null }));
    assert_refused(
        &fx,
        &issuer_jws("ES256", &no_iat),
        "invalid_software_statement",
        "`iat` is required",
    )
    .await;
    let recent = with(statement_claims(now), json!({ "iat": now - 120 }));
    fx.register(&body_with(&issuer_jws("ES256", &recent))).await;
    assert_eq!(fx.store.len(), 1);
}

// ---- issuer, key selection and audience ----

#[tokio::test]
async fn a_statement_without_iss_is_invalid() {
    let fx = Server::statements();
    for changes in [
        json!({ "iss": null }),
        json!({ "iss": 42 }),
        json!({ "iss": "" }),
    ] {
        let claims = with(statement_claims(fx.now()), changes.clone());
        let err = fx.refuse(&body_with(&issuer_jws("RS256", &claims))).await;
        let reply = Reply::of(err);
        assert_eq!(reply.status, 400, "{changes}");
        if changes["iss"].is_null() {
            assert_eq!(reply.error(), "invalid_software_statement", "{reply:?}");
        } else {
            // A non-string or empty issuer is no trusted issuer either way.
            assert!(
                [
                    "invalid_software_statement",
                    "unapproved_software_statement"
                ]
                .contains(&reply.error()),
                "{reply:?}"
            );
        }
        assert_eq!(fx.store.len(), 0);
    }
}

#[tokio::test]
async fn an_untrusted_issuer_is_unapproved() {
    let fx = Server::statements();
    let claims = with(
        statement_claims(fx.now()),
        json!({ "iss": "https://other-directory.example" }),
    );
    // Signed with a key the server knows, under another issuer's name.
    assert_refused(
        &fx,
        &issuer_jws("RS256", &claims),
        "unapproved_software_statement",
        "not trusted",
    )
    .await;
    // And signed by the attacker for its own issuer.
    let attacker = jws(
        &json!({ "alg": "RS256", "typ": "JWT", "kid": "attacker-rs256" }),
        &with(
            statement_claims(fx.now()),
            json!({ "iss": "https://attacker.example" }),
        ),
        signer("RS256", "attacker-rs256.pem").as_ref(),
    );
    assert_refused(
        &fx,
        &attacker,
        "unapproved_software_statement",
        "not trusted",
    )
    .await;
}

/// RFC 7591 §3.2.2: a trusted issuer's statement whose `kid` the issuer does not have does not
/// verify with its issuer's keys: invalid, not unapproved (issue 14, B9; this test expected
/// `unapproved_software_statement` before).
#[tokio::test]
async fn an_unknown_kid_is_invalid() {
    let fx = Server::statements();
    let header = issuer_header("RS256", json!({ "kid": "rotated-away" }));
    let (_, pem) = issuer_key("RS256");
    let token = jws(
        &header,
        &statement_claims(fx.now()),
        signer("RS256", pem).as_ref(),
    );
    assert_refused(
        &fx,
        &token,
        "invalid_software_statement",
        "kid `rotated-away`",
    )
    .await;
}

#[tokio::test]
async fn a_key_is_only_used_for_its_own_algorithm() {
    let fx = Server::statements();
    // The RS256 key signs a PS256 token under its own kid: the JWK says `alg: RS256`.
    let header = json!({ "alg": "PS256", "typ": "JWT", "kid": "issuer-rs256" });
    let token = jws(
        &header,
        &statement_claims(fx.now()),
        signer("PS256", "issuer-rs256.pem").as_ref(),
    );
    let reply = Reply::of(fx.refuse(&body_with(&token)).await);
    assert_eq!(reply.status, 400);
    assert!(reply.error().ends_with("_software_statement"), "{reply:?}");
    assert_eq!(fx.store.len(), 0);
}

#[tokio::test]
async fn kid_selects_the_key_and_ambiguity_is_an_error() {
    // Two ES256 keys for one issuer.
    let two = json!({ "keys": [
        jwks_json("issuer.jwks.json")["keys"][2].clone(),
        jwks_json("client.jwks.json")["keys"][0].clone(),
    ] });
    assert_eq!(two["keys"][0]["kid"], "issuer-es256");
    let keys = Jwks::from_json(two.to_string().as_bytes()).unwrap();
    let statements =
        SoftwareStatements::new(Arc::new(StaticKeySource::new().with_issuer(ISSUER, keys)));
    let fx = Server::configured(|r| r.with_software_statements(statements));
    let claims = statement_claims(fx.now());
    let (_, pem) = issuer_key("ES256");
    let es256 = signer("ES256", pem);

    let without_kid = jws(
        &json!({ "alg": "ES256", "typ": "JWT" }),
        &claims,
        es256.as_ref(),
    );
    assert_refused(
        &fx,
        &without_kid,
        "invalid_software_statement",
        "several keys",
    )
    .await;
    // The client key's kid over the issuer key's signature: the kid picks the key, which fails.
    let wrong_kid = jws(
        &json!({ "alg": "ES256", "kid": "client-es256" }),
        &claims,
        es256.as_ref(),
    );
    assert_refused(
        &fx,
        &wrong_kid,
        "invalid_software_statement",
        "does not verify",
    )
    .await;
    fx.register(&body_with(&issuer_jws("ES256", &claims))).await;
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn an_algorithm_outside_the_allowlist_is_refused() {
    let fx = Server::statements();
    // RS384 is not in the default allowlist, even with a trusted RSA key.
    let header = json!({ "alg": "RS384", "typ": "JWT", "kid": "issuer-rs256" });
    let token = jws(
        &header,
        &statement_claims(fx.now()),
        signer("RS384", "issuer-rs256.pem").as_ref(),
    );
    assert_refused(
        &fx,
        &token,
        "invalid_software_statement",
        "`RS384` is not accepted",
    )
    .await;

    // A narrower allowlist refuses a default algorithm.
    let mut rules = JwtRules::default();
    rules.algorithms = vec!["PS256".into()];
    let fx = Server::configured(|r| r.with_software_statements(trusting_issuer().rules(rules)));
    let rs256 = issuer_jws("RS256", &statement_claims(fx.now()));
    assert_refused(
        &fx,
        &rs256,
        "invalid_software_statement",
        "`RS256` is not accepted",
    )
    .await;
    fx.register(&body_with(&issuer_jws(
        "PS256",
        &statement_claims(fx.now()),
    )))
    .await;
}

#[tokio::test]
async fn audience_is_enforced_when_configured() {
    let mut rules = JwtRules::default();
    rules.audience = Some("https://as.example".into());
    let fx = Server::configured(|r| r.with_software_statements(trusting_issuer().rules(rules)));
    let now = fx.now();
    for aud in [
        json!(null),
        json!("https://other.example"),
        json!(["https://other.example"]),
    ] {
        let claims = with(statement_claims(now), json!({ "aud": aud }));
        assert_refused(
            &fx,
            &issuer_jws("ES256", &claims),
            "invalid_software_statement",
            "audience",
        )
        .await;
    }
    for aud in [
        json!("https://as.example"),
        json!(["https://other.example", "https://as.example"]),
    ] {
        let claims = with(statement_claims(now), json!({ "aud": aud }));
        fx.register(&body_with(&issuer_jws("ES256", &claims))).await;
    }
    assert_eq!(fx.store.len(), 2);
}

// ---- JOSE header tricks ----

#[tokio::test]
async fn keys_embedded_in_the_header_are_refused() {
    let fx = Server::statements();
    let claims = statement_claims(fx.now());
    let attacker_jwk = jwks_json("attacker.jwks.json")["keys"][0].clone();
    let attacker = signer("RS256", "attacker-rs256.pem");
    let embedded = [
        json!({ "jwk": attacker_jwk }),
        json!({ "x5c": [x5c("attacker-rs256.crt")] }),
        json!({ "jku": "https://attacker.example/jwks.json" }),
        json!({ "x5u": "https://attacker.example/cert.pem" }),
    ];
    for extra in &embedded {
        // The attack: the attacker signs and offers its own key, with or without the issuer's kid.
        for kid in [json!("issuer-rs256"), json!("attacker-rs256"), json!(null)] {
            let mut header = issuer_header("RS256", extra.clone());
            if kid.is_null() {
                header.as_object_mut().unwrap().remove("kid");
            } else {
                header["kid"] = kid;
            }
            let token = jws(&header, &claims, attacker.as_ref());
            assert_refused(
                &fx,
                &token,
                "invalid_software_statement",
                "header are refused",
            )
            .await;
        }
        // Even a statement the issuer really signed may not carry key headers.
        let (_, pem) = issuer_key("RS256");
        let header = issuer_header("RS256", extra.clone());
        let token = jws(&header, &claims, signer("RS256", pem).as_ref());
        assert_refused(
            &fx,
            &token,
            "invalid_software_statement",
            "header are refused",
        )
        .await;
    }
}

#[tokio::test]
async fn crit_and_b64_headers_are_refused() {
    let fx = Server::statements();
    let claims = statement_claims(fx.now());
    let (_, pem) = issuer_key("RS256");
    for (extra, why) in [
        (
            json!({ "crit": ["https://example.com/ext"], "https://example.com/ext": true }),
            "`crit`",
        ),
        (json!({ "crit": ["exp"], "exp": 1 }), "`crit`"),
        // josekit ignores a `crit` that is not an array (RULES 1.8).
        (
            json!({ "crit": "https://example.com/ext", "https://example.com/ext": true }),
            "`crit`",
        ),
        (json!({ "crit": [] }), "`crit`"),
        (json!({ "b64": false, "crit": ["b64"] }), "`crit`"),
        (json!({ "b64": true }), "`b64`"),
    ] {
        let token = jws(
            &issuer_header("RS256", extra),
            &claims,
            signer("RS256", pem).as_ref(),
        );
        assert_refused(&fx, &token, "invalid_software_statement", why).await;
    }
}

#[tokio::test]
async fn nested_jwts_are_refused() {
    let fx = Server::statements();
    let inner = issuer_jws("ES256", &statement_claims(fx.now()));
    let (_, pem) = issuer_key("ES256");
    for cty in ["JWT", "jwt"] {
        // The outer token's payload is itself a valid statement, as RFC 7519 §5.2 nests them.
        let header = issuer_header("ES256", json!({ "cty": cty })).to_string();
        let nested = jws_raw(&header, &inner, signer("ES256", pem).as_ref());
        assert_refused(&fx, &nested, "invalid_software_statement", "").await;
        // The same header over an ordinary claims object.
        let token = jws(
            &issuer_header("ES256", json!({ "cty": cty })),
            &statement_claims(fx.now()),
            signer("ES256", pem).as_ref(),
        );
        assert_refused(&fx, &token, "invalid_software_statement", "nested").await;
    }
}

#[tokio::test]
async fn a_wrong_typ_is_refused() {
    let fx = Server::statements();
    let (_, pem) = issuer_key("ES256");
    for typ in [json!("at+jwt"), json!("secevent+jwt"), json!(42)] {
        let token = jws(
            &issuer_header("ES256", json!({ "typ": typ })),
            &statement_claims(fx.now()),
            signer("ES256", pem).as_ref(),
        );
        assert_refused(&fx, &token, "invalid_software_statement", "`typ`").await;
    }
    // `JWT` in any case, and no `typ` at all, are fine.
    for typ in [json!("jwt"), json!(null)] {
        let mut header = issuer_header("ES256", json!({}));
        match typ {
            Value::Null => {
                header.as_object_mut().unwrap().remove("typ");
            }
            typ => header["typ"] = typ,
        }
        let token = jws(
            &header,
            &statement_claims(fx.now()),
            signer("ES256", pem).as_ref(),
        );
        fx.register(&body_with(&token)).await;
    }
}

#[tokio::test]
async fn duplicate_members_in_header_or_payload_are_refused() {
    let fx = Server::statements();
    let now = fx.now();
    let (_, pem) = issuer_key("RS256");
    let rs256 = signer("RS256", pem);
    let claims = statement_claims(now).to_string();
    let header = r#"{"alg":"RS256","typ":"JWT","kid":"issuer-rs256","kid":"attacker-rs256"}"#;
    assert_refused(
        &fx,
        &jws_raw(header, &claims, rs256.as_ref()),
        "invalid_software_statement",
        "duplicate member `kid`",
    )
    .await;
    let header = r#"{"alg":"none","typ":"JWT","kid":"issuer-rs256","alg":"RS256"}"#;
    assert_refused(
        &fx,
        &jws_raw(header, &claims, rs256.as_ref()),
        "invalid_software_statement",
        "duplicate member `alg`",
    )
    .await;

    let header = issuer_header("RS256", json!({})).to_string();
    let payload = format!(
        r#"{{"iss":"{ISSUER}","iat":{now},"exp":{},"client_name":"B","redirect_uris":["{REDIRECT}"],"redirect_uris":["https://attacker.example/cb"]}}"#,
        now + 300
    );
    assert_refused(
        &fx,
        &jws_raw(&header, &payload, rs256.as_ref()),
        "invalid_software_statement",
        "duplicate member `redirect_uris`",
    )
    .await;
    let payload = format!(
        r#"{{"iss":"https://attacker.example","iss":"{ISSUER}","iat":{now},"exp":{}}}"#,
        now + 300
    );
    assert_refused(
        &fx,
        &jws_raw(&header, &payload, rs256.as_ref()),
        "invalid_software_statement",
        "duplicate member `iss`",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_statement_is_refused() {
    // With a statement cap below the body's string limit, the statement rule answers.
    let mut rules = JwtRules::default();
    rules.max_length = 4096;
    let fx = Server::configured(|r| r.with_software_statements(trusting_issuer().rules(rules)));
    let claims = with(
        statement_claims(fx.now()),
        json!({ "padding": "x".repeat(4000) }),
    );
    let statement = issuer_jws("ES256", &claims);
    assert!(statement.len() > 4096);
    assert_refused(
        &fx,
        &statement,
        "invalid_software_statement",
        "longer than 4096 bytes",
    )
    .await;

    // With the defaults (16 KiB), a 20 KiB statement is refused before it is decoded; the body's
    // own 16 KiB string limit may answer first, as `invalid_request`.
    let fx = Server::statements();
    let claims = with(
        statement_claims(fx.now()),
        json!({ "padding": "x".repeat(20_000) }),
    );
    let statement = issuer_jws("ES256", &claims);
    let reply = Reply::of(fx.refuse(&body_with(&statement)).await);
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(
        ["invalid_software_statement", "invalid_request"].contains(&reply.error()),
        "{reply:?}"
    );
    assert_eq!(fx.store.len(), 0);
}

// ---- policy: required, replay ----

#[tokio::test]
async fn a_required_statement_must_be_present() {
    let fx = Server::configured(|r| r.with_software_statements(trusting_issuer().required()));
    for body in [
        json!({ "redirect_uris": [REDIRECT] }),
        json!({ "redirect_uris": [REDIRECT], "software_statement": null }),
    ] {
        let err = fx.refuse(&body).await;
        assert_error(err, 400, "invalid_software_statement");
        assert_eq!(fx.store.len(), 0);
    }
    let statement = issuer_jws("EdDSA", &statement_claims(fx.now()));
    fx.register(&body_with(&statement)).await;
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn the_replay_guard_accepts_each_jti_once() {
    let statements = trusting_issuer().replay_guard(Arc::new(MemoryReplayGuard::new()));
    let fx = Server::configured(|r| r.with_software_statements(statements));
    let claims = with(statement_claims(fx.now()), json!({ "jti": "ssa-1" }));
    let statement = issuer_jws("ES256", &claims);
    fx.register(&body_with(&statement)).await;
    assert_eq!(fx.store.len(), 1);
    let err = fx.refuse(&body_with(&statement)).await;
    assert_error(err, 400, "invalid_software_statement");
    assert_eq!(fx.store.len(), 1, "the replay stored nothing");

    // Another jti is fine; no jti at all is refused when a guard is configured.
    let other = with(statement_claims(fx.now()), json!({ "jti": "ssa-2" }));
    fx.register(&body_with(&issuer_jws("ES256", &other))).await;
    let err = fx
        .refuse(&body_with(&issuer_jws(
            "ES256",
            &statement_claims(fx.now()),
        )))
        .await;
    assert_error(err, 400, "invalid_software_statement");
    assert_eq!(fx.store.len(), 2);
}

// ---- key sources ----

/// A key source whose keys the test replaces, counting how often it is asked.
#[derive(Clone)]
struct Counting(Arc<CountingInner>);

struct CountingInner {
    keys: Mutex<Arc<Jwks>>,
    calls: AtomicUsize,
}

impl Counting {
    fn new(kids: &[&str]) -> Self {
        Self(Arc::new(CountingInner {
            keys: Mutex::new(Arc::new(issuer_keys(kids))),
            calls: AtomicUsize::new(0),
        }))
    }

    fn rotate(&self, kids: &[&str]) {
        *self.0.keys.lock().unwrap() = Arc::new(issuer_keys(kids));
    }

    fn calls(&self) -> usize {
        self.0.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl KeySource for Counting {
    async fn keys(&self, issuer: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        Ok((issuer == ISSUER).then(|| self.0.keys.lock().unwrap().clone()))
    }
}

/// The issuer's public keys with these kids.
fn issuer_keys(kids: &[&str]) -> Jwks {
    let all = jwks_json("issuer.jwks.json");
    let keys: Vec<&Value> = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| kids.contains(&k["kid"].as_str().unwrap()))
        .collect();
    assert_eq!(keys.len(), kids.len());
    Jwks::from_json(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

#[tokio::test]
async fn the_caching_key_source_caches_and_refreshes_on_an_unknown_kid() {
    let inner = Counting::new(&["issuer-es256"]);
    let cache =
        CachingKeySource::new(inner.clone(), Duration::from_secs(3600)).min_refresh(Duration::ZERO);
    let fx = Server::configured(|r| {
        r.with_software_statements(SoftwareStatements::new(Arc::new(cache)))
    });

    fx.register(&body_with(&issuer_jws(
        "ES256",
        &statement_claims(fx.now()),
    )))
    .await;
    assert_eq!(inner.calls(), 1);
    fx.register(&body_with(&issuer_jws(
        "ES256",
        &statement_claims(fx.now()),
    )))
    .await;
    assert_eq!(
        inner.calls(),
        1,
        "the second statement used the cached keys"
    );

    // The issuer publishes a new key: a statement with its kid makes the cache refetch.
    inner.rotate(&["issuer-es256", "issuer-eddsa"]);
    fx.register(&body_with(&issuer_jws(
        "EdDSA",
        &statement_claims(fx.now()),
    )))
    .await;
    assert_eq!(inner.calls(), 2);
    assert_eq!(fx.store.len(), 3);

    // A kid the issuer does not have: refetched, still unknown, invalid (RFC 7591 §3.2.2: the
    // signature does not verify with the issuer's keys).
    let header = issuer_header("RS256", json!({}));
    let token = jws(
        &header,
        &statement_claims(fx.now()),
        signer("RS256", "issuer-rs256.pem").as_ref(),
    );
    let err = fx.refuse(&body_with(&token)).await;
    assert_error(err, 400, "invalid_software_statement");
    assert_eq!(inner.calls(), 3);
    assert_eq!(fx.store.len(), 3);
}

#[tokio::test]
async fn the_caching_key_source_reloads_after_its_ttl() {
    let inner = Counting::new(&["issuer-es256"]);
    let cache = CachingKeySource::new(inner.clone(), Duration::ZERO);
    let fx = Server::configured(|r| {
        r.with_software_statements(SoftwareStatements::new(Arc::new(cache)))
    });
    for expected in 1..=3 {
        fx.register(&body_with(&issuer_jws(
            "ES256",
            &statement_claims(fx.now()),
        )))
        .await;
        assert_eq!(inner.calls(), expected);
    }
}

#[tokio::test]
async fn the_caching_key_source_limits_refreshes() {
    let inner = Counting::new(&["issuer-es256"]);
    let cache = CachingKeySource::new(inner.clone(), Duration::from_secs(3600))
        .min_refresh(Duration::from_secs(3600));
    let fx = Server::configured(|r| {
        r.with_software_statements(SoftwareStatements::new(Arc::new(cache)))
    });
    fx.register(&body_with(&issuer_jws(
        "ES256",
        &statement_claims(fx.now()),
    )))
    .await;
    inner.rotate(&["issuer-es256", "issuer-eddsa"]);
    for _ in 0..3 {
        let err = fx
            .refuse(&body_with(&issuer_jws(
                "EdDSA",
                &statement_claims(fx.now()),
            )))
            .await;
        assert_error(err, 400, "invalid_software_statement");
    }
    assert_eq!(
        inner.calls(),
        1,
        "unknown kids within min_refresh do not refetch"
    );
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn issuer_keys_come_from_configuration_never_from_the_token() {
    let fetcher = Arc::new(Recording {
        body: key_file("issuer.jwks.json"),
        ..Recording::default()
    });
    let source = FetchedKeySource::new(fetcher.clone())
        .with_issuer(ISSUER, "https://directory.example/jwks");
    let fx = Server::configured(|r| {
        r.with_software_statements(SoftwareStatements::new(Arc::new(source)))
    });
    fx.register(&body_with(&issuer_jws(
        "PS256",
        &statement_claims(fx.now()),
    )))
    .await;
    assert_eq!(
        *fetcher.urls.lock().unwrap(),
        ["https://directory.example/jwks"]
    );

    let header = issuer_header("RS256", json!({ "jku": "https://attacker.example/jwks" }));
    let token = jws(
        &header,
        &statement_claims(fx.now()),
        signer("RS256", "attacker-rs256.pem").as_ref(),
    );
    assert_error(
        fx.refuse(&body_with(&token)).await,
        400,
        "invalid_software_statement",
    );
    let attacker = with(
        statement_claims(fx.now()),
        json!({ "iss": "https://attacker.example" }),
    );
    let token = jws(
        &json!({ "alg": "RS256", "kid": "attacker-rs256" }),
        &attacker,
        signer("RS256", "attacker-rs256.pem").as_ref(),
    );
    assert_error(
        fx.refuse(&body_with(&token)).await,
        400,
        "unapproved_software_statement",
    );
    let urls = fetcher.urls.lock().unwrap();
    assert!(
        urls.iter().all(|u| u == "https://directory.example/jwks"),
        "only the configured JWKS URL is fetched: {urls:?}"
    );
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn without_statement_support_a_statement_is_ignored() {
    // RFC 7591 §3.1.1: a server that does not support statements MAY ignore them; their claims
    // must then not be applied.
    let fx = Server::configured(|r| r);
    let statement = issuer_jws("RS256", &statement_claims(fx.now()));
    let client = fx.register(&body_with(&statement)).await;
    assert_eq!(client.metadata.client_name.as_deref(), Some("A"));
    assert_eq!(client.metadata.software_id, None);
    assert_eq!(client.software_statement, None);
}

#[tokio::test]
async fn a_static_key_source_trusts_only_configured_issuers() {
    let source = StaticKeySource::new().with_issuer(ISSUER, jwks("issuer.jwks.json"));
    assert!(source.keys(ISSUER).await.unwrap().is_some());
    assert!(source
        .keys("https://attacker.example")
        .await
        .unwrap()
        .is_none());
    // A key set with private material is not a verification key set.
    let private = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"x"}]}"#;
    assert!(Jwks::from_json(private).is_err());
}

// ---- updates keep the client's statement (issue 14, A4) ----

const OTHER_ISSUER: &str = "https://other-directory.example";

/// Statements from `ISSUER` and `OTHER_ISSUER` (the same keys), each `jti` accepted once, and a
/// client registered with a statement (`jti` `ssa-1`) whose body differs from it.
async fn client_with_statement() -> (Server, RegistrationResponse, String, Arc<Recorder>) {
    let keys = StaticKeySource::new()
        .with_issuer(ISSUER, jwks("issuer.jwks.json"))
        .with_issuer(OTHER_ISSUER, jwks("issuer.jwks.json"));
    let statements =
        SoftwareStatements::new(Arc::new(keys)).replay_guard(Arc::new(MemoryReplayGuard::new()));
    let events = Arc::new(Recorder::default());
    let fx = Server::configured(|r| {
        r.with_software_statements(statements)
            .with_event_sink(events.clone())
    });
    let claims = with(statement_claims(fx.now()), json!({ "jti": "ssa-1" }));
    let statement = issuer_jws("ES256", &claims);
    let client = fx.register(&body_with(&statement)).await;
    (fx, client, statement, events)
}

async fn update(
    fx: &Server,
    client: &RegistrationResponse,
    token: &str,
    body: &Value,
) -> Result<RegistrationResponse, RegistrationError> {
    let mut body = body.clone();
    body["client_id"] = json!(client.client_id);
    fx.update(&client.client_id, Some(token), &body).await
}

fn asserted(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_send_back_update_keeps_the_statement_though_its_jti_was_used_and_it_has_expired() {
    let (fx, client, statement, _) = client_with_statement().await;
    let read = fx
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    fx.clock.advance(time::Duration::hours(1));
    let mut body: Value = serde_json::from_slice(&read.to_json()).unwrap();
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        body.as_object_mut().unwrap().remove(member);
    }
    assert_eq!(body["software_statement"], json!(statement));
    body["scope"] = json!("openid");
    let updated = update(&fx, &client, &token(&read), &body)
        .await
        .unwrap_or_else(|e| panic!("the send-back update is refused: {e}"));
    assert_eq!(
        updated.software_statement.as_deref(),
        Some(statement.as_str())
    );
    assert_eq!(
        updated.metadata.scope.as_ref().map(|s| s.as_str()),
        Some("openid")
    );
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(
        record.software_statement.as_deref(),
        Some(statement.as_str())
    );
    assert_eq!(record.statement_issuer.as_deref(), Some(ISSUER));
    assert_eq!(
        record.statement_asserted,
        asserted(&["client_name", "redirect_uris", "software_id"])
    );
}

#[tokio::test]
async fn an_update_without_the_statement_keeps_it_and_the_members_it_asserts() {
    let (fx, client, statement, events) = client_with_statement().await;
    let body = json!({
        "redirect_uris": ["https://app.example/elsewhere"],
        "client_name": "Impostor",
        "software_id": "someone-else",
        "client_uri": "https://app.example/",
    });
    let updated = update(&fx, &client, &token(&client), &body).await.unwrap();
    let m = &updated.metadata;
    assert_eq!(m.client_name.as_deref(), Some("B"));
    assert_eq!(m.software_id.as_deref(), Some("4NRB1-0XZABZI9E6-5SM3R"));
    let uris: Vec<&str> = m
        .redirect_uris
        .iter()
        .flatten()
        .map(|u| u.as_str())
        .collect();
    assert_eq!(uris, [REDIRECT]);
    assert_eq!(m.client_uri.as_deref(), Some("https://app.example/"));
    assert_eq!(
        updated.software_statement.as_deref(),
        Some(statement.as_str())
    );
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.statement_issuer.as_deref(), Some(ISSUER));
    assert_eq!(
        record.statement_asserted,
        asserted(&["client_name", "redirect_uris", "software_id"])
    );
    let events = events.0.lock().unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.operation, oauth_dcr::events::Operation::Update);
    assert_eq!(last.provenance.statement_issuer.as_deref(), Some(ISSUER));
    assert!(
        !last.changed.contains(&"client_name".to_owned()),
        "{last:?}"
    );
}

#[tokio::test]
async fn an_update_with_a_statement_from_another_issuer_is_unapproved() {
    let (fx, client, _, _) = client_with_statement().await;
    let before = fx.store.get(&client.client_id).await.unwrap().unwrap();
    let claims = with(
        statement_claims(fx.now()),
        json!({ "iss": OTHER_ISSUER, "jti": "other-1", "client_name": "Other" }),
    );
    let err = update(
        &fx,
        &client,
        &token(&client),
        &body_with(&issuer_jws("ES256", &claims)),
    )
    .await
    .unwrap_err();
    let reply = assert_error(err, 400, "unapproved_software_statement");
    assert!(reply.description().contains(ISSUER), "{reply:?}");
    assert_eq!(
        fx.store.get(&client.client_id).await.unwrap().unwrap(),
        before
    );
}

#[tokio::test]
async fn an_update_with_a_statement_for_another_software_id_is_unapproved() {
    let (fx, client, _, _) = client_with_statement().await;
    let before = fx.store.get(&client.client_id).await.unwrap().unwrap();
    let claims = with(
        statement_claims(fx.now()),
        json!({ "jti": "ssa-2", "software_id": "another-software" }),
    );
    let err = update(
        &fx,
        &client,
        &token(&client),
        &body_with(&issuer_jws("ES256", &claims)),
    )
    .await
    .unwrap_err();
    let reply = assert_error(err, 400, "unapproved_software_statement");
    assert!(reply.description().contains("software_id"), "{reply:?}");
    assert_eq!(
        fx.store.get(&client.client_id).await.unwrap().unwrap(),
        before
    );
}

#[tokio::test]
async fn a_new_statement_on_update_is_verified_fully_and_replaces_the_old_one() {
    let (fx, client, _, _) = client_with_statement().await;
    let before = fx.store.get(&client.client_id).await.unwrap().unwrap();
    let now = fx.now();
    let replayed = with(
        statement_claims(now),
        json!({ "jti": "ssa-1", "client_name": "C" }),
    );
    let expired = with(
        statement_claims(now),
        json!({ "jti": "ssa-3", "client_name": "C", "exp": now - 3600 }),
    );
    for claims in [replayed, expired] {
        let err = update(
            &fx,
            &client,
            &token(&client),
            &body_with(&issuer_jws("ES256", &claims)),
        )
        .await
        .unwrap_err();
        assert_error(err, 400, "invalid_software_statement");
        assert_eq!(
            fx.store.get(&client.client_id).await.unwrap().unwrap(),
            before
        );
    }
    let fresh = with(
        statement_claims(now),
        json!({ "jti": "ssa-2", "client_name": "C", "client_uri": "https://app.example/" }),
    );
    let fresh = issuer_jws("ES256", &fresh);
    let updated = update(&fx, &client, &token(&client), &body_with(&fresh))
        .await
        .unwrap();
    assert_eq!(updated.metadata.client_name.as_deref(), Some("C"));
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.software_statement.as_deref(), Some(fresh.as_str()));
    assert_eq!(
        record.statement_asserted,
        asserted(&["client_name", "client_uri", "redirect_uris", "software_id"])
    );
}

// ---- statement precedence covers language variants (issue 14, A5) ----

#[tokio::test]
async fn a_statement_asserted_member_drops_every_language_variant_from_the_body() {
    let (fx, client, _, _) = client_with_statement().await;
    let body = |jti: &str| {
        let claims = with(
            statement_claims(fx.now()),
            json!({
                "jti": jti,
                "client_name": "Good Bank",
                "logo_uri": "https://app.example/logo.png",
                "tos_uri": "https://app.example/tos",
            }),
        );
        let mut body = body_with(&issuer_jws("ES256", &claims));
        for (member, value) in [
            ("client_name#en", "Evil Corp"),
            ("client_name#fr", "Evil Corp SA"),
            ("logo_uri#en", "https://app.example/evil.png"),
            ("tos_uri#en", "https://app.example/evil-tos"),
            ("policy_uri#en", "https://app.example/policy"),
        ] {
            body[member] = json!(value);
        }
        body
    };
    let check = |metadata: &oauth_dcr::ClientMetadata| {
        let wire = serde_json::to_value(metadata).unwrap();
        for dropped in [
            "client_name#en",
            "client_name#fr",
            "logo_uri#en",
            "tos_uri#en",
        ] {
            assert!(wire.get(dropped).is_none(), "{dropped} kept: {wire}");
        }
        assert_eq!(wire["client_name"], "Good Bank");
        // A member the statement does not assert keeps its variants.
        assert_eq!(wire["policy_uri#en"], "https://app.example/policy");
    };
    let registered = fx.register(&body("good-bank-1")).await;
    check(&registered.metadata);
    // The same on update, with a new statement and with the kept one.
    let updated = update(&fx, &client, &token(&client), &body("good-bank-2"))
        .await
        .unwrap();
    check(&updated.metadata);
    let mut without = body("good-bank-3");
    without
        .as_object_mut()
        .unwrap()
        .remove("software_statement");
    let again = update(&fx, &client, &token(&updated), &without)
        .await
        .unwrap();
    check(&again.metadata);
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    check(&record.metadata);
}

#[tokio::test]
async fn in_a_signed_body_a_statement_asserted_member_drops_its_language_variants() {
    let signed = SignedRequests::new(Arc::new(
        StaticKeySource::new().with_any_issuer(jwks("client.jwks.json")),
    ));
    let fx = Server::configured(|r| {
        r.with_software_statements(trusting_issuer())
            .with_signed_requests(signed)
    });
    let now = fx.now();
    let statement = issuer_jws(
        "ES256",
        &with(statement_claims(now), json!({ "client_name": "Good Bank" })),
    );
    let claims = json!({
        "iss": "4NRB1-0XZABZI9E6-5SM3R",
        "aud": "https://as.example",
        "iat": now,
        "exp": now + 300,
        "jti": "signed-good-bank",
        "redirect_uris": [REDIRECT],
        "software_statement": statement,
        "client_name#en": "Evil Corp",
        "client_name#fr": "Evil Corp SA",
    });
    let jwt = client_jws(&claims);
    let client = fx
        .registrar
        .register_signed(jwt.as_bytes(), &RequestContext::new())
        .await
        .unwrap();
    let wire = serde_json::to_value(&client.metadata).unwrap();
    assert_eq!(wire["client_name"], "Good Bank");
    for dropped in ["client_name#en", "client_name#fr"] {
        assert!(wire.get(dropped).is_none(), "{dropped} kept: {wire}");
    }
}

// ---- issue 14 (helper "jose"): B9 wrong issuer's key, B11 bounded caches ----

fn trusting_two_issuers() -> Server {
    let keys = StaticKeySource::new()
        .with_issuer(ISSUER, jwks("issuer.jwks.json"))
        .with_issuer(OTHER_ISSUER, jwks("attacker.jwks.json"));
    Server::configured(|r| r.with_software_statements(SoftwareStatements::new(Arc::new(keys))))
}

/// RFC 7591 §3.2.2: a statement naming trusted issuer A but signed with trusted issuer B's key
/// does not verify with A's keys: it is invalid, not unapproved (which stays for issuers and
/// contents the server does not accept).
#[tokio::test]
async fn a_statement_of_one_trusted_issuer_signed_with_another_trusted_issuers_key_is_invalid() {
    let fx = trusting_two_issuers();
    let other_signer = signer("RS256", "attacker-rs256.pem");
    // B's key under B's kid, and with no kid at all.
    for header in [
        json!({ "alg": "RS256", "typ": "JWT", "kid": "attacker-rs256" }),
        json!({ "alg": "RS256", "typ": "JWT" }),
    ] {
        let token = jws(&header, &statement_claims(fx.now()), other_signer.as_ref());
        assert_refused(
            &fx,
            &token,
            "invalid_software_statement",
            "signature does not verify",
        )
        .await;
    }
    // The other way round: B's name, A's key.
    let claims = with(statement_claims(fx.now()), json!({ "iss": OTHER_ISSUER }));
    assert_refused(
        &fx,
        &issuer_jws("RS256", &claims),
        "invalid_software_statement",
        "signature does not verify",
    )
    .await;
    // Each issuer's own statements are accepted, and a stranger is still unapproved.
    let own = jws(
        &json!({ "alg": "RS256", "typ": "JWT", "kid": "attacker-rs256" }),
        &claims,
        other_signer.as_ref(),
    );
    fx.register(&body_with(&own)).await;
    fx.register(&body_with(&issuer_jws(
        "RS256",
        &statement_claims(fx.now()),
    )))
    .await;
    let stranger = with(
        statement_claims(fx.now()),
        json!({ "iss": "https://stranger.example" }),
    );
    let err = fx.refuse(&body_with(&issuer_jws("RS256", &stranger))).await;
    assert_error(err, 400, "unapproved_software_statement");
    assert_eq!(fx.store.len(), 2);
}

/// A statement from a random issuer, signed by anyone: refused as unapproved.
fn random_issuer_statement(n: usize, now: i64) -> Value {
    let claims = with(
        statement_claims(now),
        json!({ "iss": format!("https://random-{n}.example") }),
    );
    body_with(&issuer_jws("ES256", &claims))
}

/// Issuer names come from unverified tokens: a flood of random ones cannot grow the cache past
/// its bound, and does not evict the keys of the trusted issuer.
#[tokio::test]
async fn the_caching_key_source_stays_bounded_under_random_issuers() {
    let inner = Counting::new(&["issuer-es256"]);
    let cache =
        Arc::new(CachingKeySource::new(inner.clone(), Duration::from_secs(3600)).max_entries(64));
    let fx =
        Server::configured(|r| r.with_software_statements(SoftwareStatements::new(cache.clone())));
    fx.register(&body_with(&issuer_jws(
        "ES256",
        &statement_claims(fx.now()),
    )))
    .await;
    let body = random_issuer_statement(0, fx.now());
    for n in 0..1000 {
        let err = fx.refuse(&random_issuer_statement(n, fx.now())).await;
        assert_error(err, 400, "unapproved_software_statement");
        assert!(
            cache.cached_issuers() <= 64,
            "{} entries",
            cache.cached_issuers()
        );
    }
    let calls = inner.calls();
    fx.register(&body_with(&issuer_jws(
        "ES256",
        &statement_claims(fx.now()),
    )))
    .await;
    assert_eq!(
        inner.calls(),
        calls,
        "the trusted issuer's keys stayed cached"
    );
    // The first random issuer was evicted: asking again reaches the inner source.
    fx.refuse(&body).await;
    assert_eq!(inner.calls(), calls + 1);
}

/// With the default bound, an untrusted issuer asked again after the flood is looked up again:
/// its "not trusted" answer was not kept for the whole time to live.
#[tokio::test]
async fn the_caching_key_source_forgets_untrusted_issuers_under_a_flood() {
    let inner = Counting::new(&["issuer-es256"]);
    let cache = CachingKeySource::new(inner.clone(), Duration::from_secs(3600));
    let fx = Server::configured(|r| {
        r.with_software_statements(SoftwareStatements::new(Arc::new(cache)))
    });
    let first = random_issuer_statement(0, fx.now());
    fx.refuse(&first).await;
    for n in 1..2000 {
        fx.refuse(&random_issuer_statement(n, fx.now())).await;
    }
    let calls = inner.calls();
    fx.refuse(&first).await;
    assert_eq!(inner.calls(), calls + 1, "the first answer was evicted");
}

/// "Not trusted" answers are short-lived: an issuer the host trusts a moment later is not
/// refused for the whole time to live.
#[tokio::test]
async fn the_caching_key_source_keeps_not_trusted_answers_briefly() {
    let inner = Counting::new(&["issuer-es256"]);
    let cache = CachingKeySource::new(inner.clone(), Duration::from_secs(3600))
        .negative_ttl(Duration::ZERO);
    let fx = Server::configured(|r| {
        r.with_software_statements(SoftwareStatements::new(Arc::new(cache)))
    });
    let body = random_issuer_statement(0, fx.now());
    fx.refuse(&body).await;
    fx.refuse(&body).await;
    assert_eq!(inner.calls(), 2, "no negative answer was reused");
}

/// The in-memory replay guard keeps a bounded number of unexpired entries, forgets expired
/// ones, and refuses a new key when full rather than forgetting a live one.
#[tokio::test]
async fn the_memory_replay_guard_is_bounded() {
    use oauth_dcr::statements::ReplayGuard;
    let guard = MemoryReplayGuard::with_capacity(3);
    let now = time::OffsetDateTime::from_unix_timestamp(START).unwrap();
    let later = now + time::Duration::minutes(5);
    for n in 0..3 {
        let key = format!("{ISSUER}|{n}{}", "x".repeat(10_000));
        assert!(guard.first_use(&key, now, later).await.unwrap());
        assert!(
            !guard.first_use(&key, now, later).await.unwrap(),
            "replayed"
        );
    }
    assert_eq!(guard.len(), 3);
    assert!(
        guard.first_use("one more", now, later).await.is_err(),
        "full: refused, no live entry forgotten"
    );
    let key0 = format!("{ISSUER}|0{}", "x".repeat(10_000));
    assert!(!guard.first_use(&key0, now, later).await.unwrap());
    // Once they expire, entries are forgotten and new keys fit.
    for n in 0..1000 {
        let at = later + time::Duration::seconds(n);
        assert!(guard
            .first_use(&format!("k{n}"), at, at + time::Duration::seconds(1))
            .await
            .unwrap());
        assert!(guard.len() <= 3);
    }
}

/// B7: a statement checked by a replay guard needs `exp` (or a maximum age), and a float `exp`
/// is remembered like an integer one.
#[tokio::test]
async fn with_a_replay_guard_a_statement_without_exp_is_refused() {
    let fx = Server::configured(|r| {
        r.with_software_statements(
            trusting_issuer().replay_guard(Arc::new(MemoryReplayGuard::new())),
        )
    });
    let now = fx.now();
    let no_exp = with(
        statement_claims(now),
        json!({ "exp": null, "jti": "no-exp" }),
    );
    assert_refused(
        &fx,
        &issuer_jws("ES256", &no_exp),
        "invalid_software_statement",
        "`exp` is required",
    )
    .await;
    let float_exp = with(
        statement_claims(now),
        json!({ "exp": (now + 300) as f64 + 0.25, "jti": "float-exp" }),
    );
    let statement = issuer_jws("ES256", &float_exp);
    fx.register(&body_with(&statement)).await;
    let err = fx.refuse(&body_with(&statement)).await;
    let reply = assert_error(err, 400, "invalid_software_statement");
    assert!(reply.description().contains("used before"), "{reply:?}");
    assert_eq!(fx.store.len(), 1);
}

// ---- statements bind idempotent re-registration and replacement (review of issue 14) ----

/// An idempotent re-registration replaces the instance's client: like an update, it cannot drop
/// the statement that client was registered with; a fresh statement for the same software
/// re-registers it.
#[tokio::test]
async fn a_re_registration_cannot_drop_the_clients_statement() {
    let mut policy = oauth_dcr::ServerPolicy::new(ENDPOINT);
    policy.idempotent_registration = true;
    let fx = Server::build(policy, |r| r.with_software_statements(trusting_issuer()));
    let instance = |statement: Option<String>| {
        let mut body = json!({
            "redirect_uris": [REDIRECT],
            "client_name": "Evil Corp",
            "software_id": "4NRB1-0XZABZI9E6-5SM3R",
            "instance_key": "k-1",
        });
        if let Some(statement) = statement {
            body["software_statement"] = json!(statement);
        }
        body
    };
    let statement = || issuer_jws("ES256", &statement_claims(fx.now()));
    let first = fx.register(&instance(Some(statement()))).await;
    assert_eq!(first.metadata.client_name.as_deref(), Some("B"));
    let before = fx.store.get(&first.client_id).await.unwrap();

    let err = fx.refuse(&instance(None)).await;
    assert_error(err, 400, "unapproved_software_statement");
    assert_eq!(fx.store.get(&first.client_id).await.unwrap(), before);

    fx.clock.advance(time::Duration::seconds(5));
    let again = fx.register(&instance(Some(statement()))).await;
    assert_eq!(again.client_id, first.client_id);
    assert_eq!(again.metadata.client_name.as_deref(), Some("B"));
}

/// A statement that names no software (no `software_id`, no `sub`) cannot replace a client's
/// statement: nothing shows it is for the same software.
#[tokio::test]
async fn a_statement_naming_no_software_cannot_replace_the_clients() {
    let fx = Server::statements();
    let anonymous = |name: &str| {
        with(
            statement_claims(fx.now()),
            json!({ "software_id": null, "client_name": name }),
        )
    };
    let client = fx
        .register(&body_with(&issuer_jws("ES256", &anonymous("Good Bank"))))
        .await;
    let before = fx.store.get(&client.client_id).await.unwrap();
    let mut body = body_with(&issuer_jws("ES256", &anonymous("Other Bank")));
    body["client_id"] = json!(client.client_id);
    let err = fx
        .update(
            &client.client_id,
            Some(
                client
                    .registration_access_token
                    .as_ref()
                    .expect("a registration access token")
                    .secret(),
            ),
            &body,
        )
        .await
        .unwrap_err();
    assert_error(err, 400, "unapproved_software_statement");
    assert_eq!(fx.store.get(&client.client_id).await.unwrap(), before);
}
