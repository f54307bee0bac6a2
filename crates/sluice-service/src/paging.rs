//! Page sizes as clients ask for them.

use crate::error::{Error, Result};

/// A page size from a client (`limit` in GraphQL): `None` when none was asked for, and
/// refused unless it is at least one item. A page of zero items could never say whether
/// more follow, so a pager asking for it would never advance.
pub fn page_limit(limit: Option<i32>) -> Result<Option<usize>> {
    match limit {
        None => Ok(None),
        Some(l) if l >= 1 => Ok(Some(usize::try_from(l).unwrap_or(usize::MAX))),
        Some(l) => Err(Error::InvalidArgument(format!(
            "limit must be at least 1, got {l}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_holds_at_least_one_item() {
        assert_eq!(page_limit(None).ok(), Some(None));
        assert_eq!(page_limit(Some(25)).ok(), Some(Some(25)));
        for bad in [0, -1, i32::MIN] {
            let error = page_limit(Some(bad)).expect_err("refused").to_string();
            assert_eq!(error, format!("limit must be at least 1, got {bad}"));
        }
    }
}
