//! The OpenAPI description of the project's tables: Swagger 2.0, the version
//! PostgREST serves at its root, with the same shared parameter names
//! (`select`, `order`, `range`, `rowFilter.{table}.{column}`, ...) so
//! tooling written against PostgREST reads it unchanged.

use serde_json::{Map, Value as Json, json};

use crate::db::Table;
use crate::sql::{Kind, kind_of};

/// The document for `tables`; `base_path` is where MagGate is mounted
/// (`/x/{project}/maggate`), when known.
pub fn document(tables: &[Table], base_path: Option<&str>) -> Json {
    let mut paths = Map::new();
    paths.insert(
        "/".into(),
        json!({"get": {"tags": ["Introspection"], "summary": "OpenAPI description (this document)",
                "produces": ["application/openapi+json", "application/json"],
                "responses": {"200": {"description": "OK"}}}}),
    );
    let mut definitions = Map::new();
    let mut parameters = common_parameters();
    for t in tables {
        let def_ref = format!("#/definitions/{}", pointer_escape(&t.name));
        let mut filters = Vec::new();
        for c in &t.columns {
            let pname = format!("rowFilter.{}.{}", t.name, c.name);
            parameters.insert(
                pname.clone(),
                json!({"name": c.name, "required": false, "in": "query", "type": "string", "format": c.data_type}),
            );
            filters.push(json!({"$ref": format!("#/parameters/{}", pointer_escape(&pname))}));
        }
        let body_name = format!("body.{}", t.name);
        parameters.insert(
            body_name.clone(),
            json!({"name": t.name, "description": t.name, "required": false, "in": "body", "schema": {"$ref": def_ref}}),
        );
        let body_ref = json!({"$ref": format!("#/parameters/{}", pointer_escape(&body_name))});
        let r = |name: &str| json!({"$ref": format!("#/parameters/{name}")});

        let mut get_params = filters.clone();
        get_params.extend([
            r("select"),
            r("order"),
            r("range"),
            r("rangeUnit"),
            r("offset"),
            r("limit"),
            r("preferCount"),
        ]);
        let mut patch_params = filters.clone();
        patch_params.extend([body_ref.clone(), r("preferReturn")]);
        let mut delete_params = filters;
        delete_params.push(r("preferReturn"));
        let ok_rows = json!({"description": "OK", "schema": {"type": "array", "items": {"$ref": def_ref}}});
        paths.insert(
            format!("/{}", t.name),
            json!({
                "get": {"tags": [t.name], "parameters": get_params,
                        "responses": {"200": ok_rows, "206": {"description": "Partial Content"}}},
                "post": {"tags": [t.name], "parameters": [body_ref, r("select"), r("columns"), r("on_conflict"), r("preferPost")],
                         "responses": {"201": {"description": "Created"}}},
                "patch": {"tags": [t.name], "parameters": patch_params,
                          "responses": {"200": {"description": "OK"}, "204": {"description": "No Content"}}},
                "delete": {"tags": [t.name], "parameters": delete_params,
                           "responses": {"200": {"description": "OK"}, "204": {"description": "No Content"}}},
            }),
        );
        definitions.insert(t.name.clone(), definition(t));
    }
    let mut doc = json!({
        "swagger": "2.0",
        "info": {"title": "MagGate", "version": env!("CARGO_PKG_VERSION"),
                 "description": "REST over the project's tables in PostgREST's URL dialect"},
        "schemes": ["http", "https"],
        "consumes": ["application/json", "application/vnd.pgrst.object+json"],
        "produces": ["application/json", "application/vnd.pgrst.object+json"],
        "paths": paths,
        "definitions": definitions,
        "parameters": parameters,
    });
    if let (Some(base), Json::Object(m)) = (base_path, &mut doc) {
        m.insert("basePath".into(), Json::String(base.to_owned()));
    }
    doc
}

fn definition(t: &Table) -> Json {
    let mut props = Map::new();
    let mut required = Vec::new();
    for c in &t.columns {
        let mut p = Map::new();
        if c.primary_key {
            p.insert("description".into(), "Note:\nThis is a Primary Key.<pk/>".into());
        }
        p.insert("format".into(), Json::String(c.data_type.clone()));
        let ty = match kind_of(&c.data_type) {
            Kind::Int => Some("integer"),
            Kind::Float | Kind::Numeric => Some("number"),
            Kind::Bool => Some("boolean"),
            Kind::Json => None,
            Kind::Array => Some("array"),
            Kind::Blob | Kind::Text => Some("string"),
        };
        if let Some(ty) = ty {
            p.insert("type".into(), ty.into());
        }
        if ty == Some("array") {
            // information_schema does not name the element type.
            p.insert("items".into(), json!({}));
        }
        props.insert(c.name.clone(), Json::Object(p));
        if !c.nullable && !c.has_default {
            required.push(Json::String(c.name.clone()));
        }
    }
    let mut d = json!({"type": "object", "properties": props});
    if let (false, Json::Object(m)) = (required.is_empty(), &mut d) {
        m.insert("required".into(), Json::Array(required));
    }
    d
}

fn common_parameters() -> Map<String, Json> {
    let q = |name: &str, desc: &str| json!({"name": name, "description": desc, "required": false, "in": "query", "type": "string"});
    let h = |name: &str, desc: &str, values: &[&str]| json!({"name": name, "description": desc, "required": false, "in": "header", "type": "string", "enum": values});
    let mut m = Map::new();
    m.insert("select".into(), q("select", "Filtering Columns"));
    m.insert("order".into(), q("order", "Ordering"));
    m.insert("columns".into(), q("columns", "The columns of a bulk insert"));
    m.insert("on_conflict".into(), q("on_conflict", "The key of an upsert (default: the primary key)"));
    m.insert("offset".into(), q("offset", "Limiting and Pagination"));
    m.insert("limit".into(), q("limit", "Limiting and Pagination"));
    m.insert(
        "range".into(),
        json!({"name": "Range", "description": "Limiting and Pagination", "required": false, "in": "header", "type": "string"}),
    );
    m.insert(
        "rangeUnit".into(),
        json!({"name": "Range-Unit", "description": "Limiting and Pagination", "required": false, "in": "header",
               "type": "string", "default": "items"}),
    );
    m.insert("preferReturn".into(), h("Prefer", "Preference", &["return=representation", "return=minimal"]));
    m.insert(
        "preferCount".into(),
        h("Prefer", "Preference", &["count=exact", "count=planned", "count=estimated"]),
    );
    m.insert(
        "preferPost".into(),
        h(
            "Prefer",
            "Preference",
            &[
                "return=representation",
                "return=minimal",
                "missing=default",
                "resolution=merge-duplicates",
                "resolution=ignore-duplicates",
            ],
        ),
    );
    m
}

/// A name inside a JSON pointer (`~` → `~0`, `/` → `~1`).
fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}
