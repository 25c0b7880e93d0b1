//! Semantic conventions: the registry table made from the pinned
//! `opentelemetry-semantic-conventions` crate (`source` reads the crate,
//! `registry` holds the checked-in table), and the judge of the names that
//! arrive (`check`), which every scenario run on the embedded collector
//! passes through.

pub mod check;
pub mod registry;
pub mod source;
