//! Criterion benchmarks of the registrar, each next to a "floor" that does only the work no
//! implementation can avoid. See benches/README.md for the method and the figures.
//!
//! ```text
//! cargo bench --bench registrar                       # in-memory
//! DATABASE_URL=postgres://… cargo bench --bench registrar --features postgres,fetch
//! cargo bench --bench registrar --features sqlite,fetch -- sqlite   # a file in the temp dir
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use oauth_dcr::documents::DocumentPolicy;
use oauth_dcr::fetch::{FetchError, FetchLimits, Fetched, Fetcher};
use oauth_dcr::statements::{Jwks, SoftwareStatements, StaticKeySource};
use oauth_dcr::store::{Origin, StoredToken};
use oauth_dcr::{
    ClientMetadata, ClientRecord, ClientStore, MemoryStore, Registrar, RegistrationAccessToken,
    RequestContext, ServerPolicy,
};
use sha2::Digest as _;
use tokio::runtime::Runtime;

const BODY: &[u8] = br#"{"redirect_uris":["https://app.example.com/callback","https://app.example.com/callback2"],"client_name":"Example App","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"client_secret_basic","scope":"openid profile email","contacts":["dev@app.example.com"]}"#;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn registrar(store: Arc<dyn ClientStore>) -> Registrar {
    Registrar::new(ServerPolicy::new("https://as.example/register"), store)
}

fn secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("random");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The unavoidable work of one registration: parse the body, parse two redirect URIs, one UUID,
/// two 256-bit secrets, one SHA-256, serialize a response of the same shape.
fn floor_register() -> Vec<u8> {
    let mut body: serde_json::Value = serde_json::from_slice(BODY).expect("json");
    for uri in body["redirect_uris"].as_array().expect("array") {
        black_box(url::Url::parse(uri.as_str().expect("str")).expect("url"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let client_secret = secret();
    let token = secret();
    let hash = sha2::Sha256::digest(token.as_bytes());
    black_box(hash);
    let object = body.as_object_mut().expect("object");
    object.insert("client_id".into(), id.into());
    object.insert("client_secret".into(), client_secret.into());
    object.insert("registration_access_token".into(), token.into());
    object.insert("client_id_issued_at".into(), 1_700_000_000.into());
    serde_json::to_vec(&body).expect("serialize")
}

/// The unavoidable work of a read with rotation: one map lookup, hash and compare the presented
/// token, one new token and its hash, serialize the response.
fn floor_read(
    map: &std::collections::HashMap<String, serde_json::Value>,
    id: &str,
    token: &str,
) -> Vec<u8> {
    let record = map.get(id).expect("present");
    let presented = sha2::Sha256::digest(token.as_bytes());
    black_box(presented);
    let fresh = secret();
    black_box(sha2::Sha256::digest(fresh.as_bytes()));
    let mut response = record.clone();
    response["registration_access_token"] = fresh.into();
    serde_json::to_vec(&response).expect("serialize")
}

fn operations(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("operations");
    group.measurement_time(Duration::from_secs(4));

    group.bench_function("floor_register", |b| b.iter(floor_register));
    let fresh = registrar(Arc::new(MemoryStore::new()));
    group.bench_function("validate", |b| {
        b.iter(|| oauth_dcr::validate(fresh.policy(), &req(black_box(BODY))).expect("valid"))
    });
    group.bench_function("register", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let registrar = registrar(Arc::new(MemoryStore::new()));
            let ctx = RequestContext::new();
            let start = Instant::now();
            for _ in 0..iters {
                black_box(
                    registrar
                        .register(req(BODY), &ctx)
                        .await
                        .expect("register")
                        .to_json(),
                );
            }
            start.elapsed()
        })
    });

    // Reads and updates cycle over 1,000 clients, each call rotating its token.
    let reg = registrar(Arc::new(MemoryStore::new()));
    let clients: Vec<(String, String)> = rt.block_on(async {
        let mut out = Vec::new();
        for _ in 0..1000 {
            let c = reg
                .register(req(BODY), &RequestContext::new())
                .await
                .expect("register");
            out.push((
                c.client_id.clone(),
                c.registration_access_token
                    .as_ref()
                    .expect("token")
                    .secret()
                    .to_owned(),
            ));
        }
        out
    });
    let floor_map: std::collections::HashMap<String, serde_json::Value> = clients
        .iter()
        .map(|(id, _)| (id.clone(), serde_json::from_slice(BODY).expect("json")))
        .collect();
    group.bench_function("floor_read", |b| {
        let mut i = 0;
        b.iter(|| {
            let (id, token) = &clients[i % clients.len()];
            i += 1;
            floor_read(&floor_map, id, token)
        })
    });
    // The harness copies nothing per call: each client's id is borrowed and its token moved out
    // (the floors borrow both), and only the new token a response carries is kept.
    let ids: Vec<String> = clients.iter().map(|(id, _)| id.clone()).collect();
    let tokens = std::cell::RefCell::new(
        clients
            .iter()
            .map(|(_, token)| token.clone())
            .collect::<Vec<String>>(),
    );
    group.bench_function("read", |b| {
        let mut i = 0;
        b.to_async(&rt).iter(|| {
            i += 1;
            let n = i % 1000;
            let id = ids[n].as_str();
            let token = std::mem::take(&mut tokens.borrow_mut()[n]);
            let reg = &reg;
            let tokens = &tokens;
            async move {
                let read = reg.read(id, Some(&token)).await.expect("read");
                let json = read.to_json();
                tokens.borrow_mut()[n] = read
                    .registration_access_token
                    .as_ref()
                    .expect("token")
                    .secret()
                    .to_owned();
                json
            }
        })
    });
    group.bench_function("floor_update", |b| {
        let mut i = 0;
        b.iter(|| {
            let (id, token) = &clients[i % clients.len()];
            i += 1;
            let body: serde_json::Value = serde_json::from_slice(BODY).expect("json");
            for uri in body["redirect_uris"].as_array().expect("array") {
                black_box(url::Url::parse(uri.as_str().expect("str")).expect("url"));
            }
            floor_read(&floor_map, id, token)
        })
    });
    let updates: Vec<Vec<u8>> = clients
        .iter()
        .map(|(id, _)| {
            let mut body: serde_json::Value = serde_json::from_slice(BODY).expect("json");
            body["client_id"] = id.clone().into();
            serde_json::to_vec(&body).expect("json")
        })
        .collect();
    group.bench_function("update", |b| {
        let mut i = 0;
        b.to_async(&rt).iter(|| {
            i += 1;
            let n = i % 1000;
            let id = ids[n].as_str();
            let token = std::mem::take(&mut tokens.borrow_mut()[n]);
            let body = &updates[n];
            let reg = &reg;
            let tokens = &tokens;
            async move {
                let ctx = RequestContext::new();
                let updated = reg
                    .update(id, Some(&token), req(body), &ctx)
                    .await
                    .expect("update");
                let json = updated.to_json();
                tokens.borrow_mut()[n] = updated
                    .registration_access_token
                    .as_ref()
                    .expect("token")
                    .secret()
                    .to_owned();
                json
            }
        })
    });
    group.bench_function("delete", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let registrar = registrar(Arc::new(MemoryStore::new()));
            let mut made = Vec::new();
            for _ in 0..iters {
                let c = registrar
                    .register(req(BODY), &RequestContext::new())
                    .await
                    .expect("register");
                made.push((
                    c.client_id.clone(),
                    c.registration_access_token
                        .as_ref()
                        .expect("token")
                        .secret()
                        .to_owned(),
                ));
            }
            let start = Instant::now();
            for (id, token) in &made {
                registrar.delete(id, Some(token)).await.expect("delete");
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// A minimal stored client, as fast to make as possible, for filling a store.
fn synthetic(i: usize) -> ClientRecord {
    let metadata: ClientMetadata = serde_json::from_slice(BODY).expect("metadata");
    let mut record = ClientRecord::new(
        format!("00000000-0000-4000-8000-{i:012}"),
        metadata,
        Origin::Dynamic,
        time::OffsetDateTime::now_utc(),
    );
    record.registration_token = Some(StoredToken {
        hash: RegistrationAccessToken::new(format!("token-{i}")).hash(),
        expires_at: None,
    });
    record
}

fn scale(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("scale");
    group.measurement_time(Duration::from_secs(4));
    let filled = |size: usize| {
        let store = Arc::new(MemoryStore::new());
        rt.block_on(async {
            for i in 0..size {
                store.create(&synthetic(i)).await.expect("create");
            }
        });
        store
    };
    for size in [1_000usize, 1_000_000] {
        // Reads on a store of exactly `size` clients: nothing else writes to it.
        let store = filled(size);
        let mut policy = ServerPolicy::new("https://as.example/register");
        policy.rotate_on_read = false;
        let stable = Registrar::new(policy, store.clone());
        group.bench_function(format!("read/{size}"), |b| {
            let mut i = 0usize;
            b.to_async(&rt).iter(|| {
                i = (i + 7919) % size;
                let id = format!("00000000-0000-4000-8000-{i:012}");
                let token = format!("token-{i}");
                let stable = &stable;
                async move {
                    stable
                        .read(&id, Some(&token))
                        .await
                        .expect("read")
                        .to_json()
                }
            })
        });
        // The bare data structure at the same size: one lookup in a map of `size` records of a
        // stored client's size, and one pass over the record's bytes, with the same keys made
        // the same way. What it loses from 1k to 1M is the machine's memory, not the store's.
        let record_len = 560;
        let bare: std::collections::HashMap<String, Box<[u8]>> = (0..size)
            .map(|i| {
                let id = format!("00000000-0000-4000-8000-{i:012}");
                let bytes: Box<[u8]> = (0..record_len).map(|b| (b ^ i) as u8).collect();
                (id, bytes)
            })
            .collect();
        group.bench_function(format!("floor_read/{size}"), |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 7919) % size;
                let id = format!("00000000-0000-4000-8000-{i:012}");
                let token = format!("token-{i}");
                let record = bare.get(&id).expect("present");
                black_box(token);
                record.iter().fold(0u8, |acc, b| acc ^ b)
            })
        });
        drop(bare);
        drop(stable);
        drop(store);
        // Registrations on a fresh store of `size` clients, which the benchmark's own
        // registrations then grow.
        let registrar = registrar(filled(size));
        group.bench_function(format!("register/{size}"), |b| {
            b.to_async(&rt).iter(|| async {
                registrar
                    .register(req(BODY), &RequestContext::new())
                    .await
                    .expect("register")
                    .to_json()
            })
        });
    }
    group.finish();
}

/// Test keys made at bench start (not timed): one per algorithm.
fn statement_keys() -> Vec<(
    &'static str,
    Box<dyn josekit::jws::JwsSigner>,
    josekit::jwk::Jwk,
)> {
    use josekit::jws::{EdDSA, ES256, PS256, RS256};
    let rsa = RS256.generate_key_pair(2048).expect("rsa");
    let pss = PS256.generate_key_pair(2048).expect("rsa-pss");
    let ec = ES256.generate_key_pair().expect("ec");
    let ed = EdDSA
        .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
        .expect("ed");
    let mut out: Vec<(
        &'static str,
        Box<dyn josekit::jws::JwsSigner>,
        josekit::jwk::Jwk,
    )> = Vec::new();
    let rsa_pem = rsa.to_pem_private_key();
    out.push((
        "RS256",
        Box::new(RS256.signer_from_pem(&rsa_pem).expect("signer")),
        rsa.to_jwk_public_key(),
    ));
    out.push((
        "PS256",
        Box::new(
            PS256
                .signer_from_pem(pss.to_pem_private_key())
                .expect("signer"),
        ),
        pss.to_jwk_public_key(),
    ));
    out.push((
        "ES256",
        Box::new(
            ES256
                .signer_from_pem(ec.to_pem_private_key())
                .expect("signer"),
        ),
        ec.to_jwk_public_key(),
    ));
    out.push((
        "EdDSA",
        Box::new(
            EdDSA
                .signer_from_pem(ed.to_pem_private_key())
                .expect("signer"),
        ),
        ed.to_jwk_public_key(),
    ));
    out
}

fn statements(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("statements");
    group.measurement_time(Duration::from_secs(4));
    for (alg, signer, mut jwk) in statement_keys() {
        jwk.set_key_id("k1");
        let mut header = josekit::jws::JwsHeader::new();
        header.set_algorithm(alg);
        header.set_key_id("k1");
        let mut payload = josekit::jwt::JwtPayload::new();
        payload.set_issuer("https://directory.example");
        payload
            .set_claim("software_id", Some("app".into()))
            .expect("claim");
        payload
            .set_claim("client_name", Some("Example App".into()))
            .expect("claim");
        let jws =
            josekit::jwt::encode_with_signer(&payload, &header, signer.as_ref()).expect("sign");

        let verifier: Box<dyn josekit::jws::JwsVerifier> = match alg {
            "RS256" => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).expect("v")),
            "PS256" => Box::new(josekit::jws::PS256.verifier_from_jwk(&jwk).expect("v")),
            "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).expect("v")),
            _ => Box::new(josekit::jws::EdDSA.verifier_from_jwk(&jwk).expect("v")),
        };
        group.bench_function(format!("josekit_verify/{alg}"), |b| {
            b.iter(|| {
                josekit::jwt::decode_with_verifier(black_box(&jws), verifier.as_ref())
                    .expect("verify")
            })
        });

        let set = format!(r#"{{"keys":[{jwk}]}}"#);
        let keys = StaticKeySource::new().with_issuer(
            "https://directory.example",
            Jwks::from_json(set.as_bytes()).expect("jwks"),
        );
        let body = format!(
            r#"{{"redirect_uris":["https://app.example.com/callback","https://app.example.com/callback2"],"grant_types":["authorization_code","refresh_token"],"scope":"openid profile email","software_statement":"{jws}"}}"#
        );
        group.bench_function(format!("register_with_statement/{alg}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let keys = keys.clone();
                let body = body.clone();
                async move {
                    let registrar = registrar(Arc::new(MemoryStore::new()))
                        .with_software_statements(SoftwareStatements::new(Arc::new(keys)));
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(
                            registrar
                                .register(req(body.as_bytes()), &RequestContext::new())
                                .await
                                .expect("register")
                                .to_json(),
                        );
                    }
                    start.elapsed()
                }
            })
        });
    }
    group.finish();
}

/// Serves one fixed client metadata document, instantly.
struct FixedDocument(Vec<u8>);

#[async_trait]
impl Fetcher for FixedDocument {
    async fn fetch(&self, _url: &str, _limits: FetchLimits) -> Result<Fetched, FetchError> {
        Ok(Fetched::new(self.0.clone()))
    }
}

fn documents(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("documents");
    let id = "https://app.example/client.json";
    let doc = format!(
        r#"{{"client_id":"{id}","client_name":"Agent","redirect_uris":["http://127.0.0.1/cb"],"application_type":"native"}}"#
    );
    let mut policy = ServerPolicy::new("https://as.example/register");
    policy.metadata_documents = Some(DocumentPolicy::default());
    let store = Arc::new(MemoryStore::new());
    let registrar = Registrar::new(policy, store.clone())
        .with_metadata_documents(Arc::new(FixedDocument(doc.into_bytes())));
    rt.block_on(registrar.resolve_client_id(id))
        .expect("resolves");
    rt.block_on(store.create(&synthetic(1))).expect("create");
    group.bench_function("cache_hit", |b| {
        b.to_async(&rt).iter(|| async {
            registrar
                .resolve_client_id(black_box(id))
                .await
                .expect("hit")
        })
    });
    let stored = synthetic(1).client_id;
    group.bench_function("store_read", |b| {
        b.to_async(&rt)
            .iter(|| async { store.get(black_box(&stored)).await.expect("get") })
    });
    group.finish();
}

#[cfg(feature = "postgres")]
fn postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("postgres benchmarks skipped: DATABASE_URL is not set");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let schema = format!("dcr_bench_{}", uuid::Uuid::new_v4().simple());
    let store = rt.block_on(async {
        let store = oauth_dcr::store::PostgresStore::connect(&url, 4)
            .await
            .expect("pool");
        let store = store.with_schema(&schema).expect("schema");
        store.migrate().await.expect("migrate");
        store
    });
    let (client, connection) = rt
        .block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls))
        .expect("connect");
    rt.spawn(connection);
    rt.block_on(client.batch_execute(&format!(
        "CREATE TABLE {schema}.bare (id TEXT PRIMARY KEY, doc JSONB NOT NULL)"
    )))
    .expect("bare table");
    let insert = rt
        .block_on(client.prepare(&format!(
            "INSERT INTO {schema}.bare (id, doc) VALUES ($1, $2)"
        )))
        .expect("prepare");
    let select = rt
        .block_on(client.prepare(&format!("SELECT doc FROM {schema}.bare WHERE id = $1")))
        .expect("prepare");
    let doc: serde_json::Value = serde_json::from_slice(BODY).expect("json");

    let mut group = c.benchmark_group("postgres");
    group.measurement_time(Duration::from_secs(6));
    group.sample_size(30);
    group.bench_function("bare_insert", |b| {
        b.to_async(&rt).iter(|| async {
            let id = uuid::Uuid::new_v4().to_string();
            client.execute(&insert, &[&id, &doc]).await.expect("insert")
        })
    });
    let registrar = registrar(Arc::new(store.clone()));
    group.bench_function("register", |b| {
        b.to_async(&rt).iter(|| async {
            registrar
                .register(req(BODY), &RequestContext::new())
                .await
                .expect("register")
                .to_json()
        })
    });
    let id = rt
        .block_on(async {
            let id = uuid::Uuid::new_v4().to_string();
            client.execute(&insert, &[&id, &doc]).await.map(|_| id)
        })
        .expect("insert");
    group.bench_function("bare_select", |b| {
        b.to_async(&rt)
            .iter(|| async { client.query_one(&select, &[&id]).await.expect("select") })
    });
    let mut policy = ServerPolicy::new("https://as.example/register");
    policy.rotate_on_read = false;
    let stable = Registrar::new(policy, Arc::new(store));
    let client_one = rt
        .block_on(stable.register(req(BODY), &RequestContext::new()))
        .expect("register");
    let token = client_one
        .registration_access_token
        .as_ref()
        .expect("token")
        .secret()
        .to_owned();
    group.bench_function("read", |b| {
        b.to_async(&rt).iter(|| async {
            stable
                .read(&client_one.client_id, Some(&token))
                .await
                .expect("read")
                .to_json()
        })
    });
    group.finish();
    rt.block_on(client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")))
        .expect("drop");
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &mut Criterion) {}

/// `SqliteStore` on a file in the temporary directory (durable commits, the default), each
/// operation beside the bare statement on a connection of its own: `bare_insert` is one durable
/// insert of the same JSON, `bare_select` one lookup by key.
#[cfg(feature = "sqlite")]
fn sqlite(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir();
    let name = uuid::Uuid::new_v4().simple().to_string();
    let path = dir.join(format!("dcr-bench-{name}.db"));
    let bare_path = dir.join(format!("dcr-bench-{name}-bare.db"));
    let store = rt
        .block_on(oauth_dcr::store::SqliteStore::open(&path))
        .expect("open");
    let bare = rusqlite::Connection::open(&bare_path).expect("bare database");
    bare.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    bare.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous");
    bare.execute_batch("CREATE TABLE bare (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        .expect("bare table");
    let doc = std::str::from_utf8(BODY).expect("utf-8").to_owned();

    let mut group = c.benchmark_group("sqlite");
    group.measurement_time(Duration::from_secs(6));
    group.sample_size(30);
    group.bench_function("bare_insert", |b| {
        b.iter(|| {
            let id = uuid::Uuid::new_v4().to_string();
            bare.prepare_cached("INSERT INTO bare (id, doc) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute([&id, &doc]))
                .expect("insert")
        })
    });
    let registrar = registrar(Arc::new(store.clone()));
    group.bench_function("register", |b| {
        b.to_async(&rt).iter(|| async {
            registrar
                .register(req(BODY), &RequestContext::new())
                .await
                .expect("register")
                .to_json()
        })
    });
    let id = uuid::Uuid::new_v4().to_string();
    bare.execute("INSERT INTO bare (id, doc) VALUES (?1, ?2)", [&id, &doc])
        .expect("insert");
    group.bench_function("bare_select", |b| {
        b.iter(|| {
            bare.prepare_cached("SELECT doc FROM bare WHERE id = ?1")
                .and_then(|mut s| s.query_row([&id], |row| row.get::<_, String>(0)))
                .expect("select")
        })
    });
    let mut policy = ServerPolicy::new("https://as.example/register");
    policy.rotate_on_read = false;
    let stable = Registrar::new(policy, Arc::new(store));
    let client_one = rt
        .block_on(stable.register(req(BODY), &RequestContext::new()))
        .expect("register");
    let token = client_one
        .registration_access_token
        .as_ref()
        .expect("token")
        .secret()
        .to_owned();
    group.bench_function("read", |b| {
        b.to_async(&rt).iter(|| async {
            stable
                .read(&client_one.client_id, Some(&token))
                .await
                .expect("read")
                .to_json()
        })
    });
    group.finish();
    drop((registrar, stable, bare));
    for file in [path, bare_path] {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = file.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(_: &mut Criterion) {}

criterion_group!(benches, operations, statements, federation, documents, scale, postgres, sqlite);
criterion_main!(benches);

/// OpenID Federation explicit registration through a three-level chain (ES256 throughout):
/// `verify_chain` alone (what a chain costs the first time: four signatures), and a registration
/// with a chain the registrar verified before (what every later registration with it costs),
/// to set beside `statements/register_with_statement/ES256`.
fn federation(c: &mut Criterion) {
    use oauth_dcr::federation::chain::{verify_chain, ChainRules, TrustAnchor};
    use oauth_dcr::federation::response::JwkSigner;
    use oauth_dcr::federation::ExplicitRegistration;
    use serde_json::json;

    struct Entity {
        id: &'static str,
        signer: Box<dyn josekit::jws::JwsSigner>,
        jwks: serde_json::Value,
    }
    let entity = |id: &'static str| {
        let pair = josekit::jws::ES256.generate_key_pair().expect("key");
        let mut private = pair.to_jwk_key_pair();
        private.set_key_id("k1");
        let mut public = pair.to_jwk_public_key();
        public.set_key_id("k1");
        (
            Entity {
                id,
                signer: Box::new(
                    josekit::jws::ES256
                        .signer_from_jwk(&private)
                        .expect("signer"),
                ),
                jwks: json!({ "keys": [serde_json::Value::Object(public.as_ref().clone())] }),
            },
            private,
        )
    };
    let sign = |by: &Entity, claims: serde_json::Value| {
        let header = json!({"alg": "ES256", "typ": "entity-statement+jwt", "kid": "k1"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = by.signer.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    let (anchor, _) = entity("https://ta.example");
    let (intermediate, _) = entity("https://int.example");
    let (client, _) = entity("https://rp.example");
    let (_, server_key) = entity("https://op.example");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let about = |issuer: &Entity, subject: &Entity, extra: serde_json::Value| {
        let mut claims = json!({"iss": issuer.id, "sub": subject.id, "iat": now - 60,
            "exp": now + 86_400, "jwks": subject.jwks});
        for (k, v) in extra.as_object().expect("object") {
            claims[k] = v.clone();
        }
        claims
    };
    let chain = vec![
        sign(
            &client,
            about(
                &client,
                &client,
                json!({"aud": "https://op.example", "authority_hints": [intermediate.id],
                "metadata": {"openid_relying_party": {
                    "redirect_uris": ["https://rp.example/cb"], "client_name": "Example App",
                    "token_endpoint_auth_method": "client_secret_basic"}}}),
            ),
        ),
        sign(&intermediate, about(&intermediate, &client, json!({}))),
        sign(
            &anchor,
            about(
                &anchor,
                &intermediate,
                json!({"metadata_policy": {"openid_relying_party": {
                "contacts": {"add": ["helpdesk@ta.example"]}}}}),
            ),
        ),
    ];
    let keys = Jwks::from_json(anchor.jwks.to_string().as_bytes()).expect("jwks");
    let anchors = vec![TrustAnchor::new(anchor.id, keys)];
    let rules = ChainRules::default();
    let mut group = c.benchmark_group("federation");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("verify_chain/3-level", |b| {
        b.iter(|| {
            verify_chain(
                black_box(&chain),
                &anchors,
                &rules,
                time::OffsetDateTime::now_utc(),
            )
            .expect("verifies")
        })
    });
    let signer = JwkSigner::from_jwk(server_key.to_string().as_bytes()).expect("signer");
    let registrar = Registrar::new(
        ServerPolicy::new("https://op.example/register"),
        Arc::new(MemoryStore::new()),
    )
    .with_explicit_registration(ExplicitRegistration::new(
        "https://op.example",
        anchors.clone(),
        Arc::new(signer),
    ));
    let rt = runtime();
    // The same chain resolved from a client's Entity Configuration alone, the superiors'
    // documents served from memory: the resolution's own cost besides its four fetches.
    struct Published(std::collections::HashMap<String, String>);
    #[async_trait]
    impl Fetcher for Published {
        async fn fetch(&self, url: &str, _: FetchLimits) -> Result<Fetched, FetchError> {
            self.0
                .get(url)
                .map(|body| Fetched::new(body.clone().into_bytes()))
                .ok_or(FetchError::Status(404))
        }
    }
    let mut documents = std::collections::HashMap::new();
    for (authority, hints, subject, statement) in [
        (&intermediate, vec![anchor.id], client.id, &chain[1]),
        (&anchor, vec![], intermediate.id, &chain[2]),
    ] {
        let configuration = about(
            authority,
            authority,
            json!({"authority_hints": hints, "metadata": {"federation_entity": {
                "federation_fetch_endpoint": format!("{}/fetch", authority.id)}}}),
        );
        documents.insert(
            format!("{}/.well-known/openid-federation", authority.id),
            sign(authority, configuration),
        );
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sub", subject)
            .finish();
        documents.insert(format!("{}/fetch?{query}", authority.id), statement.clone());
    }
    let published = Published(documents);
    let limits = oauth_dcr::federation::resolve::ResolveLimits::default();
    group.bench_function("resolve_chain/3-level-in-memory", |b| {
        b.to_async(&runtime()).iter(|| async {
            oauth_dcr::federation::resolve::resolve_chain(
                &chain[0], &anchors, &rules, &published, &limits,
            )
            .await
            .expect("resolves")
        })
    });
    group.bench_function("register_federated/cached-3-level", |b| {
        b.to_async(&rt).iter(|| async {
            registrar
                .register_federated(&chain, &RequestContext::new())
                .await
                .expect("registers")
                .response
        })
    });
    group.finish();
}

/// A JSON request body as the registrar takes it, read within the default limits (the work of
/// the `http` adapter, counted in every operation as before).
fn req(body: &[u8]) -> oauth_dcr::RegistrationRequest {
    oauth_dcr::RegistrationRequest::from_json(body, &oauth_dcr::RequestLimits::default())
        .expect("a valid body")
}
