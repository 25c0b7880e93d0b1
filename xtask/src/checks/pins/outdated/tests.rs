use super::*;

fn release(version: &str, rust: Option<&str>) -> Release {
    Release {
        version: Version::parse(version).unwrap(),
        yanked: false,
        rust_version: rust.map(str::to_owned),
    }
}

fn yanked(version: &str) -> Release {
    Release {
        yanked: true,
        ..release(version, None)
    }
}

fn pins(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn index(list: Vec<(&str, Vec<Release>)>) -> BTreeMap<String, Vec<Release>> {
    list.into_iter().map(|(n, r)| (n.to_owned(), r)).collect()
}

fn rust() -> Version {
    Version::new(1, 88, 0)
}

fn judged(
    pinned: &[(&str, &str)],
    releases: Vec<(&str, Vec<Release>)>,
    held: &[(&str, &str)],
) -> (Vec<Standing>, Vec<String>) {
    let judged =
        judge(&pins(pinned), &index(releases), &pins(held), &rust()).unwrap();
    (judged.standings, judged.problems)
}

#[test]
fn the_index_path_is_cargos() {
    assert_eq!(index_path("a"), "1/a");
    assert_eq!(index_path("ab"), "2/ab");
    assert_eq!(index_path("syn"), "3/s/syn");
    assert_eq!(index_path("Rocket"), "ro/ck/rocket");
    assert_eq!(index_path("tower-http"), "to/we/tower-http");
}

#[test]
fn index_lines_are_releases_and_a_bad_line_is_named() {
    let text = r#"{"name":"x","vers":"0.5.2","yanked":false,"deps":[]}
{"name":"x","vers":"0.5.4","yanked":true,"rust_version":"1.89"}
"#;
    let releases = parse_index("rocket", text).unwrap();
    assert_eq!(releases.len(), 2);
    assert!(releases[1].yanked);
    assert_eq!(releases[1].needs_rust(), Some(Version::new(1, 89, 0)));
    let error = parse_index("rocket", "{\"vers\":\"0.5.2\"}\nnot json")
        .unwrap_err()
        .to_string();
    assert!(error.contains("ro/ck/rocket: line 2"), "{error}");
}

#[test]
fn a_pin_behind_without_a_reason_is_a_problem() {
    let (standings, problems) = judged(
        &[("clap", "4.6.9")],
        vec![(
            "clap",
            vec![release("4.6.9", None), release("4.6.10", None)],
        )],
        &[],
    );
    assert_eq!(standings[0].compatible, Some(Version::new(4, 6, 10)));
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("4.6.10 is out"), "{problems:?}");
}

#[test]
fn a_release_that_needs_a_newer_rust_is_its_own_reason() {
    let (standings, problems) = judged(
        &[("rocket", "0.5.2")],
        vec![(
            "rocket",
            vec![release("0.5.2", None), release("0.5.4", Some("1.89"))],
        )],
        &[],
    );
    assert!(problems.is_empty(), "{problems:?}");
    let reason = standings[0].reason.as_deref().unwrap();
    assert!(
        reason.contains("0.5.4 needs Rust 1.89; the pin builds with Rust 1.88.0"),
        "{reason}"
    );
}

#[test]
fn a_newer_release_this_rust_builds_must_still_be_taken() {
    let (_, problems) = judged(
        &[("rocket", "0.5.1")],
        vec![(
            "rocket",
            vec![
                release("0.5.1", None),
                release("0.5.2", Some("1.64")),
                release("0.5.4", Some("1.89")),
            ],
        )],
        &[],
    );
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("0.5.2 is out"), "{problems:?}");
}

#[test]
fn a_written_reason_holds_a_pin_and_a_stale_one_is_a_problem() {
    let releases = || {
        vec![(
            "redis",
            vec![release("1.8.1", None), release("1.8.2", None)],
        )]
    };
    let (standings, problems) = judged(
        &[("redis", "1.8.1")],
        releases(),
        &[("redis", "waits for x")],
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(standings[0].reason.as_deref(), Some("waits for x"));

    let (_, problems) = judged(
        &[("redis", "1.8.2")],
        releases(),
        &[("redis", "waits for x")],
    );
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("remove the entry"), "{problems:?}");

    let (_, problems) = judged(
        &[("redis", "1.8.2")],
        releases(),
        &[("valkey", "not pinned")],
    );
    assert!(
        problems.iter().any(|p| p.contains("does not have")),
        "{problems:?}"
    );
}

#[test]
fn yanked_releases_prereleases_and_later_lines_hold_nothing_back() {
    let (standings, problems) = judged(
        &[("tokio-tungstenite", "0.29.0"), ("http", "1.5.0")],
        vec![
            (
                "tokio-tungstenite",
                vec![
                    release("0.29.0", None),
                    yanked("0.29.1"),
                    release("0.29.2-rc.1", None),
                    release("0.30.0", None),
                ],
            ),
            ("http", vec![release("1.5.0", None), release("2.0.0", None)]),
        ],
        &[],
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(standings[1].compatible, None);
    assert_eq!(standings[1].later_line, Some(Version::new(0, 30, 0)));
    assert_eq!(standings[0].later_line, Some(Version::new(2, 0, 0)));
}

#[test]
fn a_pin_crates_io_does_not_have_is_a_problem() {
    let (_, problems) = judged(
        &[("serde", "1.0.999")],
        vec![("serde", vec![release("1.0.229", None)])],
        &[],
    );
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("is not on crates.io"), "{problems:?}");
}

#[test]
fn build_metadata_is_ignored_and_a_pin_needing_a_newer_rust_sets_the_bar() {
    let (standings, problems) = judged(
        &[("toml", "1.2.2")],
        vec![("toml", vec![release("1.2.2+spec-1.1.0", None)])],
        &[],
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(standings[0].compatible, None);

    // rocket 0.5.2 already needs 1.89: 0.5.4, needing as much, must be
    // taken.
    let judged = judge(
        &pins(&[("rocket", "0.5.2")]),
        &index(vec![(
            "rocket",
            vec![
                release("0.5.2", Some("1.89")),
                release("0.5.4", Some("1.89")),
            ],
        )]),
        &BTreeMap::new(),
        &rust(),
    )
    .unwrap();
    assert_eq!(judged.problems.len(), 1);
    assert!(judged.problems[0].contains("0.5.4 is out"), "{judged:?}");
}
