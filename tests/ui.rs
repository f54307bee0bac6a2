//! The web UI in a real browser: headless Chromium, driven through chromedriver
//! (WebDriver), against a running `sluice dev` with the bundled demo location.
//!
//! One test walks a user's runbook: launch a job from the launchpad with invalid and then
//! valid config, watch a run's log arrive live, terminate a long run, re-execute a failed
//! run from failure, switch a schedule on and off, reload a location. A screenshot of
//! each main page is saved under `target/ui-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (`tests/services/chromium.sh` installs them).

#![allow(clippy::unwrap_used, unreachable_pub, missing_docs)]

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use sluice_e2e::{Instance, ProcessGroup, demo_workspace, start_dev};

/// How long the browser waits for something to appear.
const PATIENCE: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Start chromedriver and open a headless Chromium session through it.
async fn browser() -> (ProcessGroup, Client) {
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start chromedriver ({e}); install it with tests/services/chromium.sh")
        });
    let driver = ProcessGroup(driver);
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
            ],
        }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    (driver, client)
}

/// Where screenshots go: `target/ui-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/ui-screenshots
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf();
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("take a screenshot");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("save the screenshot");
    eprintln!("screenshot: {}", path.display());
}

async fn find(client: &Client, css: &str) -> Element {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css:?}: {e}"))
}

async fn text(client: &Client, css: &str) -> String {
    find(client, css).await.text().await.expect("element text")
}

/// Wait until the text of `css` contains `wanted`; that text.
async fn wait_for_text(client: &Client, css: &str, wanted: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if seen.contains(wanted) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{css:?} never showed {wanted:?}; it shows {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Replace a text area's content (as typing would, with the input event).
async fn set_value(client: &Client, css: &str, value: &str) {
    let element = find(client, css).await;
    let element = serde_json::to_value(&element).expect("element reference");
    client
        .execute(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
            vec![element, Value::String(value.to_owned())],
        )
        .await
        .expect("set the value");
}

async fn click(client: &Client, css: &str) {
    find(client, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css:?}: {e}"));
}

/// Open a confirmed action (`details.confirm` whose summary is `label`) and confirm it.
async fn confirm(client: &Client, label: &str) {
    let summary = client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::XPath(&format!(
            "//details[contains(@class,'confirm')]/summary[normalize-space()='{label}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("no {label:?} action: {e}"));
    summary.click().await.expect("open the confirmation");
    let details = summary
        .find(Locator::XPath(".."))
        .await
        .expect("the confirmation");
    details
        .find(Locator::Css("button[type=submit]"))
        .await
        .expect("the confirm button")
        .click()
        .await
        .expect("confirm");
}

/// The run id of the run page the browser is on.
async fn run_id_of_page(client: &Client) -> String {
    let url = client.current_url().await.expect("current URL");
    let id = url
        .path()
        .strip_prefix("/runs/")
        .unwrap_or_else(|| panic!("not on a run page: {url}"));
    id.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_runs_their_runbook_in_the_browser() {
    let instance = Instance::sqlite();
    let workspace = demo_workspace(&instance);
    let (_dev, graphql) = start_dev(&instance, &workspace);
    let base = graphql.trim_end_matches("/graphql").to_owned();
    let (_driver, client) = browser().await;

    // An empty instance says what to do.
    client.goto(&format!("{base}/")).await.expect("open the UI");
    assert_eq!(client.current_url().await.unwrap().path(), "/runs");
    wait_for_text(&client, "main", "No runs yet.").await;

    // Jobs, and a job's graph.
    client.goto(&format!("{base}/jobs")).await.unwrap();
    wait_for_text(&client, "main", "config_job").await;
    screenshot(&client, "jobs").await;
    client
        .goto(&format!("{base}/jobs/demo/fanout_500"))
        .await
        .unwrap();
    let nodes = client
        .find_all(Locator::Css("svg.dag .node"))
        .await
        .expect("graph nodes");
    assert_eq!(nodes.len(), 501, "every op of fanout_500 is drawn");
    screenshot(&client, "job-graph").await;

    // The launchpad: invalid config is refused with the path of the error...
    client
        .goto(&format!("{base}/jobs/demo/config_job/launchpad"))
        .await
        .unwrap();
    let scaffold = find(&client, "#config")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        scaffold.contains("use_config"),
        "the editor starts from a scaffold: {scaffold}"
    );
    set_value(
        &client,
        "#config",
        "ops:\n  use_config:\n    config:\n      n: many\n",
    )
    .await;
    // ... as it is typed,
    wait_for_text(&client, "#config-problems", "root:ops:use_config:config:n").await;
    // ... and when launching anyway.
    click(&client, "button[value=launch]").await;
    let problems = wait_for_text(&client, "#config-problems", "config error").await;
    assert!(
        problems.contains("root:ops:use_config:config:n"),
        "{problems}"
    );
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/launchpad")
    );
    screenshot(&client, "launchpad-invalid").await;
    // Valid config and a tag launch a run, and the browser lands on it.
    set_value(
        &client,
        "#config",
        "ops:\n  use_config:\n    config:\n      n: 4\n      label: from the browser\n",
    )
    .await;
    wait_for_text(&client, "#config-problems", "The config is valid.").await;
    set_value(&client, "#tags", "team=data").await;
    click(&client, "button[value=launch]").await;
    wait_for_text(&client, "#run-status", "Success").await;
    wait_for_text(&client, "#log-rows", "label: from the browser").await;
    let tags = text(&client, "table.tags-table").await;
    assert!(tags.contains("team"), "{tags}");

    // A long run: its log arrives live, without reloading the page; then terminate it.
    client
        .goto(&format!("{base}/jobs/demo/sleepy_job/launchpad"))
        .await
        .unwrap();
    set_value(
        &client,
        "#config",
        "ops:\n  sleeper:\n    config:\n      seconds: 120\n",
    )
    .await;
    click(&client, "button[value=launch]").await;
    find(&client, "#live-indicator").await;
    client
        .execute("window.sluiceTestMarker = 42;", vec![])
        .await
        .unwrap();
    wait_for_text(&client, "#log-rows", "sleeping for 120s").await;
    wait_for_text(&client, "#run-status", "Running").await;
    let marker = client
        .execute("return window.sluiceTestMarker;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, json!(42), "the log arrived without a page load");
    screenshot(&client, "run-live").await;
    confirm(&client, "Terminate").await;
    wait_for_text(&client, "#run-status", "Canceled").await;
    screenshot(&client, "run-canceled").await;

    // A failed run, re-executed from failure once its cause is fixed.
    let gate = instance.home.path().join("gate-open");
    client
        .goto(&format!("{base}/jobs/demo/gated_job/launchpad"))
        .await
        .unwrap();
    set_value(
        &client,
        "#config",
        &format!(
            "ops:\n  gate:\n    config:\n      path: {}\n",
            gate.display()
        ),
    )
    .await;
    click(&client, "button[value=launch]").await;
    wait_for_text(&client, "#run-status", "Failure").await;
    let failed = run_id_of_page(&client).await;
    wait_for_text(&client, "#timeline", "Failed").await;
    screenshot(&client, "run-failed").await;
    std::fs::write(&gate, "open").unwrap();
    confirm(&client, "Re-execute from failure").await;
    wait_for_text(&client, "main", "Re-execution launched").await;
    let retried = run_id_of_page(&client).await;
    assert_ne!(retried, failed);
    wait_for_text(&client, "#run-status", "Success").await;
    wait_for_text(&client, "#log-rows", "the gate let 42 through").await;
    let facts = text(&client, "dl.facts").await;
    assert!(
        facts.contains(&failed[..8]),
        "the new run names its parent: {facts}"
    );

    // The runs list shows them all, and filters by status.
    client.goto(&format!("{base}/runs")).await.unwrap();
    let rows = client
        .find_all(Locator::Css("table.runs tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    screenshot(&client, "runs").await;
    click(&client, "input[name=status][value=FAILURE]").await;
    click(&client, "form.filters button[type=submit]").await;
    wait_for_text(&client, "table.runs", &failed[..8]).await;
    let rows = client
        .find_all(Locator::Css("table.runs tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the failed run");

    // A schedule switched on, then off.
    client.goto(&format!("{base}/automation")).await.unwrap();
    let toggle = "form[action='/automation/demo/one_op_every_minute/start'] button.toggle";
    assert_eq!(
        find(&client, toggle)
            .await
            .attr("aria-pressed")
            .await
            .unwrap()
            .as_deref(),
        Some("false")
    );
    click(&client, toggle).await;
    let on = "form[action='/automation/demo/one_op_every_minute/stop'] button.toggle";
    assert_eq!(
        find(&client, on)
            .await
            .attr("aria-pressed")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    screenshot(&client, "automation").await;
    click(&client, on).await;
    find(&client, toggle).await;
    client
        .goto(&format!("{base}/automation/demo/one_op_every_minute"))
        .await
        .unwrap();
    wait_for_text(&client, "main", "Ticks").await;
    screenshot(&client, "schedule").await;

    // An asset materialized from its page, then seen in its history and the catalog.
    client
        .goto(&format!("{base}/assets?q=orders"))
        .await
        .unwrap();
    wait_for_text(&client, "main", "warehouse/daily_order_counts").await;
    client
        .goto(&format!("{base}/assets/raw/orders"))
        .await
        .unwrap();
    wait_for_text(&client, "#latest + *", "Never materialized.").await;
    click(&client, "form[action='/assets'] button.primary").await;
    wait_for_text(&client, "#run-status", "Success").await;
    let materializing = run_id_of_page(&client).await;
    client
        .goto(&format!("{base}/assets/raw/orders?depth=2"))
        .await
        .unwrap();
    let latest = text(&client, "section[aria-labelledby=latest]").await;
    assert!(
        latest.contains(&materializing[..8]),
        "the latest materialization is the run's: {latest}"
    );
    assert!(
        latest.contains("row_count"),
        "its metadata is shown: {latest}"
    );
    wait_for_text(&client, ".run-header", "Fresh").await;
    let lineage = client
        .find_all(Locator::Css("#lineage ~ .graph-wrap svg .node"))
        .await
        .unwrap();
    assert!(
        lineage.len() >= 3,
        "raw/orders, staging/orders and the warehouse are drawn"
    );
    wait_for_text(
        &client,
        "section[aria-labelledby=checks]",
        "amounts_positive",
    )
    .await;
    screenshot(&client, "asset").await;
    // One partition of a partitioned asset.
    client
        .goto(&format!("{base}/assets/raw/daily_orders"))
        .await
        .unwrap();
    set_value(&client, "input[name=partitions]", "2026-01-02").await;
    click(&client, "form[action='/assets'] button.primary").await;
    wait_for_text(&client, "#run-status", "Success").await;
    client
        .goto(&format!("{base}/assets/raw/daily_orders"))
        .await
        .unwrap();
    wait_for_text(
        &client,
        "section[aria-labelledby=partitions]",
        "1 materialized",
    )
    .await;
    screenshot(&client, "asset-partitions").await;
    client.goto(&format!("{base}/assets")).await.unwrap();
    screenshot(&client, "assets").await;
    // A partitioned job launched for one partition from its launchpad.
    client
        .goto(&format!("{base}/jobs/demo/daily_orders_job/launchpad"))
        .await
        .unwrap();
    set_value(&client, "#partition", "2026-01-05").await;
    click(&client, "button[value=launch]").await;
    wait_for_text(&client, "#run-status", "Success").await;
    let tags = text(&client, "table.tags-table").await;
    assert!(
        tags.contains("2026-01-05"),
        "the run is of the partition: {tags}"
    );

    // A location reloaded; daemon health shown.
    client.goto(&format!("{base}/deployment")).await.unwrap();
    click(&client, "button[aria-label='Reload demo']").await;
    wait_for_text(&client, "#location-demo", "Loaded").await;
    wait_for_text(&client, "main", "QUEUED_RUN_COORDINATOR").await;
    screenshot(&client, "deployment").await;

    client.close().await.expect("close the browser");
}
