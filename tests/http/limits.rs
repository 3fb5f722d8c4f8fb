//! The example server on the open internet: per-address rate limits (429 with `Retry-After`),
//! header and body timeouts against clients that stall, and a graceful stop on SIGTERM.
//!
//! Rate limits are told apart by client address: a second client binds its connections to
//! 127.0.0.2, another address of the loopback network.
//!
//! These tests read answers without [`Server::send`] (some requests are sent by hand over raw
//! sockets), so they check 429 and 408 bodies against the `ErrorResponse` schema directly;
//! [`the_description_documents_408_429_and_503`] checks that `examples/openapi.yaml` documents
//! those statuses where the server can answer them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::web_client;
use crate::openapi::spec;
use crate::server::{Server, JSON};

/// Another address of this machine, for a second client.
const OTHER_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// What came back, without the OpenAPI check of [`Server::send`].
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    cache_control: String,
    json: Value,
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after").map(|v| v.parse().expect("delta-seconds"));
    let cache_control = header("cache-control").unwrap_or_default();
    let bytes = response.bytes().await.expect("a body");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        cache_control,
        json,
    }
}

/// A 429 as the limits answer it: `Retry-After` within `max_wait` seconds, a JSON error body.
#[track_caller]
fn assert_too_many(answer: &Answer, max_wait: u64) {
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:#}",
        answer.json
    );
    let wait = answer.retry_after.expect("Retry-After");
    assert!((1..=max_wait).contains(&wait), "Retry-After: {wait}");
    assert_eq!(answer.json["error"], "temporarily_unavailable");
    let description = answer.json["error_description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.ends_with(&format!("retry after {wait} s")),
        "{description}"
    );
    assert_eq!(answer.cache_control, "no-store");
    spec()
        .check_schema("ErrorResponse", &answer.json)
        .expect("an ErrorResponse");
}

/// A client whose connections come from `address`.
fn client_from(address: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(address)
        .build()
        .expect("client")
}

fn register(server: &Server, http: &reqwest::Client) -> reqwest::RequestBuilder {
    http.post(server.url("/register"))
        .header(CONTENT_TYPE, JSON)
        .body(web_client().to_string())
}

/// Each operation the limits, the body deadline or an unavailable store can answer documents
/// that status, with an `ErrorResponse` body and, for 429 and 503, `Retry-After`.
#[test]
fn the_description_documents_408_429_and_503() {
    let error = serde_json::json!({
        "error": "temporarily_unavailable",
        "error_description": "retry after 5 s",
    });
    let with_body = ["post /register", "put /register/{client_id}", "post /token"];
    let rate_limited = [
        "post /register",
        "get /register/{client_id}",
        "put /register/{client_id}",
        "delete /register/{client_id}",
        "post /token",
        "get /admin/clients",
        "post /admin/clients/{client_id}/registration-token",
    ];
    let on_the_store = [
        "post /register",
        "get /register/{client_id}",
        "put /register/{client_id}",
        "delete /register/{client_id}",
        "get /admin/clients",
        "post /admin/clients/{client_id}/registration-token",
    ];
    for (statuses, operations) in [
        (&[408][..], &with_body[..]),
        (&[429], &rate_limited),
        (&[503], &on_the_store),
    ] {
        for operation in operations {
            for status in statuses {
                spec()
                    .check_response(operation, *status, Some(&error))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
    let document = spec().document();
    for name in ["TooManyRequests", "Unavailable"] {
        let headers = &document["components"]["responses"][name]["headers"];
        assert!(headers.get("Retry-After").is_some(), "{name}: {headers}");
    }
}

#[tokio::test]
async fn registrations_over_the_limit_answer_429_with_retry_after() {
    let server = Server::start(&["--rate-limit-register", "3/min"]).await;
    let mut first = None;
    for _ in 0..3 {
        let created = answer(register(&server, &server.http)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.json);
        first.get_or_insert(created.json);
    }
    // One every 20 s refills the bucket: the fourth waits at most that.
    let refused = answer(register(&server, &server.http)).await;
    assert_too_many(&refused, 20);
    assert!(
        refused.json["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("too many registrations from this address")),
        "{:#}",
        refused.json
    );
    // Refused before the registrar ran: no client was made, so the limit holds again.
    assert_too_many(&answer(register(&server, &server.http)).await, 20);

    // Another address registers; the limited one still reads its clients and discovery.
    let other = answer(register(&server, &client_from(OTHER_ADDRESS))).await;
    assert_eq!(other.status, StatusCode::CREATED, "{:#}", other.json);
    let first = first.expect("registered");
    let uri = first["registration_client_uri"].as_str().expect("uri");
    let token = first["registration_access_token"].as_str().expect("token");
    let read = answer(server.http.get(uri).bearer_auth(token)).await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.json);
    let discovery = server
        .http
        .get(server.url("/.well-known/openid-configuration"));
    assert_eq!(answer(discovery).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_default_registration_limit_is_sixty_a_minute_and_can_be_lifted() {
    // A burst of 60, then one a second: registering as fast as it can, an address gets 60
    // plus one per second elapsed before its first 429.
    let limited = Server::start(&[]).await;
    let started = Instant::now();
    let mut created = 0u64;
    let refused = loop {
        let answer = answer(register(&limited, &limited.http)).await;
        if answer.status != StatusCode::CREATED {
            break answer;
        }
        created += 1;
        assert!(created <= 1000, "never limited");
    };
    assert_too_many(&refused, 1);
    let allowed = 60 + started.elapsed().as_secs() + 1;
    assert!(
        (60..=allowed).contains(&created),
        "{created} registrations before the first 429, in {:?}",
        started.elapsed()
    );

    let unlimited = Server::start(&["--no-rate-limits"]).await;
    for n in 0..=created {
        let answer = answer(register(&unlimited, &unlimited.http)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "registration {n}");
    }
}

#[tokio::test]
async fn failed_management_attempts_over_the_limit_lock_the_address_out() {
    let server = Server::start(&[
        "--rate-limit-failed-management",
        "3/min",
        "--bootstrap-client",
        "registerClient:password",
    ])
    .await;
    let created = answer(register(&server, &server.http)).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let uri = created.json["registration_client_uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    let token = created.json["registration_access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Three wrong tokens are three 401s; the fourth failure finds the bucket empty: 429.
    for _ in 0..3 {
        let wrong = answer(server.http.get(&uri).bearer_auth("guessed-token")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{:#}", wrong.json);
        assert_eq!(wrong.retry_after, None);
    }
    let fourth = answer(server.http.get(&uri).bearer_auth("guessed-token")).await;
    assert_too_many(&fourth, 20);
    assert!(
        fourth.json["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("too many failed attempts from this address")),
        "{:#}",
        fourth.json
    );

    // Locked out: even the right token is refused from this address, without being looked at
    // (so a guesser learns nothing), and so is the token endpoint.
    let right = answer(server.http.get(&uri).bearer_auth(&token)).await;
    assert_too_many(&right, 20);
    let token_endpoint = server
        .http
        .post(server.url("/token"))
        .basic_auth("registerClient", Some("password"))
        .header(CONTENT_TYPE, crate::server::FORM)
        .body("grant_type=client_credentials&scope=register");
    assert_too_many(&answer(token_endpoint).await, 20);

    // A CORS preflight carries no credentials: still answered.
    let preflight = answer(server.http.request(reqwest::Method::OPTIONS, &uri)).await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);

    // Registration has its own limit; another address manages the client with its token.
    let again = answer(register(&server, &server.http)).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:#}", again.json);
    let other = client_from(OTHER_ADDRESS);
    let read = answer(other.get(&uri).bearer_auth(&token)).await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.json);
}

#[tokio::test]
async fn failed_token_endpoint_attempts_count_too() {
    let server = Server::start(&[
        "--rate-limit-failed-management",
        "2/min",
        "--bootstrap-client",
        "registerClient:password",
    ])
    .await;
    let token = |secret: &str| {
        server
            .http
            .post(server.url("/token"))
            .basic_auth("registerClient", Some(secret))
            .header(CONTENT_TYPE, crate::server::FORM)
            .body("grant_type=client_credentials&scope=register")
    };
    for _ in 0..2 {
        assert_eq!(
            answer(token("guess")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_too_many(&answer(token("guess")).await, 30);
    assert_too_many(&answer(token("password")).await, 30);
}

#[tokio::test]
async fn without_rate_limits_failures_are_only_401s() {
    let server = Server::start(&["--no-rate-limits"]).await;
    let created = answer(register(&server, &server.http)).await;
    let uri = created.json["registration_client_uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    // More than the default 10 a minute.
    for _ in 0..30 {
        let wrong = answer(server.http.get(&uri).bearer_auth("guessed-token")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    let token = created.json["registration_access_token"]
        .as_str()
        .expect("token");
    let read = answer(server.http.get(&uri).bearer_auth(token)).await;
    assert_eq!(read.status, StatusCode::OK);
}

// ---- timeouts ----

/// The `IP:PORT` of a server.
fn address(server: &Server) -> String {
    server
        .base
        .strip_prefix("http://")
        .expect("http")
        .to_owned()
}

/// Opens a connection and sends `bytes`, leaving the connection open.
async fn send_and_stall(address: &str, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    stream
}

/// Reads until the server closes the connection, failing after `limit`: what it sent, and when
/// it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Instant) {
    let mut received = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    if tokio::time::timeout(limit, read).await.is_err() {
        panic!("the connection is still open after {limit:?}");
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        Instant::now(),
    )
}

/// A registration whose body announces 1000 bytes and sends 17.
fn half_a_registration(address: &str) -> Vec<u8> {
    format!(
        "POST /register HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"redirect_uris\":"
    )
    .into_bytes()
}

/// The attack: 20 connections that send their headers and part of a body, and 20 that
/// stop in the middle of their headers. The server keeps answering others at once, and closes
/// every one of them within its 5-second timeouts (the defaults): the stalled bodies with a
/// 408, the stalled heads without a word.
#[tokio::test]
async fn stalled_clients_are_cut_off_and_never_stop_the_server() {
    let server = Server::start(&[]).await;
    let address = address(&server);
    let started = Instant::now();
    let mut bodies = Vec::new();
    let mut heads = Vec::new();
    for _ in 0..20 {
        bodies.push(send_and_stall(&address, &half_a_registration(&address)).await);
        let head = format!("POST /register HTTP/1.1\r\nHost: {address}\r\nContent-");
        heads.push(send_and_stall(&address, head.as_bytes()).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A normal registration meanwhile: answered at once.
    let asked = Instant::now();
    server.assert_serving().await;
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "a registration took {:?} beside 40 stalled connections",
        asked.elapsed()
    );

    // Every stalled connection is closed within the timeout (5 s), plus scheduling slack.
    let limit = Duration::from_secs(9);
    for mut stream in bodies {
        let (received, closed) = read_until_closed(&mut stream, limit).await;
        assert!(
            received.starts_with("HTTP/1.1 408"),
            "a stalled body: {received}"
        );
        assert!(
            received.contains("did not arrive within 5000 ms"),
            "{received}"
        );
        assert!(
            received.to_ascii_lowercase().contains("connection: close"),
            "{received}"
        );
        let after = closed.duration_since(started);
        assert!(
            after >= Duration::from_millis(4500),
            "closed after {after:?}: too soon"
        );
    }
    for mut stream in heads {
        let (received, closed) = read_until_closed(&mut stream, limit).await;
        assert!(
            !received.starts_with("HTTP/1.1 2"),
            "a stalled head was answered: {received}"
        );
        let after = closed.duration_since(started);
        assert!(
            after >= Duration::from_millis(4500),
            "closed after {after:?}: too soon"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    server.assert_serving().await;
}

/// One deadline for the whole body, not one per read: a client that sends a byte every 300 ms
/// is cut off at `--body-timeout` all the same.
#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_at_the_deadline() {
    let server = Server::start(&["--body-timeout", "1s"]).await;
    let address = address(&server);
    let mut stream = send_and_stall(&address, &half_a_registration(&address)).await;
    let started = Instant::now();
    let mut closed_early = false;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if stream.write_all(b" ").await.is_err() {
            closed_early = true;
            break;
        }
    }
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(received.starts_with("HTTP/1.1 408"), "{received}");
    assert!(received.contains("within 1000 ms"), "{received}");
    let after = closed.duration_since(started);
    assert!(
        closed_early || after < Duration::from_millis(3000),
        "the drip kept the connection open for {after:?}"
    );
}

/// An idle keep-alive connection is closed after `--header-timeout`.
#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let server = Server::start(&["--header-timeout", "1s"]).await;
    let address = address(&server);
    let request =
        format!("GET /.well-known/openid-configuration HTTP/1.1\r\nHost: {address}\r\n\r\n");
    let mut stream = send_and_stall(&address, request.as_bytes()).await;
    let started = Instant::now();
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    let after = closed.duration_since(started);
    assert!(
        (Duration::from_millis(800)..Duration::from_secs(4)).contains(&after),
        "closed after {after:?}"
    );
}

// ---- graceful shutdown ----

/// Set in the environment of the child process that runs [`sigterm_server`].
const CHILD: &str = "OAUTH_DCR_SIGTERM_SERVER";

/// The server process of [`sigterm_finishes_the_requests_in_flight`]: the example's accept
/// loop with its signal handlers, in a process of its own so that a real SIGTERM reaches it.
/// Does nothing unless run by that test.
#[tokio::test]
#[ignore = "run as a child process by sigterm_finishes_the_requests_in_flight"]
async fn sigterm_server() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let signal = crate::app::shutdown_signal().expect("signal handlers");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let config = crate::app::Config::parse(["--listen", &address, "--quiet"]).expect("flags");
    let store = crate::app::open_store(&config).await.expect("store");
    let router = crate::app::router(&config, store);
    println!("{CHILD} listening on {address}");
    let shutdown = async {
        let name = signal.await;
        println!("{CHILD} {name} received");
    };
    crate::app::serve(listener, router, config.header_timeout, shutdown).await;
    println!("{CHILD} stopped");
}

/// The next line the child printed, `None` once it closed its output or after 30 s of silence.
async fn next_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(30), lines.recv())
        .await
        .ok()
        .flatten()
}

/// SIGTERM (what service managers and container runtimes send) stops the server gracefully: it
/// stops accepting at once, closes idle connections, finishes the registration whose body was
/// still arriving (201), and exits.
#[tokio::test]
async fn sigterm_finishes_the_requests_in_flight() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "limits::sigterm_server",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server process");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let address = loop {
        let line = next_line(&mut lines).await.expect("the server starts");
        // libtest may print `test NAME ... ` before it on the same line.
        let marker = format!("{CHILD} listening on ");
        if let Some(at) = line.find(&marker) {
            break line[at + marker.len()..].trim().to_owned();
        }
    };

    // An idle keep-alive connection, and a registration whose body is half sent.
    let request =
        format!("GET /.well-known/openid-configuration HTTP/1.1\r\nHost: {address}\r\n\r\n");
    let mut idle = send_and_stall(&address, request.as_bytes()).await;
    let mut buffer = [0u8; 4096];
    let n = idle.read(&mut buffer).await.expect("a response");
    assert!(buffer[..n].starts_with(b"HTTP/1.1 200"));
    let body = web_client().to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let head = format!(
        "POST /register HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{first}",
        body.len()
    );
    let mut in_flight = send_and_stall(&address, head.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    loop {
        let line = next_line(&mut lines).await.expect("the signal is received");
        if line.ends_with("SIGTERM received") {
            break;
        }
    }
    // No new connection is accepted; the idle one is closed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "the port is still open"
    );
    read_until_closed(&mut idle, Duration::from_secs(2)).await;

    // The rest of the body arrives: the registration completes.
    in_flight.write_all(rest.as_bytes()).await.expect("send");
    let (received, _) = read_until_closed(&mut in_flight, Duration::from_secs(5)).await;
    assert!(received.starts_with("HTTP/1.1 201"), "{received}");
    assert!(received.contains("\"client_id\""), "{received}");

    let stopped = loop {
        match next_line(&mut lines).await {
            Some(line) if line.contains(&format!("{CHILD} stopped")) => break true,
            Some(_) => {}
            None => break false,
        }
    };
    assert!(stopped, "the server did not return from its accept loop");
    let status = child.wait().expect("exit status");
    assert!(status.success(), "{status}");
}
