//! The registrar as a [`tower::Service`](tower_service::Service) over `http::Request<B>` for any
//! [`http_body::Body`] `B`: it mounts in axum, hyper, tonic or any tower stack.
//!
//! [`RegistrationService`] reads the body within the policy's
//! [`max_body_bytes`](crate::RequestLimits::max_body_bytes) and a read timeout, then answers
//! exactly what [`http::handle`](crate::http::handle) answers. It routes by the path it is
//! mounted on, never by the path of the policy's
//! [`registration_endpoint`](crate::ServerPolicy::registration_endpoint) (which stays the public
//! URL clients are told about, in `registration_client_uri`): nested under a prefix, as axum's
//! `nest_service` hands requests on, `POST /` registers and `GET`/`PUT`/`DELETE /{client_id}`
//! manage; [`mounted_at`](RegistrationService::mounted_at) names the prefix for a host that
//! passes whole paths.
//!
//! ```
//! use std::sync::Arc;
//! use http_body_util::{BodyExt as _, Full};
//! use oauth_dcr::service::RegistrationService;
//! use oauth_dcr::{MemoryStore, Registrar, ServerPolicy};
//! use tower::ServiceExt as _;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let registrar = Registrar::new(
//!     ServerPolicy::new("https://as.example/register"),
//!     Arc::new(MemoryStore::new()),
//! );
//! // Served at /dcr by a host that hands the service whole paths.
//! let service = RegistrationService::new(registrar).mounted_at("/dcr");
//! let request = http::Request::post("/dcr")
//!     .header("content-type", "application/json")
//!     .body(Full::new(bytes::Bytes::from_static(br#"{"redirect_uris":["https://app.example/cb"]}"#)))?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), 201);
//! let body = response.into_body().collect().await?.to_bytes();
//! let client: serde_json::Value = serde_json::from_slice(&body)?;
//! assert!(client["client_id"].is_string());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! The read timeout needs a Tokio runtime with its timer enabled (axum's and hyper's are).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};

use crate::error::RegistrationError;
use crate::http::{not_found, respond, route_under, timed_out};
use crate::registrar::Registrar;
use crate::request::RequestContext;

/// How long a request body may take to arrive, by default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The registration endpoint and the client configuration endpoints as a
/// [`tower::Service`](tower_service::Service); see [the module](self).
///
/// - A body over the policy's `max_body_bytes` (by its `Content-Length`, or as it arrives) is
///   not read further and answers 413, once the caller's token has been checked (as
///   [`http::handle`](crate::http::handle) answers an oversized body).
/// - A body that has not fully arrived within the [read timeout](Self::with_read_timeout)
///   answers 408 with `Connection: close`: a stalled client never holds the request open
///   longer than that.
/// - Requests that carry no registration request (`GET`, `DELETE`, `OPTIONS`, paths outside the
///   endpoints) are answered without reading their body.
/// - The [`RequestContext`] is the one the host put in the request's extensions (for example
///   with the peer's address), or an empty one.
///
/// Cloning is cheap: the registrar is shared.
#[derive(Debug, Clone)]
pub struct RegistrationService {
    registrar: Arc<Registrar>,
    mount: Arc<str>,
    read_timeout: Duration,
}

impl RegistrationService {
    /// A service over `registrar` (a `Registrar` or an `Arc<Registrar>`), mounted where the
    /// router nests it (paths relative to the mount point: `/` and `/{client_id}`), with the
    /// [`DEFAULT_READ_TIMEOUT`].
    pub fn new(registrar: impl Into<Arc<Registrar>>) -> Self {
        Self {
            registrar: registrar.into(),
            mount: Arc::from(""),
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }

    /// Serves the registration endpoint at `path` and the client configuration endpoints at
    /// `path/{client_id}`, for hosts that hand the service whole request paths (hyper, axum's
    /// `route_service`). Other paths answer 404.
    #[must_use]
    pub fn mounted_at(mut self, path: &str) -> Self {
        self.mount = Arc::from(path);
        self
    }

    /// How long a request body may take to arrive in full (default
    /// [`DEFAULT_READ_TIMEOUT`]).
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The registrar.
    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Serves one request.
    async fn serve<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let registrar = self.registrar.as_ref();
        let Some(route) = route_under(&self.mount, parts.uri.path()) else {
            return full(not_found(registrar, &parts.headers));
        };
        let context = parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .unwrap_or_default();
        let bytes = if route.takes_body(&parts.method) {
            let limit = registrar.policy().limits.max_body_bytes;
            let read = tokio::time::timeout(self.read_timeout, read_body(body, limit));
            match read.await {
                Ok(read) => read,
                Err(_elapsed) => return full(timed_out(registrar, &parts.headers)),
            }
        } else {
            Ok(Bytes::new())
        };
        let body = bytes.as_deref();
        let response = respond(
            registrar,
            route,
            &parts.method,
            &parts.headers,
            body,
            &context,
        )
        .await;
        full(response)
    }
}

/// Reads `body` within `limit` bytes: a longer body is not read further.
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, RegistrationError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || RegistrationError::BodyTooLarge { limit };
    if usize::try_from(body.size_hint().lower()).map_or(true, |announced| announced > limit) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(_) => Err(RegistrationError::InvalidRequest(
            "could not read the request body".into(),
        )),
    }
}

fn full(response: Response<Vec<u8>>) -> Response<Full<Bytes>> {
    response.map(|body| Full::new(Bytes::from(body)))
}

impl<B> tower_service::Service<Request<B>> for RegistrationService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.serve(request).await) })
    }
}
