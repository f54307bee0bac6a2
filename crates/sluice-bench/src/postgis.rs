//! `sluice-bench postgis`: the PostGIS resource loading points from CSV and exporting
//! them to GeoParquet in object storage (a local S3 server, moto).
//!
//! Postgres is `--postgres`, or `$SLUICE_TEST_POSTGRES_URL`, or the database that
//! `tests/services/postgres.sh` provisions (with PostGIS); the S3 server is chosen as
//! for `upload`.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use sluice_resources::postgis::{CsvGeometry, PostGisConfig, PostGisResource};
use sluice_resources::postgres::PostgresConfig;

use crate::uploads;

pub(crate) fn bench(
    points: usize,
    repeat: usize,
    postgres: Option<String>,
    endpoint: Option<String>,
) -> Result<()> {
    let postgres = postgres
        .or_else(|| std::env::var("SLUICE_TEST_POSTGRES_URL").ok())
        .unwrap_or_else(|| "postgres://sluice:sluice@127.0.0.1:5432/sluice_test".to_owned());
    let (endpoint, _moto) = uploads::s3_server(endpoint)?;
    println!(
        "# sluice-bench postgis: {points} points, CSV → PostGIS → GeoParquet on {endpoint}, median of {repeat}"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let bucket = format!("bench-postgis-{}", std::process::id());
        uploads::create_bucket(&endpoint, &bucket).await?;
        let store = uploads::s3_resource(&endpoint, &bucket, false)?;
        let config = PostGisConfig::new(PostgresConfig::url(postgres.as_str()));
        let postgis = PostGisResource::connect(&config, Some(&format!("bench{}", std::process::id())))
            .await
            .context("connecting to PostGIS (tests/services/postgres.sh provisions it)")?;

        // Points spread over the Netherlands, with an id, a name and a value.
        let mut csv = String::with_capacity(points * 48);
        csv.push_str("id,name,value,lon,lat\n");
        let mut rng = fastrand::Rng::with_seed(7);
        for id in 0..points {
            let lon = 3.3 + rng.f64() * 3.9;
            let lat = 50.7 + rng.f64() * 2.9;
            csv.push_str(&format!("{id},p{id},{:.3},{lon:.6},{lat:.6}\n", rng.f64() * 100.0));
        }
        let geometry = CsvGeometry::LonLat {
            lon: "lon".into(),
            lat: "lat".into(),
        };
        let started = Instant::now();
        let loaded = postgis
            .load_csv("points", "points.csv", csv.as_bytes(), &geometry, 4326)
            .await?;
        let load = started.elapsed().as_secs_f64();
        drop(csv);
        if loaded != points as u64 {
            bail!("loaded {loaded} rows of {points}");
        }
        println!(
            "load_csv (parse, COPY, GiST index): {load:.2} s, {:.0} points/s",
            points as f64 / load
        );

        let mut times = Vec::with_capacity(repeat);
        let mut size = 0;
        for i in 0..repeat {
            let started = Instant::now();
            let export = postgis
                .export_geoparquet("points", &store, &format!("points-{i}.parquet"))
                .await?;
            times.push(started.elapsed().as_secs_f64());
            if export.rows != points as u64 {
                bail!("exported {} rows of {points}", export.rows);
            }
            size = export.bytes;
        }
        let export = crate::median(times);
        println!(
            "export_geoparquet to S3: {export:.2} s, {:.0} points/s, {:.1} MiB (target ≤ 10 s for 1,000,000)",
            points as f64 / export,
            size as f64 / f64::from(1 << 20)
        );
        postgis.drop_schema().await?;
        Ok(())
    })
}
