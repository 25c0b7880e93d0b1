//! The records: orders as JSON, and the check every consumer makes before
//! it accepts one.

use serde::{Deserialize, Serialize};

/// An order, as the HTTP service takes it and the topic carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub item: String,
    pub quantity: u32,
}

/// The items the warehouse stocks: the consumers' knowledge, not the
/// producer's, so an order for anything else reaches the topic.
pub const CATALOG: &[&str] = &["keyboard", "mouse", "monitor"];

/// Why a record can never be processed: retrying it would fail the same
/// way, so it goes to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("not an order: {0}")]
    Malformed(String),
    #[error("unknown item {0:?}")]
    UnknownItem(String),
    #[error("quantity {0} is out of range 1..=100")]
    Quantity(u32),
}

impl Rejected {
    /// `error.type` on the span that rejected it.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejected::Malformed(_) => "malformed_order",
            Rejected::UnknownItem(_) => "unknown_item",
            Rejected::Quantity(_) => "quantity_out_of_range",
        }
    }
}

// ANCHOR: accept
/// The order in `payload`, if a consumer can process it.
pub fn accept(payload: Option<&[u8]>) -> Result<Order, Rejected> {
    let order: Order = serde_json::from_slice(payload.unwrap_or_default())
        .map_err(|e| Rejected::Malformed(e.to_string()))?;
    if !CATALOG.contains(&order.item.as_str()) {
        return Err(Rejected::UnknownItem(order.item));
    }
    if !(1..=100).contains(&order.quantity) {
        return Err(Rejected::Quantity(order.quantity));
    }
    Ok(order)
}
// ANCHOR_END: accept

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_orders_of_stocked_items_are_accepted() {
        let ok = br#"{"id": "o-1", "item": "mouse", "quantity": 2}"#;
        assert_eq!(accept(Some(ok)).unwrap().item, "mouse");
        let unknown = br#"{"id": "o-2", "item": "piano", "quantity": 1}"#;
        assert_eq!(
            accept(Some(unknown)),
            Err(Rejected::UnknownItem("piano".into()))
        );
        let zero = br#"{"id": "o-3", "item": "mouse", "quantity": 0}"#;
        assert_eq!(accept(Some(zero)), Err(Rejected::Quantity(0)));
        assert!(matches!(accept(Some(b"{")), Err(Rejected::Malformed(_))));
        assert!(matches!(accept(None), Err(Rejected::Malformed(_))));
    }
}
