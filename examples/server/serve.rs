//! The example server's accept loop: HTTP/1.1 on hyper with a deadline on every request head,
//! the client's address for the rate limits, and a graceful shutdown on SIGTERM or Ctrl-C.
//!
//! `axum::serve` gives hyper no timer, so it cannot time out a request head: a client that
//! sends half a request line and stops would hold its connection for as long as it likes. Here
//! each connection gets `--header-timeout` to deliver a request head, which is also how long an
//! idle keep-alive connection stays open; the body's deadline is the router's
//! ([`limits`](super::limits)).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// How long a shutdown waits for the requests in flight before it gives up on them. Each is
/// bounded anyway: its head and body by their timeouts, its store calls by the store's.
const GRACE: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting (the port is
/// closed at once), lets the requests in flight finish, closes idle connections, and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        // Small JSON responses: send them at once.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away or times out is no error of the server's.
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection closed: {e}");
            }
        });
    }
    drop(listener);
    let in_flight = graceful.count();
    if in_flight > 0 {
        tracing::info!(connections = in_flight, "finishing the requests in flight");
    }
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {GRACE:?}: stopping anyway");
    }
}

/// A failed `accept`: a connection reset before it was accepted is the client's business; out of
/// file descriptors (or anything else), wait a moment rather than spin.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept failed: {error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The shutdown signal: SIGTERM (what service managers and container runtimes send) or Ctrl-C.
/// The handlers are installed when this is called, so a signal that arrives before the future is
/// first polled is not lost; the future resolves to the signal's name.
///
/// # Errors
/// When a signal handler cannot be installed.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "Ctrl-C",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

/// The shutdown signal: Ctrl-C.
///
/// # Errors
/// None here; the handler is installed when the future is first polled.
#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "Ctrl-C"
    })
}
