//! Admin operations on every shipped store: `Registrar::reissue_registration_token` (the support
//! path after reuse detection or a lost token) and `Registrar::list_clients` (the admin view of
//! registered clients, with their provenance). `MemoryStore` always, `SqliteStore` with the
//! `sqlite` feature, `PostgresStore` with `DATABASE_URL` (required when `CI=true`).

mod common;

use std::error::Error as _;
use std::sync::Arc;

use common::{token, Bytes, MinimalStore, Recorder};
use oauth_dcr::events::Operation;
use oauth_dcr::initial_tokens::{InitialTokenStore, IssuedInitialTokens};
use oauth_dcr::store::{Capability, ListQuery, MissingCapability, Origin, SecretHash, StoredToken};
use oauth_dcr::{
    ClientMetadata, ClientRecord, ClientStore, ErrorCode, MemoryStore, Registrar,
    RegistrationError, RequestContext, ServerPolicy, StoreError,
};

const BODY: &[u8] = br#"{"redirect_uris":["https://app.example/cb"],"client_name":"Support case"}"#;

fn registrar(store: Arc<dyn ClientStore>, events: Arc<Recorder>) -> Registrar {
    Registrar::new(ServerPolicy::new("https://as.example/register"), store).with_event_sink(events)
}

/// After reuse detection revoked the client's token, the reissued token (and only it) manages
/// the client again; the stored record keeps no earlier token; the event names the actor.
async fn reissue_after_reuse_detection(store: Arc<dyn ClientStore>) {
    let events = Arc::new(Recorder::default());
    let registrar = registrar(store.clone(), events.clone());
    let client = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .expect("register");
    let id = client.client_id.as_str();
    let first = token(&client);
    let second = token(&registrar.read(id, Some(&first)).await.expect("read"));
    // The rotated-away token comes back: reuse. The current one is revoked with it.
    assert_eq!(
        registrar.read(id, Some(&first)).await.unwrap_err().status(),
        401
    );
    assert_eq!(
        registrar
            .read(id, Some(&second))
            .await
            .unwrap_err()
            .status(),
        401,
        "reuse detection revoked the current token"
    );
    let before = store.get(id).await.expect("get").expect("stored");
    assert!(before.registration_token.is_none());

    let reissued = registrar
        .reissue_registration_token(id, Some("support:alice"))
        .await
        .expect("reissue");
    assert_eq!(reissued.client_id, id);
    assert_eq!(
        reissued.metadata.client_name.as_deref(),
        Some("Support case")
    );
    assert!(
        reissued.client_secret.is_none(),
        "a hashed secret is never shown again"
    );
    assert!(reissued.registration_client_uri.ends_with(id));
    let third = token(&reissued);
    let stored = store.get(id).await.expect("get").expect("stored");
    assert_eq!(
        stored.registration_token.as_ref().map(|t| t.hash),
        Some(SecretHash::of(&third))
    );
    assert!(stored.previous_token.is_none() && stored.retired_tokens.is_empty());
    assert_eq!(stored.version, before.version + 1);

    for old in [&first, &second] {
        assert_eq!(
            registrar.read(id, Some(old)).await.unwrap_err().status(),
            401,
            "no token from before the reissue works"
        );
    }
    let fourth = token(
        &registrar
            .read(id, Some(&third))
            .await
            .expect("the reissued token works, after old ones were tried"),
    );
    registrar
        .read(id, Some(&fourth))
        .await
        .expect("and rotates as any token");

    let reissue: Vec<_> = events
        .all()
        .into_iter()
        .filter(|e| e.operation == Operation::Reissue)
        .collect();
    assert_eq!(reissue.len(), 1, "{reissue:?}");
    assert_eq!(reissue[0].actor.as_deref(), Some("support:alice"));
    assert_eq!(reissue[0].client_id.as_deref(), Some(id));
    assert_eq!(reissue[0].refused, None);
    assert_eq!(reissue[0].provenance.origin, Some(Origin::Dynamic));
    assert!(reissue[0].changed.is_empty());
    let others_have_no_actor = events
        .all()
        .iter()
        .filter(|e| e.operation != Operation::Reissue)
        .all(|e| e.actor.is_none());
    assert!(others_have_no_actor);
}

/// A lost token: the reissue replaces a token that still works, and the lost one is dead.
async fn reissue_of_a_lost_token(store: Arc<dyn ClientStore>) {
    let events = Arc::new(Recorder::default());
    let registrar = registrar(store.clone(), events.clone());
    let client = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .expect("register");
    let lost = token(&client);
    let fresh = token(
        &registrar
            .reissue_registration_token(&client.client_id, None)
            .await
            .expect("reissue"),
    );
    assert_eq!(
        registrar
            .read(&client.client_id, Some(&lost))
            .await
            .unwrap_err()
            .status(),
        401
    );
    registrar
        .read(&client.client_id, Some(&fresh))
        .await
        .expect("the lost token's presentation did not revoke the new one");
    let reissue = events
        .all()
        .into_iter()
        .find(|e| e.operation == Operation::Reissue)
        .expect("an event");
    assert_eq!(reissue.actor, None);
}

/// What cannot be reissued: an unknown client (a store `NotFound`, for a 404), a client the
/// administrators created (403), and anything on a server that issues no tokens (403). Each
/// refusal is an event with its code and the actor.
async fn refused_reissues(store: Arc<dyn ClientStore>) {
    let events = Arc::new(Recorder::default());
    let registrar = registrar(store.clone(), events.clone());
    let err = registrar
        .reissue_registration_token("no-such-client", Some("support:bob"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistrationError::Store(StoreError::NotFound)),
        "{err:?}"
    );

    let mut admin = ClientRecord::new(
        uuid::Uuid::new_v4().to_string(),
        ClientMetadata::default(),
        Origin::Administrator,
        time::OffsetDateTime::now_utc(),
    );
    admin.registration_token = Some(StoredToken {
        hash: SecretHash::of("an administrator's own token"),
        expires_at: None,
    });
    store.create(&admin).await.expect("create");
    let err = registrar
        .reissue_registration_token(&admin.client_id, Some("support:bob"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(err.code(), ErrorCode::AccessDenied);
    let unchanged = store
        .get(&admin.client_id)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(
        unchanged.version, admin.version,
        "a refused reissue writes nothing"
    );

    let refusals: Vec<_> = events
        .all()
        .into_iter()
        .filter(|e| e.operation == Operation::Reissue)
        .collect();
    assert_eq!(refusals.len(), 2);
    assert_eq!(refusals[0].refused, Some(ErrorCode::ServerError));
    assert_eq!(refusals[1].refused, Some(ErrorCode::AccessDenied));
    assert!(refusals
        .iter()
        .all(|e| e.actor.as_deref() == Some("support:bob")));

    let mut policy = ServerPolicy::new("https://as.example/register");
    policy.registration_access_tokens = false;
    let tokenless = Registrar::new(policy, store.clone());
    let client = tokenless
        .register_bytes(BODY, &RequestContext::new())
        .await
        .expect("register");
    let err = tokenless
        .reissue_registration_token(&client.client_id, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    store
        .delete(&admin.client_id, admin.version)
        .await
        .expect("delete");
}

/// The admin view: clients registered with an initial token of one subject, an administrator's
/// client, paging and the provenance label.
async fn listing<S: ClientStore + InitialTokenStore + 'static>(store: Arc<S>) {
    let subject = format!("partner-{}", uuid::Uuid::new_v4());
    let client_store: Arc<dyn ClientStore> = store.clone();
    let token_store: Arc<dyn InitialTokenStore> = store;
    let tokens = IssuedInitialTokens::new(token_store);
    let (initial, _) = tokens
        .issue(
            oauth_dcr::initial_tokens::InitialAccessGrant::with_scopes(["register"])
                .subject(&subject),
        )
        .await
        .expect("issue");
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        client_store.clone(),
    )
    .require_initial_token(Arc::new(tokens), Some("register"));
    let ctx = RequestContext::new().with_initial_access_token(initial.secret());
    let mut registered = Vec::new();
    for _ in 0..3 {
        let client = registrar
            .register_bytes(BODY, &ctx)
            .await
            .expect("register");
        registered.push(client.client_id.clone());
    }
    let mut admin = ClientRecord::new(
        uuid::Uuid::new_v4().to_string(),
        ClientMetadata::default(),
        Origin::Administrator,
        time::OffsetDateTime::now_utc(),
    );
    admin.metadata.client_name = Some("Back office".to_owned());
    admin.initial_token_subject = Some(subject.clone());
    client_store.create(&admin).await.expect("create");

    let mut query = ListQuery::new()
        .initial_token_subject(subject.as_str())
        .origin(Origin::Dynamic)
        .limit(2);
    let mut listed = Vec::new();
    let mut pages = 0;
    loop {
        let page = registrar.list_clients(&query).await.expect("list");
        pages += 1;
        assert!(page.clients.len() <= 2);
        listed.extend(page.clients);
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    assert_eq!(pages, 2, "three clients at two a page");
    let mut ids: Vec<_> = listed.iter().map(|c| c.client_id.clone()).collect();
    ids.sort();
    registered.sort();
    assert_eq!(ids, registered, "every dynamic client of the subject, once");
    for client in &listed {
        assert_eq!(client.client_name.as_deref(), Some("Support case"));
        assert_eq!(client.origin, Origin::Dynamic);
        assert_eq!(
            client.initial_token_subject.as_deref(),
            Some(subject.as_str())
        );
        assert_eq!(client.statement_issuer, None);
        assert_eq!(
            client.provenance_label(),
            format!("dynamic initial-token:{subject}")
        );
    }

    let admins = registrar
        .list_clients(
            &ListQuery::new()
                .initial_token_subject(subject.as_str())
                .origin(Origin::Administrator),
        )
        .await
        .expect("list");
    assert_eq!(admins.clients.len(), 1);
    assert_eq!(admins.clients[0].client_id, admin.client_id);
    assert_eq!(
        admins.clients[0].provenance_label(),
        format!("administrator initial-token:{subject}")
    );
    assert_eq!(admins.next, None);

    // A cursor travels as text (a query string's `after=`).
    let first = registrar
        .list_clients(
            &ListQuery::new()
                .initial_token_subject(subject.as_str())
                .limit(1),
        )
        .await
        .expect("list");
    let text = first.next.expect("more than one").to_string();
    let json = serde_json::json!({
        "initial_token_subject": subject,
        "after": text,
        "limit": 10,
    });
    let query: ListQuery = serde_json::from_value(json).expect("a query");
    let rest = registrar.list_clients(&query).await.expect("list");
    assert_eq!(
        rest.clients.len(),
        3,
        "four clients of the subject, one before"
    );
    assert!(rest
        .clients
        .iter()
        .all(|c| c.client_id != first.clients[0].client_id));
}

/// Every admin check on `store`, a client store and an initial-token store as every shipped one
/// is.
async fn every_admin_operation<S: ClientStore + InitialTokenStore + 'static>(store: Arc<S>) {
    reissue_after_reuse_detection(store.clone()).await;
    reissue_of_a_lost_token(store.clone()).await;
    refused_reissues(store.clone()).await;
    listing(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_operations_on_the_memory_store() {
    every_admin_operation(Arc::new(MemoryStore::new())).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_operations_on_the_sqlite_store() {
    let path = std::env::temp_dir().join(format!("oauth-dcr-admin-{}.db", uuid::Uuid::new_v4()));
    let store = oauth_dcr::store::SqliteStore::open(&path)
        .await
        .expect("open");
    every_admin_operation(Arc::new(store)).await;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

#[cfg(feature = "postgres")]
mod pg;

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_operations_on_the_postgres_store() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    every_admin_operation(Arc::new(db.store(4).await)).await;
    db.drop().await;
}

/// A store without the listing capability: `list_clients` answers an internal error whose
/// source names the capability and the call.
#[tokio::test]
async fn listing_on_a_store_without_the_capability_names_it() {
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        Arc::new(MinimalStore::default()),
    );
    let err = registrar.list_clients(&ListQuery::new()).await.unwrap_err();
    assert_eq!(err.status(), 500);
    let missing = err
        .source()
        .and_then(|s| s.downcast_ref::<MissingCapability>())
        .expect("the source is the missing capability");
    assert_eq!(missing.capability(), Capability::ClientListing);
    assert_eq!(missing.needed_by(), "Registrar::list_clients");
    // The reissue needs no capability.
    let client = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .expect("register");
    registrar
        .reissue_registration_token(&client.client_id, None)
        .await
        .expect("reissue on a bare store");
}
