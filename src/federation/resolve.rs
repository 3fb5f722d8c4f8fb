//! Resolving a trust chain by fetching (OpenID Federation 1.0 §10.1), for a client that sends
//! only its Entity Configuration: up its `authority_hints`, each superior's Entity Configuration
//! from `/.well-known/openid-federation`, and its statement about the entity below from its
//! `federation_fetch_endpoint`, until a configured trust anchor.
//!
//! Nothing fetched is trusted here: the chain found is verified afterwards by
//! [`verify_chain`](super::chain::verify_chain) as a chain the client sent would be. The search
//! is bounded: at most [`ChainRules::max_statements`] statements deep, at most `max_fetches` fetches in all
//! (each within the fetcher's own size and time limits), and an entity already on the path is
//! not visited again.

use serde_json::{Map, Value};

use super::chain::{ChainError, ChainRules, TrustAnchor, ENTITY_STATEMENT_TYP};
use crate::fetch::{FetchLimits, Fetcher};
use crate::policy::RequestLimits;
use crate::statements::{decode_typed, JwtRules};

/// Bounds of one resolution.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolveLimits {
    /// Most fetches in all. Defaults to 12 (a path of five superiors costs ten).
    pub max_fetches: usize,
    /// Each fetch's size and time. Defaults to 64 KiB and 5 seconds.
    pub fetch: FetchLimits,
}

impl Default for ResolveLimits {
    fn default() -> Self {
        Self {
            max_fetches: 12,
            fetch: FetchLimits::default(),
        }
    }
}

fn invalid(message: impl Into<String>) -> ChainError {
    ChainError::InvalidChain(message.into())
}

/// The claims of a statement, unverified (they only say where to look next), decoded under
/// the same header rules and size bound as the chain will be verified with.
fn claims(statement: &str, rules: &ChainRules) -> Result<Map<String, Value>, ChainError> {
    let rules = JwtRules {
        algorithms: rules.algorithms.clone(),
        max_length: rules.max_statement_bytes,
        ..JwtRules::default()
    };
    decode_typed(
        statement,
        &rules,
        &RequestLimits::default(),
        Some(ENTITY_STATEMENT_TYP),
    )
    .map(|decoded| decoded.claims)
    .map_err(|_| invalid("a fetched statement is not an entity statement"))
}

fn strings(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    claims
        .get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

struct Search<'a> {
    anchors: &'a [TrustAnchor],
    fetcher: &'a dyn Fetcher,
    limits: &'a ResolveLimits,
    rules: &'a ChainRules,
    fetches: usize,
    /// Why the last path tried failed, for the error when none succeeds.
    last: Option<String>,
}

impl Search<'_> {
    async fn fetch(&mut self, url: &str) -> Result<String, ChainError> {
        if self.fetches >= self.limits.max_fetches {
            return Err(invalid(format!(
                "resolving the trust chain would take more than {} fetches",
                self.limits.max_fetches
            )));
        }
        self.fetches += 1;
        let fetched = self
            .fetcher
            .fetch(url, self.limits.fetch)
            .await
            .map_err(|e| invalid(format!("`{url}` could not be fetched: {e}")))?;
        if let Some(media) = &fetched.content_type {
            if media != "application/entity-statement+jwt" {
                return Err(invalid(format!("`{url}` answered `{media}`")));
            }
        }
        String::from_utf8(fetched.body)
            .map(|s| s.trim().to_owned())
            .map_err(|_| invalid(format!("`{url}` answered a body that is not UTF-8")))
    }

    /// The statements above `subject` up to a trust anchor, through the first of `hints` that
    /// leads to one, each superior's statement about the entity below first. `path` holds the
    /// entities already on the way up.
    async fn up(
        &mut self,
        subject: &str,
        hints: Vec<String>,
        path: &mut Vec<String>,
    ) -> Result<Option<Vec<String>>, ChainError> {
        for hint in hints {
            if path.contains(&hint) {
                self.last = Some(format!("`{hint}` appears twice: a loop"));
                continue;
            }
            // `path` holds the subject and the superiors so far: this superior's statement would
            // make the chain `path.len() + 1` statements long.
            if path.len() >= self.rules.max_statements {
                self.last = Some(format!(
                    "no trust anchor within {} statements",
                    self.rules.max_statements
                ));
                continue;
            }
            match self.through(subject, &hint, path).await {
                Ok(Some(statements)) => return Ok(Some(statements)),
                Ok(None) => {}
                // Out of fetches: the whole search stops.
                Err(e) if self.fetches >= self.limits.max_fetches => return Err(e),
                Err(ChainError::InvalidChain(why) | ChainError::InvalidMetadata(why)) => {
                    self.last = Some(why);
                }
            }
        }
        Ok(None)
    }

    /// The statements above `subject` through its superior `hint`.
    async fn through(
        &mut self,
        subject: &str,
        hint: &str,
        path: &mut Vec<String>,
    ) -> Result<Option<Vec<String>>, ChainError> {
        let url = format!(
            "{}/.well-known/openid-federation",
            hint.trim_end_matches('/')
        );
        let configuration = claims(&self.fetch(&url).await?, self.rules)?;
        let own = |name: &str| configuration.get(name).and_then(Value::as_str);
        if own("iss") != Some(hint) || own("sub") != Some(hint) {
            return Err(invalid(format!(
                "`{url}` is not the Entity Configuration of `{hint}`"
            )));
        }
        let endpoint = configuration
            .get("metadata")
            .and_then(|m| m.get("federation_entity"))
            .and_then(|f| f.get("federation_fetch_endpoint"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("`{hint}` names no federation_fetch_endpoint")))?;
        let fetch_url = url::Url::parse_with_params(endpoint, &[("sub", subject)])
            .map_err(|_| invalid(format!("`{hint}`'s federation_fetch_endpoint is not a URL")))?;
        let statement = self.fetch(fetch_url.as_str()).await?;
        if self.anchors.iter().any(|a| a.entity_id() == hint) {
            return Ok(Some(vec![statement]));
        }
        path.push(hint.to_owned());
        let above =
            Box::pin(self.up(hint, strings(&configuration, "authority_hints"), path)).await?;
        path.pop();
        Ok(above.map(|above| std::iter::once(statement).chain(above).collect()))
    }
}

/// Resolves the trust chain of the entity whose Entity Configuration is `configuration`, up
/// its `authority_hints` to one of `anchors`, through `fetcher`: the configuration first, then
/// each superior's statement about the entity below, the anchor's last, no longer than
/// `rules` allow. The chain is not verified here.
///
/// # Errors
/// [`ChainError::InvalidChain`] when no path leads to a configured anchor within the bounds
/// (naming why the last path tried failed), or the bounds are exceeded.
pub async fn resolve_chain(
    configuration: &str,
    anchors: &[TrustAnchor],
    rules: &ChainRules,
    fetcher: &dyn Fetcher,
    limits: &ResolveLimits,
) -> Result<Vec<String>, ChainError> {
    let own = claims(configuration, rules)?;
    let subject = own
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("the Entity Configuration has no `sub`"))?
        .to_owned();
    let mut search = Search {
        anchors,
        fetcher,
        limits,
        rules,
        fetches: 0,
        last: None,
    };
    let mut path = vec![subject.clone()];
    match search
        .up(&subject, strings(&own, "authority_hints"), &mut path)
        .await?
    {
        Some(above) => Ok(std::iter::once(configuration.to_owned())
            .chain(above)
            .collect()),
        None => Err(invalid(format!(
            "no trust chain to a configured trust anchor could be resolved{}",
            search
                .last
                .map(|why| format!(" ({why})"))
                .unwrap_or_default()
        ))),
    }
}
