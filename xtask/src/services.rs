//! The throwaway third-party programs scenarios need, each in a file of its
//! own that starts it on free ports, says where it listens and stops it:
//! PostgreSQL, Redis, a Kafka broker, Envoy, Prometheus, rotel, Datadog's
//! test agent, the browser, a desktop app's display and WebDriver, the
//! docker stack's backends, the collector's own TLS listeners, and AWS
//! Lambda's runtime API. A scenario asks
//! for them with `needs`.
//!
//! A need is started through one door, [`Need::start`], which hands back
//! what the service provides (the placeholders it fills) and the service
//! itself as a [`Service`]: the run's session keeps every service in one
//! list and stops each when its [`Stops`] says, relative to the example's
//! processes. A new one is a new file here that says what to install when
//! it is missing and which placeholders it fills, and a variant of
//! [`Need`] pointing at them and at its start.

pub mod browser;
pub mod ddagent;
pub mod desktop;
pub mod display;
pub mod docker;
pub mod envoy;
pub mod kafka;
pub mod lambda;
pub mod postgres;
pub mod prometheus;
pub mod redis;
pub mod rotel;
pub mod tls;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use anyhow::{Context as _, Result};
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::otlp::collector::Collector;

/// What a scenario may need from the machine (`needs = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// Headless Chromium and chromedriver; `[[browser]]` steps.
    Browser,
    /// Datadog's test agent and a DogStatsD port.
    DatadogAgent,
    /// A virtual display and WebKitWebDriver, for the `[[process]]` that
    /// is a desktop app (`desktop = true`); `[[browser]]` steps drive it.
    Desktop,
    /// Envoy, for the `[[process]]` entries that are one (`envoy = ...`).
    Envoy,
    /// A Kafka-protocol broker of its own per run.
    Kafka,
    /// AWS Lambda's runtime API, emulated, for the `[[process]]` that is a
    /// function (`lambda = true`).
    Lambda,
    /// A fresh PostgreSQL database per run.
    Postgres,
    /// A throwaway Prometheus scraping the processes; `[[expect.promql]]`.
    Prometheus,
    /// A Redis of its own per run.
    Redis,
    /// The collector's TLS and mutual-TLS listeners, with a CA made for
    /// the run.
    Tls,
}

impl Need {
    /// What to install when this machine cannot provide it.
    pub fn missing(self) -> Option<String> {
        match self {
            Need::Browser => browser::missing(),
            Need::DatadogAgent => ddagent::missing(),
            Need::Desktop => desktop::missing(),
            Need::Envoy => envoy::missing(),
            Need::Kafka => kafka::missing(),
            Need::Lambda => lambda::missing(),
            Need::Postgres => postgres::missing(),
            Need::Prometheus => prometheus::missing(),
            Need::Redis => redis::missing(),
            Need::Tls => None,
        }
    }

    /// Starts what this need provides before the example's processes
    /// start, and says what it fills in; `None` for the needs that start
    /// at another moment of the run: an Envoy with its `[[process]]`,
    /// Prometheus once the processes it scrapes listen
    /// ([`prometheus::Prometheus::start`]), the browser or the desktop app
    /// when the `[[browser]]` steps begin ([`browser::Browser::start`],
    /// [`desktop::start_app`]).
    pub async fn start(self, around: &Around<'_>) -> Result<Option<Started>> {
        let started = match self {
            Need::Browser | Need::Desktop | Need::Envoy | Need::Prometheus => {
                return Ok(None);
            }
            Need::DatadogAgent => {
                let agent = ddagent::DdAgent::start().await?;
                Started::new(agent.placeholders(around.protocol), agent)
            }
            Need::Kafka => {
                // A broker of the run's own, so that no topic or consumer
                // group carries over from another run.
                let broker = kafka::Kafka::start().await?;
                Started::new(
                    kafka::PLACEHOLDERS
                        .iter()
                        .copied()
                        .zip([broker.brokers.clone()]),
                    broker,
                )
            }
            Need::Lambda => {
                let emulator = lambda::Emulator::start(around.dir).await?;
                Started::new(
                    lambda::PLACEHOLDERS
                        .iter()
                        .copied()
                        .zip([emulator.url.clone()]),
                    emulator,
                )
            }
            Need::Postgres => {
                let postgres = around
                    .shared
                    .postgres()
                    .await?
                    .with_context(|| postgres::PACKAGES.hint())?;
                let database = postgres::Database {
                    url: postgres.fresh_database()?,
                };
                Started::new(
                    postgres::PLACEHOLDERS
                        .iter()
                        .copied()
                        .zip([database.url.clone()]),
                    database,
                )
            }
            Need::Redis => {
                let server = redis::Redis::provide().await?;
                Started::new(
                    redis::PLACEHOLDERS
                        .iter()
                        .copied()
                        .zip([server.url.clone()]),
                    server,
                )
            }
            Need::Tls => {
                let tls = tls::Tls::start(around.collector).await?;
                Started::new(tls.placeholders(around.protocol), tls)
            }
        };
        Ok(Some(started))
    }

    /// The `{placeholders}` it fills in the processes' `env`.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Need::Browser | Need::Desktop | Need::Envoy | Need::Prometheus => &[],
            Need::DatadogAgent => ddagent::PLACEHOLDERS,
            Need::Kafka => kafka::PLACEHOLDERS,
            Need::Lambda => lambda::PLACEHOLDERS,
            Need::Postgres => postgres::PLACEHOLDERS,
            Need::Redis => redis::PLACEHOLDERS,
            Need::Tls => tls::PLACEHOLDERS,
        }
    }
}

/// What a need is started with: the run's OTLP protocol, the services
/// that outlive one run, the run's collector and the example's directory.
pub struct Around<'a> {
    /// `grpc`, `http/protobuf` or `http/json`.
    pub protocol: &'a str,
    pub shared: &'a Shared,
    pub collector: &'a Collector,
    /// The example's directory.
    pub dir: &'a std::path::Path,
}

/// A started need: the `{placeholder}` values it provides, and the service
/// to keep.
pub struct Started {
    pub values: Vec<(String, String)>,
    pub service: Box<dyn Service>,
}

impl Started {
    pub fn new(
        values: impl IntoIterator<Item = (&'static str, String)>,
        service: impl Service,
    ) -> Self {
        Started {
            values: values
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            service: Box::new(service),
        }
    }
}

/// When a run stops a service, relative to the example's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stops {
    /// Before them: it watches them (Prometheus scraping), and would
    /// report them gone.
    BeforeProcesses,
    /// After them: they talk to it until they exit (a consumer commits its
    /// offsets as it stops; rotel forwards what they flushed).
    AfterProcesses,
    /// After what it received has been read (Datadog's agent).
    AfterReading,
}

/// The future of a service's stop.
pub type Stopping = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A service a run started, as the run's session holds it.
pub trait Service: Any + Send {
    fn stops(&self) -> Stops;

    /// Stops it and waits until it has.
    fn stop(self: Box<Self>) -> Stopping;

    /// Telemetry it received itself, turned into the collector's: posted to
    /// or stored in `collector`; returns the StatsD datagrams it holds.
    /// Only Datadog's agent receives any.
    fn read_back<'a>(
        &'a self,
        _collector: &'a Collector,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<String>>> + Send + 'a>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Services that live as long as `verify` or `cargo xtask run`, started on
/// first use: the test step's broker and cache, and PostgreSQL, whose
/// runs each get a fresh database.
#[derive(Default)]
pub struct Shared {
    postgres: OnceCell<Option<postgres::Postgres>>,
    kafka: OnceCell<kafka::Kafka>,
    redis: OnceCell<redis::Redis>,
}

impl Shared {
    /// PostgreSQL, started the first time it is asked for; `None` when it
    /// is not installed and `DATABASE_URL` is not set.
    pub async fn postgres(&self) -> Result<Option<&postgres::Postgres>> {
        let postgres = self
            .postgres
            .get_or_try_init(|| async { postgres::Postgres::provide() })
            .await?;
        Ok(postgres.as_ref())
    }

    /// A Kafka broker, started the first time it is asked for.
    pub async fn kafka(&self) -> Result<&kafka::Kafka> {
        self.kafka.get_or_try_init(kafka::Kafka::provide).await
    }

    /// A Redis, started the first time it is asked for.
    pub async fn redis(&self) -> Result<&redis::Redis> {
        self.redis.get_or_try_init(redis::Redis::provide).await
    }
}
