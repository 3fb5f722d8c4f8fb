//! The `ClientStore` contract as `MemoryStore` implements it: create refuses a duplicate
//! identifier, update and delete compare-and-set on the version (a stale version is a conflict,
//! never a silent overwrite), and the registration token index follows every write. And the
//! capabilities: a registrar whose policy needs one the store does not declare is refused when
//! it is built, never at request time.

mod common;
use common::{Bytes, MinimalStore};
use std::error::Error as _;
use std::sync::Arc;

use oauth_dcr::store::{Capability, MissingCapability};
use oauth_dcr::store::{Origin, StoredToken};
use oauth_dcr::{
    ClientMetadata, ClientRecord, ClientStore, MemoryStore, Registrar, RegistrationAccessToken,
    RegistrationError, RequestContext, ServerPolicy, StoreError,
};
use time::OffsetDateTime;

fn record(client_id: &str, token: &str) -> ClientRecord {
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let mut record = ClientRecord::new(client_id, ClientMetadata::default(), Origin::Dynamic, now);
    record.registration_token = Some(StoredToken {
        hash: RegistrationAccessToken::new(token).hash(),
        expires_at: None,
    });
    record
}

fn hash(token: &str) -> oauth_dcr::store::SecretHash {
    RegistrationAccessToken::new(token).hash()
}

#[tokio::test]
async fn create_refuses_a_duplicate_client_id() {
    let store = MemoryStore::new();
    store.create(&record("c1", "t1")).await.unwrap();
    let mut duplicate = record("c1", "t2");
    duplicate.metadata.client_name = Some("Impostor".to_owned());
    assert!(matches!(
        store.create(&duplicate).await,
        Err(StoreError::Conflict)
    ));
    let stored = store.get("c1").await.unwrap().unwrap();
    assert_eq!(stored.metadata.client_name, None);
    assert!(store
        .find_by_registration_token(&hash("t2"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn update_with_the_current_version_succeeds_and_increments_it() {
    let store = MemoryStore::new();
    store.create(&record("c1", "t1")).await.unwrap();
    let mut next = store.get("c1").await.unwrap().unwrap();
    next.metadata.client_name = Some("Renamed".to_owned());
    store.update(&next).await.unwrap();
    let stored = store.get("c1").await.unwrap().unwrap();
    assert_eq!(stored.version, next.version + 1);
    assert_eq!(stored.metadata.client_name.as_deref(), Some("Renamed"));
}

#[tokio::test]
async fn update_with_a_stale_version_is_a_conflict_and_changes_nothing() {
    let store = MemoryStore::new();
    store.create(&record("c1", "t1")).await.unwrap();
    let read_first = store.get("c1").await.unwrap().unwrap();
    let mut winner = read_first.clone();
    winner.metadata.client_name = Some("Winner".to_owned());
    store.update(&winner).await.unwrap();

    let mut loser = read_first;
    loser.metadata.client_name = Some("Loser".to_owned());
    assert!(matches!(
        store.update(&loser).await,
        Err(StoreError::Conflict)
    ));
    let stored = store.get("c1").await.unwrap().unwrap();
    assert_eq!(stored.metadata.client_name.as_deref(), Some("Winner"));
}

#[tokio::test]
async fn update_and_delete_of_an_unknown_client_are_not_found() {
    let store = MemoryStore::new();
    assert!(matches!(
        store.update(&record("ghost", "t")).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete("ghost", 0).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn delete_with_a_stale_version_is_a_conflict() {
    let store = MemoryStore::new();
    store.create(&record("c1", "t1")).await.unwrap();
    let stale = store.get("c1").await.unwrap().unwrap();
    store.update(&stale).await.unwrap();
    assert!(matches!(
        store.delete("c1", stale.version).await,
        Err(StoreError::Conflict)
    ));
    assert!(store.get("c1").await.unwrap().is_some());
    store.delete("c1", stale.version + 1).await.unwrap();
    assert!(store.get("c1").await.unwrap().is_none());
}

#[tokio::test]
async fn the_token_index_follows_rotation_and_deletion() {
    let store = MemoryStore::new();
    store.create(&record("c1", "t1")).await.unwrap();
    let found = store.find_by_registration_token(&hash("t1")).await.unwrap();
    assert_eq!(found.map(|r| r.client_id).as_deref(), Some("c1"));

    let mut rotated = store.get("c1").await.unwrap().unwrap();
    rotated.registration_token = Some(StoredToken {
        hash: hash("t2"),
        expires_at: None,
    });
    store.update(&rotated).await.unwrap();
    assert!(store
        .find_by_registration_token(&hash("t1"))
        .await
        .unwrap()
        .is_none());
    let found = store.find_by_registration_token(&hash("t2")).await.unwrap();
    assert_eq!(found.map(|r| r.client_id).as_deref(), Some("c1"));

    store.delete("c1", rotated.version + 1).await.unwrap();
    assert!(store
        .find_by_registration_token(&hash("t2"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_token_hash_belongs_to_one_client_only() {
    let store = MemoryStore::new();
    store.create(&record("c1", "shared")).await.unwrap();
    assert!(matches!(
        store.create(&record("c2", "shared")).await,
        Err(StoreError::Conflict)
    ));
    store.create(&record("c2", "own")).await.unwrap();
    let mut stealing = store.get("c2").await.unwrap().unwrap();
    stealing.registration_token = Some(StoredToken {
        hash: hash("shared"),
        expires_at: None,
    });
    assert!(matches!(
        store.update(&stealing).await,
        Err(StoreError::Conflict)
    ));
    let found = store
        .find_by_registration_token(&hash("shared"))
        .await
        .unwrap();
    assert_eq!(found.map(|r| r.client_id).as_deref(), Some("c1"));
}

const ENDPOINT: &str = "https://as.example/register";

/// Each policy setting that needs a capability, set on a default policy.
fn policies_needing_capabilities() -> Vec<(ServerPolicy, Capability, &'static str)> {
    let mut idempotent = ServerPolicy::new(ENDPOINT);
    idempotent.idempotent_registration = true;
    let mut max_clients = ServerPolicy::new(ENDPOINT);
    max_clients.max_clients = Some(10);
    let mut per_software = ServerPolicy::new(ENDPOINT);
    per_software.max_clients_per_software_id = Some(1);
    let mut ttl = ServerPolicy::new(ENDPOINT);
    ttl.unused_client_ttl = Some(time::Duration::days(1));
    vec![
        (
            idempotent,
            Capability::InstanceIndex,
            "ServerPolicy::idempotent_registration",
        ),
        (
            max_clients,
            Capability::ClientCount,
            "ServerPolicy::max_clients",
        ),
        (
            per_software,
            Capability::ClientCount,
            "ServerPolicy::max_clients_per_software_id",
        ),
        (ttl, Capability::UsageLog, "ServerPolicy::unused_client_ttl"),
    ]
}

#[test]
fn try_new_refuses_a_policy_that_needs_a_capability_the_store_lacks() {
    for (policy, capability, setting) in policies_needing_capabilities() {
        let Err(missing) = Registrar::try_new(policy, Arc::new(MinimalStore::default())) else {
            panic!("{setting} over a store without {capability} must be refused");
        };
        assert_eq!(missing.capability(), capability, "{setting}");
        assert_eq!(missing.needed_by(), setting);
        let message = missing.to_string();
        assert!(
            message.contains(&capability.to_string()) && message.contains(setting),
            "the message names the capability and the setting: {message}"
        );
    }
}

#[test]
fn try_new_accepts_those_policies_over_a_store_with_every_capability() {
    for (policy, _, setting) in policies_needing_capabilities() {
        assert!(
            Registrar::try_new(policy, Arc::new(MemoryStore::new())).is_ok(),
            "{setting} over MemoryStore"
        );
    }
    let plain = Registrar::try_new(
        ServerPolicy::new(ENDPOINT),
        Arc::new(MinimalStore::default()),
    );
    assert!(
        plain.is_ok(),
        "a policy that needs no capability accepts a store with the required methods only"
    );
}

#[test]
#[should_panic(expected = "ServerPolicy::idempotent_registration")]
fn new_panics_at_construction_on_a_missing_capability() {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.idempotent_registration = true;
    let _ = Registrar::new(policy, Arc::new(MinimalStore::default()));
}

/// The host calls that need a `UsageLog` answer an error that names it over a store without
/// one, and change nothing.
#[tokio::test]
async fn record_use_and_reap_over_a_store_without_a_usage_log_are_errors() {
    let store = Arc::new(MinimalStore::default());
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), store.clone());
    let body = br#"{"redirect_uris":["https://app.example/cb"]}"#;
    let client = registrar
        .register_bytes(body, &RequestContext::new())
        .await
        .unwrap();
    let missing = |e: RegistrationError| -> MissingCapability {
        let RegistrationError::Internal(cause) = &e else {
            panic!("an internal error, not {e:?}");
        };
        assert_eq!(e.status(), 500);
        let source = e.source().map(|s| s.to_string());
        assert_eq!(
            source,
            Some(cause.to_string()),
            "the cause is the error's source"
        );
        cause
            .downcast_ref::<MissingCapability>()
            .cloned()
            .unwrap_or_else(|| panic!("the cause is the missing capability: {e:?}"))
    };
    let used = missing(registrar.record_use(&client.client_id).await.unwrap_err());
    assert_eq!(used.capability(), Capability::UsageLog);
    assert_eq!(used.needed_by(), "Registrar::record_use");
    let reaped = missing(registrar.reap(10).await.unwrap_err());
    assert_eq!(reaped.capability(), Capability::UsageLog);
    assert_eq!(reaped.needed_by(), "Registrar::reap");
    let stored = store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(stored.last_used, None);
    assert_eq!(stored.version, 0);
}
