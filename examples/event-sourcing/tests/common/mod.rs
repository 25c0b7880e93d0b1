//! What the event-sourcing tests share: a fresh database per test.

// Each test binary uses part of this module.
#![allow(dead_code, reason = "each test binary uses part of this module")]

use std::sync::atomic::{AtomicUsize, Ordering};

use example_event_sourcing::EventStore;

static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// A store on a new, empty database.
pub async fn fresh_store() -> EventStore {
    EventStore::connect(&fresh_database_url().await)
        .await
        .unwrap()
}

/// The URL of a new, empty database.
pub async fn fresh_database_url() -> String {
    let admin = std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: these tests need a PostgreSQL server where they \
         may create databases. `cargo xtask verify --only test` starts one.",
    );
    let name = format!(
        "es_test_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::SeqCst)
    );
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}
