//! Committed payments per second, with N concurrent tasks (ignored by default):
//!
//! ```sh
//! WEARPAY_BENCH_PAYMENTS=4000 WEARPAY_BENCH_TASKS=16 WEARPAY_BENCH_ACCOUNTS=1 \
//! WEARPAY_BENCH_CONNECTIONS=8 cargo test --release -p wearpay-center --test store bench -- --ignored --nocapture
//! ```
//!
//! Each task is one band paying its own orders in turn. `WEARPAY_BENCH_ACCOUNTS` says whose:
//!
//! - `1` (the default): every band pays from one account to one merchant, the worst case:
//!   every payment locks the same two balance rows;
//! - `2`: each band has its own account, and all pay one merchant (a shop's rush hour);
//! - `0`: each band has an account and a merchant of its own.
use std::time::Instant;

use tokio::task::JoinSet;
use wearpay_center::{PaymentRecord, Store, StoreConfig};
use wearpay_pay::{Amount, Limits, Outcome};

use crate::common::{T0, World, on_bench};

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

on_bench!(payments_per_second);

/// The store's settings, with `WEARPAY_BENCH_CONNECTIONS` connections (PostgreSQL's pool;
/// SQLite's readers).
fn config() -> StoreConfig {
    StoreConfig { max_connections: env("WEARPAY_BENCH_CONNECTIONS", 8), ..StoreConfig::default() }
}

async fn payments_per_second(store: &Store) {
    let payments = env("WEARPAY_BENCH_PAYMENTS", 2_000);
    let tasks = env("WEARPAY_BENCH_TASKS", 16).max(1);
    let accounts = env("WEARPAY_BENCH_ACCOUNTS", 1);
    let main = World::new(store, "100000000.00").await;
    // One band per task, each paying its own orders in turn (its counter increases).
    let mut queues: Vec<Vec<PaymentRecord>> = Vec::new();
    for t in 0..tasks {
        let own;
        let (w, terminal) = if t == 0 {
            (&main, main.terminal.clone())
        } else if accounts == 1 {
            (&main, main.enroll(t + 1).await)
        } else {
            own = if accounts == 2 {
                main.another_payer("100000000.00", t + 1).await
            } else {
                World::new_named(store, "100000000.00", t).await
            };
            (&own, own.terminal.clone())
        };
        let mut queue = Vec::new();
        for i in (t..payments).step_by(tasks as usize) {
            let order = w.order(&format!("ORD-{i}"), "1.00").await;
            let mut record = w.record(u128::from(i) + 1, &terminal, &order, "1.00", u64::from(i) + 1);
            // Measure the ledger, not the daily limit.
            record.limits.mode = Some(Limits { per_transaction: Amount::MAX, daily: Amount::MAX });
            queue.push(record);
        }
        queues.push(queue);
    }
    let start = Instant::now();
    let mut set = JoinSet::new();
    for queue in queues {
        let store = store.clone();
        set.spawn(async move {
            let mut latencies = Vec::with_capacity(queue.len());
            for record in queue {
                let t = Instant::now();
                let r = store.commit_payment(&record, T0, crate::common::respond).await.unwrap();
                assert_eq!(r.outcome(), Outcome::Approved);
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(l) = set.join_next().await {
        latencies.extend(l.unwrap());
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "{:?}: {payments} payments, {tasks} tasks, {}: {:.0} payments/s, p50 {:.1} ms, p99 {:.1} ms",
        store.backend(),
        match accounts {
            1 => "one payer, one merchant",
            2 => "a payer per task, one merchant",
            _ => "a payer and a merchant per task",
        },
        f64::from(payments) / elapsed.as_secs_f64(),
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3,
    );
    let report = store.ledger_check().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.approved_payments, u64::from(payments));
}
