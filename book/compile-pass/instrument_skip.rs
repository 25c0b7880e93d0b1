// ANCHOR: fix
/// A database connection: it holds a socket, and does not implement `Debug`.
struct Connection;

// Record the SQL, not the connection.
#[tracing::instrument(skip(connection))]
fn query(connection: &Connection, sql: &str) -> usize {
    sql.len()
}
// ANCHOR_END: fix

fn main() {
    query(&Connection, "select 1");
}
