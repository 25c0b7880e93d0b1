// ANCHOR: case
/// A database connection: it holds a socket, and does not implement `Debug`.
struct Connection;

#[tracing::instrument]
fn query(connection: &Connection, sql: &str) -> usize {
    sql.len()
}
// ANCHOR_END: case

fn main() {
    query(&Connection, "select 1");
}
