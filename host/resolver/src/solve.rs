//! The version choice, made by PubGrub.
//!
//! Encoding (see `docs/decisions/007-dependency-resolver.md`):
//! - one PubGrub package per extension name, plus [`Pkg::Root`] standing for
//!   the project and its requests;
//! - every extension has a synthetic version [`Ver::Absent`], lower than every
//!   real version: choosing it means "not in the final set";
//! - a range is the set of *known* versions the semver range matches (so
//!   semver's pre-release rules apply exactly), as a union of single versions;
//! - the root depends on every extension that must be present (installed and
//!   kept: at least the installed version; requested: within the request) and
//!   on every removed extension being `Absent`;
//! - a required dependency excludes `Absent`, an optional one admits it, and a
//!   conflict is a dependency on the complement of the conflicting range
//!   (which contains `Absent`);
//! - a yanked version, or one for another host API, is answered with
//!   `Dependencies::Unavailable`, so explanations can say why it was passed over.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::rc::Rc;

use pubgrub::{Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics, Ranges};
use semver::{Version, VersionReq};

use crate::goals::{Goals, Unusable};
use crate::{Candidate, Index};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Pkg {
    /// The project and its requests.
    Root,
    Ext(String),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("the project"),
            Pkg::Ext(name) => f.write_str(name),
        }
    }
}

/// A version of an extension, or its absence from the final set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Ver {
    Absent,
    Is(Version),
}

impl fmt::Display for Ver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ver::Absent => f.write_str("absent"),
            Ver::Is(v) => v.fmt(f),
        }
    }
}

pub(crate) type Set = Ranges<Ver>;
pub(crate) type Tree = pubgrub::DerivationTree<Pkg, Set, Unusable>;

const ROOT_VERSION: Version = Version::new(0, 0, 0);

pub(crate) struct Provider<'g, 'a> {
    index: &'g dyn Index,
    pub(crate) goals: &'g Goals<'a>,
    known: RefCell<BTreeMap<String, Rc<Vec<Candidate>>>>,
}

impl<'g, 'a> Provider<'g, 'a> {
    pub(crate) fn new(index: &'g dyn Index, goals: &'g Goals<'a>) -> Self {
        Provider { index, goals, known: RefCell::new(BTreeMap::new()) }
    }

    /// Known versions of `name`, ascending (cached: the index is asked once per name).
    pub(crate) fn known(&self, name: &str) -> Rc<Vec<Candidate>> {
        if let Some(k) = self.known.borrow().get(name) {
            return Rc::clone(k);
        }
        let k = Rc::new(self.goals.known(self.index, name));
        self.known.borrow_mut().insert(name.to_owned(), Rc::clone(&k));
        k
    }

    pub(crate) fn candidate(&self, name: &str, v: &Version) -> Option<Candidate> {
        let known = self.known(name);
        known.binary_search_by(|c| c.version.cmp(v)).ok().map(|i| known[i].clone())
    }

    /// The known versions of `name` for which `keep` holds, as a set.
    fn versions_where(&self, name: &str, keep: impl Fn(&Version) -> bool) -> Set {
        self.known(name)
            .iter()
            .filter(|c| keep(&c.version))
            .map(|c| {
                (Bound::Included(Ver::Is(c.version.clone())), Bound::Included(Ver::Is(c.version.clone())))
            })
            .collect()
    }

    pub(crate) fn matching(&self, name: &str, req: &VersionReq) -> Set {
        self.versions_where(name, |v| req.matches(v))
    }

    /// Solves; `Ok` maps every extension in the final set to its version.
    pub(crate) fn solve(&self) -> Result<BTreeMap<String, Version>, Box<Tree>> {
        match pubgrub::resolve(self, Pkg::Root, Ver::Is(ROOT_VERSION)) {
            Ok(chosen) => Ok(chosen
                .into_iter()
                .filter_map(|(p, v)| match (p, v) {
                    (Pkg::Ext(n), Ver::Is(v)) => Some((n, v)),
                    _ => None,
                })
                .collect()),
            Err(pubgrub::PubGrubError::NoSolution(tree)) => Err(Box::new(tree)),
            // The provider never fails and never cancels.
            Err(other) => unreachable!("the provider never fails: {other}"),
        }
    }

    fn root_dependencies(&self) -> DependencyConstraints<Pkg, Set> {
        let g = self.goals;
        let mut deps = BTreeMap::new();
        for c in g.installed_all() {
            if g.removal(&c.name).is_none() {
                deps.insert(c.name.clone(), self.versions_where(&c.name, |v| g.admits(&c.name, v)));
            }
        }
        for name in g.wanted_all().keys() {
            deps.insert(name.clone(), self.versions_where(name, |v| g.admits(name, v)));
        }
        for name in g.removed().keys() {
            deps.insert(name.clone(), Set::singleton(Ver::Absent));
        }
        deps.into_iter().map(|(n, s)| (Pkg::Ext(n), s)).collect()
    }

    fn extension_dependencies(&self, c: &Candidate) -> DependencyConstraints<Pkg, Set> {
        let mut deps: BTreeMap<String, Set> = BTreeMap::new();
        let mut constrain = |name: &str, set: Set| {
            let slot = deps.entry(name.to_owned()).or_insert_with(Set::full);
            *slot = slot.intersection(&set);
        };
        for d in c.dependencies.iter().filter(|d| d.name != c.name) {
            let set = self.matching(&d.name, &d.req);
            constrain(&d.name, if d.optional { set.union(&Set::singleton(Ver::Absent)) } else { set });
        }
        for k in c.conflicts.iter().filter(|k| k.name != c.name) {
            let set = match &k.req {
                Some(req) => self.matching(&k.name, req).complement(),
                None => Set::singleton(Ver::Absent),
            };
            constrain(&k.name, set);
        }
        deps.into_iter().map(|(n, s)| (Pkg::Ext(n), s)).collect()
    }
}

impl DependencyProvider for Provider<'_, '_> {
    type P = Pkg;
    type V = Ver;
    type VS = Set;
    type M = Unusable;
    type Priority = (u32, Reverse<usize>);
    type Err = std::convert::Infallible;

    /// Packages with fewer versions left first (fewer choices, earlier
    /// conflicts), and those that caused conflicts before.
    fn prioritize(&self, package: &Pkg, range: &Set, stats: &PackageResolutionStatistics) -> Self::Priority {
        let count = match package {
            Pkg::Root => 0,
            Pkg::Ext(name) => {
                self.known(name).iter().filter(|c| range.contains(&Ver::Is(c.version.clone()))).count()
                    + usize::from(range.contains(&Ver::Absent))
            }
        };
        (stats.conflict_count(), Reverse(count))
    }

    /// The preference order: an extension nobody requires stays absent; an
    /// installed one keeps its version; an upgrade takes the highest; anything
    /// else the highest usable version. Unusable versions come last, so that
    /// the reason they were passed over is recorded for the explanation.
    fn choose_version(&self, package: &Pkg, range: &Set) -> Result<Option<Ver>, Self::Err> {
        let Pkg::Ext(name) = package else {
            return Ok(Some(Ver::Is(ROOT_VERSION)));
        };
        let g = self.goals;
        if range.contains(&Ver::Absent) && !g.must_be_present(name) {
            return Ok(Some(Ver::Absent));
        }
        let known = self.known(name);
        let in_range = |c: &&Candidate| range.contains(&Ver::Is(c.version.clone()));
        let upgrade = g.wanted(name).is_some_and(|w| w.upgrade);
        if !upgrade
            && let Some(i) = g.installed(name)
            && range.contains(&Ver::Is(i.version.clone()))
        {
            return Ok(Some(Ver::Is(i.version.clone())));
        }
        if let Some(c) = known.iter().rev().filter(in_range).find(|c| g.usable(c).is_ok()) {
            return Ok(Some(Ver::Is(c.version.clone())));
        }
        if let Some(c) = known.iter().rev().find(in_range) {
            return Ok(Some(Ver::Is(c.version.clone())));
        }
        Ok(range.contains(&Ver::Absent).then_some(Ver::Absent))
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Ver,
    ) -> Result<Dependencies<Pkg, Set, Unusable>, Self::Err> {
        let (Pkg::Ext(name), Ver::Is(v)) = (package, version) else {
            return Ok(Dependencies::Available(match package {
                Pkg::Root => self.root_dependencies(),
                Pkg::Ext(_) => DependencyConstraints::default(),
            }));
        };
        let Some(c) = self.candidate(name, v) else {
            // choose_version only returns known versions.
            return Ok(Dependencies::Available(DependencyConstraints::default()));
        };
        if let Err(why) = self.goals.usable(&c) {
            return Ok(Dependencies::Unavailable(why));
        }
        Ok(Dependencies::Available(self.extension_dependencies(&c)))
    }
}
