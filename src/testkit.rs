//! A conformance kit for stores (feature `test-kit`): run it from your own tests to prove that
//! your [`ClientStore`], [`InitialTokenStore`] or [`ReplayGuard`] keeps the contract the
//! registrar relies on. It panics with a message naming the broken rule.
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn my_store_conforms() {
//!     let store = std::sync::Arc::new(MyStore::connect_for_tests().await);
//!     oauth_dcr::testkit::check_client_store(store.clone()).await;
//!     oauth_dcr::testkit::check_initial_token_store(store.clone()).await;
//!     oauth_dcr::testkit::check_replay_guard(store).await;
//! }
//! ```
//!
//! The checks use fresh random identifiers, so they can run against a store that holds other
//! data; they need a multi-threaded tokio runtime for the concurrency checks.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::access::{InitialTokenStore, IssuedToken};
use crate::metadata::ClientMetadata;
use crate::secret::RegistrationAccessToken;
use crate::statements::ReplayGuard;
use crate::store::{ClientRecord, ClientStore, Origin, StoreError, StoredToken};

/// How many tasks race in the concurrency checks.
const RACERS: usize = 16;

fn now() -> OffsetDateTime {
    // Whole seconds: stores may keep timestamps at second precision.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

fn token(expires_at: Option<OffsetDateTime>) -> (String, StoredToken) {
    let raw =
        crate::credentials::random_token().unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
    let stored = StoredToken {
        hash: RegistrationAccessToken::new(raw.as_str()).hash(),
        expires_at,
    };
    (raw, stored)
}

/// A fresh client record with a random id and software id and a registration token.
fn record() -> ClientRecord {
    let mut metadata = ClientMetadata {
        client_name: Some("conformance".to_owned()),
        software_id: Some(uuid::Uuid::new_v4().to_string()),
        ..ClientMetadata::default()
    };
    metadata.set_localized("client_name", "fr", "conformité");
    let mut record = ClientRecord::new(
        uuid::Uuid::new_v4().to_string(),
        metadata,
        Origin::Dynamic,
        now(),
    );
    record.registration_token = Some(token(Some(now() + Duration::days(30))).1);
    record
}

fn same_record(a: &ClientRecord, b: &ClientRecord, what: &str) {
    let mut b = b.clone();
    b.version = a.version;
    assert_eq!(
        *a, b,
        "{what}: the stored record differs from what was written"
    );
}

/// Checks create / get / find by token / update / delete semantics, duplicate refusal, stale
/// versions, token uniqueness, concurrent rotation (exactly one winner), counting and the
/// preservation of expiry timestamps.
///
/// # Panics
/// When the store breaks a rule; the message names it.
pub async fn check_client_store(store: Arc<dyn ClientStore>) {
    create_get_delete(store.as_ref()).await;
    versions(store.as_ref()).await;
    token_index(store.as_ref()).await;
    concurrent_rotation(store.clone()).await;
    counting(store.as_ref()).await;
}

async fn create_get_delete(store: &dyn ClientStore) {
    let rec = record();
    store.create(&rec).await.expect("create a new client");
    let got = store
        .get(&rec.client_id)
        .await
        .expect("get")
        .expect("the created client is found");
    same_record(&rec, &got, "create then get");
    assert!(
        matches!(store.create(&rec).await, Err(StoreError::Conflict)),
        "a duplicate client_id must be refused with Conflict"
    );
    assert!(
        store
            .get(&uuid::Uuid::new_v4().to_string())
            .await
            .expect("get")
            .is_none(),
        "an unknown client is None"
    );
    assert!(
        matches!(
            store.delete(&rec.client_id, got.version + 7).await,
            Err(StoreError::Conflict)
        ),
        "delete with a stale version must be refused with Conflict"
    );
    store
        .delete(&rec.client_id, got.version)
        .await
        .expect("delete with the current version");
    assert!(
        store.get(&rec.client_id).await.expect("get").is_none(),
        "a deleted client is gone"
    );
    let hash = rec
        .registration_token
        .as_ref()
        .map(|t| t.hash)
        .expect("token");
    assert!(
        store
            .find_by_registration_token(&hash)
            .await
            .expect("find")
            .is_none(),
        "a deleted client's token must no longer be found"
    );
    assert!(
        matches!(
            store.delete(&rec.client_id, got.version).await,
            Err(StoreError::NotFound)
        ),
        "deleting a missing client must answer NotFound"
    );
}

async fn versions(store: &dyn ClientStore) {
    let rec = record();
    store.create(&rec).await.expect("create");
    let v0 = store
        .get(&rec.client_id)
        .await
        .expect("get")
        .expect("found");
    let mut changed = v0.clone();
    changed.metadata.client_name = Some("renamed".to_owned());
    store
        .update(&changed)
        .await
        .expect("update with the current version");
    let v1 = store
        .get(&rec.client_id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        v1.version,
        v0.version + 1,
        "update must increment the version"
    );
    assert_eq!(
        v1.metadata.client_name.as_deref(),
        Some("renamed"),
        "update must store the record"
    );
    let mut stale = v0.clone();
    stale.metadata.client_name = Some("lost update".to_owned());
    assert!(
        matches!(store.update(&stale).await, Err(StoreError::Conflict)),
        "update with a stale version must be refused with Conflict"
    );
    let after = store
        .get(&rec.client_id)
        .await
        .expect("get")
        .expect("found");
    same_record(&v1, &after, "a refused stale update must change nothing");
    let mut missing = record();
    missing.version = 0;
    assert!(
        matches!(store.update(&missing).await, Err(StoreError::NotFound)),
        "updating a missing client must answer NotFound"
    );
    assert_eq!(
        v1.registration_token.as_ref().and_then(|t| t.expires_at),
        rec.registration_token.as_ref().and_then(|t| t.expires_at),
        "token expiry must survive storage to the second"
    );
}

async fn token_index(store: &dyn ClientStore) {
    let rec = record();
    store.create(&rec).await.expect("create");
    let old = rec
        .registration_token
        .as_ref()
        .map(|t| t.hash)
        .expect("token");
    let found = store
        .find_by_registration_token(&old)
        .await
        .expect("find")
        .expect("found by token hash");
    assert_eq!(
        found.client_id, rec.client_id,
        "the token belongs to its client"
    );
    let mut rotated = found.clone();
    let (_, fresh) = token(None);
    let new = fresh.hash;
    rotated.registration_token = Some(fresh);
    store.update(&rotated).await.expect("rotate");
    assert!(
        store
            .find_by_registration_token(&old)
            .await
            .expect("find")
            .is_none(),
        "a rotated-away token must no longer be found"
    );
    assert!(
        store
            .find_by_registration_token(&new)
            .await
            .expect("find")
            .is_some(),
        "the new token must be found"
    );
    let mut thief = record();
    thief.registration_token = Some(StoredToken {
        hash: new,
        expires_at: None,
    });
    assert!(
        matches!(store.create(&thief).await, Err(StoreError::Conflict)),
        "a token hash held by another client must be refused with Conflict"
    );
    assert!(
        store.get(&thief.client_id).await.expect("get").is_none(),
        "nothing half-written"
    );
}

async fn concurrent_rotation(store: Arc<dyn ClientStore>) {
    let rec = record();
    store.create(&rec).await.expect("create");
    let read = store
        .get(&rec.client_id)
        .await
        .expect("get")
        .expect("found");
    let mut tasks = Vec::new();
    for _ in 0..RACERS {
        let store = store.clone();
        let mut mine = read.clone();
        tasks.push(tokio::spawn(async move {
            let (_, fresh) = token(None);
            let hash = fresh.hash;
            mine.registration_token = Some(fresh);
            store.update(&mine).await.map(|()| hash)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(hash) => winners.push(hash),
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("a losing rotation must be a Conflict, not {e:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "of concurrent rotations from one version exactly one wins"
    );
    let stored = store
        .get(&rec.client_id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        stored.registration_token.map(|t| t.hash),
        Some(winners[0]),
        "the winner's token is the only valid one"
    );
}

async fn counting(store: &dyn ClientStore) {
    let software_id = uuid::Uuid::new_v4().to_string();
    for _ in 0..3 {
        let mut rec = record();
        rec.metadata.software_id = Some(software_id.clone());
        store.create(&rec).await.expect("create");
    }
    match store.count(Some(&software_id)).await {
        Ok(n) => assert_eq!(n, 3, "count per software_id"),
        Err(StoreError::Backend(_)) => {} // counting is optional
        Err(e) => panic!("count failed with {e:?}"),
    }
}

fn issued(max_uses: Option<u32>, expires_at: Option<OffsetDateTime>) -> (String, IssuedToken) {
    let (raw, stored) = token(None);
    let token = IssuedToken {
        id: uuid::Uuid::new_v4().to_string(),
        hash: stored.hash,
        scopes: vec!["register".to_owned()],
        subject: Some("conformance".to_owned()),
        issued_at: now(),
        expires_at,
        max_uses,
        uses: 0,
        allowed_scopes: None,
        redirect_hosts: None,
    };
    (raw, token)
}

/// Checks insert / find / list / revoke, expiry, and that concurrent uses of a token with `M`
/// uses succeed exactly `M` times, with given-back uses available again.
///
/// # Panics
/// When the store breaks a rule; the message names it.
pub async fn check_initial_token_store(store: Arc<dyn InitialTokenStore>) {
    let max = 5;
    let (_, tok) = issued(Some(max), Some(now() + Duration::hours(1)));
    store.insert_token(&tok).await.expect("insert");
    let found = store
        .find_token(&tok.hash)
        .await
        .expect("find")
        .expect("found by hash");
    assert_eq!(found, tok, "the stored token equals what was written");
    assert!(
        matches!(store.insert_token(&tok).await, Err(StoreError::Conflict)),
        "a duplicate token must be refused with Conflict"
    );
    let mut tasks = Vec::new();
    for _ in 0..RACERS {
        let store = store.clone();
        let hash = tok.hash;
        tasks.push(tokio::spawn(
            async move { store.take_use(&hash, now()).await },
        ));
    }
    let mut taken = 0;
    for task in tasks {
        if task.await.expect("task").expect("take_use") {
            taken += 1;
        }
    }
    assert_eq!(
        taken, max,
        "{RACERS} concurrent uses of a token with {max} uses succeed exactly {max} times"
    );
    store.give_back_use(&tok.hash).await.expect("give back");
    assert!(
        store.take_use(&tok.hash, now()).await.expect("take"),
        "a given-back use can be taken again"
    );
    assert!(
        !store.take_use(&tok.hash, now()).await.expect("take"),
        "no use is left"
    );

    let (_, expired) = issued(None, Some(now() - Duration::seconds(1)));
    store.insert_token(&expired).await.expect("insert");
    assert!(
        !store.take_use(&expired.hash, now()).await.expect("take"),
        "an expired token has no use"
    );

    assert!(
        store
            .list_tokens()
            .await
            .expect("list")
            .iter()
            .any(|t| t.id == tok.id),
        "list contains the token"
    );
    assert!(
        store.revoke_token(&tok.id).await.expect("revoke"),
        "revoke finds the token"
    );
    assert!(
        store.find_token(&tok.hash).await.expect("find").is_none(),
        "a revoked token is gone"
    );
    assert!(
        !store.revoke_token(&tok.id).await.expect("revoke"),
        "revoking twice finds nothing"
    );
}

/// Checks that a key is accepted once until it expires, and again after.
///
/// # Panics
/// When the guard breaks a rule.
pub async fn check_replay_guard(guard: Arc<dyn ReplayGuard>) {
    let key = uuid::Uuid::new_v4().to_string();
    let t = now();
    assert!(
        guard
            .first_use(&key, t, t + Duration::minutes(5))
            .await
            .expect("first use"),
        "a new jti is accepted"
    );
    assert!(
        !guard
            .first_use(&key, t, t + Duration::minutes(5))
            .await
            .expect("replay"),
        "a replayed jti is refused"
    );
    let later = t + Duration::minutes(6);
    assert!(
        guard
            .first_use(&key, later, later + Duration::minutes(5))
            .await
            .expect("after expiry"),
        "after its expiry a jti may be used again"
    );
    let mut tasks = Vec::new();
    let key = uuid::Uuid::new_v4().to_string();
    for _ in 0..RACERS {
        let guard = guard.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            guard.first_use(&key, t, t + Duration::minutes(5)).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        if task.await.expect("task").expect("first_use") {
            accepted += 1;
        }
    }
    assert_eq!(
        accepted, 1,
        "of concurrent first uses of one jti exactly one is accepted"
    );
}
