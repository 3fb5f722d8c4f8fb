//! [`DocumentKeys`]: the keys of document clients, for their `private_key_jwt` assertions.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::fetch::FetchLimits;
use crate::registrar::Registrar;
use crate::statements::{Jwks, KeyError, KeySource};

use super::is_url_client_id;

/// A [`KeySource`] backed by resolved Client ID Metadata Documents: the keys of a URL client,
/// to verify the `private_key_jwt` assertion it presents at your token endpoint (RFC 7523 §3:
/// `iss` and `sub` are the client id; look the keys up by it). The client is resolved with
/// [`Registrar::resolve_client_id`] (cached, validated); its keys are the document's `jwks`, or
/// the JWK Set at its `jwks_uri` fetched through the registrar's fetcher (the same SSRF rules).
///
/// `None` for an identifier that is not a URL, a client that does not resolve, and one without
/// keys (a public client). `jwks_uri` is fetched on every call: wrap the source in a
/// [`CachingKeySource`](crate::statements::CachingKeySource), which also refetches when an assertion names
/// a `kid` the cached set lacks.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use oauth_dcr::MemoryStore;
/// use oauth_dcr::documents::DocumentKeys;
/// use oauth_dcr::profiles::Profile;
/// use oauth_dcr::statements::CachingKeySource;
///
/// let registrar = Arc::new(Profile::Mcp.registrar("https://as.example/register", Arc::new(MemoryStore::new())));
/// // with .with_metadata_documents(fetcher) in a real server
/// let keys = CachingKeySource::new(DocumentKeys::new(registrar), Duration::from_secs(300));
/// ```
pub struct DocumentKeys {
    registrar: Arc<Registrar>,
    limits: FetchLimits,
}

impl fmt::Debug for DocumentKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentKeys").finish_non_exhaustive()
    }
}

impl DocumentKeys {
    /// The keys of the document clients `registrar` resolves.
    pub fn new(registrar: Arc<Registrar>) -> Self {
        Self {
            registrar,
            limits: FetchLimits::default(),
        }
    }
}

#[async_trait]
impl KeySource for DocumentKeys {
    async fn keys(&self, client_id: &str) -> Result<Option<Arc<Jwks>>, KeyError> {
        if !is_url_client_id(client_id) {
            return Ok(None);
        }
        // A client that does not resolve is unknown, not a server failure.
        let Ok(client) = self.registrar.resolve_client_id(client_id).await else {
            return Ok(None);
        };
        if let Some(jwks) = &client.metadata.jwks {
            let bytes = serde_json::to_vec(jwks).map_err(|e| KeyError::new(e.to_string()))?;
            return Jwks::from_json(&bytes).map(|k| Some(Arc::new(k)));
        }
        let (Some(uri), Some(documents)) = (&client.metadata.jwks_uri, &self.registrar.documents)
        else {
            return Ok(None);
        };
        let fetched = documents
            .fetcher
            .fetch(uri, self.limits)
            .await
            .map_err(|e| KeyError::new(format!("{client_id}: jwks_uri {uri}: {e}")))?;
        Jwks::from_json(&fetched.body).map(|k| Some(Arc::new(k)))
    }
}
