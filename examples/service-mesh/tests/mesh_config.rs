//! The mesh's configuration files, read as a cluster would get them: the
//! Istio and Linkerd files in `k8s/` well-formed and saying what the chapter
//! says they say, and the sidecar templates in `mesh/` well-formed once
//! filled in. Each check is also shown failing on a file that lacks what
//! it looks for.

use std::path::Path;

use serde_yaml::Value;

fn read(path: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value at a path of keys (and list indexes), or what is missing.
fn at<'a>(value: &'a Value, path: &[&str]) -> Result<&'a Value, String> {
    let mut here = value;
    for key in path {
        here = match key.parse::<usize>() {
            Ok(i) => here.get(i),
            Err(_) => here.get(*key),
        }
        .ok_or_else(|| format!("no {} (after {here:?})", path.join(".")))?;
    }
    Ok(here)
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Result<&'a str, String> {
    at(value, path)?
        .as_str()
        .ok_or_else(|| format!("{} is not text", path.join(".")))
}

/// The names of the mesh config's tracing providers, each with a service
/// and a port.
fn istio_providers(mesh: &Value) -> Result<Vec<String>, String> {
    if text(mesh, &["kind"])? != "IstioOperator" {
        return Err("not an IstioOperator".into());
    }
    let providers = at(mesh, &["spec", "meshConfig", "extensionProviders"])?
        .as_sequence()
        .ok_or("extensionProviders is not a list")?;
    let mut names = Vec::new();
    for provider in providers {
        let name = text(provider, &["name"])?;
        let kind = ["opentelemetry", "zipkin"]
            .into_iter()
            .find(|k| provider.get(*k).is_some())
            .ok_or(format!(
                "provider {name} is neither opentelemetry nor zipkin"
            ))?;
        text(provider, &[kind, "service"])?;
        at(provider, &[kind, "port"])?
            .as_u64()
            .ok_or(format!("provider {name} has no numeric port"))?;
        names.push(name.to_owned());
    }
    Ok(names)
}

/// The Telemetry resource's provider, which must be one of `providers`,
/// and its sampling percentage, which must be between 0 and 100.
fn istio_telemetry(telemetry: &Value, providers: &[String]) -> Result<f64, String> {
    if text(telemetry, &["apiVersion"])? != "telemetry.istio.io/v1"
        || text(telemetry, &["kind"])? != "Telemetry"
    {
        return Err("not a telemetry.istio.io/v1 Telemetry".into());
    }
    let provider = text(
        telemetry,
        &["spec", "tracing", "0", "providers", "0", "name"],
    )?;
    if !providers.iter().any(|p| p == provider) {
        return Err(format!(
            "provider {provider} is not in the mesh config's {providers:?}"
        ));
    }
    let percent = at(
        telemetry,
        &["spec", "tracing", "0", "randomSamplingPercentage"],
    )?
    .as_f64()
    .ok_or("randomSamplingPercentage is not a number")?;
    if !(0.0..=100.0).contains(&percent) {
        return Err(format!(
            "randomSamplingPercentage {percent} is not a percentage"
        ));
    }
    Ok(percent)
}

/// Linkerd's proxy tracing: on, with a `host:port` collector.
fn linkerd_tracing(values: &Value) -> Result<String, String> {
    if at(values, &["proxy", "tracing", "enabled"])?.as_bool() != Some(true) {
        return Err("proxy.tracing.enabled is not true".into());
    }
    let endpoint = text(values, &["proxy", "tracing", "collector", "endpoint"])?;
    match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(endpoint.to_owned())
        }
        _ => Err(format!("collector endpoint {endpoint:?} is not host:port")),
    }
}

#[test]
fn istio_traces_with_a_provider_its_mesh_config_defines() {
    let providers = istio_providers(&read("k8s/istio-mesh-config.yaml")).unwrap();
    assert_eq!(providers, ["otel-tracing", "zipkin-tracing"]);
    let percent =
        istio_telemetry(&read("k8s/istio-telemetry.yaml"), &providers).unwrap();
    assert_eq!(percent, 10.0);
}

#[test]
fn linkerds_proxies_export_to_a_collector() {
    let endpoint = linkerd_tracing(&read("k8s/linkerd-values.yaml")).unwrap();
    assert!(endpoint.ends_with(":4317"), "{endpoint}");
}

#[test]
fn the_checks_refuse_files_that_lack_what_they_look_for() {
    let yaml = |s: &str| serde_yaml::from_str::<Value>(s).unwrap();
    let no_port = yaml(
        "kind: IstioOperator\nspec:\n  meshConfig:\n    extensionProviders:\n    \
         - name: otel\n      opentelemetry:\n        service: collector\n",
    );
    assert!(istio_providers(&no_port).unwrap_err().contains("port"));
    let telemetry = read("k8s/istio-telemetry.yaml");
    let unknown =
        istio_telemetry(&telemetry, &["zipkin-tracing".to_owned()]).unwrap_err();
    assert!(
        unknown.contains("otel-tracing is not in the mesh config"),
        "{unknown}"
    );
    let too_much = yaml(
        "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nspec:\n  tracing:\n  \
         - providers:\n    - name: otel\n    randomSamplingPercentage: 150\n",
    );
    let error = istio_telemetry(&too_much, &["otel".to_owned()]).unwrap_err();
    assert!(error.contains("not a percentage"), "{error}");
    let off = yaml("proxy:\n  tracing:\n    enabled: false\n");
    assert!(linkerd_tracing(&off).is_err());
    let no_port = yaml(
        "proxy:\n  tracing:\n    enabled: true\n    collector:\n      endpoint: collector\n",
    );
    assert!(
        linkerd_tracing(&no_port)
            .unwrap_err()
            .contains("not host:port")
    );
}

/// A sidecar template with its placeholders filled in as the runner fills
/// them.
fn sidecar(path: &str) -> Value {
    let template =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
            .unwrap();
    let mut filled = template;
    for (name, value) in [
        ("service", "productpage"),
        ("namespace", "default"),
        ("upstream", "reviews"),
        ("app_port", "3170"),
        ("upstream_port", "15106"),
        ("port", "15006"),
        ("outbound_port", "15001"),
        ("admin_port", "15000"),
        ("otlp_http.port", "4318"),
    ] {
        filled = filled.replace(&format!("{{{name}}}"), value);
    }
    assert!(
        !filled.contains("{service}"),
        "a placeholder left in {path}"
    );
    serde_yaml::from_str(&filled).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_sidecars_have_an_inbound_and_an_outbound_listener_and_a_tracer() {
    for (path, tracer) in [
        ("mesh/sidecar.yaml", "envoy.tracers.opentelemetry"),
        ("mesh/sidecar-b3.yaml", "envoy.tracers.zipkin"),
    ] {
        let config = sidecar(path);
        let listeners = at(&config, &["static_resources", "listeners"]).unwrap();
        for (i, (name, direction)) in
            [("inbound", "INBOUND"), ("outbound", "OUTBOUND")]
                .into_iter()
                .enumerate()
        {
            let listener = &listeners[i];
            assert_eq!(text(listener, &["name"]).unwrap(), name, "{path}");
            assert_eq!(text(listener, &["traffic_direction"]).unwrap(), direction);
            let manager = ["filter_chains", "0", "filters", "0", "typed_config"];
            let provider = [&manager[..], &["tracing", "provider", "name"]].concat();
            assert_eq!(text(listener, &provider).unwrap(), tracer, "{path} {name}");
        }
        assert_eq!(
            text(&config, &["node", "cluster"]).unwrap(),
            "productpage.default"
        );
    }
}
