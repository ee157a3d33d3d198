//! Installation reports, ratings, statistics and the marketplace order.

use crate::prelude::*;

async fn install(t: &TestRegistry, token: &str, project: &str, ext: &str, active: bool) -> StatusCode {
    let path = format!("/v1/installations/{project}/{ext}");
    t.json(Method::PUT, &path, Some(token), Some(json!({"version": "1.0.0", "active": active}))).await.0
}

async fn rate(t: &TestRegistry, token: &str, project: &str, ext: &str, stars: i64) -> (StatusCode, Value) {
    let path = format!("/v1/extensions/{ext}/ratings/{project}");
    t.json(Method::PUT, &path, Some(token), Some(json!({"stars": stars, "review": format!("{stars} stars")})))
        .await
}

/// Only a project with an active installation on that host may rate; one
/// rating per project (a new one replaces it); bad stars are refused.
async fn ratings_need_an_active_installation(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    t.publish(package("hello", "1.0.0", &key)).await;
    let a = t.host("host-a").await;
    let b = t.host("host-b").await;

    let (s, e) = rate(t, &a, "demo", "hello", 5).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_installed")));
    assert_eq!(install(t, &a, "demo", "hello", true).await, StatusCode::OK);
    // The same project name on another host is another project.
    let (s, _) = rate(t, &b, "demo", "hello", 1).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, r) = rate(t, &a, "demo", "hello", 4).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["project_ref"], "host-a/demo");
    let (s, _) = rate(t, &a, "demo", "hello", 2).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = t.json(Method::GET, "/v1/extensions/hello/ratings", None, None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!((list[0]["stars"].as_i64(), list[0]["review"].as_str()), (Some(2), Some("2 stars")));

    for stars in [0, 6] {
        let (s, e) = rate(t, &a, "demo", "hello", stars).await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_rating")));
    }
    let long = json!({"stars": 3, "review": "x".repeat(2001)});
    let (s, e) = t.json(Method::PUT, "/v1/extensions/hello/ratings/demo", Some(&a), Some(long)).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_rating")));
    let (s, _) = t
        .json(Method::PUT, "/v1/extensions/hello/ratings/demo", Some(ADMIN), Some(json!({"stars": 3})))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the admin token is not a host token");
    let (s, e) = rate(t, &a, "demo", "nope", 3).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::NOT_FOUND, Some("extension_not_found")));

    // Uninstalled: no new rating.
    assert_eq!(install(t, &a, "demo", "hello", false).await, StatusCode::OK);
    assert_eq!(rate(t, &a, "demo", "hello", 5).await.0, StatusCode::FORBIDDEN);

    let (s, _) = t.json(Method::DELETE, "/v1/extensions/hello/ratings/demo", Some(&a), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = t.json(Method::GET, "/v1/extensions/hello/ratings", None, None).await;
    assert_eq!(list, json!([]));
}
both_engines!(ratings_need_an_active_installation);

/// Stats count distinct (host, project) installations, active ones and the
/// average rating; an installation report for an unknown version is 404.
async fn installation_statistics(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    t.publish(package("hello", "1.0.0", &key)).await;
    let a = t.host("host-a").await;
    let b = t.host("host-b").await;
    for (token, project) in [(&a, "p1"), (&a, "p2"), (&b, "p1")] {
        assert_eq!(install(t, token, project, "hello", true).await, StatusCode::OK);
    }
    assert_eq!(install(t, &a, "p1", "hello", true).await, StatusCode::OK, "reports are idempotent");
    assert_eq!(install(t, &a, "p2", "hello", false).await, StatusCode::OK);
    rate(t, &a, "p1", "hello", 5).await;
    rate(t, &b, "p1", "hello", 4).await;

    let (_, ext) = t.json(Method::GET, "/v1/extensions/hello", None, None).await;
    assert_eq!(
        ext["stats"],
        json!({"total_installations": 3, "active_installations": 2, "average_rating": 4.5, "ratings_count": 2})
    );

    let (s, e) = t
        .json(
            Method::PUT,
            "/v1/installations/p1/hello",
            Some(&a),
            Some(json!({"version": "9.0.0", "active": true})),
        )
        .await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::NOT_FOUND, Some("version_not_found")));
    let (s, e) = t
        .json(
            Method::PUT,
            "/v1/installations/Bad_Project/hello",
            Some(&a),
            Some(json!({"version": "1.0.0", "active": true})),
        )
        .await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_project_id")));
    let (s, _) = t
        .json(
            Method::PUT,
            "/v1/installations/p1/hello",
            None,
            Some(json!({"version": "1.0.0", "active": true})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = t
        .json(
            Method::PUT,
            "/v1/installations/p1/hello",
            Some("mfh_forged"),
            Some(json!({"version": "1.0.0", "active": true})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
both_engines!(installation_statistics);

/// The marketplace orders by average rating (rated first, more ratings
/// breaking ties), then active installations, then name; extensions with
/// no installable version are left out.
async fn marketplace_order(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    for name in ["aaa", "bbb", "ccc", "ddd", "eee", "fff"] {
        assert_eq!(t.publish(package(name, "1.0.0", &key)).await.0, StatusCode::CREATED);
    }
    let h = t.host("host-a").await;
    // bbb: 5.0 from two projects; ccc: 5.0 from one; ddd: 3.0; aaa, eee: unrated,
    // eee with more active installations than aaa; fff: fully yanked.
    for p in ["p1", "p2"] {
        install(t, &h, p, "bbb", true).await;
        rate(t, &h, p, "bbb", 5).await;
    }
    install(t, &h, "p1", "ccc", true).await;
    rate(t, &h, "p1", "ccc", 5).await;
    install(t, &h, "p1", "ddd", true).await;
    rate(t, &h, "p1", "ddd", 3).await;
    for p in ["p1", "p2", "p3"] {
        install(t, &h, p, "eee", true).await;
    }
    install(t, &h, "p1", "aaa", true).await;
    t.json(Method::PUT, "/v1/extensions/fff/versions/1.0.0/yank", Some(ADMIN), None).await;

    let (s, page) = t.json(Method::GET, "/v1/marketplace", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> =
        page["items"].as_array().expect("items").iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["bbb", "ccc", "ddd", "eee", "aaa"]);
    assert_eq!(page["total"], 5);
    let (_, top) = t.json(Method::GET, "/v1/marketplace?limit=2", None, None).await;
    assert_eq!(top["items"].as_array().map(Vec::len), Some(2));
}
both_engines!(marketplace_order);
