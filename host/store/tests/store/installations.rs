use crate::prelude::*;

fn new_installation(project: &str, extension: &str, state: InstallationState) -> NewInstallation {
    NewInstallation {
        project_id: project.to_owned(),
        extension: extension.to_owned(),
        version: "1.0.0".to_owned(),
        state,
        manifest: format!("[extension]\nname = \"{extension}\"\n"),
        package_id: "ab".repeat(32),
        component_sha256: "cd".repeat(32),
        signer_key_id: "k1".to_owned(),
        requested_capabilities: vec!["kv.read".to_owned(), "kv.write".to_owned()],
        approved_capabilities: vec![],
    }
}

/// An installation reads back field for field, by (project, extension),
/// by id, and in the project's list.
async fn installation_round_trip(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    let new = new_installation("demo", "maggate", InstallationState::PendingApproval);
    let created = store.create_installation(&new).await?;
    assert_eq!(created.id.len(), 36, "a UUID");
    assert_eq!(created.state, InstallationState::PendingApproval);
    assert_eq!(created.requested_capabilities, ["kv.read", "kv.write"]);
    assert_eq!(created.created_at, created.updated_at);

    assert_eq!(store.get_installation("demo", "maggate").await?, Some(created.clone()));
    assert_eq!(store.get_installation_by_id(&created.id).await?, Some(created.clone()));
    assert_eq!(store.get_installation("demo", "other").await?, None);
    assert_eq!(store.get_installation_by_id("nope").await?, None);
    assert_eq!(store.list_installations("demo").await?, [created]);
    assert_eq!(store.list_installations("other").await?, []);
    Ok(())
}
both_engines!(installation_round_trip);

/// Only one installation per (project, extension) may be live; after
/// removal a new one is accepted, and the removed one stays by id.
async fn one_live_installation_per_extension(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    store.create_project("other").await?;
    let first =
        store.create_installation(&new_installation("demo", "maggate", InstallationState::Active)).await?;
    let err = store
        .create_installation(&new_installation("demo", "maggate", InstallationState::Active))
        .await
        .expect_err("second live installation");
    assert_eq!(err.code(), "conflict");
    // Same extension elsewhere, or another extension here, is fine.
    store.create_installation(&new_installation("other", "maggate", InstallationState::Active)).await?;
    store.create_installation(&new_installation("demo", "magcache", InstallationState::Active)).await?;

    assert!(store.mark_removed(&first.id).await?);
    assert!(!store.mark_removed(&first.id).await?, "already removed");
    assert_eq!(store.get_installation("demo", "maggate").await?, None);
    let second =
        store.create_installation(&new_installation("demo", "maggate", InstallationState::Active)).await?;
    assert_eq!(store.get_installation("demo", "maggate").await?.map(|i| i.id), Some(second.id.clone()));
    let removed = store.get_installation_by_id(&first.id).await?.expect("kept");
    assert_eq!(removed.state, InstallationState::Removed);

    // A removed installation cannot come back to life.
    assert!(!store.set_installation_state(&first.id, InstallationState::Active, None).await?);
    assert_eq!(store.list_installations("demo").await?.len(), 3);
    Ok(())
}
both_engines!(one_live_installation_per_extension);

/// State changes update approved capabilities only when given, and
/// `list_serving_installations` returns the active ones of every project.
async fn state_changes_and_serving_list(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    store.create_project("other").await?;
    let pending =
        store.create_installation(&new_installation("demo", "a", InstallationState::PendingApproval)).await?;
    let active =
        store.create_installation(&new_installation("other", "b", InstallationState::Active)).await?;
    store.create_installation(&new_installation("demo", "c", InstallationState::Suspended)).await?;

    let serving: Vec<String> = store.list_serving_installations().await?.into_iter().map(|i| i.id).collect();
    assert_eq!(serving, std::slice::from_ref(&active.id));

    let approved = vec!["kv.read".to_owned()];
    assert!(store.set_installation_state(&pending.id, InstallationState::Active, Some(&approved)).await?);
    let now_active = store.get_installation_by_id(&pending.id).await?.expect("exists");
    assert_eq!(now_active.state, InstallationState::Active);
    assert_eq!(now_active.approved_capabilities, approved);
    assert!(now_active.updated_at >= now_active.created_at);

    assert!(store.set_installation_state(&pending.id, InstallationState::Suspended, None).await?);
    let suspended = store.get_installation_by_id(&pending.id).await?.expect("exists");
    assert_eq!(suspended.state, InstallationState::Suspended);
    assert_eq!(suspended.approved_capabilities, approved, "kept when not given");

    assert!(!store.set_installation_state("nope", InstallationState::Active, None).await?);

    store.set_installation_state(&pending.id, InstallationState::Active, Some(&[])).await?;
    let serving = store.list_serving_installations().await?;
    assert_eq!(serving.len(), 2);
    assert!(serving.iter().all(|i| i.state == InstallationState::Active));
    assert_eq!(serving.iter().find(|i| i.id == pending.id).map(|i| i.approved_capabilities.len()), Some(0));
    Ok(())
}
both_engines!(state_changes_and_serving_list);

/// Installing into a missing project is `not_found`.
async fn installation_needs_project(store: &Store) -> Result<(), StoreError> {
    let err = store
        .create_installation(&new_installation("ghost", "a", InstallationState::Active))
        .await
        .expect_err("no project");
    assert_eq!(err.code(), "not_found");
    Ok(())
}
both_engines!(installation_needs_project);

fn check(step: &str, extension: &str, ok: bool) -> NewValidation {
    NewValidation {
        installation_id: None,
        project_id: "demo".to_owned(),
        extension: extension.to_owned(),
        version: "1.0.0".to_owned(),
        step: step.to_owned(),
        ok,
        detail: format!("{step} {}", if ok { "passed" } else { "failed" }),
    }
}

/// Validations list newest first, per extension, limited.
async fn validations_list(store: &Store) -> Result<(), StoreError> {
    let parse = store.add_validation(&check("parse", "maggate", true)).await?;
    let mut signature = check("signature", "maggate", false);
    signature.installation_id = Some("0190-fake".to_owned());
    let signature = store.add_validation(&signature).await?;
    let other = store.add_validation(&check("parse", "magcache", true)).await?;
    assert!(parse.id < signature.id && signature.id < other.id);

    let all = store.list_validations("demo", None, 10).await?;
    assert_eq!(all, [other.clone(), signature.clone(), parse.clone()]);
    assert_eq!(store.list_validations("demo", Some("maggate"), 10).await?, [signature.clone(), parse]);
    assert_eq!(store.list_validations("demo", Some("maggate"), 1).await?, std::slice::from_ref(&signature));
    assert_eq!(store.list_validations("other", None, 10).await?, []);
    assert!(!signature.ok);
    assert_eq!(signature.installation_id.as_deref(), Some("0190-fake"));
    Ok(())
}
both_engines!(validations_list);
