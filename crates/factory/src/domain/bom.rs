//! Bills of materials: cycle detection and multi-level explosion.
//!
//! A BOM says that `output_qty` of a product is made from `components`
//! (each a quantity of another item). A product's **active** BOM is its
//! newest version. The graph of active BOMs must stay acyclic: a new BOM
//! that would let a product (transitively) need itself is refused, naming
//! the path ([`find_cycle`]).
//!
//! **Explosion** ([`explode`]) turns "make `qty` of this BOM's product"
//! into total leaf requirements: every component that has an active BOM of
//! its own is exploded in turn, leaves (items without one) are summed. The
//! arithmetic is exact: requirements are fractions ([`Ratio`]), aggregated
//! per item in topological order (so a sub-assembly used in many places is
//! expanded once, not once per path), and rounded only at the very end,
//! up to the next thousandth (a fraction of a thousandth still has to be
//! issued whole).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::qty;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub sku: String,
    /// Thousandths needed per `output_qty` of the product.
    pub qty: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bom {
    /// Thousandths of the product this BOM makes.
    pub output_qty: i64,
    pub components: Vec<Component>,
}

/// The active BOM of every product that has one, by product SKU.
pub type Graph = HashMap<String, Bom>;

/// `A → B → C → A`.
pub fn format_path(path: &[String]) -> String {
    path.join(" → ")
}

/// The cycle that giving `product` the BOM `components` would close, as
/// the path from `product` back to itself, or `None`. The rest of the
/// graph is acyclic (every BOM passed this check), so only cycles through
/// `product` can appear; the search terminates on any graph all the same.
pub fn find_cycle(graph: &Graph, product: &str, components: &[Component]) -> Option<Vec<String>> {
    fn children<'g>(
        graph: &'g Graph,
        product: &str,
        components: &'g [Component],
        node: &str,
    ) -> Vec<&'g str> {
        let list = if node == product {
            components
        } else {
            graph.get(node).map_or(&[][..], |b| b.components.as_slice())
        };
        list.iter().map(|c| c.sku.as_str()).collect()
    }
    let children = |node: &str| children(graph, product, components, node);
    // Iterative depth-first search: the stack is the current path, so the
    // cycle's path is read off it. Depth is bounded by the number of items,
    // never by the thread's stack.
    let mut done: HashSet<&str> = HashSet::new();
    let mut stack: Vec<(&str, Vec<&str>, usize)> = vec![(product, children(product), 0)];
    while let Some((_, kids, next)) = stack.last_mut() {
        let Some(&child) = kids.get(*next) else {
            if let Some((node, _, _)) = stack.pop() {
                done.insert(node);
            }
            continue;
        };
        *next += 1;
        if child == product {
            let mut path: Vec<String> = stack.iter().map(|(n, _, _)| (*n).to_owned()).collect();
            path.push(product.to_owned());
            return Some(path);
        }
        // On the current path but not `product`: a cycle that does not
        // involve the new BOM (impossible while the invariant holds); do
        // not loop on it.
        if done.contains(child) || stack.iter().any(|(n, _, _)| *n == child) {
            continue;
        }
        let kids = children(child);
        stack.push((child, kids, 0));
    }
    None
}

/// An exact non-negative fraction `num / den` in lowest terms, `den > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Ratio {
    pub const ZERO: Ratio = Ratio { num: 0, den: 1 };

    pub fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        let sign = if den < 0 { -1 } else { 1 };
        Some(Ratio {
            num: sign * num / g,
            den: sign * den / g,
        })
    }

    pub fn from_int(v: i64) -> Ratio {
        Ratio {
            num: i128::from(v),
            den: 1,
        }
    }

    pub fn checked_add(self, o: Ratio) -> Option<Ratio> {
        let g = gcd(self.den, o.den).max(1);
        let den = (self.den / g).checked_mul(o.den)?;
        let num = self
            .num
            .checked_mul(o.den / g)?
            .checked_add(o.num.checked_mul(self.den / g)?)?;
        Ratio::new(num, den)
    }

    /// `self × n / d`, cross-reduced first to keep the terms small.
    pub fn checked_mul_frac(self, n: i64, d: i64) -> Option<Ratio> {
        let (n, d) = (i128::from(n), i128::from(d));
        if d == 0 {
            return None;
        }
        let g1 = gcd(self.num, d).max(1);
        let g2 = gcd(n, self.den).max(1);
        let num = (self.num / g1).checked_mul(n / g2)?;
        let den = (self.den / g2).checked_mul(d / g1)?;
        Ratio::new(num, den)
    }

    /// Rounded up to a whole number (of thousandths).
    pub fn ceil(self) -> Option<i64> {
        let q = self.num.div_euclid(self.den);
        let q = if self.num.rem_euclid(self.den) == 0 {
            q
        } else {
            q + 1
        };
        i64::try_from(q).ok()
    }

    pub fn is_integer(self) -> bool {
        self.den == 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplodeError {
    #[error("the bills of materials form a cycle: {}", format_path(.0))]
    Cycle(Vec<String>),
    #[error("the requirements are too large to compute")]
    TooLarge,
}

/// One leaf requirement of an explosion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub sku: String,
    /// The exact requirement in thousandths.
    pub exact: Ratio,
    /// Rounded up to a whole thousandth.
    pub qty: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explosion {
    /// Leaves, by SKU.
    pub requirements: Vec<Requirement>,
    /// Levels of BOMs below (and including) the root: 1 when no component
    /// has a BOM of its own.
    pub depth: usize,
}

/// Explodes `qty` thousandths of `product` made by `root` (any version of
/// its BOM), through the active BOMs of `graph` below it.
pub fn explode(
    graph: &Graph,
    product: &str,
    root: &Bom,
    qty: i64,
) -> Result<Explosion, ExplodeError> {
    fn bom_of<'g>(graph: &'g Graph, product: &str, root: &'g Bom, node: &str) -> Option<&'g Bom> {
        if node == product {
            Some(root)
        } else {
            graph.get(node)
        }
    }
    let bom_of = |node: &str| bom_of(graph, product, root, node);
    // Post-order DFS (iterative); a node met again while on the path is a
    // cycle.
    let mut order: Vec<&str> = Vec::new();
    let mut done: HashSet<&str> = HashSet::new();
    let mut stack: Vec<(&str, usize)> = vec![(product, 0)];
    while let Some(&mut (node, ref mut next)) = stack.last_mut() {
        let kids = bom_of(node).map(|b| b.components.as_slice()).unwrap_or(&[]);
        let Some(child) = kids.get(*next) else {
            stack.pop();
            done.insert(node);
            order.push(node);
            continue;
        };
        *next += 1;
        let child = child.sku.as_str();
        if let Some(at) = stack.iter().position(|(n, _)| *n == child) {
            let mut path: Vec<String> = stack[at..].iter().map(|(n, _)| (*n).to_owned()).collect();
            path.push(child.to_owned());
            return Err(ExplodeError::Cycle(path));
        }
        if !done.contains(child) {
            stack.push((child, 0));
        }
    }
    // Reverse post-order: every product before its components, so a node's
    // total is complete before it is expanded.
    let mut need: HashMap<&str, Ratio> = HashMap::new();
    let mut depth: HashMap<&str, usize> = HashMap::new();
    need.insert(product, Ratio::from_int(qty));
    depth.insert(product, 0);
    let mut leaves: BTreeMap<String, Ratio> = BTreeMap::new();
    let mut max_depth = 0;
    for &node in order.iter().rev() {
        let total = need.get(node).copied().unwrap_or(Ratio::ZERO);
        let d = depth.get(node).copied().unwrap_or(0);
        match bom_of(node) {
            Some(bom) => {
                max_depth = max_depth.max(d + 1);
                for c in &bom.components {
                    let part = total
                        .checked_mul_frac(c.qty, bom.output_qty)
                        .ok_or(ExplodeError::TooLarge)?;
                    let slot = need.entry(c.sku.as_str()).or_insert(Ratio::ZERO);
                    *slot = slot.checked_add(part).ok_or(ExplodeError::TooLarge)?;
                    let cd = depth.entry(c.sku.as_str()).or_insert(0);
                    *cd = (*cd).max(d + 1);
                }
            }
            None => {
                leaves.insert(node.to_owned(), total);
            }
        }
    }
    let requirements = leaves
        .into_iter()
        .map(|(sku, exact)| {
            let qty = exact
                .ceil()
                .filter(|q| *q <= qty::MAX_BALANCE)
                .ok_or(ExplodeError::TooLarge)?;
            Ok(Requirement { sku, exact, qty })
        })
        .collect::<Result<Vec<_>, ExplodeError>>()?;
    Ok(Explosion {
        requirements,
        depth: max_depth,
    })
}

/// The single-level requirement of a work order: `qty` of the product
/// needs `component × qty / output_qty`, rounded up to a thousandth.
pub fn single_level(bom: &Bom, qty: i64) -> Option<Vec<(String, i64)>> {
    bom.components
        .iter()
        .map(|c| qty::mul_div_ceil(qty, c.qty, bom.output_qty).map(|q| (c.sku.clone(), q)))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn bom(output: i64, comps: &[(&str, i64)]) -> Bom {
        Bom {
            output_qty: output,
            components: comps
                .iter()
                .map(|(s, q)| Component {
                    sku: (*s).to_owned(),
                    qty: *q,
                })
                .collect(),
        }
    }

    fn comps(list: &[&str]) -> Vec<Component> {
        list.iter()
            .map(|s| Component {
                sku: (*s).to_owned(),
                qty: 1000,
            })
            .collect()
    }

    #[test]
    fn cycles_are_found_with_their_path() {
        let mut g = Graph::new();
        g.insert("A".into(), bom(1000, &[("B", 1000)]));
        g.insert("B".into(), bom(1000, &[("C", 1000), ("X", 1000)]));
        let path = find_cycle(&g, "C", &comps(&["Y", "A"])).unwrap();
        assert_eq!(format_path(&path), "C → A → B → C");
        assert_eq!(
            find_cycle(&g, "A", &comps(&["A"])).map(|p| format_path(&p)),
            Some("A → A".to_owned())
        );
        assert_eq!(find_cycle(&g, "C", &comps(&["X", "Y"])), None);
        // Replacing A's own BOM: its old edges do not count.
        assert_eq!(find_cycle(&g, "A", &comps(&["C"])), None);
    }

    #[test]
    fn explodes_through_levels_exactly() {
        // 1 BIKE = 2 WHEEL + 1 FRAME; 1 WHEEL = 32 SPOKE + 1 RIM;
        // 2 FRAME = 3 TUBE (so 1 FRAME = 1.5 TUBE).
        let mut g = Graph::new();
        g.insert(
            "WHEEL".into(),
            bom(1000, &[("SPOKE", 32_000), ("RIM", 1000)]),
        );
        g.insert("FRAME".into(), bom(2000, &[("TUBE", 3000)]));
        let root = bom(1000, &[("WHEEL", 2000), ("FRAME", 1000), ("RIM", 500)]);
        let e = explode(&g, "BIKE", &root, 3000).unwrap();
        let got: Vec<(&str, i64)> = e
            .requirements
            .iter()
            .map(|r| (r.sku.as_str(), r.qty))
            .collect();
        assert_eq!(got, vec![("RIM", 7500), ("SPOKE", 192_000), ("TUBE", 4500)]);
        assert_eq!(e.depth, 2);
        // A third of a unit is rounded up only at the end.
        let root = bom(3000, &[("TUBE", 1000)]);
        let e = explode(&Graph::new(), "P", &root, 1000).unwrap();
        assert_eq!(e.requirements[0].qty, 334);
        assert!(!e.requirements[0].exact.is_integer());
        let e = explode(&Graph::new(), "P", &root, 3000).unwrap();
        assert_eq!(e.requirements[0].qty, 1000);
    }

    #[test]
    fn explosion_refuses_a_cycle() {
        let mut g = Graph::new();
        g.insert("B".into(), bom(1000, &[("C", 1000)]));
        g.insert("C".into(), bom(1000, &[("B", 1000)]));
        let root = bom(1000, &[("B", 1000)]);
        assert_eq!(
            explode(&g, "A", &root, 1000),
            Err(ExplodeError::Cycle(vec![
                "B".into(),
                "C".into(),
                "B".into()
            ]))
        );
    }

    #[test]
    fn single_level_rounds_up() {
        let b = bom(3000, &[("X", 1000), ("Y", 6000)]);
        assert_eq!(
            single_level(&b, 1000),
            Some(vec![("X".into(), 334), ("Y".into(), 2000)])
        );
    }

    /// A layered DAG: node `L{i}N{j}`; nodes of the last level are leaves,
    /// others have a BOM over nodes of deeper levels.
    fn dag() -> impl Strategy<Value = (Graph, String)> {
        (2usize..6, 1usize..4).prop_flat_map(|(levels, width)| {
            let nodes = levels * width;
            let edges = proptest::collection::vec(
                (0..nodes, 0..nodes, 1i64..5000, 1i64..3000),
                1..(nodes * 3),
            );
            edges.prop_map(move |edges| {
                let name = |n: usize| format!("L{}N{}", n / width, n % width);
                let mut g = Graph::new();
                for (a, b, q, out) in edges {
                    let (la, lb) = (a / width, b / width);
                    if la >= lb {
                        continue;
                    }
                    let entry = g.entry(name(a)).or_insert_with(|| Bom {
                        output_qty: out,
                        components: vec![],
                    });
                    if !entry.components.iter().any(|c| c.sku == name(b)) {
                        entry.components.push(Component {
                            sku: name(b),
                            qty: q,
                        });
                    }
                }
                let root = name(0);
                g.entry(root.clone()).or_insert_with(|| Bom {
                    output_qty: 1000,
                    components: vec![Component {
                        sku: name(nodes - 1),
                        qty: 1000,
                    }],
                });
                (g, root)
            })
        })
    }

    /// The definition: the sum, over every path from the root to a leaf,
    /// of the product of the ratios along it.
    fn by_paths(g: &Graph, node: &str, amount: Ratio, out: &mut BTreeMap<String, Ratio>) {
        match g.get(node) {
            Some(b) => {
                for c in &b.components {
                    let part = amount.checked_mul_frac(c.qty, b.output_qty).unwrap();
                    by_paths(g, &c.sku, part, out);
                }
            }
            None => {
                let slot = out.entry(node.to_owned()).or_insert(Ratio::ZERO);
                *slot = slot.checked_add(amount).unwrap();
            }
        }
    }

    proptest! {
        #[test]
        fn explosion_equals_the_sum_over_paths((g, root) in dag(), qty in 1i64..100_000) {
            let rb = g.get(&root).unwrap().clone();
            let e = explode(&g, &root, &rb, qty).unwrap();
            let mut want = BTreeMap::new();
            by_paths(&g, &root, Ratio::from_int(qty), &mut want);
            let got: BTreeMap<String, Ratio> =
                e.requirements.iter().map(|r| (r.sku.clone(), r.exact)).collect();
            prop_assert_eq!(&got, &want);
            for r in &e.requirements {
                prop_assert_eq!(Some(r.qty), r.exact.ceil());
            }
        }

        #[test]
        fn cycles_are_found_at_any_depth(n in 2usize..60, noise in 0usize..30) {
            let name = |i: usize| format!("N{i}");
            let mut g = Graph::new();
            for i in 0..n - 1 {
                let mut comps = vec![Component { sku: name(i + 1), qty: 1000 }];
                // Side branches that lead nowhere.
                for k in 0..(noise % 3) {
                    comps.push(Component { sku: format!("LEAF{i}_{k}"), qty: 500 });
                }
                g.insert(name(i), Bom { output_qty: 1000, components: comps });
            }
            for k in 0..noise {
                g.insert(format!("X{k}"), bom(1000, &[("N0", 1000)]));
            }
            let last = name(n - 1);
            let closing = vec![Component { sku: "N0".into(), qty: 1000 }];
            let path = find_cycle(&g, &last, &closing).expect("a cycle");
            prop_assert_eq!(path.len(), n + 1);
            prop_assert_eq!(path.first(), Some(&last));
            prop_assert_eq!(path.last(), Some(&last));
            for w in path.windows(2) {
                let from = &w[0];
                let kids: Vec<&str> = if *from == last {
                    vec!["N0"]
                } else {
                    g[from].components.iter().map(|c| c.sku.as_str()).collect()
                };
                prop_assert!(kids.contains(&w[1].as_str()), "{} → {}", from, w[1]);
            }
            let harmless = vec![Component { sku: "NEW".into(), qty: 1000 }];
            prop_assert_eq!(find_cycle(&g, &last, &harmless), None);
            // And the explosion of the closed graph refuses it too.
            let mut closed = g.clone();
            closed.insert(last.clone(), Bom { output_qty: 1000, components: closing });
            let rb = closed["N0"].clone();
            prop_assert!(matches!(explode(&closed, "N0", &rb, 1000), Err(ExplodeError::Cycle(_))));
        }
    }
}
