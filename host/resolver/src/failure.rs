//! Why no plan exists, structured and in words a person can act on.

use std::fmt;

use semver::{Version, VersionReq};

/// An installed extension that needs another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    pub name: String,
    pub version: Version,
    /// The range it needs the other one in.
    pub req: VersionReq,
}

/// One fact in an explanation: a request, an installed version, or one
/// declaration of a published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// An install or upgrade request (`req` is every range it was asked with).
    Requested { name: String, req: String, upgrade: bool },
    /// An installed version, kept (never silently downgraded).
    Installed { name: String, version: Version },
    /// An extension being uninstalled (`because` names the extension whose
    /// removal cascades to it).
    Removing { name: String, because: Option<String> },
    /// `who` (at `versions`) needs `name` within `req`.
    Needs { who: String, versions: String, name: String, req: VersionReq },
    /// `who` (at `versions`) has an optional dependency: `name`, when present, within `req`.
    Accepts { who: String, versions: String, name: String, req: VersionReq },
    /// `who` (at `versions`) declares a conflict with `name` (within `req`, or any version).
    ConflictsWith { who: String, versions: String, name: String, req: Option<VersionReq>, reason: String },
    /// A version that matches but is yanked.
    Yanked { name: String, version: Version },
    /// A version that matches but does not support this host's API.
    HostApi { name: String, version: Version, supports: VersionReq, host: Version },
    /// No version of `name` is published at all.
    NotPublished { name: String },
    /// Versions of `name` are published, none within `req`.
    NoneMatch { name: String, req: String },
    /// Nothing usable is left for `name` once everything else is taken into account.
    NothingLeft { name: String },
}

impl Fact {
    /// The extension this fact is about.
    pub fn subject(&self) -> &str {
        match self {
            Fact::Requested { name, .. }
            | Fact::Installed { name, .. }
            | Fact::Removing { name, .. }
            | Fact::Yanked { name, .. }
            | Fact::HostApi { name, .. }
            | Fact::NotPublished { name }
            | Fact::NoneMatch { name, .. }
            | Fact::NothingLeft { name } => name,
            Fact::Needs { who, .. } | Fact::Accepts { who, .. } | Fact::ConflictsWith { who, .. } => who,
        }
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Requested { name, req, upgrade: false } => write!(f, "{name} {req} was asked for"),
            Fact::Requested { name, req, upgrade: true } => {
                write!(f, "{name} is to be upgraded within {req}")
            }
            Fact::Installed { name, version } => write!(f, "{name} {version} is installed"),
            Fact::Removing { name, because: None } => write!(f, "{name} is being uninstalled"),
            Fact::Removing { name, because: Some(of) } => {
                write!(f, "{name} is being uninstalled with {of}")
            }
            Fact::Needs { versions, name, req, .. } => {
                write!(f, "{versions} {} {name} {req}", verb(versions, "needs", "need"))
            }
            Fact::Accepts { versions, name, req, .. } => {
                write!(
                    f,
                    "{versions} {} only with {name} {req} (an optional dependency)",
                    verb(versions, "works", "work")
                )
            }
            Fact::ConflictsWith { versions, name, req: None, reason, .. } => {
                write!(
                    f,
                    "{versions} {} with every version of {name} ({reason})",
                    verb(versions, "conflicts", "conflict")
                )
            }
            Fact::ConflictsWith { versions, name, req: Some(req), reason, .. } => {
                write!(
                    f,
                    "{versions} {} with {name} {req} ({reason})",
                    verb(versions, "conflicts", "conflict")
                )
            }
            Fact::Yanked { name, version } => write!(f, "{name} {version} is yanked"),
            Fact::HostApi { name, version, supports, .. } => {
                write!(f, "{name} {version} supports only host API {supports}")
            }
            Fact::NotPublished { name } => write!(f, "no extension named {name} is published"),
            Fact::NoneMatch { name, req } => write!(f, "no published version of {name} matches {req}"),
            Fact::NothingLeft { name } => write!(f, "no usable version of {name} fits the rest"),
        }
    }
}

/// The verb for a subject such as "maggate 1.4.0" (one) or "maggate 1.4.0
/// and 1.5.0" / "maggate 1.0.0 to 1.9.0" (several; names never hold spaces).
fn verb<'a>(versions: &str, one: &'a str, several: &'a str) -> &'a str {
    if versions.contains(" and ") || versions.contains(" to ") { several } else { one }
}

/// A failure of the solver, in words: what was asked, the facts that
/// together make it impossible, and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// What could not be done ("cannot install magrag ^1.2").
    pub headline: String,
    /// The facts that together make it impossible, in the order they are told.
    pub facts: Vec<Fact>,
    /// The facts as one sentence.
    pub because: String,
    /// What would fix it, as one sentence.
    pub fix: String,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}.\nto fix: {}.", self.headline, self.because, self.fix)
    }
}

/// Why no plan exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Something needed is not published at all.
    #[error("{0}")]
    DependencyMissing(Explanation),
    /// Ranges that cannot all hold at once.
    #[error("{0}")]
    DependencyUnsatisfiable(Explanation),
    /// A declared conflict stands in the way.
    #[error("{0}")]
    Conflict(Explanation),
    /// The versions that would fit do not support this host's API.
    #[error("{0}")]
    HostApiMismatch(Explanation),
    /// The versions that would fit are yanked.
    #[error("{0}")]
    OnlyYanked(Explanation),
    /// The chosen versions depend on each other in a circle (first name repeated last).
    #[error(
        "the chosen versions depend on each other in a cycle: {}.\nto fix: ask the publishers to break the cycle, or choose other versions of {}.",
        .cycle.join(" → "),
        .cycle.first().map(String::as_str).unwrap_or_default()
    )]
    DependencyCycle { cycle: Vec<String> },
    /// Uninstall refused: installed extensions still need it.
    #[error(
        "cannot uninstall {name} {version}: {}.\nto fix: uninstall {} first, or uninstall with its dependents.",
        dependents_text(.name, .dependents),
        names_text(.dependents)
    )]
    DependentsExist { name: String, version: Version, dependents: Vec<Dependent> },
    /// Uninstall or upgrade of something that is not installed.
    #[error("cannot {action} {name}: it is not installed in this project")]
    NotInstalled { name: String, action: &'static str },
    /// The request would move an installed extension to a lower version.
    #[error(
        "cannot install {name} {req}: {name} {installed} is installed and every matching version is lower.\nto fix: ask for a range that includes {installed}, or allow the downgrade."
    )]
    DowngradeRefused { name: String, installed: Version, req: String },
    /// The requests contradict each other.
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },
}

fn dependents_text(name: &str, dependents: &[Dependent]) -> String {
    dependents
        .iter()
        .map(|d| format!("{} {} needs {name} {}", d.name, d.version, d.req))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn names_text(dependents: &[Dependent]) -> String {
    dependents.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(" and ")
}

impl Failure {
    /// A stable machine code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::DependencyMissing(_) => "dependency_missing",
            Failure::DependencyUnsatisfiable(_) => "dependency_unsatisfiable",
            Failure::Conflict(_) => "conflict",
            Failure::HostApiMismatch(_) => "host_api_mismatch",
            Failure::OnlyYanked(_) => "only_yanked",
            Failure::DependencyCycle { .. } => "dependency_cycle",
            Failure::DependentsExist { .. } => "dependents_exist",
            Failure::NotInstalled { .. } => "not_installed",
            Failure::DowngradeRefused { .. } => "downgrade_refused",
            Failure::InvalidRequest { .. } => "invalid_request",
        }
    }
}
