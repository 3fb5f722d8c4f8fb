//! The host's switches and declarative limits: registration or management turned off, trusted
//! redirect hosts, and caps on the number of clients.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use oauth_dcr::{ClientStore, MemoryStore, Registrar, RequestContext, ServerPolicy};
use serde_json::json;

// ---- switches ----

#[tokio::test]
async fn registration_switched_off_answers_403_while_management_stays_on() {
    let store = Arc::new(MemoryStore::new());
    let open = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone());
    let body = serde_json::to_vec(&named_web_client()).unwrap();
    let client = open
        .register_bytes(&body, &RequestContext::new())
        .await
        .unwrap();

    let closed = Registrar::new(
        policy_with(|p| p.registration_enabled = false),
        store.clone(),
    );
    let err = closed
        .register_bytes(&body, &RequestContext::new())
        .await
        .unwrap_err();
    assert_error(err, 403, "access_denied");
    assert_eq!(store.len(), 1);

    // Even a registrar demanding a token answers the switch first.
    let tokens = Arc::new(HostTokens::default().with("iat", bootstrap(), None));
    let guarded = closed
        .clone()
        .require_initial_token(tokens, Some("register"));
    let err = guarded
        .register_bytes(&body, &bearer("iat"))
        .await
        .unwrap_err();
    assert_error(err, 403, "access_denied");

    let read = closed
        .read(&client.client_id, Some(&token(&client)))
        .await
        .unwrap();
    let update = json!({ "client_id": client.client_id, "redirect_uris": [REDIRECT], "client_name": "Renamed" });
    let updated = closed
        .update_bytes(
            &client.client_id,
            Some(&token(&read)),
            &serde_json::to_vec(&update).unwrap(),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(updated.metadata.client_name.as_deref(), Some("Renamed"));
    closed
        .delete(&client.client_id, Some(&token(&updated)))
        .await
        .unwrap();
    assert_eq!(store.len(), 0);
}

#[tokio::test]
async fn management_switched_off_answers_403_while_registration_stays_on() {
    let store = Arc::new(MemoryStore::new());
    let registrar = Registrar::new(policy_with(|p| p.management_enabled = false), store.clone());
    let body = serde_json::to_vec(&named_web_client()).unwrap();
    let client = registrar
        .register_bytes(&body, &RequestContext::new())
        .await
        .unwrap();
    assert!(!client.client_id.is_empty());
    let token = token(&client);
    let before = store.get(&client.client_id).await.unwrap().unwrap();

    let err = registrar
        .read(&client.client_id, Some(&token))
        .await
        .unwrap_err();
    assert_error(err, 403, "access_denied");
    let update = json!({ "client_id": client.client_id, "redirect_uris": [REDIRECT], "client_name": "Renamed" });
    let err = registrar
        .update_bytes(
            &client.client_id,
            Some(&token),
            &serde_json::to_vec(&update).unwrap(),
            &RequestContext::new(),
        )
        .await
        .unwrap_err();
    assert_error(err, 403, "access_denied");
    let err = registrar
        .delete(&client.client_id, Some(&token))
        .await
        .unwrap_err();
    assert_error(err, 403, "access_denied");
    assert_eq!(store.get(&client.client_id).await.unwrap().unwrap(), before);

    // The token still works once management is back on.
    let managed = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone());
    managed.read(&client.client_id, Some(&token)).await.unwrap();
}

// ---- declarative limits ----

#[tokio::test]
async fn trusted_redirect_hosts_refuse_other_hosts() {
    let policy = policy_with(|p| {
        p.trusted_redirect_hosts = Some(BTreeSet::from([
            "app.example".into(),
            ".corp.example".into(),
        ]))
    });
    let fx = Server::build(policy, |r| r);
    for uri in [
        "https://app.example/cb",
        "https://corp.example/cb",
        "https://team.corp.example/cb",
    ] {
        fx.register(&json!({ "redirect_uris": [uri] })).await;
    }
    for uri in [
        "https://evil.example/cb",
        "https://app.example.evil.test/cb",
        "https://evilcorp.example/cb",
        "https://corp.example.evil.test/cb",
    ] {
        let err = fx
            .refuse(&json!({ "redirect_uris": [REDIRECT, uri] }))
            .await;
        assert_error(err, 400, "invalid_redirect_uri");
    }
    assert_eq!(fx.store.len(), 3);
}

#[tokio::test]
async fn trusted_redirect_hosts_also_bind_ip_literal_hosts() {
    // An https redirect URI on a public IP address is on none of the trusted hosts.
    let policy =
        policy_with(|p| p.trusted_redirect_hosts = Some(BTreeSet::from(["app.example".into()])));
    let fx = Server::build(policy, |r| r);
    for uri in ["https://203.0.113.5/cb", "https://[2001:db8::1]/cb"] {
        let err = fx.refuse(&json!({ "redirect_uris": [uri] })).await;
        assert_error(err, 400, "invalid_redirect_uri");
    }
    assert_eq!(fx.store.len(), 0);
}

#[tokio::test]
async fn max_clients_caps_the_number_of_registrations() {
    let fx = Server::build(policy_with(|p| p.max_clients = Some(2)), |r| r);
    let first = fx.register(&named_web_client()).await;
    fx.register(&named_web_client()).await;
    let err = fx.refuse(&named_web_client()).await;
    assert_error(err, 400, "invalid_client_metadata");
    assert_eq!(fx.store.len(), 2);

    fx.registrar
        .delete(&first.client_id, Some(&token(&first)))
        .await
        .unwrap();
    fx.register(&named_web_client()).await;
    assert_eq!(fx.store.len(), 2);
}

#[tokio::test]
async fn max_clients_per_software_id_caps_each_software() {
    let fx = Server::build(
        policy_with(|p| p.max_clients_per_software_id = Some(1)),
        |r| r,
    );
    let software = |id: &str| json!({ "redirect_uris": [REDIRECT], "software_id": id });
    fx.register(&software("app-1")).await;
    let err = fx.refuse(&software("app-1")).await;
    assert_error(err, 400, "invalid_client_metadata");
    fx.register(&software("app-2")).await;
    fx.register(&named_web_client()).await;
    fx.register(&named_web_client()).await;
    assert_eq!(fx.store.len(), 4);
}
