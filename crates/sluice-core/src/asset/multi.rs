//! Multi-assets: one computation that materializes several assets at once (Dagster's
//! `@multi_asset`), as an API sync that writes accounts and transactions together.
//!
//! The assets share the op (named after the multi-asset), its inputs, config, group,
//! partitioning and the other settings of [`AssetBuilder`]; each has an output of its
//! own, and a run that selects one of them materializes them all.
//!
//! ```
//! use sluice_core::asset::multi_asset;
//! use sluice_core::op::Outputs;
//!
//! let assets = multi_asset("gocardless_sync")
//!     .group("gocardless")
//!     .output::<Vec<String>>("accounts", "source/gocardless/accounts")
//!     .output::<Vec<i64>>("transactions", "source/gocardless/transactions")
//!     .compute(|_, _| async {
//!         Ok(Outputs::new()
//!             .with("accounts", vec!["acc-1".to_owned()])
//!             .with("transactions", vec![1200_i64]))
//!     });
//! assert_eq!(assets.len(), 2);
//! assert_eq!(assets[1].output_name(), "transactions");
//! assert_eq!(assets[0].op().unwrap().name(), "gocardless_sync");
//! ```

use std::collections::BTreeMap;

use super::definition::{AssetInner, parse_or_keep};
use super::{AssetBuilder, AssetDefinition, AssetKey};
use crate::op::{Inputs, OpContext, OpError, OutputDefinition, OutputValue, Outputs};

/// An [`AssetBuilder`] of the assets of a multi-asset: each declared with
/// [`AssetBuilder::output`].
#[derive(Debug, Default)]
pub struct ManyAssets {
    /// The multi-asset's name (its op's).
    name: String,
    /// Each asset's output (name and type) and key text.
    outputs: Vec<(OutputDefinition, String)>,
}

/// Start a multi-asset whose op is named `name`.
pub fn multi_asset(name: &str) -> AssetBuilder<ManyAssets> {
    // The shared settings are kept on an asset keyed by the name; each asset declared
    // with `output` gets its own key.
    let key = AssetKey::unchecked(name);
    let kind = ManyAssets {
        name: name.to_owned(),
        outputs: Vec::new(),
    };
    AssetInner::builder(key, name.to_owned(), Vec::new(), kind)
}

impl AssetBuilder<ManyAssets> {
    /// One of the assets: output `name` of type `T` holds the value of asset `key`.
    pub fn output<T: OutputValue>(mut self, name: &str, key: &str) -> Self {
        let output = crate::op::output_definition::<T>(name.to_owned(), true);
        self.kind.outputs.push((output, key.to_owned()));
        self
    }

    /// Finish the multi-asset with the function that computes its assets, returning
    /// each asset's value as the [`Outputs`] named by [`Self::output`].
    pub fn compute<F, Fut>(self, f: F) -> Vec<AssetDefinition>
    where
        F: Fn(OpContext, Inputs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outputs, OpError>> + Send + 'static,
    {
        let shared = self.asset;
        let name = self.kind.name;
        if self.kind.outputs.is_empty() {
            let problem = "it declares no asset; add each with .output::<T>(name, key)";
            return vec![shared.with_problem(&name, problem.to_owned())];
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some((twice, _)) = self
            .kind
            .outputs
            .iter()
            .find(|(o, _)| !seen.insert(&o.name))
        {
            let problem = format!("output \"{}\" is declared twice", twice.name);
            return vec![shared.with_problem(&name, problem)];
        }
        let mut keys = Vec::with_capacity(self.kind.outputs.len());
        for (output, text) in &self.kind.outputs {
            let mut errors = Vec::new();
            let key = parse_or_keep(text, &mut errors);
            keys.push((output.name.clone(), key, errors));
        }
        let by_output: BTreeMap<String, AssetKey> = keys
            .iter()
            .map(|(name, key, _)| (name.clone(), key.clone()))
            .collect();
        let asset = shared.asset_op(by_output);
        let outputs = self.kind.outputs.into_iter().map(|(o, _)| o).collect();
        let op = self.op.compute_multi_asset(outputs, asset, f);
        keys.into_iter()
            .map(|(name, key, errors)| shared.of_multi(key, op.clone(), name, errors))
            .collect()
    }
}
