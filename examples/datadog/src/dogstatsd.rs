//! Business metrics to the Agent's DogStatsD port, with the unified tags on
//! every datagram.

use std::net::UdpSocket;

use cadence::{QueuingMetricSink, StatsdClient, UdpMetricSink};

use crate::unified::UnifiedTags;

/// Where DogStatsD is, or why it cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum DogStatsdError {
    #[error(
        "DD_DOGSTATSD_URL={0:?} is not udp://HOST:PORT \
         (this service sends DogStatsD over UDP only)"
    )]
    BadUrl(String),
    #[error("DD_DOGSTATSD_PORT={0:?} is not a port number")]
    BadPort(String),
    #[error("cannot open a UDP socket for DogStatsD: {0}")]
    Socket(#[from] std::io::Error),
    #[error("DogStatsD at {addr}: {source}")]
    Sink {
        addr: String,
        source: cadence::MetricError,
    },
}

// ANCHOR: address
/// `DD_DOGSTATSD_URL` (`udp://HOST:PORT`), else `DD_AGENT_HOST` and
/// `DD_DOGSTATSD_PORT`, else `127.0.0.1:8125`: the Datadog libraries' order.
pub fn address() -> Result<String, DogStatsdError> {
    if let Ok(url) = std::env::var("DD_DOGSTATSD_URL") {
        return match url.strip_prefix("udp://") {
            Some(addr) if addr.contains(':') => Ok(addr.to_owned()),
            _ => Err(DogStatsdError::BadUrl(url)),
        };
    }
    let host = std::env::var("DD_AGENT_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = match std::env::var("DD_DOGSTATSD_PORT") {
        Ok(p) => p.parse::<u16>().map_err(|_| DogStatsdError::BadPort(p))?,
        Err(_) => 8125,
    };
    // An IPv6 address takes brackets before the port.
    if host.contains(':') && !host.starts_with('[') {
        return Ok(format!("[{host}]:{port}"));
    }
    Ok(format!("{host}:{port}"))
}
// ANCHOR_END: address

/// Metrics waiting to be sent, at most.
const QUEUE_CAPACITY: usize = 10_000;

// ANCHOR: client
/// A client that queues each metric for one sending thread, which writes it
/// as a datagram: recording a metric never waits on the network. The queue
/// is bounded; a metric that does not fit, or a datagram that cannot be
/// sent, is dropped and logged at `debug`.
pub fn client(tags: &UnifiedTags) -> Result<StatsdClient, DogStatsdError> {
    let addr = address()?;
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.set_nonblocking(true)?;
    let sink = UdpMetricSink::from(addr.as_str(), socket)
        .map_err(|source| DogStatsdError::Sink { addr, source })?;
    let queue = QueuingMetricSink::builder()
        .with_capacity(QUEUE_CAPACITY)
        .with_error_handler(
            |e| tracing::debug!(error = %e, "DogStatsD datagram lost"),
        )
        .build(sink);
    let mut builder = StatsdClient::builder("", queue).with_error_handler(
        |e| tracing::debug!(error = %e, "DogStatsD metric dropped"),
    );
    for (key, value) in tags.statsd_tags() {
        builder = builder.with_tag(key, value);
    }
    Ok(builder.build())
}
// ANCHOR_END: client
