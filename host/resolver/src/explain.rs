//! A PubGrub derivation tree turned into facts, sentences and a fix.
//!
//! The tree's leaves are the facts PubGrub used: requests and installed
//! versions (the root's dependencies), declarations of published versions
//! (dependencies and conflicts), and versions passed over (yanked, another
//! host API). The explanation tells them in one sentence: first the chain that
//! starts at what was asked for, then — after "but" — what stands in its way.
//! The order is fixed by the tree, so the same inputs give the same words.

use std::collections::{BTreeMap, BTreeSet};

use pubgrub::{DerivationTree, External};
use semver::Version;

use crate::Request;
use crate::failure::{Explanation, Fact, Failure};
use crate::goals::{Removal, Unusable};
use crate::solve::{Pkg, Provider, Set, Tree, Ver};

/// Most versions written out in a list before it is shortened to "a to b".
const MAX_LISTED_VERSIONS: usize = 3;

pub(crate) fn failure(provider: &Provider<'_, '_>, requests: &[Request], mut tree: Tree) -> Failure {
    tree.collapse_no_versions();
    let mut facts = Vec::new();
    collect(provider, &tree, &mut facts);
    let explanation = render(requests, facts);
    let has = |f: fn(&Fact) -> bool| explanation.facts.iter().any(f);
    if has(|f| matches!(f, Fact::NotPublished { .. })) {
        Failure::DependencyMissing(explanation)
    } else if has(|f| matches!(f, Fact::ConflictsWith { .. })) {
        Failure::Conflict(explanation)
    } else if has(|f| matches!(f, Fact::HostApi { .. })) {
        Failure::HostApiMismatch(explanation)
    } else if has(|f| matches!(f, Fact::Yanked { .. })) {
        Failure::OnlyYanked(explanation)
    } else {
        Failure::DependencyUnsatisfiable(explanation)
    }
}

fn push(facts: &mut Vec<Fact>, fact: Fact) {
    if !facts.contains(&fact) {
        facts.push(fact);
    }
}

/// The leaves of the tree, depth first, as facts.
fn collect(p: &Provider<'_, '_>, tree: &Tree, facts: &mut Vec<Fact>) {
    match tree {
        DerivationTree::Derived(d) => {
            collect(p, &d.cause1, facts);
            collect(p, &d.cause2, facts);
        }
        DerivationTree::External(e) => match e {
            External::NotRoot(..) => {}
            External::FromDependencyOf(Pkg::Root, _, Pkg::Ext(name), _) => root_fact(p, name, facts),
            External::FromDependencyOf(Pkg::Ext(who), who_set, Pkg::Ext(name), set) => {
                declaration_facts(p, who, who_set, name, set, facts)
            }
            External::FromDependencyOf(_, _, Pkg::Root, _) => {}
            External::NoVersions(Pkg::Ext(name), _) => push(facts, Fact::NothingLeft { name: name.clone() }),
            External::NoVersions(Pkg::Root, _) => {}
            External::Custom(Pkg::Ext(name), set, why) => {
                for v in versions_in(p, name, set) {
                    let fact = match why {
                        Unusable::Yanked => Fact::Yanked { name: name.clone(), version: v },
                        Unusable::HostApi { supports } => Fact::HostApi {
                            name: name.clone(),
                            version: v,
                            supports: supports.clone(),
                            host: p.goals.host_api().clone(),
                        },
                    };
                    push(facts, fact);
                }
            }
            External::Custom(Pkg::Root, ..) => {}
        },
    }
}

/// Why the project constrains `name`: a request, an installed version, a removal.
fn root_fact(p: &Provider<'_, '_>, name: &str, facts: &mut Vec<Fact>) {
    let g = p.goals;
    if let Some(how) = g.removal(name) {
        let because = match how {
            Removal::Requested => None,
            Removal::Cascade { of } => Some(of.clone()),
        };
        push(facts, Fact::Removing { name: name.to_owned(), because });
        return;
    }
    if let Some(w) = g.wanted(name) {
        push(facts, Fact::Requested { name: name.to_owned(), req: w.req_text(), upgrade: w.upgrade });
        if p.known(name).is_empty() {
            push(facts, Fact::NotPublished { name: name.to_owned() });
        } else if !p.known(name).iter().any(|c| w.matches(&c.version)) {
            push(facts, Fact::NoneMatch { name: name.to_owned(), req: w.req_text() });
        }
    } else if let Some(i) = g.installed(name) {
        push(facts, Fact::Installed { name: name.to_owned(), version: i.version.clone() });
    }
}

/// The declarations of `who` (at the versions in `who_set`) about `name`.
fn declaration_facts(
    p: &Provider<'_, '_>,
    who: &str,
    who_set: &Set,
    name: &str,
    set: &Set,
    facts: &mut Vec<Fact>,
) {
    let versions = versions_in(p, who, who_set);
    let Some(c) = versions.last().and_then(|v| p.candidate(who, v)) else { return };
    let subject = subject_text(p, who, &versions);
    for d in c.dependencies.iter().filter(|d| d.name == name) {
        let fact = if d.optional {
            Fact::Accepts {
                who: who.to_owned(),
                versions: subject.clone(),
                name: name.to_owned(),
                req: d.req.clone(),
            }
        } else {
            Fact::Needs {
                who: who.to_owned(),
                versions: subject.clone(),
                name: name.to_owned(),
                req: d.req.clone(),
            }
        };
        push(facts, fact);
        if p.known(name).is_empty() {
            push(facts, Fact::NotPublished { name: name.to_owned() });
        } else if set == &Set::empty() {
            push(facts, Fact::NoneMatch { name: name.to_owned(), req: d.req.to_string() });
        }
    }
    for k in c.conflicts.iter().filter(|k| k.name == name) {
        push(
            facts,
            Fact::ConflictsWith {
                who: who.to_owned(),
                versions: subject.clone(),
                name: name.to_owned(),
                req: k.req.clone(),
                reason: k.reason.clone(),
            },
        );
    }
}

/// Known versions of `name` in `set`, ascending.
fn versions_in(p: &Provider<'_, '_>, name: &str, set: &Set) -> Vec<Version> {
    p.known(name).iter().map(|c| c.version.clone()).filter(|v| set.contains(&Ver::Is(v.clone()))).collect()
}

/// "maggate 1.4.0", "maggate 1.4.0 and 1.4.1", "maggate 1.0.0 to 1.9.0",
/// "every version of maggate".
fn subject_text(p: &Provider<'_, '_>, name: &str, versions: &[Version]) -> String {
    let known = p.known(name);
    match versions {
        [] => name.to_owned(),
        [v] => format!("{name} {v}"),
        _ if versions.len() == known.len() && known.len() > 1 => format!("every version of {name}"),
        [a, b] => format!("{name} {a} and {b}"),
        _ if versions.len() <= MAX_LISTED_VERSIONS => {
            let (last, rest) = versions.split_last().map(|(l, r)| (l.to_string(), r)).unwrap_or_default();
            let rest: Vec<String> = rest.iter().map(ToString::to_string).collect();
            format!("{name} {} and {last}", rest.join(", "))
        }
        [first, .., last] => format!("{name} {first} to {last}"),
    }
}

fn headline(requests: &[Request]) -> String {
    if requests.is_empty() {
        return "the installed extensions do not fit together".to_owned();
    }
    let parts: Vec<String> = requests
        .iter()
        .map(|r| match r {
            Request::Install { name, req, .. } => format!("install {name} {req}"),
            Request::Upgrade { name, req, .. } => format!("upgrade {name} within {req}"),
            Request::Uninstall { name, .. } => format!("uninstall {name}"),
        })
        .collect();
    format!("cannot {}", parts.join(" and "))
}

fn render(requests: &[Request], facts: Vec<Fact>) -> Explanation {
    // The request side: what was asked for and everything reached from it
    // through the facts' declarations, nearest first. The rest is what stands
    // in the way, grouped by extension, each group led by "is installed".
    let mut depth: BTreeMap<&str, usize> = facts
        .iter()
        .filter_map(|f| match f {
            Fact::Requested { name, .. } => Some((name.as_str(), 0)),
            _ => None,
        })
        .collect();
    loop {
        let before = depth.len();
        for f in &facts {
            if let Fact::Needs { who, name, .. } = f
                && let Some(&d) = depth.get(who.as_str())
            {
                depth.entry(name).or_insert(d + 1);
            }
        }
        if depth.len() == before {
            break;
        }
    }
    let installed: BTreeSet<&str> = facts
        .iter()
        .filter_map(|f| match f {
            Fact::Installed { name, .. } | Fact::Removing { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();

    let mut asked = Vec::new();
    let mut blockers = Vec::new();
    for f in &facts {
        match f {
            Fact::Requested { .. } => {}
            _ if depth.contains_key(f.subject()) && !installed.contains(f.subject()) => asked.push(f),
            _ => blockers.push(f),
        }
    }
    asked.sort_by_key(|f| depth.get(f.subject()).copied().unwrap_or(usize::MAX));
    let mut groups: Vec<&str> = Vec::new();
    for f in &blockers {
        if !groups.contains(&f.subject()) {
            groups.push(f.subject());
        }
    }
    blockers.sort_by_key(|f| {
        let group = groups.iter().position(|g| *g == f.subject()).unwrap_or(usize::MAX);
        (group, !matches!(f, Fact::Installed { .. } | Fact::Removing { .. }))
    });
    if asked.is_empty() {
        // Nothing reached from the request is involved: start from the request itself.
        asked = facts.iter().filter(|f| matches!(f, Fact::Requested { .. })).collect();
        if asked.is_empty() {
            asked = std::mem::take(&mut blockers);
        }
    }

    let mut because = sentence(&asked);
    if !blockers.is_empty() {
        because.push_str(", but ");
        because.push_str(&sentence(&blockers));
    }
    let fix = fix_text(&facts);
    Explanation { headline: headline(requests), because, fix, facts }
}

/// Facts joined into clauses; a fact about the same extension as the one
/// before it drops the repeated name ("billing 0.3.0 is installed and needs
/// maggate ~1.4").
fn sentence(facts: &[&Fact]) -> String {
    let mut out = String::new();
    let mut previous: Option<&Fact> = None;
    for (i, f) in facts.iter().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == facts.len() { " and " } else { ", " });
        }
        let text = f.to_string();
        let merged = match (previous.and_then(subject_of), subject_of(f)) {
            (Some(before), Some(now)) if before == now => {
                text.strip_prefix(now.as_str()).map(|rest| rest.trim_start().to_owned())
            }
            _ => None,
        };
        out.push_str(&merged.unwrap_or(text));
        previous = Some(f);
    }
    out
}

/// The words a fact's sentence starts with when they name an extension
/// version ("billing 0.3.0").
fn subject_of(f: &Fact) -> Option<String> {
    match f {
        Fact::Installed { name, version } => Some(format!("{name} {version}")),
        Fact::Needs { versions, .. }
        | Fact::Accepts { versions, .. }
        | Fact::ConflictsWith { versions, .. } => Some(versions.clone()),
        _ => None,
    }
}

/// What would fix it: one hint per kind of obstacle, in the order met; a
/// different range for the request comes last.
fn fix_text(facts: &[Fact]) -> String {
    let mut hints: Vec<String> = Vec::new();
    let mut add = |h: String| {
        if !hints.contains(&h) {
            hints.push(h);
        }
    };
    for f in facts {
        match f {
            Fact::Installed { name, .. } => add(format!("upgrade or uninstall {name}")),
            Fact::Removing { name, .. } => add(format!("keep {name} installed")),
            Fact::ConflictsWith { who, name, .. } => add(format!("do not install {who} and {name} together")),
            Fact::Yanked { name, .. } => {
                add(format!("ask the publisher of {name} for a release that is not yanked"))
            }
            Fact::HostApi { name, host, .. } => {
                add(format!("ask the publisher of {name} for a release that supports this host's API {host}"))
            }
            Fact::NotPublished { name } => add(format!("publish {name} first")),
            Fact::NoneMatch { name, .. } => add(format!("publish a matching version of {name}")),
            Fact::Requested { .. } => {}
            Fact::Needs { .. } | Fact::Accepts { .. } | Fact::NothingLeft { .. } => {}
        }
    }
    for f in facts {
        if let Fact::Requested { name, .. } = f
            && !facts.iter().any(|g| matches!(g, Fact::NotPublished { name: n } if n == name))
        {
            hints.push(format!("ask for another version range of {name}"));
        }
    }
    if hints.is_empty() {
        hints.push("ask for other versions".to_owned());
    }
    match hints.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
        _ => hints.concat(),
    }
}
