//! Table tests: a registry, a project and requests → the plan, or the failure
//! with its code and explanation (insta snapshots).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use magflock_resolver::{MemoryIndex, Reason, Request, Step};

/// The registry the magrag/maggate/billing cases share.
fn gateway_registry() -> MemoryIndex {
    MemoryIndex::from_iter([
        ext("maggate 1.4.0").caps(&["logging"]),
        ext("maggate 1.5.0").caps(&["logging"]),
        ext("maggate 2.0.0").caps(&["logging", "kv"]),
        ext("maggate 2.1.0").caps(&["logging", "kv"]),
        ext("billing 0.3.0").needs("maggate", "~1.4"),
        ext("magrag 1.1.0").needs("maggate", "^1.4"),
        ext("magrag 1.2.0").needs("maggate", "^2"),
    ])
}

fn snap(name: &str, r: &Result<magflock_resolver::Plan, magflock_resolver::Failure>) {
    insta::assert_snapshot!(name, outcome(r));
}

#[test]
fn diamond_installs_the_shared_dependency_once_at_the_highest_version_both_accept() {
    let index = MemoryIndex::from_iter([
        ext("app 1.0.0").needs("left", "^1").needs("right", "^1").caps(&["kv"]),
        ext("left 1.0.0").needs("base", "^1.1"),
        ext("right 1.0.0").needs("base", ">=1.0, <1.3"),
        ext("base 1.0.0"),
        ext("base 1.1.0"),
        ext("base 1.2.0"),
        ext("base 1.3.0"),
    ]);
    let r = run(&index, &[], &[Request::install("app", req("^1"))]);
    let p = r.as_ref().unwrap();
    assert_eq!(p.final_set["base"], v("1.2.0"));
    assert_eq!(p.steps.first().map(Step::name), Some("base"), "dependencies come first");
    assert_eq!(p.steps.last().map(Step::name), Some("app"));
    snap("diamond", &r);
}

#[test]
fn diamond_with_disjoint_ranges_is_unsatisfiable_and_names_both_sides() {
    let index = MemoryIndex::from_iter([
        ext("app 1.0.0").needs("left", "^1").needs("right", "^1"),
        ext("left 1.0.0").needs("base", "^1"),
        ext("right 1.0.0").needs("base", "^2"),
        ext("base 1.0.0"),
        ext("base 2.0.0"),
    ]);
    let r = run(&index, &[], &[Request::install("app", req("^1"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "dependency_unsatisfiable");
    snap("diamond_disjoint", &r);
}

#[test]
fn installed_extension_blocks_an_upgrade_and_the_explanation_names_it() {
    let index = gateway_registry();
    let r = run(
        &index,
        &["maggate 1.4.0", "billing 0.3.0", "magrag 1.1.0"],
        &[Request::upgrade("magrag", req("^1.2"))],
    );
    let f = r.as_ref().unwrap_err();
    assert_eq!(f.code(), "dependency_unsatisfiable");
    let text = f.to_string();
    assert!(text.contains("magrag 1.2.0 needs maggate ^2"), "{text}");
    assert!(text.contains("billing 0.3.0 is installed and needs maggate ~1.4"), "{text}");
    snap("installed_blocks_upgrade", &r);
}

#[test]
fn install_of_new_extension_upgrades_an_installed_dependency_and_says_why() {
    let index = gateway_registry();
    let r = run(&index, &["maggate 1.4.0"], &[Request::install("magrag", req("^1.2"))]);
    let p = r.as_ref().unwrap();
    assert_eq!(
        p.steps[0],
        Step::Upgrade {
            name: "maggate".into(),
            from: v("1.4.0"),
            to: v("2.1.0"),
            capabilities: vec!["logging".into(), "kv".into()],
            new_capabilities: vec!["kv".into()],
            reason: Reason::NeededBy(vec!["magrag".into()]),
        }
    );
    assert_eq!(p.capabilities_to_approve(), vec![("maggate", &["kv".to_owned()][..])]);
    snap("upgrade_needed_dependency", &r);
}

#[test]
fn installed_version_is_kept_when_it_fits() {
    let index = gateway_registry();
    let r = run(&index, &["maggate 1.4.0"], &[Request::install("billing", req("*"))]);
    let p = r.as_ref().unwrap();
    assert_eq!(p.final_set["maggate"], v("1.4.0"));
    snap("keep_installed", &r);
}

#[test]
fn install_of_an_installed_version_within_the_range_is_no_step() {
    let index = gateway_registry();
    let r = run(&index, &["maggate 1.4.0"], &[Request::install("maggate", req("^1"))]);
    assert!(r.as_ref().unwrap().is_empty());
    snap("install_already_installed", &r);
}

#[test]
fn upgrade_moves_to_the_highest_version_that_fits_the_rest() {
    let index = gateway_registry();
    let r = run(&index, &["maggate 1.4.0", "billing 0.3.0"], &[Request::upgrade("maggate", req("*"))]);
    let p = r.as_ref().unwrap();
    assert_eq!(p.final_set["maggate"], v("1.4.0"), "billing keeps maggate on ~1.4");
    let r = run(&index, &["maggate 1.4.0"], &[Request::upgrade("maggate", req("*"))]);
    assert_eq!(r.as_ref().unwrap().final_set["maggate"], v("2.1.0"));
    snap("upgrade_to_highest", &r);
}

#[test]
fn declared_conflict_refuses_the_install_and_gives_the_reason() {
    let index = MemoryIndex::from_iter([
        ext("newgate 1.0.0").conflicts("legacy-gate", Some("<2"), "both serve /rest"),
        ext("legacy-gate 1.5.0"),
    ]);
    let r = run(&index, &["legacy-gate 1.5.0"], &[Request::install("newgate", req("^1"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "conflict");
    snap("conflict", &r);
}

#[test]
fn conflict_declared_by_the_installed_side_binds_too() {
    let index = MemoryIndex::from_iter([
        ext("legacy-gate 1.5.0").conflicts("newgate", None, "both serve /rest"),
        ext("newgate 1.0.0"),
    ]);
    let r = run(&index, &["legacy-gate 1.5.0"], &[Request::install("newgate", req("^1"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "conflict");
    snap("conflict_reverse", &r);
}

#[test]
fn conflict_is_resolved_by_upgrading_the_installed_side_when_a_version_allows() {
    let index = MemoryIndex::from_iter([
        ext("newgate 1.0.0").conflicts("legacy-gate", Some("<2"), "both serve /rest"),
        ext("legacy-gate 1.5.0"),
        ext("legacy-gate 2.0.0"),
    ]);
    let r = run(&index, &["legacy-gate 1.5.0"], &[Request::install("newgate", req("^1"))]);
    assert_eq!(r.as_ref().unwrap().final_set["legacy-gate"], v("2.0.0"));
    snap("conflict_upgrade", &r);
}

#[test]
fn dependency_cycle_is_refused_naming_the_cycle() {
    let index = MemoryIndex::from_iter([
        ext("alpha 1.0.0").needs("beta", "^1"),
        ext("beta 1.0.0").needs("gamma", "^1"),
        ext("gamma 1.0.0").needs("alpha", "^1"),
    ]);
    let r = run(&index, &[], &[Request::install("beta", req("*"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "dependency_cycle");
    snap("cycle", &r);
}

#[test]
fn missing_dependency_is_named_with_who_needs_it() {
    let index = MemoryIndex::from_iter([ext("app 1.0.0").needs("ghost", "^1")]);
    let r = run(&index, &[], &[Request::install("app", req("*"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "dependency_missing");
    snap("missing_dependency", &r);
}

#[test]
fn request_for_an_unpublished_extension_is_missing() {
    let index = MemoryIndex::new();
    let r = run(&index, &[], &[Request::install("ghost", req("*"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "dependency_missing");
    snap("missing_request", &r);
}

#[test]
fn no_version_within_the_requested_range() {
    let index = MemoryIndex::from_iter([ext("app 1.0.0")]);
    let r = run(&index, &[], &[Request::install("app", req("^3"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "dependency_unsatisfiable");
    snap("none_match", &r);
}

#[test]
fn host_api_mismatch_names_the_supported_range() {
    let index = MemoryIndex::from_iter([
        ext("app 1.0.0").needs("engine", "^2"),
        ext("engine 2.0.0").host("^0.2"),
        ext("engine 2.1.0").host(">=0.3"),
    ]);
    let r = run(&index, &[], &[Request::install("app", req("*"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "host_api_mismatch");
    snap("host_mismatch", &r);
}

#[test]
fn only_yanked_versions_match() {
    let index =
        MemoryIndex::from_iter([ext("app 1.0.0"), ext("app 2.0.0").yanked(), ext("app 2.1.0").yanked()]);
    let r = run(&index, &[], &[Request::install("app", req("^2"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "only_yanked");
    snap("only_yanked", &r);
}

#[test]
fn installed_yanked_version_may_stay_but_is_never_chosen_anew() {
    let index = MemoryIndex::from_iter([
        ext("lib 1.0.0").yanked(),
        ext("lib 1.1.0").yanked(),
        ext("app 1.0.0").needs("lib", "^1"),
    ]);
    let r = run(&index, &["lib 1.0.0"], &[Request::install("app", req("*"))]);
    assert_eq!(r.as_ref().unwrap().final_set["lib"], v("1.0.0"));
    snap("installed_yanked_stays", &r);
}

#[test]
fn uninstall_with_dependents_is_refused_naming_each_and_its_range() {
    let index = gateway_registry();
    let r =
        run(&index, &["maggate 1.4.0", "billing 0.3.0", "magrag 1.1.0"], &[Request::uninstall("maggate")]);
    assert_eq!(r.as_ref().unwrap_err().code(), "dependents_exist");
    snap("uninstall_dependents", &r);
}

#[test]
fn uninstall_with_cascade_removes_dependents_first() {
    let index = gateway_registry();
    let r = run(
        &index,
        &["maggate 1.4.0", "billing 0.3.0", "magrag 1.1.0"],
        &[Request::Uninstall { name: "maggate".into(), cascade: true }],
    );
    let p = r.as_ref().unwrap();
    assert_eq!(p.steps.last().map(Step::name), Some("maggate"));
    assert!(p.final_set.is_empty());
    snap("uninstall_cascade", &r);
}

#[test]
fn uninstall_of_an_optional_dependency_is_allowed() {
    let index = MemoryIndex::from_iter([ext("app 1.0.0").optional("metrics", "^1"), ext("metrics 1.0.0")]);
    let r = run(&index, &["app 1.0.0", "metrics 1.0.0"], &[Request::uninstall("metrics")]);
    assert_eq!(r.as_ref().unwrap().final_set.keys().collect::<Vec<_>>(), vec!["app"]);
}

#[test]
fn optional_dependency_is_not_installed_but_constrains_when_present() {
    let index = MemoryIndex::from_iter([
        ext("app 1.0.0").optional("metrics", "^2"),
        ext("metrics 1.0.0"),
        ext("metrics 2.0.0"),
    ]);
    let r = run(&index, &[], &[Request::install("app", req("*"))]);
    assert!(!r.as_ref().unwrap().final_set.contains_key("metrics"));
    let r = run(&index, &["metrics 1.0.0"], &[Request::install("app", req("*"))]);
    assert_eq!(r.as_ref().unwrap().final_set["metrics"], v("2.0.0"));
    snap("optional_constrains", &r);
}

#[test]
fn uninstall_of_something_not_installed() {
    let r = run(&MemoryIndex::new(), &[], &[Request::uninstall("ghost")]);
    assert_eq!(r.as_ref().unwrap_err().code(), "not_installed");
    snap("not_installed", &r);
}

#[test]
fn downgrade_is_refused_unless_allowed() {
    let index = gateway_registry();
    let r = run(&index, &["maggate 2.0.0"], &[Request::install("maggate", req("^1"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "downgrade_refused");
    snap("downgrade_refused", &r);
    let r = run(
        &index,
        &["maggate 2.0.0"],
        &[Request::Install { name: "maggate".into(), req: req("^1"), allow_downgrade: true }],
    );
    assert_eq!(r.as_ref().unwrap().final_set["maggate"], v("1.5.0"));
    snap("downgrade_allowed", &r);
}

#[test]
fn uninstall_of_a_dependency_of_a_requested_install_is_explained() {
    let index = gateway_registry();
    let r = run(
        &index,
        &["maggate 1.4.0"],
        &[Request::uninstall("maggate"), Request::install("billing", req("*"))],
    );
    assert_eq!(r.as_ref().unwrap_err().code(), "dependency_unsatisfiable");
    snap("uninstall_and_install", &r);
}

#[test]
fn dependency_on_itself_is_a_cycle_of_one() {
    let index = MemoryIndex::from_iter([ext("loop 1.0.0").needs("loop", "^1")]);
    let r = run(&index, &[], &[Request::install("loop", req("*"))]);
    let f = r.unwrap_err();
    assert_eq!(f.code(), "dependency_cycle");
    assert!(f.to_string().contains("loop → loop"), "{f}");
}

#[test]
fn explanations_are_the_same_on_every_run() {
    let index = gateway_registry();
    let installed = ["maggate 1.4.0", "billing 0.3.0", "magrag 1.1.0"];
    let once = outcome(&run(&index, &installed, &[Request::upgrade("magrag", req("^1.2"))]));
    for _ in 0..5 {
        assert_eq!(outcome(&run(&index, &installed, &[Request::upgrade("magrag", req("^1.2"))])), once);
    }
}

#[test]
fn cascade_removes_transitive_dependents_and_keeps_unrelated_extensions() {
    let index = MemoryIndex::from_iter([
        ext("base 1.0.0"),
        ext("mid 1.0.0").needs("base", "^1"),
        ext("top 1.0.0").needs("mid", "^1"),
        ext("other 1.0.0"),
    ]);
    let r = run(
        &index,
        &["base 1.0.0", "mid 1.0.0", "top 1.0.0", "other 1.0.0"],
        &[Request::Uninstall { name: "base".into(), cascade: true }],
    );
    let p = r.unwrap();
    let order: Vec<&str> = p.steps.iter().map(Step::name).collect();
    assert_eq!(order, vec!["top", "mid", "base"]);
    assert_eq!(p.steps[0].reason(), &Reason::Cascade { of: "mid".into() });
    assert_eq!(p.final_set.keys().collect::<Vec<_>>(), vec!["other"]);
}

#[test]
fn versions_that_declare_the_same_range_are_told_together() {
    let index = MemoryIndex::from_iter([
        ext("maggate 1.4.0"),
        ext("maggate 1.4.2"),
        ext("maggate 2.0.0"),
        ext("billing 0.3.0").needs("maggate", "~1.4"),
        ext("billing 0.3.1").needs("maggate", "~1.4"),
        ext("magrag 1.1.0").needs("maggate", "^1.4"),
        ext("magrag 1.2.0").needs("maggate", "^2"),
        ext("magrag 1.3.0").needs("maggate", "^2"),
    ]);
    let r = run(
        &index,
        &["maggate 1.4.0", "billing 0.3.0", "magrag 1.1.0"],
        &[Request::upgrade("magrag", req("^1.2"))],
    );
    let text = r.as_ref().unwrap_err().to_string();
    assert!(text.contains("magrag 1.2.0 and 1.3.0 need maggate ^2"), "{text}");
    snap("several_versions", &r);
}

#[test]
fn chain_ending_in_a_yanked_version_is_told_from_the_request_down() {
    let index = MemoryIndex::from_iter([
        ext("app 1.0.0").needs("lib", "^1"),
        ext("lib 1.0.0").needs("core", "^2"),
        ext("core 1.0.0"),
        ext("core 2.0.0").yanked(),
    ]);
    let r = run(&index, &[], &[Request::install("app", req("*"))]);
    assert_eq!(r.as_ref().unwrap_err().code(), "only_yanked");
    snap("yanked_chain", &r);
}
