//! Event sourcing and CQRS for a bank account: commands decide on the
//! account's events and append new ones (the write side); a projection turns
//! the events into a read model that queries answer from (the read side).
//! Each command is a trace; each event the projection applies is a span of
//! its own, linked to the command that caused it.
//!
//! Routes: `POST /accounts` opens one, `POST /accounts/{id}/deposits` and
//! `/withdrawals` change it (commands); `GET /accounts/{id}` reads it (query).

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use opentelemetry::global;
use opentelemetry::metrics::Meter;
use opentelemetry::trace::TraceContextExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row as _;
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub use crate::store::{EventStore, NewEvent, RecordedEvent, StoreError};

pub mod http;
pub mod store;

/// Attribute names of this example (no semantic conventions exist for them).
pub mod attribute {
    pub const STREAM_ID: &str = "event_sourcing.stream_id";
    pub const VERSION: &str = "event_sourcing.version";
    pub const POSITION: &str = "event_sourcing.position";
    pub const EVENT_TYPE: &str = "event_sourcing.event_type";
}

/// An account, folded from its events.
#[derive(Debug, Default, PartialEq)]
pub struct Account {
    pub opened: bool,
    pub balance: i64,
    pub version: i64,
}

impl Account {
    pub fn from_events(events: &[RecordedEvent]) -> Self {
        let mut account = Account::default();
        for event in events {
            account.apply(&event.event_type, &event.data);
            account.version = event.version;
        }
        account
    }

    fn apply(&mut self, event_type: &str, data: &Value) {
        let amount = data["amount"].as_i64().unwrap_or(0);
        match event_type {
            "AccountOpened" => self.opened = true,
            "MoneyDeposited" => self.balance += amount,
            "MoneyWithdrawn" => self.balance -= amount,
            _ => {}
        }
    }
}

/// A command, and the reasons it may be refused.
#[derive(Debug)]
pub enum Command {
    Open { owner: String },
    Deposit { amount: i64 },
    Withdraw { amount: i64 },
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Open { .. } => "OpenAccount",
            Command::Deposit { .. } => "Deposit",
            Command::Withdraw { .. } => "Withdraw",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("account {0} already exists")]
    AlreadyOpen(String),
    #[error("no account {0}")]
    NotFound(String),
    #[error("amount must be positive")]
    NotPositive,
    #[error("insufficient funds: balance {balance}, asked {amount}")]
    InsufficientFunds { balance: i64, amount: i64 },
    #[error("account {0} changed concurrently; try again")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

// ANCHOR: decide
/// The domain's whole logic: what events a command produces for an account
/// in this state, or why it is refused.
pub fn decide(
    id: &str,
    account: &Account,
    command: &Command,
) -> Result<Vec<NewEvent>, CommandError> {
    match command {
        Command::Open { .. } if account.opened => {
            Err(CommandError::AlreadyOpen(id.to_owned()))
        }
        Command::Open { owner } => Ok(vec![NewEvent {
            event_type: "AccountOpened",
            data: json!({ "owner": owner }),
        }]),
        _ if !account.opened => Err(CommandError::NotFound(id.to_owned())),
        Command::Deposit { amount } | Command::Withdraw { amount }
            if *amount <= 0 =>
        {
            Err(CommandError::NotPositive)
        }
        Command::Deposit { amount } => Ok(vec![NewEvent {
            event_type: "MoneyDeposited",
            data: json!({ "amount": amount }),
        }]),
        Command::Withdraw { amount } if *amount > account.balance => {
            Err(CommandError::InsufficientFunds {
                balance: account.balance,
                amount: *amount,
            })
        }
        Command::Withdraw { amount } => Ok(vec![NewEvent {
            event_type: "MoneyWithdrawn",
            data: json!({ "amount": amount }),
        }]),
    }
}
// ANCHOR_END: decide

// ANCHOR: handle
/// Handles a command: load the stream, decide, append at the version that
/// was loaded. A conflict (another writer appended in between) reloads and
/// decides again, up to `attempts` times, because the decision may change:
/// two withdrawals can each fit the balance alone but not together.
pub async fn handle(
    store: &EventStore,
    id: &str,
    command: Command,
    attempts: u32,
) -> Result<i64, CommandError> {
    let span = tracing::info_span!(
        "command",
        otel.name = format!("handle {}", command.name()),
        otel.status_code = Empty,
        otel.status_description = Empty,
        { attribute::STREAM_ID } = id,
        { attribute::VERSION } = Empty,
        attempts = Empty,
    );
    let result = async {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let events = store.load(id).await.map_err(CommandError::Store)?;
            let account = Account::from_events(&events);
            let new_events = decide(id, &account, &command)?;
            match store.append(id, account.version, &new_events).await {
                Ok(version) => return Ok((version, attempt)),
                Err(StoreError::Conflict { .. }) if attempt < attempts => {
                    tracing::info!(attempt, "version conflict, retrying");
                }
                Err(StoreError::Conflict { .. }) => {
                    return Err(CommandError::Conflict(id.to_owned()));
                }
                Err(error) => return Err(CommandError::Store(error)),
            }
        }
    }
    .instrument(span.clone())
    .await;
    match &result {
        Ok((version, attempt)) => {
            span.record(attribute::VERSION, *version);
            span.record("attempts", i64::from(*attempt));
        }
        Err(error) => {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", error.to_string());
        }
    }
    result.map(|(version, _)| version)
}
// ANCHOR_END: handle

/// The read model, kept up to date by [`Projection`].
pub async fn account_view(
    store: &EventStore,
    id: &str,
) -> Result<Option<Value>, sqlx::Error> {
    const QUERY: &str =
        "SELECT owner, balance, version FROM accounts WHERE account_id = $1";
    let span = store.db_span("SELECT", "accounts", QUERY);
    let row = sqlx::query(QUERY)
        .bind(id)
        .fetch_optional(store.pool())
        .instrument(span.clone())
        .await
        .inspect_err(|e| store::record_error(&span, e))?;
    Ok(row.map(|row| {
        json!({
            "id": id,
            "owner": row.get::<String, _>("owner"),
            "balance": row.get::<i64, _>("balance"),
            "version": row.get::<i64, _>("version"),
        })
    }))
}

// ANCHOR: projection
/// Builds the `accounts` read model from the events, in global order, and
/// records how far it got in `checkpoints` in the same transaction: after a
/// crash it resumes where it stopped, and never applies an event twice.
pub struct Projection {
    store: EventStore,
}

pub const PROJECTION: &str = "accounts";

impl Projection {
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }

    /// Applies every event not yet applied; returns how many it applied.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        let mut applied = 0;
        loop {
            let checkpoint = self.checkpoint().await?;
            let events = self.store.read_all(checkpoint, 100).await?;
            if events.is_empty() {
                return Ok(applied);
            }
            let mut tx = self.store.pool().begin().await?;
            for event in &events {
                apply(&mut tx, event)
                    .instrument(project_span(event))
                    .await?;
            }
            let last = events.last().map_or(checkpoint, |e| e.position);
            sqlx::query(
                "INSERT INTO checkpoints (projection, position) VALUES ($1, $2) \
                 ON CONFLICT (projection) DO UPDATE SET position = $2",
            )
            .bind(PROJECTION)
            .bind(last)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            applied += events.len();
        }
    }

    /// Polls for new events until the task is dropped.
    pub async fn run(self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            if let Err(error) = self.catch_up().await {
                tracing::error!(error = %error, "projection failed; retrying");
            }
        }
    }

    /// Forgets the read model and builds it again from every event.
    pub async fn rebuild(&self) -> Result<usize, StoreError> {
        let mut tx = self.store.pool().begin().await?;
        sqlx::query("DELETE FROM accounts")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM checkpoints WHERE projection = $1")
            .bind(PROJECTION)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.catch_up().await
    }

    async fn checkpoint(&self) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT position FROM checkpoints WHERE projection = $1")
                .bind(PROJECTION)
                .fetch_optional(self.store.pool())
                .await?;
        Ok(row.map_or(0, |row| row.get("position")))
    }
}

/// A span per applied event: a root of its own (the projection runs later,
/// in another task, for many commands), with a *link* to the span of the
/// command that appended the event, read from the event's metadata.
fn project_span(event: &RecordedEvent) -> tracing::Span {
    let span = tracing::info_span!(
        "project",
        otel.name = format!("project {}", event.event_type),
        { attribute::STREAM_ID } = event.stream_id.as_str(),
        { attribute::VERSION } = event.version,
        { attribute::POSITION } = event.position,
        { attribute::EVENT_TYPE } = event.event_type.as_str(),
    );
    let carrier: HashMap<String, String> =
        serde_json::from_value(event.metadata.clone()).unwrap_or_default();
    let cause = global::get_text_map_propagator(|p| p.extract(&carrier));
    let cause = cause.span().span_context().clone();
    if cause.is_valid() {
        span.add_link(cause);
    }
    span
}
// ANCHOR_END: projection

async fn apply(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    event: &RecordedEvent,
) -> Result<(), StoreError> {
    let amount = event.data["amount"].as_i64().unwrap_or(0);
    let query = match event.event_type.as_str() {
        "AccountOpened" => sqlx::query(
            "INSERT INTO accounts (account_id, owner, balance, version) \
             VALUES ($1, $2, 0, $3)",
        )
        .bind(&event.stream_id)
        .bind(event.data["owner"].as_str().unwrap_or("")),
        "MoneyDeposited" => sqlx::query(
            "UPDATE accounts SET balance = balance + $2, version = $3 \
             WHERE account_id = $1",
        )
        .bind(&event.stream_id)
        .bind(amount),
        "MoneyWithdrawn" => sqlx::query(
            "UPDATE accounts SET balance = balance - $2, version = $3 \
             WHERE account_id = $1",
        )
        .bind(&event.stream_id)
        .bind(amount),
        other => {
            tracing::warn!(event_type = other, "unknown event type, skipped");
            return Ok(());
        }
    };
    query.bind(event.version).execute(&mut **tx).await?;
    Ok(())
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    store: EventStore,
}

impl AppState {
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }
}

/// The service: commands and queries on separate routes, each request a
/// server span and a duration data point.
pub fn app(state: AppState, meter: &Meter) -> Router {
    let routes = Router::new()
        .route("/accounts", post(open))
        .route("/accounts/{id}", get(read))
        .route("/accounts/{id}/deposits", post(deposit))
        .route("/accounts/{id}/withdrawals", post(withdraw))
        .with_state(state);
    http::instrument(routes, meter)
}

#[derive(Deserialize)]
struct OpenRequest {
    id: String,
    owner: String,
}

#[derive(Deserialize)]
struct AmountRequest {
    amount: i64,
}

/// How many times a command is retried on a version conflict.
const ATTEMPTS: u32 = 5;

async fn open(
    State(state): State<AppState>,
    Json(body): Json<OpenRequest>,
) -> Response {
    let command = Command::Open { owner: body.owner };
    respond(
        handle(&state.store, &body.id, command, ATTEMPTS).await,
        StatusCode::CREATED,
    )
}

async fn deposit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<AmountRequest>,
) -> Response {
    let command = Command::Deposit {
        amount: body.amount,
    };
    respond(
        handle(&state.store, &id, command, ATTEMPTS).await,
        StatusCode::OK,
    )
}

async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<AmountRequest>,
) -> Response {
    let command = Command::Withdraw {
        amount: body.amount,
    };
    respond(
        handle(&state.store, &id, command, ATTEMPTS).await,
        StatusCode::OK,
    )
}

fn respond(result: Result<i64, CommandError>, success: StatusCode) -> Response {
    let status = match &result {
        Ok(version) => {
            return (success, Json(json!({ "version": version }))).into_response();
        }
        Err(CommandError::NotFound(_)) => StatusCode::NOT_FOUND,
        Err(CommandError::AlreadyOpen(_) | CommandError::Conflict(_)) => {
            StatusCode::CONFLICT
        }
        Err(CommandError::NotPositive | CommandError::InsufficientFunds { .. }) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(CommandError::Store(_)) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    (status, Json(json!({ "error": message }))).into_response()
}

/// The query side: the read model, which may lag the last command by one
/// projection pass. The response says which version it reflects.
async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match account_view(&state.store, &id).await {
        Ok(Some(view)) => Json(view).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no account {id} (yet)") })),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(error = %error, "reading the read model failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "the read model is unavailable" })),
            )
                .into_response()
        }
    }
}
