use crate::prelude::*;

/// Values are set, replaced, read and deleted per (project, extension).
async fn kv_get_set_delete_scoped(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    store.create_project("other").await?;
    assert_eq!(store.kv_get("demo", "a", "k").await?, None);
    store.kv_set("demo", "a", "k", b"one").await?;
    store.kv_set("demo", "a", "k", b"two").await?;
    store.kv_set("demo", "b", "k", b"b's").await?;
    store.kv_set("other", "a", "k", b"other's").await?;
    let binary = [0u8, 255, 0, 128, 10];
    store.kv_set("demo", "a", "bin", &binary).await?;
    store.kv_set("demo", "a", "empty", b"").await?;

    assert_eq!(store.kv_get("demo", "a", "k").await?.as_deref(), Some(&b"two"[..]));
    assert_eq!(store.kv_get("demo", "b", "k").await?.as_deref(), Some(&b"b's"[..]));
    assert_eq!(store.kv_get("other", "a", "k").await?.as_deref(), Some(&b"other's"[..]));
    assert_eq!(store.kv_get("demo", "a", "bin").await?.as_deref(), Some(&binary[..]));
    assert_eq!(store.kv_get("demo", "a", "empty").await?.as_deref(), Some(&b""[..]));

    assert!(store.kv_delete("demo", "a", "k").await?);
    assert!(!store.kv_delete("demo", "a", "k").await?);
    assert_eq!(store.kv_get("demo", "a", "k").await?, None);
    assert_eq!(store.kv_get("demo", "b", "k").await?.as_deref(), Some(&b"b's"[..]));
    Ok(())
}
both_engines!(kv_get_set_delete_scoped);

/// Prefixes are literal (`%` and `_` match only themselves); keys come
/// back in byte order, limited.
async fn kv_prefix_listing_is_literal(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    for key in ["a%b", "a%c", "axb", "a_b", "aab", "a", "b", "a%", "é", "e\u{301}", "Z"] {
        store.kv_set("demo", "ext", key, b"v").await?;
    }
    store.kv_set("demo", "other-ext", "a%z", b"v").await?;

    assert_eq!(store.kv_list_keys("demo", "ext", "a%", 100).await?, ["a%", "a%b", "a%c"]);
    assert_eq!(store.kv_list_keys("demo", "ext", "a_", 100).await?, ["a_b"]);
    assert_eq!(
        store.kv_list_keys("demo", "ext", "a", 100).await?,
        ["a", "a%", "a%b", "a%c", "a_b", "aab", "axb"]
    );
    assert_eq!(store.kv_list_keys("demo", "ext", "a", 2).await?, ["a", "a%"]);
    assert_eq!(store.kv_list_keys("demo", "ext", "é", 100).await?, ["é"]);
    assert_eq!(store.kv_list_keys("demo", "ext", "nope", 100).await?, Vec::<String>::new());
    // Byte order: uppercase before lowercase, ASCII before multi-byte.
    assert_eq!(
        store.kv_list_keys("demo", "ext", "", 100).await?,
        ["Z", "a", "a%", "a%b", "a%c", "a_b", "aab", "axb", "b", "e\u{301}", "é"]
    );
    Ok(())
}
both_engines!(kv_prefix_listing_is_literal);

/// Usage counts keys and key+value bytes; clear empties one extension only.
async fn kv_usage_and_clear(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    assert_eq!(store.kv_usage("demo", "a").await?, (0, 0));
    store.kv_set("demo", "a", "k1", b"12345").await?;
    store.kv_set("demo", "a", "é", b"123").await?;
    store.kv_set("demo", "b", "k", b"1").await?;
    assert_eq!(store.kv_usage("demo", "a").await?, (2, 2 + 5 + 2 + 3));

    assert_eq!(store.kv_clear("demo", "a").await?, 2);
    assert_eq!(store.kv_usage("demo", "a").await?, (0, 0));
    assert_eq!(store.kv_usage("demo", "b").await?, (1, 2));
    assert_eq!(store.kv_clear("demo", "a").await?, 0);
    Ok(())
}
both_engines!(kv_usage_and_clear);

/// NUL in a key is invalid; a missing project is not found.
async fn kv_rejects_nul_and_unknown_project(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    let err = store.kv_set("demo", "a", "k\0", b"v").await.expect_err("NUL key");
    assert_eq!(err.code(), "invalid");
    assert_eq!(store.kv_get("demo", "a", "k\0").await?, None);
    assert!(!store.kv_delete("demo", "a", "k\0").await?);
    assert_eq!(store.kv_list_keys("demo", "a", "\0", 10).await?, Vec::<String>::new());
    let err = store.kv_set("ghost", "a", "k", b"v").await.expect_err("no project");
    assert_eq!(err.code(), "not_found");
    Ok(())
}
both_engines!(kv_rejects_nul_and_unknown_project);

/// Query policies are kept per project and replaced whole.
async fn query_policies_are_kept_per_project(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    store.create_project("other").await?;
    assert!(store.list_query_policies().await?.is_empty());
    let p = StoredQueryPolicy { statement_timeout_ms: 100, max_rows: 5, max_bytes: 1000 };
    store.set_query_policy("demo", p, "admin").await?;
    let q = StoredQueryPolicy { statement_timeout_ms: 200, ..p };
    store.set_query_policy("demo", q, "admin").await?;
    assert!(matches!(store.set_query_policy("nope", p, "admin").await, Err(StoreError::NotFound(_))));
    assert_eq!(store.list_query_policies().await?, [("demo".to_owned(), q)]);
    Ok(())
}
both_engines!(query_policies_are_kept_per_project);
