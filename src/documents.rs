//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): an https URL used
//! as `client_id`, whose JSON document is fetched, parsed with the registration parser and
//! validated with the registration rules and the same [`ServerPolicy`], then cached.
//!
//! ```
//! use std::sync::Arc;
//! use oauth_dcr::{MemoryStore, Registrar, ServerPolicy};
//! use oauth_dcr::documents::DocumentPolicy;
//!
//! let mut policy = ServerPolicy::new("https://as.example/register");
//! policy.metadata_documents = Some(DocumentPolicy::default());
//! # #[cfg(feature = "fetch")] {
//! let fetcher = Arc::new(oauth_dcr::fetch::HttpFetcher::new().unwrap());
//! let registrar = Registrar::new(policy, Arc::new(MemoryStore::new())).with_metadata_documents(fetcher);
//! // In the authorization endpoint:
//! // let client = registrar.resolve_client_id("https://app.example/oauth/client.json").await?;
//! # }
//! ```

mod flight;
mod keys;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use url::Url;

use crate::error::{ErrorCode, RegistrationError};
use crate::fetch::{FetchError, FetchLimits, Fetcher};
use crate::metadata::{ApplicationType, AuthMethod, ClientMetadata};
pub use crate::policy::DocumentPolicy;
use crate::policy::ServerPolicy;
use crate::registrar::Registrar;
use crate::request::{self, RegistrationRequest};
use crate::validate::host_allowed;
use flight::{Flight, Leader};
pub use keys::DocumentKeys;

/// What the server may tell the user about a client resolved from a document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trust {
    /// The host vouches for the client (its host is listed as verified, or the hook said so).
    Verified,
    /// Anyone could have published this document: show it as unverified.
    Unverified,
    /// A label the host's hook chose (for example "under development").
    Labelled(String),
}

/// A client resolved from its metadata document.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ResolvedClient {
    /// The URL: the client identifier.
    pub client_id: String,
    /// The validated metadata, defaults applied, exactly as a registration would store it.
    pub metadata: ClientMetadata,
    /// The trust label.
    pub trust: Trust,
    /// How long this resolution is cached.
    pub cache_for: Duration,
    /// The client id's host, lowercased: show it on the consent screen (MCP asks servers to
    /// display it), since the name is whatever the document says.
    pub host: String,
    /// Every redirect URI is an `http` loopback one (`127.0.0.0/8`, `[::1]`, `localhost`): the
    /// code goes to whatever program listens on this device, so the document proves little
    /// about who the client is. MCP asks servers to warn the user about such clients.
    pub loopback_only: bool,
}

/// The host's hook for document clients: refuse one, adjust its metadata, or label it.
#[async_trait]
pub trait DocumentTrust: Send + Sync {
    /// Judges a validated document client. `trust` is the label from the policy's
    /// `verified_hosts`.
    ///
    /// # Errors
    /// A refusal, which the caller sees (cached only as [`DocumentPolicy::failure_cache`] says).
    async fn assess(
        &self,
        client_id: &str,
        metadata: &mut ClientMetadata,
        trust: Trust,
    ) -> Result<Trust, RegistrationError>;
}

type Outcome = Result<Arc<ResolvedClient>, Failure>;

/// Why a resolution failed, kept apart from the error a client sees so that a fetch failure's
/// detail reaches only the host.
#[derive(Debug, Clone)]
enum Failure {
    /// Refused with this code and description, which the client sees.
    Refused(ErrorCode, String),
    /// The document could not be fetched: the client sees a generic description, the host
    /// the [`FetchError`] as the error's `source()`.
    Unfetchable(FetchError),
}

struct Entry {
    outcome: Outcome,
    expires: Instant,
}

/// The fetcher, the cache and the in-flight fetches of URL client identifiers.
pub(crate) struct Documents {
    fetcher: Arc<dyn Fetcher>,
    cache: Mutex<HashMap<String, Entry>>,
    flights: Mutex<HashMap<String, Arc<Flight<Outcome>>>>,
}

impl fmt::Debug for Documents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Documents").finish_non_exhaustive()
    }
}

impl Documents {
    pub(crate) fn new(fetcher: Arc<dyn Fetcher>) -> Self {
        Self {
            fetcher,
            cache: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, url: &str) -> Option<Outcome> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(url)
            .filter(|e| e.expires > Instant::now())
            .map(|e| e.outcome.clone())
    }

    fn remember(&self, url: &str, outcome: &Outcome, policy: &DocumentPolicy) {
        let ttl = match outcome {
            Ok(client) => client.cache_for,
            Err(_) => policy.failure_cache,
        };
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= policy.max_entries && !cache.contains_key(url) {
            cache.retain(|_, e| e.expires > now);
            while cache.len() >= policy.max_entries {
                let Some(oldest) = cache
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                cache.remove(&oldest);
            }
        }
        // A time to live past what the clock can add (a host's `Duration::MAX`) is not cached
        // rather than overflowing.
        let expires = now.checked_add(ttl);
        if let (true, Some(expires)) = (policy.max_entries > 0, expires) {
            cache.insert(
                url.to_owned(),
                Entry {
                    outcome: outcome.clone(),
                    expires,
                },
            );
        }
    }

    fn cached_len(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Takes the leader's flight off the map however the leader ends, a cancelled fetch included:
/// otherwise each cancelled resolution of a new URL (a client hanging up while the document
/// loads) would leave its flight behind, and unverified input would grow the map without bound.
struct Landing<'a> {
    flights: &'a Mutex<HashMap<String, Arc<Flight<Outcome>>>>,
    url: &'a str,
    flight: Arc<Flight<Outcome>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights
            .get(self.url)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(self.url);
        }
    }
}

fn refuse(message: impl Into<String>) -> Failure {
    Failure::Refused(ErrorCode::InvalidClient, message.into())
}

/// A validation or hook refusal, kept with its code and description.
fn refused_by(e: RegistrationError) -> Failure {
    Failure::Refused(e.code(), e.to_string())
}

fn into_error(failure: Failure) -> RegistrationError {
    match failure {
        Failure::Refused(code, message) => RegistrationError::rejected(code, message),
        Failure::Unfetchable(detail) => RegistrationError::DocumentUnavailable(detail),
    }
}

/// Checks a URL client identifier: https, a path, no fragment, userinfo or dot segments, and a
/// host the policy allows. The identifier is kept as sent (draft-ietf-oauth-client-id-metadata-
/// document §3: the document's `client_id` is compared "using simple string comparison"), so an
/// explicit `:443` or an uppercase host is not refused for its form; characters the URL parser
/// would drop or rewrite (controls, spaces, backslashes) are, so that the URL fetched is the one
/// the client named.
fn check_client_id(client_id: &str, policy: &DocumentPolicy) -> Result<Url, Failure> {
    if client_id
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
    {
        return Err(refuse(
            "a URL client_id must not contain spaces, controls or backslashes",
        ));
    }
    let url = Url::parse(client_id).map_err(|_| refuse("the client_id is not a URL"))?;
    let dev_loopback = policy.dangerously_allow_http_loopback
        && url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => crate::fetch::is_loopback_name(name),
            None => false,
        };
    if url.scheme() != "https" && !dev_loopback {
        return Err(refuse("a URL client_id must use https"));
    }
    if client_id.contains('#') {
        return Err(refuse("a URL client_id must not have a fragment"));
    }
    let (authority, raw_path) = split_authority(client_id);
    // Userinfo lives in the authority only: an `@` in the path or query is an ordinary character.
    if !url.username().is_empty() || url.password().is_some() || authority.contains('@') {
        return Err(refuse("a URL client_id must not have userinfo"));
    }
    let dot_segment = raw_path.split(['/', '?']).any(|s| {
        s == "." || s == ".." || s.eq_ignore_ascii_case("%2e") || s.eq_ignore_ascii_case("%2e%2e")
    });
    if dot_segment {
        return Err(refuse("a URL client_id must not have dot segments"));
    }
    let path = url.path();
    if path.is_empty() || path == "/" || !raw_path.starts_with('/') {
        return Err(refuse("a URL client_id must have a path"));
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    if host_allowed(&host, &policy.denied_hosts) {
        return Err(refuse(format!("the host `{host}` is not allowed")));
    }
    if policy
        .allowed_hosts
        .as_ref()
        .is_some_and(|allowed| !host_allowed(&host, allowed))
    {
        return Err(refuse(format!("the host `{host}` is not allowed")));
    }
    Ok(url)
}

impl Registrar {
    /// Resolves URL client identifiers with `fetcher` (which must refuse non-public addresses,
    /// as `HttpFetcher` (feature `fetch`) does). Needs
    /// [`ServerPolicy::metadata_documents`].
    #[must_use]
    pub fn with_metadata_documents(mut self, fetcher: Arc<dyn Fetcher>) -> Self {
        self.documents = Some(Arc::new(Documents::new(fetcher)));
        self
    }

    /// Sets the hook that refuses, adjusts or labels document clients.
    #[must_use]
    pub fn with_document_trust(mut self, hook: Arc<dyn DocumentTrust>) -> Self {
        self.document_trust = Some(hook);
        self
    }

    /// Whether this registrar resolves URL client identifiers: the policy enables
    /// [`metadata_documents`](ServerPolicy::metadata_documents) and a fetcher is attached.
    pub fn resolves_metadata_documents(&self) -> bool {
        self.policy.metadata_documents.is_some() && self.documents.is_some()
    }

    /// The number of cached document resolutions (successes and failures).
    pub fn cached_documents(&self) -> usize {
        self.documents.as_ref().map_or(0, |d| d.cached_len())
    }

    /// Resolves a URL `client_id` to the metadata its document declares, validated exactly as a
    /// registration would be, plus the draft's own rules: the document's `client_id` equals the
    /// URL; no shared-secret authentication and no `client_secret` member (so `none`, the
    /// default, or `private_key_jwt` with keys). Results are cached within the policy's bounds;
    /// concurrent calls for one URL share one fetch; failures are not cached unless
    /// [`DocumentPolicy::failure_cache`] says so.
    ///
    /// # Errors
    /// 400 `invalid_client` with a description when the URL or the document is not acceptable;
    /// [`RegistrationError::DocumentUnavailable`] (400 `invalid_client`, a generic description,
    /// the [`FetchError`] as its `source()` for your logs) when the fetch fails; the validation
    /// code (`invalid_redirect_uri`, …) when its metadata is not acceptable; 403 `access_denied`
    /// when the policy does not enable metadata documents.
    pub async fn resolve_client_id(
        &self,
        client_id: &str,
    ) -> Result<Arc<ResolvedClient>, RegistrationError> {
        let (Some(policy), Some(documents)) = (&self.policy.metadata_documents, &self.documents)
        else {
            return Err(RegistrationError::rejected(
                ErrorCode::AccessDenied,
                "client ID metadata documents are not supported",
            ));
        };
        let url = check_client_id(client_id, policy).map_err(into_error)?;
        loop {
            if let Some(outcome) = documents.cached(client_id) {
                return outcome.map_err(into_error);
            }
            let (flight, leading) = {
                let mut flights = documents.flights.lock().unwrap_or_else(|e| e.into_inner());
                match flights.get(client_id) {
                    Some(flight) => (flight.clone(), false),
                    None => {
                        let flight = Flight::new();
                        flights.insert(client_id.to_owned(), flight.clone());
                        (flight, true)
                    }
                }
            };
            if !leading {
                match flight.wait().await {
                    Some(outcome) => return outcome.map_err(into_error),
                    None => {
                        // The leader was cancelled: clear its flight and try again.
                        let mut flights =
                            documents.flights.lock().unwrap_or_else(|e| e.into_inner());
                        if flights
                            .get(client_id)
                            .is_some_and(|f| Arc::ptr_eq(f, &flight))
                        {
                            flights.remove(client_id);
                        }
                        continue;
                    }
                }
            }
            let landing = Landing {
                flights: &documents.flights,
                url: client_id,
                flight: flight.clone(),
            };
            let leader = Leader::new(flight);
            let outcome = self
                .fetch_document(&url, client_id, policy, documents)
                .await;
            documents.remember(client_id, &outcome, policy);
            drop(landing);
            leader.done(outcome.clone());
            return outcome.map_err(into_error);
        }
    }

    async fn fetch_document(
        &self,
        url: &Url,
        client_id: &str,
        policy: &DocumentPolicy,
        documents: &Documents,
    ) -> Outcome {
        let limits = FetchLimits {
            max_bytes: policy.max_bytes,
            timeout: policy.timeout,
        };
        let fetched = documents
            .fetcher
            .fetch(url.as_str(), limits)
            .await
            .map_err(Failure::Unfetchable)?;
        if let Some(kind) = &fetched.content_type {
            if kind != "application/json" && !kind.ends_with("+json") {
                // The upstream's media type is not echoed: it is the server's detail.
                return Err(refuse(
                    "the client metadata document's media type is not JSON",
                ));
            }
        }
        let mut limits = self.policy.limits.clone();
        limits.max_body_bytes = policy.max_bytes;
        let map = request::parse_object(&fetched.body, &limits).map_err(|e| {
            refuse(format!(
                "the client metadata document is not acceptable: {e}"
            ))
        })?;
        match map.get("client_id") {
            Some(Value::String(id)) if id == client_id => {}
            _ => return Err(refuse("the document's client_id does not equal its URL")),
        }
        if ["client_secret", "client_secret_expires_at"]
            .iter()
            .any(|m| map.get(*m).is_some_and(|v| !v.is_null()))
        {
            return Err(refuse(
                "a client metadata document must not carry a client_secret",
            ));
        }
        let parsed = RegistrationRequest::from_members(map);
        let rules = self.document_rules(policy);
        let mut metadata =
            validate_document(parsed.metadata, &rules, policy, parsed.violations, true)?;
        self.bind_document(client_id, &mut metadata, &rules, policy)
            .await?;
        let host = url.host_str().unwrap_or_default();
        let mut trust = if host_allowed(host, &policy.verified_hosts) {
            Trust::Verified
        } else {
            Trust::Unverified
        };
        if let Some(hook) = &self.document_trust {
            trust = hook
                .assess(client_id, &mut metadata, trust)
                .await
                .map_err(refused_by)?;
            metadata = validate_document(metadata, &rules, policy, Vec::new(), false)?;
        }
        let cache_for = fetched
            .max_age
            .unwrap_or(policy.min_cache)
            .clamp(policy.min_cache, policy.max_cache.max(policy.min_cache));
        Ok(Arc::new(ResolvedClient {
            client_id: client_id.to_owned(),
            loopback_only: loopback_only(&metadata),
            metadata,
            trust,
            cache_for,
            host: host.to_owned(),
        }))
    }
}

impl Registrar {
    /// The registration policy a document is validated with: the server's, where a document
    /// without `application_type` is a native client (the draft's documents are mostly those
    /// of desktop and command-line apps, RFC 8252 §8.4, the MCP specification's own example)
    /// and, when [`DocumentPolicy::localhost_redirects`] is on, `http://localhost` loopback
    /// redirects are accepted beside the IP literals.
    fn document_rules(&self, policy: &DocumentPolicy) -> ServerPolicy {
        let mut rules = ServerPolicy::clone(&self.policy);
        rules.defaults.application_type = ApplicationType::Native;
        rules.redirect.allow_localhost |= policy.localhost_redirects;
        rules
    }
}

/// Validates a document's metadata with the registration rules (`rules`, see
/// [`Registrar::document_rules`]) and the draft's own: no shared-secret authentication (`none`
/// when the document names no method). Run again after the trust hook, whatever it changed.
fn validate_document(
    mut metadata: ClientMetadata,
    rules: &ServerPolicy,
    policy: &DocumentPolicy,
    violations: Vec<crate::error::Violation>,
    as_sent: bool,
) -> Result<ClientMetadata, Failure> {
    if policy.require_client_name && metadata.client_name.is_none() {
        return Err(Failure::Refused(
            ErrorCode::InvalidClientMetadata,
            "client_name: this server requires a client metadata document to name its client"
                .to_owned(),
        ));
    }
    let method = metadata
        .token_endpoint_auth_method
        .get_or_insert(AuthMethod::None);
    if method.uses_secret() {
        return Err(refuse(format!(
            "a client metadata document cannot use the shared-secret method `{method}`"
        )));
    }
    let validated = if as_sent {
        crate::validate::validate_request(rules, metadata, violations)
    } else {
        crate::validate::validate_metadata(rules, metadata, violations)
    };
    validated
        .map(crate::validate::ValidatedMetadata::into_inner)
        .map_err(|v| refused_by(RegistrationError::InvalidMetadata(v)))
}

/// Whether every redirect URI is plain `http` on a loopback host (an IP literal or
/// `localhost`); `false` without redirect URIs.
fn loopback_only(metadata: &ClientMetadata) -> bool {
    let uris = metadata.redirect_uris.as_deref().unwrap_or_default();
    !uris.is_empty()
        && uris.iter().all(|uri| {
            Url::parse(uri.as_str()).is_ok_and(|url| {
                url.scheme() == "http"
                    && match url.host() {
                        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                        Some(url::Host::Domain(name)) => crate::fetch::is_loopback_name(name),
                        None => false,
                    }
            })
        })
}

/// The authority and the rest (path, query) of an absolute URL as sent: the authority ends at
/// the first `/`, `?` or `#` after `://`.
fn split_authority(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.split_at(end)
}

/// Whether `client_id` looks like a URL client identifier (starts with `https://`), so an
/// authorization endpoint knows to call [`Registrar::resolve_client_id`] instead of its store.
/// (With [`DocumentPolicy::dangerously_allow_http_loopback`], a development server also treats
/// `http://` loopback ids as URLs: check `client_id.starts_with("http://")` there too.)
pub fn is_url_client_id(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

impl ServerPolicy {
    /// Whether URL client identifiers are enabled.
    pub fn supports_metadata_documents(&self) -> bool {
        self.metadata_documents.is_some()
    }
}

impl Registrar {
    /// What binds a document's client beyond validation, as it binds a registration: the host's
    /// hook (where the deployment profiles' rules live; whatever it changes is validated again)
    /// and the `sector_identifier_uri` document.
    async fn bind_document(
        &self,
        client_id: &str,
        metadata: &mut ClientMetadata,
        rules: &ServerPolicy,
        policy: &DocumentPolicy,
    ) -> Result<(), Failure> {
        if let Some(hook) = &self.hook {
            let request = crate::request::RequestContext::new();
            let context = crate::events::HookContext {
                operation: crate::events::Operation::Resolve,
                client_id: Some(client_id),
                request: &request,
                initial_token: None,
                statement: None,
                signed_request: None,
            };
            hook.check(metadata, &context).await.map_err(refused_by)?;
            // Validated again with the documents' rules (native by default, `localhost`).
            *metadata =
                validate_document(std::mem::take(metadata), rules, policy, Vec::new(), false)?;
        }
        crate::pipeline::bind::check_sector_identifier(self.sector_fetcher.as_deref(), metadata)
            .await
            .map_err(refused_by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fetch that never ends.
    struct Hanging;

    #[async_trait]
    impl Fetcher for Hanging {
        async fn fetch(
            &self,
            _url: &str,
            _limits: crate::fetch::FetchLimits,
        ) -> Result<crate::fetch::Fetched, crate::fetch::FetchError> {
            std::future::pending().await
        }
    }

    /// Cancelled resolutions of ever new URLs (clients hanging up while the document loads)
    /// leave nothing behind: unverified input cannot grow the in-flight map.
    #[tokio::test]
    async fn cancelled_resolutions_leave_no_flight_behind() {
        let mut policy = crate::ServerPolicy::new("https://as.example/register");
        policy.metadata_documents = Some(DocumentPolicy::default());
        let registrar = Registrar::new(policy, Arc::new(crate::MemoryStore::new()))
            .with_metadata_documents(Arc::new(Hanging));
        for n in 0..100 {
            let url = format!("https://app{n}.example/client.json");
            let resolving = registrar.resolve_client_id(&url);
            let cancelled =
                tokio::time::timeout(std::time::Duration::from_millis(1), resolving).await;
            assert!(cancelled.is_err(), "the fetch never ends");
        }
        let documents = registrar
            .documents
            .as_ref()
            .map(|d| d.flights.lock().unwrap().len());
        assert_eq!(documents, Some(0));
        assert_eq!(registrar.cached_documents(), 0);
    }

    #[test]
    fn client_id_url_rules() {
        let policy = DocumentPolicy::default();
        for ok in [
            "https://app.example/client.json",
            "https://app.example:8443/oauth/client",
            "https://app.example/c?v=1",
            "https://APP.example/client.json",
            "https://app.example:443/client.json",
            "https://app.example/@scope/client.json",
            "https://app.example/client.json?owner=me@example.com",
        ] {
            assert!(check_client_id(ok, &policy).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/client.json",
            "https://app.example",
            "https://app.example/",
            "https://app.example/client.json#x",
            "https://user@app.example/client.json",
            "https://app.example/a/../client.json",
            "https://app.example/./client.json",
            "https://app.example/%2e%2e/client.json",
            "https://@app.example/client.json",
            "https://user:pw@app.example/client.json",
            "https://app.example?x=/path",
            "https://app.example/a b.json",
            "https://app.example\\client.json",
            "not a url",
        ] {
            assert!(check_client_id(bad, &policy).is_err(), "{bad}");
        }
        assert!(check_client_id("http://127.0.0.1:9000/client.json", &policy).is_err());
        let dev = DocumentPolicy {
            dangerously_allow_http_loopback: true,
            ..DocumentPolicy::default()
        };
        for ok in [
            "http://127.0.0.1:9000/client.json",
            "http://[::1]/client.json",
            "http://localhost:9000/client.json",
        ] {
            assert!(check_client_id(ok, &dev).is_ok(), "{ok}");
        }
        for bad in ["http://app.example/client.json", "http://10.0.0.1/c.json"] {
            assert!(check_client_id(bad, &dev).is_err(), "{bad}");
        }
        let denied = DocumentPolicy {
            denied_hosts: [".evil.example".to_owned()].into(),
            ..DocumentPolicy::default()
        };
        assert!(check_client_id("https://x.evil.example/c", &denied).is_err());
        let allowed = DocumentPolicy {
            allowed_hosts: Some(["app.example".to_owned()].into()),
            ..DocumentPolicy::default()
        };
        assert!(check_client_id("https://other.example/c", &allowed).is_err());
        assert!(check_client_id("https://app.example/c", &allowed).is_ok());
    }
}
