//! A throwaway PostgreSQL schema per test, from `DATABASE_URL`.
//!
//! Without `DATABASE_URL` the PostgreSQL tests are skipped with a message, unless `CI=true`, where
//! a missing or unreachable database fails them.

use oauth_dcr::store::PostgresStore;

pub(crate) struct TestDb {
    url: String,
    pub(crate) schema: String,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

impl TestDb {
    /// A fresh schema with the tables migrated, or `None` (skip) when no database is configured.
    pub(crate) async fn new() -> Option<Self> {
        let Ok(url) = std::env::var("DATABASE_URL") else {
            assert!(
                !in_ci(),
                "CI=true but DATABASE_URL is not set: the PostgreSQL tests must run"
            );
            eprintln!("skipping PostgreSQL test: set DATABASE_URL=postgres://… to run it");
            return None;
        };
        let schema = format!("dcr_test_{}", uuid::Uuid::new_v4().simple());
        let db = Self { url, schema };
        let store = db.store(2).await;
        if let Err(e) = store.migrate().await {
            assert!(
                !in_ci(),
                "CI=true but the database at DATABASE_URL is unreachable: {e:?}"
            );
            eprintln!("skipping PostgreSQL test: the database is unreachable ({e:?})");
            return None;
        }
        Some(db)
    }

    /// A fresh schema where no migration ran yet, or `None` (skip) as with [`new`](Self::new).
    #[allow(dead_code)]
    pub(crate) async fn unmigrated() -> Option<Self> {
        let db = Self::new().await?;
        db.execute(&format!(
            "DROP SCHEMA {0} CASCADE; CREATE SCHEMA {0}",
            db.schema
        ))
        .await;
        Some(db)
    }

    /// Runs `sql` (several statements allowed) on its own connection.
    #[allow(dead_code)]
    pub(crate) async fn execute(&self, sql: &str) {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client.batch_execute(sql).await.expect("the SQL runs");
    }

    /// An independent store (its own pool) over this schema: one per simulated replica.
    pub(crate) async fn store(&self, connections: usize) -> PostgresStore {
        PostgresStore::connect(&self.url, connections)
            .await
            .expect("DATABASE_URL parses")
            .with_schema(&self.schema)
            .expect("schema name")
    }

    /// Drops the schema.
    pub(crate) async fn drop(self) {
        self.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
            .await;
    }
}
