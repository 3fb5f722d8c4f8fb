//! [`HttpFetcher`]: the reference [`Fetcher`] over `reqwest` with rustls.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{is_public_ip, CacheHeaders, FetchError, FetchLimits, Fetched, Fetcher};

/// The reference [`Fetcher`]: https only, names resolved by the fetcher itself with every
/// non-public address refused (so a DNS answer cannot point it at `127.0.0.1` or the cloud
/// metadata service), no redirects, a time limit over the whole exchange and a size cap enforced
/// while reading.
///
/// ```no_run
/// use oauth_dcr::fetch::{FetchLimits, Fetcher, HttpFetcher};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let fetcher = HttpFetcher::new()?;
/// let doc = fetcher.fetch("https://directory.example/jwks.json", FetchLimits::default()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl HttpFetcher {
    /// A fetcher with the SSRF rules above.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new() -> Result<Self, FetchError> {
        Self::build(false)
    }

    /// A fetcher that also allows plain `http` and loopback addresses: for tests against a
    /// local server only, never in production.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn dangerously_allow_loopback_for_tests() -> Result<Self, FetchError> {
        Self::build(true)
    }

    fn build(allow_loopback: bool) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
            .no_proxy()
            .user_agent(concat!("oauth-dcr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Network(e.to_string()))?;
        Ok(Self {
            client,
            allow_loopback,
        })
    }

    fn check_url(&self, url: &str) -> Result<url::Url, FetchError> {
        let parsed =
            url::Url::parse(url).map_err(|e| FetchError::Refused(format!("{url}: {e}")))?;
        let scheme_ok =
            parsed.scheme() == "https" || (self.allow_loopback && parsed.scheme() == "http");
        if !scheme_ok {
            return Err(FetchError::Refused(format!("{url}: only https is fetched")));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(FetchError::Refused(format!(
                "{url}: userinfo is not allowed"
            )));
        }
        // IP literals never reach the resolver: check them here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(FetchError::Refused(format!("{url}: no host"))),
        };
        if let Some(ip) = literal {
            if !allowed(ip, self.allow_loopback) {
                return Err(FetchError::Refused(format!(
                    "{url}: {ip} is not a public address"
                )));
            }
        }
        Ok(parsed)
    }
}

fn allowed(ip: std::net::IpAddr, allow_loopback: bool) -> bool {
    is_public_ip(ip) || (allow_loopback && ip.is_loopback())
}

#[async_trait]
impl Fetcher for HttpFetcher {
    async fn fetch(&self, url: &str, limits: FetchLimits) -> Result<Fetched, FetchError> {
        let url = self.check_url(url)?;
        let exchange = async {
            let mut response = self
                .client
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(network)?;
            let status = response.status();
            if status.is_redirection() {
                return Err(FetchError::Redirect);
            }
            if status != reqwest::StatusCode::OK {
                return Err(FetchError::Status(status.as_u16()));
            }
            if response
                .content_length()
                .is_some_and(|n| n > limits.max_bytes as u64)
            {
                return Err(FetchError::TooLarge(limits.max_bytes));
            }
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(network)? {
                if body.len() + chunk.len() > limits.max_bytes {
                    return Err(FetchError::TooLarge(limits.max_bytes));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched {
                body,
                content_type: headers
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| {
                        v.split(';')
                            .next()
                            .unwrap_or_default()
                            .trim()
                            .to_ascii_lowercase()
                    }),
                max_age: freshness(&headers),
            })
        };
        tokio::time::timeout(limits.timeout, exchange)
            .await
            .map_err(|_| FetchError::Timeout)?
    }
}

/// The freshness the response headers give (RFC 9111 §4.2).
fn freshness(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let get = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let cache = CacheHeaders {
        cache_control: get(reqwest::header::CACHE_CONTROL),
        expires: get(reqwest::header::EXPIRES),
        date: get(reqwest::header::DATE),
        age: get(reqwest::header::AGE),
    };
    cache.freshness(std::time::SystemTime::now())
}

fn network(e: reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout
    } else {
        FetchError::Network(e.to_string())
    }
}

/// Resolves with the system resolver and keeps only allowed addresses; none left is an error.
#[derive(Debug)]
struct PublicOnly {
    allow_loopback: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allowed(addr.ip(), allow_loopback))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}
