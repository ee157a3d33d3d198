use crate::prelude::*;

fn install(project: &str, extension: &str, version: &str) -> NewInstallation {
    NewInstallation {
        project_id: project.to_owned(),
        extension: extension.to_owned(),
        version: version.to_owned(),
        state: InstallationState::PendingApproval,
        manifest: String::new(),
        package_id: "ab".repeat(32),
        component_sha256: "cd".repeat(32),
        signer_key_id: "k1".to_owned(),
        requested_capabilities: vec![],
        approved_capabilities: vec![],
    }
}

fn planned(project: &str, extension: &str, version: &str, depends_on: &[&str]) -> PlannedInstall {
    PlannedInstall {
        installation: install(project, extension, version),
        dependencies: depends_on
            .iter()
            .map(|d| DependencyEdge {
                depends_on: (*d).to_owned(),
                version_range: "^1".to_owned(),
                optional: false,
            })
            .collect(),
        conflicts: vec![ConflictEdge {
            conflicts_with: "rival".to_owned(),
            version_range: None,
            reason: "both serve /rest".to_owned(),
        }],
    }
}

async fn live(store: &Store, project: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut v: Vec<_> = store
        .list_installations(project)
        .await?
        .into_iter()
        .filter(|i| i.state == InstallationState::Active)
        .map(|i| (i.extension, i.version))
        .collect();
    v.sort();
    Ok(v)
}

/// A plan's rows and edges land together; one that fails halfway leaves
/// nothing of itself behind.
async fn a_plan_applies_all_or_nothing(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    let created = store
        .apply_plan(&PlanWrite {
            removes: vec![],
            installs: vec![planned("demo", "base", "1.0.0", &[]), planned("demo", "top", "1.0.0", &["base"])],
        })
        .await?;
    assert_eq!(created.len(), 2);
    assert!(created.iter().all(|i| i.state == InstallationState::Active));
    let top = &created[1];
    let deps = store.installation_dependencies(&top.id).await?;
    assert_eq!(deps.iter().map(|d| d.depends_on.as_str()).collect::<Vec<_>>(), ["base"]);
    assert_eq!(store.installation_conflicts(&top.id).await?[0].reason, "both serve /rest");

    // Upgrading base and installing a second `top` fails on the slot:
    // base's removal and new row roll back with it.
    let err = store
        .apply_plan(&PlanWrite {
            removes: vec![created[0].id.clone()],
            installs: vec![planned("demo", "base", "2.0.0", &[]), planned("demo", "top", "1.0.1", &[])],
        })
        .await
        .expect_err("a second serving top");
    assert_eq!(err.code(), "conflict");
    assert_eq!(live(store, "demo").await?, [("base".into(), "1.0.0".into()), ("top".into(), "1.0.0".into())]);

    // A removal of something no longer live fails the plan too.
    assert!(store.mark_removed(&top.id).await?);
    let err = store
        .apply_plan(&PlanWrite {
            removes: vec![top.id.clone()],
            installs: vec![planned("demo", "x", "1.0.0", &[])],
        })
        .await
        .expect_err("top is already removed");
    assert_eq!(err.code(), "conflict");
    assert_eq!(live(store, "demo").await?, [("base".into(), "1.0.0".into())]);
    Ok(())
}
both_engines!(a_plan_applies_all_or_nothing);

/// An upgrade waits as a pending row beside the serving one, is promoted in
/// one step, and a rollback restores the replaced row.
async fn promote_and_roll_back(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    let old = store.create_installation(&install("demo", "base", "1.0.0")).await?;
    assert!(store.promote_installation(&old.id, None, &[]).await?);
    let new = store.create_installation(&install("demo", "base", "2.0.0")).await?;
    // Serving first, pending second.
    assert_eq!(store.get_installation("demo", "base").await?.map(|i| i.id), Some(old.id.clone()));
    assert_eq!(store.get_pending_installation("demo", "base").await?.map(|i| i.id), Some(new.id.clone()));
    // A second pending version is refused.
    let err = store.create_installation(&install("demo", "base", "3.0.0")).await.expect_err("two pending");
    assert_eq!(err.code(), "conflict");

    assert!(store.promote_installation(&new.id, Some(&old.id), &["kv".to_owned()]).await?);
    assert_eq!(live(store, "demo").await?, [("base".into(), "2.0.0".into())]);
    let serving = store.get_installation("demo", "base").await?.expect("serving");
    assert_eq!(serving.approved_capabilities, ["kv"]);
    // Promoting against a replaced row that is gone changes nothing.
    assert!(!store.promote_installation(&new.id, Some(&old.id), &[]).await?);

    assert!(store.rollback_installation(&old.id, &new.id).await?);
    assert_eq!(live(store, "demo").await?, [("base".into(), "1.0.0".into())]);
    assert!(!store.rollback_installation(&old.id, &new.id).await?, "already rolled back");
    Ok(())
}
both_engines!(promote_and_roll_back);
