//! Every `tests/manifests/good-*.toml` parses (and survives a canonical round
//! trip); every `bad-*.toml` is refused with the snapshotted message.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use magflock_registry::Manifest;

fn manifest_files(prefix: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/manifests");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_owned();
            stem.starts_with(prefix).then(|| (stem, std::fs::read_to_string(&p).unwrap()))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn good_manifests_parse_and_round_trip_through_canonical_toml() {
    let files = manifest_files("good-");
    assert!(files.len() >= 3);
    for (name, text) in files {
        let m = Manifest::from_toml_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let canonical = m.to_canonical_toml();
        let again = Manifest::from_toml_str(&canonical)
            .unwrap_or_else(|e| panic!("{name} canonical: {e}\n{canonical}"));
        assert_eq!(m, again, "{name}");
        assert_eq!(again.to_canonical_toml(), canonical, "{name}");
    }
}

#[test]
fn bad_manifests_are_refused_with_a_message_naming_field_and_reason() {
    let files = manifest_files("bad-");
    assert!(files.len() >= 12);
    for (name, text) in files {
        let err = match Manifest::from_toml_str(&text) {
            Ok(_) => panic!("{name} was accepted"),
            Err(e) => e,
        };
        insta::assert_snapshot!(name, format!("code: {}\n{err}", err.code()));
    }
}

#[test]
fn full_manifest_resolves_resources_capabilities_and_endpoints() {
    let text = manifest_files("good-full").pop().map(|(_, t)| t).unwrap();
    let m = Manifest::from_toml_str(&text).unwrap();
    use magflock_registry::Capability;
    assert_eq!(
        m.capabilities().into_iter().collect::<Vec<_>>(),
        vec![Capability::Logging, Capability::Config, Capability::Kv]
    );
    let r = m.resources();
    assert_eq!(r.fuel, 50_000_000);
    assert_eq!(r.memory_bytes, 512 * 1024);
    assert_eq!(r.timeout, std::time::Duration::from_millis(1000));
    assert_eq!(r.concurrency, 16);
    let pick = |method, path| m.match_endpoint(method, path).map(|e| e.pattern());
    assert_eq!(pick("GET", "/todos/stats"), Some("/todos/stats"));
    assert_eq!(pick("POST", "/todos/stats"), Some("/todos/*"));
    assert_eq!(pick("PUT", "/todos/1"), Some("/*"));
    assert_eq!(pick("GET", "/"), Some("/*"));
    assert_eq!(m.config().get("list.max-items").map(String::as_str), Some("100"));
}

#[test]
fn deeply_nested_values_are_refused_without_overflowing_the_stack() {
    for open in ["[", "{a="] {
        let text = format!("name = {}", open.repeat(60_000 / open.len()));
        let text = &text[..text.len().min(64 * 1024)];
        assert!(Manifest::from_toml_str(text).is_err());
    }
}

#[test]
fn dependencies_and_conflicts_are_typed_and_sorted_by_name() {
    let text = manifest_files("good-dependencies").pop().map(|(_, t)| t).unwrap();
    let m = Manifest::from_toml_str(&text).unwrap();
    let deps: Vec<(&str, String, bool)> =
        m.dependencies().iter().map(|d| (d.name().as_str(), d.req().to_string(), d.optional())).collect();
    assert_eq!(
        deps,
        vec![
            ("billing", "~0.3".to_owned(), false),
            ("events-lib", ">=0.3, <0.5".to_owned(), true),
            ("maggate", "^1.2".to_owned(), false),
        ]
    );
    let conflicts: Vec<(&str, Option<String>, &str)> = m
        .conflicts()
        .iter()
        .map(|c| (c.name().as_str(), c.req().map(ToString::to_string), c.reason()))
        .collect();
    assert_eq!(
        conflicts,
        vec![
            ("legacy-gate", Some("<2".to_owned()), "both serve /rest"),
            ("old-hello", None, "the \"hello\" it replaces"),
        ]
    );
}

#[test]
fn a_manifest_without_dependencies_has_none() {
    let text = manifest_files("good-minimal").pop().map(|(_, t)| t).unwrap();
    let m = Manifest::from_toml_str(&text).unwrap();
    assert!(m.dependencies().is_empty() && m.conflicts().is_empty());
    assert!(!m.to_canonical_toml().contains("[dependencies]"));
}

#[test]
fn database_grant_keeps_access_and_sorted_tables_and_star_means_all() {
    use magflock_registry::{Capability, DatabaseAccess, DatabaseTables};
    let text = manifest_files("good-database").into_iter().find(|(n, _)| n == "good-database").unwrap().1;
    let m = Manifest::from_toml_str(&text).unwrap();
    assert!(m.requests(Capability::Database));
    let g = m.database().unwrap();
    assert_eq!(g.access, DatabaseAccess::ReadWrite);
    assert_eq!(g.tables, DatabaseTables::Only(vec!["lists".into(), "todos".into()]));
    assert!(g.covers("todos") && !g.covers("Todos") && !g.covers("secrets"));

    let all = manifest_files("good-database-all").pop().unwrap().1;
    let g = Manifest::from_toml_str(&all).unwrap().database().cloned().unwrap();
    assert_eq!((g.access, g.tables.clone()), (DatabaseAccess::Read, DatabaseTables::All));
    assert!(!g.writes());
}

#[test]
fn events_grant_keeps_sorted_topics_and_matches_them_exactly() {
    use magflock_registry::Capability;
    let text = manifest_files("good-events").pop().unwrap().1;
    let m = Manifest::from_toml_str(&text).unwrap();
    assert!(m.requests(Capability::Events));
    let g = m.events().unwrap();
    assert_eq!(g.publish, vec!["db.changes".to_owned()]);
    assert_eq!(g.subscribe, vec!["db.changes".to_owned(), "orders.created".to_owned()]);
    assert!(g.publishes("db.changes") && !g.publishes("db") && !g.publishes("db.changes.x"));
    assert!(g.subscribes("orders.created") && !g.subscribes("orders"));
    let again = Manifest::from_toml_str(&m.to_canonical_toml()).unwrap();
    assert_eq!(again, m);
}
