//! The schema's own checks, on scenarios that must fail to load.

use super::*;

const MINIMAL: &str = r#"
    [[process]]
    name = "app"
    bin = "example-app"
    [expect]
    services = ["app"]
"#;

fn error(text: &str) -> String {
    format!("{:#}", parse(text).unwrap_err())
}

#[test]
fn a_minimal_scenario_loads_with_its_defaults() {
    let scenario = parse(MINIMAL).unwrap();
    assert_eq!(scenario.protocols, vec![Protocol::HttpProtobuf]);
    assert!(scenario.needs.is_empty() && scenario.traffic.is_empty());
}

#[test]
fn a_typo_in_a_closed_set_is_an_error_with_line_and_key() {
    let text =
        format!("{MINIMAL}\n[[expect.span]]\nname = \"GET /\"\nkind = \"sever\"\n");
    let message = error(&text);
    assert!(message.contains("unknown variant `sever`"), "{message}");
    assert!(message.contains("line 10"), "{message}");
    assert!(message.contains("kind"), "{message}");
    for (table, key, bad) in [
        ("span", "name = \"x\"\nstatus", "fine"),
        ("log", "body = \"x\"\nseverity", "LOUD"),
        ("metric", "name = \"x\"\nkind", "counter"),
        ("request", "signal", "spans"),
    ] {
        let text = format!("{MINIMAL}\n[[expect.{table}]]\n{key} = \"{bad}\"\n");
        let message = error(&text);
        assert!(
            message.contains(&format!("unknown variant `{bad}`")),
            "{message}"
        );
    }
    let message = error(&format!("needs = [\"memcached\"]\n{MINIMAL}"));
    assert!(message.contains("unknown variant `memcached`"), "{message}");
    let message = error(&format!("protocols = [\"http\"]\n{MINIMAL}"));
    assert!(message.contains("unknown variant `http`"), "{message}");
}

#[test]
fn unknown_keys_are_refused() {
    let message = error(&MINIMAL.replace("bin =", "binary = \"x\"\nbin ="));
    assert!(message.contains("unknown field `binary`"), "{message}");
}

#[test]
fn an_undefined_placeholder_is_an_error_that_lists_the_known_ones() {
    let text = MINIMAL.replace(
        "bin = \"example-app\"",
        "bin = \"example-app\"\nenv = { DATABASE_URL = \"{database_url}\" }",
    );
    let message = error(&text);
    assert!(
        message.contains("{database_url}, which nothing defines"),
        "{message}"
    );
    assert!(message.contains("{otlp_http}"), "{message}");
    // With the need that defines it, it loads.
    parse(&format!("needs = [\"postgres\"]\n{text}")).unwrap();
}

#[test]
fn a_url_placeholder_must_name_an_earlier_process() {
    let two = r#"
        [[process]]
        name = "api"
        bin = "a"
        env = { PEER = "{web.url}" }
        [[process]]
        name = "web"
        bin = "w"
        env = { API = "{api.url}", BODY = '{"json": 1}' }
        [expect]
        services = ["api"]
    "#;
    let message = error(two);
    assert!(
        message.contains("{web.url}, which nothing defines"),
        "{message}"
    );
    parse(&two.replace("{web.url}", "{dir}")).unwrap();
}

#[test]
fn browser_steps_have_exactly_one_action() {
    let with = |step: &str| {
        format!("needs = [\"browser\"]\n{MINIMAL}\n[[browser]]\n{step}\n")
    };
    let scenario = parse(&with("fill = \"#name\"\ntext = \"Ada\"")).unwrap();
    assert_eq!(
        scenario.browser,
        vec![BrowserStep::Fill {
            css: "#name".into(),
            text: "Ada".into()
        }]
    );
    for (step, wanted) in [
        ("open = \"/\"\nclick = \"#b\"", "exactly one of"),
        ("fill = \"#name\"", "need a `text`"),
        ("click = \"#b\"\ntext = \"x\"", "`text` goes with"),
        ("click = \"#b\"\nto = \"app\"", "`to` goes with `open` only"),
        (
            "open = \"/\"\nto = \"nobody\"",
            "no serving [[process]] has that name",
        ),
    ] {
        let message = error(&with(step));
        assert!(message.contains(wanted), "{step}: {message}");
    }
    let message = error(&format!("{MINIMAL}\n[[browser]]\nclick = \"#b\"\n"));
    assert!(
        message.contains("need `needs = [\"browser\"]`"),
        "{message}"
    );
}

#[test]
fn a_desktop_app_is_one_bin_whose_window_the_steps_drive() {
    let desktop = MINIMAL.replace("bin = ", "desktop = true\nbin = ");
    let with = |needs: &str, process: &str, step: &str| {
        format!("needs = [{needs}]\n{process}\n[[browser]]\n{step}\n")
    };
    let scenario = parse(&with(
        "\"desktop\"",
        &desktop,
        "screenshot = \"window.png\"",
    ))
    .unwrap();
    assert_eq!(
        scenario.process[0].kind,
        Kind::Desktop {
            bin: "example-app".into()
        }
    );
    assert_eq!(
        scenario.browser,
        vec![BrowserStep::Screenshot {
            file: "window.png".into()
        }]
    );
    for (needs, process, step, wanted) in [
        ("", desktop.as_str(), "click = \"#b\"", "go together"),
        ("\"desktop\"", MINIMAL, "click = \"#b\"", "go together"),
        (
            "\"desktop\", \"browser\"",
            desktop.as_str(),
            "click = \"#b\"",
            "not both",
        ),
        (
            "\"desktop\"",
            desktop.as_str(),
            "open = \"/\"",
            "`open` is for pages",
        ),
        (
            "\"browser\"",
            MINIMAL,
            "screenshot = \"a.png\"",
            "`screenshot` for a desktop",
        ),
        (
            "\"desktop\"",
            desktop.as_str(),
            "screenshot = \"../a.png\"",
            "without a directory",
        ),
        (
            "\"desktop\"",
            desktop.as_str(),
            "screenshot = \"a.jpg\"",
            "ending in .png",
        ),
    ] {
        let message = error(&with(needs, process, step));
        assert!(message.contains(wanted), "{needs} {step}: {message}");
    }
    let job = desktop.replace("desktop = true", "desktop = true\nuntil_exit = true");
    let message = error(&with("\"desktop\"", &job, "click = \"#b\""));
    assert!(message.contains("it is no job"), "{message}");
    let two = "[[process]]\nname = \"app\"\ndesktop = true\nbin = \"example-app\"\n\
               [[process]]\nname = \"other\"\ndesktop = true\nbin = \"example-other\"\n\
               [expect]\nservices = [\"app\"]";
    let message = error(&with("\"desktop\"", two, "click = \"#b\""));
    assert!(
        message.contains("one desktop app per scenario"),
        "{message}"
    );
}

#[test]
fn references_to_processes_must_resolve() {
    for (extra, wanted) in [
        (
            "[[traffic]]\nto = \"nobody\"\npath = \"/\"\nstatus = 200",
            "[[traffic]] to",
        ),
        (
            "[[expect.json_log]]\nprocess = \"nobody\"",
            "[[expect.json_log]] reads",
        ),
        (
            "[[expect.console]]\nprocess = \"nobody\"\ncontains = \"x\"",
            "[[expect.console]] reads",
        ),
        (
            "[[expect.dogstatsd]]\nname = \"a\"\ntype = \"c\"",
            "needs `needs = [\"datadog-agent\"]`",
        ),
        (
            "[[expect.promql]]\nquery = \"up\"",
            "needs a [prometheus] section",
        ),
    ] {
        let message = error(&format!("{MINIMAL}\n{extra}\n"));
        assert!(message.contains(wanted), "{extra}: {message}");
    }
}

#[test]
fn placeholders_are_names_in_braces_and_json_is_not() {
    assert_eq!(placeholders("{a.url}/x?{dir}"), vec!["a.url", "dir"]);
    assert!(placeholders(r#"{"query": "{ cart }"}"#).is_empty());
}

#[test]
fn a_job_has_no_address_to_send_to_or_name() {
    let with_job = r#"
        [[process]]
        name = "migrate"
        bin = "m"
        until_exit = true
        [[process]]
        name = "app"
        bin = "a"
        env = { MIGRATED_BY = "{migrate.url}" }
        [expect]
        services = ["app"]
    "#;
    let message = error(with_job);
    assert!(
        message.contains("{migrate.url}, which nothing defines"),
        "{message}"
    );
    let traffic = with_job.replace("{migrate.url}", "x")
        + "[[traffic]]\nto = \"migrate\"\npath = \"/\"\nstatus = 200\n";
    let message = error(&traffic);
    assert!(message.contains("no serving [[process]]"), "{message}");
}

#[test]
fn only_a_job_says_how_it_exits() {
    let job = |extra: &str| {
        format!(
            "[[process]]\nname = \"crash\"\nbin = \"c\"\n{extra}\n\
             [expect]\nservices = [\"c\"]"
        )
    };
    let kind = |extra: &str| parse(&job(extra)).unwrap().process.remove(0).kind;
    assert_eq!(
        kind("until_exit = true"),
        Kind::Job {
            bin: "c".into(),
            exit_code: 0
        }
    );
    assert_eq!(
        kind("until_exit = true\nexit_code = 101"),
        Kind::Job {
            bin: "c".into(),
            exit_code: 101
        }
    );
    let message = error(&job("exit_code = 101"));
    assert!(message.contains("exit_code is a job's"), "{message}");
    // What a job printed is read as a server's is.
    let console = "[[expect.console]]\nprocess = \"crash\"\ncontains = \"panicked\"";
    let read = format!("{}\n{console}", job("until_exit = true"));
    assert!(parse(&read).is_ok(), "{}", error(&read));
}

#[test]
fn own_attributes_are_namespaces_or_names() {
    let with = |own: &str| format!("own_attributes = [{own}]\n{MINIMAL}");
    let scenario = parse(&with("\"gateway.*\", \"app.greeting.size\"")).unwrap();
    assert_eq!(scenario.own_attributes, ["gateway.*", "app.greeting.size"]);
    for bad in ["\"*\"", "\"gate*\"", "\".*\""] {
        let message = error(&with(bad));
        assert!(
            message.contains("is neither a namespace"),
            "{bad}: {message}"
        );
    }
}

#[test]
fn a_remote_parent_is_two_hex_ids_and_excludes_parent() {
    let with = |span: &str| {
        format!("{MINIMAL}    [[expect.span]]\n    name = \"job\"\n{span}")
    };
    let good = "    remote_parent = { trace_id = \"4bf92f3577b34da6a3ce929d0e0e4736\", span_id = \"00f067aa0ba902b7\" }\n";
    assert!(parse(&with(good)).is_ok());
    let short = "    remote_parent = { trace_id = \"4bf92f35\", span_id = \"00f067aa0ba902b7\" }\n";
    assert!(error(&with(short)).contains("32 and a span_id of 16"));
    let both = format!("{good}    parent = \"\"\n");
    assert!(error(&with(&both)).contains("not both"));
}

const WITH_ENVOY: &str = r#"
    needs = ["envoy"]
    third_party = ["facade"]
    [[process]]
    name = "app"
    bin = "example-app"
    [[process]]
    name = "facade"
    envoy = "envoy.yaml"
    [[traffic]]
    to = "facade.admin"
    method = "POST"
    path = "/runtime_modify?x=1"
    status = 200
    [expect]
    services = ["app", "facade"]
"#;

#[test]
fn an_envoy_process_needs_envoy_and_takes_no_env() {
    parse(WITH_ENVOY).unwrap();
    let message = error(&WITH_ENVOY.replace("needs = [\"envoy\"]", ""));
    assert!(
        message.contains("it needs `needs = [\"envoy\"]`"),
        "{message}"
    );
    let message = error(&WITH_ENVOY.replace(
        "envoy = \"envoy.yaml\"",
        "envoy = \"envoy.yaml\"\nenv = { A = \"1\" }",
    ));
    assert!(message.contains("it takes no env"), "{message}");
    let message = error(&WITH_ENVOY.replace(
        "envoy = \"envoy.yaml\"",
        "envoy = \"envoy.yaml\"\nbin = \"x\"",
    ));
    assert!(message.contains("exactly one of bin, envoy"), "{message}");
    let message = error(&WITH_ENVOY.replace("envoy = \"envoy.yaml\"", ""));
    assert!(message.contains("exactly one of bin, envoy"), "{message}");
}

#[test]
fn only_an_envoy_has_an_admin_interface_and_third_parties_are_expected() {
    let message = error(&WITH_ENVOY.replace("facade.admin", "app.admin"));
    assert!(
        message.contains("[[traffic]] to \"app.admin\""),
        "{message}"
    );
    let message = error(
        &WITH_ENVOY
            .replace("third_party = [\"facade\"]", "third_party = [\"proxy\"]"),
    );
    assert!(message.contains("third_party names \"proxy\""), "{message}");
}

#[test]
fn an_envoy_configuration_may_use_only_what_is_defined_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = parse(WITH_ENVOY).unwrap();
    let check = |config: &str| {
        std::fs::write(dir.path().join("envoy.yaml"), config).unwrap();
        placeholders::check_envoy_configs(&scenario, dir.path())
    };
    check(
        "admin: { port_value: {admin_port} }\nx: {port}\ny: {app.port}\n\
         z: \"http://127.0.0.1:{otlp_http.port}\"\nflow: { a: 1 }\nempty: {}\n",
    )
    .unwrap();
    let message = format!("{:#}", check("a: 1\nb: {app.prot}\n").unwrap_err());
    assert!(
        message.contains("envoy.yaml:2: {app.prot} is defined nowhere"),
        "{message}"
    );
    assert!(message.contains("{app.port}"), "{message}");
    // Its own addresses are known (Envoys' ports are chosen first); a
    // port it does not have is not.
    check("b: {facade.port}\nc: {facade.url}\n").unwrap();
    let message = format!("{:#}", check("b: {outbound_port}\n").unwrap_err());
    assert!(
        message.contains("{outbound_port} is defined nowhere"),
        "{message}"
    );
    std::fs::remove_file(dir.path().join("envoy.yaml")).unwrap();
    let message = format!(
        "{:#}",
        placeholders::check_envoy_configs(&scenario, dir.path()).unwrap_err()
    );
    assert!(
        message.contains("cannot read its Envoy configuration"),
        "{message}"
    );
}

#[test]
fn an_envoys_ports_and_vars_are_known_where_they_should_be() {
    let sidecars = r#"
        needs = ["envoy"]
        [[process]]
        name = "app"
        bin = "example-app"
        env = { PEER = "{sidecar.outbound.url}", SELF = "{sidecar.url}" }
        [[process]]
        name = "sidecar"
        envoy = "sidecar.yaml"
        ports = ["outbound"]
        vars = { service = "app", app_port = "{app.port}" }
        [expect]
        services = ["app"]
    "#;
    let scenario = parse(sidecars).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sidecar.yaml"),
        "a: {outbound_port}\nb: {service}\nc: {app_port}\nd: {port}\n",
    )
    .unwrap();
    placeholders::check_envoy_configs(&scenario, dir.path()).unwrap();
    // A var's value may only use what the process may.
    let message = error(&sidecars.replace("{app.port}", "{later.port}"));
    assert!(
        message.contains("vars app_port uses {later.port}"),
        "{message}"
    );
    // A port the Envoy does not declare is unknown to the others.
    let message =
        error(&sidecars.replace("{sidecar.outbound.url}", "{sidecar.inbound.url}"));
    assert!(
        message.contains("{sidecar.inbound.url}, which nothing defines"),
        "{message}"
    );
    // Ports and vars belong to Envoys, and ports have plain names.
    let message = error(&sidecars.replace(
        "bin = \"example-app\"",
        "bin = \"example-app\"\nports = [\"x\"]",
    ));
    assert!(
        message.contains("ports and vars are an Envoy's"),
        "{message}"
    );
    let message = error(&sidecars.replace("[\"outbound\"]", "[\"admin\"]"));
    assert!(
        message.contains("ports are names of lower-case letters"),
        "{message}"
    );
}

#[test]
fn tls_expectations_need_the_tls_listeners_and_no_tier() {
    let secured = format!(
        "{MINIMAL}\n[[expect.request]]\nsignal = \"traces\"\nsecurity = \"mtls\"\n"
    );
    assert!(error(&secured).contains("needs `needs = [\"tls\"]`"));
    let plain = secured.replace("\"mtls\"", "\"plaintext\"");
    parse(&plain).unwrap();
    let with_tls = format!("needs = [\"tls\"]\n{secured}");
    let scenario = parse(&with_tls).unwrap();
    assert!(scenario.needs(Need::Tls));
    let endpoint = with_tls.replace(
        "bin = \"example-app\"",
        "bin = \"example-app\"\nenv = { OTEL_EXPORTER_OTLP_ENDPOINT = \"{otlp_mtls}\", \
         OTEL_EXPORTER_OTLP_CERTIFICATE = \"{tls.ca}\" }",
    );
    parse(&endpoint).unwrap();
    let unknown = endpoint.replace("needs = [\"tls\"]\n", "");
    assert!(
        error(&unknown).contains("nothing defines"),
        "{}",
        error(&unknown)
    );
    let tiered = format!("through = [\"rotel\"]\n{with_tls}");
    assert!(
        error(&tiered).contains("do not go together"),
        "{}",
        error(&tiered)
    );
}

#[test]
fn a_lambda_function_needs_the_emulator_and_only_it_may_be_frozen() {
    let function = r#"
    needs = ["lambda"]
    [[process]]
    name = "fn"
    bin = "example-fn"
    lambda = true
    [[traffic]]
    path = "/2015-03-31/functions/example-fn/invocations"
    method = "POST"
    status = 200
    freeze = true
    [expect]
    services = ["fn"]
"#;
    let scenario = parse(function).unwrap();
    assert!(matches!(scenario.process[0].kind, Kind::Function { .. }));
    assert!(scenario.process[0].serves());
    let without = function.replace("needs = [\"lambda\"]", "");
    assert!(
        error(&without).contains("go together"),
        "{}",
        error(&without)
    );
    let server = function.replace("lambda = true", "");
    let message = error(&server.replace("needs = [\"lambda\"]", ""));
    assert!(
        message.contains("`freeze` is for a Lambda function"),
        "{message}"
    );
    let job =
        function.replace("lambda = true", "lambda = true\n    until_exit = true");
    assert!(error(&job).contains("it is no job"), "{}", error(&job));
}
