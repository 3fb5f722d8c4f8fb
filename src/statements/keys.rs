//! Verification keys: [`Jwks`], the [`KeySource`] seam, a static source and a caching wrapper.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::JwsVerifier;

/// A JSON Web Key Set of public verification keys (RFC 7517 §5).
///
/// It keeps the verifiers built from its keys, so a key is converted for the JOSE library once.
#[derive(Clone)]
pub struct Jwks {
    set: JwkSet,
    verifiers: Arc<Mutex<Verifiers>>,
}

/// Verifiers built so far, by key index and algorithm.
type Verifiers = HashMap<(usize, String), Arc<dyn JwsVerifier>>;

impl Jwks {
    /// Parses a JWK Set document.
    ///
    /// # Errors
    /// [`KeyError`] when the bytes are not a JWK Set, or a key carries private material.
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::public_only(JwkSet::from_bytes(bytes).map_err(|e| KeyError::new(e.to_string()))?)
    }

    /// A key set from a JSON object already parsed (a statement's `jwks` claim).
    pub(crate) fn from_object(
        map: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, KeyError> {
        Self::public_only(JwkSet::from_map(map).map_err(|e| KeyError::new(e.to_string()))?)
    }

    /// `set`, refused when it holds a private key.
    fn public_only(set: JwkSet) -> Result<Self, KeyError> {
        for key in set.keys() {
            let private = ["d", "p", "q", "dp", "dq", "qi", "k"]
                .iter()
                .any(|m| key.parameter(m).is_some());
            if private {
                return Err(KeyError::new(
                    "a verification key set must hold public keys only",
                ));
            }
        }
        Ok(Self {
            set,
            verifiers: Arc::default(),
        })
    }

    /// The verifier of key `index` for `alg`, built by `make` the first time.
    pub(crate) fn verifier(
        &self,
        index: usize,
        alg: &str,
        make: impl FnOnce() -> Result<Arc<dyn JwsVerifier>, String>,
    ) -> Result<Arc<dyn JwsVerifier>, String> {
        let key = (index, alg.to_owned());
        let cached = self
            .verifiers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(verifier) = cached {
            return Ok(verifier);
        }
        let made = make()?;
        self.verifiers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, made.clone());
        Ok(made)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.set.keys().len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn keys(&self) -> Vec<&Jwk> {
        self.set.keys()
    }

    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        !self.set.get(kid).is_empty()
    }
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.set.keys().iter().filter_map(|k| k.key_id()).collect();
        f.debug_struct("Jwks").field("kids", &kids).finish()
    }
}

/// A key set could not be loaded or parsed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("key source: {0}")]
pub struct KeyError(String);

impl KeyError {
    /// A key error with a message for the host's logs (never shown to clients).
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Where the verification keys of trusted issuers come from.
///
/// Issuer key locations come from configuration, never from the token being verified.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The keys of `issuer`, or `None` if the issuer is not trusted.
    ///
    /// # Errors
    /// When the keys cannot be loaded; the client sees a 500.
    async fn keys(&self, issuer: &str) -> Result<Option<Arc<Jwks>>, KeyError>;

    /// Called when a token names a `kid` the current keys lack: return fresher keys if the
    /// source can (a cache refetches), or the same keys.
    ///
    /// # Errors
    /// As [`keys`](Self::keys).
    async fn refresh(&self, issuer: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        self.keys(issuer).await
    }

    /// Keys that verify tokens of any issuer, tokens without `iss` included; `None` when keys
    /// are looked up per issuer only. Signed request bodies need an `iss` only when this is
    /// `None`, because only then is the claim bound to the keys. The default is `None`.
    ///
    /// # Errors
    /// As [`keys`](Self::keys).
    async fn keys_for_any_issuer(&self) -> Result<Option<Arc<Jwks>>, KeyError> {
        Ok(None)
    }
}

/// Fixed keys per issuer, from configuration.
///
/// ```
/// use oauth_dcr::statements::{Jwks, StaticKeySource};
///
/// let jwks = Jwks::from_json(br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"1",
///   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#)?;
/// let keys = StaticKeySource::new().with_issuer("https://directory.example", jwks);
/// # Ok::<(), oauth_dcr::statements::KeyError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticKeySource {
    issuers: HashMap<String, Arc<Jwks>>,
    any: Option<Arc<Jwks>>,
}

impl StaticKeySource {
    /// No trusted issuer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `issuer` with these keys.
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>, keys: Jwks) -> Self {
        self.issuers.insert(issuer.into(), Arc::new(keys));
        self
    }

    /// Uses these keys for any issuer (for signed request bodies verified with the server's own
    /// configured keys, where the issuer is the client itself).
    #[must_use]
    pub fn with_any_issuer(mut self, keys: Jwks) -> Self {
        self.any = Some(Arc::new(keys));
        self
    }
}

#[async_trait]
impl KeySource for StaticKeySource {
    async fn keys(&self, issuer: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        Ok(self.issuers.get(issuer).or(self.any.as_ref()).cloned())
    }

    async fn keys_for_any_issuer(&self) -> Result<Option<Arc<Jwks>>, KeyError> {
        Ok(self.any.clone())
    }
}

/// Caches another source's keys per issuer for a time to live, and refetches early when a token
/// names an unknown `kid` (at most once per `min_refresh` per issuer, so a flood of tokens with
/// random `kid`s cannot turn into a flood of fetches).
///
/// Issuer names come from tokens not yet verified, so the cache is bounded: "not trusted"
/// answers are kept only for [`negative_ttl`](Self::negative_ttl), and at most
/// [`max_entries`](Self::max_entries) issuers are held; when full, expired entries go first,
/// then the oldest "not trusted" answer, then the oldest keys.
pub struct CachingKeySource<S> {
    inner: S,
    ttl: Duration,
    negative_ttl: Duration,
    min_refresh: Duration,
    max_entries: usize,
    cache: Mutex<HashMap<String, Cached>>,
}

/// When an issuer's keys were loaded, and what they were (`None`: not trusted).
type Cached = (Instant, Option<Arc<Jwks>>);

impl<S> fmt::Debug for CachingKeySource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingKeySource")
            .field("ttl", &self.ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("min_refresh", &self.min_refresh)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl<S: KeySource> CachingKeySource<S> {
    /// Caches `inner` for `ttl` ("not trusted" answers for at most 60 seconds), refreshing on an
    /// unknown `kid` at most every 30 seconds, holding at most 1,024 issuers.
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            negative_ttl: Duration::from_secs(60),
            min_refresh: Duration::from_secs(30),
            max_entries: 1024,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the minimum interval between two refreshes of one issuer.
    #[must_use]
    pub fn min_refresh(mut self, interval: Duration) -> Self {
        self.min_refresh = interval;
        self
    }

    /// Sets how long a "not trusted" answer is kept (never longer than the time to live).
    /// Defaults to 60 seconds.
    #[must_use]
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Sets the most issuers held at once. Defaults to 1,024.
    #[must_use]
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// How many issuers the cache holds now, trusted or not (for monitoring and tests).
    pub fn cached_issuers(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// How long an answer stays fresh.
    fn lifetime(&self, keys: &Option<Arc<Jwks>>) -> Duration {
        match keys {
            Some(_) => self.ttl,
            None => self.negative_ttl.min(self.ttl),
        }
    }

    fn cached(&self, issuer: &str, max_age: Duration) -> Option<Option<Arc<Jwks>>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (at, keys) = cache.get(issuer)?;
        let fresh = at.elapsed() < max_age.min(self.lifetime(keys));
        fresh.then(|| keys.clone())
    }

    async fn load(&self, issuer: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        let keys = self.inner.refresh(issuer).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.contains_key(issuer) {
            self.make_room(&mut cache);
        }
        if self.max_entries > 0 {
            cache.insert(issuer.to_owned(), (Instant::now(), keys.clone()));
        }
        Ok(keys)
    }

    /// Evicts until one more entry fits: expired entries, then the oldest "not trusted" answer,
    /// then the oldest keys.
    fn make_room(&self, cache: &mut HashMap<String, Cached>) {
        if cache.len() < self.max_entries {
            return;
        }
        cache.retain(|_, (at, keys)| at.elapsed() < self.lifetime(keys));
        while !cache.is_empty() && cache.len() >= self.max_entries {
            let oldest = cache
                .iter()
                .min_by_key(|(_, (at, keys))| (keys.is_some(), *at))
                .map(|(issuer, _)| issuer.clone());
            if let Some(issuer) = oldest {
                cache.remove(&issuer);
            }
        }
    }
}

#[async_trait]
impl<S: KeySource> KeySource for CachingKeySource<S> {
    async fn keys(&self, issuer: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        match self.cached(issuer, self.ttl) {
            Some(keys) => Ok(keys),
            None => self.load(issuer).await,
        }
    }

    async fn refresh(&self, issuer: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        match self.cached(issuer, self.min_refresh) {
            Some(keys) => Ok(keys),
            None => self.load(issuer).await,
        }
    }

    async fn keys_for_any_issuer(&self) -> Result<Option<Arc<Jwks>>, KeyError> {
        self.inner.keys_for_any_issuer().await
    }
}
