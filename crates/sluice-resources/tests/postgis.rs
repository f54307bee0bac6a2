//! The PostGIS resource against the local Postgres with PostGIS that `tests/run.sh`
//! starts (`tests/services/postgres.sh`), exporting to the local S3 server (moto).
//! Without the servers the tests fail; they never skip.

#![allow(clippy::unwrap_used)]

mod common;

use arrow_array::{Array, BinaryArray, Float64Array, Int64Array, StringArray};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use sluice_core::events::EventType;
use sluice_core::prelude::*;
use sluice_core::resource::ConfigurableResource;
use sluice_resources::postgis::{CsvGeometry, PostGisConfig, PostGisError, PostGisResource};
use sluice_resources::postgres::PostgresConfig;
use sluice_resources::s3::{S3Config, S3Resource};
use sqlx::Row;

fn config() -> PostGisConfig {
    PostGisConfig::new(PostgresConfig::url(common::postgres_url().as_str()))
}

async fn connect(run_id: &str) -> PostGisResource {
    PostGisResource::connect(&config(), Some(run_id))
        .await
        .unwrap_or_else(|e| {
            panic!("{e}: run tests/services/postgres.sh (as root), which installs PostGIS")
        })
}

fn run_id() -> String {
    format!(
        "{:08x}-{:04x}",
        fastrand::u32(..),
        std::process::id() & 0xffff
    )
}

async fn schema_exists(postgis: &PostGisResource, schema: &str) -> bool {
    let mut conn = postgis.connection().await.unwrap();
    sqlx::query("SELECT 1 FROM pg_namespace WHERE nspname = $1")
        .bind(schema)
        .fetch_optional(&mut *conn)
        .await
        .unwrap()
        .is_some()
}

async fn moto(name: &str) -> S3Resource {
    S3Resource::new(&common::moto_config(name, "exports").await).unwrap()
}

fn read_parquet(bytes: Bytes) -> (Value, Vec<arrow_array::RecordBatch>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let geo = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == "geo"))
        .and_then(|kv| kv.value.clone())
        .expect("a geo key in the file metadata");
    let batches = builder
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (serde_json::from_str(&geo).unwrap(), batches)
}

/// GeoPandas (from PyPI, in the test venv) reads the export as GeoParquet: its CRS,
/// rows and geometries.
fn geopandas_reads(parquet: &[u8]) {
    let python = std::env::var_os("SLUICE_TEST_PYTHON")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            // target/<profile>/deps/<test> → target/py-venv
            let exe = std::env::current_exe().unwrap();
            exe.ancestors().nth(3).unwrap().join("py-venv/bin/python")
        });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("centres.parquet");
    std::fs::write(&file, parquet).unwrap();
    let script = "import sys, geopandas\n\
                  df = geopandas.read_parquet(sys.argv[1]).sort_values('fid')\n\
                  print(df.crs.to_string(), len(df), df.geometry.iloc[0].wkt, df['name'].iloc[0])";
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; tests/run.sh makes the venv", python.display()));
    assert!(
        out.status.success(),
        "geopandas cannot read the export (tests/run.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OGC:CRS84 2 POINT (4.8683 52.358) Vondelpark"
    );
}

/// A WKB point's coordinates (little-endian, type 1).
fn wkb_point(wkb: &[u8]) -> (f64, f64) {
    assert_eq!(wkb[0], 1, "little-endian");
    assert_eq!(
        u32::from_le_bytes(wkb[1..5].try_into().unwrap()),
        1,
        "a point"
    );
    let x = f64::from_le_bytes(wkb[5..13].try_into().unwrap());
    let y = f64::from_le_bytes(wkb[13..21].try_into().unwrap());
    (x, y)
}

const PARKS: &str = r#"{
  "type": "FeatureCollection",
  "features": [
    {"type": "Feature", "properties": {"name": "Vondelpark", "area_ha": 47, "open": true, "tags": ["city"]},
     "geometry": {"type": "Point", "coordinates": [4.8683, 52.3580]}},
    {"type": "Feature", "properties": {"name": "Westerpark", "area_ha": 23.5, "open": false},
     "geometry": {"type": "Polygon", "coordinates": [[[4.87, 52.38], [4.88, 52.38], [4.88, 52.39], [4.87, 52.38]]]}},
    {"type": "Feature", "properties": {"name": "Unknown", "area_ha": null},
     "geometry": null}
  ]
}"#;

#[tokio::test]
async fn loads_transforms_and_exports_geoparquet_in_a_working_schema() {
    let run = run_id();
    let postgis = connect(&run).await;
    let schema = postgis.schema().to_owned();
    assert!(schema.starts_with("sluice_run_"), "{schema}");
    assert!(schema_exists(&postgis, &schema).await);

    let rows = postgis
        .load_geojson("parks", "parks.geojson", PARKS.as_bytes(), 4326)
        .await
        .unwrap();
    assert_eq!(rows, 3);
    // Columns and their inferred types, in the working schema.
    let columns = sqlx::query(
        "SELECT column_name::text AS name, udt_name::text AS type FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = 'parks' ORDER BY ordinal_position",
    )
    .bind(&schema)
    .fetch_all(&mut *postgis.connection().await.unwrap())
    .await
    .unwrap();
    let columns: Vec<(String, String)> = columns
        .iter()
        .map(|r| (r.get::<String, _>("name"), r.get::<String, _>("type")))
        .collect();
    let expected = [
        ("fid", "int8"),
        ("name", "text"),
        ("area_ha", "float8"),
        ("open", "bool"),
        ("tags", "jsonb"),
        ("geom", "geometry"),
    ];
    assert_eq!(
        columns,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
    );

    // A transform in SQL, unqualified names resolving in the working schema.
    postgis
        .execute(
            "CREATE TABLE park_centres AS \
               SELECT fid, name, area_ha, ST_Centroid(geom) AS geom FROM parks WHERE geom IS NOT NULL; \
             CREATE TABLE projected AS SELECT fid, ST_Transform(geom, 3857) AS geom FROM park_centres",
        )
        .await
        .unwrap();
    assert_eq!(postgis.count("park_centres").await.unwrap(), 2);

    let store = moto("postgis-export").await;
    let export = postgis
        .export_geoparquet("park_centres", &store, "parks/centres.parquet")
        .await
        .unwrap();
    assert_eq!(export.rows, 2);
    assert!(
        export.url.ends_with("/exports/parks/centres.parquet"),
        "{}",
        export.url
    );
    let (geo, batches) = read_parquet(store.get("parks/centres.parquet").await.unwrap());
    assert_eq!(geo, export.geo);
    assert_eq!(geo["version"], "1.1.0");
    assert_eq!(geo["primary_column"], "geom");
    assert_eq!(geo["columns"]["geom"]["encoding"], "WKB");
    assert_eq!(geo["columns"]["geom"]["geometry_types"], json!(["Point"]));
    assert!(
        geo["columns"]["geom"].get("crs").is_none(),
        "4326 is GeoParquet's default (OGC:CRS84)"
    );
    let bbox: Vec<f64> = serde_json::from_value(geo["columns"]["geom"]["bbox"].clone()).unwrap();
    assert!(
        (bbox[0] - 4.8683).abs() < 1e-9 && (bbox[1] - 52.358).abs() < 1e-9,
        "{bbox:?}"
    );
    assert!(bbox[2] > 4.87 && bbox[3] > 52.38, "{bbox:?}");
    assert_eq!(
        export.bytes,
        store
            .head("parks/centres.parquet")
            .await
            .unwrap()
            .unwrap()
            .size
    );

    let batch = &batches[0];
    let fid = batch
        .column_by_name("fid")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let name = batch
        .column_by_name("name")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let area = batch
        .column_by_name("area_ha")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let geom = batch
        .column_by_name("geom")
        .unwrap()
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap();
    let first = (0..batch.num_rows()).find(|&i| fid.value(i) == 0).unwrap();
    assert_eq!(name.value(first), "Vondelpark");
    assert_eq!(area.value(first), 47.0);
    let (x, y) = wkb_point(geom.value(first));
    assert!(
        (x - 4.8683).abs() < 1e-12 && (y - 52.358).abs() < 1e-12,
        "{x} {y}"
    );

    geopandas_reads(&store.get("parks/centres.parquet").await.unwrap());

    // Another SRID would need PROJJSON, which PostGIS cannot give: refused, nothing written.
    let err = postgis
        .export_geoparquet("projected", &store, "parks/projected.parquet")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("column geom is in SRID 3857"),
        "{err}"
    );
    assert!(
        store
            .head("parks/projected.parquet")
            .await
            .unwrap()
            .is_none()
    );

    postgis.teardown().await.unwrap();
    let check = connect(&format!("{run}-check")).await;
    assert!(
        !schema_exists(&check, &schema).await,
        "the working schema is dropped at teardown"
    );
    check.teardown().await.unwrap();
}

#[tokio::test]
async fn loads_csv_with_wkt_or_lon_lat_columns() {
    let postgis = connect(&run_id()).await;
    let wkt =
        "id,kind,wkt\n1,road,\"LINESTRING(0 0,10 10)\"\n2,path,\"LINESTRING(1 1,2 2)\"\n3,none,\n";
    let rows = postgis
        .load_csv(
            "roads",
            "roads.csv",
            wkt.as_bytes(),
            &CsvGeometry::Wkt {
                column: "wkt".into(),
            },
            3857,
        )
        .await
        .unwrap();
    assert_eq!(rows, 3);
    let row = sqlx::query(
        "SELECT sum(ST_Length(geom))::float8 AS length, max(ST_SRID(geom)) AS srid, \
         count(geom) AS with_geometry, sum(id)::int8 AS ids FROM roads",
    )
    .fetch_one(&mut *postgis.connection().await.unwrap())
    .await
    .unwrap();
    let length: f64 = row.get("length");
    assert!(
        (length - (200f64.sqrt() + 2f64.sqrt())).abs() < 1e-9,
        "{length}"
    );
    assert_eq!(row.get::<i32, _>("srid"), 3857);
    assert_eq!(row.get::<i64, _>("with_geometry"), 2);
    assert_eq!(row.get::<i64, _>("ids"), 6, "the id column is an integer");

    let points = "station,lon,lat,elevation\nA,4.9,52.37,2.5\nB,5.1,52.09,\n";
    let rows = postgis
        .load_csv(
            "stations",
            "stations.csv",
            points.as_bytes(),
            &CsvGeometry::LonLat {
                lon: "lon".into(),
                lat: "lat".into(),
            },
            4326,
        )
        .await
        .unwrap();
    assert_eq!(rows, 2);
    let row = sqlx::query(
        "SELECT ST_X(geom) AS x, ST_Y(geom) AS y, elevation FROM stations WHERE station = 'A'",
    )
    .fetch_one(&mut *postgis.connection().await.unwrap())
    .await
    .unwrap();
    assert_eq!(row.get::<f64, _>("x"), 4.9);
    assert_eq!(row.get::<f64, _>("y"), 52.37);
    assert_eq!(row.get::<f64, _>("elevation"), 2.5);
    postgis.teardown().await.unwrap();
}

#[tokio::test]
async fn bad_inputs_are_clear_errors_that_leave_no_table() {
    let postgis = connect(&run_id()).await;
    let csv = CsvGeometry::Wkt {
        column: "wkt".into(),
    };
    let cases: Vec<(&str, Result<u64, PostGisError>, &str)> = vec![
        (
            "not JSON",
            postgis.load_geojson("t1", "bad.geojson", b"{\"type\": ", 4326).await,
            "cannot load bad.geojson into t1: line 1: not JSON",
        ),
        (
            "not a collection",
            postgis.load_geojson("t2", "x.geojson", br#"{"type": "Point", "coordinates": [0, 0]}"#, 4326).await,
            "type is Some(\"Point\")",
        ),
        (
            "a bad geometry",
            postgis
                .load_geojson(
                    "t3",
                    "x.geojson",
                    br#"{"type": "FeatureCollection", "features": [
                        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
                        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0]}}]}"#,
                    4326,
                )
                .await,
            "feature 1: a position of the Point has 1 numbers",
        ),
        (
            "a property named like an added column",
            postgis
                .load_geojson(
                    "t4",
                    "x.geojson",
                    br#"{"type": "Feature", "properties": {"geom": 1}, "geometry": null}"#,
                    4326,
                )
                .await,
            "property \"geom\" clashes",
        ),
        (
            "WKT that PostGIS refuses, found by COPY",
            postgis
                .load_csv("t5", "roads.csv", b"wkt\nPOINT(0 0)\nPOINT(1 1)\n\"LINESTRING(0 0,\"\n", &csv, 4326)
                .await,
            "cannot load roads.csv into t5: line 4: parse error",
        ),
        (
            "an unknown geometry column",
            postgis.load_csv("t6", "roads.csv", b"a,b\n1,2\n", &csv, 4326).await,
            "there is no column \"wkt\" (columns: a, b)",
        ),
        (
            "a longitude that is no number",
            postgis
                .load_csv(
                    "t7",
                    "s.csv",
                    b"lon,lat\n1,2\nwest,3\n",
                    &CsvGeometry::LonLat { lon: "lon".into(), lat: "lat".into() },
                    4326,
                )
                .await,
            "line 3: lon \"west\" is not a number",
        ),
        (
            "an unknown SRID",
            postgis.load_csv("t8", "roads.csv", b"wkt\nPOINT(0 0)\n", &csv, 999_999).await,
            "SRID 999999 is not in spatial_ref_sys",
        ),
    ];
    for (what, result, expected) in cases {
        let err = result.expect_err(what).to_string();
        assert!(err.contains(expected), "{what}: {err}");
    }
    for table in ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"] {
        assert!(
            postgis.count(table).await.is_err(),
            "{table} was not created"
        );
    }

    // A table that exists already keeps its rows.
    postgis
        .load_csv("kept", "a.csv", b"wkt\nPOINT(0 0)\n", &csv, 4326)
        .await
        .unwrap();
    let err = postgis
        .load_csv(
            "kept",
            "b.csv",
            b"wkt\nPOINT(1 1)\nPOINT(2 2)\n",
            &csv,
            4326,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(postgis.count("kept").await.unwrap(), 1);

    // Exports of what cannot be exported.
    let store = S3Resource::new(&S3Config::new("memory://")).unwrap();
    postgis.execute("CREATE TABLE plain (a int)").await.unwrap();
    let err = postgis
        .export_geoparquet("plain", &store, "p.parquet")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot export plain: it has no geometry column"
    );
    // An empty table exports as an empty file with no geometry types and no bbox.
    postgis
        .execute("CREATE TABLE nothing (geom geometry(Point, 4326))")
        .await
        .unwrap();
    let empty = postgis
        .export_geoparquet("nothing", &store, "nothing.parquet")
        .await
        .unwrap();
    assert_eq!(empty.rows, 0);
    assert_eq!(empty.geo["columns"]["geom"]["geometry_types"], json!([]));
    assert!(empty.geo["columns"]["geom"].get("bbox").is_none());
    let err = postgis
        .export_geoparquet("missing", &store, "m.parquet")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("there is no such table"), "{err}");
    assert!(store.head("p.parquet").await.unwrap().is_none());

    // Config.
    let mut bad = config();
    bad.schema_prefix = "Run-1".into();
    let err = PostGisResource::connect(&bad, Some("r")).await.unwrap_err();
    assert!(err.to_string().contains("schema_prefix \"Run-1\""), "{err}");
    postgis.teardown().await.unwrap();
}

#[tokio::test]
async fn a_database_without_postgis_says_how_to_install_it() {
    let admin = connect(&run_id()).await;
    let database = format!(
        "sluice_t_nogis_{}_{}",
        std::process::id(),
        fastrand::u32(..)
    );
    admin
        .execute(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap();
    let url = common::postgres_url();
    let url = format!("{}/{database}", &url[..url.rfind('/').unwrap()]);
    let err = PostGisResource::connect(
        &PostGisConfig::new(PostgresConfig::url(url.as_str())),
        Some("r"),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "PostGIS is not installed in postgres://sluice@127.0.0.1:5432/{database}"
        )),
        "{message}"
    );
    assert!(message.contains("CREATE EXTENSION postgis"), "{message}");
    assert!(!message.contains("sluice:sluice"), "no password: {message}");
    admin
        .execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .await
        .unwrap();
    admin.teardown().await.unwrap();
}

/// A job whose step loads data into the working schema and then fails: the run fails,
/// and the schema is gone after it.
#[tokio::test]
async fn the_working_schema_is_dropped_after_a_failed_step() {
    let load = OpDefinition::builder("load_then_fail")
        .required_resource("postgis")
        .output::<()>("result")
        .compute(|ctx, _| async move {
            let postgis = ctx.resource::<PostGisResource>("postgis")?;
            postgis
                .load_geojson("parks", "parks.geojson", PARKS.as_bytes(), 4326)
                .await
                .context("load the parks")?;
            let schema = postgis.schema().to_owned();
            Err::<(), _>(OpError::msg(format!("failing on purpose in {schema}")))
        });
    let mut job = JobDefinition::builder("spatial_job");
    job.add(&load);
    let defs = Definitions::builder()
        .job(job.build())
        .resource("postgis", ResourceDefinition::new::<PostGisResource>())
        .build()
        .unwrap();
    let config = json!({"resources": {"postgis": {"config": {
        "postgres": {"url": common::postgres_url()}
    }}}});
    let run = run_id();
    let (status, events) = common::execute_job(&defs, "spatial_job", &config, &run).await;
    assert_eq!(status, RunStatus::Failure);
    let failure = events
        .iter()
        .find(|e| e.event_type == EventType::StepFailure)
        .expect("the step failed");
    let text = serde_json::to_string(failure).unwrap();
    let schema = format!("sluice_run_{}", run.replace('-', ""));
    assert!(
        text.contains(&format!("failing on purpose in {schema}")),
        "{text}"
    );

    let check = connect(&run_id()).await;
    assert!(
        !schema_exists(&check, &schema).await,
        "{schema} was dropped"
    );
    check.teardown().await.unwrap();
}

/// An export that fails midway, after parts of its multipart upload were sent, leaves
/// neither an object nor an unfinished upload in the bucket.
#[tokio::test]
async fn an_export_that_fails_midway_aborts_its_upload() {
    let postgis = connect(&run_id()).await;
    // About 60 MB of rows; reading row 590,000 (after two row groups went out) divides by zero.
    postgis
        .execute(
            "CREATE TABLE many AS SELECT g AS fid, md5(g::text) || md5((g + 1)::text) AS pad, \
               ST_SetSRID(ST_MakePoint(g % 360 - 180, g % 170 - 85), 4326) AS geom \
             FROM generate_series(1, 600000) g; \
             CREATE VIEW failing AS SELECT fid, pad, geom, \
               CASE WHEN fid = 590000 THEN 1 / (fid - fid) ELSE 0 END AS boom FROM many",
        )
        .await
        .unwrap();
    let (endpoint, bucket) = common::create_bucket("postgis-abort").await;
    let store = S3Resource::new(&common::s3_config(&endpoint, &bucket, "")).unwrap();
    let err = postgis
        .export_geoparquet("failing", &store, "failing.parquet")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("division by zero"), "{err}");
    assert!(store.head("failing.parquet").await.unwrap().is_none());
    // The abort runs in a task of its own; moto lists what is still open.
    let mut listing = String::new();
    for _ in 0..50 {
        listing = reqwest::get(format!("{endpoint}/{bucket}?uploads"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if !listing.contains("<Upload>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        !listing.contains("<Upload>"),
        "an upload is left: {listing}"
    );
    postgis.teardown().await.unwrap();
}
