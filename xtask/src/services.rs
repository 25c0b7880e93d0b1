//! The throwaway third-party programs scenarios need, each in a file of its
//! own that starts it on free ports, says where it listens and stops it:
//! PostgreSQL, Redis, a Kafka broker, Envoy, Prometheus, rotel, Datadog's
//! test agent, the browser, a desktop app's display and WebDriver, and the
//! docker stack's backends. A scenario asks
//! for them with `needs`.
//!
//! A new one is a new file here that says what to install when it is
//! missing and which placeholders it fills, a variant of [`Need`] pointing
//! at them, and its start in the scenario runner.

pub mod browser;
pub mod ddagent;
pub mod desktop;
pub mod display;
pub mod docker;
pub mod envoy;
pub mod kafka;
pub mod postgres;
pub mod prometheus;
pub mod redis;
pub mod rotel;

use anyhow::{Context as _, Result};
use serde::Deserialize;

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
    /// A fresh PostgreSQL database per run.
    Postgres,
    /// A throwaway Prometheus scraping the processes; `[[expect.promql]]`.
    Prometheus,
    /// A Redis of its own per run.
    Redis,
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
            Need::Postgres => postgres::missing(),
            Need::Prometheus => prometheus::missing(),
            Need::Redis => redis::missing(),
        }
    }

    /// The `{placeholders}` it fills in the processes' `env`.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Need::Browser | Need::Desktop | Need::Envoy | Need::Prometheus => &[],
            Need::DatadogAgent => ddagent::PLACEHOLDERS,
            Need::Kafka => kafka::PLACEHOLDERS,
            Need::Postgres => postgres::PLACEHOLDERS,
            Need::Redis => redis::PLACEHOLDERS,
        }
    }
}

/// Services that live as long as `verify`: started on first need.
#[derive(Default)]
pub struct Shared {
    postgres: Option<Option<postgres::Postgres>>,
    kafka: Option<kafka::Kafka>,
    redis: Option<redis::Redis>,
}

impl Shared {
    /// PostgreSQL, started the first time it is asked for; `None` when it
    /// is not installed and `DATABASE_URL` is not set.
    pub fn postgres(&mut self) -> Result<Option<&postgres::Postgres>> {
        if self.postgres.is_none() {
            self.postgres = Some(postgres::Postgres::provide()?);
        }
        Ok(self.postgres.as_ref().and_then(Option::as_ref))
    }

    /// A fresh database for a scenario that needs PostgreSQL; `None` for
    /// one that does not.
    pub fn database_for(
        &mut self,
        scenario_needs_it: bool,
    ) -> Result<Option<String>> {
        if !scenario_needs_it {
            return Ok(None);
        }
        let postgres = self.postgres()?.context("PostgreSQL is not available")?;
        Ok(Some(postgres.fresh_database()?))
    }

    /// A Kafka broker, started the first time it is asked for.
    pub async fn kafka(&mut self) -> Result<&kafka::Kafka> {
        let kafka = match self.kafka.take() {
            Some(kafka) => kafka,
            None => kafka::Kafka::provide().await?,
        };
        Ok(self.kafka.insert(kafka))
    }

    /// A Redis, started the first time it is asked for.
    pub async fn redis(&mut self) -> Result<&redis::Redis> {
        let redis = match self.redis.take() {
            Some(redis) => redis,
            None => redis::Redis::provide().await?,
        };
        Ok(self.redis.insert(redis))
    }
}
