//! The inventory service: one call of each gRPC shape over an in-memory
//! stock, with the failures the chapter traces (a missing item, a record that
//! cannot be read, a lookup slower than the caller's deadline).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument as _;

use crate::proto::inventory_server::Inventory;
use crate::proto::{
    GetItemRequest, Item, ListItemsRequest, RestockLine, RestockSummary,
};

/// Where an item is kept: the remote warehouse answers slowly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warehouse {
    Local,
    Remote,
}

/// What the stock holds for one SKU.
#[derive(Clone, Debug)]
pub enum Stored {
    Item {
        name: String,
        quantity: u32,
        warehouse: Warehouse,
    },
    /// A record that cannot be read: the stand-in for a storage failure.
    Unreadable,
}

/// The in-memory stock behind the service.
#[derive(Clone)]
pub struct InventoryService {
    stock: Arc<Mutex<BTreeMap<String, Stored>>>,
    remote_delay: Duration,
}

impl InventoryService {
    /// The stock of the chapter: `sku-1` and `sku-2` here, `sku-3` in the
    /// remote warehouse (each lookup takes `remote_delay`), `sku-9`
    /// unreadable.
    pub fn new(remote_delay: Duration) -> Self {
        let item = |name: &str, quantity, warehouse| Stored::Item {
            name: name.to_owned(),
            quantity,
            warehouse,
        };
        let stock = BTreeMap::from([
            ("sku-1".to_owned(), item("keyboard", 12, Warehouse::Local)),
            ("sku-2".to_owned(), item("mouse", 40, Warehouse::Local)),
            ("sku-3".to_owned(), item("monitor", 5, Warehouse::Remote)),
            ("sku-9".to_owned(), Stored::Unreadable),
        ]);
        Self {
            stock: Arc::new(Mutex::new(stock)),
            remote_delay,
        }
    }

    fn stock(&self) -> MutexGuard<'_, BTreeMap<String, Stored>> {
        // A panic while holding the lock leaves plain data behind: keep going.
        self.stock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

type ItemStream = Pin<Box<dyn Stream<Item = Result<Item, Status>> + Send>>;

// ANCHOR: service
#[tonic::async_trait]
impl Inventory for InventoryService {
    async fn get_item(
        &self,
        request: Request<GetItemRequest>,
    ) -> Result<Response<Item>, Status> {
        let sku = request.into_inner().sku;
        if sku.is_empty() {
            return Err(Status::invalid_argument("sku is empty"));
        }
        let stored = self.stock().get(&sku).cloned();
        match stored {
            None => Err(Status::not_found(format!("no item {sku}"))),
            Some(Stored::Unreadable) => {
                tracing::error!(%sku, "stored record cannot be read");
                Err(Status::internal(format!(
                    "the record of {sku} cannot be read"
                )))
            }
            Some(Stored::Item {
                name,
                quantity,
                warehouse,
            }) => {
                if warehouse == Warehouse::Remote {
                    // Cut short, with the call, when the caller's deadline
                    // passes first.
                    tokio::time::sleep(self.remote_delay)
                        .instrument(tracing::info_span!("ask remote warehouse"))
                        .await;
                }
                Ok(Response::new(Item {
                    sku,
                    name,
                    quantity,
                }))
            }
        }
    }

    type ListItemsStream = ItemStream;

    async fn list_items(
        &self,
        _request: Request<ListItemsRequest>,
    ) -> Result<Response<ItemStream>, Status> {
        let items: Vec<Item> = self
            .stock()
            .iter()
            .filter_map(|(sku, stored)| match stored {
                Stored::Item { name, quantity, .. } => Some(Item {
                    sku: sku.clone(),
                    name: name.clone(),
                    quantity: *quantity,
                }),
                Stored::Unreadable => None,
            })
            .collect();
        let count = items.len();
        // Sent as the client reads; the log record at the end lands in the
        // call's span because the layer polls the stream inside it.
        let stream = tokio_stream::iter(items.into_iter().map(Ok)).chain(
            tokio_stream::iter(std::iter::from_fn(move || {
                tracing::info!(items = count, "item list sent");
                None
            })),
        );
        Ok(Response::new(Box::pin(stream)))
    }

    async fn restock(
        &self,
        request: Request<Streaming<RestockLine>>,
    ) -> Result<Response<RestockSummary>, Status> {
        let mut stream = request.into_inner();
        let mut lines = Vec::new();
        while let Some(line) = stream.message().await? {
            if line.quantity == 0 {
                return Err(Status::invalid_argument(format!(
                    "line {} ({}): quantity is 0",
                    lines.len() + 1,
                    line.sku
                )));
            }
            lines.push(line);
        }
        // All lines or none: a delivery with one unknown SKU changes nothing.
        let mut stock = self.stock();
        if let Some(line) = lines
            .iter()
            .find(|line| !matches!(stock.get(&line.sku), Some(Stored::Item { .. })))
        {
            return Err(Status::not_found(format!("no item {}", line.sku)));
        }
        let mut summary = RestockSummary::default();
        for line in &lines {
            if let Some(Stored::Item { quantity, .. }) = stock.get_mut(&line.sku) {
                *quantity = quantity.saturating_add(line.quantity);
            }
            summary.lines += 1;
            summary.units = summary.units.saturating_add(line.quantity);
        }
        drop(stock);
        tracing::info!(lines = summary.lines, units = summary.units, "restocked");
        Ok(Response::new(summary))
    }
}
// ANCHOR_END: service
