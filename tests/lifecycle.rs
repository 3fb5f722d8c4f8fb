//! Registration access token hardening: reuse detection and the lost-response grace window.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use oauth_dcr::events::{Event, EventSink, Operation};
use oauth_dcr::{
    Clock, MemoryStore, Registrar, RegistrationError, RegistrationResponse, RequestContext,
    ServerPolicy,
};
use time::Duration;

/// The clock's starting time in these tests.
const T0: i64 = 1_800_000_000;

struct Fixture {
    registrar: Arc<Registrar>,
    clock: Arc<ManualClock>,
    events: Arc<Recorder>,
}

fn fixture(detect: bool, grace: Option<Duration>) -> Fixture {
    hygiene_fixture(|policy| {
        policy.detect_token_reuse = detect;
        policy.token_rotation_grace = grace;
    })
}

/// A registrar over a `MemoryStore` with a manual clock and an event sink, its policy changed by
/// `change`.
fn hygiene_fixture(change: impl FnOnce(&mut ServerPolicy)) -> Fixture {
    let mut policy = ServerPolicy::new(ENDPOINT);
    change(&mut policy);
    let clock = Arc::new(ManualClock::at(T0));
    let events = Arc::new(Recorder::default());
    let registrar = Registrar::new(policy, Arc::new(MemoryStore::new()))
        .with_clock(clock.clone())
        .with_event_sink(events.clone());
    Fixture {
        registrar: Arc::new(registrar),
        clock,
        events,
    }
}

/// A web client named `App`, as bytes.
fn body() -> Vec<u8> {
    serde_json::to_vec(&named_web_client()).unwrap()
}

async fn register(f: &Fixture) -> RegistrationResponse {
    f.registrar
        .register_bytes(&body(), &RequestContext::new())
        .await
        .unwrap()
}

fn invalid_token(result: Result<RegistrationResponse, RegistrationError>) {
    let err = result.expect_err("the token must be refused");
    assert_eq!(err.status(), 401);
    assert_eq!(err.code().as_str(), "invalid_token");
}

#[tokio::test]
async fn a_reused_rotated_away_token_revokes_the_current_one_and_is_reported() {
    let f = fixture(true, None);
    let client = register(&f).await;
    let id = &client.client_id;
    let t1 = token(&client);
    let t2 = token(&f.registrar.read(id, Some(&t1)).await.unwrap());

    invalid_token(f.registrar.read(id, Some(&t1)).await);
    invalid_token(f.registrar.read(id, Some(&t2)).await);

    let reuse: Vec<Event> = f
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.operation == Operation::TokenReuse)
        .cloned()
        .collect();
    assert_eq!(reuse.len(), 1, "one reuse event");
    assert_eq!(reuse[0].client_id.as_deref(), Some(id.as_str()));
    let stored = f.registrar.store().get(id).await.unwrap().unwrap();
    assert!(
        stored.registration_token.is_none(),
        "no token is valid any more"
    );
}

#[tokio::test]
async fn without_detection_a_rotated_away_token_is_only_refused() {
    let f = fixture(false, None);
    let client = register(&f).await;
    let id = &client.client_id;
    let t1 = token(&client);
    let t2 = token(&f.registrar.read(id, Some(&t1)).await.unwrap());
    invalid_token(f.registrar.read(id, Some(&t1)).await);
    assert!(
        f.registrar.read(id, Some(&t2)).await.is_ok(),
        "the current token still works"
    );
    assert!(f
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .all(|e| e.operation != Operation::TokenReuse));
}

#[tokio::test]
async fn the_grace_window_admits_the_previous_token_once_and_drops_the_lost_one() {
    let f = fixture(false, Some(Duration::seconds(5)));
    let client = register(&f).await;
    let id = &client.client_id;
    let t1 = token(&client);
    // The response carrying t2 is "lost".
    let t2 = token(&f.registrar.read(id, Some(&t1)).await.unwrap());
    f.clock.advance(Duration::seconds(3));

    let t3 = token(
        &f.registrar
            .read(id, Some(&t1))
            .await
            .expect("t1 is admitted once"),
    );
    assert!(t3 != t1 && t3 != t2);
    invalid_token(f.registrar.read(id, Some(&t2)).await);
    invalid_token(f.registrar.read(id, Some(&t1)).await);
    assert!(
        f.registrar.read(id, Some(&t3)).await.is_ok(),
        "only the newest token works"
    );
}

#[tokio::test]
async fn the_grace_window_closes() {
    let f = fixture(false, Some(Duration::seconds(5)));
    let client = register(&f).await;
    let id = &client.client_id;
    let t1 = token(&client);
    let t2 = token(&f.registrar.read(id, Some(&t1)).await.unwrap());
    f.clock.advance(Duration::seconds(6));
    invalid_token(f.registrar.read(id, Some(&t1)).await);
    assert!(f.registrar.read(id, Some(&t2)).await.is_ok());
}

#[tokio::test]
async fn with_both_a_second_use_of_the_previous_token_is_theft() {
    let f = fixture(true, Some(Duration::seconds(5)));
    let client = register(&f).await;
    let id = &client.client_id;
    let t1 = token(&client);
    f.registrar.read(id, Some(&t1)).await.unwrap();
    let t3 = token(
        &f.registrar
            .read(id, Some(&t1))
            .await
            .expect("admitted once"),
    );
    invalid_token(f.registrar.read(id, Some(&t1)).await);
    invalid_token(f.registrar.read(id, Some(&t3)).await);
    assert_eq!(
        f.events
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.operation == Operation::TokenReuse)
            .count(),
        1
    );
}

#[tokio::test]
async fn after_the_window_reuse_is_detected() {
    let f = fixture(true, Some(Duration::seconds(5)));
    let client = register(&f).await;
    let id = &client.client_id;
    let t1 = token(&client);
    let t2 = token(&f.registrar.read(id, Some(&t1)).await.unwrap());
    f.clock.advance(Duration::seconds(10));
    invalid_token(f.registrar.read(id, Some(&t1)).await);
    invalid_token(f.registrar.read(id, Some(&t2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_grace_uses_leave_exactly_one_valid_token() {
    for _ in 0..20 {
        let f = fixture(false, Some(Duration::seconds(5)));
        let client = register(&f).await;
        let id = client.client_id.clone();
        let t1 = token(&client);
        let t2 = token(&f.registrar.read(&id, Some(&t1)).await.unwrap());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let registrar = f.registrar.clone();
            let (id, t1) = (id.clone(), t1.clone());
            tasks.push(tokio::spawn(
                async move { registrar.read(&id, Some(&t1)).await },
            ));
        }
        let mut winners = Vec::new();
        for task in tasks {
            if let Ok(read) = task.await.unwrap() {
                winners.push(token(&read));
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "the previous token is admitted exactly once"
        );
        let mut valid = 0;
        for candidate in [&t1, &t2, &winners[0]] {
            // Without rotation on this probe, use the store: exactly one current token.
            let record = f.registrar.store().get(&id).await.unwrap().unwrap();
            let hash = oauth_dcr::RegistrationAccessToken::new(candidate.as_str()).hash();
            if record
                .registration_token
                .as_ref()
                .is_some_and(|t| t.hash == hash)
            {
                valid += 1;
            }
        }
        assert_eq!(valid, 1, "exactly one token is valid afterwards");
        f.clock.advance(Duration::seconds(6));
        invalid_token(f.registrar.read(&id, Some(&t1)).await);
        invalid_token(f.registrar.read(&id, Some(&t2)).await);
        assert!(f.registrar.read(&id, Some(&winners[0])).await.is_ok());
    }
}

struct Panicking;

#[async_trait]
impl EventSink for Panicking {
    async fn notify(&self, _event: &Event) {
        panic!("this sink is broken");
    }
}

#[tokio::test]
async fn a_panicking_event_sink_does_not_fail_the_request() {
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), Arc::new(MemoryStore::new()))
        .with_event_sink(Arc::new(Panicking));
    let client = registrar
        .register_bytes(&body(), &RequestContext::new())
        .await
        .expect("the registration succeeds whatever the sink does");
    let read = registrar
        .read(&client.client_id, Some(&token(&client)))
        .await;
    assert!(read.is_ok());
}

#[tokio::test]
async fn an_update_can_rotate_the_secret_with_an_overlap_then_the_old_one_expires() {
    let f = fixture(false, None);
    let client = register(&f).await;
    let id = &client.client_id;
    let old = client
        .client_secret
        .clone()
        .expect("a secret")
        .secret()
        .to_owned();
    let body = format!(
        r#"{{"client_id":"{id}","redirect_uris":["https://app.example/cb"],"client_name":"App","rotate_client_secret":true}}"#
    );
    let updated = f
        .registrar
        .update_bytes(
            id,
            Some(&token(&client)),
            body.as_bytes(),
            &RequestContext::new(),
        )
        .await
        .expect("update");
    let new = updated
        .client_secret
        .clone()
        .expect("the new secret is returned")
        .secret()
        .to_owned();
    assert_ne!(new, old);

    let record = f.registrar.store().get(id).await.unwrap().unwrap();
    assert!(
        record.metadata.extension("rotate_client_secret").is_none(),
        "the request member is not stored"
    );
    let now = f.clock.now();
    assert!(record.verify_secret(&new, now));
    assert!(
        record.verify_secret(&old, now),
        "the old secret works during the overlap"
    );
    assert!(!record.verify_secret("guess", now));

    let later = now + Duration::hours(1) + Duration::seconds(1);
    assert!(record.verify_secret(&new, later));
    assert!(
        !record.verify_secret(&old, later),
        "after the overlap the old secret fails"
    );

    // Without the member the secret is kept and not shown.
    let body = format!(r#"{{"client_id":"{id}","redirect_uris":["https://app.example/cb"]}}"#);
    let again = f
        .registrar
        .update_bytes(
            id,
            Some(&token(&updated)),
            body.as_bytes(),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    assert!(again.client_secret.is_none());
    let record = f.registrar.store().get(id).await.unwrap().unwrap();
    assert!(record.verify_secret(&new, now));
}

#[tokio::test]
async fn an_expired_secret_fails_verification() {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.client_secret_lifetime = Some(Duration::days(1));
    let clock = Arc::new(ManualClock::at(T0));
    let registrar = Registrar::new(policy, Arc::new(MemoryStore::new())).with_clock(clock.clone());
    let client = registrar
        .register_bytes(&body(), &RequestContext::new())
        .await
        .unwrap();
    assert_eq!(client.client_secret_expires_at, Some(T0 + 86_400));
    let secret = client.client_secret.unwrap().secret().to_owned();
    let record = registrar
        .store()
        .get(&client.client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(record.verify_secret(&secret, clock.now()));
    assert!(!record.verify_secret(&secret, clock.now() + Duration::days(1)));
}

#[tokio::test]
async fn the_reaper_removes_never_used_clients_in_bounded_batches_and_spares_the_rest() {
    let f = hygiene_fixture(|p| p.unused_client_ttl = Some(Duration::days(1)));
    let mut unused = Vec::new();
    for _ in 0..5 {
        unused.push(register(&f).await.client_id);
    }
    let used = register(&f).await.client_id;
    f.registrar.record_use(&used).await.unwrap();
    let mut admin = oauth_dcr::ClientRecord::new(
        "admin-client",
        oauth_dcr::ClientMetadata::default(),
        oauth_dcr::store::Origin::Administrator,
        f.clock.now(),
    );
    admin.last_used = None;
    f.registrar.store().create(&admin).await.unwrap();

    assert!(
        f.registrar.reap(10).await.unwrap().is_empty(),
        "nothing is old enough yet"
    );
    f.clock.advance(Duration::days(2));
    let mut removed = Vec::new();
    for expected in [2, 2, 1, 0] {
        let batch = f.registrar.reap(2).await.unwrap();
        assert_eq!(batch.len(), expected, "bounded batches of at most 2");
        removed.extend(batch);
    }
    removed.sort();
    unused.sort();
    assert_eq!(removed, unused, "exactly the never-used dynamic clients");
    let store = f.registrar.store();
    assert!(
        store.get(&used).await.unwrap().is_some(),
        "a used client stays"
    );
    assert!(
        store.get("admin-client").await.unwrap().is_some(),
        "administrators' clients stay"
    );
    let reaped: Vec<String> = f
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.operation == Operation::Reap)
        .filter_map(|e| e.client_id.clone())
        .collect();
    assert_eq!(reaped.len(), 5, "each removal is reported");
}

#[tokio::test]
async fn the_reaper_removes_clients_that_can_no_longer_authenticate_or_manage_themselves() {
    let f = hygiene_fixture(|p| {
        p.client_secret_lifetime = Some(Duration::days(1));
        p.registration_token_lifetime = Some(Duration::days(1));
    });
    let dead = register(&f).await.client_id;
    f.registrar.record_use(&dead).await.unwrap();
    f.clock.advance(Duration::hours(12));
    assert!(
        f.registrar.reap(10).await.unwrap().is_empty(),
        "still alive"
    );
    f.clock.advance(Duration::days(1));
    assert_eq!(
        f.registrar.reap(10).await.unwrap(),
        std::slice::from_ref(&dead)
    );
    assert!(f.registrar.store().get(&dead).await.unwrap().is_none());
}

async fn register_instance(registrar: &Registrar, key: &str, name: &str) -> RegistrationResponse {
    let body = format!(
        r#"{{"redirect_uris":["http://127.0.0.1/cb"],"application_type":"native","token_endpoint_auth_method":"none","software_id":"agent","client_name":"{name}","instance_key":"{key}"}}"#
    );
    registrar
        .register_bytes(body.as_bytes(), &RequestContext::new())
        .await
        .unwrap()
}

#[tokio::test]
async fn idempotent_registration_returns_the_instance_s_client_with_fresh_credentials() {
    let f = hygiene_fixture(|p| p.idempotent_registration = true);
    let first = register_instance(&f.registrar, "k-1", "Agent").await;
    let again = register_instance(&f.registrar, "k-1", "Agent v2").await;
    assert_eq!(again.client_id, first.client_id, "the same client");
    assert_eq!(
        again.metadata.client_name.as_deref(),
        Some("Agent v2"),
        "metadata replaced"
    );
    assert_ne!(
        token(&again),
        token(&first),
        "a fresh registration access token"
    );
    invalid_token(
        f.registrar
            .read(&first.client_id, Some(&token(&first)))
            .await,
    );
    assert!(f
        .registrar
        .read(&again.client_id, Some(&token(&again)))
        .await
        .is_ok());
    let other = register_instance(&f.registrar, "k-2", "Agent").await;
    assert_ne!(
        other.client_id, first.client_id,
        "another instance key, another client"
    );
    let stored = f
        .registrar
        .store()
        .get(&first.client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.metadata.extension("instance_key").is_none(),
        "the key itself is not stored"
    );
    assert_eq!(
        f.registrar
            .store()
            .as_client_count()
            .unwrap()
            .count(None)
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn without_the_policy_every_registration_is_a_new_client() {
    let f = hygiene_fixture(|_| {});
    let first = register_instance(&f.registrar, "k-1", "Agent").await;
    let again = register_instance(&f.registrar, "k-1", "Agent").await;
    assert_ne!(again.client_id, first.client_id);
}

/// Host access tokens of the form `access-for:<client_id>`, as a client_credentials grant of that
/// client would issue them.
struct HostTokens;

#[async_trait]
impl oauth_dcr::initial_tokens::InitialTokenVerifier for HostTokens {
    async fn verify(
        &self,
        token: &str,
    ) -> Result<Option<oauth_dcr::initial_tokens::InitialAccessGrant>, oauth_dcr::StoreError> {
        Ok(token.strip_prefix("access-for:").map(|client| {
            oauth_dcr::initial_tokens::InitialAccessGrant::with_scopes(["manage"]).subject(client)
        }))
    }
}

#[tokio::test]
async fn a_client_can_manage_itself_with_its_own_host_access_token() {
    let registrar = Registrar::new(ServerPolicy::new(ENDPOINT), Arc::new(MemoryStore::new()))
        .manage_with_host_tokens(Arc::new(HostTokens));
    let a = registrar
        .register_bytes(&body(), &RequestContext::new())
        .await
        .unwrap();
    let b = registrar
        .register_bytes(&body(), &RequestContext::new())
        .await
        .unwrap();
    let own = format!("access-for:{}", a.client_id);
    assert!(registrar.read(&a.client_id, Some(&own)).await.is_ok());
    invalid_token(registrar.read(&b.client_id, Some(&own)).await);
    invalid_token(
        registrar
            .read(&a.client_id, Some("access-for:someone-else"))
            .await,
    );
    invalid_token(registrar.read(&a.client_id, Some("garbage")).await);
    registrar
        .delete(&a.client_id, Some(&own))
        .await
        .expect("delete with the host token");
    // The registration access token still works for the other client.
    assert!(registrar.read(&b.client_id, Some(&token(&b))).await.is_ok());
}

/// The number of reuse events reported so far.
fn reuses(f: &Fixture) -> usize {
    f.events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.operation == Operation::TokenReuse)
        .count()
}

#[tokio::test]
async fn a_grace_use_by_the_holder_of_the_previous_token_leaves_the_owners_token_flagged() {
    let f = fixture(true, Some(Duration::seconds(5)));
    let client = register(&f).await;
    let id = &client.client_id;
    let stolen = token(&client);
    // The owner rotates and holds the newest token; the attacker copied the previous one.
    let owned = token(&f.registrar.read(id, Some(&stolen)).await.unwrap());
    f.clock.advance(Duration::seconds(2));
    let taken = token(
        &f.registrar
            .read(id, Some(&stolen))
            .await
            .expect("the grace window admits the previous token once"),
    );
    // The attacker rotates again, so that the token the grace use replaced is two back.
    let taken = token(&f.registrar.read(id, Some(&taken)).await.unwrap());
    assert_eq!(reuses(&f), 0);

    // The owner's next use is reuse: the attacker's token dies with it.
    invalid_token(f.registrar.read(id, Some(&owned)).await);
    assert_eq!(reuses(&f), 1, "the owner's discarded token is flagged");
    invalid_token(f.registrar.read(id, Some(&taken)).await);
    let stored = f.registrar.store().get(id).await.unwrap().unwrap();
    assert!(stored.registration_token.is_none(), "no token is valid");
}

#[tokio::test]
async fn a_token_used_through_the_grace_window_is_flagged_after_later_rotations() {
    let f = fixture(true, Some(Duration::seconds(5)));
    let client = register(&f).await;
    let id = &client.client_id;
    let t1 = token(&client);
    f.registrar.read(id, Some(&t1)).await.unwrap(); // the response is lost
    let t3 = token(&f.registrar.read(id, Some(&t1)).await.expect("grace"));
    let t4 = token(&f.registrar.read(id, Some(&t3)).await.unwrap());
    let t5 = token(&f.registrar.read(id, Some(&t4)).await.unwrap());
    invalid_token(f.registrar.read(id, Some(&t1)).await);
    assert_eq!(
        reuses(&f),
        1,
        "a second presentation of the grace-used token"
    );
    invalid_token(f.registrar.read(id, Some(&t5)).await);
}

#[tokio::test]
async fn the_grace_window_is_refused_once_the_retired_tokens_are_full() {
    let f = fixture(true, Some(Duration::seconds(5)));
    let client = register(&f).await;
    let id = &client.client_id;
    let mut current = token(&client);
    let mut admitted = 0;
    loop {
        let previous = current.clone();
        f.registrar.read(id, Some(&previous)).await.unwrap(); // lost
        match f.registrar.read(id, Some(&previous)).await {
            Ok(read) => {
                admitted += 1;
                current = token(&read);
            }
            Err(err) => {
                assert_eq!(err.status(), 401);
                break;
            }
        }
        assert!(admitted < 100, "the grace window must not be unbounded");
    }
    assert_eq!(admitted, 8, "a client may lose a few responses: eight");
    assert_eq!(reuses(&f), 1, "the refused grace use is reuse");
    let stored = f.registrar.store().get(id).await.unwrap().unwrap();
    assert!(stored.registration_token.is_none());
    assert!(stored.retired_tokens.is_empty(), "revocation clears them");
}

/// An attacker holding the previous token and the owner holding the newest one call at once,
/// within the grace window. Whatever the interleaving, the attacker never ends up the only
/// holder of a valid token without the reuse being detected and the client's token revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_attacker_racing_the_owner_through_the_grace_window_never_takes_the_client_silently() {
    for _ in 0..40 {
        let f = fixture(true, Some(Duration::seconds(5)));
        let client = register(&f).await;
        let id = client.client_id.clone();
        let stolen = token(&client);
        let owned = token(&f.registrar.read(&id, Some(&stolen)).await.unwrap());
        let attacker = {
            let (registrar, id) = (f.registrar.clone(), id.clone());
            tokio::spawn(async move { registrar.read(&id, Some(&stolen)).await })
        };
        let owner = {
            let (registrar, id) = (f.registrar.clone(), id.clone());
            tokio::spawn(async move { registrar.read(&id, Some(&owned)).await })
        };
        let (attacker, owner) = (attacker.await.unwrap(), owner.await.unwrap());
        let Ok(taken) = attacker else {
            // The attacker got nothing; the owner keeps its client.
            let owner = owner.expect("the owner's call succeeds when the attacker's fails");
            assert!(f.registrar.read(&id, Some(&token(&owner))).await.is_ok());
            continue;
        };
        assert!(owner.is_err(), "only one of the two can rotate");
        assert_eq!(
            reuses(&f),
            1,
            "the owner's refused call is detected as reuse"
        );
        invalid_token(f.registrar.read(&id, Some(&token(&taken))).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn management_calls_racing_many_recorded_uses_always_succeed() {
    let f = fixture(true, None);
    manage_while_used(&f.registrar).await;
}

/// Reads and updates a client, each call with the token the last one returned, while the
/// token endpoint keeps recording uses of it: every call succeeds.
pub(crate) async fn manage_while_used(registrar: &Arc<Registrar>) {
    let client = registrar
        .register_bytes(&body(), &RequestContext::new())
        .await
        .unwrap();
    let id = client.client_id.clone();
    let stop = Arc::new(AtomicBool::new(false));
    // Every user records its first use before the management calls start, so the race is
    // real however the scheduler orders the tasks (and the count below can never be zero).
    let started = Arc::new(tokio::sync::Barrier::new(5));
    let users: Vec<_> = (0..4)
        .map(|_| {
            let (registrar, id, stop) = (registrar.clone(), id.clone(), stop.clone());
            let started = started.clone();
            tokio::spawn(async move {
                registrar.record_use(&id).await.expect("record_use");
                let mut uses = 1_u32;
                started.wait().await;
                while !stop.load(Ordering::Relaxed) {
                    registrar.record_use(&id).await.expect("record_use");
                    uses += 1;
                    tokio::task::yield_now().await;
                }
                uses
            })
        })
        .collect();
    started.wait().await;
    let mut current = token(&client);
    for i in 0..20 {
        let response = if i % 2 == 0 {
            registrar.read(&id, Some(&current)).await
        } else {
            registrar
                .update_bytes(
                    &id,
                    Some(&current),
                    &update_body(&id),
                    &RequestContext::new(),
                )
                .await
        };
        let response = response.expect("recording a use never invalidates a management call");
        current = token(&response);
    }
    stop.store(true, Ordering::Relaxed);
    for user in users {
        assert!(user.await.unwrap() > 0, "uses were recorded meanwhile");
    }
}

fn update_body(client_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "client_id": client_id,
        "redirect_uris": ["https://app.example/cb"],
        "client_name": "App, managed while used",
    }))
    .unwrap()
}
