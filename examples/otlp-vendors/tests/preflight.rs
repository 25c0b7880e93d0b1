//! `preflight`: each vendor's required headers, malformed values, advice,
//! and the binary refusing to start without a key.

use std::collections::HashMap;

use example_otlp_vendors::{PreflightError, Vendor, parse_headers, preflight};

fn run(
    vars: &[(&str, &str)],
) -> Result<(Option<Vendor>, Vec<String>), PreflightError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    preflight(|name| vars.get(name).cloned())
}

#[test]
fn no_vendor_no_checks() {
    assert_eq!(run(&[]), Ok((None, vec![])));
}

#[test]
fn new_relic_needs_an_api_key_and_advises_gzip_and_delta() {
    let error = run(&[("OTLP_VENDOR", "newrelic")]).unwrap_err();
    assert!(matches!(
        error,
        PreflightError::MissingHeader {
            header: "api-key",
            ..
        }
    ));
    assert!(
        error.to_string().contains("NEW_RELIC_LICENSE_KEY"),
        "{error}"
    );

    let (vendor, advice) = run(&[
        ("OTLP_VENDOR", "newrelic"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc"),
    ])
    .unwrap();
    assert_eq!(vendor, Some(Vendor::NewRelic));
    assert_eq!(advice.len(), 2, "{advice:?}");

    let (_, advice) = run(&[
        ("OTLP_VENDOR", "newrelic"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
    ])
    .unwrap();
    assert!(advice.is_empty(), "{advice:?}");
}

#[test]
fn elastic_needs_a_bearer_token_or_an_api_key() {
    for ok in ["Authorization=Bearer%20t", "authorization=ApiKey%20k"] {
        let vars = [
            ("OTLP_VENDOR", "elastic"),
            ("OTEL_EXPORTER_OTLP_HEADERS", ok),
        ];
        assert_eq!(run(&vars).unwrap().0, Some(Vendor::Elastic), "{ok}");
    }
    let vars = [
        ("OTLP_VENDOR", "elastic"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=secret"),
    ];
    assert!(matches!(
        run(&vars),
        Err(PreflightError::MalformedHeader {
            header: "authorization",
            ..
        })
    ));
}

#[test]
fn google_cloud_needs_a_token_and_the_project_and_the_traces_variable_counts() {
    let missing_project = [
        ("OTLP_VENDOR", "gcp"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "Authorization=Bearer%20t",
        ),
    ];
    assert!(matches!(
        run(&missing_project),
        Err(PreflightError::MissingHeader {
            header: "x-goog-user-project",
            ..
        })
    ));
    let complete = [
        ("OTLP_VENDOR", "gcp"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "Authorization=Bearer%20t,x-goog-user-project=p",
        ),
        // The general variable is ignored when the traces one is set.
        ("OTEL_EXPORTER_OTLP_HEADERS", "x=y"),
    ];
    assert_eq!(run(&complete).unwrap().0, Some(Vendor::GoogleCloud));
}

#[test]
fn an_unknown_vendor_or_a_broken_header_list_is_an_error() {
    assert_eq!(
        run(&[("OTLP_VENDOR", "splunk")]),
        Err(PreflightError::UnknownVendor("splunk".into()))
    );
    assert!(matches!(
        parse_headers("api-key"),
        Err(PreflightError::Unparsable(_))
    ));
    assert!(matches!(
        parse_headers("a=%zz"),
        Err(PreflightError::Unparsable(_))
    ));
    assert_eq!(
        parse_headers("Api-Key=a%3Db, x = y ").unwrap(),
        [("api-key".into(), "a=b".into()), ("x".into(), "y".into())]
    );
}

#[test]
fn the_binary_refuses_to_start_without_the_key() {
    let output =
        std::process::Command::new(env!("CARGO_BIN_EXE_example-otlp-vendors"))
            .env("OTLP_VENDOR", "newrelic")
            .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
            .env("PORT", "0")
            .output()
            .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: NewRelic needs the header \"api-key\""),
        "{stderr}"
    );
}
