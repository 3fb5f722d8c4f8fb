//! UK Open Banking as real clients meet it: the registration request the Open Banking
//! `conformance-dcr` tool builds (`tests/data/uk-open-banking-registration.json`, with the
//! directory's statement `tests/data/uk-open-banking-ssa.json`), sent over HTTP as
//! `application/jose` to [`oauth_dcr::http::handle`].

mod signing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use oauth_dcr::fetch::{FetchError, FetchLimits, Fetched, Fetcher};
use oauth_dcr::{ClientStore, MemoryStore, OpenBanking, RequestContext, StaticKeySource};
use serde_json::{json, Value};
use signing::*;

/// The ASPSP's issuer and its organisation identifier in the directory (the request's `aud`).
const AS_ISSUER: &str = "https://as.bank.example";
const ASPSP_ORG_ID: &str = "0015800001041REAAY";
/// The directory's name as its statements carry it in `iss`.
const DIRECTORY: &str = "OpenBanking Ltd";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

/// The directory's key store, from memory: each URL's key set, and the URLs fetched.
#[derive(Default)]
struct KeyStore {
    sets: HashMap<String, Value>,
    fetched: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Fetcher for KeyStore {
    async fn fetch(&self, url: &str, _limits: FetchLimits) -> Result<Fetched, FetchError> {
        self.fetched.lock().unwrap().push(url.to_owned());
        let set = self.sets.get(url).ok_or(FetchError::Status(404))?;
        Ok(Fetched::new(set.to_string().into_bytes()))
    }
}

/// The ASPSP's registration endpoint under the preset, over `oauth_dcr::http::handle`.
struct Aspsp {
    registrar: oauth_dcr::Registrar,
    store: Arc<MemoryStore>,
    key_store: Arc<KeyStore>,
}

impl Aspsp {
    fn new(ssa: &Value) -> Self {
        let endpoint = ssa["software_jwks_endpoint"].as_str().unwrap().to_owned();
        let key_store = Arc::new(KeyStore {
            sets: HashMap::from([(endpoint, jwks_json("client.jwks.json"))]),
            ..KeyStore::default()
        });
        let directory = StaticKeySource::new().with_issuer(DIRECTORY, jwks("issuer.jwks.json"));
        let store = Arc::new(MemoryStore::new());
        let registrar = OpenBanking::new(AS_ISSUER, Arc::new(directory), key_store.clone())
            .audience(ASPSP_ORG_ID)
            .registrar(format!("{AS_ISSUER}/register"), store.clone())
            .with_clock(Arc::new(ManualClock::new()));
        Self {
            registrar,
            store,
            key_store,
        }
    }

    async fn post(&self, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let request = http::Request::post("/register")
            .header("content-type", content_type)
            .body(body)
            .unwrap();
        let response =
            oauth_dcr::http::handle(&self.registrar, request, &RequestContext::new()).await;
        let json = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (response.status().as_u16(), json)
    }
}

/// The request as the conformance tool signs it: ES256 with the software's key, `typ` JWT and
/// the key's `kid` in the header; the statement signed ES256 by the directory.
fn conformance_request(ssa: &Value) -> (Value, Vec<u8>) {
    let statement = issuer_jws("ES256", ssa);
    let mut claims = fixture("uk-open-banking-registration.json");
    claims["software_statement"] = json!(statement);
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "client-es256" });
    let body = jws(
        &header,
        &claims,
        signer("ES256", "client-es256.pem").as_ref(),
    );
    (claims, body.into_bytes())
}

#[tokio::test]
async fn the_conformance_tools_registration_request_registers_under_the_preset() {
    let ssa = fixture("uk-open-banking-ssa.json");
    let aspsp = Aspsp::new(&ssa);
    let (sent, body) = conformance_request(&ssa);
    // The fixture is the shape the tool sends: no `jwks_uri`, `code id_token` without
    // `implicit`, ES256, addressed to the organisation id.
    assert!(sent.get("jwks_uri").is_none());
    assert_eq!(sent["aud"], ASPSP_ORG_ID);

    let (status, client) = aspsp.post("application/jose", body).await;
    assert_eq!(status, 201, "{client}");
    assert_eq!(client["jwks_uri"], ssa["software_jwks_endpoint"]);
    assert_eq!(
        client["redirect_uris"],
        json!(["https://tpp.example.com/callback"])
    );
    assert_eq!(client["response_types"], json!(["code id_token"]));
    assert_eq!(
        client["grant_types"],
        json!(["authorization_code", "client_credentials"])
    );
    assert_eq!(client["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(client["token_endpoint_auth_signing_alg"], "ES256");
    assert_eq!(client["id_token_signed_response_alg"], "ES256");
    assert_eq!(client["scope"], "accounts openid");
    assert_eq!(client["software_id"], ssa["software_id"]);
    assert!(
        client.get("registration_access_token").is_none(),
        "{client}"
    );
    let client_id = client["client_id"].as_str().unwrap();
    let stored = aspsp.store.get(client_id).await.unwrap().unwrap();
    assert_eq!(stored.statement_issuer.as_deref(), Some(DIRECTORY));
    // The request was verified with the statement's key set, fetched from the directory.
    assert_eq!(
        *aspsp.key_store.fetched.lock().unwrap(),
        [ssa["software_jwks_endpoint"].as_str().unwrap()]
    );
}

/// The same request without `redirect_uris` registers every redirect URI of the statement.
#[tokio::test]
async fn the_conformance_request_without_redirect_uris_gets_the_statements() {
    let ssa = fixture("uk-open-banking-ssa.json");
    let aspsp = Aspsp::new(&ssa);
    let (mut claims, _) = conformance_request(&ssa);
    claims.as_object_mut().unwrap().remove("redirect_uris");
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "client-es256" });
    let body = jws(
        &header,
        &claims,
        signer("ES256", "client-es256.pem").as_ref(),
    );
    let (status, client) = aspsp.post("application/jose", body.into_bytes()).await;
    assert_eq!(status, 201, "{client}");
    assert_eq!(client["redirect_uris"], ssa["software_redirect_uris"]);
}

/// Signed by a key outside the statement's key set (here, the directory's own ES256 key), the
/// request is refused and nothing is stored.
#[tokio::test]
async fn the_conformance_request_signed_outside_the_statements_key_set_is_refused() {
    let ssa = fixture("uk-open-banking-ssa.json");
    let aspsp = Aspsp::new(&ssa);
    let (claims, _) = conformance_request(&ssa);
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "issuer-es256" });
    let body = jws(
        &header,
        &claims,
        signer("ES256", "issuer-es256.pem").as_ref(),
    );
    let (status, error) = aspsp.post("application/jose", body.into_bytes()).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"], "invalid_request");
    assert!(aspsp.store.is_empty());
}
