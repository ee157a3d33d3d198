use crate::prelude::*;
use serde_json::json;

/// Audit records append and list newest first, per project or all.
async fn audit_append_and_list(store: &Store) -> Result<(), StoreError> {
    let a = store.audit("admin", "project.create", Some("demo"), Some("demo"), json!({"n": 1})).await?;
    let b = store
        .audit("key:abc", "extension.install", Some("demo"), Some("maggate"), json!({"caps": ["kv.read"]}))
        .await?;
    let c = store.audit("admin", "trusted_key.add", None, None, json!(null)).await?;

    assert_eq!(store.list_audit(None, 10).await?, [c.clone(), b.clone(), a.clone()]);
    assert_eq!(store.list_audit(Some("demo"), 10).await?, [b.clone(), a]);
    assert_eq!(store.list_audit(Some("demo"), 1).await?, std::slice::from_ref(&b));
    assert_eq!(store.list_audit(Some("other"), 10).await?, []);
    assert_eq!(b.detail, json!({"caps": ["kv.read"]}));
    assert_eq!(c.project_id, None);
    Ok(())
}
both_engines!(audit_append_and_list);
