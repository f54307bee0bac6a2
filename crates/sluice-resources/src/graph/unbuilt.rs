//! The graph engine of a build without the `ladybug` feature: there is none. A location
//! that binds the resource fails to load ([`super::GraphResource`] says why), and
//! [`super::GraphResource::new`] refuses, so no value of this module's `Database` exists.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{GraphConfig, GraphError, QueryRows};

pub(super) const AVAILABLE: bool = false;

/// No database: this type has no values.
pub(super) enum Database {}

impl Database {
    pub(super) fn open(_id: &str, _dir: &Path, _config: &GraphConfig) -> Result<Self, GraphError> {
        Err(GraphError::NotBuilt)
    }

    pub(super) fn query(
        &self,
        _cypher: &str,
        _params: Option<Map<String, Value>>,
        _timeout: Option<Duration>,
    ) -> Result<QueryRows, String> {
        match *self {}
    }

    pub(super) fn count(&self, _nodes: &str, _rels: &str, _timeout: Option<Duration>) -> u64 {
        match *self {}
    }
}
