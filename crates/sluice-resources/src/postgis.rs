//! [`PostGisResource`]: spatial ETL in PostGIS, built on [`PostgresResource`].
//!
//! Each run works in a schema of its own, created on first use and dropped (with
//! everything in it) when the resource is torn down, after the run's last step, whether
//! the steps succeeded or not. Every connection the resource hands out has that schema
//! first on its `search_path`, so the run's SQL names its tables without qualifying them
//! and two runs never see each other's tables. Set up as a resource, it borrows the
//! process's warm pool for the database (checked for PostGIS once), so a run's setup
//! costs no round trip.
//!
//! - [`load_geojson`](PostGisResource::load_geojson) and
//!   [`load_csv`](PostGisResource::load_csv) create a table from vector data: a `fid`
//!   column, one column per property (its type inferred from the values), and a
//!   `geom geometry(Geometry, SRID)` column with a spatial index. The load is one
//!   transaction: a bad record leaves no table behind, and the error names the record.
//! - [`execute`](PostGisResource::execute) runs SQL transforms.
//! - [`export_geoparquet`](PostGisResource::export_geoparquet) streams a table to a
//!   GeoParquet file in object storage: geometries as WKB, with the `geo` metadata
//!   (encoding, geometry types, bounding box, CRS) that GeoPandas, GDAL and DuckDB read.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sluice_core::resource::{ConfigurableResource, InitResourceContext, ResourceError};
// Identifiers in the SQL built here are quoted (`quote_ident`), values are bound.
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Connection, Row};
use tokio::io::AsyncWrite;

use crate::postgres::{
    PostgresConfig, PostgresError, PostgresResource, quote_ident, quote_qualified,
};
use crate::s3::{PART_SIZE, S3Error, S3Resource};

/// Rows per record batch (and at most per row group) of an export.
const BATCH_ROWS: usize = 64 * 1024;

/// The config of a [`PostGisResource`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostGisConfig {
    /// The database, as for the Postgres resource.
    pub postgres: PostgresConfig,
    /// The working schema is `<prefix>_<run id>`: lowercase letters, digits and `_`.
    #[serde(default = "defaults::schema_prefix")]
    pub schema_prefix: String,
    /// Keep the working schema after the run (to inspect a failure); dropped by default.
    #[serde(default)]
    pub keep_schema: bool,
}

mod defaults {
    pub(super) fn schema_prefix() -> String {
        "sluice_run".to_owned()
    }
}

impl PostGisConfig {
    /// PostGIS in the database `postgres` names, with the defaults.
    pub fn new(postgres: PostgresConfig) -> Self {
        Self {
            postgres,
            schema_prefix: defaults::schema_prefix(),
            keep_schema: false,
        }
    }

    /// The working schema for `run_id` (a random one outside runs, for sensors).
    fn working_schema(&self, run_id: Option<&str>) -> Result<String, PostGisError> {
        let prefix = &self.schema_prefix;
        let valid = !prefix.is_empty()
            && prefix.len() <= 24
            && prefix.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(PostGisError::Config(format!(
                "schema_prefix {prefix:?} must be 1 to 24 lowercase letters, digits or _, \
                 not starting with a digit"
            )));
        }
        let id: String = match run_id {
            Some(id) => id
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .take(32)
                .collect(),
            None => format!("eval_{:016x}", fastrand::u64(..)),
        };
        Ok(format!("{prefix}_{id}"))
    }
}

/// What went wrong with PostGIS.
#[derive(Debug, thiserror::Error)]
pub enum PostGisError {
    /// The resource's config cannot be used (said why).
    #[error("invalid PostGIS config: {0}")]
    Config(String),
    /// The database failed.
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    /// The database has no PostGIS extension.
    #[error(
        "PostGIS is not installed in {target}: {reason}; a superuser must run \
         CREATE EXTENSION postgis in that database"
    )]
    NotInstalled {
        /// The database, as `postgres://USER@HOST:PORT/DATABASE` (no password).
        target: String,
        /// The database's message.
        reason: String,
    },
    /// The input of a load is not what it should be; `at` names the record.
    #[error("cannot load {source_name} into {table}: {at}: {reason}")]
    Input {
        /// The input's name, as the caller gave it (a file name, say).
        source_name: String,
        /// The table loaded into.
        table: String,
        /// The record: a line, a feature or a CSV row.
        at: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An export to GeoParquet failed.
    #[error("cannot export {table}: {reason}")]
    Export {
        /// The table exported.
        table: String,
        /// What went wrong.
        reason: String,
    },
    /// Writing the export to object storage failed.
    #[error(transparent)]
    Store(#[from] S3Error),
}

impl PostGisError {
    /// Makes `Input` errors about loading `source_name` into `table`.
    fn input<'a>(source_name: &'a str, table: &'a str) -> impl Fn(String, String) -> Self + 'a {
        move |at, reason| Self::Input {
            source_name: source_name.to_owned(),
            table: table.to_owned(),
            at,
            reason,
        }
    }
}

/// Where the geometry of each CSV row is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvGeometry {
    /// A column of WKT (or EWKT) text.
    Wkt {
        /// The column's name.
        column: String,
    },
    /// Two numeric columns, longitude (x) and latitude (y); a point per row.
    LonLat {
        /// The longitude column's name.
        lon: String,
        /// The latitude column's name.
        lat: String,
    },
}

/// What [`PostGisResource::export_geoparquet`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoParquetExport {
    /// The object's URL.
    pub url: String,
    /// The rows written.
    pub rows: u64,
    /// The file's size, in bytes.
    pub bytes: u64,
    /// The `geo` metadata written into the file.
    pub geo: Value,
}

/// A per-run PostGIS working schema (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct PostGisResource {
    pg: PostgresResource,
    schema: String,
    keep_schema: bool,
    /// Set once the working schema exists.
    created: Arc<tokio::sync::OnceCell<()>>,
}

impl ConfigurableResource for PostGisResource {
    type Config = PostGisConfig;

    /// The run's working schema on the process's pool for the database, opened (and
    /// checked for PostGIS) by the first setup.
    async fn setup(
        config: PostGisConfig,
        ctx: &InitResourceContext,
    ) -> Result<Self, ResourceError> {
        let fail = crate::resource_error::<PostGisError>;
        let schema = config.working_schema(ctx.run_id.as_deref()).map_err(fail)?;
        let key = config.postgres.key().map_err(|e| fail(e.into()))?;
        let pg = crate::shared::get_or_open(
            format!("postgis\n{key}"),
            PostgresResource::is_open,
            || async {
                let pg =
                    PostgresResource::connect_without_statement_cache(&config.postgres).await?;
                ensure_postgis(&pg).await?;
                Ok::<_, PostGisError>(pg.into_shared())
            },
        )
        .await
        .map_err(fail)?;
        // Outside runs (sensor evaluations) there is no run to inspect: never keep.
        let keep = config.keep_schema && ctx.run_id.is_some();
        Ok(Self::in_schema(pg, schema, keep))
    }

    async fn teardown(&self) -> Result<(), ResourceError> {
        let dropped = self.drop_schema().await;
        let closed = self.pg.teardown().await;
        dropped.map_err(crate::resource_error)?;
        closed
    }

    async fn health_check(&self) -> Result<(), ResourceError> {
        self.health_check().await.map_err(crate::resource_error)
    }
}

impl PostGisResource {
    /// Connect, make sure PostGIS is there, and create the working schema of `run_id`.
    pub async fn connect(
        config: &PostGisConfig,
        run_id: Option<&str>,
    ) -> Result<Self, PostGisError> {
        let schema = config.working_schema(run_id)?;
        let pg = PostgresResource::connect_without_statement_cache(&config.postgres).await?;
        ensure_postgis(&pg).await?;
        Ok(Self::in_schema(pg, schema, config.keep_schema))
    }

    fn in_schema(pg: PostgresResource, schema: String, keep_schema: bool) -> Self {
        Self {
            pg,
            schema,
            keep_schema,
            created: Arc::default(),
        }
    }

    /// The run's working schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A connection of the pool with the working schema (created now if it is not yet)
    /// first on its `search_path`, for queries with parameters, transactions and `COPY`
    /// through sqlx. It goes back to the pool when dropped.
    pub async fn connection(&self) -> Result<PoolConnection<Postgres>, PostGisError> {
        let mut conn = self
            .pg
            .pool()
            .acquire()
            .await
            .map_err(|e| PostgresError::Connect {
                target: self.pg.target().to_owned(),
                reason: e.to_string(),
            })?;
        let schema = quote_ident(&self.schema);
        self.created
            .get_or_try_init(|| async {
                let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
                sqlx::raw_sql(AssertSqlSafe(create.as_str()))
                    .execute(&mut *conn)
                    .await
                    .map(drop)
                    .map_err(|e| PostgresError::query(&create, e))
            })
            .await?;
        // The run's schema first, then the database's own search_path (PostGIS may live
        // in a schema of its own); RESET drops the previous user's schema.
        let set = format!(
            "RESET search_path; \
             SELECT set_config('search_path', '{schema}, ' || current_setting('search_path'), false)"
        );
        sqlx::raw_sql(AssertSqlSafe(set.as_str()))
            .execute(&mut *conn)
            .await
            .map_err(|e| PostgresError::query(&set, e))?;
        Ok(conn)
    }

    /// Run SQL (several statements allowed): transforms that create tables in the
    /// working schema, indexes, updates.
    pub async fn execute(&self, sql: &str) -> Result<(), PostGisError> {
        let mut conn = self.connection().await?;
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(|e| PostgresError::query(sql, e).into())
    }

    /// The number of rows of `table`.
    pub async fn count(&self, table: &str) -> Result<i64, PostGisError> {
        let sql = format!("SELECT count(*) FROM {}", quote_qualified(table));
        let mut conn = self.connection().await?;
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| PostgresError::query(&sql, e))?;
        Ok(row.get::<i64, _>(0))
    }

    /// Drop the working schema and everything in it (unless `keep_schema`, or it was
    /// never created).
    pub async fn drop_schema(&self) -> Result<(), PostGisError> {
        if self.keep_schema || self.created.get().is_none() {
            return Ok(());
        }
        let sql = format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_ident(&self.schema)
        );
        sqlx::raw_sql(AssertSqlSafe(sql.as_str()))
            .execute(self.pg.pool())
            .await
            .map(drop)
            .map_err(|e| PostgresError::query(&sql, e).into())
    }

    /// Whether PostGIS answers.
    pub async fn health_check(&self) -> Result<(), PostGisError> {
        ensure_postgis(&self.pg).await
    }

    /// Create `table` from a GeoJSON FeatureCollection (or a single Feature), its
    /// geometries in `srid`. `source_name` names the data in errors (its file or key).
    /// Returns the rows loaded.
    pub async fn load_geojson(
        &self,
        table: &str,
        source_name: &str,
        geojson: &[u8],
        srid: i32,
    ) -> Result<u64, PostGisError> {
        let input = PostGisError::input(source_name, table);
        let document: Value = serde_json::from_slice(geojson)
            .map_err(|e| input(format!("line {}", e.line()), format!("not JSON: {e}")))?;
        let features = match document.get("type").and_then(Value::as_str) {
            Some("FeatureCollection") => match document.get("features") {
                Some(Value::Array(features)) => features.as_slice(),
                _ => {
                    return Err(input(
                        "the document".into(),
                        "`features` is not an array".into(),
                    ));
                }
            },
            Some("Feature") => std::slice::from_ref(&document),
            other => {
                return Err(input(
                    "the document".into(),
                    format!("type is {other:?}, not \"FeatureCollection\" or \"Feature\""),
                ));
            }
        };
        let mut records = Records::default();
        for (index, feature) in features.iter().enumerate() {
            let at = || format!("feature {index}");
            let properties = match feature.get("properties") {
                Some(Value::Object(properties)) => properties.clone(),
                None | Some(Value::Null) => Map::new(),
                Some(_) => return Err(input(at(), "`properties` is not an object".into())),
            };
            let geometry = match feature.get("geometry") {
                None | Some(Value::Null) => None,
                Some(geometry) => {
                    Some(wkt_of_geojson(geometry).map_err(|reason| input(at(), reason))?)
                }
            };
            records
                .push(properties.into_iter(), geometry)
                .map_err(|reason| input(at(), reason))?;
        }
        self.load(table, source_name, records, srid, |line| {
            format!("feature {}", line - 1)
        })
        .await
    }

    /// Create `table` from CSV with a header row; `geometry` says which columns hold
    /// each row's geometry (the others become attribute columns). Returns the rows loaded.
    pub async fn load_csv(
        &self,
        table: &str,
        source_name: &str,
        csv_data: &[u8],
        geometry: &CsvGeometry,
        srid: i32,
    ) -> Result<u64, PostGisError> {
        let input = PostGisError::input(source_name, table);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(csv_data);
        let headers = reader
            .headers()
            .map_err(|e| input("the header".into(), e.to_string()))?
            .clone();
        let position = |name: &str| {
            headers.iter().position(|h| h == name).ok_or_else(|| {
                input(
                    "the header".into(),
                    format!(
                        "there is no column {name:?} (columns: {})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ),
                )
            })
        };
        let geometry_columns: Vec<usize> = match geometry {
            CsvGeometry::Wkt { column } => vec![position(column)?],
            CsvGeometry::LonLat { lon, lat } => vec![position(lon)?, position(lat)?],
        };
        let mut records = Records::default();
        for (index, row) in reader.records().enumerate() {
            // Line 1 is the header.
            let at = || format!("line {}", index + 2);
            let row = row.map_err(|e| input(at(), e.to_string()))?;
            let field = |i: usize| row.get(i).unwrap_or("").trim();
            let wkt = match geometry {
                CsvGeometry::Wkt { column } => {
                    let text = field(geometry_columns[0]);
                    if text.is_empty() {
                        None
                    } else if text.starts_with("SRID=") {
                        return Err(input(
                            at(),
                            format!(
                                "column {column:?} is EWKT with its own SRID; give plain WKT in SRID {srid}"
                            ),
                        ));
                    } else {
                        Some(text.to_owned())
                    }
                }
                CsvGeometry::LonLat { lon, lat } => {
                    let (x, y) = (field(geometry_columns[0]), field(geometry_columns[1]));
                    if x.is_empty() && y.is_empty() {
                        None
                    } else {
                        let number = |name: &str, text: &str| {
                            text.parse::<f64>()
                                .ok()
                                .filter(|v| v.is_finite())
                                .ok_or_else(|| {
                                    input(at(), format!("{name} {text:?} is not a number"))
                                })
                        };
                        Some(format!("POINT({} {})", number(lon, x)?, number(lat, y)?))
                    }
                }
            };
            let properties = headers
                .iter()
                .enumerate()
                .filter(|(i, _)| !geometry_columns.contains(i))
                .map(|(i, name)| {
                    let text = field(i);
                    let value = if text.is_empty() {
                        Value::Null
                    } else {
                        csv_value(text)
                    };
                    (name.to_owned(), value)
                });
            records
                .push(properties, wkt)
                .map_err(|reason| input(at(), reason))?;
        }
        self.load(table, source_name, records, srid, |line| {
            format!("line {}", line + 1)
        })
        .await
    }

    /// Create `table` and `COPY` `records` into it, in one transaction.
    async fn load(
        &self,
        table: &str,
        source_name: &str,
        records: Records,
        srid: i32,
        record_at: impl Fn(u64) -> String,
    ) -> Result<u64, PostGisError> {
        let mut conn = self.connection().await?;
        let known = sqlx::query("SELECT 1 FROM spatial_ref_sys WHERE srid = $1")
            .bind(srid)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| PostgresError::query("SELECT … FROM spatial_ref_sys", e))?;
        if srid != 0 && known.is_none() {
            return Err(PostGisError::Config(format!(
                "SRID {srid} is not in spatial_ref_sys"
            )));
        }
        let target = quote_qualified(table);
        let mut columns = vec!["fid bigint NOT NULL".to_owned()];
        columns.extend(
            records
                .columns
                .iter()
                .map(|c| format!("{} {}", quote_ident(&c.name), c.kind.sql())),
        );
        columns.push(format!("geom geometry(Geometry, {srid})"));
        let create = format!("CREATE TABLE {target} ({})", columns.join(", "));
        let mut names = vec!["fid".to_owned()];
        names.extend(records.columns.iter().map(|c| quote_ident(&c.name)));
        names.push("geom".to_owned());
        let copy = format!(
            "COPY {target} ({}) FROM STDIN (FORMAT csv)",
            names.join(", ")
        );
        let index = format!("CREATE INDEX ON {target} USING gist (geom); ANALYZE {target}");

        let data = records.to_csv(srid);
        let mut tx = conn
            .begin()
            .await
            .map_err(|e| PostgresError::query("BEGIN", e))?;
        sqlx::raw_sql(AssertSqlSafe(create.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(|e| PostgresError::query(&create, e))?;
        let mut sink = tx
            .copy_in_raw(&copy)
            .await
            .map_err(|e| PostgresError::query(&copy, e))?;
        let copied = async {
            for chunk in data.chunks(1 << 20) {
                sink.send(chunk).await?;
            }
            sink.finish().await
        }
        .await;
        let rows = copied.map_err(|e| match &e {
            sqlx::Error::Database(db) => {
                let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
                let line = pg.and_then(|pg| pg.r#where()).and_then(copy_line);
                let mut reason = db.message().to_owned();
                if let Some(hint) = pg.and_then(|pg| pg.hint()) {
                    let _ = write!(reason, " ({hint})");
                }
                PostGisError::Input {
                    source_name: source_name.to_owned(),
                    table: table.to_owned(),
                    at: line
                        .map(&record_at)
                        .unwrap_or_else(|| "a record".to_owned()),
                    reason,
                }
            }
            _ => PostgresError::query(&copy, e).into(),
        })?;
        sqlx::raw_sql(AssertSqlSafe(index.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(|e| PostgresError::query(&index, e))?;
        tx.commit()
            .await
            .map_err(|e| PostgresError::query("COMMIT", e))?;
        Ok(rows)
    }

    /// Write `table` to `key` in `store` as GeoParquet 1.1: each geometry column as WKB
    /// (the first is the primary one), integers, floats and booleans as themselves,
    /// everything else as text. The object appears only once it is complete.
    ///
    /// Geometries must be in SRID 4326 (longitude, latitude: GeoParquet's default CRS)
    /// or 0 (no CRS): GeoParquet describes any other CRS in PROJJSON, which PostGIS
    /// cannot produce.
    pub async fn export_geoparquet(
        &self,
        table: &str,
        store: &S3Resource,
        key: &str,
    ) -> Result<GeoParquetExport, PostGisError> {
        let export_error = |reason: String| PostGisError::Export {
            table: table.to_owned(),
            reason,
        };
        let columns = self.columns(table).await?;
        let geometries: Vec<&ExportColumn> = columns
            .iter()
            .filter(|c| c.kind == ExportKind::Geometry)
            .collect();
        if geometries.is_empty() {
            return Err(export_error("it has no geometry column".to_owned()));
        }
        let target = quote_qualified(table);
        let geo = self.geo_metadata(&target, &geometries).await?;

        let schema: SchemaRef = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.kind.arrow(), true))
                .collect::<Vec<_>>(),
        ));
        let select = format!(
            "SELECT {} FROM {target}",
            columns
                .iter()
                .map(ExportColumn::select)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(BATCH_ROWS * 4))
            .set_key_value_metadata(Some(vec![KeyValue::new("geo".to_owned(), geo.to_string())]))
            .build();
        let upload = AbortOnDrop(Some(BufWriter::with_capacity(
            Arc::clone(store.store()),
            store.path(key),
            PART_SIZE,
        )));
        let mut writer = AsyncArrowWriter::try_new(upload, Arc::clone(&schema), Some(properties))
            .map_err(|e| export_error(e.to_string()))?;

        let mut conn = self.connection().await?;
        let mut rows = sqlx::query(AssertSqlSafe(select.as_str())).fetch(&mut *conn);
        let mut batch = Batch::new(&columns);
        let mut total = 0u64;
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| PostgresError::query(&select, e))?
        {
            batch
                .push(&row)
                .map_err(|e| PostgresError::query(&select, e))?;
            if batch.len == BATCH_ROWS {
                total += batch.len as u64;
                let full = std::mem::replace(&mut batch, Batch::new(&columns));
                writer
                    .write(&full.finish(&schema).map_err(&export_error)?)
                    .await
                    .map_err(|e| {
                        export_error(format!("cannot write to {}: {e}", store.url_of(key)))
                    })?;
            }
        }
        drop(rows);
        total += batch.len as u64;
        if batch.len > 0 || total == 0 {
            writer
                .write(&batch.finish(&schema).map_err(&export_error)?)
                .await
                .map_err(|e| export_error(format!("cannot write to {}: {e}", store.url_of(key))))?;
        }
        writer
            .close()
            .await
            .map_err(|e| export_error(format!("cannot write to {}: {e}", store.url_of(key))))?;
        let bytes = store
            .head(key)
            .await?
            .map(|meta| meta.size)
            .unwrap_or_default();
        Ok(GeoParquetExport {
            url: store.url_of(key),
            rows: total,
            bytes,
            geo,
        })
    }

    /// The columns of `table`, in order, as an export writes them.
    async fn columns(&self, table: &str) -> Result<Vec<ExportColumn>, PostGisError> {
        let sql = "SELECT a.attname::text, t.typname::text \
                   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                   WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                   ORDER BY a.attnum";
        let mut conn = self.connection().await?;
        let rows = sqlx::query(sql)
            .bind(quote_qualified(table))
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| PostgresError::query(sql, e))?;
        if rows.is_empty() {
            return Err(PostGisError::Export {
                table: table.to_owned(),
                reason: format!(
                    "there is no such table (in schema {} or public)",
                    self.schema
                ),
            });
        }
        Ok(rows
            .iter()
            .map(|row| {
                let name: String = row.get(0);
                let kind = match row.get::<String, _>(1).as_str() {
                    "geometry" | "geography" => ExportKind::Geometry,
                    "int2" | "int4" | "int8" => ExportKind::Integer,
                    "float4" | "float8" | "numeric" => ExportKind::Float,
                    "bool" => ExportKind::Boolean,
                    _ => ExportKind::Text,
                };
                ExportColumn { name, kind }
            })
            .collect())
    }

    /// GeoParquet's `geo` metadata for these geometry columns of `target`: their
    /// geometry types, bounding boxes and CRS, read in one scan.
    async fn geo_metadata(
        &self,
        target: &str,
        geometries: &[&ExportColumn],
    ) -> Result<Value, PostGisError> {
        let mut aggregates = Vec::new();
        for column in geometries {
            let g = column.geometry_expression();
            aggregates.push(format!(
                "ST_XMin(ST_Extent({g}))::float8, ST_YMin(ST_Extent({g}))::float8, \
                 ST_XMax(ST_Extent({g}))::float8, ST_YMax(ST_Extent({g}))::float8, \
                 coalesce(array_remove(array_agg(DISTINCT GeometryType({g}) || \
                     CASE WHEN ST_Zmflag({g}) IN (2, 3) THEN ' Z' ELSE '' END), NULL), '{{}}'), \
                 coalesce(array_remove(array_agg(DISTINCT ST_SRID({g})), NULL), '{{}}')"
            ));
        }
        let sql = format!("SELECT {} FROM {target}", aggregates.join(", "));
        let mut conn = self.connection().await?;
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| PostgresError::query(&sql, e))?;
        let mut columns = Map::new();
        for (i, column) in geometries.iter().enumerate() {
            let at = i * 6;
            let bbox: Vec<Option<f64>> = (0..4).map(|k| row.get(at + k)).collect();
            let types: Vec<String> = row.get(at + 4);
            let srids: Vec<i32> = row.get(at + 5);
            let mut entry = Map::new();
            entry.insert("encoding".into(), json!("WKB"));
            let types: BTreeSet<String> = types.iter().map(|t| geoparquet_type(t)).collect();
            entry.insert("geometry_types".into(), json!(types));
            if let [Some(x0), Some(y0), Some(x1), Some(y1)] = bbox[..] {
                entry.insert("bbox".into(), json!([x0, y0, x1, y1]));
            }
            match srids[..] {
                // No key: OGC:CRS84, longitude and latitude on WGS 84, as PostGIS keeps 4326.
                [4326] | [] => {}
                [0] => {
                    entry.insert("crs".into(), Value::Null);
                }
                // GeoParquet wants any other CRS as PROJJSON, which PostGIS 3.3 cannot
                // produce; a CRS written half-right would mislead every reader.
                [srid] => {
                    return Err(PostGisError::Export {
                        table: target.to_owned(),
                        reason: format!(
                            "column {} is in SRID {srid}; GeoParquet needs its CRS as PROJJSON, \
                             which PostGIS cannot give: export ST_Transform({}, 4326) instead",
                            column.name, column.name
                        ),
                    });
                }
                _ => {
                    return Err(PostGisError::Export {
                        table: target.to_owned(),
                        reason: format!(
                            "column {} mixes SRIDs {srids:?}; GeoParquet wants one CRS per column",
                            column.name
                        ),
                    });
                }
            }
            columns.insert(column.name.clone(), Value::Object(entry));
        }
        Ok(json!({
            "version": "1.1.0",
            "primary_column": geometries[0].name,
            "columns": columns,
        }))
    }
}

/// An upload that is aborted if it is dropped before it completes (an export that
/// failed midway), so that no unfinished multipart upload is left in the bucket.
struct AbortOnDrop(Option<BufWriter>);

impl AbortOnDrop {
    fn inner(&mut self) -> std::io::Result<Pin<&mut BufWriter>> {
        self.0
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| std::io::Error::other("the upload has completed"))
    }
}

impl AsyncWrite for AbortOnDrop {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.inner() {
            Ok(inner) => inner.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.inner() {
            Ok(inner) => inner.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Completes the upload; after that, dropping aborts nothing.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let done = match self.inner() {
            Ok(inner) => ready!(inner.poll_shutdown(cx)),
            Err(e) => Err(e),
        };
        if done.is_ok() {
            self.0 = None;
        }
        Poll::Ready(done)
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let (Some(mut upload), Ok(runtime)) =
            (self.0.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::warn!("cannot abort the upload of a failed export: {e}");
                }
            });
        }
    }
}

/// Create the extension if it is missing and we may; say how to install it otherwise.
async fn ensure_postgis(pg: &PostgresResource) -> Result<(), PostGisError> {
    const PROBE: &str = "SELECT postgis_lib_version()";
    match sqlx::query(PROBE).fetch_one(pg.pool()).await {
        Ok(_) => return Ok(()),
        // undefined_function: the extension is not there; anything else is its own error.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42883") => {}
        Err(e) => return Err(PostgresError::query(PROBE, e).into()),
    }
    match pg
        .execute_script("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
        .await
    {
        Ok(()) => Ok(()),
        Err(e) => Err(PostGisError::NotInstalled {
            target: pg.target().to_owned(),
            reason: match e {
                PostgresError::Query { reason, .. } => reason,
                other => other.to_string(),
            },
        }),
    }
}

/// The line of a COPY error's context (`COPY t, line 3, column geom: "…"`).
fn copy_line(context: &str) -> Option<u64> {
    let rest = context.split(", line ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `POINT` or `POINTM` or `POINT Z` as GeoParquet spells it.
fn geoparquet_type(postgis: &str) -> String {
    let (base, z) = match postgis.strip_suffix(" Z") {
        Some(base) => (base, " Z"),
        None => (postgis, ""),
    };
    // GeoParquet has no measured (M) types; the coordinates keep their values.
    let base = base.strip_suffix('M').unwrap_or(base);
    let name = match base {
        "POINT" => "Point",
        "LINESTRING" => "LineString",
        "POLYGON" => "Polygon",
        "MULTIPOINT" => "MultiPoint",
        "MULTILINESTRING" => "MultiLineString",
        "MULTIPOLYGON" => "MultiPolygon",
        "GEOMETRYCOLLECTION" => "GeometryCollection",
        other => other,
    };
    format!("{name}{z}")
}

/// A CSV field as the JSON value it most likely is.
fn csv_value(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return json!(i);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => return json!(f),
        _ => {}
    }
    match text {
        "true" | "TRUE" | "True" => json!(true),
        "false" | "FALSE" | "False" => json!(false),
        _ => Value::String(text.to_owned()),
    }
}

/// The SQL type of an attribute column, from the values it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    /// Only nulls so far.
    Unknown,
    Integer,
    Float,
    Boolean,
    Text,
    Json,
}

impl ColumnKind {
    fn of(value: &Value) -> Self {
        match value {
            Value::Null => Self::Unknown,
            Value::Bool(_) => Self::Boolean,
            Value::Number(n) if n.is_i64() => Self::Integer,
            Value::Number(_) => Self::Float,
            Value::String(_) => Self::Text,
            Value::Array(_) | Value::Object(_) => Self::Json,
        }
    }

    /// The kind that holds values of both.
    fn widen(self, other: Self) -> Self {
        use ColumnKind::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Unknown, b) => b,
            (a, Unknown) => a,
            (Integer, Float) | (Float, Integer) => Float,
            (Json, _) | (_, Json) => Json,
            _ => Text,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Self::Integer => "bigint",
            Self::Float => "double precision",
            Self::Boolean => "boolean",
            Self::Unknown | Self::Text => "text",
            Self::Json => "jsonb",
        }
    }
}

#[derive(Debug)]
struct Column {
    name: String,
    kind: ColumnKind,
}

/// Records on their way into a table: attribute values by column, and a WKT geometry.
#[derive(Debug, Default)]
struct Records {
    columns: Vec<Column>,
    rows: Vec<(Vec<Value>, Option<String>)>,
}

impl Records {
    fn push(
        &mut self,
        properties: impl Iterator<Item = (String, Value)>,
        geometry: Option<String>,
    ) -> Result<(), String> {
        let mut values = vec![Value::Null; self.columns.len()];
        for (name, value) in properties {
            if name == "fid" || name == "geom" {
                return Err(format!(
                    "property {name:?} clashes with the column the load adds"
                ));
            }
            let index = match self.columns.iter().position(|c| c.name == name) {
                Some(index) => index,
                None => {
                    self.columns.push(Column {
                        name,
                        kind: ColumnKind::Unknown,
                    });
                    values.push(Value::Null);
                    self.columns.len() - 1
                }
            };
            let column = &mut self.columns[index];
            column.kind = column.kind.widen(ColumnKind::of(&value));
            values[index] = value;
        }
        self.rows.push((values, geometry));
        Ok(())
    }

    /// The rows as CSV for `COPY`: fid, the attributes, then the geometry as EWKT.
    fn to_csv(&self, srid: i32) -> Vec<u8> {
        let mut out = String::with_capacity(self.rows.len() * 64);
        for (fid, (values, geometry)) in self.rows.iter().enumerate() {
            let _ = write!(out, "{fid}");
            for (i, column) in self.columns.iter().enumerate() {
                out.push(',');
                let value = values.get(i).unwrap_or(&Value::Null);
                let text = match (value, column.kind) {
                    (Value::Null, _) => continue,
                    (Value::String(s), ColumnKind::Text) => s.clone(),
                    (value, ColumnKind::Json) => value.to_string(),
                    (Value::String(s), _) => s.clone(),
                    (value, _) => value.to_string(),
                };
                csv_quote(&mut out, &text);
            }
            out.push(',');
            if let Some(wkt) = geometry {
                csv_quote(&mut out, &format!("SRID={srid};{wkt}"));
            }
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// `text` as a quoted CSV field (an empty unquoted field is NULL to `COPY`).
fn csv_quote(out: &mut String, text: &str) {
    out.push('"');
    out.push_str(&text.replace('"', "\"\""));
    out.push('"');
}

/// A GeoJSON geometry as WKT.
fn wkt_of_geojson(geometry: &Value) -> Result<String, String> {
    let kind = geometry
        .get("type")
        .and_then(Value::as_str)
        .ok_or("the geometry has no type")?;
    if kind == "GeometryCollection" {
        let members = geometry
            .get("geometries")
            .and_then(Value::as_array)
            .ok_or("a GeometryCollection needs a `geometries` array")?;
        let members: Vec<String> = members
            .iter()
            .map(wkt_of_geojson)
            .collect::<Result<_, _>>()?;
        return Ok(if members.is_empty() {
            "GEOMETRYCOLLECTION EMPTY".to_owned()
        } else {
            format!("GEOMETRYCOLLECTION({})", members.join(","))
        });
    }
    let coordinates = geometry
        .get("coordinates")
        .ok_or_else(|| format!("the {kind} has no coordinates"))?;
    // How many lists each type nests around its positions.
    let (name, depth) = match kind {
        "Point" => ("POINT", 0),
        "LineString" => ("LINESTRING", 1),
        "MultiPoint" => ("MULTIPOINT", 1),
        "Polygon" => ("POLYGON", 2),
        "MultiLineString" => ("MULTILINESTRING", 2),
        "MultiPolygon" => ("MULTIPOLYGON", 3),
        other => {
            return Err(format!(
                "geometry type {other:?} is not a GeoJSON geometry type"
            ));
        }
    };
    if coordinates.as_array().is_some_and(Vec::is_empty) {
        return Ok(format!("{name} EMPTY"));
    }
    let mut out = String::from(name);
    if depth == 0 {
        out.push('(');
        write_coordinates(&mut out, coordinates, 0, kind)?;
        out.push(')');
    } else {
        write_coordinates(&mut out, coordinates, depth, kind)?;
    }
    Ok(out)
}

/// `coordinates`, `depth` lists around positions, as WKT: a position is `x y`, a list
/// is its items in parentheses.
fn write_coordinates(
    out: &mut String,
    coordinates: &Value,
    depth: usize,
    kind: &str,
) -> Result<(), String> {
    let items = coordinates.as_array().ok_or_else(|| {
        format!("the coordinates of the {kind} are not arrays nested as it needs")
    })?;
    if depth == 0 {
        if !(2..=4).contains(&items.len()) {
            return Err(format!(
                "a position of the {kind} has {} numbers, not 2 to 4",
                items.len()
            ));
        }
        for (i, number) in items.iter().enumerate() {
            let number = number
                .as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| format!("a position of the {kind} holds {number}, not a number"))?;
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{number}");
        }
        return Ok(());
    }
    out.push('(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_coordinates(out, item, depth - 1, kind)?;
    }
    out.push(')');
    Ok(())
}

/// How a column is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExportKind {
    Geometry,
    Integer,
    Float,
    Boolean,
    Text,
}

impl ExportKind {
    fn arrow(self) -> DataType {
        match self {
            Self::Geometry => DataType::Binary,
            Self::Integer => DataType::Int64,
            Self::Float => DataType::Float64,
            Self::Boolean => DataType::Boolean,
            Self::Text => DataType::Utf8,
        }
    }
}

#[derive(Debug)]
struct ExportColumn {
    name: String,
    kind: ExportKind,
}

impl ExportColumn {
    fn geometry_expression(&self) -> String {
        format!("{}::geometry", quote_ident(&self.name))
    }

    /// The column in the export's `SELECT`, in the type its Arrow builder reads.
    fn select(&self) -> String {
        let name = quote_ident(&self.name);
        match self.kind {
            ExportKind::Geometry => format!("ST_AsBinary({})", self.geometry_expression()),
            ExportKind::Integer => format!("{name}::int8"),
            ExportKind::Float => format!("{name}::float8"),
            ExportKind::Boolean => name,
            ExportKind::Text => format!("{name}::text"),
        }
    }
}

/// One record batch of an export, being filled.
struct Batch {
    builders: Vec<Builder>,
    len: usize,
}

enum Builder {
    Geometry(BinaryBuilder),
    Integer(Int64Builder),
    Float(Float64Builder),
    Boolean(BooleanBuilder),
    Text(StringBuilder),
}

impl Batch {
    fn new(columns: &[ExportColumn]) -> Self {
        let builders = columns
            .iter()
            .map(|c| match c.kind {
                ExportKind::Geometry => {
                    Builder::Geometry(BinaryBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 21))
                }
                ExportKind::Integer => Builder::Integer(Int64Builder::with_capacity(BATCH_ROWS)),
                ExportKind::Float => Builder::Float(Float64Builder::with_capacity(BATCH_ROWS)),
                ExportKind::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(BATCH_ROWS)),
                ExportKind::Text => {
                    Builder::Text(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16))
                }
            })
            .collect();
        Self { builders, len: 0 }
    }

    fn push(&mut self, row: &PgRow) -> Result<(), sqlx::Error> {
        for (i, builder) in self.builders.iter_mut().enumerate() {
            match builder {
                Builder::Geometry(b) => b.append_option(row.try_get::<Option<&[u8]>, _>(i)?),
                Builder::Integer(b) => b.append_option(row.try_get::<Option<i64>, _>(i)?),
                Builder::Float(b) => b.append_option(row.try_get::<Option<f64>, _>(i)?),
                Builder::Boolean(b) => b.append_option(row.try_get::<Option<bool>, _>(i)?),
                Builder::Text(b) => b.append_option(row.try_get::<Option<&str>, _>(i)?),
            }
        }
        self.len += 1;
        Ok(())
    }

    fn finish(mut self, schema: &SchemaRef) -> Result<RecordBatch, String> {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|builder| -> ArrayRef {
                match builder {
                    Builder::Geometry(b) => Arc::new(b.finish()),
                    Builder::Integer(b) => Arc::new(b.finish()),
                    Builder::Float(b) => Arc::new(b.finish()),
                    Builder::Boolean(b) => Arc::new(b.finish()),
                    Builder::Text(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(Arc::clone(schema), arrays).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geojson_geometries_become_wkt() {
        let wkt = |g: Value| wkt_of_geojson(&g);
        assert_eq!(
            wkt(json!({"type": "Point", "coordinates": [1.5, -2]})).unwrap(),
            "POINT(1.5 -2)"
        );
        assert_eq!(
            wkt(json!({"type": "LineString", "coordinates": [[0, 0], [1, 2.5, 3]]})).unwrap(),
            "LINESTRING(0 0,1 2.5 3)"
        );
        assert_eq!(
            wkt(
                json!({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]})
            )
            .unwrap(),
            "MULTIPOLYGON(((0 0,1 0,1 1,0 0)))"
        );
        assert_eq!(
            wkt(json!({"type": "GeometryCollection", "geometries": [
                {"type": "Point", "coordinates": [1, 2]},
                {"type": "MultiPoint", "coordinates": []}
            ]}))
            .unwrap(),
            "GEOMETRYCOLLECTION(POINT(1 2),MULTIPOINT EMPTY)"
        );
        let err = wkt(json!({"type": "Polygon", "coordinates": [[0, 0], [1, 1]]})).unwrap_err();
        assert!(err.contains("Polygon"), "{err}");
        assert!(wkt(json!({"type": "Circle", "coordinates": [0, 0]})).is_err());
        assert!(wkt(json!({"type": "Point", "coordinates": [0, "x"]})).is_err());
    }

    #[test]
    fn column_kinds_widen() {
        use ColumnKind::*;
        assert_eq!(Unknown.widen(Integer), Integer);
        assert_eq!(Integer.widen(Float), Float);
        assert_eq!(Integer.widen(Text), Text);
        assert_eq!(Text.widen(Json), Json);
        assert_eq!(Boolean.widen(Boolean), Boolean);
    }

    #[test]
    fn copy_errors_name_their_line() {
        assert_eq!(
            copy_line("COPY parcels, line 17, column geom: \"SRID=4326;POINT(\""),
            Some(17)
        );
        assert_eq!(copy_line("no line here"), None);
    }

    #[test]
    fn geoparquet_names_postgis_types() {
        assert_eq!(geoparquet_type("POINT"), "Point");
        assert_eq!(geoparquet_type("MULTIPOLYGON Z"), "MultiPolygon Z");
        assert_eq!(geoparquet_type("GEOMETRYCOLLECTION"), "GeometryCollection");
    }
}
