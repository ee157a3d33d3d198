//! `Goals::check`, the one definition of a valid final set: each rule, broken
//! on its own, is refused with a message naming it.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use magflock_resolver::{Candidate, Goals, MemoryIndex, Project, Request};

fn set(members: &[Candidate]) -> BTreeMap<String, Candidate> {
    members.iter().map(|c| (c.name.clone(), c.clone())).collect()
}

#[test]
fn each_rule_of_a_valid_final_set_is_checked() {
    let lib1 = ext("lib 1.0.0");
    let lib2 = ext("lib 2.0.0");
    let app =
        ext("app 1.0.0").needs("lib", "^2").optional("metrics", "^2").conflicts("old", None, "same port");
    let old = ext("old 1.0.0");
    let metrics1 = ext("metrics 1.0.0");
    let gone = ext("gone 1.0.0");
    let yanked = ext("lib 2.1.0").yanked();
    let other_host = ext("lib 2.2.0").host("^0.9");
    let index =
        MemoryIndex::from_iter([lib1.clone(), lib2.clone(), app.clone(), old.clone(), metrics1.clone()]);
    let installed = vec![lib1.clone(), gone.clone()];
    let project = Project { installed: &installed, host_api: v(HOST_API) };
    let goals =
        Goals::new(&index, &project, &[Request::install("app", req("^1")), Request::uninstall("gone")])
            .unwrap();

    assert_eq!(goals.check(&set(&[app.clone(), lib2.clone()])), Ok(()));
    let broken = |members: &[Candidate]| goals.check(&set(members)).unwrap_err();
    assert_eq!(broken(std::slice::from_ref(&lib2)), "app must stay or be installed");
    assert_eq!(broken(std::slice::from_ref(&app)), "lib must stay or be installed");
    assert_eq!(broken(&[app.clone(), lib2.clone(), gone]), "gone is being removed");
    assert_eq!(broken(&[app.clone(), lib2.clone(), metrics1]), "app 1.0.0 needs metrics ^2, not 1.0.0");
    assert_eq!(broken(&[app.clone(), lib2.clone(), old]), "app 1.0.0 conflicts with old 1.0.0");
    assert_eq!(broken(&[app.clone(), lib1]), "app 1.0.0 needs lib ^2, not 1.0.0");
    assert_eq!(broken(&[app.clone(), yanked]), "lib 2.1.0 is yanked");
    assert_eq!(broken(&[app.clone(), other_host]), "lib 2.2.0 supports host API ^0.9, not 0.1.0");
    assert_eq!(broken(&[ext("app 2.0.0"), lib2]), "app 2.0.0 is not what was asked for, or is a downgrade");
}

#[test]
fn the_installed_version_may_stay_though_yanked_or_for_another_host() {
    let lib = ext("lib 1.0.0").yanked().host("^0.9");
    let installed = vec![lib.clone()];
    let project = Project { installed: &installed, host_api: v(HOST_API) };
    let goals = Goals::new(&MemoryIndex::new(), &project, &[]).unwrap();
    assert_eq!(goals.check(&set(&[lib])), Ok(()));
}
