//! Arrow tables as step outputs, kept as Parquet.
//!
//! An op or asset that returns a [`Table`] hands an Arrow record batch to its
//! downstream steps in memory; the object-store IO manager keeps it as a `.parquet`
//! file that pandas, Polars or DuckDB read as they are. Any other IO manager keeps it
//! through serde, as the bytes of the same Parquet file.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch};
//! use sluice_resources::Table;
//!
//! let batch = RecordBatch::try_from_iter([(
//!     "amount_cents",
//!     Arc::new(Int64Array::from(vec![1200, 800])) as _,
//! )])
//! .unwrap();
//! let table = Table::from(batch);
//! let parquet = table.to_parquet().unwrap();
//! assert_eq!(Table::from_parquet(&parquet).unwrap(), table);
//! ```

use std::fmt;

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use arrow_select::concat::concat_batches;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::errors::ParquetError;
use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Error as _, Serialize, Serializer};

/// An Arrow record batch that an IO manager keeps as Parquet.
#[derive(Debug, Clone, PartialEq)]
pub struct Table(pub RecordBatch);

/// A table that cannot be written or read as Parquet.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The Parquet writer or reader failed.
    #[error("Parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// Arrow failed (the batches read do not fit one schema, say).
    #[error("Arrow: {0}")]
    Arrow(#[from] ArrowError),
}

impl From<RecordBatch> for Table {
    fn from(batch: RecordBatch) -> Self {
        Self(batch)
    }
}

impl Table {
    /// The record batch.
    pub fn batch(&self) -> &RecordBatch {
        &self.0
    }

    /// How many rows it has.
    pub fn num_rows(&self) -> usize {
        self.0.num_rows()
    }

    /// The table as the bytes of a Parquet file (one row group).
    pub fn to_parquet(&self) -> Result<Vec<u8>, TableError> {
        let mut buffer = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut buffer, self.0.schema(), None)?;
        writer.write(&self.0)?;
        writer.close()?;
        Ok(buffer)
    }

    /// A table from the bytes of a Parquet file; its row groups become one batch.
    pub fn from_parquet(bytes: &[u8]) -> Result<Self, TableError> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(bytes))?;
        let schema = builder.schema().clone();
        let batches = builder
            .build()?
            .collect::<Result<Vec<RecordBatch>, ArrowError>>()?;
        Ok(Self(concat_batches(&schema, &batches)?))
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table of {} rows, {} columns",
            self.0.num_rows(),
            self.0.num_columns()
        )
    }
}

/// Serialized as the bytes of its Parquet file.
impl Serialize for Table {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_parquet().map_err(S::Error::custom)?;
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = Vec::<u8>::deserialize(deserializer)?;
        Self::from_parquet(&bytes).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};

    use super::*;

    fn orders(n: i64) -> Table {
        let ids: Vec<i64> = (0..n).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("customer {i}")).collect();
        RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(ids)) as _),
            ("customer", Arc::new(StringArray::from(names)) as _),
        ])
        .unwrap()
        .into()
    }

    #[test]
    fn a_table_round_trips_through_parquet_and_serde() {
        let table = orders(1_000);
        let parquet = table.to_parquet().unwrap();
        assert_eq!(&parquet[..4], b"PAR1");
        assert_eq!(Table::from_parquet(&parquet).unwrap(), table);
        let json = serde_json::to_vec(&table).unwrap();
        let back: Table = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.to_string(), "table of 1000 rows, 2 columns");
    }

    #[test]
    fn bytes_that_are_not_parquet_are_an_error() {
        let error = Table::from_parquet(b"{\"rows\": []}").unwrap_err();
        assert!(error.to_string().starts_with("Parquet:"), "{error}");
    }
}
