//! The error responses every authenticated operation shares, added to the
//! OpenAPI document in one place ([`add_common`]) instead of on each handler,
//! so a new route is described truthfully without repeating them. A
//! handler's own annotation wins: a code it documents is left as it is.
//!
//! What each rule stands for is where the response comes from, so the
//! document lists only codes the server can really send:
//! - every authenticated route: 400 (a malformed query string or path
//!   parameter, `extract::RawQuery`/`Path`), 401 (`auth::authenticate`), 403
//!   (an application-scoped key or a portal token outside its reach), 503
//!   (the store is unreachable, also while checking the key);
//! - with query parameters: 422 (each is checked, `extract::Query`);
//! - with a request body: 408 (`http_body_timeout_secs`), 413 (the size
//!   cap), 422 (the body's fields);
//! - POST: 409 and 422 from the `idempotency-key` handling (a key in use by a
//!   running request or on another path; a key that is not visible ASCII).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr, Response, ResponseBuilder, content::Content};

/// Adds the shared error responses to every operation of `doc`: call it on
/// the document of the authenticated routes only (health has no key).
pub fn add_common(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let ops = [
            (false, &mut item.get),
            (false, &mut item.put),
            (true, &mut item.post),
            (false, &mut item.delete),
            (false, &mut item.patch),
        ];
        for (is_post, op) in ops {
            if let Some(op) = op {
                add_to(op, is_post);
            }
        }
    }
}

/// The limits `extract::Query` applies to the shared query parameters,
/// declared where the handlers' annotations leave them as a bare integer.
fn constrain_query(op: &mut Operation) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    for p in op.parameters.iter_mut().flatten() {
        if p.parameter_in != ParameterIn::Query {
            continue;
        }
        let schema = match p.name.as_str() {
            // `ListQuery`: a page holds 1 to 250 rows.
            "limit" => ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(250)),
            // Delivery statuses a listing can filter on (`Query::status`).
            "status" => ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([0, 1, 2, 3])),
            "status_code_class" => ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([0, 100, 200, 300, 400, 500])),
            "order" => ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["ascending", "descending"])),
            // `Query::datetime`: RFC 3339.
            "before" | "after" | "since" | "until" => ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::DateTime,
                ))),
            _ => continue,
        };
        p.schema = Some(schema.build().into());
    }
}

fn add_to(op: &mut Operation, is_post: bool) {
    constrain_query(op);
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    let has_body = op.request_body.is_some();
    let mut codes: Vec<(&str, &str, &str)> = vec![
        ("400", "Bad request", ERROR),
        ("401", "Unauthorized", ERROR),
        ("403", "Forbidden", ERROR),
        ("503", "Service unavailable", ERROR),
    ];
    if has_query || has_body || is_post {
        codes.push(("422", "Validation error", VALIDATION));
    }
    if has_body {
        codes.push(("408", "Request body timeout", ERROR));
        codes.push(("413", "Payload too large", ERROR));
    }
    if is_post {
        codes.push(("409", "Conflict", ERROR));
    }
    for (code, description, schema) in codes {
        op.responses
            .responses
            .entry(code.to_string())
            .or_insert_with(|| error_response(description, schema));
    }
}

const ERROR: &str = "HttpErrorOut";
const VALIDATION: &str = "HttpValidationError";

fn error_response(description: &str, schema: &str) -> RefOr<Response> {
    let schema = utoipa::openapi::Ref::from_schema_name(schema);
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(schema)))
        .build()
        .into()
}
