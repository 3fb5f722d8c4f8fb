//! A database that goes away and comes back, under load, with `--store postgres://…`: requests
//! answer 503 with `Retry-After` within the store's timeout (never a hang, never a 500), the
//! server recovers by itself, and every registration answered 201 reads back afterwards.
//!
//! The database is made unavailable by a TCP proxy inside the test, between the server's pool
//! and PostgreSQL (`DATABASE_URL`). Stopping it closes every pooled connection (both ends) and
//! refuses new ones, which is what a restarting or crashed database looks like to the pool;
//! stalling it accepts connections and never answers, which is what an unreachable host looks
//! like. This needs no root, no control of the cluster and no timing luck, and it exercises
//! exactly the pool's behaviour when connections die and come back. Restarting the cluster
//! itself (`pg_ctlcluster … restart`) would also stop every other PostgreSQL test running in
//! parallel, and needs the cluster to be this machine's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::common::web_client;
use crate::server::{Server, JSON};

/// What the proxy does with a new connection.
#[derive(Clone, Copy)]
enum Mode {
    /// Forwards it to the database.
    Forward,
    /// Accepts it and never answers.
    Stall,
}

/// A TCP proxy on a fixed loopback port in front of the database.
struct Proxy {
    upstream: SocketAddr,
    port: u16,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let mut proxy = Self {
            upstream,
            port: 0,
            task: None,
        };
        proxy.open(Mode::Forward);
        proxy
    }

    /// Listens again on the same port.
    fn open(&mut self, mode: Mode) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], self.port)))
            .expect("bind the proxy's port");
        let listener = socket.listen(64).expect("listen");
        self.port = listener.local_addr().expect("address").port();
        let upstream = self.upstream;
        self.task = Some(tokio::spawn(async move {
            // Dropped with this task: every forwarded connection is closed when it is aborted.
            let mut forwarded = JoinSet::new();
            let mut stalled = Vec::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                match mode {
                    Mode::Stall => stalled.push(inbound),
                    Mode::Forward => {
                        forwarded.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        });
                    }
                }
            }
        }));
    }

    /// Closes the port and every connection through it.
    async fn close(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        // Let the aborted forwarders drop their sockets.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The database behind `DATABASE_URL`, or `None` (skipped) without one, except under `CI=true`.
async fn database() -> Option<url::Url> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Ok(url) = std::env::var("DATABASE_URL") else {
        assert!(!in_ci, "CI=true but DATABASE_URL is not set");
        eprintln!("skipping: set DATABASE_URL=postgres://… to run the restart test");
        return None;
    };
    let url = url::Url::parse(&url).expect("DATABASE_URL is a URL");
    let reachable = TcpStream::connect(upstream(&url).await).await.is_ok();
    if !reachable {
        assert!(!in_ci, "CI=true but the database is unreachable");
        eprintln!("skipping: the database is unreachable");
        return None;
    }
    Some(url)
}

async fn upstream(url: &url::Url) -> SocketAddr {
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    tokio::net::lookup_host((host, port))
        .await
        .expect("the database host resolves")
        .next()
        .expect("an address")
}

/// One request's outcome.
#[derive(Debug)]
struct Outcome {
    status: StatusCode,
    took: Duration,
    retry_after: Option<String>,
    json: Value,
}

async fn outcome(request: reqwest::RequestBuilder) -> Outcome {
    let started = Instant::now();
    // Far beyond the 5 s the store allows an operation: a request that takes this long hangs.
    let response = tokio::time::timeout(Duration::from_secs(20), request.send())
        .await
        .expect("the server answers (no hang)")
        .expect("the server answers (no dropped connection)");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response.bytes().await.expect("a body");
    Outcome {
        status,
        took: started.elapsed(),
        retry_after,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// The longest a request may take while the database is away: the store's 5-second timeout
/// (connection wait included), plus slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(8);

/// An outage answer: 503 `temporarily_unavailable` with `Retry-After`, within [`BOUND`].
#[track_caller]
fn assert_unavailable(outcome: &Outcome) {
    assert_eq!(
        outcome.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:#}",
        outcome.json
    );
    assert_eq!(outcome.retry_after.as_deref(), Some("5"));
    assert_eq!(outcome.json["error"], "temporarily_unavailable");
    crate::openapi::spec()
        .check_schema("ErrorResponse", &outcome.json)
        .expect("an ErrorResponse");
    assert!(outcome.took < BOUND, "answered after {:?}", outcome.took);
}

/// The clients answered 201: their URI and their current registration access token.
type Registered = Arc<Mutex<Vec<(String, String)>>>;

async fn register(server: &Server, registered: &Registered) -> Outcome {
    let request = server
        .http
        .post(server.url("/register"))
        .header(CONTENT_TYPE, JSON)
        .body(web_client().to_string());
    let outcome = outcome(request).await;
    if outcome.status == StatusCode::CREATED {
        let field = |name: &str| outcome.json[name].as_str().expect(name).to_owned();
        let client = (
            field("registration_client_uri"),
            field("registration_access_token"),
        );
        registered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(client);
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_then_the_server_recovers() {
    let Some(database) = database().await else {
        return;
    };
    let mut proxy = Proxy::start(upstream(&database).await).await;
    let mut proxied = database.clone();
    proxied.set_host(Some("127.0.0.1")).expect("host");
    proxied.set_port(Some(proxy.port)).expect("port");
    // No rate limits: the load below registers from one address as fast as it can.
    let server = Server::start(&["--store", proxied.as_str(), "--no-rate-limits"]).await;
    let server = Arc::new(server);
    let registered: Registered = Arc::default();
    for _ in 0..5 {
        let created = register(&server, &registered).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
    }

    // Load all along: three clients registering one after another.
    let running = Arc::new(AtomicBool::new(true));
    let mut load = JoinSet::new();
    for _ in 0..3 {
        let (server, registered, running) = (server.clone(), registered.clone(), running.clone());
        load.spawn(async move {
            let mut seen = Vec::new();
            while running.load(Ordering::Relaxed) {
                seen.push(register(&server, &registered).await);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The database goes away: its connections are cut and new ones refused.
    proxy.close().await;
    let (uri, token) = registered.lock().expect("lock")[0].clone();
    assert_unavailable(&register(&server, &registered).await);
    assert_unavailable(&outcome(server.http.get(&uri).bearer_auth(&token)).await);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // It is back but does not answer (a host that drops packets): still 503, after the store's
    // timeout, not a hang.
    proxy.open(Mode::Stall);
    let stalled = register(&server, &registered).await;
    assert_unavailable(&stalled);
    assert!(
        stalled.took >= Duration::from_secs(4),
        "a stalled database answered in {:?}",
        stalled.took
    );
    proxy.close().await;

    // It is back: the server recovers by itself.
    proxy.open(Mode::Forward);
    let back = Instant::now();
    let recovered = loop {
        let outcome = register(&server, &registered).await;
        if outcome.status == StatusCode::CREATED {
            break true;
        }
        assert_unavailable(&outcome);
        if back.elapsed() > Duration::from_secs(20) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(recovered, "no 201 within 20 s of the database's return");
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.store(false, Ordering::Relaxed);

    // Under load, every answer was a 201 or a 503 with Retry-After, within the bound.
    let mut outcomes = Vec::new();
    while let Some(seen) = load.join_next().await {
        outcomes.extend(seen.expect("a load task"));
    }
    let unavailable = outcomes
        .iter()
        .filter(|o| o.status == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    assert!(unavailable > 0, "the load never saw the outage");
    for outcome in &outcomes {
        if outcome.status != StatusCode::CREATED {
            assert_unavailable(outcome);
        }
        assert!(outcome.took < BOUND, "{outcome:?}");
    }
    assert_eq!(
        outcomes.last().map(|o| o.status),
        Some(StatusCode::CREATED),
        "the load recovered"
    );

    // Every client answered 201, before, during or after the outage, reads back.
    let registered = registered.lock().expect("lock").clone();
    assert!(registered.len() > 5);
    for (uri, token) in &registered {
        let read = outcome(server.http.get(uri).bearer_auth(token)).await;
        assert_eq!(read.status, StatusCode::OK, "{uri}: {:#}", read.json);
        assert!(uri.ends_with(read.json["client_id"].as_str().expect("client_id")));
    }
}
