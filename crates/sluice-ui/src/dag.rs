//! Directed acyclic graphs drawn as SVG, left to right in layers: a job's ops, an asset's
//! lineage. Each node sits one layer right of its furthest upstream node; within a layer,
//! nodes are ordered by the average position of their neighbours (a few sweeps each way),
//! which keeps edges short and mostly uncrossed. Linear in the edges per sweep, so 500
//! nodes lay out in well under a millisecond.

use maud::{Markup, html};

const NODE_WIDTH: f64 = 200.0;
const NODE_HEIGHT: f64 = 40.0;
const GAP_X: f64 = 70.0;
const GAP_Y: f64 = 14.0;
const MARGIN: f64 = 10.0;
const SWEEPS: usize = 4;
/// Labels longer than this are cut (the whole name is in the tooltip).
const LABEL_CHARS: usize = 26;

/// A node to draw.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The name shown.
    pub label: String,
    /// A second, smaller line (an op's name under its alias, an asset's state).
    pub detail: Option<String>,
    /// Where clicking the node leads.
    pub href: Option<String>,
    /// A status colour of the stylesheet (`success`, `failure`, `queued`, ...), or `""`.
    pub class: &'static str,
}

/// Nodes and the edges between them (`(from, to)` indices into `nodes`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The edges, upstream to downstream; duplicates and self-loops are ignored.
    pub edges: Vec<(usize, usize)>,
}

/// Where each node goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    /// The layer (column) of each node.
    pub layer: Vec<usize>,
    /// The top-left corner of each node.
    pub position: Vec<(f64, f64)>,
    /// The size of the drawing.
    pub size: (f64, f64),
}

/// Lay `graph` out. Nodes on a cycle (which a job cannot have) go in the last layer.
pub(crate) fn layout(graph: &Graph) -> Layout {
    let n = graph.nodes.len();
    let mut upstream = vec![Vec::new(); n];
    let mut downstream = vec![Vec::new(); n];
    for &(from, to) in &graph.edges {
        if from < n && to < n && from != to && !downstream[from].contains(&to) {
            downstream[from].push(to);
            upstream[to].push(from);
        }
    }
    // Longest path from the sources, in topological order (Kahn).
    let mut layer = vec![0usize; n];
    let mut waiting: Vec<usize> = upstream.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut placed = vec![false; n];
    while let Some(node) = ready.pop() {
        placed[node] = true;
        for &next in &downstream[node] {
            layer[next] = layer[next].max(layer[node] + 1);
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.push(next);
            }
        }
    }
    let deepest = layer.iter().copied().max().unwrap_or(0);
    for i in (0..n).filter(|&i| !placed[i]) {
        layer[i] = deepest + 1;
    }
    let layers = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for i in 0..n {
        columns[layer[i]].push(i);
    }
    // Order within each column by the mean position of the neighbours in the column
    // swept from: downstream sweeps look upstream, and back.
    let mut rank = vec![0.0f64; n];
    let set_ranks = |columns: &Vec<Vec<usize>>, rank: &mut Vec<f64>| {
        for column in columns {
            for (i, &node) in column.iter().enumerate() {
                rank[node] = i as f64;
            }
        }
    };
    set_ranks(&columns, &mut rank);
    for sweep in 0..SWEEPS {
        let forward = sweep % 2 == 0;
        let order: Vec<usize> = if forward {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for c in order {
            let neighbours = if forward { &upstream } else { &downstream };
            let mut keyed: Vec<(f64, usize)> = columns[c]
                .iter()
                .map(|&node| {
                    let around = &neighbours[node];
                    let key = if around.is_empty() {
                        rank[node]
                    } else {
                        around.iter().map(|&m| rank[m]).sum::<f64>() / around.len() as f64
                    };
                    (key, node)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            columns[c] = keyed.into_iter().map(|(_, node)| node).collect();
            for (i, &node) in columns[c].iter().enumerate() {
                rank[node] = i as f64;
            }
        }
    }
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(0);
    let row = NODE_HEIGHT + GAP_Y;
    let mut position = vec![(0.0, 0.0); n];
    for (c, column) in columns.iter().enumerate() {
        // Centre short columns against the tallest.
        let offset = (tallest - column.len()) as f64 * row / 2.0;
        for (i, &node) in column.iter().enumerate() {
            position[node] = (
                MARGIN + c as f64 * (NODE_WIDTH + GAP_X),
                MARGIN + offset + i as f64 * row,
            );
        }
    }
    let size = (
        2.0 * MARGIN + layers as f64 * (NODE_WIDTH + GAP_X) - if layers > 0 { GAP_X } else { 0.0 },
        2.0 * MARGIN + tallest as f64 * row - if tallest > 0 { GAP_Y } else { 0.0 },
    );
    Layout {
        layer,
        position,
        size,
    }
}

fn cut(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_owned()
    } else {
        let head: String = label.chars().take(LABEL_CHARS - 1).collect();
        format!("{head}…")
    }
}

/// Draw `graph` as an SVG with the accessible name `title`.
pub(crate) fn svg(graph: &Graph, title: &str) -> Markup {
    let layout = layout(graph);
    let (width, height) = layout.size;
    let n = graph.nodes.len();
    html! {
        svg.dag xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
            width=(format!("{width:.0}")) height=(format!("{height:.0}"))
            viewBox=(format!("0 0 {width:.0} {height:.0}")) {
            title { (title) }
            g.edges {
                @for &(from, to) in &graph.edges {
                    @if from < n && to < n && from != to {
                        @let (x1, y1) = layout.position[from];
                        @let (x2, y2) = layout.position[to];
                        @let (sx, sy) = (x1 + NODE_WIDTH, y1 + NODE_HEIGHT / 2.0);
                        @let (ex, ey) = (x2, y2 + NODE_HEIGHT / 2.0);
                        @let mid = (sx + ex) / 2.0;
                        path d=(format!("M{sx:.1},{sy:.1} C{mid:.1},{sy:.1} {mid:.1},{ey:.1} {ex:.1},{ey:.1}")) {}
                    }
                }
            }
            g.nodes {
                @for (i, node) in graph.nodes.iter().enumerate() {
                    @let (x, y) = layout.position[i];
                    @let body = html! {
                        title { (node.label) @if let Some(d) = &node.detail { " — " (d) } }
                        rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(NODE_WIDTH) height=(NODE_HEIGHT) rx="6" {}
                        text x=(format!("{:.1}", x + 10.0)) y=(format!("{:.1}", y + if node.detail.is_some() { 17.0 } else { 25.0 })) { (cut(&node.label)) }
                        @if let Some(detail) = &node.detail {
                            text.detail x=(format!("{:.1}", x + 10.0)) y=(format!("{:.1}", y + 32.0)) { (cut(detail)) }
                        }
                    };
                    @if let Some(href) = &node.href {
                        a class={ "node " (node.class) } href=(href) { (body) }
                    } @else {
                        g class={ "node " (node.class) } { (body) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(usize, usize)]) -> Graph {
        Graph {
            nodes: (0..n)
                .map(|i| Node {
                    label: format!("op_{i}"),
                    detail: None,
                    href: None,
                    class: "",
                })
                .collect(),
            edges: edges.to_vec(),
        }
    }

    #[test]
    fn nodes_sit_one_layer_right_of_their_furthest_upstream() {
        // 0 → 1 → 3, 0 → 2 → 3, 0 → 3, 4 alone.
        let g = graph(5, &[(0, 1), (1, 3), (0, 2), (2, 3), (0, 3)]);
        let l = layout(&g);
        assert_eq!(l.layer, [0, 1, 1, 2, 0]);
        assert!(l.position[3].0 > l.position[1].0);
        assert_eq!(l.position[1].0, l.position[2].0);
        assert_ne!(l.position[1].1, l.position[2].1);
    }

    #[test]
    fn a_cycle_does_not_hang_and_parallel_chains_do_not_cross() {
        let l = layout(&graph(3, &[(0, 1), (1, 2), (2, 1)]));
        assert_eq!(l.layer[0], 0);
        assert!(l.layer[1] > 0 && l.layer[2] > 0);
        // Two chains a0→a1, b0→b1 declared crosswise stay straight after ordering.
        let l = layout(&graph(4, &[(0, 3), (1, 2)]));
        assert_eq!(
            l.position[0].1 < l.position[1].1,
            l.position[3].1 < l.position[2].1
        );
    }

    #[test]
    fn five_hundred_ops_fit_and_render() {
        let edges: Vec<_> = (1..500).map(|i| ((i - 1) / 3, i)).collect();
        let g = graph(500, &edges);
        let markup = svg(&g, "big").into_string();
        assert_eq!(markup.matches("<rect").count(), 500);
        assert_eq!(markup.matches("<path").count(), 499);
    }
}
