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
//! placeholders under the issuer (`/authorize`, not served; `/jwks`, an empty JWK Set). Ctrl-C
//! stops it gracefully.

mod app;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;

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
    let level = if config.quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
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
    for warning in config.warnings() {
        eprintln!("{warning}");
    }
    println!("{}", config.banner());
    let service = app::router(&config, store).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown())
        .await
    {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C (or SIGTERM on Unix); in-flight requests then finish before the server
/// stops.
async fn shutdown() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // Without a signal handler, run until killed.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
