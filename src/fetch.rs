//! Outbound fetches, through one seam: the [`Fetcher`] trait. The crate fetches only what the
//! policy asks for (issuer key sets, `sector_identifier_uri` documents); a client's `jwks_uri` or
//! `logo_uri` is never fetched during registration.
//!
//! The reference implementation, `HttpFetcher` (feature `fetch`), refuses anything but https,
//! resolves names itself and refuses loopback, private, link-local, shared, multicast, reserved
//! and cloud-metadata addresses, follows no redirects, and caps time and size.

#[cfg(feature = "fetch")]
mod http_fetcher;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use crate::error::FetchError;
use crate::statements::{Jwks, KeyError, KeySource};

#[cfg(feature = "fetch")]
pub use http_fetcher::HttpFetcher;

/// Limits on one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchLimits {
    /// Largest accepted body. Defaults to 64 KiB.
    pub max_bytes: usize,
    /// Longest the whole fetch may take. Defaults to 5 seconds.
    pub timeout: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            timeout: Duration::from_secs(5),
        }
    }
}

/// A fetched document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched {
    /// The body, at most the limit's size.
    pub body: Vec<u8>,
    /// The media type of `Content-Type`, lowercased, without parameters.
    pub content_type: Option<String>,
    /// How long the document may still be cached: its freshness lifetime less its age
    /// ([`CacheHeaders::freshness`]: `Cache-Control: max-age`, else `Expires`, less `Age`;
    /// `None` when the response says nothing, zero for `no-store` / `no-cache`).
    pub max_age: Option<Duration>,
}

impl Fetched {
    /// A document with this body and no headers.
    pub fn new(body: Vec<u8>) -> Self {
        Self {
            body,
            content_type: None,
            max_age: None,
        }
    }
}

/// The `max-age` of a `Cache-Control` header value; zero for `no-store` and `no-cache`. For
/// [`Fetcher`] implementations filling [`Fetched::max_age`].
pub(crate) fn max_age(cache_control: &str) -> Option<Duration> {
    let mut age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            age = v
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

/// The response headers that decide how long a document stays fresh (RFC 9111 §4.2), as
/// received. For [`Fetcher`] implementations filling [`Fetched::max_age`] with
/// [`freshness`](Self::freshness).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheHeaders<'a> {
    /// `Cache-Control`.
    pub cache_control: Option<&'a str>,
    /// `Expires`.
    pub expires: Option<&'a str>,
    /// `Date`.
    pub date: Option<&'a str>,
    /// `Age`.
    pub age: Option<&'a str>,
}

impl CacheHeaders<'_> {
    /// How long the document stays fresh from now: `max-age` (zero for `no-store` and
    /// `no-cache`), else `Expires` minus `Date` (or minus `now` without a `Date`), less the `Age`
    /// it already has (RFC 9111 §4.2.1, §4.2.3); `None` when neither `max-age` nor `Expires`
    /// says. An `Expires` that is not an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), `0`
    /// for example, means already expired (RFC 9111 §5.3); the obsolete date formats are read
    /// that way too.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use oauth_dcr::fetch::CacheHeaders;
    ///
    /// let mut headers = CacheHeaders::default();
    /// headers.cache_control = Some("max-age=600");
    /// headers.age = Some("100");
    /// assert_eq!(headers.freshness(SystemTime::now()), Some(Duration::from_secs(500)));
    /// ```
    pub fn freshness(&self, now: std::time::SystemTime) -> Option<Duration> {
        let lifetime = match self.cache_control.and_then(max_age) {
            Some(age) => age,
            None => {
                let expires = http_date(self.expires?);
                let date = self.date.and_then(http_date).or_else(|| unix_seconds(now));
                match (expires, date) {
                    (Some(e), Some(d)) => Duration::from_secs(e.saturating_sub(d)),
                    _ => Duration::ZERO,
                }
            }
        };
        let age = self
            .age
            .and_then(|a| a.trim().parse::<u64>().ok())
            .map_or(Duration::ZERO, Duration::from_secs);
        Some(lifetime.saturating_sub(age))
    }
}

fn unix_seconds(at: std::time::SystemTime) -> Option<u64> {
    at.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// An IMF-fixdate (RFC 9110 §5.6.7) as seconds since the Unix epoch.
fn http_date(value: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [_weekday, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == month)?;
    let month = time::Month::try_from(u8::try_from(month).ok()?.checked_add(1)?).ok()?;
    let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let mut hms = clock.split(':').map(|n| n.parse::<u8>().ok());
    let (Some(Some(h)), Some(Some(m)), Some(Some(s)), None) =
        (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return None;
    };
    let at = date.with_hms(h, m, s).ok()?.assume_utc();
    u64::try_from(at.unix_timestamp()).ok()
}

/// Fetches a document from an https URL. Implement it to route fetches through your own
/// egress proxy or HTTP client; the implementation is responsible for the SSRF rules.
#[async_trait]
pub trait Fetcher: Send + Sync {
    /// Fetches `url` within `limits`.
    ///
    /// # Errors
    /// [`FetchError`] for anything but a 200 response within the limits from an allowed address.
    async fn fetch(&self, url: &str, limits: FetchLimits) -> Result<Fetched, FetchError>;
}

/// Whether an address is a public unicast address that a server may connect to on a client's
/// behalf: not loopback, private (RFC 1918, RFC 4193), link-local (including the
/// `169.254.169.254` cloud metadata service), shared (RFC 6598), unspecified, broadcast,
/// multicast, documentation, benchmarking (`2001:2::/48` too), 6to4 relay anycast
/// (`192.88.99.0/24`), discard-only (`100::/64`), site-local (`fec0::/10`) or reserved;
/// IPv4-mapped and NAT64 IPv6 addresses are judged by their IPv4 address.
pub(crate) fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// Whether a host name is `localhost` or a name under `.localhost` (RFC 6761 §6.3: such names
/// resolve to loopback), with or without the trailing dot of a fully qualified name, in any
/// letter case. The name rule that goes with [`is_public_ip`] for hosts a server would call.
pub(crate) fn is_loopback_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let tail = host.len().saturating_sub("localhost".len());
    host.get(tail..)
        .is_some_and(|t| t.eq_ignore_ascii_case("localhost"))
        && (tail == 0 || host.as_bytes()[tail - 1] == b'.')
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast, RFC 7526 (deprecated)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    if segments[0] == 0x64 && segments[1] == 0xff9b {
        // NAT64 (RFC 6052): the last 32 bits are an IPv4 address.
        let o = ip.octets();
        return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[0] == 0 // IPv4-compatible and other reserved forms
        || (segments[0] == 0x2002) // 6to4 can reach arbitrary IPv4 addresses
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
        || (segments[0] == 0x2001 && segments[1] == 2 && segments[2] == 0) // benchmarking, RFC 5180
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]) // discard-only, RFC 6666
        || (segments[0] & 0xffc0) == 0xfec0) // site-local, RFC 3879 (deprecated)
}

/// A [`KeySource`] that fetches each trusted issuer's JWK Set from a configured URL. Wrap it in
/// a [`CachingKeySource`](crate::statements::CachingKeySource) so that keys are not fetched per request.
pub struct FetchedKeySource {
    fetcher: Arc<dyn Fetcher>,
    issuers: std::collections::HashMap<String, String>,
    limits: FetchLimits,
}

impl std::fmt::Debug for FetchedKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedKeySource")
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

impl FetchedKeySource {
    /// No trusted issuer yet.
    pub fn new(fetcher: Arc<dyn Fetcher>) -> Self {
        Self {
            fetcher,
            issuers: std::collections::HashMap::new(),
            limits: FetchLimits::default(),
        }
    }

    /// Trusts `issuer`, whose keys are at `jwks_uri` (from configuration, never from a token).
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>, jwks_uri: impl Into<String>) -> Self {
        self.issuers.insert(issuer.into(), jwks_uri.into());
        self
    }
}

#[async_trait]
impl KeySource for FetchedKeySource {
    async fn keys(&self, issuer: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        let Some(uri) = self.issuers.get(issuer) else {
            return Ok(None);
        };
        let fetched = self
            .fetcher
            .fetch(uri, self.limits)
            .await
            .map_err(|e| KeyError::new(format!("{uri}: {e}")))?;
        Jwks::from_json(&fetched.body).map(|k| Some(Arc::new(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 6to4 relay anycast, discard-only, benchmarking and deprecated site-local ranges of
    /// the IANA special-purpose registries are not public either.
    #[test]
    fn relay_discard_benchmarking_and_site_local_ranges_are_not_public() {
        for special in [
            "192.88.99.1",
            "192.88.99.255",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "2001:2::1",
            "2001:2:0:ffff::1",
            "fec0::1",
            "feff:ffff::1",
        ] {
            assert!(!is_public_ip(special.parse().unwrap()), "{special}");
        }
        for public in ["192.88.98.1", "192.88.100.1", "100:0:0:1::1", "2001:3::1"] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn loopback_names() {
        for name in [
            "localhost",
            "localhost.",
            "LocalHost",
            "api.localhost",
            "a.b.localhost.",
        ] {
            assert!(is_loopback_name(name), "{name}");
        }
        for name in [
            "notlocalhost",
            "localhost.app.example",
            "localhost..",
            "",
            "xlocalhost.",
        ] {
            assert!(!is_loopback_name(name), "{name}");
        }
    }

    #[test]
    fn only_public_addresses_pass() {
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert!(!is_public_ip(private.parse().unwrap()), "{private}");
        }
    }
}
