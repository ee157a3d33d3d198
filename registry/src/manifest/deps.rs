//! `[dependencies]` and `[conflicts]`: the other extensions this one needs, and
//! the ones it cannot live next to in a project.
//!
//! ```toml
//! [dependencies]
//! maggate = "^1.2"                                          # short form
//! events-lib = { version = ">=0.3, <0.5", optional = true }
//!
//! [conflicts]
//! legacy-gate = { version = "<2", reason = "both serve /rest" }   # no version: any version
//! ```
//!
//! The resolver (`magflock-resolver`) reads these as ranges over the versions
//! published for each name. An optional dependency is not installed for this
//! extension; it only constrains the version when something else installs it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{ExtensionName, MAX_HOST_RANGE_LEN, ManifestError, check_name, check_text, invalid, quote};

/// Most `[dependencies]` entries one manifest may declare (hostile input: each
/// one is a node and an edge in every project graph the resolver builds).
pub const MAX_DEPENDENCIES: usize = 64;
/// Most `[conflicts]` entries one manifest may declare (hostile input).
pub const MAX_CONFLICTS: usize = 64;
/// Longest version range string in `[dependencies]` or `[conflicts]` (hostile input).
pub const MAX_RANGE_LEN: usize = MAX_HOST_RANGE_LEN;
/// Longest conflict `reason`, in characters (hostile input: shown to people).
pub const MAX_CONFLICT_REASON_CHARS: usize = 200;

/// A dependency on another extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    name: ExtensionName,
    req: semver::VersionReq,
    optional: bool,
}

impl Dependency {
    /// The extension depended on.
    pub fn name(&self) -> &ExtensionName {
        &self.name
    }

    /// The versions of it this extension works with.
    pub fn req(&self) -> &semver::VersionReq {
        &self.req
    }

    /// An optional dependency is not installed for this extension; when
    /// something else installs it, its version must still be within [`Self::req`].
    pub fn optional(&self) -> bool {
        self.optional
    }
}

/// A declared conflict: this extension and the named one (within the range)
/// are never installed in the same project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    name: ExtensionName,
    req: Option<semver::VersionReq>,
    reason: String,
}

impl Conflict {
    /// The extension this one conflicts with.
    pub fn name(&self) -> &ExtensionName {
        &self.name
    }

    /// The conflicting versions; `None` means every version.
    pub fn req(&self) -> Option<&semver::VersionReq> {
        self.req.as_ref()
    }

    /// Why the two cannot be installed together, for people.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// One `[dependencies]` value as written: a range string, or a table.
#[derive(Debug)]
pub(super) enum RawDependency {
    Short(String),
    Long(RawDependencyTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDependencyTable {
    version: String,
    #[serde(default)]
    optional: bool,
}

impl<'de> Deserialize<'de> for RawDependency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DependencyVisitor;

        impl<'de> Visitor<'de> for DependencyVisitor {
            type Value = RawDependency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#"a version range such as "^1.2" or a table { version = "^1.2", optional = true }"#,
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDependency, E> {
                Ok(RawDependency::Short(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDependency, A::Error> {
                RawDependencyTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawDependency::Long)
            }
        }

        deserializer.deserialize_any(DependencyVisitor)
    }
}

/// One `[conflicts]` value as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = r#"a table { version = "<2", reason = "why" } (version optional)"#)]
pub(super) struct RawConflict {
    version: Option<String>,
    reason: String,
}

fn parse_range(field: &str, text: &str) -> Result<semver::VersionReq, ManifestError> {
    if text.len() > MAX_RANGE_LEN {
        return Err(invalid(field, format!("is longer than {MAX_RANGE_LEN} bytes")));
    }
    semver::VersionReq::parse(text)
        .map_err(|e| invalid(field, format!("{} is not a version range: {e}", quote(text))))
}

/// Validates `[dependencies]` and `[conflicts]` of the extension `own`.
pub(super) fn resolve(
    own: &ExtensionName,
    raw_dependencies: BTreeMap<String, RawDependency>,
    raw_conflicts: BTreeMap<String, RawConflict>,
) -> Result<(Vec<Dependency>, Vec<Conflict>), ManifestError> {
    if raw_dependencies.len() > MAX_DEPENDENCIES {
        return Err(invalid("dependencies", format!("has more than {MAX_DEPENDENCIES} entries")));
    }
    if raw_conflicts.len() > MAX_CONFLICTS {
        return Err(invalid("conflicts", format!("has more than {MAX_CONFLICTS} entries")));
    }

    let mut dependencies = Vec::with_capacity(raw_dependencies.len());
    for (key, raw) in raw_dependencies {
        let field = format!("dependencies.{key}");
        check_name(&field, &key)?;
        if key == own.as_str() {
            return Err(invalid(field, "an extension cannot depend on itself"));
        }
        let (range, optional) = match raw {
            RawDependency::Short(range) => (range, false),
            RawDependency::Long(t) => (t.version, t.optional),
        };
        let req = parse_range(&format!("{field}.version"), &range)?;
        dependencies.push(Dependency { name: ExtensionName(key), req, optional });
    }

    let mut conflicts = Vec::with_capacity(raw_conflicts.len());
    for (key, raw) in raw_conflicts {
        let field = format!("conflicts.{key}");
        check_name(&field, &key)?;
        if key == own.as_str() {
            return Err(invalid(field, "an extension cannot conflict with itself"));
        }
        if dependencies.iter().any(|d| d.name.as_str() == key) {
            return Err(invalid(field, "is also listed in [dependencies]"));
        }
        let req = raw.version.as_deref().map(|v| parse_range(&format!("{field}.version"), v)).transpose()?;
        check_text(&format!("{field}.reason"), &raw.reason, MAX_CONFLICT_REASON_CHARS)?;
        conflicts.push(Conflict { name: ExtensionName(key), req, reason: raw.reason });
    }
    Ok((dependencies, conflicts))
}

/// Appends `[dependencies]` and `[conflicts]` in canonical form (nothing when empty).
pub(super) fn canonical_toml(dependencies: &[Dependency], conflicts: &[Conflict], out: &mut String) {
    if !dependencies.is_empty() {
        out.push_str("\n[dependencies]\n");
        for d in dependencies {
            out.push_str(d.name.as_str());
            out.push_str(" = ");
            if d.optional {
                out.push_str("{ version = ");
                super::push_toml_string(out, &d.req.to_string());
                out.push_str(", optional = true }");
            } else {
                super::push_toml_string(out, &d.req.to_string());
            }
            out.push('\n');
        }
    }
    if !conflicts.is_empty() {
        out.push_str("\n[conflicts]\n");
        for c in conflicts {
            out.push_str(c.name.as_str());
            out.push_str(" = { ");
            if let Some(req) = &c.req {
                out.push_str("version = ");
                super::push_toml_string(out, &req.to_string());
                out.push_str(", ");
            }
            out.push_str("reason = ");
            super::push_toml_string(out, &c.reason);
            out.push_str(" }\n");
        }
    }
}
