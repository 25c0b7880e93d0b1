//! OTLP straight to a vendor: New Relic, Elastic or Google Cloud. The
//! exporters are the book's usual ones, configured by the standard `OTEL_*`
//! variables; `OTLP_VENDOR` names the vendor, and [`preflight`] checks,
//! before the first export, that the variables say what that vendor needs.
//! A missing key is an error at start-up, not a silent 401 every minute.

use axum::Router;
use axum::routing::get;
use opentelemetry::metrics::Meter;

pub mod http;
pub mod server;
pub mod telemetry;

// ANCHOR: vendor
/// A vendor's OTLP endpoint and what it requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// `api-key: <license key>`; gzip and delta metrics recommended.
    NewRelic,
    /// `Authorization: Bearer <secret token>` or `ApiKey <key>`.
    Elastic,
    /// `Authorization: Bearer <OAuth token>` and `x-goog-user-project`.
    GoogleCloud,
}

impl Vendor {
    pub fn from_name(name: &str) -> Option<Vendor> {
        match name {
            "newrelic" => Some(Vendor::NewRelic),
            "elastic" => Some(Vendor::Elastic),
            "gcp" => Some(Vendor::GoogleCloud),
            _ => None,
        }
    }

    /// The headers the vendor's endpoint refuses to work without, with
    /// what a valid value starts with ("" for anything).
    fn required_headers(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Vendor::NewRelic => &[("api-key", &[""])],
            Vendor::Elastic => &[("authorization", &["Bearer ", "ApiKey "])],
            Vendor::GoogleCloud => &[
                ("authorization", &["Bearer "]),
                ("x-goog-user-project", &[""]),
            ],
        }
    }

    /// Settings the vendor recommends: (variable, value).
    fn recommended(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Vendor::NewRelic => &[
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
            ],
            Vendor::Elastic => &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")],
            Vendor::GoogleCloud => &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")],
        }
    }
}
// ANCHOR_END: vendor

/// Why the configuration cannot work with the vendor.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PreflightError {
    #[error("OTLP_VENDOR={0:?} is not newrelic, elastic or gcp")]
    UnknownVendor(String),
    #[error(
        "{vendor:?} needs the header {header:?} in OTEL_EXPORTER_OTLP_HEADERS \
         (or the per-signal variable), e.g. {example}"
    )]
    MissingHeader {
        vendor: Vendor,
        header: &'static str,
        example: &'static str,
    },
    #[error("the header {header:?} must start with one of {expected:?}")]
    MalformedHeader {
        header: &'static str,
        expected: &'static [&'static str],
    },
    #[error("OTEL_EXPORTER_OTLP_HEADERS: {0}")]
    Unparsable(String),
}

// ANCHOR: preflight
/// Checks the `OTEL_*` variables (read through `var`) against the vendor's
/// requirements. Returns the vendor, if one is named, and advice for the
/// settings it recommends but that are not set.
pub fn preflight(
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Option<Vendor>, Vec<String>), PreflightError> {
    let Some(name) = var("OTLP_VENDOR").filter(|v| !v.is_empty()) else {
        return Ok((None, Vec::new()));
    };
    let Some(vendor) = Vendor::from_name(&name) else {
        return Err(PreflightError::UnknownVendor(name));
    };
    // The traces variable wins over the general one, as in the exporter.
    let headers = var("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        .or_else(|| var("OTEL_EXPORTER_OTLP_HEADERS"))
        .unwrap_or_default();
    let headers = parse_headers(&headers)?;
    for (header, prefixes) in vendor.required_headers() {
        let Some(value) = headers.iter().find(|(k, _)| k == header).map(|(_, v)| v)
        else {
            return Err(PreflightError::MissingHeader {
                vendor,
                header,
                example: example(vendor, header),
            });
        };
        if value.trim().is_empty() || !prefixes.iter().any(|p| value.starts_with(p))
        {
            return Err(PreflightError::MalformedHeader {
                header,
                expected: prefixes,
            });
        }
    }
    let advice = vendor
        .recommended()
        .iter()
        .filter(|(variable, value)| var(variable).as_deref() != Some(*value))
        .map(|(variable, value)| format!("{vendor:?} recommends {variable}={value}"))
        .collect();
    Ok((Some(vendor), advice))
}
// ANCHOR_END: preflight

fn example(vendor: Vendor, header: &str) -> &'static str {
    match (vendor, header) {
        (Vendor::NewRelic, _) => {
            "OTEL_EXPORTER_OTLP_HEADERS=api-key=$NEW_RELIC_LICENSE_KEY"
        }
        (Vendor::Elastic, _) => {
            "OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer $ELASTIC_APM_SECRET_TOKEN\""
        }
        (Vendor::GoogleCloud, "authorization") => {
            "OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer $(gcloud auth print-access-token)\""
        }
        (Vendor::GoogleCloud, _) => "x-goog-user-project=$GOOGLE_CLOUD_PROJECT",
    }
}

/// `k1=v1,k2=v2` as the specification writes `OTEL_EXPORTER_OTLP_HEADERS`:
/// keys lowercase, values percent-decoded.
pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>, PreflightError> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                PreflightError::Unparsable(format!("{pair:?} is not key=value"))
            })?;
            let value = percent_decode(value.trim()).ok_or_else(|| {
                PreflightError::Unparsable(format!("{value:?}: bad %-escape"))
            })?;
            Ok((key.trim().to_ascii_lowercase(), value))
        })
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(b) = rest.next() {
        if b == b'%' {
            let hex = [rest.next()?, rest.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

/// A one-route service, so there is something to export.
pub fn app(meter: &Meter) -> Router {
    let router = Router::new().route(
        "/hello",
        get(|| async {
            tracing::info!("greeting sent");
            "hello"
        }),
    );
    http::instrument(router, meter)
}
