//! The cache-aside read path on Redis: look in the cache; on a miss, fill
//! it from the source, one fill per key however many requests missed at
//! once; invalidate on write. Every Redis command is a CLIENT span with the
//! database conventions' names (and no values); the lookup says whether it
//! hit; a counter counts lookups by result. When Redis is down, requests go
//! to the source, and the cache spans say why.

use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use opentelemetry_semantic_conventions::attribute::{
    DB_NAMESPACE, DB_OPERATION_NAME, DB_SYSTEM_NAME, ERROR_TYPE, SERVER_ADDRESS,
    SERVER_PORT,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

use crate::catalog::Product;

/// What a fill returns to every request that waits for it: the product, if
/// the source has it, or why the source failed (a `String`: shared results
/// must be `Clone`).
pub type Filled = Result<Option<Product>, String>;

type Fill = Shared<BoxFuture<'static, Filled>>;

// ANCHOR: settings
/// How long entries live.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// An entry's time to live, before jitter.
    pub ttl: Duration,
    /// Each entry lives `ttl` plus or minus up to this fraction of it, so
    /// that entries filled together do not expire together.
    pub jitter: f64,
    /// How long a Redis command may take before the cache is skipped.
    pub timeout: Duration,
}
// ANCHOR_END: settings

/// The product cache.
pub struct ProductCache {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    settings: Settings,
    /// Fills in flight, by key: the single flight.
    inflight: Mutex<HashMap<String, Fill>>,
    lookups: Counter<u64>,
    server: (String, i64),
    /// `db.namespace`: the database index.
    database: String,
}

/// Why a command did not run: no connection, or Redis said no.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CacheError(#[from] redis::RedisError);

impl ProductCache {
    /// A cache on the Redis of `client` (`redis::Client::open(url)`, which
    /// checks the URL); connects on first use, so the service starts (and
    /// serves from the source) while Redis is down.
    pub fn new(client: redis::Client, settings: Settings, meter: &Meter) -> Self {
        let info = client.get_connection_info();
        let database = info.redis_settings().db().to_string();
        let server = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => {
                (host.clone(), i64::from(*port))
            }
            other => (other.to_string(), 0),
        };
        Self {
            client,
            connection: OnceCell::new(),
            settings,
            inflight: Mutex::new(HashMap::new()),
            lookups: meter
                .u64_counter("cache.lookups")
                .with_unit("{lookup}")
                .with_description("Cache lookups, by result: hit, miss or error.")
                .build(),
            server,
            database,
        }
    }

    fn key(id: &str) -> String {
        format!("product:{id}")
    }

    // ANCHOR: get
    /// The product `id`: from the cache, or from `source` (then cached).
    /// Concurrent misses for one key share one call of `source`.
    pub async fn get(
        self: &Arc<Self>,
        id: &str,
        source: impl FnOnce() -> BoxFuture<'static, Filled>,
    ) -> Filled {
        let key = Self::key(id);
        let cached = self.lookup(&key).await;
        if let Ok(Some(product)) = cached {
            return Ok(Some(product));
        }
        // Redis down or slow: go to the source, and do not try to fill.
        let fill_cache = cached.is_ok();
        let (fill, leader) = {
            let mut inflight =
                self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match inflight.get(&key) {
                Some(fill) => (fill.clone(), false),
                None => {
                    let fill = self.fill(key.clone(), source(), fill_cache);
                    inflight.insert(key.clone(), fill.clone());
                    (fill, true)
                }
            }
        };
        if !leader {
            tracing::info!("waiting for a fill in flight");
        }
        let filled = fill.clone().await;
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if inflight.get(&key).is_some_and(|f| f.ptr_eq(&fill)) {
            inflight.remove(&key);
        }
        filled
    }
    // ANCHOR_END: get

    /// `GET product:ID`, in a span that says whether it hit.
    async fn lookup(&self, key: &str) -> Result<Option<Product>, CacheError> {
        let span = self.span("GET");
        let found: Result<Option<String>, CacheError> = async {
            let mut connection = self.connection().await?;
            Ok(redis::cmd("GET")
                .arg(key)
                .query_async(&mut connection)
                .await?)
        }
        .instrument(span.clone())
        .await;
        let (result, outcome) = match found {
            Ok(Some(json)) => match serde_json::from_str::<Product>(&json) {
                Ok(product) => (Ok(Some(product)), "hit"),
                // An entry of an older format: a miss, refilled below.
                Err(_) => (Ok(None), "miss"),
            },
            Ok(None) => (Ok(None), "miss"),
            Err(error) => {
                failed(&span, &error);
                (Err(error), "error")
            }
        };
        span.record("cache.hit", outcome == "hit");
        self.lookups
            .add(1, &[KeyValue::new("cache.result", outcome)]);
        result
    }

    // ANCHOR: fill
    /// The one fill of `key`: the source, then `SET key value EX ttl`.
    fn fill(
        self: &Arc<Self>,
        key: String,
        source: BoxFuture<'static, Filled>,
        fill_cache: bool,
    ) -> Fill {
        let span = tracing::info_span!("cache fill", otel.name = "cache fill");
        let cache = Arc::clone(self);
        async move {
            let product = source.await?;
            if let (Some(product), true) = (&product, fill_cache) {
                let json = serde_json::to_string(product).unwrap_or_default();
                let ttl = cache.ttl_for(&key);
                let set = cache.span("SET");
                let stored: Result<(), CacheError> = async {
                    let mut connection = cache.connection().await?;
                    Ok(redis::cmd("SET")
                        .arg(&key)
                        .arg(json)
                        .arg("EX")
                        .arg(ttl.as_secs().max(1))
                        .query_async(&mut connection)
                        .await?)
                }
                .instrument(set.clone())
                .await;
                // A fill that could not be stored is served all the same.
                if let Err(error) = stored {
                    failed(&set, &error);
                }
            }
            Ok(product)
        }
        .instrument(span)
        .boxed()
        .shared()
    }
    // ANCHOR_END: fill

    // ANCHOR: invalidate
    /// `DEL product:ID` after a write to the source, so the next read
    /// fills the new value. If Redis is down the entry may be stale until
    /// its TTL ends: the warning says so.
    pub async fn invalidate(&self, id: &str) {
        let span = self.span("DEL");
        let deleted: Result<i64, CacheError> = async {
            let mut connection = self.connection().await?;
            Ok(redis::cmd("DEL")
                .arg(Self::key(id))
                .query_async(&mut connection)
                .await?)
        }
        .instrument(span.clone())
        .await;
        if let Err(error) = deleted {
            failed(&span, &error);
            span.in_scope(|| {
                tracing::warn!(
                    "{id} not invalidated; stale until its TTL ends: {error}"
                )
            });
        }
    }
    // ANCHOR_END: invalidate

    /// `ttl`, plus or minus up to `jitter` of it, drawn per key and fill.
    fn ttl_for(&self, key: &str) -> Duration {
        // RandomState is seeded at random: a hash of the key is a random
        // draw without a random-number crate.
        let draw = std::collections::hash_map::RandomState::new().hash_one(key);
        let unit = (draw % 10_001) as f64 / 10_000.0; // 0.0 ..= 1.0
        let factor = 1.0 + self.settings.jitter * (2.0 * unit - 1.0);
        self.settings.ttl.mul_f64(factor.max(0.0))
    }

    /// A CLIENT span for one Redis command, named after it.
    fn span(&self, command: &'static str) -> Span {
        tracing::info_span!(
            "redis",
            otel.name = command,
            otel.kind = "client",
            otel.status_code = Empty,
            otel.status_description = Empty,
            { DB_SYSTEM_NAME } = "redis",
            { DB_OPERATION_NAME } = command,
            { DB_NAMESPACE } = self.database.as_str(),
            { SERVER_ADDRESS } = self.server.0.as_str(),
            { SERVER_PORT } = self.server.1,
            { ERROR_TYPE } = Empty,
            cache.hit = Empty,
        )
    }

    /// The connection, made on first use; each use after a failed attempt
    /// tries again, within the timeout.
    async fn connection(&self) -> Result<ConnectionManager, CacheError> {
        let timeout = Some(self.settings.timeout);
        let connection = self
            .connection
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout)
                    .set_number_of_retries(1);
                self.client.get_connection_manager_with_config(config)
            })
            .await?;
        Ok(connection.clone())
    }
}

/// Marks a cache span failed: the request goes on without the cache.
fn failed(span: &Span, error: &CacheError) {
    let kind = if error.0.is_timeout() {
        "timeout"
    } else if error.0.is_connection_refusal() || error.0.is_connection_dropped() {
        "connection"
    } else {
        "redis"
    };
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", error.to_string());
    span.record(ERROR_TYPE, kind);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_spread_within_the_jitter_and_differ() {
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::default();
        let meter = opentelemetry::metrics::MeterProvider::meter(&provider, "test");
        let settings = Settings {
            ttl: Duration::from_secs(100),
            jitter: 0.1,
            timeout: Duration::from_millis(100),
        };
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let cache = ProductCache::new(client, settings, &meter);
        let ttls: Vec<Duration> =
            (0..50).map(|_| cache.ttl_for("product:p-1")).collect();
        for ttl in &ttls {
            assert!((90..=110).contains(&ttl.as_secs()), "{ttl:?}");
        }
        assert!(ttls.iter().any(|t| *t != ttls[0]), "no spread: {ttls:?}");
    }
}
