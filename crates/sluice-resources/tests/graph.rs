//! The graph resource. With the `ladybug` feature (tests/run.sh always runs this file
//! with it, after tests/services/ladybug.sh has built the engine): real databases per
//! graph id, Cypher with parameters, bulk loads from files and object storage, timeouts,
//! and the resource in a run. Without it: a location that binds the resource fails to
//! load, saying how to build one that has it.

mod common;

#[cfg(not(feature = "ladybug"))]
#[test]
fn without_the_engine_a_location_binding_the_graph_fails_to_load() {
    use sluice_core::prelude::*;
    use sluice_resources::graph::{GraphConfig, GraphError, GraphResource};

    let err = Definitions::builder()
        .resource("graph", ResourceDefinition::new::<GraphResource>())
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("resource \"graph\""), "{err}");
    assert!(err.contains("is not available in this build"), "{err}");
    assert!(err.contains("--features sluice-resources/ladybug"), "{err}");
    let err = GraphResource::new(GraphConfig::new("/tmp/never")).unwrap_err();
    assert!(matches!(err, GraphError::NotBuilt), "{err}");
}

#[cfg(feature = "ladybug")]
mod engine {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use serde::Deserialize;
    use serde_json::{Value, json};
    use sluice_core::events::EventType;
    use sluice_core::prelude::*;
    use sluice_resources::Table;
    use sluice_resources::graph::{FileFormat, GraphConfig, GraphError, GraphResource};
    use sluice_resources::s3::S3Resource;

    use super::common;

    fn resource(dir: &tempfile::TempDir) -> GraphResource {
        let mut config = GraphConfig::new(dir.path().display().to_string());
        config.buffer_pool_mb = 64;
        config.max_size_mb = 1024;
        GraphResource::new(config).unwrap()
    }

    const SCHEMA: &str = "
        CREATE NODE TABLE Account(id STRING, plan STRING, seats INT64, PRIMARY KEY(id));
        CREATE NODE TABLE Invoice(number INT64, amount DOUBLE, issued DATE, PRIMARY KEY(number));
        CREATE REL TABLE BILLED(FROM Account TO Invoice, channel STRING);
        CREATE REL TABLE REFERS(FROM Account TO Account);
    ";

    #[derive(Debug, Deserialize, PartialEq)]
    struct Billed {
        account: String,
        total: f64,
        invoices: i64,
    }

    #[tokio::test]
    async fn one_database_per_tenant_with_parameterised_cypher() {
        let dir = tempfile::tempdir().unwrap();
        let graphs = resource(&dir);
        let acme = graphs.graph("acme").await.unwrap();
        let globex = graphs.graph("globex").await.unwrap();
        assert!(
            Arc::ptr_eq(&acme, &graphs.graph("acme").await.unwrap()),
            "opened once"
        );
        acme.execute(SCHEMA).await.unwrap();
        globex.execute(SCHEMA).await.unwrap();

        // 1,000 invoices through one parameterised statement each.
        acme.query(
            "CREATE (:Account {id: $id, plan: $plan, seats: $seats})",
            json!({"id": "a1", "plan": "pro", "seats": 12}),
        )
        .await
        .unwrap();
        acme.query(
            "CREATE (:Account {id: $id, plan: $plan, seats: $seats})",
            json!({"id": "a2", "plan": "free", "seats": null}),
        )
        .await
        .unwrap();
        for number in 0..1000 {
            acme.query(
                "MATCH (a:Account {id: $account}) \
                 CREATE (a)-[:BILLED {channel: $channel}]->(:Invoice {number: $number, amount: $amount, issued: date($issued)})",
                json!({
                    "account": if number % 4 == 0 { "a2" } else { "a1" },
                    "channel": "card",
                    "number": number,
                    "amount": 10.5,
                    "issued": "2026-11-01",
                }),
            )
            .await
            .unwrap();
        }
        acme.execute(
            "MATCH (a:Account {id: 'a2'}), (b:Account {id: 'a1'}) CREATE (a)-[:REFERS]->(b)",
        )
        .await
        .unwrap();

        let billed: Vec<Billed> = acme
            .query_as(
                "MATCH (a:Account)-[:BILLED]->(i:Invoice) WHERE i.amount >= $min \
                 RETURN a.id AS account, sum(i.amount) AS total, count(i) AS invoices ORDER BY account",
                json!({"min": 10}),
            )
            .await
            .unwrap();
        assert_eq!(
            billed,
            vec![
                Billed {
                    account: "a1".into(),
                    total: 7875.0,
                    invoices: 750
                },
                Billed {
                    account: "a2".into(),
                    total: 2625.0,
                    invoices: 250
                },
            ]
        );

        // Nodes, relationships, dates, lists and paths come back as JSON.
        let rows = acme
            .query(
                "MATCH (a:Account {id: 'a1'})-[b:BILLED]->(i:Invoice {number: 1}) \
                 RETURN a, b, i.issued AS issued, [1, 2] AS list",
                Value::Null,
            )
            .await
            .unwrap();
        assert_eq!(rows.columns, ["a", "b", "issued", "list"]);
        let row = &rows.rows[0];
        assert_eq!(row[0]["_label"], "Account");
        assert_eq!(row[0]["plan"], "pro");
        assert_eq!(row[0]["seats"], 12);
        assert_eq!(row[1]["_label"], "BILLED");
        assert_eq!(row[1]["channel"], "card");
        assert_eq!(row[1]["_src"], row[0]["_id"]);
        assert_eq!(row[2], "2026-11-01");
        assert_eq!(row[3], json!([1, 2]));
        let path = acme
            .query(
                "MATCH p = (:Account {id: 'a2'})-[:REFERS*1..2]->(:Account) RETURN length(p) AS hops, nodes(p) AS nodes",
                Value::Null,
            )
            .await
            .unwrap();
        assert_eq!(path.rows[0][0], 1);
        assert_eq!(path.rows[0][1].as_array().map(Vec::len), Some(2));

        // The other tenant's graph is separate.
        let count = globex
            .query("MATCH (i:Invoice) RETURN count(i)", Value::Null)
            .await
            .unwrap();
        assert_eq!(count.scalar(), Some(&json!(0)));
        assert_eq!(graphs.graph_ids().unwrap(), ["acme", "globex"]);

        // Errors name the graph and the statement.
        let err = acme
            .query("MATCH (n:Nope) RETURN n", Value::Null)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, GraphError::Query { .. }), "{message}");
        assert!(
            message.starts_with("graph acme: ") && message.contains("Nope"),
            "{message}"
        );
        assert!(
            message.ends_with("(in: MATCH (n:Nope) RETURN n)"),
            "{message}"
        );
        let err = acme.query("RETURN $x", json!([1])).await.unwrap_err();
        assert!(
            err.to_string().contains("parameters must be an object"),
            "{err}"
        );
        let err = acme
            .query("RETURN $x AS x", json!({"x": [1, "two"]}))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("parameter $x: a list must hold values of one type"),
            "{err}"
        );
        for bad in ["", "../acme", "a/b", "_health", &"x".repeat(65)] {
            let err = graphs.graph(bad).await.unwrap_err();
            assert!(matches!(err, GraphError::InvalidGraphId(_)), "{bad}: {err}");
        }
        // A failed statement of a script leaves the earlier ones done, and says which failed.
        let err = globex
            .execute("CREATE (:Account {id: 'g1'}); CREATE (:Account {id: 'g1'})")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("(in: CREATE (:Account {id: 'g1'}))"),
            "{err}"
        );

        // A graph a step still holds is not dropped; once released, it is.
        let err = graphs.drop_graph("globex").await.unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
        drop(globex);
        graphs.drop_graph("globex").await.unwrap();
        assert!(graphs.drop_graph("globex").await.is_err(), "gone");
        assert_eq!(graphs.graph_ids().unwrap(), ["acme"]);
        graphs.health_check().await.unwrap();
    }

    #[tokio::test]
    async fn bulk_loads_csv_and_parquet_from_files_and_object_storage() {
        let dir = tempfile::tempdir().unwrap();
        let graphs = resource(&dir);
        let tenant = graphs.graph("tenant-7").await.unwrap();
        tenant.execute(SCHEMA).await.unwrap();

        let csv = dir.path().join("accounts.csv");
        std::fs::write(&csv, "id,plan,seats\na1,pro,3\na2,free,1\na3,pro,9\n").unwrap();
        assert_eq!(
            tenant
                .copy_from("Account", &csv, FileFormat::Csv)
                .await
                .unwrap(),
            3
        );

        let batch = RecordBatch::try_from_iter([
            ("number", Arc::new(Int64Array::from(vec![1, 2])) as _),
            (
                "amount",
                Arc::new(arrow_array::Float64Array::from(vec![5.0, 7.5])) as _,
            ),
            (
                "issued",
                Arc::new(arrow_array::Date32Array::from(vec![20_000, 20_001])) as _,
            ),
        ])
        .unwrap();
        let store = S3Resource::new(&common::moto_config("graph-load", "loads").await).unwrap();
        store
            .put("invoices.parquet", Table(batch).to_parquet().unwrap())
            .await
            .unwrap();
        let loaded = tenant
            .copy_from_store("Invoice", &store, "invoices.parquet", FileFormat::Parquet)
            .await
            .unwrap();
        assert_eq!(loaded, 2);

        let edges = dir.path().join("billed.csv");
        std::fs::write(&edges, "from,to,channel\na1,1,card\na3,2,sepa\n").unwrap();
        assert_eq!(
            tenant
                .copy_from("BILLED", &edges, FileFormat::Csv)
                .await
                .unwrap(),
            2
        );
        let rows = tenant
            .query(
                "MATCH (a:Account)-[b:BILLED]->(i:Invoice) RETURN a.id, b.channel, i.amount ORDER BY a.id",
                Value::Null,
            )
            .await
            .unwrap();
        assert_eq!(
            rows.rows,
            vec![
                vec![json!("a1"), json!("card"), json!(5.0)],
                vec![json!("a3"), json!("sepa"), json!(7.5)]
            ]
        );

        // A bad file: a clear error, and the table keeps what it had.
        let broken = dir.path().join("broken.csv");
        std::fs::write(&broken, "id,plan,seats\na9,pro,many\n").unwrap();
        let err = tenant
            .copy_from("Account", &broken, FileFormat::Csv)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("graph tenant-7: cannot load "),
            "{message}"
        );
        assert!(message.contains("broken.csv"), "{message}");
        let err = tenant
            .copy_from("Account", &dir.path().join("missing.csv"), FileFormat::Csv)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("missing.csv"), "{err}");
        let err = tenant
            .copy_from("Account; DROP", &csv, FileFormat::Csv)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is not an identifier"), "{err}");
        let accounts = tenant
            .query("MATCH (a:Account) RETURN count(a)", Value::Null)
            .await
            .unwrap();
        assert_eq!(accounts.scalar(), Some(&json!(3)));
    }

    #[tokio::test]
    async fn a_query_past_its_timeout_is_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = GraphConfig::new(dir.path().display().to_string());
        config.buffer_pool_mb = 64;
        config.query_timeout_seconds = Some(0.2);
        let graphs = GraphResource::new(config).unwrap();
        let graph = graphs.graph("slow").await.unwrap();
        let started = std::time::Instant::now();
        let err = graph
            .query(
                "UNWIND range(1, 30000) AS a UNWIND range(1, 30000) AS b \
                 WITH a, b WHERE (a * b + a) % 7 = 3 RETURN count(*)",
                Value::Null,
            )
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(
            err.to_string().to_lowercase().contains("interrupt")
                || err.to_string().contains("timeout"),
            "{err}"
        );
    }

    /// A job's op writes to a tenant's graph through the bound resource.
    #[tokio::test]
    async fn ops_use_the_graph_of_their_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let sync = OpDefinition::builder("sync_accounts")
            .required_resource("graph")
            .output::<i64>("result")
            .compute(|ctx, _| async move {
                let graphs = ctx.resource::<GraphResource>("graph")?;
                let graph = graphs.graph("acme").await.context("open the graph")?;
                graph
                    .execute("CREATE NODE TABLE IF NOT EXISTS Account(id STRING, PRIMARY KEY(id))")
                    .await
                    .context("create the schema")?;
                graph
                    .query("MERGE (:Account {id: $id})", json!({"id": "a1"}))
                    .await
                    .context("upsert")?;
                let rows = graph
                    .query("MATCH (a:Account) RETURN count(a)", Value::Null)
                    .await
                    .context("count")?;
                Ok(rows.scalar().and_then(Value::as_i64).unwrap_or_default())
            });
        let mut job = JobDefinition::builder("graph_job");
        job.add(&sync);
        let defs = Definitions::builder()
            .job(job.build())
            .resource("graph", ResourceDefinition::new::<GraphResource>())
            .build()
            .unwrap();
        let config = json!({"resources": {"graph": {"config": {
            "path": dir.path().display().to_string(), "buffer_pool_mb": 64
        }}}});
        for _ in 0..2 {
            let (status, events) =
                common::execute_job(&defs, "graph_job", &config, "graph-run").await;
            assert_eq!(status, RunStatus::Success, "{events:?}");
            assert!(
                events
                    .iter()
                    .any(|e| e.event_type == EventType::StepSuccess)
            );
        }
        assert!(dir.path().join("acme").is_dir());
    }
}
