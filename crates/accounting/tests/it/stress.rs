//! The domain's property, smaller, against the real service and database:
//! random sequences of valid and invalid postings, reversals and period
//! changes keep the books balanced, and a refused operation changes
//! nothing.

use marimo_testkit::backends;
use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, TestRunner},
};
use serde_json::{Value, json};

use crate::support::{App, accountant, admin, app};

#[derive(Debug, Clone)]
enum Op {
    Post {
        day: u32,
        lines: Vec<(String, u32, bool)>,
    },
    Reverse {
        pick: usize,
        day: u32,
    },
    Period {
        month: u32,
        action: &'static str,
    },
}

fn date(day: u32) -> String {
    // Days 0..180 from 2026-01-01, months of 28 days to stay simple.
    let month = day / 28 + 1;
    let d = day % 28 + 1;
    format!("2026-{month:02}-{d:02}")
}

fn op() -> impl Strategy<Value = Op> {
    let account =
        prop::sample::select(vec!["1000", "1200", "2000", "3000", "4000", "6000", "9999"])
            .prop_map(str::to_owned);
    prop_oneof![
        5 => (0u32..168, prop::collection::vec((account, 1u32..100_000, any::<bool>()), 1..5))
            .prop_map(|(day, lines)| Op::Post { day, lines }),
        2 => (any::<usize>(), 0u32..168).prop_map(|(pick, day)| Op::Reverse { pick, day }),
        1 => (1u32..7, prop::sample::select(vec!["close", "reopen", "reopen"]))
            .prop_map(|(month, action)| Op::Period { month, action }),
    ]
}

/// Balanced two-line entries most of the time, so that postings succeed
/// often enough; raw (likely unbalanced) lines otherwise.
fn body(day: u32, lines: &[(String, u32, bool)]) -> Value {
    let lines: Vec<Value> = if lines.len() == 2 {
        let amount = format!("{}.{:02}", lines[0].1 / 100, lines[0].1 % 100);
        vec![
            json!({"account": lines[0].0, "debit": amount}),
            json!({"account": lines[1].0, "credit": amount}),
        ]
    } else {
        lines
            .iter()
            .map(|(a, v, debit)| json!({"account": a, if *debit { "debit" } else { "credit" }: format!("{}.{:02}", v / 100, v % 100)}))
            .collect()
    };
    json!({"date": date(day), "description": "stress", "lines": lines})
}

async fn fingerprint(app: &App) -> (i64, i64, i64, i64) {
    (
        app.scalar("SELECT COUNT(*) FROM journal_entries").await,
        app.scalar("SELECT COUNT(*) FROM journal_lines").await,
        app.scalar("SELECT CAST(COALESCE(SUM(debit), 0) AS BIGINT) FROM account_balances")
            .await,
        app.scalar("SELECT CAST(COALESCE(SUM(next), 0) AS BIGINT) FROM entry_counters")
            .await,
    )
}

#[tokio::test]
async fn random_histories_keep_the_real_books_balanced() {
    for backend in backends() {
        let app = app(&backend).await;
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            proptest::test_runner::TestRng::deterministic_rng(
                proptest::test_runner::RngAlgorithm::ChaCha,
            ),
        );
        let ops = prop::collection::vec(op(), 120)
            .new_tree(&mut runner)
            .expect("a sample")
            .current();
        let mut ids: Vec<String> = Vec::new();
        let (mut ok, mut refused) = (0, 0);
        for op in &ops {
            let before = fingerprint(&app).await;
            let res = match op {
                Op::Post { day, lines } => app.post(body(*day, lines)).await,
                Op::Reverse { pick, day } if !ids.is_empty() => {
                    let id = &ids[pick % ids.len()];
                    app.http
                        .post(&format!("/api/accounting/journal-entries/{id}/reverse"))
                        .bearer(&accountant())
                        .json(json!({"date": date(*day)}))
                        .send()
                        .await
                }
                Op::Reverse { .. } => continue,
                Op::Period { month, action } => {
                    app.http
                        .post(&format!("/api/accounting/periods/2026-{month:02}/{action}"))
                        .bearer(&admin())
                        .send()
                        .await
                }
            };
            match res.status {
                200 => {}
                201 => {
                    ok += 1;
                    ids.push(
                        res.json["entry"]["id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                400 | 409 | 422 => {
                    refused += 1;
                    assert_eq!(
                        fingerprint(&app).await,
                        before,
                        "{}: refused {op:?} changed the ledger: {}",
                        backend.name(),
                        res.text
                    );
                }
                other => panic!("{}: {op:?}: {other} {}", backend.name(), res.text),
            }
        }
        assert!(
            ok > 10 && refused > 10,
            "a useful mix: {ok} posted, {refused} refused"
        );
        app.assert_consistent().await;
        for as_of in ["2026-01-15", "2026-02-28", "2026-04-10", "2026-12-31"] {
            let tb = app.trial_balance(as_of).await;
            assert_eq!(tb["total_debit"], tb["total_credit"], "{as_of}");
            let bs = app
                .get(&format!(
                    "/api/accounting/reports/balance-sheet?as_of={as_of}"
                ))
                .await
                .expect(200);
            assert_eq!(bs.json["balanced"], true, "{as_of}: {}", bs.json);
        }
    }
}
