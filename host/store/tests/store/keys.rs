use crate::prelude::*;

/// Projects are created once, fetched by id and listed by id.
async fn projects_create_get_list(store: &Store) -> Result<(), StoreError> {
    let created = store.create_project("demo").await?;
    assert_eq!(created.id, "demo");
    assert!(created.created_at > 0);
    store.create_project("alpha").await?;

    assert_eq!(store.get_project("demo").await?, Some(created));
    assert_eq!(store.get_project("missing").await?, None);
    let ids: Vec<String> = store.list_projects().await?.into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["alpha", "demo"]);
    Ok(())
}
both_engines!(projects_create_get_list);

/// A second project with the same id is a conflict; a bad slug is invalid.
async fn projects_conflict_and_invalid(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    let err = store.create_project("demo").await.expect_err("duplicate");
    assert_eq!(err.code(), "conflict");
    for bad in ["", "Demo", "9lives", "a_b", &"a".repeat(64)] {
        let err = store.create_project(bad).await.expect_err("bad slug");
        assert_eq!(err.code(), "invalid", "{bad:?}");
    }
    Ok(())
}
both_engines!(projects_conflict_and_invalid);

/// Whether `secret` looks like `mf_<12 hex>_<43 base64url>`.
fn is_secret_format(secret: &str) -> bool {
    let Some(rest) = secret.strip_prefix("mf_") else {
        return false;
    };
    let (id, random) = rest.split_at(12.min(rest.len()));
    let Some(random) = random.strip_prefix('_') else {
        return false;
    };
    id.len() == 12
        && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && random.len() == 43
        && random.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new key's secret has the documented shape and authenticates; wrong,
/// malformed and revoked secrets do not.
async fn api_key_authentication(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    let (key, secret) = store.create_api_key("demo", Some("ci")).await?;
    assert!(is_secret_format(&secret), "{secret}");
    assert_eq!(key.id.len(), 12);
    assert_eq!(key.prefix, format!("mf_{}", key.id));
    assert!(secret.starts_with(&key.prefix));
    assert_eq!(key.label.as_deref(), Some("ci"));
    assert_eq!(key.revoked_at, None);

    assert_eq!(store.authenticate_api_key(&secret).await?, Some(key.clone()));

    // Same id, different random part.
    let mut wrong = secret.clone();
    let swapped = if &wrong[20..21] == "A" { "B" } else { "A" };
    wrong.replace_range(20..21, swapped);
    assert!(is_secret_format(&wrong));
    assert_eq!(store.authenticate_api_key(&wrong).await?, None);

    // Unknown id.
    let unknown = format!("mf_000000000000{}", &secret[15..]);
    assert_eq!(store.authenticate_api_key(&unknown).await?, None);

    for malformed in [
        "",
        "mf_",
        "not-a-key",
        &secret[..secret.len() - 1],
        &format!("{secret}x"),
        &secret.replacen("mf_", "MF_", 1),
        &secret.to_uppercase(),
    ] {
        assert_eq!(store.authenticate_api_key(malformed).await?, None, "{malformed:?}");
    }

    assert!(store.revoke_api_key("demo", &key.id).await?);
    assert_eq!(store.authenticate_api_key(&secret).await?, None);
    Ok(())
}
both_engines!(api_key_authentication);

/// Keys list per project with revocation times; revoking is scoped to the
/// project and keeps the first revocation time.
async fn api_key_listing_and_revocation(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    store.create_project("other").await?;
    let (first, _) = store.create_api_key("demo", None).await?;
    let (second, second_secret) = store.create_api_key("demo", Some("two")).await?;
    let (foreign, _) = store.create_api_key("other", None).await?;

    let listed = store.list_api_keys("demo").await?;
    let mut ids: Vec<&str> = listed.iter().map(|k| k.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = [first.id.as_str(), second.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    assert!(!store.revoke_api_key("demo", &foreign.id).await?, "other project's key");
    assert!(!store.revoke_api_key("demo", "ffffffffffff").await?, "unknown key");
    assert!(store.revoke_api_key("demo", &first.id).await?);
    let revoked_at =
        store.list_api_keys("demo").await?.into_iter().find(|k| k.id == first.id).and_then(|k| k.revoked_at);
    assert!(revoked_at.is_some());
    assert!(store.revoke_api_key("demo", &first.id).await?, "revoking twice still finds it");
    let again =
        store.list_api_keys("demo").await?.into_iter().find(|k| k.id == first.id).and_then(|k| k.revoked_at);
    assert_eq!(again, revoked_at);

    assert!(store.authenticate_api_key(&second_secret).await?.is_some());
    assert_eq!(store.list_api_keys("other").await?, [foreign]);
    Ok(())
}
both_engines!(api_key_listing_and_revocation);

/// A key for a missing project is `not_found`.
async fn api_key_for_missing_project(store: &Store) -> Result<(), StoreError> {
    let err = store.create_api_key("ghost", None).await.expect_err("no project");
    assert_eq!(err.code(), "not_found");
    Ok(())
}
both_engines!(api_key_for_missing_project);

/// Trusted keys are added once, listed with revocation, and revoked.
async fn trusted_keys_lifecycle(store: &Store) -> Result<(), StoreError> {
    let added = store.add_trusted_key("k2", "ed25519:BBBB", Some("release")).await?;
    store.add_trusted_key("k1", "ed25519:AAAA", None).await?;
    let err = store.add_trusted_key("k2", "ed25519:CCCC", None).await.expect_err("dup");
    assert_eq!(err.code(), "conflict");

    assert_eq!(store.get_trusted_key("k2").await?, Some(added.clone()));
    assert_eq!(store.get_trusted_key("nope").await?, None);

    assert!(store.revoke_trusted_key("k1").await?);
    assert!(!store.revoke_trusted_key("nope").await?);
    let listed = store.list_trusted_keys().await?;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].key_id, "k1");
    assert!(listed[0].revoked_at.is_some());
    assert_eq!(listed[1], added);
    Ok(())
}
both_engines!(trusted_keys_lifecycle);
