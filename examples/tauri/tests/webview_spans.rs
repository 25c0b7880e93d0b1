//! The spans the webview sends to `export_spans`: converted with their own
//! ids, times and status, or refused whole with a reason.

use std::time::{Duration, SystemTime};

use example_tauri::webview::{
    InvalidSpan, MAX_SPANS, MAX_TEXT, WebviewSpan, span_data,
};
use opentelemetry::trace::{SpanId, Status};

fn span(json: serde_json::Value) -> WebviewSpan {
    serde_json::from_value(json).unwrap()
}

/// A second ago, in whole milliseconds since the epoch.
fn a_second_ago_ms() -> f64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    (now.as_millis() - 1000) as f64
}

fn click() -> serde_json::Value {
    let start = a_second_ago_ms();
    serde_json::json!({
        "name": "click",
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": "00f067aa0ba902b7",
        "parentSpanId": null,
        "startMs": start,
        "endMs": start + 250.5,
        "attributes": { "ui.target": "button#add" },
        "error": null,
    })
}

#[test]
fn a_span_keeps_its_ids_times_and_attributes() {
    let json = click();
    let start_ms = json["startMs"].as_f64().unwrap() as u64;
    let data = span_data(vec![span(json)]).unwrap();
    assert_eq!(data.len(), 1);
    let click = &data[0];
    assert_eq!(click.name, "click");
    assert_eq!(
        click.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(click.span_context.span_id().to_string(), "00f067aa0ba902b7");
    assert!(click.span_context.is_sampled());
    assert_eq!(click.parent_span_id, SpanId::INVALID);
    let start = SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms);
    assert_eq!(click.start_time, start);
    assert_eq!(
        click.end_time.duration_since(start).unwrap(),
        Duration::from_micros(250_500)
    );
    assert_eq!(click.attributes.len(), 1);
    assert_eq!(click.attributes[0].key.as_str(), "ui.target");
    assert_eq!(click.attributes[0].value.as_str(), "button#add");
    assert_eq!(click.status, Status::Unset);
    assert_eq!(click.instrumentation_scope.name(), "webview");
}

#[test]
fn a_failed_action_is_an_error_with_its_message() {
    let mut json = click();
    json["error"] = "a note has 1 to 280 characters, not 0".into();
    json["parentSpanId"] = "b7ad6b7169203331".into();
    let data = span_data(vec![span(json)]).unwrap();
    assert_eq!(
        data[0].status,
        Status::error("a note has 1 to 280 characters, not 0")
    );
    assert_eq!(data[0].parent_span_id.to_string(), "b7ad6b7169203331");
}

#[test]
fn malformed_spans_are_refused_with_the_field_and_the_reason() {
    let start = a_second_ago_ms();
    let day_ms = 24.0 * 60.0 * 60.0 * 1000.0;
    let cases: [(&str, serde_json::Value, &str); 13] = [
        (
            "traceId",
            "4bf92f35".into(),
            "span 0: traceId is not 32 hex digits",
        ),
        (
            "traceId",
            "00000000000000000000000000000000".into(),
            "not all zero",
        ),
        (
            "traceId",
            "4bf92f3577b34da6a3ce929d0e0e473g".into(),
            "traceId is not",
        ),
        ("spanId", "ééééééé".into(), "spanId is not 16 hex digits"),
        (
            "spanId",
            "0000000000000000".into(),
            "spanId is not 16 hex digits, not all zero",
        ),
        ("parentSpanId", "00".into(), "parentSpanId is not"),
        (
            "parentSpanId",
            "0000000000000000".into(),
            "parentSpanId is not",
        ),
        (
            "parentSpanId",
            "00f067aa0ba902b7".into(),
            "span 0: it is its own parent",
        ),
        ("startMs", (-5.0).into(), "startMs is not milliseconds"),
        ("startMs", 0.0.into(), "within a day of now"),
        (
            "startMs",
            (start + 2.0 * day_ms).into(),
            "within a day of now",
        ),
        ("endMs", 1e300.into(), "endMs is not milliseconds"),
        ("endMs", (start - 100_000.0).into(), "ends before it starts"),
    ];
    for (field, value, reason) in cases {
        let mut json = click();
        json[field] = value.clone();
        let refused = span_data(vec![span(json)]).unwrap_err().to_string();
        assert!(refused.contains(reason), "{field} = {value}: {refused}");
    }
    // A good span and a bad one: nothing is exported, and the index says
    // which was refused.
    let mut bad = click();
    bad["spanId"] = "x".into();
    let refused = span_data(vec![span(click()), span(bad)]).unwrap_err();
    assert!(
        matches!(refused, InvalidSpan::Field { index: 1, .. }),
        "{refused}"
    );
    // The same span twice: its id names one span only.
    let refused = span_data(vec![span(click()), span(click())]).unwrap_err();
    assert_eq!(refused, InvalidSpan::DuplicateId { index: 1, first: 0 });
}

#[test]
fn limits_bound_what_one_call_can_carry() {
    let many: Vec<WebviewSpan> = (0..=MAX_SPANS).map(|_| span(click())).collect();
    assert_eq!(
        span_data(many).unwrap_err(),
        InvalidSpan::TooManySpans(MAX_SPANS + 1)
    );

    let mut json = click();
    let attributes: serde_json::Map<String, serde_json::Value> =
        (0..40).map(|i| (format!("k{i}"), "v".into())).collect();
    json["attributes"] = attributes.into();
    let refused = span_data(vec![span(json)]).unwrap_err();
    assert!(matches!(
        refused,
        InvalidSpan::TooManyAttributes { count: 40, .. }
    ));

    // Long text is cut, at a character boundary.
    let mut json = click();
    json["name"] = "é".repeat(MAX_TEXT).into();
    let data = span_data(vec![span(json)]).unwrap();
    assert_eq!(data[0].name.len(), MAX_TEXT);
    assert!(data[0].name.chars().all(|c| c == 'é'));
}

#[test]
fn unknown_fields_and_wrong_types_do_not_deserialize() {
    let mut json = click();
    json["kind"] = "server".into();
    assert!(serde_json::from_value::<WebviewSpan>(json).is_err());
    let mut json = click();
    json["startMs"] = "yesterday".into();
    assert!(serde_json::from_value::<WebviewSpan>(json).is_err());
}
