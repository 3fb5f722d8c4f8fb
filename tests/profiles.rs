//! Deployment profiles: for each preset, a table of the registrations it accepts (201, stored)
//! and of those it refuses (status, exact error code, the rule's message, nothing stored), plus
//! the behaviour around them: forced values, updates, replay, the reaper, discovery.

mod common;

use std::sync::Arc;

use common::*;
use oauth_dcr::discovery::discovery_metadata;
use oauth_dcr::initial_tokens::{InitialAccessGrant, InitialTokenVerifier};
use oauth_dcr::profiles::{OpenBanking, Profile};
use oauth_dcr::statements::StaticKeySource;
use oauth_dcr::{
    ApplicationType, ClientStore, GrantType, MemoryStore, RedirectUri, Registrar,
    RegistrationError, RegistrationResponse, RequestContext, StoreError,
};
use serde_json::{json, Value};
use time::Duration;

// ---- fixtures ----

/// What a row expects.
#[derive(Debug)]
enum Expect {
    Accept,
    /// Status, error code, and a fragment of the description naming the rule.
    Refuse(u16, &'static str, &'static str),
}

use Expect::{Accept, Refuse};

/// One request of a table: a name, the body, how it is encoded, and the expected outcome.
struct Row {
    name: &'static str,
    body: Vec<u8>,
    format: Format,
    expect: Expect,
}

fn json_row(name: &'static str, body: Value, expect: Expect) -> Row {
    Row {
        name,
        body: serde_json::to_vec(&body).unwrap(),
        format: Format::Json,
        expect,
    }
}

/// Runs every row; returns the accepted responses by row name.
async fn run(server: &Server, rows: Vec<Row>) -> Vec<(&'static str, RegistrationResponse)> {
    let mut accepted = Vec::new();
    for row in rows {
        let before = server.store.len();
        let outcome = server
            .registrar
            .register_as(&row.body, row.format, &RequestContext::new())
            .await;
        match (row.expect, outcome) {
            (Accept, Ok(response)) => {
                assert_eq!(server.store.len(), before + 1, "{}: stored", row.name);
                accepted.push((row.name, response));
            }
            (Accept, Err(e)) => panic!("{}: refused: {e}", row.name),
            (Refuse(status, code, fragment), Err(e)) => {
                assert_refusal(row.name, e, status, code, fragment);
                assert_eq!(server.store.len(), before, "{}: nothing stored", row.name);
            }
            (Refuse(..), Ok(r)) => panic!(
                "{}: accepted: {}",
                row.name,
                String::from_utf8_lossy(&r.to_json())
            ),
        }
    }
    accepted
}

fn assert_refusal(name: &str, err: RegistrationError, status: u16, code: &str, fragment: &str) {
    let reply = Reply::of(err);
    assert_eq!(reply.status.as_u16(), status, "{name}: {reply:?}");
    assert_eq!(reply.error(), code, "{name}: {reply:?}");
    assert!(
        reply.description().contains(fragment),
        "{name}: `{}` does not say `{fragment}`",
        reply.description()
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{name}");
}

fn response<'a>(
    accepted: &'a [(&str, RegistrationResponse)],
    name: &str,
) -> &'a RegistrationResponse {
    &accepted.iter().find(|(n, _)| *n == name).unwrap().1
}

/// `base` with members replaced (a `null` removes the member).
fn edit(base: &Value, changes: Value) -> Value {
    with(base.clone(), changes)
}

// ---- OpenID Connect Dynamic Registration ----

#[tokio::test]
async fn oidc_dynamic_accepts_every_certified_response_type() {
    let server = Server::profile(Profile::OidcDynamic);
    let web = json!({ "redirect_uris": [REDIRECT] });
    let rows = [oidc_response_type_rows(&web), oidc_client_kind_rows(&web)];
    let accepted = run(&server, rows.into_iter().flatten().collect()).await;

    // OIDC Registration §2 defaults, written into the registration.
    let client = response(&accepted, "code, all defaults");
    let m = serde_json::to_value(&client.metadata).unwrap();
    assert_eq!(m["response_types"], json!(["code"]));
    assert_eq!(m["grant_types"], json!(["authorization_code"]));
    assert_eq!(m["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(m["application_type"], "web");
    assert_eq!(m["id_token_signed_response_alg"], "RS256");
    assert!(client.client_secret.is_some());
    let hybrid = response(&accepted, "hybrid, grant types implied");
    assert_eq!(
        serde_json::to_value(&hybrid.metadata).unwrap()["grant_types"],
        json!(["authorization_code", "implicit"])
    );
}

/// Each response type OpenID certifies, with the grant types it implies.
fn oidc_response_type_rows(web: &Value) -> Vec<Row> {
    vec![
        json_row("code, all defaults", web.clone(), Accept),
        json_row(
            "id_token",
            edit(
                web,
                json!({ "response_types": ["id_token"], "grant_types": ["implicit"] }),
            ),
            Accept,
        ),
        json_row(
            "id_token token",
            edit(
                web,
                json!({ "response_types": ["id_token token"], "grant_types": ["implicit"] }),
            ),
            Accept,
        ),
        json_row(
            "code id_token",
            edit(
                web,
                json!({
                    "response_types": ["code id_token"],
                    "grant_types": ["authorization_code", "implicit"],
                }),
            ),
            Accept,
        ),
        json_row(
            "code token",
            edit(
                web,
                json!({
                    "response_types": ["code token"],
                    "grant_types": ["authorization_code", "implicit"],
                }),
            ),
            Accept,
        ),
        json_row(
            "code id_token token",
            edit(
                web,
                json!({
                    "response_types": ["code id_token token"],
                    "grant_types": ["authorization_code", "implicit"],
                }),
            ),
            Accept,
        ),
        json_row(
            "hybrid, grant types implied",
            edit(web, json!({ "response_types": ["code id_token"] })),
            Accept,
        ),
    ]
}

/// Subject types, ID token signing, client authentication, native and refreshing clients.
fn oidc_client_kind_rows(web: &Value) -> Vec<Row> {
    vec![
        json_row(
            "pairwise subject",
            edit(web, json!({ "subject_type": "pairwise" })),
            Accept,
        ),
        json_row(
            "public subject",
            edit(web, json!({ "subject_type": "public" })),
            Accept,
        ),
        json_row(
            "unsigned ID token with code",
            edit(web, json!({ "id_token_signed_response_alg": "none" })),
            Accept,
        ),
        json_row(
            "private_key_jwt",
            edit(
                web,
                json!({
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": jwks_json("client.jwks.json"),
                }),
            ),
            Accept,
        ),
        json_row(
            "client_secret_jwt",
            edit(
                web,
                json!({ "token_endpoint_auth_method": "client_secret_jwt" }),
            ),
            Accept,
        ),
        json_row(
            "public native client on loopback",
            json!({
                "application_type": "native",
                "redirect_uris": ["http://127.0.0.1:8080/cb"],
                "token_endpoint_auth_method": "none",
            }),
            Accept,
        ),
        json_row(
            "refresh tokens",
            edit(
                web,
                json!({ "grant_types": ["authorization_code", "refresh_token"] }),
            ),
            Accept,
        ),
    ]
}

#[tokio::test]
async fn oidc_dynamic_refuses_what_oidc_forbids() {
    let server = Server::profile(Profile::OidcDynamic);
    let web = json!({ "redirect_uris": [REDIRECT] });
    let rows = [
        oidc_forbidden_response_type_rows(&web),
        oidc_forbidden_client_rows(&web),
    ];
    run(&server, rows.into_iter().flatten().collect()).await;
    assert!(server.store.is_empty());
}

/// Unsigned ID tokens in the front channel, and response types without their grant or redirect.
fn oidc_forbidden_response_type_rows(web: &Value) -> Vec<Row> {
    let meta = "invalid_client_metadata";
    let redirect = "invalid_redirect_uri";
    vec![
        json_row(
            "unsigned ID token with code id_token",
            edit(
                web,
                json!({
                    "response_types": ["code id_token"],
                    "id_token_signed_response_alg": "none",
                }),
            ),
            Refuse(
                400,
                meta,
                "id_token_signed_response_alg `none` is not allowed",
            ),
        ),
        json_row(
            "unsigned ID token with id_token",
            edit(
                web,
                json!({
                    "response_types": ["id_token"],
                    "id_token_signed_response_alg": "none",
                }),
            ),
            Refuse(
                400,
                meta,
                "id_token_signed_response_alg `none` is not allowed",
            ),
        ),
        json_row(
            "bare token response type",
            edit(
                web,
                json!({ "response_types": ["token"], "grant_types": ["implicit"] }),
            ),
            Refuse(400, meta, "response type `token` is not supported"),
        ),
        json_row(
            "id_token without the implicit grant",
            edit(
                web,
                json!({
                    "response_types": ["id_token"],
                    "grant_types": ["authorization_code"],
                }),
            ),
            Refuse(400, meta, "needs the grant type `implicit`"),
        ),
        json_row(
            "implicit web client on http loopback",
            json!({ "redirect_uris": ["http://127.0.0.1/cb"], "response_types": ["id_token"] }),
            Refuse(400, redirect, "must use https for a web client"),
        ),
        json_row(
            "implicit web client on https localhost",
            json!({ "redirect_uris": ["https://localhost/cb"], "response_types": ["id_token"] }),
            Refuse(400, redirect, "must not use a loopback host"),
        ),
    ]
}

/// Subjects, redirect URIs, grants and algorithms OpenID Connect forbids.
fn oidc_forbidden_client_rows(web: &Value) -> Vec<Row> {
    let meta = "invalid_client_metadata";
    let redirect = "invalid_redirect_uri";
    vec![
        json_row(
            "pairwise on two hosts without a sector",
            json!({
                "redirect_uris": [REDIRECT, "https://other.example/cb"],
                "subject_type": "pairwise",
            }),
            Refuse(400, meta, "sector_identifier_uri is required"),
        ),
        json_row(
            "unknown subject type",
            edit(web, json!({ "subject_type": "anonymous" })),
            Refuse(400, meta, "subject_type `anonymous` is not supported"),
        ),
        json_row(
            "redirect URI with a fragment",
            json!({ "redirect_uris": ["https://app.example/cb#x"] }),
            Refuse(400, redirect, "must not contain a fragment"),
        ),
        json_row(
            "no redirect URIs",
            json!({ "client_name": "App" }),
            Refuse(400, redirect, "redirect_uris is required"),
        ),
        json_row(
            "password grant",
            edit(
                web,
                json!({ "grant_types": ["authorization_code", "password"] }),
            ),
            Refuse(400, meta, "grant type `password` is not supported"),
        ),
        json_row(
            "HMAC ID tokens",
            edit(web, json!({ "id_token_signed_response_alg": "HS256" })),
            Refuse(
                400,
                meta,
                "id_token_signed_response_alg `HS256` is not supported",
            ),
        ),
    ]
}

#[test]
fn oidc_dynamic_advertises_what_it_accepts() {
    let metadata = discovery_metadata(&Profile::OidcDynamic.policy(ENDPOINT));
    assert_eq!(
        metadata["response_types_supported"],
        json!([
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token"
        ])
    );
    assert_eq!(
        metadata["subject_types_supported"],
        json!(["public", "pairwise"])
    );
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA", "none"])
    );
}

// ---- FAPI 2.0 ----

fn fapi_client() -> Value {
    json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": jwks_json("client.jwks.json"),
        "dpop_bound_access_tokens": true,
    })
}

#[tokio::test]
async fn fapi2_accepts_confidential_sender_constrained_clients() {
    let server = Server::profile(Profile::Fapi2);
    let base = fapi_client();
    let rows = [
        fapi2_accepted_authentication_rows(&base),
        fapi2_accepted_client_rows(&base),
    ];
    let accepted = run(&server, rows.into_iter().flatten().collect()).await;
    for (name, client) in &accepted {
        assert_eq!(
            client.metadata.require_pushed_authorization_requests,
            Some(true),
            "{name}: PAR forced"
        );
        assert!(client.client_secret.is_none(), "{name}: no secret");
    }
    let defaulted = response(&accepted, "authentication method omitted");
    let m = serde_json::to_value(&defaulted.metadata).unwrap();
    assert_eq!(m["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(m["id_token_signed_response_alg"], "PS256");
}

/// Each sender-constrained client authentication FAPI 2.0 allows.
fn fapi2_accepted_authentication_rows(base: &Value) -> Vec<Row> {
    vec![
        json_row("private_key_jwt with DPoP", base.clone(), Accept),
        json_row(
            "tls_client_auth with certificate-bound tokens",
            json!({
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=app,O=Example",
                "tls_client_certificate_bound_access_tokens": true,
            }),
            Accept,
        ),
        json_row(
            "self_signed_tls_client_auth",
            edit(
                base,
                json!({
                    "token_endpoint_auth_method": "self_signed_tls_client_auth",
                    "dpop_bound_access_tokens": null,
                    "tls_client_certificate_bound_access_tokens": true,
                }),
            ),
            Accept,
        ),
        json_row(
            "authentication method omitted",
            edit(base, json!({ "token_endpoint_auth_method": null })),
            Accept,
        ),
    ]
}

/// Clients that decline PAR, native apps, client credentials, and the FAPI algorithms.
fn fapi2_accepted_client_rows(base: &Value) -> Vec<Row> {
    vec![
        json_row(
            "PAR declined by the client",
            edit(
                base,
                json!({ "require_pushed_authorization_requests": false }),
            ),
            Accept,
        ),
        json_row(
            "native app with a claimed https redirect",
            edit(base, json!({ "application_type": "native" })),
            Accept,
        ),
        json_row(
            "client_credentials only",
            edit(
                base,
                json!({ "redirect_uris": null, "grant_types": ["client_credentials"] }),
            ),
            Accept,
        ),
        json_row(
            "FAPI algorithms",
            edit(
                base,
                json!({
                    "token_endpoint_auth_signing_alg": "ES256",
                    "id_token_signed_response_alg": "PS256",
                    "request_object_signing_alg": "EdDSA",
                    "authorization_signed_response_alg": "PS256",
                }),
            ),
            Accept,
        ),
        // Issue 15, item 11: the final FAPI 2.0 Security Profile lets native apps use the
        // ordinary native redirects (RFC 8252 §7.1 and §7.3).
        json_row(
            "native app on http loopback",
            edit(
                base,
                json!({
                    "application_type": "native",
                    "redirect_uris": ["http://127.0.0.1:8080/cb", "http://[::1]/cb"],
                }),
            ),
            Accept,
        ),
        json_row(
            "native app on a private-use scheme",
            edit(
                base,
                json!({
                    "application_type": "native",
                    "redirect_uris": ["com.example.app:/cb"],
                }),
            ),
            Accept,
        ),
    ]
}

#[tokio::test]
async fn fapi2_refuses_public_and_secret_clients_and_what_native_rules_forbid() {
    let server = Server::profile(Profile::Fapi2);
    let base = fapi_client();
    let rows = [
        fapi2_refused_authentication_rows(&base),
        fapi2_refused_grant_and_redirect_rows(&base),
        fapi2_refused_algorithm_rows(&base),
    ];
    run(&server, rows.into_iter().flatten().collect()).await;
    assert!(server.store.is_empty());
}

/// Public clients, shared secrets, and private_key_jwt without keys.
fn fapi2_refused_authentication_rows(base: &Value) -> Vec<Row> {
    let meta = "invalid_client_metadata";
    let method = |m: &str| edit(base, json!({ "token_endpoint_auth_method": m }));
    vec![
        json_row(
            "public client",
            method("none"),
            Refuse(
                400,
                meta,
                "token_endpoint_auth_method `none` is not supported",
            ),
        ),
        json_row(
            "client_secret_basic",
            method("client_secret_basic"),
            Refuse(400, meta, "`client_secret_basic` is not supported"),
        ),
        json_row(
            "client_secret_post",
            method("client_secret_post"),
            Refuse(400, meta, "`client_secret_post` is not supported"),
        ),
        json_row(
            "client_secret_jwt",
            method("client_secret_jwt"),
            Refuse(400, meta, "`client_secret_jwt` is not supported"),
        ),
        json_row(
            "private_key_jwt without keys",
            edit(base, json!({ "jwks": null })),
            Refuse(400, meta, "needs jwks or jwks_uri"),
        ),
    ]
}

/// Front-channel grants, passwords, and redirect URIs native and web rules forbid.
fn fapi2_refused_grant_and_redirect_rows(base: &Value) -> Vec<Row> {
    let meta = "invalid_client_metadata";
    let redirect = "invalid_redirect_uri";
    vec![
        json_row(
            "implicit grant",
            edit(
                base,
                json!({ "response_types": ["id_token"], "grant_types": ["implicit"] }),
            ),
            Refuse(400, meta, "grant type `implicit` is not supported"),
        ),
        json_row(
            "hybrid response type",
            edit(base, json!({ "response_types": ["code id_token"] })),
            Refuse(400, meta, "response type `code id_token` is not supported"),
        ),
        json_row(
            "password grant",
            edit(base, json!({ "grant_types": ["password"] })),
            Refuse(400, meta, "grant type `password` is not supported"),
        ),
        // The final FAPI 2.0 Security Profile dropped its https-only rule for native apps
        // (issue 15, item 11): the ordinary native-client rules (RFC 8252) still refuse these.
        json_row(
            "native app on a private-use scheme without a dot",
            edit(
                base,
                json!({
                    "application_type": "native",
                    "redirect_uris": ["myapp:/cb"],
                }),
            ),
            Refuse(400, redirect, "not in reverse domain form"),
        ),
        json_row(
            "native app on https loopback",
            edit(
                base,
                json!({
                    "application_type": "native",
                    "redirect_uris": ["https://127.0.0.1/cb"],
                }),
            ),
            Refuse(400, redirect, "must not use a loopback host"),
        ),
        json_row(
            "web app on http loopback",
            edit(base, json!({ "redirect_uris": ["http://127.0.0.1/cb"] })),
            Refuse(400, redirect, "must use https for a web client"),
        ),
        json_row(
            "plain http redirect",
            edit(base, json!({ "redirect_uris": ["http://app.example/cb"] })),
            Refuse(400, redirect, "must use https"),
        ),
    ]
}

/// Algorithms outside FAPI 2.0's.
fn fapi2_refused_algorithm_rows(base: &Value) -> Vec<Row> {
    let meta = "invalid_client_metadata";
    vec![
        json_row(
            "RS256 client assertions",
            edit(base, json!({ "token_endpoint_auth_signing_alg": "RS256" })),
            Refuse(
                400,
                meta,
                "token_endpoint_auth_signing_alg `RS256` is not supported",
            ),
        ),
        json_row(
            "HMAC client assertions",
            edit(base, json!({ "token_endpoint_auth_signing_alg": "HS256" })),
            Refuse(
                400,
                meta,
                "token_endpoint_auth_signing_alg `HS256` is not supported",
            ),
        ),
        json_row(
            "RS256 ID tokens",
            edit(base, json!({ "id_token_signed_response_alg": "RS256" })),
            Refuse(
                400,
                meta,
                "id_token_signed_response_alg `RS256` is not supported",
            ),
        ),
        json_row(
            "unsigned request objects",
            edit(base, json!({ "request_object_signing_alg": "none" })),
            Refuse(
                400,
                meta,
                "request_object_signing_alg `none` is not supported",
            ),
        ),
        json_row(
            "RS256 JARM responses",
            edit(
                base,
                json!({ "authorization_signed_response_alg": "RS256" }),
            ),
            Refuse(
                400,
                meta,
                "authorization_signed_response_alg `RS256` is not supported",
            ),
        ),
        json_row(
            "RS256 UserInfo responses",
            edit(base, json!({ "userinfo_signed_response_alg": "RS256" })),
            Refuse(
                400,
                meta,
                "userinfo_signed_response_alg `RS256` is not supported",
            ),
        ),
    ]
}

#[tokio::test]
async fn fapi2_rules_hold_on_update() {
    let server = Server::profile(Profile::Fapi2);
    let client = run(&server, vec![json_row("client", fapi_client(), Accept)])
        .await
        .remove(0)
        .1;
    let first = token(&client);
    let update = |changes: Value| {
        let body = edit(&fapi_client(), changes);
        serde_json::to_vec(&edit(&body, json!({ "client_id": client.client_id }))).unwrap()
    };
    // An update that declines DPoP gets the other sender constraint FAPI 2.0 knows (§5.3.2.1
    // item 4 is the server's duty), not a refusal.
    let unbound = server
        .registrar
        .update_bytes(
            &client.client_id,
            Some(&first),
            &update(json!({ "dpop_bound_access_tokens": false })),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(unbound.metadata.dpop_bound_access_tokens, Some(false));
    assert_eq!(
        unbound.metadata.tls_client_certificate_bound_access_tokens,
        Some(true)
    );
    let token = token(&unbound);
    let err = server
        .registrar
        .update_bytes(
            &client.client_id,
            Some(&token),
            &update(json!({ "redirect_uris": ["myapp:/cb"], "application_type": "native" })),
            &RequestContext::new(),
        )
        .await
        .unwrap_err();
    assert_refusal(
        "update to a scheme without a dot",
        err,
        400,
        "invalid_redirect_uri",
        "reverse domain form",
    );
    let updated = server
        .registrar
        .update_bytes(
            &client.client_id,
            Some(&token),
            &update(json!({ "require_pushed_authorization_requests": false })),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.metadata.require_pushed_authorization_requests,
        Some(true)
    );
}

#[test]
fn fapi2_advertises_its_algorithms_only() {
    let metadata = discovery_metadata(&Profile::Fapi2.policy(ENDPOINT));
    for list in [
        "id_token_signing_alg_values_supported",
        "token_endpoint_auth_signing_alg_values_supported",
        "request_object_signing_alg_values_supported",
        "authorization_signing_alg_values_supported",
    ] {
        assert_eq!(metadata[list], json!(["PS256", "ES256", "EdDSA"]), "{list}");
    }
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!([
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth"
        ])
    );
}

// ---- FAPI 2.0 and OpenID Connect Dynamic: issue 15 (items 11–13, 22 and the uncovered rules) ----

#[tokio::test]
async fn a_fapi2_native_app_registers_with_loopback_and_private_use_redirects() {
    let server = Server::profile(Profile::Fapi2);
    let app = data_json("fapi2-native-app.json");
    let accepted = run(&server, vec![json_row("native app", app.clone(), Accept)]).await;
    let client = &response(&accepted, "native app").metadata;
    let stored = serde_json::to_value(client).unwrap();
    assert_eq!(stored["redirect_uris"], app["redirect_uris"]);
    assert_eq!(stored["application_type"], "native");
    assert_eq!(stored["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(client.require_pushed_authorization_requests, Some(true));
    // The app sent no binding flag: the preset records the one its authentication implies.
    assert_eq!(client.dpop_bound_access_tokens, Some(true));
    assert_eq!(client.tls_client_certificate_bound_access_tokens, None);
    // RFC 8252 §7.3: the loopback redirect matches on any port at request time.
    let loopback = RedirectUri::new("http://127.0.0.1/cb");
    assert!(loopback.matches("http://127.0.0.1:51004/cb"));
}

#[tokio::test]
async fn fapi2_sets_the_sender_constraint_the_authentication_implies() {
    let server = Server::profile(Profile::Fapi2);
    let key = fapi_client();
    let pkjwt = edit(&key, json!({ "dpop_bound_access_tokens": null }));
    let mtls = json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": "CN=app,O=Example",
    });
    let rows = vec![
        json_row("private_key_jwt without a flag", pkjwt.clone(), Accept),
        json_row("tls_client_auth without a flag", mtls.clone(), Accept),
        json_row(
            "self_signed_tls_client_auth without a flag",
            edit(
                &pkjwt,
                json!({ "token_endpoint_auth_method": "self_signed_tls_client_auth" }),
            ),
            Accept,
        ),
        json_row(
            "private_key_jwt declining DPoP",
            edit(&pkjwt, json!({ "dpop_bound_access_tokens": false })),
            Accept,
        ),
        json_row(
            "tls_client_auth declining certificate binding",
            edit(
                &mtls,
                json!({ "tls_client_certificate_bound_access_tokens": false }),
            ),
            Accept,
        ),
        json_row(
            "both declined",
            edit(
                &pkjwt,
                json!({
                    "dpop_bound_access_tokens": false,
                    "tls_client_certificate_bound_access_tokens": false,
                }),
            ),
            Accept,
        ),
        json_row(
            "private_key_jwt with certificate-bound tokens",
            edit(
                &pkjwt,
                json!({ "tls_client_certificate_bound_access_tokens": true }),
            ),
            Accept,
        ),
    ];
    let accepted = run(&server, rows).await;
    let flags = |name: &str| {
        let m = &response(&accepted, name).metadata;
        (
            m.dpop_bound_access_tokens,
            m.tls_client_certificate_bound_access_tokens,
        )
    };
    let (t, f) = (Some(true), Some(false));
    assert_eq!(flags("private_key_jwt without a flag"), (t, None));
    assert_eq!(flags("tls_client_auth without a flag"), (None, t));
    assert_eq!(
        flags("self_signed_tls_client_auth without a flag"),
        (None, t)
    );
    assert_eq!(flags("private_key_jwt declining DPoP"), (f, t));
    assert_eq!(
        flags("tls_client_auth declining certificate binding"),
        (t, f)
    );
    // The server's duty stands whatever the client asks: the authentication's own binding.
    assert_eq!(flags("both declined"), (t, f));
    assert_eq!(
        flags("private_key_jwt with certificate-bound tokens"),
        (None, t)
    );
}

/// Every path: a FAPI 2.0 native app whose metadata a software statement asserts gets the same
/// redirect rules and the same sender constraint as one that sends them in the body.
#[tokio::test]
async fn fapi2_native_rules_and_sender_constraint_hold_for_statement_asserted_metadata() {
    let server = Server::over(|store| {
        Profile::Fapi2
            .registrar(ENDPOINT, store)
            .with_software_statements(trusting_issuer().rules(Profile::Fapi2.jwt_rules()))
    });
    let app = data_json("fapi2-native-app.json");
    let claims = |redirects: Value| {
        with(
            statement_claims(server.now()),
            json!({
                "application_type": "native",
                "redirect_uris": redirects,
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=app,O=Example",
            }),
        )
    };
    let body = |statement: String| json!({ "software_statement": statement, "jwks": app["jwks"] });
    let native = issuer_jws("PS256", &claims(app["redirect_uris"].clone()));
    let no_dot = issuer_jws("PS256", &claims(json!(["myapp:/cb"])));
    let rows = vec![
        json_row("statement-asserted native app", body(native), Accept),
        json_row(
            "statement-asserted scheme without a dot",
            body(no_dot),
            Refuse(400, "invalid_redirect_uri", "not in reverse domain form"),
        ),
    ];
    let accepted = run(&server, rows).await;
    let client = &response(&accepted, "statement-asserted native app").metadata;
    assert_eq!(
        serde_json::to_value(&client.redirect_uris).unwrap(),
        app["redirect_uris"]
    );
    assert_eq!(
        client.tls_client_certificate_bound_access_tokens,
        Some(true)
    );
    assert_eq!(client.dpop_bound_access_tokens, None);
    assert_eq!(client.require_pushed_authorization_requests, Some(true));
}

#[tokio::test]
async fn fapi2_refuses_rsa_keys_under_2048_bits_and_ec_keys_under_224_bits() {
    let server = Server::profile(Profile::Fapi2);
    let base = fapi_client();
    let meta = "invalid_client_metadata";
    let keys = |key: Value| edit(&base, json!({ "jwks": { "keys": [key] } }));
    let rows = vec![
        json_row(
            "1024-bit RSA key",
            keys(json!({"kty": "RSA", "kid": "old", "n": RSA_1024_N, "e": "AQAB"})),
            Refuse(400, meta, "RSA key of 1024 bits: at least 2048"),
        ),
        // josekit has no P-192 (secp192r1) curve, and P-192 is not a registered JOSE curve name:
        // the shared check names its size before refusing it.
        json_row(
            "P-192 EC key",
            keys(json!({
                "kty": "EC", "crv": "P-192", "kid": "small",
                "x": "vcBgzi08hRLs55UbbZYRaUQ8GJGnhlOQ",
                "y": "Mp-zOyxoIEZ8p_e_iQxipSg5R3pwl3Xg",
            })),
            Refuse(400, meta, "192-bit curve `P-192`: at least 224 bits"),
        ),
    ];
    run(&server, rows).await;
    assert!(server.store.is_empty());
}

#[tokio::test]
async fn fapi2_restricts_introspection_response_signing_to_its_algorithms() {
    let server = Server::profile(Profile::Fapi2);
    let base = fapi_client();
    let alg = |a: &str| edit(&base, json!({ "introspection_signed_response_alg": a }));
    let rows = vec![
        json_row("PS256 introspection responses", alg("PS256"), Accept),
        json_row("EdDSA introspection responses", alg("EdDSA"), Accept),
        json_row(
            "RS256 introspection responses",
            alg("RS256"),
            Refuse(
                400,
                "invalid_client_metadata",
                "introspection_signed_response_alg `RS256` is not supported",
            ),
        ),
        json_row(
            "unsigned introspection responses",
            alg("none"),
            Refuse(
                400,
                "invalid_client_metadata",
                "introspection_signed_response_alg `none` is not supported",
            ),
        ),
    ];
    run(&server, rows).await;
    let metadata = discovery_metadata(&Profile::Fapi2.policy(ENDPOINT));
    assert_eq!(
        metadata["introspection_signing_alg_values_supported"],
        json!(["PS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn oidc_dynamic_accepts_unsigned_request_objects() {
    let server = Server::profile(Profile::OidcDynamic);
    let web = json!({ "redirect_uris": [REDIRECT] });
    let rows = vec![
        // OIDC Registration §2: `request_object_signing_alg` "MAY be none"; the dynamic
        // certification plan registers unsigned request objects.
        json_row(
            "unsigned request objects",
            edit(&web, json!({ "request_object_signing_alg": "none" })),
            Accept,
        ),
        json_row(
            "HMAC request objects",
            edit(&web, json!({ "request_object_signing_alg": "HS256" })),
            Refuse(
                400,
                "invalid_client_metadata",
                "request_object_signing_alg `HS256` is not supported",
            ),
        ),
    ];
    let accepted = run(&server, rows).await;
    let client = &response(&accepted, "unsigned request objects").metadata;
    assert_eq!(
        client
            .request_object_signing_alg
            .as_ref()
            .map(|a| a.as_str()),
        Some("none")
    );
    let metadata = discovery_metadata(&Profile::OidcDynamic.policy(ENDPOINT));
    assert_eq!(
        metadata["request_object_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA", "none"])
    );
    // Presets that sign everything still refuse it.
    for profile in [Profile::Fapi2, Profile::Mcp] {
        let policy = profile.policy(ENDPOINT);
        assert!(
            !policy
                .jose
                .request_object_signing
                .iter()
                .any(|a| a.as_str() == "none"),
            "{profile:?}"
        );
    }
}

#[tokio::test]
async fn oidc_dynamic_registers_client_credentials_clients() {
    let server = Server::profile(Profile::OidcDynamic);
    let rows = vec![
        json_row(
            "client_credentials only, no redirect URIs",
            json!({ "grant_types": ["client_credentials"], "response_types": [] }),
            Accept,
        ),
        json_row(
            "client_credentials beside the code grant",
            json!({
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "client_credentials"],
            }),
            Accept,
        ),
        json_row(
            "client_credentials for a public client",
            json!({
                "grant_types": ["client_credentials"],
                "response_types": [],
                "token_endpoint_auth_method": "none",
            }),
            Refuse(
                400,
                "invalid_client_metadata",
                "needs client authentication",
            ),
        ),
    ];
    let accepted = run(&server, rows).await;
    let service = response(&accepted, "client_credentials only, no redirect URIs");
    let m = serde_json::to_value(&service.metadata).unwrap();
    assert_eq!(m["grant_types"], json!(["client_credentials"]));
    assert_eq!(m["token_endpoint_auth_method"], "client_secret_basic");
    assert!(service.client_secret.is_some(), "a confidential client");
}

// ---- UK Open Banking ----

/// The authorization server's issuer: one accepted `aud` of signed requests.
const AS_ISSUER: &str = "https://as.example";
/// The ASPSP's organisation identifier in the directory: the other accepted `aud` (DCR v3.3),
/// the one the Open Banking conformance tool sends.
const ASPSP_ORG_ID: &str = "0015800001041REAAY";
/// The software the directory's statements describe; the `iss` of its signed requests.
const SOFTWARE_ID: &str = "ob-software-1";
/// Where the directory publishes the software's keys.
const SOFTWARE_JWKS: &str = "https://keystore.directory.example/org-1/ob-software-1.jwks";
/// Another software's key set at the directory.
const OTHER_JWKS: &str = "https://keystore.directory.example/org-2/other-software.jwks";
const TPP_CB: &str = "https://tpp.example/cb";
const TPP_CB2: &str = "https://tpp.example/cb2";

/// The software's key set as the directory publishes it: a PS256 key (the `issuer-ps256` key of
/// `tests/data/keys/`: the key files hold no client PS256 key, and which file a key pair comes
/// from does not matter) and an ES256 key (`client-es256`).
fn software_jwks_json() -> Value {
    let mut set = jwks_json("issuer.jwks.json");
    set["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] == "issuer-ps256");
    let es256 = jwks_json("client.jwks.json")["keys"][0].clone();
    set["keys"].as_array_mut().unwrap().push(es256);
    set
}

/// The directory's key store: the software's set, and another software's.
fn directory_keys() -> Arc<KeyStore> {
    let keys = KeyStore::default();
    keys.publish(SOFTWARE_JWKS, software_jwks_json());
    keys.publish(OTHER_JWKS, jwks_json("attacker.jwks.json"));
    Arc::new(keys)
}

fn open_banking_with(key_sets: Arc<KeyStore>) -> Server {
    Server::over(|store| {
        let directory = StaticKeySource::new().with_issuer(ISSUER, jwks("issuer.jwks.json"));
        OpenBanking::new(AS_ISSUER, Arc::new(directory), key_sets)
            .audience(ASPSP_ORG_ID)
            .registrar(ENDPOINT, store)
    })
}

fn open_banking() -> Server {
    open_banking_with(directory_keys())
}

/// The claims of the directory's statement for the software.
fn ssa_claims(now: i64) -> Value {
    json!({
        "iss": ISSUER,
        "iat": now,
        "jti": "ssa-1",
        "software_id": SOFTWARE_ID,
        "software_client_name": "TPP",
        "software_redirect_uris": [TPP_CB, TPP_CB2],
        "software_jwks_endpoint": SOFTWARE_JWKS,
        "org_id": "org-1",
    })
}

/// The claims of a valid signed registration request with the `jti` given, as the Open Banking
/// conformance tool builds them: addressed to the ASPSP's organisation id, no `jwks_uri` (the
/// statement names the key set).
fn ob_request(now: i64, jti: &str, ssa: &str) -> Value {
    json!({
        "iss": SOFTWARE_ID,
        "aud": ASPSP_ORG_ID,
        "iat": now,
        "exp": now + 300,
        "jti": jti,
        "software_statement": ssa,
        "redirect_uris": [TPP_CB],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "PS256",
        "id_token_signed_response_alg": "PS256",
        "grant_types": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types": ["code"],
        "application_type": "web",
    })
}

/// A request signed with the software's PS256 key.
fn software_signed(claims: &Value) -> Vec<u8> {
    let header = json!({ "alg": "PS256", "typ": "JWT", "kid": "issuer-ps256" });
    jws(
        &header,
        claims,
        signer("PS256", "issuer-ps256.pem").as_ref(),
    )
    .into_bytes()
}

/// A request signed with the software's ES256 key.
fn software_signed_es256(claims: &Value) -> Vec<u8> {
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "client-es256" });
    jws(
        &header,
        claims,
        signer("ES256", "client-es256.pem").as_ref(),
    )
    .into_bytes()
}

fn jwt_row(name: &'static str, body: Vec<u8>, expect: Expect) -> Row {
    Row {
        name,
        body,
        format: Format::Jwt,
        expect,
    }
}

/// A row whose request is `changes` applied to a valid request with the row's name as `jti`.
fn ob_row(name: &'static str, now: i64, ssa: &str, changes: Value, expect: Expect) -> Row {
    jwt_row(
        name,
        software_signed(&with(ob_request(now, name, ssa), changes)),
        expect,
    )
}

#[tokio::test]
async fn uk_open_banking_accepts_signed_requests_within_the_statement() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let rows = vec![
        ob_row(
            "signed request with a statement",
            now,
            &ssa,
            json!({}),
            Accept,
        ),
        ob_row(
            "a subset of the statement's redirect URIs",
            now,
            &ssa,
            json!({ "redirect_uris": [TPP_CB2] }),
            Accept,
        ),
        ob_row(
            "addressed to the issuer",
            now,
            &ssa,
            json!({ "aud": AS_ISSUER }),
            Accept,
        ),
        ob_row(
            "addressed to a list holding the organisation id",
            now,
            &ssa,
            json!({ "aud": ["https://elsewhere.example", ASPSP_ORG_ID] }),
            Accept,
        ),
        ob_row(
            "the statement's jwks_uri sent",
            now,
            &ssa,
            json!({ "jwks_uri": SOFTWARE_JWKS }),
            Accept,
        ),
        ob_row(
            "tls_client_auth",
            now,
            &ssa,
            json!({
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=ob-software-1,O=TPP",
                "token_endpoint_auth_signing_alg": null,
            }),
            Accept,
        ),
        ob_row(
            "client_credentials only",
            now,
            &ssa,
            json!({
                "redirect_uris": null,
                "response_types": null,
                "grant_types": ["client_credentials"],
            }),
            Accept,
        ),
        ob_row(
            "the Open Banking scopes",
            now,
            &ssa,
            json!({ "scope": "openid accounts payments fundsconfirmations" }),
            Accept,
        ),
    ];
    let accepted = run(&server, rows).await;
    let client = response(&accepted, "signed request with a statement");
    assert_eq!(client.metadata.software_id.as_deref(), Some(SOFTWARE_ID));
    assert_eq!(client.software_statement.as_deref(), Some(ssa.as_str()));
    // DCR v3.3: the server takes the key location from the statement.
    assert_eq!(client.metadata.jwks_uri.as_deref(), Some(SOFTWARE_JWKS));
    let record = server.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(record.statement_issuer.as_deref(), Some(ISSUER));
    assert!(record.statement_asserted.contains("jwks_uri"));
}

/// Issue 15, item 1: the Open Banking API definition and the conformance tool send the signed
/// body as `application/jose`; it was answered 415.
#[tokio::test]
async fn uk_open_banking_accepts_application_jose_over_http() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    for (content_type, jti) in [
        ("application/jose", "jose"),
        ("application/JOSE; charset=utf-8", "jose-params"),
        ("application/jwt", "jwt"),
    ] {
        let request = http::Request::post("/register")
            .header("content-type", content_type)
            .body(software_signed(&ob_request(now, jti, &ssa)))
            .unwrap();
        let response =
            oauth_dcr::http::handle(&server.registrar, request, &RequestContext::new()).await;
        assert_eq!(
            response.status(),
            201,
            "{content_type}: {}",
            String::from_utf8_lossy(response.body())
        );
    }
    assert_eq!(server.store.len(), 3);
}

/// Issue 15, item 2: `private_key_jwt` without `jwks_uri` registers, with the statement's key
/// set location filled in before validation (which needs keys for `private_key_jwt`), on
/// registration and update alike; the `software_jwks_uri` spelling works the same.
#[tokio::test]
async fn uk_open_banking_takes_jwks_uri_from_the_statement_before_validation() {
    let key_sets = directory_keys();
    const BRAZIL_STYLE: &str = "https://keystore.directory.example/org-1/brazil-style.jwks";
    key_sets.publish(BRAZIL_STYLE, software_jwks_json());
    let server = open_banking_with(key_sets.clone());
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let alias = issuer_jws(
        "PS256",
        &with(
            ssa_claims(now),
            json!({ "software_jwks_endpoint": null, "software_jwks_uri": BRAZIL_STYLE }),
        ),
    );
    let rows = vec![
        ob_row("software_jwks_endpoint", now, &ssa, json!({}), Accept),
        ob_row("software_jwks_uri alias", now, &alias, json!({}), Accept),
        ob_row(
            "keys by value still refused",
            now,
            &ssa,
            json!({ "jwks": jwks_json("client.jwks.json") }),
            Refuse(
                400,
                "invalid_client_metadata",
                "keys by value are not accepted",
            ),
        ),
    ];
    let accepted = run(&server, rows).await;
    let client = response(&accepted, "software_jwks_endpoint");
    assert_eq!(client.metadata.jwks_uri.as_deref(), Some(SOFTWARE_JWKS));
    let aliased = response(&accepted, "software_jwks_uri alias");
    assert_eq!(aliased.metadata.jwks_uri.as_deref(), Some(BRAZIL_STYLE));
    // The alias's key set verified the request.
    assert_eq!(key_sets.fetches(BRAZIL_STYLE), 1);
}

/// Issue 15, item 3: Open Banking's grant types never list `implicit`; `code id_token` registers
/// with `authorization_code` alone, and `implicit` itself is not supported.
#[tokio::test]
async fn uk_open_banking_registers_code_id_token_without_implicit() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let rows = vec![
        ob_row(
            "hybrid with the conformance tool's grant types",
            now,
            &ssa,
            json!({
                "response_types": ["code id_token"],
                "grant_types": ["authorization_code", "client_credentials"],
            }),
            Accept,
        ),
        ob_row(
            "hybrid with grant types omitted",
            now,
            &ssa,
            json!({ "response_types": ["code id_token", "code"], "grant_types": null }),
            Accept,
        ),
        ob_row(
            "the implicit grant",
            now,
            &ssa,
            json!({
                "response_types": ["code id_token"],
                "grant_types": ["authorization_code", "implicit"],
            }),
            Refuse(
                400,
                "invalid_client_metadata",
                "grant type `implicit` is not supported",
            ),
        ),
    ];
    let accepted = run(&server, rows).await;
    let omitted = response(&accepted, "hybrid with grant types omitted");
    assert_eq!(
        omitted.metadata.grant_types,
        Some(vec![GrantType::AuthorizationCode])
    );
}

/// Issue 15, item 4: the Directory requires ES256 or PS256 (FAPI 1.0 Part 2 §8.6): both for the
/// statement, the request and every algorithm member.
#[tokio::test]
async fn uk_open_banking_accepts_es256_as_well_as_ps256() {
    let server = open_banking();
    let now = server.now();
    let es256_ssa = issuer_jws("ES256", &ssa_claims(now));
    let rows = vec![
        jwt_row(
            "ES256 request, ES256 statement, ES256 members",
            software_signed_es256(&with(
                ob_request(now, "es256", &es256_ssa),
                json!({
                    "token_endpoint_auth_signing_alg": "ES256",
                    "id_token_signed_response_alg": "ES256",
                    "request_object_signing_alg": "ES256",
                    "userinfo_signed_response_alg": "ES256",
                }),
            )),
            Accept,
        ),
        ob_row(
            "PS256 request with an ES256 statement",
            now,
            &es256_ssa,
            json!({ "request_object_signing_alg": "PS256" }),
            Accept,
        ),
        ob_row(
            "RS256 member",
            now,
            &es256_ssa,
            json!({ "request_object_signing_alg": "RS256" }),
            Refuse(
                400,
                "invalid_client_metadata",
                "request_object_signing_alg `RS256` is not supported",
            ),
        ),
    ];
    run(&server, rows).await;
    assert_eq!(
        Profile::UkOpenBanking.jwt_rules().algorithms,
        ["PS256", "ES256"]
    );
}

/// Issue 15, item 5: DCR v3.3 allows `web` and `mobile`. `mobile` is kept as sent and held to
/// the web rules for redirect URIs (https only).
#[tokio::test]
async fn uk_open_banking_accepts_mobile_applications_under_the_web_redirect_rules() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let loopback = issuer_jws(
        "PS256",
        &with(
            ssa_claims(now),
            json!({ "software_redirect_uris": ["http://127.0.0.1/cb"] }),
        ),
    );
    let rows = vec![
        ob_row(
            "mobile",
            now,
            &ssa,
            json!({ "application_type": "mobile" }),
            Accept,
        ),
        ob_row(
            "mobile with a loopback http redirect",
            now,
            &loopback,
            json!({ "application_type": "mobile", "redirect_uris": ["http://127.0.0.1/cb"] }),
            Refuse(
                400,
                "invalid_redirect_uri",
                "must use https for a web client",
            ),
        ),
        ob_row(
            "native application",
            now,
            &ssa,
            json!({ "application_type": "native" }),
            Refuse(
                400,
                "invalid_client_metadata",
                "application_type `native` is not supported",
            ),
        ),
    ];
    let accepted = run(&server, rows).await;
    assert_eq!(
        response(&accepted, "mobile").metadata.application_type,
        Some(ApplicationType::from("mobile"))
    );
}

/// Issue 15, item 6: the request is verified with the key set the verified statement names,
/// fetched through the fetcher and cached; not with keys found by the request's `iss`.
#[tokio::test]
async fn uk_open_banking_verifies_requests_with_the_statements_key_set() {
    let key_sets = directory_keys();
    let server = open_banking_with(key_sets.clone());
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    // A statement naming another software's key set: the request, signed by this software's
    // key, does not verify with it, whatever its `iss` says.
    let other = issuer_jws(
        "PS256",
        &with(
            ssa_claims(now),
            json!({ "software_jwks_endpoint": OTHER_JWKS }),
        ),
    );
    let unpublished = issuer_jws(
        "PS256",
        &with(
            ssa_claims(now),
            json!({ "software_jwks_endpoint": "https://keystore.directory.example/gone.jwks" }),
        ),
    );
    let rows = vec![
        ob_row("first", now, &ssa, json!({}), Accept),
        ob_row("second", now, &ssa, json!({}), Accept),
        ob_row(
            "statement naming another key set",
            now,
            &other,
            json!({}),
            Refuse(
                400,
                "invalid_request",
                "no trusted `PS256` key with kid `issuer-ps256`",
            ),
        ),
        ob_row(
            "statement naming a key set that cannot be fetched",
            now,
            &unpublished,
            json!({}),
            Refuse(500, "server_error", ""),
        ),
    ];
    run(&server, rows).await;
    assert_eq!(key_sets.fetches(SOFTWARE_JWKS), 1, "the key set is cached");
}

/// Issue 15, item 7: `aud` is one of the configured audiences: the issuer or the ASPSP's
/// organisation identifier.
#[tokio::test]
async fn uk_open_banking_accepts_the_configured_audiences_only() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let rows = vec![
        ob_row("org id", now, &ssa, json!({ "aud": ASPSP_ORG_ID }), Accept),
        ob_row("issuer", now, &ssa, json!({ "aud": AS_ISSUER }), Accept),
        ob_row(
            "another ASPSP",
            now,
            &ssa,
            json!({ "aud": "0015800001041REBBB" }),
            Refuse(
                400,
                "invalid_request",
                "the audience must include one of `https://as.example`, `0015800001041REAAY`",
            ),
        ),
    ];
    run(&server, rows).await;
}

/// Issue 15, item 8: statements older than the preset's maximum age (24 hours by default,
/// configurable) are refused.
#[tokio::test]
async fn uk_open_banking_refuses_statements_older_than_its_maximum_age() {
    let server = open_banking();
    let now = server.now();
    let day = 24 * 3600;
    let fresh = issuer_jws(
        "PS256",
        &with(ssa_claims(now), json!({ "iat": now - day + 120 })),
    );
    let stale = issuer_jws(
        "PS256",
        &with(ssa_claims(now), json!({ "iat": now - day - 120 })),
    );
    let rows = vec![
        ob_row("a day old", now, &fresh, json!({}), Accept),
        ob_row(
            "older than a day",
            now,
            &stale,
            json!({}),
            Refuse(400, "invalid_software_statement", "issued too long ago"),
        ),
    ];
    run(&server, rows).await;

    let relaxed = Server::over(|store| {
        let directory = StaticKeySource::new().with_issuer(ISSUER, jwks("issuer.jwks.json"));
        OpenBanking::new(AS_ISSUER, Arc::new(directory), directory_keys())
            .statement_max_age(Some(Duration::days(7)))
            .registrar(ENDPOINT, store)
    });
    let now = relaxed.now();
    let stale = issuer_jws(
        "PS256",
        &with(ssa_claims(now), json!({ "iat": now - 3 * day })),
    );
    let body = software_signed(&with(
        ob_request(now, "relaxed", &stale),
        json!({ "aud": AS_ISSUER }),
    ));
    run(&relaxed, vec![jwt_row("three days old", body, Accept)]).await;
}

/// Issue 15, item 9: an omitted `redirect_uris` registers all of the statement's
/// `software_redirect_uris` (DCR v3.3).
#[tokio::test]
async fn uk_open_banking_registers_all_statement_redirect_uris_when_omitted() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let rows = vec![ob_row(
        "redirect_uris omitted",
        now,
        &ssa,
        json!({ "redirect_uris": null }),
        Accept,
    )];
    let accepted = run(&server, rows).await;
    let client = response(&accepted, "redirect_uris omitted");
    assert_eq!(
        client.metadata.redirect_uris,
        Some(vec![RedirectUri::new(TPP_CB), RedirectUri::new(TPP_CB2)])
    );
}

/// Issue 15, item 10: DCR v3.3 requires `token_endpoint_auth_signing_alg` with
/// `private_key_jwt` and `tls_client_auth_subject_dn` with `tls_client_auth`; CIBA is not
/// supported by the preset.
#[tokio::test]
async fn uk_open_banking_requires_the_authentication_details_v3_3_names() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let meta = "invalid_client_metadata";
    let rows = vec![
        ob_row(
            "private_key_jwt without its signing alg",
            now,
            &ssa,
            json!({ "token_endpoint_auth_signing_alg": null }),
            Refuse(
                400,
                meta,
                "token_endpoint_auth_signing_alg is required with private_key_jwt",
            ),
        ),
        ob_row(
            "method omitted (private_key_jwt) without its signing alg",
            now,
            &ssa,
            json!({ "token_endpoint_auth_method": null, "token_endpoint_auth_signing_alg": null }),
            Refuse(
                400,
                meta,
                "token_endpoint_auth_signing_alg is required with private_key_jwt",
            ),
        ),
        ob_row(
            "tls_client_auth by a SAN",
            now,
            &ssa,
            json!({
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_san_dns": "tpp.example",
                "token_endpoint_auth_signing_alg": null,
            }),
            Refuse(
                400,
                meta,
                "tls_client_auth_subject_dn is required with tls_client_auth",
            ),
        ),
        ob_row(
            "the CIBA grant",
            now,
            &ssa,
            json!({ "grant_types": ["urn:openid:params:grant-type:ciba", "client_credentials"],
                    "response_types": null }),
            Refuse(
                400,
                meta,
                "grant type `urn:openid:params:grant-type:ciba` is not supported",
            ),
        ),
    ];
    run(&server, rows).await;
    assert!(server.store.is_empty());
}

/// The preset's ID-token default: PS256 when the request names none.
#[tokio::test]
async fn uk_open_banking_defaults_id_tokens_to_ps256() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let rows = vec![ob_row(
        "no id_token_signed_response_alg",
        now,
        &ssa,
        json!({ "id_token_signed_response_alg": null }),
        Accept,
    )];
    let accepted = run(&server, rows).await;
    let client = response(&accepted, "no id_token_signed_response_alg");
    assert_eq!(
        client
            .metadata
            .id_token_signed_response_alg
            .as_ref()
            .map(|a| a.as_str()),
        Some("PS256")
    );
}

#[tokio::test]
async fn uk_open_banking_refuses_unsigned_foreign_and_loose_requests() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let rows = [
        ob_unsigned_and_foreign_rows(now, &ssa),
        ob_request_claim_rows(now, &ssa),
        ob_loose_statement_rows(now),
        ob_loose_metadata_rows(now, &ssa),
    ];
    run(&server, rows.into_iter().flatten().collect()).await;
    assert!(server.store.is_empty());
}

/// The directory's statement at `now` with members replaced.
fn ssa_with(now: i64, changes: Value) -> String {
    issuer_jws("PS256", &with(ssa_claims(now), changes))
}

/// Requests that are not signed, or not by the software's key, or not with its algorithm.
fn ob_unsigned_and_foreign_rows(now: i64, ssa: &str) -> Vec<Row> {
    let bad = "invalid_request";
    let rs256 = {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "issuer-ps256" });
        let claims = ob_request(now, "rs256", ssa);
        jws(
            &header,
            &claims,
            signer("RS256", "issuer-ps256.pem").as_ref(),
        )
        .into_bytes()
    };
    let foreign_key = {
        let header = json!({ "alg": "PS256", "typ": "JWT", "kid": "issuer-rs256" });
        let claims = ob_request(now, "foreign", ssa);
        jws(
            &header,
            &claims,
            signer("PS256", "issuer-rs256.pem").as_ref(),
        )
        .into_bytes()
    };
    let header_key = {
        let mut key = jwks_json("client.jwks.json")["keys"][0].clone();
        key["alg"] = json!("PS256");
        let header = json!({ "alg": "PS256", "typ": "JWT", "kid": "issuer-ps256", "jwk": key });
        let claims = ob_request(now, "header-key", ssa);
        jws(
            &header,
            &claims,
            signer("PS256", "issuer-ps256.pem").as_ref(),
        )
        .into_bytes()
    };
    vec![
        json_row(
            "plain JSON body",
            ob_request(now, "json", ssa),
            Refuse(400, bad, "requires a signed request body"),
        ),
        jwt_row(
            "request signed RS256",
            rs256,
            Refuse(400, bad, "the algorithm `RS256` is not accepted"),
        ),
        jwt_row(
            "request signed with a key the software does not have",
            foreign_key,
            Refuse(400, bad, "no trusted `PS256` key with kid `issuer-rs256`"),
        ),
        jwt_row(
            "request naming its key in a jwk header",
            header_key,
            Refuse(400, bad, "keys in the `jwk` header are refused"),
        ),
    ]
}

/// Requests whose own claims are missing, expired, for another server, or without a statement.
fn ob_request_claim_rows(now: i64, ssa: &str) -> Vec<Row> {
    let bad = "invalid_request";
    let statement = "invalid_software_statement";
    vec![
        ob_row(
            "request without jti",
            now,
            ssa,
            json!({ "jti": null }),
            Refuse(400, bad, "the claim `jti` is required"),
        ),
        ob_row(
            "request without aud",
            now,
            ssa,
            json!({ "aud": null }),
            Refuse(400, bad, "the claim `aud` is required"),
        ),
        ob_row(
            "request for another server",
            now,
            ssa,
            json!({ "aud": "https://other-bank.example" }),
            Refuse(
                400,
                bad,
                "the audience must include one of `https://as.example`",
            ),
        ),
        ob_row(
            "request without exp",
            now,
            ssa,
            json!({ "exp": null }),
            Refuse(400, bad, "the claim `exp` is required"),
        ),
        ob_row(
            "request without iat",
            now,
            ssa,
            json!({ "iat": null }),
            Refuse(400, bad, "the claim `iat` is required"),
        ),
        ob_row(
            "expired request",
            now,
            ssa,
            json!({ "iat": now - 600, "exp": now - 300 }),
            Refuse(400, bad, "expired"),
        ),
        ob_row(
            "no software statement",
            now,
            ssa,
            json!({ "software_statement": null }),
            Refuse(400, statement, "a software statement is required"),
        ),
        ob_row(
            "a request whose iss is not the statement's software_id",
            now,
            &ssa_with(now, json!({ "software_id": "another-software" })),
            json!({}),
            Refuse(
                400,
                bad,
                "the signed request's iss must be the software statement's software_id",
            ),
        ),
    ]
}

/// Statements signed wrongly, by an untrusted directory, or without usable redirect URIs.
fn ob_loose_statement_rows(now: i64) -> Vec<Row> {
    let statement = "invalid_software_statement";
    vec![
        ob_row(
            "statement signed RS256",
            now,
            &issuer_jws("RS256", &ssa_claims(now)),
            json!({}),
            Refuse(400, statement, "the algorithm `RS256` is not accepted"),
        ),
        ob_row(
            "statement from an untrusted directory",
            now,
            &ssa_with(now, json!({ "iss": "https://rogue-directory.example" })),
            json!({}),
            Refuse(
                400,
                "unapproved_software_statement",
                "the issuer `https://rogue-directory.example` is not trusted",
            ),
        ),
        ob_row(
            "statement naming its key in a jwk header",
            now,
            &jws(
                &issuer_header(
                    "PS256",
                    json!({ "jwk": jwks_json("issuer.jwks.json")["keys"][1] }),
                ),
                &ssa_claims(now),
                signer("PS256", "issuer-ps256.pem").as_ref(),
            ),
            json!({}),
            Refuse(400, statement, "keys in the `jwk` header are refused"),
        ),
        ob_row(
            "statement without software_redirect_uris",
            now,
            &ssa_with(now, json!({ "software_redirect_uris": null })),
            json!({}),
            Refuse(
                400,
                statement,
                "the claim `software_redirect_uris` is required",
            ),
        ),
        ob_row(
            "statement with a single software_redirect_uris string",
            now,
            &ssa_with(now, json!({ "software_redirect_uris": TPP_CB })),
            json!({}),
            Refuse(400, statement, "software_redirect_uris must be an array"),
        ),
    ]
}

/// Metadata outside the statement or outside what Open Banking allows.
fn ob_loose_metadata_rows(now: i64, ssa: &str) -> Vec<Row> {
    let meta = "invalid_client_metadata";
    let redirect = "invalid_redirect_uri";
    vec![
        ob_row(
            "redirect URI outside the statement's",
            now,
            ssa,
            json!({ "redirect_uris": [TPP_CB, "https://evil.example/cb"] }),
            Refuse(
                400,
                redirect,
                "`https://evil.example/cb` is not among the software statement's",
            ),
        ),
        ob_row(
            "redirect URI differing in case",
            now,
            ssa,
            json!({ "redirect_uris": ["https://tpp.example/CB"] }),
            Refuse(400, redirect, "is not among the software statement's"),
        ),
        ob_row(
            "http redirect the statement lists",
            now,
            &ssa_with(
                now,
                json!({ "software_redirect_uris": ["http://tpp.example/cb"] }),
            ),
            json!({ "redirect_uris": ["http://tpp.example/cb"] }),
            Refuse(400, redirect, "must use https"),
        ),
        ob_row(
            "keys by value",
            now,
            ssa,
            json!({ "jwks": jwks_json("client.jwks.json") }),
            Refuse(400, meta, "keys by value are not accepted"),
        ),
        ob_row(
            "jwks_uri other than the statement's",
            now,
            ssa,
            json!({ "jwks_uri": "https://evil.example/jwks" }),
            Refuse(
                400,
                meta,
                "must be the software statement's software_jwks_endpoint",
            ),
        ),
        ob_row(
            "client_secret_basic",
            now,
            ssa,
            json!({
                "token_endpoint_auth_method": "client_secret_basic",
                "token_endpoint_auth_signing_alg": null,
            }),
            Refuse(400, meta, "`client_secret_basic` is not supported"),
        ),
        ob_row(
            "public client",
            now,
            ssa,
            json!({
                "token_endpoint_auth_method": "none",
                "token_endpoint_auth_signing_alg": null,
                "grant_types": ["authorization_code"],
            }),
            Refuse(400, meta, "`none` is not supported"),
        ),
        ob_row(
            "RS256 ID tokens",
            now,
            ssa,
            json!({ "id_token_signed_response_alg": "RS256" }),
            Refuse(
                400,
                meta,
                "id_token_signed_response_alg `RS256` is not supported",
            ),
        ),
        ob_row(
            "EdDSA client assertions",
            now,
            ssa,
            json!({ "token_endpoint_auth_signing_alg": "EdDSA" }),
            Refuse(
                400,
                meta,
                "token_endpoint_auth_signing_alg `EdDSA` is not supported",
            ),
        ),
        ob_row(
            "a scope outside Open Banking's",
            now,
            ssa,
            json!({ "scope": "openid accounts admin" }),
            Refuse(400, meta, "admin"),
        ),
    ]
}

#[tokio::test]
async fn uk_open_banking_accepts_a_request_once() {
    let server = open_banking();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let body = software_signed(&ob_request(now, "once", &ssa));
    let rows = vec![
        jwt_row("first use", body.clone(), Accept),
        jwt_row(
            "replay",
            body,
            Refuse(400, "invalid_request", "the `jti` was used before"),
        ),
    ];
    run(&server, rows).await;
    assert_eq!(server.store.len(), 1);
}

#[tokio::test]
async fn uk_open_banking_updates_are_signed_too() {
    let server = open_banking_managed();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let body = software_signed(&ob_request(now, "register", &ssa));
    let jwt = RequestContext::new();
    let client = server.registrar.register_signed(&body, &jwt).await.unwrap();
    let token = format!("cc:{}", client.client_id);
    let changes = json!({ "client_id": client.client_id, "redirect_uris": [TPP_CB2] });

    let plain = serde_json::to_vec(&with(ob_request(now, "plain", &ssa), changes.clone())).unwrap();
    let err = server
        .registrar
        .update_bytes(
            &client.client_id,
            Some(&token),
            &plain,
            &RequestContext::new(),
        )
        .await
        .unwrap_err();
    assert_refusal(
        "plain update",
        err,
        400,
        "invalid_request",
        "requires a signed request body",
    );

    let signed = software_signed(&with(ob_request(now, "update", &ssa), changes));
    let updated = server
        .registrar
        .update_signed(&client.client_id, Some(&token), &signed, &jwt)
        .await
        .unwrap();
    assert_eq!(
        updated.metadata.redirect_uris,
        Some(vec![RedirectUri::new(TPP_CB2)])
    );
    // The update omitted `jwks_uri`: the statement's key set is filled in again.
    assert_eq!(updated.metadata.jwks_uri.as_deref(), Some(SOFTWARE_JWKS));

    // An update that omits `redirect_uris` gets all of the statement's, as a registration does.
    let all = json!({ "client_id": client.client_id, "redirect_uris": null });
    let signed = software_signed(&with(ob_request(now, "update-all", &ssa), all));
    let updated = server
        .registrar
        .update_signed(&client.client_id, Some(&token), &signed, &jwt)
        .await
        .unwrap();
    assert_eq!(
        updated.metadata.redirect_uris,
        Some(vec![RedirectUri::new(TPP_CB), RedirectUri::new(TPP_CB2)])
    );
}

/// The host's access tokens `cc:<client_id>`, as its token endpoint issues them to a client
/// through `client_credentials`.
struct ClientCredentials;

#[async_trait::async_trait]
impl InitialTokenVerifier for ClientCredentials {
    async fn verify(&self, token: &str) -> Result<Option<InitialAccessGrant>, StoreError> {
        Ok(token
            .strip_prefix("cc:")
            .map(|client| InitialAccessGrant::with_scopes(["accounts"]).subject(client)))
    }
}

/// The Open Banking registrar with management by the client's own access token.
fn open_banking_managed() -> Server {
    Server::over(|store| {
        let directory = StaticKeySource::new().with_issuer(ISSUER, jwks("issuer.jwks.json"));
        OpenBanking::new(AS_ISSUER, Arc::new(directory), directory_keys())
            .audience(ASPSP_ORG_ID)
            .registrar(ENDPOINT, store)
            .manage_with_host_tokens(Arc::new(ClientCredentials))
    })
}

#[tokio::test]
async fn uk_open_banking_clients_manage_themselves_with_their_access_token() {
    let server = open_banking_managed();
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    let jwt = RequestContext::new();
    let body = software_signed(&ob_request(now, "register", &ssa));
    let client = server.registrar.register_signed(&body, &jwt).await.unwrap();
    // No registration access token: management is by the client's own access token.
    assert!(client.registration_access_token.is_none());
    let json: serde_json::Value = serde_json::from_slice(&client.to_json()).unwrap();
    assert!(json.get("registration_access_token").is_none(), "{json}");
    let stored = server.store.get(&client.client_id).await.unwrap().unwrap();
    assert!(stored.registration_token.is_none());
    let own = format!("cc:{}", client.client_id);

    let read = server.read(&client.client_id, Some(&own)).await.unwrap();
    assert_eq!(read.client_id, client.client_id);
    assert!(
        read.registration_access_token.is_none(),
        "the access token is never echoed"
    );
    let err = server
        .read(&client.client_id, Some("cc:another-client"))
        .await
        .unwrap_err();
    assert_refusal("another client's token", err, 401, "invalid_token", "");
    let changes = json!({ "client_id": client.client_id, "redirect_uris": [TPP_CB2] });
    let signed = software_signed(&with(ob_request(now, "update", &ssa), changes));
    let updated = server
        .registrar
        .update_signed(&client.client_id, Some(&own), &signed, &jwt)
        .await
        .unwrap();
    assert_eq!(
        updated.metadata.redirect_uris,
        Some(vec![RedirectUri::new(TPP_CB2)])
    );
}

#[tokio::test]
async fn uk_open_banking_without_its_trust_refuses_everything() {
    let server = Server::profile(Profile::UkOpenBanking);
    let now = server.now();
    let ssa = issuer_jws("PS256", &ssa_claims(now));
    // Without `OpenBanking` nothing fills `jwks_uri` from the statement: the body sends it, so
    // that validation passes and the profile's own rule answers.
    let keys = json!({ "jwks_uri": SOFTWARE_JWKS });
    let rows = vec![
        json_row(
            "plain JSON body",
            with(ob_request(now, "json", &ssa), keys.clone()),
            Refuse(400, "invalid_request", "requires a signed request body"),
        ),
        jwt_row(
            "signed body",
            software_signed(&with(ob_request(now, "jwt", &ssa), keys)),
            Refuse(
                400,
                "invalid_request",
                "does not accept signed request bodies",
            ),
        ),
    ];
    run(&server, rows).await;
    assert!(server.store.is_empty());
}

// ---- Model Context Protocol ----

#[tokio::test]
async fn mcp_accepts_public_clients_on_loopback() {
    let server = Server::profile(Profile::Mcp);
    let rows = vec![
        json_row(
            "localhost with a port, as agents send it",
            json!({
                "client_name": "Agent CLI",
                "redirect_uris": ["http://localhost:53682/callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }),
            Accept,
        ),
        json_row(
            "127.0.0.1 and a claimed https redirect",
            json!({ "redirect_uris": ["http://127.0.0.1:33418/", "https://editor.example/redirect"] }),
            Accept,
        ),
        json_row(
            "IPv6 loopback",
            json!({ "redirect_uris": ["http://[::1]:8080/cb"] }),
            Accept,
        ),
        json_row(
            "loopback without a port",
            json!({ "redirect_uris": ["http://127.0.0.1/callback"] }),
            Accept,
        ),
        json_row(
            "web client with an https redirect",
            json!({ "application_type": "web", "redirect_uris": [REDIRECT] }),
            Accept,
        ),
        json_row(
            "reverse-domain private-use scheme",
            json!({ "redirect_uris": ["com.example.agent:/oauth/callback"] }),
            Accept,
        ),
    ];
    let accepted = run(&server, rows).await;
    for (name, client) in &accepted {
        assert!(client.client_secret.is_none(), "{name}: public");
        assert!(client.client_secret_expires_at.is_none(), "{name}");
        let m = serde_json::to_value(&client.metadata).unwrap();
        assert_eq!(m["token_endpoint_auth_method"], "none", "{name}");
    }
    let agent = response(&accepted, "localhost with a port, as agents send it");
    let m = serde_json::to_value(&agent.metadata).unwrap();
    assert_eq!(m["application_type"], "native");
}

#[tokio::test]
async fn mcp_refuses_other_grants_mtls_and_remote_http_clients() {
    let server = Server::profile(Profile::Mcp);
    let loopback = json!({ "redirect_uris": ["http://127.0.0.1:8080/cb"] });
    let meta = "invalid_client_metadata";
    let redirect = "invalid_redirect_uri";
    let uri = |u: &str| json!({ "redirect_uris": [u] });
    let rows = vec![
        json_row(
            "tls_client_auth",
            edit(
                &loopback,
                json!({
                    "token_endpoint_auth_method": "tls_client_auth",
                    "tls_client_auth_subject_dn": "CN=agent",
                }),
            ),
            Refuse(400, meta, "`tls_client_auth` is not supported"),
        ),
        json_row(
            "client_credentials",
            edit(
                &loopback,
                json!({ "grant_types": ["authorization_code", "client_credentials"] }),
            ),
            Refuse(
                400,
                meta,
                "grant type `client_credentials` is not supported",
            ),
        ),
        json_row(
            "implicit",
            edit(&loopback, json!({ "response_types": ["token"] })),
            Refuse(400, meta, "grant type `implicit` is not supported"),
        ),
        json_row(
            "device code",
            edit(
                &loopback,
                json!({
                    "grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
                }),
            ),
            Refuse(400, meta, "device_code` is not supported"),
        ),
        json_row(
            "http on a remote host",
            uri("http://agent.example/cb"),
            Refuse(400, redirect, "plain http is allowed only on loopback"),
        ),
        json_row(
            "a localhost look-alike",
            uri("http://localhost.evil.example/cb"),
            Refuse(400, redirect, "plain http is allowed only on loopback"),
        ),
        json_row(
            "userinfo before localhost",
            uri("http://localhost@evil.example/cb"),
            Refuse(400, redirect, "must not contain userinfo"),
        ),
        json_row(
            "https on localhost",
            uri("https://localhost:8443/cb"),
            Refuse(400, redirect, "must not use a loopback host with https"),
        ),
        json_row(
            "web client on loopback",
            edit(&loopback, json!({ "application_type": "web" })),
            Refuse(400, redirect, "must use https for a web client"),
        ),
        json_row(
            "private-use scheme without a domain",
            uri("agent:/cb"),
            Refuse(400, redirect, "not in reverse domain form"),
        ),
        json_row(
            "wildcard port",
            uri("http://127.0.0.1:*/cb"),
            Refuse(400, redirect, "must not contain wildcards"),
        ),
    ];
    run(&server, rows).await;
    assert!(server.store.is_empty());
}

/// The MCP SDKs' confidential registration (`client_secret_post`, as the official TypeScript
/// SDK's example client sends it), with the server's own scope declared.
const MCP_SDK_CONFIDENTIAL: &str = include_str!("data/mcp-sdk-confidential-registration.json");

/// Issue 15: the MCP authorization specification has the server support confidential and
/// public clients. `none` stays the default; `client_secret_basic`, `client_secret_post` and
/// `private_key_jwt` are accepted.
#[tokio::test]
async fn mcp_accepts_confidential_clients_as_the_sdks_register_them() {
    let server = Server::over(|store| {
        let mut policy = Profile::Mcp.policy(ENDPOINT);
        policy.scope = oauth_dcr::policy::ScopePolicy::reject_outside(["mcp:tools"]);
        Registrar::new(policy, store)
    });
    let loopback = json!({ "redirect_uris": ["http://127.0.0.1:8080/cb"] });
    let rows = vec![
        Row {
            name: "the TypeScript SDK's example client",
            body: MCP_SDK_CONFIDENTIAL.as_bytes().to_vec(),
            format: Format::Json,
            expect: Accept,
        },
        json_row(
            "client_secret_basic",
            edit(
                &loopback,
                json!({ "token_endpoint_auth_method": "client_secret_basic" }),
            ),
            Accept,
        ),
        json_row(
            "private_key_jwt",
            edit(
                &loopback,
                json!({
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": jwks_json("client.jwks.json"),
                }),
            ),
            Accept,
        ),
        json_row("no method: a public client", loopback.clone(), Accept),
    ];
    let accepted = run(&server, rows).await;
    let sdk = response(&accepted, "the TypeScript SDK's example client");
    assert!(sdk.client_secret.is_some(), "a secret is issued");
    let m = serde_json::to_value(&sdk.metadata).unwrap();
    assert_eq!(m["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(m["application_type"], "native");
    assert_eq!(m["scope"], "mcp:tools");
    let stored = server.store.get(&sdk.client_id).await.unwrap().unwrap();
    assert!(stored.secret.is_some(), "the secret's hash is stored");
    let basic = response(&accepted, "client_secret_basic");
    assert!(basic.client_secret.is_some());
    let jwt = response(&accepted, "private_key_jwt");
    assert!(jwt.client_secret.is_none(), "no secret for private_key_jwt");
    let public = response(&accepted, "no method: a public client");
    assert!(public.client_secret.is_none());
    let m = serde_json::to_value(&public.metadata).unwrap();
    assert_eq!(
        m["token_endpoint_auth_method"], "none",
        "none stays the default"
    );
    let advertised = discovery_metadata(server.registrar.policy());
    assert_eq!(
        advertised["token_endpoint_auth_methods_supported"],
        json!([
            "none",
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
}

/// Serves one fixed document, whatever the URL.
struct FixedDocument(&'static str);

#[async_trait::async_trait]
impl oauth_dcr::fetch::Fetcher for FixedDocument {
    async fn fetch(
        &self,
        _url: &str,
        _limits: oauth_dcr::fetch::FetchLimits,
    ) -> Result<oauth_dcr::fetch::Fetched, oauth_dcr::fetch::FetchError> {
        Ok(oauth_dcr::fetch::Fetched::new(self.0.as_bytes().to_vec()))
    }
}

const MCP_DOCUMENT_URL: &str = "https://app.test/oauth/client-metadata.json";

/// Issue 15: `Profile::Mcp` enables Client ID Metadata Documents; a fetcher is all the host
/// supplies. Without one, URL client ids answer 403 and discovery does not advertise them.
#[tokio::test]
async fn mcp_resolves_metadata_documents_once_a_fetcher_is_supplied() {
    let flag = "client_id_metadata_document_supported";
    let bare = Server::profile(Profile::Mcp);
    let err = bare
        .registrar
        .resolve_client_id(MCP_DOCUMENT_URL)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(bare.registrar.discovery_metadata().get(flag).is_none());

    let server = Server::over(|store| {
        Profile::Mcp
            .registrar(ENDPOINT, store)
            .with_metadata_documents(Arc::new(FixedDocument(MCP_DOCUMENT)))
    });
    let client = server
        .registrar
        .resolve_client_id(MCP_DOCUMENT_URL)
        .await
        .expect("the coding agent's document resolves");
    let m = serde_json::to_value(&client.metadata).unwrap();
    assert_eq!(m["application_type"], "native");
    assert_eq!(m["token_endpoint_auth_method"], "none");
    assert_eq!(server.registrar.discovery_metadata()[flag], true);
    assert!(server.store.is_empty(), "a document client is not stored");
}

/// Serves documents by URL; anything else is a 404.
struct Site(Vec<(&'static str, String)>);

#[async_trait::async_trait]
impl oauth_dcr::fetch::Fetcher for Site {
    async fn fetch(
        &self,
        url: &str,
        _limits: oauth_dcr::fetch::FetchLimits,
    ) -> Result<oauth_dcr::fetch::Fetched, oauth_dcr::fetch::FetchError> {
        self.0
            .iter()
            .find(|(u, _)| *u == url)
            .map(|(_, body)| oauth_dcr::fetch::Fetched::new(body.clone().into_bytes()))
            .ok_or(oauth_dcr::fetch::FetchError::Status(404))
    }
}

/// Issue 15: the token endpoint side of document clients. `record_use` answers for a URL
/// client that still resolves (it has no record to touch, and is never reaped) and refuses one
/// whose document is gone; it no longer answers NotFound.
#[tokio::test]
async fn mcp_record_use_is_correct_for_url_clients() {
    let server = Server::over(|store| {
        Profile::Mcp
            .registrar(ENDPOINT, store)
            .with_metadata_documents(Arc::new(Site(vec![(
                MCP_DOCUMENT_URL,
                MCP_DOCUMENT.to_owned(),
            )])))
    });
    server
        .registrar
        .record_use(MCP_DOCUMENT_URL)
        .await
        .expect("a resolvable document client was used");
    assert!(server.store.is_empty(), "nothing is stored for it");
    server.clock.advance(Duration::hours(25));
    assert!(server.registrar.reap(10).await.unwrap().is_empty());
    let gone = server
        .registrar
        .record_use("https://app.test/oauth/withdrawn.json")
        .await
        .unwrap_err();
    assert_eq!(gone.status(), 400);
    assert_eq!(gone.code().as_str(), "invalid_client");
}

/// Issue 15: a key source backed by the resolved document, for `private_key_jwt` assertions of
/// document clients (`iss` = `sub` = the URL client id): the document's `jwks`, or its
/// `jwks_uri` fetched through the registrar's fetcher. Unknown or non-URL issuers are `None`.
#[tokio::test]
async fn document_keys_come_from_the_resolved_documents_jwks_or_jwks_uri() {
    use oauth_dcr::documents::DocumentKeys;
    use oauth_dcr::statements::KeySource;
    let by_value = "https://app.test/by-value.json";
    let by_uri = "https://app.test/by-uri.json";
    let keys_url = "https://app.test/jwks.json";
    let jwks = jwks_json("client.jwks.json");
    let doc = |id: &str, keys: Value| {
        let mut d = json!({
            "client_id": id,
            "client_name": "Agent",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "private_key_jwt",
        });
        d.as_object_mut()
            .unwrap()
            .extend(keys.as_object().unwrap().clone());
        d.to_string()
    };
    let site = Site(vec![
        (by_value, doc(by_value, json!({ "jwks": jwks }))),
        (by_uri, doc(by_uri, json!({ "jwks_uri": keys_url }))),
        (keys_url, jwks.to_string()),
        (MCP_DOCUMENT_URL, MCP_DOCUMENT.to_owned()),
    ]);
    let registrar = Arc::new(
        Profile::Mcp
            .registrar(ENDPOINT, Arc::new(MemoryStore::new()))
            .with_metadata_documents(Arc::new(site)),
    );
    let keys = DocumentKeys::new(registrar);
    for id in [by_value, by_uri] {
        let found = keys.keys(id).await.expect(id).expect(id);
        assert_eq!(found.len(), 1, "{id}: the client's ES256 key");
    }
    assert!(
        keys.keys(MCP_DOCUMENT_URL).await.unwrap().is_none(),
        "a public client has no keys"
    );
    assert!(keys
        .keys("https://app.test/missing.json")
        .await
        .unwrap()
        .is_none());
    assert!(keys.keys("registered-client-id").await.unwrap().is_none());
}

#[test]
fn mcp_loopback_redirects_match_on_any_port() {
    let registered = RedirectUri::new("http://127.0.0.1:33418/callback");
    assert!(registered.matches("http://127.0.0.1:51004/callback"));
    assert!(RedirectUri::new("http://[::1]/cb").matches("http://[::1]:8080/cb"));
    assert!(!registered.matches("http://127.0.0.1:51004/other"));
    // `localhost`, which the MCP profile registers, also matches on any port; the path still
    // has to match, and an IP literal is not `localhost`.
    let localhost = RedirectUri::new("http://localhost:53682/callback");
    assert!(localhost.matches("http://localhost:53682/callback"));
    assert!(localhost.matches("http://localhost:53683/callback"));
    assert!(!localhost.matches("http://localhost:53683/other"));
    assert!(!localhost.matches("http://127.0.0.1:53683/callback"));
}

#[tokio::test]
async fn mcp_reaps_clients_never_used_within_a_day() {
    let server = Server::profile(Profile::Mcp);
    let body = br#"{"redirect_uris":["http://127.0.0.1/callback"]}"#;
    let context = RequestContext::new();
    let used = server
        .registrar
        .register_bytes(body, &context)
        .await
        .unwrap();
    let idle = server
        .registrar
        .register_bytes(body, &context)
        .await
        .unwrap();
    server.registrar.record_use(&used.client_id).await.unwrap();

    server.clock.advance(Duration::hours(23));
    assert!(server.registrar.reap(10).await.unwrap().is_empty());
    server
        .clock
        .advance(Duration::hours(1) + Duration::seconds(1));
    assert_eq!(server.registrar.reap(10).await.unwrap(), [idle.client_id]);
    assert!(server.store.get(&used.client_id).await.unwrap().is_some());
}
