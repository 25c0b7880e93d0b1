//! A consumer of the orders topic, in a consumer group, with `GET /stats` on
//! `PORT` (3131) for probes and scripts. Run with a Kafka broker at
//! `KAFKA_BROKERS`: `cargo run --bin consumer`, and a second group in
//! batches: `PORT=3132 OTEL_SERVICE_NAME=billing CONSUMER_GROUP=billing
//! PROCESS=batch cargo run --bin consumer`.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `KAFKA_BROKERS` | `127.0.0.1:9092` | the bootstrap brokers, `host:port,...` |
//! | `ORDERS_TOPIC` | `orders` | the topic; dead letters go to `<topic>.dlq` |
//! | `CONSUMER_GROUP` | `fulfilment` | the consumer group |
//! | `PROCESS` | `each` | `each`: a span per record; `batch`: a span per batch |
//! | `BATCH_MAX` | `100` | (batch) most records in one batch |
//! | `BATCH_WAIT_MS` | `500` | (batch) how long a batch waits to fill |

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use example_kafka::consumer::{Consumer, Settings, Shape, Stats, StatsSnapshot};
use example_kafka::producer::Producer;
use example_kafka::topics;
use tokio::sync::watch;

#[path = "../server.rs"]
mod server;
#[path = "../telemetry.rs"]
mod telemetry;

const SERVICE_NAME: &str = "fulfilment";
const DEFAULT_PORT: u16 = 3131;

#[tokio::main]
async fn main() -> ExitCode {
    server::exit_code(run().await)
}

async fn run() -> Result<(), Box<dyn Error>> {
    server::check_configuration(DEFAULT_PORT)?;
    let settings = settings()?;
    let telemetry = telemetry::init(SERVICE_NAME)?;
    let meter = opentelemetry::global::meter(SERVICE_NAME);
    let brokers = settings.brokers.clone();
    let topic = settings.topic.clone();
    topics::ensure(&brokers, &[(&topic, 2), (&topics::dead_letters(&topic), 1)])
        .await
        .map_err(|e| format!("KAFKA_BROKERS={brokers:?}: {e}"))?;
    let stats = Arc::new(Stats::default());
    let producer = Producer::new(&brokers, &meter)?;
    let consumer = Consumer::new(settings, producer, &meter, stats.clone())?;

    // One stop for both: SIGTERM, or the consumer failing.
    let (stop, stopped) = watch::channel(false);
    let on_signal = stop.clone();
    tokio::spawn(async move {
        server::shutdown_signal().await;
        let _ = on_signal.send(true);
    });
    let listener = server::listen(DEFAULT_PORT).await?;
    let router = Router::new()
        .route("/stats", get(current_stats))
        .with_state(stats);
    let serving = tokio::spawn(
        axum::serve(listener, example_kafka::http::instrument(router, &meter))
            .with_graceful_shutdown(until(stopped.clone()))
            .into_future(),
    );
    let consumed = consumer.run(until(stopped)).await;
    let _ = stop.send(true);
    let served = serving.await;
    if let Err(error) = telemetry.shutdown() {
        eprintln!("telemetry: {error}");
    }
    consumed?;
    served??;
    Ok(())
}

async fn current_stats(State(stats): State<Arc<Stats>>) -> Json<StatsSnapshot> {
    Json(stats.snapshot())
}

async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

fn settings() -> Result<Settings, String> {
    let shape = match env_or("PROCESS", "each").as_str() {
        "each" => Shape::Each,
        "batch" => Shape::Batch {
            max: number("BATCH_MAX", 100)?,
            wait: Duration::from_millis(number("BATCH_WAIT_MS", 500)?),
        },
        other => {
            return Err(format!(
                "PROCESS={other:?} is not valid: use each or batch"
            ));
        }
    };
    Ok(Settings {
        brokers: env_or("KAFKA_BROKERS", "127.0.0.1:9092"),
        topic: env_or("ORDERS_TOPIC", "orders"),
        group: env_or("CONSUMER_GROUP", "fulfilment"),
        shape,
    })
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn number<T: std::str::FromStr + PartialOrd + From<u8>>(
    name: &str,
    default: T,
) -> Result<T, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value
            .trim()
            .parse::<T>()
            .ok()
            .filter(|n| *n > T::from(0))
            .ok_or_else(|| format!("{name}={value:?} is not a positive number")),
    }
}
