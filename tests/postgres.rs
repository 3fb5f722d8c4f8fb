//! PostgreSQL store behind registrars that race as replicas of one server: two registrars, each
//! with its own pool, over one database.

#![cfg(feature = "postgres")]

mod pg;

mod common;
use common::{token, Bytes};
use std::sync::Arc;

use oauth_dcr::initial_tokens::{InitialAccessGrant, IssuedInitialTokens, TokenSpec};
use oauth_dcr::statements::ReplayGuard;
use oauth_dcr::store::ClientCount;
use oauth_dcr::store::PostgresStore;
use oauth_dcr::store::SecretHash;
use oauth_dcr::{ClientStore, Registrar, RegistrationError, RequestContext, ServerPolicy};
use serde_json::json;

/// Reuse detection is off: these tests race one token on purpose, and with detection a loser's
/// late arrival would count as theft (tests/lifecycle.rs covers detection).
fn registrar(store: PostgresStore) -> Registrar {
    let mut policy = ServerPolicy::new("https://as.example/register");
    policy.detect_token_reuse = false;
    Registrar::new(policy, Arc::new(store))
}

const BODY: &[u8] = br#"{"redirect_uris":["https://app.example/cb"],"client_name":"Replica"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_registered_on_one_replica_is_managed_on_the_other() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let a = registrar(db.store(4).await);
    let b = registrar(db.store(4).await);
    let ctx = RequestContext::new();

    let client = a.register_bytes(BODY, &ctx).await.expect("register on A");
    let first = token(&client);
    let read = b
        .read(&client.client_id, Some(&first))
        .await
        .expect("read on B");
    assert_eq!(read.metadata.client_name.as_deref(), Some("Replica"));
    let second = token(&read);
    assert_ne!(first, second, "B rotated the token");

    // The token B rotated away is dead on both replicas; the new one works on A.
    for replica in [&a, &b] {
        let err = replica
            .read(&client.client_id, Some(&first))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 401);
    }
    let again = a
        .read(&client.client_id, Some(&second))
        .await
        .expect("read on A with B's token");
    let third = token(&again);

    a.delete(&client.client_id, Some(&third))
        .await
        .expect("delete on A");
    assert!(db
        .store(1)
        .await
        .get(&client.client_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        b.read(&client.client_id, Some(&third))
            .await
            .unwrap_err()
            .status(),
        401
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_with_one_token_on_two_replicas_have_exactly_one_winner() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let a = Arc::new(registrar(db.store(8).await));
    let b = Arc::new(registrar(db.store(8).await));
    let ctx = RequestContext::new();

    for round in 0..5 {
        let client = a.register_bytes(BODY, &ctx).await.expect("register");
        let token = token(&client);
        let mut tasks = Vec::new();
        for i in 0..10 {
            let replica = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = client.client_id.clone();
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let body = format!(
                    r#"{{"client_id":"{id}","redirect_uris":["https://app.example/cb"],"client_name":"writer {i}"}}"#
                );
                replica
                    .update_bytes(&id, Some(&token), body.as_bytes(), &RequestContext::new())
                    .await
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(response) => winners.push(response),
                Err(RegistrationError::InvalidToken) => {}
                Err(other) => {
                    panic!("round {round}: a loser must get invalid_token, not {other:?}")
                }
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one update wins");
        let stored = db
            .store(1)
            .await
            .get(&client.client_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.metadata.client_name, winners[0].metadata.client_name,
            "no lost update"
        );
        let live = winners[0]
            .registration_access_token
            .as_ref()
            .expect("a registration access token")
            .secret();
        assert!(
            b.read(&client.client_id, Some(live)).await.is_ok(),
            "the winner's token is valid"
        );
    }
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_registrations_across_replicas_adds_up() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let a = Arc::new(registrar(db.store(8).await));
    let b = Arc::new(registrar(db.store(8).await));
    let mut tasks = Vec::new();
    for i in 0..60 {
        let replica = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            replica
                .register_bytes(BODY, &RequestContext::new())
                .await
                .map(|c| c.client_id)
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().expect("every registration succeeds"));
    }
    assert_eq!(ids.len(), 60, "60 distinct clients");
    let store = db.store(1).await;
    assert_eq!(
        store.count(None).await.unwrap(),
        60,
        "the store holds exactly the registered clients"
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crate_issued_tokens_are_not_overspent_across_replicas() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let tokens = IssuedInitialTokens::new(Arc::new(db.store(2).await));
    let (token, _) = tokens
        .issue(TokenSpec::new(InitialAccessGrant::with_scopes(["register"])).max_uses(7))
        .await
        .unwrap();
    let make = |store: PostgresStore| {
        let verifier = Arc::new(IssuedInitialTokens::new(Arc::new(store.clone())));
        Arc::new(registrar(store).require_initial_token(verifier, Some("register")))
    };
    let a = make(db.store(8).await);
    let b = make(db.store(8).await);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let replica = if i % 2 == 0 { a.clone() } else { b.clone() };
        let ctx = RequestContext::new().with_initial_access_token(token.secret());
        tasks.push(tokio::spawn(async move {
            replica.register_bytes(BODY, &ctx).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.status(), 401, "{e:?}"),
        }
    }
    assert_eq!(
        ok, 7,
        "30 concurrent registrations with a 7-use token succeed exactly 7 times"
    );
    db.drop().await;
}

/// A token row written before the grant became `IssuedToken`'s member (its JSON `record` has the
/// grant's members beside the others) lists, verifies, binds its registrations and counts its
/// uses as it did: the change needs no migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_row_of_the_earlier_shape_reads_back_on_postgres() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let hash = SecretHash::of("partner-secret");
    let record = json!({
        "id": "t-1", "hash": hash, "scopes": ["register"], "subject": "partner-a",
        "issued_at": 1_700_000_000, "expires_at": null, "max_uses": 2, "uses": 0,
        "allowed_scopes": ["openid"], "redirect_hosts": ["app.example"],
    });
    let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    db.execute(&format!(
        "INSERT INTO {}.dcr_initial_tokens (id, hash, record, expires_at, max_uses, uses) \
         VALUES ('t-1', '\\x{hex}', '{record}', NULL, 2, 0)",
        db.schema
    ))
    .await;
    let store = db.store(2).await;
    let tokens = IssuedInitialTokens::new(Arc::new(store.clone()));
    let grant = InitialAccessGrant::with_scopes(["register"])
        .subject("partner-a")
        .allowed_scopes(["openid"])
        .redirect_hosts(["app.example"]);
    let listed = tokens.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id.as_str(), listed[0].hash), ("t-1", hash));
    assert_eq!(listed[0].grant, grant);
    assert_eq!((listed[0].max_uses, listed[0].uses), (Some(2), 0));

    let registrar =
        registrar(store.clone()).require_initial_token(Arc::new(tokens.clone()), Some("register"));
    let ctx = RequestContext::new().with_initial_access_token("partner-secret");
    let client = registrar.register_bytes(BODY, &ctx).await.unwrap();
    let stored = store.get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(stored.initial_grant, Some(grant));
    let outside = br#"{"redirect_uris":["https://evil.example/cb"]}"#;
    let err = registrar.register_bytes(outside, &ctx).await.unwrap_err();
    assert_eq!(err.code().as_str(), "invalid_redirect_uri");
    assert_eq!(tokens.list().await.unwrap()[0].uses, 1);
    db.drop().await;
}

#[tokio::test]
async fn an_unreachable_database_is_a_500_without_detail_and_no_panic() {
    // Port 9 (discard) on loopback: nothing listens there.
    let store = PostgresStore::connect("postgres://nobody@127.0.0.1:9/none", 2)
        .await
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(3));
    let err = registrar(store)
        .register_bytes(BODY, &RequestContext::new())
        .await
        .unwrap_err();
    assert_eq!(err.status(), 500);
    let response = err.into_http();
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body, serde_json::json!({"error": "server_error"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_works_on_postgres() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let mut policy = ServerPolicy::new("https://as.example/register");
    policy.unused_client_ttl = Some(time::Duration::seconds(-1));
    let registrar = Registrar::new(policy, Arc::new(db.store(2).await));
    let unused = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .unwrap();
    let used = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .unwrap();
    registrar.record_use(&used.client_id).await.unwrap();
    let store = db.store(1).await;
    assert!(store
        .get(&used.client_id)
        .await
        .unwrap()
        .unwrap()
        .last_used
        .is_some());
    assert_eq!(
        registrar.reap(10).await.unwrap(),
        std::slice::from_ref(&unused.client_id)
    );
    assert!(store.get(&unused.client_id).await.unwrap().is_none());
    assert!(store.get(&used.client_id).await.unwrap().is_some());
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_registration_works_on_postgres() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let mut policy = ServerPolicy::new("https://as.example/register");
    policy.idempotent_registration = true;
    let registrar = Registrar::new(policy, Arc::new(db.store(2).await));
    let body = br#"{"redirect_uris":["http://127.0.0.1/cb"],"application_type":"native","token_endpoint_auth_method":"none","software_id":"agent","instance_key":"k-1"}"#;
    let first = registrar
        .register_bytes(body, &RequestContext::new())
        .await
        .unwrap();
    let again = registrar
        .register_bytes(body, &RequestContext::new())
        .await
        .unwrap();
    assert_eq!(first.client_id, again.client_id);
    assert_eq!(db.store(1).await.count(None).await.unwrap(), 1);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_at_version_2_upgrades_and_its_replay_guard_takes_real_keys() {
    let Some(db) = pg::TestDb::unmigrated().await else {
        return;
    };
    let store = db.store(2).await;
    // What the previous release applied: the first two migrations, recorded as such.
    let sql = store.migration_sql();
    db.execute(&format!(
        "CREATE TABLE {0}.dcr_schema_migrations (version INTEGER PRIMARY KEY); {1} {2} \
         INSERT INTO {0}.dcr_schema_migrations (version) VALUES (1), (2);",
        db.schema, sql[0], sql[1]
    ))
    .await;
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        Arc::new(store.clone()),
    );
    let before = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .expect("register on the old schema");

    store.migrate().await.expect("the upgrade applies");
    store
        .migrate()
        .await
        .expect("a second run has nothing to do");

    let now = time::OffsetDateTime::now_utc();
    let until = now + time::Duration::minutes(5);
    let key = format!("https://directory.example\u{0}{}", "jti-🔑-".repeat(1024));
    assert!(
        store
            .first_use(&key, now, until)
            .await
            .expect("a key with NUL is stored"),
        "a new key is accepted"
    );
    assert!(
        !store.first_use(&key, now, until).await.unwrap(),
        "its replay is refused"
    );
    let token = token(&before);
    registrar
        .read(&before.client_id, Some(&token))
        .await
        .expect("a client registered before the upgrade is still managed");
    db.drop().await;
}

/// A registrar with reuse detection and a grace window, over `store`.
fn guarded(store: PostgresStore) -> Arc<Registrar> {
    let mut policy = ServerPolicy::new("https://as.example/register");
    policy.detect_token_reuse = true;
    policy.token_rotation_grace = Some(time::Duration::seconds(60));
    Arc::new(Registrar::new(policy, Arc::new(store)))
}

fn secret_of(response: &oauth_dcr::RegistrationResponse) -> String {
    token(response)
}

/// tests/lifecycle.rs races an attacker and the owner on `MemoryStore`; here on two replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_attacker_racing_the_owner_in_the_grace_window_never_takes_over_on_postgres() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let (a, b) = (guarded(db.store(4).await), guarded(db.store(4).await));
    let store = db.store(1).await;
    for _ in 0..20 {
        let client = a
            .register_bytes(BODY, &RequestContext::new())
            .await
            .unwrap();
        let id = client.client_id.clone();
        let stolen = secret_of(&client);
        let owned = secret_of(&a.read(&id, Some(&stolen)).await.unwrap());
        let attacker = {
            let (registrar, id) = (a.clone(), id.clone());
            tokio::spawn(async move { registrar.read(&id, Some(&stolen)).await })
        };
        let owner = {
            let (registrar, id) = (b.clone(), id.clone());
            tokio::spawn(async move { registrar.read(&id, Some(&owned)).await })
        };
        let (attacker, owner) = (attacker.await.unwrap(), owner.await.unwrap());
        let stored = store.get(&id).await.unwrap().unwrap();
        match attacker {
            Ok(taken) => {
                assert!(owner.is_err(), "only one of the two can rotate");
                assert!(
                    stored.registration_token.is_none(),
                    "the owner's refused call is reuse: the client's token is revoked"
                );
                let err = b.read(&id, Some(&secret_of(&taken))).await.unwrap_err();
                assert_eq!(err.status(), 401);
            }
            Err(_) => {
                let owner = owner.expect("the owner's call succeeds when the attacker's fails");
                a.read(&id, Some(&secret_of(&owner)))
                    .await
                    .expect("the owner keeps its client");
            }
        }
    }
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn management_calls_racing_many_recorded_uses_always_succeed_on_postgres() {
    let Some(db) = pg::TestDb::new().await else {
        return;
    };
    let registrar = guarded(db.store(8).await);
    let client = registrar
        .register_bytes(BODY, &RequestContext::new())
        .await
        .unwrap();
    let id = client.client_id.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Every user records a first use before the management calls start: the race is real
    // whatever order the scheduler picks, and no user's count can be zero.
    let started = Arc::new(tokio::sync::Barrier::new(5));
    let users: Vec<_> = (0..4)
        .map(|_| {
            let (registrar, id, stop) = (registrar.clone(), id.clone(), stop.clone());
            let started = started.clone();
            tokio::spawn(async move {
                registrar.record_use(&id).await.expect("record_use");
                let mut uses = 1_u32;
                started.wait().await;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    registrar.record_use(&id).await.expect("record_use");
                    uses += 1;
                }
                uses
            })
        })
        .collect();
    started.wait().await;
    let mut current = secret_of(&client);
    let update = serde_json::json!({
        "client_id": id,
        "redirect_uris": ["https://app.example/cb"],
        "client_name": "Replica, managed while used",
    })
    .to_string();
    for i in 0..20 {
        let response = if i % 2 == 0 {
            registrar.read(&id, Some(&current)).await
        } else {
            registrar
                .update_bytes(
                    &id,
                    Some(&current),
                    update.as_bytes(),
                    &RequestContext::new(),
                )
                .await
        };
        let response = response.expect("recording a use never invalidates a management call");
        current = secret_of(&response);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for user in users {
        assert!(user.await.unwrap() > 0, "uses were recorded meanwhile");
    }
    db.drop().await;
}
