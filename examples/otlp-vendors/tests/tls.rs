//! `TlsSettings::from_env`: when TLS is asked for, and the variables that
//! cannot work refused at start-up with the variable and the file named.
//! Spans arriving over TLS, mutual TLS and the platform's roots, and a
//! wrong CA's error, are the scenario's (`scenario.toml`).

use std::collections::HashMap;

use example_otlp_vendors::tls::{TlsError, TlsSettings};

fn settings(vars: &[(&str, &str)]) -> Result<Option<TlsSettings>, TlsError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TlsSettings::from_env(|name| vars.get(name).cloned())
}

#[test]
fn tls_only_when_an_endpoint_is_https_or_a_certificate_is_named() {
    assert!(settings(&[]).unwrap().is_none());
    let plain = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")];
    assert!(settings(&plain).unwrap().is_none());
    let https = [("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://otlp.example")];
    assert!(settings(&https).unwrap().is_some());
}

#[test]
fn a_missing_or_empty_file_is_an_error_that_names_it() {
    let missing = settings(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/no/such/ca.pem")]);
    let message = missing.err().unwrap().to_string();
    assert!(
        message.starts_with(
            "OTEL_EXPORTER_OTLP_CERTIFICATE=\"/no/such/ca.pem\" cannot be read"
        ),
        "{message}"
    );
    let junk = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let junk = junk.to_str().unwrap();
    let message = settings(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", junk)])
        .err()
        .unwrap()
        .to_string();
    let expected =
        format!("OTEL_EXPORTER_OTLP_CERTIFICATE={junk:?} holds no PEM certificate");
    assert_eq!(message, expected);
}

#[test]
fn a_client_certificate_needs_its_key() {
    let half = settings(&[("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "client.pem")]);
    let message = half.err().unwrap().to_string();
    assert!(
        message.ends_with("only OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is set"),
        "{message}"
    );
}

#[test]
fn the_binary_refuses_to_start_with_a_certificate_it_cannot_read() {
    let output =
        std::process::Command::new(env!("CARGO_BIN_EXE_example-otlp-vendors"))
            .env("OTEL_EXPORTER_OTLP_CERTIFICATE", "/no/such/ca.pem")
            .env_remove("OTLP_VENDOR")
            .env("PORT", "0")
            .output()
            .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: OTEL_EXPORTER_OTLP_CERTIFICATE=\"/no/such/ca.pem\""),
        "{stderr}"
    );
}
