//! The requests checked against the project, and the one definition of a
//! *valid final set*.
//!
//! A final set `S` (name → chosen version) is valid for a project and its
//! requests when all of these hold ([`Goals::check`]):
//!
//! 1. **Presence.** Every installed extension that is not being removed is in
//!    `S`; every extension named by an install or upgrade request is in `S`;
//!    no removed extension (uninstalled, or cascaded) is in `S`.
//! 2. **Requests.** A requested extension's version is within every range it
//!    was requested with.
//! 3. **No silent downgrade.** An installed extension's version is at least
//!    the installed version, unless a request for it says `allow_downgrade`.
//! 4. **Usable versions.** A version other than the installed one is not
//!    yanked and its `host` range contains the host API. (The installed
//!    version may stay even if it is yanked since, or was installed under an
//!    earlier host API: it is not being chosen, only kept.)
//! 5. **Dependencies.** For every member and each of its dependencies: a
//!    required dependency is in `S` within its range; an optional dependency,
//!    if in `S`, is within its range.
//! 6. **Conflicts.** For every member and each of its declared conflicts, the
//!    named extension is not in `S` within the conflict's range (any version
//!    when it has none). Declared by either side, a conflict therefore binds.
//!
//! Acyclicity is not part of validity: the solver chooses versions, then the
//! chosen graph is checked for cycles and a cycle is refused on its own
//! ([`crate::Failure::DependencyCycle`]).

use std::collections::{BTreeMap, BTreeSet};

use semver::{Version, VersionReq};

use crate::{Candidate, Dependent, Failure, Index, Project, Request};

/// Why a version cannot be chosen, whatever else is in the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    Yanked,
    /// Its `host` range does not contain the host API.
    HostApi {
        supports: VersionReq,
    },
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Yanked => f.write_str("yanked"),
            Unusable::HostApi { supports } => write!(f, "supports host API {supports}"),
        }
    }
}

/// How an extension came to be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// An uninstall request named it.
    Requested,
    /// It needs `of`, which is being removed, and the uninstall cascades.
    Cascade { of: String },
}

/// What install and upgrade requests ask of one extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Every range it was requested with (all must hold).
    pub reqs: Vec<VersionReq>,
    /// Some request was an upgrade: prefer the highest version.
    pub upgrade: bool,
    pub allow_downgrade: bool,
}

impl Wanted {
    pub fn matches(&self, v: &Version) -> bool {
        self.reqs.iter().all(|r| r.matches(v))
    }

    /// The ranges as written, joined with ", ".
    pub fn req_text(&self) -> String {
        self.reqs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

/// The requests, checked against the project and ready for the solver.
#[derive(Debug, Clone)]
pub struct Goals<'a> {
    host_api: Version,
    installed: BTreeMap<String, &'a Candidate>,
    removed: BTreeMap<String, Removal>,
    wanted: BTreeMap<String, Wanted>,
}

impl<'a> Goals<'a> {
    /// Checks the requests against the project: uninstall and upgrade need an
    /// installed extension, uninstall needs no remaining dependents (or
    /// cascades), a request may not ask for a downgrade without saying so.
    pub fn new(index: &dyn Index, project: &Project<'a>, requests: &[Request]) -> Result<Goals<'a>, Failure> {
        let installed: BTreeMap<String, &'a Candidate> =
            project.installed.iter().map(|c| (c.name.clone(), c)).collect();
        let mut goals = Goals {
            host_api: project.host_api.clone(),
            installed,
            removed: BTreeMap::new(),
            wanted: BTreeMap::new(),
        };

        let mut cascade_roots = Vec::new();
        for r in requests {
            match r {
                Request::Uninstall { name, cascade } => {
                    if !goals.installed.contains_key(name) {
                        return Err(Failure::NotInstalled { name: name.clone(), action: "uninstall" });
                    }
                    goals.removed.insert(name.clone(), Removal::Requested);
                    if *cascade {
                        cascade_roots.push(name.clone());
                    }
                }
                Request::Install { name, req, allow_downgrade }
                | Request::Upgrade { name, req, allow_downgrade } => {
                    let upgrade = matches!(r, Request::Upgrade { .. });
                    if upgrade && !goals.installed.contains_key(name) {
                        return Err(Failure::NotInstalled { name: name.clone(), action: "upgrade" });
                    }
                    let w = goals.wanted.entry(name.clone()).or_insert_with(|| Wanted {
                        reqs: Vec::new(),
                        upgrade: false,
                        allow_downgrade: false,
                    });
                    w.reqs.push(req.clone());
                    w.upgrade |= upgrade;
                    w.allow_downgrade |= *allow_downgrade;
                }
            }
        }

        // Cascade: everything installed that (transitively) needs a removed
        // extension goes too.
        let mut queue = cascade_roots;
        while let Some(gone) = queue.pop() {
            for dependent in goals.dependents_of(&gone) {
                if !goals.removed.contains_key(&dependent.name) {
                    goals.removed.insert(dependent.name.clone(), Removal::Cascade { of: gone.clone() });
                    queue.push(dependent.name);
                }
            }
        }
        for (name, _) in goals.removed.iter().filter(|(_, how)| **how == Removal::Requested) {
            let remaining: Vec<Dependent> = goals
                .dependents_of(name)
                .into_iter()
                .filter(|d| !goals.removed.contains_key(&d.name))
                .collect();
            if !remaining.is_empty() {
                let version = goals.installed[name].version.clone();
                return Err(Failure::DependentsExist { name: name.clone(), version, dependents: remaining });
            }
        }

        for (name, w) in &goals.wanted {
            if let Some(how) = goals.removed.get(name) {
                let reason = match how {
                    Removal::Requested => format!("{name} is asked to be both installed and uninstalled"),
                    Removal::Cascade { of } => {
                        format!("{name} is requested, but uninstalling {of} with its dependents removes it")
                    }
                };
                return Err(Failure::InvalidRequest { reason });
            }
            let Some(current) = goals.installed.get(name) else { continue };
            if w.allow_downgrade || w.matches(&current.version) {
                continue;
            }
            let versions = index.versions(name);
            let higher = versions.iter().any(|c| c.version > current.version && w.matches(&c.version));
            let lower = versions.iter().any(|c| c.version < current.version && w.matches(&c.version));
            if lower && !higher {
                return Err(Failure::DowngradeRefused {
                    name: name.clone(),
                    installed: current.version.clone(),
                    req: w.req_text(),
                });
            }
        }
        Ok(goals)
    }

    /// Installed extensions whose installed version needs `name` (optional
    /// dependencies do not count), sorted by name.
    fn dependents_of(&self, name: &str) -> Vec<Dependent> {
        self.installed
            .values()
            .flat_map(|c| {
                c.dependencies.iter().filter(move |d| d.name == name && !d.optional).map(move |d| Dependent {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    req: d.req.clone(),
                })
            })
            .collect()
    }

    pub fn host_api(&self) -> &Version {
        &self.host_api
    }

    /// The installed version of `name`, if any.
    pub fn installed(&self, name: &str) -> Option<&'a Candidate> {
        self.installed.get(name).copied()
    }

    /// Every installed extension, by name.
    pub fn installed_all(&self) -> impl Iterator<Item = &'a Candidate> + '_ {
        self.installed.values().copied()
    }

    pub fn removal(&self, name: &str) -> Option<&Removal> {
        self.removed.get(name)
    }

    pub fn removed(&self) -> &BTreeMap<String, Removal> {
        &self.removed
    }

    pub fn wanted(&self, name: &str) -> Option<&Wanted> {
        self.wanted.get(name)
    }

    pub fn wanted_all(&self) -> &BTreeMap<String, Wanted> {
        &self.wanted
    }

    /// Whether `name` must be in the final set (rule 1).
    pub fn must_be_present(&self, name: &str) -> bool {
        !self.removed.contains_key(name)
            && (self.installed.contains_key(name) || self.wanted.contains_key(name))
    }

    /// Rule 4: whether this version may be in a final set at all.
    pub fn usable(&self, c: &Candidate) -> Result<(), Unusable> {
        if self.installed.get(&c.name).is_some_and(|i| i.version == c.version) {
            return Ok(());
        }
        if c.yanked {
            return Err(Unusable::Yanked);
        }
        if !c.host.matches(&self.host_api) {
            return Err(Unusable::HostApi { supports: c.host.clone() });
        }
        Ok(())
    }

    /// Rules 2 and 3: whether the requests and the no-downgrade rule admit
    /// version `v` of `name`.
    pub fn admits(&self, name: &str, v: &Version) -> bool {
        let wanted = self.wanted.get(name);
        if wanted.is_some_and(|w| !w.matches(v)) {
            return false;
        }
        match self.installed.get(name) {
            Some(i) => wanted.is_some_and(|w| w.allow_downgrade) || *v >= i.version,
            None => true,
        }
    }

    /// Every known version of `name`: the published ones, with the installed
    /// version (as installed) in place of or in addition to its published
    /// entry; ascending, one per version.
    pub fn known(&self, index: &dyn Index, name: &str) -> Vec<Candidate> {
        let mut versions = index.versions(name);
        versions.retain(|c| c.name == name);
        if let Some(i) = self.installed.get(name) {
            versions.retain(|c| c.version != i.version);
            versions.push((*i).clone());
        }
        versions.sort_by(|a, b| a.version.cmp(&b.version));
        versions.dedup_by(|a, b| a.version == b.version);
        versions
    }

    /// Whether `set` is a valid final set (see the module documentation);
    /// the error names the first rule broken.
    pub fn check(&self, set: &BTreeMap<String, Candidate>) -> Result<(), String> {
        let names: BTreeSet<&String> = self
            .installed
            .keys()
            .chain(self.wanted.keys())
            .filter(|n| !self.removed.contains_key(*n))
            .collect();
        for n in names {
            if !set.contains_key(n) {
                return Err(format!("{n} must stay or be installed"));
            }
        }
        for (name, c) in set {
            if c.name != *name {
                return Err(format!("{name} maps to a version of {}", c.name));
            }
            if self.removed.contains_key(name) {
                return Err(format!("{name} is being removed"));
            }
            if !self.admits(name, &c.version) {
                return Err(format!("{} is not what was asked for, or is a downgrade", c.id()));
            }
            match self.usable(c) {
                Ok(()) => {}
                Err(Unusable::Yanked) => return Err(format!("{} is yanked", c.id())),
                Err(Unusable::HostApi { supports }) => {
                    return Err(format!("{} supports host API {supports}, not {}", c.id(), self.host_api));
                }
            }
            for d in &c.dependencies {
                match set.get(&d.name) {
                    Some(t) if !d.req.matches(&t.version) => {
                        return Err(format!("{} needs {} {}, not {}", c.id(), d.name, d.req, t.version));
                    }
                    None if !d.optional => return Err(format!("{} needs {} {}", c.id(), d.name, d.req)),
                    _ => {}
                }
            }
            for k in &c.conflicts {
                if let Some(t) = set.get(&k.name)
                    && k.req.as_ref().is_none_or(|r| r.matches(&t.version))
                {
                    return Err(format!("{} conflicts with {}", c.id(), t.id()));
                }
            }
        }
        Ok(())
    }
}
