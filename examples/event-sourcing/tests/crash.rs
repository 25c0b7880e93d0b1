//! `kill -9`, mid-transaction. The service (the writer and the projection in
//! one process) takes a steady stream of deposits and is killed with
//! SIGKILL at the moment PostgreSQL shows one of its transactions open: an
//! append holding the writers' lock, or a projection batch that has written
//! to the read model and not yet committed. Then it starts again, and again,
//! until four kills of each kind have landed inside their transaction: a
//! kill counts when PostgreSQL reports the transaction it aimed at aborted
//! (a transaction that committed in the moment before the signal is a
//! miss).
//! After the last start: every deposit the service acknowledged is exactly
//! one event, no deposit is an event twice, every stream's versions run
//! 1..n without a gap, and the read model equals a replay of every event.
//!
//! `DATABASE_URL` must point at a PostgreSQL server where the test may create
//! a database (`cargo xtask verify` starts a throwaway one).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use example_event_sourcing::{EventStore, Projection};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row as _};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

mod common;

/// Kills that must land inside a transaction, per kind.
const KILLS: usize = 4;
const ACCOUNTS: usize = 4;
/// Deposits in flight at once.
const WRITERS: usize = 8;
/// How long to wait for the transaction a kill aims at.
const AIM: Duration = Duration::from_secs(20);

/// Which transaction a kill lands in.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// An append: the advisory lock that serialises writers is held.
    Append,
    /// A projection batch: `accounts` written, not committed.
    Projection,
}

impl Target {
    /// The id of a transaction of this kind that is open and has written
    /// (PostgreSQL gives a transaction an id at its first write).
    fn query(self) -> &'static str {
        match self {
            Target::Append => {
                "SELECT a.backend_xid::text FROM pg_locks l \
                 JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.objid = 7081 AND l.granted \
                 AND l.database = (SELECT oid FROM pg_database \
                                   WHERE datname = current_database()) \
                 AND a.backend_xid IS NOT NULL LIMIT 1"
            }
            Target::Projection => {
                "SELECT backend_xid::text FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND state IN ('active', 'idle in transaction') \
                 AND (query LIKE 'INSERT INTO accounts%' OR query LIKE 'UPDATE accounts%') \
                 AND backend_xid IS NOT NULL LIMIT 1"
            }
        }
    }
}

/// The service binary on a free port.
async fn start(database_url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-event-sourcing"))
        .env("DATABASE_URL", database_url)
        .env("PORT", "0")
        .env("PROJECTION_INTERVAL_MS", "1")
        .env("OTEL_SDK_DISABLED", "true")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the example binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("listening within 30 s")
        .unwrap()
        .unwrap_or_default();
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    // Keep reading, so that the service never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// Deposits with amounts unique across the test, from `WRITERS` tasks, until
/// `stop`: the amounts the service acknowledged (200) go in `acked`.
fn write(
    url: &str,
    amounts: &Arc<AtomicI64>,
    acked: &Arc<Mutex<BTreeSet<i64>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..WRITERS)
        .map(|writer| {
            let (url, amounts, acked, stop) =
                (url.to_owned(), amounts.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let amount = amounts.fetch_add(1, Ordering::Relaxed);
                    let account = writer % ACCOUNTS;
                    let sent = client
                        .post(format!("{url}/accounts/acc-{account}/deposits"))
                        .header("content-type", "application/json")
                        .body(format!(r#"{{"amount":{amount}}}"#))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == 200 => {
                            acked.lock().unwrap().insert(amount);
                        }
                        // A conflict that outlasted the retries: not written.
                        Ok(_) => {}
                        // The service died with the request in flight: the
                        // deposit may or may not be an event.
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect()
}

/// Waits until a `target` transaction is open, kills at once, and returns
/// the transaction's id.
async fn kill_inside(child: &mut Child, target: Target, pool: &PgPool) -> String {
    let started = Instant::now();
    loop {
        let open: Option<String> = sqlx::query_scalar(target.query())
            .fetch_optional(pool)
            .await
            .unwrap();
        if let Some(xid) = open {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
            return xid;
        }
        assert!(
            started.elapsed() < AIM,
            "no {target:?} transaction seen open within {AIM:?}"
        );
    }
}

/// Waits until PostgreSQL has ended every connection but the test's own.
async fn wait_for_backends_to_go(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if others == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{others} connections outlived the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The read model, as rows.
async fn read_model(pool: &PgPool) -> Vec<(String, String, i64, i64)> {
    sqlx::query(
        "SELECT account_id, owner, balance, version FROM accounts ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_append_and_mid_batch_loses_and_repeats_nothing() {
    let database_url = common::fresh_database_url().await;
    // One connection: when it is the only one left, the killed process's
    // are gone, and with them its transaction and its lock.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&database_url)
        .await
        .unwrap();
    let amounts = Arc::new(AtomicI64::new(1));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));

    let (mut service, mut url) = start(&database_url).await;
    let client = reqwest::Client::new();
    for account in 0..ACCOUNTS {
        let response = client
            .post(format!("{url}/accounts"))
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"id":"acc-{account}","owner":"owner-{account}"}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let targets = [Target::Append, Target::Projection];
    let mut landed = [0; 2];
    let mut round = 0;
    while landed.iter().any(|n| *n < KILLS) {
        assert!(round < KILLS * 10, "kills kept missing: {landed:?} landed");
        let which = round % targets.len();
        let target = targets[which];
        let stop = Arc::new(AtomicBool::new(false));
        let writers = write(&url, &amounts, &acked, &stop);
        // Load for a while first, a different while each round, so that
        // the kills find the service in different states.
        tokio::time::sleep(Duration::from_millis(200 + 50 * round as u64)).await;
        let xid = kill_inside(&mut service, target, &pool).await;
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.await.unwrap();
        }
        wait_for_backends_to_go(&pool).await;
        // The kill landed inside the transaction only if it never committed.
        // (The throwaway cluster is young: its transaction ids are in epoch
        // 0, so the 32-bit id is the 64-bit one.)
        let status: Option<String> =
            sqlx::query_scalar("SELECT pg_xact_status($1::xid8)")
                .bind(&xid)
                .fetch_one(&pool)
                .await
                .unwrap();
        let inside = status.as_deref() == Some("aborted");
        landed[which] += usize::from(inside);
        eprintln!(
            "kill {round}: {target:?} transaction {xid} {}",
            if inside {
                "rolled back: the kill landed inside it"
            } else {
                "had committed: a miss, not counted"
            }
        );
        (service, url) = start(&database_url).await;
        round += 1;
    }

    // Let the last process's projection catch up; its end does not matter.
    let head: i64 =
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let checkpoint: Option<i64> = sqlx::query_scalar(
            "SELECT position FROM checkpoints WHERE projection = 'accounts'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        if checkpoint == Some(head) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the projection did not catch up: {checkpoint:?} of {head}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = service.start_kill();
    service.wait().await.unwrap();

    // Every acknowledged deposit is one event; no deposit is two.
    let deposits: Vec<i64> = sqlx::query_scalar(
        "SELECT (data->>'amount')::bigint FROM events WHERE event_type = 'MoneyDeposited'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut seen = BTreeMap::<i64, usize>::new();
    for amount in &deposits {
        *seen.entry(*amount).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "deposits stored twice: {twice:?}");
    let acked = acked.lock().unwrap().clone();
    let lost: Vec<_> = acked.iter().filter(|a| !seen.contains_key(a)).collect();
    assert!(lost.is_empty(), "acknowledged, not stored: {lost:?}");

    // Every stream's versions are 1..n.
    let gaps: Vec<(String, i64, i64)> = sqlx::query(
        "SELECT stream_id, count(*), max(version) FROM events GROUP BY 1 \
         HAVING count(*) <> max(version)",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    assert!(gaps.is_empty(), "streams with gaps: {gaps:?}");

    // The read model is what a replay of every event builds.
    let survived = read_model(&pool).await;
    let store = EventStore::connect(&database_url).await.unwrap();
    Projection::new(store).rebuild().await.unwrap();
    let replayed = read_model(&pool).await;
    assert_eq!(survived, replayed);
    let total: i64 = survived.iter().map(|row| row.2).sum();
    assert_eq!(total, deposits.iter().sum::<i64>());
    eprintln!(
        "{} deposits stored, {} acknowledged, {} kills, read model = replay",
        deposits.len(),
        acked.len(),
        round
    );
}
