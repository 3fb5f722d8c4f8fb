//! `RegistrationRequest` and the free `validate`: a request read from bytes, from a parsed
//! `serde_json::Value` or built in code is the same request; the dry run is the registration's
//! own validation, without a registrar; and the `http` adapter refuses an unreadable body only
//! after the caller's token (RFC 6750 before RFC 7591 §3.2.2).

mod common;

use std::sync::Arc;

use common::{assert_error, named_web_client, policy, HostTokens, Server, REDIRECT};
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use oauth_dcr::{
    validate, ClientMetadata, MemoryStore, RedirectUri, Registrar, RegistrationError,
    RegistrationRequest, RequestContext, RequestLimits,
};
use serde_json::json;

fn limits() -> RequestLimits {
    RequestLimits::default()
}

/// Registers each request on a fresh server and returns the stored metadata.
async fn stored_metadata(request: RegistrationRequest) -> ClientMetadata {
    let server = Server::new();
    let client = server
        .registrar
        .register(request, &RequestContext::new())
        .await
        .expect("registers");
    server.record(&client.client_id).await.metadata
}

#[tokio::test]
async fn bytes_a_parsed_value_and_metadata_built_in_code_make_the_same_client() {
    let body = named_web_client();
    let from_bytes =
        RegistrationRequest::from_json(body.to_string().as_bytes(), &limits()).unwrap();
    let from_value = RegistrationRequest::from_value(&body, &limits()).unwrap();
    let mut metadata = ClientMetadata::default();
    metadata.redirect_uris = Some(vec![RedirectUri::new(REDIRECT)]);
    metadata.client_name = Some("App".to_owned());
    let in_code = RegistrationRequest::from(metadata);

    let a = stored_metadata(from_bytes).await;
    let b = stored_metadata(from_value).await;
    let c = stored_metadata(in_code).await;
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.client_name.as_deref(), Some("App"));
}

#[tokio::test]
async fn the_dry_run_is_the_registrations_validation() {
    let server = Server::new();
    for body in [
        named_web_client(),
        json!({ "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "none", "application_type": "web" }),
        json!({ "grant_types": ["client_credentials"], "scope": "openid profile" }),
    ] {
        let request = RegistrationRequest::from_value(&body, &limits()).unwrap();
        // No registrar, no store, no clock: the policy and the request.
        let dry = validate(&policy(), &request).expect("valid").into_inner();
        let client = server
            .registrar
            .register(request, &RequestContext::new())
            .await
            .unwrap();
        assert_eq!(client.metadata, dry, "{body}");
    }
    let refused = RegistrationRequest::from_value(
        &json!({ "redirect_uris": ["https://app.example/cb#fragment"], "contacts": "not a list" }),
        &limits(),
    )
    .unwrap();
    let violations = validate(&policy(), &refused).unwrap_err();
    assert!(violations.names("redirect_uris") && violations.names("contacts"));
    let err = server
        .registrar
        .register(refused, &RequestContext::new())
        .await
        .unwrap_err();
    let RegistrationError::InvalidMetadata(registered) = err else {
        panic!("{err:?}");
    };
    assert_eq!(registered.to_string(), violations.to_string());
    assert_eq!(server.store.len(), 3, "the refused request stored nothing");
}

#[test]
fn unreadable_bodies_are_refused_when_read() {
    let mut small = RequestLimits::default();
    small.max_body_bytes = 64;
    let too_large = RegistrationRequest::from_json(&[b' '; 65], &small).unwrap_err();
    assert_eq!(too_large.status(), 413);
    for body in [&b"[]"[..], b"not json", br#"{"a":1,"a":2}"#, b"\xff\xfe"] {
        let err = RegistrationRequest::from_json(body, &limits()).unwrap_err();
        assert_error(err, 400, "invalid_request");
    }
    let not_utf8 = RegistrationRequest::from_jwt(b"\xff.\xff.\xff", &limits()).unwrap_err();
    assert_error(not_utf8, 400, "invalid_request");
    // A parsed value is held to the same limits as bytes.
    let deep = (0..40).fold(json!(1), |inner, _| json!([inner]));
    let err = RegistrationRequest::from_value(&json!({ "contacts": deep }), &limits()).unwrap_err();
    assert_error(err, 400, "invalid_request");
}

#[test]
fn a_request_says_what_travels_with_the_metadata() {
    let request = RegistrationRequest::from_value(
        &json!({
            "client_id": "abc", "client_secret": "s", "redirect_uris": [REDIRECT],
            "software_statement": "a.b.c", "rotate_client_secret": true, "instance_key": "k",
            "registration_access_token": "never-trusted",
        }),
        &limits(),
    )
    .unwrap();
    assert_eq!(request.client_id.as_deref(), Some("abc"));
    assert_eq!(request.client_secret.as_deref(), Some("s"));
    assert_eq!(request.software_statement.as_deref(), Some("a.b.c"));
    assert!(request.rotate_client_secret);
    assert_eq!(request.instance_key.as_deref(), Some("k"));
    assert!(!request.is_signed() && request.signed_claims().is_none());
    // Server-owned and transient members are never metadata.
    let as_json = serde_json::to_value(&request.metadata).unwrap();
    assert_eq!(as_json, json!({ "redirect_uris": [REDIRECT] }));
    let signed = RegistrationRequest::from_jwt(b"e30.e30.sig", &limits()).unwrap();
    assert!(signed.is_signed() && signed.signed_claims().is_none());
    assert_eq!(
        signed.metadata,
        ClientMetadata::default(),
        "unverified: nothing read"
    );
}

#[tokio::test]
async fn the_http_adapter_refuses_an_unreadable_body_after_the_callers_token() {
    let registrar = Registrar::new(policy(), Arc::new(MemoryStore::new()))
        .require_initial_token(Arc::new(HostTokens::default()), Some("register"));
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let unreadable =
        || oauth_dcr::http::registration_request(&headers, b"not json", &registrar.policy().limits);
    // Without credentials: the bare challenge, not the body's problem.
    let err = registrar
        .register(unreadable(), &RequestContext::new())
        .await
        .unwrap_err();
    assert_error(err, 401, "invalid_request");
    // With a token the verifier does not know: still the token.
    let err = registrar
        .register(
            unreadable(),
            &RequestContext::new().with_initial_access_token("unknown"),
        )
        .await
        .unwrap_err();
    assert_error(err, 401, "invalid_token");
    // Read directly, the same bytes are refused at once.
    let direct = RegistrationRequest::from_json(b"not json", &registrar.policy().limits);
    assert_error(direct.unwrap_err(), 400, "invalid_request");
}
