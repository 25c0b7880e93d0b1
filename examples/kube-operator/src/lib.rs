//! A Kubernetes operator with kube-rs: a `Website` custom resource becomes a
//! Deployment and a Service. Every reconcile is a trace: a span with the
//! object's kind, namespace, name and generation, a child span per API call
//! (carrying `traceparent` to the API server), the trace id in the logs and
//! in the object's status, and reconcile metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSpec, PodTemplateSpec, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, CustomResource, Resource, ResourceExt};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::TraceContextExt as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub mod api_spans;
pub mod http;
pub mod server;
pub mod telemetry;

/// Field manager for server-side apply, and the events' reporter.
pub const MANAGER: &str = "website-operator";
/// The finalizer: the operator sees every deletion before it completes.
pub const FINALIZER: &str = "websites.book.example.com/cleanup";
/// How often a healthy Website is looked at again, with no change.
pub const RESYNC: Duration = Duration::from_secs(300);
/// The most replicas a Website may ask for.
pub const MAX_REPLICAS: i32 = 10;

// ANCHOR: crd
/// A static website: an image that serves it, and how many copies.
#[derive(
    CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema,
)]
#[kube(
    group = "book.example.com",
    version = "v1",
    kind = "Website",
    namespaced,
    status = "WebsiteStatus",
    shortname = "ws",
    printcolumn = r#"{"name":"Pods","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Trace","type":"string","jsonPath":".status.traceId"}"#
)]
pub struct WebsiteSpec {
    /// The image that serves the site on `port`.
    pub image: String,
    /// Pods to run, 0 to 10.
    pub replicas: i32,
    #[serde(default = "default_port")]
    pub port: i32,
}

/// What the operator last did, for `kubectl get websites`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebsiteStatus {
    /// `Ready`, or `Invalid` with a message.
    pub phase: String,
    pub message: Option<String>,
    /// The generation this status describes.
    pub observed_generation: Option<i64>,
    /// The trace of the reconcile that wrote this status.
    pub trace_id: Option<String>,
}
// ANCHOR_END: crd

fn default_port() -> i32 {
    8080
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    #[error("the object has no {0}")]
    Missing(&'static str),
}

impl Error {
    /// A low-cardinality `error.type`: `api_<status code>`, `kube`,
    /// `finalizer` or `missing_field`.
    pub fn error_type(&self) -> String {
        match self {
            Error::Kube(e) => kube_error_type(e),
            Error::Finalizer(inner) => match &**inner {
                finalizer::Error::ApplyFailed(e)
                | finalizer::Error::CleanupFailed(e) => e.error_type(),
                finalizer::Error::AddFinalizer(e)
                | finalizer::Error::RemoveFinalizer(e) => kube_error_type(e),
                _ => "finalizer".into(),
            },
            Error::Missing(_) => "missing_field".into(),
        }
    }
}

fn kube_error_type(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("api_{}", status.code),
        _ => "kube".into(),
    }
}

/// The reconcile metrics.
#[derive(Clone)]
pub struct Metrics {
    reconciles: Counter<u64>,
    errors: Counter<u64>,
    duration: Histogram<f64>,
}

impl Metrics {
    pub fn new(meter: &Meter) -> Self {
        Metrics {
            reconciles: meter
                .u64_counter("operator.reconciles")
                .with_description("Reconciles run, by result")
                .build(),
            errors: meter
                .u64_counter("operator.reconcile.errors")
                .with_description("Reconciles that failed, by error type")
                .build(),
            duration: meter
                .f64_histogram("operator.reconcile.duration")
                .with_unit("s")
                .with_description("Time from the start to the end of a reconcile")
                .build(),
        }
    }
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    /// Failures in a row, per object: the error policy's backoff.
    failures: Mutex<HashMap<ObjectRef<Website>, u32>>,
}

impl Context {
    pub fn new(client: Client, meter: &Meter) -> Arc<Self> {
        let recorder = Recorder::new(client.clone(), MANAGER.into());
        Arc::new(Context {
            client,
            recorder,
            metrics: Metrics::new(meter),
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// 1 s, 2 s, 4 s ... up to 5 minutes: the wait after the nth failure.
    fn backoff(&self, object: ObjectRef<Website>) -> Duration {
        let mut failures =
            self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let n = failures.entry(object).or_default();
        *n += 1;
        Duration::from_secs(1u64 << (*n - 1).min(8)).min(RESYNC)
    }

    fn succeeded(&self, object: &ObjectRef<Website>) {
        let mut failures =
            self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.remove(object);
    }
}

// ANCHOR: reconcile
/// One reconcile of one Website, as one trace.
#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(
        otel.kind = "internal",
        otel.status_code = Empty,
        kube.kind = "Website",
        k8s.namespace.name = website.namespace(),
        kube.name = website.name_any(),
        kube.generation = website.meta().generation,
        error.type = Empty,
    )
)]
pub async fn reconcile(
    website: Arc<Website>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let object = ObjectRef::from_obj(&*website);
    let namespace = website.namespace().ok_or(Error::Missing("namespace"))?;
    let api: Api<Website> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, website, |event| async {
        match event {
            finalizer::Event::Apply(website) => apply(&website, &ctx).await,
            finalizer::Event::Cleanup(website) => cleanup(&website, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));

    let outcome = match &result {
        Ok(_) => {
            ctx.succeeded(&object);
            "ok"
        }
        Err(error) => {
            let span = tracing::Span::current();
            span.record("otel.status_code", "ERROR");
            span.record("error.type", error.error_type());
            "error"
        }
    };
    let attributes = [
        KeyValue::new("kube.kind", "Website"),
        KeyValue::new("result", outcome),
    ];
    ctx.metrics.reconciles.add(1, &attributes);
    ctx.metrics
        .duration
        .record(started.elapsed().as_secs_f64(), &attributes);
    result
}
// ANCHOR_END: reconcile

// ANCHOR: error_policy
/// After a failed reconcile: count it, log it, and try again later, waiting
/// twice as long after each failure in a row.
pub fn error_policy(
    website: Arc<Website>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let error_type = error.error_type();
    ctx.metrics.errors.add(
        1,
        &[
            KeyValue::new("kube.kind", "Website"),
            KeyValue::new("error.type", error_type.clone()),
        ],
    );
    let wait = ctx.backoff(ObjectRef::from_obj(&*website));
    tracing::warn!(
        name = website.name_any(),
        error.type = error_type,
        retry_in_s = wait.as_secs(),
        "reconcile failed: {error}"
    );
    Action::requeue(wait)
}
// ANCHOR_END: error_policy

/// Why a spec cannot be applied, if it cannot.
pub fn validate(spec: &WebsiteSpec) -> Result<(), String> {
    if spec.image.trim().is_empty() {
        return Err("spec.image is empty".into());
    }
    if !(0..=MAX_REPLICAS).contains(&spec.replicas) {
        return Err(format!(
            "spec.replicas is {}; it must be 0 to {MAX_REPLICAS}",
            spec.replicas
        ));
    }
    if !(1..=65535).contains(&spec.port) {
        return Err(format!("spec.port is {}; it must be 1 to 65535", spec.port));
    }
    Ok(())
}

// ANCHOR: apply
/// Makes the Deployment and the Service match the Website, then says so in
/// its status (with this trace's id) and, on a new generation, in an event.
async fn apply(website: &Website, ctx: &Context) -> Result<Action, Error> {
    let namespace = website.namespace().ok_or(Error::Missing("namespace"))?;
    let name = website.name_any();
    let generation = website.meta().generation;
    let first_time_for_generation = website
        .status
        .as_ref()
        .is_none_or(|s| s.observed_generation != generation);

    if let Err(message) = validate(&website.spec) {
        tracing::warn!(reason = %message, "invalid Website");
        set_status(ctx, website, "Invalid", Some(message.clone())).await?;
        if first_time_for_generation {
            publish(ctx, website, EventType::Warning, "Invalid", message).await?;
        }
        // Nothing will change until the spec does.
        return Ok(Action::await_change());
    }

    let params = PatchParams::apply(MANAGER).force();
    let deployments: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &namespace);
    deployments
        .patch(&name, &params, &Patch::Apply(deployment(website)?))
        .await?;
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    services
        .patch(&name, &params, &Patch::Apply(service(website)?))
        .await?;

    set_status(ctx, website, "Ready", None).await?;
    if first_time_for_generation {
        let note = format!("Deployment and Service {name} applied");
        publish(ctx, website, EventType::Normal, "Reconciled", note).await?;
    }
    tracing::info!(replicas = website.spec.replicas, "website reconciled");
    Ok(Action::requeue(RESYNC))
}
// ANCHOR_END: apply

/// Before the Website goes: its Deployment and Service go with it (their
/// owner reference tells the garbage collector), so there is only an event.
async fn cleanup(website: &Website, ctx: &Context) -> Result<Action, Error> {
    let note = format!(
        "{} deleted; its Deployment and Service follow",
        website.name_any()
    );
    publish(ctx, website, EventType::Normal, "Deleted", note).await?;
    tracing::info!("website cleaned up");
    Ok(Action::await_change())
}

// ANCHOR: status
/// Patches the status subresource, with the current trace's id in it, if
/// anything but the trace id would change. Writing on every reconcile would
/// loop: each write is a change, and each change a reconcile.
async fn set_status(
    ctx: &Context,
    website: &Website,
    phase: &str,
    message: Option<String>,
) -> Result<(), Error> {
    let namespace = website.namespace().ok_or(Error::Missing("namespace"))?;
    let mut status = WebsiteStatus {
        phase: phase.into(),
        message,
        observed_generation: website.meta().generation,
        trace_id: None,
    };
    let current = website.status.clone().map(|s| WebsiteStatus {
        trace_id: None,
        ..s
    });
    if current.as_ref() == Some(&status) {
        return Ok(());
    }
    // The trace of the reconcile that last changed something.
    status.trace_id = current_trace_id();
    let api: Api<Website> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({ "status": status });
    api.patch_status(
        &website.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// The trace id of the current span, as backends print it.
pub fn current_trace_id() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
// ANCHOR_END: status

async fn publish(
    ctx: &Context,
    website: &Website,
    type_: EventType,
    reason: &str,
    note: String,
) -> Result<(), Error> {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    ctx.recorder
        .publish(&event, &website.object_ref(&()))
        .await?;
    Ok(())
}

fn labels(website: &Website) -> std::collections::BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name".to_owned(), website.name_any()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGER.to_owned(),
        ),
    ]
    .into()
}

/// The children's metadata: same name and namespace, owned by the Website.
fn child_meta(website: &Website) -> Result<ObjectMeta, Error> {
    let owner = website
        .controller_owner_ref(&())
        .ok_or(Error::Missing("uid"))?;
    Ok(ObjectMeta {
        name: Some(website.name_any()),
        namespace: website.namespace(),
        labels: Some(labels(website)),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    })
}

/// The Deployment a Website becomes.
pub fn deployment(website: &Website) -> Result<Deployment, Error> {
    let labels = labels(website);
    Ok(Deployment {
        metadata: child_meta(website)?,
        spec: Some(DeploymentSpec {
            replicas: Some(website.spec.replicas),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "site".into(),
                        image: Some(website.spec.image.clone()),
                        ports: Some(vec![ContainerPort {
                            container_port: website.spec.port,
                            ..ContainerPort::default()
                        }]),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}

/// The Service in front of the Deployment.
pub fn service(website: &Website) -> Result<Service, Error> {
    Ok(Service {
        metadata: child_meta(website)?,
        spec: Some(ServiceSpec {
            selector: Some(labels(website)),
            ports: Some(vec![ServicePort {
                port: 80,
                target_port: Some(IntOrString::Int(website.spec.port)),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}
