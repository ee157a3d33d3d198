//! `[[endpoints]]`: the paths and methods the gateway routes to a component.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::{ManifestError, invalid, quote};

/// Longest accepted endpoint path (hostile input).
pub const MAX_ENDPOINT_PATH_LEN: usize = 256;
/// Most endpoints one manifest may declare (hostile input).
pub const MAX_ENDPOINTS: usize = 64;

/// A standard HTTP method, as written in upper case in a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Connect,
    Trace,
}

impl Method {
    /// Every standard method, in canonical order.
    pub const ALL: [Method; 9] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
        Method::Connect,
        Method::Trace,
    ];

    /// The method as sent on the wire (`"GET"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string is not an upper-case standard HTTP method.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a standard HTTP method in upper case", quote(.0))]
pub struct UnknownMethod(pub String);

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| UnknownMethod(s.to_owned()))
    }
}

/// One `[[endpoints]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    path: String,
    methods: Option<Vec<String>>,
}

/// How an endpoint's path is compared with a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathMatch {
    /// The request path must equal this.
    Exact(String),
    /// The request path must equal this or continue with `/`; `""` matches every path.
    Prefix(String),
}

/// A validated endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pattern: String,
    path: PathMatch,
    methods: Option<BTreeSet<Method>>,
}

impl Endpoint {
    /// The path as declared (`"/todos/*"`); this is what usage records name.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The declared methods; `None` means any method.
    pub fn methods(&self) -> Option<&BTreeSet<Method>> {
        self.methods.as_ref()
    }

    /// Whether this endpoint is a prefix (`/*`) pattern.
    pub fn is_prefix(&self) -> bool {
        matches!(self.path, PathMatch::Prefix(_))
    }

    /// Whether a request (method as sent, path without query string) is routed here.
    /// Methods compare case-sensitively, as HTTP defines them.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method_allowed(method) && self.path_matches(path)
    }

    fn method_allowed(&self, method: &str) -> bool {
        match &self.methods {
            None => true,
            Some(set) => set.iter().any(|m| m.as_str() == method),
        }
    }

    fn path_matches(&self, path: &str) -> bool {
        match &self.path {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| (rest.is_empty() && !p.is_empty()) || rest.starts_with('/')),
        }
    }

    /// Higher is more specific: exact paths beat prefixes, longer prefixes beat shorter.
    fn specificity(&self) -> (u8, usize) {
        match &self.path {
            PathMatch::Exact(p) => (1, p.len()),
            PathMatch::Prefix(p) => (0, p.len()),
        }
    }

    pub(super) fn canonical_toml(&self, out: &mut String) {
        out.push_str("\n[[endpoints]]\npath = ");
        super::push_toml_string(out, &self.pattern);
        out.push('\n');
        if let Some(methods) = &self.methods {
            let list: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
            out.push_str("methods = ");
            super::push_toml_array(out, &list);
            out.push('\n');
        }
    }
}

/// Picks the most specific endpoint that accepts the request.
pub(super) fn best_match<'a>(endpoints: &'a [Endpoint], method: &str, path: &str) -> Option<&'a Endpoint> {
    endpoints.iter().filter(|e| e.matches(method, path)).max_by_key(|e| e.specificity())
}

pub(super) fn resolve_endpoints(raw: Vec<RawEndpoint>) -> Result<Vec<Endpoint>, ManifestError> {
    if raw.is_empty() {
        return Err(invalid("endpoints", "at least one [[endpoints]] entry is required".to_owned()));
    }
    if raw.len() > MAX_ENDPOINTS {
        return Err(invalid(
            "endpoints",
            format!("{} entries is more than the maximum of {MAX_ENDPOINTS}", raw.len()),
        ));
    }
    let mut out: Vec<Endpoint> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.into_iter().enumerate() {
        let path = parse_path(&format!("endpoints[{i}].path"), &entry.path)?;
        if out.iter().any(|e| e.pattern == entry.path) {
            return Err(invalid(
                format!("endpoints[{i}].path"),
                format!("{} is declared more than once", quote(&entry.path)),
            ));
        }
        let methods = match entry.methods {
            None => None,
            Some(list) => Some(parse_methods(&format!("endpoints[{i}].methods"), &list)?),
        };
        out.push(Endpoint { pattern: entry.path, path, methods });
    }
    Ok(out)
}

fn parse_methods(field: &str, list: &[String]) -> Result<BTreeSet<Method>, ManifestError> {
    if list.is_empty() {
        return Err(invalid(field, "must not be empty; omit `methods` to accept every method".to_owned()));
    }
    let mut set = BTreeSet::new();
    for m in list {
        let method: Method = m.parse().map_err(|e: UnknownMethod| {
            let all: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
            invalid(field, format!("{e} (one of {})", all.join(", ")))
        })?;
        if !set.insert(method) {
            return Err(invalid(field, format!("{} is listed twice", quote(m))));
        }
    }
    Ok(set)
}

/// A path segment character: RFC 3986 unreserved.
fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn parse_path(field: &str, path: &str) -> Result<PathMatch, ManifestError> {
    let fail = |why: &str| Err(invalid(field, format!("{} {why}", quote(path))));
    if path.len() > MAX_ENDPOINT_PATH_LEN {
        return fail(&format!("is longer than {MAX_ENDPOINT_PATH_LEN} bytes"));
    }
    if !path.starts_with('/') {
        return fail("must start with '/'");
    }
    if path == "/" {
        return Ok(PathMatch::Exact(path.to_owned()));
    }
    let (body, prefix) = match path.strip_suffix("/*") {
        Some(body) => (body, true),
        None => (path, false),
    };
    // `body` is "" (for "/*") or "/seg/seg".
    if !body.is_empty() {
        for segment in body[1..].split('/') {
            if segment.is_empty() {
                return fail("has an empty segment (a doubled or trailing '/')");
            }
            if segment.contains('*') {
                return fail("uses '*' other than as a final \"/*\"");
            }
            if segment == "." || segment == ".." {
                return fail("has a '.' or '..' segment");
            }
            if !segment.chars().all(is_segment_char) {
                return fail("may contain only letters, digits, '-', '.', '_', '~' and '/'");
            }
        }
    }
    Ok(if prefix { PathMatch::Prefix(body.to_owned()) } else { PathMatch::Exact(body.to_owned()) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ep(path: &str, methods: Option<&[&str]>) -> Endpoint {
        let raw = RawEndpoint {
            path: path.to_owned(),
            methods: methods.map(|m| m.iter().map(|s| (*s).to_owned()).collect()),
        };
        let mut v = resolve_endpoints(vec![raw]).unwrap();
        v.remove(0)
    }

    #[test]
    fn exact_path_matches_only_itself() {
        let e = ep("/todos", None);
        assert!(e.matches("GET", "/todos"));
        assert!(!e.matches("GET", "/todos/1"));
        assert!(!e.matches("GET", "/todosx"));
        assert!(!e.matches("GET", "/"));
    }

    #[test]
    fn prefix_matches_itself_and_below_but_not_siblings() {
        let e = ep("/todos/*", None);
        assert!(e.matches("GET", "/todos"));
        assert!(e.matches("GET", "/todos/"));
        assert!(e.matches("GET", "/todos/1/x"));
        assert!(!e.matches("GET", "/todosx"));
        assert!(!e.matches("GET", "/"));
    }

    #[test]
    fn root_prefix_matches_everything_under_slash() {
        let e = ep("/*", None);
        assert!(e.matches("GET", "/"));
        assert!(e.matches("DELETE", "/a/b"));
        assert!(!e.matches("GET", ""));
        assert!(!e.matches("GET", "a"));
    }

    #[test]
    fn methods_are_case_sensitive_and_restrict() {
        let e = ep("/", Some(&["GET", "POST"]));
        assert!(e.matches("GET", "/"));
        assert!(!e.matches("get", "/"));
        assert!(!e.matches("PUT", "/"));
    }

    #[test]
    fn most_specific_endpoint_wins() {
        let all = resolve_endpoints(vec![
            RawEndpoint { path: "/*".into(), methods: None },
            RawEndpoint { path: "/todos/*".into(), methods: Some(vec!["GET".into()]) },
            RawEndpoint { path: "/todos/done".into(), methods: None },
        ])
        .unwrap();
        let pick = |m, p| best_match(&all, m, p).map(Endpoint::pattern);
        assert_eq!(pick("GET", "/todos/1"), Some("/todos/*"));
        assert_eq!(pick("POST", "/todos/1"), Some("/*"));
        assert_eq!(pick("GET", "/todos/done"), Some("/todos/done"));
        assert_eq!(pick("GET", "nope"), None);
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", "todos", "//", "/a//b", "/a/", "/a*", "/*/a", "/a/../b", "/a b", "/a?x"] {
            let raw = RawEndpoint { path: bad.to_owned(), methods: None };
            assert!(resolve_endpoints(vec![raw]).is_err(), "{bad:?} accepted");
        }
    }
}
