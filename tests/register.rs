//! Registration (RFC 7591 §3): what a successful registration answers and stores, the defaults,
//! the credentials, which members are trusted, kept or dropped, and the RFC examples.

mod common;
use common::Bytes;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use common::{
    assert_error, assert_no_store, bearer, created, data, data_json, failing_server, policy,
    secret, token, web_client, Reply, Server, ENDPOINT, START,
};
use oauth_dcr::credentials::{CredentialGenerator, RandomError, RandomGenerator};
use oauth_dcr::store::ClientCount;
use oauth_dcr::store::{SecretHash, SecretValue};
use oauth_dcr::{
    ApplicationType, AuthMethod, ClientSecret, ClientStore, ErrorResponse, GrantType,
    JoseAlgorithm, RegistrationAccessToken, RegistrationResponse, RequestContext, ResponseType,
    ServerPolicy, SubjectType,
};
use serde_json::json;
use sha2::Digest as _;
use time::Duration;

const THIRTY_DAYS: i64 = 30 * 24 * 60 * 60;

fn accepting(extensions: &[&str]) -> ServerPolicy {
    let mut policy = policy();
    policy.accepted_extensions = extensions.iter().map(|s| s.to_string()).collect();
    policy
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

// ---- the issue's example and the defaults ----

#[tokio::test]
async fn issue_example_gets_201_with_credentials_and_defaulted_metadata() {
    let server = Server::new();
    let body = br#"{"grant_types":["client_credentials"],"scope":"openid profile","redirect_uris":["https://tmp.com"]}"#;
    let response = server.register_bytes(body).await.unwrap();
    let reply = created(response.clone());

    assert_eq!(reply.status, 201);
    let client_id = reply.json["client_id"].as_str().unwrap();
    assert!(!client_id.is_empty());
    assert!(reply.json["client_secret"].is_string());
    assert!(reply.json["registration_access_token"].is_string());
    assert_eq!(
        reply.json["registration_client_uri"],
        format!("{ENDPOINT}/{client_id}")
    );
    assert_eq!(reply.json["client_id_issued_at"], START);
    assert_eq!(reply.json["client_secret_expires_at"], 0);
    // What the client sent, and the defaults for what it did not.
    assert_eq!(reply.json["grant_types"], json!(["client_credentials"]));
    assert_eq!(reply.json["scope"], "openid profile");
    assert_eq!(reply.json["redirect_uris"], json!(["https://tmp.com"]));
    assert_eq!(
        reply.json["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(reply.json["application_type"], "web");
    assert!(server.store.get(client_id).await.unwrap().is_some());
}

#[tokio::test]
async fn omitted_members_get_the_rfc_defaults_and_the_response_shows_them() {
    let server = Server::new();
    let response = server.register(&web_client()).await;
    let reply = Reply::of(response.clone());

    assert_eq!(
        reply.json["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(reply.json["grant_types"], json!(["authorization_code"]));
    assert_eq!(reply.json["response_types"], json!(["code"]));
    assert_eq!(reply.json["application_type"], "web");
    let stored = server.record(&response.client_id).await.metadata;
    assert_eq!(
        stored.token_endpoint_auth_method,
        Some(AuthMethod::ClientSecretBasic)
    );
    assert_eq!(stored.grant_types, Some(vec![GrantType::AuthorizationCode]));
    assert_eq!(stored.response_types, Some(vec![ResponseType::code()]));
    assert_eq!(stored.application_type, Some(ApplicationType::Web));
}

#[tokio::test]
async fn policy_defaults_replace_the_rfc_defaults() {
    let mut policy = policy();
    policy.defaults.token_endpoint_auth_method = AuthMethod::ClientSecretPost;
    policy.defaults.id_token_signed_response_alg = Some(JoseAlgorithm::from("RS256"));
    policy.defaults.subject_type = Some(SubjectType::Public);
    policy.defaults.scope = Some("openid".to_owned());
    let server = Server::with_policy(policy);

    let reply = Reply::of(server.register(&web_client()).await);
    assert_eq!(
        reply.json["token_endpoint_auth_method"],
        "client_secret_post"
    );
    assert_eq!(reply.json["id_token_signed_response_alg"], "RS256");
    assert_eq!(reply.json["subject_type"], "public");
    assert_eq!(reply.json["scope"], "openid");

    // A value the client sends wins over the policy's default.
    let mut body = web_client();
    body["token_endpoint_auth_method"] = json!("client_secret_basic");
    body["id_token_signed_response_alg"] = json!("ES256");
    let reply = Reply::of(server.register(&body).await);
    assert_eq!(
        reply.json["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(reply.json["id_token_signed_response_alg"], "ES256");
}

#[tokio::test]
async fn encryption_enc_defaults_to_a128cbc_hs256_when_only_alg_is_given() {
    let server = Server::new();
    let mut body = web_client();
    body["id_token_encrypted_response_alg"] = json!("RSA-OAEP-256");
    let reply = Reply::of(server.register(&body).await);
    assert_eq!(
        reply.json["id_token_encrypted_response_enc"],
        "A128CBC-HS256"
    );
}

// ---- credentials ----

#[tokio::test]
async fn client_ids_are_uuid_v4_by_default() {
    let server = Server::new();
    let a = server.register(&web_client()).await.client_id;
    let b = server.register(&web_client()).await.client_id;
    assert_ne!(a, b);
    for id in [a, b] {
        let bytes = id.as_bytes();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(
            [bytes[8], bytes[13], bytes[18], bytes[23]],
            [b'-'; 4],
            "{id}"
        );
        assert_eq!(bytes[14], b'4', "version nibble of {id}");
        assert!(b"89ab".contains(&bytes[19]), "variant of {id}");
    }
}

/// Hands out client identifiers from a list.
#[derive(Debug)]
struct Sequence(Mutex<VecDeque<&'static str>>);

impl CredentialGenerator for Sequence {
    fn client_id(&self) -> String {
        self.0
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or("exhausted")
            .to_owned()
    }

    fn client_secret(&self) -> Result<ClientSecret, RandomError> {
        RandomGenerator.client_secret()
    }

    fn registration_token(&self) -> Result<RegistrationAccessToken, RandomError> {
        RandomGenerator.registration_token()
    }
}

#[tokio::test]
async fn the_client_id_generator_is_pluggable_and_a_taken_id_is_never_reused() {
    let mut server = Server::new();
    let ids = Sequence(Mutex::new(VecDeque::from([
        "client-a", "client-a", "client-b",
    ])));
    server.registrar = server.registrar.clone().with_generator(Arc::new(ids));

    let first = server.register(&web_client()).await;
    assert_eq!(first.client_id, "client-a");
    let second = server.register(&web_client()).await;
    assert_eq!(second.client_id, "client-b");
    // The first client was not overwritten by the second registration.
    let stored = server.record("client-a").await;
    assert!(stored.verify_secret(&secret(&first), server.time()));
    assert_eq!(server.store.len(), 2);
}

/// A generator whose `draw` makes nothing and whose single methods hand out numbered values.
#[derive(Debug, Default)]
struct DrawsNothing(Mutex<u32>);

impl DrawsNothing {
    fn next(&self, kind: &str) -> String {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        format!("{kind}-{n}")
    }
}

impl CredentialGenerator for DrawsNothing {
    fn client_id(&self) -> String {
        self.next("client")
    }

    fn client_secret(&self) -> Result<ClientSecret, RandomError> {
        Ok(ClientSecret::new(self.next("secret")))
    }

    fn registration_token(&self) -> Result<RegistrationAccessToken, RandomError> {
        Ok(RegistrationAccessToken::new(self.next("token")))
    }
}

#[tokio::test]
async fn a_host_generator_makes_every_credential_a_registration_needs() {
    let mut server = Server::new();
    server.registrar = server
        .registrar
        .clone()
        .with_generator(Arc::new(DrawsNothing::default()));
    let client = server.register(&web_client()).await;
    assert_eq!(client.client_secret.as_ref().unwrap().secret(), "secret-1");
    assert_eq!(
        client
            .registration_access_token
            .as_ref()
            .expect("a registration access token")
            .secret(),
        "token-2"
    );
    assert_eq!(client.client_id, "client-3");
    let stored = server.record("client-3").await;
    assert!(stored.verify_secret("secret-1", server.time()));
    let token_hash = stored.registration_token.unwrap().hash;
    assert_eq!(token_hash, SecretHash::of("token-2"));
}

#[tokio::test]
async fn secrets_are_issued_only_for_methods_that_use_one() {
    let cases = [
        ("client_secret_basic", json!({}), true),
        ("client_secret_post", json!({}), true),
        ("client_secret_jwt", json!({}), true),
        ("none", json!({}), false),
        (
            "private_key_jwt",
            json!({"jwks_uri": "https://app.example/jwks.json"}),
            false,
        ),
        (
            "tls_client_auth",
            json!({"tls_client_auth_subject_dn": "CN=app.example,O=Example"}),
            false,
        ),
        (
            "self_signed_tls_client_auth",
            json!({"jwks_uri": "https://app.example/jwks.json"}),
            false,
        ),
    ];
    for (method, extra, issued) in cases {
        let server = Server::new();
        let mut body = web_client();
        body["token_endpoint_auth_method"] = json!(method);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = server.register(&body).await;
        let reply = Reply::of(response.clone());
        assert_eq!(reply.json["token_endpoint_auth_method"], method);
        assert_eq!(response.client_secret.is_some(), issued, "{method}");
        assert_eq!(
            reply.json.get("client_secret").is_some(),
            issued,
            "{method}"
        );
        // RFC 7591 §3.2.1: client_secret_expires_at is REQUIRED exactly when a secret is issued.
        assert_eq!(
            reply.json.get("client_secret_expires_at").is_some(),
            issued,
            "{method}"
        );
        let stored = server.record(&response.client_id).await;
        assert_eq!(stored.secret.is_some(), issued, "{method}");
    }
}

#[tokio::test]
async fn secrets_and_tokens_carry_256_bits_and_differ_between_clients() {
    let server = Server::new();
    let a = server.register(&web_client()).await;
    let b = server.register(&web_client()).await;
    for value in [secret(&a), token(&a), secret(&b), token(&b)] {
        // 32 random bytes, base64url without padding.
        assert!(value.len() >= 43, "{value}");
        assert!(is_base64url(&value), "{value}");
    }
    assert_ne!(secret(&a), secret(&b));
    assert_ne!(token(&a), token(&b));
    assert_ne!(secret(&a), token(&a));
}

#[tokio::test]
async fn client_secret_never_expires_by_default() {
    let server = Server::new();
    let response = server.register(&web_client()).await;
    assert_eq!(response.client_secret_expires_at, Some(0));
    server.clock.advance(Duration::days(3650));
    let stored = server.record(&response.client_id).await;
    assert!(stored.verify_secret(&secret(&response), server.time()));
}

#[tokio::test]
async fn client_secret_expires_after_the_policy_lifetime() {
    let mut policy = policy();
    policy.client_secret_lifetime = Some(Duration::days(90));
    let server = Server::with_policy(policy);
    let response = server.register(&web_client()).await;
    let expires_at = START + 90 * 24 * 60 * 60;
    assert_eq!(response.client_secret_expires_at, Some(expires_at));
    assert_eq!(
        Reply::of(response.clone()).json["client_secret_expires_at"],
        expires_at
    );

    let stored = server.record(&response.client_id).await;
    server
        .clock
        .advance(Duration::days(90) - Duration::seconds(1));
    assert!(stored.verify_secret(&secret(&response), server.time()));
    server.clock.advance(Duration::seconds(1));
    assert!(!stored.verify_secret(&secret(&response), server.time()));
}

#[tokio::test]
async fn the_secret_is_stored_only_as_a_hash() {
    let server = Server::new();
    let response = server.register(&web_client()).await;
    let raw = secret(&response);
    let stored = server.record(&response.client_id).await;
    let kept = stored.secret.as_ref().expect("a stored secret");
    match &kept.value {
        SecretValue::Hashed(hash) => assert!(hash.verify(&raw)),
        other => panic!("expected a hashed secret, got {other:?}"),
    }
    assert!(kept.retrievable().is_none());
    let serialized = serde_json::to_string(&stored).unwrap();
    assert!(!serialized.contains(&raw), "{serialized}");
}

#[tokio::test]
async fn the_registration_access_token_is_stored_only_as_a_hash() {
    let server = Server::new();
    let response = server.register(&web_client()).await;
    let raw = token(&response);
    let stored = server.record(&response.client_id).await;
    let kept = stored.registration_token.as_ref().expect("a stored token");
    assert_eq!(kept.hash, RegistrationAccessToken::new(raw.as_str()).hash());
    // SHA-256, computed independently of the crate.
    let digest: [u8; 32] = sha2::Sha256::digest(raw.as_bytes()).into();
    assert_eq!(kept.hash.as_bytes(), &digest);
    assert_eq!(
        kept.expires_at.map(|t| t.unix_timestamp()),
        Some(START + THIRTY_DAYS)
    );
    let serialized = serde_json::to_string(&stored).unwrap();
    assert!(!serialized.contains(&raw), "{serialized}");
    let found = server
        .store
        .find_by_registration_token(&SecretHash::of(&raw))
        .await
        .unwrap();
    assert_eq!(found.map(|r| r.client_id), Some(response.client_id));
}

#[tokio::test]
async fn client_secret_jwt_keeps_the_secret_retrievable() {
    let server = Server::new();
    let mut body = web_client();
    body["token_endpoint_auth_method"] = json!("client_secret_jwt");
    let response = server.register(&body).await;
    let stored = server.record(&response.client_id).await;
    let kept = stored.secret.as_ref().expect("a stored secret");
    assert!(matches!(kept.value, SecretValue::Retrievable(_)));
    assert_eq!(
        kept.retrievable().map(ClientSecret::secret),
        Some(secret(&response).as_str())
    );
    assert!(stored.verify_secret(&secret(&response), server.time()));
}

#[tokio::test]
async fn verify_secret_accepts_only_the_issued_secret() {
    let server = Server::new();
    let a = server.register(&web_client()).await;
    let b = server.register(&web_client()).await;
    let stored = server.record(&a.client_id).await;
    let raw = secret(&a);
    let now = server.time();

    assert!(stored.verify_secret(&raw, now));
    let mut altered = raw.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    for wrong in [altered.as_str(), "", &raw[..raw.len() - 1], &secret(&b)] {
        assert!(!stored.verify_secret(wrong, now), "{wrong}");
    }

    let mut public = web_client();
    public["token_endpoint_auth_method"] = json!("none");
    let public = server.register(&public).await;
    let stored = server.record(&public.client_id).await;
    assert!(!stored.verify_secret("", now));
    assert!(!stored.verify_secret(&raw, now));
}

// ---- what is trusted, kept and dropped ----

#[tokio::test]
async fn server_owned_members_in_the_body_are_never_trusted() {
    let server = Server::new();
    let mut body = web_client();
    body["client_id"] = json!("chosen-id");
    body["client_secret"] = json!("chosen-secret-value");
    body["registration_access_token"] = json!("chosen-token-value");
    body["registration_client_uri"] = json!("https://evil.example/register/chosen-id");
    body["client_id_issued_at"] = json!(1);
    body["client_secret_expires_at"] = json!(1);
    body["registration_access_token_expires_in"] = json!(999_999_999);
    let response = server.register(&body).await;
    let reply = Reply::of(response.clone());

    assert_ne!(response.client_id, "chosen-id");
    assert_ne!(secret(&response), "chosen-secret-value");
    assert_ne!(token(&response), "chosen-token-value");
    assert_eq!(
        response.registration_client_uri,
        format!("{ENDPOINT}/{}", response.client_id)
    );
    assert_eq!(response.client_id_issued_at, START);
    assert_eq!(response.client_secret_expires_at, Some(0));
    assert_eq!(
        response.registration_access_token_expires_in,
        Some(THIRTY_DAYS)
    );
    let text = reply.json.to_string();
    for chosen in ["chosen-", "evil.example", "999999999"] {
        assert!(!text.contains(chosen), "{chosen} in {text}");
    }

    assert_eq!(server.store.len(), 1);
    assert!(server.store.get("chosen-id").await.unwrap().is_none());
    let stored = server.record(&response.client_id).await;
    assert!(!stored.verify_secret("chosen-secret-value", server.time()));
    assert!(stored.verify_secret(&secret(&response), server.time()));
    let err = server
        .read(&response.client_id, Some("chosen-token-value"))
        .await
        .unwrap_err();
    common::assert_invalid_token(err);
}

#[tokio::test]
async fn unknown_members_are_dropped_not_echoed_not_stored() {
    let server = Server::new();
    let mut body = web_client();
    body["example_extension_parameter"] = json!("example_value");
    body["token_expiration_time_seconds"] = json!(3600);
    body["nested_unknown"] = json!({"a": [1, 2, 3]});
    let response = server.register(&body).await;
    let reply = Reply::of(response.clone());

    for member in [
        "example_extension_parameter",
        "token_expiration_time_seconds",
        "nested_unknown",
    ] {
        assert!(reply.json.get(member).is_none(), "{member} echoed");
    }
    let stored = server.record(&response.client_id).await;
    assert_eq!(stored.metadata.extensions().count(), 0);
    assert!(!serde_json::to_string(&stored)
        .unwrap()
        .contains("example_extension_parameter"));
}

#[tokio::test]
async fn accepted_extensions_are_kept_echoed_and_stored() {
    let server = Server::with_policy(accepting(&["token_expiration_time_seconds"]));
    let mut body = web_client();
    body["token_expiration_time_seconds"] = json!(3600);
    body["not_accepted"] = json!(true);
    let response = server.register(&body).await;
    let reply = Reply::of(response.clone());

    assert_eq!(reply.json["token_expiration_time_seconds"], 3600);
    assert!(reply.json.get("not_accepted").is_none());
    let stored = server.record(&response.client_id).await;
    assert_eq!(
        stored.metadata.extension("token_expiration_time_seconds"),
        Some(&json!(3600))
    );
    assert_eq!(stored.metadata.extension("not_accepted"), None);
    let read = server
        .read(&response.client_id, Some(&token(&response)))
        .await
        .unwrap();
    assert_eq!(Reply::of(read).json["token_expiration_time_seconds"], 3600);
}

#[tokio::test]
async fn reserved_names_are_never_kept_even_when_the_policy_accepts_them() {
    let privileged = [
        "skip_consent",
        "skip_logout_consent",
        "trusted",
        "first_party",
        "metadata",
        "access_token_strategy",
    ];
    let server = Server::with_policy(accepting(&privileged));
    let mut body = web_client();
    for name in privileged {
        body[name] = json!(true);
    }
    let response = server.register(&body).await;
    let reply = Reply::of(response.clone());
    for name in privileged {
        assert!(reply.json.get(name).is_none(), "{name} echoed");
    }
    let stored = server.record(&response.client_id).await;
    let kept: Vec<&str> = stored.metadata.extensions().map(|(k, _)| k).collect();
    assert!(kept.is_empty(), "kept {kept:?}");
}

#[tokio::test]
async fn language_tagged_members_are_kept_and_returned_as_sent() {
    let server = Server::new();
    let tagged = json!({
        "client_name": "App",
        "client_name#ja-Jpan-JP": "クライアント名",
        "client_name#fr": "Appli",
        "logo_uri#fr": "https://app.example/fr/logo.png",
        "client_uri#de": "https://app.example/de",
        "policy_uri#en-GB": "https://app.example/en-GB/policy",
        "tos_uri#es": "https://app.example/es/tos",
    });
    let mut body = web_client();
    for (k, v) in tagged.as_object().unwrap() {
        body[k] = v.clone();
    }
    let response = server.register(&body).await;
    let reply = Reply::of(response.clone());
    for (k, v) in tagged.as_object().unwrap() {
        assert_eq!(&reply.json[k], v, "{k}");
    }

    let stored = server.record(&response.client_id).await;
    let mut names: Vec<(&str, &str)> = stored.metadata.localized("client_name").collect();
    names.sort_unstable();
    assert_eq!(names, [("fr", "Appli"), ("ja-Jpan-JP", "クライアント名")]);
    assert_eq!(
        stored.metadata.localized("logo_uri").collect::<Vec<_>>(),
        [("fr", "https://app.example/fr/logo.png")]
    );
}

#[tokio::test]
async fn language_tags_on_members_that_are_not_human_readable_are_dropped() {
    let server = Server::new();
    let mut body = web_client();
    body["scope#fr"] = json!("lire");
    body["grant_types#fr"] = json!(["client_credentials"]);
    let response = server.register(&body).await;
    let reply = Reply::of(response);
    assert!(reply.json.get("scope#fr").is_none());
    assert!(reply.json.get("grant_types#fr").is_none());
    assert_eq!(reply.json["grant_types"], json!(["authorization_code"]));
}

// ---- validate() ----

#[tokio::test]
async fn validate_has_no_side_effects_and_returns_the_defaulted_metadata() {
    let server = Server::new();
    let body = serde_json::to_vec(&web_client()).unwrap();
    let metadata = server.registrar.validate_bytes(&body).unwrap();

    assert!(server.store.is_empty());
    assert_eq!(
        metadata.token_endpoint_auth_method,
        Some(AuthMethod::ClientSecretBasic)
    );
    assert_eq!(
        metadata.grant_types,
        Some(vec![GrantType::AuthorizationCode])
    );
    assert_eq!(metadata.response_types, Some(vec![ResponseType::code()]));
    assert_eq!(metadata.application_type, Some(ApplicationType::Web));

    // A registration of the same body stores exactly what validate() predicted.
    let response = server.register_bytes(&body).await.unwrap();
    assert_eq!(response.metadata, metadata);
    assert_eq!(server.record(&response.client_id).await.metadata, metadata);
}

#[tokio::test]
async fn validate_refuses_what_register_refuses() {
    let bodies: [&[u8]; 4] = [
        b"not json",
        br#"{"redirect_uris":["https://app.example/cb#x"]}"#,
        br#"{"redirect_uris":["https://app.example/cb"],"grant_types":["password"]}"#,
        br#"{"client_name":"a","client_name":"b"}"#,
    ];
    for body in bodies {
        let server = Server::new();
        let by_validate = Reply::of(server.registrar.validate_bytes(body).unwrap_err());
        let by_register = Reply::of(server.register_bytes(body).await.unwrap_err());
        assert_eq!(by_validate.status, by_register.status);
        assert_eq!(by_validate.json, by_register.json);
        assert!(server.store.is_empty());
    }
}

// ---- the response ----

#[tokio::test]
async fn the_response_carries_every_member_rfc_7591_requires() {
    let server = Server::new();
    let reply = created(server.register(&web_client()).await);

    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_no_store(&reply);
    for member in [
        "client_id",
        "client_secret",
        "registration_access_token",
        "registration_client_uri",
    ] {
        assert!(reply.json[member].is_string(), "{member}: {}", reply.json);
    }
    for member in ["client_id_issued_at", "client_secret_expires_at"] {
        assert!(reply.json[member].is_i64(), "{member}: {}", reply.json);
    }
    for member in [
        "redirect_uris",
        "token_endpoint_auth_method",
        "grant_types",
        "response_types",
        "application_type",
    ] {
        assert!(reply.json.get(member).is_some(), "{member}: {}", reply.json);
    }
    // RFC 7591 §3.2.1: metadata with no value is omitted, never null.
    let nulls: Vec<&String> = reply
        .json
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| k)
        .collect();
    assert!(nulls.is_empty(), "{nulls:?}");
}

#[tokio::test]
async fn the_response_is_the_stored_record_not_the_request() {
    let mut policy = policy();
    policy.scope = oauth_dcr::policy::ScopePolicy::narrow_to(["openid"]);
    let server = Server::with_policy(policy);
    let mut body = web_client();
    body["scope"] = json!("openid admin");
    body["unknown"] = json!(1);
    let response = server.register(&body).await;
    let stored = server.record(&response.client_id).await;
    assert_eq!(response.metadata, stored.metadata);
    assert_eq!(
        response.client_id_issued_at,
        stored.created_at.unix_timestamp()
    );
    assert_eq!(Reply::of(response).json["scope"], "openid");
}

#[tokio::test]
async fn registration_client_uri_is_the_endpoint_and_the_client_id() {
    let server = Server::with_policy(ServerPolicy::new("https://as.example/oauth/register/"));
    let response = server.register(&web_client()).await;
    assert_eq!(
        response.registration_client_uri,
        format!("https://as.example/oauth/register/{}", response.client_id)
    );
}

#[tokio::test]
async fn the_token_lifetime_is_reported_when_tokens_expire() {
    let server = Server::new();
    let response = server.register(&web_client()).await;
    assert_eq!(
        response.registration_access_token_expires_in,
        Some(THIRTY_DAYS)
    );
    assert_eq!(
        Reply::of(response).json["registration_access_token_expires_in"],
        THIRTY_DAYS
    );

    let mut policy = policy();
    policy.registration_token_lifetime = None;
    let server = Server::with_policy(policy);
    let response = server.register(&web_client()).await;
    assert_eq!(response.registration_access_token_expires_in, None);
    let reply = Reply::of(response.clone());
    assert!(reply
        .json
        .get("registration_access_token_expires_in")
        .is_none());
    let stored = server.record(&response.client_id).await;
    assert_eq!(stored.registration_token.unwrap().expires_at, None);
}

#[tokio::test]
async fn the_stored_client_records_when_it_was_created_and_updated() {
    let server = Server::new();
    let response = server.register(&web_client()).await;
    let stored = server.record(&response.client_id).await;
    assert_eq!(stored.created_at.unix_timestamp(), START);
    assert_eq!(stored.updated_at.unix_timestamp(), START);
    assert_eq!(stored.origin, oauth_dcr::store::Origin::Dynamic);
}

#[tokio::test]
async fn a_store_failure_answers_500_without_detail_and_stores_nothing() {
    let (registrar, store, _clock) = failing_server();
    store.fail_writes(true);
    let body = serde_json::to_vec(&web_client()).unwrap();
    let err = registrar
        .register_bytes(&body, &RequestContext::new())
        .await
        .unwrap_err();
    let reply = assert_error(err, 500, "server_error");
    assert_eq!(reply.json, json!({"error": "server_error"}));
    assert!(store.inner.is_empty());

    store.fail_writes(false);
    let response = registrar
        .register_bytes(&body, &RequestContext::new())
        .await;
    assert!(response.is_ok());
    assert_eq!(store.inner.len(), 1);
}

// ---- the RFC examples (tests/data/README.md) ----

/// Registers an RFC request body and checks that it round-trips: every member the client sent
/// comes back unchanged, the JSON parses back into a `RegistrationResponse` and serializes to the
/// same JSON, and a read returns the same metadata.
async fn register_round_trip(server: &Server, file: &str) -> RegistrationResponse {
    let request = data_json(file);
    let response = server
        .register_bytes(&data(file))
        .await
        .unwrap_or_else(|e| panic!("{file} refused: {e}"));
    let reply = created(response.clone());
    assert_eq!(reply.status, 201);
    for (member, sent) in request.as_object().unwrap() {
        if member == "software_statement" {
            continue;
        }
        assert_eq!(&reply.json[member], sent, "{file}: {member}");
    }

    let parsed: RegistrationResponse = serde_json::from_value(reply.json.clone()).unwrap();
    assert_eq!(parsed.metadata, response.metadata);
    assert_eq!(serde_json::to_value(&parsed).unwrap(), reply.json);

    let read = server
        .read(&response.client_id, Some(&token(&response)))
        .await
        .unwrap();
    assert_eq!(read.metadata, response.metadata);
    assert_eq!(
        server.registrar.validate_bytes(&data(file)).unwrap(),
        response.metadata
    );
    response
}

#[tokio::test]
async fn rfc7591_open_registration_example_registers_and_round_trips() {
    let server = Server::with_policy(accepting(&["example_extension_parameter"]));
    let response = register_round_trip(&server, "rfc7591-3.1-open-registration.json").await;
    assert!(response.client_secret.is_some());
    assert_eq!(
        response.metadata.client_name.as_deref(),
        Some("My Example Client")
    );
    assert_eq!(
        response
            .metadata
            .localized("client_name")
            .collect::<Vec<_>>(),
        [("ja-Jpan-JP", "クライアント名")]
    );
}

#[tokio::test]
async fn rfc7591_open_registration_example_drops_the_extension_by_default() {
    let server = Server::new();
    let response = server
        .register_bytes(&data("rfc7591-3.1-open-registration.json"))
        .await
        .unwrap();
    assert!(Reply::of(response)
        .json
        .get("example_extension_parameter")
        .is_none());
}

#[tokio::test]
async fn rfc7591_authorized_registration_example_registers_and_round_trips() {
    let server = Server::with_policy(accepting(&["example_extension_parameter"]));
    let response = register_round_trip(&server, "rfc7591-3.1-authorized-registration.json").await;
    let jwks = response.metadata.jwks.as_ref().unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    // Registered with the example's initial access token, which this registrar does not demand.
    let context = bearer("ey23f2.adfj230.af32-developer321");
    let again = server
        .registrar
        .register_bytes(&data("rfc7591-3.1-authorized-registration.json"), &context)
        .await
        .unwrap();
    assert_eq!(again.metadata, response.metadata);
}

#[tokio::test]
async fn rfc7591_software_statement_example_is_ignored_without_statement_support() {
    // RFC 7591 §3.1.1: a server that does not support software statements may ignore them; it
    // must not apply their unverified claims.
    // The example asks for `read write`: a server that grants them declares them.
    let mut policy = accepting(&["example_extension_parameter"]);
    policy.scope = oauth_dcr::policy::ScopePolicy::reject_outside(["read", "write"]);
    let server = Server::with_policy(policy);
    let response = register_round_trip(&server, "rfc7591-3.1.1-software-statement.json").await;
    let reply = Reply::of(response);
    assert!(reply.json.get("software_statement").is_none());
    assert!(reply.json.get("software_id").is_none());
    assert!(reply.json.get("client_name").is_none());
    assert!(reply.json.get("client_uri").is_none());
    assert_eq!(reply.json["scope"], "read write");
}

#[tokio::test]
async fn rfc7591_client_information_response_members_all_appear_in_ours() {
    let server = Server::with_policy(accepting(&["example_extension_parameter"]));
    let ours = Reply::of(
        server
            .register_bytes(&data("rfc7591-3.1-open-registration.json"))
            .await
            .unwrap(),
    );
    let example = data_json("rfc7591-3.2.1-client-information-response.json");
    for (member, value) in example.as_object().unwrap() {
        assert!(ours.json.get(member).is_some(), "{member} missing");
        let server_provisioned = [
            "client_id",
            "client_secret",
            "client_id_issued_at",
            "client_secret_expires_at",
            "grant_types",
        ];
        if !server_provisioned.contains(&member.as_str()) {
            assert_eq!(&ours.json[member], value, "{member}");
        }
    }
}

#[tokio::test]
async fn rfc7591_error_examples_parse_and_match_our_codes() {
    let redirect: ErrorResponse =
        serde_json::from_slice(&data("rfc7591-3.2.2-invalid-redirect-uri.json")).unwrap();
    let metadata: ErrorResponse =
        serde_json::from_slice(&data("rfc7591-3.2.2-invalid-client-metadata.json")).unwrap();

    let server = Server::new();
    // "The redirection URI http://sketchy.example.com is not allowed by this server."
    let err = server
        .refuse_bytes(br#"{"redirect_uris":["http://sketchy.example.com"]}"#)
        .await;
    assert_eq!(err.response().error, redirect.error);
    // "The grant type 'authorization_code' must be registered along with the response type
    // 'code' but found only 'implicit' instead."
    let mut implicit = policy();
    implicit.grant_types_supported.push(GrantType::Implicit);
    implicit
        .response_types_supported
        .push(ResponseType::new("token"));
    let server = Server::with_policy(implicit);
    let err = server
        .refuse_bytes(
            br#"{"redirect_uris":["https://app.example/cb"],"grant_types":["authorization_code"],"response_types":["token"]}"#,
        )
        .await;
    assert_eq!(err.response().error, metadata.error);
}

#[tokio::test]
async fn rfc7592_client_information_response_parses_and_round_trips() {
    let example = data_json("rfc7592-3-client-information-response.json");
    let parsed: RegistrationResponse = serde_json::from_value(example.clone()).unwrap();
    assert_eq!(parsed.client_id, "s6BhdRkqt3");
    assert_eq!(
        parsed
            .registration_access_token
            .as_ref()
            .expect("a registration access token")
            .secret(),
        "reg-23410913-abewfq.123483"
    );
    assert_eq!(
        parsed.registration_client_uri,
        "https://server.example.com/register/s6BhdRkqt3"
    );
    assert_eq!(parsed.client_secret_expires_at, Some(2_893_276_800));
    assert_eq!(
        parsed.metadata.localized("client_name").collect::<Vec<_>>(),
        [("ja-Jpan-JP", "クライアント名")]
    );
    assert_eq!(serde_json::to_value(&parsed).unwrap(), example);
}

#[tokio::test]
async fn rfc7592_update_example_replaces_the_registration() {
    let server = Server::with_policy(accepting(&["example_extension_parameter"]));
    let registered = server
        .register_bytes(&data("rfc7591-3.1-open-registration.json"))
        .await
        .unwrap();
    let mut update = data_json("rfc7592-2.2-update-request.json");
    update["client_id"] = json!(registered.client_id);
    update["client_secret"] = json!(secret(&registered));

    let updated = server
        .update(&registered.client_id, Some(&token(&registered)), &update)
        .await
        .unwrap();
    let reply = Reply::of(updated);
    assert_eq!(reply.status, 200);
    assert_no_store(&reply);
    for (member, sent) in update.as_object().unwrap() {
        if member != "client_secret" {
            assert_eq!(&reply.json[member], sent, "{member}");
        }
    }
    // A full replacement: what the update omitted is gone.
    for gone in [
        "client_name#ja-Jpan-JP",
        "logo_uri#ja-Jpan-JP",
        "example_extension_parameter",
    ] {
        assert!(reply.json.get(gone).is_none(), "{gone} kept");
    }
    let stored = server.record(&registered.client_id).await;
    assert_eq!(
        stored.metadata.client_name.as_deref(),
        Some("My New Example")
    );
    assert!(stored.verify_secret(&secret(&registered), server.time()));
}

// ---- idempotent re-registration under limits ----

/// The README's suggestion for agents: one client per software, re-registered idempotently.
fn one_client_per_software() -> Server {
    let mut policy = policy();
    policy.idempotent_registration = true;
    policy.max_clients_per_software_id = Some(1);
    policy.max_clients = Some(1);
    Server::with_policy(policy)
}

#[tokio::test]
async fn an_idempotent_re_registration_is_never_counted_as_a_new_client() {
    let server = one_client_per_software();
    let body = |name: &str| {
        json!({
            "redirect_uris": ["http://127.0.0.1/cb"],
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "software_id": "agent",
            "instance_key": "k-1",
            "client_name": name,
        })
    };
    let first = server.register(&body("Agent")).await;
    let again = server.register(&body("Agent v2")).await;
    assert_eq!(
        again.client_id, first.client_id,
        "the same instance, the same client"
    );
    assert_eq!(again.metadata.client_name.as_deref(), Some("Agent v2"));
    assert_eq!(server.store.count(Some("agent")).await.unwrap(), 1);
    // Another instance of the same software is a new client, and the quota refuses it.
    let mut other = body("Agent");
    other["instance_key"] = json!("k-2");
    let err = server.refuse(&other).await;
    assert_error(err, 400, "invalid_client_metadata");
    assert_eq!(server.store.count(None).await.unwrap(), 1);
}

/// Lifetimes a host configures far beyond the clock's range end at its last instant instead of
/// panicking on `now + lifetime` (registration, update with a rotated secret, the reaper).
#[tokio::test]
async fn lifetimes_beyond_the_clocks_range_saturate_instead_of_panicking() {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.client_secret_lifetime = Some(Duration::MAX);
    policy.registration_token_lifetime = Some(Duration::MAX);
    policy.secret_rotation_overlap = Duration::MAX;
    policy.unused_client_ttl = Some(Duration::MAX);
    let registrar = oauth_dcr::Registrar::new(policy, Arc::new(oauth_dcr::MemoryStore::new()));
    let client = registrar
        .register_bytes(
            br#"{"grant_types":["client_credentials"]}"#,
            &RequestContext::new(),
        )
        .await
        .expect("registered");
    assert!(client.client_secret.is_some());
    let token = token(&client);
    let body = json!({
        "client_id": client.client_id,
        "grant_types": ["client_credentials"],
        "rotate_client_secret": true,
    });
    let updated = registrar
        .update_bytes(
            &client.client_id,
            Some(&token),
            body.to_string().as_bytes(),
            &RequestContext::new(),
        )
        .await
        .expect("updated");
    assert_ne!(updated.client_secret, client.client_secret);
    assert!(registrar.reap(10).await.expect("reaped").is_empty());
}
