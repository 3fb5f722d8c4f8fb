//! UK Open Banking as real clients meet it: the registration request the Open Banking
//! `conformance-dcr` tool builds (`tests/data/uk-open-banking-registration.json`, with the
//! directory's statement `tests/data/uk-open-banking-ssa.json`), sent over HTTP as
//! `application/jose` to [`oauth_dcr::http::handle`].

mod common;

use std::sync::Arc;

use common::*;
use oauth_dcr::profiles::OpenBanking;
use oauth_dcr::statements::StaticKeySource;
use oauth_dcr::{ClientStore, RequestContext};
use serde_json::{json, Value};

/// The ASPSP's issuer and its organisation identifier in the directory (the request's `aud`).
const AS_ISSUER: &str = "https://as.bank.example";
const ASPSP_ORG_ID: &str = "0015800001041REAAY";
/// The directory's name as its statements carry it in `iss`.
const DIRECTORY: &str = "OpenBanking Ltd";

/// The ASPSP's registration endpoint under the preset, over `oauth_dcr::http::handle`, and the
/// directory's key store it fetches the software's keys from.
struct Aspsp {
    server: Server,
    key_store: Arc<KeyStore>,
}

impl Aspsp {
    fn new(ssa: &Value) -> Self {
        let endpoint = ssa["software_jwks_endpoint"].as_str().unwrap().to_owned();
        let key_store = Arc::new(KeyStore::default());
        key_store.publish(&endpoint, jwks_json("client.jwks.json"));
        let directory = StaticKeySource::new().with_issuer(DIRECTORY, jwks("issuer.jwks.json"));
        let server = Server::over(|store| {
            OpenBanking::new(AS_ISSUER, Arc::new(directory), key_store.clone())
                .audience(ASPSP_ORG_ID)
                .registrar(format!("{AS_ISSUER}/register"), store)
        });
        Self { server, key_store }
    }

    async fn post(&self, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let request = post(content_type, None, body);
        let response =
            oauth_dcr::http::handle(&self.server.registrar, request, &RequestContext::new()).await;
        let json = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (response.status().as_u16(), json)
    }
}

/// The request as the conformance tool signs it: ES256 with the software's key, `typ` JWT and
/// the key's `kid` in the header; the statement signed ES256 by the directory.
fn conformance_request(ssa: &Value) -> (Value, Vec<u8>) {
    let statement = issuer_jws("ES256", ssa);
    let mut claims = data_json("uk-open-banking-registration.json");
    claims["software_statement"] = json!(statement);
    let body = client_jws(&claims);
    (claims, body.into_bytes())
}

#[tokio::test]
async fn the_conformance_tools_registration_request_registers_under_the_preset() {
    let ssa = data_json("uk-open-banking-ssa.json");
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
    let stored = aspsp.server.store.get(client_id).await.unwrap().unwrap();
    assert_eq!(stored.statement_issuer.as_deref(), Some(DIRECTORY));
    // The request was verified with the statement's key set, fetched from the directory.
    assert_eq!(
        aspsp.key_store.fetched(),
        [ssa["software_jwks_endpoint"].as_str().unwrap()]
    );
}

/// The same request without `redirect_uris` registers every redirect URI of the statement.
#[tokio::test]
async fn the_conformance_request_without_redirect_uris_gets_the_statements() {
    let ssa = data_json("uk-open-banking-ssa.json");
    let aspsp = Aspsp::new(&ssa);
    let (mut claims, _) = conformance_request(&ssa);
    claims.as_object_mut().unwrap().remove("redirect_uris");
    let body = client_jws(&claims);
    let (status, client) = aspsp.post("application/jose", body.into_bytes()).await;
    assert_eq!(status, 201, "{client}");
    assert_eq!(client["redirect_uris"], ssa["software_redirect_uris"]);
}

/// Signed by a key outside the statement's key set (here, the directory's own ES256 key), the
/// request is refused and nothing is stored.
#[tokio::test]
async fn the_conformance_request_signed_outside_the_statements_key_set_is_refused() {
    let ssa = data_json("uk-open-banking-ssa.json");
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
    assert!(aspsp.server.store.is_empty());
}
