//! Search and listing.

use crate::prelude::*;

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name").to_owned())
        .collect()
}

/// `q` matches names, descriptions and keywords case-insensitively, with
/// LIKE wildcards taken literally; `limit`/`offset` page and `total` counts.
async fn search_extensions(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let cases = [
        ("alpha", "keywords = [\"search\", \"vector\"]\n"),
        ("beta", "keywords = [\"auth\"]\n"),
        ("gamma", ""),
    ];
    for (name, extra) in cases {
        let m = manifest(name, "1.0.0", extra);
        assert_eq!(t.publish(signed_with(&m, component(b"x"), &key)).await.0, StatusCode::CREATED);
    }
    let m = manifest("delta", "1.0.0", "").replace("The delta extension", "Fast 100% search_engine");
    assert_eq!(t.publish(signed_with(&m, component(b"x"), &key)).await.0, StatusCode::CREATED);

    let (s, all) = t.json(Method::GET, "/v1/extensions", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(names(&all), ["alpha", "beta", "delta", "gamma"]);
    assert_eq!(all["total"], 4);
    assert_eq!(all["items"][0]["latest_version"], "1.0.0");
    assert_eq!(all["items"][0]["publisher"], "acme");
    assert_eq!(all["items"][0]["keywords"], json!(["search", "vector"]));
    assert_eq!(
        all["items"][0]["stats"],
        json!({"total_installations": 0, "active_installations": 0, "average_rating": null, "ratings_count": 0})
    );

    let (_, by_keyword) = t.json(Method::GET, "/v1/extensions?q=VECTOR", None, None).await;
    assert_eq!(names(&by_keyword), ["alpha"]);
    let (_, by_name) = t.json(Method::GET, "/v1/extensions?q=amm", None, None).await;
    assert_eq!(names(&by_name), ["gamma"]);
    let (_, by_text) = t.json(Method::GET, "/v1/extensions?q=search", None, None).await;
    assert_eq!(names(&by_text), ["alpha", "delta"]);
    let (_, percent) = t.json(Method::GET, "/v1/extensions?q=100%25", None, None).await;
    assert_eq!(names(&percent), ["delta"]);
    let (_, underscore) = t.json(Method::GET, "/v1/extensions?q=h_e", None, None).await;
    assert_eq!(names(&underscore), ["delta"], "`_` is not a wildcard");
    let (_, none) = t.json(Method::GET, "/v1/extensions?q=%25%25zzz", None, None).await;
    assert_eq!((names(&none).len(), none["total"].as_i64()), (0, Some(0)));

    let (_, page) = t.json(Method::GET, "/v1/extensions?limit=2&offset=1", None, None).await;
    assert_eq!(names(&page), ["beta", "delta"]);
    assert_eq!(page["total"], 4);
    let (s, e) = t.json(Method::GET, "/v1/extensions?limit=abc", None, None).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));
}
both_engines!(search_extensions);

/// Listing shows the description of the highest version and the highest
/// non-yanked version as latest.
async fn latest_version_and_description(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    for (v, text) in [("1.10.0", "Newest"), ("1.9.0", "Older"), ("2.0.0-rc.1", "Pre-release")] {
        let m = manifest("hello", v, "").replace("The hello extension", text);
        assert_eq!(t.publish(signed_with(&m, component(b"x"), &key)).await.0, StatusCode::CREATED);
    }
    let (_, ext) = t.json(Method::GET, "/v1/extensions/hello", None, None).await;
    assert_eq!(ext["description"], "Pre-release");
    let versions: Vec<&str> =
        ext["versions"].as_array().expect("versions").iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(versions, ["2.0.0-rc.1", "1.10.0", "1.9.0"]);
    assert_eq!(ext["latest_version"], "2.0.0-rc.1");
    t.json(Method::PUT, "/v1/extensions/hello/versions/2.0.0-rc.1/yank", Some(ADMIN), None).await;
    let (_, ext) = t.json(Method::GET, "/v1/extensions/hello", None, None).await;
    assert_eq!(ext["latest_version"], "1.10.0");
}
both_engines!(latest_version_and_description);
