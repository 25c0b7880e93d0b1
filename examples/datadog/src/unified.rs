//! Datadog's unified service tagging: one `service`, `env` and `version`,
//! read once from `DD_SERVICE`, `DD_ENV` and `DD_VERSION`, on every span,
//! metric and log line, so the three join in Datadog.

use opentelemetry::KeyValue;

// ANCHOR: tags
/// The three tags, as the service runs.
#[derive(Debug, Clone, PartialEq)]
pub struct UnifiedTags {
    pub service: String,
    pub env: Option<String>,
    pub version: Option<String>,
}

impl UnifiedTags {
    /// From `DD_SERVICE` (else `default_service`), `DD_ENV`, `DD_VERSION`.
    pub fn from_env(default_service: &str) -> Self {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            service: var("DD_SERVICE").unwrap_or_else(|| default_service.to_owned()),
            env: var("DD_ENV"),
            version: var("DD_VERSION"),
        }
    }

    /// As OpenTelemetry resource attributes: the Agent's OTLP intake maps
    /// these three back to `service`, `env` and `version`.
    pub fn resource(&self) -> Vec<KeyValue> {
        let mut attributes =
            vec![KeyValue::new("service.name", self.service.clone())];
        if let Some(env) = &self.env {
            attributes
                .push(KeyValue::new("deployment.environment.name", env.clone()));
        }
        if let Some(version) = &self.version {
            attributes.push(KeyValue::new("service.version", version.clone()));
        }
        attributes
    }

    /// As DogStatsD tags, `key:value`.
    pub fn statsd_tags(&self) -> Vec<(&'static str, String)> {
        let mut tags = vec![("service", self.service.clone())];
        if let Some(env) = &self.env {
            tags.push(("env", env.clone()));
        }
        if let Some(version) = &self.version {
            tags.push(("version", version.clone()));
        }
        tags
    }
}
// ANCHOR_END: tags
