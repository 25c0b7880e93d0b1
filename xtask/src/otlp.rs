//! The embedded OTLP collector and what it received: the receivers
//! (`collector`), the flattened model every check reads (`received`), and
//! the views of it (`tree`, `waterfall`, the service `map`, `live`). Depends
//! only on the ground.

pub mod collector;
pub mod live;
pub mod map;
pub mod received;
pub mod tree;
pub mod waterfall;
