//! Fetchers that answer from memory and record what they were asked for.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use oauth_dcr::fetch::{FetchError, FetchLimits, Fetched, Fetcher};
use serde_json::Value;

/// A fetcher that serves one document for every URL and records every URL it is asked for.
#[derive(Default)]
pub struct Recording {
    pub body: Vec<u8>,
    pub urls: Mutex<Vec<String>>,
}

impl Recording {
    /// A fetcher serving `body`.
    pub fn serving(body: Vec<u8>) -> Self {
        Self {
            body,
            ..Self::default()
        }
    }
}

#[async_trait]
impl Fetcher for Recording {
    async fn fetch(&self, url: &str, _limits: FetchLimits) -> Result<Fetched, FetchError> {
        self.urls.lock().unwrap().push(url.to_owned());
        Ok(Fetched::new(self.body.clone()))
    }
}

/// A directory's key store from memory: a JWK Set per URL (404 for any other), and every URL
/// fetched.
#[derive(Default)]
pub struct KeyStore {
    sets: Mutex<HashMap<String, Value>>,
    fetched: Mutex<Vec<String>>,
}

impl KeyStore {
    /// Serves `set` at `url`.
    pub fn publish(&self, url: &str, set: Value) {
        self.sets.lock().unwrap().insert(url.to_owned(), set);
    }

    /// Every URL fetched, in order.
    pub fn fetched(&self) -> Vec<String> {
        self.fetched.lock().unwrap().clone()
    }

    /// How often `url` was fetched.
    pub fn fetches(&self, url: &str) -> usize {
        self.fetched
            .lock()
            .unwrap()
            .iter()
            .filter(|u| *u == url)
            .count()
    }
}

#[async_trait]
impl Fetcher for KeyStore {
    async fn fetch(&self, url: &str, _limits: FetchLimits) -> Result<Fetched, FetchError> {
        self.fetched.lock().unwrap().push(url.to_owned());
        match self.sets.lock().unwrap().get(url) {
            Some(set) => Ok(Fetched::new(set.to_string().into_bytes())),
            None => Err(FetchError::Status(404)),
        }
    }
}
