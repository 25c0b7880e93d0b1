//! `reconcile` against a mock API server (`tower_test::mock`): each test
//! lists the calls the reconcile must make, in order, and answers them. A
//! test fails if an expected call never comes, if a call differs from the
//! expected one, or if any call comes after the last expected one.

use std::sync::Arc;
use std::time::Duration;

use example_kube_operator::{
    Context, FINALIZER, Phase, RESYNC, Website, WebsiteSpec, WebsiteStatus,
    error_policy, reconcile,
};
use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// How long the reconcile may take to make its next call.
const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// The mock API server's side: expected calls, in order.
struct ApiServer(Handle);

impl ApiServer {
    /// Waits for the next call, checks its method and path, answers it with
    /// `status` and `body`, and returns what was sent.
    async fn expect(
        &mut self,
        method: &str,
        path: &str,
        status: StatusCode,
        body: Value,
    ) -> (Request<()>, Value) {
        let next = tokio::time::timeout(CALL_DEADLINE, self.0.next_request()).await;
        let Ok(Some((request, respond))) = next else {
            panic!("expected {method} {path}, but no call came");
        };
        let (parts, sent) = request.into_parts();
        assert_eq!(
            (parts.method.as_str(), parts.uri.path()),
            (method, path),
            "unexpected call"
        );
        let sent = sent.collect_bytes().await.expect("request body");
        let sent: Value = if sent.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&sent).expect("request body is JSON")
        };
        let response = Response::builder()
            .status(status)
            .body(Body::from(body.to_string().into_bytes()))
            .expect("response");
        respond.send_response(response);
        (Request::from_parts(parts, ()), sent)
    }

    /// Fails if any call comes within a short while.
    async fn expect_no_more(mut self) {
        let next =
            tokio::time::timeout(Duration::from_millis(200), self.0.next_request())
                .await;
        if let Ok(Some((request, _))) = next {
            panic!("unexpected call: {} {}", request.method(), request.uri());
        }
    }
}

const NS: &str = "web";
const WEBSITES: &str = "/apis/book.example.com/v1/namespaces/web/websites/docs";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/web/deployments/docs";
const SERVICE: &str = "/api/v1/namespaces/web/services/docs";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/web/events";

fn website(finalizer: bool, replicas: i32) -> Website {
    let mut website = Website::new(
        "docs",
        WebsiteSpec {
            image: "nginx:1.27".into(),
            replicas,
            port: 8080,
        },
    );
    website.metadata.namespace = Some(NS.into());
    website.metadata.uid = Some("00000000-0000-4000-8000-000000000001".into());
    website.metadata.generation = Some(2);
    website.metadata.resource_version = Some("7".into());
    if finalizer {
        website.metadata.finalizers = Some(vec![FINALIZER.into()]);
    }
    website
}

fn setup() -> (Arc<Context>, ApiServer) {
    let (service, handle) =
        tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let ctx = Context::new(client, &opentelemetry::global::meter("test"));
    (ctx, ApiServer(handle))
}

async fn run(
    website: Website,
    ctx: &Arc<Context>,
) -> tokio::task::JoinHandle<Result<Action, example_kube_operator::Error>> {
    tokio::spawn(reconcile(Arc::new(website), ctx.clone()))
}

#[tokio::test]
async fn the_first_reconcile_adds_the_finalizer_and_nothing_else() {
    let (ctx, mut api) = setup();
    let reconciling = run(website(false, 2), &ctx).await;
    let answer = serde_json::to_value(website(true, 2)).unwrap();
    let (request, patch) =
        api.expect("PATCH", WEBSITES, StatusCode::OK, answer).await;
    assert_eq!(
        request.headers()["content-type"],
        "application/json-patch+json"
    );
    assert_eq!(
        patch,
        json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] },
        ])
    );
    let action = reconciling.await.unwrap().expect("reconcile succeeds");
    assert_eq!(action, Action::await_change());
    api.expect_no_more().await;
}

#[tokio::test]
async fn a_new_generation_applies_children_patches_status_and_records_an_event() {
    let (ctx, mut api) = setup();
    let reconciling = run(website(true, 3), &ctx).await;

    let (request, deployment) = api
        .expect("PATCH", DEPLOYMENT, StatusCode::OK, json!({}))
        .await;
    assert_eq!(
        request.headers()["content-type"],
        "application/apply-patch+yaml"
    );
    assert!(
        request
            .uri()
            .query()
            .unwrap_or_default()
            .contains("fieldManager=website-operator"),
        "{:?}",
        request.uri()
    );
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(
        deployment["metadata"]["ownerReferences"][0]["uid"],
        "00000000-0000-4000-8000-000000000001"
    );
    assert_eq!(
        deployment["metadata"]["ownerReferences"][0]["controller"],
        true
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );

    let (_, service) = api
        .expect("PATCH", SERVICE, StatusCode::OK, json!({}))
        .await;
    assert_eq!(service["spec"]["ports"][0]["targetPort"], 8080);

    let answer = serde_json::to_value(website(true, 3)).unwrap();
    let (_, status) = api
        .expect(
            "PATCH",
            &format!("{WEBSITES}/status"),
            StatusCode::OK,
            answer,
        )
        .await;
    assert_eq!(status["status"]["phase"], "Ready");
    let status: WebsiteStatus =
        serde_json::from_value(status["status"].clone()).unwrap();
    assert_eq!(status.phase, Phase::Ready);
    assert_eq!(status.observed_generation, Some(2));

    let (_, event) = api
        .expect("POST", EVENTS, StatusCode::CREATED, json!({}))
        .await;
    assert_eq!(event["reason"], "Reconciled");
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["regarding"]["name"], "docs");

    let action = reconciling.await.unwrap().expect("reconcile succeeds");
    assert_eq!(action, Action::requeue(RESYNC));
    api.expect_no_more().await;
}

#[tokio::test]
async fn a_reconcile_that_changes_nothing_writes_no_status_and_no_event() {
    let (ctx, mut api) = setup();
    let mut seen = website(true, 1);
    seen.status = Some(WebsiteStatus {
        phase: Phase::Ready,
        observed_generation: Some(2),
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
        message: None,
    });
    let reconciling = run(seen, &ctx).await;
    // Children are applied every time (that repairs drift); the status and
    // the event only when something changed: no write, no new reconcile.
    api.expect("PATCH", DEPLOYMENT, StatusCode::OK, json!({}))
        .await;
    api.expect("PATCH", SERVICE, StatusCode::OK, json!({}))
        .await;
    reconciling.await.unwrap().expect("reconcile succeeds");
    api.expect_no_more().await;
}

#[tokio::test]
async fn an_invalid_spec_is_reported_in_status_and_a_warning_not_applied() {
    let (ctx, mut api) = setup();
    let reconciling = run(website(true, 99), &ctx).await;
    let answer = serde_json::to_value(website(true, 99)).unwrap();
    let (_, status) = api
        .expect(
            "PATCH",
            &format!("{WEBSITES}/status"),
            StatusCode::OK,
            answer,
        )
        .await;
    assert_eq!(status["status"]["phase"], "Invalid");
    let message = status["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("spec.replicas is 99"), "{message}");
    let (_, event) = api
        .expect("POST", EVENTS, StatusCode::CREATED, json!({}))
        .await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "Invalid");
    let action = reconciling
        .await
        .unwrap()
        .expect("an invalid spec is not an error");
    assert_eq!(action, Action::await_change());
    api.expect_no_more().await;
}

#[tokio::test]
async fn deletion_records_an_event_then_removes_the_finalizer() {
    let (ctx, mut api) = setup();
    let mut deleting = website(true, 2);
    deleting.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        ));
    let reconciling = run(deleting, &ctx).await;
    let (_, event) = api
        .expect("POST", EVENTS, StatusCode::CREATED, json!({}))
        .await;
    assert_eq!(event["reason"], "Deleted");
    let answer = serde_json::to_value(website(false, 2)).unwrap();
    let (_, patch) = api.expect("PATCH", WEBSITES, StatusCode::OK, answer).await;
    assert_eq!(
        patch,
        json!([
            { "op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER },
            { "op": "remove", "path": "/metadata/finalizers/0" },
        ])
    );
    let action = reconciling.await.unwrap().expect("cleanup succeeds");
    assert_eq!(action, Action::await_change());
    api.expect_no_more().await;
}

#[tokio::test]
async fn an_api_error_fails_the_reconcile_and_requeues_with_growing_backoff() {
    let (ctx, mut api) = setup();
    let object = Arc::new(website(true, 2));
    let mut waits = Vec::new();
    for _ in 0..3 {
        let reconciling = tokio::spawn(reconcile(object.clone(), ctx.clone()));
        let failure = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500,
        });
        api.expect(
            "PATCH",
            DEPLOYMENT,
            StatusCode::INTERNAL_SERVER_ERROR,
            failure,
        )
        .await;
        let error = reconciling
            .await
            .unwrap()
            .expect_err("a 500 fails the reconcile");
        assert_eq!(error.error_type(), "api_500");
        waits.push(error_policy(object.clone(), &error, ctx.clone()));
    }
    assert_eq!(
        waits,
        [1, 2, 4].map(|s| Action::requeue(Duration::from_secs(s)))
    );
    api.expect_no_more().await;
}

#[tokio::test]
async fn a_success_resets_the_backoff() {
    let (ctx, mut api) = setup();
    let object = Arc::new(website(true, 2));
    let reconciling = tokio::spawn(reconcile(object.clone(), ctx.clone()));
    api.expect("PATCH", DEPLOYMENT, StatusCode::CONFLICT, json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "conflict", "reason": "Conflict", "code": 409,
    }))
    .await;
    let error = reconciling
        .await
        .unwrap()
        .expect_err("a 409 fails the reconcile");
    assert_eq!(
        error_policy(object.clone(), &error, ctx.clone()),
        Action::requeue(Duration::from_secs(1))
    );

    let reconciling = tokio::spawn(reconcile(object.clone(), ctx.clone()));
    api.expect("PATCH", DEPLOYMENT, StatusCode::OK, json!({}))
        .await;
    api.expect("PATCH", SERVICE, StatusCode::OK, json!({}))
        .await;
    let answer = serde_json::to_value(&*object).unwrap();
    api.expect(
        "PATCH",
        &format!("{WEBSITES}/status"),
        StatusCode::OK,
        answer,
    )
    .await;
    api.expect("POST", EVENTS, StatusCode::CREATED, json!({}))
        .await;
    reconciling.await.unwrap().expect("reconcile succeeds");

    let reconciling = tokio::spawn(reconcile(object.clone(), ctx.clone()));
    api.expect("PATCH", DEPLOYMENT, StatusCode::CONFLICT, json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "conflict", "reason": "Conflict", "code": 409,
    }))
    .await;
    let error = reconciling.await.unwrap().expect_err("fails again");
    assert_eq!(
        error_policy(object, &error, ctx),
        Action::requeue(Duration::from_secs(1)),
        "the count started over"
    );
    api.expect_no_more().await;
}

#[tokio::test]
async fn a_website_without_a_namespace_is_an_error_without_calls() {
    let (ctx, api) = setup();
    let mut website = website(true, 2);
    website.metadata.namespace = None;
    let error = reconcile(Arc::new(website), ctx)
        .await
        .expect_err("no namespace");
    assert_eq!(error.error_type(), "missing_field");
    api.expect_no_more().await;
}
