//! The `{{name}}` location's tests: in process, with `sluice::testing`; no instance, no
//! server. `cargo test` runs them.

use serde_json::json;
use sluice::core::run_request::TickOutcome;
use sluice::core::sensor::{SensorEvaluationContext, SensorInput};
use sluice::testing;

#[tokio::test]
async fn the_job_extracts_and_loads_the_rows_its_config_asks_for() {
    let defs = {{crate}}::definitions().expect("the definitions load");
    let result = testing::execute_job(&defs, "ingest")
        .run_config(json!({"ops": {"extract": {"config": {"rows": 3}}}}))
        .run()
        .await
        .expect("the run starts");
    assert!(result.success(), "{:?}", result.step_failures());
    assert_eq!(result.output::<usize>("load", "loaded").expect("loaded"), 3);
    assert_eq!(result.logs(), ["extracting 3 rows", "loaded 3 rows"]);
}

#[tokio::test]
async fn the_total_sums_the_readings_and_the_check_passes() {
    let defs = {{crate}}::definitions().expect("the definitions load");
    let result = testing::materialize(&defs, "*summary/total")
        .run()
        .await
        .expect("the run starts");
    assert!(result.success(), "{:?}", result.step_failures());
    assert_eq!(result.asset_value::<i64>("summary/total").expect("total"), 29);
    let checks = result.check_results();
    assert_eq!(checks.len(), 1);
    assert!(checks[0].passed);
}

#[tokio::test]
async fn the_sensor_asks_for_one_run_per_new_file() {
    let inbox = std::env::temp_dir().join(format!("{{name}}-inbox-{}", std::process::id()));
    std::fs::create_dir_all(&inbox).expect("inbox");
    std::fs::write(inbox.join("a.csv"), "12345").expect("file");
    // SAFETY: the only test that reads or sets INBOX.
    unsafe { std::env::set_var("INBOX", &inbox) };
    let defs = {{crate}}::definitions().expect("the definitions load");
    let sensor = defs.sensor("inbox_files").expect("defined");
    let now = sluice::core::chrono::Utc::now();
    let first = sensor
        .evaluate(SensorEvaluationContext::new("inbox_files", now), SensorInput::default())
        .await
        .expect("evaluates");
    let TickOutcome { run_requests, cursor, .. } = first;
    assert_eq!(run_requests.len(), 1);
    assert_eq!(cursor.as_deref(), Some("a.csv"));
    // Evaluated again from its cursor, it has nothing new.
    let again = sensor
        .evaluate(
            SensorEvaluationContext::new("inbox_files", now).with_cursor(cursor),
            SensorInput::default(),
        )
        .await
        .expect("evaluates");
    assert!(again.run_requests.is_empty());
    std::fs::remove_dir_all(&inbox).ok();
}
