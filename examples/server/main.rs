//! An example authorization server with dynamic client registration, on the in-memory store.
//!
//! ```text
//! cargo run --example server
//! cargo run --example server -- --bootstrap-client registerClient:password --require-initial-token register
//! cargo run --example server -- --profile fapi2
//! cargo run --example server -- --help
//! ```
//!
//! It serves the discovery documents, `POST /register`, `GET`/`PUT`/`DELETE /register/{client_id}`
//! and, with `--bootstrap-client`, a `client_credentials` token endpoint that issues initial
//! access tokens. Discovery advertises `--authorization-endpoint` and `--jwks-uri`, by default
//! placeholders under the issuer (`/authorize`, not served; `/jwks`, an empty JWK Set).
//!
//! On the open internet: each request head must arrive within `--header-timeout` and its body
//! within `--body-timeout` (5 s each), registrations and failed management attempts are
//! rate-limited per client address (429 with `Retry-After`; `--no-rate-limits` for load tests),
//! and with `--store postgres://…` a database that goes away makes requests answer 503 with
//! `Retry-After` until it is back. SIGTERM or Ctrl-C stops it gracefully: it stops accepting,
//! finishes the requests in flight, then exits.
//!
//! It logs through `tracing` to stdout: one line per request (method, path, status, latency,
//! client address, and the `client_id` a registration or management call concerned; never a
//! header, a query or a body), and, built with `--features tracing`, the crate's warnings and
//! errors (`RUST_LOG=info` adds its spans and an event line per operation). The lines are
//! gathered in one buffer and written in batches by a thread of their own (`logs.rs`), so a
//! request never waits for the terminal or the pipe; when the output cannot keep up, lines are
//! dropped, counted, and the count is reported at exit.

mod app;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// mimalloc: under load glibc's allocator took 15–20 % of the server's time (blocks past its
/// per-thread cache, allocated and freed on every request).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{}", app::USAGE);
        return ExitCode::SUCCESS;
    }
    let config = match app::Config::parse(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}\n\n{}", app::USAGE);
            return ExitCode::from(2);
        }
    };
    let filter = app::log_filter(config.quiet);
    // Lines are formatted on the request's thread and written in batches by the log writer's.
    let (writer, flush_at_exit) = match app::log_writer(std::io::stdout()) {
        Ok(writer) => writer,
        Err(e) => {
            eprintln!("error: cannot start the log writer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dropped = writer.clone();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_timer(app::logs::LineTime)
                .fmt_fields(app::logs::line_fields())
                .with_target(false)
                .with_ansi(std::io::stdout().is_terminal())
                .with_writer(writer),
        )
        .with(filter)
        .init();
    let listener = match TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    let store = match app::open_store(&config).await {
        Ok(store) => store,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    // Before the banner: once it is printed, a SIGTERM stops the server gracefully.
    let signal = match app::shutdown_signal() {
        Ok(signal) => signal,
        Err(e) => {
            eprintln!("error: cannot install the signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    for warning in config.warnings() {
        eprintln!("{warning}");
    }
    println!("{}", config.banner());
    let shutdown = async {
        let name = signal.await;
        tracing::info!("{name} received: finishing the requests in flight, then stopping");
    };
    let router = app::router(&config, store);
    app::serve(listener, router, config.header_timeout, shutdown).await;
    tracing::info!("stopped");
    drop(flush_at_exit);
    let dropped = dropped.dropped_lines();
    if dropped > 0 {
        eprintln!("{dropped} log lines were dropped: the log output could not keep up");
    }
    ExitCode::SUCCESS
}
