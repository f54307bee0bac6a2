//! [`AssetGraph`]: assets and their dependencies, checked once, then walked cheaply.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use super::AssetKey;

/// One asset as the graph sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetNode {
    /// The asset key.
    pub key: AssetKey,
    /// The asset group. Dagster's default group is `default`.
    pub group: String,
    /// The asset's tags, which `tag:` selections match.
    pub tags: BTreeMap<String, String>,
    /// The keys it depends on, data or ordering.
    pub deps: Vec<AssetKey>,
    /// Declared but not computed here (a source asset).
    pub is_source: bool,
}

impl AssetNode {
    /// A computed asset in the `default` group, with no tags or dependencies.
    pub fn new(key: AssetKey) -> Self {
        Self {
            key,
            group: super::DEFAULT_GROUP.to_owned(),
            tags: BTreeMap::new(),
            deps: Vec::new(),
            is_source: false,
        }
    }
}

/// Something wrong with a set of assets, naming the keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetGraphProblem {
    /// Two assets share a key.
    #[error("asset \"{key}\" is defined more than once")]
    DuplicateKey {
        /// The shared key.
        key: AssetKey,
    },
    /// An asset depends on a key that is not defined.
    #[error("asset \"{key}\" depends on \"{dep}\", which is not defined")]
    UnknownDependency {
        /// The asset.
        key: AssetKey,
        /// The undefined key it depends on.
        dep: AssetKey,
    },
    /// Assets depend on each other in a cycle.
    #[error("assets depend on each other in a cycle: {}", cycle.iter().map(ToString::to_string).collect::<Vec<_>>().join(" → "))]
    Cycle {
        /// The keys on the cycle, each depended on by the next, the first repeated last.
        cycle: Vec<AssetKey>,
    },
}

/// The assets of a location with their dependencies: no duplicate, no unknown
/// dependency, no cycle.
#[derive(Debug, Clone, Default)]
pub struct AssetGraph {
    nodes: BTreeMap<AssetKey, AssetNode>,
    downstream: FxHashMap<AssetKey, BTreeSet<AssetKey>>,
    /// Every key after what it depends on (computed once: asset jobs walk it).
    order: Vec<AssetKey>,
}

impl AssetGraph {
    /// Check `nodes` and build the graph, or list every problem.
    pub fn new(nodes: impl IntoIterator<Item = AssetNode>) -> Result<Self, Vec<AssetGraphProblem>> {
        let mut problems = Vec::new();
        let mut graph = Self::default();
        for node in nodes {
            if graph.nodes.contains_key(&node.key) {
                problems.push(AssetGraphProblem::DuplicateKey { key: node.key });
                continue;
            }
            graph.nodes.insert(node.key.clone(), node);
        }
        for node in graph.nodes.values() {
            for dep in &node.deps {
                if graph.nodes.contains_key(dep) {
                    graph
                        .downstream
                        .entry(dep.clone())
                        .or_default()
                        .insert(node.key.clone());
                } else {
                    problems.push(AssetGraphProblem::UnknownDependency {
                        key: node.key.clone(),
                        dep: dep.clone(),
                    });
                }
            }
        }
        // Every key is ordered unless some depend on each other in a cycle: only then is
        // it looked for, to name it.
        let order = graph.compute_order();
        if order.len() < graph.nodes.len()
            && let Some(cycle) = graph.find_cycle()
        {
            problems.push(AssetGraphProblem::Cycle { cycle });
        }
        if problems.is_empty() {
            graph.order = order;
            Ok(graph)
        } else {
            Err(problems)
        }
    }

    /// The asset with key `key`, or `None`.
    pub fn node(&self, key: &AssetKey) -> Option<&AssetNode> {
        self.nodes.get(key)
    }

    /// Every asset, by key.
    pub fn nodes(&self) -> impl Iterator<Item = &AssetNode> {
        self.nodes.values()
    }

    /// The keys that depend directly on `key`.
    pub fn children(&self, key: &AssetKey) -> impl Iterator<Item = &AssetKey> {
        self.downstream.get(key).into_iter().flatten()
    }

    /// The keys `key` depends on directly.
    pub fn parents(&self, key: &AssetKey) -> impl Iterator<Item = &AssetKey> {
        self.nodes.get(key).into_iter().flat_map(|n| n.deps.iter())
    }

    /// `start` and everything up to `depth` steps upstream (`None`: all the way).
    pub fn upstream(&self, start: &BTreeSet<AssetKey>, depth: Option<u32>) -> BTreeSet<AssetKey> {
        self.walk(start, depth, |k| self.parents(k).cloned().collect())
    }

    /// `start` and everything up to `depth` steps downstream (`None`: all the way).
    pub fn downstream(&self, start: &BTreeSet<AssetKey>, depth: Option<u32>) -> BTreeSet<AssetKey> {
        self.walk(start, depth, |k| self.children(k).cloned().collect())
    }

    fn walk(
        &self,
        start: &BTreeSet<AssetKey>,
        depth: Option<u32>,
        next: impl Fn(&AssetKey) -> Vec<AssetKey>,
    ) -> BTreeSet<AssetKey> {
        let mut seen = start.clone();
        let mut frontier: Vec<AssetKey> = start.iter().cloned().collect();
        let mut level = 0;
        while !frontier.is_empty() && depth.is_none_or(|d| level < d) {
            let mut following = Vec::new();
            for key in &frontier {
                for n in next(key) {
                    if seen.insert(n.clone()) {
                        following.push(n);
                    }
                }
            }
            frontier = following;
            level += 1;
        }
        seen
    }

    /// Keys in an order where every asset comes after what it depends on.
    pub fn topological_order(&self) -> &[AssetKey] {
        &self.order
    }

    fn compute_order(&self) -> Vec<AssetKey> {
        let mut order = Vec::with_capacity(self.nodes.len());
        // How many distinct upstream assets each key still waits for.
        let mut waiting: FxHashMap<&AssetKey, usize> = self.nodes.keys().map(|k| (k, 0)).collect();
        for child in self.downstream.values().flatten() {
            if let Some(n) = waiting.get_mut(child) {
                *n += 1;
            }
        }
        // Roots in key order, so that the order does not depend on hashing.
        let mut ready: Vec<&AssetKey> = self.nodes.keys().filter(|k| waiting[k] == 0).collect();
        ready.reverse();
        while let Some(key) = ready.pop() {
            order.push(key.clone());
            for child in self.children(key) {
                if let Some(n) = waiting.get_mut(child) {
                    *n -= 1;
                    if *n == 0 {
                        ready.push(child);
                    }
                }
            }
        }
        order
    }

    /// One cycle, if there is any (depth-first, colouring visited keys).
    fn find_cycle(&self) -> Option<Vec<AssetKey>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Open,
            Done,
        }
        let mut marks: FxHashMap<&AssetKey, Mark> = FxHashMap::default();
        for root in self.nodes.keys() {
            if marks.contains_key(root) {
                continue;
            }
            // (key, index of the next dependency to visit)
            let mut stack: Vec<(&AssetKey, usize)> = vec![(root, 0)];
            marks.insert(root, Mark::Open);
            while let Some((key, i)) = stack.last_mut() {
                let deps = &self.nodes[*key].deps;
                if *i == deps.len() {
                    marks.insert(key, Mark::Done);
                    stack.pop();
                    continue;
                }
                let dep = &deps[*i];
                *i += 1;
                if !self.nodes.contains_key(dep) {
                    continue;
                }
                match marks.get(dep) {
                    Some(Mark::Done) => {}
                    Some(Mark::Open) => {
                        let from = stack.iter().position(|(k, _)| *k == dep).unwrap_or(0);
                        let mut cycle: Vec<AssetKey> =
                            stack[from..].iter().map(|(k, _)| (*k).clone()).collect();
                        cycle.push(dep.clone());
                        cycle.reverse();
                        return Some(cycle);
                    }
                    None => {
                        marks.insert(dep, Mark::Open);
                        stack.push((dep, 0));
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn node(key: &str, deps: &[&str]) -> AssetNode {
        let mut n = AssetNode::new(AssetKey::parse(key).unwrap());
        n.deps = deps.iter().map(|d| AssetKey::parse(d).unwrap()).collect();
        n
    }

    #[test]
    fn problems_name_the_keys() {
        let problems = AssetGraph::new([
            node("raw", &[]),
            node("raw", &[]),
            node("staging", &["raw", "nowhere"]),
            node("a", &["c"]),
            node("b", &["a"]),
            node("c", &["b"]),
        ])
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text[0], "asset \"raw\" is defined more than once");
        assert_eq!(
            text[1],
            "asset \"staging\" depends on \"nowhere\", which is not defined"
        );
        assert!(
            text[2].starts_with("assets depend on each other in a cycle: "),
            "{}",
            text[2]
        );
        for key in ["a", "b", "c"] {
            assert!(text[2].contains(key), "{}", text[2]);
        }
    }

    #[test]
    fn walks_and_order() {
        let g = AssetGraph::new([
            node("raw", &[]),
            node("staging", &["raw"]),
            node("warehouse", &["staging"]),
            node("report", &["warehouse", "raw"]),
            // A dependency named twice (an input and an ordering) is one parent.
            node("audit", &["raw", "raw"]),
        ])
        .unwrap();
        let one = |k: &str| BTreeSet::from([AssetKey::parse(k).unwrap()]);
        let names =
            |s: BTreeSet<AssetKey>| s.into_iter().map(|k| k.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(g.upstream(&one("report"), Some(1))),
            ["raw", "report", "warehouse"]
        );
        assert_eq!(names(g.upstream(&one("report"), None)).len(), 4);
        assert_eq!(g.topological_order().len(), 5, "every key is ordered");
        assert_eq!(
            names(g.downstream(&one("staging"), None)),
            ["report", "staging", "warehouse"]
        );
        let order: Vec<String> = g
            .topological_order()
            .iter()
            .map(ToString::to_string)
            .collect();
        let at = |k: &str| order.iter().position(|o| o == k).unwrap();
        assert!(at("raw") < at("staging") && at("staging") < at("warehouse"));
        assert!(at("warehouse") < at("report"));
    }
}
