//! A conformance kit for stores (feature `test-kit`): run it from your own tests to prove that
//! your [`ClientStore`], [`InitialTokenStore`] or [`ReplayGuard`] keeps the contract the
//! registrar relies on. It panics with a message naming the broken rule, the feature that breaks
//! with it, and the line of your test that ran the kit.
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
//! [`check_client_store`] checks the required [`ClientStore`] methods always, and each optional
//! capability the store declares ([`InstanceIndex`] for idempotent registration, [`UsageLog`]
//! for [`Registrar::record_use`] and [`Registrar::reap`], [`ClientCount`] for the client
//! limits, [`ClientListing`] for [`Registrar::list_clients`]); it reports the capabilities it skipped because the store does not declare them
//! (`examples/custom_store.rs` runs it on a store with one capability).
//!
//! The checks use fresh random identifiers, so they can run against a store that holds other
//! data; they need a multi-threaded tokio runtime for the concurrency checks.
//!
//! [`Registrar::record_use`]: crate::Registrar::record_use
//! [`Registrar::reap`]: crate::Registrar::reap
//! [`Registrar::list_clients`]: crate::Registrar::list_clients

use std::fmt::Debug;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::initial_tokens::{InitialAccessGrant, InitialTokenStore, IssuedToken};
use crate::metadata::ClientMetadata;
use crate::secret::{RegistrationAccessToken, SecretHash};
use crate::statements::ReplayGuard;
use crate::store::{
    Capability, ClientCount, ClientListing, ClientRecord, ClientStore, InstanceIndex, ListPage,
    ListQuery, ListedClient, Origin, PreviousToken, SecretValue, StoreError, StoredSecret,
    StoredToken, UsageLog,
};

/// How many tasks race in the concurrency checks.
const RACERS: usize = 16;

/// The kit's assertions: a failure panics with the rule, the kit line that checked it (each
/// method is `#[track_caller]`) and the line of the test that ran the kit.
#[derive(Clone, Copy)]
struct Kit {
    caller: &'static Location<'static>,
}

impl Kit {
    #[track_caller]
    fn fail(self, rule: &str) -> ! {
        panic!(
            "store conformance: {rule}\n  (conformance kit run from {})",
            self.caller
        )
    }

    #[track_caller]
    fn check(self, holds: bool, rule: &str) {
        if !holds {
            self.fail(rule);
        }
    }

    #[track_caller]
    fn eq<T: PartialEq + Debug>(self, got: T, want: T, rule: &str) {
        if got != want {
            self.fail(&format!("{rule}\n  got:  {got:?}\n  want: {want:?}"));
        }
    }

    /// The value of a call that must succeed.
    #[track_caller]
    fn ok<T>(self, result: Result<T, StoreError>, call: &str) -> T {
        match result {
            Ok(value) => value,
            Err(e) => self.fail(&format!("{call} must succeed, it failed with {e:?}")),
        }
    }

    /// The value of a call to a method of a declared capability: its failure names the feature
    /// that breaks with it.
    #[track_caller]
    fn capable<T>(self, result: Result<T, StoreError>, call: &str, feature: &str) -> T {
        match result {
            Ok(value) => value,
            Err(e) => self.fail(&format!(
                "{call} failed with {e:?}: the store declares the capability, and {feature} \
                 breaks with it"
            )),
        }
    }

    /// The error of a call that must fail.
    #[track_caller]
    fn err<T: Debug>(self, result: Result<T, StoreError>, rule: &str) -> StoreError {
        match result {
            Ok(value) => self.fail(&format!("{rule} (it succeeded with {value:?})")),
            Err(e) => e,
        }
    }

    #[track_caller]
    fn conflict<T: Debug>(self, result: Result<T, StoreError>, rule: &str) {
        let e = self.err(result, rule);
        self.check(
            matches!(e, StoreError::Conflict),
            &format!("{rule}, not {e:?}"),
        );
    }

    #[track_caller]
    fn not_found<T: Debug>(self, result: Result<T, StoreError>, rule: &str) {
        let e = self.err(result, rule);
        self.check(
            matches!(e, StoreError::NotFound),
            &format!("{rule}, not {e:?}"),
        );
    }

    #[track_caller]
    fn same_record(self, written: &ClientRecord, stored: &ClientRecord, what: &str) {
        let mut stored = stored.clone();
        stored.version = written.version;
        self.eq(
            &stored,
            written,
            &format!("{what}: the stored record differs from what was written"),
        );
    }

    /// The stored record, which must exist.
    #[track_caller]
    fn stored(self, found: Result<Option<ClientRecord>, StoreError>, what: &str) -> ClientRecord {
        match self.ok(found, what) {
            Some(record) => record,
            None => self.fail(&format!("{what}: the client must be found")),
        }
    }

    /// The result of a spawned task (a panic in it is the kit's own failure, passed on).
    #[track_caller]
    fn joined<T>(self, joined: Result<T, tokio::task::JoinError>) -> T {
        match joined {
            Ok(value) => value,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => self.fail(&format!("a racing task did not finish: {e}")),
        }
    }
}

fn now() -> OffsetDateTime {
    // Whole seconds: stores may keep timestamps at second precision.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// 2001-01-01T00:00:00Z: clients the reaping check makes look this old, so that no other data
/// of the store is a candidate at that date.
fn long_ago() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(978_307_200).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn token(expires_at: Option<OffsetDateTime>) -> (String, StoredToken) {
    let raw = crate::credentials::random_token().unwrap_or_else(|_| random_id());
    let stored = StoredToken {
        hash: RegistrationAccessToken::new(raw.as_str()).hash(),
        expires_at,
    };
    (raw, stored)
}

/// A fresh client record with a random id and software id, a registration token, and the
/// members a rotation leaves behind, so that a store must keep them all.
fn record() -> ClientRecord {
    let mut metadata = ClientMetadata {
        client_name: Some("conformance".to_owned()),
        software_id: Some(random_id()),
        ..ClientMetadata::default()
    };
    metadata.set_localized("client_name", "fr", "conformité");
    let mut record = ClientRecord::new(random_id(), metadata, Origin::Dynamic, now());
    record.registration_token = Some(token(Some(now() + Duration::days(30))).1);
    record.previous_token = Some(PreviousToken {
        hash: token(None).1.hash,
        rotated_at: now() - Duration::minutes(1),
        grace_used: true,
    });
    record.retired_tokens = vec![token(None).1.hash, token(None).1.hash];
    // What binds the client beyond its metadata: a store that drops these lets updates escape
    // the initial token's restrictions and the statement's provenance.
    record.initial_token_subject = Some("partner-onboarding".to_owned());
    record.initial_grant = Some(
        InitialAccessGrant::with_scopes(["register"])
            .subject("partner-onboarding")
            .allowed_scopes(["openid", "profile"])
            .redirect_hosts([".partner.example"]),
    );
    record.software_statement = Some("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJkaXIifQ.c2ln".to_owned());
    record.statement_issuer = Some("https://directory.example".to_owned());
    record.statement_asserted = ["client_name".to_owned(), "software_id".to_owned()].into();
    record
}

/// What [`check_client_store`] checked: the capabilities the store declares (each checked) and
/// those it does not (skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreReport {
    /// The declared capabilities, each checked.
    pub checked: Vec<Capability>,
    /// The capabilities the store does not declare: a registrar whose policy needs one of them
    /// is refused at construction ([`Registrar::try_new`](crate::Registrar::try_new)).
    pub skipped: Vec<Capability>,
}

/// Checks the required [`ClientStore`] methods — create / get / find by token / update / delete
/// semantics, duplicate refusal, stale versions, token uniqueness, concurrent rotation (exactly
/// one winner), the preservation of every member of the record and of expiry timestamps — and
/// then each capability the store declares: lookup by instance and the uniqueness of instance
/// hashes ([`InstanceIndex`]); [`touch`](UsageLog::touch), which must not change the version,
/// even racing an update, and reaping candidates ([`UsageLog`]); counting ([`ClientCount`]);
/// listing page by page in `(created_at, client_id)` order, each client once even when one is
/// deleted between pages, bounded pages, each filter, and each item's provenance
/// ([`ClientListing`]).
/// Returns which capabilities were checked and which skipped (also written to standard error).
///
/// # Panics
/// When the store breaks a rule; the message names it, the feature that breaks, and the line
/// that called this function.
#[track_caller]
pub fn check_client_store(store: Arc<dyn ClientStore>) -> impl Future<Output = StoreReport> + Send {
    let kit = Kit {
        caller: Location::caller(),
    };
    async move {
        create_get_delete(kit, store.as_ref()).await;
        versions(kit, store.as_ref()).await;
        token_index(kit, store.as_ref()).await;
        concurrent_rotation(kit, store.clone()).await;
        let mut report = StoreReport {
            checked: Vec::new(),
            skipped: Vec::new(),
        };
        if let Some(index) = store.as_instance_index() {
            instances(kit, store.as_ref(), index).await;
            report.checked.push(Capability::InstanceIndex);
        } else {
            report.skipped.push(Capability::InstanceIndex);
        }
        if let Some(usage) = store.as_usage_log() {
            touching(kit, store.as_ref(), usage).await;
            touch_racing_an_update(kit, store.clone()).await;
            reaping(kit, store.as_ref(), usage).await;
            report.checked.push(Capability::UsageLog);
        } else {
            report.skipped.push(Capability::UsageLog);
        }
        if let Some(counts) = store.as_client_count() {
            counting(kit, store.as_ref(), counts).await;
            report.checked.push(Capability::ClientCount);
        } else {
            report.skipped.push(Capability::ClientCount);
        }
        if let Some(listing) = store.as_client_listing() {
            listing_pages(kit, store.as_ref(), listing).await;
            listing_filters(kit, store.as_ref(), listing).await;
            report.checked.push(Capability::ClientListing);
        } else {
            report.skipped.push(Capability::ClientListing);
        }
        if !report.skipped.is_empty() {
            let names: Vec<String> = report.skipped.iter().map(ToString::to_string).collect();
            eprintln!(
                "store conformance: skipped {} (not declared by the store)",
                names.join(", ")
            );
        }
        report
    }
}

async fn create_get_delete(kit: Kit, store: &dyn ClientStore) {
    let rec = record();
    kit.ok(store.create(&rec).await, "create of a new client");
    let got = kit.stored(store.get(&rec.client_id).await, "get after create");
    kit.same_record(&rec, &got, "create then get");
    kit.conflict(
        store.create(&rec).await,
        "a duplicate client_id must be refused with Conflict",
    );
    kit.check(
        kit.ok(store.get(&random_id()).await, "get").is_none(),
        "an unknown client is None",
    );
    kit.conflict(
        store.delete(&rec.client_id, got.version + 7).await,
        "delete with a stale version must be refused with Conflict",
    );
    kit.ok(
        store.delete(&rec.client_id, got.version).await,
        "delete with the current version",
    );
    kit.check(
        kit.ok(store.get(&rec.client_id).await, "get").is_none(),
        "a deleted client is gone",
    );
    let hash = rec.registration_token.as_ref().map(|t| t.hash);
    if let Some(hash) = hash {
        let found = kit.ok(store.find_by_registration_token(&hash).await, "find");
        kit.check(
            found.is_none(),
            "a deleted client's token must no longer be found",
        );
    }
    kit.not_found(
        store.delete(&rec.client_id, got.version).await,
        "deleting a missing client must answer NotFound",
    );
}

async fn versions(kit: Kit, store: &dyn ClientStore) {
    let rec = record();
    kit.ok(store.create(&rec).await, "create");
    let v0 = kit.stored(store.get(&rec.client_id).await, "get");
    let mut changed = v0.clone();
    changed.metadata.client_name = Some("renamed".to_owned());
    kit.ok(
        store.update(&changed).await,
        "update with the current version",
    );
    let v1 = kit.stored(store.get(&rec.client_id).await, "get after update");
    kit.eq(
        v1.version,
        v0.version + 1,
        "update must increment the version",
    );
    kit.same_record(&changed, &v1, "update then get");
    let mut stale = v0.clone();
    stale.metadata.client_name = Some("lost update".to_owned());
    kit.conflict(
        store.update(&stale).await,
        "update with a stale version must be refused with Conflict",
    );
    let after = kit.stored(store.get(&rec.client_id).await, "get");
    kit.same_record(&v1, &after, "a refused stale update must change nothing");
    let mut missing = record();
    missing.version = 0;
    kit.not_found(
        store.update(&missing).await,
        "updating a missing client must answer NotFound",
    );
    kit.eq(
        v1.registration_token.as_ref().and_then(|t| t.expires_at),
        rec.registration_token.as_ref().and_then(|t| t.expires_at),
        "token expiry must survive storage to the second",
    );
}

async fn token_index(kit: Kit, store: &dyn ClientStore) {
    let rec = record();
    kit.ok(store.create(&rec).await, "create");
    let Some(old) = rec.registration_token.as_ref().map(|t| t.hash) else {
        kit.fail("the kit's record has a token");
    };
    let found = kit.stored(
        store.find_by_registration_token(&old).await,
        "find by token hash",
    );
    kit.eq(
        &found.client_id,
        &rec.client_id,
        "the token belongs to its client",
    );
    let mut rotated = found.clone();
    let (_, fresh) = token(None);
    let new = fresh.hash;
    rotated.registration_token = Some(fresh);
    kit.ok(store.update(&rotated).await, "rotate");
    kit.check(
        kit.ok(store.find_by_registration_token(&old).await, "find")
            .is_none(),
        "a rotated-away token must no longer be found",
    );
    kit.check(
        kit.ok(store.find_by_registration_token(&new).await, "find")
            .is_some(),
        "the new token must be found",
    );
    let mut thief = record();
    thief.registration_token = Some(StoredToken {
        hash: new,
        expires_at: None,
    });
    kit.conflict(
        store.create(&thief).await,
        "a token hash held by another client must be refused with Conflict",
    );
    kit.check(
        kit.ok(store.get(&thief.client_id).await, "get").is_none(),
        "a refused create must leave nothing half-written",
    );
}

async fn concurrent_rotation(kit: Kit, store: Arc<dyn ClientStore>) {
    let rec = record();
    kit.ok(store.create(&rec).await, "create");
    let read = kit.stored(store.get(&rec.client_id).await, "get");
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
        match kit.joined(task.await) {
            Ok(hash) => winners.push(hash),
            Err(StoreError::Conflict) => {}
            Err(e) => kit.fail(&format!("a losing rotation must be a Conflict, not {e:?}")),
        }
    }
    kit.eq(
        winners.len(),
        1,
        "of concurrent rotations from one version exactly one wins",
    );
    let stored = kit.stored(store.get(&rec.client_id).await, "get");
    kit.eq(
        stored.registration_token.map(|t| t.hash),
        winners.first().copied(),
        "the winner's token is the only valid one",
    );
}

const IDEMPOTENT: &str = "idempotent registration (ServerPolicy::idempotent_registration)";

async fn instances(kit: Kit, store: &dyn ClientStore, index: &dyn InstanceIndex) {
    let instance = SecretHash::of(&random_id());
    let mut rec = record();
    rec.instance = Some(instance);
    kit.ok(store.create(&rec).await, "create with an instance hash");
    let found = kit.capable(
        index.find_by_instance(&instance).await,
        "find_by_instance",
        IDEMPOTENT,
    );
    match found {
        Some(found) => kit.same_record(&rec, &found, "find_by_instance after create"),
        None => kit.fail("find_by_instance must find the client created with that instance"),
    }
    let unknown = SecretHash::of(&random_id());
    kit.check(
        kit.capable(
            index.find_by_instance(&unknown).await,
            "find_by_instance",
            IDEMPOTENT,
        )
        .is_none(),
        "find_by_instance of an unknown instance is None",
    );
    let mut twin = record();
    twin.instance = Some(instance);
    kit.conflict(
        store.create(&twin).await,
        "an instance hash held by another client must be refused with Conflict",
    );
    kit.check(
        kit.ok(store.get(&twin.client_id).await, "get").is_none(),
        "a refused create must leave nothing half-written",
    );
    let mut without = kit.stored(store.get(&rec.client_id).await, "get");
    without.instance = None;
    kit.ok(store.update(&without).await, "update removing the instance");
    kit.check(
        kit.capable(
            index.find_by_instance(&instance).await,
            "find_by_instance",
            IDEMPOTENT,
        )
        .is_none(),
        "after an update removed it, the instance must no longer be found",
    );
    let mut again = kit.stored(store.get(&rec.client_id).await, "get");
    again.instance = Some(instance);
    kit.ok(store.update(&again).await, "update restoring the instance");
    let found = kit.capable(
        index.find_by_instance(&instance).await,
        "find_by_instance",
        IDEMPOTENT,
    );
    kit.eq(
        found.map(|r| r.client_id),
        Some(rec.client_id.clone()),
        "after an update set it, the instance finds its client",
    );
    let current = kit.stored(store.get(&rec.client_id).await, "get");
    kit.ok(
        store.delete(&rec.client_id, current.version).await,
        "delete",
    );
    kit.check(
        kit.capable(
            index.find_by_instance(&instance).await,
            "find_by_instance",
            IDEMPOTENT,
        )
        .is_none(),
        "a deleted client's instance must no longer be found",
    );
}

const RECORD_USE: &str = "Registrar::record_use (use tracking, and reaping of unused clients)";

async fn touching(kit: Kit, store: &dyn ClientStore, usage: &dyn UsageLog) {
    let rec = record();
    kit.ok(store.create(&rec).await, "create");
    let before = kit.stored(store.get(&rec.client_id).await, "get");
    let at = now() - Duration::hours(1);
    kit.capable(usage.touch(&rec.client_id, at).await, "touch", RECORD_USE);
    let after = kit.stored(store.get(&rec.client_id).await, "get after touch");
    kit.eq(
        after.last_used,
        Some(at),
        "touch must record the time of use",
    );
    kit.eq(
        after.version,
        before.version,
        "touch must not change the version: a use recorded by the token endpoint would turn a \
         concurrent management call into a 401",
    );
    let mut expected = before.clone();
    expected.last_used = Some(at);
    kit.same_record(&expected, &after, "touch must change nothing but last_used");
    let mut renamed = before.clone();
    renamed.metadata.client_name = Some("renamed after use".to_owned());
    kit.ok(
        store.update(&renamed).await,
        "an update from the version read before a touch",
    );
    kit.not_found(
        usage.touch(&random_id(), at).await,
        "touching a missing client must answer NotFound",
    );
}

/// An update from a version read before many concurrent touches must win: recording use never
/// invalidates a management call.
async fn touch_racing_an_update(kit: Kit, store: Arc<dyn ClientStore>) {
    let rec = record();
    kit.ok(store.create(&rec).await, "create");
    let read = kit.stored(store.get(&rec.client_id).await, "get");
    let mut touches = Vec::new();
    for i in 0..RACERS {
        let store = store.clone();
        let id = rec.client_id.clone();
        let at = now() - Duration::seconds(i64::try_from(i).unwrap_or(0));
        touches.push(tokio::spawn(async move {
            match store.as_usage_log() {
                Some(usage) => usage.touch(&id, at).await,
                None => Err(crate::store::StoreError::backend(std::io::Error::other(
                    "the store declares no UsageLog",
                ))),
            }
        }));
    }
    let mut changed = read.clone();
    changed.metadata.client_name = Some("managed while used".to_owned());
    kit.ok(
        store.update(&changed).await,
        "an update racing touches (touch must not change the version)",
    );
    for task in touches {
        kit.capable(kit.joined(task.await), "touch", RECORD_USE);
    }
    let stored = kit.stored(store.get(&rec.client_id).await, "get");
    kit.eq(
        stored.version,
        read.version + 1,
        "only the update changed the version",
    );
    kit.eq(
        stored.metadata.client_name.as_deref(),
        Some("managed while used"),
        "the update racing touches is stored",
    );
}

const REAP: &str = "Registrar::reap";

async fn reaping(kit: Kit, store: &dyn ClientStore, usage: &dyn UsageLog) {
    let then = long_ago();
    let unused_before = then + Duration::days(1);
    let at = then + Duration::days(30);
    let mut unused = record();
    unused.created_at = then;
    unused.updated_at = then;
    let mut dead = record();
    dead.created_at = then;
    dead.updated_at = then;
    dead.last_used = Some(then + Duration::hours(1));
    dead.registration_token = None;
    dead.secret = Some(StoredSecret {
        value: SecretValue::Hashed(SecretHash::of(&random_id())),
        expires_at: Some(then + Duration::days(2)),
    });
    // Used, with a live token, but admitted through a federation trust chain that expired.
    let mut expired = record();
    expired.created_at = then;
    expired.updated_at = then;
    expired.last_used = Some(then + Duration::hours(1));
    expired.federation = Some(crate::store::FederationProvenance {
        trust_anchor: "https://ta.example".to_owned(),
        immediate_superior: "https://int.example".to_owned(),
        expires_at: then + Duration::days(2),
        trust_chain: vec!["eyJ0eXAiOiJlbnRpdHktc3RhdGVtZW50K2p3dCJ9.e30.c2ln".to_owned()],
    });
    let mut admin = record();
    admin.origin = Origin::Administrator;
    admin.created_at = then;
    for rec in [&unused, &dead, &expired, &admin] {
        kit.ok(store.create(rec).await, "create");
    }
    let got = kit.stored(store.get(&expired.client_id).await, "get");
    kit.same_record(&expired, &got, "a client with federation provenance");
    let candidates = kit.capable(
        usage.reap_candidates(Some(unused_before), at, 1000).await,
        "reap_candidates",
        REAP,
    );
    for (rec, why) in [
        (&unused, "never used"),
        (&dead, "unable to authenticate or manage itself"),
        (&expired, "its federation registration expired"),
    ] {
        kit.check(
            candidates.iter().any(|c| c.client_id == rec.client_id),
            &format!("reap_candidates must list a reapable client ({why})"),
        );
    }
    if let Some(listed) = candidates.iter().find(|c| c.client_id == unused.client_id) {
        kit.same_record(&unused, listed, "a reaping candidate");
    }
    let one = kit.capable(
        usage.reap_candidates(Some(unused_before), at, 1).await,
        "reap_candidates",
        REAP,
    );
    kit.check(
        one.len() <= 1,
        "reap_candidates must return at most `limit` clients",
    );
    for rec in [&unused, &dead, &expired, &admin] {
        kit.ok(store.delete(&rec.client_id, rec.version).await, "delete");
    }
}

const LIMITS: &str = "the client limits (ServerPolicy::max_clients, max_clients_per_software_id)";

async fn counting(kit: Kit, store: &dyn ClientStore, counts: &dyn ClientCount) {
    let before = kit.capable(counts.count(None).await, "count(None)", LIMITS);
    let software_id = random_id();
    for _ in 0..3 {
        let mut rec = record();
        rec.metadata.software_id = Some(software_id.clone());
        kit.ok(store.create(&rec).await, "create");
    }
    let per_software = kit.capable(counts.count(Some(&software_id)).await, "count", LIMITS);
    kit.eq(per_software, 3, "count per software_id");
    let none = kit.capable(counts.count(Some(&random_id())).await, "count", LIMITS);
    kit.eq(none, 0, "count of an unknown software_id");
    let all = kit.capable(counts.count(None).await, "count(None)", LIMITS);
    kit.check(
        all >= before + 3,
        "count(None) must count every client (three more after three creates)",
    );
}

const LISTING: &str = "Registrar::list_clients (the admin view of registered clients)";

/// Clients the listing checks create: `n` records of one fresh statement issuer, created two
/// per second (so that the identifier orders clients created within one second), in listing
/// order.
async fn listed_clients(kit: Kit, store: &dyn ClientStore, n: usize) -> Vec<ClientRecord> {
    let issuer = format!("https://{}.directory.example", random_id());
    let base = now() - Duration::hours(1);
    let mut records = Vec::new();
    for i in 0..n {
        let mut rec = record();
        rec.statement_issuer = Some(issuer.clone());
        rec.created_at = base + Duration::seconds(i64::try_from(i / 2).unwrap_or(0));
        rec.updated_at = rec.created_at;
        kit.ok(store.create(&rec).await, "create");
        records.push(rec);
    }
    records.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
    records
}

/// Every page of `query`, checked: bounded by the page size, a cursor exactly when another page
/// follows (within a few more pages than `expected` needs).
async fn all_pages(
    kit: Kit,
    listing: &dyn ClientListing,
    mut query: ListQuery,
    expected: usize,
) -> Vec<ListedClient> {
    let size = query.page_size();
    let mut listed = Vec::new();
    for _ in 0..=expected / size + 1 {
        let page: ListPage = kit.capable(listing.list(&query).await, "list", LISTING);
        kit.check(
            page.clients.len() <= size,
            "a page must hold at most the query's page size",
        );
        listed.extend(page.clients);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return listed,
        }
    }
    kit.fail("the listing must end: the last page's `next` is None")
}

fn ids(listed: &[ListedClient]) -> Vec<&str> {
    listed.iter().map(|c| c.client_id.as_str()).collect()
}

fn record_ids(records: &[&ClientRecord]) -> Vec<String> {
    records.iter().map(|r| r.client_id.clone()).collect()
}

async fn listing_pages(kit: Kit, store: &dyn ClientStore, listing: &dyn ClientListing) {
    let records = listed_clients(kit, store, 5).await;
    let issuer = records[0].statement_issuer.clone().unwrap_or_default();
    let query = ListQuery::new().statement_issuer(issuer.as_str()).limit(2);
    let listed = all_pages(kit, listing, query.clone(), records.len()).await;
    kit.eq(
        ids(&listed),
        records.iter().map(|r| r.client_id.as_str()).collect(),
        "paging visits every matching client once, in (created_at, client_id) order",
    );
    for (item, rec) in listed.iter().zip(&records) {
        kit.eq(
            item,
            &ListedClient::of(rec),
            "a listed client carries its name, software_id, origin, statement issuer, initial              token subject and creation time",
        );
    }
    let first = kit.capable(listing.list(&query).await, "list", LISTING);
    kit.eq(first.clients.len(), 2, "a first page of two");
    kit.check(
        first.next.is_some(),
        "a page with more clients after it has a `next` cursor",
    );
    // Keyset paging: a client deleted after the first page moves nothing.
    let gone = &records[0];
    kit.ok(store.delete(&gone.client_id, gone.version).await, "delete");
    let mut after = query.clone();
    after.after = first.next;
    let rest = all_pages(kit, listing, after, records.len()).await;
    kit.eq(
        ids(&rest),
        records[2..].iter().map(|r| r.client_id.as_str()).collect(),
        "the pages after a cursor hold the clients after it, whatever was deleted before it",
    );
    for rec in &records[1..] {
        kit.ok(store.delete(&rec.client_id, rec.version).await, "delete");
    }
    let empty = kit.capable(listing.list(&query).await, "list", LISTING);
    kit.check(
        empty.clients.is_empty() && empty.next.is_none(),
        "a listing with no matching client is one empty page without `next`",
    );
}

async fn listing_filters(kit: Kit, store: &dyn ClientStore, listing: &dyn ClientListing) {
    let mut records = listed_clients(kit, store, 6).await;
    let issuer = records[0].statement_issuer.clone().unwrap_or_default();
    let subject = random_id();
    for (i, rec) in records.iter_mut().enumerate() {
        if i % 2 == 1 {
            rec.origin = Origin::Administrator;
        }
        if i < 3 {
            rec.initial_token_subject = Some(subject.clone());
        }
        kit.ok(store.update(rec).await, "update");
        rec.version += 1;
    }
    // Another issuer's client with the same subject: only the subject filter lists it.
    let mut other = record();
    other.initial_token_subject = Some(subject.clone());
    kit.ok(store.create(&other).await, "create");

    let cases = [
        (
            ListQuery::new()
                .statement_issuer(issuer.as_str())
                .origin(Origin::Administrator),
            record_ids(&[&records[1], &records[3], &records[5]]),
            "origin",
        ),
        (
            ListQuery::new()
                .statement_issuer(issuer.as_str())
                .origin(Origin::Dynamic),
            record_ids(&[&records[0], &records[2], &records[4]]),
            "origin",
        ),
        (
            ListQuery::new().initial_token_subject(subject.as_str()),
            {
                let mut with_subject = vec![&records[0], &records[1], &records[2], &other];
                with_subject.sort_by(|a, b| {
                    (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id))
                });
                record_ids(&with_subject)
            },
            "initial token subject",
        ),
        (
            ListQuery::new()
                .statement_issuer(issuer.as_str())
                .initial_token_subject(subject.as_str())
                .origin(Origin::Dynamic),
            record_ids(&[&records[0], &records[2]]),
            "statement issuer, initial token subject and origin together",
        ),
    ];
    for (query, want, filter) in cases {
        let listed = all_pages(kit, listing, query.limit(2), 8).await;
        kit.eq(
            ids(&listed)
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>(),
            want,
            &format!("the listing filtered by {filter} holds exactly the matching clients"),
        );
    }
    for rec in records.iter().chain([&other]) {
        kit.ok(store.delete(&rec.client_id, rec.version).await, "delete");
    }
}

fn issued(max_uses: Option<u32>, expires_at: Option<OffsetDateTime>) -> (String, IssuedToken) {
    let (raw, stored) = token(None);
    let token = IssuedToken {
        id: random_id(),
        hash: stored.hash,
        grant: InitialAccessGrant {
            expires_at,
            ..InitialAccessGrant::with_scopes(["register"]).subject("conformance")
        },
        issued_at: now(),
        max_uses,
        uses: 0,
    };
    (raw, token)
}

/// Checks insert / find / list / revoke, expiry, and that concurrent uses of a token with `M`
/// uses succeed exactly `M` times, with given-back uses available again.
///
/// # Panics
/// When the store breaks a rule; the message names it and the line that called this function.
#[track_caller]
pub fn check_initial_token_store(
    store: Arc<dyn InitialTokenStore>,
) -> impl Future<Output = ()> + Send {
    let kit = Kit {
        caller: Location::caller(),
    };
    async move {
        token_uses(kit, store.clone()).await;
        token_listing(kit, store.as_ref()).await;
    }
}

async fn token_uses(kit: Kit, store: Arc<dyn InitialTokenStore>) {
    let max = 5;
    let (_, tok) = issued(Some(max), Some(now() + Duration::hours(1)));
    kit.ok(store.insert_token(&tok).await, "insert_token");
    let found = kit.ok(store.find_token(&tok.hash).await, "find_token");
    kit.eq(
        found.as_ref(),
        Some(&tok),
        "the stored token equals what was written",
    );
    kit.conflict(
        store.insert_token(&tok).await,
        "a duplicate token must be refused with Conflict",
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
        if kit.ok(kit.joined(task.await), "take_use") {
            taken += 1;
        }
    }
    kit.eq(
        taken,
        max,
        "concurrent uses of a token with `max_uses` succeed exactly `max_uses` times",
    );
    kit.ok(store.give_back_use(&tok.hash).await, "give_back_use");
    kit.check(
        kit.ok(store.take_use(&tok.hash, now()).await, "take_use"),
        "a given-back use can be taken again",
    );
    kit.check(
        !kit.ok(store.take_use(&tok.hash, now()).await, "take_use"),
        "no use is left",
    );
    let (_, expired) = issued(None, Some(now() - Duration::seconds(1)));
    kit.ok(store.insert_token(&expired).await, "insert_token");
    kit.check(
        !kit.ok(store.take_use(&expired.hash, now()).await, "take_use"),
        "an expired token has no use",
    );
}

async fn token_listing(kit: Kit, store: &dyn InitialTokenStore) {
    let (_, tok) = issued(Some(1), None);
    kit.ok(store.insert_token(&tok).await, "insert_token");
    let listed = kit.ok(store.list_tokens().await, "list_tokens");
    kit.check(
        listed.iter().any(|t| t.id == tok.id),
        "list_tokens contains the token",
    );
    kit.check(
        kit.ok(store.revoke_token(&tok.id).await, "revoke_token"),
        "revoke_token finds the token",
    );
    kit.check(
        kit.ok(store.find_token(&tok.hash).await, "find_token")
            .is_none(),
        "a revoked token is gone",
    );
    kit.check(
        !kit.ok(store.revoke_token(&tok.id).await, "revoke_token"),
        "revoking twice finds nothing",
    );
}

/// A key as the registrar builds it: the issuer, NUL, the `jti`.
fn composite(issuer: &str, jti: &str) -> String {
    format!("{issuer}\u{0}{jti}")
}

/// Keys a guard meets in production, each distinct from every other: issuer URLs, NUL
/// separators, unicode, `jti`s of several KiB, keys that differ only in their last byte, in
/// case, in trailing space, or in what separates the issuer from the `jti`.
fn realistic_keys() -> Vec<String> {
    let id = random_id();
    let long = format!("{id}-{}", "0123456789abcdef".repeat(512));
    let issuer = "https://directory.example/tenants/open-banking";
    vec![
        composite(issuer, &id),
        composite("https://registry.example.com", &id),
        composite("", &id),
        composite(
            "https://каталог.example/ключи",
            &format!("jti-日本語-🔑-{id}"),
        ),
        composite(issuer, &long),
        composite(issuer, &format!("{long}!")),
        composite(issuer, &format!("{long}?")),
        composite(issuer, &id.to_uppercase()),
        composite(issuer, &format!("{id} ")),
        format!("{issuer}{id}"),
        format!("{issuer} {id}"),
        composite(&format!("{issuer}\u{0}{id}"), &id),
    ]
}

/// Checks that a key is accepted once until it expires, and again after; that realistic keys
/// (issuer URLs and `jti`s joined by NUL, unicode, `jti`s of several KiB) are each remembered
/// apart from the others; and that of concurrent first uses exactly one is accepted.
///
/// # Panics
/// When the guard breaks a rule; the message names it and the line that called this function.
#[track_caller]
pub fn check_replay_guard(guard: Arc<dyn ReplayGuard>) -> impl Future<Output = ()> + Send {
    let kit = Kit {
        caller: Location::caller(),
    };
    async move {
        distinct_keys(kit, guard.as_ref()).await;
        expiry(kit, guard.as_ref()).await;
        concurrent_first_uses(kit, guard).await;
    }
}

async fn distinct_keys(kit: Kit, guard: &dyn ReplayGuard) {
    let t = now();
    let until = t + Duration::minutes(5);
    let keys = realistic_keys();
    for key in &keys {
        let shown = key.chars().take(80).collect::<String>();
        kit.check(
            kit.ok(
                guard.first_use(key, t, until).await,
                "first_use of a new key",
            ),
            &format!("a new key is accepted: {shown:?}"),
        );
    }
    for key in &keys {
        let shown = key.chars().take(80).collect::<String>();
        kit.check(
            !kit.ok(
                guard.first_use(key, t, until).await,
                "first_use of a replay",
            ),
            &format!("a replayed key is refused: {shown:?}"),
        );
    }
}

async fn expiry(kit: Kit, guard: &dyn ReplayGuard) {
    let key = composite("https://directory.example", &random_id());
    let t = now();
    kit.check(
        kit.ok(
            guard.first_use(&key, t, t + Duration::minutes(5)).await,
            "first_use",
        ),
        "a new jti is accepted",
    );
    kit.check(
        !kit.ok(
            guard.first_use(&key, t, t + Duration::minutes(5)).await,
            "first_use",
        ),
        "a replayed jti is refused",
    );
    let later = t + Duration::minutes(6);
    kit.check(
        kit.ok(
            guard
                .first_use(&key, later, later + Duration::minutes(5))
                .await,
            "first_use",
        ),
        "after its expiry a jti may be used again",
    );
}

async fn concurrent_first_uses(kit: Kit, guard: Arc<dyn ReplayGuard>) {
    let t = now();
    let key = composite(
        "https://directory.example",
        &format!("{}-{}", random_id(), "x".repeat(4096)),
    );
    let mut tasks = Vec::new();
    for _ in 0..RACERS {
        let guard = guard.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            guard.first_use(&key, t, t + Duration::minutes(5)).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        if kit.ok(kit.joined(task.await), "first_use") {
            accepted += 1;
        }
    }
    kit.eq(
        accepted,
        1,
        "of concurrent first uses of one jti exactly one is accepted",
    );
}
