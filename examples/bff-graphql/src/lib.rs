//! A backend-for-frontend: one GraphQL endpoint that answers a screen's whole
//! question ("my cart, with each product and its reviews") from two services,
//! `catalog` and `reviews`. DataLoaders turn the N lookups of a list into one
//! batched call per service, and the trace shows it: one operation span, one
//! batch span per service, one client call each.
//!
//! Route: `POST /graphql` (`{"query": ..., "operationName": ...}`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject,
};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use opentelemetry::metrics::Meter;
use opentelemetry_semantic_conventions::attribute::{
    GRAPHQL_OPERATION_NAME, GRAPHQL_OPERATION_TYPE,
};
use serde::Deserialize;
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::http::TracedClient;

pub mod http;

/// The deepest query the BFF executes, and the most expensive; anything
/// beyond is refused with a GraphQL error before a single resolver runs.
pub const MAX_DEPTH: usize = 6;
pub const MAX_COMPLEXITY: usize = 200;

/// Where the two services are.
#[derive(Clone)]
pub struct Services {
    client: TracedClient,
    catalog_url: String,
    reviews_url: String,
}

impl Services {
    pub fn new(
        catalog_url: impl Into<String>,
        reviews_url: impl Into<String>,
    ) -> Self {
        Self {
            client: TracedClient::new(Duration::from_secs(2)),
            catalog_url: catalog_url.into(),
            reviews_url: reviews_url.into(),
        }
    }
}

/// A product, as `catalog` describes it.
#[derive(Clone, Debug, Deserialize)]
pub struct ProductRecord {
    pub id: u32,
    pub name: String,
    pub price: u32,
}

/// A review, as `reviews` stores it.
#[derive(Clone, Debug, Deserialize)]
pub struct ReviewRecord {
    pub product_id: u32,
    pub rating: u8,
    pub text: String,
}

// ANCHOR: loaders
/// Loads products by id: every `product` field of one query goes out as a
/// single `GET /products?ids=...`.
pub struct ProductLoader(Services);

impl Loader<u32> for ProductLoader {
    type Value = ProductRecord;
    type Error = Arc<str>;

    async fn load(
        &self,
        ids: &[u32],
    ) -> Result<HashMap<u32, ProductRecord>, Arc<str>> {
        let url = format!("{}/products?ids={}", self.0.catalog_url, join(ids));
        let products: Vec<ProductRecord> =
            batch_call("catalog", &self.0, &url, ids).await?;
        Ok(products.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// Loads reviews by product id, likewise in one call.
pub struct ReviewLoader(Services);

impl Loader<u32> for ReviewLoader {
    type Value = Vec<ReviewRecord>;
    type Error = Arc<str>;

    async fn load(
        &self,
        ids: &[u32],
    ) -> Result<HashMap<u32, Vec<ReviewRecord>>, Arc<str>> {
        let url =
            format!("{}/reviews?product_ids={}", self.0.reviews_url, join(ids));
        let reviews: Vec<ReviewRecord> =
            batch_call("reviews", &self.0, &url, ids).await?;
        let mut by_product: HashMap<u32, Vec<ReviewRecord>> =
            ids.iter().map(|id| (*id, Vec::new())).collect();
        for review in reviews {
            by_product
                .entry(review.product_id)
                .or_default()
                .push(review);
        }
        Ok(by_product)
    }
}

/// One batched call, in a span that says how many keys it carried.
async fn batch_call<T: serde::de::DeserializeOwned>(
    service: &'static str,
    services: &Services,
    url: &str,
    keys: &[u32],
) -> Result<T, Arc<str>> {
    let span = tracing::info_span!(
        "dataloader batch",
        otel.name = format!("load {service}"),
        otel.status_code = Empty,
        dataloader.batch_size = keys.len() as i64,
    );
    async {
        let request = services.client.request(reqwest::Method::GET, url);
        let result = match services.client.send(request).await {
            Ok(response) if response.status().is_success() => {
                response.json::<T>().await.map_err(|e| e.to_string())
            }
            Ok(response) => Err(format!("{service} answered {}", response.status())),
            Err(error) => Err(format!("{service} unreachable: {error}")),
        };
        result.map_err(|message| {
            tracing::Span::current().record("otel.status_code", "ERROR");
            tracing::warn!(%message, "batch failed");
            Arc::from(message)
        })
    }
    .instrument(span)
    .await
}

/// Loaders for one request. Per request, not per process: a loader shared by
/// all requests would batch keys of different users (and traces) together,
/// and cache one user's answer for another.
fn loaders(
    services: &Services,
) -> (DataLoader<ProductLoader>, DataLoader<ReviewLoader>) {
    // The loader runs each batch in a task of its own. Spawning it inside
    // the current span keeps the batch in the trace of the request that
    // started it; a bare `tokio::spawn` would start a new, orphan trace.
    let spawn = |batch| {
        tokio::spawn(tracing::Instrument::in_current_span(batch));
    };
    (
        DataLoader::new(ProductLoader(services.clone()), spawn),
        DataLoader::new(ReviewLoader(services.clone()), spawn),
    )
}
// ANCHOR_END: loaders

fn join(ids: &[u32]) -> String {
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    ids.join(",")
}

/// The schema: carts (held by the BFF itself), their products (catalog) and
/// the products' reviews (reviews).
pub struct Query;

/// A cart the BFF holds: product ids and quantities.
fn cart_lines(id: &str) -> Option<Vec<(u32, i32)>> {
    match id {
        "c1" => Some(vec![(1, 2), (2, 1), (3, 1)]),
        "c2" => Some(vec![(2, 5)]),
        _ => None,
    }
}

#[Object]
impl Query {
    /// A cart by id; null when there is none.
    async fn cart(&self, id: ID) -> Option<Cart> {
        cart_lines(&id).map(|lines| Cart { id, lines })
    }
}

pub struct Cart {
    id: ID,
    lines: Vec<(u32, i32)>,
}

#[Object]
impl Cart {
    async fn id(&self) -> &ID {
        &self.id
    }

    async fn lines(&self) -> Vec<Line> {
        let lines = self.lines.iter();
        lines
            .map(|(product_id, quantity)| Line {
                product_id: *product_id,
                quantity: *quantity,
            })
            .collect()
    }
}

pub struct Line {
    product_id: u32,
    quantity: i32,
}

#[Object]
impl Line {
    async fn quantity(&self) -> i32 {
        self.quantity
    }

    async fn product(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Product>> {
        product(ctx, self.product_id).await
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Product {
    id: u32,
    name: String,
    price: u32,
}

#[async_graphql::ComplexObject]
impl Product {
    async fn reviews(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<Review>> {
        let loader = ctx.data_unchecked::<DataLoader<ReviewLoader>>();
        let reviews = loader.load_one(self.id).await?.unwrap_or_default();
        Ok(reviews
            .into_iter()
            .map(|r| Review {
                product_id: r.product_id,
                rating: r.rating,
                text: r.text,
            })
            .collect())
    }
}

pub struct Review {
    product_id: u32,
    rating: u8,
    text: String,
}

#[Object]
impl Review {
    async fn rating(&self) -> u8 {
        self.rating
    }

    async fn text(&self) -> &str {
        &self.text
    }

    /// The reviewed product: lets a client nest as deep as it likes, which is
    /// what the depth limit is for.
    async fn product(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Product>> {
        product(ctx, self.product_id).await
    }
}

async fn product(
    ctx: &Context<'_>,
    id: u32,
) -> async_graphql::Result<Option<Product>> {
    let loader = ctx.data_unchecked::<DataLoader<ProductLoader>>();
    Ok(loader.load_one(id).await?.map(|p| Product {
        id: p.id,
        name: p.name,
        price: p.price,
    }))
}

pub type BffSchema = Schema<Query, EmptyMutation, EmptySubscription>;

// ANCHOR: schema
/// The schema, with the limits that keep one request from fanning out
/// without bound.
pub fn schema() -> BffSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}
// ANCHOR_END: schema

#[derive(Clone)]
struct AppState {
    schema: BffSchema,
    services: Services,
}

/// The BFF: `POST /graphql`, each request a server span and a duration data
/// point.
pub fn app(services: Services, meter: &Meter) -> Router {
    let state = AppState {
        schema: schema(),
        services,
    };
    let routes = Router::new()
        .route("/graphql", post(graphql))
        .with_state(state);
    http::instrument(routes, meter)
}

// ANCHOR: handler
/// Executes one GraphQL request inside a span named after the operation, as
/// the GraphQL semantic conventions name it (`query Cart`). Errors (a query
/// too deep, a service down) come back in the response's `errors`, and mark
/// the span.
async fn graphql(
    State(state): State<AppState>,
    Json(request): Json<async_graphql::Request>,
) -> Json<async_graphql::Response> {
    let (operation_type, operation_name) = describe(&request);
    let span = tracing::info_span!(
        "graphql operation",
        otel.name = match &operation_name {
            Some(name) => format!("{operation_type} {name}"),
            None => operation_type.to_owned(),
        },
        otel.status_code = Empty,
        otel.status_description = Empty,
        { GRAPHQL_OPERATION_TYPE } = operation_type,
        { GRAPHQL_OPERATION_NAME } = operation_name,
    );
    let (products, reviews) = loaders(&state.services);
    let request = request.data(products).data(reviews);
    let response = state.schema.execute(request).instrument(span.clone()).await;
    if let Some(error) = response.errors.first() {
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", error.message.as_str());
    }
    Json(response)
}

/// The operation's type and name, for the span, before execution. A
/// document that does not parse is `query` without a name; execution
/// reports the syntax error.
fn describe(request: &async_graphql::Request) -> (&'static str, Option<String>) {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return ("query", None);
    };
    let (chosen, name) = match &document.operations {
        DocumentOperations::Single(operation) => (Some(&operation.node), None),
        DocumentOperations::Multiple(operations) => {
            let picked = match &request.operation_name {
                Some(name) => operations.get_key_value(name.as_str()),
                // One named operation needs no operationName to be chosen.
                None if operations.len() == 1 => operations.iter().next(),
                None => None,
            };
            match picked {
                Some((name, operation)) => {
                    (Some(&operation.node), Some(name.to_string()))
                }
                None => (None, None),
            }
        }
    };
    let kind = match chosen.map(|op| op.ty) {
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        _ => "query",
    };
    (kind, name)
}
// ANCHOR_END: handler
