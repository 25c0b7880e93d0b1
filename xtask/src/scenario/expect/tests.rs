//! The judge on fixtures: every kind of expectation is shown to pass on a
//! received set that satisfies it and to fail, with its message, on one that
//! violates it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;
use crate::otlp::received::{LogRecord, MetricRecord, RequestRecord, Security};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn span(name: &str, id: &str, parent: Option<&str>) -> SpanRecord {
    SpanRecord {
        trace_id: TRACE.into(),
        start_unix_nano: 1_000_000,
        end_unix_nano: 3_000_000,
        attributes: Attributes::from([(
            "http.response.status_code".into(),
            Value::from(200),
        )]),
        ..SpanRecord::test(name, id, parent)
    }
}

fn spans(spans: Vec<SpanRecord>) -> Received {
    Received {
        spans,
        ..Default::default()
    }
}

/// `[expect]` with `services = ["svc"]` and `extra`.
fn expect(extra: &str) -> Expect {
    toml::from_str(&format!("services = [\"svc\"]\n{extra}")).unwrap()
}

fn failures(expect: &Expect, received: &Received) -> Vec<String> {
    check(expect, received, &Observed::default(), Visible::ALL)
}

/// Passes on `good`, fails on `bad` with a message containing `message`.
fn judged(extra: &str, good: &Received, bad: &Received, message: &str) {
    let e = expect(extra);
    assert_eq!(failures(&e, good), Vec::<String>::new(), "{extra}");
    let found = failures(&e, bad);
    assert!(
        found.iter().any(|f| f.contains(message)),
        "{extra}: wanted a failure with {message:?}, got {found:?}"
    );
}

fn with(mut s: SpanRecord, change: impl FnOnce(&mut SpanRecord)) -> SpanRecord {
    change(&mut s);
    s
}

#[test]
fn span_name_and_parent() {
    let good = spans(vec![span("root", "a", None), span("child", "b", Some("a"))]);
    let orphan = spans(vec![span("root", "a", None), span("child", "b", None)]);
    judged(
        "[[span]]\nname = \"child\"\nparent = \"root\"",
        &good,
        &orphan,
        "span \"child\" child of \"root\", at least 1: 0 arrived",
    );
    judged(
        "[[span]]\nname = \"root\"\nparent = \"\"",
        &good,
        &spans(vec![span("root", "a", Some("z"))]),
        "(a root)",
    );
    judged(
        "[[span]]\nname = \"child\"",
        &good,
        &spans(vec![span("root", "a", None)]),
        "span \"child\", at least 1: 0 arrived",
    );
}

#[test]
fn a_parent_must_be_in_the_same_trace() {
    let elsewhere = with(span("root", "a", None), |s| s.trace_id = "other".into());
    judged(
        "[[span]]\nname = \"child\"\nparent = \"root\"",
        &spans(vec![span("root", "a", None), span("child", "b", Some("a"))]),
        &spans(vec![elsewhere, span("child", "b", Some("a"))]),
        "0 arrived",
    );
}

#[test]
fn span_kind_status_and_status_message() {
    let failed = with(span("call", "a", None), |s| {
        s.kind = "client";
        s.status = "error";
        s.status_message = "timed out".into();
    });
    let good = spans(vec![failed.clone()]);
    judged(
        "[[span]]\nname = \"call\"\nkind = \"client\"",
        &good,
        &spans(vec![span("call", "a", None)]),
        "kind=client",
    );
    judged(
        "[[span]]\nname = \"call\"\nstatus = \"error\"",
        &good,
        &spans(vec![span("call", "a", None)]),
        "status=error",
    );
    judged(
        "[[span]]\nname = \"call\"\nstatus = \"error\"\nstatus_message = \"timed out\"",
        &good,
        &spans(vec![with(failed, |s| s.status_message = "refused".into())]),
        "status message \"timed out\"",
    );
}

#[test]
fn span_service_attributes_and_their_types() {
    let good = spans(vec![span("root", "a", None)]);
    judged(
        "[[span]]\nname = \"root\"\nattributes = { \"http.response.status_code\" = 200 }",
        &good,
        &spans(vec![with(span("root", "a", None), |s| {
            s.attributes.clear()
        })]),
        "http.response.status_code=200",
    );
    // A string "200" is not the integer 200.
    let found = failures(
        &expect(
            "[[span]]\nname = \"root\"\nattributes = { \"http.response.status_code\" = \"200\" }",
        ),
        &good,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    judged(
        "[[span]]\nname = \"root\"\nservice = \"svc\"",
        &good,
        &spans(vec![
            with(span("root", "a", None), |s| s.service_name = "other".into()),
            span("x", "b", None),
        ]),
        "service=svc",
    );
}

#[test]
fn span_count_is_exact() {
    let two = spans(vec![span("root", "a", None), span("root", "b", None)]);
    judged(
        "[[span]]\nname = \"root\"\ncount = 2",
        &two,
        &spans(vec![span("root", "a", None)]),
        "span \"root\", exactly 2: 1 arrived",
    );
    assert_eq!(
        failures(&expect("[[span]]\nname = \"root\"\ncount = 1"), &two),
        vec!["span \"root\", exactly 1: 2 arrived".to_owned()]
    );
}

#[test]
fn span_events_links_and_duration() {
    let evented = with(span("root", "a", None), |s| {
        s.events = vec!["circuit opened".into(), "retry".into()];
    });
    judged(
        "[[span]]\nname = \"root\"\nevents = [\"retry\", \"circuit opened\"]",
        &spans(vec![evented]),
        &spans(vec![with(span("root", "a", None), |s| {
            s.events = vec!["retry".into()]
        })]),
        "event:circuit opened",
    );
    let cause = with(span("command", "c", None), |s| s.trace_id = "t1".into());
    let linked = with(span("project", "p", None), |s| {
        s.trace_id = "t2".into();
        s.links = vec![("t1".into(), "c".into())];
    });
    judged(
        "[[span]]\nname = \"project\"\nlinked_to = \"command\"",
        &spans(vec![cause.clone(), linked.clone()]),
        &spans(vec![
            cause,
            with(linked, |s| s.links = vec![("t1".into(), "zz".into())]),
        ]),
        "linked to \"command\"",
    );
    // 2 ms long.
    judged(
        "[[span]]\nname = \"root\"\nmax_duration_ms = 5.0",
        &spans(vec![span("root", "a", None)]),
        &spans(vec![with(span("root", "a", None), |s| {
            s.end_unix_nano = 9_000_000
        })]),
        "lasting at most 5 ms",
    );
    judged(
        "[[span]]\nname = \"root\"\nmin_duration_ms = 5.0",
        &spans(vec![with(span("root", "a", None), |s| {
            s.end_unix_nano = 9_000_000
        })]),
        &spans(vec![span("root", "a", None)]),
        "lasting at least 5 ms",
    );
}

#[test]
fn a_trace_id_that_starts_with_the_time() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let timed = with(span("root", "a", None), |s| {
        s.trace_id = format!("{now:08x}{}", "0".repeat(24));
    });
    judged(
        "[[span]]\nname = \"root\"\ntrace_id_time = true",
        &spans(vec![timed]),
        &spans(vec![span("root", "a", None)]),
        "starts with the time",
    );
}

fn metric(
    name: &str,
    kind: &'static str,
    unit: &str,
    attributes: &[(&str, Value)],
) -> MetricRecord {
    MetricRecord {
        service_name: "svc".into(),
        name: name.into(),
        unit: unit.into(),
        kind,
        data_points: 1,
        point_attributes: vec![
            attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        ],
        counts: vec![3],
    }
}

fn metrics(metrics: Vec<MetricRecord>) -> Received {
    Received {
        metrics,
        ..Default::default()
    }
}

#[test]
fn metrics_by_name_kind_unit_and_point_attributes() {
    let duration = metric(
        "http.server.request.duration",
        "histogram",
        "s",
        &[("http.route", Value::from("/chain"))],
    );
    let good = metrics(vec![duration.clone()]);
    judged(
        "[[metric]]\nname = \"http.server.request.duration\"",
        &good,
        &metrics(vec![metric("other", "histogram", "s", &[])]),
        "metric \"http.server.request.duration\" with a data point: none arrived",
    );
    judged(
        "[[metric]]\nname = \"http.server.request.duration\"\nkind = \"histogram\"",
        &good,
        &metrics(vec![with_kind(duration.clone(), "sum")]),
        "kind=histogram",
    );
    judged(
        "[[metric]]\nname = \"http.server.request.duration\"\nunit = \"s\"",
        &good,
        &metrics(vec![metric(
            "http.server.request.duration",
            "histogram",
            "ms",
            &[],
        )]),
        "unit=s",
    );
    judged(
        "[[metric]]\nname = \"http.server.request.duration\"\n\
         attributes = { \"http.route\" = \"/chain\" }",
        &good,
        &metrics(vec![metric(
            "http.server.request.duration",
            "histogram",
            "s",
            &[("http.route", Value::from("/fail"))],
        )]),
        "http.route=\"/chain\"",
    );
    judged(
        "[[metric]]\nname = \"http.server.request.duration\"\ncount = 3",
        &good,
        &metrics(vec![with_count(duration.clone(), 2)]),
        "count=3",
    );
    // A stream without data points is not an arrival.
    let mut empty = duration;
    empty.data_points = 0;
    assert_eq!(
        failures(
            &expect("[[metric]]\nname = \"http.server.request.duration\""),
            &metrics(vec![empty])
        )
        .len(),
        1
    );
}

fn with_count(mut m: MetricRecord, count: u64) -> MetricRecord {
    m.counts = vec![count];
    m
}

fn with_kind(mut m: MetricRecord, kind: &'static str) -> MetricRecord {
    m.kind = kind;
    m
}

fn log(body: &str, severity: &str, in_span: Option<&SpanRecord>) -> LogRecord {
    LogRecord {
        service_name: "svc".into(),
        severity_text: severity.into(),
        severity_number: 9,
        body: body.into(),
        trace_id: in_span.map(|s| s.trace_id.clone()),
        span_id: in_span.map(|s| s.span_id.clone()),
        attributes: Attributes::new(),
    }
}

#[test]
fn logs_by_body_severity_and_span() {
    let opened = span("breaker", "b", None);
    let other = span("other", "o", None);
    let received = |log: LogRecord| Received {
        spans: vec![opened.clone(), other.clone()],
        logs: vec![log],
        ..Default::default()
    };
    let good = received(log(
        "circuit opened after 3 failures",
        "WARN",
        Some(&opened),
    ));
    judged(
        "[[log]]\nbody = \"circuit opened\"",
        &good,
        &received(log("circuit closed", "WARN", Some(&opened))),
        "log containing \"circuit opened\": none arrived",
    );
    judged(
        "[[log]]\nbody = \"circuit opened\"\nseverity = \"WARN\"",
        &good,
        &received(log("circuit opened", "INFO", Some(&opened))),
        "severity=WARN",
    );
    // Severity text is matched whatever its case.
    assert!(
        failures(
            &expect("[[log]]\nbody = \"circuit opened\"\nseverity = \"WARN\""),
            &received(log("circuit opened", "warn", Some(&opened)))
        )
        .is_empty()
    );
    judged(
        "[[log]]\nbody = \"circuit opened\"\nin_span = \"breaker\"",
        &good,
        &received(log("circuit opened", "WARN", Some(&other))),
        "carrying the trace and span id of span \"breaker\"",
    );
    assert_eq!(
        failures(
            &expect("[[log]]\nbody = \"circuit opened\"\nin_span = \"breaker\""),
            &received(log("circuit opened", "WARN", None))
        )
        .len(),
        1
    );
}

#[test]
fn logs_by_attributes() {
    let with = |attributes: &[(&str, serde_json::Value)]| {
        let mut record = log("panicked at src/lib.rs:9:5: boom", "ERROR", None);
        for (k, v) in attributes {
            record.attributes.insert((*k).to_owned(), v.clone());
        }
        Received {
            logs: vec![record],
            ..Default::default()
        }
    };
    let wanted = "[[log]]\nbody = \"panicked at\"\n\
                  attributes = { \"exception.message\" = \"boom\", \
                  \"code.line.number\" = 9 }";
    let good = with(&[
        ("exception.message", "boom".into()),
        ("code.line.number", 9.into()),
    ]);
    judged(
        wanted,
        &good,
        &with(&[
            ("exception.message", "bang".into()),
            ("code.line.number", 9.into()),
        ]),
        "exception.message=\"boom\"",
    );
    // A missing attribute fails as a different value does.
    judged(
        wanted,
        &good,
        &with(&[("exception.message", "boom".into())]),
        "code.line.number=9",
    );
}

fn request(
    transport: &'static str,
    compression: Option<&str>,
    headers: &[(&str, &str)],
) -> RequestRecord {
    RequestRecord {
        signal: "traces",
        transport,
        compression: compression.map(Into::into),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        security: Default::default(),
    }
}

fn requests(requests: Vec<RequestRecord>) -> Received {
    Received {
        requests,
        ..Default::default()
    }
}

#[test]
fn requests_by_signal_transport_compression_and_headers() {
    let good = requests(vec![request("grpc", Some("gzip"), &[("api-key", "k1")])]);
    judged(
        "[[request]]\nsignal = \"traces\"\ntransport = \"grpc\"",
        &good,
        &requests(vec![request("http/protobuf", Some("gzip"), &[])]),
        "a traces export request over grpc",
    );
    judged(
        "[[request]]\nsignal = \"traces\"\ncompression = \"gzip\"",
        &good,
        &requests(vec![request("grpc", None, &[])]),
        "compressed gzip",
    );
    judged(
        "[[request]]\nsignal = \"traces\"\ncompression = \"none\"",
        &requests(vec![request("grpc", None, &[])]),
        &good,
        "compressed none",
    );
    judged(
        "[[request]]\nsignal = \"traces\"\nheaders = { api-key = \"k1\" }",
        &good,
        &requests(vec![request("grpc", Some("gzip"), &[("api-key", "wrong")])]),
        "with headers {\"api-key\": \"k1\"}",
    );
    judged(
        "[[request]]\nsignal = \"metrics\"",
        &requests(vec![RequestRecord {
            signal: "metrics",
            ..request("grpc", None, &[])
        }]),
        &good,
        "a metrics export request",
    );
    let over_mtls = RequestRecord {
        security: Security::Mtls,
        ..request("grpc", None, &[])
    };
    judged(
        "[[request]]\nsignal = \"traces\"\nsecurity = \"mtls\"",
        &requests(vec![over_mtls.clone()]),
        &requests(vec![RequestRecord {
            security: Security::Tls,
            ..over_mtls
        }]),
        "secured mtls",
    );
}

#[test]
fn services_strangers_and_silent_ones() {
    let stranger = with(span("root", "a", None), |s| {
        s.service_name = "unknown_service".into()
    });
    assert_eq!(
        failures(&expect(""), &spans(vec![stranger])),
        vec![
            "service.name \"unknown_service\" arrived; expected only [\"svc\"]"
                .to_owned()
        ]
    );
    let e: Expect =
        toml::from_str("services = [\"svc\", \"db\"]\n[[span]]\nname = \"root\"")
            .unwrap();
    assert_eq!(
        failures(&e, &spans(vec![span("root", "a", None)])),
        vec!["no span from service.name \"db\"".to_owned()]
    );
}

/// An expectation with DogStatsD lines and process output.
fn observed(datagrams: &[&str], lines: &[&str]) -> Observed {
    Observed {
        datagrams: datagrams.iter().map(|d| (*d).to_owned()).collect(),
        outputs: BTreeMap::from([(
            "checkout".to_owned(),
            lines.iter().map(|l| (*l).to_owned()).collect(),
        )]),
    }
}

#[test]
fn dogstatsd_lines_by_name_type_tags_and_value() {
    let e = expect(
        "[[dogstatsd]]\nname = \"checkout.orders\"\ntype = \"c\"\n\
         tags = { env = \"ci\" }\nvalue = 1.0",
    );
    let judge = |datagrams: &[&str]| {
        check(
            &e,
            &Received::default(),
            &observed(datagrams, &[]),
            Visible::ALL,
        )
    };
    assert!(judge(&["checkout.orders:1|c|#env:ci,sku:tea"]).is_empty());
    for bad in [
        "checkout.order:1|c|#env:ci",
        "checkout.orders:1|g|#env:ci",
        "checkout.orders:1|c|#env:prod",
        "checkout.orders:2|c|#env:ci",
    ] {
        let found = judge(&[bad]);
        assert!(
            found
                .iter()
                .any(|f| f.contains("not among the 1 lines received")),
            "{bad}: {found:?}"
        );
    }
    // A malformed line fails the run even when the expected one arrived.
    let found = judge(&["checkout.orders:1|c|#env:ci\norders:x|c"]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("DogStatsD line") && found[0].contains("not a number")
    );
}

#[test]
fn json_log_lines_by_fields_and_correlation() {
    let traced = with(span("GET /checkout", "00f067aa0ba902b7", None), |s| {
        s.trace_id = "dc562f6846eb76545fce2b8a8c7b7c2e".into();
    });
    let received = spans(vec![traced]);
    // The lower 64 bits of trace and span id, in decimal.
    let trace = u64::from_str_radix("5fce2b8a8c7b7c2e", 16).unwrap();
    let span_id = u64::from_str_radix("00f067aa0ba902b7", 16).unwrap();
    let line = format!(
        r#"{{"status":"info","message":"order placed","dd.trace_id":"{trace}","dd.span_id":"{span_id}"}}"#
    );
    let e = expect(
        "[[json_log]]\nprocess = \"checkout\"\nfields = { status = \"info\" }\ncorrelated = true",
    );
    let judge =
        |lines: &[&str]| check(&e, &received, &observed(&[], lines), Visible::ALL);
    assert!(judge(&["not json", &line]).is_empty());
    let wrong_field = line.replace("\"info\"", "\"error\"");
    let uncorrelated = line.replace(&span_id.to_string(), "1");
    // The W3C form, as the telemetry module's JSON console writes it.
    let w3c = r#"{"level":"INFO","message":"order placed","trace_id":"dc562f6846eb76545fce2b8a8c7b7c2e","span_id":"00f067aa0ba902b7","status":"info"}"#;
    assert!(judge(&[w3c]).is_empty());
    let w3c_other_span = w3c.replace("00f067aa0ba902b7", "00f067aa0ba902b8");
    for bad in [
        wrong_field.as_str(),
        uncorrelated.as_str(),
        "plain text",
        w3c_other_span.as_str(),
    ] {
        let found = judge(&[bad]);
        assert!(
            found
                .iter()
                .any(|f| f.contains("a JSON line from checkout")),
            "{bad}: {found:?}"
        );
    }
}

#[test]
fn console_lines_by_text_and_correlation() {
    let traced = with(span("GET /hello", "00f067aa0ba902b7", None), |s| {
        s.trace_id = "dc562f6846eb76545fce2b8a8c7b7c2e".into();
    });
    let received = spans(vec![traced]);
    let line = "trace_id=dc562f6846eb76545fce2b8a8c7b7c2e span_id=00f067aa0ba902b7 \
                2026-12-07T10:00:00.000000Z  INFO quickstart: greeting sent";
    let e = expect(
        "[[console]]\nprocess = \"checkout\"\ncontains = \"greeting sent\"\ncorrelated = true",
    );
    let judge =
        |lines: &[&str]| check(&e, &received, &observed(&[], lines), Visible::ALL);
    assert!(judge(&["listening on http://127.0.0.1:1", line]).is_empty());
    let other_span = line.replace("00f067aa0ba902b7", "00f067aa0ba902b8");
    let short_id = line.replace("dc562f6846eb7654", "dc56");
    let no_ids = "2026-12-07T10:00:00.000000Z  INFO quickstart: greeting sent";
    let other_text = line.replace("greeting sent", "request failed");
    for bad in [&other_span, &short_id, no_ids, &other_text] {
        let found = judge(&[bad]);
        assert!(
            found
                .iter()
                .any(|f| f.contains("a console line from checkout")),
            "{bad}: {found:?}"
        );
    }
}

#[test]
fn what_a_source_cannot_show_is_not_judged() {
    let e = expect("[[log]]\nbody = \"x\"\n[[request]]\nsignal = \"traces\"");
    assert_eq!(failures(&e, &Received::default()).len(), 2);
    assert!(
        check(
            &e,
            &Received::default(),
            &Observed::default(),
            Visible::STACK
        )
        .is_empty()
    );
}

#[test]
fn promql_answers_by_presence_value_and_labels() {
    let e: Expect = toml::from_str(
        "services = [\"svc\"]\n[[promql]]\nquery = \"app_greetings_total\"\n\
         value = 5.0\nlabels = { greeting_language = \"en\" }",
    )
    .unwrap();
    let series = |language: &str, value: f64| {
        vec![(
            BTreeMap::from([("greeting_language".to_owned(), language.to_owned())]),
            value,
        )]
    };
    assert!(promql_failures(&e.promql, &[series("en", 5.0)]).is_empty());
    for (answer, why) in [
        (Vec::new(), "no series"),
        (series("en", 4.0), "another value"),
        (series("fr", 5.0), "another label"),
    ] {
        let found = promql_failures(&e.promql, &[answer]);
        assert_eq!(found.len(), 1, "{why}: {found:?}");
        assert!(found[0].starts_with("app_greetings_total = 5"), "{found:?}");
    }
}

#[test]
fn a_remote_parent_given_by_its_ids() {
    let child = span("job", "a", Some("00f067aa0ba902b7"));
    let extra = format!(
        "[[span]]\nname = \"job\"\nremote_parent = {{ trace_id = \"{TRACE}\", \
         span_id = \"00f067aa0ba902b7\" }}"
    );
    // A root, and a child of another span, both fail.
    judged(
        &extra,
        &spans(vec![child.clone()]),
        &spans(vec![span("job", "a", None)]),
        "child of the remote span 00f067aa0ba902b7",
    );
    judged(
        &extra,
        &spans(vec![child.clone()]),
        &spans(vec![with(child, |s| s.trace_id = "0".repeat(32))]),
        "child of the remote span 00f067aa0ba902b7",
    );
}
