//! The [`ClientListing`] capability: clients page by page for admin views, each with the label
//! of how it came to be.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::{ClientRecord, Origin, StoreError};

/// Capability: listing clients page by page, filtered by how they came to be, for admin views
/// ([`Registrar::list_clients`](crate::Registrar::list_clients)). Declared with
/// [`ClientStore::as_client_listing`](super::ClientStore::as_client_listing).
///
/// What a store must guarantee:
/// - **Order**: clients in ascending `(created_at, client_id)` order (the
///   [`ListedClient::created_at`] the store reports, then the identifier), the keyset a
///   [`ListCursor`] names: a page holds the clients strictly after
///   [`ListQuery::after`], so paging visits every client that exists throughout exactly once,
///   whatever is created or deleted meanwhile. In SQL: `WHERE (created_at, client_id) > (?, ?)
///   ORDER BY created_at, client_id LIMIT ?`, over an index on those two columns.
/// - **Bounded**: at most [`ListQuery::page_size`] items per page.
/// - **Filters**: each filter set in the [`ListQuery`] must hold for every item (exact matches);
///   [`ListQuery::matches`] is the rule for one record.
/// - **Next**: [`ListPage::next`] is the cursor of the page's last item when more clients may
///   follow, `None` at the end (fetch one more than the page size to know:
///   [`ListPage::from_sorted`] does the rest).
#[async_trait]
pub trait ClientListing: Send + Sync {
    /// One page of the clients that match `query`.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    async fn list(&self, query: &ListQuery) -> Result<ListPage, StoreError>;
}

/// Which clients to list, and from where: see [`ClientListing`].
///
/// It deserializes from a query string (`?origin=dynamic&statement_issuer=…&after=…&limit=50`),
/// so an HTTP admin endpoint can take it as it comes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListQuery {
    /// Only clients of this origin: registered dynamically, or created by administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// Only clients whose software statement was issued by this issuer
    /// ([`ClientRecord::statement_issuer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_issuer: Option<String>,
    /// Only clients registered with an initial access token of this subject
    /// ([`ClientRecord::initial_token_subject`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_token_subject: Option<String>,
    /// Start after this client: the [`ListPage::next`] of the previous page. `None` for the
    /// first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<ListCursor>,
    /// How many items a page may hold; `None` (or 0) for [`DEFAULT_PAGE`](Self::DEFAULT_PAGE).
    /// Stores cap it at [`MAX_PAGE`](Self::MAX_PAGE): see [`page_size`](Self::page_size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl ListQuery {
    /// The page size when the query sets none: 100.
    pub const DEFAULT_PAGE: usize = 100;
    /// The largest page a store returns: 1,000.
    pub const MAX_PAGE: usize = 1000;

    /// The first page of every client, [`DEFAULT_PAGE`](Self::DEFAULT_PAGE) at a time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only clients of this origin.
    #[must_use]
    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Only clients whose software statement this issuer issued.
    #[must_use]
    pub fn statement_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.statement_issuer = Some(issuer.into());
        self
    }

    /// Only clients registered with an initial access token of this subject.
    #[must_use]
    pub fn initial_token_subject(mut self, subject: impl Into<String>) -> Self {
        self.initial_token_subject = Some(subject.into());
        self
    }

    /// The page after this cursor.
    #[must_use]
    pub fn after(mut self, cursor: ListCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// At most this many items a page (capped at [`MAX_PAGE`](Self::MAX_PAGE)).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// How many items a page holds at most: the [`limit`](Self::limit), or
    /// [`DEFAULT_PAGE`](Self::DEFAULT_PAGE) when it is unset or 0, never more than
    /// [`MAX_PAGE`](Self::MAX_PAGE).
    pub fn page_size(&self) -> usize {
        match self.limit {
            None | Some(0) => Self::DEFAULT_PAGE,
            Some(n) => n.min(Self::MAX_PAGE),
        }
    }

    /// Whether `record` passes the filters (the cursor aside).
    pub fn matches(&self, record: &ClientRecord) -> bool {
        self.origin.is_none_or(|o| o == record.origin)
            && self
                .statement_issuer
                .as_ref()
                .is_none_or(|i| record.statement_issuer.as_ref() == Some(i))
            && self
                .initial_token_subject
                .as_ref()
                .is_none_or(|s| record.initial_token_subject.as_ref() == Some(s))
    }

    /// Whether a client at `(created_at, client_id)` comes after the cursor (always, without
    /// one).
    pub fn is_after_cursor(&self, created_at: OffsetDateTime, client_id: &str) -> bool {
        self.after.as_ref().is_none_or(|cursor| {
            (created_at, client_id) > (cursor.created_at, cursor.client_id.as_str())
        })
    }
}

/// Where a page ends: the `(created_at, client_id)` of its last item. Its text form
/// ([`Display`](fmt::Display), [`FromStr`], serde) is an opaque URL-safe string, for a query
/// string's `after=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ListCursor {
    /// When the last listed client was created, as the store listed it.
    pub created_at: OffsetDateTime,
    /// The last listed client.
    pub client_id: String,
}

impl ListCursor {
    /// The cursor after `item`.
    pub fn after(item: &ListedClient) -> Self {
        Self::new(item.created_at, item.client_id.clone())
    }

    /// The cursor at `(created_at, client_id)`.
    pub fn new(created_at: OffsetDateTime, client_id: impl Into<String>) -> Self {
        Self {
            created_at,
            client_id: client_id.into(),
        }
    }
}

impl fmt::Display for ListCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = format!(
            "{}:{}",
            self.created_at.unix_timestamp_nanos(),
            self.client_id
        );
        f.write_str(&URL_SAFE_NO_PAD.encode(plain))
    }
}

/// A string that is not a [`ListCursor`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a list cursor")]
pub struct InvalidCursor;

impl FromStr for ListCursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, InvalidCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidCursor)?;
        let plain = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
        let (nanos, client_id) = plain.split_once(':').ok_or(InvalidCursor)?;
        let nanos: i128 = nanos.parse().map_err(|_| InvalidCursor)?;
        let created_at =
            OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| InvalidCursor)?;
        Ok(Self::new(created_at, client_id))
    }
}

impl Serialize for ListCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListCursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One client as an admin view lists it: who it is and how it came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListedClient {
    /// The client identifier.
    pub client_id: String,
    /// Its `client_name` (the default language's), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Its `software_id`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Registered dynamically, or created by administrators.
    pub origin: Origin,
    /// The issuer of the software statement it registered (or last updated) with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_issuer: Option<String>,
    /// The subject of the initial access token it registered with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_token_subject: Option<String>,
    /// When the client identifier was issued.
    #[serde(with = "time::serde::timestamp")]
    pub created_at: OffsetDateTime,
    /// When the host last reported it used, if ever.
    #[serde(default, with = "time::serde::timestamp::option")]
    pub last_used: Option<OffsetDateTime>,
}

impl ListedClient {
    /// The listing of `record`.
    pub fn of(record: &ClientRecord) -> Self {
        Self {
            client_id: record.client_id.clone(),
            client_name: record.metadata.client_name.clone(),
            software_id: record.metadata.software_id.clone(),
            origin: record.origin,
            statement_issuer: record.statement_issuer.clone(),
            initial_token_subject: record.initial_token_subject.clone(),
            created_at: record.created_at,
            last_used: record.last_used,
        }
    }

    /// A short label of how the client came to be, for an admin view: `dynamic` or
    /// `administrator`, then `statement:ISSUER` and `initial-token:SUBJECT` when they apply
    /// (`dynamic statement:https://directory.example initial-token:partner-onboarding`).
    pub fn provenance_label(&self) -> String {
        let mut label = match self.origin {
            Origin::Dynamic => "dynamic".to_owned(),
            Origin::Administrator => "administrator".to_owned(),
        };
        if let Some(issuer) = &self.statement_issuer {
            label.push_str(" statement:");
            label.push_str(issuer);
        }
        if let Some(subject) = &self.initial_token_subject {
            label.push_str(" initial-token:");
            label.push_str(subject);
        }
        label
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListPage {
    /// The clients, in `(created_at, client_id)` order.
    pub clients: Vec<ListedClient>,
    /// The cursor of the next page (its [`ListQuery::after`]), `None` when this page is the
    /// last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<ListCursor>,
}

impl ListPage {
    /// A page from up to `page_size + 1` clients in listing order (what a store fetched with a
    /// limit one larger than the page): the first `page_size`, and a cursor when there were
    /// more.
    pub fn from_sorted(mut clients: Vec<ListedClient>, page_size: usize) -> Self {
        let more = clients.len() > page_size;
        clients.truncate(page_size);
        let next = if more {
            clients.last().map(ListCursor::after)
        } else {
            None
        };
        Self { clients, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_through_its_text_whatever_the_identifier() {
        for id in ["abc", "a:b:c", "https://app.example/client?x=1", "日本", ""] {
            let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789)
                .expect("a time");
            let cursor = ListCursor::new(at, id);
            let text = cursor.to_string();
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{text}"
            );
            assert_eq!(text.parse::<ListCursor>(), Ok(cursor));
        }
        assert_eq!("not a cursor!".parse::<ListCursor>(), Err(InvalidCursor));
        assert_eq!(
            URL_SAFE_NO_PAD.encode("x:id").parse::<ListCursor>(),
            Err(InvalidCursor)
        );
    }

    #[test]
    fn the_page_size_is_bounded() {
        assert_eq!(ListQuery::new().page_size(), ListQuery::DEFAULT_PAGE);
        assert_eq!(
            ListQuery::new().limit(0).page_size(),
            ListQuery::DEFAULT_PAGE
        );
        assert_eq!(ListQuery::new().limit(7).page_size(), 7);
        assert_eq!(
            ListQuery::new().limit(usize::MAX).page_size(),
            ListQuery::MAX_PAGE
        );
    }

    #[test]
    fn a_query_reads_from_a_query_string_shape() {
        let cursor = ListCursor::new(OffsetDateTime::UNIX_EPOCH, "c1");
        let json = serde_json::json!({
            "origin": "administrator",
            "statement_issuer": "https://directory.example",
            "after": cursor.to_string(),
            "limit": 5,
        });
        let query: ListQuery = serde_json::from_value(json).expect("a query");
        assert_eq!(
            query,
            ListQuery::new()
                .origin(Origin::Administrator)
                .statement_issuer("https://directory.example")
                .after(cursor)
                .limit(5)
        );
    }
}
