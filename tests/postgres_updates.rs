//! PostgreSQL keeps what binds a client's updates (issue 14, A2): the grant of the initial access
//! token the client registered with survives the store, its restrictions refuse an update that
//! would widen them, and a record written without the grant reads as unrestricted.

#![cfg(feature = "postgres")]

mod pg;

mod common;
use common::Bytes;
use std::sync::Arc;

use async_trait::async_trait;
use oauth_dcr::initial_tokens::{InitialAccessGrant, InitialTokenVerifier};
use oauth_dcr::{ClientStore, Registrar, RequestContext, ServerPolicy, StoreError};
use serde_json::json;

/// Knows one token, `partner`, allowed redirect URIs on `app.example` and the scope `openid`.
struct Partner;

#[async_trait]
impl InitialTokenVerifier for Partner {
    async fn verify(&self, token: &str) -> Result<Option<InitialAccessGrant>, StoreError> {
        Ok((token == "partner").then(|| {
            InitialAccessGrant::with_scopes(["register"])
                .subject("partner")
                .allowed_scopes(["openid"])
                .redirect_hosts(["app.example"])
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_initial_tokens_restrictions_bind_updates_on_postgres() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let store = Arc::new(db.store(2).await);
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        store.clone(),
    )
    .require_initial_token(Arc::new(Partner), Some("register"));
    let body = json!({ "redirect_uris": ["https://app.example/cb"], "scope": "openid" });
    let client = registrar
        .register_bytes(
            body.to_string().as_bytes(),
            &RequestContext::new().with_initial_access_token("partner"),
        )
        .await
        .unwrap();
    let stored = store.get(&client.client_id).await.unwrap().unwrap();
    let grant = stored.initial_grant.clone().expect("the grant is stored");
    assert_eq!(grant.subject.as_deref(), Some("partner"));
    assert_eq!(grant.redirect_hosts, Some(vec!["app.example".to_owned()]));

    let update = json!({
        "client_id": client.client_id,
        "redirect_uris": ["https://evil.example/cb"],
        "scope": "openid",
    });
    let err = registrar
        .update_bytes(
            &client.client_id,
            Some(
                client
                    .registration_access_token
                    .as_ref()
                    .expect("a registration access token")
                    .secret(),
            ),
            update.to_string().as_bytes(),
            &RequestContext::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "invalid_redirect_uri");
    assert_eq!(store.get(&client.client_id).await.unwrap().unwrap(), stored);
    db.drop().await;
}

/// A row written before the grant was kept (its JSON record has no `initial_grant`) reads as a
/// client without restrictions: the change needs no migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_stored_without_a_grant_reads_as_unrestricted() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let store = db.store(2).await;
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        Arc::new(store.clone()),
    )
    .require_initial_token(Arc::new(Partner), Some("register"));
    let client = registrar
        .register_bytes(
            br#"{"redirect_uris":["https://app.example/cb"]}"#,
            &RequestContext::new().with_initial_access_token("partner"),
        )
        .await
        .unwrap();
    let (sql, connection) = tokio_postgres::connect(
        &std::env::var("DATABASE_URL").unwrap(),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    sql.execute(
        &format!(
            "UPDATE {}.dcr_clients SET record = record - 'initial_grant' WHERE client_id = $1",
            db.schema
        ),
        &[&client.client_id],
    )
    .await
    .unwrap();
    let stored = store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(stored.initial_grant, None);
    let update = json!({
        "client_id": client.client_id,
        "redirect_uris": ["https://elsewhere.example/cb"],
    });
    registrar
        .update_bytes(
            &client.client_id,
            Some(
                client
                    .registration_access_token
                    .as_ref()
                    .expect("a registration access token")
                    .secret(),
            ),
            update.to_string().as_bytes(),
            &RequestContext::new(),
        )
        .await
        .expect("no restrictions were stored");
    db.drop().await;
}
