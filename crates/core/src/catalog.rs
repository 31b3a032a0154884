//! The event catalogue as an OpenAPI document: event types read from the
//! `webhooks` (or `x-webhooks`) of a spec (import), and a spec written with
//! one webhook per event type (export).
//!
//! Each webhook is one event type: its name is the webhook's key, its
//! payload schema the JSON schema of its operation's request body (local
//! `$ref`s inlined), its description, deprecation, group and feature flags
//! the operation's `description` (else `summary`), `deprecated`,
//! `x-svix-group-name` and `x-svix-feature-flags` (Svix's extensions).
//! Import gives a schema version `1`; export writes each event type's newest
//! schema version, so a document exported and imported again describes the
//! same event types.

use serde_json::{Map, Value, json};

use crate::model::EventType;
use crate::validate::{Checker, Loc, MAX_TEXT_LEN};

/// Most webhooks one import may hold.
pub const MAX_WEBHOOKS: usize = 1000;
/// Largest schema of one event type, as JSON text (the API's limit on `schemas`).
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// Deepest chain of `$ref`s followed: beyond it a reference is taken to be circular.
const MAX_REF_DEPTH: usize = 32;
/// Most JSON values one schema may expand to once its `$ref`s are inlined,
/// so a document of references to references cannot grow without bound.
const MAX_EXPANDED_NODES: usize = 200_000;

const GROUP_EXT: &str = "x-svix-group-name";
const FLAGS_EXT: &str = "x-svix-feature-flags";
const FLAG_EXT: &str = "x-svix-feature-flag";
/// Operations tried for a webhook's request, `post` first (the one webhooks use).
const METHODS: [&str; 7] = ["post", "put", "patch", "get", "delete", "options", "head"];

/// An event type as a document describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecEventType {
    pub name: String,
    pub description: String,
    pub deprecated: bool,
    /// The request body's JSON schema, `$ref`s inlined.
    pub schema: Option<Value>,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
}

impl SpecEventType {
    /// The record to store in organisation `org_id` (times and schedule are
    /// the import rule's, see `store::plan_import`).
    pub fn into_event_type(self, org_id: &str, now: crate::time::Timestamp) -> EventType {
        EventType {
            name: self.name,
            org_id: org_id.to_string(),
            description: self.description,
            archived: false,
            deprecated: self.deprecated,
            schemas: self.schema.map(|s| json!({ "1": s })),
            feature_flags: self.feature_flags,
            group_name: self.group_name,
            retry_schedule: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Reads the event types of `spec`, recording what is wrong with it at
/// `loc` (the location of the document in the request).
pub fn read_spec(c: &mut Checker, loc: &Loc, spec: &Value) -> Vec<SpecEventType> {
    let Some(doc) = spec.as_object() else {
        c.error(
            loc,
            "type_error.dict",
            "the spec must be a JSON object (an OpenAPI document)",
        );
        return vec![];
    };
    let mut hooks: Vec<(&String, &Value, Loc)> = Vec::new();
    for section in ["webhooks", "x-webhooks"] {
        match doc.get(section) {
            None => {}
            Some(Value::Object(m)) => {
                for (name, item) in m {
                    if !hooks.iter().any(|(n, _, _)| *n == name) {
                        hooks.push((name, item, loc.field(section).field(name)));
                    }
                }
            }
            Some(_) => c.error(
                &loc.field(section),
                "type_error.dict",
                format!("{section} must be an object of webhooks keyed by event type name"),
            ),
        }
    }
    if !doc.contains_key("webhooks") && !doc.contains_key("x-webhooks") {
        c.error(
            &loc.field("webhooks"),
            "value_error.missing",
            "the spec has no webhooks (or x-webhooks) section, where event types are read from",
        );
    }
    if hooks.len() > MAX_WEBHOOKS {
        c.error(
            &loc.field("webhooks"),
            "value_error",
            format!("at most {MAX_WEBHOOKS} webhooks can be imported at once"),
        );
        return vec![];
    }
    hooks
        .into_iter()
        .filter_map(|(name, item, l)| read_webhook(c, &l, spec, name, item))
        .collect()
}

fn read_webhook(
    c: &mut Checker,
    loc: &Loc,
    doc: &Value,
    name: &str,
    item: &Value,
) -> Option<SpecEventType> {
    let ok = c.event_type_name(loc, name);
    let item = match follow(doc, item) {
        Ok(v) => v,
        Err(msg) => {
            c.error(loc, "value_error.ref", msg);
            return None;
        }
    };
    let Some((method, op)) = METHODS
        .iter()
        .find_map(|m| item.get(*m).filter(|o| o.is_object()).map(|o| (*m, o)))
    else {
        c.error(
            loc,
            "value_error",
            "a webhook needs an operation (post) describing the request hookd sends",
        );
        return None;
    };
    let loc = loc.field(method);
    let body = match op.get("requestBody") {
        None => None,
        Some(b) => match follow(doc, b) {
            Ok(b) => Some(b),
            Err(msg) => {
                c.error(&loc.field("requestBody"), "value_error.ref", msg);
                return None;
            }
        },
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let description = text(op.get("description"))
        .or_else(|| text(op.get("summary")))
        .or_else(|| text(body.and_then(|b| b.get("description"))))
        .unwrap_or_default();
    c.text(&loc.field("description"), &description, 0);
    let deprecated = match op.get("deprecated") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            c.error(
                &loc.field("deprecated"),
                "type_error.bool",
                "deprecated must be true or false",
            );
            false
        }
    };
    let group_name = match op.get(GROUP_EXT) {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) => {
            c.event_type_name(&loc.field(GROUP_EXT), g);
            Some(g.clone())
        }
        Some(_) => {
            c.error(
                &loc.field(GROUP_EXT),
                "type_error.str",
                "the group name must be a string",
            );
            None
        }
    };
    let feature_flags = read_flags(c, &loc, op);
    let schema = match body.and_then(json_schema) {
        None => None,
        Some(s) => match resolve(doc, s, &mut Budget::default()) {
            Ok(s) if s.to_string().len() > MAX_SCHEMA_BYTES => {
                c.error(
                    &loc.field("requestBody"),
                    "value_error",
                    format!("the schema is larger than {MAX_SCHEMA_BYTES} bytes"),
                );
                None
            }
            Ok(s) => Some(s),
            Err(msg) => {
                c.error(&loc.field("requestBody"), "value_error.ref", msg);
                None
            }
        },
    };
    ok.then(|| SpecEventType {
        name: name.to_string(),
        description,
        deprecated,
        schema,
        group_name,
        feature_flags,
    })
}

fn read_flags(c: &mut Checker, loc: &Loc, op: &Value) -> Option<Vec<String>> {
    let (field, list) = match (op.get(FLAGS_EXT), op.get(FLAG_EXT)) {
        (Some(v), _) if !v.is_null() => (FLAGS_EXT, v.clone()),
        (_, Some(Value::String(s))) => (FLAG_EXT, json!([s])),
        (_, Some(v)) if !v.is_null() => (FLAG_EXT, v.clone()),
        _ => return None,
    };
    let Some(items) = list.as_array() else {
        c.error(
            &loc.field(field),
            "type_error.list",
            "feature flags must be a list of names",
        );
        return None;
    };
    let mut flags: Vec<String> = Vec::with_capacity(items.len());
    for (i, f) in items.iter().enumerate() {
        match f.as_str() {
            Some(f) => {
                c.event_type_name(&loc.field(field).index(i), f);
                if !flags.iter().any(|x| x == f) {
                    flags.push(f.to_string());
                }
            }
            None => c.error(
                &loc.field(field).index(i),
                "type_error.str",
                "a feature flag must be a string",
            ),
        }
    }
    (!flags.is_empty()).then_some(flags)
}

/// The JSON schema of a request body: its `application/json` content, else
/// the first content type that is JSON.
fn json_schema(body: &Value) -> Option<&Value> {
    let content = body.get("content")?.as_object()?;
    content
        .get("application/json")
        .or_else(|| {
            content
                .iter()
                .find(|(k, _)| k.contains("json"))
                .map(|(_, v)| v)
        })?
        .get("schema")
}

/// What `v` stands for: the target of its `$ref` (and of that target's), or `v` itself.
fn follow<'a>(doc: &'a Value, mut v: &'a Value) -> Result<&'a Value, String> {
    for _ in 0..MAX_REF_DEPTH {
        match v.get("$ref") {
            Some(Value::String(r)) => v = lookup(doc, r)?,
            _ => return Ok(v),
        }
    }
    Err(format!(
        "$refs are nested more than {MAX_REF_DEPTH} deep (a circular reference?)"
    ))
}

fn lookup<'a>(doc: &'a Value, r: &str) -> Result<&'a Value, String> {
    let Some(pointer) = r.strip_prefix('#') else {
        return Err(format!(
            "$ref '{r}' points outside the document; only local references (#/…) are supported"
        ));
    };
    doc.pointer(pointer)
        .ok_or_else(|| format!("$ref '{r}' points to nothing in the document"))
}

/// How much a resolution may still expand.
struct Budget {
    nodes: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            nodes: MAX_EXPANDED_NODES,
        }
    }
}

/// `v` with every local `$ref` (`#/components/…`) replaced by what it points
/// to in `doc`; keys beside a `$ref` are kept over the target's.
fn resolve(doc: &Value, v: &Value, budget: &mut Budget) -> Result<Value, String> {
    expand(doc, v, 0, budget)
}

fn expand(doc: &Value, v: &Value, depth: usize, budget: &mut Budget) -> Result<Value, String> {
    if budget.nodes == 0 {
        return Err("the schema is too large once its $refs are inlined".into());
    }
    budget.nodes -= 1;
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                if depth >= MAX_REF_DEPTH {
                    return Err(format!(
                        "$ref '{r}' is nested more than {MAX_REF_DEPTH} deep (a circular reference?)"
                    ));
                }
                let target = lookup(doc, r)?;
                let mut out = expand(doc, target, depth + 1, budget)?;
                if let Value::Object(o) = &mut out {
                    for (k, x) in m.iter().filter(|(k, _)| *k != "$ref") {
                        o.insert(k.clone(), expand(doc, x, depth, budget)?);
                    }
                }
                return Ok(out);
            }
            let mut out = Map::new();
            for (k, x) in m {
                out.insert(k.clone(), expand(doc, x, depth, budget)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a
            .iter()
            .map(|x| expand(doc, x, depth, budget))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// The newest schema of an event type's `schemas` (keyed by version: the
/// highest number, else the last key).
pub fn newest_schema(schemas: &Value) -> Option<&Value> {
    let m = schemas.as_object()?;
    m.iter()
        .filter_map(|(k, v)| k.parse::<u64>().ok().map(|n| (n, v)))
        .max_by_key(|(n, _)| *n)
        .map(|(_, v)| v)
        .or_else(|| m.values().next_back())
}

/// An OpenAPI 3.1 document with one webhook per event type, as
/// [`read_spec`] reads it back.
pub fn write_spec(event_types: &[EventType], title: &str, version: &str) -> Value {
    let mut hooks = Map::new();
    for et in event_types {
        let mut op = Map::new();
        op.insert("operationId".into(), json!(et.name));
        op.insert(
            "description".into(),
            json!(truncate(&et.description, MAX_TEXT_LEN)),
        );
        if et.deprecated {
            op.insert("deprecated".into(), json!(true));
        }
        if let Some(g) = &et.group_name {
            op.insert(GROUP_EXT.into(), json!(g));
        }
        if let Some(f) = &et.feature_flags {
            op.insert(FLAGS_EXT.into(), json!(f));
        }
        if let Some(schema) = et.schemas.as_ref().and_then(newest_schema) {
            op.insert(
                "requestBody".into(),
                json!({"content": {"application/json": {"schema": schema}}}),
            );
        }
        op.insert(
            "responses".into(),
            json!({"2XX": {"description": "Any 2xx status acknowledges the webhook"}}),
        );
        hooks.insert(et.name.clone(), json!({ "post": Value::Object(op) }));
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "webhooks": Value::Object(hooks),
    })
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn read(spec: Value) -> Result<Vec<SpecEventType>, Vec<crate::validate::FieldError>> {
        let mut c = Checker::new();
        let out = read_spec(&mut c, &Loc::body().field("spec"), &spec);
        c.finish(out)
    }

    fn locs(spec: Value) -> Vec<String> {
        read(spec)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| Value::Array(e.loc.clone()).to_string())
            .collect()
    }

    #[test]
    fn webhooks_become_event_types_with_refs_inlined() {
        let spec = json!({
            "openapi": "3.1.0",
            "webhooks": {
                "pet.new": {"post": {
                    "summary": "A pet arrived",
                    "x-svix-group-name": "pets",
                    "x-svix-feature-flag": "beta",
                    "requestBody": {"content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Pet", "title": "New pet"}}}}
                }},
                "pet.gone": {"post": {"description": "Gone", "deprecated": true}}
            },
            "x-webhooks": {
                "pet.new": {"post": {"description": "shadowed by webhooks"}},
                "legacy.hook": {"$ref": "#/components/pathItems/Legacy"}
            },
            "components": {
                "schemas": {
                    "Pet": {"type": "object", "properties": {"tag": {"$ref": "#/components/schemas/Tag"}}},
                    "Tag": {"type": "string"}
                },
                "pathItems": {"Legacy": {"post": {"requestBody": {
                    "description": "Legacy body", "content": {"application/vnd.x+json": {"schema": {"type": "object"}}}}}}}
            }
        });
        let got = read(spec).unwrap();
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["pet.gone", "pet.new", "legacy.hook"]);
        let new = &got[1];
        assert_eq!(new.description, "A pet arrived");
        assert_eq!(new.group_name.as_deref(), Some("pets"));
        assert_eq!(new.feature_flags, Some(vec!["beta".to_string()]));
        assert_eq!(
            new.schema,
            Some(
                json!({"type": "object", "title": "New pet", "properties": {"tag": {"type": "string"}}})
            )
        );
        assert!(got[0].deprecated && got[0].schema.is_none());
        assert_eq!(got[2].description, "Legacy body");
        assert_eq!(got[2].schema, Some(json!({"type": "object"})));
    }

    #[test]
    fn problems_are_located() {
        assert_eq!(locs(json!([])), [r#"["body","spec"]"#]);
        assert_eq!(
            locs(json!({"openapi": "3.1.0"})),
            [r#"["body","spec","webhooks"]"#]
        );
        assert_eq!(
            locs(json!({"webhooks": {
                "bad name": {"post": {}},
                "no.op": {"parameters": []},
                "loop": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}},
                "far": {"post": {"requestBody": {"$ref": "https://example.com/body.json"}}},
                "flags": {"post": {"x-svix-feature-flags": ["ok", "not ok"], "deprecated": "yes"}}
            }, "components": {"schemas": {"A": {"items": {"$ref": "#/components/schemas/A"}}}}})),
            [
                r#"["body","spec","webhooks","bad name"]"#,
                r#"["body","spec","webhooks","far","post","requestBody"]"#,
                r#"["body","spec","webhooks","flags","post","deprecated"]"#,
                r#"["body","spec","webhooks","flags","post","x-svix-feature-flags",1]"#,
                r#"["body","spec","webhooks","loop","post","requestBody"]"#,
                r#"["body","spec","webhooks","no.op"]"#,
            ]
        );
    }

    #[test]
    fn references_cannot_explode() {
        // Each level doubles: 2^20 values if inlined naively.
        let mut schemas = Map::new();
        for i in 0..20 {
            let next = format!("#/components/schemas/S{}", i + 1);
            schemas.insert(
                format!("S{i}"),
                json!({"a": {"$ref": next}, "b": {"$ref": next}}),
            );
        }
        schemas.insert("S20".into(), json!({"type": "string"}));
        let spec = json!({"webhooks": {"x": {"post": {"requestBody": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/S0"}}}}}}}, "components": {"schemas": schemas}});
        assert_eq!(
            locs(spec),
            [r#"["body","spec","webhooks","x","post","requestBody"]"#]
        );
    }

    #[test]
    fn exported_documents_read_back_as_the_same_event_types() {
        let now = Timestamp(7);
        let mut a = SpecEventType {
            name: "invoice.paid".into(),
            description: "An invoice was paid".into(),
            deprecated: true,
            schema: Some(json!({"type": "object", "examples": [{"id": 1}]})),
            group_name: Some("billing".into()),
            feature_flags: Some(vec!["beta".into(), "alpha".into()]),
        }
        .into_event_type("org_1", now);
        // Only the newest schema version is exported.
        a.schemas =
            Some(json!({"1": {"old": true}, "10": {"type": "object"}, "9": {"older": true}}));
        let b = SpecEventType {
            name: "user.created".into(),
            description: String::new(),
            deprecated: false,
            schema: None,
            group_name: None,
            feature_flags: None,
        }
        .into_event_type("org_1", now);
        let doc = write_spec(&[a.clone(), b.clone()], "hookd", "1");
        assert_eq!(doc["openapi"], "3.1.0");
        let back: Vec<EventType> = read(doc)
            .unwrap()
            .into_iter()
            .map(|s| s.into_event_type("org_1", now))
            .collect();
        a.schemas = Some(json!({"1": {"type": "object"}}));
        assert_eq!(back, vec![a, b]);
    }
}
