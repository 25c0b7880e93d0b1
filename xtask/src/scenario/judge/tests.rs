use super::*;
use crate::scenario::spec::cases::Cases;

const LIMIT: Duration = Duration::from_secs(10);

fn refusal(variable: &str, value: &str, exit: &Refusal) -> Vec<String> {
    judge(Evidence::Refusal {
        variable,
        value,
        refusal: exit,
        limit: LIMIT,
    })
    .unwrap()
}

fn exit(code: Option<i32>, output: &str) -> Refusal {
    Refusal {
        code,
        timed_out: false,
        output: output.to_owned(),
        took: Duration::ZERO,
    }
}

#[test]
fn a_clear_refusal_passes() {
    let refused = exit(
        Some(1),
        "error: OTEL_BSP_SCHEDULE_DELAY=\"5s\" is not valid: whole milliseconds",
    );
    assert_eq!(
        refusal("OTEL_BSP_SCHEDULE_DELAY", "5s", &refused),
        Vec::<String>::new()
    );
}

#[test]
fn anything_else_than_a_clear_refusal_fails() {
    let variable = "OTEL_BSP_SCHEDULE_DELAY";
    let cases = [
        // Started as if nothing were wrong.
        Refusal {
            code: None,
            timed_out: true,
            output: String::new(),
            took: LIMIT,
        },
        exit(Some(0), "OTEL_BSP_SCHEDULE_DELAY ignored"),
        exit(Some(1), "error: cannot connect to the database"),
        exit(Some(2), "error: OTEL_BSP_SCHEDULE_DELAY is not valid"),
        exit(
            Some(101),
            "thread 'main' panicked at src/main.rs:3:5:\nOTEL_BSP_SCHEDULE_DELAY",
        ),
        exit(
            Some(1),
            "thread 'main' panicked at x\nOTEL_BSP_SCHEDULE_DELAY",
        ),
        exit(None, "OTEL_BSP_SCHEDULE_DELAY"),
        // The name, not the refusal of this value.
        exit(Some(1), "error: OTEL_BSP_SCHEDULE_DELAY=\"10\" is too low"),
    ];
    // `PORT` in another variable's name is not `PORT` refused.
    let other = exit(
        Some(1),
        "error: OTEL_EXPORTER_OTLP_EXPORT=\"seventy\" is not valid",
    );
    assert_eq!(refusal("PORT", "seventy", &other).len(), 1);
    for case in cases {
        assert_eq!(refusal(variable, "5s", &case).len(), 1, "{case:?} passed");
    }
}

#[test]
fn a_flush_passes_only_with_a_span_per_request() {
    let flush = |sent, arrived| judge(Evidence::Flush { sent, arrived }).unwrap();
    assert!(flush(50, 50).is_empty());
    assert_eq!(flush(50, 49), vec!["49 server spans for 50 requests"]);
    // A span counted twice is as wrong as one lost.
    assert_eq!(flush(50, 51).len(), 1);
}

#[test]
fn a_case_names_every_difference() {
    let cases: Cases = toml::from_str(
        r#"
        [[case]]
        name = "path doubled"
        bin = "x"
        exit = "success"
        spans = 0
        output = "404"
        max_seconds = 1.0
    "#,
    )
    .unwrap();
    let case = &cases.case[0];
    let run = CaseRun {
        exit: Exit::Failure,
        spans: 1,
        line: None,
        seconds: 2.5,
    };
    let problems = judge(Evidence::Case { case, run: &run }).unwrap();
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].contains("exit success, got failure"));
    assert!(problems[1].contains("expected 0 span(s) at the collector, got 1"));
    assert!(problems[2].contains("\"404\""));
    assert!(problems[3].contains("at most 1s, ran 2.5s"));
    let good = CaseRun {
        exit: Exit::Success,
        spans: 0,
        line: Some("404".into()),
        seconds: 0.5,
    };
    assert!(
        judge(Evidence::Case { case, run: &good })
            .unwrap()
            .is_empty()
    );
}
