//! What keeps the example server answering on the open internet: a deadline on every request
//! body, and per-address rate limits on registrations and on failed management attempts.
//!
//! RFC 7591 §3.1 lets a registration endpoint rate-limit registrations; RFC 7592 §5 asks that the
//! client configuration endpoint be protected against token guessing. Both limits are GCRA
//! buckets per client address from the `governor` crate: a burst of N, refilled evenly over the
//! period. An IPv6 client is limited by its /64, which one host usually holds whole.
//!
//! - **Registrations** (`POST /register`): every attempt takes one from the address's bucket;
//!   an empty bucket answers 429 with `Retry-After` before the registrar runs.
//! - **Failed management attempts**: a 401 or 403 answer at the client configuration endpoint
//!   (`/register/{client_id}`), the token endpoint or under `/admin` takes one. The failure that
//!   finds the bucket empty is answered 429 instead, and from then until the bucket holds one
//!   again those endpoints answer the address 429 without looking at its credentials, so a
//!   guesser learns nothing more from them. CORS preflights (`OPTIONS`) are never refused.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body::{Frame, SizeHint};

use super::flags::{Config, Rate};

/// How many requests pass between two sweeps of addresses whose buckets are full again.
const SWEEP_EVERY: u64 = 4096;

/// The example's limits, shared by every connection.
pub(crate) struct Limits {
    register: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failures: Option<Failures>,
    body_timeout: Duration,
    requests: AtomicU64,
}

/// Failed management attempts per address, and the addresses refused until a given time.
struct Failures {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Limits {
    /// The limits `config` asks for.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            register: config
                .register_rate
                .map(|rate| RateLimiter::keyed(quota(rate))),
            failures: config.failed_management_rate.map(|rate| Failures {
                limiter: RateLimiter::keyed(quota(rate)),
                blocked: Mutex::new(HashMap::new()),
            }),
            body_timeout: config.body_timeout,
            requests: AtomicU64::new(0),
        }
    }

    /// Forgets the addresses whose buckets are full again, now and then, so that the state
    /// stays as small as the set of addresses seen recently.
    fn sweep(&self) {
        if self.requests.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        if let Some(register) = &self.register {
            register.retain_recent();
            register.shrink_to_fit();
        }
        if let Some(failures) = &self.failures {
            failures.limiter.retain_recent();
            failures.limiter.shrink_to_fit();
            let now = Instant::now();
            lock(&failures.blocked).retain(|_, until| *until > now);
        }
    }
}

fn quota(rate: Rate) -> Quota {
    let period = rate.per / rate.count.get();
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(rate.count))
        .allow_burst(rate.count)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The key of a client address: IPv4 (an IPv4-mapped IPv6 address as IPv4), or the /64 of an
/// IPv6 address.
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

/// Whether a request is a management call whose failures count: the client configuration
/// endpoint, the token endpoint and the admin endpoints.
fn is_management(path: &str) -> bool {
    path.starts_with("/register/")
        || path == "/token"
        || path == "/admin"
        || path.starts_with("/admin/")
}

/// The middleware: the body deadline on every request with a body, and the rate limits.
pub(crate) async fn guard(
    State(limits): State<Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    limits.sweep();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| key(addr.ip()));
    let registration = request.method() == Method::POST && request.uri().path() == "/register";
    // A CORS preflight carries no credentials: nothing to guess, nothing to refuse.
    let management = request.method() != Method::OPTIONS && is_management(request.uri().path());
    if let Some(peer) = peer {
        if registration {
            if let Some(register) = &limits.register {
                if let Err(not_until) = register.check_key(&peer) {
                    let wait = not_until.wait_time_from(register.clock().now());
                    return too_many(wait, "too many registrations from this address");
                }
            }
        }
        if management {
            if let Some(failures) = &limits.failures {
                let until = lock(&failures.blocked).get(&peer).copied();
                if let Some(wait) = until.and_then(|u| u.checked_duration_since(Instant::now())) {
                    return too_many(wait, "too many failed attempts from this address");
                }
            }
        }
    }
    let (request, timed_out) = with_deadline(request, limits.body_timeout);
    let response = next.run(request).await;
    if timed_out.load(Ordering::Relaxed) {
        return body_timed_out(limits.body_timeout);
    }
    let failed = matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    );
    if let (Some(peer), Some(failures), true, true) = (peer, &limits.failures, management, failed) {
        if let Err(not_until) = failures.limiter.check_key(&peer) {
            let wait = not_until.wait_time_from(failures.limiter.clock().now());
            lock(&failures.blocked).insert(peer, Instant::now() + wait);
            return too_many(wait, "too many failed attempts from this address");
        }
    }
    response
}

/// 429 with `Retry-After` in whole seconds (at least 1).
fn too_many(wait: Duration, why: &str) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut response = super::json_error(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        &format!("{why}; retry after {seconds} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// 408 and `Connection: close`: the body did not arrive in time.
fn body_timed_out(limit: Duration) -> Response {
    let mut response = super::json_error(
        StatusCode::REQUEST_TIMEOUT,
        "invalid_request",
        &format!(
            "the request body did not arrive within {} ms",
            limit.as_millis()
        ),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `request` with a body that fails once `limit` has passed, and the flag it raises then. A
/// request without a body (most reads) needs no deadline, and gets no timer.
fn with_deadline(request: Request, limit: Duration) -> (Request, Arc<AtomicBool>) {
    let timed_out = Arc::new(AtomicBool::new(false));
    if request.body().is_end_stream() {
        return (request, timed_out);
    }
    let (parts, body) = request.into_parts();
    let body = Body::new(DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(limit)),
        timed_out: timed_out.clone(),
    });
    (Request::from_parts(parts, body), timed_out)
}

/// A body that must be read whole before its deadline: a client that sends its body slowly, or
/// stops halfway, holds the connection for `--body-timeout` at most. One deadline for the whole
/// body, not one per read, so that a byte every few seconds does not keep it open either.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

/// The error of a body whose deadline passed.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_by_host_and_ipv6_by_prefix() {
        let v4: IpAddr = "203.0.113.7".parse().expect("v4");
        assert_eq!(key(v4), v4);
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("mapped");
        assert_eq!(key(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("v6");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("v6");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("v6");
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(other));
        assert_eq!(key(a), "2001:db8:1:2::".parse::<IpAddr>().expect("v6"));
    }
}
