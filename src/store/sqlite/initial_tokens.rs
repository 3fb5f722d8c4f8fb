//! [`SqliteStore`]'s [`InitialTokenStore`]: crate-issued initial access tokens as the JSON of
//! their record, with the columns uses are counted by.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use time::OffsetDateTime;

use super::{backend, unique_violation, SqliteStore};
use crate::initial_tokens::{InitialTokenStore, IssuedToken};
use crate::secret::SecretHash;
use crate::store::StoreError;

/// A token from its row (`record, uses`): the count of uses is the column's.
fn token_from(record: &str, uses: i64) -> Result<IssuedToken, StoreError> {
    let mut token: IssuedToken = serde_json::from_str(record).map_err(backend)?;
    token.uses = u32::try_from(uses).map_err(backend)?;
    Ok(token)
}

#[async_trait]
impl InitialTokenStore for SqliteStore {
    async fn insert_token(&self, token: &IssuedToken) -> Result<(), StoreError> {
        let id = token.id.clone();
        let hash = token.hash.as_bytes().to_vec();
        let record = serde_json::to_string(token).map_err(backend)?;
        let expires_at = token.grant.expires_at.map(OffsetDateTime::unix_timestamp);
        let max_uses = token.max_uses;
        let uses = token.uses;
        self.write(move |connection| {
            let inserted = connection
                .prepare_cached(
                    "INSERT INTO dcr_initial_tokens (id, hash, record, expires_at, max_uses, uses) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut statement| {
                    statement.execute(params![id, hash, record, expires_at, max_uses, uses])
                });
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if unique_violation(&e) => Err(StoreError::Conflict),
                Err(e) => Err(backend(e)),
            }
        })
        .await
    }

    async fn find_token(&self, hash: &SecretHash) -> Result<Option<IssuedToken>, StoreError> {
        let hash = hash.as_bytes().to_vec();
        self.read(move |connection| {
            let row: Option<(String, i64)> = connection
                .prepare_cached("SELECT record, uses FROM dcr_initial_tokens WHERE hash = ?1")
                .and_then(|mut statement| {
                    statement
                        .query_row([hash], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(backend)?;
            row.map(|(record, uses)| token_from(&record, uses))
                .transpose()
        })
        .await
    }

    async fn take_use(&self, hash: &SecretHash, now: OffsetDateTime) -> Result<bool, StoreError> {
        let hash = hash.as_bytes().to_vec();
        // Expiries are whole seconds (as the record's JSON keeps them): a token is usable while
        // its expiry is after the current second.
        let now = now.unix_timestamp();
        self.write(move |connection| {
            let taken = connection
                .prepare_cached(
                    "UPDATE dcr_initial_tokens SET uses = uses + 1 WHERE hash = ?1 \
                     AND (expires_at IS NULL OR expires_at > ?2) \
                     AND (max_uses IS NULL OR uses < max_uses)",
                )
                .and_then(|mut statement| statement.execute(params![hash, now]))
                .map_err(backend)?;
            Ok(taken == 1)
        })
        .await
    }

    async fn give_back_use(&self, hash: &SecretHash) -> Result<(), StoreError> {
        let hash = hash.as_bytes().to_vec();
        self.write(move |connection| {
            connection
                .prepare_cached(
                    "UPDATE dcr_initial_tokens SET uses = max(uses - 1, 0) WHERE hash = ?1",
                )
                .and_then(|mut statement| statement.execute([hash]))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<IssuedToken>, StoreError> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached("SELECT record, uses FROM dcr_initial_tokens ORDER BY id")
                .map_err(backend)?;
            let rows = statement
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(backend)?;
            rows.map(|row| {
                let (record, uses) = row.map_err(backend)?;
                token_from(&record, uses)
            })
            .collect()
        })
        .await
    }

    async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |connection| {
            let n = connection
                .prepare_cached("DELETE FROM dcr_initial_tokens WHERE id = ?1")
                .and_then(|mut statement| statement.execute([id]))
                .map_err(backend)?;
            Ok(n == 1)
        })
        .await
    }
}
