//! An in-memory Kubernetes API server, enough for this operator: list and
//! watch, get, create, patch (JSON, merge, and server-side apply treated as a
//! merge), delete with finalizers and owner-reference garbage collection, and
//! the status subresource. It traces every request, as a real API server with
//! tracing enabled does, so the operator's calls continue into it.
//!
//! `cargo run -p example-kube-operator --bin mock-apiserver`, then run the
//! operator with `KUBE_API_URL=http://127.0.0.1:8001` and create a Website:
//! `curl -XPOST -H 'content-type: application/json' -d @website.json
//! localhost:8001/apis/book.example.com/v1/namespaces/default/websites`.
//! Not a Kubernetes: no validation, no field ownership, no admission.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use example_kube_operator::{http, server};
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

const SERVICE_NAME: &str = "kube-apiserver";
const DEFAULT_PORT: u16 = 8001;

#[tokio::main]
async fn main() -> ExitCode {
    let served = server::serve(SERVICE_NAME, DEFAULT_PORT, |meter, _addr| {
        http::instrument(router(), meter)
    });
    server::exit_code(served.await)
}

/// A change, as a watch sends it.
#[derive(Clone, Debug)]
struct Change {
    rv: u64,
    collection: String,
    namespace: String,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct Store {
    last_rv: u64,
    /// (collection, namespace, name) → object.
    objects: BTreeMap<(String, String, String), Value>,
    /// Every change, for watches that start from an older version.
    log: Vec<Change>,
    status_patches: u64,
}

#[derive(Clone)]
struct Api {
    store: Arc<Mutex<Store>>,
    changes: broadcast::Sender<Change>,
    /// Flips to true on SIGTERM: open watches end, so shutdown is prompt.
    stopping: watch::Receiver<bool>,
}

fn router() -> Router {
    let (changes, _) = broadcast::channel(4096);
    let (stop, stopping) = watch::channel(false);
    tokio::spawn(async move {
        server::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let api = Api {
        store: Arc::default(),
        changes,
        stopping,
    };
    let core = "/api/{version}";
    let group = "/apis/{group}/{version}";
    let mut router = Router::new()
        .route("/version", get(version))
        .route("/mock/stats", get(stats));
    for prefix in [core, group] {
        router = router
            .route(&format!("{prefix}/{{plural}}"), get(list_or_watch))
            .route(
                &format!("{prefix}/namespaces/{{namespace}}/{{plural}}"),
                get(list_or_watch).post(create),
            )
            .route(
                &format!("{prefix}/namespaces/{{namespace}}/{{plural}}/{{name}}"),
                get(read).patch(patch).delete(delete),
            )
            .route(
                &format!(
                    "{prefix}/namespaces/{{namespace}}/{{plural}}/{{name}}/status"
                ),
                get(read).patch(patch_status),
            );
    }
    router.with_state(api)
}

/// The path's parts: group ("" for the core group), version, namespace
/// (None: all), plural, name.
struct Target {
    collection: String,
    namespace: Option<String>,
    name: Option<String>,
}

impl Target {
    fn from(params: &HashMap<String, String>) -> Target {
        let group = params.get("group").cloned().unwrap_or_default();
        let version = params.get("version").cloned().unwrap_or_default();
        let plural = params.get("plural").cloned().unwrap_or_default();
        Target {
            collection: format!("{group}/{version}/{plural}"),
            namespace: params.get("namespace").cloned(),
            name: params.get("name").cloned(),
        }
    }

    fn key(&self) -> (String, String, String) {
        (
            self.collection.clone(),
            self.namespace.clone().unwrap_or_default(),
            self.name.clone().unwrap_or_default(),
        )
    }
}

/// A `Status` failure, as the API server sends it.
fn failure(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason,
        "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl Store {
    fn record(
        &mut self,
        changes: &broadcast::Sender<Change>,
        kind: &'static str,
        key: &(String, String, String),
        mut object: Value,
    ) -> Value {
        self.last_rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.last_rv.to_string());
        let change = Change {
            rv: self.last_rv,
            collection: key.0.clone(),
            namespace: key.1.clone(),
            kind,
            object: object.clone(),
        };
        if kind == "DELETED" {
            self.objects.remove(key);
        } else {
            self.objects.insert(key.clone(), object.clone());
        }
        self.log.push(change.clone());
        let _ = changes.send(change);
        object
    }

    /// Removes an object whose finalizers are gone, and what it owns.
    fn remove(
        &mut self,
        changes: &broadcast::Sender<Change>,
        key: &(String, String, String),
    ) {
        let Some(object) = self.objects.get(key).cloned() else {
            return;
        };
        self.record(changes, "DELETED", key, object.clone());
        let uid = object["metadata"]["uid"].clone();
        let owned: Vec<_> = self
            .objects
            .iter()
            .filter(|(_, o)| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in owned {
            self.remove(changes, &key);
        }
    }
}

async fn version() -> axum::Json<Value> {
    axum::Json(json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-mock",
        "platform": "linux/amd64",
    }))
}

async fn stats(State(api): State<Api>) -> axum::Json<Value> {
    let store = api.store.lock().unwrap_or_else(PoisonError::into_inner);
    axum::Json(json!({
        "objects": store.objects.len(),
        "changes": store.log.len(),
        "status_patches": store.status_patches,
    }))
}

async fn list_or_watch(
    State(api): State<Api>,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let target = Target::from(&params);
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    if watching {
        let since = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let timeout = query
            .get("timeoutSeconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(290);
        return watch_stream(api, target, since, Duration::from_secs(timeout));
    }
    let store = api.store.lock().unwrap_or_else(PoisonError::into_inner);
    let items: Vec<&Value> = store
        .objects
        .iter()
        .filter(|((c, ns, _), _)| {
            *c == target.collection
                && target.namespace.as_ref().is_none_or(|n| n == ns)
        })
        .map(|(_, o)| o)
        .collect();
    axum::Json(json!({
        "kind": "List", "apiVersion": "v1",
        "metadata": { "resourceVersion": store.last_rv.to_string() },
        "items": items,
    }))
    .into_response()
}

/// Changes after `since`, then live ones, one JSON line each, until the
/// timeout or shutdown.
fn watch_stream(
    api: Api,
    target: Target,
    since: u64,
    timeout: Duration,
) -> Response {
    let mut live = api.changes.subscribe();
    let past: Vec<Change> = {
        let store = api.store.lock().unwrap_or_else(PoisonError::into_inner);
        store.log.iter().filter(|c| c.rv > since).cloned().collect()
    };
    let matches = move |c: &Change| {
        c.collection == target.collection
            && target.namespace.as_ref().is_none_or(|n| *n == c.namespace)
    };
    let mut stopping = api.stopping.clone();
    let (lines, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut last = since;
        for change in past.iter().filter(|c| matches(c)) {
            last = change.rv;
            if lines.send(line(change)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            let change = tokio::select! {
                received = live.recv() => match received {
                    Ok(change) => change,
                    // Too far behind: end the watch; the client relists.
                    Err(_) => return,
                },
                _ = &mut deadline => return,
                _ = stopping.wait_for(|s| *s) => return,
            };
            if change.rv > last && matches(&change) {
                last = change.rv;
                if lines.send(line(&change)).await.is_err() {
                    return;
                }
            }
        }
    });
    let stream = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(
            stream.map(Ok::<_, std::convert::Infallible>),
        ))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn line(change: &Change) -> Bytes {
    let mut text =
        json!({ "type": change.kind, "object": change.object }).to_string();
    text.push('\n');
    Bytes::from(text)
}

async fn read(
    State(api): State<Api>,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let target = Target::from(&params);
    let store = api.store.lock().unwrap_or_else(PoisonError::into_inner);
    match store.objects.get(&target.key()) {
        Some(object) => axum::Json(object.clone()).into_response(),
        None => not_found(&target),
    }
}

fn not_found(target: &Target) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "{} {:?} not found",
            target.collection,
            target.name.clone().unwrap_or_default()
        ),
    )
}

async fn create(
    State(api): State<Api>,
    Path(params): Path<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut target = Target::from(&params);
    let mut object: Value = match serde_json::from_slice(&body) {
        Ok(object) => object,
        Err(e) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("body: {e}"),
            );
        }
    };
    let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
        return failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.name is required".into(),
        );
    };
    target.name = Some(name);
    let mut store = api.store.lock().unwrap_or_else(PoisonError::into_inner);
    if store.objects.contains_key(&target.key()) {
        return failure(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{:?} already exists", target.name),
        );
    }
    initialise(&mut object, &target, store.last_rv + 1);
    let object = store.record(&api.changes, "ADDED", &target.key(), object);
    (StatusCode::CREATED, axum::Json(object)).into_response()
}

/// What the API server fills in on creation.
fn initialise(object: &mut Value, target: &Target, serial: u64) {
    let metadata = &mut object["metadata"];
    metadata["namespace"] = json!(target.namespace);
    metadata["uid"] = json!(format!("00000000-0000-4000-8000-{serial:012}"));
    metadata["generation"] = json!(1);
    metadata["creationTimestamp"] = json!(now());
}

async fn patch(
    State(api): State<Api>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    apply_patch(api, Target::from(&params), &headers, &body, false)
}

async fn patch_status(
    State(api): State<Api>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    apply_patch(api, Target::from(&params), &headers, &body, true)
}

fn apply_patch(
    api: Api,
    target: Target,
    headers: &HeaderMap,
    body: &[u8],
    status: bool,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let patch: Value = match serde_json::from_slice(body) {
        Ok(patch) => patch,
        Err(e) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("patch: {e}"),
            );
        }
    };
    let mut store = api.store.lock().unwrap_or_else(PoisonError::into_inner);
    if status {
        store.status_patches += 1;
    }
    let existing = store.objects.get(&target.key()).cloned();
    let apply = content_type.starts_with("application/apply-patch");
    let (mut object, kind) = match existing {
        Some(object) => (object, "MODIFIED"),
        // Server-side apply creates what does not exist yet.
        None if apply && !status => {
            let mut object = patch.clone();
            initialise(&mut object, &target, store.last_rv + 1);
            let object = store.record(&api.changes, "ADDED", &target.key(), object);
            return (StatusCode::CREATED, axum::Json(object)).into_response();
        }
        None => return not_found(&target),
    };
    let before = object.clone();
    let patched = if content_type.starts_with("application/json-patch") {
        serde_json::from_value::<json_patch::Patch>(patch)
            .map_err(|e| e.to_string())
            .map(|p| absent_is_null(&object, p))
            .and_then(|p| {
                json_patch::patch(&mut object, &p).map_err(|e| e.to_string())
            })
    } else {
        // Merge patches; an apply patch as a merge (no field ownership).
        json_patch::merge(&mut object, &patch);
        Ok(())
    };
    if let Err(message) = patched {
        return failure(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message);
    }
    // The status subresource changes the status only; the main resource
    // everything but the status.
    if status {
        let new_status = object["status"].clone();
        object = before.clone();
        object["status"] = new_status;
    } else {
        object["status"] = before["status"].clone();
        if object["status"].is_null() {
            object.as_object_mut().map(|o| o.remove("status"));
        }
        object["metadata"]["uid"] = before["metadata"]["uid"].clone();
        if object["spec"] != before["spec"] {
            let generation = before["metadata"]["generation"].as_i64().unwrap_or(1);
            object["metadata"]["generation"] = json!(generation + 1);
        }
    }
    // A patch that changes nothing is no change: no new version, no event.
    if object == before {
        return axum::Json(object).into_response();
    }
    let key = target.key();
    let object = store.record(&api.changes, kind, &key, object);
    if finalized(&object) {
        store.remove(&api.changes, &key);
    }
    axum::Json(object).into_response()
}

/// As the API server does, a `test` for `null` passes on an absent field
/// (the finalizer helper tests `/metadata/finalizers` so before adding it).
fn absent_is_null(object: &Value, patch: json_patch::Patch) -> json_patch::Patch {
    let kept = patch
        .0
        .into_iter()
        .filter(|op| match op {
            json_patch::PatchOperation::Test(test) => {
                !(test.value.is_null()
                    && object.pointer(test.path.as_str()).is_none())
            }
            _ => true,
        })
        .collect();
    json_patch::Patch(kept)
}

/// Marked for deletion, and no finalizer left.
fn finalized(object: &Value) -> bool {
    !object["metadata"]["deletionTimestamp"].is_null()
        && object["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty())
}

async fn delete(
    State(api): State<Api>,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let target = Target::from(&params);
    let key = target.key();
    let mut store = api.store.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(mut object) = store.objects.get(&key).cloned() else {
        return not_found(&target);
    };
    if object["metadata"]["deletionTimestamp"].is_null() {
        object["metadata"]["deletionTimestamp"] = json!(now());
    }
    let object = store.record(&api.changes, "MODIFIED", &key, object);
    if finalized(&object) {
        store.remove(&api.changes, &key);
    }
    axum::Json(object).into_response()
}
