//! From requests to ordered steps: check the requests, solve, refuse cycles,
//! order the changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use petgraph::Direction::{Incoming, Outgoing};
use petgraph::algo::{has_path_connecting, tarjan_scc};
use petgraph::graph::{DiGraph, NodeIndex};
use semver::Version;

use crate::goals::{Goals, Removal};
use crate::solve::Provider;
use crate::{Candidate, Failure, Index, Project, Request, explain};

/// Why a step is in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A request named it.
    Requested,
    /// Not requested: these extensions of the final set need it (for an
    /// upgrade: they do not accept the installed version).
    NeededBy(Vec<String>),
    /// Removed because it needs `of`, which is being uninstalled with its dependents.
    Cascade { of: String },
}

/// One change to the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Install {
        name: String,
        version: Version,
        capabilities: Vec<String>,
        reason: Reason,
    },
    /// Also a downgrade when `to < from` (only when the request allowed it).
    Upgrade {
        name: String,
        from: Version,
        to: Version,
        /// Every capability `to` declares.
        capabilities: Vec<String>,
        /// The capabilities `to` declares and `from` did not: these need approval.
        new_capabilities: Vec<String>,
        reason: Reason,
    },
    Remove {
        name: String,
        version: Version,
        reason: Reason,
    },
}

impl Step {
    pub fn name(&self) -> &str {
        match self {
            Step::Install { name, .. } | Step::Upgrade { name, .. } | Step::Remove { name, .. } => name,
        }
    }

    pub fn reason(&self) -> &Reason {
        match self {
            Step::Install { reason, .. } | Step::Upgrade { reason, .. } | Step::Remove { reason, .. } => {
                reason
            }
        }
    }

    /// The capabilities this step asks the project to approve.
    pub fn capabilities_to_approve(&self) -> &[String] {
        match self {
            Step::Install { capabilities, .. } => capabilities,
            Step::Upgrade { new_capabilities, .. } => new_capabilities,
            Step::Remove { .. } => &[],
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Install { name, version, .. } => write!(f, "install {name} {version}")?,
            Step::Upgrade { name, from, to, .. } if to < from => write!(f, "downgrade {name} {from} → {to}")?,
            Step::Upgrade { name, from, to, .. } => write!(f, "upgrade {name} {from} → {to}")?,
            Step::Remove { name, version, .. } => write!(f, "remove {name} {version}")?,
        }
        match self.reason() {
            Reason::Requested => {}
            Reason::NeededBy(by) if by.is_empty() => f.write_str(" (to fit the rest)")?,
            Reason::NeededBy(by) => write!(f, " (needed by {})", by.join(", "))?,
            Reason::Cascade { of } => write!(f, " (needs {of})")?,
        }
        let caps = self.capabilities_to_approve();
        if !caps.is_empty() {
            write!(f, " [approve: {}]", caps.join(", "))?;
        }
        Ok(())
    }
}

/// What to do: the steps in order, and the set the project ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Removals first (dependents before what they depend on), then installs
    /// and upgrades (dependencies before their dependents).
    pub steps: Vec<Step>,
    /// Every extension of the project afterwards, with its version.
    pub final_set: BTreeMap<String, Version>,
}

impl Plan {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Per extension, the capabilities the project must approve for this plan
    /// (all of a new extension's; an upgrade's new ones), in step order.
    pub fn capabilities_to_approve(&self) -> Vec<(&str, &[String])> {
        self.steps
            .iter()
            .map(|s| (s.name(), s.capabilities_to_approve()))
            .filter(|(_, caps)| !caps.is_empty())
            .collect()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("nothing to do\n");
        }
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "{}. {s}", i + 1)?;
        }
        Ok(())
    }
}

/// Computes one plan for the project's whole graph: what is installed, the
/// requests, and every transitive dependency; or explains why there is none.
pub fn plan(index: &dyn Index, project: &Project<'_>, requests: &[Request]) -> Result<Plan, Failure> {
    let goals = Goals::new(index, project, requests)?;
    let provider = Provider::new(index, &goals);
    let chosen = provider.solve().map_err(|tree| explain::failure(&provider, requests, *tree))?;
    let set: BTreeMap<String, Candidate> =
        chosen.iter().filter_map(|(n, v)| provider.candidate(n, v).map(|c| (n.clone(), c))).collect();
    debug_assert_eq!(goals.check(&set), Ok(()), "the solver's answer breaks a rule");

    let mut graph = Graph::new(set.values(), |d| set.contains_key(&d.name));
    if let Some(cycle) = graph.cycle() {
        return Err(Failure::DependencyCycle { cycle });
    }
    // For the order only: an extension changed to get out of a conflict goes
    // before the one it conflicted with.
    let changed = |name: &str| {
        goals.installed(name).filter(|old| set.get(name).is_some_and(|c| c.version != old.version))
    };
    let within = |k: &crate::Conflict, v: &Version| k.req.as_ref().is_none_or(|r| r.matches(v));
    for m in set.values() {
        // m conflicts with the old version of n.
        for k in m.conflicts.iter().filter(|k| k.name != m.name) {
            if let Some(old) = changed(&k.name)
                && within(k, &old.version)
            {
                graph.add_edge(&k.name, &m.name);
            }
        }
        // The old version of m conflicts with n.
        if let Some(old) = changed(&m.name) {
            for k in old.conflicts.iter().filter(|k| k.name != m.name) {
                if let Some(n) = set.get(&k.name)
                    && within(k, &n.version)
                {
                    graph.add_edge(&m.name, &n.name);
                }
            }
        }
    }

    let mut steps = removals(&goals, &set);
    for name in graph.order() {
        let c = &set[name];
        let reason =
            if goals.wanted(name).is_some() { Reason::Requested } else { needed_by(&set, c, &goals) };
        match goals.installed(name) {
            None => steps.push(Step::Install {
                name: name.clone(),
                version: c.version.clone(),
                capabilities: c.capabilities.clone(),
                reason,
            }),
            Some(old) if old.version != c.version => steps.push(Step::Upgrade {
                name: name.clone(),
                from: old.version.clone(),
                to: c.version.clone(),
                capabilities: c.capabilities.clone(),
                new_capabilities: c
                    .capabilities
                    .iter()
                    .filter(|k| !old.capabilities.contains(k))
                    .cloned()
                    .collect(),
                reason,
            }),
            Some(_) => {}
        }
    }
    let final_set = set.into_iter().map(|(n, c)| (n, c.version)).collect();
    Ok(Plan { steps, final_set })
}

/// Why `c` is new or changed though nobody asked: the members that need it
/// (for an upgrade, those that refuse the installed version).
fn needed_by(set: &BTreeMap<String, Candidate>, c: &Candidate, goals: &Goals<'_>) -> Reason {
    let old = goals.installed(&c.name).map(|i| &i.version);
    let mut by = BTreeSet::new();
    for m in set.values() {
        let needs = match old {
            None => m.dependencies.iter().any(|d| d.name == c.name && !d.optional),
            Some(v) => {
                m.dependencies.iter().any(|d| d.name == c.name && !d.req.matches(v))
                    || m.conflicts
                        .iter()
                        .any(|k| k.name == c.name && k.req.as_ref().is_none_or(|r| r.matches(v)))
            }
        };
        if needs {
            by.insert(m.name.clone());
        }
    }
    Reason::NeededBy(by.into_iter().collect())
}

/// The removals, dependents before what they depend on.
fn removals(goals: &Goals<'_>, set: &BTreeMap<String, Candidate>) -> Vec<Step> {
    let gone: Vec<&Candidate> = goals.installed_all().filter(|c| !set.contains_key(&c.name)).collect();
    let names: BTreeSet<&str> = gone.iter().map(|c| c.name.as_str()).collect();
    let graph = Graph::new(gone.iter().copied(), |d| names.contains(d.name.as_str()));
    let mut order = graph.order();
    order.reverse();
    order
        .into_iter()
        .filter_map(|name| {
            let c = goals.installed(name)?;
            let reason = match goals.removal(name) {
                Some(Removal::Cascade { of }) => Reason::Cascade { of: of.clone() },
                _ => Reason::Requested,
            };
            Some(Step::Remove { name: name.clone(), version: c.version.clone(), reason })
        })
        .collect()
}

/// The dependency graph of a set of versions: an edge from each dependency
/// to its dependent.
struct Graph {
    graph: DiGraph<String, ()>,
    nodes: BTreeMap<String, NodeIndex>,
}

impl Graph {
    /// Nodes in name order; `keep` says which dependencies are edges.
    fn new<'c>(
        members: impl Iterator<Item = &'c Candidate>,
        keep: impl Fn(&crate::Dependency) -> bool,
    ) -> Graph {
        let mut members: Vec<&Candidate> = members.collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let mut graph = DiGraph::new();
        let nodes: BTreeMap<String, NodeIndex> =
            members.iter().map(|c| (c.name.clone(), graph.add_node(c.name.clone()))).collect();
        for c in &members {
            let mut targets: Vec<&str> =
                c.dependencies.iter().filter(|d| keep(d)).map(|d| d.name.as_str()).collect();
            targets.sort_unstable();
            targets.dedup();
            for t in targets {
                if let Some(&from) = nodes.get(t) {
                    graph.add_edge(from, nodes[c.name.as_str()], ());
                }
            }
        }
        Graph { graph, nodes }
    }

    /// An extra edge for ordering: `from` goes before `to`, unless the
    /// dependencies already order them the other way.
    fn add_edge(&mut self, from: &str, to: &str) {
        if let (Some(&a), Some(&b)) = (self.nodes.get(from), self.nodes.get(to))
            && !has_path_connecting(&self.graph, b, a, None)
        {
            self.graph.update_edge(a, b, ());
        }
    }

    /// Dependencies before dependents; among those ready at once, name
    /// order (Kahn's algorithm). Members of a cycle come last, in name order.
    fn order(&self) -> Vec<&String> {
        let mut waiting: Vec<usize> =
            self.graph.node_indices().map(|n| self.graph.neighbors_directed(n, Incoming).count()).collect();
        let mut ready: BTreeSet<(&String, NodeIndex)> = self
            .graph
            .node_indices()
            .filter(|n| waiting[n.index()] == 0)
            .map(|n| (&self.graph[n], n))
            .collect();
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some((name, n)) = ready.pop_first() {
            order.push(name);
            for m in self.graph.neighbors_directed(n, Outgoing) {
                waiting[m.index()] -= 1;
                if waiting[m.index()] == 0 {
                    ready.insert((&self.graph[m], m));
                }
            }
        }
        if order.len() < self.graph.node_count() {
            let placed: BTreeSet<&String> = order.iter().copied().collect();
            let mut rest: Vec<&String> = self.graph.node_weights().filter(|n| !placed.contains(n)).collect();
            rest.sort();
            order.extend(rest);
        }
        order
    }

    /// A dependency cycle, as names from the alphabetically first member
    /// around to it again ("a → b → a").
    fn cycle(&self) -> Option<Vec<String>> {
        let mut sccs: Vec<Vec<NodeIndex>> = tarjan_scc(&self.graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || self.graph.contains_edge(scc[0], scc[0]))
            .collect();
        for scc in &mut sccs {
            scc.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
        }
        sccs.sort_by(|a, b| self.graph[a[0]].cmp(&self.graph[b[0]]));
        let scc = sccs.first()?;
        let start = scc[0];
        let inside: BTreeSet<NodeIndex> = scc.iter().copied().collect();
        // Breadth first along "needs" (edges reversed) from start back to start.
        let mut came_from: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            let mut next: Vec<NodeIndex> =
                self.graph.neighbors_directed(n, Incoming).filter(|m| inside.contains(m)).collect();
            next.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
            for m in next {
                if m == start {
                    let mut path = vec![start];
                    let mut at = n;
                    while at != start {
                        path.push(at);
                        at = came_from[&at];
                    }
                    let mut names: Vec<String> = path.iter().map(|i| self.graph[*i].clone()).collect();
                    names.push(self.graph[start].clone());
                    // path is start, then the nodes back from n: reverse the middle.
                    names[1..path.len()].reverse();
                    return Some(names);
                }
                if let std::collections::btree_map::Entry::Vacant(e) = came_from.entry(m) {
                    e.insert(n);
                    queue.push_back(m);
                }
            }
        }
        None
    }
}
