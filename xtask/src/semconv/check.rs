//! The judge of names: every attribute key that arrived (on resources,
//! scopes, spans, span events, links, metric data points and log records)
//! and every metric name is a convention name, or sits in a namespace the
//! example declares as its own (`own_attributes` in `scenario.toml`).
//! A deprecated name fails with its replacement; a name neither in the
//! conventions nor in an own namespace fails with the nearest convention
//! name; a metric the conventions define must have their unit and a
//! matching instrument.

use std::collections::BTreeSet;

use super::registry::{Deprecation, Kind, Registry};
use crate::otlp::received::{Place, Received};

/// Keys the book's libraries add that are not convention names, and why
/// they are understood rather than reported (on spans, span events and log
/// records only). The appendix on semantic conventions includes this list.
// ANCHOR: understood
const UNDERSTOOD: &[(&str, &str)] = &[
    // tracing-opentelemetry: its control fields, when a library passes
    // them through instead of consuming them.
    ("otel.name", "tracing-opentelemetry's span-name field"),
    ("otel.kind", "tracing-opentelemetry's span-kind field"),
    ("otel.status_code", "tracing-opentelemetry's status field"),
    (
        "otel.status_description",
        "tracing-opentelemetry's status field",
    ),
    // tracing-opentelemetry's timings of a span's busy and idle time.
    ("busy_ns", "tracing-opentelemetry's tracked inactivity"),
    ("idle_ns", "tracing-opentelemetry's tracked inactivity"),
    // tracing-opentelemetry's location of a span or event: the file and
    // line are convention names (`code.file.path`, `code.line.number`), the
    // `tracing` module path has none (the conventions' `code.namespace`
    // was folded into `code.function.name`).
    (
        "code.module.name",
        "tracing-opentelemetry's module path of a span or event",
    ),
    // tracing-opentelemetry: a `tracing` event as a span event.
    ("level", "the `tracing` level of an event, on span events"),
    ("target", "the `tracing` target of an event, on span events"),
];
// ANCHOR_END: understood

/// Whether `name` is in one of `own` (`app.*` covers `app.x.y`; a name
/// without `*` covers itself only).
fn is_own(own: &[String], name: &str) -> bool {
    own.iter().any(|pattern| match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    })
}

/// What is wrong with the names in `received`, one line each.
pub fn check(
    registry: &Registry,
    received: &Received,
    own: &[String],
    third_party: &[String],
) -> Vec<String> {
    let mut failures = Vec::new();
    for ((place, key), seen) in &received.keys {
        let understood = UNDERSTOOD.iter().any(|(k, _)| k == key)
            && matches!(place, Place::Span | Place::SpanEvent | Place::LogRecord);
        let theirs = seen.services.iter().all(|s| third_party.contains(s));
        if understood || theirs {
            continue;
        }
        let on = &seen.owner;
        match registry.find(Kind::Attribute, key) {
            Some(entry) => {
                if let Some(d) = &entry.deprecated {
                    failures.push(format!(
                        "`{key}` on {on} is deprecated ({}): {}",
                        d.reason,
                        instead(d)
                    ));
                }
            }
            None if is_own(own, key) => {}
            None => failures.push(unknown(registry, Kind::Attribute, key, on, own)),
        }
    }
    let mut metrics_seen = BTreeSet::new();
    for metric in &received.metrics {
        if third_party.contains(&metric.service_name)
            || !metrics_seen.insert((&metric.name, &metric.unit, metric.kind))
        {
            continue;
        }
        let name = &metric.name;
        let on = format!("metric of {}", metric.service_name);
        match registry.find(Kind::Metric, name) {
            Some(entry) => {
                if let Some(d) = &entry.deprecated {
                    failures.push(format!(
                        "metric `{name}` of {} is deprecated ({}): {}",
                        metric.service_name,
                        d.reason,
                        instead(d)
                    ));
                }
                if let Some(unit) = &entry.unit
                    && unit != &metric.unit
                {
                    failures.push(format!(
                        "metric `{name}` of {} has the unit {:?}; the conventions say {unit:?}",
                        metric.service_name, metric.unit
                    ));
                }
                if let Some(instrument) = &entry.instrument
                    && !kind_fits(instrument, metric.kind)
                {
                    failures.push(format!(
                        "metric `{name}` of {} arrived as a {}; the conventions make it a {instrument}",
                        metric.service_name, metric.kind
                    ));
                }
            }
            None if is_own(own, name) => {}
            None => failures.push(unknown(registry, Kind::Metric, name, &on, own)),
        }
    }
    failures
}

/// What to use instead of a deprecated name: its replacement, or the note.
fn instead(deprecation: &Deprecation) -> String {
    match &deprecation.renamed_to {
        Some(to) => format!("use `{to}`"),
        None => deprecation.note.clone(),
    }
}

/// Whether an OTLP data kind is what an instrument of the conventions exports.
fn kind_fits(instrument: &str, kind: &str) -> bool {
    match instrument {
        "histogram" => matches!(kind, "histogram" | "exponential_histogram"),
        "counter" | "updowncounter" => kind == "sum",
        "gauge" => kind == "gauge",
        _ => true,
    }
}

fn unknown(
    registry: &Registry,
    kind: Kind,
    name: &str,
    on: &str,
    own: &[String],
) -> String {
    let what = match kind {
        Kind::Attribute => "key",
        Kind::Metric => "metric name",
    };
    let nearest = registry
        .nearest(kind, name)
        .map(|n| format!("; the nearest convention name is `{n}`"))
        .unwrap_or_default();
    // A dotted name's namespace; an undotted one stands for itself.
    let namespace = match name.split_once('.') {
        Some((namespace, _)) => format!("{namespace}.*"),
        None => name.to_owned(),
    };
    let declared = match own.is_empty() {
        true => "the example declares no own namespace".to_owned(),
        false => format!("its own namespaces are {}", own.join(", ")),
    };
    format!(
        "`{name}` on {on} is no convention {what}, and {declared}{nearest}. Use the convention's \
         name, or, if the name is the example's own, add \"{namespace}\" to own_attributes \
         in its scenario.toml"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::received::{KeySeen, MetricRecord};

    fn received(keys: &[(Place, &str)], metrics: Vec<MetricRecord>) -> Received {
        Received {
            keys: keys
                .iter()
                .map(|(place, key)| {
                    let seen = KeySeen {
                        owner: "span \"GET /x\" of svc".into(),
                        services: ["svc".to_owned()].into(),
                    };
                    ((*place, (*key).to_owned()), seen)
                })
                .collect(),
            metrics,
            ..Default::default()
        }
    }

    fn metric(name: &str, unit: &str, kind: &'static str) -> MetricRecord {
        MetricRecord {
            service_name: "svc".into(),
            name: name.into(),
            unit: unit.into(),
            kind,
            data_points: 1,
            point_attributes: Vec::new(),
            counts: Vec::new(),
        }
    }

    #[test]
    fn convention_names_and_declared_namespaces_pass() {
        let registry = Registry::load().unwrap();
        let received = received(
            &[
                (Place::Resource, "service.name"),
                (Place::Span, "http.request.method"),
                (Place::Span, "http.request.header.content-type"),
                (Place::Span, "gateway.upstream"),
                (Place::SpanEvent, "level"),
            ],
            vec![
                metric("http.server.request.duration", "s", "histogram"),
                metric("gateway.rejections", "{request}", "sum"),
            ],
        );
        let own = vec!["gateway.*".to_owned()];
        assert_eq!(check(&registry, &received, &own, &[]), Vec::<String>::new());
    }

    #[test]
    fn a_deprecated_key_fails_with_its_replacement() {
        let registry = Registry::load().unwrap();
        let failures = check(
            &registry,
            &received(&[(Place::Span, "http.method")], vec![]),
            &[],
            &[],
        );
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].starts_with("`http.method` on span \"GET /x\" of svc is deprecated (renamed): use `http.request.method`"),
            "{failures:?}"
        );
    }

    #[test]
    fn an_unknown_key_outside_the_own_namespaces_fails_with_the_nearest_name() {
        let registry = Registry::load().unwrap();
        let received = received(&[(Place::Span, "browser.user_agent")], vec![]);
        let failures = check(&registry, &received, &["gateway.*".to_owned()], &[]);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("is no convention key"), "{failures:?}");
        assert!(failures[0].contains("its own namespaces are gateway.*"));
        assert!(
            failures[0]
                .contains("the nearest convention name is `user_agent.original`")
        );
        assert!(failures[0].contains("add \"browser.*\" to own_attributes"));
        // Understood keys are understood only where they belong.
        let on_resource = received_with_resource_level();
        assert_eq!(check(&registry, &on_resource, &[], &[]).len(), 1);
    }

    fn received_with_resource_level() -> Received {
        received(&[(Place::Resource, "level")], vec![])
    }

    #[test]
    fn a_convention_metric_needs_its_unit_and_instrument() {
        let registry = Registry::load().unwrap();
        let received = received(
            &[],
            vec![
                metric("http.server.request.duration", "ms", "histogram"),
                metric("http.server.active_requests", "{request}", "gauge"),
                metric("requests_total", "1", "sum"),
            ],
        );
        let failures = check(&registry, &received, &[], &[]);
        assert_eq!(failures.len(), 3, "{failures:#?}");
        assert!(
            failures[0].contains("has the unit \"ms\"; the conventions say \"s\"")
        );
        assert!(failures[1].contains(
            "arrived as a gauge; the conventions make it a updowncounter"
        ));
        assert!(failures[2].contains(
            "`requests_total` on metric of svc is no convention metric name"
        ));
    }

    #[test]
    fn a_third_partys_names_pass_only_where_it_alone_sent_them() {
        let registry = Registry::load().unwrap();
        let mut received = received(
            &[
                (Place::Span, "http.method"),
                (Place::Span, "upstream_cluster"),
            ],
            vec![metric("envoy.cluster.upstream_rq_time", "", "histogram")],
        );
        let third_party = ["svc".to_owned()];
        assert_eq!(
            check(&registry, &received, &[], &third_party),
            Vec::<String>::new()
        );
        // The same deprecated key from a service of the example still fails.
        let key = (Place::Span, "http.method".to_owned());
        received
            .keys
            .get_mut(&key)
            .unwrap()
            .services
            .insert("shop".into());
        let failures = check(&registry, &received, &[], &third_party);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].contains("`http.method`"), "{failures:?}");
        // And without the exemption, all three fail.
        assert_eq!(check(&registry, &received, &[], &[]).len(), 3);
    }
}
