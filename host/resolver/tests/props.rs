//! Property tests over random small graphs (≤5 extensions, ≤4 versions each,
//! random ranges, conflicts, optional dependencies, yanked versions, host API
//! ranges, installed sets and requests):
//! - a plan's final set is valid by `Goals::check` (the one definition of
//!   validity), its steps turn the installed set into it, and it has no cycle;
//! - when `plan` says "impossible", enumerating every assignment finds no
//!   valid final set either.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use magflock_resolver::{Candidate, Failure, Goals, MemoryIndex, Project, Request, Step, plan};
use proptest::prelude::*;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
const VERSIONS: [&str; 4] = ["1.0.0", "1.1.0", "2.0.0", "2.1.0"];
const RANGES: [&str; 8] = ["*", "^1", "^2", ">=1.1.0", "<2.0.0", "=1.0.0", "~1.1", ">=2.1.0"];

/// One published version as drawn: present at all, yanked, host API ok,
/// and per other extension a relation (0-5: none, none, none, dependency,
/// optional dependency, conflict) with a range index and a conflict-has-range flag.
type RawVersion = (bool, bool, bool, Vec<(u8, usize, bool)>);

#[derive(Debug, Clone)]
struct World {
    index: MemoryIndex,
    installed: Vec<Candidate>,
    requests: Vec<Request>,
    names: Vec<&'static str>,
}

fn world() -> impl Strategy<Value = World> {
    let version = (
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.85),
        prop::collection::vec((0u8..6, 0..RANGES.len(), any::<bool>()), NAMES.len()),
    );
    (1usize..=NAMES.len())
        .prop_flat_map(move |n| {
            (
                Just(n),
                prop::collection::vec(prop::collection::vec(version.clone(), VERSIONS.len()), n),
                prop::collection::vec(
                    (prop::option::weighted(0.5, 0..VERSIONS.len()), prop::bool::weighted(0.2)),
                    n,
                ),
                prop::collection::vec((0u8..3, 0..n, 0..RANGES.len(), prop::bool::weighted(0.3)), 0..=2),
            )
        })
        .prop_map(|(n, raw, installed, requests)| build(n, raw, installed, requests))
}

fn build(
    n: usize,
    raw: Vec<Vec<RawVersion>>,
    installed_raw: Vec<(Option<usize>, bool)>,
    requests: Vec<(u8, usize, usize, bool)>,
) -> World {
    let names: Vec<&'static str> = NAMES[..n].to_vec();
    let mut all: Vec<(Candidate, bool)> = Vec::new();
    for (p, versions) in raw.iter().enumerate() {
        for (vi, (present, yanked, host_ok, rels)) in versions.iter().enumerate() {
            let mut c = ext(&format!("{} {}", names[p], VERSIONS[vi]));
            c.yanked = *yanked;
            if !host_ok {
                c = c.host("^0.2");
            }
            for (q, (rel, ri, ranged)) in rels.iter().enumerate().take(n) {
                if q == p {
                    continue;
                }
                match rel {
                    3 => c = c.needs(names[q], RANGES[*ri]),
                    4 => c = c.optional(names[q], RANGES[*ri]),
                    5 => c = c.conflicts(names[q], ranged.then_some(RANGES[*ri]), "clash"),
                    _ => {}
                }
            }
            all.push((c, *present));
        }
    }
    let mut installed = Vec::new();
    let mut delisted = Vec::new();
    for (p, (at, gone)) in installed_raw.iter().enumerate() {
        if let Some(vi) = at {
            let c = all.iter().find(|(c, _)| c.name == names[p] && c.version == v(VERSIONS[*vi])).unwrap();
            installed.push(c.0.clone());
            if *gone {
                delisted.push(c.0.id());
            }
        }
    }
    let index: MemoryIndex = all
        .into_iter()
        .filter(|(c, present)| *present && !delisted.contains(&c.id()))
        .map(|(c, _)| c)
        .collect();
    let requests = requests
        .into_iter()
        .map(|(kind, p, ri, flag)| {
            // Upgrades and uninstalls mostly name something installed.
            let name = match (kind, installed.len()) {
                (1 | 2, k) if k > 0 && !flag => installed[p % k].name.clone(),
                _ => names[p].to_owned(),
            };
            match kind {
                0 => Request::Install { name, req: req(RANGES[ri]), allow_downgrade: flag },
                1 => Request::Upgrade { name, req: req(RANGES[ri]), allow_downgrade: flag },
                _ => Request::Uninstall { name, cascade: flag },
            }
        })
        .collect();
    World { index, installed, requests, names }
}

/// Every assignment of "absent or one known version" to each extension that
/// `Goals::check` accepts; stops at the first.
fn brute_force(w: &World, goals: &Goals<'_>) -> Option<BTreeMap<String, Candidate>> {
    let options: Vec<Vec<Option<Candidate>>> = w
        .names
        .iter()
        .map(|n| std::iter::once(None).chain(goals.known(&w.index, n).into_iter().map(Some)).collect())
        .collect();
    let mut at = vec![0usize; options.len()];
    loop {
        let set: BTreeMap<String, Candidate> =
            at.iter().zip(&options).filter_map(|(i, o)| o[*i].clone()).map(|c| (c.name.clone(), c)).collect();
        if goals.check(&set).is_ok() {
            return Some(set);
        }
        let mut k = 0;
        loop {
            if k == at.len() {
                return None;
            }
            at[k] += 1;
            if at[k] < options[k].len() {
                break;
            }
            at[k] = 0;
            k += 1;
        }
    }
}

fn project(w: &World) -> Project<'_> {
    Project { installed: &w.installed, host_api: v(HOST_API) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_found_plan_is_valid_and_an_impossible_one_has_no_valid_set(w in world()) {
        let project = project(&w);
        let result = plan(&w.index, &project, &w.requests);
        let goals = match Goals::new(&w.index, &project, &w.requests) {
            Ok(g) => g,
            Err(f) => {
                prop_assert_eq!(result.err().map(|e| e.code()), Some(f.code()));
                return Ok(());
            }
        };
        match result {
            Ok(p) => {
                let set: BTreeMap<String, Candidate> = p
                    .final_set
                    .iter()
                    .map(|(n, ver)| {
                        let c = goals.known(&w.index, n).into_iter().find(|c| &c.version == ver).unwrap();
                        (n.clone(), c)
                    })
                    .collect();
                prop_assert_eq!(goals.check(&set), Ok(()));
                // Applying the steps to the installed set gives the final set.
                let mut now: BTreeMap<String, semver::Version> =
                    w.installed.iter().map(|c| (c.name.clone(), c.version.clone())).collect();
                for s in &p.steps {
                    match s {
                        Step::Install { name, version, .. } => {
                            prop_assert!(now.insert(name.clone(), version.clone()).is_none());
                        }
                        Step::Upgrade { name, from, to, .. } => {
                            prop_assert_eq!(now.insert(name.clone(), to.clone()), Some(from.clone()));
                        }
                        Step::Remove { name, version, .. } => {
                            prop_assert_eq!(now.remove(name), Some(version.clone()));
                        }
                    }
                }
                prop_assert_eq!(&now, &p.final_set);
                // Dependencies come before their dependents.
                let position = |n: &str| p.steps.iter().position(|s| s.name() == n);
                for c in set.values() {
                    for d in &c.dependencies {
                        if let (Some(a), Some(b)) = (position(&d.name), position(&c.name))
                            && !matches!(p.steps[a], Step::Remove { .. })
                        {
                            prop_assert!(a < b, "{} before {}", d.name, c.name);
                        }
                    }
                }
            }
            Err(Failure::DependencyCycle { cycle }) => {
                // A valid set was found; its graph has a cycle.
                prop_assert!(cycle.len() >= 2);
                prop_assert!(brute_force(&w, &goals).is_some());
            }
            Err(f) => {
                let found = brute_force(&w, &goals);
                prop_assert!(found.is_none(), "plan said {} ({}) but this set is valid: {:?}",
                    f.code(), f, found.map(|s| s.values().map(Candidate::id).collect::<Vec<_>>()));
            }
        }
    }

    #[test]
    fn with_no_requests_a_valid_installed_set_stays_as_it_is(w in world()) {
        let project = project(&w);
        let goals = Goals::new(&w.index, &project, &[]).unwrap();
        let set: BTreeMap<String, Candidate> = w.installed.iter().map(|c| (c.name.clone(), c.clone())).collect();
        if goals.check(&set).is_ok()
            && let Ok(p) = plan(&w.index, &project, &[])
        {
            prop_assert!(p.is_empty(), "{}", p);
        }
    }
}
