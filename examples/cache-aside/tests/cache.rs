//! The cache against a real Redis (`REDIS_URL`; `cargo xtask verify --only
//! test` starts one) and the catalog on port 0: misses then hits, one fill
//! for many concurrent misses, invalidation on write, TTLs, and Redis down.

mod recorded;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use example_cache_aside::cache::{ProductCache, Settings};
use example_cache_aside::catalog::{Catalog, routes};
use example_cache_aside::http::TracedClient;
use example_cache_aside::shop::{self, Shop};
use opentelemetry::Value;
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::SpanData;
use recorded::{Recorded, attribute};

/// Each test its own Redis database (of the 16), so they run in parallel.
static DATABASES: AtomicUsize = AtomicUsize::new(1);

/// A database of its own, emptied (an earlier run may have left keys).
async fn redis_url() -> String {
    let base = std::env::var("REDIS_URL").expect(
        "REDIS_URL is not set: these tests need a Redis server. \
         `cargo xtask verify --only test` starts one.",
    );
    let db = DATABASES.fetch_add(1, Ordering::SeqCst);
    let url = format!("{}/{db}", base.trim_end_matches('/'));
    let mut connection = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let () = redis::cmd("FLUSHDB")
        .query_async(&mut connection)
        .await
        .unwrap();
    url
}

const SETTINGS: Settings = Settings {
    ttl: Duration::from_secs(60),
    jitter: 0.1,
    timeout: Duration::from_millis(200),
};

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// The catalog and a shop in front of it, on the Redis at `redis`.
async fn start(recorded: &Recorded, redis: &str) -> (String, Catalog) {
    let catalog = Catalog::new(Duration::from_millis(50));
    let catalog_url = serve(routes(catalog.clone())).await;
    let client = redis::Client::open(redis).unwrap();
    let meter = recorded.meter();
    let shop = Shop {
        cache: Arc::new(ProductCache::new(client, SETTINGS, &meter)),
        client: TracedClient::new(Duration::from_secs(2)),
        catalog_url,
    };
    (serve(shop::app(shop, &meter)).await, catalog)
}

fn redis_spans(recorded: &Recorded, command: &str) -> Vec<SpanData> {
    recorded
        .spans_named(command)
        .into_iter()
        .filter(|s| attribute(s, "db.system.name").is_some())
        .collect()
}

fn hit(span: &SpanData) -> Option<bool> {
    match attribute(span, "cache.hit") {
        Some(Value::Bool(hit)) => Some(hit),
        _ => None,
    }
}

async fn get(shop: &str, id: &str) -> reqwest::StatusCode {
    reqwest::get(format!("{shop}/products/{id}"))
        .await
        .unwrap()
        .status()
}

// ANCHOR: miss_then_hit
#[tokio::test]
async fn a_miss_fills_the_cache_and_the_next_read_hits() {
    let recorded = Recorded::start();
    let (shop, catalog) = start(&recorded, &redis_url().await).await;

    assert_eq!(get(&shop, "p-1").await, 200);
    assert_eq!(get(&shop, "p-1").await, 200);

    assert_eq!(catalog.lookups(), 1);
    let lookups = redis_spans(&recorded, "GET");
    let hits: Vec<Option<bool>> = lookups.iter().map(hit).collect();
    assert_eq!(hits, [Some(false), Some(true)]);
    for span in &lookups {
        assert_eq!(attribute(span, "db.operation.name"), Some("GET".into()));
        assert_eq!(span.status, Status::Unset);
    }
    assert_eq!(redis_spans(&recorded, "SET").len(), 1);
    let fill = recorded.span("cache fill");
    let set = &redis_spans(&recorded, "SET")[0];
    assert_eq!(set.parent_span_id, fill.span_context.span_id());
}
// ANCHOR_END: miss_then_hit

// ANCHOR: stampede
#[tokio::test]
async fn ten_concurrent_misses_make_one_fill() {
    let recorded = Recorded::start();
    let (shop, catalog) = start(&recorded, &redis_url().await).await;

    let requests = (0..10).map(|_| get(&shop, "p-2"));
    let statuses = futures::future::join_all(requests).await;

    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(catalog.lookups(), 1, "one source call for ten misses");
    assert_eq!(recorded.spans_named("cache fill").len(), 1);
    let waited = recorded
        .finished_spans()
        .iter()
        .flat_map(|s| s.events.iter())
        .filter(|e| e.name == "waiting for a fill in flight")
        .count();
    let misses = redis_spans(&recorded, "GET")
        .iter()
        .filter(|s| hit(s) == Some(false))
        .count();
    // Every request that missed and did not lead the fill waited for it.
    assert_eq!(waited, misses - 1);
}
// ANCHOR_END: stampede

// ANCHOR: invalidate
#[tokio::test]
async fn a_write_invalidates_and_the_next_read_sees_it() {
    let recorded = Recorded::start();
    let (shop, catalog) = start(&recorded, &redis_url().await).await;
    assert_eq!(get(&shop, "p-1").await, 200);

    let client = reqwest::Client::new();
    let updated = client
        .put(format!("{shop}/products/p-1"))
        .json(&serde_json::json!({ "name": "kettle", "price": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 204);
    let product: serde_json::Value = reqwest::get(format!("{shop}/products/p-1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(product["price"], 30, "the new price, not the cached one");
    assert_eq!(catalog.lookups(), 2);
    assert_eq!(redis_spans(&recorded, "DEL").len(), 1);
}
// ANCHOR_END: invalidate

#[tokio::test]
async fn entries_expire_within_the_jittered_ttl() {
    let recorded = Recorded::start();
    let url = redis_url().await;
    let (shop, _catalog) = start(&recorded, &url).await;
    assert_eq!(get(&shop, "p-1").await, 200);

    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg("product:p-1")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!((53..=66).contains(&ttl), "TTL {ttl} s, not 60 s ± 10 %");
}

// ANCHOR: redis_down
#[tokio::test]
async fn with_redis_down_requests_are_served_from_the_source() {
    let recorded = Recorded::start();
    // A port nothing listens on.
    let (shop, catalog) = start(&recorded, "redis://127.0.0.1:1").await;

    assert_eq!(get(&shop, "p-1").await, 200);
    assert_eq!(get(&shop, "p-1").await, 200);

    assert_eq!(
        catalog.lookups(),
        2,
        "no cache: every read reaches the source"
    );
    let lookups = redis_spans(&recorded, "GET");
    assert_eq!(lookups.len(), 2);
    for span in &lookups {
        assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
        assert_eq!(attribute(span, "error.type"), Some("connection".into()));
    }
    assert!(
        redis_spans(&recorded, "SET").is_empty(),
        "no fill is stored"
    );
}
// ANCHOR_END: redis_down
