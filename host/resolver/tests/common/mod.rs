//! Small builders for candidates, indexes and projects.

#![allow(dead_code, clippy::unwrap_used)]

use magflock_resolver::{
    Candidate, Conflict, Dependency, Failure, MemoryIndex, Plan, Project, Request, plan,
};
use semver::{Version, VersionReq};

pub fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

pub fn req(s: &str) -> VersionReq {
    VersionReq::parse(s).unwrap()
}

/// `ext("magrag 1.2.0")`.
pub fn ext(id: &str) -> Candidate {
    let (name, version) = id.split_once(' ').unwrap();
    Candidate::new(name, v(version))
}

pub trait Build {
    fn needs(self, name: &str, range: &str) -> Self;
    fn optional(self, name: &str, range: &str) -> Self;
    fn conflicts(self, name: &str, range: Option<&str>, reason: &str) -> Self;
    fn host(self, range: &str) -> Self;
    fn caps(self, caps: &[&str]) -> Self;
    fn yanked(self) -> Self;
}

impl Build for Candidate {
    fn needs(mut self, name: &str, range: &str) -> Self {
        self.dependencies.push(Dependency { name: name.to_owned(), req: req(range), optional: false });
        self
    }
    fn optional(mut self, name: &str, range: &str) -> Self {
        self.dependencies.push(Dependency { name: name.to_owned(), req: req(range), optional: true });
        self
    }
    fn conflicts(mut self, name: &str, range: Option<&str>, reason: &str) -> Self {
        self.conflicts.push(Conflict {
            name: name.to_owned(),
            req: range.map(req),
            reason: reason.to_owned(),
        });
        self
    }
    fn host(mut self, range: &str) -> Self {
        self.host = req(range);
        self
    }
    fn caps(mut self, caps: &[&str]) -> Self {
        self.capabilities = caps.iter().map(|c| (*c).to_owned()).collect();
        self
    }
    fn yanked(mut self) -> Self {
        self.yanked = true;
        self
    }
}

pub const HOST_API: &str = "0.1.0";

/// Plans against `index` with `installed` (looked up in the index by id) on host API 0.1.0.
pub fn run(index: &MemoryIndex, installed: &[&str], requests: &[Request]) -> Result<Plan, Failure> {
    let installed: Vec<Candidate> = installed
        .iter()
        .map(|id| {
            let (name, version) = id.split_once(' ').unwrap();
            use magflock_resolver::Index;
            index.versions(name).into_iter().find(|c| c.version == v(version)).unwrap()
        })
        .collect();
    plan(index, &Project { installed: &installed, host_api: v(HOST_API) }, requests)
}

/// A plan or a failure, as the snapshots show them.
pub fn outcome(r: &Result<Plan, Failure>) -> String {
    match r {
        Ok(p) => {
            let set: Vec<String> = p.final_set.iter().map(|(n, v)| format!("{n} {v}")).collect();
            format!("plan:\n{p}final: {}", set.join(", "))
        }
        Err(f) => format!("code: {}\n{f}", f.code()),
    }
}
