//! The extension manifest, `extension.toml`.
//!
//! Parsing is strict: unknown fields anywhere are refused, every id and limit
//! is validated before a [`Manifest`] exists, and each error names the field
//! and the reason. A `Manifest` value is therefore always valid.

mod database;
mod deps;
mod endpoint;
mod events;
mod resources;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

pub use database::{
    ALL_TABLES, DatabaseAccess, DatabaseGrant, DatabaseTables, MAX_DATABASE_TABLES, MAX_TABLE_NAME_LEN,
};
pub use deps::{
    Conflict, Dependency, MAX_CONFLICT_REASON_CHARS, MAX_CONFLICTS, MAX_DEPENDENCIES, MAX_RANGE_LEN,
};
pub use endpoint::{Endpoint, MAX_ENDPOINT_PATH_LEN, MAX_ENDPOINTS, Method, UnknownMethod};
pub use events::{EventsGrant, MAX_TOPIC_LEN, MAX_TOPICS, is_valid_topic};
pub use resources::{
    DEFAULT_CONCURRENCY, DEFAULT_FUEL, DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT_MS, MAX_CONCURRENCY, MAX_FUEL,
    MAX_MEMORY_BYTES, MAX_TIMEOUT_MS, MIN_MEMORY_BYTES, Resources,
};

/// Largest accepted `extension.toml` (hostile input: parsed before anything is trusted).
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// Longest extension name and keyword, in bytes.
pub const MAX_NAME_LEN: usize = 63;
/// Longest `version` string (hostile input: bounds pre-release/build identifiers).
pub const MAX_VERSION_LEN: usize = 64;
/// Longest `host` range string (hostile input).
pub const MAX_HOST_RANGE_LEN: usize = 128;
/// Longest `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Most `authors` entries, and the longest one in characters (hostile input).
pub const MAX_AUTHORS: usize = 20;
pub const MAX_AUTHOR_CHARS: usize = 200;
/// Longest `license` expression, in bytes (hostile input).
pub const MAX_LICENSE_LEN: usize = 100;
/// Most `keywords` entries.
pub const MAX_KEYWORDS: usize = 10;
/// Most `[config]` keys, longest key and longest value in bytes (hostile input).
pub const MAX_CONFIG_KEYS: usize = 64;
pub const MAX_CONFIG_KEY_LEN: usize = 128;
pub const MAX_CONFIG_VALUE_LEN: usize = 4096;

/// Longest piece of hostile input echoed back in an error message.
const MAX_QUOTED_CHARS: usize = 64;

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The file is larger than [`MAX_MANIFEST_BYTES`].
    #[error("extension.toml is {len} bytes, above the limit of {MAX_MANIFEST_BYTES} bytes")]
    TooLarge { len: usize },
    /// The file is not UTF-8 text.
    #[error("extension.toml is not valid UTF-8")]
    NotUtf8,
    /// The file is not TOML of the expected shape: a syntax error, an unknown
    /// or missing field, or a value of the wrong type.
    #[error("extension.toml: {message}")]
    Syntax { message: String },
    /// A field has a value the host does not accept.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl ManifestError {
    /// A stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ManifestError::TooLarge { .. } => "manifest_too_large",
            ManifestError::NotUtf8 => "manifest_not_utf8",
            ManifestError::Syntax { .. } => "manifest_syntax",
            ManifestError::Invalid { .. } => "manifest_invalid",
        }
    }

    /// The dotted field path an [`ManifestError::Invalid`] error is about.
    pub fn field(&self) -> Option<&str> {
        match self {
            ManifestError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ManifestError {
    ManifestError::Invalid { field: field.into(), reason: reason.into() }
}

/// Hostile text for an error message: escaped, truncated, in backticks.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in s.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('`');
    out
}

/// A host capability an extension may ask for. Everything is denied unless asked for
/// (and, on the host, approved for the project).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    Logging,
    Config,
    Kv,
    Database,
    Events,
}

impl Capability {
    /// Every capability, in canonical order.
    pub const ALL: [Capability; 5] =
        [Capability::Logging, Capability::Config, Capability::Kv, Capability::Database, Capability::Events];

    /// The manifest key (`"logging"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Logging => "logging",
            Capability::Config => "config",
            Capability::Kv => "kv",
            Capability::Database => "database",
            Capability::Events => "events",
        }
    }

    /// The WIT interface this capability links into the component.
    pub fn wit_interface(self) -> &'static str {
        match self {
            Capability::Logging => "wasi:logging/logging",
            Capability::Config => "wasi:config/store",
            Capability::Kv => "magflock:ext/kv",
            Capability::Database => "magflock:ext/database",
            Capability::Events => "magflock:ext/events",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string names no capability.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a capability (one of logging, config, kv, database, events)", quote(.0))]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownCapability(s.to_owned()))
    }
}

/// A validated extension name: `[a-z][a-z0-9-]{0,62}`, no trailing or doubled `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtensionName(String);

impl ExtensionName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExtensionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ExtensionName {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_name("name", s)?;
        Ok(ExtensionName(s.to_owned()))
    }
}

impl AsRef<str> for ExtensionName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn check_name(field: &str, s: &str) -> Result<(), ManifestError> {
    let why = if s.is_empty() {
        "must not be empty"
    } else if s.len() > MAX_NAME_LEN {
        "is longer than 63 characters"
    } else if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        "must start with a lowercase ASCII letter"
    } else if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        "may contain only lowercase ASCII letters, digits and '-'"
    } else if s.ends_with('-') {
        "must not end with '-'"
    } else if s.contains("--") {
        "must not contain \"--\""
    } else {
        return Ok(());
    };
    Err(invalid(field, format!("{} {why}", quote(s))))
}

fn check_text(field: &str, s: &str, max_chars: usize) -> Result<(), ManifestError> {
    if s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.chars().count() > max_chars {
        return Err(invalid(field, format!("is longer than {max_chars} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// `[capabilities]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapabilities {
    #[serde(default)]
    logging: bool,
    #[serde(default)]
    config: bool,
    #[serde(default)]
    kv: bool,
    /// `[capabilities.database]`: a table, not a flag, since the grant has
    /// an access level and a table list.
    database: Option<database::RawDatabase>,
    /// `[capabilities.events]`: the topics published and subscribed to.
    events: Option<events::RawEvents>,
}

/// `extension.toml` as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    description: String,
    host: String,
    #[serde(default)]
    authors: Vec<String>,
    license: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    capabilities: RawCapabilities,
    #[serde(default)]
    resources: resources::RawResources,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    dependencies: BTreeMap<String, deps::RawDependency>,
    #[serde(default)]
    conflicts: BTreeMap<String, deps::RawConflict>,
    #[serde(default)]
    endpoints: Vec<endpoint::RawEndpoint>,
}

/// A validated extension manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    name: ExtensionName,
    version: semver::Version,
    description: String,
    host: semver::VersionReq,
    authors: Vec<String>,
    license: Option<String>,
    keywords: Vec<String>,
    capabilities: BTreeSet<Capability>,
    database: Option<DatabaseGrant>,
    events: Option<EventsGrant>,
    resources: Resources,
    config: BTreeMap<String, String>,
    dependencies: Vec<Dependency>,
    conflicts: Vec<Conflict>,
    endpoints: Vec<Endpoint>,
}

impl Manifest {
    /// Parses and validates `extension.toml` text.
    pub fn from_toml_str(text: &str) -> Result<Manifest, ManifestError> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { len: text.len() });
        }
        let raw: RawManifest = toml::from_str(text)
            .map_err(|e| ManifestError::Syntax { message: e.to_string().trim_end().to_owned() })?;
        Self::validate(raw)
    }

    /// Parses and validates `extension.toml` bytes (which must be UTF-8).
    pub fn from_toml_bytes(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { len: bytes.len() });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?;
        Self::from_toml_str(text)
    }

    fn validate(raw: RawManifest) -> Result<Manifest, ManifestError> {
        let name: ExtensionName = raw.name.parse()?;

        if raw.version.len() > MAX_VERSION_LEN {
            return Err(invalid("version", format!("is longer than {MAX_VERSION_LEN} bytes")));
        }
        let version = semver::Version::parse(&raw.version).map_err(|e| {
            invalid("version", format!("{} is not a semantic version: {e}", quote(&raw.version)))
        })?;

        check_text("description", &raw.description, MAX_DESCRIPTION_CHARS)?;

        if raw.host.len() > MAX_HOST_RANGE_LEN {
            return Err(invalid("host", format!("is longer than {MAX_HOST_RANGE_LEN} bytes")));
        }
        let host = semver::VersionReq::parse(&raw.host)
            .map_err(|e| invalid("host", format!("{} is not a version range: {e}", quote(&raw.host))))?;

        if raw.authors.len() > MAX_AUTHORS {
            return Err(invalid("authors", format!("has more than {MAX_AUTHORS} entries")));
        }
        for (i, a) in raw.authors.iter().enumerate() {
            check_text(&format!("authors[{i}]"), a, MAX_AUTHOR_CHARS)?;
        }

        if let Some(license) = &raw.license {
            check_license(license)?;
        }

        if raw.keywords.len() > MAX_KEYWORDS {
            return Err(invalid("keywords", format!("has more than {MAX_KEYWORDS} entries")));
        }
        for (i, k) in raw.keywords.iter().enumerate() {
            check_name(&format!("keywords[{i}]"), k)?;
            if raw.keywords[..i].contains(k) {
                return Err(invalid(format!("keywords[{i}]"), format!("{} is listed twice", quote(k))));
            }
        }

        let caps = raw.capabilities;
        let database = caps.database.map(database::RawDatabase::resolve).transpose()?;
        let events = caps.events.map(events::RawEvents::resolve).transpose()?;
        let capabilities = [
            (caps.logging, Capability::Logging),
            (caps.config, Capability::Config),
            (caps.kv, Capability::Kv),
            (database.is_some(), Capability::Database),
            (events.is_some(), Capability::Events),
        ]
        .into_iter()
        .filter_map(|(on, c)| on.then_some(c))
        .collect();

        let resources = raw.resources.resolve()?;
        check_config(&raw.config)?;
        let (dependencies, conflicts) = deps::resolve(&name, raw.dependencies, raw.conflicts)?;
        let endpoints = endpoint::resolve_endpoints(raw.endpoints)?;

        Ok(Manifest {
            name,
            version,
            description: raw.description,
            host,
            authors: raw.authors,
            license: raw.license,
            keywords: raw.keywords,
            capabilities,
            database,
            events,
            resources,
            config: raw.config,
            dependencies,
            conflicts,
            endpoints,
        })
    }

    pub fn name(&self) -> &ExtensionName {
        &self.name
    }

    pub fn version(&self) -> &semver::Version {
        &self.version
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The host API range this version supports.
    pub fn host(&self) -> &semver::VersionReq {
        &self.host
    }

    pub fn authors(&self) -> &[String] {
        &self.authors
    }

    pub fn license(&self) -> Option<&str> {
        self.license.as_deref()
    }

    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// The capabilities this version asks for; everything else is denied.
    pub fn capabilities(&self) -> BTreeSet<Capability> {
        self.capabilities.clone()
    }

    /// Whether this version asks for `capability`.
    pub fn requests(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// The database grant, when the manifest asks for capability `database`.
    pub fn database(&self) -> Option<&DatabaseGrant> {
        self.database.as_ref()
    }

    /// The events grant, when the manifest asks for capability `events`.
    pub fn events(&self) -> Option<&EventsGrant> {
        self.events.as_ref()
    }

    /// Resource limits with defaults applied.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// Default `[config]` values.
    pub fn config(&self) -> &BTreeMap<String, String> {
        &self.config
    }

    /// `[dependencies]`, sorted by name.
    pub fn dependencies(&self) -> &[Dependency] {
        &self.dependencies
    }

    /// `[conflicts]`, sorted by name. No name appears here and in [`Self::dependencies`].
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// Declared endpoints, in declaration order (never empty).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The most specific endpoint that accepts the request: an exact path beats
    /// a prefix, a longer prefix beats a shorter one.
    pub fn match_endpoint(&self, method: &str, path: &str) -> Option<&Endpoint> {
        endpoint::best_match(&self.endpoints, method, path)
    }

    /// The manifest as TOML in one canonical layout, with every resource limit
    /// written out. Parsing it gives back an equal `Manifest`.
    pub fn to_canonical_toml(&self) -> String {
        let mut out = String::new();
        push_key_string(&mut out, "name", self.name.as_str());
        push_key_string(&mut out, "version", &self.version.to_string());
        push_key_string(&mut out, "description", &self.description);
        push_key_string(&mut out, "host", &self.host.to_string());
        if !self.authors.is_empty() {
            out.push_str("authors = ");
            push_toml_array(&mut out, &self.authors);
            out.push('\n');
        }
        if let Some(license) = &self.license {
            push_key_string(&mut out, "license", license);
        }
        if !self.keywords.is_empty() {
            out.push_str("keywords = ");
            push_toml_array(&mut out, &self.keywords);
            out.push('\n');
        }
        if !self.capabilities.is_empty() {
            out.push_str("\n[capabilities]\n");
            for c in &self.capabilities {
                if matches!(c, Capability::Database | Capability::Events) {
                    continue;
                }
                out.push_str(c.as_str());
                out.push_str(" = true\n");
            }
            if let Some(db) = &self.database {
                db.canonical_toml(&mut out);
            }
            if let Some(ev) = &self.events {
                ev.canonical_toml(&mut out);
            }
        }
        let r = &self.resources;
        out.push_str("\n[resources]\n");
        out.push_str(&format!("fuel = {}\n", r.fuel));
        out.push_str(&format!("memory = {}\n", resources::canonical_memory(r.memory_bytes)));
        out.push_str(&format!("timeout-ms = {}\n", r.timeout.as_millis()));
        out.push_str(&format!("concurrency = {}\n", r.concurrency));
        if !self.config.is_empty() {
            out.push_str("\n[config]\n");
            for (k, v) in &self.config {
                push_toml_string(&mut out, k);
                out.push_str(" = ");
                push_toml_string(&mut out, v);
                out.push('\n');
            }
        }
        deps::canonical_toml(&self.dependencies, &self.conflicts, &mut out);
        for e in &self.endpoints {
            e.canonical_toml(&mut out);
        }
        out
    }
}

fn check_license(license: &str) -> Result<(), ManifestError> {
    if license.is_empty() || license.len() > MAX_LICENSE_LEN {
        return Err(invalid("license", format!("must be 1 to {MAX_LICENSE_LEN} bytes")));
    }
    if !license
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+' | '(' | ')' | ' ' | ':'))
    {
        return Err(invalid("license", format!("{} is not an SPDX license expression", quote(license))));
    }
    Ok(())
}

fn check_config(config: &BTreeMap<String, String>) -> Result<(), ManifestError> {
    if config.len() > MAX_CONFIG_KEYS {
        return Err(invalid("config", format!("has more than {MAX_CONFIG_KEYS} keys")));
    }
    for (key, value) in config {
        let field = format!("config.{}", quote(key));
        if key.is_empty()
            || key.len() > MAX_CONFIG_KEY_LEN
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(invalid(
                field,
                format!("keys are 1 to {MAX_CONFIG_KEY_LEN} of a-z, 0-9, '_', '.', '-'"),
            ));
        }
        if value.len() > MAX_CONFIG_VALUE_LEN {
            return Err(invalid(field, format!("value is longer than {MAX_CONFIG_VALUE_LEN} bytes")));
        }
    }
    Ok(())
}

fn push_key_string(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str(" = ");
    push_toml_string(out, value);
    out.push('\n');
}

fn push_toml_array<S: AsRef<str>>(out: &mut String, items: &[S]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_toml_string(out, item.as_ref());
    }
    out.push(']');
}

/// Writes a TOML basic string, escaping what TOML requires.
fn push_toml_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "hello"
version = "1.0.0"
description = "Says hello"
host = ">=0.1, <0.2"

[[endpoints]]
path = "/"
"#;

    #[test]
    fn minimal_manifest_gets_default_resources_and_no_capabilities() {
        let m = Manifest::from_toml_str(MINIMAL).unwrap();
        assert_eq!(m.name().as_str(), "hello");
        assert_eq!(*m.resources(), Resources::default());
        assert!(m.capabilities().is_empty());
        assert_eq!(m.match_endpoint("GET", "/").map(Endpoint::pattern), Some("/"));
    }

    #[test]
    fn names_follow_the_documented_shape() {
        for good in ["a", "hello", "hello-world", "a1", &"a".repeat(63)] {
            assert!(good.parse::<ExtensionName>().is_ok(), "{good:?} refused");
        }
        for bad in ["", "1a", "-a", "a-", "a--b", "Hello", "a_b", "a.b", "ä", &"a".repeat(64)] {
            assert!(bad.parse::<ExtensionName>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn capability_strings_round_trip() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
        }
        assert!("network".parse::<Capability>().is_err());
        assert_eq!(Capability::Kv.wit_interface(), "magflock:ext/kv");
    }

    #[test]
    fn canonical_toml_escapes_and_round_trips() {
        let text = MINIMAL.replace("Says hello", "Says \\\"hi\\\" \\\\ ok");
        let text = format!("{text}\n[config]\n\"a.b\" = \"line\\nbreak\"\n");
        let m = Manifest::from_toml_str(&text).unwrap();
        let again = Manifest::from_toml_str(&m.to_canonical_toml()).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn quote_escapes_and_truncates_hostile_text() {
        assert_eq!(quote("a\nb"), "`a\\nb`");
        assert_eq!(quote(&"x".repeat(100)).chars().count(), MAX_QUOTED_CHARS + 3);
    }

    #[test]
    fn oversized_manifest_is_refused_before_parsing() {
        let big = "#".repeat(MAX_MANIFEST_BYTES + 1);
        assert_eq!(Manifest::from_toml_str(&big).unwrap_err().code(), "manifest_too_large");
    }
}
