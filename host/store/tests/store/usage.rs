use crate::prelude::*;

fn record(request_id: &str, extension: &str, version: &str, outcome: &str, at: i64) -> UsageRecord {
    UsageRecord {
        request_id: request_id.to_owned(),
        project_id: "demo".to_owned(),
        extension: extension.to_owned(),
        version: version.to_owned(),
        endpoint: "/hello".to_owned(),
        method: "GET".to_owned(),
        status: 200,
        outcome: outcome.to_owned(),
        fuel_used: 1_000,
        wall_time_us: 50,
        peak_memory_bytes: 65_536,
        host_calls: 3,
        bytes_in: 10,
        bytes_out: 20,
        db_rows: 4,
        db_time_us: 120,
        created_at: at,
    }
}

fn ids(rows: &[UsageEntry]) -> Vec<&str> {
    rows.iter().map(|r| r.record.request_id.as_str()).collect()
}

/// Inserting the same request_id again, in one batch or across batches,
/// stores it once.
async fn usage_insert_is_idempotent(store: &Store) -> Result<(), StoreError> {
    let r1 = record("r1", "a", "1.0.0", "ok", 1_000);
    let r2 = record("r2", "a", "1.0.0", "ok", 1_001);
    assert_eq!(store.insert_usage_batch(&[r1.clone(), r1.clone()]).await?, 1);
    assert_eq!(store.insert_usage_batch(&[r1.clone(), r2.clone()]).await?, 1);
    assert_eq!(store.insert_usage_batch(&[r1.clone(), r2.clone()]).await?, 0);
    assert_eq!(store.insert_usage_batch(&[]).await?, 0);

    let rows = store.query_usage(&UsageFilter { project_id: "demo".into(), ..Default::default() }).await?;
    assert_eq!(ids(&rows), ["r2", "r1"]);
    assert_eq!(rows[1].record, r1, "every field round-trips");
    Ok(())
}
both_engines!(usage_insert_is_idempotent);

/// A batch larger than one multi-row statement, with duplicates inside it and
/// of rows already stored, stores each request id exactly once.
async fn large_batches_span_statements_and_stay_idempotent(store: &Store) -> Result<(), StoreError> {
    let first: Vec<_> = (0..10).map(|i| record(&format!("r{i:03}"), "a", "1.0.0", "ok", i)).collect();
    assert_eq!(store.insert_usage_batch(&first).await?, 10);
    let mut batch: Vec<_> = (0..200).map(|i| record(&format!("r{i:03}"), "a", "1.0.0", "ok", i)).collect();
    batch.extend((150..170).map(|i| record(&format!("r{i:03}"), "a", "1.0.0", "ok", i)));
    assert_eq!(store.insert_usage_batch(&batch).await?, 190);
    let rows = store
        .query_usage(&UsageFilter { project_id: "demo".into(), limit: Some(1000), ..Default::default() })
        .await?;
    assert_eq!(rows.len(), 200);
    Ok(())
}
both_engines!(large_batches_span_statements_and_stay_idempotent);

/// Filters combine; time windows are [since, until); pages follow before_id.
async fn usage_filters_and_paging(store: &Store) -> Result<(), StoreError> {
    store
        .insert_usage_batch(&[
            record("r1", "a", "1.0.0", "ok", 1_000),
            record("r2", "a", "1.0.0", "fuel_exhausted", 2_000),
            record("r3", "a", "2.0.0", "ok", 3_000),
            record("r4", "b", "1.0.0", "ok", 4_000),
            record("r5", "a", "2.0.0", "trap", 5_000),
        ])
        .await?;
    let mut other = record("x1", "a", "1.0.0", "ok", 1_000);
    other.project_id = "other".to_owned();
    store.insert_usage_batch(&[other]).await?;

    let base = UsageFilter { project_id: "demo".into(), ..Default::default() };
    let q = |f: UsageFilter| async move { store.query_usage(&f).await };

    assert_eq!(ids(&q(base.clone()).await?), ["r5", "r4", "r3", "r2", "r1"]);
    assert_eq!(
        ids(&q(UsageFilter { extension: Some("a".into()), ..base.clone() }).await?),
        ["r5", "r3", "r2", "r1"]
    );
    assert_eq!(
        ids(&q(UsageFilter { extension: Some("a".into()), version: Some("2.0.0".into()), ..base.clone() })
            .await?),
        ["r5", "r3"]
    );
    assert_eq!(
        ids(&q(UsageFilter { outcome: Some("ok".into()), ..base.clone() }).await?),
        ["r4", "r3", "r1"]
    );
    assert_eq!(
        ids(&q(UsageFilter { since: Some(2_000), until: Some(4_000), ..base.clone() }).await?),
        ["r3", "r2"]
    );
    assert_eq!(ids(&q(UsageFilter { project_id: "other".into(), ..Default::default() }).await?), ["x1"]);

    // Cursor paging, two at a time.
    let mut pages = Vec::new();
    let mut before_id = None;
    loop {
        let page = q(UsageFilter { limit: Some(2), before_id, ..base.clone() }).await?;
        let Some(last) = page.last() else { break };
        before_id = Some(last.id);
        pages.push(ids(&page).into_iter().map(str::to_owned).collect::<Vec<_>>());
    }
    assert_eq!(pages, [vec!["r5", "r4"], vec!["r3", "r2"], vec!["r1"]]);

    // A zero limit still returns a row (clamped to 1).
    assert_eq!(q(UsageFilter { limit: Some(0), ..base.clone() }).await?.len(), 1);
    Ok(())
}
both_engines!(usage_filters_and_paging);

/// Without a limit a query returns 100 rows; no limit returns more than 1000.
async fn usage_limit_defaults_and_clamps(store: &Store) -> Result<(), StoreError> {
    let records: Vec<UsageRecord> =
        (0..1_005).map(|i| record(&format!("r{i}"), "a", "1.0.0", "ok", i)).collect();
    assert_eq!(store.insert_usage_batch(&records).await?, 1_005);
    let base = UsageFilter { project_id: "demo".into(), ..Default::default() };
    assert_eq!(store.query_usage(&base).await?.len(), 100);
    assert_eq!(store.query_usage(&UsageFilter { limit: Some(5_000), ..base.clone() }).await?.len(), 1_000);
    Ok(())
}
both_engines!(usage_limit_defaults_and_clamps);

/// The summary groups by (extension, version, outcome) with count, sums and max.
async fn usage_summary_groups(store: &Store) -> Result<(), StoreError> {
    let mut big = record("r3", "a", "1.0.0", "ok", 3);
    big.fuel_used = 5_000_000_000;
    big.wall_time_us = 7;
    big.peak_memory_bytes = 1 << 20;
    store
        .insert_usage_batch(&[
            record("r1", "a", "1.0.0", "ok", 1),
            record("r2", "a", "1.0.0", "trap", 2),
            big,
            record("r4", "b", "2.0.0", "ok", 4),
        ])
        .await?;

    let summary = store.usage_summary("demo", None).await?;
    assert_eq!(
        summary,
        [
            UsageSummary {
                extension: "a".into(),
                version: "1.0.0".into(),
                outcome: "ok".into(),
                count: 2,
                fuel_used: 5_000_001_000,
                wall_time_us: 57,
                max_peak_memory_bytes: 1 << 20
            },
            UsageSummary {
                extension: "a".into(),
                version: "1.0.0".into(),
                outcome: "trap".into(),
                count: 1,
                fuel_used: 1_000,
                wall_time_us: 50,
                max_peak_memory_bytes: 65_536
            },
            UsageSummary {
                extension: "b".into(),
                version: "2.0.0".into(),
                outcome: "ok".into(),
                count: 1,
                fuel_used: 1_000,
                wall_time_us: 50,
                max_peak_memory_bytes: 65_536
            },
        ]
    );
    let only_b = store.usage_summary("demo", Some("b")).await?;
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].extension, "b");
    assert_eq!(store.usage_summary("other", None).await?, []);
    Ok(())
}
both_engines!(usage_summary_groups);

fn violation(kind: &str, extension: &str, request_id: Option<&str>) -> NewViolation {
    NewViolation {
        request_id: request_id.map(str::to_owned),
        project_id: "demo".to_owned(),
        extension: extension.to_owned(),
        version: "1.0.0".to_owned(),
        kind: kind.to_owned(),
        limit_value: request_id.map(|_| 100),
        actual_value: request_id.map(|_| 150),
        action: "rejected".to_owned(),
        detail: format!("{kind} exceeded"),
    }
}

/// Violations round-trip (NULLs included), filter and page newest first.
async fn violations_insert_and_query(store: &Store) -> Result<(), StoreError> {
    let v1 = store.insert_violation(&violation("fuel", "a", Some("r1"))).await?;
    let v2 = store.insert_violation(&violation("memory", "a", None)).await?;
    let v3 = store.insert_violation(&violation("fuel", "b", Some("r3"))).await?;
    assert!(v1.id < v2.id && v2.id < v3.id);
    assert_eq!(v2.limit_value, None);

    let base = ViolationFilter { project_id: "demo".into(), ..Default::default() };
    assert_eq!(store.query_violations(&base).await?, [v3.clone(), v2.clone(), v1.clone()]);
    assert_eq!(
        store.query_violations(&ViolationFilter { kind: Some("fuel".into()), ..base.clone() }).await?,
        [v3.clone(), v1.clone()]
    );
    assert_eq!(
        store
            .query_violations(&ViolationFilter {
                extension: Some("a".into()),
                version: Some("1.0.0".into()),
                ..base.clone()
            })
            .await?,
        [v2.clone(), v1.clone()]
    );
    assert_eq!(
        store
            .query_violations(&ViolationFilter { limit: Some(1), before_id: Some(v3.id), ..base.clone() })
            .await?,
        std::slice::from_ref(&v2)
    );
    assert_eq!(
        store
            .query_violations(&ViolationFilter {
                since: Some(v1.created_at),
                until: Some(v1.created_at + 60_000),
                ..base.clone()
            })
            .await?
            .len(),
        3
    );
    assert_eq!(
        store.query_violations(&ViolationFilter { until: Some(v1.created_at), ..base.clone() }).await?,
        []
    );
    assert_eq!(
        store.query_violations(&ViolationFilter { project_id: "other".into(), ..Default::default() }).await?,
        []
    );
    Ok(())
}
both_engines!(violations_insert_and_query);
