//! What one GraphQL request may cost: how deep and how large its selection, how many
//! aliases it holds, and how many bytes its answer takes. Each is refused with an error
//! that names the limit and its setting in `sluice.yaml`:
//!
//! ```yaml
//! webserver:
//!   graphql:
//!     max_depth: 48
//!     max_complexity: 100000
//!     max_aliases: 100
//!     max_response_bytes: 33554432
//! ```
//!
//! Complexity is counted before anything runs: one per field selected, and a list field
//! that takes a `limit` costs its selection once per item asked for (`runsOrError(limit:
//! 1000) { results { runId } }` costs about 2,000). So four hundred aliases of a
//! thousand runs each are refused before a single run is read.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Positioned, ServerError, ServerResult, Variables};
use serde::Deserialize;

/// How many items a list field with a `limit` is assumed to return when none is given,
/// for its complexity.
pub(crate) const UNLIMITED_PAGE: usize = 100;

/// The complexity of a list field that takes a `limit`: its selection, once per item.
pub(crate) fn page_complexity(limit: Option<i32>, child_complexity: usize) -> usize {
    let items = limit.map_or(UNLIMITED_PAGE, |l| usize::try_from(l).unwrap_or(1).max(1));
    items.saturating_mul(child_complexity.max(1))
}

/// The limits on one GraphQL request (`webserver.graphql` in `sluice.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryLimits {
    /// The deepest selection, in nested fields.
    pub max_depth: usize,
    /// The largest complexity (see the module's docs).
    pub max_complexity: usize,
    /// The most aliased fields in one document.
    pub max_aliases: usize,
    /// The largest answer, in bytes of JSON.
    pub max_response_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_depth: 48,
            max_complexity: 100_000,
            max_aliases: 100,
            max_response_bytes: 32 << 20,
        }
    }
}

/// The extension that counts a document's aliases once it is parsed.
pub(crate) struct AliasLimit(pub(crate) usize);

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimit(self.0))
    }
}

#[async_trait::async_trait]
impl Extension for AliasLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > self.0 {
            return Err(ServerError::new(
                format!(
                    "The document has {aliases} aliased fields, over the limit of {} \
                     (webserver.graphql.max_aliases in sluice.yaml)",
                    self.0
                ),
                None,
            ));
        }
        Ok(document)
    }
}

/// The aliased fields written in `document`, in its operations and fragments.
fn count_aliases(document: &ExecutableDocument) -> usize {
    let mut pending: Vec<&Positioned<SelectionSet>> = document
        .operations
        .iter()
        .map(|(_, operation)| &operation.node.selection_set)
        .chain(
            document
                .fragments
                .values()
                .map(|fragment| &fragment.node.selection_set),
        )
        .collect();
    let mut aliases = 0;
    while let Some(set) = pending.pop() {
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    aliases += usize::from(field.node.alias.is_some());
                    pending.push(&field.node.selection_set);
                }
                Selection::InlineFragment(fragment) => pending.push(&fragment.node.selection_set),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    aliases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_everywhere_they_are_written() {
        let document = async_graphql::parser::parse_query(
            "query { a: version b: version ... on Query { c: version } ...F }
             fragment F on Query { d: instance { e: info } version }",
        )
        .expect("parses");
        assert_eq!(count_aliases(&document), 5);
    }

    #[test]
    fn a_page_costs_its_selection_per_item() {
        assert_eq!(page_complexity(Some(1000), 3), 3000);
        assert_eq!(page_complexity(None, 2), 2 * UNLIMITED_PAGE);
        assert_eq!(
            page_complexity(Some(-5), 4),
            4,
            "refused later; costs one item"
        );
        assert_eq!(page_complexity(Some(i32::MAX), usize::MAX), usize::MAX);
    }
}
