//! An append-only event store on PostgreSQL. Each stream (one account) is a
//! sequence of versions 1, 2, 3...; an append names the version it expects
//! the stream to be at, and fails with a conflict if another writer got
//! there first. Every event also gets a global position, the order in which
//! projections read them.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_NAMESPACE, DB_OPERATION_NAME, DB_QUERY_TEXT,
    DB_RESPONSE_STATUS_CODE, DB_SYSTEM_NAME, ERROR_TYPE, SERVER_ADDRESS,
    SERVER_PORT,
};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Row as _, Transaction};
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

// ANCHOR: schema
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    global_position BIGSERIAL PRIMARY KEY,
    stream_id       TEXT   NOT NULL,
    version         BIGINT NOT NULL CHECK (version > 0),
    event_type      TEXT   NOT NULL,
    data            JSONB  NOT NULL,
    metadata        JSONB  NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    owner      TEXT   NOT NULL,
    balance    BIGINT NOT NULL,
    version    BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    projection TEXT PRIMARY KEY,
    position   BIGINT NOT NULL
);
";
// ANCHOR_END: schema

/// An event to append.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub event_type: &'static str,
    pub data: Value,
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedEvent {
    pub position: i64,
    pub stream_id: String,
    pub version: i64,
    pub event_type: String,
    pub data: Value,
    pub metadata: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended first: reload and decide again.
    #[error("stream {stream_id} is not at version {expected}")]
    Conflict { stream_id: String, expected: i64 },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The store, and what its spans say about the database.
#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
    database: String,
    host: String,
    port: u16,
}

impl EventStore {
    /// Connects and creates the tables if they do not exist.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let store = Self {
            database: options.get_database().unwrap_or("postgres").to_owned(),
            host: options.get_host().to_owned(),
            port: options.get_port(),
            pool: PgPoolOptions::new()
                .max_connections(10)
                .connect_with(options)
                .await?,
        };
        sqlx::raw_sql(SCHEMA).execute(&store.pool).await?;
        Ok(store)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    // ANCHOR: db_span
    /// A client span for one statement, named and described as the database
    /// semantic conventions ask: `OPERATION table`, the system, the database,
    /// the query text (with placeholders, never values) and the server.
    pub fn db_span(
        &self,
        operation: &'static str,
        table: &'static str,
        query: &str,
    ) -> Span {
        tracing::info_span!(
            "db",
            otel.name = format!("{operation} {table}"),
            otel.kind = "client",
            otel.status_code = Empty,
            otel.status_description = Empty,
            { DB_SYSTEM_NAME } = "postgresql",
            { DB_NAMESPACE } = self.database.as_str(),
            { DB_OPERATION_NAME } = operation,
            { DB_COLLECTION_NAME } = table,
            { DB_QUERY_TEXT } = query,
            { SERVER_ADDRESS } = self.host.as_str(),
            { SERVER_PORT } = i64::from(self.port),
            { DB_RESPONSE_STATUS_CODE } = Empty,
            { ERROR_TYPE } = Empty,
        )
    }
    // ANCHOR_END: db_span

    /// The events of one stream, in version order.
    pub async fn load(
        &self,
        stream_id: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        const QUERY: &str = "SELECT global_position, stream_id, version, event_type, data, \
             metadata FROM events WHERE stream_id = $1 ORDER BY version";
        let span = self.db_span("SELECT", "events", QUERY);
        let rows = sqlx::query(QUERY)
            .bind(stream_id)
            .fetch_all(&self.pool)
            .instrument(span.clone())
            .await
            .inspect_err(|e| record_error(&span, e))?;
        Ok(rows.iter().map(recorded).collect())
    }

    // ANCHOR: append
    /// Appends `events` to `stream_id` if it is at `expected` (0: the stream
    /// must not exist yet). Returns the new version. The events carry the
    /// current trace context in their metadata, so that whoever processes
    /// them later can link back to the command that caused them.
    pub async fn append(
        &self,
        stream_id: &str,
        expected: i64,
        events: &[NewEvent],
    ) -> Result<i64, StoreError> {
        const QUERY: &str = "INSERT INTO events \
             (stream_id, version, event_type, data, metadata) \
             SELECT $1, $2, $3, $4, $5 \
             WHERE (SELECT coalesce(max(version), 0) FROM events \
             WHERE stream_id = $1) = $6";
        let span = self.db_span("INSERT", "events", QUERY);
        let metadata = trace_context();
        let result = async {
            let mut tx = self.pool.begin().await?;
            // One writer at a time: global positions then become visible in
            // the order they were taken, so a projection reading "after
            // position N" never skips an event that commits late.
            sqlx::query("SELECT pg_advisory_xact_lock(7081)")
                .execute(&mut *tx)
                .await?;
            for (i, event) in events.iter().enumerate() {
                let version = expected + 1 + i as i64;
                let inserted = sqlx::query(QUERY)
                    .bind(stream_id)
                    .bind(version)
                    .bind(event.event_type)
                    .bind(&event.data)
                    .bind(&metadata)
                    .bind(version - 1)
                    .execute(&mut *tx)
                    .await?;
                if inserted.rows_affected() == 0 {
                    return Err(StoreError::Conflict {
                        stream_id: stream_id.to_owned(),
                        expected,
                    });
                }
            }
            commit(tx).await?;
            Ok(expected + events.len() as i64)
        }
        .instrument(span.clone())
        .await;
        match &result {
            Err(StoreError::Conflict { .. }) => {
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", "version conflict");
                span.record(ERROR_TYPE, "version_conflict");
            }
            Err(StoreError::Database(e)) => record_error(&span, e),
            Ok(_) => {}
        }
        result
    }
    // ANCHOR_END: append

    /// Up to `limit` events after global position `after`, in order.
    pub async fn read_all(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        const QUERY: &str = "SELECT global_position, stream_id, version, event_type, data, \
             metadata FROM events WHERE global_position > $1 ORDER BY global_position \
             LIMIT $2";
        let rows = sqlx::query(QUERY)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(recorded).collect())
    }
}

async fn commit(tx: Transaction<'_, sqlx::Postgres>) -> Result<(), StoreError> {
    tx.commit().await.map_err(StoreError::from)
}

fn recorded(row: &sqlx::postgres::PgRow) -> RecordedEvent {
    RecordedEvent {
        position: row.get("global_position"),
        stream_id: row.get("stream_id"),
        version: row.get("version"),
        event_type: row.get("event_type"),
        data: row.get("data"),
        metadata: row.get("metadata"),
    }
}

/// The current span's context as W3C headers, for the event metadata. The
/// trace context alone, not the global propagators: baggage a client sent
/// would be stored with every event, for good.
fn trace_context() -> Value {
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new()
        .inject_context(&Span::current().context(), &mut carrier);
    serde_json::to_value(carrier).unwrap_or(Value::Null)
}

/// Marks a database span failed, with the SQLSTATE when there is one.
pub fn record_error(span: &Span, error: &sqlx::Error) {
    span.record("otel.status_code", "ERROR");
    if let Some(code) = error.as_database_error().and_then(|e| e.code()) {
        span.record(DB_RESPONSE_STATUS_CODE, code.as_ref());
        span.record(ERROR_TYPE, code.as_ref());
    } else {
        span.record(ERROR_TYPE, "database");
    }
}
