//! [`AssetSelection`]: which assets, as an algebra and as text.
//!
//! ```
//! use sluice_core::asset::{AssetKey, AssetSelection};
//! let staging = AssetSelection::groups(["staging"]);
//! let upstream_of_orders = AssetSelection::keys([AssetKey::parse("warehouse/orders").unwrap()]).upstream(None);
//! let both = staging.clone() | upstream_of_orders;
//! assert_eq!(AssetSelection::parse("group:staging or *warehouse/orders").unwrap(), both);
//! ```
//!
//! The text syntax: a key (`warehouse/orders`, or `key:"warehouse/orders"`),
//! `group:NAME`, `tag:KEY` or `tag:KEY=VALUE`, `prefix:PATH`, `*` (every asset);
//! before an operand `*` takes everything upstream and `+` (`++`, `2+`) that many levels,
//! after it the same downstream (`key*`, `key+`, `key+2`); `and`, `or`, `not` and
//! parentheses combine them.

use std::collections::BTreeSet;

use super::{AssetGraph, AssetKey, AssetKeyError};

/// A set of assets, described by what they are rather than listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetSelection {
    /// Every asset.
    All,
    /// These keys (each must exist).
    Keys(Vec<AssetKey>),
    /// Assets whose key starts with one of these.
    KeyPrefixes(Vec<AssetKey>),
    /// Assets in one of these groups.
    Groups(Vec<String>),
    /// Assets with this tag (and value, when given).
    Tag {
        /// The tag's key.
        key: String,
        /// The tag's value; `None` matches any value.
        value: Option<String>,
    },
    /// The selection and what it depends on, `depth` levels up (`None`: all).
    Upstream {
        /// The selection to start from.
        of: Box<Self>,
        /// How many levels up; `None` for all.
        depth: Option<u32>,
    },
    /// The selection and what depends on it, `depth` levels down (`None`: all).
    Downstream {
        /// The selection to start from.
        of: Box<Self>,
        /// How many levels down; `None` for all.
        depth: Option<u32>,
    },
    /// In either.
    Or(Box<Self>, Box<Self>),
    /// In both.
    And(Box<Self>, Box<Self>),
    /// In the first and not in the second.
    Sub(Box<Self>, Box<Self>),
}

/// A selection that cannot be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// The text does not parse.
    #[error("selection \"{text}\": {message} at character {position}")]
    Syntax {
        /// The selection's text.
        text: String,
        /// What was expected or found.
        message: String,
        /// Where, as a character count from 1.
        position: usize,
    },
    /// A key in the text is not a valid asset key.
    #[error("selection \"{text}\": {source}")]
    Key {
        /// The selection's text.
        text: String,
        /// What is wrong with the key.
        #[source]
        source: AssetKeyError,
    },
    /// The selection names a key that is not defined.
    #[error("the selection names asset \"{key}\", which is not defined")]
    UnknownKey {
        /// The key.
        key: AssetKey,
    },
    /// The selection picks only source assets, or nothing.
    #[error("selection \"{text}\" picks no asset that is computed here")]
    Empty {
        /// The selection's text.
        text: String,
    },
}

impl AssetSelection {
    /// These keys (each must exist when the selection is resolved).
    pub fn keys(keys: impl IntoIterator<Item = AssetKey>) -> Self {
        Self::Keys(keys.into_iter().collect())
    }

    /// The assets whose key starts with one of `prefixes` (Dagster's `key_prefixes`).
    pub fn key_prefixes(prefixes: impl IntoIterator<Item = AssetKey>) -> Self {
        Self::KeyPrefixes(prefixes.into_iter().collect())
    }

    /// The assets in one of `groups`.
    pub fn groups<S: Into<String>>(groups: impl IntoIterator<Item = S>) -> Self {
        Self::Groups(groups.into_iter().map(Into::into).collect())
    }

    /// The assets with tag `key`, with this `value` if one is given.
    pub fn tag(key: impl Into<String>, value: Option<&str>) -> Self {
        Self::Tag {
            key: key.into(),
            value: value.map(str::to_owned),
        }
    }

    /// This selection and what it depends on, `depth` levels up (`None`: all).
    pub fn upstream(self, depth: Option<u32>) -> Self {
        Self::Upstream {
            of: Box::new(self),
            depth,
        }
    }

    /// This selection and what depends on it, `depth` levels down (`None`: all).
    pub fn downstream(self, depth: Option<u32>) -> Self {
        Self::Downstream {
            of: Box::new(self),
            depth,
        }
    }

    /// Parse the text syntax (see the module documentation).
    pub fn parse(text: &str) -> Result<Self, SelectionError> {
        let mut parser = Parser {
            text,
            chars: text.char_indices().collect(),
            at: 0,
        };
        let selection = parser.or()?;
        parser.skip_space();
        if parser.at < parser.chars.len() {
            return Err(parser.error("expected \"and\", \"or\" or the end"));
        }
        Ok(selection)
    }

    /// The keys of `graph` this selection holds. A key named that `graph` does not
    /// have is an error; a group, tag or prefix that matches nothing is empty.
    pub fn resolve(&self, graph: &AssetGraph) -> Result<BTreeSet<AssetKey>, SelectionError> {
        let all = || graph.nodes().map(|n| n.key.clone());
        Ok(match self {
            Self::All => all().collect(),
            Self::Keys(keys) => {
                if let Some(missing) = keys.iter().find(|k| graph.node(k).is_none()) {
                    return Err(SelectionError::UnknownKey {
                        key: missing.clone(),
                    });
                }
                keys.iter().cloned().collect()
            }
            Self::KeyPrefixes(prefixes) => all()
                .filter(|k| prefixes.iter().any(|p| k.has_prefix(p)))
                .collect(),
            Self::Groups(groups) => graph
                .nodes()
                .filter(|n| groups.contains(&n.group))
                .map(|n| n.key.clone())
                .collect(),
            Self::Tag { key, value } => graph
                .nodes()
                .filter(|n| {
                    n.tags
                        .get(key)
                        .is_some_and(|v| value.as_ref().is_none_or(|want| want == v))
                })
                .map(|n| n.key.clone())
                .collect(),
            Self::Upstream { of, depth } => graph.upstream(&of.resolve(graph)?, *depth),
            Self::Downstream { of, depth } => graph.downstream(&of.resolve(graph)?, *depth),
            Self::Or(a, b) => &a.resolve(graph)? | &b.resolve(graph)?,
            Self::And(a, b) => &a.resolve(graph)? & &b.resolve(graph)?,
            Self::Sub(a, b) => &a.resolve(graph)? - &b.resolve(graph)?,
        })
    }
}

impl std::ops::BitOr for AssetSelection {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Self::Or(Box::new(self), Box::new(other))
    }
}

impl std::ops::BitAnd for AssetSelection {
    type Output = Self;
    fn bitand(self, other: Self) -> Self {
        Self::And(Box::new(self), Box::new(other))
    }
}

impl std::ops::Sub for AssetSelection {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self::Sub(Box::new(self), Box::new(other))
    }
}

/// A recursive-descent parser over the characters of a selection.
struct Parser<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    at: usize,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | ':' | '=' | '.')
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).map(|(_, c)| *c)
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.at + offset).map(|(_, c)| *c)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn error(&self, message: &str) -> SelectionError {
        SelectionError::Syntax {
            text: self.text.to_owned(),
            message: message.to_owned(),
            position: self.at + 1,
        }
    }

    /// The keyword `word` (case-insensitive) followed by a non-word character.
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_space();
        let n = word.len();
        let matches = (0..n).all(|i| {
            self.peek_at(i)
                .is_some_and(|c| c.eq_ignore_ascii_case(&(word.as_bytes()[i] as char)))
        });
        if matches && !self.peek_at(n).is_some_and(is_word) {
            self.at += n;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<AssetSelection, SelectionError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = left | self.and()?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<AssetSelection, SelectionError> {
        let mut left = self.not()?;
        while self.keyword("and") {
            left = left & self.not()?;
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<AssetSelection, SelectionError> {
        if self.keyword("not") {
            return Ok(AssetSelection::All - self.not()?);
        }
        self.traversal()
    }

    /// `[up] operand [down]`.
    fn traversal(&mut self) -> Result<AssetSelection, SelectionError> {
        self.skip_space();
        // A lone `*` is every asset.
        if self.peek() == Some('*')
            && !self
                .peek_at(1)
                .is_some_and(|c| is_word(c) || c == '(' || c == '"')
        {
            self.at += 1;
            return Ok(AssetSelection::All);
        }
        let up = self.up();
        let mut selection = self.operand()?;
        if let Some(depth) = up {
            selection = selection.upstream(depth);
        }
        if let Some(depth) = self.down() {
            selection = selection.downstream(depth);
        }
        Ok(selection)
    }

    /// Upstream marks before an operand: `*` (all), `+`… (one level each), `N+`.
    fn up(&mut self) -> Option<Option<u32>> {
        if self.peek() == Some('*') {
            self.at += 1;
            return Some(None);
        }
        let digits = self.count_while(|c| c.is_ascii_digit());
        if digits > 0 && self.peek_at(digits) == Some('+') {
            let n = self.take_number(digits);
            self.at += 1;
            return Some(Some(n));
        }
        let pluses = self.count_while(|c| c == '+');
        if pluses > 0 {
            self.at += pluses;
            return Some(Some(pluses as u32));
        }
        None
    }

    /// Downstream marks after an operand: `*`, `+`…, `+N`.
    fn down(&mut self) -> Option<Option<u32>> {
        if self.peek() == Some('*') {
            self.at += 1;
            return Some(None);
        }
        let pluses = self.count_while(|c| c == '+');
        if pluses == 0 {
            return None;
        }
        self.at += pluses;
        let digits = self.count_while(|c| c.is_ascii_digit());
        if pluses == 1 && digits > 0 {
            return Some(Some(self.take_number(digits)));
        }
        Some(Some(pluses as u32))
    }

    fn count_while(&self, f: impl Fn(char) -> bool) -> usize {
        (0..)
            .take_while(|i| self.peek_at(*i).is_some_and(&f))
            .count()
    }

    fn take_number(&mut self, digits: usize) -> u32 {
        let start = self.chars[self.at].0;
        self.at += digits;
        let end = self.chars.get(self.at).map_or(self.text.len(), |(i, _)| *i);
        self.text[start..end].parse().unwrap_or(u32::MAX)
    }

    fn operand(&mut self) -> Result<AssetSelection, SelectionError> {
        if self.peek() == Some('(') {
            self.at += 1;
            let inner = self.or()?;
            self.skip_space();
            if self.peek() != Some(')') {
                return Err(self.error("expected \")\""));
            }
            self.at += 1;
            return Ok(inner);
        }
        let word = self.word();
        if word.is_empty() {
            return Err(self.error("expected an asset key, group:, tag:, prefix:, \"*\" or \"(\""));
        }
        let key = |text: &str| {
            AssetKey::parse(text).map_err(|source| SelectionError::Key {
                text: self.text.to_owned(),
                source,
            })
        };
        Ok(match word.split_once(':') {
            None => AssetSelection::keys([key(&word)?]),
            Some((attribute, value)) => {
                let value = if value.is_empty() && self.peek() == Some('"') {
                    self.quoted()?
                } else {
                    value.to_owned()
                };
                match attribute {
                    "key" => AssetSelection::keys([key(&value)?]),
                    "prefix" => AssetSelection::key_prefixes([key(&value)?]),
                    "group" => AssetSelection::groups([value]),
                    "tag" => match value.split_once('=') {
                        Some((k, v)) => AssetSelection::tag(k, Some(v)),
                        None => AssetSelection::tag(value, None),
                    },
                    other => {
                        return Err(self.error(&format!(
                            "unknown attribute \"{other}:\"; use key:, group:, tag: or prefix:"
                        )));
                    }
                }
            }
        })
    }

    fn word(&mut self) -> String {
        let n = self.count_while(is_word);
        let word: String = self.chars[self.at..self.at + n]
            .iter()
            .map(|(_, c)| c)
            .collect();
        self.at += n;
        word
    }

    fn quoted(&mut self) -> Result<String, SelectionError> {
        self.at += 1;
        let n = self.count_while(|c| c != '"');
        if self.peek_at(n) != Some('"') {
            return Err(self.error("unterminated quoted value"));
        }
        let value: String = self.chars[self.at..self.at + n]
            .iter()
            .map(|(_, c)| c)
            .collect();
        self.at += n + 1;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::AssetNode;

    fn key(k: &str) -> AssetKey {
        AssetKey::parse(k).unwrap()
    }

    fn graph() -> AssetGraph {
        let node = |k: &str, group: &str, deps: &[&str], tier: Option<&str>| {
            let mut n = AssetNode::new(key(k));
            n.group = group.to_owned();
            n.deps = deps.iter().map(|d| key(d)).collect();
            if let Some(t) = tier {
                n.tags.insert("tier".into(), t.into());
            }
            n
        };
        AssetGraph::new([
            node("raw/orders", "raw", &[], None),
            node("raw/customers", "raw", &[], None),
            node("staging/orders", "staging", &["raw/orders"], Some("silver")),
            node(
                "staging/customers",
                "staging",
                &["raw/customers"],
                Some("silver"),
            ),
            node(
                "warehouse/orders",
                "warehouse",
                &["staging/orders", "staging/customers"],
                Some("gold"),
            ),
            node("report", "warehouse", &["warehouse/orders"], Some("gold")),
        ])
        .unwrap()
    }

    fn select(text: &str) -> Vec<String> {
        AssetSelection::parse(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .resolve(&graph())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|k| k.to_string())
            .collect()
    }

    #[test]
    fn the_text_syntax_selects_what_it_says() {
        assert_eq!(select("report"), ["report"]);
        assert_eq!(select("*").len(), 6);
        assert_eq!(select("+report"), ["report", "warehouse/orders"]);
        assert_eq!(select("2+report").len(), 4);
        assert_eq!(select("++report"), select("2+report"));
        assert_eq!(select("*report").len(), 6);
        assert_eq!(select("raw/orders+"), ["raw/orders", "staging/orders"]);
        assert_eq!(
            select("raw/orders+2"),
            ["raw/orders", "staging/orders", "warehouse/orders"]
        );
        assert_eq!(select("raw/orders*").len(), 4);
        assert_eq!(
            select("group:staging"),
            ["staging/customers", "staging/orders"]
        );
        assert_eq!(select("tag:tier=gold"), ["report", "warehouse/orders"]);
        assert_eq!(select("tag:tier").len(), 4);
        assert_eq!(select("prefix:raw"), ["raw/customers", "raw/orders"]);
        assert_eq!(select("key:\"warehouse/orders\""), ["warehouse/orders"]);
        assert_eq!(
            select("group:staging or report"),
            ["report", "staging/customers", "staging/orders"]
        );
        assert_eq!(
            select("*report and group:raw"),
            ["raw/customers", "raw/orders"]
        );
        assert_eq!(
            select("tag:tier and not tag:tier=gold"),
            select("group:staging")
        );
        assert_eq!(
            select("(raw/orders or raw/customers)+ AND NOT group:raw").len(),
            2
        );
    }

    #[test]
    fn the_algebra_matches_the_text() {
        let built = AssetSelection::groups(["staging"])
            | AssetSelection::keys([key("report")]).upstream(Some(1));
        assert_eq!(
            AssetSelection::parse("group:staging or +report").unwrap(),
            built
        );
        let g = graph();
        let minus = (AssetSelection::All - AssetSelection::groups(["raw"]))
            .resolve(&g)
            .unwrap();
        assert_eq!(minus.len(), 4);
    }

    #[test]
    fn bad_selections_say_what_and_where() {
        let e = AssetSelection::parse("group:staging and").unwrap_err();
        assert!(e.to_string().contains("at character 18"), "{e}");
        let e = AssetSelection::parse("(report").unwrap_err();
        assert!(e.to_string().contains("expected \")\""), "{e}");
        let e = AssetSelection::parse("owner:me").unwrap_err();
        assert!(
            e.to_string().contains("unknown attribute \"owner:\""),
            "{e}"
        );
        let e = AssetSelection::parse("raw//orders").unwrap_err();
        assert!(e.to_string().contains("\"raw//orders\""), "{e}");
        let e = AssetSelection::parse("warehouse/nope+")
            .unwrap()
            .resolve(&graph())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the selection names asset \"warehouse/nope\", which is not defined"
        );
    }
}
