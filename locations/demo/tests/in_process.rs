//! The demo location tested the way a location's own tests should be: in process, with
//! `sluice::testing`, no instance and no server.

#![allow(clippy::unwrap_used)]

use serde_json::json;
use sluice::testing::{self, TestingError};
use sluice_location_demo::assets::Order;
use sluice_location_demo::definitions;

#[tokio::test]
async fn an_op_with_config_returns_its_number_and_logs_its_label() {
    let defs = definitions().expect("the demo loads");
    let result = testing::execute_job(&defs, "config_job")
        .run_config(json!({"ops": {"use_config": {"config": {"n": 42, "label": "answer"}}}}))
        .run()
        .await
        .expect("runs");
    assert!(result.success(), "{:?}", result.step_failures());
    assert_eq!(result.output::<i64>("use_config", "result").unwrap(), 42);
    assert_eq!(result.logs(), ["label: answer"]);
    // Asking for the wrong type, or an output that is not there, says so.
    let wrong = result.output::<String>("use_config", "result").unwrap_err();
    assert!(matches!(wrong, TestingError::WrongType { .. }), "{wrong}");
    let missing = result.output::<i64>("nope", "result").unwrap_err();
    assert_eq!(
        missing.to_string(),
        "step \"nope\" has no output \"result\" in this run"
    );
}

#[tokio::test]
async fn a_failing_op_fails_the_run_and_skips_what_follows() {
    let defs = definitions().expect("the demo loads");
    let result = testing::execute_job(&defs, "failing_job")
        .run()
        .await
        .expect("runs");
    assert!(!result.success());
    let failures = result.step_failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, "boom");
    assert!(result.output::<i64>("after", "result").is_err());
}

#[tokio::test]
async fn the_order_assets_materialize_with_their_checks() {
    let defs = definitions().expect("the demo loads");
    let result = testing::materialize(&defs, "*warehouse/daily_revenue")
        .run()
        .await
        .expect("runs");
    assert!(result.success(), "{:?}", result.step_failures());
    assert_eq!(
        result
            .asset_value::<i64>("warehouse/daily_revenue")
            .unwrap(),
        1250 + 4000 + 990
    );
    let staged: Vec<Order> = result.asset_value("staging/orders").unwrap();
    assert_eq!(staged.len(), 3);
    let materialized: Vec<String> = result
        .materializations()
        .iter()
        .map(|m| m.asset_key.to_string())
        .collect();
    assert_eq!(
        materialized,
        ["raw/orders", "staging/orders", "warehouse/daily_revenue"]
    );
    let checks: Vec<(String, bool)> = result
        .check_results()
        .iter()
        .map(|c| (c.check_name.clone(), c.passed))
        .collect();
    assert!(
        checks.contains(&("amounts_positive".to_owned(), false)),
        "{checks:?}"
    );
    assert!(
        checks.contains(&("no_negative_amounts".to_owned(), true)),
        "{checks:?}"
    );
}

#[tokio::test]
async fn a_downstream_asset_loads_what_an_earlier_run_materialized() {
    let defs = definitions().expect("the demo loads");
    let io = std::sync::Arc::new(sluice::core::io_manager::MemoryIoManager::new());
    // Alone, staging has nothing to read.
    let alone = testing::materialize(&defs, "staging/orders")
        .run()
        .await
        .expect("runs");
    assert!(!alone.success());
    assert!(
        alone.step_failures()[0].1.contains("never materialized"),
        "{:?}",
        alone.step_failures()
    );
    let raw = testing::materialize(&defs, "raw/orders")
        .io_manager(io.clone())
        .run()
        .await
        .expect("runs");
    assert!(raw.success());
    let staging = testing::materialize(&defs, "staging/orders")
        .io_manager(io)
        .run()
        .await
        .expect("runs");
    assert!(staging.success(), "{:?}", staging.step_failures());
}

#[tokio::test]
async fn one_partition_of_a_daily_asset() {
    let defs = definitions().expect("the demo loads");
    let result = testing::materialize(&defs, "raw/daily_orders")
        .partition("2026-01-05")
        .run()
        .await
        .expect("runs");
    assert!(result.success(), "{:?}", result.step_failures());
    let orders: Vec<Order> = result.asset_value("raw/daily_orders").unwrap();
    // Day 5 of the year: 5 % 5 + 1 orders.
    assert_eq!(orders.len(), 1);
    assert_eq!(
        result.materializations()[0].partition.as_deref(),
        Some("2026-01-05")
    );
}

#[tokio::test]
async fn bad_input_is_a_typed_error_naming_it() {
    let defs = definitions().expect("the demo loads");
    let err = testing::execute_job(&defs, "nope").run().await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("job \"nope\" is not defined; the definitions have: "),
        "{err}"
    );
    let err = testing::execute_job(&defs, "config_job")
        .run_config(json!({"ops": {"use_config": {"config": {"n": "many"}}}}))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, TestingError::RunConfig(_)), "{err}");
    assert!(
        err.to_string().contains("root:ops:use_config:config:n"),
        "{err}"
    );
    let err = testing::materialize(&defs, "no/such/asset")
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, TestingError::Selection { .. }), "{err}");
}
