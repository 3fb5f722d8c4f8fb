//! The `ClientStore` contract as `MemoryStore` implements it: create refuses a duplicate
//! identifier, update and delete compare-and-set on the version (a stale version is a conflict,
//! never a silent overwrite), and the registration token index follows every write.

use oauth_dcr::{
    ClientMetadata, ClientRecord, ClientStore, MemoryStore, Origin, RegistrationAccessToken,
    StoreError, StoredToken,
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

fn hash(token: &str) -> oauth_dcr::SecretHash {
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
