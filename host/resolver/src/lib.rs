//! MagFlock dependency resolver: one plan for a project's whole extension graph.
//!
//! Installing, upgrading or uninstalling extensions in a project computes one
//! [`Plan`] for the graph as it will be — what is installed, what was asked
//! for, and every transitive dependency — or one [`Failure`] that explains in
//! words what blocks it and what would fix it.
//!
//! - [`goals`]: the requests checked against the project, and the one
//!   definition of a *valid final set* that the solver's answers (and the
//!   tests' brute force) are held to.
//! - `solve` (private): the version choice, made by the PubGrub solver over
//!   every extension plus a synthetic "absent" version that encodes
//!   conflicts, optional dependencies and removals.
//! - `explain` (private): a PubGrub derivation tree turned into [`Fact`]s and
//!   sentences.
//! - [`mod@plan`]: the chosen set checked for cycles and turned into ordered
//!   [`Step`]s.
//!
//! Pure logic: no I/O, no async. The host maps manifests and its store onto
//! [`Candidate`] and [`Project`]. Why PubGrub and how the encoding works:
//! `docs/decisions/007-dependency-resolver.md`.

mod explain;
mod failure;
pub mod goals;
pub mod plan;
mod solve;

use std::collections::BTreeMap;

pub use failure::{Dependent, Explanation, Fact, Failure};
pub use goals::Goals;
pub use plan::{Plan, Reason, Step, plan};

/// One published version of an extension, as the resolver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub version: semver::Version,
    /// The host API range this version supports.
    pub host: semver::VersionReq,
    pub dependencies: Vec<Dependency>,
    pub conflicts: Vec<Conflict>,
    /// Declared capabilities, echoed into the plan for approval.
    pub capabilities: Vec<String>,
    /// A yanked version is never chosen for something new; an installed one may stay.
    pub yanked: bool,
}

impl Candidate {
    /// A version with no dependencies, conflicts or capabilities that supports every host API.
    pub fn new(name: impl Into<String>, version: semver::Version) -> Candidate {
        Candidate {
            name: name.into(),
            version,
            host: semver::VersionReq::STAR,
            dependencies: Vec::new(),
            conflicts: Vec::new(),
            capabilities: Vec::new(),
            yanked: false,
        }
    }

    /// `name version`, as the explanations write it.
    pub fn id(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

/// A dependency of one extension version on another extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub req: semver::VersionReq,
    /// Not installed for this extension; when something else installs it,
    /// its version must still be within `req`.
    pub optional: bool,
}

/// A declared conflict: the two are never installed in one project together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub name: String,
    /// The conflicting versions; `None` means every version.
    pub req: Option<semver::VersionReq>,
    pub reason: String,
}

/// Where the resolver reads published versions from.
pub trait Index {
    /// Every published version of `name` (yanked ones included, flagged), in
    /// any order; empty when nothing of that name is published.
    fn versions(&self, name: &str) -> Vec<Candidate>;
}

/// An [`Index`] held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryIndex {
    packages: BTreeMap<String, Vec<Candidate>>,
}

impl MemoryIndex {
    pub fn new() -> MemoryIndex {
        MemoryIndex::default()
    }

    /// Adds (or replaces) one version.
    pub fn add(&mut self, candidate: Candidate) {
        let versions = self.packages.entry(candidate.name.clone()).or_default();
        versions.retain(|c| c.version != candidate.version);
        versions.push(candidate);
    }

    /// Number of versions held.
    pub fn len(&self) -> usize {
        self.packages.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

impl FromIterator<Candidate> for MemoryIndex {
    fn from_iter<T: IntoIterator<Item = Candidate>>(iter: T) -> Self {
        let mut index = MemoryIndex::new();
        for c in iter {
            index.add(c);
        }
        index
    }
}

impl Index for MemoryIndex {
    fn versions(&self, name: &str) -> Vec<Candidate> {
        self.packages.get(name).cloned().unwrap_or_default()
    }
}

/// One thing asked of the resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Install `name` within `req`. Already installed within `req`: nothing to do.
    /// Installed above `req`: refused as a downgrade unless `allow_downgrade`.
    Install { name: String, req: semver::VersionReq, allow_downgrade: bool },
    /// Move an installed `name` to the highest version within `req` that fits.
    Upgrade { name: String, req: semver::VersionReq, allow_downgrade: bool },
    /// Remove `name`. Refused while an installed extension needs it, unless
    /// `cascade`, which removes those too (transitively).
    Uninstall { name: String, cascade: bool },
}

impl Request {
    pub fn install(name: impl Into<String>, req: semver::VersionReq) -> Request {
        Request::Install { name: name.into(), req, allow_downgrade: false }
    }

    pub fn upgrade(name: impl Into<String>, req: semver::VersionReq) -> Request {
        Request::Upgrade { name: name.into(), req, allow_downgrade: false }
    }

    pub fn uninstall(name: impl Into<String>) -> Request {
        Request::Uninstall { name: name.into(), cascade: false }
    }

    /// The extension this request is about.
    pub fn name(&self) -> &str {
        match self {
            Request::Install { name, .. }
            | Request::Upgrade { name, .. }
            | Request::Uninstall { name, .. } => name,
        }
    }
}

/// A project as the resolver sees it.
#[derive(Debug, Clone)]
pub struct Project<'a> {
    /// The versions installed now (possibly yanked since, or no longer published).
    pub installed: &'a [Candidate],
    /// The API version of this host.
    pub host_api: semver::Version,
}
