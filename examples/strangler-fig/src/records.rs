//! The records both services read: in a real migration, the monolith's
//! database, which the new service reads until it owns its own. Here, a
//! few rows in memory.

use serde::Serialize;

/// An order, as both services answer it: the contract the facade keeps
/// while the route moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub id: u64,
    pub customer: u64,
    pub total_cents: u64,
    /// Moved to the monolith's archive tables, which the new service does
    /// not read yet.
    #[serde(skip)]
    pub archived: bool,
}

/// A customer: still the monolith's alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub id: u64,
    pub name: &'static str,
}

const ORDERS: &[Order] = &[
    Order {
        id: 17,
        customer: 7,
        total_cents: 990,
        archived: true,
    },
    Order {
        id: 1001,
        customer: 7,
        total_cents: 4200,
        archived: false,
    },
    Order {
        id: 1002,
        customer: 8,
        total_cents: 1999,
        archived: false,
    },
];

const CUSTOMERS: &[Customer] = &[
    Customer { id: 7, name: "Ada" },
    Customer {
        id: 8,
        name: "Grace",
    },
];

/// The order `id`, archived or not.
pub fn order(id: u64) -> Option<Order> {
    ORDERS.iter().find(|o| o.id == id).cloned()
}

/// The customer `id`.
pub fn customer(id: u64) -> Option<Customer> {
    CUSTOMERS.iter().find(|c| c.id == id).cloned()
}
