//! The demo's assets: orders flowing raw → staging → warehouse.
//!
//! - `raw/orders` (group `raw`): the day's orders as the shop exported them, one of
//!   them with a negative amount.
//! - `staging/orders` (group `staging`): the orders with a positive amount.
//! - `warehouse/daily_revenue` (group `warehouse`): their total, in cents.
//!
//! `refresh_staging` materializes staging and what depends on it, loading `raw/orders`
//! from its latest materialization. The asset sensor `raw_orders_updated` does the same
//! each time `raw/orders` is materialized.
//!
//! Checks: `raw/orders` `amounts_positive` (WARN, fails: the export has a refund line);
//! `staging/orders` `no_negative_amounts` (blocking: the warehouse is not built from
//! staging that fails it).
//!
//! Partitioned:
//! - `raw/daily_orders` (group `raw`): one partition per day since 2026-01-01, the
//!   orders of that day.
//! - `warehouse/monthly_revenue` (group `warehouse`): one partition per month, the
//!   revenue of the month's daily partitions (each month reads its days).
//! - `warehouse/daily_order_counts` (group `warehouse`): the daily partitions' order
//!   counts, loaded into the warehouse by the asset itself; its backfill policy is a
//!   single run, so a backfill of a month of days is one run over the range.
//! - `spatial/datasets` (group `spatial`): one partition per dataset of the dynamic
//!   set `datasets`, added at runtime (`sluice partition add datasets parcels`).

use serde::{Deserialize, Serialize};
use sluice::prelude::*;

/// One order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The order's number, from 1 within its export.
    pub id: u32,
    /// The customer's name.
    pub customer: String,
    /// The order's amount, in cents; negative for a refund.
    pub amount_cents: i64,
}

fn order_columns() -> MetadataValue {
    MetadataValue::TableSchema(vec![
        TableColumn::new("id", "integer"),
        TableColumn::new("customer", "text"),
        TableColumn::new("amount_cents", "bigint"),
    ])
}

/// The assets.
pub fn assets() -> Vec<AssetDefinition> {
    let raw = AssetDefinition::builder("raw/orders")
        .group("raw")
        .description("The day's orders, as the shop exported them.")
        .owner("team:shop")
        .metadata("columns", order_columns())
        .compute(|ctx, _| async move {
            let orders: Vec<Order> = [
                ("ada", 1250),
                ("grace", 4000),
                ("alan", -300),
                ("edsger", 990),
            ]
            .into_iter()
            .zip(1..)
            .map(|((customer, amount_cents), id)| Order {
                id,
                customer: customer.to_owned(),
                amount_cents,
            })
            .collect();
            ctx.add_output_metadata("row_count", orders.len() as i64);
            Ok(orders)
        });
    let staging = AssetDefinition::builder("staging/orders")
        .group("staging")
        .description("Orders with a positive amount.")
        .code_version("1")
        .metadata("columns", order_columns())
        .input::<Vec<Order>>("raw/orders")
        .compute(|ctx, inputs| async move {
            let orders: Vec<Order> = inputs.get("orders")?;
            let total = orders.len();
            let valid: Vec<Order> = orders.into_iter().filter(|o| o.amount_cents > 0).collect();
            ctx.add_output_metadata("row_count", valid.len() as i64);
            ctx.add_output_metadata("dropped", (total - valid.len()) as i64);
            Ok(valid)
        });
    let warehouse = AssetDefinition::builder("warehouse/daily_revenue")
        .group("warehouse")
        .description("Revenue of the day, in cents.")
        .owner("finance@example.com")
        .input_named::<Vec<Order>>("orders", "staging/orders")
        .compute(|ctx, inputs| async move {
            let revenue: i64 = inputs
                .get_ref::<Vec<Order>>("orders")?
                .iter()
                .map(|o| o.amount_cents)
                .sum();
            ctx.add_output_metadata("revenue_cents", revenue);
            Ok(revenue)
        });
    vec![
        raw,
        staging,
        warehouse,
        daily_orders(),
        monthly_revenue(),
        daily_order_counts(),
        datasets(),
    ]
}

/// The dynamic partitions set of `spatial/datasets`.
pub const DATASETS: &str = "datasets";

fn daily_orders() -> AssetDefinition {
    AssetDefinition::builder("raw/daily_orders")
        .group("raw")
        .description("The orders of one day.")
        .partitions(PartitionsDefinition::daily("2026-01-01"))
        .compute(|ctx, _| async move {
            let window = ctx
                .partition_time_window()
                .ok_or_else(|| OpError::msg("raw/daily_orders needs a day's partition"))?;
            // A deterministic day's worth of orders: 1 to 5 of them.
            let day = window.start.format("%j").to_string();
            let n: u32 = day.parse().unwrap_or(1) % 5 + 1;
            let orders: Vec<Order> = (1..=n)
                .map(|id| Order {
                    id,
                    customer: format!("customer-{id}"),
                    amount_cents: i64::from(id) * 1_000,
                })
                .collect();
            ctx.add_output_metadata("row_count", orders.len() as i64);
            Ok(orders)
        })
}

fn monthly_revenue() -> AssetDefinition {
    AssetDefinition::builder("warehouse/monthly_revenue")
        .group("warehouse")
        .description("Revenue of one month, in cents, from its days' orders.")
        .partitions(PartitionsDefinition::monthly("2026-01-01"))
        .input_partitions::<Vec<Order>>("days", "raw/daily_orders")
        .compute(|ctx, inputs| async move {
            let days = inputs.get_ref::<PartitionValues<Vec<Order>>>("days")?;
            let revenue: i64 = days
                .values()
                .flat_map(|orders| orders.iter())
                .map(|o| o.amount_cents)
                .sum();
            ctx.add_output_metadata("days", days.len() as i64);
            ctx.add_output_metadata("revenue_cents", revenue);
            Ok(revenue)
        })
}

fn daily_order_counts() -> AssetDefinition {
    AssetDefinition::builder("warehouse/daily_order_counts")
        .group("warehouse")
        .description("How many orders each day had, loaded for a range of days at once.")
        .partitions(PartitionsDefinition::daily("2026-01-01"))
        .backfill_policy(BackfillPolicy::single_run())
        .input_partitions::<Vec<Order>>("days", "raw/daily_orders")
        .compute(|ctx, inputs| async move {
            let days = inputs.get_ref::<PartitionValues<Vec<Order>>>("days")?;
            let orders: usize = days.values().map(|orders| orders.len()).sum();
            // The warehouse table is written here, one row per day; the value is ().
            ctx.add_output_metadata("days", ctx.partition_keys().len() as i64);
            ctx.add_output_metadata("orders", orders as i64);
            Ok(())
        })
}

fn datasets() -> AssetDefinition {
    AssetDefinition::builder("spatial/datasets")
        .group("spatial")
        .description("One spatial dataset per partition, added as datasets arrive.")
        .partitions(PartitionsDefinition::dynamic(DATASETS))
        .compute(|ctx, _| async move {
            let name = ctx.partition_key().unwrap_or_default().to_owned();
            ctx.add_output_metadata("dataset", name.clone());
            Ok(format!("features of {name}"))
        })
}

/// The data-quality checks.
pub fn checks() -> Vec<AssetCheckDefinition> {
    fn negatives(orders: &[Order]) -> i64 {
        orders.iter().filter(|o| o.amount_cents <= 0).count() as i64
    }
    vec![
        AssetCheckDefinition::builder("amounts_positive", "raw/orders")
            .description("Every exported order has a positive amount.")
            .compute(|_, orders: std::sync::Arc<Vec<Order>>| async move {
                let bad = negatives(&orders);
                Ok(AssetCheckResult::new(bad == 0)
                    .severity(AssetCheckSeverity::Warn)
                    .metadata("non_positive_rows", bad))
            }),
        AssetCheckDefinition::builder("no_negative_amounts", "staging/orders")
            .description("Staging holds no order with a non-positive amount.")
            .blocking(true)
            .compute(|_, orders: std::sync::Arc<Vec<Order>>| async move {
                let bad = negatives(&orders);
                Ok(AssetCheckResult::new(bad == 0).metadata("non_positive_rows", bad))
            }),
    ]
}

/// Each new materialization of `raw/orders` rebuilds staging and the warehouse from it
/// (an asset sensor that targets assets, not a job).
pub fn raw_orders_updated() -> SensorDefinition {
    let raw = AssetKey::parse("raw/orders").expect("a valid key");
    SensorDefinition::asset("raw_orders_updated", raw, |ctx| async move {
        Ok(vec![
            RunRequest::new().run_key(format!("raw/orders@{}", ctx.event.storage_id)),
        ])
    })
    .asset_selection(AssetSelection::parse("staging/orders+").expect("a valid selection"))
    .minimum_interval(std::time::Duration::from_secs(5))
    .description("Rebuilds staging and the warehouse after each materialization of raw/orders.")
    .build()
}

/// The asset jobs.
pub fn asset_jobs() -> Vec<AssetJobDefinition> {
    vec![
        define_asset_job(
            "refresh_staging",
            AssetSelection::parse("group:staging+").expect("a valid selection"),
        )
        .description("Rebuilds staging and the warehouse from the latest raw orders."),
        define_asset_job(
            "daily_orders_job",
            AssetSelection::parse("raw/daily_orders").expect("a valid selection"),
        )
        .description("Loads one day of orders: a partitioned job (its partition set is daily_orders_job_partition_set)."),
    ]
}
