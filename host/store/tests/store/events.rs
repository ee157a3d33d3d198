use crate::prelude::*;

fn event(id: &str, project: &str, topic: &str) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        project_id: project.to_owned(),
        topic: topic.to_owned(),
        source: "maggate".to_owned(),
        source_version: "1.0.0".to_owned(),
        request_id: Some("req-1".to_owned()),
        hop: 0,
        payload: b"{\"n\":1}".to_vec(),
    }
}

async fn publish_one(store: &Store, event: &NewEvent, subscribers: &[String]) -> Result<(), StoreError> {
    store.publish_events(std::slice::from_ref(event), subscribers).await
}

fn subs(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// An event and its deliveries are stored together; each delivery is
/// claimed once while its lease runs, and finishing it is recorded.
async fn events_are_claimed_once_and_finished(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    publish_one(store, &event("e1", "demo", "db.changes"), &subs(&["realtime", "audit"])).await?;

    let first = store.claim_deliveries(60_000, 10).await?;
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|c| c.attempt == 1 && c.event.id == "e1" && c.event.payload == b"{\"n\":1}"));
    // Leased: nobody else gets them.
    assert!(store.claim_deliveries(60_000, 10).await?.is_empty());

    let realtime = first.iter().find(|c| c.extension == "realtime").expect("present");
    let audit = first.iter().find(|c| c.extension == "audit").expect("present");
    assert!(store.finish_delivery(realtime, &DeliveryResult::Delivered).await?);
    // Finishing twice does nothing the second time.
    assert!(!store.finish_delivery(realtime, &DeliveryResult::Delivered).await?);
    let retry = DeliveryResult::Retry { error: "busy".into(), at: 0 };
    assert!(store.finish_delivery(audit, &retry).await?);

    // Due again at once (retry time 0): the second attempt.
    let second = store.claim_deliveries(60_000, 10).await?;
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].extension.as_str(), second[0].attempt), ("audit", 2));
    assert!(store.finish_delivery(&second[0], &DeliveryResult::Dead { error: "gave up".into() }).await?);
    assert!(store.claim_deliveries(60_000, 10).await?.is_empty());
    let pending = EventFilter { delivery_state: Some("pending".into()), ..Default::default() };
    assert!(store.list_events("demo", &pending).await?.is_empty(), "nothing is pending any more");

    let (ev, deliveries) = store.get_event("demo", "e1").await?.expect("present");
    assert_eq!((ev.topic.as_str(), ev.payload_bytes, ev.hop), ("db.changes", 7, 0));
    let states: Vec<_> =
        deliveries.iter().map(|d| (d.extension.as_str(), d.state.as_str(), d.attempts)).collect();
    assert_eq!(states, [("audit", "dead", 2), ("realtime", "delivered", 1)]);
    assert_eq!(deliveries[0].last_error.as_deref(), Some("gave up"));

    // Another project sees nothing of it.
    store.create_project("other").await?;
    assert!(store.get_event("other", "e1").await?.is_none());
    assert!(store.list_events("other", &EventFilter::default()).await?.is_empty());

    // A dead delivery can be sent again.
    assert!(store.redeliver("demo", "e1", "audit").await?);
    assert!(!store.redeliver("demo", "e1", "realtime").await?);
    let again = store.claim_deliveries(60_000, 10).await?;
    assert_eq!((again.len(), again[0].attempt), (1, 1));
    Ok(())
}
both_engines!(events_are_claimed_once_and_finished);

/// A lease that ran out is taken over, and the first holder can no longer
/// finish; a released delivery does not count the attempt.
async fn expired_leases_are_taken_over(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    publish_one(store, &event("e1", "demo", "t"), &subs(&["sub"])).await?;
    let stale = store.claim_deliveries(-1, 10).await?.pop().expect("present");
    let fresh = store.claim_deliveries(60_000, 10).await?.pop().expect("present");
    assert_eq!(fresh.attempt, 2);
    assert!(!store.finish_delivery(&stale, &DeliveryResult::Delivered).await?);
    store.release_delivery(&fresh, None).await?;
    let again = store.claim_deliveries(60_000, 10).await?.pop().expect("present");
    assert_eq!(again.attempt, 2);
    assert!(store.finish_delivery(&again, &DeliveryResult::Dropped { reason: "uninstalled".into() }).await?);
    Ok(())
}
both_engines!(expired_leases_are_taken_over);

/// Listing filters by topic and delivery state, newest first; purging keeps
/// events still pending.
async fn events_list_and_purge(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    assert!(matches!(publish_one(store, &event("x", "nope", "t"), &[]).await, Err(StoreError::NotFound(_))));
    publish_one(store, &event("e1", "demo", "a"), &subs(&["s"])).await?;
    publish_one(store, &event("e2", "demo", "b"), &[]).await?;
    assert!(matches!(publish_one(store, &event("e2", "demo", "b"), &[]).await, Err(StoreError::Conflict(_))));
    let all = store.list_events("demo", &EventFilter::default()).await?;
    assert_eq!(all.iter().map(|(e, _)| e.id.as_str()).collect::<Vec<_>>(), ["e2", "e1"], "newest first");
    let a = store.list_events("demo", &EventFilter { topic: Some("a".into()), ..Default::default() }).await?;
    assert_eq!((a.len(), a[0].1.len()), (1, 1));
    let pending = store
        .list_events("demo", &EventFilter { delivery_state: Some("pending".into()), ..Default::default() })
        .await?;
    assert_eq!(pending.iter().map(|(e, _)| e.id.as_str()).collect::<Vec<_>>(), ["e1"]);

    assert_eq!(store.purge_events(i64::MAX).await?, 1);
    let left = store.list_events("demo", &EventFilter::default()).await?;
    assert_eq!(left.iter().map(|(e, _)| e.id.as_str()).collect::<Vec<_>>(), ["e1"]);

    // Once its delivery is finished, e1 goes too, and its deliveries with it.
    let claimed = store.claim_deliveries(60_000, 10).await?.pop().expect("e1's delivery");
    assert!(store.finish_delivery(&claimed, &DeliveryResult::Delivered).await?);
    assert_eq!(store.purge_events(i64::MAX).await?, 1);
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM event_deliveries WHERE event_id = 'e1'")
        .fetch_one(store.pool())
        .await?;
    assert_eq!(deliveries, 0, "the purge leaves no delivery rows behind");
    Ok(())
}
both_engines!(events_list_and_purge);

/// A batch larger than one INSERT statement holds is stored whole, every
/// event with a delivery per subscriber; a batch with a duplicate id is
/// refused whole.
async fn large_batches_are_stored_whole(store: &Store) -> Result<(), StoreError> {
    store.create_project("demo").await?;
    let batch: Vec<NewEvent> = (0..150).map(|i| event(&format!("e{i:03}"), "demo", "db.changes")).collect();
    store.publish_events(&batch, &subs(&["realtime", "audit"])).await?;
    let listed = store.list_events("demo", &EventFilter { limit: Some(1000), ..Default::default() }).await?;
    assert_eq!(listed.len(), 150);
    assert!(listed.iter().all(|(_, deliveries)| deliveries.len() == 2));
    assert_eq!(store.claim_deliveries(60_000, 1000).await?.len(), 300);

    let mut again: Vec<NewEvent> = (150..220).map(|i| event(&format!("e{i:03}"), "demo", "t")).collect();
    again.push(event("e000", "demo", "t"));
    assert!(matches!(store.publish_events(&again, &subs(&["realtime"])).await, Err(StoreError::Conflict(_))));
    let listed = store.list_events("demo", &EventFilter { limit: Some(1000), ..Default::default() }).await?;
    assert_eq!(listed.len(), 150, "nothing of the refused batch is stored");
    Ok(())
}
both_engines!(large_batches_are_stored_whole);
