//! The host's registration hook: its refusals reach the client with the code it names, what it
//! adjusts is validated again, and it sees the request context on registration and on update.

mod common;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::*;
use oauth_dcr::events::{HookContext, Operation, RegistrationHook};
use oauth_dcr::{
    ClientMetadata, ClientStore, ErrorCode, RedirectUri, RegistrationError, RequestContext,
};
use serde_json::{json, Value};

#[tokio::test]
async fn a_hook_refusal_reaches_the_client() {
    let fx = Server::configured(|r| r.with_hook(Arc::new(NoBanks(None))));
    let body = json!({ "redirect_uris": [REDIRECT], "client_name": "Totally A Bank" });
    let err = fx.refuse(&body).await;
    let reply = assert_error(err, 400, "invalid_client_metadata");
    assert_eq!(reply.description(), "client_name must not name a bank");
    assert_eq!(fx.store.len(), 0);

    // Through the HTTP adapter.
    let reply = fx
        .handle(post(
            "application/json",
            None,
            serde_json::to_vec(&body).unwrap(),
        ))
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "invalid_client_metadata");
    assert_eq!(reply.description(), "client_name must not name a bank");

    fx.register(&named_web_client()).await;
    assert_eq!(fx.store.len(), 1);
}

#[tokio::test]
async fn a_hook_refusal_can_name_another_rfc_code() {
    for (code, wire) in [
        (ErrorCode::InvalidRedirectUri, "invalid_redirect_uri"),
        (
            ErrorCode::UnapprovedSoftwareStatement,
            "unapproved_software_statement",
        ),
    ] {
        let fx = Server::configured(|r| r.with_hook(Arc::new(NoBanks(Some(code)))));
        let reply = assert_error(fx.refuse(&named_web_client()).await, 400, wire);
        assert_eq!(reply.description(), "refused by policy");
        assert_eq!(fx.store.len(), 0);
    }
}

/// A change a hook makes to the metadata.
type Change = fn(&mut ClientMetadata);

/// Applies a change to the metadata.
struct Adjust(Change);

#[async_trait]
impl RegistrationHook for Adjust {
    async fn check(
        &self,
        metadata: &mut ClientMetadata,
        _context: &HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        (self.0)(metadata);
        Ok(())
    }
}

#[tokio::test]
async fn a_hook_can_adjust_metadata() {
    let fx = Server::configured(|r| {
        r.with_hook(Arc::new(Adjust(|m| {
            m.client_name = Some(format!(
                "{} (unverified)",
                m.client_name.as_deref().unwrap_or("")
            ));
            m.contacts = Some(vec!["dcr-review@as.example".into()]);
        })))
    });
    let client = fx.register(&named_web_client()).await;
    assert_eq!(
        client.metadata.client_name.as_deref(),
        Some("App (unverified)")
    );
    let record = fx.store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(
        record.metadata.contacts,
        Some(vec!["dcr-review@as.example".to_owned()])
    );
}

#[tokio::test]
async fn metadata_a_hook_adjusted_is_validated_again() {
    let cases: [(Change, &str); 3] = [
        (
            |m| m.redirect_uris = Some(vec![RedirectUri::new("javascript:alert(1)")]),
            "invalid_redirect_uri",
        ),
        (
            |m| m.redirect_uris = Some(vec![RedirectUri::new("https://app.example/cb#frag")]),
            "invalid_redirect_uri",
        ),
        (
            |m| m.logo_uri = Some("http://app.example/logo.png".into()),
            "invalid_client_metadata",
        ),
    ];
    for (change, code) in cases {
        let fx = Server::configured(|r| r.with_hook(Arc::new(Adjust(change))));
        assert_error(fx.refuse(&named_web_client()).await, 400, code);
        assert_eq!(fx.store.len(), 0);
    }
}

/// What a hook saw.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    operation: Operation,
    client_id: Option<String>,
    remote_addr: Option<IpAddr>,
    token_subject: Option<String>,
    token_scopes: Vec<String>,
    statement_issuer: Option<String>,
    software_id_claim: Option<Value>,
}

#[derive(Default)]
struct Watch(Mutex<Vec<Seen>>);

#[async_trait]
impl RegistrationHook for Watch {
    async fn check(
        &self,
        _metadata: &mut ClientMetadata,
        context: &HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        self.0.lock().unwrap().push(Seen {
            operation: context.operation,
            client_id: context.client_id.map(str::to_owned),
            remote_addr: context.request.remote_addr,
            token_subject: context.initial_token.and_then(|g| g.subject.clone()),
            token_scopes: context
                .initial_token
                .map(|g| g.scopes.clone())
                .unwrap_or_default(),
            statement_issuer: context.statement.map(|s| s.issuer.clone()),
            software_id_claim: context
                .statement
                .and_then(|s| s.claims.get("software_id").cloned()),
        });
        Ok(())
    }
}

#[tokio::test]
async fn the_hook_sees_the_request_context() {
    let watch = Arc::new(Watch::default());
    let tokens = Arc::new(HostTokens::default().with("iat", bootstrap(), None));
    let fx = Server::configured(|r| {
        r.require_initial_token(tokens, Some("register"))
            .with_software_statements(trusting_issuer())
            .with_hook(watch.clone())
    });
    let peer: IpAddr = "203.0.113.7".parse().unwrap();
    let statement = issuer_jws("RS256", &statement_claims(fx.now()));
    let context = bearer("iat").with_remote_addr(peer);
    let client = fx
        .register_with(&body_with(&statement), &context)
        .await
        .unwrap();

    let update = json!({ "client_id": client.client_id, "redirect_uris": [REDIRECT] });
    fx.update_with(
        &client.client_id,
        Some(&token(&client)),
        &update,
        &RequestContext::new().with_remote_addr(peer),
    )
    .await
    .unwrap();

    let seen = watch.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            Seen {
                operation: Operation::Register,
                client_id: None,
                remote_addr: Some(peer),
                token_subject: Some("bootstrap".into()),
                token_scopes: vec!["register".into()],
                statement_issuer: Some(ISSUER.into()),
                software_id_claim: Some(json!("4NRB1-0XZABZI9E6-5SM3R")),
            },
            // On update, the hook sees the grant the client registered with and the client's
            // statement, which bind the update as they bound the registration (issue 14, A2/A4).
            Seen {
                operation: Operation::Update,
                client_id: Some(client.client_id.clone()),
                remote_addr: Some(peer),
                token_subject: Some("bootstrap".into()),
                token_scopes: vec!["register".into()],
                statement_issuer: Some(ISSUER.into()),
                software_id_claim: Some(json!("4NRB1-0XZABZI9E6-5SM3R")),
            },
        ]
    );
}
