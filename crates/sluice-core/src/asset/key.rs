//! [`AssetKey`]: the name of an asset, a path of one or more parts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An asset's name: a path of parts, shown joined by `/` (`warehouse/orders`).
///
/// ```
/// use sluice_core::asset::AssetKey;
/// let key = AssetKey::parse("source/gocardless/extract/transactions").unwrap();
/// assert_eq!(key.path().len(), 4);
/// assert_eq!(key.to_string(), "source/gocardless/extract/transactions");
/// assert_eq!(key, AssetKey::new(["source", "gocardless", "extract", "transactions"]).unwrap());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AssetKey(Vec<String>);

/// A string that cannot be an asset key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetKeyError {
    /// A key with no part.
    #[error("an asset key needs at least one part")]
    Empty,
    /// A part that is empty or has a character other than letters, digits, `_` and `-`.
    #[error(
        "asset key part \"{part}\" of \"{key}\" may only use letters, digits, \"_\" and \"-\", and cannot be empty"
    )]
    InvalidPart {
        /// The whole key, parts joined by `/`.
        key: String,
        /// The invalid part.
        part: String,
    },
}

fn valid_part(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl AssetKey {
    /// A key of these parts.
    pub fn new<S: Into<String>>(parts: impl IntoIterator<Item = S>) -> Result<Self, AssetKeyError> {
        let parts: Vec<String> = parts.into_iter().map(Into::into).collect();
        if parts.is_empty() {
            return Err(AssetKeyError::Empty);
        }
        if let Some(bad) = parts.iter().find(|p| !valid_part(p)) {
            return Err(AssetKeyError::InvalidPart {
                key: parts.join("/"),
                part: bad.clone(),
            });
        }
        Ok(Self(parts))
    }

    /// A one-part key of `text` as it is, for reporting a key that did not parse.
    pub(crate) fn unchecked(text: &str) -> Self {
        Self(vec![text.to_owned()])
    }

    /// A key from its `/`-joined form.
    pub fn parse(text: &str) -> Result<Self, AssetKeyError> {
        Self::new(text.split('/'))
    }

    /// The parts.
    pub fn path(&self) -> &[String] {
        &self.0
    }

    /// Whether `prefix`'s parts are the first parts of this key.
    pub fn has_prefix(&self, prefix: &AssetKey) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The name of the op (and step) that computes the asset: its parts joined by
    /// `__`, as Dagster names asset ops.
    pub fn op_name(&self) -> String {
        self.0.join("__")
    }

    /// This key with `part` appended.
    pub fn child(&self, part: &str) -> Result<Self, AssetKeyError> {
        Self::new(self.0.iter().map(String::as_str).chain([part]))
    }
}

impl fmt::Display for AssetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

impl std::str::FromStr for AssetKey {
    type Err = AssetKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_compare_and_refuse_bad_parts() {
        let key = AssetKey::parse("warehouse/orders").unwrap();
        assert!(key.has_prefix(&AssetKey::parse("warehouse").unwrap()));
        assert!(!key.has_prefix(&AssetKey::parse("ware").unwrap()));
        assert_eq!(
            key.child("daily").unwrap().to_string(),
            "warehouse/orders/daily"
        );
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            r#"["warehouse","orders"]"#
        );
        assert_eq!(
            AssetKey::new(Vec::<String>::new()),
            Err(AssetKeyError::Empty)
        );
        let e = AssetKey::parse("raw//orders").unwrap_err();
        assert!(e.to_string().contains("\"raw//orders\""), "{e}");
        let e = AssetKey::parse("raw/ord ers").unwrap_err();
        assert!(e.to_string().contains("\"ord ers\""), "{e}");
    }
}
