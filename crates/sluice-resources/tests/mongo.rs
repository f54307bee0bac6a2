//! The MongoDB resource against a MongoDB-compatible server (SecantusDB) that
//! `tests/run.sh` starts (`tests/services/mongo.sh`) and names in
//! `$SLUICE_TEST_MONGO_URI`. Each test works in a database of its own and drops it.
//! Without the server the tests fail; they never skip.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sluice_core::config::EnvVar;
use sluice_core::resource::ConfigurableResource;
use sluice_resources::mongo::bson::{Document, doc};
use sluice_resources::mongo::{MongoConfig, MongoResource, Upserted, is_duplicate_key};

fn uri() -> String {
    std::env::var("SLUICE_TEST_MONGO_URI").unwrap_or_else(|_| {
        panic!("SLUICE_TEST_MONGO_URI is not set: start a server with tests/services/mongo.sh (tests/run.sh does)")
    })
}

/// One dataset's load, as the spatial ETL's ledger records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Load {
    dataset: String,
    rows: i64,
    status: String,
}

fn load(dataset: &str, rows: i64, status: &str) -> Load {
    Load {
        dataset: dataset.to_owned(),
        rows,
        status: status.to_owned(),
    }
}

#[tokio::test]
async fn a_ledger_inserts_upserts_updates_finds_and_aggregates_with_a_unique_index() {
    let name = format!("sluice_test_{}", fastrand::u32(..));
    let mongo = MongoResource::connect(&MongoConfig::new(uri().as_str(), name.as_str()))
        .await
        .unwrap();
    mongo.health_check().await.unwrap();
    let index = mongo
        .ensure_index("loads", doc! {"dataset": 1}, true)
        .await
        .unwrap();
    assert_eq!(
        mongo
            .ensure_index("loads", doc! {"dataset": 1}, true)
            .await
            .unwrap(),
        index,
        "idempotent"
    );
    let loads = mongo.collection::<Load>("loads");
    loads
        .insert_many([
            load("parcels", 120, "loaded"),
            load("roads", 40, "loaded"),
            load("rivers", 300, "failed"),
        ])
        .await
        .unwrap();
    let err = loads
        .insert_one(load("parcels", 1, "loaded"))
        .await
        .unwrap_err();
    assert!(is_duplicate_key(&err), "{err}");

    // Upserts by filter: insert, change, no change.
    let set = |rows: i64| doc! {"rows": rows, "status": "loaded"};
    assert_eq!(
        mongo
            .upsert("loads", doc! {"dataset": "lakes"}, set(7))
            .await
            .unwrap(),
        Upserted::Inserted
    );
    assert_eq!(
        mongo
            .upsert("loads", doc! {"dataset": "lakes"}, set(8))
            .await
            .unwrap(),
        Upserted::Updated
    );
    assert_eq!(
        mongo
            .upsert("loads", doc! {"dataset": "lakes"}, set(8))
            .await
            .unwrap(),
        Upserted::Unchanged
    );

    // Update operators, then a filtered, sorted find.
    let updated = loads
        .update_many(
            doc! {"status": "loaded"},
            doc! {"$inc": {"rows": 1}, "$set": {"status": "checked"}},
        )
        .await
        .unwrap();
    assert_eq!(updated.modified_count, 3);
    let big: Vec<Load> = loads
        .find(doc! {"rows": {"$gt": 10}})
        .sort(doc! {"rows": -1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        big,
        [
            load("rivers", 300, "failed"),
            load("parcels", 121, "checked"),
            load("roads", 41, "checked")
        ]
    );
    assert_eq!(
        loads
            .count_documents(doc! {"status": "checked"})
            .await
            .unwrap(),
        3
    );

    // Rows per status.
    let totals: Vec<Document> = loads
        .aggregate([
            doc! {"$match": {"rows": {"$gte": 0}}},
            doc! {"$group": {"_id": "$status", "rows": {"$sum": "$rows"}}},
            doc! {"$sort": {"_id": 1}},
        ])
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        totals,
        [
            doc! {"_id": "checked", "rows": 171_i64},
            doc! {"_id": "failed", "rows": 300_i64}
        ]
    );

    mongo.database().drop().await.unwrap();
    mongo.teardown().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_and_bad_config_are_clear_errors_without_credentials() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let err = MongoResource::connect(&MongoConfig {
        server_selection_timeout_seconds: 1.0,
        ..MongoConfig::new(
            format!("mongodb://ledger:topsecret@127.0.0.1:{closed}/").as_str(),
            "ledger",
        )
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.starts_with(&format!(
            "cannot reach MongoDB at 127.0.0.1:{closed}/ledger: "
        )),
        "{err}"
    );
    assert!(!err.contains("topsecret"), "{err}");

    for (config, message) in [
        (
            MongoConfig::new("http://u:topsecret@db.example.com/", "x"),
            "invalid MongoDB config: uri http://***@db.example.com/",
        ),
        (
            MongoConfig::new(EnvVar::new("SLUICE_TEST_UNSET_MONGO_URI_3E8"), "x"),
            "environment variable \"SLUICE_TEST_UNSET_MONGO_URI_3E8\" is not set",
        ),
        (
            MongoConfig {
                server_selection_timeout_seconds: f64::NAN,
                ..MongoConfig::new(uri().as_str(), "x")
            },
            "server_selection_timeout_seconds must be a non-negative number of seconds",
        ),
    ] {
        let err = MongoResource::connect(&config)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
    }
}
