//! Explicit registration through OpenID Federation trust chains (`Registrar::register_federated`):
//! a federation of trust anchor, intermediate and client with generated keys, the chain the
//! client sends, the signed response it gets back, and what the store keeps. The chain admits
//! the client; every rule of a registration still applies to the metadata it resolves.

mod common;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{about, entity, sign, with, Entity, ManualClock, START};
use josekit::jws::ES256;
use oauth_dcr::events::{HookContext, RegistrationHook};
use oauth_dcr::federation::chain::TrustAnchor;
use oauth_dcr::federation::response::JwkSigner;
use oauth_dcr::federation::{ExplicitRegistration, FederatedRegistration};
use oauth_dcr::statements::Jwks;
use oauth_dcr::{
    ClientMetadata, ErrorCode, MemoryStore, Registrar, RegistrationError, RequestContext,
    ServerPolicy,
};
use serde_json::{json, Value};
use time::Duration;

const SERVER: &str = "https://op.example";
const RP: &str = "openid_relying_party";

/// A trust anchor, an intermediate and a client, and the server's own federation key.
struct Federation {
    anchor: Entity,
    intermediate: Entity,
    client: Entity,
    server_key: josekit::jwk::Jwk,
    registrar: Registrar,
    clock: Arc<ManualClock>,
}

fn rp_metadata() -> Value {
    json!({
        "redirect_uris": ["https://rp.fed.example/cb"],
        "client_name": "Federated RP",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "use": "sig", "kid": "rp-1",
            "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
            "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}
    })
}

fn federation_with(policy: ServerPolicy, hook: Option<Arc<dyn RegistrationHook>>) -> Federation {
    let anchor = entity("https://ta.fed.example");
    let intermediate = entity("https://int.fed.example");
    let client = entity("https://rp.fed.example");
    let pair = ES256.generate_key_pair().unwrap();
    let mut server_private = pair.to_jwk_key_pair();
    server_private.set_key_id("op-1");
    let signer = JwkSigner::from_jwk(server_private.to_string().as_bytes()).unwrap();
    let server_key = pair.to_jwk_public_key();
    let anchor_keys = Jwks::from_json(anchor.jwks.to_string().as_bytes()).unwrap();
    let clock = Arc::new(ManualClock::new());
    let federation = ExplicitRegistration::new(
        SERVER,
        vec![TrustAnchor::new(&anchor.id, anchor_keys)],
        Arc::new(signer),
    );
    let mut registrar = Registrar::new(policy, Arc::new(MemoryStore::new()))
        .with_clock(clock.clone())
        .with_explicit_registration(federation);
    if let Some(hook) = hook {
        registrar = registrar.with_hook(hook);
    }
    Federation {
        anchor,
        intermediate,
        client,
        server_key,
        registrar,
        clock,
    }
}

fn federation() -> Federation {
    federation_with(ServerPolicy::new("https://op.example/register"), None)
}

impl Federation {
    /// The client's Entity Configuration (addressed to the server), the intermediate's statement
    /// about it and the anchor's about the intermediate, each with extra claims.
    fn chain(&self, client: Value, intermediate: Value, anchor: Value) -> Vec<String> {
        let configuration = about(
            &self.client,
            &self.client,
            json!({
                "aud": SERVER,
                "authority_hints": [self.intermediate.id],
                "metadata": { RP: rp_metadata() },
            }),
        );
        vec![
            sign(&self.client, &with(configuration, client)),
            sign(
                &self.intermediate,
                &about(&self.intermediate, &self.client, intermediate),
            ),
            sign(
                &self.anchor,
                &about(&self.anchor, &self.intermediate, anchor),
            ),
        ]
    }

    fn plain(&self) -> Vec<String> {
        self.chain(json!({}), json!({}), json!({}))
    }

    /// The client as the store keeps it, if registered.
    async fn stored(&self) -> Option<oauth_dcr::ClientRecord> {
        self.registrar.store().get(&self.client.id).await.unwrap()
    }

    async fn register(&self, chain: &[String]) -> Result<FederatedRegistration, RegistrationError> {
        self.registrar
            .register_federated(chain, &RequestContext::new())
            .await
    }

    /// The response's claims, once its signature verified with the server's key and its `typ`.
    fn claims(&self, jwt: &str) -> Value {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["typ"], "explicit-registration-response+jwt");
        assert_eq!(header["kid"], "op-1");
        let verifier = ES256.verifier_from_jwk(&self.server_key).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        josekit::jws::JwsVerifier::verify(&verifier, input.as_bytes(), &signature)
            .expect("the response verifies with the server's federation key");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
    }
}

fn refused(
    result: Result<FederatedRegistration, RegistrationError>,
    code: ErrorCode,
    needle: &str,
) {
    match result {
        Err(e) => {
            let response = e.response();
            assert_eq!(response.error, code, "{e}");
            let description = response.error_description.unwrap_or_default();
            assert!(description.contains(needle), "{description}");
        }
        Ok(ok) => panic!("expected {code}, registered {}", ok.client_id),
    }
}

#[tokio::test]
async fn a_client_registers_through_a_three_level_chain() {
    let f = federation();
    let chain = f.chain(
        json!({}),
        json!({ "metadata_policy": { RP: { "contacts": {"add": ["help@int.fed.example"]} } } }),
        json!({ "exp": START + 1800, "metadata_policy": { RP: {
            "token_endpoint_auth_method": {"one_of": ["private_key_jwt"], "essential": true}
        }}}),
    );
    let registered = f.register(&chain).await.unwrap();
    assert_eq!(registered.client_id, f.client.id);
    assert_eq!(registered.trust_anchor, f.anchor.id);
    // The registration lasts until the chain's first expiry, within the one-day default.
    assert_eq!(registered.expires_at.unix_timestamp(), START + 1800);

    let claims = f.claims(&registered.response);
    assert_eq!(claims["iss"], SERVER);
    assert_eq!(claims["sub"], f.client.id);
    assert_eq!(claims["aud"], f.client.id);
    assert_eq!(claims["iat"], START);
    assert_eq!(claims["exp"], START + 1800);
    assert_eq!(claims["trust_anchor"], f.anchor.id);
    assert_eq!(claims["authority_hints"], json!([f.intermediate.id]));
    assert_eq!(claims["jwks"], f.client.jwks);
    let metadata = &claims["metadata"][RP];
    assert_eq!(metadata["client_id"], f.client.id);
    assert_eq!(metadata["contacts"], json!(["help@int.fed.example"]));
    assert_eq!(metadata["token_endpoint_auth_method"], "private_key_jwt");
    // Defaults the server applied are stated, and nothing to manage the client with is issued.
    assert_eq!(metadata["grant_types"], json!(["authorization_code"]));
    for absent in [
        "client_secret",
        "registration_access_token",
        "registration_client_uri",
    ] {
        assert!(metadata.get(absent).is_none(), "{absent}");
    }

    let stored = f.stored().await.unwrap();
    let provenance = stored.federation.as_ref().expect("provenance");
    assert_eq!(provenance.trust_anchor, f.anchor.id);
    assert_eq!(provenance.immediate_superior, f.intermediate.id);
    assert_eq!(provenance.expires_at.unix_timestamp(), START + 1800);
    assert_eq!(provenance.trust_chain, chain);
    assert!(stored.registration_token.is_none());
    assert_eq!(
        stored.metadata.contacts,
        Some(vec!["help@int.fed.example".to_owned()])
    );
}

#[tokio::test]
async fn registering_again_replaces_the_registration() {
    let f = federation();
    let first = f.register(&f.plain()).await.unwrap();
    let before = f
        .registrar
        .store()
        .get(&first.client_id)
        .await
        .unwrap()
        .unwrap();
    f.clock.advance(Duration::minutes(5));
    let renamed = f.chain(
        json!({}),
        json!({ "metadata": { RP: { "client_name": "Renamed by the intermediate" } } }),
        json!({ "exp": START + 3000 }),
    );
    let again = f.register(&renamed).await.unwrap();
    assert_eq!(again.client_id, first.client_id);
    let after = f
        .registrar
        .store()
        .get(&first.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(
        after.metadata.client_name.as_deref(),
        Some("Renamed by the intermediate")
    );
    assert_eq!(
        after.federation.unwrap().expires_at.unix_timestamp(),
        START + 3000
    );
}

#[tokio::test]
async fn the_registration_rules_hold_for_what_the_chain_resolves() {
    // Every rule of a registration applies to the metadata a chain resolves: here a redirect
    // URI with a fragment, which RFC 7591 and the server refuse whatever signed it.
    let f = federation();
    let chain = f.chain(
        json!({}),
        json!({ "metadata": { RP: { "redirect_uris": ["https://rp.fed.example/cb#frag"] } } }),
        json!({}),
    );
    refused(
        f.register(&chain).await,
        ErrorCode::InvalidRedirectUri,
        "fragment",
    );
    assert!(f.stored().await.is_none());

    // The server's own policy, not the federation's, decides what it supports.
    let mut policy = ServerPolicy::new("https://op.example/register");
    policy.token_endpoint_auth_methods_supported = vec!["client_secret_basic".into()];
    let f = federation_with(policy, None);
    refused(
        f.register(&f.plain()).await,
        ErrorCode::InvalidClientMetadata,
        "private_key_jwt",
    );

    // The host's hook sees federation registrations as registrations.
    struct NoFederatedRps;
    #[async_trait::async_trait]
    impl RegistrationHook for NoFederatedRps {
        async fn check(
            &self,
            _metadata: &mut ClientMetadata,
            context: &HookContext<'_>,
        ) -> Result<(), RegistrationError> {
            assert_eq!(context.client_id, Some("https://rp.fed.example"));
            Err(RegistrationError::refused("not today"))
        }
    }
    let f = federation_with(
        ServerPolicy::new("https://op.example/register"),
        Some(Arc::new(NoFederatedRps)),
    );
    refused(
        f.register(&f.plain()).await,
        ErrorCode::InvalidClientMetadata,
        "not today",
    );
}

#[tokio::test]
async fn a_secret_lasts_as_long_as_the_registration() {
    let f = federation();
    let chain = f.chain(
        json!({}),
        json!({ "metadata": { RP: { "token_endpoint_auth_method": "client_secret_basic" } } }),
        json!({}),
    );
    let registered = f.register(&chain).await.unwrap();
    let claims = f.claims(&registered.response);
    let metadata = &claims["metadata"][RP];
    let secret = metadata["client_secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    assert_eq!(
        metadata["client_secret_expires_at"],
        registered.expires_at.unix_timestamp()
    );
    let stored = f.stored().await.unwrap();
    let expiry = registered.expires_at;
    assert!(stored.verify_secret(&secret, expiry - Duration::seconds(1)));
    assert!(!stored.verify_secret(&secret, expiry));
    assert!(stored.is_reapable(None, expiry));
}

#[tokio::test]
async fn chains_that_do_not_verify_are_invalid_trust_chains() {
    let f = federation();
    let stranger = entity("https://ta.elsewhere.example");
    let mut chain = f.plain();
    chain[2] = sign(&stranger, &about(&stranger, &f.intermediate, json!({})));
    refused(
        f.register(&chain).await,
        ErrorCode::InvalidTrustChain,
        "not a trusted anchor",
    );
    refused(
        f.register(&f.chain(json!({}), json!({ "exp": START - 120 }), json!({})))
            .await,
        ErrorCode::InvalidTrustChain,
        "expired",
    );
    refused(
        f.register(&f.chain(
            json!({}),
            json!({ "metadata_policy": { RP: { "subject_type": {"value": "public"} } } }),
            json!({ "metadata_policy": { RP: { "subject_type": {"value": "pairwise"} } } }),
        ))
        .await,
        ErrorCode::InvalidTrustChain,
        "metadata_policy",
    );
    refused(
        f.register(&f.chain(
            json!({}),
            json!({}),
            json!({ "metadata_policy": { RP: {
                "token_endpoint_auth_method": {"one_of": ["self_signed_tls_client_auth"]}
            }}}),
        ))
        .await,
        ErrorCode::InvalidMetadata,
        "not one of",
    );
    assert!(f.stored().await.is_none());
}

#[tokio::test]
async fn the_request_must_be_addressed_to_this_server() {
    let f = federation();
    for aud in [json!("https://other-op.example"), json!(null), json!([])] {
        refused(
            f.register(&f.chain(json!({ "aud": aud }), json!({}), json!({})))
                .await,
            ErrorCode::InvalidRequest,
            "aud",
        );
    }
    assert!(f
        .register(&f.chain(
            json!({ "aud": [SERVER, "https://x.example"] }),
            json!({}),
            json!({})
        ))
        .await
        .is_ok());
}

#[tokio::test]
async fn without_explicit_registration_or_with_registration_off_the_server_refuses() {
    let f = federation();
    let plain = Registrar::new(
        ServerPolicy::new("https://op.example/register"),
        Arc::new(MemoryStore::new()),
    );
    let refusal = plain
        .register_federated(&f.plain(), &RequestContext::new())
        .await
        .unwrap_err();
    assert_eq!(refusal.code(), ErrorCode::AccessDenied);
    assert_eq!(refusal.status(), 403);

    let mut off = ServerPolicy::new("https://op.example/register");
    off.registration_enabled = false;
    let f = federation_with(off, None);
    refused(
        f.register(&f.plain()).await,
        ErrorCode::AccessDenied,
        "disabled",
    );
}

#[tokio::test]
async fn a_client_registered_otherwise_is_not_replaced() {
    let f = federation();
    let mut record = oauth_dcr::ClientRecord::new(
        f.client.id.clone(),
        ClientMetadata::default(),
        oauth_dcr::store::Origin::Administrator,
        time::OffsetDateTime::from_unix_timestamp(START).unwrap(),
    );
    record.metadata.client_name = Some("the administrators' client".to_owned());
    f.registrar.store().create(&record).await.unwrap();
    refused(
        f.register(&f.plain()).await,
        ErrorCode::InvalidClientMetadata,
        "not registered through a trust chain",
    );
    let kept = f.stored().await.unwrap();
    assert_eq!(
        kept.metadata.client_name.as_deref(),
        Some("the administrators' client")
    );
}

fn post(content_type: &str, body: Vec<u8>) -> http::Request<Vec<u8>> {
    http::Request::post("/register")
        .header("content-type", content_type)
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn the_http_adapter_serves_explicit_registration_at_the_registration_endpoint() {
    let f = federation();
    let chain = serde_json::to_vec(&f.plain()).unwrap();
    let response = oauth_dcr::http::handle(
        &f.registrar,
        post("application/trust-chain+json", chain),
        &RequestContext::new(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/explicit-registration-response+jwt"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.extensions().get::<oauth_dcr::http::ClientId>(),
        Some(&oauth_dcr::http::ClientId(f.client.id.clone()))
    );
    let jwt = String::from_utf8(response.into_body()).unwrap();
    assert_eq!(f.claims(&jwt)["sub"], f.client.id);

    // Only the chain itself is taken; anything else is a clear 400.
    for (content_type, body, needle) in [
        (
            "application/entity-statement+jwt",
            f.plain()[0].clone().into_bytes(),
            "trust-chain+json",
        ),
        ("application/trust-chain+json", b"{}".to_vec(), "JSON array"),
        (
            "application/trust-chain+json",
            b"[1, 2]".to_vec(),
            "JSON array",
        ),
    ] {
        let response = oauth_dcr::http::handle(
            &f.registrar,
            post(content_type, body),
            &RequestContext::new(),
        )
        .await;
        assert_eq!(response.status(), 400, "{content_type}");
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["error"], "invalid_request");
        assert!(
            body["error_description"].as_str().unwrap().contains(needle),
            "{body}"
        );
    }
    // A bad chain answers with the federation's error code, as JSON.
    let mut broken = f.plain();
    broken.swap(1, 2);
    let response = oauth_dcr::http::handle(
        &f.registrar,
        post(
            "application/trust-chain+json",
            serde_json::to_vec(&broken).unwrap(),
        ),
        &RequestContext::new(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["error"], "invalid_trust_chain");

    // Discovery advertises it.
    let discovery = f.registrar.discovery_metadata();
    assert_eq!(
        discovery["federation_registration_endpoint"],
        "https://op.example/register"
    );
    assert_eq!(
        discovery["client_registration_types_supported"],
        json!(["explicit"])
    );

    // Without explicit registration, a trust chain is an unsupported media type, and discovery
    // says nothing of federation.
    let plain = Registrar::new(
        ServerPolicy::new("https://op.example/register"),
        Arc::new(MemoryStore::new()),
    );
    let response = oauth_dcr::http::handle(
        &plain,
        post(
            "application/trust-chain+json",
            serde_json::to_vec(&f.plain()).unwrap(),
        ),
        &RequestContext::new(),
    )
    .await;
    assert_eq!(response.status(), 415);
    assert!(plain
        .discovery_metadata()
        .get("federation_registration_endpoint")
        .is_none());
}

#[tokio::test]
async fn a_chain_verified_before_is_refused_once_it_expires() {
    // The same chain registers again (from the server's memory of chains it verified) until
    // its first statement expires, and not a second longer.
    let f = federation();
    let chain = f.chain(json!({}), json!({ "exp": START + 600 }), json!({}));
    f.register(&chain).await.unwrap();
    f.clock.advance(Duration::seconds(599));
    f.register(&chain).await.unwrap();
    f.clock.advance(Duration::seconds(1));
    refused(
        f.register(&chain).await,
        ErrorCode::InvalidTrustChain,
        "expired",
    );
}

#[tokio::test]
async fn events_say_which_anchor_and_chain_admitted_the_client() {
    let f = federation();
    let recorder = Arc::new(common::Recorder(Default::default()));
    let registrar = f.registrar.clone().with_event_sink(recorder.clone());
    let chain = f.plain();
    registrar
        .register_federated(&chain, &RequestContext::new())
        .await
        .unwrap();
    let events = recorder.take();
    let event = events
        .iter()
        .find(|e| e.operation == oauth_dcr::events::Operation::Register)
        .expect("a registration event");
    assert_eq!(event.client_id.as_deref(), Some(f.client.id.as_str()));
    assert!(event.refused.is_none());
    let federation = event
        .provenance
        .federation
        .as_ref()
        .expect("federation provenance");
    assert_eq!(federation.trust_anchor, f.anchor.id);
    assert_eq!(federation.immediate_superior, f.intermediate.id);
    assert_eq!(federation.trust_chain, chain);
    // A refused registration is an event too, with the federation's error code.
    let mut forged = f.plain();
    forged.swap(1, 2);
    assert!(registrar
        .register_federated(&forged, &RequestContext::new())
        .await
        .is_err());
    let refused = recorder.take();
    assert!(refused
        .iter()
        .any(|e| e.refused == Some(ErrorCode::InvalidTrustChain)));
}

/// A federation's published documents, from memory: each entity's Entity Configuration at
/// `/.well-known/openid-federation` and its statements at `/fetch?sub=…`; 404 for anything
/// else; every URL fetched kept.
#[derive(Default)]
struct Published {
    documents: std::sync::Mutex<std::collections::HashMap<String, String>>,
    fetched: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl oauth_dcr::fetch::Fetcher for Published {
    async fn fetch(
        &self,
        url: &str,
        _limits: oauth_dcr::fetch::FetchLimits,
    ) -> Result<oauth_dcr::fetch::Fetched, oauth_dcr::fetch::FetchError> {
        self.fetched.lock().unwrap().push(url.to_owned());
        match self.documents.lock().unwrap().get(url) {
            Some(body) => Ok(oauth_dcr::fetch::Fetched::new(body.clone().into_bytes())),
            None => Err(oauth_dcr::fetch::FetchError::Status(404)),
        }
    }
}

impl Published {
    fn publish(&self, url: String, body: String) {
        self.documents.lock().unwrap().insert(url, body);
    }

    /// `authority`'s Entity Configuration (naming its fetch endpoint and `hints`) and its
    /// statement about `subject`.
    fn authority(&self, authority: &Entity, hints: &[&str], subject: &Entity, extra: Value) {
        let configuration = about(
            authority,
            authority,
            json!({
                "authority_hints": hints,
                "metadata": { "federation_entity": {
                    "federation_fetch_endpoint": format!("{}/fetch", authority.id)
                }},
            }),
        );
        self.publish(
            format!("{}/.well-known/openid-federation", authority.id),
            sign(authority, &configuration),
        );
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sub", &subject.id)
            .finish();
        self.publish(
            format!("{}/fetch?{query}", authority.id),
            sign(authority, &about(authority, subject, extra)),
        );
    }
}

fn resolving(f: &Federation, published: Arc<Published>, max_fetches: usize) -> Registrar {
    let anchor_keys = Jwks::from_json(f.anchor.jwks.to_string().as_bytes()).unwrap();
    let pair = ES256.generate_key_pair().unwrap();
    let mut key = pair.to_jwk_key_pair();
    key.set_key_id("op-2");
    let signer = JwkSigner::from_jwk(key.to_string().as_bytes()).unwrap();
    let mut limits = oauth_dcr::federation::resolve::ResolveLimits::default();
    limits.max_fetches = max_fetches;
    let federation = ExplicitRegistration::new(
        SERVER,
        vec![TrustAnchor::new(&f.anchor.id, anchor_keys)],
        Arc::new(signer),
    )
    .resolve_with(published, limits);
    Registrar::new(
        ServerPolicy::new("https://op.example/register"),
        Arc::new(MemoryStore::new()),
    )
    .with_clock(f.clock.clone())
    .with_explicit_registration(federation)
}

#[tokio::test]
async fn a_client_that_sends_only_its_configuration_has_its_chain_resolved() {
    let f = federation();
    let published = Arc::new(Published::default());
    published.authority(&f.intermediate, &[&f.anchor.id], &f.client, json!({}));
    published.authority(
        &f.anchor,
        &[],
        &f.intermediate,
        json!({ "metadata_policy": { RP: { "contacts": {"add": ["help@ta.fed.example"]} } } }),
    );
    let registrar = resolving(&f, published.clone(), 12);
    let configuration = f.plain()[0].clone();
    let registered = registrar
        .register_federated(std::slice::from_ref(&configuration), &RequestContext::new())
        .await
        .unwrap();
    assert_eq!(registered.client_id, f.client.id);
    assert_eq!(registered.trust_anchor, f.anchor.id);
    assert_eq!(published.fetched.lock().unwrap().len(), 4);
    let stored = registrar.store().get(&f.client.id).await.unwrap().unwrap();
    let provenance = stored.federation.unwrap();
    assert_eq!(provenance.trust_chain.len(), 3);
    assert_eq!(provenance.trust_chain[0], configuration);
    assert_eq!(
        stored.metadata.contacts,
        Some(vec!["help@ta.fed.example".to_owned()])
    );

    // Over HTTP, as application/entity-statement+jwt.
    let response = oauth_dcr::http::handle(
        &registrar,
        http::Request::post("/register")
            .header("content-type", "application/entity-statement+jwt")
            .body(configuration.into_bytes())
            .unwrap(),
        &RequestContext::new(),
    )
    .await;
    assert_eq!(response.status(), 200);
    // The configuration resolved and verified before is not resolved again until its chain
    // expires: no further fetch.
    assert_eq!(published.fetched.lock().unwrap().len(), 4);
}

/// A fetcher whose every fetch ran out of its time (as a fetcher reports a superior too slow
/// to answer within `FetchLimits::timeout`).
struct TooSlow;

#[async_trait::async_trait]
impl oauth_dcr::fetch::Fetcher for TooSlow {
    async fn fetch(
        &self,
        _url: &str,
        _limits: oauth_dcr::fetch::FetchLimits,
    ) -> Result<oauth_dcr::fetch::Fetched, oauth_dcr::fetch::FetchError> {
        Err(oauth_dcr::fetch::FetchError::Timeout)
    }
}

#[tokio::test]
async fn resolution_is_bounded_and_refuses_what_it_cannot_resolve() {
    let f = federation();
    let configuration = f.plain()[0].clone();
    let register = |registrar: Registrar| {
        let configuration = configuration.clone();
        async move {
            registrar
                .register_federated(&[configuration], &RequestContext::new())
                .await
        }
    };
    // A superior that publishes nothing.
    let empty = Arc::new(Published::default());
    refused(
        register(resolving(&f, empty, 12)).await,
        ErrorCode::InvalidTrustChain,
        "could not be fetched",
    );
    // A superior too slow to answer.
    let anchor_keys = Jwks::from_json(f.anchor.jwks.to_string().as_bytes()).unwrap();
    let pair = ES256.generate_key_pair().unwrap();
    let mut key = pair.to_jwk_key_pair();
    key.set_key_id("op-3");
    let slow = Registrar::new(
        ServerPolicy::new("https://op.example/register"),
        Arc::new(MemoryStore::new()),
    )
    .with_clock(f.clock.clone())
    .with_explicit_registration(
        ExplicitRegistration::new(
            SERVER,
            vec![TrustAnchor::new(&f.anchor.id, anchor_keys)],
            Arc::new(JwkSigner::from_jwk(key.to_string().as_bytes()).unwrap()),
        )
        .resolve_with(Arc::new(TooSlow), Default::default()),
    );
    refused(
        register(slow).await,
        ErrorCode::InvalidTrustChain,
        "could not be fetched",
    );
    // A loop: the intermediate names the client as its superior.
    let looping = Arc::new(Published::default());
    looping.authority(&f.intermediate, &[&f.client.id], &f.client, json!({}));
    refused(
        register(resolving(&f, looping, 12)).await,
        ErrorCode::InvalidTrustChain,
        "loop",
    );
    // Too few fetches allowed for the path.
    let published = Arc::new(Published::default());
    published.authority(&f.intermediate, &[&f.anchor.id], &f.client, json!({}));
    published.authority(&f.anchor, &[], &f.intermediate, json!({}));
    refused(
        register(resolving(&f, published.clone(), 3)).await,
        ErrorCode::InvalidTrustChain,
        "more than 3 fetches",
    );
    assert_eq!(published.fetched.lock().unwrap().len(), 3);
    // A resolved chain is verified like a sent one: an anchor statement under another key.
    let forged = Arc::new(Published::default());
    forged.authority(&f.intermediate, &[&f.anchor.id], &f.client, json!({}));
    let impostor = entity(&f.anchor.id);
    forged.authority(&impostor, &[], &f.intermediate, json!({}));
    refused(
        register(resolving(&f, forged, 12)).await,
        ErrorCode::InvalidTrustChain,
        "trust anchor",
    );
    // Without a fetcher, a configuration alone is no chain.
    refused(
        register(f.registrar.clone()).await,
        ErrorCode::InvalidTrustChain,
        "at least one",
    );
}

/// A line of `length` intermediates above the client, each naming the next as its superior;
/// the last names the anchor when `to_anchor` (and the anchor publishes its statement about it)
/// and nothing otherwise. Returns the documents and the client's Entity Configuration.
fn line_of_intermediates(
    f: &Federation,
    length: usize,
    to_anchor: bool,
) -> (Arc<Published>, String) {
    let published = Arc::new(Published::default());
    let line: Vec<Entity> = (0..length)
        .map(|n| entity(&format!("https://int{n}.fed.example")))
        .collect();
    for (n, authority) in line.iter().enumerate() {
        let below = if n == 0 { &f.client } else { &line[n - 1] };
        let above = match line.get(n + 1) {
            Some(next) => vec![next.id.as_str()],
            None if to_anchor => vec![f.anchor.id.as_str()],
            None => Vec::new(),
        };
        published.authority(authority, &above, below, json!({}));
    }
    if let (true, Some(last)) = (to_anchor, line.last()) {
        published.authority(&f.anchor, &[], last, json!({}));
    }
    let configuration = sign(
        &f.client,
        &about(
            &f.client,
            &f.client,
            json!({ "aud": SERVER, "authority_hints": [line[0].id], "metadata": { RP: rp_metadata() } }),
        ),
    );
    (published, configuration)
}

#[tokio::test]
async fn resolution_stops_at_the_chain_depth() {
    // Nine intermediates: none reaches the anchor within eight statements.
    let f = federation();
    let (published, configuration) = line_of_intermediates(&f, 9, false);
    let registrar = resolving(&f, published.clone(), 40);
    refused(
        registrar
            .register_federated(&[configuration], &RequestContext::new())
            .await,
        ErrorCode::InvalidTrustChain,
        "within 8 statements",
    );
    // It stopped at the bound: two fetches for each of the seven superiors it could use.
    assert_eq!(published.fetched.lock().unwrap().len(), 14);
}

#[tokio::test]
async fn resolution_reaches_an_anchor_at_the_chain_depth() {
    // Six intermediates and the anchor: eight statements with the client's configuration, the
    // longest chain the rules allow.
    let f = federation();
    let (published, configuration) = line_of_intermediates(&f, 6, true);
    let registrar = resolving(&f, published, 40);
    let registered = registrar
        .register_federated(&[configuration], &RequestContext::new())
        .await
        .unwrap();
    let stored = registrar
        .store()
        .get(&registered.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.federation.unwrap().trust_chain.len(), 8);
}
