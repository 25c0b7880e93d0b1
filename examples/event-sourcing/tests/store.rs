//! The event store, the commands and the projection against a real
//! PostgreSQL. `DATABASE_URL` must point at a server where these tests may
//! create databases (`cargo xtask verify` starts a throwaway one); each test
//! gets a database of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use example_event_sourcing::{
    Account, Command, CommandError, EventStore, NewEvent, Projection, StoreError,
    handle,
};
use serde_json::json;
use sqlx::Row as _;

mod common;

use common::fresh_store;

fn deposit(amount: i64) -> NewEvent {
    NewEvent {
        event_type: "MoneyDeposited",
        data: json!({ "amount": amount }),
    }
}

fn opened() -> NewEvent {
    NewEvent {
        event_type: "AccountOpened",
        data: json!({ "owner": "alice" }),
    }
}

#[tokio::test]
async fn two_writers_at_the_same_version_one_wins_one_conflicts() {
    let store = fresh_store().await;
    store.append("acc", 0, &[opened()]).await.unwrap();

    let (ten, twenty) = ([deposit(10)], [deposit(20)]);
    let (a, b) = tokio::join!(
        store.append("acc", 1, &ten),
        store.append("acc", 1, &twenty),
    );
    let outcomes = [a.is_ok(), b.is_ok()];
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    let lost = if a.is_ok() { b } else { a };
    assert!(matches!(
        lost,
        Err(StoreError::Conflict { expected: 1, .. })
    ));

    let events = store.load("acc").await.unwrap();
    assert_eq!(events.len(), 2, "no lost and no duplicated event");
    assert_eq!(events[1].version, 2);
}

#[tokio::test]
async fn appending_at_a_version_the_stream_has_not_reached_is_a_conflict() {
    let store = fresh_store().await;
    store.append("acc", 0, &[opened()]).await.unwrap();
    let gap = store.append("acc", 5, &[deposit(1)]).await;
    assert!(matches!(gap, Err(StoreError::Conflict { .. })), "{gap:?}");
    assert_eq!(store.load("acc").await.unwrap().len(), 1);
}

// ANCHOR: concurrent_writers
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_end_with_exactly_the_accepted_events_in_order() {
    const WRITERS: usize = 8;
    const APPENDS: usize = 100;
    let store = fresh_store().await;
    store.append("acc", 0, &[opened()]).await.unwrap();

    let accepted = Arc::new(AtomicUsize::new(0));
    let conflicts = Arc::new(AtomicUsize::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let (store, accepted, conflicts) =
            (store.clone(), accepted.clone(), conflicts.clone());
        writers.spawn(async move {
            for n in 0..APPENDS {
                // Read the version, then append at it: between the two,
                // another writer may get there first.
                let version = store.load("acc").await.unwrap().len() as i64;
                let amount = (writer * APPENDS + n) as i64;
                match store.append("acc", version, &[deposit(amount)]).await {
                    Ok(_) => accepted.fetch_add(1, Ordering::SeqCst),
                    Err(StoreError::Conflict { .. }) => {
                        conflicts.fetch_add(1, Ordering::SeqCst)
                    }
                    Err(other) => panic!("{other}"),
                };
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }

    let accepted = accepted.load(Ordering::SeqCst);
    let conflicts = conflicts.load(Ordering::SeqCst);
    assert_eq!(accepted + conflicts, WRITERS * APPENDS);
    assert!(
        conflicts > 0,
        "the writers never raced: the test proved nothing"
    );
    let events = store.load("acc").await.unwrap();
    assert_eq!(
        events.len(),
        1 + accepted,
        "every accepted append, nothing else"
    );
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.version, i as i64 + 1, "versions 1..=N without gaps");
    }
    let mut amounts: Vec<i64> = events[1..]
        .iter()
        .map(|e| e.data["amount"].as_i64().unwrap())
        .collect();
    amounts.sort_unstable();
    amounts.dedup();
    assert_eq!(amounts.len(), accepted, "no event stored twice");
    println!(
        "{WRITERS} writers x {APPENDS}: {accepted} accepted, {conflicts} conflicts"
    );
}
// ANCHOR_END: concurrent_writers

#[tokio::test]
async fn a_refused_command_appends_nothing() {
    let store = fresh_store().await;
    let open = Command::Open {
        owner: "alice".into(),
    };
    handle(&store, "acc", open, 3).await.unwrap();
    let broke = handle(&store, "acc", Command::Withdraw { amount: 5 }, 3).await;
    assert!(matches!(
        broke,
        Err(CommandError::InsufficientFunds {
            balance: 0,
            amount: 5
        })
    ));
    let missing = handle(&store, "nobody", Command::Deposit { amount: 5 }, 3).await;
    assert!(matches!(missing, Err(CommandError::NotFound(_))));
    assert_eq!(store.load("acc").await.unwrap().len(), 1);
    assert!(store.load("nobody").await.unwrap().is_empty());
}

async fn read_model(store: &EventStore) -> Vec<(String, String, i64, i64)> {
    sqlx::query(
        "SELECT account_id, owner, balance, version FROM accounts ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

#[tokio::test]
async fn a_replay_rebuilds_the_same_read_model() {
    let store = fresh_store().await;
    for (id, owner) in [("a", "alice"), ("b", "bob"), ("c", "carol")] {
        let open = Command::Open {
            owner: owner.into(),
        };
        handle(&store, id, open, 3).await.unwrap();
    }
    for (id, amount) in [("a", 100), ("b", 50), ("a", 25), ("c", 10)] {
        handle(&store, id, Command::Deposit { amount }, 3)
            .await
            .unwrap();
    }
    handle(&store, "a", Command::Withdraw { amount: 30 }, 3)
        .await
        .unwrap();

    let projection = Projection::new(store.clone());
    assert_eq!(projection.catch_up().await.unwrap(), 8);
    assert_eq!(
        projection.catch_up().await.unwrap(),
        0,
        "nothing applied twice"
    );
    let built = read_model(&store).await;
    assert_eq!(
        built,
        [
            ("a".into(), "alice".into(), 95, 4),
            ("b".into(), "bob".into(), 50, 2),
            ("c".into(), "carol".into(), 10, 2),
        ]
    );
    for (id, _, balance, version) in &built {
        let folded = Account::from_events(&store.load(id).await.unwrap());
        assert_eq!((folded.balance, folded.version), (*balance, *version));
    }

    assert_eq!(projection.rebuild().await.unwrap(), 8);
    assert_eq!(read_model(&store).await, built);
}
